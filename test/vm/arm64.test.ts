// The arm64 presets against real kernels: Debian's 7.2.13 arm64 (4K pages) and arm64-16k
// kernels booted on QEMU's virt machine under TCG (hvo vm --kernel debian-7.2:arm64[-16k]),
// against the model of that guest (src/live/vm/machine_virt.ts, the mainline design). Every
// hstate the guests offer (4K: 64K, 2M, 32M, 1G; 16K: 2M, 32M, 1G), HVO toggled on and off
// (these kernels have no HVO: the sysctl is ENOENT), grow, shrink, demote, boot-time pages from
// the command line, kpageflags, raw struct pages and the vmemmap mapping. The kernel is the
// authority: expected values are what it reported or arithmetic shown here.
//
// Needs qemu-system-aarch64, aarch64-linux-gnu-gcc, Debian's arm64 kernels and busybox (apt and
// the archive, as root); elsewhere every test skips with the reason. One boot per kernel.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawWords } from "./pieces.ts";
import { differences } from "../../src/cli/commands/diff.ts";
import { formatDifference } from "../../src/scenario/compare.ts";
import { runScenarioVia } from "../../src/live/driver.ts";
import { calibratedToGuest, vmMachineSpec } from "../../src/live/vm/machine.ts";
import { parseZoneinfo } from "../../src/live/host.ts";
import { buildInitramfs } from "../../src/live/vm/initramfs.ts";
import { ensureHostTools, resolveKernel, VmSetupError } from "../../src/live/vm/pieces.ts";
import { type BootedVm, loadScenarioJson, openVm, shutdown } from "../../src/live/vm/run.ts";
import type { MachineSpec } from "../../src/machine/spec.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { walkFolioVmemmap } from "../../src/report/picture.ts";
import { inspectPfn } from "../../src/report/inspect.ts";
import {
  type After,
  parseScenarioFile,
  type Result,
  type ResultScenario,
  type Scenario,
} from "../../src/scenario/format.ts";
import { ModelSession, runModel } from "../../src/scenario/run_model.ts";

const MEMORY = "4G";

interface Guest {
  label: string;
  kernel: string;
  pageSize: number;
  /** The hstates, kB: Documentation/mm/vmemmap_dedup.rst's table for arm64. */
  sizes: string[];
  /** The PMD size: 2M with 4K pages, 32M with 16K (PMD_SHIFT 21 / 25). */
  pmd: string;
  /** Boot-time pages of the non-gigantic sizes and one 1G page (16K: HVO asked for too). */
  cmdline: string;
  boot: Record<string, number>;
}

const GUESTS: Guest[] = [
  {
    label: "arm64 4K",
    kernel: "debian-7.2:arm64",
    pageSize: 4096,
    sizes: ["64K", "2M", "32M", "1G"],
    pmd: "2M",
    cmdline: "hugepagesz=64K hugepages=16 hugepagesz=32M hugepages=2 hugepagesz=1G hugepages=1",
    boot: { "64K": 16, "2M": 0, "32M": 2, "1G": 1 },
  },
  {
    label: "arm64 16K",
    kernel: "debian-7.2:arm64-16k",
    pageSize: 16384,
    sizes: ["2M", "32M", "1G"],
    pmd: "32M",
    // hugetlb_free_vmemmap=on: HVO at boot asked for, which a kernel without HVO does not know.
    cmdline:
      "hugepagesz=2M hugepages=8 hugepagesz=32M hugepages=2 hugepagesz=1G hugepages=1 hugetlb_free_vmemmap=on",
    boot: { "2M": 8, "32M": 2, "1G": 1 },
  },
];

const SIZE_KB: Record<string, number> = { "64K": 64, "2M": 2048, "32M": 32768, "1G": 1048576 };

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const unavailable = new Map<string, string | null>();

/** Why this host cannot boot the guest (skip), null when it can; a broken setup throws. */
async function piecesUnavailable(kernel: string): Promise<string | null> {
  try {
    await ensureHostTools(["qemuArm64", "gccArm64"], { install: isRoot });
    await resolveKernel(kernel, { install: isRoot });
    await buildInitramfs({ install: isRoot, arch: "arm64" });
    return null;
  } catch (e) {
    if (!(e instanceof VmSetupError && e.unavailable)) throw e;
    const why = `the arm64 QEMU pieces cannot be had here: ${e.message}`;
    console.warn(`test/vm/arm64 (${kernel}): skipped: ${why}`);
    return why;
  }
}

beforeAll(async () => {
  for (const g of GUESTS) unavailable.set(g.kernel, await piecesUnavailable(g.kernel));
}, 900_000);

const timings: Record<string, number> = {};
afterAll(() => {
  if (Object.keys(timings).length)
    console.info(`test/vm/arm64 timings (ms): ${JSON.stringify(timings)}`);
});

function scenarios(list: { id: string; steps: unknown[] }[]): Scenario[] {
  return parseScenarioFile({ format: "hvo-scenario/1", scenarios: list }).scenarios;
}

/** The model of the guest, holding the pages the guest's kernel held after boot. */
function modelOf(spec: MachineSpec, guestAtBoot: After): Model {
  return bootModel(calibratedToGuest(spec, guestAtBoot), "mainline");
}

/** Scenarios in the guest, then on the model of the guest booted as it was. */
async function both(
  vm: BootedVm,
  spec: MachineSpec,
  list: Scenario[],
  atBoot: After,
): Promise<{ real: Result; model: Result }> {
  const real: Record<string, ResultScenario> = {};
  for (const sc of list) {
    const t0 = performance.now();
    real[sc.id] = await runScenarioVia(vm.ch, vm.topo, sc);
    timings[sc.id] = Math.round(performance.now() - t0);
  }
  const model = runModel(
    modelOf(spec, atBoot),
    { format: "hvo-scenario/1", scenarios: list },
    { machine: spec.name },
  );
  return {
    real: { format: "hvo-result/1", machine: "vm", design: "live", scenarios: real },
    model,
  };
}

const words = rawWords;

/** The page-flag bits of page->flags (PG_locked .. below the cpupid, zone and node fields). */
const PG_BITS = (1n << 24n) - 1n;
/** AP[2], read-only, of an arm64 descriptor. */
const PTE_RDONLY = 1n << 7n;

for (const g of GUESTS) {
  describe(`Linux 7.2 ${g.label} (${g.kernel}) vs the model, ${MEMORY}`, () => {
    let vm: BootedVm | null = null;
    let atBoot: After | null = null;
    const spec = vmMachineSpec({
      memoryBytes: Number.parseInt(MEMORY, 10) * 2 ** 30,
      cmdline: g.cmdline,
      arch: "arm64",
      pageSize: g.pageSize,
    });
    beforeAll(async () => {
      if (unavailable.get(g.kernel)) return;
      const t0 = performance.now();
      vm = await openVm({ memory: MEMORY, nodes: 1, cmdline: g.cmdline }, { kernel: g.kernel });
      timings[`boot ${g.label}`] = Math.round(performance.now() - t0);
      const { observeVia } = await import("../../src/live/driver.ts");
      atBoot = (await observeVia(vm.ch, vm.topo)).after;
    }, 600_000);
    afterAll(async () => {
      if (vm) await shutdown(vm);
    });

    it("offers the hstates, page size and vmemmap address the model's machine has", async (ctx) => {
      if (!vm) return ctx.skip();
      expect(vm.topo.pageSize).toBe(g.pageSize);
      expect(vm.topo.hstatesKb).toEqual(g.sizes.map((s) => SIZE_KB[s]));
      const mdl = bootModel(spec, "mainline");
      const kb = (o: number) => 2 ** (o + spec.arch.pageShift - 10);
      expect([...spec.arch.hstateOrders].map(kb).sort((a, b) => a - b)).toEqual(
        g.sizes.map((s) => SIZE_KB[s]),
      );
      // pfn_to_page(0), derived by hvokcore from memstart_addr and the linear map.
      const ks = (await vm.ch.request("ksyms")) as unknown as { vmemmap_base: string };
      expect(BigInt(ks.vmemmap_base)).toBe(spec.arch.vmemmapBase);
      expect(mdl.k.memmap.vaddrOf(spec.nodes[0].ranges[0].startPfn)).toBe(
        spec.arch.vmemmapBase + BigInt(spec.nodes[0].ranges[0].startPfn) * 64n,
      );
      // RAM [1G, 5G): ZONE_DMA up to 4 GiB, Normal above, in the guest's zoneinfo and the model.
      const zi = String((await vm.ch.request("read", { path: "/proc/zoneinfo" })).text);
      const page = (bytes: number) => bytes / g.pageSize;
      const zones = parseZoneinfo(zi).map((z) => [z.nid, z.type, z.startPfn, z.spanned]);
      expect(zones).toEqual([
        [0, "DMA", page(2 ** 30), page(3 * 2 ** 30)],
        [0, "Normal", page(4 * 2 ** 30), page(2 ** 30)],
      ]);
      expect(
        spec.nodes[0].zones
          .filter((z) => z.endPfn > z.startPfn)
          .map((z) => [0, z.type, z.startPfn, z.endPfn - z.startPfn]),
      ).toEqual(zones);
      // No HVO on arm64: no sysctl in the kernel, none in the model.
      const r = await vm.ch.request("read", { path: "/proc/sys/vm/hugetlb_optimize_vmemmap" });
      expect(r.code).toBe("ENOENT");
      expect(() => mdl.read("/proc/sys/vm/hugetlb_optimize_vmemmap")).toThrow(/ENOENT|No such/);
    });

    it("boot-time pages from the command line: counters and memmap as the model boots them", async (ctx) => {
      if (!vm || !atBoot) return ctx.skip();
      const boot = atBoot;
      const mdl = modelOf(spec, boot);
      const { observeModel } = await import("../../src/scenario/run_model.ts");
      const mine = observeModel(mdl);
      for (const s of g.sizes) {
        const key = `h${s}` as keyof After;
        const k = boot[key] as { nr: number; free: number } | undefined;
        const m = mine[key] as { nr: number; free: number } | undefined;
        expect([s, k?.nr, k?.free]).toEqual([s, g.boot[s], g.boot[s]]);
        expect([s, m?.nr, m?.free]).toEqual([s, k?.nr, k?.free]);
      }
      // Hugetlb is the sum of the pools: arithmetic from the command line.
      const hugetlbKb = g.sizes.reduce((sum, s) => sum + g.boot[s] * SIZE_KB[s], 0);
      expect(boot.Hugetlb_kB).toBe(hugetlbKb);
      expect(mine.Hugetlb_kB).toBe(hugetlbKb);
      // No HVO: the boot memmap is RAM / page size * 64 bytes, in pages.
      const ramPages = (4 * 2 ** 30) / g.pageSize;
      expect(boot.nr_memmap_boot_pages).toBe((ramPages * 64) / g.pageSize);
      expect(mine.nr_memmap_boot_pages).toBe(boot.nr_memmap_boot_pages);
      expect(mine.nr_memmap_pages).toBe(boot.nr_memmap_pages);
    });

    it(`the PMD size (${g.pmd}) grown, shrunk and HVO toggled: hvo diff finds nothing`, async (ctx) => {
      if (!vm || !atBoot) return ctx.skip();
      const raw = loadScenarioJson("scenarios/vm-arm64/pmd_grow_shrink_toggle.json");
      const list = parseScenarioFile(raw).scenarios;
      const { real, model } = await both(vm, spec, list, atBoot);
      expect(differences(real, model).map(formatDifference)).toEqual([]);
      const steps = real.scenarios.A01_pmd_grow_shrink_toggle.steps;
      // Every toggle is ENOENT; every grow and shrink reaches its count.
      expect(steps.filter((s) => s.step.op === "hvo").map((s) => s.code)).toEqual([
        "ENOENT",
        "ENOENT",
        "ENOENT",
        "ENOENT",
      ]);
      expect(steps[1].after.h2M?.nr).toBe(8);
      expect(steps[5].after.h32M?.nr).toBe(4);
    }, 300_000);

    it("every hstate: grow, kpageflags, shrink, with HVO on and off, as the model", async (ctx) => {
      if (!vm || !atBoot) return ctx.skip();
      const list = scenarios(
        g.sizes.map((s) => {
          const n = s === "1G" ? 1 : 4;
          return {
            id: `grow_shrink_${s}`,
            steps: [
              { op: "hvo", value: 1 },
              { op: "nr", size: s, value: n },
              { op: "kpf", size: s, n: 1 },
              { op: "hvo", value: 0 },
              { op: "nr", size: s, value: n > 1 ? 2 : 0 },
              { op: "nr", size: s, value: 0 },
            ],
          };
        }),
      );
      const { real, model } = await both(vm, spec, list, atBoot);
      expect(differences(real, model).map(formatDifference)).toEqual([]);
      for (const s of g.sizes) {
        const steps = real.scenarios[`grow_shrink_${s}`].steps;
        const n = s === "1G" ? 1 : 4;
        expect([s, steps[1].after[`h${s}` as "h2M"]?.nr]).toEqual([s, n]);
        // kpageflags: one head with COMPOUND_HEAD|HUGE, every subpage counted once.
        const kpf = steps[2].kpf ?? [];
        const nrPages = (SIZE_KB[s] * 1024) / g.pageSize;
        expect([s, kpf[0]?.nr]).toEqual([s, nrPages]);
        expect([s, kpf[0]?.counts]).toEqual([s, [[1, nrPages]]]);
      }
    }, 600_000);

    it("demote: 1G to 32M, 32M to 2M; 2M to the next size down as the kernel sets it", async (ctx) => {
      if (!vm || !atBoot) return ctx.skip();
      const list = scenarios([
        {
          id: "demote_32M",
          steps: [
            { op: "nr", size: "32M", value: 2 },
            { op: "demote", size: "32M", value: 1 },
            { op: "nr", size: "2M", value: 0 },
            { op: "nr", size: "32M", value: 0 },
          ],
        },
        {
          id: "demote_1G",
          steps: [
            { op: "nr", size: "1G", value: 1 },
            { op: "demote", size: "1G", value: 1 },
            { op: "nr", size: "32M", value: 0 },
          ],
        },
        {
          id: "demote_2M",
          steps: [
            { op: "nr", size: "2M", value: 2 },
            { op: "demote", size: "2M", value: 1 },
            { op: "nr", size: "2M", value: 0 },
          ],
        },
      ]);
      const { real, model } = await both(vm, spec, list, atBoot);
      expect(differences(real, model).map(formatDifference)).toEqual([]);
      // 32M demotes to 2M on both granules: 16 folios of 2M from one of 32M.
      const d = real.scenarios.demote_32M.steps[1];
      expect([d.rc, d.after.h32M?.nr, d.after.h2M?.nr]).toEqual([0, 1, 16]);
      // 1G (gigantic, freed at run time) demotes to 32M: 32 folios.
      const d1 = real.scenarios.demote_1G.steps[1];
      expect([d1.rc, d1.after.h1G?.nr, d1.after.h32M?.nr]).toEqual([0, 0, 32]);
      // 7.2's hugetlb_init_hstates() gives every hstate the next smaller one: with 4K pages 2M
      // demotes to 64K (32 folios), with 16K pages 2M is the smallest and cannot demote.
      const d2 = real.scenarios.demote_2M.steps[1];
      if (g.pageSize === 4096) expect([d2.rc, d2.after.h64K?.nr]).toEqual([0, 32]);
      else expect(d2.rc).not.toBe(0);
    }, 300_000);

    it(`raw struct pages and the vmemmap of a mapped ${g.pmd} folio, as the model's`, async (ctx) => {
      if (!vm || !atBoot) return ctx.skip();
      const req = (op: string, args?: Record<string, string | number>) =>
        vm!.ch.request(op, args) as Promise<Record<string, unknown>>;
      const kB = SIZE_KB[g.pmd];
      await req("reset");
      await req("write", {
        path: `/sys/kernel/mm/hugepages/hugepages-${kB}kB/nr_hugepages`,
        value: "1",
      });
      const map = (await req("map", { id: "R", size: g.pmd, n: 1, touch: 1 })) as {
        pfns: number[];
      };
      const mdl = modelOf(spec, atBoot);
      const s = new ModelSession(mdl);
      s.step({ op: "nr", size: g.pmd, value: 1 });
      const mmap = s.step({ op: "map", id: "R", size: g.pmd, n: 1 });
      mdl.settle();
      const gp = map.pfns[0];
      const mp = (mmap.pfns as number[])[0];
      const order = Math.log2((kB * 1024) / g.pageSize);
      const last = 2 ** order - 1;
      const diffs: string[] = [];
      for (const off of [0, 1, 2, 3, 64, last]) {
        const raw = (await req("rawpage", { pfn: gp + off })) as { pages: { words: string[] }[] };
        const gw = raw.pages[0].words.map((w) => BigInt(w));
        const mw = words(inspectPfn(mdl.k, mp + off).raw);
        // page->flags' PG_ bits; a tail's compound_info relative to its head's struct page (the
        // folios sit at different pfns in the two).
        const pairs: [string, bigint, bigint][] = [["flags", gw[0] & PG_BITS, mw[0] & PG_BITS]];
        if (off > 0)
          pairs.push([
            "compound_info - head",
            gw[1] - (spec.arch.vmemmapBase + BigInt(gp) * 64n),
            mw[1] - (spec.arch.vmemmapBase + BigInt(mp) * 64n),
          ]);
        for (const [name, kv, mv] of pairs)
          if (kv !== mv)
            diffs.push(
              `subpage ${off} ${name}: kernel 0x${kv.toString(16)}, model 0x${mv.toString(16)}`,
            );
      }
      expect(diffs).toEqual([]);
      // Without HUGETLB_PAGE_OPTIMIZE_VMEMMAP 7.2 keeps the pointer encoding (compound_info_has_mask()
      // is false): a tail holds its head's struct page address | 1, not GENMASK(63, order + 6) | 1.
      const tail = (await req("rawpage", { pfn: gp + 1 })) as { pages: { words: string[] }[] };
      expect(BigInt(tail.pages[0].words[1])).toBe(spec.arch.vmemmapBase + BigInt(gp) * 64n + 1n);
      // The vmemmap of the folio: 4K pages map it with 2M PMD blocks, 16K pages with PTEs; all
      // writable (no HVO), each vmemmap page its own frame.
      const walk = (await req("vmemmap", { pfn: gp, nr: 2 ** order })) as {
        pages: number;
        runs: { count: number; level: number; flags: string; step: number }[];
      };
      const mwalk = walkFolioVmemmap(mdl.k, mp, order);
      const kernelShape = walk.runs.flatMap((r) =>
        Array.from({ length: r.count }, () => [
          r.level === 4 ? "pte" : "pmd",
          (BigInt(r.flags) & PTE_RDONLY) === 0n,
        ]),
      );
      const modelShape = mwalk.flatMap((r) =>
        Array.from({ length: r.last - r.first + 1 }, () => [r.level, r.writable]),
      );
      expect(modelShape).toEqual(kernelShape);
      expect(kernelShape[0]).toEqual([g.pageSize === 4096 ? "pmd" : "pte", true]);
      // The descriptor's attribute bits (all but the output address 47:PAGE_SHIFT): PAGE_KERNEL
      // = PROT_NORMAL | PTE_DIRTY, with bit 1 clear in a block.
      const leaf = mdl.k.pgt.lookup(mdl.k.memmap.vaddrOf(mp));
      if (!leaf) throw new Error("the model's vmemmap of the folio is not mapped");
      const oa = ((1n << 48n) - 1n) & ~BigInt(g.pageSize - 1);
      const modelAttrs = mdl.k.pgt.get(leaf.tablePfn, leaf.idx) & ~oa;
      expect(`0x${modelAttrs.toString(16)}`).toBe(walk.runs[0].flags);
      expect(walk.runs[0].flags).toBe(
        g.pageSize === 4096 ? "0xe8000000000701" : "0xe8000000000703",
      );
      await req("reset");
    }, 300_000);
  });
}

describe("Linux 7.2 arm64 4K vs the model, two nodes, 4G (-numa)", () => {
  const kernel = "debian-7.2:arm64";
  let vm: BootedVm | null = null;
  let atBoot: After | null = null;
  const spec = vmMachineSpec({ memoryBytes: 4 * 2 ** 30, nodes: 2, arch: "arm64", pageSize: 4096 });
  beforeAll(async () => {
    if (unavailable.get(kernel)) return;
    const t0 = performance.now();
    vm = await openVm({ memory: "4G", nodes: 2 }, { kernel });
    timings["boot arm64 4K 2 nodes"] = Math.round(performance.now() - t0);
    const { observeVia } = await import("../../src/live/driver.ts");
    atBoot = (await observeVia(vm.ch, vm.topo)).after;
  }, 600_000);
  afterAll(async () => {
    if (vm) await shutdown(vm);
  });

  it("node 1 owns [3G, 5G): DMA up to 4 GiB, Normal above, as the model's zones", async (ctx) => {
    if (!vm) return ctx.skip();
    const zi = String((await vm.ch.request("read", { path: "/proc/zoneinfo" })).text);
    const zones = parseZoneinfo(zi).map((z): [number, string, number, number] => [
      z.nid,
      z.type,
      z.startPfn,
      z.spanned,
    ]);
    const mine = spec.nodes.flatMap((n) =>
      n.zones
        .filter((z) => z.endPfn > z.startPfn)
        .map((z): [number, string, number, number] => [
          n.nid,
          z.type,
          z.startPfn,
          z.endPfn - z.startPfn,
        ]),
    );
    // 1G..5G in 4K pages: node 0 [0x40000, 0xc0000), node 1 [0xc0000, 0x140000), 4G = 0x100000.
    expect(zones).toEqual([
      [0, "DMA", 0x40000, 0x80000],
      [1, "DMA", 0xc0000, 0x40000],
      [1, "Normal", 0x100000, 0x40000],
    ]);
    expect(mine).toEqual(zones);
  });

  it("per-node pools and a node-1 folio's struct page node and zone bits, as the model's", async (ctx) => {
    if (!vm || !atBoot) return ctx.skip();
    const list = scenarios([
      {
        id: "per_node_2M",
        steps: [
          { op: "nr_node", size: "2M", node: 1, value: 4 },
          { op: "nr_node", size: "2M", node: 0, value: 2 },
          { op: "nr", size: "32M", value: 2 },
          { op: "nr_node", size: "2M", node: 1, value: 1 },
          { op: "nr", size: "2M", value: 0 },
          { op: "nr", size: "32M", value: 0 },
        ],
      },
    ]);
    const { real, model } = await both(vm, spec, list, atBoot);
    expect(differences(real, model).map(formatDifference)).toEqual([]);
    const s0 = real.scenarios.per_node_2M.steps[0].after.h2M;
    expect([s0?.nr, s0?.node1_nr]).toEqual([4, 4]);
    // page->flags of the first page of node 1's Normal zone: node 1 in bits 63:60 and zone 2
    // (Normal) in 59:57 with CONFIG_NODES_SHIFT=4, in both.
    const pfn = 0x100000;
    const raw = (await vm.ch.request("rawpage", { pfn })) as unknown as {
      pages: { words: string[] }[];
    };
    const top = (w: bigint) => Number(w >> 57n);
    const mdl = modelOf(spec, atBoot);
    const mw = words(inspectPfn(mdl.k, pfn).raw);
    expect(top(BigInt(raw.pages[0].words[0]))).toBe((1 << 3) | 2);
    expect(top(mw[0])).toBe((1 << 3) | 2);
  }, 300_000);
});
