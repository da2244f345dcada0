// The MAX_PAGE_ORDER free lists held as runs (src/mm/pfn_list.ts PfnRunList) against the plain
// list (PfnList), on seeded random operation sequences (fast-check with a fixed seed: a failure
// prints the seed and the shortest failing sequence). Freeing a gigantic folio adds its blocks
// one after the other, so the sequences add stretches of neighbouring blocks at either end, in
// either direction, and take blocks out anywhere (allocations, alloc_contig_range()). Both
// lists must give the same answer to every question: membership, neighbours, first and last
// entry, count and the order of a walk.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PfnList, PfnRunList } from "../../src/mm/pfn_list.ts";

type Op =
  | { kind: "head" | "tail" | "remove" | "probe"; slot: number }
  | { kind: "stretch"; slot: number; n: number; down: boolean; atTail: boolean }
  /** Takes the entry at position `at` (modulo the count) of the list: run ends and middles. */
  | { kind: "take"; at: number };

const slotArb = fc.oneof(fc.integer({ min: 0, max: 48 }), fc.integer({ min: 0, max: 5000 }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constantFrom("head" as const, "tail" as const, "remove" as const, "probe" as const),
    slot: slotArb,
  }),
  fc.record({
    kind: fc.constant("stretch" as const),
    slot: slotArb,
    n: fc.integer({ min: 1, max: 40 }),
    down: fc.boolean(),
    atTail: fc.boolean(),
  }),
  fc.record({ kind: fc.constant("take" as const), at: fc.nat() }),
);

describe("PfnRunList (MAX_PAGE_ORDER free lists as runs)", () => {
  it("answers as the plain list under random adds, stretches and removes (property, seeded)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 1024, 2 ** 18),
        fc.integer({ min: 0, max: 3 }),
        fc.array(opArb, { minLength: 20, maxLength: 200 }),
        (align, baseBlocks, ops) => {
          const base = baseBlocks * align;
          const runs = new PfnRunList(base, align);
          const ref = new PfnList(base, align);
          const same = (pfn: number): void => {
            expect(runs.has(pfn)).toBe(ref.has(pfn));
            expect(runs.nextOf(pfn)).toBe(ref.nextOf(pfn));
            expect(runs.prevOf(pfn)).toBe(ref.prevOf(pfn));
            expect([runs.head, runs.tail, runs.count]).toEqual([ref.head, ref.tail, ref.count]);
          };
          for (const op of ops) {
            if (op.kind === "stretch") {
              for (let i = 0; i < op.n; i++) {
                const slot = op.down ? op.slot + op.n - 1 - i : op.slot + i;
                const pfn = base + slot * align;
                if (ref.has(pfn)) continue;
                if (op.atTail) {
                  runs.addTail(pfn);
                  ref.addTail(pfn);
                } else {
                  runs.addHead(pfn);
                  ref.addHead(pfn);
                }
                same(pfn);
              }
              continue;
            }
            if (op.kind === "take") {
              if (ref.count === 0) continue;
              const pfn = [...ref][op.at % ref.count];
              expect(runs.remove(pfn)).toBe(true);
              ref.remove(pfn);
              same(pfn);
              same(pfn - align);
              same(pfn + align);
              continue;
            }
            const pfn = base + op.slot * align;
            const on = ref.has(pfn);
            if (op.kind === "head" && !on) {
              runs.addHead(pfn);
              ref.addHead(pfn);
            } else if (op.kind === "tail" && !on) {
              runs.addTail(pfn);
              ref.addTail(pfn);
            } else if (op.kind === "remove") {
              expect(runs.remove(pfn)).toBe(on);
              ref.remove(pfn);
            }
            same(pfn);
            // Its neighbours in pfn order too (the run edges).
            same(pfn - align);
            same(pfn + align);
          }
          expect([...runs]).toEqual([...ref]);
          for (const p of ref) same(p);
          if (align > 1) expect(runs.has(base + 1)).toBe(false);
        },
      ),
      { seed: 0x11b, numRuns: 300 },
    );
  });

  it("holds a freed gigantic folio's blocks as one run, and splits it where one is taken", () => {
    // 256 blocks of 1024 pages (a 1 GiB folio, 4 KiB pages, MAX_PAGE_ORDER 10), freed lowest
    // first, each to the head of the list: the list reads highest first.
    const l = new PfnRunList(0, 1024);
    const folio = 2 ** 18;
    for (let i = 0; i < 256; i++) l.addHead(folio + i * 1024);
    expect(l.runs).toBe(1);
    expect(l.count).toBe(256);
    expect(l.head).toBe(folio + 255 * 1024);
    expect(l.tail).toBe(folio);
    // The block in the middle taken: two runs, the list order kept around the gap.
    l.remove(folio + 100 * 1024);
    expect(l.runs).toBe(2);
    expect(l.nextOf(folio + 101 * 1024)).toBe(folio + 99 * 1024);
    expect(l.prevOf(folio + 99 * 1024)).toBe(folio + 101 * 1024);
    expect(l.has(folio + 100 * 1024)).toBe(false);
    expect([...l].length).toBe(255);
  });

  it("refuses a pfn twice, and one it cannot hold, without changing the list", () => {
    const l = new PfnRunList(0, 512);
    l.addHead(1024);
    expect(() => l.addTail(1024)).toThrow(/on the list already/);
    expect(() => l.addHead(1000)).toThrow(/cannot be on this list/);
    expect([...l]).toEqual([1024]);
    expect(l.count).toBe(1);
  });
});
