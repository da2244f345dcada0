// Boot-time huge pages on Linux 7.2 (Debian's 7.2.13 under QEMU) against the model of the same
// guest (vmMachineSpec() with the same command line, design mainline): one boot per command
// line, then one scenario without the opening reset ("reset": false, docs/FORMAT.md), so that
// its first observation is the machine as booted: demote a boot-time page, free the rest,
// allocate again at run time, shrink the 2 MiB pool. Every exact field of every step is
// compared (counters per hstate and node, memmap counters and their change), and the headlines
// of the kernel's BUG / WARNING / "Bad page state" lines once the runner records them.
//
// Where the pages go is the kernel's rule, not a table: memblock allocates top-down, the
// kernel's own setup_arch() allocations (direct-map page tables, NODE_DATA, the e820 copies:
// vmMachineSpec().bootAllocations) take the top of the node before hugetlb_bootmem_alloc()
// runs, so on a 6 GiB `pc` guest (RAM [0, 3 GiB - 128 KiB) and [4, 7) GiB) the first 1 GiB
// page lands at 5 GiB, the second at 4 GiB and the third
// at 1 GiB; [2, 3) GiB has SeaBIOS's tables at its top and [0, 1) GiB the kernel image, so a
// fourth cannot be had (7.2 warns and keeps 3). On 2 nodes node 0 is low RAM only, and its top
// holds the initrd QEMU loaded (vmMachineSpec().initrd, docs/vm.md): NODE_DATA(0), node 0's memmap
// blocks and its folio's pre-HVO pages go below it (or into the 32 KiB above it), which the raw
// and placement checks of the 2-node shapes compare.
//
// Needs QEMU, busybox-static, zstd, gcc and the Debian 7.2 kernel (installed where we are root
// and the archive is reachable); elsewhere every test skips with the reason.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { differences } from "../../src/cli/commands/diff.ts";
import { runScenarioVia } from "../../src/live/driver.ts";
import { calibratedToGuest, vmMachineSpec } from "../../src/live/vm/machine.ts";
import { type BootedVm, openVm, shutdown } from "../../src/live/vm/run.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { formatDifference } from "../../src/scenario/compare.ts";
import { parseScenarioFile, type Result, type ResultScenario } from "../../src/scenario/format.ts";
import { runModel } from "../../src/scenario/run_model.ts";
import { isBootTime1GFreeBadPage, vmPiecesUnavailable } from "./pieces.ts";

let unavailable: string | null = null;

/** Subpages of a 1 GiB folio: head, folio fields, own head page, the shared tail, the last. */
const RAW_SUBPAGES = [0, 1, 2, 3, 63, 64, 65, 127, 4095, 4096, 32767, 32768, 262143];
/** PG_head and PG_reserved (include/linux/page-flags.h, 7.2 on x86_64). */
const PG_HEAD_BIT = 6n;
const PG_RESERVED_BIT = 13n;
/** PAGES_PER_SECTION on x86_64 (SECTION_SIZE_BITS 27, 4 KiB pages). */
const SECTION_PAGES = 32768;
/** hvokcore's walk level of a PMD leaf (0 = PGD .. 4 = PTE on 4 levels). */
const PMD_LEVEL = 3;
/** MAX_PAGE_ORDER on x86_64 and its block size. */
const MAX_ORDER = 10;
const MAX_BLOCK = 2 ** MAX_ORDER;
/** page->flags bits 30..50: last_cpupid (NUMA balancing), not modelled. */
const CPUPID_MASK = ((1n << 21n) - 1n) << 30n;

beforeAll(async () => {
  unavailable = await vmPiecesUnavailable("test/vm/boot72");
}, 600_000);

interface Shape {
  label: string;
  /** Compare raw struct pages of the boot-time folios right after boot. */
  raw?: boolean;
  /**
   * _refcount of the shared tail's slots (subpage 64) right after boot: 1 where memmap_init()'s
   * early pass wrote through the folios' tail PTEs (docs/findings.md §5), 0 where every folio
   * lies in its node's deferred part (defer_init()). Default 1.
   */
  tailRefcount?: bigint;
  memoryGiB: number;
  nodes: number;
  cmdline: string;
  /** The boot-time 1 GiB pages 7.2 has after boot (from the placement rule above). */
  boot1G: number;
  steps: unknown[];
}

/** demote one boot page, free the 1 GiB pool, allocate `again` at run time, empty the 2M pool. */
const afterBootSteps = (again: number): unknown[] => [
  { op: "demote", value: 1 },
  { op: "nr", size: "1G", value: 0 },
  { op: "nr", size: "1G", value: again },
  { op: "nr", size: "1G", value: 0 },
  { op: "nr", size: "2M", value: 0 },
];

/**
 * The run-time 1 GiB pages of afterBootSteps() come back while the demoted page's 512 free 2M
 * pages still fill its range: where that is the only free 1 GiB range of the node, 7.2's
 * alloc_contig_frozen_pages() takes it on its second pass, after replace_free_hugepage_folios()
 * moved each free 2M page elsewhere on the node (mm/hugetlb.c; the model: page_alloc.ts
 * allocContigPages(), test/pool/contig_replace.test.ts).
 *
 * secondPass(): the boot page demoted, then the 1 GiB pool grown past what the guest has: one
 * page from the free range at 1 GiB, one from the 2M pages' range, no third.
 */
const secondPass = (): unknown[] => [
  { op: "demote", value: 1 },
  { op: "nr", size: "1G", value: 2 },
  { op: "nr", size: "1G", value: 3 },
  { op: "nr", size: "1G", value: 0 },
  { op: "nr", size: "2M", value: 0 },
];

const SHAPES: Shape[] = [
  {
    label: "6 GiB, hugepages=1",
    memoryGiB: 6,
    nodes: 1,
    cmdline: "hugepagesz=1G hugepages=1 hugetlb_free_vmemmap=on",
    boot1G: 1,
    steps: afterBootSteps(1),
  },
  {
    label: "6 GiB, hugepages=2",
    raw: true,
    memoryGiB: 6,
    nodes: 1,
    cmdline: "hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on",
    boot1G: 2,
    steps: afterBootSteps(2),
  },
  {
    // hugepages=4 where only three 1 GiB ranges are free; default_hugepagesz=1G; 2M pages too.
    label: "6 GiB, default_hugepagesz=1G, hugepages=4 of 1G and 64 of 2M",
    memoryGiB: 6,
    nodes: 1,
    cmdline:
      "default_hugepagesz=1G hugepagesz=1G hugepages=4 hugepagesz=2M hugepages=64 hugetlb_free_vmemmap=on",
    boot1G: 3,
    steps: afterBootSteps(1),
  },
  {
    // Node 0 is low RAM only: its top holds the initrd QEMU loaded (vmMachineSpec().initrd), so
    // NODE_DATA(0), its memmap blocks and its folio's pre-HVO pages go below it.
    label: "6 GiB on 2 nodes, hugepages=0:1,1:1",
    raw: true,
    // The folios at 1 GiB (node 0, deferred from pfn 0x10000) and 5 GiB (node 1, deferred from
    // 0x108000) are wholly deferred: memmap_init() never writes through their tails.
    tailRefcount: 0n,
    memoryGiB: 6,
    nodes: 2,
    cmdline: "hugepagesz=1G hugepages=0:1,1:1 hugetlb_free_vmemmap=on",
    boot1G: 2,
    steps: afterBootSteps(2),
  },
  {
    // hugepagesz= (not default_hugepagesz=) with more pages than free 1 GiB ranges: 5, 4 and 1
    // GiB, and 7.2 warns and keeps 3.
    label: "6 GiB, hugepagesz=1G hugepages=4",
    memoryGiB: 6,
    nodes: 1,
    cmdline: "hugepagesz=1G hugepages=4 hugetlb_free_vmemmap=on",
    boot1G: 3,
    steps: afterBootSteps(2),
  },
  {
    // hugepages=2 on 2 nodes: for_each_node_mask_to_alloc() takes one from each, node 0 first
    // (1 GiB: its top GiB ends at SeaBIOS's tables), then node 1 (5 GiB: NODE_DATA(1) and the
    // memmap sit in [6, 7) GiB).
    label: "6 GiB on 2 nodes, hugepages=2",
    raw: true,
    // Both folios (1 and 5 GiB) lie in their node's deferred part, as in the shape above.
    tailRefcount: 0n,
    memoryGiB: 6,
    nodes: 2,
    cmdline: "hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on",
    boot1G: 2,
    steps: afterBootSteps(2),
  },
  {
    // One boot page at 5 GiB (all deferred: its shared tail is clean), demoted; then the pool
    // grows by the free range at 1 GiB and by the 2M pages' range on the second pass.
    label: "6 GiB, hugepages=1, demote and grow past the free ranges",
    memoryGiB: 6,
    nodes: 1,
    cmdline: "hugepagesz=1G hugepages=1 hugetlb_free_vmemmap=on",
    boot1G: 1,
    steps: secondPass(),
  },
];

/** The model's machine of the guest a shape boots (before calibration from the guest). */
function shapeSpec(shape: Shape) {
  return vmMachineSpec({
    memoryBytes: shape.memoryGiB * 2 ** 30,
    nodes: shape.nodes,
    cmdline: shape.cmdline,
  });
}

/** Heads of the model's 1 GiB HugeTLB folios (order 18), in the allocations' order. */
function boot1GHeads(model: Model): number[] {
  return [...model.k.buddy.allocations]
    .filter(([, a]) => a.use === "hugetlb" && a.order === 18)
    .map(([pfn]) => pfn);
}

/** The scenario in the booted guest, then on a freshly booted model of the guest. */
async function both(vm: BootedVm, shape: Shape): Promise<{ real: Result; model: Result }> {
  const file = parseScenarioFile({
    format: "hvo-scenario/1",
    scenarios: [{ id: "boot", reset: false, steps: shape.steps }],
  });
  const realRun: ResultScenario = await runScenarioVia(vm.ch, vm.topo, file.scenarios[0]);
  const spec = calibratedToGuest(shapeSpec(shape), realRun.initial);
  const model = runModel(bootModel(spec, "mainline"), file, { machine: spec.name });
  return {
    real: { format: "hvo-result/1", machine: "vm", design: "live", scenarios: { boot: realRun } },
    model,
  };
}

for (const shape of SHAPES) {
  describe(`Linux 7.2 vs the model, boot-time pages: ${shape.label}`, () => {
    let vm: BootedVm | null = null;
    beforeAll(async () => {
      if (unavailable) return;
      vm = await openVm({
        memory: `${shape.memoryGiB}G`,
        nodes: shape.nodes,
        cmdline: shape.cmdline,
      });
    }, 180_000);
    afterAll(async () => {
      // Freeing boot-time HVO pages makes 7.2 report "Bad page state" (docs/findings.md §5).
      if (vm) await shutdown(vm, isBootTime1GFreeBadPage);
    });

    if (shape.raw)
      it("right after boot: the raw struct pages of both folios and of their shared tail page equal 7.2's", async (ctx) => {
        if (!vm) return ctx.skip();
        const model = bootModel(shapeSpec(shape), "mainline");
        const heads = boot1GHeads(model).sort((a, b) => a - b);
        expect(heads).toHaveLength(shape.boot1G);
        const mismatches: string[] = [];
        for (const head of heads) {
          for (const sub of RAW_SUBPAGES) {
            const pfn = head + sub;
            const r = (await vm.ch.request("rawpage", { pfn })) as unknown as {
              pages: { words: string[] }[];
            };
            const kernel = r.pages[0].words.map((w) => BigInt(w));
            const b = model.k.memmap.readStructPage(pfn);
            const v = new DataView(b.buffer);
            const mine = kernel.map((_, i) => v.getBigUint64(i * 8, true));
            if (sub === 0) {
              // A head: PG_head in the kernel's too, so that the pfns are the same folios.
              expect(kernel[0] & (1n << PG_HEAD_BIT)).toBe(1n << PG_HEAD_BIT);
            }
            if (sub === 64) {
              // docs/findings.md §5: the shared slot memmap_init() last wrote keeps _refcount 1.
              expect(kernel[6] >> 32n).toBe(shape.tailRefcount ?? 1n);
            }
            if (sub === 0) {
              // The head's lru links it on hstates[0].hugepage_freelists[0], a list head in the
              // kernel image (0xffffffff8...), or to the other boot-time folio's lru.
              for (const w of [1, 2]) {
                const kernelImage = kernel[w] >= 0xffffffff80000000n;
                const vmemmap = kernel[w] >> 40n === 0xffffean;
                expect(kernelImage || vmemmap).toBe(true);
              }
            }
            for (let w = 0; w < 8; w++) {
              const mask = w === 0 ? ~CPUPID_MASK : ~0n;
              if ((kernel[w] & mask) !== (mine[w] & mask))
                mismatches.push(
                  `pfn 0x${pfn.toString(16)} word ${w}: 7.2 0x${kernel[w].toString(16)}, model 0x${mine[w].toString(16)}`,
                );
            }
          }
        }
        expect(mismatches).toEqual([]);
      });

    if (shape.raw)
      it("right after boot: each folio's pre-HVO head page and the shared tail page are the frames 7.2's memblock gave them", async (ctx) => {
        if (!vm) return ctx.skip();
        // Below the kernel's own boot allocations (the machine's bootAllocations), in the order
        // of huge_boot_pages (newest first): docs/rules.md, test/hvo/boot_memmap.test.ts.
        const model = bootModel(shapeSpec(shape), "mainline");
        const heads = boot1GHeads(model);
        expect(heads).toHaveLength(shape.boot1G);
        const frames: string[] = [];
        for (const head of heads) {
          const r = (await vm.ch.request("vmemmap", { pfn: head, nr: 128 })) as unknown as {
            runs: { level: number; phys: string; count: number; step: number }[];
          };
          // Two PTEs: vmemmap page 0 (the head page) and page 1 (the zone's shared tail). A run
          // of `count` PTEs maps frames `step` pages apart from `phys` on.
          const kernel = r.runs.flatMap((run) =>
            Array.from(
              { length: run.count },
              (_, i) => BigInt(run.phys) + BigInt(i * run.step * 4096),
            ),
          );
          expect(r.runs.every((run) => run.level === PMD_LEVEL + 1)).toBe(true);
          const mine = [head, head + 64].map(
            (pfn) => BigInt(model.k.memmap.backing(pfn)?.frame ?? 0) * 4096n,
          );
          if (kernel[0] !== mine[0] || kernel[1] !== mine[1])
            frames.push(
              `folio 0x${head.toString(16)}: 7.2 ${kernel.map((x) => x.toString(16))}, model ${mine.map((x) => x.toString(16))}`,
            );
        }
        expect(frames).toEqual([]);
      });

    if (shape.raw)
      it("right after boot: each section's memmap block (where, and its pages' struct pages), the heads of free MAX_PAGE_ORDER blocks and reserved pages equal 7.2's", async (ctx) => {
        if (!vm) return ctx.skip();
        const spec = shapeSpec(shape);
        const k = bootModel(spec, "mainline").k;
        // 7.2 has no sparse buffer: every section's 2 MiB memmap block is its own memblock
        // allocation, top-down. Sections a boot-time 1 GiB folio covers (8 each) are mapped
        // with PTEs by the HVO pre-population instead, from small allocations (not compared).
        const sections = [
          ...new Set(
            spec.nodes.flatMap((n) =>
              n.ranges.flatMap((r) => {
                const out: number[] = [];
                for (
                  let s = Math.floor(r.startPfn / SECTION_PAGES);
                  s * SECTION_PAGES < r.endPfn;
                  s++
                )
                  out.push(s);
                return out;
              }),
            ),
          ),
        ];
        let compared = 0;
        const placement: string[] = [];
        for (const s of sections) {
          const r = (await vm.ch.request("vmemmap", {
            pfn: s * SECTION_PAGES,
            nr: 1,
          })) as unknown as {
            runs: { level: number; phys: string }[];
          };
          const run = r.runs[0];
          if (run.level !== PMD_LEVEL) continue;
          compared++;
          const mine = k.memmap.backing(s * SECTION_PAGES);
          const kernel = BigInt(run.phys);
          if (!mine || BigInt(mine.frame) * 4096n !== kernel)
            placement.push(
              `section ${s}: 7.2 0x${kernel.toString(16)}, model 0x${((mine?.frame ?? 0) * 4096).toString(16)}`,
            );
          // The block's first and last pages are memblock-reserved (PG_reserved) and marked by
          // register_page_bootmem_info(): private = section << 4 | SECTION_INFO, _refcount 2.
          for (const f of [kernel / 4096n, kernel / 4096n + 511n]) {
            const pfn = Number(f);
            const rp = (await vm.ch.request("rawpage", { pfn })) as unknown as {
              pages: { words: string[] }[];
            };
            const words = rp.pages[0].words.map((w) => BigInt(w));
            expect(words[5] >> 4n).toBe(BigInt(s));
            expect(words[6] >> 32n).toBe(2n);
            const v = new DataView(k.memmap.readStructPage(pfn).buffer);
            for (let w = 0; w < 8; w++) {
              const mask = w === 0 ? ~CPUPID_MASK : ~0n;
              const mine = v.getBigUint64(w * 8, true);
              if ((words[w] & mask) !== (mine & mask))
                placement.push(
                  `memmap page pfn 0x${pfn.toString(16)} word ${w}: 7.2 0x${words[w].toString(16)}, model 0x${mine.toString(16)}`,
                );
            }
          }
        }
        expect(compared).toBe(sections.length - 8 * shape.boot1G);
        expect(placement).toEqual([]);
        // The middle free MAX_PAGE_ORDER block of each zone (the ends hold the kernel image and
        // the kernel's own allocations, which the model places only up to sparse_init(): not
        // the per-cpu areas, hash tables or swiotlb): __SetPageBuddy() puts
        // PGTY_buddy in page_type, set_buddy_order() the order in private, and in lru its links
        // on the zone's MIGRATE_MOVABLE list of that order: the blocks memblock_free_all() gave
        // before and after it (FPI_TO_TAIL, ascending), or the list head inside struct zone.
        const heads: string[] = [];
        for (const z of k.buddy.zones) {
          const free: number[] = [];
          for (let p = Math.ceil(z.startPfn / MAX_BLOCK) * MAX_BLOCK; p < z.endPfn; p += MAX_BLOCK)
            if (k.buddy.headOrder(p) === MAX_ORDER) free.push(p);
          if (free.length === 0) continue;
          const pfn = free[Math.floor(free.length / 2)];
          const r = (await vm.ch.request("rawpage", { pfn })) as unknown as {
            pages: { words: string[] }[];
          };
          const kernel = r.pages[0].words.map((w) => BigInt(w));
          expect(kernel[6] & 0xffffffffn).toBe(0xf0000000n);
          expect(kernel[5]).toBe(BigInt(MAX_ORDER));
          const v = new DataView(k.memmap.readStructPage(pfn).buffer);
          // Its neighbours on the list, as 7.2 has them: a free MAX_PAGE_ORDER block's lru or
          // &NODE_DATA(nid)->node_zones[z].free_area[10].free_list[MIGRATE_MOVABLE].
          for (const w of [1, 2]) {
            const near = kernel[w] - 8n - 0xffffea0000000000n;
            const isBlock = near >= 0n && near % (64n * BigInt(MAX_BLOCK)) === 0n;
            expect(isBlock || kernel[w] >> 40n === 0xffff88n).toBe(true);
          }
          for (let w = 0; w < 8; w++) {
            const mask = w === 0 ? ~CPUPID_MASK : ~0n;
            const mine = v.getBigUint64(w * 8, true);
            if ((kernel[w] & mask) !== (mine & mask))
              heads.push(
                `${z.name} pfn 0x${pfn.toString(16)} word ${w}: 7.2 0x${kernel[w].toString(16)}, model 0x${mine.toString(16)}`,
              );
          }
        }
        expect(heads).toEqual([]);
        // Reserved pages: pfn 1 (x86 keeps the first 1 MiB) and the first page of the kernel
        // image (16 MiB, where PVH loads it): PG_reserved, _refcount 1, the rest as
        // memmap_init() left it.
        const reserved: string[] = [];
        for (const pfn of [1, (16 * 2 ** 20) / 4096]) {
          const r = (await vm.ch.request("rawpage", { pfn })) as unknown as {
            pages: { words: string[] }[];
          };
          const kernel = r.pages[0].words.map((w) => BigInt(w));
          expect(kernel[0] & (1n << PG_RESERVED_BIT)).toBe(1n << PG_RESERVED_BIT);
          expect(kernel[6] >> 32n).toBe(1n);
          const v = new DataView(k.memmap.readStructPage(pfn).buffer);
          for (let w = 0; w < 8; w++) {
            const mask = w === 0 ? ~CPUPID_MASK : ~0n;
            const mine = v.getBigUint64(w * 8, true);
            if ((kernel[w] & mask) !== (mine & mask))
              reserved.push(
                `pfn 0x${pfn.toString(16)} word ${w}: 7.2 0x${kernel[w].toString(16)}, model 0x${mine.toString(16)}`,
              );
          }
        }
        expect(reserved).toEqual([]);
      });

    it(`after boot, demote, free, allocate again: every exact field equal`, async (ctx) => {
      if (!vm) return ctx.skip();
      const { real, model } = await both(vm, shape);
      // What 7.2 said, so that agreeing is about something.
      const booted = real.scenarios.boot.initial;
      expect(booted?.h1G.nr).toBe(shape.boot1G);
      expect(booted?.hvo).toBe(1);
      expect(model.scenarios.boot.initial?.h1G.nr).toBe(shape.boot1G);
      expect(differences(real, model).map(formatDifference)).toEqual([]);
    }, 300_000);
  });
}
