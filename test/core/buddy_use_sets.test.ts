// The allocator's record of blocks by use (src/mm/page_alloc.ts AllocationMap.withUse()) keeps
// no Set for a use until someone asks for it or a block is given a record again; until then
// the Map's own order stands for it. Here it is run against the plain form
// (allocation_reference.ts): a Set per use, an entry added with every record and deleted with it. Random sets (new and again),
// deletes, use changes, order-0 runs and their frees, and questions at random moments: every
// use's blocks must come out the same and in the same order (the checker reports in that
// order), whenever asked.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AllocationMap, FRAME_USES, type FrameUse } from "../../src/mm/page_alloc.ts";
import { type MapOp, mapOpArb, PFNS, useArb } from "./allocation_ops.ts";
import { PlainAllocationMap } from "./allocation_reference.ts";

type Op = MapOp | { op: "ask"; use: FrameUse };
// A question about a use now and then, between the changes.
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: mapOpArb({ set: 5, delete: 4, setUse: 2, run: 1 }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("ask" as const), use: useArb }) },
);

function agree(ops: readonly Op[]): void {
  const a = new AllocationMap();
  // Runs start below PFNS + PFNS * 8 and hold at most 6 pages.
  const b = new PlainAllocationMap(PFNS * 9 + 8);
  const runStarts = new Set<number>();
  for (const o of ops) {
    if (o.op === "set") {
      const rec = { order: o.order, use: o.use, nid: 0 };
      a.set(o.pfn, rec);
      b.set(o.pfn, rec);
    } else if (o.op === "delete") {
      a.delete(o.pfn);
      b.delete(o.pfn);
    } else if (o.op === "setUse") {
      if (b.get(o.pfn) === undefined) continue;
      a.setUse(o.pfn, o.use);
      b.setUse(o.pfn, o.use);
    } else if (o.op === "run") {
      // Runs far from the singles and from each other (the allocator's bulk pages), and one
      // of their pages later taken alone or freed: a pfn that leaves its run for the Map.
      if (runStarts.has(o.start)) continue;
      runStarts.add(o.start);
      a.setOrder0Run(o.start, o.n, o.use, 0);
      b.addBulk(o.start, o.n, o.use, 0);
      const p = o.start + (o.n >> 1);
      a.setUse(p, o.use === "kernel" ? "vmemmap" : "kernel");
      b.setUse(p, o.use === "kernel" ? "vmemmap" : "kernel");
    } else
      expect([...a.withUse(o.use)], `withUse(${o.use}) asked midway`).toEqual(b.withUse(o.use));
  }
  for (const u of FRAME_USES) expect([...a.withUse(u)], `withUse(${u})`).toEqual(b.withUse(u));
  expect(a.size).toBe(b.size);
}

describe("AllocationMap: a use's Set made when asked reads as the Set kept all along", () => {
  it("random records, re-records, use changes and runs: the same blocks in the same order", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 10, maxLength: 120 }), (ops) => agree(ops)),
      { seed: 4242, numRuns: 300 },
    );
  });

  it("a record given again moves its pfn last in its use, asked before or after", () => {
    for (const askFirst of [false, true]) {
      const a = new AllocationMap();
      const rec = { order: 0, use: "hugetlb" as const, nid: 0 };
      for (const p of [10, 20, 30]) a.set(p, rec);
      if (askFirst) expect([...a.withUse("hugetlb")]).toEqual([10, 20, 30]);
      a.set(10, { order: 1, use: "hugetlb", nid: 0 });
      // A Set of insertions: 10 deleted and added again goes after 30.
      expect([...a.withUse("hugetlb")]).toEqual([20, 30, 10]);
    }
  });
});
