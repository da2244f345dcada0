// AllocationMap.forEachBlock() (src/mm/page_alloc.ts) walks the blocks without entries()'
// generator for offline_pages()' scan (src/mm/memory_hotplug.ts), whose HWPoison list and
// vmemmap reads follow the walk's order. Random records, re-records, use changes and order-0
// runs with pages taken out of them: forEachBlock() must give entries()' blocks in entries()'
// order, and stop where told.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Allocation, AllocationMap } from "../../src/mm/page_alloc.ts";
import { type MapOp, mapOpArb } from "./allocation_ops.ts";

const opArb = mapOpArb({ set: 5, delete: 3, setUse: 2, run: 2 });

function build(ops: readonly MapOp[]): AllocationMap {
  const a = new AllocationMap();
  const runStarts = new Set<number>();
  for (const o of ops) {
    if (o.op === "set") a.set(o.pfn, { order: o.order, use: o.use, nid: 0 });
    else if (o.op === "delete") a.delete(o.pfn);
    else if (o.op === "setUse") {
      if (a.has(o.pfn)) a.setUse(o.pfn, o.use);
    } else if (!runStarts.has(o.start)) {
      runStarts.add(o.start);
      a.setOrder0Run(o.start, o.n, o.use, 0);
      // A page of the run given a record of its own (it moves to the Map) or freed.
      if (o.cut < o.n) {
        if (o.cut % 2 === 0) a.setUse(o.start + o.cut, "kernel");
        else a.deleteOrder0Run(o.start + o.cut, 1);
      }
    }
  }
  return a;
}

function walk(
  a: AllocationMap,
  stopAfter: number,
): { seen: [number, Allocation][]; done: boolean } {
  const seen: [number, Allocation][] = [];
  const done = a.forEachBlock((pfn, rec) => {
    seen.push([pfn, rec]);
    return seen.length < stopAfter;
  });
  return { seen, done };
}

describe("AllocationMap.forEachBlock(): entries()' blocks, in its order", () => {
  it("random maps with runs: the whole walk, and a walk stopped at each point", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 5, maxLength: 80 }), fc.nat(200), (ops, k) => {
        const a = build(ops);
        const all = [...a.entries()];
        expect(walk(a, Number.POSITIVE_INFINITY)).toEqual({ seen: all, done: true });
        const stop = all.length === 0 ? 1 : 1 + (k % all.length);
        expect(walk(a, stop)).toEqual({ seen: all.slice(0, stop), done: stop > all.length });
      }),
      { seed: 1177, numRuns: 400 },
    );
  });

  it("a key given a record again keeps its place; run pages come after the Map's blocks", () => {
    const a = new AllocationMap();
    a.set(8, { order: 3, use: "hugetlb", nid: 0 });
    a.setOrder0Run(100, 3, "vmemmap", 0);
    a.set(0, { order: 0, use: "kernel", nid: 0 });
    a.set(8, { order: 0, use: "hwpoison", nid: 0 });
    a.setUse(101, "pagetable");
    const order: number[] = [];
    a.forEachBlock((pfn) => order.push(pfn) > 0);
    // 8 first (its key came first), then 0, then 101 (taken out of its run into the Map), then
    // the run's pages 100 and 102.
    expect(order).toEqual([8, 0, 101, 100, 102]);
  });
});
