// The allocator's record of handed-out blocks (src/mm/page_alloc.ts AllocationMap) answers a
// lookup from the stretch its last search found (a run of order-0 pages, or a gap between
// runs) and counts its runs per use, so that withUse() of a use no run has is its Set. Both
// are right only while every change to the runs forgets the stretch and keeps the counts. Here
// random changes (single blocks, bulk order-0 runs, frees of either, use changes, re-records)
// and lookups at random moments, mostly next to the one before (the checker's pattern: a
// frame, then its neighbours), drive it beside a plain form: a Map of every block start in
// the AllocationMap's order (its single blocks as added, then run pages by pfn), a Set per use
// kept at every change. After every step every lookup (get, has, getHead, containing,
// allContaining), the size, each use's blocks in order and pages, entries() and the blocks
// forEachBlockIn() visits in a range (offline_pages()' scan) must agree.
// Fixed seeds: a failure prints the seed and the shortest failing sequence.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Allocation,
  AllocationMap,
  FRAME_USES,
  type FrameUse,
} from "../../src/mm/page_alloc.ts";
import { PlainAllocationMap as Plain } from "./allocation_reference.ts";

const PFNS = 160;

type Op =
  | { op: "alloc"; pfn: number; order: number; use: FrameUse; again: boolean }
  /** whole: the free stretch around pfn, all of it (a gap between runs filled exactly). */
  | {
      op: "bulk";
      pfn: number;
      n: number;
      use: FrameUse;
      nid: number;
      fromFree: boolean;
      whole: boolean;
    }
  | { op: "free"; pfn: number; read: boolean }
  | { op: "bulkFree"; pfn: number; n: number }
  | { op: "setUse"; pfn: number; use: FrameUse }
  /** Lookups of pfn, pfn + step, ... (n of them): the checker's walk over neighbours. */
  | { op: "look"; pfn: number; n: number; step: number }
  | { op: "ask"; use: FrameUse };

const pfnArb = fc.nat(PFNS - 1);
const useArb = fc.constantFrom(...FRAME_USES);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("alloc" as const),
      pfn: pfnArb,
      order: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 3 })),
      use: useArb,
      again: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("bulk" as const),
      pfn: pfnArb,
      n: fc.integer({ min: 1, max: 24 }),
      use: fc.constantFrom<FrameUse>("vmemmap", "kernel", "pagetable"),
      // Two nodes: neighbouring runs of one use but other nodes stay apart.
      nid: fc.nat(1),
      fromFree: fc.boolean(),
      whole: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("free" as const), pfn: pfnArb, read: fc.boolean() }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("bulkFree" as const),
      pfn: pfnArb,
      n: fc.integer({ min: 1, max: 24 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("setUse" as const), pfn: pfnArb, use: useArb }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("look" as const),
      pfn: pfnArb,
      n: fc.integer({ min: 1, max: 12 }),
      step: fc.constantFrom(1, 1, 3, -1, 8),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("ask" as const), use: useArb }) },
);

function plainRec(a: Allocation | undefined): Allocation | undefined {
  return a === undefined ? undefined : { order: a.order, use: a.use, nid: a.nid };
}

/** One pfn's lookups in both forms. */
function lookup(m: AllocationMap, ref: Plain, p: number, step: string): void {
  const want = plainRec(ref.get(p));
  expect(plainRec(m.get(p)), `get(${p}) ${step}`).toEqual(want);
  expect(m.has(p), `has(${p}) ${step}`).toBe(want !== undefined);
  expect(plainRec(m.getHead(p)), `getHead(${p}) ${step}`).toEqual(want);
  const o = p < PFNS ? ref.owner[p] : -1;
  expect(m.containing(p)?.start ?? -1, `containing(${p}) ${step}`).toBe(o);
  expect(
    m.allContaining(p).map((b) => b.start),
    `allContaining(${p}) ${step}`,
  ).toEqual(p < PFNS ? ref.holding(p, 3) : []);
}

/** Everything a reader can ask, in both forms. */
function compare(m: AllocationMap, ref: Plain, step: string): void {
  // Downwards: the opposite way to the "look"s' usual walk, every window left behind.
  for (let p = PFNS; p >= 0; p--) lookup(m, ref, p, step);
  expect(m.size, `size ${step}`).toBe(ref.size);
  for (const u of FRAME_USES) {
    expect([...m.withUse(u)], `withUse(${u}) ${step}`).toEqual(ref.withUse(u));
    expect(m.pagesWithUse(u), `pagesWithUse(${u}) ${step}`).toBe(ref.pagesWithUse(u));
  }
  expect(
    [...m.entries()].map(([p, a]) => [p, plainRec(a)]),
    `entries ${step}`,
  ).toEqual(ref.entries());
  // forEachBlockIn(): entries()' blocks with a page in the range, in that order, until f stops.
  for (let s = 0; s < PFNS; s += 13)
    for (const w of [1, 8, 40])
      for (const stop of [1, 3, Number.POSITIVE_INFINITY]) {
        const seen: number[] = [];
        const done = m.forEachBlockIn(s, s + w, (p) => seen.push(p) < stop);
        const want = ref
          .entries()
          .filter(([p, a]) => p < s + w && p + 2 ** a.order > s)
          .map(([p]) => p);
        const what = `forEachBlockIn(${s}, ${s + w}) stopping after ${stop} ${step}`;
        expect(seen, what).toEqual(want.slice(0, stop));
        expect(done, what).toBe(want.length < stop);
      }
}

function run(ops: readonly Op[], every: boolean): void {
  const m = new AllocationMap();
  const ref = new Plain(PFNS);
  ops.forEach((o, i) => {
    const step = `after step ${i} ${JSON.stringify(o)}`;
    if (o.op === "alloc") {
      const start = o.pfn - (o.pfn % 2 ** o.order);
      const a = m.record(o.order, o.use, 0);
      if (ref.free(start, 2 ** o.order)) {
        // A block just taken off a free list (setTaken()) or set() as a caller does.
        if (o.again) m.setTaken(start, a);
        else m.set(start, a);
        ref.set(start, a);
      } else if (o.again && ref.get(start)?.order === o.order) {
        // The same block given a record again (a single page of a run leaves it first).
        m.set(start, a);
        ref.set(start, a);
      } else return;
    } else if (o.op === "bulk") {
      let start = o.pfn;
      if (o.whole) while (start > 0 && ref.owner[start - 1] < 0) start--;
      let len = 0;
      const most = o.whole ? PFNS : o.n;
      while (len < most && start + len < PFNS && ref.owner[start + len] < 0) len++;
      if (len === 0) return;
      m.setOrder0Run(start, len, o.use, o.nid, o.fromFree);
      ref.addBulk(start, len, o.use, o.nid);
    } else if (o.op === "free") {
      if (ref.owner[o.pfn] !== o.pfn) return;
      // deleteRecord() after the caller's own get(), as freePages() does; or delete().
      const a = m.get(o.pfn) as Allocation;
      if (o.read) m.deleteRecord(o.pfn, a);
      else m.delete(o.pfn);
      ref.delete(o.pfn);
    } else if (o.op === "bulkFree") {
      let len = 0;
      while (
        len < o.n &&
        o.pfn + len < PFNS &&
        ref.owner[o.pfn + len] === o.pfn + len &&
        ref.get(o.pfn + len)?.order === 0
      )
        len++;
      if (len === 0) return;
      m.deleteOrder0Run(o.pfn, len);
      ref.deleteBulk(o.pfn, len);
    } else if (o.op === "setUse") {
      if (ref.owner[o.pfn] !== o.pfn) return;
      m.setUse(o.pfn, o.use);
      ref.setUse(o.pfn, o.use);
    } else if (o.op === "look") {
      for (let j = 0, p = o.pfn; j < o.n && p >= 0 && p <= PFNS; j++, p += o.step)
        lookup(m, ref, p, step);
      return;
    } else {
      expect([...m.withUse(o.use)], `withUse(${o.use}) ${step}`).toEqual(ref.withUse(o.use));
      return;
    }
    if (every) compare(m, ref, step);
  });
  compare(m, ref, "at the end");
}

describe("AllocationMap: the window of its last search and its runs per use", () => {
  it("random changes with lookups between them (full comparison at the end)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => run(ops, false)),
      { seed: 0x5017a, numRuns: 300 },
    );
  });

  it("random changes, everything compared after each", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => run(ops, true)),
      { seed: 0x5017b, numRuns: 100 },
    );
  });

  it("a run found, then cut, grown and joined under the lookup's feet", () => {
    const m = new AllocationMap();
    m.setOrder0Run(10, 6, "vmemmap", 0, true); // 10..15
    m.setOrder0Run(30, 4, "vmemmap", 0, true); // 30..33
    // Found: 12 in the first run, 20 in the gap between the runs.
    expect(m.get(12)?.use).toBe("vmemmap");
    expect(m.get(20)).toBeUndefined();
    // The gap filled from below (16..19 join the first run) and 12 given a record alone.
    m.setOrder0Run(16, 4, "vmemmap", 0, true);
    expect(m.get(17)?.use).toBe("vmemmap");
    m.set(12, m.record(0, "kernel", 0));
    expect(m.get(12)?.use).toBe("kernel");
    expect(m.get(13)?.use).toBe("vmemmap");
    // The rest of the gap filled: one run 13..33, then 14 freed out of its middle.
    m.setOrder0Run(20, 10, "vmemmap", 0, true);
    expect(m.get(25)?.use).toBe("vmemmap");
    m.deleteOrder0Run(14, 1);
    expect(m.get(14)).toBeUndefined();
    expect(m.get(15)?.use).toBe("vmemmap");
    // 10, 11, 13 and 15..33: 23 pages of runs, and 12 alone.
    expect([...m.withUse("vmemmap")]).toEqual([
      10,
      11,
      13,
      ...Array.from({ length: 19 }, (_, j) => 15 + j),
    ]);
    expect([...m.withUse("kernel")]).toEqual([12]);
    // Runs freed until one is left (13 alone), then none: the use has no run and no page.
    m.deleteOrder0Run(15, 19);
    m.deleteOrder0Run(10, 2);
    expect([...m.withUse("vmemmap")]).toEqual([13]);
    m.deleteOrder0Run(13, 1);
    expect([...m.withUse("vmemmap")]).toEqual([]);
    expect(m.get(30)).toBeUndefined();
    expect(m.size).toBe(1);
  });
});
