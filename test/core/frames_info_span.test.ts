// The frame store (src/mm/frames.ts) given "tails" patterns whose compound word depends on
// where the frame is read (infoSpan: the head's address of the folio whose struct pages fill
// that aligned span of memmap, as compound.ts gives a legacy folio's tails), against the
// per-frame Map store (frames_reference.ts) given, frame by frame, the plain pattern with the
// word the kernel's prep_compound_tail() stores there: the head's address | 1. The tails of
// many folios then share one id; frozen, copied, overwritten in place and freed, every frame
// must read the same bytes, pattern and counts in both.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FramePattern, type FrameStore, tailsInfoAt } from "../../src/mm/frames.ts";
import {
  BASE,
  expectSameFrames,
  type FreedOp,
  freedOpArb,
  type MapFrameStore,
  PAGE,
  rangeFrameArb,
  type StoreOp,
  storeOpArb,
  twoStores,
} from "./frames_reference.ts";

/** A 2 MiB folio's struct pages: 512 of 64 bytes, 8 vmemmap pages of 4 KiB. */
const FOLIO_SPAN = 512 * 64;
/** The vmemmap's base on x86_64 (4-level), as the pointer encoding's words start. */
const VMEMMAP = 0xffffea0000000000n;

type Op =
  /** n frames from `frame` take the tails of the folios whose memmap they back from voffPage. */
  | { op: "tails"; frame: number; nr: number; voffPage: number; bit1: boolean }
  /** They go back to memory freed to the buddy (destroy_compound_page()). */
  | FreedOp
  /** A store to one frame. */
  | StoreOp
  | { op: "copy"; frame: number; src: number };

const frameArb = rangeFrameArb(8);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("tails" as const),
      frame: frameArb,
      nr: fc.integer({ min: 1, max: 7 }),
      // Runs that cross a folio's span (8 pages) as well as runs inside one.
      voffPage: fc.integer({ min: 0, max: 700 }),
      bit1: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: freedOpArb(frameArb),
  },
  {
    weight: 2,
    arbitrary: storeOpArb(frameArb),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("copy" as const), frame: frameArb, src: frameArb }),
  },
);

/** The compound word prep_compound_tail() stores in a tail at memmap offset voff. */
function kernelWord(voff: number, bit1: boolean): bigint {
  const headVoff = voff - (voff % FOLIO_SPAN);
  return VMEMMAP + BigInt(headVoff) + 1n + (bit1 ? 2n : 0n);
}

function applySpan(s: FrameStore, o: Op): void {
  if (o.op === "write") s.writeU32(o.frame, o.off, o.value);
  else if (o.op === "copy") s.copyFrame(o.frame, o.src);
  else if (o.op === "freed")
    s.setPatternRange(o.frame, o.nr, { kind: "init", voff: o.voffPage * PAGE, asFree: true });
  else
    s.setPatternRange(o.frame, o.nr, {
      kind: "tails",
      voff: o.voffPage * PAGE,
      info: VMEMMAP + 1n + (o.bit1 ? 2n : 0n),
      infoSpan: FOLIO_SPAN,
    });
}

function applyPlain(s: MapFrameStore, o: Op): void {
  if (o.op === "write") s.writeU32(o.frame, o.off, o.value);
  else if (o.op === "copy") s.copyFrame(o.frame, o.src);
  else if (o.op === "freed")
    s.setPatternRange(o.frame, o.nr, { kind: "init", voff: o.voffPage * PAGE, asFree: true });
  else
    for (let i = 0; i < o.nr; i++) {
      const voff = (o.voffPage + i) * PAGE;
      const p: FramePattern = { kind: "tails", voff, info: kernelWord(voff, o.bit1) };
      s.setPatternRange(o.frame + i, 1, p);
    }
}

function bothAgree(ops: readonly Op[]): void {
  const { a, b } = twoStores();
  for (const o of ops) {
    applySpan(a, o);
    applyPlain(b, o);
  }
  // Word reads render one struct page of the stored pattern (not the frame's memo).
  expectSameFrames(a, b, [8, 12, 64 * 37 + 8, PAGE - 64 + 8]);
}

describe("frame store: tails whose compound word follows the frame's place (infoSpan)", () => {
  it("tailsInfoAt() is the head's address | low bits for every struct page of a folio", () => {
    // Folio heads at pfns 0, 512 and 1024: struct pages 1..511 of each point at their head.
    for (const head of [0, 512, 1024])
      for (const i of [1, 63, 64, 511]) {
        const voff = (head + i) * 64;
        const want = VMEMMAP + BigInt(head * 64) + 1n;
        expect(tailsInfoAt({ info: VMEMMAP + 1n, infoSpan: FOLIO_SPAN }, voff)).toBe(want);
      }
    expect(tailsInfoAt({ info: 5n }, 123456)).toBe(5n);
  });

  it("many folios' tails, copied, written and freed, read as the per-frame plain patterns", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 30, maxLength: 200 }), (ops) => bothAgree(ops)),
      { seed: 9127, numRuns: 30 },
    );
  });

  it("folios side by side share one id: the store holds one run, not one class per folio", () => {
    const { a, b } = twoStores();
    // 20 folios' 7 tail pages each (pages 1..7 of every 8), as prep_compound_page() leaves them.
    for (let k = 0; k < 20; k++)
      a.setPatternRange(BASE + k * 8 + 1, 7, {
        kind: "tails",
        voff: (k * 8 + 1) * PAGE,
        info: VMEMMAP + 1n,
        infoSpan: FOLIO_SPAN,
      });
    for (let k = 0; k < 20; k++)
      for (let i = 1; i < 8; i++) {
        const voff = (k * 8 + i) * PAGE;
        b.setPatternRange(BASE + k * 8 + i, 1, {
          kind: "tails",
          voff,
          info: kernelWord(voff, false),
        });
      }
    expectSameFrames(a, b);
  });
});
