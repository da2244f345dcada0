// Physical memory contents: the bytes of every simulated page frame.
//
// Only frames the kernel model writes get bytes of their own. Everything else is described,
// so that a 16 TiB machine fits in a few hundred MiB:
//   - a boot-populated vmemmap frame that nobody wrote reads as the struct pages memmap_init()
//     left in it (pattern "init", generated on demand from the machine layout);
//   - a frame filled with the tails of a compound page reads as those tails ("tails"): that is
//     how prep_compound_page() of a 1 GiB folio writes 4095 frames without 16 MiB of bytes;
//   - a frame whose struct-page slots are all one value ("fill"), like mainline's restore;
//   - the memmap of memory freed page by page reads as "init" with asFree and unlisted (the
//     lru of every page that is no free head poisoned by list_del()): HVO's freed vmemmap pages
//     are settled back into it (settleAsFree()) once their bytes say exactly that;
//   - a page table whose 64-bit entries step by a constant over runs (a split PMD's table, the
//     shared tail mapped 511 times, pages of a restore mapped top-down) is held as those runs
//     of words (WordRuns: setWordRun(), then aligned 64-bit stores), not 4 KiB;
//   - copy_page() shares the source's bytes copy-on-write.
// A frame keeps its contents when it is freed: the next user sees stale bytes, as on hardware.
//
// Invariant: a frame has at most one of {own bytes, pattern}; neither means zero-filled
// (frames outside boot vmemmap ranges) or "init" (inside them).
//
// Storage scales with runs, not frames: what a frame holds is a small integer id (0: nothing of
// its own), kept per chunk of 4096 frames as runs of equal ids (dense Int32Array only for a
// chunk broken into many runs). An id names a shared state: bytes (reference counted, copied on
// the first write while shared) or a pattern, interned with the offset between its memmap
// bytes and the frame's own address, so that the frames of one linear vmemmap block given one
// pattern form one run ("tails" over a 1 GiB folio's 4095 frames is one run, not 4095 entries).
// The offset may also fall as the frame number grows: a restore's page list is handed out
// top-down and mapped bottom-up, and those frames too hold one id between them.
//
// The pool's hot paths make and drop ids by the thousand (every optimise, restore and
// prep_compound_page() of a 2 MiB folio whose vmemmap pages are scattered frames), so: an id's
// state lives in typed arrays indexed by id, not in an object; a direct-mapped cache answers
// "which id does this frame hold" and changes only where ids change (a write in place keeps
// it); page buffers nobody holds any more are reused, not left to the garbage collector.

import { HOST_LITTLE_ENDIAN } from "../include/endian.ts";
import { PAGE_OFF, POISON_POINTER_DELTA, TAIL_MAPPING } from "../include/mm_types.ts";
import { PG } from "../include/page_flags.ts";
import { lastAtOrBelow } from "../include/bsearch.ts";
import { FastPaths } from "./fast_paths.ts";

/** LIST_POISON1/2 (include/linux/poison.h) as 32-bit halves. */
const POISON_HI = Number(POISON_POINTER_DELTA >> 32n);
const POISON1_LO = 0x100;
const POISON2_LO = 0x122;

/**
 * Writes the struct page memmap_init() gave `pfn` into out[off, off + structPageSize) of a
 * zeroed buffer (`view` is a DataView over the same bytes).
 */
export type InitStructPage = (
  pfn: number,
  out: Uint8Array,
  view: DataView,
  off: number,
  /** As a page the buddy allocator owns: never PG_reserved, whatever memblock had at boot. */
  asFree: boolean,
) => void;

/**
 * InitStructPage for the n consecutive struct pages from firstPfn, struct page i at
 * off + i * structPageSize: the same bytes as n calls, with what the run shares looked up once.
 */
export type InitStructPages = (
  firstPfn: number,
  n: number,
  out: Uint8Array,
  view: DataView,
  off: number,
  asFree: boolean,
) => void;

export type FramePattern =
  /**
   * The memmap bytes [voff, voff + PAGE_SIZE) as memmap_init() left them; with `asFree`, as
   * they are once the pages went through the buddy allocator (PG_reserved cleared).
   */
  | {
      kind: "init";
      voff: number;
      asFree?: boolean;
      /**
       * With asFree: every struct page that is no free head (whose page_type is not set) has
       * LIST_POISON1/2 in lru, as list_del() leaves them: the memmap of memory freed page by
       * page, each page a free head on some list before it merged with its buddy.
       */
      unlisted?: boolean;
      /**
       * With unlisted (whole struct pages only): the frame's first struct page is as
       * clearReservedPage() (hugetlb_vmemmap.ts) leaves boot memory, memmap_init()'s with
       * PG_reserved cleared and _refcount 0, not a free page's: the first page of a block a run
       * of boot pages was freed as, merged at once into the free block below it and never
       * marked by the buddy. Such a frame is not rendered from the buddy's state alone, so
       * stores to it are made (readsAsInit() is false).
       */
      keepFirst?: boolean;
    }
  /**
   * The memmap bytes of pages the buddy allocator handed out (never PG_reserved), with every
   * struct page made a tail by prep_compound_tail(): mapping =
   * TAIL_MAPPING, compound word = info, private = 0, _refcount = 0. With zeroBase the page was
   * zeroed first and _mapcount is -1 (mainline's init_compound_tail()); `flags`, when given,
   * replaces the flags word (the node and zone bits of a shared tail). With infoSpan, the
   * compound word depends on where the struct page is (tailsInfoAt()): the tails of any folio
   * whose struct pages fill an aligned infoSpan bytes of memmap, as a pointer to its head, so
   * that the tails of every such folio share one pattern (one id along a vmemmap block).
   */
  | {
      kind: "tails";
      voff: number;
      info: bigint;
      zeroBase?: boolean;
      flags?: bigint;
      infoSpan?: number;
    }
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

/**
 * What an id stands for (FrameStore's per-id arrays, indexed by id): own bytes, a pattern
 * rendered per read, or a "fill" pattern rendered once into bytes. `refs` counts the frames that
 * hold the id; an id no frame holds is freed (and reused). Kept in typed arrays, not an object
 * per id: a pool of thousands of folios makes and drops ids by the thousand.
 */
const ID_FREE = 0;
const ID_OWN = 1;
const ID_PATTERN = 2;
const ID_FILL = 3;
/** 64-bit words in runs of arithmetic progressions (WordRuns): a page table held compactly. */
const ID_RUNS = 4;

const TWO32 = 2 ** 32;
/** Numbers per run in WordRuns.r: first word, base lo and hi, delta lo and hi. */
const RUN_FIELDS = 5;
/** Numbers per id in FrameStore.pendOps: off, n, step, count, then 3 per word (at most 3). */
const PEND_OPS = 13;

/**
 * A page of 64-bit little-endian words held as runs: word w of run k (from start_k to the next
 * run's start) reads base_k + (w - start_k) * delta_k (mod 2^64), each number a pair of 32-bit
 * halves. A PTE table that maps consecutive frames with one protection (what
 * vmemmap_split_pmd() makes), or one frame over and over (what HVO leaves: the shared tail
 * read-only), or frames handed out top-down (what a restore maps) is one run or a few, not
 * 4 KiB. The delta of a run of one word is 0 and means nothing: the next word written decides
 * it.
 */
class WordRuns {
  /**
   * The runs, RUN_FIELDS numbers each: first word, lo, hi (the base's halves), dlo, dhi (the
   * delta's). One array rather than one per field: a pool of thousands of folios holds eight
   * PTE tables each as runs, and the heap the GC marks is an array and its elements per table.
   */
  r: number[] = [0, 0, 0, 0, 0];
  /** The high half of the word wordLo() read last. */
  h = 0;

  constructor(readonly words: number) {}

  clone(): WordRuns {
    const c = new WordRuns(this.words);
    c.r = this.r.slice();
    return c;
  }

  /** The number of runs. */
  private count(): number {
    return this.r.length / RUN_FIELDS;
  }

  private runOf(w: number): number {
    // Its own search, not lastAtOrBelow(): with that here and in lookupId(), filling the 64 TiB
    // machine took about 6% more CPU time (A/B of the compiled model, 6 pairs).
    const r = this.r;
    let lo = 0;
    let hi = this.count() - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (r[mid * RUN_FIELDS] <= w) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private startOf(k: number): number {
    return this.r[k * RUN_FIELDS];
  }

  private endOf(k: number): number {
    return k + 1 < this.count() ? this.r[(k + 1) * RUN_FIELDS] : this.words;
  }

  /** Word n of run k (n from the run's start): its low half, the high half left in h. */
  private at(k: number, n: number): number {
    const r = this.r;
    const o = k * RUN_FIELDS;
    const l = r[o + 1] + n * r[o + 3];
    const carry = Math.floor(l / TWO32);
    this.h = (r[o + 2] + n * r[o + 4] + carry) % TWO32;
    return l - carry * TWO32;
  }

  /** Word w's low half; its high half in h. */
  wordLo(w: number): number {
    const k = this.runOf(w);
    return this.at(k, w - this.startOf(k));
  }

  /**
   * Words [a, a + n) as runs, into out: first word, count, lo, hi, dlo, dhi per run (the first
   * run's base is the word at a). Returns the number of runs, or -1 when more than out holds.
   */
  runsIn(a: number, n: number, out: Float64Array): number {
    const b = a + n;
    let k = this.runOf(a);
    let r = 0;
    for (let w = a; w < b; k++) {
      if (r * 6 + 6 > out.length) return -1;
      const e = Math.min(this.endOf(k), b);
      const o = r * 6;
      out[o] = w;
      out[o + 1] = e - w;
      out[o + 2] = this.at(k, w - this.startOf(k));
      out[o + 3] = this.h;
      out[o + 4] = this.r[k * RUN_FIELDS + 3];
      out[o + 5] = this.r[k * RUN_FIELDS + 4];
      r++;
      w = e;
    }
    return r;
  }

  /** The little-endian bytes, into out (words * 8 bytes). */
  render(out: DataView): void {
    const nk = this.count();
    for (let k = 0; k < nk; k++) {
      const s = this.startOf(k);
      const e = this.endOf(k);
      for (let w = s; w < e; w++) {
        out.setUint32(w * 8, this.at(k, w - s), true);
        out.setUint32(w * 8 + 4, this.h, true);
      }
    }
  }

  /**
   * Words [a, a + n) = base + i * delta. Returns the number of runs (the caller gives up on
   * runs past a bound and keeps bytes instead).
   */
  assign(a: number, n: number, lo: number, hi: number, dlo: number, dhi: number): number {
    if (n === 1 && this.assignWord(a, lo >>> 0, hi >>> 0)) return this.count();
    const b = a + n;
    // The runs holding a and b - 1, split so that a and b start runs.
    this.splitAt(a);
    if (b < this.words) this.splitAt(b);
    const i = this.runOf(a);
    let j = i;
    while (j + 1 < this.count() && this.startOf(j + 1) < b) j++;
    // Runs i..j are [a, b): one run in their place.
    const r = this.r;
    r.splice((i + 1) * RUN_FIELDS, (j - i) * RUN_FIELDS);
    const o = i * RUN_FIELDS;
    r[o + 1] = lo >>> 0;
    r[o + 2] = hi >>> 0;
    r[o + 3] = n > 1 ? dlo >>> 0 : 0;
    r[o + 4] = n > 1 ? dhi >>> 0 : 0;
    // Joins: with the run after, then with the run before.
    if (i + 1 < this.count()) this.join(i);
    if (i > 0) this.join(i - 1);
    return this.count();
  }

  /**
   * The common single-word stores without reshaping the array: a store of what the word
   * already holds, and one that carries the run before it a word further (remap and restore
   * write a table's entries in order, each continuing the entry before). False: not such a
   * store, nothing done.
   */
  private assignWord(w: number, lo: number, hi: number): boolean {
    const k = this.runOf(w);
    const s = this.startOf(k);
    if (this.at(k, w - s) === lo && this.h === hi) return true;
    if (w !== s || k === 0) return false;
    const r = this.r;
    const p = k - 1;
    const op = p * RUN_FIELDS;
    const lenP = s - r[op];
    let dlo = r[op + 3];
    let dhi = r[op + 4];
    if (lenP === 1) {
      const borrow = lo < r[op + 1] ? 1 : 0;
      dlo = (lo - r[op + 1] + borrow * TWO32) >>> 0;
      dhi = (hi - r[op + 2] - borrow + 2 * TWO32) % TWO32;
    } else if (this.at(p, lenP) !== lo || this.h !== hi) return false;
    r[op + 3] = dlo;
    r[op + 4] = dhi;
    const e = this.endOf(k);
    const ok = k * RUN_FIELDS;
    if (e - s === 1) {
      // Run k was this word alone: it goes, and run p may now join the run after it.
      r.splice(ok, RUN_FIELDS);
      if (k < this.count()) this.join(p);
      return true;
    }
    // Run k starts a word later.
    r[ok + 1] = this.at(k, 1);
    r[ok + 2] = this.h;
    r[ok] = s + 1;
    if (e - s === 2) {
      r[ok + 3] = 0;
      r[ok + 4] = 0;
    }
    return true;
  }

  /** Makes w the start of a run (the run holding it split in two). */
  private splitAt(w: number): void {
    const k = this.runOf(w);
    const s = this.startOf(k);
    if (s === w) return;
    const lo = this.at(k, w - s);
    const r = this.r;
    const ok = k * RUN_FIELDS;
    r.splice(ok + RUN_FIELDS, 0, w, lo, this.h, r[ok + 3], r[ok + 4]);
    if (this.endOf(k + 1) - w === 1) {
      r[ok + RUN_FIELDS + 3] = 0;
      r[ok + RUN_FIELDS + 4] = 0;
    }
    if (w - s === 1) {
      r[ok + 3] = 0;
      r[ok + 4] = 0;
    }
  }

  /** Runs k and k + 1 become one where the words of both follow one progression. */
  private join(k: number): void {
    const r = this.r;
    const a = k * RUN_FIELDS;
    const b = a + RUN_FIELDS;
    const lenA = this.endOf(k) - r[a];
    const lenB = this.endOf(k + 1) - r[b];
    // The delta the joined run has: run k's, else run k + 1's, else the step between them.
    let dlo: number;
    let dhi: number;
    if (lenA > 1) {
      dlo = r[a + 3];
      dhi = r[a + 4];
    } else if (lenB > 1) {
      dlo = r[b + 3];
      dhi = r[b + 4];
    } else {
      // b - a (mod 2^64)
      const borrow = r[b + 1] < r[a + 1] ? 1 : 0;
      dlo = (r[b + 1] - r[a + 1] + borrow * TWO32) >>> 0;
      dhi = (r[b + 2] - r[a + 2] - borrow + 2 * TWO32) % TWO32;
    }
    if (lenB > 1 && (r[b + 3] !== dlo || r[b + 4] !== dhi)) return;
    // Run k's progression carried one word past its end must be run k + 1's first word.
    const l = r[a + 1] + lenA * dlo;
    const carry = Math.floor(l / TWO32);
    const h = (r[a + 2] + lenA * dhi + carry) % TWO32;
    if (l - carry * TWO32 !== r[b + 1] || h !== r[b + 2]) return;
    r[a + 3] = dlo;
    r[a + 4] = dhi;
    r.splice(b, RUN_FIELDS);
  }
}

/** Runs past which a page of words is kept as bytes instead. */
const RUNS_AT_MOST = 64;
/**
 * A store of this many words or more into a page held as bytes looks for runs in it again
 * (FrameStore.runsAgain()): a quarter of a 4 KiB page, so that the small stores of a remap
 * (seven PTEs of a 2 MiB folio) never pay for the look.
 */
const RUNS_AGAIN_WORDS = 128;
/** At most this many runs: well below RUNS_AT_MOST, so a page does not go back and forth. */
const RUNS_AGAIN_MOST = 16;

/** Slots of a new IdTable (a power of two; small: most classes hold a few ids). */
const ID_TABLE_FIRST = 8;

/**
 * A pattern class's ids by key (delta in pages), as a Map<number, number> would hold them (set()
 * replaces a key's id; ids are never 0), in open addressing over typed arrays: a class gets
 * thousands of ids where a restore's scattered pages back a large folio's memmap, one per run
 * of frames, and a Map's set() and get() were most of the cost of each.
 */
export class IdTable {
  private keys: Float64Array = new Float64Array(ID_TABLE_FIRST);
  /** 0: an empty slot. */
  private vals: Int32Array = new Int32Array(ID_TABLE_FIRST);
  /** The arrays before the last rebuild at the same size, reused by the next such rebuild. */
  private spareKeys: Float64Array | null = null;
  private spareVals: Int32Array | null = null;
  private mask = ID_TABLE_FIRST - 1;
  /** Keys held. */
  size = 0;

  private slotOf(key: number): number {
    // Keys are whole numbers, mostly small: both 32-bit halves mixed in, then a multiplicative
    // hash (its high bits are the well-mixed ones).
    const h = Math.imul((key | 0) ^ ((key / 4294967296) | 0), 0x9e3779b1);
    return (h ^ (h >>> 15)) & this.mask;
  }

  /** The id held for key, or 0. */
  get(key: number): number {
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    for (let i = this.slotOf(key); ; i = (i + 1) & mask) {
      const v = vals[i];
      if (v === 0) return 0;
      if (keys[i] === key) return v;
    }
  }

  /** Whether the next new key makes set() rebuild the table (then sweep() it first). */
  full(): boolean {
    return 2 * (this.size + 1) > this.mask + 1;
  }

  /**
   * Rebuilt with only the entries keep() says yes to (freed ids' entries swept), twice as large
   * when what is kept still fills a quarter of it.
   */
  sweep(keep: (key: number, id: number) => boolean): void {
    this.rebuild(keep);
  }

  /** Holds id for key (replacing the key's id); a table half full is rebuilt larger first. */
  set(key: number, id: number): void {
    if (this.full()) this.rebuild(null);
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    for (let i = this.slotOf(key); ; i = (i + 1) & mask) {
      const v = vals[i];
      if (v === 0) {
        keys[i] = key;
        vals[i] = id;
        this.size++;
        return;
      }
      if (keys[i] === key) {
        vals[i] = id;
        return;
      }
    }
  }

  /** Empty, at the size it has (a table handed to another class). */
  clear(): void {
    this.vals.fill(0);
    this.size = 0;
  }

  private rebuild(keep: ((key: number, id: number) => boolean) | null): void {
    const keys = this.keys;
    const vals = this.vals;
    let kept = 0;
    if (keep !== null) {
      // Entries not kept are marked empty here, then the rest moved (vals is rebuilt anyway).
      for (let i = 0; i < vals.length; i++)
        if (vals[i] !== 0) {
          if (keep(keys[i], vals[i])) kept++;
          else vals[i] = 0;
        }
    } else kept = this.size;
    const cap = 4 * (kept + 1) > vals.length ? 2 * vals.length : vals.length;
    let nk = this.spareKeys;
    let nv = this.spareVals;
    if (nk === null || nv === null || nv.length !== cap) {
      nk = new Float64Array(cap);
      nv = new Int32Array(cap);
    } else nv.fill(0);
    this.keys = nk;
    this.vals = nv;
    this.mask = cap - 1;
    this.size = 0;
    for (let i = 0; i < vals.length; i++) {
      const v = vals[i];
      if (v !== 0) this.set(keys[i], v);
    }
    // The old arrays serve the next rebuild at this size.
    this.spareKeys = cap === vals.length ? keys : null;
    this.spareVals = cap === vals.length ? vals : null;
  }
}

/** Patterns equal but for voff: their ids by delta (voff - frame * PAGE_SIZE) in pages. */
interface PatternClass {
  key: string;
  /** For the plain "tails" classes (no zeroBase, no flags): their key in tailClasses. */
  tailInfo: bigint | null;
  /**
   * Its ids by delta in pages. Entries are not removed when an id is freed (a delete per
   * dropped frame costs more than the rest of the drop): a hit counts only while the id is
   * still this class's at this delta, and the stale entries are swept when they outnumber the
   * live ones.
   */
  ids: IdTable;
  /**
   * The same for ids whose memmap offset falls as the frame number grows (dirs[id] = -1); null
   * until the class has one (most never do).
   */
  down: IdTable | null;
  /** Live ids of the class; the class goes when it reaches 0. */
  live: number;
  /** The pattern at voff 0, made by the class's first state and shared by all of them. */
  pat: FramePattern | null;
}

/** What patternShapeOf() returns for a frame of a boot range nobody wrote. */
const INIT_SHAPE: FramePattern = Object.freeze({ kind: "init", voff: 0 });

const CHUNK_SHIFT = 12;
const CHUNK = 2 ** CHUNK_SHIFT;
/** Runs above which a chunk keeps one id per frame instead. */
const DENSE_AT = 64;

/** The ids of CHUNK frames: runs (starts[0] = 0, ascending) or, when fragmented, one per frame. */
interface Chunk {
  starts: number[];
  ids: number[];
  dense: Int32Array | null;
}

/** Page buffers kept for reuse after the last frame holding them let go (16 MiB at most). */
const SPARE_BUFFERS = 4096;
/** Page buffers cut from one ArrayBuffer by FrameStore.freshPageBytes(). */
const PAGES_PER_SLAB = 16;
/** How many emptied "tails" classes FrameStore keeps for reuse. */
const SPARE_CLASSES = 4096;
/** At most this many emptied IdTables kept for reuse. */
const SPARE_ID_TABLES = 16;
/** Entries of the frame -> id cache (a power of two). */
const ID_CACHE = 1024;

const NO_BYTES = new Uint8Array(0);
const NO_VIEW = new DataView(NO_BYTES.buffer);
const NO_WORDS = new Uint32Array(0);

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The compound word a "tails" pattern gives the struct page at memmap offset voff: info, or
 * with infoSpan, info plus the offset of the infoSpan-aligned span that holds voff (the head's
 * struct page, where the pattern's info is the vmemmap's base plus the word's low bits).
 */
export function tailsInfoAt(p: { info: bigint; infoSpan?: number }, voff: number): bigint {
  const span = p.infoSpan;
  if (span === undefined) return p.info;
  return p.info + BigInt(Math.floor(voff / span) * span);
}

/** Whether a class's stored pattern gives the options of p exactly (voff aside). */
function sameOptions(stored: FramePattern, p: FramePattern): boolean {
  if (stored.kind === "init")
    return (
      p.kind === "init" &&
      stored.asFree === p.asFree &&
      stored.unlisted === p.unlisted &&
      stored.keepFirst === p.keepFirst
    );
  if (stored.kind === "tails")
    return (
      p.kind === "tails" &&
      stored.zeroBase === p.zeroBase &&
      stored.flags === p.flags &&
      stored.infoSpan === p.infoSpan
    );
  return p.kind === "fill";
}

/**
 * n (an integer) as a Map key that V8 hashes as a small integer when it is one: a number made
 * by a division can otherwise be a boxed double, hashed and compared as such.
 */
function smallKey(n: number): number {
  return n >= -0x40000000 && n < 0x40000000 ? n | 0 : n;
}

/**
 * Index of the run of a chunk's run list that holds frame offset off: the last start at or below
 * it (starts[0] is 0). Its own search, not lastAtOrBelow(), for speed: see WordRuns.runOf().
 */
function runIn(starts: readonly number[], off: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= off) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * A "fill" slot's bytes as a key: one character per byte (its code the byte's value), made by
 * one call; with the slot's length in front (patternId()), equal keys are equal bytes. Made once
 * per new "fill" class: 7.1's restore makes one per folio (its struct page 63 names the folio),
 * and a key built a byte at a time (two hex digits each) took about a quarter of its shrink.
 */
function slotKey(b: Uint8Array): string {
  return String.fromCharCode.apply(null, b as unknown as number[]);
}

export class FrameStore {
  readonly pageSize: number;
  readonly structPageSize: number;
  /** struct pages per frame */
  readonly perFrame: number;
  // ---- per id (index 0 is "nothing of its own") ----
  /** How many ids the typed arrays below have room for. */
  private idCap = 64;
  /** Ids handed out so far (the next new one). */
  private idEnd = 1;
  private readonly freeIds: number[] = [];
  /** ID_FREE / ID_OWN / ID_PATTERN / ID_FILL / ID_RUNS */
  private kinds = new Uint8Array(this.idCap);
  /** Frames holding the id. */
  private refs = new Float64Array(this.idCap);
  /**
   * A pattern's memmap offset minus dirs[id] * frame * PAGE_SIZE (0 for "fill" and own bytes):
   * the frame at memmap offset voff reads voff = delta + dir * frame * PAGE_SIZE.
   */
  private deltas = new Float64Array(this.idCap);
  /**
   * 1, or -1 for a pattern held by frames handed out top-down that back the memmap bottom-up
   * (the buddy allocator's order-0 pages taken off a list head, as a restore's page list is):
   * the frames of such a run hold one id, as an ascending run does.
   */
  private dirs = new Int8Array(this.idCap).fill(1);
  /** The frame whose pattern object memos[] holds (-1: none): patternOf() answers stay stable. */
  private memoFrames = new Float64Array(this.idCap).fill(-1);
  /** Own bytes, or a "fill" pattern rendered (NO_BYTES for a pattern rendered per read). */
  private readonly bytesOf: Uint8Array[] = [NO_BYTES];
  private readonly viewOf: DataView[] = [NO_VIEW];
  /** Own bytes as 32-bit words in the host's byte order (NO_WORDS for a pattern). */
  private readonly wordsOf: Uint32Array[] = [NO_WORDS];
  /** A pattern's stored form (voff 0) and class; null for own bytes. */
  private readonly patOf: (FramePattern | null)[] = [null];
  private readonly clsOf: (PatternClass | null)[] = [null];
  private readonly memos: (FramePattern | null)[] = [null];
  /** An ID_RUNS id's words. */
  private readonly runsOf: (WordRuns | null)[] = [null];
  /** Pattern classes by key, each with its ids by delta. */
  private readonly classes = new Map<string, PatternClass>();
  /**
   * The classes of plain "tails" patterns by their compound word: prep_compound_page() of a
   * legacy folio makes one per folio, so the key is the bigint itself, not a string of it.
   */
  private readonly tailClasses = new Map<bigint, PatternClass>();
  /** Plain "tails" classes no id belongs to any more, reused by patternId(). */
  private readonly spareTailClasses: PatternClass[] = [];
  /** Emptied IdTables of classes gone (idTable()). */
  private readonly spareIdTables: IdTable[] = [];

  /** An empty IdTable: a spare one if any. */
  private idTable(): IdTable {
    return this.spareIdTables.pop() ?? new IdTable();
  }
  /**
   * A zeroed page buffer for newOwnBlank(): a slice of a slab of PAGES_PER_SLAB pages, so one
   * ArrayBuffer allocation serves that many frames (each new ArrayBuffer costs several
   * microseconds, and a 1 GiB folio's give-back made ~4 of them). The slices are separate
   * views; their users go by byteOffset (newOwn()).
   */
  private freshPageBytes(): Uint8Array {
    if (this.slabNext === PAGES_PER_SLAB) {
      this.slab = new ArrayBuffer(this.pageSize * PAGES_PER_SLAB);
      this.slabNext = 0;
    }
    return new Uint8Array(this.slab, this.pageSize * this.slabNext++, this.pageSize);
  }
  private slab = new ArrayBuffer(0);
  private slabNext = PAGES_PER_SLAB;
  /** Own-bytes buffers no frame holds any more, reused by newOwn() (no 4 KiB allocation). */
  private readonly spareBytes: Uint8Array[] = [];
  private readonly spareViews: DataView[] = [];
  private readonly spareWords: Uint32Array[] = [];
  /**
   * A direct-mapped cache of idOf(): frame (-1: empty) and the id it holds, good while its
   * cacheEra entry is cacheEra. Kept equal to the chunks by setIds(), the only place ids change;
   * writes in place leave it alone.
   */
  private readonly cacheFrame = new Float64Array(ID_CACHE).fill(-1);
  private readonly cacheId = new Int32Array(ID_CACHE);
  /**
   * The era each cacheFrame entry was made in: a long run set forgets the whole cache by
   * starting a new era (no pass over ID_CACHE entries, which filling the 64 TiB machine with
   * 1 GiB pages paid dozens of times a folio).
   */
  private readonly cacheEras = new Int32Array(ID_CACHE);
  private cacheEra = 0;
  /** The class patternId() used last, with the fields that identify it. */
  private lastClass: {
    kind: FramePattern["kind"];
    slot: Uint8Array | null;
    asFree: boolean;
    unlisted: boolean;
    keepFirst: boolean;
    info: bigint;
    zeroBase: boolean;
    flags: bigint | undefined;
    infoSpan: number | undefined;
    cls: PatternClass;
  } | null = null;
  private readonly chunks = new Map<number, Chunk>();
  private lastChunkIdx = -1;
  private lastChunk: Chunk | undefined = undefined;
  private ownFrames = 0;
  private patternFrames = 0;
  /** The zero page's id: shared by every zeroed frame, never written in place. */
  private readonly zeroId: number;
  /** Boot vmemmap blocks, sorted by frameStart, never overlapping. */
  private readonly initRanges: InitRange[] = [];
  /** False after an addInitRange() out of order; findInit() sorts before it searches. */
  private initSorted = true;
  private readonly scratch: Uint8Array;
  private readonly scratchView: DataView;
  private readonly scratchWords: Uint32Array;
  private readonly slotBuf: Uint8Array;
  private readonly slotView: DataView;
  /** A page's struct pages rendered a run at a time (InitStructPages). */
  private readonly initStructPages: InitStructPages;
  /** slotBuf as 32-bit words (the whole words of a struct page), and a copy for settleAsFree(). */
  private readonly slotWords: Uint32Array;
  private readonly tmplWords: Uint32Array;

  constructor(
    pageSize: number,
    structPageSize: number,
    private readonly initStructPage: InitStructPage,
    private readonly tail: TailFields,
    initStructPages?: InitStructPages,
  ) {
    this.initStructPages =
      initStructPages ??
      ((first, n, out, view, off, asFree) => {
        for (let i = 0; i < n; i++)
          initStructPage(first + i, out, view, off + i * structPageSize, asFree);
      });
    this.pageSize = pageSize;
    this.structPageSize = structPageSize;
    this.perFrame = Math.floor(pageSize / structPageSize);
    this.zeroId = this.newOwn(new Uint8Array(pageSize));
    // Never 1 (never written in place) and never counted down to 0: take() and drop() leave it.
    this.refs[this.zeroId] = 2;
    this.scratch = new Uint8Array(pageSize);
    this.scratchView = new DataView(this.scratch.buffer);
    this.scratchWords = new Uint32Array(this.scratch.buffer, 0, pageSize >> 2);
    this.slotBuf = new Uint8Array(structPageSize);
    this.slotView = new DataView(this.slotBuf.buffer);
    this.slotWords = new Uint32Array(this.slotBuf.buffer, 0, structPageSize >> 2);
    this.tmplWords = new Uint32Array(structPageSize >> 2);
  }

  // ---- ids ------------------------------------------------------------------------------------

  /** A free id, its arrays' slots set to the given state with no frame holding it. */
  private newId(
    kind: number,
    bytes: Uint8Array,
    view: DataView,
    words: Uint32Array,
    pat: FramePattern | null,
    delta: number,
    cls: PatternClass | null,
    dir = 1,
  ): number {
    let id = this.freeIds.pop();
    if (id === undefined) {
      id = this.idEnd++;
      if (id >= this.idCap) this.growIds();
    }
    this.kinds[id] = kind;
    this.refs[id] = 0;
    this.deltas[id] = delta;
    this.dirs[id] = dir;
    this.memoFrames[id] = -1;
    this.bytesOf[id] = bytes;
    this.viewOf[id] = view;
    this.wordsOf[id] = words;
    this.patOf[id] = pat;
    this.clsOf[id] = cls;
    this.memos[id] = null;
    this.runsOf[id] = null;
    return id;
  }

  private growIds(): void {
    const cap = this.idCap * 2;
    const grow = <T extends Uint8Array | Int8Array | Float64Array>(
      a: T,
      make: (n: number) => T,
    ): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.kinds = grow(this.kinds, (n) => new Uint8Array(n));
    this.refs = grow(this.refs, (n) => new Float64Array(n));
    this.deltas = grow(this.deltas, (n) => new Float64Array(n));
    this.dirs = grow(this.dirs, (n) => new Int8Array(n).fill(1));
    this.memoFrames = grow(this.memoFrames, (n) => new Float64Array(n).fill(-1));
    this.idCap = cap;
  }

  private newOwn(bytes: Uint8Array): number {
    return this.newId(
      ID_OWN,
      bytes,
      new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2),
      null,
      0,
      null,
    );
  }

  /** newOwn() of a page buffer whose contents the caller overwrites whole (a spare, if any). */
  private newOwnBlank(): number {
    const bytes = this.spareBytes.pop();
    if (bytes === undefined) return this.newOwn(this.freshPageBytes());
    return this.newId(
      ID_OWN,
      bytes,
      this.spareViews.pop() as DataView,
      this.spareWords.pop() as Uint32Array,
      null,
      0,
      null,
    );
  }

  /** The interned id of pattern p held by a frame at `frame` (p.voff is that frame's). */
  private patternId(frame: number, p: FramePattern, nr: number, dir = 1): number {
    const l = this.lastClass;
    let cls: PatternClass | undefined;
    // Runs of one folio, or of folios next to each other, repeat the pattern but for voff.
    if (
      l !== null &&
      l.kind === p.kind &&
      (p.kind === "fill"
        ? l.slot !== null && equalBytes(l.slot, p.slot)
        : p.kind === "init"
          ? l.asFree === (p.asFree === true) &&
            l.unlisted === (p.unlisted === true) &&
            l.keepFirst === (p.keepFirst === true)
          : l.info === p.info &&
            l.zeroBase === (p.zeroBase === true) &&
            l.flags === p.flags &&
            l.infoSpan === p.infoSpan)
    )
      cls = l.cls;
    else if (
      p.kind === "tails" &&
      p.zeroBase !== true &&
      p.flags === undefined &&
      p.infoSpan === undefined
    ) {
      // Plain tails: one class per compound word, looked up by the word itself.
      cls = this.tailClasses.get(p.info);
      if (cls === undefined) {
        // A class the last folio left, if any (no object and Map per folio).
        const spare = this.spareTailClasses.pop();
        if (spare !== undefined) {
          cls = spare;
          cls.tailInfo = p.info;
        } else
          cls = {
            key: "",
            tailInfo: p.info,
            ids: this.idTable(),
            down: null,
            live: 0,
            pat: null,
          };
        this.tailClasses.set(p.info, cls);
      }
      const l = this.lastClass;
      if (l !== null && l.kind === "tails") {
        // Reused in place: no object per folio.
        l.slot = null;
        l.asFree = false;
        l.unlisted = false;
        l.keepFirst = false;
        l.info = p.info;
        l.zeroBase = false;
        l.flags = undefined;
        l.infoSpan = undefined;
        l.cls = cls;
      } else
        this.lastClass = {
          kind: "tails",
          slot: null,
          asFree: false,
          unlisted: false,
          keepFirst: false,
          info: p.info,
          zeroBase: false,
          flags: undefined,
          infoSpan: undefined,
          cls,
        };
    } else {
      let key: string;
      if (p.kind === "fill") key = `f|${p.slot.length}|${slotKey(p.slot)}`;
      else if (p.kind === "init")
        key = `i|${p.asFree === true}|${p.unlisted === true}${p.keepFirst === true ? "|k" : ""}`;
      else key = `t|${p.info}|${p.zeroBase === true}|${p.flags ?? ""}|${p.infoSpan ?? ""}`;
      cls = this.classes.get(key);
      if (cls === undefined) {
        cls = { key, tailInfo: null, ids: this.idTable(), down: null, live: 0, pat: null };
        this.classes.set(key, cls);
      }
      this.lastClass = {
        kind: p.kind,
        slot: p.kind === "fill" ? p.slot.slice() : null,
        asFree: p.kind === "init" && p.asFree === true,
        unlisted: p.kind === "init" && p.unlisted === true,
        keepFirst: p.kind === "init" && p.keepFirst === true,
        info: p.kind === "tails" ? p.info : 0n,
        zeroBase: p.kind === "tails" && p.zeroBase === true,
        flags: p.kind === "tails" ? p.flags : undefined,
        infoSpan: p.kind === "tails" ? p.infoSpan : undefined,
        cls,
      };
    }
    if (p.kind === "fill") return this.classId(cls, 0, 1, p);
    // A falling run: frame + i reads p.voff - i * PAGE_SIZE (delta + dir * frame * PAGE_SIZE).
    if (dir < 0) return this.classId(cls, p.voff + frame * this.pageSize, -1, p);
    return this.classIdAt(cls, frame, p.voff, nr, p);
  }

  /** The id of class cls's live state at (delta, dir), or 0. */
  private classHas(cls: PatternClass, delta: number, dir: number): number {
    // The id found last first: a run of frames (a folio's vmemmap pages, one at a time) asks
    // for the same state over and over.
    const last = this.lastHas;
    if (
      this.kinds[last] !== ID_FREE &&
      this.clsOf[last] === cls &&
      this.deltas[last] === delta &&
      this.dirs[last] === dir
    )
      return last;
    const map = dir === 1 ? cls.ids : cls.down;
    if (map === null) return 0;
    const have = map.get(smallKey(delta / this.pageSize));
    if (
      have !== 0 &&
      this.kinds[have] !== ID_FREE &&
      this.clsOf[have] === cls &&
      this.deltas[have] === delta &&
      this.dirs[have] === dir
    ) {
      this.lastHas = have;
      return have;
    }
    return 0;
  }

  /** The id classHas() found last (0: none; checked as a map hit is before it is used). */
  private lastHas = 0;

  /**
   * The id of class cls for `nr` frames from `frame` reading memmap from voff on, ascending. A
   * single frame may instead join a falling run: one whose next frame up reads the memmap page
   * before this one (a page list taken top-down, mapped bottom-up), so that such a run holds one
   * id too.
   */
  private classIdAt(
    cls: PatternClass,
    frame: number,
    voff: number,
    nr: number,
    p: FramePattern,
  ): number {
    const ps = this.pageSize;
    const up = voff - frame * ps;
    const have = this.classHas(cls, up, 1);
    // Each classId() below is asked for a state classHas() just found none of (it makes one).
    if (have !== 0 || nr !== 1) return have !== 0 ? have : this.classId(cls, up, 1, p, true);
    const down = voff + frame * ps;
    const fall = this.classHas(cls, down, -1);
    if (fall !== 0) return fall;
    const above = this.idOf(frame + 1);
    if (
      above !== 0 &&
      this.clsOf[above] === cls &&
      this.deltas[above] + this.dirs[above] * (frame + 1) * ps === voff - ps
    )
      return this.classId(cls, down, -1, p, true);
    return this.classId(cls, up, 1, p, true);
  }

  /** The id of class cls at offset delta and direction dir, made from p when there is none yet. */
  private classId(
    cls: PatternClass,
    delta: number,
    dir: number,
    p: FramePattern,
    /** The caller's classHas() of the same state found none (nothing changed since). */
    absent = false,
  ): number {
    // Keyed in pages: deltas are whole pages (vmemmap pages start on page boundaries), and a
    // page count stays a small integer where a byte count would not (a cheaper Map key).
    const key = smallKey(delta / this.pageSize);
    const have = absent ? 0 : this.classHas(cls, delta, dir);
    if (have !== 0) return have;
    // The states of a class share one pattern (never written) when p says exactly the same
    // (asFree, zeroBase and flags as given: absent and false are told apart).
    let stored = cls.pat;
    if (stored === null || !sameOptions(stored, p)) {
      const made: FramePattern =
        p.kind === "fill"
          ? { kind: "fill", slot: p.slot.slice() }
          : p.kind === "init"
            ? p.unlisted === true
              ? p.keepFirst === true
                ? { kind: "init", voff: 0, asFree: p.asFree, unlisted: true, keepFirst: true }
                : { kind: "init", voff: 0, asFree: p.asFree, unlisted: true }
              : { kind: "init", voff: 0, asFree: p.asFree }
            : p.infoSpan !== undefined
              ? {
                  kind: "tails",
                  voff: 0,
                  info: p.info,
                  zeroBase: p.zeroBase,
                  flags: p.flags,
                  infoSpan: p.infoSpan,
                }
              : { kind: "tails", voff: 0, info: p.info, zeroBase: p.zeroBase, flags: p.flags };
      if (stored === null) cls.pat = made;
      stored = made;
    }
    // A "fill" page reads the same wherever it is: rendered once, read as bytes.
    const fill = stored.kind === "fill";
    const bytes = fill ? new Uint8Array(this.pageSize) : NO_BYTES;
    const view = fill ? new DataView(bytes.buffer) : NO_VIEW;
    if (fill) this.render(stored, bytes, view);
    const id = this.newId(
      fill ? ID_FILL : ID_PATTERN,
      bytes,
      view,
      // Its words for readU64Lo() (mainline's shared page of tails is one: every tail read).
      fill ? new Uint32Array(bytes.buffer) : NO_WORDS,
      stored,
      delta,
      cls,
      dir,
    );
    cls.live++;
    let map = dir === 1 ? cls.ids : cls.down;
    if (map === null) map = cls.down = this.idTable();
    // The entries of freed ids are swept when the table would grow (amortised: one pass over
    // the table per as many new ids as it had room for).
    if (map.full())
      map.sweep(
        (k, v) =>
          this.kinds[v] !== ID_FREE &&
          this.clsOf[v] === cls &&
          this.deltas[v] === k * this.pageSize &&
          this.dirs[v] === dir,
      );
    map.set(key, id);
    return id;
  }

  private take(id: number, n: number): void {
    if (id === 0) return;
    if (id === this.zeroId) {
      this.ownFrames += n;
      return;
    }
    this.refs[id] += n;
    const kind = this.kinds[id];
    if (kind === ID_OWN || kind === ID_RUNS) this.ownFrames += n;
    else this.patternFrames += n;
  }

  private drop(id: number, n: number): void {
    if (id === 0) return;
    if (id === this.zeroId) {
      this.ownFrames -= n;
      return;
    }
    const refs = this.refs[id] - n;
    this.refs[id] = refs;
    const kind = this.kinds[id];
    if (kind === ID_OWN || kind === ID_RUNS) this.ownFrames -= n;
    else this.patternFrames -= n;
    if (refs !== 0) return;
    if (id < this.pendHi.length) this.pendHi[id] = 0;
    this.freeIds.push(id);
    this.kinds[id] = ID_FREE;
    const cls = this.clsOf[id];
    if (cls !== null) {
      cls.live--;
      if (cls.live === 0) {
        if (this.lastClass?.cls === cls) this.lastClass = null;
        if (cls.tailInfo !== null) {
          this.tailClasses.delete(cls.tailInfo);
          if (this.spareTailClasses.length < SPARE_CLASSES) {
            // No id is this class's any more, so it can serve the next plain "tails" class. Its
            // tables keep their stale entries (a clear would allocate new arrays): classHas()
            // takes an entry only for a live id of the class, and classId() sweeps them.
            cls.pat = null;
            this.spareTailClasses.push(cls);
          }
        } else {
          this.classes.delete(cls.key);
          // Its tables, emptied, serve the next classes (a folio's tails class goes with the
          // folio: no tables grown anew per folio).
          for (const t of [cls.ids, cls.down])
            if (t !== null && this.spareIdTables.length < SPARE_ID_TABLES) {
              t.clear();
              this.spareIdTables.push(t);
            }
        }
      }
    } else if (kind === ID_OWN && this.spareBytes.length < SPARE_BUFFERS) {
      // No frame reads these bytes any more (view() answers are good until the next change).
      this.spareBytes.push(this.bytesOf[id]);
      this.spareViews.push(this.viewOf[id]);
      this.spareWords.push(this.wordsOf[id]);
    }
    this.bytesOf[id] = NO_BYTES;
    this.viewOf[id] = NO_VIEW;
    this.wordsOf[id] = NO_WORDS;
    this.patOf[id] = null;
    this.clsOf[id] = null;
    this.memos[id] = null;
    this.runsOf[id] = null;
  }

  // ---- the frame -> id map ----------------------------------------------------------------------

  private chunkOf(ci: number): Chunk | undefined {
    if (ci === this.lastChunkIdx) return this.lastChunk;
    const c = this.chunks.get(ci);
    this.lastChunkIdx = ci;
    this.lastChunk = c;
    return c;
  }

  /** The id frame holds. */
  private idOf(frame: number): number {
    const slot = frame & (ID_CACHE - 1);
    if (this.cacheFrame[slot] === frame && this.cacheEras[slot] === this.cacheEra)
      return this.cacheId[slot];
    const id = this.lookupId(frame);
    this.cacheFrame[slot] = frame;
    this.cacheId[slot] = id;
    this.cacheEras[slot] = this.cacheEra;
    return id;
  }

  /** Frames [frame, frame + nr) now hold id: the cache follows (or forgets, for long runs). */
  private cacheSet(frame: number, nr: number, id: number): void {
    if (nr > 64) {
      if (this.cacheEra === 0x7fffffff) {
        // Eras used up (2^31 long runs): entries of an old era could come back as current.
        this.cacheFrame.fill(-1);
        this.cacheEras.fill(0);
        this.cacheEra = 0;
      } else this.cacheEra++;
      return;
    }
    const cf = this.cacheFrame;
    const ce = this.cacheEras;
    const era = this.cacheEra;
    for (let f = frame; f < frame + nr; f++) {
      const slot = f & (ID_CACHE - 1);
      if (cf[slot] === f && ce[slot] === era) this.cacheId[slot] = id;
    }
  }

  private lookupId(frame: number): number {
    const ci = smallKey(Math.floor(frame / CHUNK));
    const c = this.chunkOf(ci);
    if (c === undefined) return 0;
    const off = frame - ci * CHUNK;
    if (c.dense) return c.dense[off];
    return c.ids[runIn(c.starts, off)];
  }

  /** Frames [frame, frame + nr) hold id from now on (the states they held lose them). */
  private setIds(frame: number, nr: number, id: number): void {
    this.gen++;
    this.tableWrite(frame, nr);
    this.cacheSet(frame, nr, id);
    this.take(id, nr);
    while (nr > 0) {
      const ci = smallKey(Math.floor(frame / CHUNK));
      const off = frame - ci * CHUNK;
      const n = Math.min(nr, CHUNK - off);
      let c = this.chunkOf(ci);
      if (c === undefined) {
        if (id !== 0) {
          c = { starts: [0], ids: [0], dense: null };
          this.chunks.set(ci, c);
          this.lastChunkIdx = ci;
          this.lastChunk = c;
          this.chunkSet(c, off, n, id);
        }
      } else {
        this.chunkSet(c, off, n, id);
        if (c.dense === null && c.starts.length === 1 && c.ids[0] === 0) {
          this.chunks.delete(ci);
          this.lastChunkIdx = -1;
        }
      }
      frame += n;
      nr -= n;
    }
  }

  private chunkSet(c: Chunk, off: number, n: number, id: number): void {
    const end = off + n;
    if (c.dense) {
      const d = c.dense;
      // Frames next to each other mostly held one id: dropped once per such run.
      let i = off;
      while (i < end) {
        const old = d[i];
        let j = i + 1;
        while (j < end && d[j] === old) j++;
        // A few frames (a folio's tail pages) by hand: fill() costs a builtin call.
        if (j - i <= 16) for (let k = i; k < j; k++) d[k] = id;
        else d.fill(id, i, j);
        this.drop(old, j - i);
        i = j;
      }
      return;
    }
    const { starts, ids } = c;
    // i: the run holding off; j: the run holding end - 1.
    let i = starts.length - 1;
    while (starts[i] > off) i--;
    const runEnd = i + 1 < starts.length ? starts[i + 1] : CHUNK;
    if (end <= runEnd) {
      // Inside one run (the common case: frame by frame, in order).
      if (ids[i] === id) {
        this.drop(id, n);
        return;
      }
      if (off === starts[i] && i > 0 && ids[i - 1] === id) {
        // The previous run grows over the first n frames of this one.
        this.drop(ids[i], n);
        if (end === runEnd) {
          starts.splice(i, 1);
          ids.splice(i, 1);
          if (i < starts.length && ids[i] === id) {
            starts.splice(i, 1);
            ids.splice(i, 1);
          }
        } else starts[i] = end;
        return;
      }
      // Split the run without building arrays: [a, off) old, [off, end) id, [end, b) old.
      const old = ids[i];
      this.drop(old, n);
      const next = i + 1 < ids.length ? ids[i + 1] : -1;
      if (off > starts[i]) {
        if (end < runEnd) {
          starts.splice(i + 1, 0, off, end);
          ids.splice(i + 1, 0, id, old);
        } else if (next === id) starts[i + 1] = off;
        else {
          starts.splice(i + 1, 0, off);
          ids.splice(i + 1, 0, id);
        }
      } else if (end < runEnd) {
        // off is the run's start, and the previous run holds another id.
        starts.splice(i + 1, 0, end);
        ids.splice(i, 0, id);
      } else {
        // The whole run: it takes the id, and merges with equal neighbours.
        ids[i] = id;
        if (next === id) {
          starts.splice(i + 1, 1);
          ids.splice(i + 1, 1);
        }
        if (i > 0 && ids[i - 1] === id) {
          starts.splice(i, 1);
          ids.splice(i, 1);
        }
      }
      if (starts.length > DENSE_AT) this.makeDense(c);
      return;
    }
    let j = i;
    while (j + 1 < starts.length && starts[j + 1] < end) j++;
    for (let k = i; k <= j; k++) {
      const a = Math.max(starts[k], off);
      const b = Math.min(k + 1 < starts.length ? starts[k + 1] : CHUNK, end);
      this.drop(ids[k], b - a);
    }
    const nextStart = j + 1 < starts.length ? starts[j + 1] : CHUNK;
    const newStarts: number[] = [];
    const newIds: number[] = [];
    if (starts[i] < off) {
      newStarts.push(starts[i]);
      newIds.push(ids[i]);
    }
    newStarts.push(off);
    newIds.push(id);
    if (end < nextStart) {
      newStarts.push(end);
      newIds.push(ids[j]);
    }
    starts.splice(i, j - i + 1, ...newStarts);
    ids.splice(i, j - i + 1, ...newIds);
    // Merge equal neighbours around the change.
    const lo = Math.max(1, i);
    let k = Math.min(starts.length - 1, i + newStarts.length);
    for (; k >= lo; k--) {
      if (ids[k] === ids[k - 1]) {
        starts.splice(k, 1);
        ids.splice(k, 1);
      }
    }
    if (starts.length > DENSE_AT) this.makeDense(c);
  }

  /** One id per frame from now on. */
  private makeDense(c: Chunk): void {
    const { starts, ids } = c;
    const d = new Int32Array(CHUNK);
    for (let r = 0; r < starts.length; r++)
      d.fill(ids[r], starts[r], r + 1 < starts.length ? starts[r + 1] : CHUNK);
    c.dense = d;
    c.starts = [];
    c.ids = [];
  }

  // ---- boot ranges --------------------------------------------------------------------------

  /** Boot: frames [frameStart, frameStart + nr) back the memmap from byte offset voff on. */
  addInitRange(frameStart: number, nrFrames: number, voff: number): void {
    const a = this.initRanges;
    const last = a[a.length - 1];
    // memblock hands out blocks top-down, so boot ranges mostly come in falling frame order:
    // append, and sort once when first searched (an insertion sort here is quadratic).
    // A block right after the last one, backing the memmap right after it: one range.
    if (
      last &&
      last.frameEnd === frameStart &&
      last.voff + (last.frameEnd - last.frameStart) * this.pageSize === voff
    ) {
      last.frameEnd += nrFrames;
      return;
    }
    if (last && last.frameStart > frameStart) this.initSorted = false;
    a.push({ frameStart, frameEnd: frameStart + nrFrames, voff });
  }

  private findInit(frame: number): InitRange | null {
    const a = this.initRanges;
    if (!this.initSorted) {
      a.sort((x, y) => x.frameStart - y.frameStart);
      this.initSorted = true;
    }
    const i = lastAtOrBelow(a, frame, (r) => r.frameStart);
    return i >= 0 && frame < a[i].frameEnd ? a[i] : null;
  }

  // ---- reading ----------------------------------------------------------------------------

  /** The pattern and memmap offset of a frame with id `id` (0: its boot range's, if any). */
  private patternAt(frame: number, id: number): FramePattern | null {
    if (id === 0) {
      const r = this.findInit(frame);
      if (r) return { kind: "init", voff: r.voff + (frame - r.frameStart) * this.pageSize };
      return null;
    }
    const p = this.patOf[id];
    if (p === null || p.kind === "fill") return p;
    if (this.memoFrames[id] !== frame) {
      this.memoFrames[id] = frame;
      const voff = this.deltas[id] + this.dirs[id] * frame * this.pageSize;
      if (p.kind === "tails" && p.infoSpan !== undefined) {
        // The frame's own compound word: a pattern as a caller could have given it.
        const { infoSpan: _span, ...plain } = p;
        this.memos[id] = { ...plain, voff, info: tailsInfoAt(p, voff) };
      } else this.memos[id] = { ...p, voff };
    }
    return this.memos[id];
  }

  /** The pattern a frame reads as, or null for own bytes or zeros. */
  patternOf(frame: number): FramePattern | null {
    return this.patternAt(frame, this.idOf(frame));
  }

  /**
   * patternOf(frame) but for its voff, which is not this frame's (the pattern as its first
   * frame took it; an "init" frame reads as INIT_SHAPE): no object made per frame, for loops
   * that look at kind, info or slot only (page_alloc.ts freePagesCheck()).
   */
  patternShapeOf(frame: number): FramePattern | null {
    const id = this.idOf(frame);
    if (id === 0) return this.findInit(frame) !== null ? INIT_SHAPE : null;
    return this.patOf[id];
  }

  /**
   * patternOf(frame).info when the frame reads as a "tails" pattern, else null, without making
   * the pattern object (the checker's folio checks read it for every tail vmemmap page).
   */
  tailsInfoOf(frame: number): bigint | null {
    const id = this.idOf(frame);
    const p = id === 0 ? null : this.patOf[id];
    if (p === null || p.kind !== "tails") return null;
    return tailsInfoAt(p, this.deltas[id] + this.dirs[id] * frame * this.pageSize);
  }

  /** patternOf(frame)?.kind === "init", without making the pattern object. */
  readsAsInit(frame: number): boolean {
    const id = this.idOf(frame);
    if (id === 0) return this.findInit(frame) !== null;
    const p = this.patOf[id];
    return p !== null && p.kind === "init" && p.keepFirst !== true;
  }

  /**
   * Whether a store that makes this frame's bytes its own renders them from the model's state
   * (initStructPages(): the buddy's lists among it): a pattern but memmap_init()'s own, which a
   * struct page store leaves generated (readsAsInit()), or "fill". Own bytes are copied, page
   * table runs and zeros read no state.
   */
  rendersOnStore(frame: number): boolean {
    const id = this.idOf(frame);
    if (id === 0 || this.kinds[id] !== ID_PATTERN) return false;
    const p = this.patOf[id];
    return p !== null && p.kind !== "fill" && !(p.kind === "init" && p.keepFirst !== true);
  }

  hasOwnBytes(frame: number): boolean {
    const id = this.idOf(frame);
    return id !== 0 && (this.kinds[id] === ID_OWN || this.kinds[id] === ID_RUNS);
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
      const n = this.perFrame;
      if (p.kind === "init") {
        this.initStructPages(first, n, out, outView, 0, p.asFree === true);
        if (p.unlisted === true) for (let i = 0; i < n; i++) this.unlist(outView, i * sps);
        if (p.keepFirst === true) this.renderKept(first, out, outView);
        return;
      }
      if (!p.zeroBase) this.initStructPages(first, n, out, outView, 0, true);
      // One compound word for the page unless it straddles two folios' spans (infoSpan).
      const span = p.infoSpan;
      const oneInfo = span === undefined || (p.voff % span) + this.pageSize <= span;
      const info = tailsInfoAt(p, p.voff);
      for (let i = 0; i < n; i++) {
        const off = i * sps;
        if (p.flags !== undefined) outView.setBigUint64(off + t.flagsOff, p.flags, true);
        outView.setBigUint64(off + t.infoOff, oneInfo ? info : tailsInfoAt(p, p.voff + off), true);
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

  /**
   * The kept first struct page of a keepFirst pattern, pfn's, into out[0, sps): memmap_init()'s
   * (as boot memory) with PG_reserved cleared and _refcount 0.
   */
  private renderKept(pfn: number, out: Uint8Array, v: DataView): void {
    const t = this.tail;
    out.fill(0, 0, this.structPageSize);
    this.initStructPage(pfn, out, v, 0, false);
    const w = t.flagsOff + (PG.reserved < 32 ? 0 : 4);
    v.setUint32(w, (v.getUint32(w, true) & ~(1 << (PG.reserved % 32))) >>> 0, true);
    v.setUint32(t.refcountOff, 0, true);
  }

  /** LIST_POISON1/2 into the lru of the struct page at off unless it is a free head. */
  private unlist(v: DataView, off: number): void {
    if (v.getUint32(off + this.tail.mapcountOff, true) !== 0xffffffff) return;
    v.setUint32(off + PAGE_OFF.lruNext, POISON1_LO, true);
    v.setUint32(off + PAGE_OFF.lruNext + 4, POISON_HI, true);
    v.setUint32(off + PAGE_OFF.lruPrev, POISON2_LO, true);
    v.setUint32(off + PAGE_OFF.lruPrev + 4, POISON_HI, true);
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
      // The frame's first struct page (p.voff here may be the class's, not the frame's).
      if (p.keepFirst === true && (pfn * sps) % this.pageSize === 0) this.renderKept(pfn, out, v);
      return;
    }
    const t = this.tail;
    if (!p.zeroBase) this.initStructPage(pfn, out, v, 0, true);
    if (p.flags !== undefined) v.setBigUint64(t.flagsOff, p.flags, true);
    v.setBigUint64(t.infoOff, tailsInfoAt(p, pfn * sps), true);
    v.setBigUint64(t.mappingOff, TAIL_MAPPING, true);
    v.setBigUint64(t.privateOff, 0n, true);
    v.setUint32(t.refcountOff, 0, true);
    if (p.zeroBase) v.setUint32(t.mapcountOff, 0xffffffff, true);
  }

  /** The bytes of a frame, read-only: own bytes or a rendering in a scratch buffer. */
  view(frame: number): Uint8Array {
    const id = this.idOf(frame);
    this.pendingAt(id, 0, this.pageSize);
    if (id !== 0 && this.kinds[id] === ID_OWN) return this.bytesOf[id];
    if (id !== 0 && this.kinds[id] === ID_RUNS) {
      // A new buffer, not the scratch one: a frame that hasOwnBytes() answers for is read as
      // bytes that stay put until it is written (src/check/vmemmap_mirror.ts keeps them).
      const out = new Uint8Array(this.pageSize);
      this.renderRuns(id, out, new DataView(out.buffer));
      return out;
    }
    const p = this.patternAt(frame, id);
    if (p) this.render(p, this.scratch, this.scratchView);
    else this.scratch.fill(0);
    return this.scratch;
  }

  /**
   * The frame's own bytes, read-only (its held-back stores made), or null when it holds none
   * (a pattern, runs of words, zeros): for a reader of many words of one frame, one lookup
   * instead of one per word. Good until the next write to the frame store.
   */
  ownView(frame: number): DataView | null {
    const id = this.idOf(frame);
    if (id === 0 || this.kinds[id] !== ID_OWN) return null;
    this.pendingAt(id, 0, this.pageSize);
    return this.viewOf[id];
  }

  /** A frame's bytes as a new array (for copies that must survive later reads). */
  snapshot(frame: number): Uint8Array {
    return this.view(frame).slice();
  }

  readU32(frame: number, off: number): number {
    const id = this.idOf(frame);
    let p: FramePattern | null;
    if (id !== 0) {
      const kind = this.kinds[id];
      if (kind === ID_RUNS) {
        if (off % 4 !== 0) {
          this.renderRuns(id, this.scratch, this.scratchView);
          return this.scratchView.getUint32(off, true);
        }
        const r = this.runsOf[id] as WordRuns;
        const lo = r.wordLo(off >> 3);
        return (off & 4) === 0 ? lo : r.h;
      }
      if (kind !== ID_PATTERN) {
        this.pendingAt(id, off, off + 4);
        return this.viewOf[id].getUint32(off, true);
      }
      p = this.patOf[id] as FramePattern;
      // Render only the one struct page that holds the word (aligned words never straddle one).
      const byte = this.deltas[id] + this.dirs[id] * frame * this.pageSize + off;
      const pfn = Math.floor(byte / this.structPageSize);
      this.renderStructPage(p, pfn, this.slotBuf);
      return this.slotView.getUint32(byte - pfn * this.structPageSize, true);
    }
    // A boot range's frame: the "init" pattern at the range's offset (no pattern object made).
    const r = this.findInit(frame);
    if (r === null) return 0;
    const byte = r.voff + (frame - r.frameStart) * this.pageSize + off;
    const pfn = Math.floor(byte / this.structPageSize);
    this.renderStructPage(INIT_SHAPE, pfn, this.slotBuf);
    return this.slotView.getUint32(byte - pfn * this.structPageSize, true);
  }

  /** The high half of the word readU64Lo() read last. */
  hi = 0;

  /**
   * Bumped by every change of any frame's contents: a TLB entry filled at the current value
   * still equals a fresh walk (pgtable.ts evicts such entries without walking).
   */
  gen = 0;

  /**
   * Bumped by pgtable.ts on a page-table write that may change a walk's path (any table but the
   * PTE table its walk remembers): every remembered PTE table is forgotten.
   */
  pgtEpoch = 0;
  /**
   * Bumped by pgtable.ts set() unless the write is known to be to a table of the PMD level or
   * below (which cannot change what PMD-level table a walk reaches): pgtable.ts's memory of a
   * PMD-level table is forgotten. setPte() and setPteRun() (last-level entries) leave it.
   */
  pgtEpochHigh = 0;
  /**
   * Frames some walk of pgtable.ts has passed through as a table above the last level, and
   * (High) above the PMD level: a write to one may change a remembered walk's path, so it
   * bumps pgtEpoch / pgtEpochHigh whatever table its writer takes it for. Only grows.
   */
  readonly pgtUpper = new Set<number>();
  readonly pgtUpperHigh = new Set<number>();
  /** Bumped when a frame joins pgtUpper. */
  pgtUpperGen = 0;

  /**
   * Frames some walk of pgtable.ts has read an entry from, at any level (a frame reached
   * through a wrong pointer included; noteTable()): a bit per frame, by chunk of frames. Only
   * grows.
   */
  private readonly tableBits = new Map<number, Uint32Array>();
  /**
   * Bumped with gen by a change to a frame noteTable() was told of: while it and extGen()
   * stand, every walk gives what it gave (pgtable.ts drops TLB entries filled since without
   * walking).
   */
  pgtGen = 0;
  /** gen's bumps by this store's own changes (extGen(): the rest). */
  private ownGen = 0;

  /**
   * gen's bumps by stores made outside this store, through views it handed out (compound.ts,
   * hugetlb.ts): where they went is unknown, so they count as changes to a table.
   */
  extGen(): number {
    return this.gen - this.ownGen;
  }

  /** A walk read an entry from frame (a change to it from now on bumps pgtGen). */
  noteTable(frame: number): void {
    const ci = Math.floor(frame / CHUNK);
    let b = this.tableBits.get(ci);
    if (b === undefined) {
      b = new Uint32Array(CHUNK / 32);
      this.tableBits.set(ci, b);
      if (ci === this.tableCi) this.tableCiBits = b;
    }
    const o = frame - ci * CHUNK;
    b[o >>> 5] |= 1 << (o & 31);
  }

  /**
   * The chunk tableBitsOf() looked up last and its bits (undefined: none), so that changes to
   * frames in the same 16 MiB ask the map once (noteTable() keeps it up to date).
   */
  private tableCi = -1;
  private tableCiBits: Uint32Array | undefined = undefined;

  /** tableBits.get(ci), through the chunk asked about last. */
  private tableBitsOf(ci: number): Uint32Array | undefined {
    if (ci !== this.tableCi) {
      this.tableCi = ci;
      this.tableCiBits = this.tableBits.get(ci);
    }
    return this.tableCiBits;
  }

  /** A change to frames [frame, frame + nr): pgtGen is bumped where one is a table's. */
  private tableWrite(frame: number, nr: number): void {
    this.ownGen++;
    if (nr === 1) {
      // The loop below for one frame: its bit alone.
      const ci = Math.floor(frame / CHUNK);
      const b = this.tableBitsOf(ci);
      if (b !== undefined) {
        const o = frame - ci * CHUNK;
        if (((b[o >>> 5] >>> (o & 31)) & 1) !== 0) this.pgtGen++;
      }
      return;
    }
    const end = frame + nr;
    for (let f = frame; f < end; ) {
      const ci = Math.floor(f / CHUNK);
      const base = ci * CHUNK;
      const stop = Math.min(end, base + CHUNK) - base;
      const b = this.tableBitsOf(ci);
      if (b !== undefined)
        for (let o = f - base; o < stop; ) {
          // The bits of [o, stop) in o's word.
          const wi = o >>> 5;
          const lo = o & 31;
          const hi = Math.min(32, stop - (wi << 5));
          const mask = (hi === 32 ? -1 : (1 << hi) - 1) & ~((1 << lo) - 1);
          if ((b[wi] & mask) !== 0) {
            this.pgtGen++;
            return;
          }
          o = (wi + 1) << 5;
        }
      f = base + stop;
    }
  }

  /** The low 32 bits of the 64-bit word at off, the high 32 left in `hi` (no bigint). */
  readU64Lo(frame: number, off: number): number {
    const id = this.idOf(frame);
    const kind = this.kinds[id];
    if ((kind === ID_OWN || kind === ID_FILL) && (off & 7) === 0 && HOST_LITTLE_ENDIAN) {
      // Bytes held as bytes, an aligned word: two loads from its words (the DataView path of
      // readU64LoOther() reads the same bytes; this is the read every compound_head() makes).
      this.pendingAt(id, off, off + 8);
      const w = this.wordsOf[id];
      const i = off >> 2;
      this.hi = w[i + 1];
      return w[i];
    }
    return this.readU64LoOther(frame, id, off);
  }

  /**
   * The frame's bytes as 32-bit words in the host's byte order, for reads only, where every
   * read of a word from it would read that array as it stands (bytes held as bytes, no stores
   * held back, a little-endian host); null otherwise. Good while `gen` stands: every change of
   * a frame's id or of a held-back store bumps it (memmap.ts readMemo).
   */
  wordsToRead(frame: number): Uint32Array | null {
    if (!HOST_LITTLE_ENDIAN) return null;
    const id = this.idOf(frame);
    const kind = this.kinds[id];
    if (id === 0 || (kind !== ID_OWN && kind !== ID_FILL)) return null;
    if (id < this.pendHi.length && this.pendHi[id] !== 0) return null;
    return this.wordsOf[id];
  }

  /** readU64Lo() of a frame whose id is not own bytes, or of a word it does not read as words. */
  private readU64LoOther(frame: number, id: number, off: number): number {
    if (id !== 0 && this.kinds[id] === ID_RUNS && off % 8 === 0) {
      const r = this.runsOf[id] as WordRuns;
      const lo = r.wordLo(off >> 3);
      this.hi = r.h;
      return lo;
    }
    if (id !== 0 && this.kinds[id] !== ID_PATTERN && this.kinds[id] !== ID_RUNS) {
      this.pendingAt(id, off, off + 8);
      const v = this.viewOf[id];
      this.hi = v.getUint32(off + 4, true);
      return v.getUint32(off, true);
    }
    this.hi = this.readU32(frame, off + 4);
    return this.readU32(frame, off);
  }

  readU64(frame: number, off: number): bigint {
    const lo = this.readU32(frame, off);
    const hi = this.readU32(frame, off + 4);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  // ---- writing ----------------------------------------------------------------------------

  /**
   * The id of this frame's bytes, which may be written in place (made its own first); 0, with
   * nothing done, where `skipGenerated` and the frame reads as memmap_init() left it
   * (readsAsInit()). A frame whose bytes are its own alone (the common case: a struct page
   * stored to again) is found by one id lookup: its pattern is none, so it does not read as
   * generated, and it is written in place.
   */
  private writable(frame: number, lo = 0, hi = this.pageSize, skipGenerated = false): number {
    const id = this.idOf(frame);
    const own = id !== 0 && this.kinds[id] === ID_OWN;
    if (own && this.refs[id] === 1) {
      // Written in place: the frame keeps its id (held-back stores where [lo, hi) meets them).
      this.pendingAt(id, lo, hi);
      this.gen++;
      this.tableWrite(frame, 1);
      return id;
    }
    return this.writableCopy(frame, id, own, lo, hi, skipGenerated);
  }

  /** writable() of a frame whose bytes are not its own alone. */
  private writableCopy(
    frame: number,
    id: number,
    own: boolean,
    lo: number,
    hi: number,
    skipGenerated: boolean,
  ): number {
    if (skipGenerated && this.readsAsInit(frame)) return 0;
    const fresh = this.newOwnBlank();
    const bytes = this.bytesOf[fresh];
    if (own) {
      // Copy on write: the bytes as stored, and the stores held back on them held back on the
      // copy as well (made there only if [lo, hi) meets them, as in place).
      bytes.set(this.bytesOf[id]);
      this.carryPending(id, fresh);
    } else if (id !== 0 && this.kinds[id] === ID_RUNS)
      this.renderRuns(id, bytes, this.viewOf[fresh]);
    else {
      const p = this.patternAt(frame, id);
      if (p) this.render(p, bytes, this.viewOf[fresh]);
      else bytes.fill(0);
    }
    this.setIds(frame, 1, fresh);
    if (own) this.pendingAt(fresh, lo, hi);
    return fresh;
  }

  /** The stores held back on id `from` held back on id `to` too (to's bytes are from's). */
  private carryPending(from: number, to: number): void {
    if (from >= this.pendHi.length || this.pendHi[from] === 0) return;
    if (to >= this.pendHi.length) this.growPending();
    this.pendLo[to] = this.pendLo[from];
    this.pendHi[to] = this.pendHi[from];
    const o = this.pendOps;
    for (let i = 0; i < PEND_OPS; i++) o[to * PEND_OPS + i] = o[from * PEND_OPS + i];
  }

  /** The held-back stores' arrays, sized for every id there may be now. */
  private growPending(): void {
    const cap = this.idCap;
    const lo = new Int32Array(cap);
    const hi = new Int32Array(cap);
    const ops = new Int32Array(cap * PEND_OPS);
    lo.set(this.pendLo);
    hi.set(this.pendHi);
    ops.set(this.pendOps);
    this.pendLo = lo;
    this.pendHi = hi;
    this.pendOps = ops;
  }

  /** The frame's bytes for stores in place (materialised and made its own, as a write does). */
  writableView(frame: number): DataView {
    const id = this.writable(frame);
    this.lastWords = this.wordsOf[id];
    return this.viewOf[id];
  }

  /**
   * The bytes writableView() returned last as 32-bit words in the host's byte order (for bulk
   * stores where the host is little-endian, as the simulated machines are).
   */
  lastWords: Uint32Array = NO_WORDS;

  /**
   * writableView() for a caller that reads and stores only bytes [lo, hi) of the frame: stores
   * held back elsewhere in it (storeWordsLater()) stay held back. With `skipGenerated` (memmap.ts
   * structPageView()), null with nothing done where the frame reads as memmap_init() left it
   * (readsAsInit()): such a frame is rendered from the model's state on every read.
   */
  writableViewAt(frame: number, lo: number, hi: number): DataView;
  writableViewAt(frame: number, lo: number, hi: number, skipGenerated: boolean): DataView | null;
  writableViewAt(frame: number, lo: number, hi: number, skipGenerated = false): DataView | null {
    const id = this.writable(frame, lo, hi, skipGenerated);
    if (id === 0) return null;
    this.lastWords = this.wordsOf[id];
    return this.viewOf[id];
  }

  // ---- stores held back ------------------------------------------------------------------
  // The tails in a folio's head vmemmap page past its fields take their compound word, mapping
  // and private when the folio is made and lose the first two when it is freed (compound.ts):
  // 60 struct pages, one cache line each, in 4 KiB that nobody else reads between the two. So
  // those stores may wait in the frame store: the bytes read as if they were made (every read
  // or write that meets them makes them first), and the next stores to the same words replace
  // them.

  /** The model's fast paths (fast_paths.ts): holdBackStores, copyReset; the kernel's once booted. */
  paths = new FastPaths();
  /** Per own id: [lo, hi), the bytes its held-back stores cover (hi 0: none). */
  private pendLo = new Int32Array(0);
  private pendHi = new Int32Array(0);
  /**
   * Per id, PEND_OPS numbers: off, n, step, the number of words (at most 3), and per word its
   * byte offset in a step and the halves of its value (storeWordsLater()).
   */
  private pendOps = new Int32Array(0);

  /** The held-back stores of id, made now if bytes [lo, hi) meet them. */
  private pendingAt(id: number, lo: number, hi: number): void {
    if (id < this.pendHi.length && this.pendHi[id] > lo && hi > this.pendLo[id])
      this.makePending(id);
  }

  private makePending(id: number): void {
    this.pendHi[id] = 0;
    this.storeWords(this.wordsOf[id], this.pendOps, id * PEND_OPS);
  }

  /** The stores ops[k..] describes (storeWordsLater()'s layout), into w. */
  private storeWords(w: Uint32Array, ops: Int32Array, k: number): void {
    const s = ops[k + 2] >> 2;
    const i = ops[k] >> 2;
    const end = i + ops[k + 1] * s;
    for (let j = 0; j < ops[k + 3]; j++) {
      const a = ops[k + 4 + 3 * j] >> 2;
      const lo = ops[k + 5 + 3 * j];
      const hi = ops[k + 6 + 3 * j];
      for (let q = i + a; q < end; q += s) {
        w[q] = lo;
        w[q + 1] = hi;
      }
    }
  }

  /**
   * Stores to the frame (which writableView() made its own) of `words` (count, then per word
   * its byte offset in a step and the 32-bit halves of its value; all 8-byte aligned) in each
   * of n steps of `step` bytes from byte off: held back until a read or write meets them. When
   * stores are held back already over the same steps, these replace theirs on the same words
   * (at most 3 words in all); any others are made first. Made at once where they cannot be held
   * (bytes shared, holdBackStores off).
   */
  storeWordsLater(frame: number, off: number, n: number, step: number, words: Int32Array): void {
    if (n <= 0) return;
    const id = this.writable(frame, 0, 0);
    if (id >= this.pendHi.length) this.growPending();
    const o = this.pendOps;
    const k = id * PEND_OPS;
    let same = this.pendHi[id] !== 0 && o[k] === off && o[k + 1] === n && o[k + 2] === step;
    // A folio's tails made, freed, made again: every word is one held already (a free's are two
    // of a make's three). Their values replace the held ones'; the bytes covered stay the same,
    // so pendLo/pendHi do too.
    if (same && this.paths.holdBackStores && this.refs[id] === 1 && id !== this.zeroId) {
      const held = o[k + 3];
      let j = 0;
      while (j < words[0]) {
        let at = 0;
        while (at < held && o[k + 4 + 3 * at] !== words[1 + 3 * j]) at++;
        if (at === held) break;
        j++;
      }
      if (j === words[0]) {
        for (let q = 0; q < j; q++) {
          let at = 0;
          while (o[k + 4 + 3 * at] !== words[1 + 3 * q]) at++;
          o[k + 5 + 3 * at] = words[2 + 3 * q];
          o[k + 6 + 3 * at] = words[3 + 3 * q];
        }
        return;
      }
    }
    if (same) {
      // Words not held yet: room for them?
      let more = 0;
      for (let j = 0; j < words[0]; j++) {
        let at = 0;
        while (at < o[k + 3] && o[k + 4 + 3 * at] !== words[1 + 3 * j]) at++;
        if (at === o[k + 3]) more++;
      }
      same = o[k + 3] + more <= 3;
    }
    if (same) {
      for (let j = 0; j < words[0]; j++) {
        const w = words[1 + 3 * j];
        let at = 0;
        while (at < o[k + 3] && o[k + 4 + 3 * at] !== w) at++;
        if (at === o[k + 3]) o[k + 3]++;
        o[k + 4 + 3 * at] = w;
        o[k + 5 + 3 * at] = words[2 + 3 * j];
        o[k + 6 + 3 * at] = words[3 + 3 * j];
      }
    } else {
      if (this.pendHi[id] !== 0) this.makePending(id);
      o[k] = off;
      o[k + 1] = n;
      o[k + 2] = step;
      o[k + 3] = words[0];
      for (let j = 0; j < 3 * words[0]; j++) o[k + 4 + j] = words[1 + j];
    }
    let first = step;
    let last = 0;
    for (let j = 0; j < o[k + 3]; j++) {
      first = Math.min(first, o[k + 4 + 3 * j]);
      last = Math.max(last, o[k + 4 + 3 * j] + 8);
    }
    this.pendLo[id] = off + first;
    this.pendHi[id] = off + (n - 1) * step + last;
    if (!this.paths.holdBackStores || id === this.zeroId || this.refs[id] !== 1)
      this.makePending(id);
  }

  writeU32(frame: number, off: number, value: number): void {
    this.viewOf[this.writable(frame, off, off + 4)].setUint32(off, value >>> 0, true);
  }

  /** writeU64() of a word given as its 32-bit halves (no bigint). */
  writeU64Parts(frame: number, off: number, lo: number, hi: number): void {
    if (this.writeRunsWord(frame, off, lo, hi)) return;
    const v = this.viewOf[this.writable(frame, off, off + 8)];
    v.setUint32(off, lo >>> 0, true);
    v.setUint32(off + 4, hi >>> 0, true);
  }

  writeU64(frame: number, off: number, value: bigint): void {
    const w = BigInt.asUintN(64, value);
    if (this.writeRunsWord(frame, off, Number(w & 0xffffffffn), Number(w >> 32n))) return;
    this.viewOf[this.writable(frame)].setBigUint64(off, BigInt.asUintN(64, value), true);
  }

  writeBytes(frame: number, off: number, bytes: Uint8Array): void {
    this.bytesOf[this.writable(frame)].set(bytes, off);
  }

  /**
   * memmove() inside the frame of bytes [start, end) to [target, target + end - start) (all
   * multiples of 4): a write of the target only. Stores held back in the
   * source go to the target with the bytes and stay held back where they are; any other case
   * (the target meets them, a held word cut by the source's ends) makes them first.
   */
  moveWithin(frame: number, target: number, start: number, end: number): void {
    const id = this.writable(frame, target, target + end - start);
    const w = this.wordsOf[id];
    const held = id < this.pendHi.length && this.pendHi[id] > start && end > this.pendLo[id];
    if (held && !this.heldWordsWithin(id, start, end)) this.makePending(id);
    w.copyWithin(target >> 2, start >> 2, end >> 2);
    if (held && this.pendHi[id] !== 0) {
      // The held words of the source, into the target (their values are the same every step).
      const o = this.pendOps;
      const k = id * PEND_OPS;
      const shift = (target - start) >> 2;
      const first = Math.max(0, Math.floor((start - o[k]) / o[k + 2]));
      for (let s = first; s < o[k + 1]; s++) {
        const base = o[k] + s * o[k + 2];
        if (base >= end) break;
        for (let j = 0; j < o[k + 3]; j++) {
          const a = base + o[k + 4 + 3 * j];
          if (a < start || a >= end) continue;
          w[(a >> 2) + shift] = o[k + 5 + 3 * j];
          w[(a >> 2) + shift + 1] = o[k + 6 + 3 * j];
        }
      }
    }
  }

  /** Whether no word held back on id is cut by start or end (each lies inside or outside). */
  private heldWordsWithin(id: number, start: number, end: number): boolean {
    // Held words are 8-byte aligned (storeWordsLater()).
    if (start % 8 === 0 && end % 8 === 0) return true;
    const o = this.pendOps;
    const k = id * PEND_OPS;
    for (let s = 0; s < o[k + 1]; s++)
      for (let j = 0; j < o[k + 3]; j++) {
        const a = o[k] + s * o[k + 2] + o[k + 4 + 3 * j];
        if ((a < start && a + 8 > start) || (a < end && a + 8 > end)) return false;
      }
    return true;
  }

  /**
   * An aligned 64-bit store to a frame held as runs of words, made in the runs: true when done
   * (false: the caller stores into bytes).
   */
  private writeRunsWord(frame: number, off: number, lo: number, hi: number): boolean {
    const id = this.idOf(frame);
    if (id === 0 || this.kinds[id] !== ID_RUNS || this.refs[id] !== 1 || off % 8 !== 0)
      return false;
    this.gen++;
    this.tableWrite(frame, 1);
    const r = this.runsOf[id] as WordRuns;
    // Too many runs: bytes from now on (made from the runs, the store included).
    if (r.assign(off >> 3, 1, lo, hi, 0, 0) > RUNS_AT_MOST) this.writable(frame);
    return true;
  }

  private renderRuns(id: number, out: Uint8Array, view: DataView): void {
    const r = this.runsOf[id] as WordRuns;
    out.fill(0, r.words * 8);
    r.render(view);
  }

  /**
   * The 64-bit words [word, word + n) of a frame = base + i * delta (mod 2^64), each number as
   * its 32-bit halves: the same bytes as n writeU64Parts(). A zeroed frame (or one already so
   * held) keeps them as runs of words, not bytes: a new PTE table mapping consecutive frames,
   * then rewritten entry by entry, stays a few numbers.
   */
  setWordRun(
    frame: number,
    word: number,
    n: number,
    lo: number,
    hi: number,
    dlo: number,
    dhi: number,
  ): void {
    if (n <= 0) return;
    let id = this.idOf(frame);
    const zero = id === this.zeroId || (id === 0 && this.findInit(frame) === null);
    const words = this.pageSize >> 3;
    if (zero || (this.kinds[id] === ID_RUNS && this.refs[id] === 1)) {
      if (zero) {
        id = this.newId(ID_RUNS, NO_BYTES, NO_VIEW, NO_WORDS, null, 0, null);
        this.runsOf[id] = new WordRuns(words);
        this.setIds(frame, 1, id);
      } else {
        this.gen++;
        this.tableWrite(frame, 1);
      }
      const r = this.runsOf[id] as WordRuns;
      if (r.assign(word, n, lo, hi, dlo, dhi) > RUNS_AT_MOST) this.writable(frame);
      return;
    }
    const own = this.writable(frame);
    const v = this.viewOf[own];
    for (let i = 0; i < n; i++) {
      const l = lo + i * dlo;
      const carry = Math.floor(l / TWO32);
      v.setUint32((word + i) * 8, l - carry * TWO32, true);
      v.setUint32((word + i) * 8 + 4, (hi + i * dhi + carry) % TWO32, true);
    }
    if (n >= RUNS_AGAIN_WORDS && this.paths.runsAgain) this.runsAgain(frame, own, words);
  }

  /**
   * A page of own bytes that reads as at most RUNS_AGAIN_MOST runs of words is held as those
   * runs again: a PTE table that went to bytes while it mapped many small folios (each a few
   * runs) and was then rewritten whole (a 1 GiB folio's restore maps its tables a run at a
   * time) is read a run at a time again by the walks and the TLB. The same words either way.
   */
  private runsAgain(frame: number, id: number, words: number): void {
    const v = this.viewOf[id];
    const r: number[] = [];
    let lo = v.getUint32(0, true);
    let hi = v.getUint32(4, true);
    r.push(0, lo, hi, 0, 0);
    /** Words in the run r ends with. */
    let len = 1;
    for (let w = 1; w < words; w++) {
      const wl = v.getUint32(w * 8, true);
      const wh = v.getUint32(w * 8 + 4, true);
      const o = r.length - RUN_FIELDS;
      if (len === 1) {
        // The second word sets the run's delta (mod 2^64).
        const borrow = wl < lo ? 1 : 0;
        r[o + 3] = (wl - lo + borrow * TWO32) >>> 0;
        r[o + 4] = (wh - hi - borrow + 2 * TWO32) % TWO32;
        len = 2;
      } else {
        const l = lo + r[o + 3];
        const carry = Math.floor(l / TWO32);
        if (l - carry * TWO32 === wl && (hi + r[o + 4] + carry) % TWO32 === wh) len++;
        else {
          if (r.length >= RUNS_AGAIN_MOST * RUN_FIELDS) return;
          r.push(w, wl, wh, 0, 0);
          len = 1;
        }
      }
      lo = wl;
      hi = wh;
    }
    const runs = this.newId(ID_RUNS, NO_BYTES, NO_VIEW, NO_WORDS, null, 0, null);
    const wr = new WordRuns(words);
    wr.r = r;
    this.runsOf[runs] = wr;
    this.setIds(frame, 1, runs);
  }

  /** The frame now reads as `p`; its own bytes, if any, are dropped. */
  setPattern(frame: number, p: FramePattern): void {
    this.setIds(frame, 1, this.patternId(frame, p, 1));
  }

  /**
   * Frames [frame, frame + nr) read as `p`, frame + i at memmap offset p.voff + i * PAGE_SIZE
   * (the same as setPattern() on each; one run).
   */
  setPatternRange(frame: number, nr: number, p: FramePattern): void {
    if (nr > 0) this.setIds(frame, nr, this.patternId(frame, p, nr));
  }

  /**
   * Frames [frame, frame + nr) read as `p`, frame + i at memmap offset p.voff - i * PAGE_SIZE:
   * the same bytes as setPattern() on each, held as one falling run (the frames of a page list
   * taken top-down from the buddy, mapped in ascending vmemmap order as a restore maps them).
   */
  setPatternRangeDown(frame: number, nr: number, p: FramePattern): void {
    if (nr === 1) this.setIds(frame, 1, this.patternId(frame, p, 1));
    else if (nr > 1) this.setIds(frame, nr, this.patternId(frame, p, nr, -1));
  }

  /**
   * A frame whose own bytes equal the "init" pattern for free memory at memmap offset voff
   * (asFree, unlisted: what the struct pages of memory freed page by page hold) takes that
   * pattern and lets its bytes go: the same bytes, held as the memmap of other free memory is.
   * Returns whether it did. With freeHead (whole struct pages only) the caller vouches that
   * the frame's struct pages lie in one zone and that none but freeHead's (-1: none) heads a
   * free block: the bytes are then compared with two renderings of a struct page, not 4 KiB
   * (ownIsFreed()).
   */
  settleAsFree(frame: number, voff: number, freeHead?: number): boolean {
    const id = this.idOf(frame);
    if (id === 0 || this.kinds[id] !== ID_OWN || id === this.zeroId) return false;
    this.pendingAt(id, 0, this.pageSize);
    const p = this.freedPattern;
    p.voff = voff;
    const same =
      freeHead !== undefined &&
      this.pageSize % this.structPageSize === 0 &&
      voff % this.structPageSize === 0
        ? this.ownIsFreed(this.wordsOf[id], voff, freeHead)
        : this.ownIsRendered(this.wordsOf[id], p);
    if (!same) return false;
    this.setIds(frame, 1, this.patternId(frame, p, 1));
    return true;
  }

  /**
   * A frame held as the freed pattern with its first struct page kept (hugetlb_vmemmap.ts
   * keepUnmarked()): that first struct page as the pattern has it into kept[0, sps), and as the
   * freed pattern without keepFirst would have it into freed[0, sps) (both from the state
   * now); returns the frame's memmap offset. -1, nothing rendered, for any other frame or where
   * struct pages straddle frames.
   */
  keptFirstPages(frame: number, kept: Uint8Array, freed: Uint8Array): number {
    const sps = this.structPageSize;
    if (this.pageSize % sps !== 0) return -1;
    const p = this.patternOf(frame);
    if (
      p === null ||
      p.kind !== "init" ||
      p.keepFirst !== true ||
      p.unlisted !== true ||
      p.asFree !== true
    )
      return -1;
    const pfn = p.voff / sps;
    this.renderStructPage(p, pfn, this.slotBuf);
    kept.set(this.slotBuf);
    const f = this.freedPattern;
    f.voff = p.voff;
    this.renderStructPage(f, pfn, this.slotBuf);
    freed.set(this.slotBuf);
    return p.voff;
  }

  /** Whether own words equal p rendered (into the scratch page). */
  private ownIsRendered(own: Uint32Array, p: FramePattern): boolean {
    this.render(p, this.scratch, this.scratchView);
    const want = this.scratchWords;
    for (let i = 0; i < want.length; i++) if (own[i] !== want[i]) return false;
    return true;
  }

  /**
   * ownIsRendered() of the freed pattern at voff, for struct pages of one zone of which none
   * but freeHead's (-1: none) heads a free block: those read alike under the pattern (node and
   * zone in flags, _mapcount -1, _refcount 0, LIST_POISON1/2 in lru), so one of them is
   * rendered and compared with each, and freeHead's on its own; stops at the first word that
   * differs. The same answer, word for word.
   */
  private ownIsFreed(own: Uint32Array, voff: number, freeHead: number): boolean {
    const p = this.freedPattern;
    const spw = this.structPageSize >> 2;
    const first = voff / this.structPageSize;
    const slot = this.slotWords;
    const tmpl = this.tmplWords;
    let have = false;
    // The head's index in the frame (-1: none), so that no pfn is computed per struct page.
    const h = freeHead >= first && freeHead < first + this.perFrame ? freeHead - first : -1;
    for (let i = 0; i < this.perFrame; i++) {
      let want = tmpl;
      if (i === h) {
        this.renderStructPage(p, first + i, this.slotBuf);
        want = slot;
      } else if (!have) {
        this.renderStructPage(p, first + i, this.slotBuf);
        tmpl.set(slot);
        have = true;
      }
      const base = i * spw;
      for (let w = 0; w < spw; w++) if (own[base + w] !== want[w]) return false;
    }
    // render() leaves the bytes past the last whole struct page zero.
    for (let w = this.perFrame * spw; w < own.length; w++) if (own[w] !== 0) return false;
    return true;
  }

  private readonly freedPattern: { kind: "init"; voff: number; asFree: true; unlisted: true } = {
    kind: "init",
    voff: 0,
    asFree: true,
    unlisted: true,
  };

  /** clear_page() */
  zeroFrame(frame: number): void {
    this.setIds(frame, 1, this.zeroId);
  }

  /** copy_page(dst, src): shares src's bytes or pattern until either is written. */
  copyFrame(dst: number, src: number): void {
    if (dst === src) return;
    const id = this.idOf(src);
    // Own bytes and word runs are shared; a "fill" page reads the same at any frame, so its
    // id is shared as well (a restore copies the shared tail to every page it maps).
    const kind = this.kinds[id];
    if (id !== 0 && (kind === ID_OWN || kind === ID_RUNS || kind === ID_FILL)) {
      this.setIds(dst, 1, id);
      return;
    }
    if (id !== 0) {
      // The same pattern read from dst: the same class, at dst's delta.
      const p = this.patOf[id] as FramePattern;
      const cls = this.clsOf[id] as PatternClass;
      this.setIds(
        dst,
        1,
        p.kind === "fill"
          ? this.classId(cls, 0, 1, p)
          : this.classIdAt(cls, dst, this.deltas[id] + this.dirs[id] * src * this.pageSize, 1, p),
      );
      return;
    }
    const p = this.patternAt(src, id);
    if (p) this.setIds(dst, 1, this.patternId(dst, p, 1));
    else this.setIds(dst, 1, this.zeroId);
  }

  /**
   * The 64-bit words [word, word + n) of a frame held as runs of words (heldAsRuns()), as those
   * runs: per run, into out, its first word, count, low and high half of its first word, and
   * the halves of its step (mod 2^64). Returns the number of runs; -1 when the frame is not
   * held as runs or out is too short (read word by word instead).
   */
  wordRunsIn(frame: number, word: number, n: number, out: Float64Array): number {
    const id = this.idOf(frame);
    if (id === 0 || this.kinds[id] !== ID_RUNS || n <= 0) return -1;
    return (this.runsOf[id] as WordRuns).runsIn(word, n, out);
  }

  /**
   * copyFrame(dst, src), then moveWithin(dst, target, start, end) (a restore's copy of the head
   * vmemmap page and reset_struct_pages()). Where src holds bytes of its own, the move's write
   * makes dst's shared bytes its own copy (writableCopy()): with fast path copyReset, dst takes
   * that copy at once, src's held-back stores carried with it, without holding src's id in
   * between, and the move is made in it. The same bytes, held-back stores and counts.
   */
  copyFrameMoved(dst: number, src: number, target: number, start: number, end: number): void {
    const id = this.idOf(src);
    if (!this.paths.copyReset || dst === src || id === 0 || this.kinds[id] !== ID_OWN) {
      this.copyFrame(dst, src);
      this.moveWithin(dst, target, start, end);
      return;
    }
    // The copy the move's write would make of the shared bytes (the target's held stores made
    // as it makes them), then the move, in place now that dst alone holds the copy.
    this.writableCopy(dst, id, true, target, target + end - start, false);
    this.moveWithin(dst, target, start, end);
  }

  /**
   * copy_page(dst + i, src) for every i in [0, nr): the same as nr copyFrame() calls, in one
   * change of the frame -> id map where src's state is shared as it is (own bytes, runs of
   * words, a "fill" page).
   */
  copyFrameRun(dst: number, nr: number, src: number): void {
    if (nr <= 0) return;
    const id = this.idOf(src);
    const kind = this.kinds[id];
    if (
      id === 0 ||
      !(kind === ID_OWN || kind === ID_RUNS || kind === ID_FILL) ||
      (src >= dst && src < dst + nr)
    ) {
      for (let i = 0; i < nr; i++) this.copyFrame(dst + i, src);
      return;
    }
    this.setIds(dst, nr, id);
  }

  /**
   * How many of the frames frame, frame + dir, frame + 2 * dir, ... (at most n; dir 1 or -1)
   * hold the id frame holds: shared bytes, or one pattern (each frame at its own memmap offset;
   * patternShapeOf() answers the same object for each). Read from the frame -> id map a run at
   * a time, not frame by frame. 1 for a frame without an id (a boot range's, or zeros).
   */
  sameStateRun(frame: number, n: number, dir: 1 | -1): number {
    const id = this.idOf(frame);
    if (id === 0) return Math.min(1, n);
    let got = 1;
    let f = frame + dir;
    while (got < n) {
      const ci = smallKey(Math.floor(f / CHUNK));
      const c = this.chunkOf(ci);
      const off = f - ci * CHUNK;
      /** Frames of this chunk from f on, in direction dir, still wanted. */
      const lim = Math.min(n - got, dir > 0 ? CHUNK - off : off + 1);
      let k = 0;
      if (c === undefined) break;
      if (c.dense !== null) {
        const d = c.dense;
        while (k < lim && d[off + dir * k] === id) k++;
      } else {
        const s = c.starts;
        const lo = runIn(s, off);
        if (c.ids[lo] === id)
          k = Math.min(
            lim,
            dir > 0 ? (lo + 1 < s.length ? s[lo + 1] : CHUNK) - off : off - s[lo] + 1,
          );
      }
      got += k;
      if (k === 0) break;
      f += dir * k;
    }
    return got;
  }

  /**
   * How many frames from `frame` on (at most n, ascending) read as what memmap_init() left:
   * readsAsInit() of each, true for all of them (0: frame itself does not).
   */
  initRun(frame: number, n: number): number {
    const id = this.idOf(frame);
    if (id !== 0) return this.readsAsInit(frame) ? this.sameStateRun(frame, n, 1) : 0;
    const r = this.findInit(frame);
    if (r === null) return 0;
    // Frames holding no id of their own within the boot range.
    const most = Math.min(n, r.frameEnd - frame);
    let got = 0;
    let f = frame;
    while (got < most) {
      const ci = smallKey(Math.floor(f / CHUNK));
      const c = this.chunkOf(ci);
      const off = f - ci * CHUNK;
      const lim = Math.min(most - got, CHUNK - off);
      let k = lim;
      if (c !== undefined) {
        k = 0;
        if (c.dense !== null) {
          const d = c.dense;
          while (k < lim && d[off + k] === 0) k++;
        } else {
          const st = c.starts;
          const lo = runIn(st, off);
          if (c.ids[lo] === 0) k = Math.min(lim, (lo + 1 < st.length ? st[lo + 1] : CHUNK) - off);
        }
      }
      got += k;
      if (k < lim) break;
      f += k;
    }
    return got;
  }

  /** Whether the frame's words are held as runs (setWordRun()), not as 4 KiB of bytes. */
  heldAsRuns(frame: number): boolean {
    return this.kinds[this.idOf(frame)] === ID_RUNS;
  }

  /** Ids in use (each a state some frames hold): a measure of the model's memory. */
  liveIds(): number {
    return this.idEnd - 1 - this.freeIds.length;
  }

  /** Frames with bytes or a pattern of their own: a measure of the model's memory. */
  stats(): { ownFrames: number; patternFrames: number; initRanges: number } {
    return {
      ownFrames: this.ownFrames,
      patternFrames: this.patternFrames,
      initRanges: this.initRanges.length,
    };
  }
}
