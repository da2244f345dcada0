// The frame ledger's set of frames to look at again (src/check/frame_ledger.ts FrameMarks):
// added frames read back once each, in the order first added, as a Set gives them; clear()
// empties it, also after so many rounds that its marks wrap around.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameMarks } from "../../src/check/frame_ledger.ts";

/** Rounds of frame additions: frames near each other, far apart, and repeated. */
const roundsArb = fc.array(
  fc.array(
    fc.oneof(
      fc.nat(300),
      fc.integer({ min: 65_530, max: 65_545 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
    ),
    { maxLength: 60 },
  ),
  { minLength: 1, maxLength: 12 },
);

describe("FrameMarks answers as a Set of frames would", () => {
  it("over rounds of additions (fixed seed)", () => {
    const seed = 20261206;
    fc.assert(
      fc.property(roundsArb, (rounds) => {
        const marks = new FrameMarks();
        for (const round of rounds) {
          marks.clear();
          const set = new Set<number>();
          for (const f of round) {
            marks.add(f);
            set.add(f);
          }
          expect(marks.list).toEqual([...set]);
        }
      }),
      // On failure fast-check prints the seed and the shortest failing rounds.
      { seed, numRuns: 200 },
    );
  });

  it("after its marks wrap around (65,536 rounds): a frame marked long ago is added again", () => {
    const marks = new FrameMarks();
    marks.clear();
    marks.add(7);
    marks.add(70_000);
    // Round 1 marked them; 65,535 rounds later the round numbers start again.
    for (let i = 0; i < 65_535; i++) marks.clear();
    expect(marks.list).toEqual([]);
    marks.add(7);
    marks.add(7);
    marks.add(70_000);
    expect(marks.list).toEqual([7, 70_000]);
    marks.clear();
    marks.add(70_000);
    expect(marks.list).toEqual([70_000]);
  });
});
