// The allocator's record of handed-out blocks (src/mm/page_alloc.ts AllocationMap) holds pages
// handed out together as order-0 runs beside its Map, and get() searches the runs before the
// Map: right only while no pfn is in both (a pfn a single call changes leaves its run first).
// Here random single and bulk order-0 allocations and frees, higher orders and use changes
// drive it beside a plain Map of block start -> record, and after every step every pfn's
// lookup (get, has, containing) and the size must agree. Fixed seeds: a failure prints the
// seed and the shortest failing sequence.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Allocation,
  AllocationMap,
  FRAME_USES,
  type FrameUse,
} from "../../src/mm/page_alloc.ts";
import { PlainAllocationMap } from "./allocation_reference.ts";

const PFNS = 48;

type Op =
  | { op: "alloc"; pfn: number; order: number; use: FrameUse }
  | { op: "bulk"; pfn: number; n: number; use: FrameUse; nid: number; fromFree: boolean }
  | { op: "free"; pfn: number }
  | { op: "bulkFree"; pfn: number; n: number }
  | { op: "setUse"; pfn: number; use: FrameUse };

const pfnArb = fc.nat(PFNS - 1);
const useArb = fc.constantFrom(...FRAME_USES);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("alloc" as const),
      pfn: pfnArb,
      order: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 3 })),
      use: useArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("bulk" as const),
      pfn: pfnArb,
      n: fc.integer({ min: 1, max: 12 }),
      use: fc.constantFrom<FrameUse>("vmemmap", "kernel"),
      nid: fc.nat(1),
      fromFree: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant("free" as const), pfn: pfnArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("bulkFree" as const),
      pfn: pfnArb,
      n: fc.integer({ min: 1, max: 12 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("setUse" as const), pfn: pfnArb, use: useArb }),
  },
);

function plain(a: Allocation | undefined): Allocation | undefined {
  return a === undefined ? undefined : { order: a.order, use: a.use, nid: a.nid };
}

/** Every pfn (and one past the range) looked up in both forms. */
function compare(m: AllocationMap, ref: PlainAllocationMap, step: string): void {
  for (let p = 0; p <= PFNS; p++) {
    expect(plain(m.get(p)), `get(${p}) after ${step}`).toEqual(plain(ref.get(p)));
    expect(m.has(p), `has(${p}) after ${step}`).toBe(ref.get(p) !== undefined);
    const c = m.containing(p);
    const o = p < PFNS ? ref.owner[p] : -1;
    expect(c === null ? -1 : c.start, `containing(${p}) after ${step}`).toBe(o);
  }
  expect(m.size, `size after ${step}`).toBe(ref.size);
}

function run(ops: readonly Op[]): void {
  const m = new AllocationMap();
  const ref = new PlainAllocationMap(PFNS);
  ops.forEach((o, i) => {
    const step = `step ${i} ${JSON.stringify(o)}`;
    if (o.op === "alloc") {
      const start = o.pfn - (o.pfn % 2 ** o.order);
      if (!ref.free(start, 2 ** o.order)) return;
      const a = m.record(o.order, o.use, 0);
      m.set(start, a);
      ref.set(start, { order: o.order, use: o.use, nid: 0 });
    } else if (o.op === "bulk") {
      const len = ref.stretch(o.pfn, o.n, (p) => ref.owner[p] < 0);
      if (len === 0) return;
      m.setOrder0Run(o.pfn, len, o.use, o.nid, o.fromFree);
      ref.addBulk(o.pfn, len, o.use, o.nid);
    } else if (o.op === "free") {
      if (ref.owner[o.pfn] !== o.pfn) return;
      m.delete(o.pfn);
      ref.delete(o.pfn);
    } else if (o.op === "bulkFree") {
      const len = ref.stretch(o.pfn, o.n, (p) => ref.isOrder0(p));
      if (len === 0) return;
      m.deleteOrder0Run(o.pfn, len);
      ref.deleteBulk(o.pfn, len);
    } else {
      if (ref.owner[o.pfn] !== o.pfn) return;
      m.setUse(o.pfn, o.use);
      ref.setUse(o.pfn, o.use);
    }
    compare(m, ref, step);
  });
}

describe("AllocationMap: lookups with order-0 runs read as a plain Map", () => {
  it("random single, bulk and higher-order allocations and frees", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 80 }), (ops) => run(ops)),
      { seed: 0x0b2, numRuns: 400 },
    );
  });

  it("a pfn of a run freed and taken again singly, then the run freed across it", () => {
    // Pages 8..15 handed out together; 11 freed alone, then given again as a page of its own
    // with another use; the run's pages either side keep their record; a bulk free of 8..15
    // takes run pages and the single one alike; 16 (one past the run) was never handed out.
    const ops: Op[] = [
      { op: "bulk", pfn: 8, n: 8, use: "vmemmap", nid: 1, fromFree: true },
      { op: "free", pfn: 11 },
      { op: "alloc", pfn: 11, order: 0, use: "kernel" },
      { op: "free", pfn: 15 },
      { op: "bulk", pfn: 15, n: 1, use: "vmemmap", nid: 1, fromFree: false },
      { op: "bulkFree", pfn: 8, n: 8 },
      { op: "alloc", pfn: 8, order: 3, use: "hugetlb" },
    ];
    run(ops);
    const m = new AllocationMap();
    m.setOrder0Run(8, 8, "vmemmap", 1, true);
    m.delete(11);
    m.set(11, m.record(0, "kernel", 0));
    expect(m.get(11)?.use).toBe("kernel");
    expect(m.get(10)?.use).toBe("vmemmap");
    expect(m.get(12)?.use).toBe("vmemmap");
    expect(m.get(15)?.use).toBe("vmemmap");
    expect(m.get(16)).toBeUndefined();
    expect(m.size).toBe(8);
  });
});
