// Linux 7.2 (Debian's build, the mainline HVO design) booted under QEMU TCG, driven by the same
// scenarios as the live kernel. Expected values come from SPEC.md's arithmetic (8 vmemmap pages
// per 2 MiB folio of which HVO frees 7; 4096 per 1 GiB, 4095 freed) and from the kernel's
// encoding of tails (compound_info = GENMASK(63, order + 6) | 1).
//
// Needs QEMU, busybox-static, zstd, gcc and the Debian kernel: the setup installs them with
// apt-get where it runs as root and the archive is reachable; elsewhere every test is skipped
// with the reason. One boot per machine shape, shared by the tests of that shape.
import { badPageLines, isBootTime1GFreeBadPage, vmPiecesUnavailable } from "./pieces.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  parseScenarioFile,
  type ResultScenario,
  type Scenario,
} from "../../src/scenario/format.ts";
import { observeVia, runScenarioVia } from "../../src/live/driver.ts";
import { delta } from "../../src/scenario/observe.ts";
import { type BootedVm, openVm, shutdown } from "../../src/live/vm/run.ts";

const TAIL_INFO_ORDER9 = "0xffffffffffff8001"; // GENMASK(63, 9 + 6) | 1
const TAIL_INFO_ORDER18 = "0xffffffffff000001"; // GENMASK(63, 18 + 6) | 1
const KPF_COMPOUND_HEAD = 15;
const KPF_COMPOUND_TAIL = 16;
const KPF_HUGE = 17;

let unavailable: string | null = null;

beforeAll(async () => {
  unavailable = await vmPiecesUnavailable("test/vm/linux72");
}, 600_000);

function scenario(id: string, steps: unknown[]): Scenario {
  return parseScenarioFile({ format: "hvo-scenario/1", scenarios: [{ id, steps }] }).scenarios[0];
}

async function run(vm: BootedVm, id: string, steps: unknown[]): Promise<ResultScenario> {
  return runScenarioVia(vm.ch, vm.topo, scenario(id, steps));
}

type Req = (op: string, args?: Record<string, string | number>) => Promise<Record<string, unknown>>;
const requester =
  (vm: BootedVm): Req =>
  (op, args) =>
    vm.ch.request(op, args);

interface VmemmapRun {
  vaddr: string;
  count: number;
  level: number;
  flags: string;
  phys: string;
  step: number;
}

const RW = 0x2n;

describe("Linux 7.2, one node, 6 GiB", () => {
  let vm: BootedVm | null = null;
  beforeAll(async () => {
    if (unavailable) return;
    vm = await openVm({ memory: "6G", nodes: 1 });
  }, 180_000);
  afterAll(async () => {
    if (vm) await shutdown(vm);
  });

  it("HVO on: growing the 2M pool to 16 frees 7 vmemmap pages each, shrinking gives them back", async (ctx) => {
    if (!vm) return ctx.skip();
    const r = await run(vm, "vm_2M_HVO", [
      { op: "hvo", value: 1 },
      { op: "nr", size: "2M", value: 16 },
      { op: "nr", size: "2M", value: 0 },
    ]);
    expect(r.steps.map((s) => s.rc)).toEqual([0, 0, 0]);
    expect(r.steps[1].after.h2M.nr).toBe(16);
    expect(r.steps[1].delta.memmap_sum).toBe(-7 * 16);
    expect(r.steps[2].after.h2M.nr).toBe(0);
    expect(r.steps[2].delta.memmap_sum).toBe(+7 * 16);
    expect(r.steps[1].after.Hugetlb_kB).toBe(16 * 2048);
  });

  it("an optimised 2M folio: kpageflags head/tails, tails encoded by order, tail vmemmap shared read-only", async (ctx) => {
    if (!vm) return ctx.skip();
    const req = requester(vm);
    await req("reset");
    await req("write", { path: "/proc/sys/vm/hugetlb_optimize_vmemmap", value: "1" });
    await req("write", {
      path: "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
      value: "2",
    });
    const kpf = (await req("kpf", { size: "2M", n: 2 })) as {
      rc: number;
      pages: { pfn: number; nr: number; head_flags: number; flags: [number, number][] }[];
    };
    expect(kpf.rc).toBe(0);
    expect(kpf.pages).toHaveLength(2);
    const bit = (w: number, b: number) => (BigInt(w) >> BigInt(b)) & 1n;
    for (const p of kpf.pages) {
      expect(p.nr).toBe(512);
      expect(bit(p.head_flags, KPF_COMPOUND_HEAD)).toBe(1n);
      expect(bit(p.head_flags, KPF_HUGE)).toBe(1n);
      // Every one of the 511 tails reports the same word: TAIL and HUGE, never HEAD.
      expect(p.flags).toHaveLength(2);
      expect(p.flags[1][1]).toBe(511);
      expect(bit(p.flags[1][0], KPF_COMPOUND_TAIL)).toBe(1n);
      expect(bit(p.flags[1][0], KPF_COMPOUND_HEAD)).toBe(0n);
      expect(bit(p.flags[1][0], KPF_HUGE)).toBe(1n);
    }
    const [a, b] = kpf.pages.map((p) => p.pfn);
    // Struct pages: a tail in the head's own vmemmap page, and one in the shared tail page.
    const raw = (await req("rawpage", { pfn: a + 1 })) as { pages: { words: string[] }[] };
    expect(raw.pages[0].words[1]).toBe(TAIL_INFO_ORDER9);
    const shared = (await req("rawpage", { pfn: a + 64, n: 2 })) as {
      pages: { words: string[] }[];
    };
    for (const p of shared.pages) expect(p.words[1]).toBe(TAIL_INFO_ORDER9);
    // Vmemmap: page 0 read-write and its own; pages 1..7 read-only, one frame shared by both folios.
    const walk = async (pfn: number) =>
      ((await req("vmemmap", { pfn, nr: 512 })) as { runs: VmemmapRun[] }).runs;
    const wa = await walk(a);
    const wb = await walk(b);
    for (const w of [wa, wb]) {
      expect(w.map((r) => r.count)).toEqual([1, 7]);
      expect(BigInt(w[0].flags) & RW).toBe(RW);
      expect(BigInt(w[1].flags) & RW).toBe(0n);
      expect(w[1].step).toBe(0);
    }
    expect(wa[1].phys).toBe(wb[1].phys);
    expect(wa[0].phys).not.toBe(wb[0].phys);
    await req("reset");
  });
});

describe("Linux 7.2, two nodes", () => {
  let vm: BootedVm | null = null;
  beforeAll(async () => {
    if (unavailable) return;
    vm = await openVm({ memory: "4G", nodes: 2 });
  }, 180_000);
  afterAll(async () => {
    if (vm) await shutdown(vm);
  });

  it("per-node pools: each node's nr_hugepages grows only its own pool; a global grow spreads", async (ctx) => {
    if (!vm) return ctx.skip();
    expect(vm.topo.nodes).toEqual([0, 1]);
    const r = await run(vm, "vm_two_nodes", [
      { op: "hvo", value: 1 },
      { op: "nr_node", size: "2M", node: 1, value: 8 },
      { op: "nr_node", size: "2M", node: 0, value: 4 },
      { op: "nr", size: "2M", value: 20 },
      { op: "nr", size: "2M", value: 0 },
    ]);
    expect(r.steps.map((s) => s.rc)).toEqual([0, 0, 0, 0, 0]);
    const h = (i: number) => r.steps[i].after.h2M;
    expect([h(1).node0_nr, h(1).node1_nr, h(1).nr]).toEqual([0, 8, 8]);
    expect(r.steps[1].delta.memmap_sum).toBe(-7 * 8);
    expect([h(2).node0_nr, h(2).node1_nr, h(2).nr]).toEqual([4, 8, 12]);
    // Growing by 8 over two nodes round-robin, starting from where the allocator stands.
    expect(h(3).nr).toBe(20);
    expect((h(3).node0_nr ?? 0) + (h(3).node1_nr ?? 0)).toBe(20);
    expect(r.steps[3].delta.memmap_sum).toBe(-7 * 8);
    expect(r.steps[4].delta.memmap_sum).toBe(7 * 20);
  });
});

describe("Linux 7.2, boot-time 1 GiB pages with hugetlb_free_vmemmap=on", () => {
  let vm: BootedVm | null = null;
  beforeAll(async () => {
    if (unavailable) return;
    vm = await openVm({
      memory: "6G",
      nodes: 1,
      cmdline: "hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on",
    });
  }, 180_000);
  afterAll(async () => {
    // The kernel's own report when the boot-time folios are freed (asserted below) is known.
    if (vm) await shutdown(vm, isBootTime1GFreeBadPage);
  });

  it("each boot-time 1G page costs one vmemmap page: its tails map one shared frame read-only", async (ctx) => {
    if (!vm) return ctx.skip();
    const req = requester(vm);
    const map = (await req("map", { id: "G", size: "1G", n: 2, touch: 1 })) as {
      rc: number;
      pfns: number[];
    };
    expect(map.rc).toBe(0);
    const walks: VmemmapRun[][] = [];
    for (const pfn of map.pfns) {
      // 262144 struct pages = 4096 vmemmap pages.
      const w = ((await req("vmemmap", { pfn, nr: 262144 })) as { runs: VmemmapRun[] }).runs;
      expect(w.map((r) => r.count)).toEqual([1, 4095]);
      expect(BigInt(w[1].flags) & RW).toBe(0n);
      expect(w[1].step).toBe(0);
      walks.push(w);
      const tail = (await req("rawpage", { pfn: pfn + 64 })) as { pages: { words: string[] }[] };
      expect(tail.pages[0].words[1]).toBe(TAIL_INFO_ORDER18);
    }
    expect(walks[0][1].phys).toBe(walks[1][1].phys);
    await req("release", { id: "G" });
  });

  it("freeing the two boot-time pages restores 4095 vmemmap pages each", async (ctx) => {
    if (!vm) return ctx.skip();
    // Not through a scenario: its opening reset would free the pages before we look.
    const before = (await observeVia(vm.ch, vm.topo)).after;
    expect(before.h1G.nr).toBe(2);
    expect(before.hvo).toBe(1);
    const w = await vm.ch.request("write", {
      path: "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
      value: "0",
    });
    expect(w.rc).toBe(0);
    const after = (await observeVia(vm.ch, vm.topo)).after;
    expect(after.h1G.nr).toBe(0);
    expect(delta(before, after).memmap_sum).toBe(2 * 4095);
    // 7.2 complains while freeing them: "Bad page state" (nonzero _refcount) for subpages whose
    // struct pages were restored from the shared page of tails, and for no other page.
    const bad = badPageLines(vm.guest.consoleLog());
    expect(bad.length).toBeGreaterThan(0);
    expect(bad.filter((l) => !isBootTime1GFreeBadPage(l))).toEqual([]);
  });
});
