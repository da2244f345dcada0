// A batch of frees (fast path freeBatch: page_alloc.ts beginFreeBatch(), batchFree()) keeps the
// blocks it adds off the zone's lists until it is made. Whoever reads the free lists, their
// struct-page links or the free counts in the middle of a batch must see those blocks, whether
// or not the entry point it goes through thought of the batch: every reader below is asked
// mid-batch, right after the replayed frees, on a model with the fast path and on one without,
// and both must answer alike (and agree in everything once the batch ends).
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { MIGRATE_MOVABLE, MIGRATE_UNMOVABLE } from "../../src/mm/buddy_lru.ts";
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL } from "../../src/mm/page_alloc.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { batchDigest as digest } from "./batch_steps.ts";

/** Reads of the buddy an outside caller may make, each through a different way in. */
const READERS: Record<string, (m: Model, freed: number[]) => unknown> = {
  "nr_free_pages()": (m) => m.k.buddy.nrFreePages(),
  "each zone's nr_free": (m) => m.k.buddy.zones.map((z) => z.nrFree),
  "each zone's free lists, in order": (m) =>
    m.k.buddy.zones.map((z) => z.freeArea.map((l) => [...l])),
  "each zone's unmovable lists, in order": (m) =>
    m.k.buddy.zones.map((z) => z.unmovableArea.map((l) => [...l])),
  "every free block (freeBlocks())": (m) => [...m.k.buddy.freeBlocks()],
  "the free block of each freed page (freeBlockAt())": (m, freed) =>
    freed.map((p) => m.k.buddy.freeBlockAt(p)),
  "whether 8-page ranges are free (rangeFree())": (m, freed) =>
    freed.map((p) => m.k.buddy.rangeFree(p - (p % 8), 8)),
  "the order each freed page heads (headOrder())": (m, freed) =>
    freed.map((p) => m.k.buddy.headOrder(p)),
  "the lists as the struct pages link them (listOrder())": (m) =>
    m.k.buddy.zones.map((z) =>
      [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE].map((mt) =>
        Array.from({ length: 10 }, (_, o) => m.k.buddy.lru?.listOrder(z, o, mt)),
      ),
    ),
  "order-0 allocations (the lists' first blocks)": (m) =>
    Array.from({ length: 40 }, () => m.k.buddy.allocPagesNode(0, GFP_KERNEL, 0, "test", "kernel")),
  "an order-3 allocation": (m) => m.k.buddy.allocPagesNode(0, GFP_KERNEL, 3, "test", "kernel"),
  "a movable order-1 allocation": (m) =>
    m.k.buddy.allocPagesNode(0, GFP_HIGHUSER_MOVABLE, 1, "test", "kernel"),
};

describe("reads of the buddy in the middle of a batch of frees", () => {
  it("x86_64 legacy: every reader sees the batch's blocks", () => {
    const ms = [true, false].map((fast) => {
      const m = bootModel(machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30 }), "legacy");
      m.k.paths.freeBatch = fast;
      return m;
    });
    // Frees the fast model replayed on its batch (the test means nothing without them).
    let replayed = 0;
    const b0 = ms[0].k.buddy as unknown as { batchFree(...a: unknown[]): boolean };
    const batchFree = b0.batchFree.bind(b0);
    b0.batchFree = (...a) => {
      const r = batchFree(...a);
      if (r) replayed++;
      return r;
    };
    for (const [name, read] of Object.entries(READERS)) {
      const answers = ms.map((m, side) => {
        const b = m.k.buddy;
        const pfns: number[] = [];
        for (let i = 0; i < 96; i++)
          pfns.push(b.allocPagesNode(0, GFP_KERNEL, 0, "t", "vmemmap") as number);
        const before = replayed;
        expect(b.beginFreeBatch(pfns.length)).toBe(side === 0);
        // Every third page kept, the rest freed from the top down (each read first, as the
        // batch asks): blocks of several orders stay on the batch's lists.
        const freed = pfns.filter((_, i) => i % 3 !== 0).reverse();
        for (const pfn of freed) {
          m.k.memmap.readU32(pfn, PAGE_OFF.flags);
          b.freePages(pfn, 0);
        }
        if (side === 0) expect(replayed - before, name).toBeGreaterThan(30);
        const answer = JSON.stringify(read(m, freed));
        b.endFreeBatch();
        for (let i = 0; i < pfns.length; i += 3) b.freePages(pfns[i], 0);
        return answer;
      });
      expect.soft(answers[0], name).toBe(answers[1]);
      expect.soft(digest(ms[0]), name).toEqual(digest(ms[1]));
    }
  });
});

// Whether a free may wait for the batch's end is asked when the batch opens and again when one
// of its inputs changes (PageAllocator.freeBatchInputsChanged()), not per free: a head watched
// from the middle of a batch on (hugetlb_vmemmap.ts freeWatched()) must be marked as its free
// goes, so the frees after the watch starts go one by one.
describe("a head watched from the middle of a batch of frees", () => {
  it("x86_64 legacy: the watched head's marks are seen as the one-by-one frees make them", () => {
    const ms = [true, false].map((fast) => {
      const m = bootModel(machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30 }), "legacy");
      m.k.paths.freeBatch = fast;
      return m;
    });
    const seen = ms.map((m, side) => {
      const b = m.k.buddy;
      const pfns: number[] = [];
      for (let i = 0; i < 64; i++)
        pfns.push(b.allocPagesNode(0, GFP_KERNEL, 0, "t", "vmemmap") as number);
      expect(b.beginFreeBatch(pfns.length)).toBe(side === 0);
      const free = (pfn: number) => {
        m.k.memmap.readU32(pfn, PAGE_OFF.flags);
        b.freePages(pfn, 0);
      };
      // The first half before the watch (replayed on the fast side), the rest watched: the
      // pages freed in ascending order, each even pfn heads an order-0 block at its free (its
      // buddy, the next page, is not free yet).
      for (let i = 0; i < 32; i++) free(pfns[i]);
      expect(pfns[63] - pfns[0]).toBe(63);
      const watched = pfns.slice(32).filter((p) => p % 2 === 0);
      m.k.headWatchMarked.length = watched.length;
      m.k.headWatchMarked.fill(false);
      m.k.headWatch = watched;
      for (let i = 32; i < 64; i++) free(pfns[i]);
      m.k.headWatch = null;
      b.endFreeBatch();
      return [...m.k.headWatchMarked];
    });
    // Every watched page headed a free block at its free, so the one-by-one frees mark each.
    expect(seen[1].every((x) => x)).toBe(true);
    expect(seen[0]).toEqual(seen[1]);
    expect(digest(ms[0])).toEqual(digest(ms[1]));
  });
});
