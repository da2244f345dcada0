// freeBlockAt() (mm/page_alloc.ts: the free block that holds a pfn, what the checker's frame
// tiling and alloc_contig_range()'s scans ask at every block) against the free lists
// themselves: after random sequences of allocations and frees, for every pfn of a small node,
// the block that holds it is the one the free lists and lazy ranges list, or none. Seeded
// fast-check: a failure prints the seed and the shortest failing sequence.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { NodeSpec } from "../../src/machine/spec.ts";
import { Faults } from "../../src/mm/fault_inject.ts";
import { GFP_KERNEL, PageAllocator } from "../../src/mm/page_alloc.ts";

// A 2-zone node of 64 MiB with a hole, small enough to look at every pfn.
const END = 16384;
const NODES: NodeSpec[] = [
  {
    nid: 0,
    ranges: [
      { startPfn: 1, endPfn: 4000 },
      { startPfn: 4200, endPfn: END },
    ],
    zones: [
      { type: "DMA32", startPfn: 1, endPfn: 8192 },
      { type: "Normal", startPfn: 8192, endPfn: END },
    ],
  },
];
const MAX_ORDER = 10;

/** pfn -> [start, order] of the free block holding it, from the free lists (-1: none). */
function fromLists(b: PageAllocator): { start: Int32Array; order: Int8Array } {
  const start = new Int32Array(END).fill(-1);
  const order = new Int8Array(END).fill(-1);
  for (const f of b.freeBlocks()) {
    // A lazy range spans several MAX_PAGE_ORDER blocks: each pfn is in the one aligned below it.
    const o = Math.min(Math.log2(f.nrPages), MAX_ORDER);
    for (let p = f.start; p < f.start + f.nrPages; p++) {
      start[p] = p - (p % 2 ** o);
      order[p] = o;
    }
  }
  return { start, order };
}

type Op = { alloc: true; order: number } | { alloc: false; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    alloc: fc.constant(true as const),
    order: fc.integer({ min: 0, max: MAX_ORDER }),
  }),
  fc.record({ alloc: fc.constant(false as const), pick: fc.nat() }),
);

describe("freeBlockAt() against the free lists (mm/page_alloc.c)", () => {
  it("finds, for every pfn, the free block the lists hold it in (property, seeded)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        // Boot hands whole MAX_PAGE_ORDER blocks over as lazy ranges, the rest as blocks.
        const b = new PageAllocator(NODES, MAX_ORDER, new Faults());
        for (const r of NODES[0].ranges) b.freeBootRange(r.startPfn, r.endPfn);
        const held: Array<[number, number]> = [];
        for (const op of ops) {
          if (op.alloc) {
            const pfn = b.allocPagesNode(0, GFP_KERNEL, op.order, "t", "kernel");
            if (pfn !== null && pfn >= 0) held.push([pfn, op.order]);
          } else if (held.length) {
            const [[pfn, order]] = held.splice(op.pick % held.length, 1);
            b.freePages(pfn, order);
          }
        }
        const want = fromLists(b);
        // The first pfn where they differ, both answers as text (none: "-").
        let bad = "";
        for (let p = 0; p < END && bad === ""; p++) {
          const got = b.freeBlockAt(p);
          const g = got ? `${got.start}/${got.order}` : "-";
          const w = want.start[p] < 0 ? "-" : `${want.start[p]}/${want.order[p]}`;
          if (g !== w) bad = `pfn ${p}: freeBlockAt ${g}, the lists ${w}`;
        }
        expect(bad).toBe("");
      }),
      { seed: 0x0f8e, numRuns: 30 },
    );
  });
});
