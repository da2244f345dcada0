// The sorted arrays of runs behind the MAX_PAGE_ORDER free lists (PfnRunList) and the
// allocator's order-0 runs (AllocationMap) are held in blocks (src/mm/pfn_list.ts SortedBlocks),
// so that an insert or delete moves one block rather than the whole array. The callers use it
// as the plain array they had: indexes, lastAtOrBelow(), splice(). Here seeded random inserts
// at their sorted place, deletes anywhere and searches run on it beside a plain array, with
// blocks of 1 to 4 elements and the default size, and every answer must agree: the index a
// search finds, the element at each index, the length and the order of a walk. Fixed seeds: a
// failure prints the seed and the shortest failing sequence.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lastAtOrBelow } from "../../src/include/bsearch.ts";
import { SortedBlocks } from "../../src/mm/pfn_list.ts";

interface Run {
  start: number;
}
const startOf = (r: Run): number => r.start;

type Op =
  | { kind: "insert"; key: number }
  | { kind: "remove"; at: number }
  | { kind: "search"; key: number }
  /** Inserts key, key + 1, ... (n keys) one after the other: a block filling at one place. */
  | { kind: "stretch"; key: number; n: number; down: boolean };

const keyArb = fc.oneof(fc.integer({ min: -2, max: 60 }), fc.integer({ min: 0, max: 2 ** 35 }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("insert" as const), key: keyArb }),
  fc.record({ kind: fc.constant("remove" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("search" as const), key: keyArb }),
  fc.record({
    kind: fc.constant("stretch" as const),
    key: keyArb,
    n: fc.integer({ min: 1, max: 30 }),
    down: fc.boolean(),
  }),
);

/** Every answer of `blocks` equals the plain array's. */
function same(blocks: SortedBlocks<Run>, plain: Run[], probe: number): void {
  expect(blocks.length).toBe(plain.length);
  expect(blocks.search(probe)).toBe(lastAtOrBelow(plain, probe, startOf));
  for (let i = 0; i < plain.length; i++) expect(blocks.at(i)).toBe(plain[i]);
  expect(blocks.toArray()).toEqual(plain);
  expect([...blocks]).toEqual(plain);
  expect(blocks.some((r) => r.start === probe)).toBe(plain.some((r) => r.start === probe));
}

/**
 * A SortedBlocks of blocks of at most `max` and the plain array beside it, changed together.
 * An insert takes its place from the plain array (keys are distinct, as disjoint runs' first
 * pfns are); with `searchFirst`, the blocks' search must find that place first.
 */
function pair(max: number, searchFirst: boolean) {
  const blocks = new SortedBlocks<Run>(startOf, max);
  const plain: Run[] = [];
  const insert = (key: number): void => {
    const i = lastAtOrBelow(plain, key, startOf);
    if (i >= 0 && plain[i].start === key) return;
    if (searchFirst) expect(blocks.search(key)).toBe(i);
    const r = { start: key };
    blocks.insert(i + 1, r);
    plain.splice(i + 1, 0, r);
  };
  return {
    blocks,
    plain,
    insert,
    /** key, key + 1, ... (n keys), one after the other, upwards or downwards. */
    stretch(key: number, n: number, down: boolean): void {
      for (let j = 0; j < n; j++) insert(down ? key + n - 1 - j : key + j);
    },
    remove(at: number): void {
      blocks.remove(at);
      plain.splice(at, 1);
    },
  };
}

describe("SortedBlocks reads as the sorted plain array it replaces", () => {
  it("random inserts at their place, removes and searches (property, seeded)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3, 4, 512),
        fc.array(opArb, { minLength: 10, maxLength: 250 }),
        (max, ops) => {
          const { blocks, plain, insert, stretch, remove } = pair(max, true);
          for (const op of ops) {
            if (op.kind === "insert") insert(op.key);
            else if (op.kind === "stretch") stretch(op.key, op.n, op.down);
            else if (op.kind === "remove") {
              if (plain.length === 0) continue;
              remove(op.at % plain.length);
            }
            same(blocks, plain, op.kind === "remove" ? op.at : op.key);
          }
          // Emptied and filled again: the one block left must take them.
          while (plain.length > 0) remove(0);
          same(blocks, plain, 0);
          insert(5);
          insert(3);
          same(blocks, plain, 4);
        },
      ),
      { seed: 1207, numRuns: 300 },
    );
  });

  it("the same steps with no reads between them (each read moves the block it keeps at hand)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 2, 3, 4),
        fc.array(opArb, { minLength: 10, maxLength: 250 }),
        (max, ops) => {
          // The blocks are only written until the end.
          const { blocks, plain, insert, stretch, remove } = pair(max, false);
          for (const op of ops) {
            if (op.kind === "insert" || op.kind === "search") insert(op.key);
            else if (op.kind === "stretch") stretch(op.key, op.n, op.down);
            else if (plain.length > 0)
              // Removes from the end: whole blocks empty and go, then inserts land where they were.
              remove(plain.length - 1 - (op.at % Math.min(plain.length, 3)));
          }
          same(blocks, plain, 0);
        },
      ),
      { seed: 1208, numRuns: 300 },
    );
  });

  it("searches below the first key, at every key and above the last, across many blocks", () => {
    const blocks = new SortedBlocks<Run>(startOf, 3);
    const plain: Run[] = [];
    for (let k = 0; k < 40; k++) {
      // Every other key, inserted from the top down: each insert lands at index 0.
      const r = { start: 2 * (39 - k) + 10 };
      blocks.insert(0, r);
      plain.unshift(r);
    }
    for (let x = 0; x < 100; x++) same(blocks, plain, x);
    expect(blocks.search(9)).toBe(-1);
    expect(blocks.search(10)).toBe(0);
    expect(blocks.search(11)).toBe(0);
    expect(blocks.search(88)).toBe(39);
    expect(blocks.search(1000)).toBe(39);
  });
});
