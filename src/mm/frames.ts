// Physical memory contents: the bytes of every simulated page frame.
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

import { TAIL_MAPPING } from "../include/mm_types.ts";

/** Writes the struct page memmap_init() gave `pfn` into out[off, off + structPageSize). */
export type InitStructPage = (pfn: number, out: Uint8Array, off: number) => void;

export type FramePattern =
  /** The memmap bytes [voff, voff + PAGE_SIZE) as memmap_init() left them. */
  | { kind: "init"; voff: number }
  /**
   * The same bytes with every struct page made a tail by prep_compound_tail(): mapping =
   * TAIL_MAPPING, compound word = info, private = 0, _refcount = 0. With zeroBase the page was
   * zeroed first and _mapcount is -1 (mainline's init_compound_tail()); `flags`, when given,
   * replaces the flags word (the node and zone bits of a shared tail).
   */
  | { kind: "tails"; voff: number; info: bigint; zeroBase?: boolean; flags?: bigint }
  /** Every struct-page slot holds these bytes (only when sizeof(struct page) divides PAGE_SIZE). */
  | { kind: "fill"; slot: Uint8Array };

interface InitRange {
  frameStart: number;
  frameEnd: number;
  /** memmap byte offset backed by frameStart */
  voff: number;
}

export interface TailFields {
  mappingOff: number;
  infoOff: number;
  privateOff: number;
  refcountOff: number;
  mapcountOff: number;
  flagsOff: number;
}

export class FrameStore {
  readonly pageSize: number;
  readonly structPageSize: number;
  /** struct pages per frame */
  readonly perFrame: number;
  private readonly own = new Map<number, Uint8Array>();
  /** Buffers referenced by more than one frame: cloned before a write. */
  private readonly shared = new WeakSet<Uint8Array>();
  private readonly patterns = new Map<number, FramePattern>();
  /** Boot vmemmap blocks, sorted by frameStart, never overlapping. */
  private readonly initRanges: InitRange[] = [];
  private readonly scratch: Uint8Array;
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
    this.scratch = new Uint8Array(pageSize);
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
  private render(p: FramePattern, out: Uint8Array): void {
    const sps = this.structPageSize;
    if (p.kind === "fill") {
      const n = this.perFrame;
      for (let i = 0; i < n; i++) out.set(p.slot, i * sps);
      out.fill(0, n * sps);
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
    if (p.kind === "init") {
      this.initStructPage(pfn, out, 0);
      return;
    }
    const v = this.slotView;
    const t = this.tail;
    if (!p.zeroBase) this.initStructPage(pfn, out, 0);
    if (p.flags !== undefined) v.setBigUint64(t.flagsOff, p.flags, true);
    v.setBigUint64(t.infoOff, p.info, true);
    v.setBigUint64(t.mappingOff, TAIL_MAPPING, true);
    v.setBigUint64(t.privateOff, 0n, true);
    v.setUint32(t.refcountOff, 0, true);
    if (p.zeroBase) v.setUint32(t.mapcountOff, 0xffffffff, true);
  }

  /** The bytes of a frame, read-only: own bytes or a rendering in a scratch buffer. */
  view(frame: number): Uint8Array {
    const b = this.own.get(frame);
    if (b) return b;
    const p = this.patternOf(frame);
    if (p) this.render(p, this.scratch);
    else this.scratch.fill(0);
    return this.scratch;
  }

  /** A frame's bytes as a new array (for copies that must survive later reads). */
  snapshot(frame: number): Uint8Array {
    return this.view(frame).slice();
  }

  /** Bytes of this frame that may be written in place. */
  private writable(frame: number): Uint8Array {
    let b = this.own.get(frame);
    if (b && !this.shared.has(b)) return b;
    const fresh = new Uint8Array(this.pageSize);
    if (b) fresh.set(b);
    else {
      const p = this.patternOf(frame);
      if (p) this.render(p, fresh);
    }
    b = fresh;
    this.own.set(frame, b);
    this.patterns.delete(frame);
    return b;
  }

  readU32(frame: number, off: number): number {
    const b = this.own.get(frame);
    if (b) return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
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
    dv(this.writable(frame)).setUint32(off, value >>> 0, true);
  }

  writeU64(frame: number, off: number, value: bigint): void {
    dv(this.writable(frame)).setBigUint64(off, BigInt.asUintN(64, value), true);
  }

  writeBytes(frame: number, off: number, bytes: Uint8Array): void {
    this.writable(frame).set(bytes, off);
  }

  /** The frame now reads as `p`; its own bytes, if any, are dropped. */
  setPattern(frame: number, p: FramePattern): void {
    this.own.delete(frame);
    this.patterns.set(frame, p);
  }

  /** clear_page() */
  zeroFrame(frame: number): void {
    this.patterns.delete(frame);
    this.own.set(frame, ZERO_PAGE(this.pageSize, this.shared));
  }

  /** copy_page(dst, src): shares src's bytes or pattern until either is written. */
  copyFrame(dst: number, src: number): void {
    const b = this.own.get(src);
    if (b) {
      this.shared.add(b);
      this.patterns.delete(dst);
      this.own.set(dst, b);
      return;
    }
    const p = this.patternOf(src);
    this.own.delete(dst);
    if (p) this.patterns.set(dst, p);
    else this.own.set(dst, ZERO_PAGE(this.pageSize, this.shared));
  }

  /** Frames with bytes or a pattern of their own: a measure of the model's memory. */
  stats(): { ownFrames: number; patternFrames: number; initRanges: number } {
    return { ownFrames: this.own.size, patternFrames: this.patterns.size, initRanges: this.initRanges.length };
  }
}


let zeroPage: Uint8Array | null = null;
function ZERO_PAGE(size: number, shared: WeakSet<Uint8Array>): Uint8Array {
  if (!zeroPage || zeroPage.length !== size) zeroPage = new Uint8Array(size);
  shared.add(zeroPage);
  return zeroPage;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
