// The free lists' and folio lists' storage (src/mm/pfn_list.ts) against the Map-based lists it
// replaced, on seeded random operation sequences (fast-check with a fixed seed: a failure
// prints the seed and the shortest failing sequence). Both must agree on every answer a list
// gives: membership, neighbours, first and last entry, count and the order of a walk.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PfnBytes, PfnList } from "../../src/mm/pfn_list.ts";

/** The old FreeList: next/prev in Maps, -1 for "none". */
class MapList {
  readonly next = new Map<number, number>();
  readonly prev = new Map<number, number>();
  head = -1;
  tail = -1;
  addHead(p: number): void {
    this.next.set(p, this.head);
    this.prev.set(p, -1);
    if (this.head !== -1) this.prev.set(this.head, p);
    else this.tail = p;
    this.head = p;
  }
  addTail(p: number): void {
    this.prev.set(p, this.tail);
    this.next.set(p, -1);
    if (this.tail !== -1) this.next.set(this.tail, p);
    else this.head = p;
    this.tail = p;
  }
  remove(p: number): void {
    const n = this.next.get(p) as number;
    const q = this.prev.get(p) as number;
    if (q !== -1) this.next.set(q, n);
    else this.head = n;
    if (n !== -1) this.prev.set(n, q);
    else this.tail = q;
    this.next.delete(p);
    this.prev.delete(p);
  }
  walk(): number[] {
    const out: number[] = [];
    for (let p = this.head; p !== -1; p = this.next.get(p) as number) out.push(p);
    return out;
  }
}

type Op = { kind: "head" | "tail" | "remove" | "probe"; slot: number };

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom("head" as const, "tail" as const, "remove" as const, "probe" as const),
  // Slots spread over several pages and top-level rows (PAGE 512, TOP 512 in pfn_list.ts).
  slot: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 2 ** 20 })),
});

describe("PfnList (free lists and folio lists by pfn)", () => {
  it("answers as the Map-based list under random adds and removes (property, seeded)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 512, 2 ** 18),
        fc.integer({ min: 0, max: 3 }),
        fc.array(opArb, { maxLength: 300 }),
        (align, baseBlocks, ops) => {
          const base = baseBlocks * align;
          const l = new PfnList(base, align);
          const ref = new MapList();
          for (const op of ops) {
            const pfn = base + op.slot * align;
            const on = ref.next.has(pfn);
            if (op.kind === "head" && !on) {
              l.addHead(pfn);
              ref.addHead(pfn);
            } else if (op.kind === "tail" && !on) {
              l.addTail(pfn);
              ref.addTail(pfn);
            } else if (op.kind === "remove") {
              expect(l.remove(pfn)).toBe(on);
              if (on) ref.remove(pfn);
            }
            expect(l.has(pfn)).toBe(ref.next.has(pfn));
            expect(l.nextOf(pfn)).toBe(ref.next.get(pfn) ?? -1);
            expect(l.prevOf(pfn)).toBe(ref.prev.get(pfn) ?? -1);
            expect([l.head, l.tail, l.count]).toEqual([ref.head, ref.tail, ref.next.size]);
          }
          expect([...l]).toEqual(ref.walk());
          // A pfn off the alignment is never on the list.
          if (align > 1) expect(l.has(base + 1)).toBe(false);
        },
      ),
      { seed: 0x11571, numRuns: 120 },
    );
  });

  it("refuses a pfn twice, and one it cannot hold, without changing the list", () => {
    const l = new PfnList(0, 512);
    l.addHead(1024);
    expect(() => l.addTail(1024)).toThrow(/on the list already/);
    expect(() => l.addHead(1000)).toThrow(/cannot be on this list/);
    expect([...l]).toEqual([1024]);
    expect(l.count).toBe(1);
  });
});

describe("PfnBytes (the order of each free block below MAX_PAGE_ORDER)", () => {
  it("answers as a Map under random sets and deletes (property, seeded)", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            set: fc.boolean(),
            pfn: fc.oneof(fc.integer({ min: 0, max: 9000 }), fc.integer({ min: 0, max: 2 ** 34 })),
            v: fc.integer({ min: 0, max: 10 }),
          }),
          { maxLength: 300 },
        ),
        (ops) => {
          const b = new PfnBytes();
          const ref = new Map<number, number>();
          for (const op of ops) {
            if (op.set) {
              b.set(op.pfn, op.v);
              ref.set(op.pfn, op.v);
            } else {
              b.delete(op.pfn);
              ref.delete(op.pfn);
            }
            expect(b.get(op.pfn)).toBe(ref.get(op.pfn) ?? -1);
            expect(b.get(op.pfn + 1)).toBe(ref.get(op.pfn + 1) ?? -1);
            expect(b.size).toBe(ref.size);
          }
          for (const [p, v] of ref) expect(b.get(p)).toBe(v);
        },
      ),
      { seed: 0xb17e5, numRuns: 120 },
    );
  });
});
