// The model's side of a list_head threaded through struct pages (include/linux/list.h): the
// buddy allocator's free lists (mm/page_alloc.c free_area[order]) and HugeTLB's folio lists
// (mm/hugetlb.c hugepage_freelists[], hugepage_activelist), kept by pfn.
//
// A JavaScript Map per link direction costs a hash, and garbage as it grows and shrinks, on
// every list operation of the pool's hot paths (thousands per `echo N > nr_hugepages`). Here
// the links of entry i (a pfn divided by the list's alignment, from a base) live in
// Float64Arrays of PAGE entries, found through two plain arrays (i / PAGE / TOP, then the
// rest), with no hashing and nothing allocated per operation. Pages no entry uses any more go
// (a few are kept for reuse), so storage follows the entries, not the pfn span.
import { modPow2 } from "../include/pow2.ts";

import { lastAtOrBelow } from "../include/bsearch.ts";

/** Entries per page (a power of two). */
const PAGE = 512;
/** Pages per top-level slot. */
const TOP = 512;
/** Float64 slots of a page: next and prev per entry, then the count of live entries. */
const PAGE_SLOTS = 2 * PAGE + 1;
const LIVE = 2 * PAGE;
/** Empty pages kept for reuse, at most. */
const SPARES = 64;

/**
 * Pages by page number, found through two plain arrays (p / TOP, then the rest): no hashing,
 * and rows are made only where pages are.
 */
export class PageDir<T> {
  private readonly rows: ((T | undefined)[] | undefined)[] = [];

  get(p: number): T | undefined {
    const t = Math.floor(p / TOP);
    const row = this.rows[t];
    return row === undefined ? undefined : row[p - t * TOP];
  }

  put(p: number, page: T): void {
    const t = Math.floor(p / TOP);
    let row = this.rows[t];
    if (row === undefined) {
      while (this.rows.length < t) this.rows.push(undefined);
      row = [];
      this.rows[t] = row;
    }
    const k = p - t * TOP;
    while (row.length < k) row.push(undefined);
    row[k] = page;
  }

  drop(p: number): void {
    const t = Math.floor(p / TOP);
    const row = this.rows[t];
    if (row !== undefined) row[p - t * TOP] = undefined;
  }
}

/**
 * A doubly linked list of pfns, O(1) add at either end, remove anywhere and membership test.
 * Every pfn on it is a multiple of `align` (a power of two) at or above `base`; -1 stands for
 * "none" (the end of the list).
 */
export class PfnList {
  /** Pages by index / PAGE, split by TOP: links stored as value + 2 (0: not on the list). */
  private readonly dir = new PageDir<Float64Array>();
  /** Pages let go, for reuse (all zeros): grow and shrink cycles make and drop the same ones. */
  private readonly spares: Float64Array[] = [];
  head = -1;
  tail = -1;
  count = 0;

  constructor(
    /** Every pfn on the list is base + a multiple of align. */
    private readonly base = 0,
    private readonly align = 1,
  ) {}

  /** The page pageOf() found last and its first entry (-1: none): neighbours share pages. */
  private lastFirst = -1;
  private lastPage: Float64Array | undefined = undefined;

  /** The page of pfn's entry (and the slot of the entry in it in `slot`), or undefined. */
  private slot = 0;
  private pageOf(pfn: number, make: boolean): Float64Array | undefined {
    const i = (pfn - this.base) / this.align;
    const d = i - this.lastFirst;
    if (d >= 0 && d < PAGE && this.lastFirst >= 0 && d === Math.floor(d)) {
      this.slot = 2 * d;
      return this.lastPage;
    }
    if (!(i >= 0) || i !== Math.floor(i)) {
      if (make) throw new RangeError(`pfn ${pfn} cannot be on this list`);
      return undefined;
    }
    const p = Math.floor(i / PAGE);
    this.slot = 2 * (i - p * PAGE);
    let page = this.dir.get(p);
    if (page === undefined) {
      if (!make) return undefined;
      page = this.spares.pop() ?? new Float64Array(PAGE_SLOTS);
      this.dir.put(p, page);
    }
    this.lastFirst = p * PAGE;
    this.lastPage = page;
    return page;
  }

  /** One entry fewer on the page that holds pfn: an empty page goes (kept for reuse). */
  private release(pfn: number, page: Float64Array): void {
    if (--page[LIVE] > 0) return;
    this.dir.drop(Math.floor((pfn - this.base) / this.align / PAGE));
    if (this.spares.length < SPARES) this.spares.push(page);
    if (this.lastPage === page) {
      this.lastFirst = -1;
      this.lastPage = undefined;
    }
  }

  has(pfn: number): boolean {
    const page = this.pageOf(pfn, false);
    return page !== undefined && page[this.slot] !== 0;
  }

  /** The entry after pfn (-1: pfn is the last, or not on the list). */
  nextOf(pfn: number): number {
    const page = this.pageOf(pfn, false);
    return page === undefined || page[this.slot] === 0 ? -1 : page[this.slot] - 2;
  }

  /** The entry before pfn (-1: pfn is the first, or not on the list). */
  prevOf(pfn: number): number {
    const page = this.pageOf(pfn, false);
    return page === undefined || page[this.slot] === 0 ? -1 : page[this.slot + 1] - 2;
  }

  private setNext(pfn: number, to: number): void {
    const page = this.pageOf(pfn, false) as Float64Array;
    page[this.slot] = to + 2;
  }

  private setPrev(pfn: number, to: number): void {
    const page = this.pageOf(pfn, false) as Float64Array;
    page[this.slot + 1] = to + 2;
  }

  /** list_add(): pfn (not on the list) becomes the first entry. */
  addHead(pfn: number): void {
    const old = this.head;
    const page = this.pageOf(pfn, true) as Float64Array;
    const s = this.slot;
    if (page[s] !== 0) throw new RangeError(`pfn ${pfn} is on the list already`);
    page[s] = old + 2;
    page[s + 1] = 1;
    page[LIVE]++;
    if (old !== -1) this.setPrev(old, pfn);
    else this.tail = pfn;
    this.head = pfn;
    this.count++;
  }

  /** list_add_tail(): pfn (not on the list) becomes the last entry. */
  addTail(pfn: number): void {
    const old = this.tail;
    const page = this.pageOf(pfn, true) as Float64Array;
    const s = this.slot;
    if (page[s] !== 0) throw new RangeError(`pfn ${pfn} is on the list already`);
    page[s] = 1;
    page[s + 1] = old + 2;
    page[LIVE]++;
    if (old !== -1) this.setNext(old, pfn);
    else this.head = pfn;
    this.tail = pfn;
    this.count++;
  }

  /** list_del(): takes pfn off the list; returns false (nothing done) when it was not on it. */
  remove(pfn: number): boolean {
    const page = this.pageOf(pfn, false);
    if (page === undefined) return false;
    const s = this.slot;
    if (page[s] === 0) return false;
    const n = page[s] - 2;
    const p = page[s + 1] - 2;
    page[s] = 0;
    page[s + 1] = 0;
    this.release(pfn, page);
    if (p !== -1) this.setNext(p, n);
    else this.head = n;
    if (n !== -1) this.setPrev(n, p);
    else this.tail = p;
    this.count--;
    return true;
  }

  /** The entries, first to last. */
  *[Symbol.iterator](): IterableIterator<number> {
    for (let p = this.head; p !== -1; p = this.nextOf(p)) yield p;
  }
}

/** Entries per page of PfnBytes and PfnInts. */
const VALUE_PAGE = 4096;

/**
 * A sparse map from pfn to a number below the page array's largest value, in paged typed arrays
 * (value + 1 per entry, 0: none; the last slot of a page counts its entries) found through two
 * plain arrays; pages no entry uses any more go, up to `sparesKept` of them kept for reuse. -1
 * reads as "none". One implementation for every value width: PfnBytes, PfnInts.
 */
class PfnValues<P extends Uint16Array | Int32Array> {
  private readonly dir = new PageDir<P>();
  private lastFirst = -1;
  private lastPage: P | undefined = undefined;
  /** Pages let go, for reuse (all zeros). */
  private readonly spares: P[] = [];
  /** Pages in the directory. */
  private pagesUsed = 0;
  size = 0;

  constructor(
    private readonly makePage: () => P,
    private readonly sparesKept: number,
  ) {}

  /** Pages held: those in use and those kept for reuse. */
  get pagesHeld(): number {
    return this.pagesUsed + this.spares.length;
  }

  private at = 0;
  private pageOf(pfn: number, make: boolean): P | undefined {
    const d = pfn - this.lastFirst;
    if (d >= 0 && d < VALUE_PAGE && this.lastFirst >= 0 && d === Math.floor(d)) {
      this.at = d;
      return this.lastPage;
    }
    if (!(pfn >= 0) || pfn !== Math.floor(pfn)) return undefined;
    const p = Math.floor(pfn / VALUE_PAGE);
    this.at = pfn - p * VALUE_PAGE;
    let page = this.dir.get(p);
    if (page === undefined) {
      if (!make) return undefined;
      page = this.spares.pop() ?? this.makePage();
      this.dir.put(p, page);
      this.pagesUsed++;
    }
    this.lastFirst = p * VALUE_PAGE;
    this.lastPage = page;
    return page;
  }

  get(pfn: number): number {
    if (this.size === 0) return -1;
    const page = this.pageOf(pfn, false);
    return page === undefined ? -1 : page[this.at] - 1;
  }

  set(pfn: number, v: number): void {
    const page = this.pageOf(pfn, true) as P;
    if (page[this.at] === 0) {
      page[VALUE_PAGE]++;
      this.size++;
    }
    page[this.at] = v + 1;
  }

  delete(pfn: number): void {
    const page = this.pageOf(pfn, false);
    if (page === undefined || page[this.at] === 0) return;
    page[this.at] = 0;
    this.size--;
    if (--page[VALUE_PAGE] > 0) return;
    this.dir.drop(Math.floor(pfn / VALUE_PAGE));
    this.pagesUsed--;
    if (this.spares.length < this.sparesKept) this.spares.push(page);
    if (this.lastPage === page) {
      this.lastFirst = -1;
      this.lastPage = undefined;
    }
  }
}

/** A sparse map from pfn to a small number (0..65534): the order of a free block by its head. */
export class PfnBytes extends PfnValues<Uint16Array> {
  constructor() {
    super(() => new Uint16Array(VALUE_PAGE + 1), SPARES);
  }
}

/**
 * A sparse map from pfn to a number below 2^31 - 1 (mm/buddy_batch.ts: a slot), keeping at most
 * `sparesKept` empty pages for reuse.
 */
export class PfnInts extends PfnValues<Int32Array> {
  constructor(sparesKept = SPARES) {
    super(() => new Int32Array(VALUE_PAGE + 1), sparesKept);
  }
}

/** The identity on numbers (the blocks' first indexes are their own search keys). */
const self = (x: number): number => x;

/**
 * An array kept sorted by a key, held in blocks of at most `max` elements, with the plain
 * array's indexes, search and order. A sorted array's insert or delete moves every element
 * after it: at the 64 TiB machine's scale (a run of vmemmap pages or of free blocks per folio,
 * tens of thousands of them) that was a memmove of the whole array per folio. Here it moves
 * one block's elements and counts up or down the first index of each block after it.
 * Invariant: no block is empty unless the whole array is (then one block); offs[b] is the
 * index of blocks[b]'s first element; keys ascend across blocks as within them.
 */
export class SortedBlocks<T> {
  private readonly blocks: T[][] = [[]];
  private readonly offs: number[] = [0];
  /** The block at() or search() found last (neighbours share blocks), and its first index. */
  private cBlk: T[];
  private cOff = 0;
  length = 0;

  constructor(
    /** The key the elements ascend by (a module-level function: no closure per call). */
    private readonly keyOf: (e: T) => number,
    private readonly max = 512,
  ) {
    this.cBlk = this.blocks[0];
  }

  /** Makes block b the one found last. */
  private cache(b: number): void {
    this.cBlk = this.blocks[b];
    this.cOff = this.offs[b];
  }

  /**
   * Makes the block holding index i the one found last (0 <= i < length); with `end`, an i
   * just past a block's last element may be that block (an insert there keeps the order).
   */
  private locate(i: number, end: boolean): void {
    const j = i - this.cOff;
    if (j >= 0 && (j < this.cBlk.length || (end && j === this.cBlk.length))) return;
    this.cache(lastAtOrBelow(this.offs, i, self));
  }

  /** The element at index i (0 <= i < length). */
  at(i: number): T {
    const j = i - this.cOff;
    const blk = this.cBlk;
    if (j >= 0 && j < blk.length) return blk[j];
    this.locate(i, false);
    return this.cBlk[i - this.cOff];
  }

  /** As lastAtOrBelow() over the array: the last index whose key is at or below x, or -1. */
  search(x: number): number {
    const blocks = this.blocks;
    const keyOf = this.keyOf;
    let b = 0;
    if (blocks.length > 1) {
      let lo = 0;
      let hi = blocks.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (keyOf(blocks[mid][0]) <= x) lo = mid + 1;
        else hi = mid;
      }
      if (lo === 0) return -1;
      b = lo - 1;
      this.cache(b);
    }
    // One block (perhaps empty): offs[0] is 0, and its search's -1 is the answer.
    return this.offs[b] + lastAtOrBelow(blocks[b], x, keyOf);
  }

  /** splice(i, 0, e): e goes at index i (0 <= i <= length); the caller keeps the order. */
  insert(i: number, e: T): void {
    this.locate(i, true);
    const blk = this.cBlk;
    blk.splice(i - this.cOff, 0, e);
    const offs = this.offs;
    const b = lastAtOrBelow(offs, this.cOff, self);
    for (let k = b + 1; k < offs.length; k++) offs[k]++;
    this.length++;
    if (blk.length > this.max) {
      // Split in halves: a run of inserts at one place fills the new block before splitting again.
      const half = blk.length >>> 1;
      this.blocks.splice(b + 1, 0, blk.splice(half));
      offs.splice(b + 1, 0, offs[b] + half);
    }
  }

  /** splice(i, 1): the element at index i (0 <= i < length) goes. */
  remove(i: number): void {
    this.locate(i, false);
    const blk = this.cBlk;
    blk.splice(i - this.cOff, 1);
    const offs = this.offs;
    const b = lastAtOrBelow(offs, this.cOff, self);
    for (let k = b + 1; k < offs.length; k++) offs[k]--;
    this.length--;
    if (blk.length === 0 && this.blocks.length > 1) {
      this.blocks.splice(b, 1);
      offs.splice(b, 1);
      this.cache(0);
    }
  }

  /** Whether some element satisfies pred. */
  some(pred: (e: T) => boolean): boolean {
    for (const blk of this.blocks) if (blk.some(pred)) return true;
    return false;
  }

  /** The elements in order, as a new array. */
  toArray(): T[] {
    return this.blocks.length === 1 ? this.blocks[0].slice() : ([] as T[]).concat(...this.blocks);
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (const blk of this.blocks) yield* blk;
  }
}

/** A stretch of a PfnRunList: n entries from `start`, each `step` pfns after the one before. */
interface PfnRun {
  start: number;
  n: number;
  /** +align or -align (either, while n is 1). */
  step: number;
  /** Lowest pfn of the run (start, or its last entry when step < 0). */
  lo: number;
  prev: PfnRun | null;
  next: PfnRun | null;
}

/** A run's lowest pfn (one function, not a closure per search). */
const runLo = (r: PfnRun): number => r.lo;

/**
 * The same list as PfnList (same operations, same order), held as runs: stretches of entries
 * whose pfns follow each other at one stride (+align or -align) in list order. Freeing a
 * gigantic folio puts its MAX_PAGE_ORDER blocks on a free list one after the other, so a list
 * of millions of them is a few runs. Runs are found by pfn through an array sorted by their
 * lowest pfn (their pfn intervals never overlap: every multiple of align inside a run's
 * interval is on the run).
 */
export class PfnRunList {
  private first: PfnRun | null = null;
  private last: PfnRun | null = null;
  /** Every run, by lo. */
  private readonly sorted = new SortedBlocks<PfnRun>(runLo);
  /** The run found last (neighbours share runs), and its entry index for that pfn. */
  private hint: PfnRun | null = null;
  private at = 0;
  count = 0;

  constructor(
    private readonly base = 0,
    private readonly align = 1,
  ) {}

  get head(): number {
    return this.first === null ? -1 : this.first.start;
  }

  get tail(): number {
    const r = this.last;
    return r === null ? -1 : r.start + (r.n - 1) * r.step;
  }

  /** Number of runs (for tests and memory accounting). */
  get runs(): number {
    return this.sorted.length;
  }

  /** The run holding pfn (its entry index in `at`), or null. */
  private find(pfn: number): PfnRun | null {
    const a = this.align;
    const h = this.hint;
    if (h !== null && pfn >= h.lo && pfn <= h.lo + (h.n - 1) * a && modPow2(pfn - h.lo, a) === 0) {
      this.at = (pfn - h.start) / h.step;
      return h;
    }
    const i = this.sorted.search(pfn);
    if (i < 0) return null;
    const r = this.sorted.at(i);
    if (pfn > r.lo + (r.n - 1) * a || modPow2(pfn - r.lo, a) !== 0) return null;
    this.hint = r;
    this.at = (pfn - r.start) / r.step;
    return r;
  }

  /** Index in `sorted` of run r (present). */
  private indexOf(r: PfnRun): number {
    const i = this.sorted.search(r.lo);
    if (i >= 0 && this.sorted.at(i).lo === r.lo) return i;
    throw new RangeError(`run at pfn ${r.lo} is not indexed`);
  }

  /** Puts r (not indexed) into `sorted` by its lo. */
  private insertSorted(r: PfnRun): void {
    // Runs are disjoint, so none in `sorted` has r's lo.
    this.sorted.insert(this.sorted.search(r.lo) + 1, r);
  }

  private check(pfn: number): void {
    const i = (pfn - this.base) / this.align;
    if (!(i >= 0) || i !== Math.floor(i)) throw new RangeError(`pfn ${pfn} cannot be on this list`);
    if (this.find(pfn) !== null) throw new RangeError(`pfn ${pfn} is on the list already`);
  }

  has(pfn: number): boolean {
    return this.find(pfn) !== null;
  }

  /** Whether some entry lies in [lo, hi): one search (runs are disjoint, sorted by lo). */
  anyIn(lo: number, hi: number): boolean {
    const i = this.sorted.search(hi - 1);
    if (i < 0) return false;
    const r = this.sorted.at(i);
    return r.lo + (r.n - 1) * this.align >= lo;
  }

  nextOf(pfn: number): number {
    const r = this.find(pfn);
    if (r === null) return -1;
    if (this.at < r.n - 1) return pfn + r.step;
    return r.next === null ? -1 : r.next.start;
  }

  prevOf(pfn: number): number {
    const r = this.find(pfn);
    if (r === null) return -1;
    if (this.at > 0) return pfn - r.step;
    const p = r.prev;
    return p === null ? -1 : p.start + (p.n - 1) * p.step;
  }

  /** A run of pfn alone. */
  private single(pfn: number, prev: PfnRun | null, next: PfnRun | null): PfnRun {
    const r: PfnRun = { start: pfn, n: 1, step: this.align, lo: pfn, prev, next };
    if (prev === null) this.first = r;
    else prev.next = r;
    if (next === null) this.last = r;
    else next.prev = r;
    this.insertSorted(r);
    return r;
  }

  addHead(pfn: number): void {
    this.check(pfn);
    const r = this.first;
    const a = this.align;
    const one = r !== null && r.n === 1 && (pfn === r.start + a || pfn === r.start - a);
    if (r !== null && (one || (r.n > 1 && pfn === r.start - r.step))) {
      // pfn comes just before the first entry at the run's stride: the run grows at its start.
      if (one) r.step = r.start - pfn;
      r.start = pfn;
      r.n++;
      if (pfn < r.lo) r.lo = pfn;
    } else this.single(pfn, null, r);
    this.count++;
  }

  /**
   * addHead() of from, from + align, ... (n entries) in turn, none of them on the list (the
   * caller checked, anyIn()): after the first, each comes just before the first entry at stride
   * -align, so the first run grows at its start by the rest.
   */
  addHeadRun(from: number, n: number): void {
    this.addHead(from);
    if (n === 1) return;
    const r = this.first as PfnRun;
    if (r.n === 1) r.step = -this.align;
    r.start = from + (n - 1) * this.align;
    r.n += n - 1;
    this.count += n - 1;
  }

  addTail(pfn: number): void {
    this.check(pfn);
    const r = this.last;
    const a = this.align;
    const one = r !== null && r.n === 1 && (pfn === r.start + a || pfn === r.start - a);
    if (r !== null && (one || (r.n > 1 && pfn === r.start + r.n * r.step))) {
      if (one) r.step = pfn - r.start;
      r.n++;
      if (pfn < r.lo) r.lo = pfn;
    } else this.single(pfn, r, null);
    this.count++;
  }

  remove(pfn: number): boolean {
    const r = this.find(pfn);
    if (r === null) return false;
    const j = this.at;
    this.count--;
    if (r.n === 1) {
      this.sorted.remove(this.indexOf(r));
      if (r.prev === null) this.first = r.next;
      else r.prev.next = r.next;
      if (r.next === null) this.last = r.prev;
      else r.next.prev = r.prev;
      if (this.hint === r) this.hint = null;
      return true;
    }
    if (j === 0) {
      // The first entry: lo moves only when it was the run's lowest (sorted order holds).
      r.start += r.step;
      r.n--;
      if (r.step > 0) r.lo = r.start;
      return true;
    }
    if (j === r.n - 1) {
      r.n--;
      if (r.step < 0) r.lo = r.start + (r.n - 1) * r.step;
      return true;
    }
    // In the middle: the entries after pfn become a run of their own, right after r.
    const rest: PfnRun = {
      start: pfn + r.step,
      n: r.n - j - 1,
      step: r.step,
      lo: 0,
      prev: r,
      next: r.next,
    };
    rest.lo = rest.step > 0 ? rest.start : rest.start + (rest.n - 1) * rest.step;
    r.n = j;
    r.lo = r.step > 0 ? r.start : r.start + (r.n - 1) * r.step;
    if (r.next === null) this.last = rest;
    else r.next.prev = rest;
    r.next = rest;
    this.insertSorted(rest);
    return true;
  }

  *[Symbol.iterator](): IterableIterator<number> {
    for (let r = this.first; r !== null; r = r.next)
      for (let i = 0, p = r.start; i < r.n; i++, p += r.step) yield p;
  }
}
