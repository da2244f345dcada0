// The frame store's view for stores to struct pages (frames.ts writableViewAt() asked to skip
// generated frames, which memmap.ts structPageView() takes) answers as the two calls it folds
// together, readsAsInit() and then writableViewAt() without the skip: the same null, the same
// bytes, the same held-back stores made, and the same change counts, whether the frame holds a
// pattern, its own bytes or bytes it shares with a copy. And a change to a frame a page-table
// walk read bumps pgtGen wherever tableWrite()'s memory of the frame's chunk was taken (before
// or after the walk noted it).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FramePattern, FrameStore } from "../../src/mm/frames.ts";
import { initStructPage, PAGE, TAIL } from "./frames_reference.ts";

const SPS = 64;
/** Two chunks of frames and a bit, so that the stores' chunks alternate. */
const FRAMES = 2 * 4096 + 64;
const INIT: [number, number, number] = [0, 600, 0];

type Op =
  | { op: "pattern"; frame: number; p: FramePattern }
  | { op: "write"; frame: number; off: number; value: number }
  | { op: "copy"; frame: number; src: number }
  | { op: "later"; frame: number; n: number }
  | { op: "view"; frame: number; first: number; span: number; skip: boolean };

// Mostly a few frames, so that the operations meet on them.
const frameArb = fc.oneof(
  { weight: 1, arbitrary: fc.integer({ min: 0, max: FRAMES - 1 }) },
  { weight: 4, arbitrary: fc.constantFrom(0, 599, 600, 4095, 4096, 8191, 8192) },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("pattern" as const),
    frame: frameArb,
    p: fc.oneof(
      fc.record({
        kind: fc.constant("init" as const),
        voff: fc.integer({ min: 0, max: 500 }).map((x) => x * PAGE),
        asFree: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant("tails" as const),
        voff: fc.integer({ min: 0, max: 500 }).map((x) => x * PAGE),
        info: fc.constant(0xffffea0000001041n),
      }),
    ) as fc.Arbitrary<FramePattern>,
  }),
  fc.record({
    op: fc.constant("write" as const),
    frame: frameArb,
    off: fc.integer({ min: 0, max: PAGE / 4 - 1 }).map((x) => x * 4),
    value: fc.integer({ min: 0, max: 0xffffffff }),
  }),
  fc.record({ op: fc.constant("copy" as const), frame: frameArb, src: frameArb }),
  // Tails 4..4+n of a head page: the stores compound.ts headTailsWords() holds back.
  fc.record({
    op: fc.constant("later" as const),
    frame: frameArb,
    n: fc.integer({ min: 1, max: 60 }),
  }),
  fc.record({
    op: fc.constant("view" as const),
    frame: frameArb,
    first: fc.integer({ min: 0, max: 63 }),
    span: fc.integer({ min: 0, max: 8 }),
    skip: fc.boolean(),
  }),
);

/** free_tail_page_prepare()'s stores (compound word and mapping cleared), as held back. */
const LATER = Int32Array.of(2, 8, 0, 0, 24, 0, 0);

function store(): FrameStore {
  const s = new FrameStore(PAGE, SPS, initStructPage, TAIL);
  s.addInitRange(...INIT);
  return s;
}

/** The view the two calls give: null where skip and the frame reads as memmap_init() left it. */
function twoCalls(s: FrameStore, frame: number, lo: number, hi: number, skip: boolean) {
  if (skip && s.readsAsInit(frame)) return null;
  return s.writableViewAt(frame, lo, hi);
}

describe("writableViewAt() with the skip is readsAsInit() then writableViewAt()", () => {
  it("the same views, bytes and counts after seeded sequences", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const a = store();
        const b = store();
        const seen = new Set<number>();
        for (const o of ops) {
          seen.add(o.frame);
          if (o.op === "pattern") {
            a.setPattern(o.frame, o.p);
            b.setPattern(o.frame, o.p);
          } else if (o.op === "write") {
            a.writeU32(o.frame, o.off, o.value);
            b.writeU32(o.frame, o.off, o.value);
          } else if (o.op === "copy") {
            a.copyFrame(o.frame, o.src);
            b.copyFrame(o.frame, o.src);
            seen.add(o.src);
          } else if (o.op === "later") {
            a.storeWordsLater(o.frame, 4 * SPS, o.n, SPS, LATER);
            b.storeWordsLater(o.frame, 4 * SPS, o.n, SPS, LATER);
          } else {
            const lo = o.span === 0 ? 0 : o.first * SPS;
            const hi = o.span === 0 ? PAGE : Math.min(PAGE, lo + o.span * SPS);
            const va = a.writableViewAt(o.frame, lo, hi, o.skip);
            const vb = twoCalls(b, o.frame, lo, hi, o.skip);
            expect(va === null).toBe(vb === null);
            if (va !== null && vb !== null) {
              const bytes = (v: DataView | Uint32Array) =>
                Buffer.from(v.buffer, v.byteOffset, v.byteLength);
              expect(bytes(va).equals(bytes(vb))).toBe(true);
              // The words are the view's bytes.
              expect(bytes(a.lastWords).equals(bytes(va))).toBe(true);
              expect(bytes(b.lastWords).equals(bytes(vb))).toBe(true);
              // A store through each lands where the other's does (on a compound word, where
              // held-back stores may wait).
              const at = hi - lo >= 16 ? lo + 8 : lo;
              va.setUint32(at, 0x5a5a5a5a, true);
              vb.setUint32(at, 0x5a5a5a5a, true);
            }
          }
          expect(a.gen).toBe(b.gen);
          expect(a.extGen()).toBe(b.extGen());
        }
        for (const f of seen) {
          expect(a.hasOwnBytes(f), `hasOwnBytes(${f})`).toBe(b.hasOwnBytes(f));
          expect(Buffer.from(a.view(f)).equals(Buffer.from(b.view(f))), `bytes of ${f}`).toBe(true);
        }
      }),
      { seed: 0x51e3, numRuns: 300 },
    );
  });
});

describe("pgtGen counts changes to frames a walk read", () => {
  it("wherever the frame's chunk was asked about first", () => {
    const s = store();
    const table = 4096 + 7;
    // The chunk of `table` asked about before any walk read a frame in it.
    s.writeU32(table, 0, 1);
    s.writeU32(table + 1, 0, 1);
    const g0 = s.pgtGen;
    expect(s.pgtGen).toBe(g0);
    s.noteTable(table);
    // One change to the table, one to a frame beside it, one to a frame of another chunk.
    s.writeU32(table, 0, 2);
    expect(s.pgtGen).toBe(g0 + 1);
    s.writeU32(table + 1, 0, 2);
    expect(s.pgtGen).toBe(g0 + 1);
    s.writeU32(7, 0, 2);
    expect(s.pgtGen).toBe(g0 + 1);
    // Back to the table's chunk, and a range of frames over it.
    s.writeU32(table, 8, 3);
    expect(s.pgtGen).toBe(g0 + 2);
    s.setPatternRange(table - 2, 5, { kind: "init", voff: 0, asFree: true });
    expect(s.pgtGen).toBe(g0 + 3);
    // A walk noting a frame of a chunk asked about last (the memory of the chunk is kept).
    s.writeU32(9000, 0, 1);
    s.noteTable(9000);
    s.writeU32(9000, 4, 1);
    expect(s.pgtGen).toBe(g0 + 4);
  });
});
