// The bulk buddy operations of src/mm/page_alloc.ts against the singles they stand for:
// allocPagesBulk(n) must leave the allocator exactly as n order-0 alloc_pages_node() calls in a
// row do, and freePagesBulk(pfns) exactly as __free_pages(pfn, 0) of each pfn in turn (the
// order alloc_vmemmap_page_list() and free_vmemmap_page_list() call them in). Random allocator
// states come from random allocations, frees, isolation and injected faults (fast-check, fixed
// seed: a failure prints the seed and the shortest failing sequence).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Faults } from "../../src/mm/fault_inject.ts";
import {
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  type FrameUse,
  PageAllocator,
} from "../../src/mm/page_alloc.ts";
import type { NodeSpec } from "../../src/machine/spec.ts";

// Two nodes of 12 MiB and 4 MiB with a hole; MAX_PAGE_ORDER 5 (32-page blocks) so that a few
// hundred pages cross many blocks, claims, the min watermark and the other node.
const NODES: NodeSpec[] = [
  {
    nid: 0,
    ranges: [
      { startPfn: 1, endPfn: 1500 },
      { startPfn: 1530, endPfn: 3072 },
    ],
    zones: [
      { type: "DMA32", startPfn: 1, endPfn: 1024 },
      { type: "Normal", startPfn: 1024, endPfn: 3072 },
    ],
  },
  {
    nid: 1,
    ranges: [{ startPfn: 3072, endPfn: 4096 }],
    zones: [{ type: "Normal", startPfn: 3072, endPfn: 4096 }],
  },
];
const NR_PFNS = 4096;
const MAX_ORDER = 5;
const SITE = "alloc_vmemmap_page_list";
const USES: FrameUse[] = ["vmemmap", "pagetable", "shared_tail", "hugetlb", "kernel", "hwpoison"];

interface Side {
  b: PageAllocator;
  faults: Faults;
  /** The last buddy mark per pfn (what onFreeHead leaves in the struct page). */
  marks: Map<number, number>;
  /** Pfns some listener call covered. */
  touched: Uint8Array;
}

function side(): Side {
  const faults = new Faults();
  const b = new PageAllocator(NODES, MAX_ORDER, faults);
  for (const n of NODES) for (const r of n.ranges) b.freeBootRange(r.startPfn, r.endPfn);
  b.setupWatermarks(4096);
  const s: Side = { b, faults, marks: new Map(), touched: new Uint8Array(NR_PFNS) };
  b.onFreeHead = (pfn, order) => s.marks.set(pfn, order);
  b.addRangeListener((start, nr) => s.touched.fill(1, start, start + nr));
  return s;
}

/** Everything a later operation or a reader could tell apart. */
function state(s: Side): unknown {
  const { b } = s;
  const blocks = b.allocations.blocksOfOrder.map((x) => x ?? 0);
  while (blocks.length && blocks[blocks.length - 1] === 0) blocks.pop();
  return {
    zones: b.zones.map((z) => ({
      free: z.freeArea.map((l) => [...l]),
      unmovable: z.unmovableArea.map((l) => [...l]),
      claimed: [...z.unmovableBlocks].sort((x, y) => x - y),
      lazy: z.lazy.map((r) => [...r]),
      nrFree: z.nrFree,
      allocated: b.allocatedPages(z),
    })),
    allocations: [...b.allocations]
      .sort((x, y) => x[0] - y[0])
      .map(([p, a]) => `${p}:${a.order}:${a.use}:${a.nid}`),
    uses: USES.map((u) => [
      u,
      [...b.allocations.withUse(u)].sort((x, y) => x - y),
      b.allocations.pagesWithUse(u),
    ]),
    blocks,
    failures: [...b.failures].sort(),
    injected: [...s.faults.injected].sort(),
    marks: [...s.marks].sort((x, y) => x[0] - y[0]),
    touched: Buffer.from(s.touched).toString("base64"),
  };
}

type Op =
  | { kind: "alloc"; nid: number; order: number; movable: boolean; use: number }
  | { kind: "free"; pick: number }
  | { kind: "bulkAlloc"; nid: number; n: number; movable: boolean; use: number }
  | { kind: "bulkFree"; pick: number; len: number; how: "asc" | "desc" | "shuffle"; bad: boolean }
  | { kind: "fault"; nth: number }
  | { kind: "isolate"; start: number; nr: number }
  | { kind: "unisolate" }
  | { kind: "scribble"; pick: number; len: number }
  | { kind: "contig"; nid: number; order: number }
  | { kind: "freeContig"; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("alloc" as const),
      nid: fc.integer({ min: 0, max: 1 }),
      order: fc.integer({ min: 0, max: MAX_ORDER }),
      movable: fc.boolean(),
      use: fc.integer({ min: 0, max: 4 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("bulkAlloc" as const),
      nid: fc.integer({ min: 0, max: 1 }),
      n: fc.integer({ min: 0, max: 1500 }),
      movable: fc.boolean(),
      use: fc.integer({ min: 0, max: 4 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("bulkFree" as const),
      pick: fc.nat(),
      len: fc.integer({ min: 0, max: 1200 }),
      how: fc.constantFrom("asc" as const, "desc" as const, "shuffle" as const),
      bad: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("fault" as const),
      nth: fc.integer({ min: 1, max: 400 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("isolate" as const),
      start: fc.integer({ min: 0, max: NR_PFNS - 1 }),
      nr: fc.integer({ min: 1, max: 1024 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "unisolate" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("contig" as const),
      nid: fc.integer({ min: 0, max: 1 }),
      order: fc.integer({ min: 3, max: 8 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("freeContig" as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("scribble" as const),
      pick: fc.nat(),
      len: fc.integer({ min: 1, max: 300 }),
    }),
  },
);

/** The order-0 pfns a bulkFree op frees: a stretch of the sorted order-0 allocations. */
function freeList(b: PageAllocator, op: Extract<Op, { kind: "bulkFree" }>): number[] {
  const singles = [...b.allocations]
    .filter(([, a]) => a.order === 0)
    .map(([p]) => p)
    .sort((x, y) => x - y);
  if (singles.length === 0) return op.bad ? [op.pick % NR_PFNS] : [];
  const from = op.pick % singles.length;
  const list = singles.slice(from, from + op.len);
  if (op.how === "desc") list.reverse();
  if (op.how === "shuffle") {
    // A fixed permutation from the op's numbers (deterministic, no Math.random).
    let x = op.pick + 1;
    for (let i = list.length - 1; i > 0; i--) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const j = x % (i + 1);
      [list[i], list[j]] = [list[j], list[i]];
    }
  }
  // A double free in the middle: the Oops must come at the same pfn, the pfns before it freed.
  if (op.bad && list.length > 0) list.splice(list.length >> 1, 0, list[0]);
  return list;
}

/** Runs op on the bulk side (bulk) or the singles side; returns what the caller would see. */
function apply(s: Side, op: Op, bulk: boolean): unknown {
  const { b } = s;
  try {
    switch (op.kind) {
      case "alloc":
        return b.allocPagesNode(
          op.nid,
          op.movable ? GFP_HIGHUSER_MOVABLE : GFP_KERNEL,
          op.order,
          "other",
          USES[op.use],
        );
      case "free": {
        const all = [...b.allocations].sort((x, y) => x[0] - y[0]);
        if (all.length === 0) return null;
        const [pfn, a] = all[op.pick % all.length];
        b.freePages(pfn, a.order);
        return pfn;
      }
      case "bulkAlloc": {
        const gfp = op.movable ? GFP_HIGHUSER_MOVABLE : GFP_KERNEL;
        if (bulk) return b.allocPagesBulk(op.nid, gfp, op.n, SITE, USES[op.use]);
        const out: number[] = [];
        for (let i = 0; i < op.n; i++) {
          const p = b.allocPagesNode(op.nid, gfp, 0, SITE, USES[op.use]);
          if (p === null) break;
          out.push(p);
        }
        return out;
      }
      case "bulkFree": {
        const list = freeList(b, op);
        if (bulk) b.freePagesBulk(list);
        else for (const p of list) b.freePages(p, 0);
        return list.length;
      }
      case "fault":
        s.faults.add({ site: SITE, nth: op.nth });
        return null;
      case "isolate":
        b.isolated = { startPfn: op.start, endPfn: Math.min(NR_PFNS, op.start + op.nr) };
        return null;
      case "unisolate":
        b.isolated = null;
        return null;
      case "contig": {
        // alloc_contig_pages() must find what a scan of every aligned candidate from each
        // zone's start finds (the allocator skips candidates it knows are not free).
        const nr = 2 ** op.order;
        let expected: number | null = null;
        for (const z of b.zonelist(op.nid, GFP_HIGHUSER_MOVABLE)) {
          if (z.nrFree - nr < z.watermarkMin) continue;
          for (let p = Math.ceil(z.startPfn / nr) * nr; p + nr <= z.endPfn; p += nr) {
            const iso = b.isolated;
            if (iso !== null && p < iso.endPfn && p + nr > iso.startPfn) continue;
            if (b.rangeFree(p, nr)) {
              expected = p;
              break;
            }
          }
          if (expected !== null) break;
        }
        const got = b.allocContigPages(nr, GFP_HIGHUSER_MOVABLE, op.nid, "contig", "hugetlb");
        expect(got).toBe(expected);
        return got;
      }
      case "freeContig": {
        const big = [...b.allocations]
          .filter(([, a]) => a.order > MAX_ORDER)
          .sort((x, y) => x[0] - y[0]);
        if (big.length === 0) return null;
        const [pfn, a] = big[op.pick % big.length];
        b.freeContigRange(pfn, 2 ** a.order);
        return pfn;
      }
      case "scribble": {
        // Something wrote the buddy fields of allocated pages (page->private of a user): a
        // later mark the singles write, or do not, shows.
        const all = [...b.allocations.keys()].sort((x, y) => x - y);
        for (const p of all.slice(op.pick % Math.max(1, all.length)).slice(0, op.len))
          s.marks.set(p, 99);
        return null;
      }
    }
  } catch (e) {
    // A failed expectation is the test's own; anything else is what the model threw.
    if ((e as Error).name === "AssertionError") throw e;
    return `threw: ${(e as Error).message}`;
  }
}

describe("bulk buddy operations equal the singles (mm/page_alloc.c)", () => {
  it("allocPagesBulk and freePagesBulk leave every list, counter, mark and record as the singles", () => {
    // The comparison is only worth something if the runs crossed blocks, failed and oopsed.
    const seen = {
      multiBlock: 0,
      failed: 0,
      oops: 0,
      partial: 0,
      crossNode: 0,
      freedRun: 0,
      contig: 0,
    };
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
        const a = side();
        const b = side();
        for (const op of ops) {
          const ra = apply(a, op, true);
          const rb = apply(b, op, false);
          expect(ra).toEqual(rb);
          expect(state(a)).toEqual(state(b));
          if (op.kind === "bulkAlloc" && Array.isArray(ra)) {
            if (ra.length < op.n) seen.failed++;
            if (ra.length > 2 ** MAX_ORDER) seen.multiBlock++;
            if (ra.length % 2 ** MAX_ORDER !== 0) seen.partial++;
            if (ra.some((p) => p < 3072) && ra.some((p) => p >= 3072)) seen.crossNode++;
          }
          if (op.kind === "bulkFree" && typeof ra === "number" && ra > 2 ** MAX_ORDER) {
            seen.freedRun++;
          }
          if (typeof ra === "string") seen.oops++;
          if (op.kind === "contig" && typeof ra === "number") seen.contig++;
        }
      }),
      { seed: 0x5eed11, numRuns: 150 },
    );
    expect(seen.multiBlock).toBeGreaterThan(10);
    expect(seen.failed).toBeGreaterThan(5);
    expect(seen.oops).toBeGreaterThan(5);
    expect(seen.partial).toBeGreaterThan(10);
    expect(seen.crossNode).toBeGreaterThan(5);
    expect(seen.freedRun).toBeGreaterThan(10);
    expect(seen.contig).toBeGreaterThan(20);
  });

  it("hands out whole blocks in ascending pfn order: 3 x 32 pages from a fresh zone", () => {
    // Boot frees to the list tails in ascending order, so the first claim takes the lowest
    // free MAX_PAGE_ORDER block of the preferred node's highest zone (Normal from 1024); the
    // singles hand it out 1024, 1025, ... and then the next block.
    const s = side();
    const got = s.b.allocPagesBulk(0, GFP_KERNEL, 3 * 32 + 5, SITE, "vmemmap");
    expect(got).toEqual(Array.from({ length: 3 * 32 + 5 }, (_, i) => 1024 + i));
    // The rest of the fourth block (27 = 32 - 5 pages): pieces of 1 + 2 + 8 + 16 pages.
    const z = s.b.zones[1];
    const at = 1024 + 96;
    expect([0, 1, 3, 4].map((o) => z.freeArea[o].head)).toEqual([at + 5, at + 6, at + 8, at + 16]);
    // Freeing them all again, last first, merges back into whole blocks, the lowest at the head.
    s.b.freePagesBulk([...got].reverse());
    expect(s.b.allocations.size).toBe(0);
    expect(z.freeArea[5].head).toBe(1024);
    expect(z.nrFree).toBe(2048 - 30);
  });

  it("alloc_contig_pages() finds a range freed below where its last scan ended", () => {
    // One 16 MiB zone from pfn 0: 64-page candidates at 0, 64, 128, ... The scan passes over
    // the ranges it found taken, but a range freed since must be found again, lowest first.
    const b = new PageAllocator(
      [
        {
          nid: 0,
          ranges: [{ startPfn: 0, endPfn: 4096 }],
          zones: [{ type: "Normal", startPfn: 0, endPfn: 4096 }],
        },
      ],
      5,
      new Faults(),
    );
    b.freeBootRange(0, 4096);
    const take = () => b.allocContigPages(64, GFP_HIGHUSER_MOVABLE, 0, "t", "hugetlb");
    expect([take(), take(), take()]).toEqual([0, 64, 128]);
    b.freeContigRange(64, 64);
    expect(take()).toBe(64);
    expect(take()).toBe(192);
    // A page freed inside a candidate the scan passed over makes that candidate free again.
    const single = b.allocPagesNode(0, GFP_HIGHUSER_MOVABLE, 0, "t", "kernel") as number;
    expect(single).toBe(256);
    expect(take()).toBe(320);
    b.freePages(single, 0);
    expect(take()).toBe(256);
  });

  it("keeps free blocks on both sides of pfn 2^30 (where its maps split) as one allocator", () => {
    // 16 MiB around pfn 2^30 (4 TiB): every page handed out and given back, one at a time on
    // one allocator and in bulk on the other, ends in the same lists as the boot left them.
    const base = 2 ** 30 - 2048;
    const node: NodeSpec = {
      nid: 0,
      ranges: [{ startPfn: base, endPfn: base + 4096 }],
      zones: [{ type: "Normal", startPfn: base, endPfn: base + 4096 }],
    };
    const make = () => {
      const b = new PageAllocator([node], 5, new Faults());
      b.freeBootRange(base, base + 4096);
      return b;
    };
    const lists = (b: PageAllocator) => b.zones[0].freeArea.map((l) => [...l]);
    const a = make();
    const b = make();
    const boot = lists(a);
    const got = a.allocPagesBulk(0, GFP_KERNEL, 4096, SITE, "vmemmap");
    const one: number[] = [];
    for (let i = 0; i < 4096; i++)
      one.push(b.allocPagesNode(0, GFP_KERNEL, 0, SITE, "vmemmap") as number);
    expect(got).toEqual(one);
    expect(got.filter((p) => p >= 2 ** 30).length).toBe(2048);
    a.freePagesBulk([...got].reverse());
    for (const p of [...one].reverse()) b.freePages(p, 0);
    expect(lists(a)).toEqual(lists(b));
    expect(a.nrFreePages()).toBe(4096);
    // Freed page by page from the top, the 32-page blocks come back lowest first.
    expect(lists(a)[5]).toEqual(Array.from({ length: 128 }, (_, i) => base + 32 * i));
    expect(boot[5].length).toBe(0);
  });
});
