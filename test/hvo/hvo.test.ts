// HVO in the three designs (mm/hugetlb_vmemmap.c): savings, accounting, layout, failures.
// Expected values come from Documentation/mm/vmemmap_dedup.rst, SPEC §3 (the live kernel's
// counters) and the arithmetic of the kernel code, written out here.
import { describe, expect, it } from "vitest";
import { ENOMEM, Oops } from "../../src/include/errno.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { machinePreset } from "../../src/arch/index.ts";
import { Kernel } from "../../src/kernel.ts";
import { createHugetlbVmemmap, seedPopulateHvoOrder } from "../../src/mm/hugetlb_vmemmap.ts";
import { GFP_KERNEL, __GFP_DMA32, __GFP_THISNODE } from "../../src/mm/page_alloc.ts";
import {
  DESIGNS,
  GiB,
  bootHvo,
  firstDiff,
  firstDiffButLruPrev,
  freeFolio,
  makeFolio,
  pteOf,
  rawPgHead,
  rollBackHalfDone1G,
  vmemmapBytes,
  x86,
} from "./helpers.ts";

const PAGE = 4096;
const SPS = 64;
/** Struct pages per 4 KiB vmemmap page. */
const PER = PAGE / SPS;

describe("savings (vmemmap_dedup.rst: 7 of 8 pages for 2 MiB, 4095 of 4096 for 1 GiB)", () => {
  for (const design of DESIGNS) {
    it(`${design}: a 2 MiB folio keeps one vmemmap page; boot memmap -8, pages +1, then -7 / +7`, () => {
      const { k, hvo } = bootHvo(x86(), design);
      const head = makeFolio(k, 9);
      const v0 = { ...k.vmstat };
      hvo.optimizeFolio(9, head);
      expect(hvo.isOptimized(head)).toBe(true);
      // Boot vmemmap (memblock, PageReserved): all 8 freed, one new head from the buddy.
      expect(k.vmstat.nrMemmapBootPages - v0.nrMemmapBootPages).toBe(-8);
      expect(k.vmstat.nrMemmapPages - v0.nrMemmapPages).toBe(1);
      // The folio's 8 vmemmap pages are now backed by 1 (legacy) or 1 + the shared tail.
      const frames = new Set<number>();
      for (let i = 0; i < 8; i++) frames.add(pteOf(k, head + i * PER).pfn);
      expect(frames.size).toBe(design === "legacy" ? 1 : 2);
      expect(hvo.restoreFolio(9, head)).toBe(0);
      expect(k.vmstat.nrMemmapPages - v0.nrMemmapPages).toBe(1 + 7);
      // Optimised again, its memmap is all from the buddy now: -8 + 1.
      const v1 = { ...k.vmstat };
      hvo.optimizeFolio(9, head);
      expect(k.vmstat.nrMemmapPages - v1.nrMemmapPages).toBe(-7);
      expect(k.vmstat.nrMemmapBootPages).toBe(v1.nrMemmapBootPages);
    });

    it(`${design}: a 1 GiB folio frees 4095 of 4096 (boot memmap -4096, pages +1)`, () => {
      const { k, hvo } = bootHvo(x86(4), design);
      const head = makeFolio(k, 18, 0, GFP_KERNEL);
      const free0 = k.buddy.nrFreePages();
      const v0 = { ...k.vmstat };
      hvo.optimizeFolio(18, head);
      expect(hvo.isOptimized(head)).toBe(true);
      expect(k.vmstat.nrMemmapBootPages - v0.nrMemmapBootPages).toBe(-4096);
      expect(k.vmstat.nrMemmapPages - v0.nrMemmapPages).toBe(1);
      // 16 MiB of vmemmap = 8 PMDs split (8 PTE tables); seed/mainline also hold one tail page.
      const extra = design === "legacy" ? 0 : 1;
      expect(k.buddy.nrFreePages() - free0).toBe(4096 - 1 - 8 - extra);
      expect(hvo.counters.pmdSplits).toBe(8);
      expect(hvo.restoreFolio(18, head)).toBe(0);
      expect(k.vmstat.nrMemmapPages - v0.nrMemmapPages).toBe(1 + 4095);
    });
  }

  it("optimizable sizes: 28 KiB for 2 MiB, 16380 KiB for 1 GiB; none for non-power-of-two struct pages", () => {
    const { hvo } = bootHvo(x86(2), "legacy");
    expect(hvo.optimizableSize(9)).toBe(28 * 1024);
    expect(hvo.optimizableSize(18)).toBe(16380 * 1024);
    expect(hvo.sysctlRegistered([9, 18])).toBe(true);
    const k72 = new Kernel(machinePreset("x86_64", { memoryBytes: 2 * GiB, structPageSize: 72 }), {
      design: "legacy",
    });
    const h72 = createHugetlbVmemmap(k72);
    expect(h72.optimizable(9)).toBe(false);
    expect(h72.sysctlRegistered([9, 18])).toBe(false);
    // arm64 64K pages, 2 MiB: 32 struct pages * 64 B = 2 KiB < one 64 KiB page.
    const k64 = new Kernel(machinePreset("arm64-64k", { memoryBytes: 4 * GiB }), {
      design: "mainline",
    });
    expect(createHugetlbVmemmap(k64).sysctlRegistered([5])).toBe(false);
  });
});

describe("layout after HVO", () => {
  for (const design of DESIGNS) {
    it(`${design}: compound_head() of every pfn is the head (2 MiB and 1 GiB)`, () => {
      const { k, hvo } = bootHvo(x86(4), design);
      const small = [makeFolio(k, 9), makeFolio(k, 9)];
      const big = makeFolio(k, 18, 0, GFP_KERNEL);
      hvo.optimizeFolios(9, small);
      hvo.optimizeFolio(18, big);
      for (const [head, order] of [...small.map((h) => [h, 9]), [big, 18]]) {
        expect(hvo.isOptimized(head)).toBe(true);
        for (let i = 0; i < 2 ** order; i++) {
          if (k.compound.compoundHead(head + i) !== head)
            throw new Error(`${design}: pfn ${head + i}`);
        }
        expect(k.compound.pageHead(head)).toBe(true);
        expect(k.compound.pageTail(head + PER)).toBe(true);
      }
    });
  }

  it("raw struct page 64 of an optimised 2 MiB folio: PG_head in legacy (a fake head), not in seed/mainline", () => {
    for (const design of DESIGNS) {
      const { k, hvo } = bootHvo(x86(), design);
      const head = makeFolio(k, 9);
      expect(rawPgHead(k, head + 64)).toBe(false);
      hvo.optimizeFolio(9, head);
      expect(rawPgHead(k, head + 64)).toBe(design === "legacy");
      expect(k.compound.isFakeHead(head + 64)).toBe(design === "legacy");
    }
  });

  for (const design of ["seed", "mainline"] as const) {
    it(`${design}: tails of one order are byte-identical, one RO shared page behind many PTEs`, () => {
      const { k, hvo } = bootHvo(x86(), design);
      const heads = [makeFolio(k, 9), makeFolio(k, 9), makeFolio(k, 9)];
      hvo.optimizeFolios(9, heads);
      const tails = hvo.sharedTails();
      expect(tails).toHaveLength(1);
      const ref = k.memmap.readStructPage(heads[0] + PER);
      // GENMASK(63, 9 + 6) | 1 (SPEC §1.2)
      expect(new DataView(ref.buffer).getBigUint64(PAGE_OFF.compoundInfo, true)).toBe(
        0xffffffffffff8001n,
      );
      for (const head of heads) {
        for (let i = PER; i < 512; i++) expect(k.memmap.readStructPage(head + i)).toEqual(ref);
        for (let p = 1; p < 8; p++) {
          const pte = pteOf(k, head + p * PER);
          expect(pte.pfn).toBe(tails[0].pfn);
          expect(pte.writable).toBe(false);
        }
        expect(pteOf(k, head).writable).toBe(true);
      }
    });
  }

  for (const design of DESIGNS) {
    it(`${design}: a write to a tail struct page of an optimised folio oopses with the vaddr`, () => {
      const { k, hvo } = bootHvo(x86(), design);
      const head = makeFolio(k, 9);
      hvo.optimizeFolio(9, head);
      const vaddr = k.memmap.vaddrOf(head + 100) + BigInt(PAGE_OFF.private);
      let err: unknown = null;
      try {
        k.memmap.writeU64(head + 100, PAGE_OFF.private, 1n);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(Oops);
      expect((err as Oops).vaddr).toBe(vaddr);
      expect((err as Oops).message).toContain(vaddr.toString(16));
      // The head page stays writable.
      k.memmap.writeU64(head, PAGE_OFF.index, 5n);
    });
  }

  it("the static key and synchronize_rcu() exist in legacy only, one RCU per batch", () => {
    for (const design of DESIGNS) {
      const { k, hvo } = bootHvo(x86(), design);
      const heads = [makeFolio(k, 9), makeFolio(k, 9), makeFolio(k, 9)];
      hvo.optimizeFolios(9, heads);
      const legacy = design === "legacy";
      expect(k.fakeHeadKey).toBe(legacy ? 3 : 0);
      expect(hvo.counters.synchronizeRcu).toBe(legacy ? 1 : 0);
      expect(hvo.restoreFolios(9, heads).restored).toBe(3);
      expect(k.fakeHeadKey).toBe(0);
      expect(hvo.counters.synchronizeRcu).toBe(legacy ? 2 : 0);
    }
  });

  it("a batch flushes the whole TLB, not ranges, and leaves no stale entries", () => {
    for (const design of DESIGNS) {
      const { k, hvo } = bootHvo(x86(), design);
      const heads = [makeFolio(k, 9), makeFolio(k, 9)];
      for (const h of heads) k.compound.compoundHead(h + 100); // fill the TLB
      const r0 = k.pgt.tlbFlushRanges;
      const a0 = k.pgt.tlbFlushAlls;
      hvo.optimizeFolios(9, heads);
      // split pass (no flush), flush_tlb_all, remap pass (no flush), flush_tlb_all at out.
      expect(k.pgt.tlbFlushRanges - r0).toBe(0);
      expect(k.pgt.tlbFlushAlls - a0).toBe(2);
      expect(k.pgt.staleTlbEntries()).toEqual([]);
    }
  });
});

describe("shared tails per (node, order) in seed, per (zone, order) in mainline", () => {
  it("a 2-node machine with DMA32 and Normal on node 0", () => {
    const count: Record<string, number> = {};
    for (const design of ["seed", "mainline"] as const) {
      const { k, hvo } = bootHvo(x86(8, 2), design);
      const dma32 = makeFolio(k, 9, 0, GFP_KERNEL | __GFP_DMA32 | __GFP_THISNODE);
      const normal0 = makeFolio(k, 9, 0, GFP_KERNEL | __GFP_THISNODE);
      const normal1 = makeFolio(k, 9, 1, GFP_KERNEL | __GFP_THISNODE);
      expect(k.pfnZone(dma32)).toMatchObject({ nid: 0, zone: "DMA32" });
      expect(k.pfnZone(normal0)).toMatchObject({ nid: 0, zone: "Normal" });
      expect(k.pfnZone(normal1)).toMatchObject({ nid: 1, zone: "Normal" });
      hvo.optimizeFolios(9, [dma32, normal0, normal1]);
      count[design] = hvo.sharedTails().length;
      // Mainline tails carry their zone in flags; seed's carry what the page held before.
      if (design === "mainline") {
        for (const t of hvo.sharedTails()) {
          const flags = k.frames.readU64(t.pfn, 0);
          expect(Number(flags >> 54n)).toBe(t.nid);
          expect(Number((flags >> 51n) & 7n)).toBe(t.zone === "DMA32" ? 1 : 2);
          expect(k.frames.readU32(t.pfn, PAGE_OFF.mapcount)).toBe(0xffffffff);
        }
      }
      for (const h of [dma32, normal0, normal1])
        for (let i = 0; i < 512; i++) expect(k.compound.compoundHead(h + i)).toBe(h);
    }
    expect(count).toEqual({ seed: 2, mainline: 3 });
  });

  it("two optimisers racing for one slot: one publishes, the loser frees its copy", () => {
    for (const design of ["seed", "mainline"] as const) {
      const { k, hvo } = bootHvo(x86(), design);
      const a = makeFolio(k, 9);
      const b = makeFolio(k, 9);
      const free0 = k.buddy.nrFreePages();
      let raced = false;
      hvo.beforeTailPublish = () => {
        if (raced) return;
        raced = true;
        hvo.optimizeFolio(9, b); // the second optimiser runs to completion in between
      };
      hvo.optimizeFolio(9, a);
      expect(raced).toBe(true); // the hook ran: the race happened
      expect(hvo.sharedTails()).toHaveLength(1);
      const tail = hvo.sharedTails()[0].pfn;
      for (const h of [a, b]) expect(pteOf(k, h + PER).pfn).toBe(tail);
      // Each folio: +8 freed - 1 head; a split table per PMD; one tail kept, the loser's copy freed.
      expect(k.buddy.nrFreePages() - free0).toBe(2 * 7 - hvo.counters.pmdSplits - 1);
      expect(hvo.counters.vmemmapPagesFreed).toBe(16);
    }
  });
});

describe("failure injection", () => {
  it("at the tail allocation: seed/mainline give up with nothing changed; legacy has no tail", () => {
    for (const design of DESIGNS) {
      const { k, hvo } = bootHvo(x86(), design);
      const head = makeFolio(k, 9);
      const before = vmemmapBytes(k, head, 9);
      const w0 = k.pgt.pteWrites;
      const v0 = { ...k.vmstat };
      k.faults.add({ site: "vmemmap_get_tail", nth: 1 });
      hvo.optimizeFolio(9, head);
      if (design === "legacy") {
        expect(hvo.isOptimized(head)).toBe(true);
        continue;
      }
      expect(hvo.isOptimized(head)).toBe(false);
      expect(k.pgt.pteWrites).toBe(w0);
      expect(k.vmstat).toEqual(v0);
      expect(vmemmapBytes(k, head, 9)).toEqual(before);
    }
  });

  it("at the new head page: legacy reuses the old head, seed/mainline return -ENOMEM", () => {
    for (const design of DESIGNS) {
      const { k, hvo } = bootHvo(x86(), design);
      const head = makeFolio(k, 9);
      const oldHeadFrame = pteOf(k, head).pfn;
      const v0 = { ...k.vmstat };
      k.faults.add({ site: "vmemmap_remap_free:new_head", nth: 1 });
      hvo.optimizeFolio(9, head);
      if (design === "legacy") {
        expect(hvo.isOptimized(head)).toBe(true);
        // The old head page stays and backs all 8; only 7 pages are freed.
        expect(pteOf(k, head).pfn).toBe(oldHeadFrame);
        expect(pteOf(k, head + 7 * PER).pfn).toBe(oldHeadFrame);
        expect(k.vmstat.nrMemmapBootPages - v0.nrMemmapBootPages).toBe(-7);
        expect(k.vmstat.nrMemmapPages).toBe(v0.nrMemmapPages);
        expect(k.fakeHeadKey).toBe(1);
      } else {
        expect(hvo.isOptimized(head)).toBe(false);
        expect(k.vmstat).toEqual(v0);
        expect(pteOf(k, head + PER).writable).toBe(true);
        // The shared tail was obtained first and stays.
        expect(hvo.sharedTails()).toHaveLength(1);
      }
    }
  });

  it("at the PMD split: every design gives up, the new head page is freed again", () => {
    for (const design of DESIGNS) {
      const { k, hvo } = bootHvo(x86(), design);
      const head = makeFolio(k, 9);
      const before = vmemmapBytes(k, head, 9);
      const v0 = { ...k.vmstat };
      k.faults.add({ site: "vmemmap_split_pmd", nth: 1 });
      hvo.optimizeFolio(9, head);
      expect(hvo.isOptimized(head)).toBe(false);
      expect(k.vmstat).toEqual(v0);
      expect(k.fakeHeadKey).toBe(0);
      expect(vmemmapBytes(k, head, 9)).toEqual(before);
      expect(hvo.counters.vmemmapPagesAllocated).toBe(1);
      expect(hvo.counters.vmemmapPagesFreed).toBe(1);
    }
  });

  it("a batch stops splitting at the first -ENOMEM and splits the rest during the remap", () => {
    const { k, hvo } = bootHvo(x86(), "mainline");
    // Folios in two different vmemmap PMDs (128 MiB apart).
    const a = makeFolio(k, 9);
    const far = k.buddy.allocContigPages(2 ** 15, GFP_KERNEL, 0, "test", "kernel")!;
    const b = makeFolio(k, 9);
    expect(Math.floor(b / 32768)).not.toBe(Math.floor(a / 32768));
    k.faults.add({ site: "vmemmap_split_pmd", nth: 1 });
    hvo.optimizeFolios(9, [a, b]);
    // Split pass: a fails, break. Remap pass: a splits (2nd call), b splits (3rd call).
    expect(hvo.isOptimized(a)).toBe(true);
    expect(hvo.isOptimized(b)).toBe(true);
    expect(hvo.counters.pmdSplits).toBe(2);
    k.buddy.freeContigRange(far, 2 ** 15);
  });

  it("at restore: all or nothing, -ENOMEM, the folio stays optimised; a batch stops there", () => {
    for (const design of DESIGNS) {
      const { k, hvo } = bootHvo(x86(), design);
      const heads = [makeFolio(k, 9), makeFolio(k, 9), makeFolio(k, 9)];
      hvo.optimizeFolios(9, heads);
      const free0 = k.buddy.nrFreePages();
      k.faults.add({ site: "alloc_vmemmap_page_list", nth: 10 }); // 3rd page of the 2nd folio
      const r = hvo.restoreFolios(9, heads);
      expect(r).toEqual({
        nonHvo: [heads[0]],
        remaining: [heads[1], heads[2]],
        err: -ENOMEM,
        restored: 1,
      });
      expect(k.buddy.nrFreePages() - free0).toBe(-7);
      expect(hvo.isOptimized(heads[1])).toBe(true);
      expect(hvo.restoreFolio(9, heads[1])).toBe(0);
    }
  });
});

describe("rollback of a half-done walk (1 GiB, split fails at the 2nd PMD)", () => {
  it("legacy: every struct page is back (lru.prev aside), all PTEs writable, nothing leaks", () => {
    const { k, hvo, head, before, after, v0 } = rollBackHalfDone1G("legacy");
    expect(hvo.isOptimized(head)).toBe(false);
    expect(hvo.counters.rollbacks).toBe(1);
    // The head vmemmap page (the new copy) is exact; the rebuilt ones differ in lru.prev only.
    expect(firstDiff(after.subarray(0, PAGE), before.subarray(0, PAGE))).toBe(-1);
    expect(firstDiffButLruPrev(after, before, SPS)).toBe(-1);
    for (let p = 0; p < 4096; p += 37) expect(pteOf(k, head + p * PER).writable).toBe(true);
    // The new head page stays (PTE 0, RW) and the old one is freed; the other walked pages are
    // mapped again. Nothing leaks: the total is unchanged.
    expect(k.vmstat.nrMemmapPages - v0.nrMemmapPages).toBe(1);
    expect(k.vmstat.nrMemmapBootPages - v0.nrMemmapBootPages).toBe(-1);
    expect(hvo.counters.vmemmapPagesAllocated).toBe(1);
    expect(hvo.counters.vmemmapPagesFreed).toBe(1);
    expect(k.fakeHeadKey).toBe(0);
    expect(k.pgt.staleTlbEntries()).toEqual([]);
  });

  it("seed and 7.1: the rollback walk restores PTE 0 too, overwriting the head page; the new head leaks", () => {
    for (const design of ["seed", "mainline-7.1"] as const) {
      const { k, hvo, head, before, after, v0 } = rollBackHalfDone1G(design);
      expect(hvo.counters.rollbacks).toBe(1);
      // Pages 1.. are plain tails again, as before.
      expect(firstDiffButLruPrev(after.subarray(PAGE), before.subarray(PAGE), SPS)).toBe(-1);
      const slot = (b: Uint8Array, i: number) => b.subarray(i * SPS, (i + 1) * SPS);
      if (design === "seed") {
        // copy_page() of the head page, then reset_struct_pages(): 4..7 over 0..3.
        for (let i = 0; i < 4; i++) expect(slot(after, i)).toEqual(slot(before, i + 4));
        expect(firstDiff(after.subarray(4 * SPS, PAGE), before.subarray(4 * SPS, PAGE))).toBe(-1);
      } else {
        // Every slot a copy of struct page 63.
        for (let i = 0; i < PER; i++) expect(slot(after, i)).toEqual(slot(before, PER - 1));
      }
      expect(k.compound.pageHead(head)).toBe(false);
      expect(k.compound.pageTail(head)).toBe(true);
      // 512 old pages walked, 512 restored from the list: the new head page is mapped nowhere
      // and never freed, yet counted in nr_memmap_pages.
      expect(k.vmstat.nrMemmapPages - v0.nrMemmapPages).toBe(1);
      expect(k.vmstat.nrMemmapBootPages).toBe(v0.nrMemmapBootPages);
    }
  });
});

describe("restore then free gives back every page", () => {
  for (const design of DESIGNS) {
    it(`${design}: buddy free count returns to the start minus split tables (and the shared tail)`, () => {
      const { k, hvo } = bootHvo(x86(4), design);
      const free0 = k.buddy.nrFreePages();
      const small = [makeFolio(k, 9), makeFolio(k, 9)];
      const big = makeFolio(k, 18, 0, GFP_KERNEL);
      hvo.optimizeFolios(9, small);
      hvo.optimizeFolio(18, big);
      expect(hvo.restoreFolios(9, small).err).toBe(0);
      expect(hvo.restoreFolio(18, big)).toBe(0);
      for (const h of small) freeFolio(k, h, 9);
      freeFolio(k, big, 18);
      const tails = design === "legacy" ? 0 : 2;
      expect(k.buddy.nrFreePages()).toBe(free0 - hvo.counters.pmdSplits - tails);
      // One split per vmemmap PMD touched (a PMD maps the memmap of 32768 pfns), never undone.
      const pmds = new Set(small.map((h) => Math.floor(h / 32768))).size;
      expect(hvo.counters.pmdSplits).toBe(pmds + 8);
      // The memmap that was freed from memblock came back from the buddy: totals unchanged.
      expect(k.vmstat.nrMemmapPages + k.vmstat.nrMemmapBootPages).toBe(32 * 512);
    });
  }
});

/**
 * A page whose struct-page slots say PG_head and node 5, freed: the next order-0 allocation on
 * this node takes it (page_alloc.ts: freed blocks go to the list head).
 */
function staleFreedPage(k: ReturnType<typeof bootHvo>["k"]): number {
  const stale = k.buddy.allocPagesNode(0, GFP_KERNEL, 0, "test", "kernel") as number;
  for (let i = 0; i < PER; i++) k.frames.writeU64(stale, i * SPS, (5n << 54n) | (1n << 6n));
  k.buddy.freePages(stale, 0);
  return stale;
}

describe("seed: the shared tail is not zeroed (v3 alloc_pages_node(node, GFP_KERNEL, 0))", () => {
  it("stale bytes of a freed page show up in every tail, and page_to_nid() of them drives the restore", () => {
    const { k, hvo } = bootHvo(x86(), "seed");
    const head = makeFolio(k, 9);
    const stale = staleFreedPage(k);
    hvo.optimizeFolio(9, head);
    expect(hvo.sharedTails()[0].pfn).toBe(stale);
    // compound_head() still works (compound_info is written) ...
    for (let i = 0; i < 512; i++) expect(k.compound.compoundHead(head + i)).toBe(head);
    // ... but every tail from 64 on carries PG_head: fake heads are back.
    expect(rawPgHead(k, head + 64)).toBe(true);
    expect(rawPgHead(k, head + 100)).toBe(true);
    // alloc_vmemmap_page_list() takes the node from struct page 64: node 5 does not exist. The
    // Oops names that struct page's address: the vmemmap base plus 64 bytes a pfn.
    const at = k.memmap.vmemmapBase + BigInt((head + 64) * 64);
    expect(() => hvo.restoreFolio(9, head)).toThrow(
      new RegExp(`node 5, .*struct page at 0x${at.toString(16)}\\)`),
    );
  });

  it("mainline zeroes and initialises its tail: the same stale page gives clean tails", () => {
    const { k, hvo } = bootHvo(x86(), "mainline");
    const head = makeFolio(k, 9);
    const stale = staleFreedPage(k);
    hvo.optimizeFolio(9, head);
    expect(hvo.sharedTails()[0].pfn).toBe(stale);
    expect(rawPgHead(k, head + 64)).toBe(false);
    expect(hvo.restoreFolio(9, head)).toBe(0);
  });
});

describe("the sysctl only affects later optimisations", () => {
  it("turning it off keeps optimised folios; restore still works", () => {
    const { k, hvo } = bootHvo(x86(), "legacy");
    const a = makeFolio(k, 9);
    hvo.optimizeFolio(9, a);
    hvo.enabled = false;
    const b = makeFolio(k, 9);
    hvo.optimizeFolio(9, b);
    expect(hvo.isOptimized(a)).toBe(true);
    expect(hvo.isOptimized(b)).toBe(false);
    expect(hvo.restoreFolio(9, a)).toBe(0);
  });

  it("hugetlb_free_vmemmap= is kstrtobool(); off by default (CONFIG_..._DEFAULT_ON=n)", () => {
    const on = (c: string) =>
      createHugetlbVmemmap(new Kernel(x86(2, 1, c), { design: "mainline" })).enabled;
    expect(on("")).toBe(false);
    expect(on("hugetlb_free_vmemmap=on")).toBe(true);
    expect(on("hugetlb_free_vmemmap=Y")).toBe(true);
    expect(on("hugetlb_free_vmemmap=1 hugetlb_free_vmemmap=off")).toBe(false);
    expect(on("hugetlb_free_vmemmap=on hugetlb_free_vmemmap=junk")).toBe(true);
  });

  it("memmap_on_memory: a self-hosted first vmemmap page refuses (-ENOTSUPP), nothing changes", () => {
    for (const design of DESIGNS) {
      const { k, hvo } = bootHvo(x86(), design);
      const head = makeFolio(k, 9);
      const selfHosted = pteOf(k, head).pfn;
      hvo.isVmemmapSelfHosted = (f) => f === selfHosted;
      hvo.optimizeFolio(9, head);
      expect(hvo.isOptimized(head)).toBe(false);
      expect(hvo.counters.pmdSplits).toBe(0);
    }
  });
});

describe("v3 vmemmap_populate_hvo() order arithmetic", () => {
  it("ilog2(len * sizeof(struct page) / PAGE_SIZE) is the order only when sizeof^2 == PAGE_SIZE", () => {
    // 1 GiB, 4 KiB pages: len = 2^18 * 64 = 16 MiB; 16 MiB * 64 / 4096 = 2^18.
    expect(seedPopulateHvoOrder(2 ** 18 * 64, 64, 4096)).toBe(18);
    // 1 GiB, 16 KiB pages (order 16): len = 2^16 * 64; * 64 / 16384 = 2^14: order 14.
    expect(seedPopulateHvoOrder(2 ** 16 * 64, 64, 16384)).toBe(14);
    // 16 GiB, 64 KiB pages (order 18): * 64 / 65536 = 2^14: order 14.
    expect(seedPopulateHvoOrder(2 ** 18 * 64, 64, 65536)).toBe(14);
  });
});
