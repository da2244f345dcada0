// Random optimise/restore/fault sequences (fast-check, fixed seed) keep HVO's invariants:
// compound_head() right for every pfn, the mapping matching the optimised flag, no stale TLB
// entries, and every page accounted for (7 per optimised 2 MiB folio, SPEC §3).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HVO_SITES } from "../../src/mm/hugetlb_vmemmap.ts";
import { DESIGNS, bootHvo, makeFolio, pteOf, rawPgHead, x86 } from "./helpers.ts";

const NR_FOLIOS = 4;

type Op = {
  kind: "optimize" | "optimizeBatch" | "restore" | "restoreBatch" | "toggle";
  pick: number[];
  fault: { site: string; nth: number } | null;
};

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom("optimize", "optimizeBatch", "restore", "restoreBatch", "toggle"),
  pick: fc.uniqueArray(fc.integer({ min: 0, max: NR_FOLIOS - 1 }), {
    minLength: 1,
    maxLength: NR_FOLIOS,
  }),
  fault: fc.option(
    fc.record({
      site: fc.constantFrom(
        HVO_SITES.newHead,
        HVO_SITES.pageList,
        HVO_SITES.splitPmd,
        HVO_SITES.getTail,
      ),
      nth: fc.integer({ min: 1, max: 4 }),
    }),
    { nil: null },
  ),
});

describe("HVO invariants under random operations and faults", () => {
  for (const design of DESIGNS) {
    it(`${design}`, () => {
      // The accounting below is only worth something if some step optimised a folio and some
      // later step gave one back: count both over the whole run.
      let stepsWithOptimised = 0;
      let restores = 0;
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 10 }), (ops) => {
          const { k, hvo } = bootHvo(x86(2), design);
          const folios = Array.from({ length: NR_FOLIOS }, (_, i) =>
            // Two folios far apart so that more than one vmemmap PMD is split.
            i === 2 ? makeFolio(k, 9, 0, 0) : makeFolio(k, 9),
          );
          const free0 = k.buddy.nrFreePages();
          const memmap0 = k.vmstat.nrMemmapPages + k.vmstat.nrMemmapBootPages;
          let prevOptimized = 0;
          for (const op of ops) {
            k.faults.clear();
            if (op.fault) k.faults.add(op.fault);
            const heads = op.pick.map((i) => folios[i]);
            if (op.kind === "optimize") for (const h of heads) hvo.optimizeFolio(9, h);
            else if (op.kind === "optimizeBatch") hvo.optimizeFolios(9, heads);
            else if (op.kind === "restore") for (const h of heads) hvo.restoreFolio(9, h);
            else if (op.kind === "restoreBatch") hvo.restoreFolios(9, heads);
            else hvo.enabled = !hvo.enabled;
            k.faults.clear();

            let optimized = 0;
            for (const h of folios) {
              const opt = hvo.isOptimized(h);
              if (opt) optimized++;
              for (let i = 0; i < 512; i++) expect(k.compound.compoundHead(h + i)).toBe(h);
              expect(pteOf(k, h + 64).writable).toBe(!opt);
              if (design === "legacy") expect(rawPgHead(k, h + 64)).toBe(opt);
              if (design === "mainline") expect(rawPgHead(k, h + 64)).toBe(false);
            }
            if (optimized > 0) stepsWithOptimised++;
            if (optimized < prevOptimized) restores++;
            prevOptimized = optimized;
            expect(k.pgt.staleTlbEntries()).toEqual([]);
            expect(k.fakeHeadKey).toBe(design === "legacy" ? optimized : 0);
            expect(k.vmstat.nrMemmapPages + k.vmstat.nrMemmapBootPages).toBe(
              memmap0 - 7 * optimized,
            );
            const tails = hvo.sharedTails().length;
            expect(k.buddy.nrFreePages()).toBe(
              free0 + 7 * optimized - hvo.counters.pmdSplits - tails,
            );
          }
        }),
        { seed: 42, numRuns: 30 },
      );
      expect(stepsWithOptimised).toBeGreaterThan(0);
      expect(restores).toBeGreaterThan(0);
    });
  }
});
