// The sorted-range search every range lookup of the model uses (src/include/bsearch.ts).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { lastAtOrBelow } from "../../src/include/bsearch.ts";

const startOf = (r: { start: number }) => r.start;
const itself = (n: number) => n;

/** Ranges [10, 20), [20, 25), [40, 50): starts 10, 20, 40. */
const ranges = [
  { start: 10, end: 20 },
  { start: 20, end: 25 },
  { start: 40, end: 50 },
];

describe("lastAtOrBelow: the last range starting at or below a key", () => {
  it("finds nothing in an empty array", () => {
    expect(lastAtOrBelow([], 0, itself)).toBe(-1);
    expect(lastAtOrBelow([], 1e15, startOf)).toBe(-1);
  });

  it("finds nothing before the first start", () => {
    expect(lastAtOrBelow(ranges, 9, startOf)).toBe(-1);
    expect(lastAtOrBelow(ranges, -1, startOf)).toBe(-1);
  });

  it("finds the range whose start equals the key, and the one before between starts", () => {
    // 10 is range 0's start; 19 is still range 0's; 20 starts range 1; 39 is past range 1's
    // end (25) but range 1 is still the last to start at or below it: the caller checks ends.
    expect(lastAtOrBelow(ranges, 10, startOf)).toBe(0);
    expect(lastAtOrBelow(ranges, 19, startOf)).toBe(0);
    expect(lastAtOrBelow(ranges, 20, startOf)).toBe(1);
    expect(lastAtOrBelow(ranges, 39, startOf)).toBe(1);
    expect(lastAtOrBelow(ranges, 40, startOf)).toBe(2);
  });

  it("finds the last range after the last start", () => {
    expect(lastAtOrBelow(ranges, 50, startOf)).toBe(2);
    expect(lastAtOrBelow(ranges, 2 ** 52, startOf)).toBe(2);
  });

  it("takes the last of equal starts", () => {
    // Starts 5, 7, 7, 7, 9: the 7s are indexes 1..3.
    const starts = [5, 7, 7, 7, 9];
    expect(lastAtOrBelow(starts, 7, itself)).toBe(3);
    expect(lastAtOrBelow(starts, 6, itself)).toBe(0);
    expect(lastAtOrBelow(starts, 8, itself)).toBe(3);
  });

  it("agrees with a linear scan on any sorted array and key", () => {
    // fast-check reports the seed and the shortest failing case when it fails.
    const starts = fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 40 });
    fc.assert(
      fc.property(starts, fc.integer({ min: -60, max: 60 }), (unsorted, key) => {
        const sorted = [...unsorted].sort((a, b) => a - b);
        // The last index whose start is <= key, by looking at every one.
        let want = -1;
        for (let i = 0; i < sorted.length; i++) if (sorted[i] <= key) want = i;
        expect(lastAtOrBelow(sorted, key, itself)).toBe(want);
      }),
      { seed: 0x5eed, numRuns: 500 },
    );
  });
});
