// The live kernel's log per step (hvoexec's `kmsg`): a hugetlbfs mount with a page size this
// kernel lacks is refused with EINVAL and logs "hugetlbfs: Unsupported page size 4 MB" at
// KERN_ERR (3), as the live 6.18 host's dmesg shows; the model logs the same line. Needs Linux,
// root, HugeTLB and gcc (the live runner takes the lock and puts the machine back); skips
// elsewhere, saying why.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { liveTestUnavailable } from "./pieces.ts";
import { machinePreset } from "../../src/arch/index.ts";
import { buildHvoexec } from "../../src/live/build.ts";
import { spawnHvoexec } from "../../src/live/hvoexec.ts";
import { runLive } from "../../src/live/run.ts";
import { bootModel } from "../../src/model.ts";
import { compareResultsDetailed } from "../../src/scenario/compare.ts";
import type { ScenarioFile } from "../../src/scenario/format.ts";
import { runModel } from "../../src/scenario/run_model.ts";

const whyNot = liveTestUnavailable();
const canRunLive = whyNot === null;
if (whyNot) console.warn(`test/live/kmsg: the live kmsg test is skipped: ${whyNot}`);
// hvoexec's kmsg op needs root, a C compiler and /dev/kmsg, not HugeTLB.
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const haveGcc = !spawnSync(process.env.CC ?? "gcc", ["--version"]).error;

const FILE: ScenarioFile = {
  format: "hvo-scenario/1",
  scenarios: [
    {
      id: "kmsg_4M_mount",
      steps: [
        { op: "nr", size: "2M", value: 1 },
        { op: "mount", dir: "/tmp/hvo-kmsg-test-4m", opts: "pagesize=4M" },
        { op: "nr", size: "2M", value: 0 },
      ],
    },
  ],
};

describe.skipIf(!canRunLive)("the live kernel's log in step records", () => {
  it("a refused 4M hugetlbfs mount logs its pr_err in that step, as the model does", async () => {
    const live = await runLive(FILE);
    const steps = live.scenarios.kmsg_4M_mount.steps;
    expect(steps[1].code).toBe("EINVAL");
    expect(Array.isArray(steps[1].kmsg)).toBe(true);
    // The live host's whole log: keep this step's hugetlbfs lines.
    const mine = (steps[1].kmsg ?? []).filter((l) => l.includes("hugetlbfs:"));
    expect(mine).toEqual([
      expect.stringMatching(/^3,\d+,\d+,-;hugetlbfs: Unsupported page size 4 MB$/),
    ]);
    const model = runModel(
      bootModel(machinePreset("x86_64", { memoryBytes: 4 * 2 ** 30 }), "legacy"),
      FILE,
    );
    expect(
      model.scenarios.kmsg_4M_mount.steps[1].kmsg?.map((l) => l.replace(/^\d+,\d+,\d+,/, "")),
    ).toEqual(mine.map((l) => l.replace(/^\d+,\d+,\d+,/, "")));
    // No BUG or WARNING on either side: the headlines agree.
    expect(
      compareResultsDetailed(live, model).diffs.filter((d) => d.field === "kmsg.headlines"),
    ).toEqual([]);
  }, 120_000);
});

describe.skipIf(!(isRoot && haveGcc && fs.existsSync("/dev/kmsg")))("hvoexec's kmsg op", () => {
  it("skip=1 moves past the log; the next kmsg returns what was logged since, once", async () => {
    const ch = spawnHvoexec(buildHvoexec());
    try {
      expect(await ch.request("kmsg", { skip: 1 })).toMatchObject({ ok: true, rc: 0, lines: [] });
      // A line written to /dev/kmsg by a user process: facility LOG_USER (1), level 4, so the
      // record's prefix is 1 << 3 | 4 = 12 (Documentation/ABI/testing/dev-kmsg).
      const tag = `hvo-kmsg-test-${process.pid}`;
      fs.writeFileSync("/dev/kmsg", `<4>${tag}\n`);
      const r = await ch.request("kmsg");
      expect(r).toMatchObject({ ok: true, rc: 0 });
      expect((r.lines as string[]).filter((l) => l.includes(tag))).toEqual([
        expect.stringMatching(new RegExp(`^12,\\d+,\\d+,-;${tag}$`)),
      ]);
      const again = await ch.request("kmsg");
      expect((again.lines as string[]).filter((l) => l.includes(tag))).toEqual([]);
    } finally {
      await ch.close();
    }
  });
});
