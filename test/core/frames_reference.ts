// The frame store as it was before runs (one Map entry per frame): the reference the run-based
// src/mm/frames.ts is checked against (frames_diff.test.ts). Physical memory contents.
//
// Only frames the kernel model writes get bytes of their own. Everything else is described,
// so that a 16 TiB machine fits in a few hundred MiB:
//   - a boot-populated vmemmap frame that nobody wrote reads as the struct pages memmap_init()
//     left in it (pattern "init", generated on demand from the machine layout);
//   - a frame filled with the tails of a compound page reads as those tails ("tails"): that is
//     how prep_compound_page() of a 1 GiB folio writes 4095 frames without 16 MiB of bytes;
//   - a frame whose struct-page slots are all one value ("fill"), like mainline's restore;
//   - copy_page() shares the source's bytes copy-on-write.
// A frame keeps its contents when it is freed: the next user sees stale bytes, as on hardware.
//
// Invariant: a frame has at most one of {own bytes, pattern}; neither means zero-filled
// (frames outside boot vmemmap ranges) or "init" (inside them).

import fc from "fast-check";
import { expect } from "vitest";
import { TAIL_MAPPING } from "../../src/include/mm_types.ts";

import {
  type FramePattern,
  FrameStore,
  type InitStructPage,
  type TailFields,
} from "../../src/mm/frames.ts";

/** 4 KiB frames, and where the tail fields sit in the 64-byte struct pages of the tests below. */
export const PAGE = 4096;
export const TAIL: TailFields = {
  flagsOff: 0,
  infoOff: 8,
  mappingOff: 24,
  privateOff: 40,
  refcountOff: 52,
  mapcountOff: 48,
};

/** The frame-store tests' boot range: frames BASE..BASE + SPAN (one chunk), memmap from voff 0. */
export const BASE = 4096;
export const SPAN = 600;

/** A frame of the range that leaves room for a run of `room` frames after it. */
export function rangeFrameArb(room: number): fc.Arbitrary<number> {
  return fc.integer({ min: 0, max: SPAN - room }).map((x) => BASE + x);
}

/** The run-based store (a) and this reference (b), each with the boot range. */
export function twoStores(): { a: FrameStore; b: MapFrameStore } {
  const a = new FrameStore(PAGE, 64, initStructPage, TAIL);
  const b = new MapFrameStore(PAGE, 64, initStructPage, TAIL);
  a.addInitRange(BASE, SPAN, 0);
  b.addInitRange(BASE, SPAN, 0);
  return { a, b };
}

/**
 * Every frame of the range, and one on either side, reads alike in both stores: its pattern,
 * its bytes and the 32-bit words at wordOffs (a word read renders one struct page, not the
 * frame); and the counts agree.
 */
export function expectSameFrames(
  a: FrameStore,
  b: MapFrameStore,
  wordOffs: readonly number[] = [],
): void {
  for (let f = BASE - 1; f <= BASE + SPAN; f++) {
    expect(a.patternOf(f), `patternOf(${f})`).toEqual(b.patternOf(f));
    expect(Buffer.from(a.view(f)).equals(Buffer.from(b.view(f))), `bytes of frame ${f}`).toBe(true);
    for (const off of wordOffs)
      expect(a.readU32(f, off), `readU32(${f}, ${off})`).toBe(b.readU32(f, off));
  }
  expect(a.stats()).toEqual(b.stats());
}

/** A 32-bit store to the compound word (+8) of one of a frame's 64 struct pages. */
export type StoreOp = { op: "write"; frame: number; off: number; value: number };
/** nr frames from `frame` go back to memory freed to the buddy, backing memmap from voffPage on. */
export type FreedOp = { op: "freed"; frame: number; nr: number; voffPage: number };

export function storeOpArb(frame: fc.Arbitrary<number>): fc.Arbitrary<StoreOp> {
  return fc.record({
    op: fc.constant("write" as const),
    frame,
    off: fc.integer({ min: 0, max: 63 }).map((x) => x * 64 + 8),
    value: fc.nat(),
  });
}

/** FreedOp over 1..7 frames, from memmap pages 0..700 (runs inside and across 2 MiB folios). */
export function freedOpArb(frame: fc.Arbitrary<number>): fc.Arbitrary<FreedOp> {
  return fc.record({
    op: fc.constant("freed" as const),
    frame,
    nr: fc.integer({ min: 1, max: 7 }),
    voffPage: fc.integer({ min: 0, max: 700 }),
  });
}

/** A memmap_init() stand-in for the frame store tests: bytes that depend on the pfn, and on asFree. */
export function initStructPage(
  pfn: number,
  _out: Uint8Array,
  v: DataView,
  off: number,
  asFree: boolean,
): void {
  v.setUint32(off, (pfn * 2654435761) >>> 0, true);
  v.setUint32(off + 4, asFree ? 7 : 9, true);
  v.setUint32(off + 16, pfn % 2 ** 32, true);
  v.setUint32(off + 48, 0xffffffff, true);
}

/** Bytes a frame owns. Several frames share one after copy_page(); a write clones it first. */
interface OwnBytes {
  bytes: Uint8Array;
  view: DataView;
  refs: number;
}

function ownBytes(bytes: Uint8Array): OwnBytes {
  return { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), refs: 1 };
}

interface InitRange {
  frameStart: number;
  frameEnd: number;
  /** memmap byte offset backed by frameStart */
  voff: number;
}

export class MapFrameStore {
  readonly pageSize: number;
  readonly structPageSize: number;
  /** struct pages per frame */
  readonly perFrame: number;
  private readonly own = new Map<number, OwnBytes>();
  /** The zero page: shared by every zeroed frame, never written in place. */
  private readonly zero: OwnBytes;
  private readonly patterns = new Map<number, FramePattern>();
  /** Boot vmemmap blocks, sorted by frameStart, never overlapping. */
  private readonly initRanges: InitRange[] = [];
  private readonly scratch: Uint8Array;
  private readonly scratchView: DataView;
  private readonly slotBuf: Uint8Array;
  private readonly slotView: DataView;

  constructor(
    pageSize: number,
    structPageSize: number,
    private readonly initStructPage: InitStructPage,
    private readonly tail: TailFields,
  ) {
    this.pageSize = pageSize;
    this.structPageSize = structPageSize;
    this.perFrame = Math.floor(pageSize / structPageSize);
    this.zero = ownBytes(new Uint8Array(pageSize));
    this.zero.refs = Number.POSITIVE_INFINITY;
    this.scratch = new Uint8Array(pageSize);
    this.scratchView = new DataView(this.scratch.buffer);
    this.slotBuf = new Uint8Array(structPageSize);
    this.slotView = new DataView(this.slotBuf.buffer);
  }

  /** Boot: frames [frameStart, frameStart + nr) back the memmap from byte offset voff on. */
  addInitRange(frameStart: number, nrFrames: number, voff: number): void {
    const r = { frameStart, frameEnd: frameStart + nrFrames, voff };
    let i = this.initRanges.length;
    while (i > 0 && this.initRanges[i - 1].frameStart > frameStart) i--;
    this.initRanges.splice(i, 0, r);
  }

  private findInit(frame: number): InitRange | null {
    const a = this.initRanges;
    let lo = 0;
    let hi = a.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = a[mid];
      if (frame < r.frameStart) hi = mid - 1;
      else if (frame >= r.frameEnd) lo = mid + 1;
      else return r;
    }
    return null;
  }

  /** The pattern a frame reads as, or null for own bytes or zeros. */
  patternOf(frame: number): FramePattern | null {
    if (this.own.has(frame)) return null;
    const p = this.patterns.get(frame);
    if (p) return p;
    const r = this.findInit(frame);
    if (r) return { kind: "init", voff: r.voff + (frame - r.frameStart) * this.pageSize };
    return null;
  }

  hasOwnBytes(frame: number): boolean {
    return this.own.has(frame);
  }

  /** Renders a pattern into out (pageSize bytes). */
  private render(p: FramePattern, out: Uint8Array, outView: DataView): void {
    const sps = this.structPageSize;
    if (p.kind === "fill") {
      const n = this.perFrame;
      for (let i = 0; i < n; i++) out.set(p.slot, i * sps);
      out.fill(0, n * sps);
      return;
    }
    out.fill(0);
    if (this.pageSize % sps === 0) {
      // The common case: whole struct pages, straight into the output.
      const first = p.voff / sps;
      const t = this.tail;
      for (let i = 0; i < this.perFrame; i++) {
        const off = i * sps;
        if (p.kind === "init") {
          this.initStructPage(first + i, out, outView, off, p.asFree === true);
          if (p.unlisted === true) this.unlist(outView, off);
        } else if (!p.zeroBase) this.initStructPage(first + i, out, outView, off, true);
        if (p.kind === "init") continue;
        if (p.flags !== undefined) outView.setBigUint64(off + t.flagsOff, p.flags, true);
        outView.setBigUint64(off + t.infoOff, p.info, true);
        outView.setBigUint64(off + t.mappingOff, TAIL_MAPPING, true);
        outView.setBigUint64(off + t.privateOff, 0n, true);
        outView.setUint32(off + t.refcountOff, 0, true);
        if (p.zeroBase) outView.setUint32(off + t.mapcountOff, 0xffffffff, true);
      }
      return;
    }
    // Struct pages may straddle frames when sps does not divide the page size.
    const first = Math.floor(p.voff / sps);
    const last = Math.floor((p.voff + this.pageSize - 1) / sps);
    for (let pfn = first; pfn <= last; pfn++) {
      this.renderStructPage(p, pfn, this.slotBuf);
      const spStart = pfn * sps - p.voff; // may be negative for the first
      const from = Math.max(0, -spStart);
      const to = Math.min(sps, this.pageSize - spStart);
      out.set(this.slotBuf.subarray(from, to), spStart + from);
    }
  }

  /** The struct page of pfn as a pattern describes it, into out[0, sps). */
  private renderStructPage(p: FramePattern, pfn: number, out: Uint8Array): void {
    const sps = this.structPageSize;
    out.fill(0, 0, sps);
    if (p.kind === "fill") {
      out.set(p.slot, 0);
      return;
    }
    const v = this.slotView;
    if (p.kind === "init") {
      this.initStructPage(pfn, out, v, 0, p.asFree === true);
      if (p.unlisted === true) this.unlist(v, 0);
      return;
    }
    const t = this.tail;
    if (!p.zeroBase) this.initStructPage(pfn, out, v, 0, true);
    if (p.flags !== undefined) v.setBigUint64(t.flagsOff, p.flags, true);
    v.setBigUint64(t.infoOff, p.info, true);
    v.setBigUint64(t.mappingOff, TAIL_MAPPING, true);
    v.setBigUint64(t.privateOff, 0n, true);
    v.setUint32(t.refcountOff, 0, true);
    if (p.zeroBase) v.setUint32(t.mapcountOff, 0xffffffff, true);
  }

  /** The bytes of a frame, read-only: own bytes or a rendering in a scratch buffer. */
  view(frame: number): Uint8Array {
    const o = this.own.get(frame);
    if (o) return o.bytes;
    const p = this.patternOf(frame);
    if (p) this.render(p, this.scratch, this.scratchView);
    else this.scratch.fill(0);
    return this.scratch;
  }

  /** A frame's bytes as a new array (for copies that must survive later reads). */
  snapshot(frame: number): Uint8Array {
    return this.view(frame).slice();
  }

  /** Bytes of this frame that may be written in place. */
  private writable(frame: number): OwnBytes {
    const o = this.own.get(frame);
    if (o && o.refs === 1) return o;
    const fresh = ownBytes(new Uint8Array(this.pageSize));
    if (o) {
      fresh.bytes.set(o.bytes);
      o.refs--;
    } else {
      const p = this.patternOf(frame);
      if (p) this.render(p, fresh.bytes, fresh.view);
      this.patterns.delete(frame);
    }
    this.own.set(frame, fresh);
    return fresh;
  }

  /** The frame stops owning bytes (they stay with the other frames that share them). */
  private release(frame: number): void {
    const o = this.own.get(frame);
    if (!o) return;
    o.refs--;
    this.own.delete(frame);
  }

  readU32(frame: number, off: number): number {
    const o = this.own.get(frame);
    if (o) return o.view.getUint32(off, true);
    const p = this.patternOf(frame);
    if (!p) return 0;
    // Render only the one struct page that holds the word (aligned words never straddle one).
    const sps = this.structPageSize;
    if (p.kind === "fill") return this.fillU32(p, off);
    const byte = p.voff + off;
    const pfn = Math.floor(byte / sps);
    this.renderStructPage(p, pfn, this.slotBuf);
    return this.slotView.getUint32(byte - pfn * sps, true);
  }

  readU64(frame: number, off: number): bigint {
    const lo = this.readU32(frame, off);
    const hi = this.readU32(frame, off + 4);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  private fillU32(p: { slot: Uint8Array }, off: number): number {
    const sps = this.structPageSize;
    const i = off % sps;
    if (off >= this.perFrame * sps) return 0;
    const b = p.slot;
    return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
  }

  writeU32(frame: number, off: number, value: number): void {
    this.writable(frame).view.setUint32(off, value >>> 0, true);
  }

  writeU64(frame: number, off: number, value: bigint): void {
    this.writable(frame).view.setBigUint64(off, BigInt.asUintN(64, value), true);
  }

  writeBytes(frame: number, off: number, bytes: Uint8Array): void {
    this.writable(frame).bytes.set(bytes, off);
  }

  /** A struct page whose _mapcount is -1 (no page_type: no free head) gets LIST_POISON1/2. */
  private unlist(v: DataView, off: number): void {
    if (v.getInt32(off + this.tail.mapcountOff, true) !== -1) return;
    v.setBigUint64(off + 8, 0xdead000000000100n, true);
    v.setBigUint64(off + 16, 0xdead000000000122n, true);
  }

  /** The frame takes the free-memory pattern at voff when its own bytes read the same. */
  settleAsFree(frame: number, voff: number): boolean {
    if (!this.own.has(frame)) return false;
    const p: FramePattern = { kind: "init", voff, asFree: true, unlisted: true };
    const want = new Uint8Array(this.pageSize);
    this.render(p, want, new DataView(want.buffer));
    if (!Buffer.from(want).equals(Buffer.from(this.view(frame)))) return false;
    this.setPattern(frame, p);
    return true;
  }

  /** Words [word, word + n) = base + i * delta (mod 2^64): n 64-bit stores, in bigints. */
  setWordRun(
    frame: number,
    word: number,
    n: number,
    lo: number,
    hi: number,
    dlo: number,
    dhi: number,
  ): void {
    const base = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    const delta = (BigInt(dhi >>> 0) << 32n) | BigInt(dlo >>> 0);
    for (let i = 0; i < n; i++) this.writeU64(frame, (word + i) * 8, base + BigInt(i) * delta);
  }

  /** setPattern() on each frame of the range, voff advancing by a page (frames.ts's bulk form). */
  setPatternRange(frame: number, nr: number, p: FramePattern): void {
    for (let i = 0; i < nr; i++)
      this.setPattern(
        frame + i,
        p.kind === "fill" ? p : { ...p, voff: p.voff + i * this.pageSize },
      );
  }

  /** The frame now reads as `p`; its own bytes, if any, are dropped. */
  setPattern(frame: number, p: FramePattern): void {
    this.release(frame);
    this.patterns.set(frame, p);
  }

  /** clear_page() */
  zeroFrame(frame: number): void {
    this.release(frame);
    this.patterns.delete(frame);
    this.own.set(frame, this.zero);
  }

  /** copy_page(dst, src): shares src's bytes or pattern until either is written. */
  copyFrame(dst: number, src: number): void {
    if (dst === src) return;
    const o = this.own.get(src);
    this.release(dst);
    this.patterns.delete(dst);
    if (o) {
      o.refs++;
      this.own.set(dst, o);
      return;
    }
    const p = this.patternOf(src);
    if (p) this.patterns.set(dst, p);
    else this.own.set(dst, this.zero);
  }

  /** Frames with bytes or a pattern of their own: a measure of the model's memory. */
  stats(): { ownFrames: number; patternFrames: number; initRanges: number } {
    return {
      ownFrames: this.own.size,
      patternFrames: this.patterns.size,
      initRanges: this.initRanges.length,
    };
  }
}
