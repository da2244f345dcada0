// A grow's folios taken from the buddy two at a time where the first splits a block of twice
// their order (page_alloc.ts PageAllocator allocPairs: the upper half's stay on its free list
// and its buddy marks, which the second folio's init overwrites, counted, not made), against
// two allocations each time, on two models run side by side (test/pool/side_by_side.ts):
// seeded sequences of 2 MiB pool sizes, odd and even, 1 GiB pools between them (the blocks
// split differently), HVO switched on and off, on one node and two (where no pair is taken),
// legacy and mainline; and a grow whose allocations fail now and then (fault injection at the
// pool's site: its calls not quiet, no pair taken).
import { describe, it } from "vitest";
import type { Model } from "../../src/model.ts";
import { compareSideBySide, plans, SIDE_BY_SIDE_MACHINES, type Step } from "./side_by_side.ts";

const allocPairs = (m: Model, on: boolean): void => {
  m.k.paths.allocPairs = on;
};

describe("a grow taking two folios from one split block equals two allocations", () => {
  // The fixed plan first: even and odd grows from empty and from a pool, shrinks between them,
  // a grow past what the machine has (it stops at the watermark, a pair's second call too),
  // a 1 GiB folio (the 2 MiB ones then split other blocks), then HVO on and off.
  const fixed: Step[] = [400, 121, 600, 0, 7, 1200, 3, [1], 301, [0], true, 200, false, 400];
  for (const [design, nodes] of SIDE_BY_SIDE_MACHINES)
    it(`x86_64, ${design}, ${nodes} node(s)`, () => {
      compareSideBySide(allocPairs, design, nodes, [fixed, ...plans(0xa11c, 2)]);
    });
  // The zone with the most free pages gets a min watermark 256 pages into one of two
  // neighbouring 512-page steps of its free count: the grow takes 512 pages per folio from it,
  // so in one of the two a pair's first call passes the watermark and its second does not.
  for (const steps of [200, 201])
    it(`x86_64, legacy, 1 node, a zone's min watermark ${steps} folios down`, () => {
      compareSideBySide(allocPairs, "legacy", 1, [[400, 0]], (m) => {
        const zone = m.k.buddy.zones.reduce((a, b) => (b.nrFree > a.nrFree ? b : a));
        zone.watermarkMin = zone.nrFree - steps * 512 - 256;
      });
    });
  it("x86_64, legacy, 1 node, the pool's allocations failing now and then", () => {
    compareSideBySide(allocPairs, "legacy", 1, [fixed], (m) => {
      m.k.faults.add({ site: "alloc_buddy_hugetlb_folio", nth: 50 });
      m.k.faults.add({ site: "alloc_buddy_hugetlb_folio", nth: 333 });
    });
  });
});
