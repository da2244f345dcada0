// The checker's own view of the vmemmap page tables (init_mm's tables under vmemmap_base), kept
// up to date incrementally: the checker's watch on the frame store says which table frames were
// written since the last refresh (written()), and only their entries that changed are decoded
// again; tables that came are walked whole, tables no entry points at any more are dropped.
// Anything that is not a plain tree, and the full audit (whole()), walk from the root. It gives, without touching the model's TLB, the translation of every vmemmap
// page and the reverse map "frame -> how many vmemmap pages map it", which the frame-state and
// leak invariants need. No kernel file mirrored; the walk is include/linux/pgtable.h's.

import type { Kernel } from "../kernel.ts";
import type { DecodedPte } from "../machine/spec.ts";

export interface Mapping {
  frame: number;
  writable: boolean;
}

interface TableState {
  /** The table's frame. */
  pfn: number;
  level: number;
  /** First vmemmap page index (vpn) this table covers. */
  vpnBase: number;
  /** The table's bytes as last decoded, as 32-bit words. */
  snap: Uint32Array;
  /** Child table per entry index (table pointers only). */
  children: Map<number, number>;
  /**
   * The same words as runs (FrameStore.wordRunsIn(): six numbers per run) when the table was
   * held as runs when last decoded, else null: a refresh then compares runs, not 4 KiB.
   */
  runs: Float64Array | null;
}

/**
 * One vmemmap page's translation changed between two refreshes: before and after (null: not
 * mapped), held as numbers (a refresh after a pool operation logs thousands; one object each).
 */
export class VpnChange {
  constructor(
    readonly vpn: number,
    /** The frame mapped before, -1 for none. */
    readonly beforeFrame: number,
    readonly beforeWritable: boolean,
    /** The frame mapped after, -1 for none. */
    readonly afterFrame: number,
    readonly afterWritable: boolean,
  ) {}

  get before(): Mapping | null {
    return this.beforeFrame < 0 ? null : { frame: this.beforeFrame, writable: this.beforeWritable };
  }

  get after(): Mapping | null {
    return this.afterFrame < 0 ? null : { frame: this.afterFrame, writable: this.afterWritable };
  }
}

/** Changes the log keeps for its reader (more: it says so and the reader looks at everything). */
const MAX_LOG = 1 << 20;

/** Huge leaves are at least this many vmemmap pages (a PMD of 4 KiB pages maps 512). */
const HUGE_BLOCK = 512;

const TWO32 = 2 ** 32;

/** One span of PTE-level leaves: frame, owning table, and 0 (none) / 1 (read-only) / 2 (writable). */
interface LeafBlock {
  frame: Float64Array;
  owner: Float64Array;
  state: Uint8Array;
}

/**
 * vpn -> PTE-level leaf (frame, writable, the table that made it), as a Map would keep them, in
 * typed arrays of one page table's span: one map lookup per span (and none for the span looked
 * at last), not one per vmemmap page, and no object per leaf.
 */
class LeafArrays {
  private readonly blocks = new Map<number, LeafBlock>();
  private lastKey = Number.NaN;
  private last: LeafBlock | undefined = undefined;
  /** The index in its block of the vpn the last at() looked up. */
  i = 0;
  constructor(private readonly span: number) {}

  /** The block holding vpn's leaf if it has one (its index in `i`), else undefined. */
  at(vpn: number): LeafBlock | undefined {
    const key = Math.floor(vpn / this.span);
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.last = this.blocks.get(key);
    }
    this.i = vpn - key * this.span;
    const b = this.last;
    return b !== undefined && b.state[this.i] !== 0 ? b : undefined;
  }

  /**
   * How many vpns from `vpn` on, at most `max`, have leaves that map `frame` with writability
   * `writable`, one after the other (0 when vpn's leaf is not such a one, or it has none).
   */
  sameFrameRun(vpn: number, frame: number, writable: boolean, max: number): number {
    const want = writable ? 2 : 1;
    let n = 0;
    let v = vpn;
    while (n < max) {
      const key = Math.floor(v / this.span);
      const b = this.blocks.get(key);
      if (b === undefined) break;
      const i0 = v - key * this.span;
      const lim = Math.min(this.span, i0 + (max - n));
      let i = i0;
      while (i < lim && b.state[i] === want && b.frame[i] === frame) i++;
      n += i - i0;
      if (i < lim || i < this.span) break;
      v += i - i0;
    }
    return n;
  }

  set(vpn: number, frame: number, writable: boolean, owner: number): void {
    const key = Math.floor(vpn / this.span);
    let b = key === this.lastKey ? this.last : this.blocks.get(key);
    if (b === undefined) {
      b = {
        frame: new Float64Array(this.span),
        owner: new Float64Array(this.span),
        state: new Uint8Array(this.span),
      };
      this.blocks.set(key, b);
    }
    this.lastKey = key;
    this.last = b;
    const i = vpn - key * this.span;
    b.frame[i] = frame;
    b.owner[i] = owner;
    b.state[i] = writable ? 2 : 1;
  }
}

/** Frames per block of FrameCounts (the frames a PMD of 4 KiB pages maps). */
const COUNT_BLOCK = 512;

/**
 * frame -> how many PTE leaves map it, as a Map<number, number> would answer, kept as one
 * typed array of counts per block of COUNT_BLOCK frames (a block goes when its last frame
 * does): no map entry and no object per frame, and the frames of a range are read block by
 * block. Iterates [frame, count] pairs, block by block in no particular block order.
 */
export class FrameCounts implements Iterable<[number, number]> {
  /** Per block, the counts of its COUNT_BLOCK frames, then how many of them are not 0. */
  private readonly blocks = new Map<number, Uint32Array>();
  private lastKey = Number.NaN;
  private last: Uint32Array | undefined = undefined;
  /** Distinct frames counted. */
  size = 0;

  private block(key: number): Uint32Array | undefined {
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.last = this.blocks.get(key);
    }
    return this.last;
  }

  get(frame: number): number | undefined {
    const key = Math.floor(frame / COUNT_BLOCK);
    const n = this.block(key)?.[frame - key * COUNT_BLOCK] ?? 0;
    return n === 0 ? undefined : n;
  }

  has(frame: number): boolean {
    return this.get(frame) !== undefined;
  }

  /** One more leaf maps frame. */
  add(frame: number): void {
    const key = Math.floor(frame / COUNT_BLOCK);
    let b = this.block(key);
    if (b === undefined) {
      b = new Uint32Array(COUNT_BLOCK + 1);
      this.blocks.set(key, b);
      this.last = b;
    }
    const i = frame - key * COUNT_BLOCK;
    if (b[i]++ === 0) {
      this.size++;
      b[COUNT_BLOCK]++;
    }
  }

  /** One leaf fewer maps frame (nothing when none did). */
  remove(frame: number): void {
    const key = Math.floor(frame / COUNT_BLOCK);
    const b = this.block(key);
    const i = frame - key * COUNT_BLOCK;
    if (b === undefined || b[i] === 0) return;
    if (--b[i] !== 0) return;
    this.size--;
    if (--b[COUNT_BLOCK] === 0) {
      this.blocks.delete(key);
      this.last = undefined;
    }
  }

  /** Calls fn for every counted frame of [start, end), in increasing order. */
  forEachIn(start: number, end: number, fn: (frame: number) => void): void {
    const first = Math.floor(start / COUNT_BLOCK);
    const stop = Math.ceil(end / COUNT_BLOCK);
    // Whichever is fewer: the range's blocks, or the blocks there are.
    const keys =
      stop - first <= this.blocks.size
        ? null
        : [...this.blocks.keys()].filter((k) => k >= first && k < stop).sort((x, y) => x - y);
    for (let j = 0, key = first; keys === null ? key < stop : j < keys.length; j++, key++) {
      if (keys !== null) key = keys[j];
      const b = this.blocks.get(key);
      if (b === undefined) continue;
      const base = key * COUNT_BLOCK;
      const lo = Math.max(start, base) - base;
      const hi = Math.min(end, base + COUNT_BLOCK) - base;
      for (let i = lo; i < hi; i++) if (b[i] !== 0) fn(base + i);
    }
  }

  /** Calls fn for every counted frame, as the iterator gives them (no pair made per frame). */
  forEachFrame(fn: (frame: number) => void): void {
    for (const [key, b] of this.blocks) {
      const base = key * COUNT_BLOCK;
      for (let i = 0; i < COUNT_BLOCK; i++) if (b[i] !== 0) fn(base + i);
    }
  }

  *[Symbol.iterator](): Iterator<[number, number]> {
    for (const [key, b] of this.blocks) {
      const base = key * COUNT_BLOCK;
      for (let i = 0; i < COUNT_BLOCK; i++) if (b[i] !== 0) yield [base + i, b[i]];
    }
  }
}

export class VmemmapMirror {
  /** vpn -> translation of every PTE-level leaf. */
  private readonly pte: LeafArrays;
  /** Huge leaves: first vpn -> [frame, nrPages, writable]. */
  private readonly huge = new Map<
    number,
    { frame: number; nrPages: number; writable: boolean; owner: number }
  >();
  /** Frame -> number of PTE leaves mapping it. */
  private readonly refs = new FrameCounts();
  private readonly tables = new Map<number, TableState>();
  private readonly levels: number;
  private readonly entries: number;
  private readonly vpnShiftPerLevel: number[];
  private lastPteWrites = -1;
  /** Incremented on every refresh that changed anything. */
  version = 0;
  /** Incremented whenever a huge leaf comes or goes (a split maps the same frames: no change). */
  hugeVersion = 0;
  /** Changes found by the last refresh (vpns whose translation differs). */
  changes: VpnChange[] = [];
  /**
   * Changes of every refresh since the last drainLog() (a checker refreshes in the middle of
   * an operation too); `logOverflow` once more than MAX_LOG were dropped unread.
   */
  private log: VpnChange[] = [];
  logOverflow = false;
  /** Every table frame currently reachable from the root. */
  readonly tableFrames = new Set<number>();

  constructor(private readonly k: Kernel) {
    const arch = k.spec.arch;
    this.levels = arch.levelShifts.length;
    this.entries = 2 ** (arch.pageShift - 3);
    this.vpnShiftPerLevel = arch.levelShifts.map((s) => s - arch.pageShift);
    this.pte = new LeafArrays(this.entries);
    this.scratch = arch.levelShifts.map(() => new Uint32Array(this.entries * 2));
    this.runs = new Float64Array(this.entries * 6);
    this.pendingBefore = new LeafArrays(this.entries);
    // Page numbers of the walk are taken inside the VA space the top table spans (no sign
    // extension), then made relative to the vmemmap base.
    const vaBits = BigInt(arch.levelShifts[0] + arch.pageShift - 3);
    this.baseVpn = Number((k.vmemmapBase & ((1n << vaBits) - 1n)) >> BigInt(arch.pageShift));
  }

  private readonly baseVpn: number;

  /** The vpn (page index from the vmemmap base) of the vmemmap page holding pfn's struct page. */
  vpnOfPfn(pfn: number): number {
    return Math.floor((pfn * this.k.spec.structPageSize) / this.k.pageSize);
  }

  translate(vpn: number): Mapping | null {
    return this.lookup(vpn) ? { frame: this.foundFrame, writable: this.foundWritable } : null;
  }

  /**
   * translate() without an object: the frame backing vpn, or -1 when it is not mapped (then
   * `frameWritable` says whether that mapping is writable).
   */
  frameOf(vpn: number): number {
    return this.lookup(vpn) ? this.foundFrame : -1;
  }

  /**
   * How many vpns from `vpn` on, at most `max`, map `frame` with writability `writable` through
   * PTE leaves, one after the other: what frameOf() and frameWritable would say of each, read
   * from the leaf arrays in one loop (a 1 GiB folio's 4095 tail pages that map one frame).
   */
  sameFrameRun(vpn: number, frame: number, writable: boolean, max: number): number {
    return max > 0 ? this.pte.sameFrameRun(vpn, frame, writable, max) : 0;
  }

  /** Whether the mapping frameOf() found last is writable. */
  get frameWritable(): boolean {
    return this.foundWritable;
  }

  /** What lookup() found last. */
  private foundFrame = 0;
  private foundWritable = false;

  /** translate() without an object: true when vpn is mapped (then foundFrame, foundWritable). */
  private lookup(vpn: number): boolean {
    const b = this.pte.at(vpn);
    if (b !== undefined) {
      this.foundFrame = b.frame[this.pte.i];
      this.foundWritable = b.state[this.pte.i] === 2;
      return true;
    }
    // The huge leaf found last, while no huge leaf came or went since (a folio's vmemmap pages
    // are looked up one after the other).
    const last = this.lastHuge;
    if (last !== null && this.lastHugeVersion === this.hugeVersion) {
      const d = vpn - this.lastHugeVpn;
      if (d >= 0 && d < last.nrPages) {
        this.foundFrame = last.frame + d;
        this.foundWritable = last.writable;
        return true;
      }
    }
    const first = this.hugeByBlock.get(Math.floor(vpn / HUGE_BLOCK));
    if (first === undefined) return false;
    const h = this.huge.get(first);
    if (!h || vpn < first || vpn >= first + h.nrPages) return false;
    this.lastHuge = h;
    this.lastHugeVpn = first;
    this.lastHugeVersion = this.hugeVersion;
    this.foundFrame = h.frame + (vpn - first);
    this.foundWritable = h.writable;
    return true;
  }

  /** The huge leaf lookup() found last, its first vpn, and hugeVersion then. */
  private lastHuge: { frame: number; nrPages: number; writable: boolean } | null = null;
  private lastHugeVpn = 0;
  private lastHugeVersion = -1;

  /** How many vmemmap pages map `frame` (0: not part of the memmap). */
  mapCount(frame: number): number {
    let n = this.refs.get(frame) ?? 0;
    const leaves = this.hugeByFrameBlock.get(Math.floor(frame / HUGE_BLOCK));
    if (leaves)
      for (const vpn of leaves) {
        const h = this.huge.get(vpn);
        if (h && frame >= h.frame && frame < h.frame + h.nrPages) n++;
      }
    return n;
  }

  /** Huge leaves by block of HUGE_BLOCK frames they map: block -> first vpns of the leaves. */
  private readonly hugeByFrameBlock = new Map<number, number[]>();

  /**
   * Calls fn for every distinct frame of [start, end) a PTE leaf maps (in no particular order),
   * and for every huge leaf whose frames meet [start, end) (with its first vpn).
   */
  mappedIn(
    start: number,
    end: number,
    fn: (frame: number) => void,
    leaf: (vpn: number) => void,
  ): void {
    this.refs.forEachIn(start, end, fn);
    if (this.hugeByFrameBlock.size === 0) return;
    // Made when a second leaf is met (most ranges meet none: a page or a folio).
    let seenLeaves: Set<number> | null = null;
    let first = -1;
    const meet = (leaves: number[] | undefined) => {
      if (leaves)
        for (const vpn of leaves) {
          const h = this.huge.get(vpn);
          if (!h || h.frame >= end || h.frame + h.nrPages <= start) continue;
          if (first === -1) first = vpn;
          else {
            if (vpn === first) continue;
            seenLeaves ??= new Set([first]);
            if (seenLeaves.has(vpn)) continue;
            seenLeaves.add(vpn);
          }
          leaf(vpn);
        }
    };
    const b0 = Math.floor(start / HUGE_BLOCK);
    const b1 = Math.ceil(end / HUGE_BLOCK);
    // Whichever is fewer: the range's blocks (a 1 GiB folio spans 512), or the blocks that
    // hold leaves (in increasing order, as the range's walk meets them).
    if (b1 - b0 <= this.hugeByFrameBlock.size)
      for (let b = b0; b < b1; b++) meet(this.hugeByFrameBlock.get(b));
    else {
      const keys: number[] = [];
      for (const b of this.hugeByFrameBlock.keys()) if (b >= b0 && b < b1) keys.push(b);
      if (keys.length > 1) keys.sort((x, y) => x - y);
      for (const b of keys) meet(this.hugeByFrameBlock.get(b));
    }
  }

  /** The huge leaf whose first vpn is `vpn`. */
  hugeLeaf(vpn: number): { frame: number; nrPages: number; writable: boolean } | null {
    return this.huge.get(vpn) ?? null;
  }

  /** Huge leaves by block of HUGE_BLOCK vpns: block -> first vpn of the leaf. */
  private readonly hugeByBlock = new Map<number, number>();

  /** PTE leaves: frame -> count. */
  pteRefs(): FrameCounts {
    return this.refs;
  }

  /** The huge leaves by first vpn, as kept (read only; no object made per leaf). */
  hugeLeafMap(): ReadonlyMap<number, { readonly frame: number; readonly nrPages: number }> {
    return this.huge;
  }

  hugeLeaves(): Iterable<{ vpn: number; frame: number; nrPages: number; writable: boolean }> {
    const out = [];
    for (const [vpn, h] of this.huge) out.push({ vpn, ...h });
    return out;
  }

  /**
   * Table frames written since the last refresh (the checker's watch on the frame store calls
   * written() for every write to a frame of `tableFrames`): only those are decoded again.
   */
  private readonly dirty = new Set<number>();
  /** The next refresh walks every table from the root (set by whole()). */
  private walkAll = true;

  /** A frame of `tableFrames` was written (by any means: a PTE store, a stray write, a copy). */
  written(frame: number): void {
    this.dirty.add(frame);
  }

  /** The next refresh compares every table with its bytes (the checker's full audit). */
  whole(): void {
    this.walkAll = true;
  }

  /** Brings the mirror up to date; returns true when a translation changed. */
  refresh(): boolean {
    const pgt = this.k.pgt;
    this.changes = [];
    const rewritten = pgt.pteWrites !== this.lastPteWrites;
    if (!rewritten && !this.dirty.size && !this.walkAll) return false;
    this.lastPteWrites = pgt.pteWrites;
    // Entries were set but no table frame was seen written (a write the watch does not know):
    // compare every table.
    if (this.walkAll || (rewritten && !this.dirty.size) || !this.refreshDirty()) {
      this.walkAll = false;
      this.dirty.clear();
      // The first build logs no changes: there was nothing before it to change from.
      this.building = this.tables.size === 0;
      const seen = new Set<number>();
      this.visit(pgt.rootPfn, 0, -this.baseVpn, seen);
      // Still a new version for those who cache by it.
      if (this.building) this.version++;
      this.building = false;
      // Tables no longer reachable: drop what they contributed.
      for (const t of [...this.tables.keys()]) if (!seen.has(t)) this.dropTable(t);
      this.tableFrames.clear();
      for (const t of seen) this.tableFrames.add(t);
      this.parents.clear();
      for (const st of this.tables.values())
        for (const ch of st.children.values())
          this.parents.set(ch, (this.parents.get(ch) ?? 0) + 1);
    }
    this.finishChanges();
    if (this.changes.length) {
      this.version++;
      if (!this.logOverflow) {
        for (const c of this.changes) this.log.push(c);
        if (this.log.length > MAX_LOG) {
          this.log = [];
          this.logOverflow = true;
        }
      }
    }
    return this.changes.length > 0;
  }

  /** How many changes the log holds (a position in it, until the next drainLog()). */
  logSize(): number {
    return this.log.length;
  }

  /** The changes since the last drain, and whether some were lost (then: look at everything). */
  drainLog(): { changes: VpnChange[]; overflow: boolean } {
    const r = { changes: this.log, overflow: this.logOverflow };
    this.log = [];
    this.logOverflow = false;
    return r;
  }

  /** Per table level, the words of the table read last at that level (valid until the next). */
  private readonly scratch: Uint32Array[];
  /** wordRunsIn()'s output: six numbers per run, room for a run per entry. */
  private readonly runs: Float64Array;
  /** The runs the last words() read (in `runs`), -1 when it read bytes. */
  private lastRuns = -1;

  /**
   * The runs the last words() read, as a copy to keep (null when it read bytes); `old` itself
   * when it holds the same runs.
   */
  private keptRuns(old: Float64Array | null): Float64Array | null {
    const n = this.lastRuns * 6;
    if (n < 0) return null;
    if (old !== null && old.length === n) {
      let i = 0;
      while (i < n && old[i] === this.runs[i]) i++;
      if (i === n) return old;
    }
    return this.runs.slice(0, n);
  }

  /**
   * A table's entries as 32-bit words (low, high per entry), valid until the next call for the
   * same level (a walk holds one table per level). A table held as runs of words is decoded
   * from its runs, without rendering its bytes.
   */
  private words(frame: number, level: number): Uint32Array {
    const frames = this.k.frames;
    const out = this.scratch[level] ?? new Uint32Array(this.entries * 2);
    const runs = this.runs;
    const nr = frames.wordRunsIn(frame, 0, this.entries, runs);
    if (nr >= 0) {
      for (let r = 0; r < nr; r++) {
        const o = r * 6;
        let w = runs[o];
        const end = w + runs[o + 1];
        const lo = runs[o + 2];
        const hi = runs[o + 3];
        const dlo = runs[o + 4];
        const dhi = runs[o + 5];
        for (let n = 0; w < end; w++, n++) {
          // base + n * delta (mod 2^64) in 32-bit halves.
          const l = lo + n * dlo;
          const carry = Math.floor(l / TWO32);
          out[2 * w] = l - carry * TWO32;
          out[2 * w + 1] = (hi + n * dhi + carry) % TWO32;
        }
      }
      this.lastRuns = nr;
      return out;
    }
    this.lastRuns = -1;
    const b = frames.view(frame);
    // Own bytes are read in place; view() of a frame without them is a scratch buffer the
    // next view() reuses: copied.
    if (frames.hasOwnBytes(frame) && b.byteOffset % 4 === 0)
      return new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = v.getUint32(i * 4, true);
    return out;
  }

  /** Child table -> how many table entries point at it (kept by the incremental refresh). */
  private readonly parents = new Map<number, number>();

  /**
   * The incremental refresh: the dirty tables' entries compared with their snapshots, new
   * child tables walked whole, tables no entry points at any more dropped. False (nothing
   * changed yet) when the tables are not a plain tree, for the full walk to sort out.
   */
  private refreshDirty(): boolean {
    for (const t of this.dirty) {
      const st = this.tables.get(t);
      if (!st) continue;
      // A table of the tree whose children do not match its entries: give up.
      for (const ch of st.children.values()) if ((this.parents.get(ch) ?? 0) !== 1) return false;
    }
    const dirty = [...this.dirty];
    this.dirty.clear();
    const added: number[] = [];
    const orphans: number[] = [];
    let tree = true;
    for (const t of dirty) {
      const st = this.tables.get(t);
      if (!st || !this.tableFrames.has(t)) continue;
      this.visitEntries(t, st, (i, child) => {
        // A pointer that came (child >= 0) or went (-1 - child).
        if (child >= 0) {
          if (this.tables.has(child) || this.parents.has(child)) tree = false;
          this.parents.set(child, (this.parents.get(child) ?? 0) + 1);
          added.push(child, st.level + 1, st.vpnBase + i * 2 ** this.vpnShiftPerLevel[st.level]);
        } else {
          const c = -1 - child;
          const n = (this.parents.get(c) ?? 1) - 1;
          if (n > 0) this.parents.set(c, n);
          else {
            this.parents.delete(c);
            orphans.push(c);
          }
        }
      });
    }
    // Tables no entry points at any more, and everything below them.
    while (orphans.length) {
      const t = orphans.pop() as number;
      if (this.parents.has(t)) continue;
      const st = this.tables.get(t);
      if (!st) continue;
      for (const ch of st.children.values()) {
        const n = (this.parents.get(ch) ?? 1) - 1;
        if (n > 0) this.parents.set(ch, n);
        else {
          this.parents.delete(ch);
          orphans.push(ch);
        }
      }
      this.dropTable(t);
      this.tableFrames.delete(t);
    }
    for (let j = 0; j < added.length; j += 3) {
      const child = added[j];
      if (this.parents.get(child) !== 1) tree = false;
      if (!tree) break;
      const seen = new Set<number>();
      this.visit(child, added[j + 1], added[j + 2], seen);
      for (const s of seen) {
        if (s !== child && this.tableFrames.has(s)) tree = false;
        this.tableFrames.add(s);
      }
      for (const s of seen) {
        const st = this.tables.get(s) as TableState;
        for (const ch of st.children.values()) {
          if (this.parents.has(ch)) tree = false;
          this.parents.set(ch, 1);
        }
      }
    }
    if (!tree) {
      // Shared or repeated tables: the full walk rebuilds from the root.
      this.walkAll = true;
      return false;
    }
    return true;
  }

  /**
   * Compares one table's entries with its snapshot: changed ones undone and decoded again;
   * `pointer(i, child)` told of table pointers that came (child) or went (-1 - child).
   */
  private visitEntries(
    tablePfn: number,
    st: TableState,
    pointer: (i: number, child: number) => void,
  ): void {
    const level = st.level;
    const old = st.runs;
    if (old !== null) {
      const nr = this.k.frames.wordRunsIn(tablePfn, 0, this.entries, this.runs);
      if (nr >= 0) {
        this.lastRuns = nr;
        const now = this.keptRuns(old) as Float64Array;
        // The same runs: the same words.
        if (now !== old) this.diffRuns(st, old, now, pointer);
        st.runs = now;
        return;
      }
    }
    const words = this.words(tablePfn, level);
    st.runs = this.keptRuns(null);
    const snap = st.snap;
    for (let i = 0; i < this.entries; i++) {
      const lo = words[2 * i];
      const hi = words[2 * i + 1];
      if (lo === snap[2 * i] && hi === snap[2 * i + 1]) continue;
      this.entryChanged(st, i, lo, hi, pointer);
    }
  }

  /**
   * visitEntries() of a table held as runs then and now: the two run lists are walked side by
   * side, and only the words of a stretch where they differ (its first word, or its step) are
   * decoded and compared with the snapshot.
   */
  private diffRuns(
    st: TableState,
    old: Float64Array,
    now: Float64Array,
    pointer: (i: number, child: number) => void,
  ): void {
    const snap = st.snap;
    const entries = this.entries;
    let i = 0;
    let j = 0;
    let w = 0;
    while (w < entries) {
      const oEnd = old[i] + old[i + 1];
      const nEnd = now[j] + now[j + 1];
      const e = Math.min(oEnd, nEnd);
      // Word w of each list (WordRuns' base + n * delta, mod 2^64, in halves).
      const on = w - old[i];
      const ol = old[i + 2] + on * old[i + 4];
      const oc = Math.floor(ol / TWO32);
      const nn = w - now[j];
      const nl = now[j + 2] + nn * now[j + 4];
      const nc = Math.floor(nl / TWO32);
      const same =
        ol - oc * TWO32 === nl - nc * TWO32 &&
        (old[i + 3] + on * old[i + 5] + oc) % TWO32 ===
          (now[j + 3] + nn * now[j + 5] + nc) % TWO32 &&
        (e - w === 1 || (old[i + 4] === now[j + 4] && old[i + 5] === now[j + 5]));
      if (!same)
        for (let x = w, n = nn; x < e; x++, n++) {
          const l = now[j + 2] + n * now[j + 4];
          const carry = Math.floor(l / TWO32);
          const lo = l - carry * TWO32;
          const hi = (now[j + 3] + n * now[j + 5] + carry) % TWO32;
          if (lo !== snap[2 * x] || hi !== snap[2 * x + 1])
            this.entryChanged(st, x, lo, hi, pointer);
        }
      w = e;
      if (e === oEnd) i += 6;
      if (e === nEnd) j += 6;
    }
  }

  /** Entry i of a table now reads lo, hi (not its snapshot): the old entry undone, the new one decoded. */
  private entryChanged(
    st: TableState,
    i: number,
    lo: number,
    hi: number,
    pointer: (i: number, child: number) => void,
  ): void {
    const snap = st.snap;
    const level = st.level;
    const was = st.children.get(i);
    this.undoEntry(st, i, snap[2 * i], snap[2 * i + 1]);
    if (was !== undefined) pointer(i, -1 - was);
    snap[2 * i] = lo;
    snap[2 * i + 1] = hi;
    if (lo === 0 && hi === 0) return;
    const e = this.decode(lo, hi, level);
    if (!e?.present) return;
    if (e.table) {
      st.children.set(i, e.pfn);
      pointer(i, e.pfn);
    } else
      this.addLeaf(
        st.vpnBase + i * 2 ** this.vpnShiftPerLevel[level],
        e.pfn,
        e.writable,
        level,
        st.pfn,
      );
  }

  private visit(tablePfn: number, level: number, vpnBase: number, seen: Set<number>): void {
    seen.add(tablePfn);
    const words = this.words(tablePfn, level);
    // Kept before the children are walked (their reads reuse the buffer).
    let st = this.tables.get(tablePfn);
    const runs = this.keptRuns(st?.runs ?? null);
    if (!st || st.level !== level || st.vpnBase !== vpnBase) {
      if (st) this.dropTable(tablePfn);
      st = {
        pfn: tablePfn,
        level,
        vpnBase,
        snap: new Uint32Array(words.length),
        children: new Map(),
        runs: null,
      };
      this.tables.set(tablePfn, st);
    }
    st.runs = runs;
    const snap = st.snap;
    const span = 2 ** this.vpnShiftPerLevel[level];
    for (let i = 0; i < this.entries; i++) {
      const lo = words[2 * i];
      const hi = words[2 * i + 1];
      const changed = lo !== snap[2 * i] || hi !== snap[2 * i + 1];
      if (changed) {
        this.undoEntry(st, i, snap[2 * i], snap[2 * i + 1]);
        snap[2 * i] = lo;
        snap[2 * i + 1] = hi;
      }
      if (lo === 0 && hi === 0) continue;
      const vpn = vpnBase + i * span;
      if (!changed) {
        // Decoded when it changed: a leaf is in the maps already, a table is walked again (its
        // entries may have changed).
        const child = st.children.get(i);
        if (child !== undefined) this.visit(child, level + 1, vpn, seen);
        continue;
      }
      const e = this.decode(lo, hi, level);
      if (!e?.present) continue;
      if (e.table) {
        st.children.set(i, e.pfn);
        this.visit(e.pfn, level + 1, vpn, seen);
      } else this.addLeaf(vpn, e.pfn, e.writable, level, tablePfn);
    }
  }

  /** One entry written in place (no BigInt) where the architecture can, decode() otherwise. */
  private readonly decoded: DecodedPte = {
    present: false,
    writable: false,
    huge: false,
    table: false,
    pfn: 0,
  };

  private decode(lo: number, hi: number, level: number): DecodedPte | null {
    const pte = this.k.spec.arch.pte;
    if (pte.decodeParts !== undefined)
      return pte.decodeParts(lo, hi, level, this.decoded) ? this.decoded : null;
    return pte.decode((BigInt(hi) << 32n) | BigInt(lo), level);
  }

  private undoEntry(st: TableState, i: number, lo: number, hi: number): void {
    if (lo === 0 && hi === 0) return;
    const child = st.children.get(i);
    if (child !== undefined) {
      st.children.delete(i);
      // The child is dropped at the end of the refresh if nothing else reaches it.
      return;
    }
    // A leaf this entry made, if any (no other entry makes one at this vpn and level): no
    // need to decode the old entry.
    const span = 2 ** this.vpnShiftPerLevel[st.level];
    this.removeLeaf(st.vpnBase + i * span, st.level, st.pfn);
  }

  /** A leaf of table `owner` at vpn (one another table made there first is taken out). */
  private addLeaf(
    vpn: number,
    frame: number,
    writable: boolean,
    level: number,
    owner: number,
  ): void {
    if (level === this.levels - 1) {
      const old = this.pte.at(vpn);
      if (old !== undefined) this.removeLeaf(vpn, level, old.owner[this.pte.i]);
      this.pte.set(vpn, frame, writable, owner);
      this.refs.add(frame);
      this.noteChange(vpn, false, 0, false);
      return;
    }
    const nrPages = 2 ** this.vpnShiftPerLevel[level];
    const oldHuge = this.huge.get(vpn);
    if (oldHuge) this.removeLeaf(vpn, level, oldHuge.owner);
    this.hugeVersion++;
    this.huge.set(vpn, { frame, nrPages, writable, owner });
    for (let b = Math.floor(vpn / HUGE_BLOCK); b * HUGE_BLOCK < vpn + nrPages; b++)
      this.hugeByBlock.set(b, vpn);
    for (let b = Math.floor(frame / HUGE_BLOCK); b * HUGE_BLOCK < frame + nrPages; b++) {
      const l = this.hugeByFrameBlock.get(b);
      if (l) l.push(vpn);
      else this.hugeByFrameBlock.set(b, [vpn]);
    }
    for (let j = 0; j < nrPages; j++) this.noteChange(vpn + j, false, 0, false);
  }

  /** Takes out the leaf table `owner` made at vpn, if it is still there. */
  private removeLeaf(vpn: number, level: number, owner: number): void {
    if (level === this.levels - 1) {
      const b = this.pte.at(vpn);
      const i = this.pte.i;
      if (b === undefined || b.owner[i] !== owner) return;
      const frame = b.frame[i];
      const writable = b.state[i] === 2;
      b.state[i] = 0;
      this.refs.remove(frame);
      this.noteChange(vpn, true, frame, writable);
      return;
    }
    const h = this.huge.get(vpn);
    if (!h || h.owner !== owner) return;
    this.hugeVersion++;
    this.huge.delete(vpn);
    for (let b = Math.floor(vpn / HUGE_BLOCK); b * HUGE_BLOCK < vpn + h.nrPages; b++)
      if (this.hugeByBlock.get(b) === vpn) this.hugeByBlock.delete(b);
    for (let b = Math.floor(h.frame / HUGE_BLOCK); b * HUGE_BLOCK < h.frame + h.nrPages; b++) {
      const l = (this.hugeByFrameBlock.get(b) ?? []).filter((x) => x !== vpn);
      if (l.length) this.hugeByFrameBlock.set(b, l);
      else this.hugeByFrameBlock.delete(b);
    }
    for (let j = 0; j < h.nrPages; j++) this.noteChange(vpn + j, true, h.frame + j, h.writable);
  }

  /**
   * The vpns noted since the last finishChanges(), in the order they were first noted, and per
   * vpn its first "before" (kept as a leaf whose owner is 1 when there was one, 0 when none).
   */
  private readonly pendingVpns: number[] = [];
  private readonly pendingBefore: LeafArrays;

  /** The first walk is under way (noteChange() keeps nothing). */
  private building = false;

  /** A translation of vpn is going (before) or coming (null); finishChanges() reads what it became. */
  private noteChange(vpn: number, hadBefore: boolean, frame: number, writable: boolean): void {
    if (this.building) return;
    // Only the first "before" of a vpn counts; "after" is read once the walk is complete, so a
    // removal and a re-add in either order (a PMD split, a table swapped) merge into one.
    if (this.pendingBefore.at(vpn) !== undefined) return;
    this.pendingBefore.set(vpn, hadBefore ? frame : 0, writable, hadBefore ? 1 : 0);
    this.pendingVpns.push(vpn);
  }

  private dropTable(tablePfn: number): void {
    const st = this.tables.get(tablePfn);
    if (!st) return;
    this.tables.delete(tablePfn);
    for (let i = 0; i < this.entries; i++) {
      const lo = st.snap[2 * i];
      const hi = st.snap[2 * i + 1];
      if (st.children.has(i)) continue;
      this.undoEntry(st, i, lo, hi);
    }
  }

  private finishChanges(): void {
    const out: VpnChange[] = [];
    const marks = this.pendingBefore;
    for (const vpn of this.pendingVpns) {
      const b = marks.at(vpn) as LeafBlock;
      const i = marks.i;
      const hadBefore = b.owner[i] === 1;
      const frame = b.frame[i];
      const writable = b.state[i] === 2;
      b.state[i] = 0;
      const hasAfter = this.lookup(vpn);
      if (hadBefore && hasAfter && frame === this.foundFrame && writable === this.foundWritable)
        continue;
      if (!hadBefore && !hasAfter) continue;
      out.push(
        new VpnChange(
          vpn,
          hadBefore ? frame : -1,
          hadBefore && writable,
          hasAfter ? this.foundFrame : -1,
          hasAfter && this.foundWritable,
        ),
      );
    }
    this.pendingVpns.length = 0;
    this.changes = out;
  }
}
