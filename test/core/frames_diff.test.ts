// The run-based frame store (src/mm/frames.ts) against the store it replaced, one Map entry
// per frame (frames_reference.ts): seeded random sequences of every operation, then every frame
// the sequence touched (and its neighbours, and the ends of each range) must read the same bytes,
// the same words, the same pattern and the same own-bytes answer in both, with the same counts.
// Ranges cross the 4096-frame chunks of the new store and fragment them past the point where a
// chunk goes dense.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FramePattern, FrameStore } from "../../src/mm/frames.ts";
import { initStructPage, MapFrameStore, PAGE, TAIL } from "./frames_reference.ts";

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

// A restore's page list is taken off the buddy allocator's free list head, so the vmemmap pages
// of a folio (ascending memmap offsets) are backed by frames handed out top-down: then the
// frames are given a pattern one at a time, each at the memmap offset one page past the frame
// above it. Such a falling run reads as the same per-frame patterns, and holds one state, not
// one per frame.
describe("frame store: patterns given top-down, frame by frame", () => {
  /** setPattern() of frames top, top - 1, ..., top - nr + 1 at voff, voff + PAGE, ... */
  function falling(s: Store, top: number, nr: number, p: FramePattern): void {
    for (let i = 0; i < nr && top - i >= 0; i++)
      s.setPattern(top - i, p.kind === "fill" ? p : { ...p, voff: p.voff + i * PAGE });
  }

  it("4095 frames of a 1 GiB folio's memmap read as given and hold 2 states of their own, not 4095", () => {
    const [a, b] = stores(64);
    const p: FramePattern = { kind: "init", voff: 64 * PAGE, asFree: true };
    falling(a, 12_200, 4095, p);
    falling(b, 12_200, 4095, p);
    for (const f of [8_104, 8_105, 8_106, 10_000, 12_199, 12_200, 12_201]) compareFrame(a, b, f);
    expect(a.stats()).toEqual(b.stats());
    // The zero page's state, the top frame's (given alone, taken as rising) and the rest's.
    expect(a.liveIds()).toBe(3);
    // A write in the middle makes that frame's bytes its own; its neighbours keep the pattern.
    a.writeU32(10_000, 8, 5);
    b.writeU32(10_000, 8, 5);
    for (const f of [9_999, 10_000, 10_001]) compareFrame(a, b, f);
    expect(a.liveIds()).toBe(4);
  });

  it("falling runs mixed with every other operation read as the per-frame Map store", () => {
    const fallOp = fc.record({
      top: frameArb,
      nr: fc.integer({ min: 1, max: 300 }),
      p: patternArb(64),
    });
    const step = fc.oneof(
      { weight: 2, arbitrary: fallOp.map((x) => ({ fall: x })) },
      { weight: 3, arbitrary: opArb(64).map((o) => ({ op: o })) },
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const [a, b] = stores(64);
        const seen = new Set<number>();
        for (const s of steps) {
          if ("op" in s) {
            apply(a, s.op);
            apply(b, s.op);
            touched(s.op, seen);
            continue;
          }
          const { top, nr, p } = s.fall;
          falling(a, top, nr, p);
          falling(b, top, nr, p);
          for (const f of [top + 1, top, top - 1, top - nr + 2, top - nr + 1, top - nr])
            if (f >= 0 && f < FRAMES) seen.add(f);
          for (let f = top; f > top - nr && f >= 0; f -= 37) seen.add(f);
        }
        for (const f of seen) compareFrame(a, b, f);
        expect(a.stats()).toEqual(b.stats());
      }),
      { seed: 4242, numRuns: 80 },
    );
  });
});

// Page tables as runs of 64-bit words (FrameStore.setWordRun(), pgtable.ts setPteRun()): the
// words of a zeroed frame given as base + i * delta, then rewritten word by word, read as the
// reference's plain 64-bit stores (in bigints) whatever the mix of stores, copies and clears.
describe("frame store: 64-bit words held as runs read as plain stores", () => {
  const WORDS = PAGE / 8;
  const tables = fc.constantFrom(20, 21, 22, 4100);
  /** x86_64-like PTEs: pfn << 12 | flags, NX in the high half; and plain numbers. */
  const word = fc.oneof(
    fc
      .record({ pfn: fc.integer({ min: 0, max: 2 ** 40 - 1 }), rw: fc.boolean() })
      .map(
        ({ pfn, rw }) => (BigInt(pfn) << 12n) | (rw ? 0x8000000000000163n : 0x8000000000000161n),
      ),
    fc.constantFrom(0n, 1n, 0xffffffffffffffffn, 0xfffffffffffff000n, 0x00000000fffff000n),
  );
  const delta = fc.constantFrom(0n, 4096n, 2n ** 64n - 4096n, 1n, 2n ** 32n, 0xfffffffffn);
  const halves = (v: bigint): [number, number] => [Number(v & 0xffffffffn), Number(v >> 32n)];
  type Step =
    | { t: "run"; frame: number; w: number; n: number; base: bigint; d: bigint }
    | { t: "word"; frame: number; w: number; v: bigint }
    /** the next word of a progression: base + k * d at w + k (how remap and restore write) */
    | { t: "walk"; frame: number; w: number; n: number; base: bigint; d: bigint }
    | { t: "op"; o: Op };
  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .record({
          frame: tables,
          w: fc.integer({ min: 0, max: WORDS - 1 }),
          n: fc.integer({ min: 1, max: WORDS }),
          base: word,
          d: delta,
        })
        .map((x) => ({ t: "run" as const, ...x, n: Math.min(x.n, WORDS - x.w) })),
    },
    {
      weight: 3,
      arbitrary: fc
        .record({ frame: tables, w: fc.integer({ min: 0, max: WORDS - 1 }), v: word })
        .map((x) => ({ t: "word" as const, ...x })),
    },
    {
      weight: 3,
      arbitrary: fc
        .record({
          frame: tables,
          w: fc.integer({ min: 0, max: WORDS - 1 }),
          n: fc.integer({ min: 1, max: 200 }),
          base: word,
          d: delta,
        })
        .map((x) => ({ t: "walk" as const, ...x, n: Math.min(x.n, WORDS - x.w) })),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.record({ op: fc.constant("zeroFrame" as const), frame: tables }),
          fc.record({ op: fc.constant("copyFrame" as const), frame: tables, src: tables }),
          fc.record({
            op: fc.constant("writeU32" as const),
            frame: tables,
            off: fc.integer({ min: 0, max: PAGE / 4 - 1 }).map((x) => x * 4),
            value: fc.nat(),
          }),
          fc.record({
            op: fc.constant("writeBytes" as const),
            frame: tables,
            off: fc.integer({ min: 0, max: PAGE - 16 }),
            bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
          }),
        )
        .map((o) => ({ t: "op" as const, o: o as Op })),
    },
  );
  function applyStep(s: Store, x: Step): void {
    if (x.t === "op") apply(s, x.o);
    else if (x.t === "run") {
      const [lo, hi] = halves(x.base);
      const [dlo, dhi] = halves(x.d);
      s.setWordRun(x.frame, x.w, x.n, lo, hi, dlo, dhi);
    } else if (x.t === "word") s.writeU64(x.frame, x.w * 8, x.v);
    else
      for (let k = 0; k < x.n; k++)
        s.writeU64(x.frame, (x.w + k) * 8, BigInt.asUintN(64, x.base + BigInt(k) * x.d));
  }

  it("seeded sequences: same bytes, words and counts", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const [a, b] = stores(64);
        for (const x of steps) {
          applyStep(a, x);
          applyStep(b, x);
        }
        for (const f of [19, 20, 21, 22, 23, 4100]) {
          compareFrame(a, b, f);
          for (const off of [4, 12, 2, PAGE - 4])
            expect(a.readU32(f, off), `readU32(${f}, ${off})`).toBe(b.readU32(f, off));
        }
        expect(a.stats()).toEqual(b.stats());
      }),
      { seed: 7171, numRuns: 150 },
    );
  });

  it("a table broken into more runs than it is worth goes back to bytes, reading the same", () => {
    const [a, b] = stores(64);
    for (const s of [a, b]) s.setWordRun(21, 0, WORDS, 0x1000, 0, 0x1000, 0);
    // Every third word something else: past 64 runs.
    for (let w = 0; w < WORDS; w += 3)
      for (const s of [a, b]) s.writeU64(21, w * 8, BigInt(w) * 0x10001n);
    expect(a.heldAsRuns(21)).toBe(false);
    expect(a.hasOwnBytes(21)).toBe(true);
    compareFrame(a, b, 21);
    expect(a.stats()).toEqual(b.stats());
  });

  it("a split PMD's table, remapped as HVO does and restored top-down, stays runs", () => {
    const [a, b] = stores(64);
    const pte = (pfn: number, rw: boolean) =>
      (BigInt(pfn) << 12n) | (rw ? 0x8000000000000163n : 0x8000000000000161n);
    const both = (f: (s: Store) => void) => {
      f(a);
      f(b);
    };
    both((s) => s.zeroFrame(20));
    // vmemmap_split_pmd(): 512 entries mapping frames 9000.. writable, one run.
    const [lo, hi] = halves(pte(9000, true));
    both((s) => s.setWordRun(20, 0, WORDS, lo, hi, 4096, 0));
    // vmemmap_remap_pte(): entry 0 the head page, the rest the shared tail read-only.
    both((s) => s.writeU64(20, 0, pte(7000, true)));
    for (let i = 1; i < WORDS; i++) both((s) => s.writeU64(20, i * 8, pte(7001, false)));
    expect(a.heldAsRuns(20)).toBe(true);
    compareFrame(a, b, 20);
    // vmemmap_restore_pte(): pages of a list taken from the top, mapped writable.
    for (let i = 1; i < WORDS; i++) both((s) => s.writeU64(20, i * 8, pte(50_000 - i, true)));
    expect(a.heldAsRuns(20)).toBe(true);
    compareFrame(a, b, 20);
    expect(a.stats()).toEqual(b.stats());
    // A frame that has bytes of its own is read as bytes that stay put until it is written:
    // its view() survives other frames' views (the checker's mirror keeps them).
    expect(a.hasOwnBytes(20)).toBe(true);
    const kept = a.view(20);
    a.setPattern(23, { kind: "init", voff: 3 * PAGE, asFree: true });
    a.view(23);
    a.view(5000);
    expect(Buffer.from(kept).equals(Buffer.from(b.view(20)))).toBe(true);
  });
});

// The memmap of memory freed page by page (hugetlb_vmemmap.ts settleFreedMemmap()): every
// struct page that is no free head has LIST_POISON1/2 in lru. A frame whose bytes read so takes
// the pattern (settleAsFree()); one that differs anywhere keeps its bytes.
describe("frame store: freed memmap settled as a pattern", () => {
  /** Like initStructPage above, with a free head (page_type set) at every third pfn as free. */
  function initWithHeads(pfn: number, out: Uint8Array, v: DataView, off: number, asFree: boolean) {
    initStructPage(pfn, out, v, off, asFree);
    if (asFree && pfn % 3 === 0) v.setUint32(off + 48, 0xf0000080, true);
  }
  function headStores(): [FrameStore, MapFrameStore] {
    return [
      new FrameStore(PAGE, 64, initWithHeads, TAIL),
      new MapFrameStore(PAGE, 64, initWithHeads, TAIL),
    ];
  }
  const POISON1 = 0xdead000000000100n;
  const POISON2 = 0xdead000000000122n;

  it("settles exactly when every non-head slot is poisoned, and reads the same after more stores", () => {
    const step = fc.record({
      frame: fc.integer({ min: 30, max: 37 }),
      voff: fc.integer({ min: 0, max: 50 }).map((x) => x * PAGE),
      /** slots whose lru list_del() poisoned; heads' included (a head keeps its links) */
      poisoned: fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { maxLength: 64 }),
      all: fc.boolean(),
      /** a later store into the settled frame */
      after: fc.option(
        fc.record({
          off: fc.integer({ min: 0, max: PAGE / 4 - 1 }).map((x) => x * 4),
          value: fc.nat(),
        }),
        { nil: undefined },
      ),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
        const [a, b] = headStores();
        for (const x of steps) {
          const slots = x.all ? Array.from({ length: 64 }, (_, i) => i) : x.poisoned;
          for (const s of [a, b]) {
            s.setPattern(x.frame, { kind: "init", voff: x.voff, asFree: true });
            for (const i of slots) {
              // what list_del() leaves: stores to a page that is no free head
              if ((x.voff / 64 + i) % 3 === 0) continue;
              s.writeU64(x.frame, i * 64 + 8, POISON1);
              s.writeU64(x.frame, i * 64 + 16, POISON2);
            }
          }
          const settled = a.settleAsFree(x.frame, x.voff);
          expect(settled, `settleAsFree(${x.frame})`).toBe(b.settleAsFree(x.frame, x.voff));
          // Every non-head slot poisoned: exactly then.
          const nonHeads = Array.from({ length: 64 }, (_, i) => i).filter(
            (i) => (x.voff / 64 + i) % 3 !== 0,
          );
          // (a frame nothing was stored into reads the pattern it was given: nothing to settle)
          const written = nonHeads.some((i) => slots.includes(i));
          expect(settled).toBe(written && nonHeads.every((i) => slots.includes(i)));
          expect(a.hasOwnBytes(x.frame)).toBe(written && !settled);
          if (x.after !== undefined)
            for (const s of [a, b]) s.writeU32(x.frame, x.after.off, x.after.value);
          compareFrame(a, b, x.frame);
        }
        for (let f = 29; f <= 38; f++) compareFrame(a, b, f);
        expect(a.stats()).toEqual(b.stats());
      }),
      { seed: 5151, numRuns: 100 },
    );
  });
});
