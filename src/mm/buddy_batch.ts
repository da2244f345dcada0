// mm/page_alloc.c __free_one_page() over a run of frees (free_vmemmap_page_list()): the merges
// replayed on a side structure, the free lists and struct pages changed once at the end.
//
// A grow with HVO on frees each folio's old vmemmap pages one by one; nearly every block those
// frees put on a free list is merged away again by a later free of the same list (every one in
// the steady state of a 2 MiB grow: about 16,000 list changes leave about 50 blocks). Here the
// blocks a batch adds live on per-order lists of their own, in front of the zone's real lists,
// which the batch does not change: only frees whose merges meet nothing but the batch's own
// blocks, below MAX_PAGE_ORDER and outside claimed unmovable blocks, are replayed; any other
// free, and any other use of the lists, makes the batch first (PageAllocator.commitFreeBatch()):
// the zone's lists and counters do it themselves when read (Zone.freeArea, unmovableArea,
// nrFree; the allocator's index through makeBatch()), so no entry point has to remember.
//
// What each replayed list change would have stored into struct pages is noted per struct page
// (which words, how many stores) and stored once, with its final value, at the end: the value
// a word holds last is the one the last store gave it, and a struct page's vmemmap page that
// is read meanwhile (rendered from the lists: Kernel.initStructPage()) sees the batch's lists
// (PageAllocator.headOrder(), renderBatchLinks()). The translations the stores make are the
// TLB's concern: the pages freed were read through the vmemmap just before their free (their
// PageReserved test), so a store into a batch block's struct page finds its translation in the
// TLB, as the deferred store does; the one struct page outside the batch a replayed change
// stores into, the old first block of a list, is translated where its first store would have
// been (the caller makes sure the TLB has room for every fill the batch may make: no sweep).

import { PfnInts } from "./pfn_list.ts";

/** A struct page's words a replayed change stored: PG_buddy and order, lru.next, lru.prev. */
export const TOUCH_MARKS = 1;
export const TOUCH_NEXT = 2;
export const TOUCH_PREV = 4;

/**
 * Empty pages the pfn -> slot map keeps from one batch to the next: batches over a machine's
 * whole range (restored vmemmap pages freed again on a large machine) must not keep a page of
 * slots per 4,096 pfns they ever touched.
 */
const PAGES_KEPT = 16;

/**
 * The batch's struct pages (slots, in the order they were first stored into) and its blocks:
 * per order a list of the blocks it added that are free now, the latest first, as they stand
 * in front of the zone's own list.
 */
export class FreeBatch {
  /** pfn -> slot (PfnInts: its pages go as a batch's slots do, PAGES_KEPT kept for reuse). */
  private readonly slots = new PfnInts(PAGES_KEPT);
  /** Slots in use. */
  n = 0;
  pfnOf = new Float64Array(256);
  /** TOUCH_* bits stored into. */
  mask = new Uint8Array(256);
  /** Stores made into the struct page (counted at the end where its vmemmap page takes them). */
  writes = new Float64Array(256);
  /** The order of the free block the slot's pfn heads in the batch's lists, -1: none. */
  live = new Int8Array(256);
  /** The batch's list the block is on: order * 2 + migratetype. */
  list = new Int8Array(256);
  /** When the block was added (its place among all the batch's adds). */
  seq = new Float64Array(256);
  private seqNext = 0;
  /** Neighbours on the batch's list (slots, -1: none): prev added later, next added earlier. */
  prev = new Int32Array(256);
  next = new Int32Array(256);
  /** The order of the block on the zone's own lists the slot's pfn heads, -1: none (any more). */
  old = new Int8Array(256);
  /** Per list (order * 2 + migratetype): latest (head) and earliest (tail) slot, -1: empty. */
  head: Int32Array;
  tail: Int32Array;
  /** The zone the batch frees into (null: none yet). */
  zone: object | null = null;
  /** The last block added: slot, and the block after it then (pfn, -1: none). */
  lastAdd = -1;
  lastAddNext = -1;
  lastAddList = 0;
  /** The merge chain of the free being replayed: buddies' pfns, -1 - slot for the batch's. */
  readonly chain: number[] = [];

  /** orders: MAX_PAGE_ORDER (the batch's blocks are below it). */
  constructor(orders: number) {
    this.head = new Int32Array(2 * orders).fill(-1);
    this.tail = new Int32Array(2 * orders).fill(-1);
  }

  /** Pages the pfn -> slot map holds (at most PAGES_KEPT between batches). */
  get mapPages(): number {
    return this.slots.pagesHeld;
  }

  /** The slot of pfn, -1: none. */
  slotOf(pfn: number): number {
    return this.slots.get(pfn);
  }

  /** The slot of pfn, made where it has none. */
  slotFor(pfn: number): number {
    const s = this.slots.get(pfn);
    if (s >= 0) return s;
    const i = this.n++;
    if (i === this.pfnOf.length) this.grow();
    this.slots.set(pfn, i);
    this.pfnOf[i] = pfn;
    this.mask[i] = 0;
    this.writes[i] = 0;
    this.live[i] = -1;
    this.prev[i] = -1;
    this.next[i] = -1;
    this.old[i] = -1;
    return i;
  }

  private grow(): void {
    const cap = this.pfnOf.length * 2;
    const f64 = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    const i32 = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    const i8 = (a: Int8Array) => {
      const b = new Int8Array(cap);
      b.set(a);
      return b;
    };
    this.pfnOf = f64(this.pfnOf);
    this.writes = f64(this.writes);
    const m = new Uint8Array(cap);
    m.set(this.mask);
    this.mask = m;
    this.live = i8(this.live);
    this.list = i8(this.list);
    this.seq = f64(this.seq);
    this.old = i8(this.old);
    this.prev = i32(this.prev);
    this.next = i32(this.next);
  }

  /** A store of `n` words (bits) into the struct page of slot s. */
  touch(s: number, bits: number, n: number): void {
    this.mask[s] |= bits;
    this.writes[s] += n;
  }

  /** The block of slot s, at `order`, at the head of the batch's list li. */
  push(s: number, order: number, li: number): void {
    const h = this.head[li];
    this.prev[s] = -1;
    this.next[s] = h;
    if (h >= 0) this.prev[h] = s;
    else this.tail[li] = s;
    this.head[li] = s;
    this.live[s] = order;
    this.list[s] = li;
    this.seq[s] = this.seqNext++;
  }

  /** The block of slot s off the batch's list of its order. */
  unlink(s: number): void {
    const li = this.list[s];
    const p = this.prev[s];
    const x = this.next[s];
    if (p >= 0) this.next[p] = x;
    else this.head[li] = x;
    if (x >= 0) this.prev[x] = p;
    else this.tail[li] = p;
    this.prev[s] = -1;
    this.next[s] = -1;
    this.live[s] = -1;
  }

  /** Empty again: no pfn has a slot, and slots are numbered from 0. */
  reset(): void {
    for (let i = 0; i < this.n; i++) this.slots.delete(this.pfnOf[i]);
    this.n = 0;
    this.head.fill(-1);
    this.tail.fill(-1);
    this.zone = null;
    this.lastAdd = -1;
    this.lastAddNext = -1;
  }
}
