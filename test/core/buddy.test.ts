import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Faults } from "../../src/mm/fault_inject.ts";
import { GFP_KERNEL, PageAllocator } from "../../src/mm/page_alloc.ts";
import type { NodeSpec } from "../../src/machine/spec.ts";

// A 2-zone node of 64 MiB with a hole, small enough to check every pfn.
const NODES: NodeSpec[] = [
  {
    nid: 0,
    ranges: [
      { startPfn: 1, endPfn: 4000 },
      { startPfn: 4200, endPfn: 16384 },
    ],
    zones: [
      { type: "DMA32", startPfn: 1, endPfn: 8192 },
      { type: "Normal", startPfn: 8192, endPfn: 16384 },
    ],
  },
];
const PRESENT = 3999 + (16384 - 4200);

function fresh(): PageAllocator {
  const b = new PageAllocator(NODES, 10, new Faults());
  for (const r of NODES[0].ranges) b.freeBootRange(r.startPfn, r.endPfn);
  return b;
}

/** Every pfn is in at most one free block or allocation; returns the set of covered pfns. */
function coverage(b: PageAllocator): { covered: number; overlaps: number } {
  const seen = new Uint8Array(16384);
  let overlaps = 0;
  let covered = 0;
  const mark = (start: number, n: number) => {
    for (let p = start; p < start + n; p++) {
      if (seen[p]) overlaps++;
      else covered++;
      seen[p] = 1;
    }
  };
  for (const f of b.freeBlocks()) mark(f.start, f.nrPages);
  for (const [pfn, a] of b.allocations) mark(pfn, 2 ** a.order);
  return { covered, overlaps };
}

describe("buddy allocator (mm/page_alloc.c)", () => {
  it("hands every present page to the free lists at boot, none from the hole", () => {
    const b = fresh();
    expect(b.nrFreePages()).toBe(PRESENT);
    expect(b.totalManaged()).toBe(PRESENT);
    for (let p = 4000; p < 4200; p++) expect(b.isFree(p)).toBe(false);
  });

  it("gives the lowest free block of the highest zone first (boot frees to the tail)", () => {
    const b = fresh();
    // Normal starts at 8192, which is aligned to order 10: the first order-0 page is 8192.
    expect(b.allocPagesNode(0, GFP_KERNEL, 0, "t", "kernel")).toBe(8192);
  });

  it("reuses the block freed last (LIFO) for the next allocation of that order", () => {
    const b = fresh();
    const a = b.allocPagesNode(0, GFP_KERNEL, 3, "t", "kernel")!;
    const c = b.allocPagesNode(0, GFP_KERNEL, 3, "t", "kernel")!;
    b.freePages(a, 3);
    expect(b.allocPagesNode(0, GFP_KERNEL, 3, "t", "kernel")).toBe(a);
    expect(c).not.toBe(a);
  });

  it("merges buddies back into the blocks it started with", () => {
    const b = fresh();
    // Lazy ranges stand for runs of order-10 blocks: list every block by its start.
    const blocks = () =>
      [...b.freeBlocks()]
        .flatMap((f) =>
          Array.from({ length: Math.max(1, f.nrPages / 1024) }, (_, i) => `${f.start + i * 1024}`),
        )
        .sort();
    const before = blocks();
    const got = Array.from(
      { length: 40 },
      () => b.allocPagesNode(0, GFP_KERNEL, 0, "t", "kernel")!,
    );
    for (const p of got.reverse()) b.freePages(p, 0);
    expect(b.nrFreePages()).toBe(PRESENT);
    expect(blocks()).toEqual(before);
  });

  it("refuses a double free with an Oops", () => {
    const b = fresh();
    const p = b.allocPagesNode(0, GFP_KERNEL, 0, "t", "kernel")!;
    b.freePages(p, 0);
    expect(() => b.freePages(p, 0)).toThrow(/not allocated/);
  });

  it("fails the nth call of a named site when told to", () => {
    const faults = new Faults().add({ site: "x", nth: 2 });
    const b = new PageAllocator(NODES, 10, faults);
    for (const r of NODES[0].ranges) b.freeBootRange(r.startPfn, r.endPfn);
    expect(b.allocPagesNode(0, GFP_KERNEL, 0, "x", "kernel")).not.toBeNull();
    expect(b.allocPagesNode(0, GFP_KERNEL, 0, "x", "kernel")).toBeNull();
    expect(b.allocPagesNode(0, GFP_KERNEL, 0, "x", "kernel")).not.toBeNull();
    expect(faults.injected.get("x")).toBe(1);
  });

  it("finds an aligned free range for alloc_contig_pages and gives it back", () => {
    const b = fresh();
    const p = b.allocContigPages(2048, GFP_KERNEL, 0, "t", "hugetlb")!;
    expect(p % 2048).toBe(0);
    expect(b.nrFreePages()).toBe(PRESENT - 2048);
    b.freeContigRange(p, 2048);
    expect(b.nrFreePages()).toBe(PRESENT);
  });

  it("keeps every pfn in exactly one block under random alloc/free (property, seed 7)", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("alloc" as const), order: fc.integer({ min: 0, max: 10 }) }),
      fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("contig" as const), order: fc.integer({ min: 9, max: 11 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const b = fresh();
        const held: Array<[number, number, boolean]> = [];
        for (const o of ops) {
          if (o.kind === "alloc") {
            const p = b.allocPagesNode(0, GFP_KERNEL, o.order, "t", "kernel");
            if (p !== null) {
              expect(p % 2 ** o.order).toBe(0);
              held.push([p, o.order, false]);
            }
          } else if (o.kind === "contig") {
            const p = b.allocContigPages(2 ** o.order, GFP_KERNEL, 0, "t", "hugetlb");
            if (p !== null) held.push([p, o.order, true]);
          } else if (held.length > 0) {
            const [p, order, contig] = held.splice(o.pick % held.length, 1)[0];
            if (contig) b.freeContigRange(p, 2 ** order);
            else b.freePages(p, order);
          }
          const c = coverage(b);
          expect(c.overlaps).toBe(0);
          expect(c.covered).toBe(PRESENT);
          let heldPages = 0;
          for (const [, order] of held) heldPages += 2 ** order;
          expect(b.nrFreePages()).toBe(PRESENT - heldPages);
        }
        for (const [p, order, contig] of held) {
          if (contig) b.freeContigRange(p, 2 ** order);
          else b.freePages(p, order);
        }
        expect(b.nrFreePages()).toBe(PRESENT);
      }),
      { seed: 7, numRuns: 60 },
    );
  });
});

describe("the allocations' indexes and the range listeners", () => {
  const USES = ["vmemmap", "pagetable", "hugetlb", "kernel"] as const;
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("alloc" as const),
      order: fc.nat(10),
      use: fc.constantFrom(...USES),
    }),
    fc.record({ kind: fc.constant("free" as const), which: fc.nat() }),
    fc.record({
      kind: fc.constant("retype" as const),
      which: fc.nat(),
      use: fc.constantFrom(...USES),
    }),
    fc.record({ kind: fc.constant("split" as const), which: fc.nat() }),
  );

  it("withUse, pagesWithUse, per-zone pages and containing() agree with a walk of every block; every changed pfn is told", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const b = fresh();
        const told = new Uint8Array(16384);
        b.addRangeListener((s, n) => told.fill(1, s, s + n));
        /** What each pfn is: "" (neither), "f" (free), or the block that holds it. */
        const states = (): string[] => {
          const st = new Array<string>(16384).fill("");
          for (const f of b.freeBlocks()) st.fill("f", f.start, f.start + f.nrPages);
          for (const [p, a] of b.allocations)
            st.fill(`${p}/${a.order}/${a.use}`, p, p + 2 ** a.order);
          return st;
        };
        for (const o of ops) {
          const before = states();
          told.fill(0);
          const keys = [...b.allocations.keys()];
          const pick = (i: number) => keys[i % Math.max(1, keys.length)];
          if (o.kind === "alloc") b.allocPagesNode(0, GFP_KERNEL, o.order, "t", o.use);
          else if (keys.length && o.kind === "free") {
            const p = pick(o.which);
            b.freePages(p, (b.allocations.get(p) as { order: number }).order);
          } else if (keys.length && o.kind === "retype") b.setUse(pick(o.which), o.use);
          else if (keys.length && o.kind === "split") b.splitPage(pick(o.which));
          // Every pfn whose state changed was told to the listeners.
          const after = states();
          for (let p = 0; p < 16384; p++) if (after[p] !== before[p]) expect(told[p]).toBe(1);
        }
        // The indexes against a walk of every block.
        for (const use of USES) {
          const pfns = [...b.allocations].filter(([, a]) => a.use === use);
          expect([...b.allocations.withUse(use)].sort((x, y) => x - y)).toEqual(
            pfns.map(([p]) => p).sort((x, y) => x - y),
          );
          expect(b.allocations.pagesWithUse(use)).toBe(
            pfns.reduce((s, [, a]) => s + 2 ** a.order, 0),
          );
        }
        for (const z of b.zones) {
          let pages = 0;
          for (const [p, a] of b.allocations) if (z.contains(p)) pages += 2 ** a.order;
          expect(b.allocatedPages(z)).toBe(pages);
          // managed = free + handed out, zone by zone.
          expect(z.managed).toBe(z.nrFree + pages);
        }
        for (let p = 0; p < 16384; p += 97) {
          const owner = [...b.allocations].find(([s, a]) => p >= s && p < s + 2 ** a.order);
          expect(b.allocations.containing(p)?.start ?? null).toBe(owner ? owner[0] : null);
        }
      }),
      { seed: 20261126, numRuns: 30 },
    );
  });
});
