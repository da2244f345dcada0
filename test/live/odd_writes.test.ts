// The odd writes of issue #10 (blanks only, a directory, a file used as a directory, paths with
// "//", "." and "..") on this machine's kernel against the model, and against the recorded
// answers (test/fixtures/live-file-writes.json). Each write is one open(O_WRONLY) and one
// write(2), as hvoexec does; the live lock is held and the pools, overcommit and HVO are put
// back to 0 afterwards. Needs Linux, root and HugeTLB; skips elsewhere, naming why. Rows on an
// hstate this kernel lacks (a CPU without 1 GiB pages) are skipped by name.
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelError, errnoName } from "../../src/include/errno.ts";
import { hostMachine } from "../../src/live/host.ts";
import { type LiveLock, acquireLiveLock } from "../../src/live/lock.ts";
import { isLiveUnavailable, runLive } from "../../src/live/run.ts";
import { parseScenarioFile } from "../../src/scenario/format.ts";
import { MAP_IDS_SCENARIO } from "../fixtures.ts";
import { bootModel, type Model } from "../../src/model.ts";

const HP = "/sys/kernel/mm/hugepages";
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const haveHugetlb = fs.existsSync(`${HP}/hugepages-2048kB/nr_hugepages`);
const canRun = process.platform === "linux" && isRoot && haveHugetlb;
const why = `they need Linux, root and ${HP}/hugepages-2048kB (root: ${isRoot}, hugetlb: ${haveHugetlb})`;
if (!canRun) console.warn(`skipping the live odd-write tests: ${why}`);

interface Row {
  path: string;
  value: string;
  setup: unknown[];
  rc: 0 | -1;
  code: string | null;
  readback: string | null;
  readback_path: string | null;
}
const fixture = JSON.parse(
  fs.readFileSync(new URL("../fixtures/live-file-writes.json", import.meta.url), "utf8"),
) as { writes: Row[] };

/** The rows of issue #10 item 7: blanks-only values and paths that are not plain file names. */
const rows = fixture.writes.filter(
  (r) =>
    r.setup.length === 0 &&
    (/^\s+$/.test(r.value) ||
      /\/$|\/\/|\/\.\.?\/|^\/proc\/sys\/vm$|\/x$/.test(r.path) ||
      [
        "/sys/kernel/mm/hugepages",
        "/sys/devices/system/node/node0",
        "/sys/devices/system/memory",
        "/sys/devices/system/memory/memory0",
        `${HP}/hugepages-2048kB`,
      ].includes(r.path)),
);

/** An hstate directory the path needs that this kernel lacks, or null. */
function missingHstate(path: string): string | null {
  for (const m of path.matchAll(/hugepages-([0-9]+kB)/g))
    if (!fs.existsSync(`${HP}/hugepages-${m[1]}`) && m[1] !== "4096kB") return m[1];
  return null;
}

function liveWrite(path: string, value: string): string | null {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_WRONLY);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
  try {
    fs.writeSync(fd, value);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  } finally {
    fs.closeSync(fd);
  }
}

function modelWrite(m: Model, path: string, value: string): string | null {
  try {
    m.write(path, value);
    return null;
  } catch (e) {
    if (e instanceof KernelError) return errnoName(e.errno);
    throw e;
  }
}

/** What the reset puts back: every hstate's pool and overcommit 0, HVO off. */
function restore(): void {
  const hs = fs.readdirSync(HP).sort((a, b) => Number(b.slice(10, -2)) - Number(a.slice(10, -2)));
  for (const h of hs) {
    if (h !== "hugepages-1048576kB") liveWrite(`${HP}/${h}/nr_overcommit_hugepages`, "0");
    liveWrite(`${HP}/${h}/nr_hugepages`, "0");
  }
  if (fs.existsSync("/proc/sys/vm/hugetlb_optimize_vmemmap"))
    liveWrite("/proc/sys/vm/hugetlb_optimize_vmemmap", "0");
}

describe.skipIf(!canRun)("odd writes: this kernel, the model and the recording agree", () => {
  let lock: LiveLock;
  let model: Model;
  beforeAll(async () => {
    lock = await acquireLiveLock();
    model = bootModel(hostMachine(), "legacy");
  });
  afterAll(async () => {
    restore();
    await lock?.release();
  });

  it("has the rows to check", () => {
    // 11 files x 4 blank values, 15 directory or not-a-directory paths, 3 resolved paths.
    expect(rows.length).toBe(11 * 4 + 15 + 3);
  });

  for (const r of rows) {
    const lacks = missingHstate(r.path);
    const name = `${JSON.stringify(r.value)} to ${r.path}`;
    if (lacks) {
      it.skip(`${name} (skipped: this kernel has no ${lacks} hstate)`, () => {});
      continue;
    }
    it(name, () => {
      restore();
      const live = liveWrite(r.path, r.value);
      const mdl = modelWrite(model, r.path, r.value);
      expect({ live, model: mdl }).toEqual({ live: r.code, model: r.code });
      if (r.readback_path && r.readback !== null) {
        expect(fs.readFileSync(r.readback_path, "utf8")).toBe(r.readback);
        expect(model.read(r.readback_path)).toBe(r.readback);
      }
      restore();
      for (const p of [`${HP}/hugepages-2048kB/nr_hugepages`, "/proc/sys/vm/nr_hugepages"])
        modelWrite(model, p, "0");
    });
  }
});

describe.skipIf(!canRun)("map ids on this kernel: refused steps are step results", () => {
  it("gives NO_SUCH_ID and ID_IN_USE as the model does, and restores the machine", async (ctx) => {
    const file = parseScenarioFile(MAP_IDS_SCENARIO);
    let result: Awaited<ReturnType<typeof runLive>>;
    try {
      result = await runLive(file);
    } catch (e) {
      if (isLiveUnavailable(e))
        return ctx.skip(`the live kernel is unavailable: ${(e as Error).message}`);
      throw e;
    }
    // hvoexec refuses these without a system call (native/PROTOCOL.md); the empty pool makes
    // the first map ENOMEM, so its id is never held.
    expect(result.scenarios.IDS.steps.map((s) => s.code)).toEqual([
      "NO_SUCH_ID",
      "NO_SUCH_ID",
      "ENOMEM",
      "NO_SUCH_ID",
      null,
      null,
      "ID_IN_USE",
      null,
      "NO_SUCH_ID",
    ]);
    expect(
      result.scenarios.IDS.steps.every((s) => s.errno === (s.code === "ENOMEM" ? 12 : 0)),
    ).toBe(true);
    expect(fs.readFileSync(`${HP}/hugepages-2048kB/nr_hugepages`, "utf8")).toBe("0\n");
  });
});
