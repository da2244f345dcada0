// The frame ledger's tiling counts the allocations that hold a pfn with allocationsHolding()
// (src/check/frame_ledger.ts), without AllocationMap.allContaining()'s list, and takes the
// first one's span in the common case of one state. The count and the first block must be
// allContaining()'s at every pfn the walk can stop at: compared on seeded runs of `hvo check`
// operations (order-0 runs, folios, gigantic pages handed out and freed), at block edges and
// their neighbours and pfns spread over the machine; and on a map that holds overlapping
// blocks, as a broken allocator would leave it (what the tiling exists to find).
import { describe, expect, it } from "vitest";
import { allocationsHolding } from "../../src/check/frame_ledger.ts";
import type { Kernel } from "../../src/kernel.ts";
import { DESIGNS } from "../../src/kernel.ts";
import { AllocationMap } from "../../src/mm/page_alloc.ts";
import { checkModel, edgePfns, runSeed } from "./seeded_steps.ts";

/** allContaining(p) and allocationsHolding(p) as "count first-start..first-end" strings. */
function both(allocs: AllocationMap, p: number): [string, string] {
  const held = allocs.allContaining(p);
  const want = held.length
    ? `${held.length} ${held[0].start}..${held[0].start + 2 ** held[0].a.order}`
    : "0";
  const first = [-1, -1];
  const n = allocationsHolding(allocs, p, first);
  return [want, n ? `${n} ${first[0]}..${first[1]}` : "0"];
}

function mismatches(k: Kernel): string[] {
  const out: string[] = [];
  for (const p of edgePfns(k)) {
    const [a, b] = both(k.buddy.allocations, p);
    if (a !== b && out.length < 4)
      out.push(`pfn ${p}: allContaining ${a}, allocationsHolding ${b}`);
  }
  return out;
}

describe("allocationsHolding() counts as allContaining()", () => {
  for (const design of DESIGNS)
    it(`over a seeded run (${design})`, () => {
      const m = checkModel(design);
      const k = m.model.k;
      expect(mismatches(k)).toEqual([]);
      let looked = 0;
      let held = 0;
      runSeed(design, 7, 160, m, (i) => {
        if (i % 20 !== 0) return;
        looked++;
        expect(mismatches(k), `after op ${i}`).toEqual([]);
        for (const p of edgePfns(k)) if (allocationsHolding(k.buddy.allocations, p, [0, 0])) held++;
      });
      expect(looked).toBeGreaterThan(3);
      // It found allocations, not only their absence.
      expect(held).toBeGreaterThan(1000);
    });

  it("counts overlapping blocks, the first as allContaining() lists it", () => {
    const allocs = new AllocationMap();
    allocs.set(512, { order: 9, use: "hugetlb", nid: 0 });
    allocs.set(520, { order: 0, use: "vmemmap", nid: 0 });
    allocs.set(528, { order: 3, use: "kernel", nid: 0 });
    allocs.set(0, { order: 18, use: "hugetlb", nid: 0 });
    for (const p of [0, 511, 512, 519, 520, 521, 528, 535, 536, 1023, 1024, 2 ** 18 - 1, 2 ** 18])
      expect(both(allocs, p)[1], `pfn ${p}`).toBe(both(allocs, p)[0]);
    expect(both(allocs, 520)[1]).toBe("3 520..521");
    expect(both(allocs, 530)[1]).toBe("3 528..536");
    expect(both(allocs, 600)[1]).toBe("2 512..1024");
    expect(both(allocs, 2 ** 18)[1]).toBe("0");
  });
});
