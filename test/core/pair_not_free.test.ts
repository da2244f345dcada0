// Two buddy folios freed as a pair (page_alloc.ts PageAllocator freePagesPair()) merge into a
// block whose head is one of the two pfns pairMayMerge() found heading no free block: with the
// records it read still standing, addFree() does not ask again whether that block is free
// already (fast path pairNotFree). Two models run side by side, one with the plain form (the
// question asked every time): after each grow and shrink every struct page, free list,
// allocation, counter and log line must be the same, and the fast model must have asked fewer
// times. Then the allocator is corrupted between pairMayMerge() and freePagesPair(): the merged
// block put on its free list already, by a change its records show. The plain form Oopses
// ("free already"); the fast one must Oops the same, for its records no longer stand.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest, stepModels } from "../model_digest.ts";

const SMALL = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
/** 2 MiB folios at order 9 on x86_64; a pair merges into an order-10 block, MAX_PAGE_ORDER. */
const ORDER = 9;

interface Probe {
  /** addFree()'s free-already questions (explicitOrderAt() calls) since boot. */
  asked: number;
  /** Pair frees to corrupt from (-1: none). */
  corruptAt: number;
  pairs: number;
}

function boot(design: Design, fast: boolean): { m: Model; probe: Probe } {
  const m = bootModel(machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30, nodes: 1 }), design);
  m.k.paths.pairNotFree = fast;
  const probe: Probe = { asked: 0, corruptAt: -1, pairs: 0 };
  const buddy = m.k.buddy as unknown as {
    explicitOrderAt(pfn: number): number;
    freePagesPair(pfn: number, b: number, order: number): void;
    freeToBuddy(pfn: number, order: number): void;
  };
  const ask = buddy.explicitOrderAt.bind(buddy);
  buddy.explicitOrderAt = (pfn) => {
    probe.asked++;
    return ask(pfn);
  };
  const pair = buddy.freePagesPair.bind(buddy);
  buddy.freePagesPair = (pfn, b, order) => {
    if (probe.corruptAt >= 0 && probe.pairs++ === probe.corruptAt) {
      // The merged block on its free list already (no merge: it is MAX_PAGE_ORDER), and a
      // change of the records: pfn's use set again.
      buddy.freeToBuddy(Math.min(pfn, b), order + 1);
      m.k.buddy.allocations.setUse(pfn, "hugetlb");
    }
    pair(pfn, b, order);
  };
  return { m, probe };
}

const digest = (m: Model) => modelDigest(m, { pools: [SMALL] });

describe("a pair's merged block not asked again whether it is free (pairNotFree)", () => {
  for (const design of ["legacy", "mainline"] as Design[])
    it(`${design}: equals asking every time, and Oopses as it where the records changed`, () => {
      const runs = [boot(design, true), boot(design, false)];
      const ms = runs.map((r) => r.m);
      for (const size of [40, 0, 24, 7, 30, 0, 16]) {
        stepModels(ms, SMALL, String(size));
        expect(digest(ms[0]), `after ${size}`).toEqual(digest(ms[1]));
      }
      // The fast model skipped the question: once per pair freed (a shrink of 40 folios from
      // a fresh pool frees 20 pairs at least).
      expect(runs[1].probe.asked - runs[0].probe.asked).toBeGreaterThanOrEqual(20);
      // The corrupted allocator, from the third pair of the next shrink on (one corruption).
      for (const r of runs) r.probe.corruptAt = 2;
      const errors = ms.map((m) => {
        try {
          m.write(SMALL, "0");
          m.settle();
          return "";
        } catch (e) {
          return String(e);
        }
      });
      const logs = ms.map((m) => m.k.log.join("\n"));
      const oops = /free already/;
      expect(oops.test(errors[1]) || oops.test(logs[1]), "the plain form Oopses").toBe(true);
      expect(errors[0]).toBe(errors[1]);
      expect(digest(ms[0])).toEqual(digest(ms[1]));
      expect(ORDER).toBe(ms[0].k.buddy.maxOrder - 1);
    });
});
