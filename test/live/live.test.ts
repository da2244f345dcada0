// The live oracle on this machine's kernel: runs small scenarios through hvo live and checks
// them against the live recordings on the exact fields only; checks that a run that fails
// mid-way puts the machine back as it found it; runs as a kernel without 1 GiB pages would (the
// 1G steps skipped by name, the rest as recorded), for real on a host that has them. Needs
// root and HugeTLB; skips elsewhere. Passes on hosts with and without 1 GiB pages.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { have1GHstate, liveTestUnavailable } from "./pieces.ts";
import { main } from "../../src/cli/main.ts";
import { captureIo } from "../../src/cli/io.ts";
import {
  compareToRecording,
  compareToRecordingDetailed,
  formatDifference,
  formatSkipped,
} from "../../src/scenario/compare.ts";
import {
  parseRecording,
  parseResult,
  parseScenarioFile,
  type ScenarioFile,
} from "../../src/scenario/format.ts";
import { hugetlbfsMounts, LiveError, runLive } from "../../src/live/run.ts";
import { acquireLiveLock } from "../../src/live/lock.ts";
import {
  haveShared,
  readJson,
  SUITE,
  SUITE_RECORDING,
  sharedRecordingsPath,
  sharedScenariosPath,
} from "../scenario/shared.ts";

const whyNot = liveTestUnavailable();
const canRunLive = whyNot === null;
if (whyNot) console.warn(`test/live/live: the live-kernel tests are skipped: ${whyNot}`);

const H2 = "/sys/kernel/mm/hugepages/hugepages-2048kB";
const H1 = "/sys/kernel/mm/hugepages/hugepages-1048576kB";
/** Whether this kernel has the 1 GiB hstate (a CPU with pdpe1gb). */
const have1G = have1GHstate();
const HVO = "/proc/sys/vm/hugetlb_optimize_vmemmap";
const read = (p: string) => fs.readFileSync(p, "utf8").trim();

describe("hvo live refuses what it cannot do", () => {
  afterEach(() => vi.restoreAllMocks());

  it("refuses to run without root, naming the reason", async () => {
    vi.spyOn(process as { getuid: () => number }, "getuid").mockReturnValue(1000);
    const file: ScenarioFile = { format: "hvo-scenario/1", scenarios: [{ id: "X", steps: [] }] };
    await expect(runLive(file)).rejects.toThrow(LiveError);
    await expect(runLive(file)).rejects.toThrow(/must run as root/);
  });

  it("reports a bad scenario file as a usage error naming the field", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hvo-live-test-"));
    const f = path.join(dir, "bad.json");
    fs.writeFileSync(
      f,
      JSON.stringify({
        format: "hvo-scenario/1",
        scenarios: [{ id: "X", steps: [{ op: "nr", size: "2X", value: 1 }] }],
      }),
    );
    const io = captureIo();
    expect(await main(["live", f], io)).toBe(2);
    expect(io.stderr()).toMatch(
      /^hvo: not a valid hvo-scenario\/1: scenarios\[0\]\.steps\[0\]\.size: /,
    );
    expect(io.stderr()).not.toMatch(/at .*\.ts:/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe.skipIf(!canRunLive)("hvo live on this kernel", () => {
  it.skipIf(!haveShared)(
    "agrees with the shared recordings on their exact fields",
    async () => {
      const only = [
        "S01_2M_noHVO_grow_shrink",
        "S10_surplus_2M_reserved_at_mmap",
        "S05_2M_HVO_on_with_existing",
      ];
      const result = await runLive(sharedScenariosPath, { only });
      expect(Object.keys(result.scenarios)).toEqual(expect.arrayContaining(only));
      const diffs = compareToRecording(parseRecording(readJson(sharedRecordingsPath)), result);
      expect(diffs).toEqual([]);
    },
    300_000,
  );

  it("agrees with our own recording, through the CLI's --json", async () => {
    const io = captureIo();
    const status = await main(
      ["live", SUITE, "--json", "--quiet", "--only", "L07_reservation_then_touch,L20_bad_writes"],
      io,
    );
    expect(io.stderr()).toBe("");
    expect(status).toBe(0);
    const result = parseResult(JSON.parse(io.stdout()));
    expect(result.design).toBe("live");
    expect(compareToRecording(parseRecording(readJson(SUITE_RECORDING)), result)).toEqual([]);
    // The map step records its pfns, the kpf-free steps none.
    const map = result.scenarios.L07_reservation_then_touch.steps[2];
    expect(map.pfns?.length).toBe(4);
    expect(map.pfns?.every((p) => p === null)).toBe(true);
  }, 300_000);

  it("puts back what it found after a run that fails mid-way", async () => {
    const scenarios = parseScenarioFile({
      format: "hvo-scenario/1",
      scenarios: [
        {
          id: "FAILS",
          steps: [
            { op: "hvo", value: 0 },
            { op: "nr", size: "2M", value: 8 },
            { op: "overcommit", size: "2M", value: 5 },
            { op: "mount", dir: "/tmp/hvo-live-test/mnt", opts: "pagesize=2M" },
            { op: "populate", file: "/tmp/hvo-live-test/mnt/f", size: "2M", n: 2 },
            { op: "map", id: "A", size: "2M", n: 7 },
            { op: "nr", size: "1G", value: 0 },
          ],
        },
      ],
    });
    fs.rmSync("/tmp/hvo-live-test", { recursive: true, force: true });
    const lock = await acquireLiveLock();
    try {
      // A state that is not the reset state: a 2M pool of 3, overcommit 2, HVO on.
      fs.writeFileSync(`${H2}/nr_hugepages`, "3");
      fs.writeFileSync(`${H2}/nr_overcommit_hugepages`, "2");
      fs.writeFileSync(HVO, "1");
      const run = runLive(scenarios, {
        lock,
        afterStep: (_id, rec) => {
          if (rec.i === 5) {
            // Mid-way: pages mapped, surplus in use, a hugetlbfs file populated.
            expect(read(`${H2}/surplus_hugepages`)).toBe("1");
            throw new Error("injected failure");
          }
        },
      });
      await expect(run).rejects.toThrow("injected failure");
      expect(read(`${H2}/nr_hugepages`)).toBe("3");
      expect(read(`${H2}/free_hugepages`)).toBe("3");
      expect(read(`${H2}/surplus_hugepages`)).toBe("0");
      expect(read(`${H2}/resv_hugepages`)).toBe("0");
      expect(read(`${H2}/nr_overcommit_hugepages`)).toBe("2");
      expect(read(HVO)).toBe("1");
      if (have1G) {
        expect(read(`${H1}/nr_hugepages`)).toBe("0");
        expect(read(`${H1}/demote_size`)).toBe("2048kB");
      }
      expect(hugetlbfsMounts()).not.toContain("/tmp/hvo-live-test/mnt");
      // The directories the mount step made (the mount point and its parent) are gone too.
      expect(fs.existsSync("/tmp/hvo-live-test")).toBe(false);
    } finally {
      fs.writeFileSync(`${H2}/nr_overcommit_hugepages`, "0");
      fs.writeFileSync(`${H2}/nr_hugepages`, "0");
      fs.writeFileSync(HVO, "0");
      await lock.release();
      fs.rmSync("/tmp/hvo-live-test", { recursive: true, force: true });
    }
  }, 120_000);
});

// A kernel without 1 GiB pages (no pdpe1gb: no hugepages-1048576kB at all). On such a host the
// runner finds that itself; on one with them, sizesKb [2048] makes it go without the 1G hstate,
// so this path runs for real here too. The 1G steps are skipped by name; a skipped step that
// changed the pools in the recording leaves the rest of its scenario uncompared, named.
describe.skipIf(!canRunLive)("hvo live on a kernel without 1 GiB pages", () => {
  it("skips the 1G steps by name, agrees with the recording elsewhere, restores", async () => {
    const only = ["L20_bad_writes", "L03_1G_toggle_HVO_with_page", "L13_per_node_writes"];
    const seen1G: string[] = [];
    const before = have1G ? read(`${H1}/nr_hugepages`) : null;
    const result = await runLive(SUITE, {
      only,
      sizesKb: [2048],
      afterStep: () => {
        if (have1G) seen1G.push(read(`${H1}/nr_hugepages`));
      },
    });
    expect(result.absent_hstates).toEqual(["1G"]);
    const skippedAt = (id: string) =>
      result.scenarios[id].steps.filter((s) => s.skipped !== undefined).map((s) => s.i);
    // The steps whose size (or file) is 1G, from scenarios/suite.json.
    expect(skippedAt("L20_bad_writes")).toEqual([5, 6]);
    expect(skippedAt("L03_1G_toggle_HVO_with_page")).toEqual([1, 3, 4, 5]);
    expect(skippedAt("L13_per_node_writes")).toEqual([2, 5]);
    for (const sc of Object.values(result.scenarios))
      for (const s of sc.steps) {
        if (s.skipped !== undefined) expect(s.skipped).toMatch(/^1G: /);
        expect(Object.keys(s.after)).not.toContain("h1G");
      }
    // Nothing touched the 1G pool while the run went without it.
    if (have1G) expect(new Set(seen1G)).toEqual(new Set(["0"]));
    const c = compareToRecordingDetailed(parseRecording(readJson(SUITE_RECORDING)), result);
    expect(c.diffs.map(formatDifference)).toEqual([]);
    const named = c.skipped.map(formatSkipped);
    // L20's 1G writes failed with EINVAL in the recording and changed nothing: only they are
    // left out. L03 and L13 grew the 1G pool where they ran: the rest of each is left out.
    expect(named.filter((l) => l.startsWith("L20"))).toEqual([
      "L20_bad_writes step 5: skipped: 1G: this run goes without the kernel's 1048576kB hstate (sizesKb)",
      "L20_bad_writes step 6: skipped: 1G: this run goes without the kernel's 1048576kB hstate (sizesKb)",
    ]);
    expect(
      c.skipped.filter((s) => s.scenario === "L03_1G_toggle_HVO_with_page").map((s) => s.step),
    ).toEqual([1, 2, 3, 4, 5]);
    expect(
      c.skipped.filter((s) => s.scenario === "L13_per_node_writes").map((s) => s.step),
    ).toEqual([2, 3, 4, 5, 6]);
    // Steps 0-4 and 7-17 of L20, L03's step 0 and L13's steps 0-1 were compared and agree.
    if (have1G) expect(read(`${H1}/nr_hugepages`)).toBe(before);
  }, 300_000);

  it("refuses a size the kernel does not have, naming it", async () => {
    await expect(
      runLive(SUITE, { only: ["L20_bad_writes"], sizesKb: [2048, 4096] }),
    ).rejects.toThrow(/sizesKb names 4096kB: this kernel has hstates of 2048kB/);
  }, 60_000);
});
