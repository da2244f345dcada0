// The run-based frame store (src/mm/frames.ts) against the store it replaced, one Map entry
// per frame (frames_reference.ts): seeded random sequences of every operation, then every frame
// the sequence touched (and its neighbours, and the ends of each range) must read the same bytes,
// the same words, the same pattern and the same own-bytes answer in both, with the same counts.
// Ranges cross the 4096-frame chunks of the new store and fragment them past the point where a
// chunk goes dense.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FramePattern, FrameStore, type TailFields } from "../../src/mm/frames.ts";
import { MapFrameStore } from "./frames_reference.ts";

const PAGE = 4096;
const TAIL: TailFields = {
  flagsOff: 0,
  infoOff: 8,
  mappingOff: 24,
  privateOff: 40,
  refcountOff: 52,
  mapcountOff: 48,
};

/** A memmap_init() stand-in: bytes that depend on the pfn, and on asFree. */
function initStructPage(pfn: number, _out: Uint8Array, v: DataView, off: number, asFree: boolean) {
  v.setUint32(off, (pfn * 2654435761) >>> 0, true);
  v.setUint32(off + 4, asFree ? 7 : 9, true);
  v.setUint32(off + 16, pfn % 2 ** 32, true);
  v.setUint32(off + 48, 0xffffffff, true);
}

/** Frames the operations pick from: three chunks and a bit, two boot ranges. */
const FRAMES = 3 * 4096 + 300;
const INIT_RANGES: [number, number, number][] = [
  [100, 500, 0],
  [5000, 4000, 1 << 22],
];

const frameArb = fc.oneof(
  fc.integer({ min: 0, max: FRAMES - 1 }),
  // near chunk edges and boot-range edges, where runs split
  fc.constantFrom(0, 99, 100, 599, 600, 4095, 4096, 4999, 5000, 8191, 8192, 8999, 9000, 12287),
);

function patternArb(sps: number): fc.Arbitrary<FramePattern> {
  const voff = fc.integer({ min: 0, max: 4000 }).map((x) => x * PAGE);
  const kinds: fc.Arbitrary<FramePattern>[] = [
    fc.record({ kind: fc.constant("init" as const), voff, asFree: fc.boolean() }),
    fc.record({
      kind: fc.constant("tails" as const),
      voff,
      info: fc.constantFrom(0xffffffffffff8001n, 0xffffea0000001041n),
      zeroBase: fc.boolean(),
      flags: fc.option(fc.constantFrom(0x1000n, 0x8000000000000000n), { nil: undefined }),
    }),
  ];
  if (PAGE % sps === 0)
    kinds.push(
      fc.constantFrom(1, 2).map((k) => ({
        kind: "fill" as const,
        slot: Uint8Array.from({ length: sps }, (_, i) => (i * k + 3) & 0xff),
      })),
    );
  return fc.oneof(...kinds);
}

type Op =
  | { op: "setPattern"; frame: number; p: FramePattern }
  | { op: "setPatternRange"; frame: number; nr: number; p: FramePattern }
  | { op: "writeU32"; frame: number; off: number; value: number }
  | { op: "writeU64"; frame: number; off: number; value: bigint }
  | { op: "writeBytes"; frame: number; off: number; bytes: Uint8Array }
  | { op: "zeroFrame"; frame: number }
  | { op: "copyFrame"; frame: number; src: number }
  | { op: "copyRange"; frame: number; src: number; nr: number };

function opArb(sps: number): fc.Arbitrary<Op> {
  const off4 = fc.integer({ min: 0, max: PAGE / 4 - 1 }).map((x) => x * 4);
  const off8 = fc.integer({ min: 0, max: PAGE / 8 - 1 }).map((x) => x * 8);
  return fc.oneof(
    fc.record({ op: fc.constant("setPattern" as const), frame: frameArb, p: patternArb(sps) }),
    fc.record({
      op: fc.constant("setPatternRange" as const),
      frame: frameArb,
      nr: fc.oneof(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 5000 })),
      p: patternArb(sps),
    }),
    fc.record({
      op: fc.constant("writeU32" as const),
      frame: frameArb,
      off: off4,
      value: fc.nat(),
    }),
    fc.record({
      op: fc.constant("writeU64" as const),
      frame: frameArb,
      off: off8,
      value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    }),
    fc.record({
      op: fc.constant("writeBytes" as const),
      frame: frameArb,
      off: fc.integer({ min: 0, max: PAGE - 16 }),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
    fc.record({ op: fc.constant("zeroFrame" as const), frame: frameArb }),
    fc.record({ op: fc.constant("copyFrame" as const), frame: frameArb, src: frameArb }),
    // copy_page() of a run, frame by frame (how restore copies a shared tail)
    fc.record({
      op: fc.constant("copyRange" as const),
      frame: frameArb,
      src: frameArb,
      nr: fc.integer({ min: 1, max: 100 }),
    }),
  );
}

type Store = FrameStore | MapFrameStore;

function apply(s: Store, o: Op): void {
  const end = (nr: number) => Math.min(nr, FRAMES - o.frame);
  if (o.op === "setPattern") s.setPattern(o.frame, o.p);
  else if (o.op === "setPatternRange") s.setPatternRange(o.frame, end(o.nr), o.p);
  else if (o.op === "writeU32") s.writeU32(o.frame, o.off, o.value);
  else if (o.op === "writeU64") s.writeU64(o.frame, o.off, o.value);
  else if (o.op === "writeBytes") s.writeBytes(o.frame, o.off, o.bytes);
  else if (o.op === "zeroFrame") s.zeroFrame(o.frame);
  else if (o.op === "copyFrame") s.copyFrame(o.frame, o.src);
  else for (let i = 0; i < end(o.nr); i++) s.copyFrame(o.frame + i, (o.src + i) % FRAMES);
}

/** The frames an op can have changed or whose run it can have split, and their neighbours. */
function touched(o: Op, out: Set<number>): void {
  const nr = o.op === "setPatternRange" || o.op === "copyRange" ? o.nr : 1;
  const last = Math.min(FRAMES - 1, o.frame + nr - 1);
  for (const f of [o.frame - 1, o.frame, o.frame + 1, last - 1, last, last + 1])
    if (f >= 0 && f < FRAMES) out.add(f);
  if (o.op === "copyFrame" || o.op === "copyRange") out.add(o.src);
}

function compareFrame(a: FrameStore, b: MapFrameStore, f: number): void {
  expect(a.hasOwnBytes(f), `hasOwnBytes(${f})`).toBe(b.hasOwnBytes(f));
  expect(a.patternOf(f), `patternOf(${f})`).toEqual(b.patternOf(f));
  expect(Buffer.from(a.view(f)).equals(Buffer.from(b.view(f))), `bytes of frame ${f}`).toBe(true);
  for (const off of [0, 8, 48, 52, PAGE - 8])
    expect(a.readU64(f, off), `readU64(${f}, ${off})`).toBe(b.readU64(f, off));
}

function stores(sps: number): [FrameStore, MapFrameStore] {
  const a = new FrameStore(PAGE, sps, initStructPage, TAIL);
  const b = new MapFrameStore(PAGE, sps, initStructPage, TAIL);
  for (const [start, nr, voff] of INIT_RANGES) {
    a.addInitRange(start, nr, voff);
    b.addInitRange(start, nr, voff);
  }
  return [a, b];
}

/** Both stores after the same ops: every frame the ops touched and the counts equal. */
function bothAgree(sps: number, ops: readonly Op[]): void {
  const [a, b] = stores(sps);
  const seen = new Set<number>();
  for (const o of ops) {
    apply(a, o);
    apply(b, o);
    touched(o, seen);
  }
  for (const f of seen) compareFrame(a, b, f);
  expect(a.stats()).toEqual(b.stats());
}

describe("frame store: runs of ids read as the per-frame Map store did", () => {
  for (const sps of [64, 56]) {
    it(`struct page of ${sps} bytes: same bytes, words, patterns and counts after random operations`, () => {
      fc.assert(
        fc.property(fc.array(opArb(sps), { minLength: 1, maxLength: 60 }), (ops) =>
          bothAgree(sps, ops),
        ),
        { seed: 1111 + sps, numRuns: 120 },
      );
    });
  }

  it("a pattern over the 4095 tail frames of a 1 GiB folio is one run: a chunk or two, not 4095 entries", () => {
    const [a, b] = stores(64);
    const p: FramePattern = { kind: "tails", voff: 64 * PAGE, info: 0xffffffffffff8001n };
    a.setPatternRange(20_001, 4095, p);
    b.setPatternRange(20_001, 4095, p);
    for (const f of [20_000, 20_001, 22_000, 24_095, 24_096]) compareFrame(a, b, f);
    expect(a.stats()).toEqual({ ownFrames: 0, patternFrames: 4095, initRanges: 2 });
    // One write breaks the run at one frame only: its neighbours still read the pattern.
    a.writeU32(22_000, 8, 0);
    b.writeU32(22_000, 8, 0);
    for (const f of [21_999, 22_000, 22_001]) compareFrame(a, b, f);
    expect(a.stats()).toEqual({ ownFrames: 1, patternFrames: 4094, initRanges: 2 });
  });

  // The pool's churn (2 MiB folios whose vmemmap pages are scattered frames): single frames
  // take a pattern at their own offset, are copied, written and overwritten by the hundred, so
  // that ids are freed and reused by other patterns, a class's stale entries outnumber its live
  // ones (and are swept), and freed page buffers come back for new own bytes.
  it("hundreds of single-frame patterns, copies and writes on few frames: ids, classes and buffers reused", () => {
    const few = fc.integer({ min: 0, max: 40 }).map((x) => 4000 + x * 7);
    const churn: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          op: fc.constant("setPattern" as const),
          frame: few,
          p: patternArb(64),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ op: fc.constant("copyFrame" as const), frame: few, src: few }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          op: fc.constant("writeU32" as const),
          frame: few,
          off: fc.integer({ min: 0, max: 63 }).map((x) => x * 64 + 8),
          value: fc.nat(),
        }),
      },
      { weight: 1, arbitrary: fc.record({ op: fc.constant("zeroFrame" as const), frame: few }) },
    );
    fc.assert(
      fc.property(fc.array(churn, { minLength: 200, maxLength: 600 }), (ops) => bothAgree(64, ops)),
      { seed: 2026, numRuns: 25 },
    );
  });

  it("a chunk broken into hundreds of runs (one id per frame from then on) still reads the same", () => {
    const [a, b] = stores(64);
    const ops: Op[] = [];
    for (let f = 4200; f < 4800; f += 2)
      ops.push({ op: "writeU32", frame: f, off: 4 * (f % 7), value: f });
    const p: FramePattern = { kind: "init", voff: 9 * PAGE, asFree: true };
    ops.push({ op: "setPatternRange", frame: 4300, nr: 77, p });
    ops.push({ op: "copyRange", frame: 4500, src: 4201, nr: 40 });
    ops.push({ op: "zeroFrame", frame: 4777 });
    const seen = new Set<number>();
    for (const o of ops) {
      apply(a, o);
      apply(b, o);
      touched(o, seen);
    }
    for (let f = 4100; f < 4900; f++) compareFrame(a, b, f);
    expect(a.stats()).toEqual(b.stats());
  });
});
