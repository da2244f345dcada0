// How the live runner treats a step on an hstate the kernel lacks (x86_64 without GBPAGES has
// no 1 GiB hstate, arch/x86/mm/hugetlbpage.c), without a live kernel: the decision
// (hstatesOfRun), the driver's record of a skipped step and of the steps that use what it
// would have made, and how a comparison names them. Runs as any user on any host.
import { describe, expect, it } from "vitest";
import { runScenarioVia, type Topology } from "../../src/live/driver.ts";
import type { HvoexecChannel, HvoexecReply } from "../../src/live/hvoexec.ts";
import { hstatesOfRun, LiveError } from "../../src/live/run.ts";
import { compareStepsDetailed } from "../../src/scenario/compare.ts";
import { parseScenarioFile, type Step } from "../../src/scenario/format.ts";

const KERNEL_WITHOUT_1G: Topology = {
  release: "6.18",
  version: "#1",
  machine: "x86_64",
  pageSize: 4096,
  hstatesKb: [2048],
  nodes: [0],
  uid: 0,
};

const step = (s: unknown): Step =>
  parseScenarioFile({ format: "hvo-scenario/1", scenarios: [{ id: "X", steps: [s] }] }).scenarios[0]
    .steps[0];

describe("which steps a kernel without 1 GiB pages skips", () => {
  const { absentKb, skipStep, topo } = hstatesOfRun(KERNEL_WITHOUT_1G);
  it("knows x86_64 would have a 1G hstate, and observes only 2M", () => {
    expect(absentKb).toEqual([1048576]);
    expect(topo.hstatesKb).toEqual([2048]);
  });
  it.each([
    [{ op: "nr", size: "1G", value: 1 }],
    [{ op: "nr_node", size: "1G", value: 1, node: 0 }],
    [{ op: "overcommit", size: "1G", value: 0 }],
    [{ op: "demote", value: 1 }], // demote and demote_size name the 1G hstate by default
    [{ op: "demote_size", value: "2048kB" }],
    [{ op: "map", id: "A", size: "1G", n: 1 }],
    [{ op: "kpf", size: "1G" }],
    [{ op: "populate", file: "/mnt/h/f", size: "1G", n: 1 }],
    [{ op: "mount", dir: "/mnt/h", opts: "pagesize=1G,min_size=1G" }],
    [{ op: "mount", dir: "/mnt/h", opts: "pagesize=1073741824" }],
    [{ op: "write", path: "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", value: 1 }],
    [
      {
        op: "write",
        path: "/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages",
        value: 1,
      },
    ],
  ])("skips %j, naming the size", (s) => {
    expect(skipStep(step(s))).toBe("1G: this kernel has no 1048576kB hstate");
  });
  it.each([
    [{ op: "nr", size: "2M", value: 1 }],
    [{ op: "hvo", value: 1 }],
    [{ op: "mount", dir: "/mnt/h", opts: "pagesize=2M" }],
    [{ op: "mount", dir: "/mnt/h" }],
    // No x86_64 kernel has 4 MiB pages: the write runs and the kernel answers ENOENT.
    [{ op: "write", path: "/sys/kernel/mm/hugepages/hugepages-4096kB/nr_hugepages", value: 1 }],
    [{ op: "nr", size: "4M", value: 1 }],
  ])("runs %j", (s) => {
    expect(skipStep(step(s))).toBeNull();
  });
  it("goes without a size the kernel has when told to, and refuses one it lacks", () => {
    const withIt = { ...KERNEL_WITHOUT_1G, hstatesKb: [2048, 1048576] };
    const r = hstatesOfRun(withIt, [2048]);
    expect(r.absentKb).toEqual([1048576]);
    expect(r.skipStep(step({ op: "nr", size: "1G", value: 1 }))).toMatch(
      /^1G: this run goes without/,
    );
    expect(() => hstatesOfRun(KERNEL_WITHOUT_1G, [2048, 1048576])).toThrow(LiveError);
    expect(() => hstatesOfRun(KERNEL_WITHOUT_1G, [2048, 1048576])).toThrow(
      "sizesKb names 1048576kB: this kernel has hstates of 2048kB only",
    );
  });
});

/** A fake hvoexec: every request succeeds, and the requests are kept. */
function fakeChannel(): HvoexecChannel & { ops: string[] } {
  const ops: string[] = [];
  return {
    ops,
    alive: true,
    async request(op: string): Promise<HvoexecReply> {
      ops.push(op);
      if (op === "reset") return { ok: true, clean: true, writes: [] };
      if (op === "obs") return { ok: true, files: {}, first: {}, settled: true, waited_ms: 0 };
      return { ok: true, rc: 0, errno: 0, code: null, pfns: [], touched: 0 };
    },
    async close() {},
    kill() {},
  };
}

describe("the driver's record of skipped steps", () => {
  it("skips a 1G map and the touch and release of its id; the rest runs", async () => {
    const { skipStep, topo } = hstatesOfRun(KERNEL_WITHOUT_1G);
    const sc = parseScenarioFile({
      format: "hvo-scenario/1",
      scenarios: [
        {
          id: "X",
          steps: [
            { op: "map", id: "A", size: "1G", n: 1 },
            { op: "touch", id: "A" },
            { op: "map", id: "B", size: "2M", n: 1 },
            { op: "release", id: "A" },
            { op: "release", id: "B" },
          ],
        },
      ],
    }).scenarios[0];
    const ch = fakeChannel();
    const r = await runScenarioVia(ch, topo, sc, { skipStep });
    expect(r.steps.map((s) => s.skipped ?? "ran")).toEqual([
      "1G: this kernel has no 1048576kB hstate",
      "map A was skipped (1G: this kernel has no 1048576kB hstate)",
      "ran",
      "map A was skipped (1G: this kernel has no 1048576kB hstate)",
      "ran",
    ]);
    // Only B's steps reached hvoexec.
    expect(ch.ops.filter((op) => op === "map" || op === "release" || op === "touch")).toEqual([
      "map",
      "release",
    ]);
  });
});

describe("comparing with a run that skipped steps", () => {
  const rec = (i: number, s: unknown, nr1G: number, skipped?: string) => ({
    i,
    step: step(s),
    rc: 0 as const,
    errno: 0,
    code: null,
    after: {
      nr_memmap_pages: 0,
      nr_memmap_boot_pages: 0,
      memmap_sum: 0,
      hvo: 0,
      HugePages_Total: 0,
      HugePages_Free: 0,
      HugePages_Rsvd: 0,
      HugePages_Surp: 0,
      Hugetlb_kB: nr1G * 1048576,
      MemFree_kB: 0,
      PageTables_kB: 0,
      zone_managed: null,
      h2M: { nr: 0, free: 0, surplus: 0, resv: 0, overcommit: 0 },
      ...(skipped === undefined
        ? { h1G: { nr: nr1G, free: nr1G, surplus: 0, resv: 0, overcommit: 0 } }
        : {}),
    },
    delta: {
      nr_memmap_pages: 0,
      nr_memmap_boot_pages: 0,
      memmap_sum: 0,
      Hugetlb_kB: 0,
      MemFree_kB: 0,
      PageTables_kB: 0,
    },
    ...(skipped === undefined ? {} : { skipped }),
  });
  const why = "1G: this kernel has no 1048576kB hstate";
  const absent = new Set(["1G"]);

  it("names a skipped step that changed nothing where it ran, and compares the rest", () => {
    const recorded = [
      rec(0, { op: "overcommit", size: "1G", value: 1 }, 0),
      rec(1, { op: "hvo", value: 1 }, 0),
    ];
    const live = [
      rec(0, { op: "overcommit", size: "1G", value: 1 }, 0, why),
      rec(1, { op: "hvo", value: 1 }, 0, undefined),
    ];
    delete (live[1].after as Record<string, unknown>).h1G;
    const c = compareStepsDetailed("S", recorded, live, {
      absent,
      expectedInitial: recorded[0].after,
    });
    expect(c.skipped).toEqual([{ scenario: "S", step: 0, reason: why }]);
    expect(c.diffs).toEqual([]);
    // A real difference after the skipped step is still found.
    live[1].after.HugePages_Total = 5;
    expect(
      compareStepsDetailed("S", recorded, live, { absent, expectedInitial: recorded[0].after })
        .diffs,
    ).toEqual([{ scenario: "S", step: 1, field: "HugePages_Total", expected: 0, actual: 5 }]);
  });

  it("leaves out the rest of a scenario once a skipped step changed the pools where it ran", () => {
    const recorded = [
      rec(0, { op: "nr", size: "1G", value: 1 }, 1),
      rec(1, { op: "hvo", value: 1 }, 1),
    ];
    const live = [
      rec(0, { op: "nr", size: "1G", value: 1 }, 0, why),
      rec(1, { op: "hvo", value: 1 }, 0, undefined),
    ];
    delete (live[1].after as Record<string, unknown>).h1G;
    const initial = { ...recorded[0].after, Hugetlb_kB: 0 };
    const c = compareStepsDetailed("S", recorded, live, { absent, expectedInitial: initial });
    expect(c.diffs).toEqual([]);
    expect(c.skipped.map((s) => s.step)).toEqual([0, 1]);
    expect(c.skipped[1].reason).toBe(
      `step 0 was skipped (${why}) and changed the pools where it ran`,
    );
  });
});
