// The batch of frees' map from pfn to slot (src/mm/buddy_batch.ts FreeBatch): after reset() no
// pfn has a slot, and slots are made anew from 0, whether the map kept its pages (a batch over
// a few) or let them go (a batch over many, spread over the machine); and between batches it
// holds no more than a few pages.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FreeBatch } from "../../src/mm/buddy_batch.ts";

describe("FreeBatch's slots across batches", () => {
  it("a pfn has a slot only in the batch that made it, however spread the batches are", () => {
    // pfns up to 2^36 (a 256 TiB machine of 4 KiB pages), in clusters or scattered.
    const pfn = fc.oneof(fc.integer({ min: 0, max: 2 ** 36 }), fc.integer({ min: 0, max: 20_000 }));
    fc.assert(
      fc.property(fc.array(fc.array(pfn, { maxLength: 80 }), { maxLength: 6 }), (batches) => {
        const b = new FreeBatch(10);
        let before: number[] = [];
        for (const pfns of batches) {
          for (const p of before) expect(b.slotOf(p)).toBe(-1);
          const slots = new Map<number, number>();
          for (const p of pfns) {
            const s = b.slotFor(p);
            if (!slots.has(p)) {
              // Slots are numbered as made, from 0 in each batch.
              expect(s).toBe(slots.size);
              slots.set(p, s);
            } else expect(s).toBe(slots.get(p));
          }
          for (const [p, s] of slots) {
            expect(b.slotOf(p)).toBe(s);
            expect(b.pfnOf[s]).toBe(p);
          }
          expect(b.n).toBe(slots.size);
          b.reset();
          // Between batches the map keeps a few pages of slots, not one per 4,096 pfns ever
          // touched: batches over a large machine would otherwise keep them all.
          expect(b.mapPages).toBeLessThanOrEqual(16);
          before = [...slots.keys()];
        }
        for (const p of before) expect(b.slotOf(p)).toBe(-1);
      }),
      { seed: 20261207, numRuns: 200 },
    );
  });

  it("a batch over many pages of the map keeps no more than a few of them after it", () => {
    // fast-check favours small integers, so its batches rarely reach many pages: here each of
    // 200 pfns lies in a page of its own (4,096 pfns apart, over 2^36).
    const b = new FreeBatch(10);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 200; i++) expect(b.slotFor(i * 2 ** 28 + round * 4096 + 7)).toBe(i);
      b.reset();
      expect(b.mapPages).toBeLessThanOrEqual(16);
      expect(b.slotOf(7 + round * 4096)).toBe(-1);
    }
  });
});
