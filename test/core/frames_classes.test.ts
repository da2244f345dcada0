// The frame store (src/mm/frames.ts) under a pool's churn of plain "tails" patterns, one
// compound word per folio, against the per-frame Map store (frames_reference.ts): folios'
// tails come and go on frames of a chunk fragmented past the point where it goes dense, so
// that their pattern classes die and are taken again by folios with other compound words (with
// the entries of their earlier ids still in their maps), and runs of frames holding one id are
// dropped at once. Every frame touched must read the same bytes, pattern and counts in both.
import fc from "fast-check";
import { describe, it } from "vitest";
import type { FramePattern, FrameStore } from "../../src/mm/frames.ts";
import {
  BASE,
  expectSameFrames,
  type FreedOp,
  freedOpArb,
  type MapFrameStore,
  PAGE,
  rangeFrameArb,
  SPAN,
  type StoreOp,
  storeOpArb,
  twoStores,
} from "./frames_reference.ts";

type Op =
  /** A folio's 7 tail frames take its tails pattern (prep_compound_page()). */
  | { op: "tails"; frame: number; nr: number; folio: number; voffPage: number }
  /** They go back to memory freed to the buddy (destroy_compound_page()). */
  | FreedOp
  /** A store to one frame (the head's page, written in place). */
  | StoreOp;

const frameArb = rangeFrameArb(8);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("tails" as const),
      frame: frameArb,
      nr: fc.integer({ min: 1, max: 7 }),
      // 12 folios: 12 compound words (a head's address + 1), more than live at once.
      folio: fc.integer({ min: 0, max: 11 }),
      voffPage: fc.integer({ min: 0, max: 700 }),
    }),
  },
  {
    weight: 3,
    arbitrary: freedOpArb(frameArb),
  },
  {
    weight: 2,
    arbitrary: storeOpArb(frameArb),
  },
);

function apply(s: FrameStore | MapFrameStore, o: Op): void {
  if (o.op === "write") s.writeU32(o.frame, o.off, o.value);
  else {
    const p: FramePattern =
      o.op === "tails"
        ? {
            kind: "tails",
            voff: o.voffPage * PAGE,
            info: 0xffffea0000000001n + BigInt(o.folio) * 32768n,
          }
        : { kind: "init", voff: o.voffPage * PAGE, asFree: true };
    s.setPatternRange(o.frame, o.nr, p);
  }
}

function bothAgree(ops: readonly Op[]): void {
  const { a, b } = twoStores();
  // Every other frame written first: the chunk holds hundreds of runs (one id per frame).
  for (let f = BASE; f < BASE + SPAN; f += 2) {
    a.writeU32(f, 4, f);
    b.writeU32(f, 4, f);
  }
  for (const o of ops) {
    apply(a, o);
    apply(b, o);
  }
  expectSameFrames(a, b);
}

describe("frame store: per-folio tails classes reused, dense runs dropped at once", () => {
  it("folios' tails over a dense chunk, freed and taken again with other compound words, read as the Map store's", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 50, maxLength: 300 }), (ops) => bothAgree(ops)),
      { seed: 7311, numRuns: 30 },
    );
  });
});
