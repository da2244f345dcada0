// free_vmemmap_page_list()'s frees replayed as one batch in the buddy allocator (fast path
// freeBatch: page_alloc.ts beginFreeBatch(), batchFree(), commitFreeBatch()) against
// __free_one_page() of each block, on two models run side by side: pool sizes grown and shrunk
// with HVO on (each grow frees the old vmemmap pages of every folio it optimises, boot memory
// in the first grows and pages the buddy handed out in the later ones), HVO switched off and
// on, 1 GiB folios among the 2 MiB ones. After each optimise and restore batch and after each
// step the vmemmap (PTEs, struct page bytes: the free lists' links and buddy marks among them,
// and which pages hold bytes of their own), the free lists in their order, allocations,
// counters, meminfo, pools and log must be the same, and so must the struct page reads and
// writes, the TLB flushes and the TLB's translations in the order it was filled.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL } from "../../src/mm/page_alloc.ts";
import { bootModel, type Model } from "../../src/model.ts";

import {
  type BatchStep,
  SMALL,
  batchDigest as digest,
  digestEachBatch,
  stepBothByBatch,
} from "./batch_steps.ts";

/** What the fast model's batches did: frees replayed, old blocks merged away, batches made. */
interface Seen {
  replayed: number;
  oldMerged: number;
  commits: number;
  /** Struct pages the batches stored into at their end (their vmemmap pages hold bytes). */
  stored: number;
}

/** The buddy's batch methods, private in the type, watched here. */
interface BatchMethods {
  batchFree(zone: unknown, pfn: number, order: number): boolean;
  batchDelOld(...a: unknown[]): void;
  commitFreeBatch(): void;
}

/**
 * Every `every`-th vmemmap page of the memmap made to hold bytes of its own (one struct page's
 * _refcount stored with the value it reads): on a machine whose memmap is still mostly
 * generated from the free lists the buddy's stores into it are skipped (they change nothing
 * there), and a comparison of struct page bytes and store counts would prove nothing. A host
 * running for a while has most of it written (the model of this host stores into about half of
 * the struct pages a grow's frees reach).
 */
function holdMemmapAsBytes(m: Model, every: number): void {
  const per = m.k.pageSize / m.k.spec.structPageSize;
  let end = 0;
  for (const n of m.k.spec.nodes) for (const r of n.ranges) end = Math.max(end, r.endPfn);
  for (let pfn = 0; pfn < end; pfn += per * every)
    m.k.memmap.writeU32(pfn, PAGE_OFF.refcount, m.k.memmap.readU32(pfn, PAGE_OFF.refcount));
}

function model(design: Design, fast: boolean) {
  const m = bootModel(machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30, nodes: 2 }), design);
  m.k.paths.freeBatch = fast;
  holdMemmapAsBytes(m, 2);
  const seen: Seen = { replayed: 0, oldMerged: 0, commits: 0, stored: 0 };
  const final = m.k.buddy.onFreeHeadFinal;
  if (final !== null)
    m.k.buddy.onFreeHeadFinal = (...a) => {
      const r = final(...a);
      if (r) seen.stored++;
      return r;
    };
  const b = m.k.buddy as unknown as BatchMethods;
  const free = b.batchFree.bind(b);
  b.batchFree = (zone, pfn, order) => {
    const r = free(zone, pfn, order);
    if (r) seen.replayed++;
    return r;
  };
  const delOld = b.batchDelOld.bind(b);
  b.batchDelOld = (...a) => {
    seen.oldMerged++;
    delOld(...a);
  };
  const commit = b.commitFreeBatch.bind(b);
  b.commitFreeBatch = () => {
    seen.commits++;
    commit();
  };
  return { m, batches: digestEachBatch(m, digest), seen };
}

describe("a vmemmap page list's frees replayed as one batch", () => {
  // HVO on; grows and shrinks; a shrink with HVO off after a grow with it on; 1 GiB folios
  // (their 4095 boot vmemmap pages freed top-down) among the 2 MiB ones.
  // A 1 GiB folio restored, then optimised again: its vmemmap pages, the buddy's now, freed in
  // runs long enough to settle whole vmemmap pages.
  const plan: BatchStep[] = [
    true,
    60,
    0,
    50,
    20,
    55,
    "1",
    30,
    false,
    10,
    true,
    40,
    "0",
    "1",
    0,
    64,
  ];
  for (const design of ["legacy", "seed", "mainline"] as Design[]) {
    it(`x86_64, ${design}, 2 nodes`, () => {
      const fast = model(design, true);
      const plain = model(design, false);
      stepBothByBatch(fast, plain, plan, SMALL, digest);
      // The fast path was taken, merged blocks the zone had before the batch, and was made
      // part-way (boot memory freed among the buddy's pages, settling, the list's end).
      expect(fast.seen.replayed).toBeGreaterThan(500);
      expect(fast.seen.oldMerged).toBeGreaterThan(10);
      expect(fast.seen.commits).toBeGreaterThan(10);
      expect(fast.seen.stored).toBeGreaterThan(100);
      expect(plain.seen.replayed).toBe(0);
      expect(fast.m.read(SMALL).trim()).toBe("0");
    });
  }
});

// The batch at the buddy's level, opened by hand as freeVmemmapPageList() opens it: pages of
// both migratetypes (movable ones outside the blocks unmovable allocations claim, which the
// vmemmap's own pages never reach) freed in a shuffled order, singles and runs, each page's
// flags read through the vmemmap before its free as the batch asks; the struct pages of some
// free heads whose vmemmap pages are still generated read whole in the middle of the batch
// (rendered from the free lists, the batch's included). Both models must read the same bytes
// and agree after each batch.
describe("the buddy's batch of frees, both migratetypes", () => {
  it("x86_64 legacy: shuffled frees of movable and unmovable pages", () => {
    const ms = [true, false].map((fast) => {
      const m = bootModel(machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30 }), "legacy");
      m.k.paths.freeBatch = fast;
      holdMemmapAsBytes(m, 3);
      return m;
    });
    // A fixed linear congruential sequence: the same shuffles on both models.
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const reads: string[][] = [[], []];
    // The replayed adds per migratetype (MIGRATE_UNMOVABLE 0, MIGRATE_MOVABLE 1).
    const adds = [0, 0];
    const b0 = ms[0].k.buddy as unknown as { batchAdd(...a: number[]): void };
    const add = b0.batchAdd.bind(b0);
    b0.batchAdd = (...a) => {
      adds[a[a.length - 1]]++;
      add(...a);
    };
    for (let round = 0; round < 4; round++) {
      const want: number[] = [];
      // Odd rounds are half unmovable pages; even ones are movable only (the model's movable
      // allocations take claimed blocks' free pages too while those are at hand).
      for (let i = 0; i < 300; i++)
        want.push(round % 2 === 1 && rand(2) === 0 ? GFP_KERNEL : GFP_HIGHUSER_MOVABLE);
      const order: number[] = [];
      for (let i = 0; i < want.length; i++) order.push(i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rand(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      const cuts = order.map(() => rand(3));
      const probes = order.map(() => rand(order.length));
      const after: Record<string, string>[] = [];
      ms.forEach((m, side) => {
        const b = m.k.buddy;
        const pfns = want.map((gfp) => b.allocPagesNode(0, gfp, 0, "test", "kernel") as number);
        // A page of each migratetype freed before the batch: the first blocks of the zone's
        // own order-0 lists, which the batch's first adds store into (their struct pages in
        // vmemmap pages its reads reach only later).
        for (const gfp of [GFP_HIGHUSER_MOVABLE, GFP_KERNEL])
          b.freePages(b.allocPagesNode(0, gfp, 0, "test", "kernel") as number, 0);
        // An empty TLB, as optimizeFolios() leaves it before it frees the list: the batch's
        // translations fill it from the start, in an order the digest compares.
        m.k.pgt.flushTlbAll();
        const opened = b.beginFreeBatch(pfns.length);
        expect(opened).toBe(side === 0);
        let i = 0;
        while (i < order.length) {
          // A run of up to 3 pages in the shuffled order, freed in one bulk call.
          // Every fifth page is kept till after the batch: blocks of both migratetypes stay
          // on its lists, in the order of their adds.
          const run = order
            .slice(i, i + 1 + cuts[i])
            .filter((k) => k % 5 !== 0)
            .map((k) => pfns[k]);
          for (const pfn of run) m.k.memmap.readU32(pfn, PAGE_OFF.flags);
          b.freePagesBulk(run);
          // A free head's struct page in a generated vmemmap page, read whole.
          const probe = pfns[order[probes[i]]];
          i += 1 + cuts[i];
          const f = b.headOrder(probe) >= 0 ? m.k.memmap.vaddrOf(probe) : null;
          const t = f === null ? undefined : m.k.pgt.walk(f);
          if (t && m.k.frames.readsAsInit(t.frame))
            reads[side].push(`${probe}:${[...m.k.memmap.readStructPage(probe)].join(",")}`);
        }
        b.endFreeBatch();
        after[side] = digest(m);
        for (let k = 0; k < pfns.length; k += 5) b.freePages(pfns[k], 0);
      });
      expect(after[0], `round ${round}, after the batch`).toEqual(after[1]);
      expect(reads[0]).toEqual(reads[1]);
      expect(digest(ms[0]), `round ${round}`).toEqual(digest(ms[1]));
    }
    expect(adds[0]).toBeGreaterThan(20);
    expect(adds[1]).toBeGreaterThan(100);
    expect(reads[0].length).toBeGreaterThan(10);
  });
});

// The first block of a zone's own list, which the batch's first add stores into (its prev), far
// from the pages the batch frees: its struct page's vmemmap page is translated where that first
// store is, between the reads of the freed pages, and the TLB must be filled in that order.
describe("the buddy's batch of frees, a list's first block far away", () => {
  it("x86_64 legacy: the first store into it translated where the one-by-one frees make it", () => {
    const ms = [true, false].map((fast) => {
      const m = bootModel(machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30 }), "legacy");
      m.k.paths.freeBatch = fast;
      holdMemmapAsBytes(m, 1);
      return m;
    });
    const after = ms.map((m) => {
      const b = m.k.buddy;
      const alloc = () => b.allocPagesNode(0, GFP_HIGHUSER_MOVABLE, 0, "test", "kernel") as number;
      // A page whose buddy stays handed out: freed, it heads an order-0 block first on its list.
      const taken = new Set<number>();
      let lone = -1;
      while (lone < 0) {
        const p = alloc();
        taken.add(p);
        if (taken.has(p ^ 1)) lone = p;
      }
      // 320 MiB more. The TLB holds its entries in chunks of 512 vmemmap pages (32768 struct
      // pages), each chunk in order of its pages, the chunks in the order they were made: the
      // batch frees 128 pages of the lowest chunk, then 128 of the next, and the block above
      // lies in a third, which the batch's first add reaches between the two.
      const pfns: number[] = [];
      for (let i = 0; i < 81920; i++) pfns.push(alloc());
      pfns.sort((x, y) => x - y);
      const chunk = (pfn: number) => Math.floor(pfn / 32768);
      const low = pfns.slice(0, 128);
      const high = pfns.filter((p) => chunk(p) === chunk(low[0]) + 1).slice(0, 128);
      expect(high.length).toBe(128);
      expect(chunk(lone)).toBeGreaterThan(chunk(high[0]));
      b.freePages(lone, 0);
      m.k.pgt.flushTlbAll();
      expect(b.beginFreeBatch(256)).toBe(m === ms[0]);
      // Every other page first (each stays an order-0 block), then the rest.
      for (const freed of [low, high])
        for (const start of [0, 1])
          for (let i = start; i < freed.length; i += 2) {
            m.k.memmap.readU32(freed[i], PAGE_OFF.flags);
            b.freePagesBulk([freed[i]]);
          }
      b.endFreeBatch();
      return digest(m);
    });
    expect(after[0]).toEqual(after[1]);
  });
});
