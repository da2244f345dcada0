// Cheaper forms on the buddy allocator's free path at pfns above 2^31 (a 64 TiB machine has
// pfns up to 2^34), against the plain forms they replace:
//   - modPow2() (src/include/pow2.ts) against `x % m`: the same number, without fmod();
//   - BlockSet (src/mm/page_alloc.ts, zone.unmovableBlocks) against a Set<number> of first
//     pfns: the same answers and the same iteration order after any sequence of adds and
//     deletes, with keys held as small block numbers.
// Seeded fast-check runs: a failure prints the seed and the shortest failing sequence.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { modPow2 } from "../../src/include/pow2.ts";
import { BlockSet } from "../../src/mm/page_alloc.ts";

/** An integer below 2^53 made of a random value shifted left: many low zero bits, or none. */
const bigIntegerArb = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 21 - 1 }), fc.integer({ min: 0, max: 31 }))
  .map(([x, s]) => x * 2 ** s);

describe("modPow2(x, m) is x % m for x >= 0 and m a power of two", () => {
  it("on integers up to 2^52 and every power of two up to 2^40", () => {
    fc.assert(
      fc.property(bigIntegerArb, fc.integer({ min: 0, max: 40 }), (x, b) => {
        const m = 2 ** b;
        expect(modPow2(x, m)).toBe(x % m);
      }),
      { seed: 3107, numRuns: 5000 },
    );
  });
});

type SetOp = { op: "add" | "delete" | "has"; block: number };

/** MAX_PAGE_ORDER 10: 1024-page blocks, numbered up to 2^25 (pfns up to 2^35). */
const ORDER = 10;
const setOpArb: fc.Arbitrary<SetOp> = fc.record({
  op: fc.constantFrom("add" as const, "delete" as const, "has" as const),
  block: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2 ** 25 })),
});

describe("BlockSet reads as the Set<number> of first pfns it replaces", () => {
  it("the same answers, size and order after random adds and deletes", () => {
    fc.assert(
      fc.property(fc.array(setOpArb, { maxLength: 200 }), (ops) => {
        const a = new BlockSet(2 ** ORDER);
        const b = new Set<number>();
        for (const { op, block } of ops) {
          const pfn = block * 2 ** ORDER;
          if (op === "add") {
            a.add(pfn);
            b.add(pfn);
          } else if (op === "delete") expect(a.delete(pfn)).toBe(b.delete(pfn));
          else expect(a.has(pfn)).toBe(b.has(pfn));
          expect(a.size).toBe(b.size);
        }
        expect([...a]).toEqual([...b]);
      }),
      { seed: 3108, numRuns: 300 },
    );
  });
});
