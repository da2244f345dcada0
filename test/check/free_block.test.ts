// The frame ledger's tiling asks freeBlockHolding() (src/check/frame_ledger.ts) where the page
// allocator would be asked freeBlockAt(): the two must give the same free block, or none, for
// every pfn the tiling's walk can stop at. Compared on seeded runs of `hvo check` operations
// (the buddy split, merged, handed out and lazily filled as a run leaves it), at block starts,
// the pfns just inside and after them, and pfns spread over the machine.
import { describe, expect, it } from "vitest";
import { freeBlockHolding, zonesApart } from "../../src/check/frame_ledger.ts";
import { DESIGNS } from "../../src/kernel.ts";
import type { Kernel } from "../../src/kernel.ts";
import { checkModel, edgePfns, runSeed } from "./seeded_steps.ts";

/** The pfns whose answers differ, with both answers (at most a few). */
function mismatches(k: Kernel): string[] {
  const out: string[] = [];
  for (const p of edgePfns(k)) {
    const want = k.buddy.freeBlockAt(p);
    const got = freeBlockHolding(k.buddy, p);
    const a = want ? `${want.start}/${want.order}` : "none";
    const b = got ? `${got.start}/${got.order}` : "none";
    if (a !== b && out.length < 4) out.push(`pfn ${p}: freeBlockAt ${a}, freeBlockHolding ${b}`);
  }
  return out;
}

describe("freeBlockHolding() answers as freeBlockAt()", () => {
  for (const design of DESIGNS)
    it(`over a seeded run (${design})`, () => {
      const m = checkModel(design);
      const k = m.model.k;
      // The machine the ledger asks freeBlockHolding() on (else it asks freeBlockAt()).
      expect(zonesApart(k.buddy)).toBe(true);
      expect(mismatches(k)).toEqual([]);
      let looked = 0;
      runSeed(design, 7, 160, m, (i) => {
        if (i % 20 !== 0) return;
        looked++;
        expect(mismatches(k), `after op ${i}`).toEqual([]);
      });
      expect(looked).toBeGreaterThan(3);
    });

  it("finds the free blocks a run leaves, not only their absence", () => {
    const m = checkModel("mainline");
    runSeed("mainline", 7, 60, m, () => {});
    const k = m.model.k;
    let found = 0;
    for (const p of edgePfns(k)) if (freeBlockHolding(k.buddy, p) !== null) found++;
    expect(found).toBeGreaterThan(1000);
  });
});

describe("zonesApart()", () => {
  const buddy = (spans: Array<[number, number]>) =>
    ({ zones: spans.map(([startPfn, endPfn]) => ({ startPfn, endPfn })) }) as unknown as Parameters<
      typeof zonesApart
    >[0];
  it("is false for interleaved nodes (freeBlockAt() is asked instead)", () => {
    expect(
      zonesApart(
        buddy([
          [0, 4096],
          [4096, 65536],
          [32768, 98304],
        ]),
      ),
    ).toBe(false);
  });
  it("is true for zones side by side", () => {
    expect(
      zonesApart(
        buddy([
          [0, 4096],
          [4096, 65536],
          [65536, 98304],
        ]),
      ),
    ).toBe(true);
  });
});
