// Kernel page tables (include/linux/pgtable.h, arch/*/include/asm/pgtable*.h): the tables of
// init_mm that map the vmemmap, stored as 64-bit entries in simulated page-table frames, in the
// architecture's own bit layout (ArchSpec.pte). And a TLB, so that a PTE changed without a flush
// is still seen through its old translation, as on hardware.
//
// Levels are numbered from the top (0 = pgd). A table at level L has 2^(pageShift - 3) entries
// and each entry covers 2^levelShifts[L] bytes.
//
// Invariants: every table frame is allocated as "pagetable"; an entry is none, a table pointer,
// or a leaf (huge above the last level); after every completed kernel operation each TLB entry
// equals what a fresh walk gives (the checker verifies it).

import { FastPaths } from "./fast_paths.ts";
import { Oops } from "../include/errno.ts";
import type { ArchSpec, DecodedPte, PteCodec } from "../machine/spec.ts";
import type { FrameStore } from "./frames.ts";

export interface LeafEntry {
  level: number;
  tablePfn: number;
  idx: number;
  pfn: number;
  writable: boolean;
  huge: boolean;
}

/**
 * Entry i of the run of words at words[o] (wordRunsIn()'s six numbers: first word, count, base
 * and delta as halves) decoded into e, for pteRuns(): false when it is none or not present.
 */
function runEntry(
  pte: PteCodec,
  words: Float64Array,
  o: number,
  i: number,
  level: number,
  e: DecodedPte,
): boolean {
  const l = words[o + 2] + i * words[o + 4];
  const c = Math.floor(l / 2 ** 32);
  const h = (words[o + 3] + i * words[o + 5] + c) % 2 ** 32;
  return pte.decodeParts?.(l - c * 2 ** 32, h, level, e) === true && e.present;
}

/** What pteRuns() reads into (made once by a caller and reused). */
export class PteRuns {
  /** The frame store's runs of words: first word, count, lo, hi, dlo, dhi per run. */
  readonly words: Float64Array;
  readonly first: Float64Array;
  readonly len: Float64Array;
  readonly pfn: Float64Array;
  readonly step: Float64Array;
  readonly writable: Uint8Array;
  constructor(max: number) {
    this.words = new Float64Array(6 * max);
    this.first = new Float64Array(max);
    this.len = new Float64Array(max);
    this.pfn = new Float64Array(max);
    this.step = new Float64Array(max);
    this.writable = new Uint8Array(max);
  }
}

export interface Translation {
  frame: number;
  writable: boolean;
}

/**
 * The most translations the TLB holds before it drops the ones that agree with the tables.
 * Keys are vmemmap pages, so a machine with fewer vmemmap pages (up to 1 TiB of RAM with 4 KiB
 * pages and 64-byte struct pages) never reaches it; larger ones (x86_64 with 5-level paging)
 * would otherwise pass the 2^24 entries a JavaScript Map can hold.
 */
export const TLB_CAPACITY = 2 ** 22;

/** vmemmap pages per TLB chunk (a power of two): a full chunk is 4 KiB of numbers. */
const TLB_CHUNK = 512;

/** A TLB chunk holding this many entries or more is swept a leaf at a time (walkRangeWords()). */
const SWEEP_RANGE_MIN = 32;

/**
 * Emptied chunks the TLB keeps for reuse, in full 4 KiB chunks' worth (32 MiB): a sweep or a
 * full flush empties thousands at once, and the fills after it take them back rather than
 * allocate new ones.
 */
const TLB_SPARE_CHUNKS = 8192;

/** The chunk of vpn, as a small integer when it is one (V8 hashes a boxed double otherwise). */
function chunkKey(vpn: number): number {
  const ci = Math.floor(vpn / TLB_CHUNK);
  return ci < 0x40000000 ? ci | 0 : ci;
}

/**
 * A translation as the TLB stores it, one number: 0 for none, frame + 1 when the page is mapped
 * writable, -(frame + 1) when read-only (frames are below 2^52, exact in a double).
 */
function tlbWord(frame: number, writable: boolean): number {
  return writable ? frame + 1 : -(frame + 1);
}

/** The Translation a tlbWord() w (not 0) stands for. */
function wordTranslation(w: number): Translation {
  return w > 0 ? { frame: w - 1, writable: true } : { frame: -w - 1, writable: false };
}

/**
 * A TLB chunk: the tlbWord()s of its pages [lo, lo + w.length) (0: none), a window aligned to
 * its power-of-two size that widens as pages outside it are filled (a chunk whose few entries
 * lie together, as the memmap of a few frames does, takes a few numbers, not 4 KiB).
 */
class TlbChunk {
  constructor(
    public lo: number,
    public w: Float64Array,
  ) {}
  /** Entries held. */
  n = 0;
  /**
   * The frame store's pgtGen and extGen() at which every entry held was filled from a walk
   * (TlbTable.stamp()); -1: not known (filled at different ones, or kept by a sweep as stale).
   */
  pgen = -1;
  ext = -1;
}

/** The smallest window of a chunk (pages): 64 bytes, small enough for V8 to keep on its heap. */
const TLB_WINDOW_MIN = 8;

/**
 * The TLB's storage: translations by vmemmap page, in chunks of TLB_CHUNK pages, each a
 * TlbChunk (found by a division, not a hash of every key; no object per entry). A chunk emptied
 * by deletes is dropped. Iteration goes chunk by chunk (in the order they were made), pages
 * ascending within a chunk.
 */
class TlbTable {
  private readonly chunks = new Map<number, TlbChunk>();
  /**
   * The frame store whose pgtGen stamps the chunks, where walks register every table they read
   * (KernelPageTables.leafOf(), fastIndex only); null: no stamps.
   */
  stampFrames: FrameStore | null = null;

  /** c, into which `filled` entries were just filled (it held `before`), stamped. */
  private stamp(c: TlbChunk, before: number): void {
    const f = this.stampFrames;
    if (f === null) return;
    const g = f.pgtGen;
    const x = f.extGen();
    if (before === 0) {
      c.pgen = g;
      c.ext = x;
    } else if (c.pgen !== g || c.ext !== x) c.pgen = -1;
  }
  /** Emptied chunks' windows kept for reuse, by log2 of their size. */
  private readonly spare: Float64Array[][] = [];
  /**
   * The chunks chunk() found last and the one before (undefined: none there): struct pages
   * stored in turn often lie in two chunks, a folio's and a free list neighbour's.
   */
  private lastIdx = -1;
  private last: TlbChunk | undefined = undefined;
  private prevIdx = -1;
  private prev: TlbChunk | undefined = undefined;
  size = 0;

  private chunk(ci: number): TlbChunk | undefined {
    if (ci === this.lastIdx) return this.last;
    let c: TlbChunk | undefined;
    if (ci === this.prevIdx) c = this.prev;
    else c = this.chunks.get(ci);
    this.prevIdx = this.lastIdx;
    this.prev = this.last;
    this.lastIdx = ci;
    this.last = c;
    return c;
  }

  /** chunk()'s memory forgotten (a chunk made or dropped). */
  private forget(): void {
    this.lastIdx = -1;
    this.last = undefined;
    this.prevIdx = -1;
    this.prev = undefined;
  }

  /** A zeroed window of `size` pages (a power of two), reused where one was kept. */
  private window(size: number): Float64Array {
    const pool = this.spare[31 - Math.clz32(size)];
    return pool?.pop() ?? new Float64Array(size);
  }

  /** A window kept for reuse, zeroed (`zeroed`: the caller knows it holds only zeros). */
  private keep(w: Float64Array, zeroed = false): void {
    const b = 31 - Math.clz32(w.length);
    let pool = this.spare[b];
    if (pool === undefined) pool = this.spare[b] = [];
    // As many pages' worth of windows as TLB_SPARE_CHUNKS full chunks.
    if (pool.length * w.length < TLB_SPARE_CHUNKS * TLB_CHUNK) pool.push(zeroed ? w : w.fill(0));
  }

  /**
   * Chunk ci, made (holding nothing) where there is none; its window covers page i, and pages
   * up to j (>= i) where it is made or widened (the rest of a run about to be filled).
   */
  private chunkFor(ci: number, i: number, j: number): TlbChunk {
    let c = this.chunk(ci);
    if (c === undefined) {
      let size = TLB_WINDOW_MIN;
      while ((i & ~(size - 1)) !== (j & ~(size - 1))) size *= 2;
      c = new TlbChunk(i & ~(size - 1), this.window(size));
      this.chunks.set(ci, c);
      this.forget();
      this.lastIdx = ci;
      this.last = c;
      return c;
    }
    const lo = c.lo;
    const len = c.w.length;
    if (i >= lo && i < lo + len) return c;
    // Widen: the aligned window twice as large (or more) that holds the old one and [i, j].
    const a = Math.min(lo, i);
    const b = Math.max(lo + len - 1, j);
    let size = len * 2;
    while ((a & ~(size - 1)) !== (b & ~(size - 1))) size *= 2;
    const nlo = a & ~(size - 1);
    const w = this.window(size);
    w.set(c.w, lo - nlo);
    this.keep(c.w);
    c.w = w;
    c.lo = nlo;
    return c;
  }

  /** The tlbWord() of vpn (0: none). */
  get(vpn: number): number {
    const ci = chunkKey(vpn);
    const c = this.chunk(ci);
    if (c === undefined) return 0;
    const j = vpn - ci * TLB_CHUNK - c.lo;
    return j >= 0 && j < c.w.length ? c.w[j] : 0;
  }

  /**
   * get() of vpn, vpn + 1, ... while each is held (at most n, within vpn's chunk): the words go
   * to out[at], out[at + 1], ...; returns how many. Read from the chunk's window in one loop.
   */
  getRun(vpn: number, n: number, out: Float64Array, at: number): number {
    const ci = chunkKey(vpn);
    const c = this.chunk(ci);
    if (c === undefined) return 0;
    const w = c.w;
    const j0 = vpn - ci * TLB_CHUNK - c.lo;
    if (j0 < 0) return 0;
    const lim = Math.min(n, w.length - j0);
    let k = 0;
    while (k < lim) {
      const x = w[j0 + k];
      if (x === 0) break;
      out[at + k] = x;
      k++;
    }
    return k;
  }

  /**
   * Stores the tlbWord() w (not 0) for vpn. A chunk made or widened for it reaches `ahead` pages
   * further too (within the chunk), for pages about to be filled: one window, not one per widening.
   */
  set(vpn: number, w: number, ahead = 0, kept = false): void {
    const ci = chunkKey(vpn);
    const i = vpn - ci * TLB_CHUNK;
    const c = this.chunkFor(ci, i, ahead > 0 ? Math.min(TLB_CHUNK - 1, i + ahead) : i);
    const j = i - c.lo;
    // `kept`: an entry a sweep kept (stale), put back: its chunk's stamp is not known.
    if (kept) c.pgen = -1;
    else this.stamp(c, c.n);
    if (c.w[j] === 0) {
      this.size++;
      c.n++;
    }
    c.w[j] = w;
  }

  /**
   * get() of pages vpn + k for k in [0, n), each filled where not held with the tlbWord() of
   * frame0 + k * step (writable or not) as fillWord() fills it: room() first (a sweep where
   * the TLB is full), then set(). The words go to out[at + k]. One loop per chunk, no call per
   * page but where a chunk is made or widened or the TLB is full.
   */
  fillRun(
    vpn: number,
    n: number,
    frame0: number,
    step: number,
    writable: boolean,
    out: Float64Array,
    at: number,
    room: () => void,
    capacity: number,
    /** Pages vpn, vpn + vstride, ... (vpn + k * vstride the k-th), not vpn + k. */
    vstride = 1,
  ): void {
    // A chunk's part of the run at a time: its window made to cover that part once, then one
    // loop over the slots. `budget` is the fills left before one finds the TLB full: there the
    // loop stops, room() sweeps, and that page is filled first whatever the sweep left (as
    // fillWord() fills after its sweep).
    let k = 0;
    let swept = false;
    while (k < n) {
      const v = vpn + k * vstride;
      const ci = chunkKey(v);
      const i = v - ci * TLB_CHUNK;
      const len = Math.min(n - k, Math.ceil((TLB_CHUNK - i) / vstride));
      let c = this.chunk(ci);
      const last = i + (len - 1) * vstride;
      if (c === undefined || i < c.lo || last >= c.lo + c.w.length) {
        // Pages outside the window are not held: each will be filled.
        c = this.chunkFor(ci, i, last);
        if (last >= c.lo + c.w.length) c = this.chunkFor(ci, last, last);
      }
      const w = c.w;
      let budget = capacity - this.size;
      if (swept && budget < 1) budget = 1;
      swept = false;
      let filled = 0;
      let j = i - c.lo;
      let o = at + k;
      // The words as tlbWord() makes them, x the next page's: frame + 1 or -(frame + 1).
      const dx = writable ? step : -step;
      let x = writable ? frame0 + k * step + 1 : -(frame0 + k * step + 1);
      let m = 0;
      if (budget >= len && c.n === 0) {
        // An empty chunk (every slot 0) with room for every page: each page is filled.
        for (; m < len; m++, j += vstride, o++, x += dx) {
          w[j] = x;
          out[o] = x;
        }
        filled = len;
      } else if (budget >= len) {
        // Room for every page: no count to watch.
        for (; m < len; m++, j += vstride, o++, x += dx) {
          const held = w[j];
          if (held !== 0) out[o] = held;
          else {
            w[j] = x;
            out[o] = x;
            filled++;
          }
        }
      } else
        for (; m < len; m++, j += vstride, o++, x += dx) {
          const held = w[j];
          if (held !== 0) {
            out[o] = held;
            continue;
          }
          if (filled >= budget) break;
          w[j] = x;
          out[o] = x;
          filled++;
        }
      if (filled > 0) this.stamp(c, c.n);
      this.size += filled;
      c.n += filled;
      k += m;
      if (m < len) {
        room();
        swept = true;
      }
    }
  }

  /**
   * After d entries of chunk c (index ci) were zeroed: delete()'s counts, and its drop (its
   * window then holds only zeros).
   */
  private deleted(ci: number, c: TlbChunk, d: number): void {
    this.size -= d;
    c.n -= d;
    if (c.n === 0) {
      this.chunks.delete(ci);
      this.forget();
      this.keep(c.w, true);
    }
  }

  delete(vpn: number): boolean {
    const ci = chunkKey(vpn);
    const c = this.chunk(ci);
    if (c === undefined) return false;
    const j = vpn - ci * TLB_CHUNK - c.lo;
    if (j < 0 || j >= c.w.length || c.w[j] === 0) return false;
    c.w[j] = 0;
    this.size--;
    if (--c.n === 0) {
      // Empty: dropped (its window holds only zeros), kept for reuse.
      this.chunks.delete(ci);
      this.forget();
      this.keep(c.w, true);
    }
    return true;
  }

  clear(): void {
    for (const c of this.chunks.values()) this.keep(c.w);
    this.chunks.clear();
    this.forget();
    this.size = 0;
  }

  /** Deletes every entry for which drop(vpn, word) is true, in iteration order. */
  dropWhere(drop: (vpn: number, w: number) => boolean): void {
    for (const [ci, c] of this.chunks) {
      // What this sweep keeps is stale (dropClean()).
      c.pgen = -1;
      const base = ci * TLB_CHUNK + c.lo;
      const w = c.w;
      for (let j = 0; j < w.length; j++) {
        const x = w[j];
        if (x !== 0 && drop(base + j, x)) this.delete(base + j);
      }
    }
  }

  /**
   * dropWhere() a chunk at a time: a chunk holding at least minRange entries has the entries of
   * its window that equal the words its pages would be filled with now zeroed by
   * dropEqual(first vpn, n, window), which returns how many; a sparser one asks drop() of each
   * entry. The same entries go, in the same order.
   */
  dropClean(
    dropEqual: (vpn: number, n: number, w: Float64Array) => number,
    minRange: number,
    drop: (vpn: number, w: number) => boolean,
    /** The frame store's pgtGen and extGen() now, where stamped chunks may go unwalked (-1: none). */
    pgen = -1,
    ext = -1,
  ): void {
    for (const [ci, c] of this.chunks) {
      const base = ci * TLB_CHUNK + c.lo;
      const w = c.w;
      if (pgen >= 0 && c.pgen === pgen && c.ext === ext) {
        // Every entry was filled from a walk since which no table changed: each equals what a
        // walk gives now, so each goes.
        this.size -= c.n;
        c.n = 0;
        this.chunks.delete(ci);
        this.forget();
        this.keep(w);
        continue;
      }
      // What this sweep keeps is stale: the chunk's stamp is not known from now on.
      c.pgen = -1;
      if (c.n >= minRange) {
        // delete() of each, counted once: the chunk dropped when nothing is left in it.
        const d = dropEqual(base, w.length, w);
        if (d > 0) this.deleted(ci, c, d);
      } else
        for (let j = 0; j < w.length; j++) {
          const x = w[j];
          if (x !== 0 && drop(base + j, x)) this.delete(base + j);
        }
    }
  }

  /** The pages held, in iteration order. */
  keys(): number[] {
    const out: number[] = [];
    for (const [ci, c] of this.chunks) {
      const base = ci * TLB_CHUNK + c.lo;
      const w = c.w;
      for (let j = 0; j < w.length; j++) if (w[j] !== 0) out.push(base + j);
    }
    return out;
  }
}

export class KernelPageTables {
  readonly levels: number;
  readonly entriesPerTable: number;
  /** Counters a user can compare across designs. */
  pteWrites = 0;
  tlbFlushRanges = 0;
  tlbFlushAlls = 0;
  /** vmemmap page index (from tlbBase) -> cached translation. */
  private readonly tlb = new TlbTable();
  /** The frame store's generation after the last sweep of evictClean() (-1: none yet). */
  private sweepGen = -1;
  /** The entries that sweep kept (stale then). */
  private survivors: number[] = [];
  private readonly pageShiftN: bigint;
  /** The TLB entry translateFrame() used last (-1: none); dropped with every TLB removal. */
  private lastVpn = -1;
  private lastWord = 0;
  /**
   * Bumped with every TLB removal (a sweep, a flush): while it stands, every entry the TLB held
   * when it was read last is still held, with the same translation (fills only add entries).
   * memmap.ts's read memo (readMemo) leans on it.
   */
  tlbGen = 0;
  /** Whether the page translateFrame() translated last is mapped writable. */
  tWritable = false;

  constructor(
    readonly arch: ArchSpec,
    private readonly frames: FrameStore,
    readonly rootPfn: number,
    /** TLB keys are page indices from this address (the vmemmap base). */
    readonly tlbBase: bigint,
    /** Translations held before clean ones are dropped (TLB_CAPACITY; smaller in tests). */
    private readonly tlbCapacity = TLB_CAPACITY,
  ) {
    this.levels = arch.levelShifts.length;
    this.entriesPerTable = 2 ** (arch.pageShift - 3);
    this.pageShiftN = BigInt(arch.pageShift);
    this.levelShiftsN = arch.levelShifts.map((x) => BigInt(x));
    this.indexMaskN = BigInt(this.entriesPerTable - 1);
    this.pageBytes = 2 ** arch.pageShift;
    this.levelSpan = arch.levelShifts.map((x) => 2 ** x);
    this.baseIndex = arch.levelShifts.map((_, l) => this.index(l, tlbBase));
    this.fastIndex = arch.levelShifts.every((x) => tlbBase % (1n << BigInt(x)) === 0n);
    // Stamps need every table a fill's walk reads registered: leafOf(), which fastIndex uses.
    if (this.fastIndex) this.tlb.stampFrames = frames;
  }

  private readonly pageBytes: number;
  /** Bytes one entry of each level maps. */
  private readonly levelSpan: number[];
  /** Each level's index of the vmemmap base. */
  private readonly baseIndex: number[];
  /** The base is aligned to every level's span: indices follow from vpn alone. */
  private readonly fastIndex: boolean;

  private readonly levelShiftsN: bigint[];
  private readonly indexMaskN: bigint;

  index(level: number, vaddr: bigint): number {
    return Number((vaddr >> this.levelShiftsN[level]) & this.indexMaskN);
  }

  get(tablePfn: number, idx: number): bigint {
    return this.frames.readU64(tablePfn, idx * 8);
  }

  /** What entry() decoded last (overwritten by the next call: copy what you keep). */
  readonly e: DecodedPte = { present: false, writable: false, huge: false, table: false, pfn: 0 };

  /**
   * decode(get(tablePfn, idx), level) into `e`; false when the entry is none. No bigint and no
   * object where the arch decodes 32-bit halves (the walk's hot path).
   */
  entry(tablePfn: number, idx: number, level: number): boolean {
    const pte = this.arch.pte;
    if (pte.decodeParts !== undefined) {
      const lo = this.frames.readU64Lo(tablePfn, idx * 8);
      return pte.decodeParts(lo, this.frames.hi, level, this.e);
    }
    const d = pte.decode(this.get(tablePfn, idx), level);
    if (d === null) return false;
    const e = this.e;
    e.present = d.present;
    e.writable = d.writable;
    e.huge = d.huge;
    e.table = d.table;
    e.pfn = d.pfn;
    return true;
  }

  /**
   * set_pte/set_pmd: one entry write, counted. `level`, where the caller knows it, is the level
   * of the table written (-1: not known).
   */
  set(tablePfn: number, idx: number, entry: bigint, level = -1): void {
    this.frames.writeU64(tablePfn, idx * 8, entry);
    this.pteWrites++;
    // An entry of any table but a remembered last-level table may change some walk's path
    // (another instance's over the same frames included: the epoch lives on the frame store).
    if (tablePfn !== this.skipTable || this.skipGen !== this.frames.pgtUpperGen)
      this.frames.pgtEpoch++;
    // Above the PMD level, or not known, or a frame some walk passed above the PMD level (a
    // frame reached through a wrong pointer may be a table of two levels): the PMD-level table
    // a walk reaches may change.
    if (level < this.levels - 2 || this.frames.pgtUpperHigh.has(tablePfn))
      this.frames.pgtEpochHigh++;
  }

  /** set()'s epoch bumps for a write to a last-level entry of tablePfn (setPte(), setPteRun()). */
  private pteWritten(tablePfn: number): void {
    if (tablePfn === this.skipTable && this.skipGen === this.frames.pgtUpperGen) return;
    this.frames.pgtEpoch++;
    if (this.frames.pgtUpperHigh.has(tablePfn)) this.frames.pgtEpochHigh++;
  }

  private readonly partsHi = new Uint32Array(1);

  /**
   * set() of a last-level entry mapping pfn PAGE_KERNEL (writable) or PAGE_KERNEL_RO: the same
   * write, as 32-bit halves where the arch makes them (the remap paths write one per page).
   */
  setPte(tablePfn: number, idx: number, pfn: number, writable: boolean): void {
    const pte = this.arch.pte;
    if (pte.mkPteParts === undefined) {
      this.set(tablePfn, idx, pte.mkLeaf(pfn, { writable, huge: false }, this.levels - 1));
      return;
    }
    const lo = pte.mkPteParts(pfn, writable, this.partsHi);
    this.frames.writeU64Parts(tablePfn, idx * 8, lo, this.partsHi[0]);
    this.pteWrites++;
    this.pteWritten(tablePfn);
  }

  /**
   * setPte() of entries [idx, idx + n) of one table mapping pfn, pfn + 1, ... (as
   * vmemmap_split_pmd() fills a new PTE table): the same bytes and counts, in one store of a
   * run of words (a new table stays a few numbers in the frame store, not 4 KiB).
   */
  setPteRun(
    tablePfn: number,
    idx: number,
    n: number,
    pfn: number,
    writable: boolean,
    step = 1,
  ): void {
    const pte = this.arch.pte;
    if (pte.mkPteParts === undefined || n <= 0) {
      for (let i = 0; i < n; i++) this.setPte(tablePfn, idx + i, pfn + i * step, writable);
      return;
    }
    // Frames a constant step apart (0: one frame n times, as HVO maps the shared tail) make
    // entries a constant step apart: one run of words in the store.
    const hi = this.partsHi;
    const lo0 = pte.mkPteParts(pfn, writable, hi);
    const hi0 = hi[0];
    const lo1 = pte.mkPteParts(pfn + step, writable, hi);
    const borrow = lo1 < lo0 ? 1 : 0;
    const dlo = (lo1 - lo0 + borrow * 2 ** 32) >>> 0;
    const dhi = (hi[0] - hi0 - borrow + 2 ** 33) % 2 ** 32;
    this.frames.setWordRun(tablePfn, idx, n, lo0, hi0, dlo, dhi);
    this.pteWrites += n;
    this.pteWritten(tablePfn);
  }

  /**
   * The last-level entries [idx, idx + n) of a table, as runs of entries that map frames a
   * constant step apart with one protection: run r is entries [out.first[r], + out.len[r]),
   * entry i of it mapping out.pfn[r] + i * out.step[r], writable when out.writable[r] is 1.
   * Returns the number of runs, or -1 when the table is not held as runs of words, an entry is
   * none or not present, or there are more than out holds: read entry by entry instead.
   */
  pteRuns(tablePfn: number, idx: number, n: number, out: PteRuns): number {
    const pte = this.arch.pte;
    if (pte.decodeParts === undefined) return -1;
    const w = this.frames.wordRunsIn(tablePfn, idx, n, out.words);
    if (w < 0 || w > out.first.length) return -1;
    const e = this.e;
    const last = this.levels - 1;
    const words = out.words;
    const byEnds = pte.runsDecidedByEnds === true;
    for (let r = 0; r < w; r++) {
      const o = r * 6;
      const first = words[o];
      const len = words[o + 1];
      const lo = words[o + 2];
      const hi = words[o + 3];
      if (!pte.decodeParts(lo, hi, last, e) || !e.present) return -1;
      const pfn0 = e.pfn;
      const wr = e.writable;
      let step = 0;
      if (len > 1) {
        // The second entry gives the step. Then the last entry, or every one where the arch's
        // encoding needs it, must have the same protection and its pfn that many steps on.
        //
        // Why the last is enough where the arch says so (runsDecidedByEnds, x86_64): entry i is
        // entry 0 + i * d (mod 2^64). Entries 0 and 1 agree in bits 0 and 1 (present, RW) only
        // if d is a multiple of 4, and then no entry differs there. The pfn (bits 12..51) of
        // entry i is pfn0 + i * q + c(i) mod 2^40: q is d's pfn field and c(i) the carries out
        // of bits 2..11, which grow by 0 or 1 an entry. A last entry (k) at pfn0 + k * step
        // means c(k) = k * c(1), so c(i) = i * c(1) for every i between: pfn(i) is pfn0 +
        // i * step mod 2^40, and exactly so, as that value lies between pfn0 and pfn(k), both
        // in the field. Nothing above bit 51 is decoded: carries into NX go unseen.
        if (!runEntry(pte, words, o, 1, last, e) || e.writable !== wr) return -1;
        step = e.pfn - pfn0;
        for (let i = byEnds ? len - 1 : 2; i < len; i++) {
          if (
            !runEntry(pte, words, o, i, last, e) ||
            e.writable !== wr ||
            e.pfn !== pfn0 + i * step
          )
            return -1;
        }
      }
      out.first[r] = first;
      out.len[r] = len;
      out.pfn[r] = pfn0;
      out.step[r] = step;
      out.writable[r] = wr ? 1 : 0;
    }
    return w;
  }

  /**
   * The walk's memory of the table it read its last entry from (a paging-structure cache, not
   * a TLB): that table's level (0: none), the index of the span it maps at the level above, its
   * frame, and the frame store's pgtEpoch it is valid at. A walk inside that span starts there;
   * what it finds, the TLB, its fills and its counters are the same as after a walk from the top.
   */
  private walkLevel = 0;
  private walkKey = -1;
  private walkTable = -1;
  private walkEpoch = -1;
  /**
   * A second such memory, of the PMD-level table the last walk through that level read (the
   * span of one entry above it, its frame, and the frame store's pgtEpochHigh it is valid at):
   * it outlives writes to tables of the PMD level and below (splitting a vmemmap PMD). leafOf()
   * and slotOff() keep it and start from it.
   */
  private pmdKey = -1;
  private pmdTable = -1;
  private pmdEpoch = -1;
  /**
   * The table set() may write without forgetting any walk's memory: the remembered last-level
   * table, when no walk has passed through it as an upper table (the frame store's pgtUpper,
   * as of its pgtUpperGen skipGen; a frame reached through a wrong pointer can be both). -1:
   * none.
   */
  private skipTable = -1;
  private skipGen = -1;
  /** By level: the table leafOf() last read there, known to the frame store (noteTable()). */
  private readonly tableSeen: number[] = [-1, -1, -1, -1, -1, -1];
  /** By level: the table the walk last passed there, known to be in the frame store's sets. */
  private readonly upperSeen: number[] = [-1, -1, -1, -1, -1, -1];

  /**
   * slot() of the address at byte offset off from the vmemmap base (tlbBase), without a bigint:
   * undefined where slot() would not compute it from the offset (no fastIndex, an offset not a
   * safe integer), the caller then asks slot().
   */
  slotAt(level: number, off: number): { tablePfn: number; idx: number } | null | undefined {
    if (!this.fastIndex || off < 0 || !Number.isSafeInteger(off)) return undefined;
    return this.slotOff(level, off);
  }

  /**
   * The entry slot at `level` for vaddr, walking the tables above it; null when a table above
   * is missing or a leaf maps the address at a higher level.
   */
  slot(level: number, vaddr: bigint): { tablePfn: number; idx: number } | null {
    if (this.fastIndex && vaddr >= this.tlbBase) {
      // Inside the vmemmap: indices from the offset as numbers, as leafOf() computes them.
      const off = Number(vaddr - this.tlbBase);
      if (Number.isSafeInteger(off)) return this.slotOff(level, off);
    }
    let table = this.rootPfn;
    const e = this.e;
    for (let l = 0; l < level; l++) {
      if (!this.entry(table, this.index(l, vaddr), l) || !e.table) return null;
      table = e.pfn;
    }
    return { tablePfn: table, idx: this.index(level, vaddr) };
  }

  /**
   * slot() of the address at byte offset off from the vmemmap base (fastIndex only). A slot at
   * the PMD level starts from leafOf()'s memory of the PMD-level table for the same span
   * (pmdKey, pmdTable, pmdEpoch), and a walk to it leaves that memory as leafOf()'s walk does:
   * the tables above noted and registered as leafOf()'s are (noteTable(), passedUpper()), so
   * that any write to one bumps pgtEpochHigh and pgtGen. HVO's remap walks ask for the PMDs of
   * a folio's vmemmap one after the other, with walks of other memmap between them.
   */
  private slotOff(level: number, off: number): { tablePfn: number; idx: number } | null {
    let table = this.rootPfn;
    const e = this.e;
    const pl = this.levels - 2;
    const atPmd = level === pl && pl > 0 && this.paths.pmdSlots;
    const key = atPmd ? Math.floor(off / this.levelSpan[pl - 1]) : -1;
    if (atPmd && this.pmdEpoch === this.frames.pgtEpochHigh && key === this.pmdKey)
      table = this.pmdTable;
    else {
      for (let l = 0; l < level; l++) {
        const idx =
          (this.baseIndex[l] + Math.floor(off / this.levelSpan[l])) % this.entriesPerTable;
        if (atPmd && this.tableSeen[l] !== table) {
          this.frames.noteTable(table);
          this.tableSeen[l] = table;
        }
        if (!this.entry(table, idx, l) || !e.table) return null;
        if (atPmd && this.upperSeen[l] !== table) this.passedUpper(table, l);
        table = e.pfn;
      }
      if (atPmd) {
        this.pmdTable = table;
        this.pmdKey = key;
        this.pmdEpoch = this.frames.pgtEpochHigh;
      }
    }
    const idx =
      (this.baseIndex[level] + Math.floor(off / this.levelSpan[level])) % this.entriesPerTable;
    return { tablePfn: table, idx };
  }

  /** The leaf entry that maps vaddr (a PTE, or a huge PMD/PUD), or null. */
  lookup(vaddr: bigint): LeafEntry | null {
    let table = this.rootPfn;
    const e = this.e;
    for (let l = 0; l < this.levels; l++) {
      const idx = this.index(l, vaddr);
      if (!this.entry(table, idx, l) || !e.present) return null;
      if (!e.table)
        return {
          level: l,
          tablePfn: table,
          idx,
          pfn: e.pfn,
          writable: e.writable,
          huge: l < this.levels - 1,
        };
      table = e.pfn;
    }
    return null;
  }

  /** Walks the tables (no TLB): the frame that holds vaddr's byte. */
  walk(vaddr: bigint): Translation | null {
    const leaf = this.lookup(vaddr);
    if (!leaf) return null;
    if (!leaf.huge) return { frame: leaf.pfn, writable: leaf.writable };
    const shift = BigInt(this.arch.levelShifts[leaf.level]);
    const within = Number((vaddr & ((1n << shift) - 1n)) >> this.pageShiftN);
    return { frame: leaf.pfn + within, writable: leaf.writable };
  }

  /**
   * walkPage() of vmemmap pages [vpn, vpn + n), no TLB: out[i] is the tlbWord() of page vpn + i
   * (0: unmapped; frame + 1 writable; -(frame + 1) read-only), one walk per leaf. Returns out.
   */
  walkRange(vpn: number, n: number, out: Float64Array): Float64Array {
    if (this.fastIndex) this.walkRangeWords(vpn, n, out);
    else for (let i = 0; i < n; i++) out[i] = this.walkWord(vpn + i);
    return out;
  }

  /** walk() of vmemmap page vpn (no TLB), without a bigint per level where the base allows. */
  walkPage(vpn: number): Translation | null {
    return this.walkVpn(vpn);
  }

  /** The MMU: TLB first, then a walk that fills the TLB. Null when unmapped. */
  translate(vpn: number): Translation | null {
    const frame = this.translateFrame(vpn);
    return frame < 0 ? null : { frame, writable: this.tWritable };
  }

  /**
   * translate() without an object: the frame (-1 when unmapped), its writability left in
   * tWritable. The TLB fills as translate()'s does.
   */
  translateFrame(vpn: number): number {
    // The last translation used: consecutive struct pages share a vmemmap page. Kept small so
    // that callers inline it (a frame above 2^31 returned from a call is a heap number).
    if (vpn !== this.lastVpn && !this.translateMiss(vpn)) return -1;
    const w = this.lastWord;
    if (w > 0) {
      this.tWritable = true;
      return w - 1;
    }
    this.tWritable = false;
    return -w - 1;
  }

  /**
   * translateFrame() of a page other than the last one: the TLB, else a walk and a fill. False
   * when unmapped (nothing remembered); else the word is left in lastWord.
   */
  private translateMiss(vpn: number): boolean {
    let w = this.tlb.get(vpn);
    if (w === 0) {
      w = this.walkWord(vpn);
      if (w === 0) return false;
      this.fillWord(vpn, w);
    }
    this.lastVpn = vpn;
    this.lastWord = w;
    return true;
  }

  /**
   * translateFrame() of vmemmap pages vpn, vpn + stride, ... (n of them), in that order, with the
   * same TLB lookups, walks and fills: out[k] is the tlbWord() of page vpn + k * stride (0:
   * unmapped). A TLB chunk made or widened for one page is made to reach the later pages in it.
   * Returns out.
   */
  translateStrideWords(vpn: number, n: number, stride: number, out: Float64Array): Float64Array {
    const tlb = this.tlb;
    // The huge leaf the last walk found: pages [leafLo, leafHi) map frames from leafW's on.
    let leafLo = 0;
    let leafHi = 0;
    let leafW = 0;
    for (let k = 0, v = vpn; k < n; k++, v += stride) {
      let w = tlb.get(v);
      if (w === 0) {
        if (v < leafHi && this.paths.hugeLeaves) {
          // What a walk gives: no table changes inside this loop (a sweep only drops entries).
          w = leafW > 0 ? leafW + (v - leafLo) : leafW - (v - leafLo);
        } else {
          w = this.walkWord(v);
          if (w !== 0 && this.fastIndex && this.leafLevel < this.levels - 1) {
            leafLo = v;
            leafHi = v + this.hugeLeft(v, this.leafLevel);
            leafW = w;
            if (this.paths.hugeLeaves && this.paths.fillByRun) {
              // This page and the later ones in the leaf, frames stride apart: one fill pass
              // (the same lookups, fills and sweeps, page after page).
              const m = Math.min(n - k, Math.ceil((leafHi - v) / stride));
              const wr = w > 0;
              const frame = wr ? w - 1 : -w - 1;
              tlb.fillRun(v, m, frame, stride, wr, out, k, this.room, this.tlbCapacity, stride);
              k += m - 1;
              v += (m - 1) * stride;
              continue;
            }
          }
        }
        if (w !== 0) {
          if (tlb.size >= this.tlbCapacity) this.evictClean();
          tlb.set(v, w, (n - 1 - k) * stride);
        }
      }
      out[k] = w;
    }
    this.lastVpn = -1;
    return out;
  }

  /** walkVpn() as a tlbWord() (0: unmapped), without an object where fastIndex is set. */
  private walkWord(vpn: number): number {
    if (!this.fastIndex) {
      const t = this.walk(this.tlbBase + (BigInt(vpn) << this.pageShiftN));
      return t === null ? 0 : tlbWord(t.frame, t.writable);
    }
    return this.leafOf(vpn) ? tlbWord(this.leafFrame, this.leafWritable) : 0;
  }

  /**
   * walk() of the vmemmap page vpn, the indices computed from vpn as numbers (the vmemmap base
   * is aligned to every level's span where fastIndex is set): no bigint per level.
   */
  private walkVpn(vpn: number): Translation | null {
    if (!this.fastIndex) return this.walk(this.tlbBase + (BigInt(vpn) << this.pageShiftN));
    if (!this.leafOf(vpn)) return null;
    return { frame: this.leafFrame, writable: this.leafWritable };
  }

  /** What leafOf() found: the level, table and index of the leaf entry, and the page's frame. */
  private leafLevel = 0;
  private leafTable = 0;
  private leafIdx = 0;
  private leafFrame = 0;
  private leafWritable = false;

  /**
   * While a caller holds leaves (holdLeaves()): the huge leaf the last walk found, pages
   * [memoLo, memoHi) mapping frames from memoFrame on (memoHi -1: none), and the frame store's
   * pgtGen, pgtEpoch and pgtEpochHigh it was found at.
   */
  private memoLo = 0;
  private memoHi = -1;
  private memoFrame = 0;
  private memoWritable = false;
  private memoLevel = 0;
  private memoTable = 0;
  private memoIdx = 0;
  private memoGen = -1;
  private memoEpoch = -1;
  private memoEpochHigh = -1;

  /**
   * From on, until off: the caller vouches that no store it makes through a view of a frame
   * (frames.ts extGen()) reaches a page table, so that a walk inside the huge leaf the last walk
   * found gives what that walk gave while no table frame changed (fast_paths.ts leafMemo): no
   * walk per folio of a grow's enqueue or a shrink's frees. Either way the memory is dropped.
   */
  holdLeaves(on: boolean): void {
    this.leafHold = on && this.paths.leafMemo && this.fastIndex;
    this.memoHi = -1;
  }
  private leafHold = false;

  /** The fast walk (fastIndex only): false when unmapped, else the leaf in the leaf* fields. */
  private leafOf(vpn: number): boolean {
    if (
      this.leafHold &&
      vpn < this.memoHi &&
      vpn >= this.memoLo &&
      this.memoGen === this.frames.pgtGen &&
      this.memoEpoch === this.frames.pgtEpoch &&
      this.memoEpochHigh === this.frames.pgtEpochHigh
    ) {
      // The walk's answer, from the same leaf entry (its other state stands from that walk).
      this.leafLevel = this.memoLevel;
      this.leafTable = this.memoTable;
      this.leafIdx = this.memoIdx;
      this.leafFrame = this.memoFrame + (vpn - this.memoLo);
      this.leafWritable = this.memoWritable;
      return true;
    }
    const e = this.e;
    const off = vpn * this.pageBytes;
    let table = this.rootPfn;
    let l = 0;
    // Start from the remembered table when vpn lies in the span it maps.
    const cl = this.walkLevel;
    const pl = this.levels - 2;
    if (
      cl > 0 &&
      this.walkEpoch === this.frames.pgtEpoch &&
      Math.floor(off / this.levelSpan[cl - 1]) === this.walkKey
    ) {
      table = this.walkTable;
      l = cl;
    } else if (
      this.pmdEpoch === this.frames.pgtEpochHigh &&
      pl > 0 &&
      Math.floor(off / this.levelSpan[pl - 1]) === this.pmdKey
    ) {
      // Else from the PMD-level table remembered for this span (entries at and below it re-read).
      table = this.pmdTable;
      l = pl;
    }
    for (; l < this.levels; l++) {
      const span = this.levelSpan[l];
      // Every table a walk reads from is known to the frame store (a change to it bumps pgtGen).
      if (this.tableSeen[l] !== table) {
        this.frames.noteTable(table);
        this.tableSeen[l] = table;
      }
      if (l === pl && pl > 0) {
        this.pmdTable = table;
        this.pmdKey = Math.floor(off / this.levelSpan[pl - 1]);
        this.pmdEpoch = this.frames.pgtEpochHigh;
      }
      const idx = (this.baseIndex[l] + Math.floor(off / span)) % this.entriesPerTable;
      if (!this.entry(table, idx, l) || !e.present) {
        this.remember(l, off, table);
        return false;
      }
      if (!e.table) {
        // A leaf above the last level maps a huge range: the page's frame within it.
        const within = l < this.levels - 1 ? Math.floor((off % span) / this.pageBytes) : 0;
        this.leafLevel = l;
        this.leafTable = table;
        this.leafIdx = idx;
        this.leafFrame = e.pfn + within;
        this.leafWritable = e.writable;
        this.remember(l, off, table);
        if (this.leafHold && l < this.levels - 1) {
          this.memoLo = vpn - within;
          this.memoHi = this.memoLo + this.levelSpan[l] / this.pageBytes;
          this.memoFrame = e.pfn;
          this.memoWritable = e.writable;
          this.memoLevel = l;
          this.memoTable = table;
          this.memoIdx = idx;
          this.memoGen = this.frames.pgtGen;
          this.memoEpoch = this.frames.pgtEpoch;
          this.memoEpochHigh = this.frames.pgtEpochHigh;
        }
        return true;
      }
      if (this.upperSeen[l] !== table) this.passedUpper(table, l);
      table = e.pfn;
    }
    return false;
  }

  /**
   * A walk passed through table at level l (above the last): it goes into the frame store's
   * pgtUpper (and pgtUpperHigh above the PMD level). A frame new to pgtUpper bumps
   * pgtUpperGen: every walk's skipTable is decided afresh.
   */
  private passedUpper(table: number, l: number): void {
    const f = this.frames;
    if (l < this.levels - 2) f.pgtUpperHigh.add(table);
    if (!f.pgtUpper.has(table)) {
      f.pgtUpper.add(table);
      f.pgtUpperGen++;
    }
    this.upperSeen[l] = table;
  }

  /** Remembers the table at level l (below the root) that the walk of byte offset off read last. */
  private remember(l: number, off: number, table: number): void {
    if (l === 0) return;
    const f = this.frames;
    // The same table at the same level, and pgtUpper as it was: skipTable stands.
    if (table !== this.walkTable || l !== this.walkLevel || this.skipGen !== f.pgtUpperGen) {
      this.skipTable = l === this.levels - 1 && !f.pgtUpper.has(table) ? table : -1;
      this.skipGen = f.pgtUpperGen;
    }
    this.walkLevel = l;
    this.walkKey = Math.floor(off / this.levelSpan[l - 1]);
    this.walkTable = table;
    this.walkEpoch = this.frames.pgtEpoch;
  }

  /** translateRangeWords()'s answers for translateRange(), reused. */
  private rangeWords = new Float64Array(0);

  /**
   * translate() of vmemmap pages vpn .. vpn + n - 1, in that order, with the same TLB fills,
   * but one walk per leaf: the pages a huge leaf maps, or the PTEs of one table, follow from it.
   */
  translateRange(
    vpn: number,
    n: number,
    /** Filled and returned (its first n entries) instead of a new array. */
    out: (Translation | null)[] = new Array(n),
  ): (Translation | null)[] {
    if (this.rangeWords.length < n) this.rangeWords = new Float64Array(n);
    const w = this.translateRangeWords(vpn, n, this.rangeWords);
    for (let i = 0; i < n; i++) {
      out[i] = w[i] === 0 ? null : wordTranslation(w[i]);
    }
    return out;
  }

  /** The model's fast paths (fast_paths.ts): rangeByRuns, sweepByRange, fillByRun, hugeLeaves. */
  paths = new FastPaths();
  private readonly rangeRuns = new PteRuns(64);
  /** pteRunsOfBytes()'s answers for translateRangeWords(): as many runs as a table has entries. */
  private readonly viewRuns = new PteRuns(512);

  /**
   * pteRuns() of a last-level table the frame store holds as bytes: entries [idx, idx + n) read
   * through one lookup of its bytes (FrameStore.ownView()), or, with `orByEntry`, one entry() at
   * a time where it holds none; grouped into runs of entries mapping frames a constant step
   * apart with one protection (a run's second entry sets its step). -1 where the table has no
   * bytes of its own (without orByEntry), the arch decodes no 32-bit halves, an entry is none or
   * not present, or out is too short. translateRangeWords() and HVO's remap walk (what HVO and
   * restores of many folios leave: tables of many short runs) both group through here.
   */
  pteRunsOfBytes(
    tablePfn: number,
    idx: number,
    n: number,
    out: PteRuns,
    orByEntry = false,
  ): number {
    const pte = this.arch.pte;
    if (pte.decodeParts === undefined) return -1;
    const v = this.frames.ownView(tablePfn);
    if (v === null && !orByEntry) return -1;
    const e = this.e;
    const last = this.levels - 1;
    let r = -1;
    for (let i = idx; i < idx + n; i++) {
      const found =
        v !== null
          ? pte.decodeParts(v.getUint32(i * 8, true), v.getUint32(i * 8 + 4, true), last, e)
          : this.entry(tablePfn, i, last);
      if (!found || !e.present) return -1;
      const pfn = e.pfn;
      const wr = e.writable ? 1 : 0;
      if (r >= 0 && out.writable[r] === wr) {
        const len = out.len[r];
        if (len === 1) out.step[r] = pfn - out.pfn[r];
        if (len === 1 || pfn === out.pfn[r] + len * out.step[r]) {
          out.len[r] = len + 1;
          continue;
        }
      }
      if (++r >= out.first.length) return -1;
      out.first[r] = i;
      out.len[r] = 1;
      out.pfn[r] = pfn;
      out.step[r] = 0;
      out.writable[r] = wr;
    }
    return r + 1;
  }

  /**
   * translateRange() without an object per page: out[i] is the tlbWord() of page vpn + i
   * (0: unmapped; frame + 1 mapped writable; -(frame + 1) read-only). Returns out.
   */
  translateRangeWords(vpn: number, n: number, out: Float64Array): Float64Array {
    let i = 0;
    while (i < n) {
      const v = vpn + i;
      // The pages held from v on, read as a run (each as get() would read it).
      const hits = this.tlb.getRun(v, n - i, out, i);
      if (hits !== 0) {
        i += hits;
        continue;
      }
      if (!this.fastIndex) {
        const f = this.translateFrame(v);
        out[i++] = f < 0 ? 0 : tlbWord(f, this.tWritable);
        continue;
      }
      if (!this.leafOf(v)) {
        out[i++] = 0;
        continue;
      }
      const l = this.leafLevel;
      const writable = this.leafWritable;
      if (l < this.levels - 1) {
        // The rest of the huge page: consecutive frames.
        const left = this.hugeLeft(v, l);
        const frame0 = this.leafFrame;
        // The first page was walked (not held); the rest as get() then fillWord() of each.
        out[i] = this.fillWord(vpn + i, tlbWord(frame0, writable));
        const m = Math.min(left, n - i);
        if (this.paths.fillByRun && m > 1)
          this.tlb.fillRun(
            vpn + i + 1,
            m - 1,
            frame0 + 1,
            1,
            writable,
            out,
            i + 1,
            this.room,
            this.tlbCapacity,
          );
        else
          for (let k = 1; k < m; k++) {
            const cached = this.tlb.get(vpn + i + k);
            out[i + k] =
              cached !== 0 ? cached : this.fillWord(vpn + i + k, tlbWord(frame0 + k, writable));
          }
        i += m;
      } else {
        // The rest of this PTE table: each entry decoded, no walk from the top.
        // The leaf's table and index first: a sweep in fillWord() walks other pages (leafOf()).
        const table = this.leafTable;
        const idx0 = this.leafIdx + 1;
        out[i] = this.fillWord(v, tlbWord(this.leafFrame, writable));
        i++;
        const m = Math.min(this.entriesPerTable - idx0, n - i);
        let b = this.rangeRuns;
        let runs = this.paths.rangeByRuns && m > 1 ? this.pteRuns(table, idx0, m, b) : -1;
        if (runs < 0 && this.paths.rangeOwnView && m > 1) {
          // A table held as bytes (what HVO and restores of many folios leave): its entries
          // read through one lookup of its bytes, grouped into runs the same way.
          b = this.viewRuns;
          runs = this.pteRunsOfBytes(table, idx0, m, b);
        }
        if (runs >= 0) {
          // Held as runs of entries mapping frames a step apart: the same words, decoded once
          // a run, and the same TLB lookups and fills in the same order.
          for (let r = 0; r < runs; r++) {
            const p0 = b.pfn[r];
            const step = b.step[r];
            const wr = b.writable[r] === 1;
            const len = b.len[r];
            if (this.paths.fillByRun) {
              this.tlb.fillRun(vpn + i, len, p0, step, wr, out, i, this.room, this.tlbCapacity);
              i += len;
              continue;
            }
            for (let k = 0; k < len; k++, i++) {
              const cached = this.tlb.get(vpn + i);
              out[i] = cached !== 0 ? cached : this.fillWord(vpn + i, tlbWord(p0 + k * step, wr));
            }
          }
          continue;
        }
        // A table held as bytes (what HVO and restores of many folios leave) read through one
        // lookup of its bytes, not one per entry: the same words, decoded the same way.
        const pte = this.arch.pte;
        const byView = this.paths.rangeOwnView && pte.decodeParts !== undefined;
        let view = byView ? this.frames.ownView(table) : null;
        let gen = this.frames.gen;
        for (let idx = idx0; idx < this.entriesPerTable && i < n; idx++, i++) {
          const cached = this.tlb.get(vpn + i);
          if (cached !== 0) {
            out[i] = cached;
            continue;
          }
          const e = this.e;
          if (view !== null && gen !== this.frames.gen) {
            // Good until a frame changes (none does in a fill, but a view is not kept past one).
            view = this.frames.ownView(table);
            gen = this.frames.gen;
          }
          const found =
            view !== null && pte.decodeParts !== undefined
              ? pte.decodeParts(
                  view.getUint32(idx * 8, true),
                  view.getUint32(idx * 8 + 4, true),
                  l,
                  e,
                )
              : this.entry(table, idx, l);
          out[i] = found && e.present ? this.fillWord(vpn + i, tlbWord(e.pfn, e.writable)) : 0;
        }
      }
    }
    return out;
  }

  /** The sweep's buffer (evictClean(), walkRangeWords(), dropEqualWords()): a table's PTE runs. */
  private readonly sweepRuns = new PteRuns(64);

  /** The pages from v to the end of the huge leaf (level l) that maps it. */
  private hugeLeft(v: number, l: number): number {
    const pagesPerLeaf = this.levelSpan[l] / this.pageBytes;
    return pagesPerLeaf - ((v * this.pageBytes) % this.levelSpan[l]) / this.pageBytes;
  }

  /**
   * walkWord() of each vmemmap page of [vpn, vpn + n) into out (no TLB lookups or fills): one
   * walk per leaf, a PTE table's entries decoded in turn (a run at a time where the table is
   * held as runs). Only where fastIndex holds.
   */
  private walkRangeWords(vpn: number, n: number, out: Float64Array): void {
    const e = this.e;
    let i = 0;
    while (i < n) {
      const v = vpn + i;
      if (!this.leafOf(v)) {
        out[i++] = 0;
        continue;
      }
      const l = this.leafLevel;
      const writable = this.leafWritable;
      if (l < this.levels - 1) {
        // The rest of the huge page: consecutive frames.
        const left = this.hugeLeft(v, l);
        const frame0 = this.leafFrame;
        for (let k = 0; k < left && i < n; k++, i++) out[i] = tlbWord(frame0 + k, writable);
        continue;
      }
      const table = this.leafTable;
      out[i++] = tlbWord(this.leafFrame, writable);
      const idx0 = this.leafIdx + 1;
      const m = Math.min(this.entriesPerTable - idx0, n - i);
      // Its own buffer: a sweep runs inside translateRangeWords(), which holds rangeRuns.
      const b = this.sweepRuns;
      const runs = this.paths.rangeByRuns && m > 1 ? this.pteRuns(table, idx0, m, b) : -1;
      if (runs >= 0) {
        for (let r = 0; r < runs; r++) {
          const p0 = b.pfn[r];
          const step = b.step[r];
          const wr = b.writable[r] === 1;
          for (let k = 0; k < b.len[r]; k++, i++) out[i] = tlbWord(p0 + k * step, wr);
        }
        continue;
      }
      for (let idx = idx0; idx < this.entriesPerTable && i < n; idx++, i++)
        out[i] =
          this.entry(table, idx, l) && e.present && !e.table ? tlbWord(e.pfn, e.writable) : 0;
    }
  }

  /**
   * walkRangeWords() of [vpn, vpn + n) compared with the TLB words w[0, n) (0: none held), in
   * one pass: each held word equal to the walk's is zeroed; returns how many. The same walks
   * and reads, no words written out and read back.
   */
  private dropEqualWords(vpn: number, n: number, w: Float64Array): number {
    const e = this.e;
    let d = 0;
    let i = 0;
    while (i < n) {
      const v = vpn + i;
      // Unmapped: the walk's word is 0, which no held word equals.
      if (!this.leafOf(v)) {
        i++;
        continue;
      }
      const l = this.leafLevel;
      const writable = this.leafWritable;
      const dy = writable ? 1 : -1;
      if (l < this.levels - 1) {
        // The rest of the huge page: consecutive frames, words a step of one apart.
        const m = Math.min(this.hugeLeft(v, l), n - i);
        let y = tlbWord(this.leafFrame, writable);
        for (let k = 0; k < m; k++, i++, y += dy) {
          const x = w[i];
          if (x !== 0 && x === y) {
            w[i] = 0;
            d++;
          }
        }
        continue;
      }
      const table = this.leafTable;
      const x0 = w[i];
      if (x0 !== 0 && x0 === tlbWord(this.leafFrame, writable)) {
        w[i] = 0;
        d++;
      }
      i++;
      const idx0 = this.leafIdx + 1;
      const m = Math.min(this.entriesPerTable - idx0, n - i);
      const b = this.sweepRuns;
      const runs = this.paths.rangeByRuns && m > 1 ? this.pteRuns(table, idx0, m, b) : -1;
      if (runs >= 0) {
        for (let r = 0; r < runs; r++) {
          const wr = b.writable[r] === 1;
          const step = wr ? b.step[r] : -b.step[r];
          let y = tlbWord(b.pfn[r], wr);
          for (let k = 0; k < b.len[r]; k++, i++, y += step) {
            const x = w[i];
            if (x !== 0 && x === y) {
              w[i] = 0;
              d++;
            }
          }
        }
        continue;
      }
      for (let idx = idx0; idx < this.entriesPerTable && i < n; idx++, i++) {
        const y =
          this.entry(table, idx, l) && e.present && !e.table ? tlbWord(e.pfn, e.writable) : 0;
        const x = w[i];
        if (x !== 0 && x === y) {
          w[i] = 0;
          d++;
        }
      }
    }
    return d;
  }

  /** fillWord()'s sweep where the TLB is full, for TlbTable.fillRun(). */
  private readonly room = (): void => this.evictClean();

  /** A TLB fill of the tlbWord() w, as translate() does on a miss; returns w. */
  private fillWord(vpn: number, w: number): number {
    if (this.tlb.size >= this.tlbCapacity) this.evictClean();
    this.tlb.set(vpn, w);
    return w;
  }

  /**
   * A full TLB drops every translation that equals a fresh walk, as hardware may evict any
   * entry at any time; a stale one (a missed flush) stays, so the checker still sees it. Each
   * sweep walks at most TLB_CAPACITY entries and frees as many as are clean: amortised, at most
   * one extra walk per translation filled; and none while no frame changed since the last sweep
   * (a run of reads, compound_head() over a large machine, evicts without walking).
   */
  private evictClean(): void {
    this.lastVpn = -1;
    this.tlbGen++;
    const gen = this.frames.gen;
    if (gen === this.sweepGen) {
      // No frame changed since the last sweep: every entry filled since equals a walk, and the
      // ones that sweep kept are as stale as they were. Keep those, drop the rest unwalked.
      const keepV: number[] = [];
      const keepW: number[] = [];
      for (const v of this.survivors) {
        const w = this.tlb.get(v);
        if (w !== 0) {
          keepV.push(v);
          keepW.push(w);
        }
      }
      this.tlb.clear();
      for (let j = 0; j < keepV.length; j++) this.tlb.set(keepV[j], keepW[j], 0, true);
      this.survivors = keepV;
      if (this.tlb.size < this.tlbCapacity) return;
    }
    if (this.fastIndex && this.paths.sweepByRange)
      this.tlb.dropClean(
        (vpn, n, w) => this.dropEqualWords(vpn, n, w),
        SWEEP_RANGE_MIN,
        (vpn, w) => this.walkWord(vpn) === w,
        this.paths.cleanChunks ? this.frames.pgtGen : -1,
        this.frames.extGen(),
      );
    else this.tlb.dropWhere((vpn, w) => this.walkWord(vpn) === w);
    this.survivors = this.tlb.keys();
    this.sweepGen = gen;
  }

  vpnOf(vaddr: bigint): number {
    return Number((vaddr - this.tlbBase) >> this.pageShiftN);
  }

  /** flush_tlb_kernel_range(start, end). */
  flushTlbRange(start: bigint, end: bigint): void {
    this.tlbFlushRanges++;
    this.lastVpn = -1;
    this.tlbGen++;
    const first = this.vpnOf(start);
    const last = this.vpnOf(end - 1n);
    if (last - first > this.tlb.size) {
      for (const k of this.tlb.keys()) if (k >= first && k <= last) this.tlb.delete(k);
    } else for (let v = first; v <= last; v++) this.tlb.delete(v);
  }

  /** flush_tlb_all(). */
  flushTlbAll(): void {
    this.tlbFlushAlls++;
    this.lastVpn = -1;
    this.tlbGen++;
    this.tlb.clear();
  }

  /** Translations the TLB can take before a fill sweeps it (evictClean()). */
  tlbRoom(): number {
    return this.tlbCapacity - this.tlb.size;
  }

  /** Translations the TLB holds now. */
  get tlbSize(): number {
    return this.tlb.size;
  }

  /** The TLB's translation of vmemmap page vpn, if it holds one (the checker's stale-TLB test). */
  tlbEntry(vpn: number): Translation | undefined {
    const w = this.tlb.get(vpn);
    return w === 0 ? undefined : wordTranslation(w);
  }

  /**
   * What translateFrame() of vmemmap page vpn would find, as a tlbWord() (0: unmapped), with
   * nothing filled: the TLB's entry, or a walk's.
   */
  peekWord(vpn: number): number {
    const w = this.tlb.get(vpn);
    return w !== 0 ? w : this.walkWord(vpn);
  }

  /** TLB entries that differ from the page tables (stale translations), of `vpns` or all. */
  staleTlbEntries(
    vpns?: Iterable<number>,
  ): Array<{ vpn: number; cached: Translation; actual: Translation | null }> {
    const out = [];
    for (const vpn of vpns ? [...vpns] : this.tlb.keys()) {
      const cached = this.tlbEntry(vpn);
      if (cached === undefined) continue;
      const actual = this.walk(this.tlbBase + (BigInt(vpn) << this.pageShiftN));
      if (!actual || actual.frame !== cached.frame || actual.writable !== cached.writable)
        out.push({ vpn, cached, actual });
    }
    return out;
  }

  /** Installs a table pointer at `level` for vaddr (the slot must be none). */
  installTable(level: number, vaddr: bigint, tablePfn: number): void {
    const s = this.slot(level, vaddr);
    if (!s) throw new Oops(`pgtable: no level-${level} table for vaddr`, { vaddr });
    this.set(s.tablePfn, s.idx, this.arch.pte.mkTable(tablePfn, level));
  }
}
