// mm/page_alloc.c: zones and the buddy allocator; mm/page_alloc.c alloc_contig_pages() for
// gigantic pages.
//
// Which pfns an allocation returns (documented, deterministic, close to the kernel):
//   - each zone keeps one free list per order; per-CPU page lists are not modelled;
//   - migratetypes at MAX_PAGE_ORDER granularity (the kernel's are per pageblock, but its
//     unmovable fallback claims the whole largest free block): an allocation without
//     __GFP_MOVABLE takes free pages of blocks unmovable allocations already claimed first, then
//     claims a whole free MAX_PAGE_ORDER block (__rmqueue_claim(): the head of the top list, or
//     the lowest never-allocated block), and only then anything free. Movable allocations keep
//     out of claimed blocks while they can. A claimed block that is wholly free again is
//     movable again. So the kernel's run-time pages (vmemmap, page tables) gather in a few
//     blocks, as in the kernel, instead of landing in the 1 GiB ranges gigantic pages need;
//   - memblock_free_all() hands boot memory to the buddy in ascending pfn order at the TAIL of
//     the lists (FPI_TO_TAIL), so the first allocations come from the lowest free pfns;
//   - __rmqueue_smallest() takes the HEAD of the smallest non-empty list at or above the order
//     and expand() puts the upper halves back at the heads;
//   - a freed block merges with its free buddy and goes to the HEAD: the next allocation of
//     that order reuses the block just freed (LIFO). Not modelled: the kernel puts a block
//     below MAX_PAGE_ORDER - 1 whose buddy one order up is free at the TAIL (buddy_merge_likely()),
//     and order-0 frees wait on the per-CPU lists first;
//   - zones are tried from the highest the gfp mask allows down (Movable, Normal, DMA32, DMA)
//     on the preferred node, then on the other nodes in nid order unless __GFP_THISNODE;
//   - an allocation must leave the zone above its min watermark (__setup_per_zone_wmarks()).
//   - alloc_contig_pages() scans each zone upward from its first aligned pfn for a range whose
//     pages are all free (the model has no movable user pages to migrate).
//
// Scale: whole MAX_PAGE_ORDER blocks that have never been allocated are kept as pfn ranges at
// the tail of the top-order list, not one entry each, so a 16 TiB machine boots in seconds.
// The vmemmap page lists of HVO (4095 pages per 1 GiB folio) go through allocPagesBulk() and
// freePagesBulk(), which do a buddy block's worth of order-0 calls at once with the same result
// (test/core/buddy_bulk.test.ts), and the pages they hand out are recorded as runs.
// alloc_contig_pages() remembers per zone and size how far its candidates are known taken.
//
// Invariants: a free block is aligned to its order, lies inside one zone's present memory,
// and overlaps no other free block or allocation; zone.nrFree = the pages of its free blocks;
// a free block below MAX_PAGE_ORDER is on zone.unmovableArea exactly when its MAX_PAGE_ORDER
// block is in zone.unmovableBlocks, and a block in zone.unmovableBlocks is never wholly free.

import { ENOMEM, KernelError, Oops } from "../include/errno.ts";
import { FastPaths } from "./fast_paths.ts";
import { lastAtOrBelow } from "../include/bsearch.ts";
import { PAGE_OFF, TAIL_MAPPING } from "../include/mm_types.ts";
import { PG, decodeCompoundHead, pageToNid, pageZonenum } from "../include/page_flags.ts";
import type { Kernel } from "../kernel.ts";
import { type BuddyLru, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE } from "./buddy_lru.ts";
import { FreeBatch, TOUCH_MARKS, TOUCH_NEXT, TOUCH_PREV } from "./buddy_batch.ts";
import { type ListHead, NO_PAGE } from "./list.ts";
import type { NodeSpec, PfnRange, ZoneType } from "../machine/spec.ts";
import type { FaultInjector } from "./fault_inject.ts";
import type { FramePattern } from "./frames.ts";
import { PfnBytes, PfnList, PfnRunList, SortedBlocks } from "./pfn_list.ts";
import { modPow2, pow2 } from "../include/pow2.ts";

/** gfp_t bits (include/linux/gfp_types.h); our own values, the kernel's names. */
export const __GFP_DMA = 1 << 0;
export const __GFP_DMA32 = 1 << 2;
export const __GFP_MOVABLE = 1 << 3;
export const __GFP_ZERO = 1 << 8;
export const __GFP_NOWARN = 1 << 13;
export const __GFP_RETRY_MAYFAIL = 1 << 14;
export const __GFP_NORETRY = 1 << 16;
export const __GFP_COMP = 1 << 18;
export const __GFP_THISNODE = 1 << 21;
export const GFP_KERNEL = 1 << 30;
export const GFP_HIGHUSER_MOVABLE = GFP_KERNEL | __GFP_MOVABLE;

/** What a frame is used for, for the "every frame in one state" invariant and reports. */
export type FrameUse =
  | "vmemmap" // struct pages: a vmemmap page allocated at run time
  | "pagetable" // a kernel page-table page
  | "shared_tail" // seed/mainline: a shared page of tail struct pages
  | "hugetlb" // a HugeTLB folio
  | "kernel" // anything else the kernel holds
  | "hwpoison"; // taken off the buddy by memory failure (take_page_off_buddy())

/** A block handed out. Never changed in place (records may be shared; setUse() replaces). */
export interface Allocation {
  readonly order: number;
  readonly use: FrameUse;
  readonly nid: number;
}

/**
 * Told of every pfn range whose state changed (handed out, freed, merged, split, reserved, its
 * use changed): trace_mm_page_alloc()/trace_mm_page_free() in spirit. The checker listens to
 * check only what changed; nothing in the model depends on it.
 */
/**
 * PageAllocator.onFreeHeadFinal(): the struct page of pfn as a batch of frees leaves it, the
 * words `mask` names (buddy_batch.ts TOUCH_*) with their final values, `writes` stores
 * counted: heading a free block of `order` with these links, or (order -1) taken off its list.
 * Returns whether its vmemmap page took the stores.
 */
export type FreeHeadFinal = (
  pfn: number,
  order: number,
  mask: number,
  writes: number,
  next: number,
  prev: number,
  head: ListHead,
) => boolean;

export type RangeListener = (startPfn: number, nrPages: number) => void;

/** Calls every listener of a list (the hot paths test `length` first). */
export function emitRange(ls: readonly RangeListener[], startPfn: number, nrPages: number): void {
  for (const l of ls) l(startPfn, nrPages);
}

/** Every use a block can have. */
export const FRAME_USES: readonly FrameUse[] = [
  "vmemmap",
  "pagetable",
  "shared_tail",
  "hugetlb",
  "kernel",
  "hwpoison",
];

/** FRAME_USES' indexes. */
const USE_INDEX: Readonly<Record<FrameUse, number>> = {
  vmemmap: 0,
  pagetable: 1,
  shared_tail: 2,
  hugetlb: 3,
  kernel: 4,
  hwpoison: 5,
};

/** Order-0 pages [start, start + n) handed out together, with one record for all. */
interface Order0Run {
  start: number;
  n: number;
  readonly a: Allocation;
}

/**
 * The blocks handed out, by first pfn, with indexes the kernel keeps as counters (NR_PAGETABLE,
 * the pages of each zone): the blocks of each use and the pages handed out per zone. Every
 * change goes through set()/delete()/setUse(), which keep the indexes and tell the listeners.
 */
export class AllocationMap extends Map<number, Allocation> {
  /**
   * Per use (by USE_INDEX), the first pfns of its blocks in the Map, in the order they were
   * added: made only once someone asks (withUse()) or a change would make the Map's own order
   * differ from it (a key given a record again: useSet()). Until then the Map's order is that
   * order (every add is a new key, appended), and the pool's churn of thousands of folios adds
   * and deletes no Set entries.
   */
  private readonly useSets: (Set<number> | null)[] = FRAME_USES.map(() => null);

  /** The Set of `use`, made from the Map (in its order) if it is not kept yet. */
  private useSet(use: FrameUse): Set<number> {
    const i = USE_INDEX[use];
    let set = this.useSets[i];
    if (set === null) {
      set = new Set();
      for (const [pfn, a] of super.entries()) if (a.use === use) set.add(pfn);
      this.useSets[i] = set;
    }
    return set;
  }
  /** Pages per use (a plain record: one property load per update, no hash). */
  private readonly pagesOfUse: Record<FrameUse, number> = {
    vmemmap: 0,
    pagetable: 0,
    shared_tail: 0,
    hugetlb: 0,
    kernel: 0,
    hwpoison: 0,
  };
  /** Pages handed out, per index in PageAllocator.zones (-1: in no zone). */
  readonly pagesByZone: number[] = [];
  /** Blocks per order (orders with none are skipped by lookups). */
  readonly blocksOfOrder: number[] = [];
  /**
   * The orders whose count in blocksOfOrder is not 0, increasing: what lookups by order walk.
   * A machine holds blocks of two or three orders at a time (single vmemmap and table pages,
   * 2 MiB and 1 GiB folios), of the 19 that x86_64's 1 GiB pages span. Changed only where a
   * count leaves or reaches 0 (countBlocks()).
   */
  readonly ordersWithBlocks: number[] = [];
  readonly listeners: RangeListener[] = [];
  /** Set by the PageAllocator: the index of the zone that holds pfn, or -1. */
  zoneIndexOf: (pfn: number) => number = () => -1;
  /**
   * Order-0 blocks handed out together (setOrder0Run()), held as runs rather than one entry
   * each: sorted by start, disjoint, none of their pfns a key of the Map itself. They read as
   * entries (get, has, size, iteration, withUse()); a pfn a single call changes leaves its run
   * for the Map first (unrun()).
   */
  private readonly runs = new SortedBlocks<Order0Run>(runStart);
  private runPages = 0;
  /** Bumped by every change (a record read before is still the record while it stands). */
  changes = 0;

  /**
   * Index of the run that holds pfn, or -1. The stretch the last search found pfn in (a run,
   * or the gap between two runs) is tried first: lookups come in neighbouring pfns, and the
   * checker's lookups of frames no run holds (boot memmap, free pages) land in one gap after
   * another.
   */
  private runIndex(pfn: number): number {
    if (pfn >= this.winLo && pfn < this.winHi) return this.winIdx;
    return this.findRun(pfn);
  }

  /** runIndex() by search; the stretch found becomes the window. */
  private findRun(pfn: number): number {
    const runs = this.runs;
    const i = runs.search(pfn);
    if (i >= 0) {
      const r = runs.at(i);
      const end = r.start + r.n;
      if (pfn < end) {
        this.winLo = r.start;
        this.winHi = end;
        this.winIdx = i;
        this.winRec = r.a;
        return i;
      }
      this.winLo = end;
    } else this.winLo = 0;
    // The gap from the run below pfn (or pfn 0) to the next run (or no end).
    this.winHi = i + 1 < runs.length ? runs.at(i + 1).start : Number.POSITIVE_INFINITY;
    this.winIdx = -1;
    this.winRec = undefined;
    return -1;
  }

  /**
   * The stretch [winLo, winHi) findRun() found last: the pages of run winIdx (record winRec),
   * or, winIdx -1, a gap no run's page is in. Emptied by every change to the runs (cutRun(),
   * setOrder0Run()), which may move, merge, split or renumber them.
   */
  private winLo = 0;
  private winHi = 0;
  private winIdx = -1;
  private winRec: Allocation | undefined = undefined;

  /** The runs changed: the window may no longer say where a pfn is. */
  private forgetWindow(): void {
    this.winLo = 0;
    this.winHi = 0;
  }

  /** Runs per use (by USE_INDEX): withUse() of a use none of whose pages is in a run is its Set. */
  private readonly runsOfUse: number[] = FRAME_USES.map(() => 0);

  /**
   * Index of the first run that starts after pfn. The answer is tried first at the last one
   * and the ones either side of it (a restore's page runs land next to each other: the blocks
   * it takes are neighbours), and taken when the runs on either side of it prove it; else
   * searched.
   */
  private runAfter(pfn: number): number {
    const runs = this.runs;
    for (let c = Math.max(0, this.runHint - 1); c <= this.runHint + 1; c++)
      if (
        c <= runs.length &&
        (c === 0 || runs.at(c - 1).start <= pfn) &&
        (c === runs.length || runs.at(c).start > pfn)
      )
        return c;
    return runs.search(pfn) + 1;
  }
  /** Where runAfter() last found its answer's neighbours (a guess, checked before use). */
  private runHint = 0;

  /** Takes [s, s + len), inside run i, out of the run (the indexes are the caller's). */
  private cutRun(i: number, s: number, len: number): void {
    this.forgetWindow();
    const r = this.runs.at(i);
    const left = s - r.start;
    const right = r.start + r.n - (s + len);
    if (left === 0 && right === 0) {
      this.runs.remove(i);
      this.runsOfUse[USE_INDEX[r.a.use]]--;
    } else if (left === 0) {
      r.start = s + len;
      r.n = right;
    } else if (right === 0) r.n = left;
    else {
      r.n = left;
      this.runs.insert(i + 1, { start: s + len, n: right, a: r.a });
      this.runsOfUse[USE_INDEX[r.a.use]]++;
    }
    this.runPages -= len;
  }

  /** Moves pfn out of its run, if it is in one, into the Map (the same record and counts). */
  private unrun(pfn: number): void {
    if (this.runs.length === 0) return;
    const i = this.runIndex(pfn);
    if (i < 0) return;
    const a = this.runs.at(i).a;
    this.cutRun(i, pfn, 1);
    // A new key: appended to the Map, as to the use's Set.
    super.set(pfn, a);
    this.useSets[USE_INDEX[a.use]]?.add(pfn);
  }

  override get(pfn: number): Allocation | undefined {
    // The runs first: a few, searched in place, while the Map's probe of a key it does not
    // hold costs as much as a hit (the runs' pfns are none of its keys).
    if (pfn >= this.winLo && pfn < this.winHi) {
      if (this.winIdx >= 0) return this.winRec;
    } else if (this.findRun(pfn) >= 0) return this.winRec;
    return super.get(pfn);
  }

  override has(pfn: number): boolean {
    return this.get(pfn) !== undefined;
  }

  /**
   * get() for a pfn that most likely heads a block of its own (a pool folio's head): the Map
   * first, then the runs (no run's pfn is a key of the Map, so the answer is get()'s).
   */
  getHead(pfn: number): Allocation | undefined {
    const a = super.get(pfn);
    return a !== undefined || this.runs.length === 0 ? a : this.get(pfn);
  }

  override get size(): number {
    return super.size + this.runPages;
  }

  override *entries(): MapIterator<[number, Allocation]> {
    yield* super.entries();
    for (const r of this.runs.toArray())
      for (let p = r.start; p < r.start + r.n; p++) yield [p, r.a];
  }

  /**
   * f(pfn, record) of each block in entries()' order, until f returns false; false when it
   * did. One call per block and no [pfn, record] pair or generator step per entry
   * (offline_pages()' scan visits every block on each try). f must not change the map.
   */
  forEachBlock(f: (pfn: number, a: Allocation) => boolean): boolean {
    let go = true;
    // Map.forEach cannot stop: the entries after a stop cost a test each.
    super.forEach((a, pfn) => {
      if (go) go = f(pfn, a);
    });
    for (let i = 0; go && i < this.runs.length; i++) {
      const r = this.runs.at(i);
      for (let p = r.start; go && p < r.start + r.n; p++) go = f(p, r.a);
    }
    return go;
  }

  /**
   * forEachBlock() of the blocks with a page in [start, end) only: the same calls in the same
   * order as forEachBlock() with an f that passes over the other blocks, but the runs' pages
   * outside the range are not visited (offline_pages()' scan of one memory block, on each try,
   * would otherwise step through every vmemmap page the pool's restores handed out).
   */
  forEachBlockIn(start: number, end: number, f: (pfn: number, a: Allocation) => boolean): boolean {
    let go = true;
    super.forEach((a, pfn) => {
      if (go && pfn < end && pfn + pow2(a.order) > start) go = f(pfn, a);
    });
    const runs = this.runs;
    // The first run that ends above start: the one holding start, or the next.
    let i = Math.max(0, runs.search(start));
    if (i < runs.length && runs.at(i).start + runs.at(i).n <= start) i++;
    for (; go && i < runs.length; i++) {
      const r = runs.at(i);
      if (r.start >= end) break;
      const last = Math.min(end, r.start + r.n);
      for (let p = Math.max(start, r.start); go && p < last; p++) go = f(p, r.a);
    }
    return go;
  }

  override *keys(): MapIterator<number> {
    for (const [p] of this.entries()) yield p;
  }

  override *values(): MapIterator<Allocation> {
    for (const [, a] of this.entries()) yield a;
  }

  override [Symbol.iterator](): MapIterator<[number, Allocation]> {
    return this.entries();
  }

  override forEach(
    cb: (a: Allocation, pfn: number, map: Map<number, Allocation>) => void,
    thisArg?: unknown,
  ): void {
    for (const [p, a] of this.entries()) cb.call(thisArg, a, p, this);
  }

  override set(pfn: number, a: Allocation): this {
    // A record of an order-0 run at pfn becomes a key of its own first.
    this.unrun(pfn);
    this.setTaken(pfn, a);
    return this;
  }

  override delete(pfn: number): boolean {
    this.unrun(pfn);
    const old = super.get(pfn);
    if (!old) return false;
    this.deleteRecord(pfn, old);
    return true;
  }

  /** delete() of pfn, whose record the caller has just read with get() (no second lookup). */
  deleteRecord(pfn: number, old: Allocation): void {
    this.changes++;
    // Runs hold order-0 records only.
    if (old.order === 0) this.unrun(pfn);
    this.unindex(pfn, old);
    super.delete(pfn);
    if (this.listeners.length) emitRange(this.listeners, pfn, pow2(old.order));
  }

  /**
   * set() of a pfn no order-0 run holds: the first pfn of a block just taken off a free list
   * (no record covers any of its pfns; a record inside a free block is what the checker's frame
   * ledger reports), so the runs are not searched for it.
   */
  setTaken(pfn: number, a: Allocation): void {
    this.changes++;
    const old = super.get(pfn);
    if (old) {
      // The key keeps its place in the Map but goes last in a's use: that use's Set is kept
      // from now on.
      this.useSet(a.use);
      this.unindex(pfn, old);
    }
    super.set(pfn, a);
    this.index(pfn, a, 1);
    if (this.listeners.length)
      emitRange(this.listeners, pfn, pow2(Math.max(a.order, old ? old.order : 0)));
  }

  override clear(): void {
    for (const pfn of [...this.keys()]) this.delete(pfn);
  }

  /**
   * set() of an order-0 block at each pfn of [start, start + n), pfns that held none and lie in
   * one zone (allocPagesBulk()): one run, the same indexes, one listener call. `fromFreeBlock`:
   * the pfns are part of a block the caller has just taken off a free list, which no record
   * covers (a record inside a free block is what the checker's frame ledger reports), so the
   * Map is not probed pfn by pfn (4095 probes per restored 1 GiB folio).
   */
  setOrder0Run(start: number, n: number, use: FrameUse, nid: number, fromFreeBlock = false): void {
    if (n <= 0) return;
    this.changes++;
    const end = start + n;
    const k = this.runAfter(start);
    const left = k > 0 ? this.runs.at(k - 1) : null;
    const right = k < this.runs.length ? this.runs.at(k) : null;
    let taken =
      (left !== null && left.start + left.n > start) || (right !== null && right.start < end);
    if (fromFreeBlock) taken ||= super.has(start);
    else for (let pfn = start; pfn < end && !taken; pfn++) taken = super.has(pfn);
    if (taken) throw new Oops(`setOrder0Run: [${start}, ${end}) is allocated already`);
    const joinsLeft =
      left !== null && left.start + left.n === start && left.a.use === use && left.a.nid === nid;
    const joinsRight =
      right !== null && right.start === end && right.a.use === use && right.a.nid === nid;
    this.forgetWindow();
    if (joinsLeft && joinsRight) {
      left.n += n + right.n;
      this.runs.remove(k);
      this.runsOfUse[USE_INDEX[use]]--;
    } else if (joinsLeft) left.n += n;
    else if (joinsRight) {
      right.start = start;
      right.n += n;
    } else {
      this.runs.insert(k, { start, n, a: { order: 0, use, nid } });
      this.runsOfUse[USE_INDEX[use]]++;
    }
    this.runHint = k;
    this.runPages += n;
    this.countBlocks(0, n);
    this.pagesOfUse[use] += n;
    const z = this.zoneIndexOf(start);
    if (z >= 0) this.pagesByZone[z] = (this.pagesByZone[z] ?? 0) + n;
    if (this.listeners.length) emitRange(this.listeners, start, n);
  }

  /**
   * delete() of the order-0 blocks at [start, start + n), all allocated and in one zone
   * (freePagesBulk()); one listener call for the run.
   */
  deleteOrder0Run(start: number, n: number): void {
    this.changes++;
    const end = start + n;
    let p = start;
    while (p < end) {
      const i = this.runs.length > 0 ? this.runIndex(p) : -1;
      if (i >= 0) {
        const r = this.runs.at(i);
        const e = Math.min(end, r.start + r.n);
        this.cutRun(i, p, e - p);
        this.pagesOfUse[r.a.use] -= e - p;
        p = e;
        continue;
      }
      const a = super.get(p) as Allocation;
      this.useSets[USE_INDEX[a.use]]?.delete(p);
      this.pagesOfUse[a.use]--;
      super.delete(p);
      p++;
    }
    this.countBlocks(0, -n);
    const z = this.zoneIndexOf(start);
    if (z >= 0) this.pagesByZone[z] = (this.pagesByZone[z] ?? 0) - n;
    if (this.listeners.length) emitRange(this.listeners, start, n);
  }

  /**
   * The record of a block of this order, use and node: one shared object per kind (records
   * are never changed in place), so that handing out a block allocates nothing.
   */
  record(order: number, use: FrameUse, nid: number): Allocation {
    const key = (nid * 64 + order) * 8 + USE_INDEX[use];
    let a = this.records.get(key);
    if (a === undefined) {
      a = Object.freeze({ order, use, nid });
      this.records.set(key, a);
    }
    return a;
  }
  private readonly records = new Map<number, Allocation>();

  /** Records that the block at pfn is now used for `use`. */
  setUse(pfn: number, use: FrameUse): void {
    this.changes++;
    this.unrun(pfn);
    const a = super.get(pfn);
    if (!a) throw new Oops(`setUse: pfn ${pfn} not allocated`);
    // As set() of a key the Map holds: the new use's Set is kept from now on.
    this.useSet(use);
    this.unindex(pfn, a);
    // A new record: setOrder0Run() shares one among the pages of a run.
    const b: Allocation = { order: a.order, use, nid: a.nid };
    super.set(pfn, b);
    this.index(pfn, b, 1);
    if (this.listeners.length) emitRange(this.listeners, pfn, pow2(a.order));
  }

  /** First pfns of the blocks used for `use`. */
  withUse(use: FrameUse): ReadonlySet<number> {
    const set = this.useSet(use);
    if (this.runsOfUse[USE_INDEX[use]] === 0) return set;
    const out = new Set(set);
    for (const r of this.runs)
      if (r.a.use === use) for (let p = r.start; p < r.start + r.n; p++) out.add(p);
    return out;
  }

  /** Pages in the blocks used for `use`. */
  pagesWithUse(use: FrameUse): number {
    return this.pagesOfUse[use];
  }

  /** The block that holds pfn (blocks are aligned to their order), or null. */
  containing(pfn: number): { start: number; a: Allocation } | null {
    const a = this.get(pfn);
    if (a) return { start: pfn, a };
    const orders = this.ordersWithBlocks;
    for (let i = 0; i < orders.length; i++) {
      const o = orders[i];
      if (o === 0) continue;
      const start = pfn - (pfn % pow2(o));
      const b = this.get(start);
      if (b && pfn < start + pow2(b.order)) return { start, a: b };
    }
    return null;
  }

  /** Every block that holds pfn (more than one: the bookkeeping is broken). */
  allContaining(pfn: number): Array<{ start: number; a: Allocation }> {
    const out: Array<{ start: number; a: Allocation }> = [];
    const orders = this.ordersWithBlocks;
    let last = -1;
    for (let i = 0; i < orders.length; i++) {
      const o = orders[i];
      const start = pfn - (pfn % pow2(o));
      if (start === last) continue;
      const b = this.get(start);
      if (b && pfn < start + pow2(b.order)) {
        out.push({ start, a: b });
        last = start;
      }
    }
    return out;
  }

  private index(pfn: number, a: Allocation, sign: 1 | -1): void {
    const n = pow2(a.order);
    this.countBlocks(a.order, sign);
    if (sign > 0) this.useSets[USE_INDEX[a.use]]?.add(pfn);
    this.pagesOfUse[a.use] += sign * n;
    const z = this.zoneIndexOf(pfn);
    if (z >= 0) this.pagesByZone[z] = (this.pagesByZone[z] ?? 0) + sign * n;
  }

  /** blocksOfOrder[order] += n, ordersWithBlocks kept where the count leaves or reaches 0. */
  private countBlocks(order: number, n: number): void {
    const orders = this.blocksOfOrder;
    const was = orders[order] ?? 0;
    const now = was + n;
    orders[order] = now;
    if ((was === 0) === (now === 0)) return;
    const list = this.ordersWithBlocks;
    list.length = 0;
    for (let o = 0; o < orders.length; o++) if (orders[o]) list.push(o);
  }

  private unindex(pfn: number, a: Allocation): void {
    this.useSets[USE_INDEX[a.use]]?.delete(pfn);
    this.index(pfn, a, -1);
  }
}

/**
 * A free list of one order: its blocks' first pfns (aligned to the order). MAX_PAGE_ORDER
 * lists are held as runs of neighbouring blocks (a freed gigantic folio puts hundreds on one
 * after the other); the lower orders, whose blocks seldom line up, entry by entry.
 */
type FreeList = PfnList | PfnRunList;

/**
 * A set of MAX_PAGE_ORDER blocks by first pfn, as a Set<number> of them reads (insertion
 * order), held as block numbers (pfn / 2^MAX_PAGE_ORDER): small integers where a pfn above 2^31
 * would be a boxed double to hash on every lookup (one per block the buddy takes or frees).
 */
export class BlockSet {
  private readonly blocks = new Set<number>();
  /** How many of the set's blocks lie in each group of GROUP blocks (by key / GROUP). */
  private readonly groups = new Map<number, number>();
  constructor(private readonly blockPages: number) {}
  private key(pfn: number): number {
    const b = pfn / this.blockPages;
    return b < 0x40000000 ? b | 0 : b;
  }
  get size(): number {
    return this.blocks.size;
  }
  has(pfn: number): boolean {
    return this.blocks.has(this.key(pfn));
  }
  add(pfn: number): this {
    const k = this.key(pfn);
    if (this.blocks.has(k)) return this;
    this.blocks.add(k);
    const g = Math.floor(k / GROUP);
    this.groups.set(g, (this.groups.get(g) ?? 0) + 1);
    return this;
  }
  delete(pfn: number): boolean {
    const k = this.key(pfn);
    if (!this.blocks.delete(k)) return false;
    const g = Math.floor(k / GROUP);
    const c = (this.groups.get(g) as number) - 1;
    if (c === 0) this.groups.delete(g);
    else this.groups.set(g, c);
    return true;
  }
  /** delete() of the n blocks from the one at `from` (aligned) on: a group none is in is skipped. */
  deleteRun(from: number, n: number): void {
    const b = this.key(from);
    let i = 0;
    while (i < n) {
      const k = b + i;
      const g = Math.floor(k / GROUP);
      const groupEnd = Math.min(n, (g + 1) * GROUP - b);
      if (!this.groups.has(g)) i = groupEnd;
      else for (; i < groupEnd; i++) this.delete(from + i * this.blockPages);
    }
  }
  *[Symbol.iterator](): IterableIterator<number> {
    for (const b of this.blocks) yield b * this.blockPages;
  }
}

/** BlockSet's group of blocks counted together (a gigantic folio's 256 blocks are 4 of them). */
const GROUP = 64;

export class Zone {
  /**
   * The free lists by order (ownFreeArea), the free blocks of them that lie in claimed unmovable
   * blocks (ownUnmovableArea, a subset) and their pages (ownNrFree), as the zone holds them: an
   * open batch of frees (mm/buddy_batch.ts) keeps the blocks it adds, and their pages, off them
   * until it is made. Only the batch and readers that add its blocks themselves
   * (PageAllocator.headOrder(), renderBatchLinks(), BuddyLru's own* reads) read these; every
   * other reader goes through freeArea, unmovableArea and nrFree, which make the batch first.
   */
  readonly ownFreeArea: FreeList[];
  readonly ownUnmovableArea: FreeList[];
  ownNrFree = 0;
  /**
   * The allocator whose open batch of frees holds blocks of this zone (made by the first read
   * through freeArea, unmovableArea or nrFree), null: none.
   */
  heldBy: PageAllocator | null = null;

  /** The free lists by order, an open batch's blocks on them. */
  get freeArea(): readonly FreeList[] {
    if (this.heldBy !== null) this.heldBy.commitFreeBatch();
    return this.ownFreeArea;
  }

  /** The free blocks of freeArea that lie in claimed unmovable blocks, by order (a subset). */
  get unmovableArea(): readonly FreeList[] {
    if (this.heldBy !== null) this.heldBy.commitFreeBatch();
    return this.ownUnmovableArea;
  }

  /** Free pages (zone->free_area's nr_free, in pages), an open batch's among them. */
  get nrFree(): number {
    if (this.heldBy !== null) this.heldBy.commitFreeBatch();
    return this.ownNrFree;
  }
  set nrFree(n: number) {
    if (this.heldBy !== null) this.heldBy.commitFreeBatch();
    this.ownNrFree = n;
  }

  /** An open batch's blocks made part of the lists, where one holds any. */
  makeBatch(): void {
    if (this.heldBy !== null) this.heldBy.commitFreeBatch();
  }
  /** First pfns of the MAX_PAGE_ORDER blocks claimed by unmovable allocations. */
  readonly unmovableBlocks: BlockSet;
  /** Never-allocated MAX_PAGE_ORDER blocks at the tail of the top list: [start, end) pfns. */
  lazy: Array<[number, number]> = [];
  /**
   * alloc_contig_pages() per size (pages): the aligned candidates below this pfn are not all
   * free (a scan found so, and no page below it was freed since). Null until the first scan.
   */
  contigCursor: Map<number, number> | null = null;
  /** The addresses of its free lists' list heads (mm/buddy_lru.ts), made on first use. */
  lruHeads: ListHead[] | null = null;
  /**
   * The rest of a split block a batch of bulk allocations holds off the free lists
   * (PageAllocator.allocPagesBulkHeld(), fast_paths.ts heldRest): [heldFrom, heldEnd), counted
   * in nrFree; none while they are equal.
   */
  heldFrom = 0;
  heldEnd = 0;
  /** zone_managed_pages(): pages the buddy allocator manages (free or handed out). */
  managed = 0;
  /** Present pages (zone->present_pages). */
  present = 0;
  watermarkMin = 0;
  watermarkLow = 0;
  watermarkHigh = 0;
  constructor(
    readonly nid: number,
    readonly type: ZoneType,
    readonly startPfn: number,
    readonly endPfn: number,
    readonly maxOrder: number,
  ) {
    const list = (o: number): FreeList => {
      const base = startPfn - (startPfn % pow2(o));
      return o === maxOrder ? new PfnRunList(base, pow2(o)) : new PfnList(base, pow2(o));
    };
    this.ownFreeArea = Array.from({ length: maxOrder + 1 }, (_, o) => list(o));
    this.ownUnmovableArea = Array.from({ length: maxOrder + 1 }, (_, o) => list(o));
    this.unmovableBlocks = new BlockSet(pow2(maxOrder));
  }
  get name(): string {
    return this.type;
  }
  contains(pfn: number): boolean {
    return pfn >= this.startPfn && pfn < this.endPfn;
  }
  /** Number of lazy pages. */
  lazyPages(): number {
    let n = 0;
    for (const [s, e] of this.lazy) n += e - s;
    return n;
  }
}

const ZONE_ORDER: ZoneType[] = ["DMA", "DMA32", "Normal", "Movable"];

/** The HugeTLB side of alloc_contig_pages() (mm/hugetlb.c). */
export interface ContigHugetlb {
  /** PageHuge(), compound_head() and compound_order(): the HugeTLB folio holding pfn, or null. */
  folioAt(pfn: number): { head: number; order: number } | null;
  /** replace_free_hugepage_folios() of [startPfn, endPfn): 0 or a negative errno. */
  replaceFreeHugepageFolios(startPfn: number, endPfn: number): number;
}

/** PageAllocator.onFreeHeadsRenderAmong(). */
type RenderAmong = (from: number, to: number, otherFrom: number, otherEnd: number) => boolean;

export class PageAllocator {
  readonly zones: Zone[] = [];
  readonly zonesByNode: Zone[][] = [];
  /** Blocks handed out, by first pfn. */
  readonly allocations = new AllocationMap();
  /** Listeners of free-list changes (see RangeListener; the allocations have their own). */
  readonly listeners: RangeListener[] = [];
  /**
   * start_isolate_page_range() (memory offline): the free pages of this range are not handed
   * out until undo_isolate_page_range().
   */
  isolated: PfnRange | null = null;
  /**
   * What alloc_contig_pages() asks of HugeTLB, set by the pool where its kernel moves HugeTLB
   * folios out of a contiguous range (DesignFacts.pool.contigMovesSmallerHugetlb); null: ranges
   * with HugeTLB folios are never taken (6.18).
   */
  contigHugetlb: ContigHugetlb | null = null;
  /** 2^maxOrder: the pages of a MAX_PAGE_ORDER block. */
  private readonly maxBlockPages: number;
  /** Explicit free blocks per order (lookups skip the orders that have none). */
  private readonly freeOfOrder: number[];
  /** Calls that failed, per site (for reports). */
  readonly failures = new Map<string, number>();
  faults: FaultInjector;
  /** freePagesCheck()'s translations of a batch of vmemmap pages (reused from call to call). */
  readonly checkBatch = new Float64Array(FREE_CHECK_BATCH);
  /**
   * The model's fast paths (fast_paths.ts): checkRuns, lazyRunBulk, lazyTakeRun, topRunBulk,
   * pairBulk; the kernel's.
   */
  paths = new FastPaths();

  constructor(
    nodes: NodeSpec[],
    readonly maxOrder: number,
    faults: FaultInjector,
  ) {
    this.faults = faults;
    this.maxBlockPages = pow2(maxOrder);
    this.freeOfOrder = new Array(maxOrder + 1).fill(0);
    for (const node of nodes) {
      const zs: Zone[] = [];
      for (const z of node.zones) {
        const zone = new Zone(node.nid, z.type, z.startPfn, z.endPfn, maxOrder);
        for (const r of node.ranges)
          zone.present += Math.max(
            0,
            Math.min(r.endPfn, z.endPfn) - Math.max(r.startPfn, z.startPfn),
          );
        zs.push(zone);
        this.zones.push(zone);
      }
      this.zonesByNode[node.nid] = zs;
    }
    this.allocations.zoneIndexOf = (pfn) => this.zoneIndex(pfn);
    this.zonesOverlap = this.zones.some((a, i) =>
      this.zones.some((b, j) => i < j && a.startPfn < b.endPfn && b.startPfn < a.endPfn),
    );
  }

  zoneOf(pfn: number): Zone | null {
    // The zone found last first: callers ask about neighbouring pfns in a row.
    const last = this.lastZone;
    if (last?.contains(pfn)) return last;
    for (const z of this.zones)
      if (z.contains(pfn)) {
        this.lastZone = z;
        return z;
      }
    return null;
  }

  private lastZone: Zone | null = null;

  /** The index in `zones` of the zone that holds pfn, or -1. */
  zoneIndex(pfn: number): number {
    for (let i = 0; i < this.zones.length; i++) if (this.zones[i].contains(pfn)) return i;
    return -1;
  }

  /** Pages of zone `z` handed out (allocated blocks that start in it). */
  allocatedPages(z: Zone): number {
    return this.allocations.pagesByZone[this.zones.indexOf(z)] ?? 0;
  }

  /** Has a listener of every range whose state changes (free lists and allocations). */
  addRangeListener(l: RangeListener): void {
    this.listeners.push(l);
    this.allocations.listeners.push(l);
  }

  // ---- boot ----------------------------------------------------------------------------------

  /**
   * memblock_free_all() / __free_pages_core(): hands [start, end) to the buddy in the largest
   * aligned blocks, at the tail of the lists. Also counts the pages as managed.
   */
  freeBootRange(start: number, end: number): void {
    let pfn = start;
    while (pfn < end) {
      const zone = this.zoneOf(pfn);
      if (!zone) throw new Oops(`memblock_free_all: pfn ${pfn} is in no zone`);
      const limit = Math.min(end, zone.endPfn);
      const maxBlock = pow2(this.maxOrder);
      // Whole MAX_PAGE_ORDER blocks become one lazy range.
      const alignedStart = Math.ceil(pfn / maxBlock) * maxBlock;
      if (pfn === alignedStart && pfn + maxBlock <= limit) {
        const nBlocks = Math.floor((limit - pfn) / maxBlock);
        const rEnd = pfn + nBlocks * maxBlock;
        const last = zone.lazy[zone.lazy.length - 1];
        if (last && last[1] === pfn) last[1] = rEnd;
        else zone.lazy.push([pfn, rEnd]);
        this.lru?.lazyAppended(zone, pfn);
        zone.nrFree += rEnd - pfn;
        if (zone.contigCursor !== null) freedBelowCursor(zone.contigCursor, pfn);
        if (this.listeners.length) emitRange(this.listeners, pfn, rEnd - pfn);
        zone.managed += rEnd - pfn;
        pfn = rEnd;
        continue;
      }
      let order = lowestSetBitOrder(pfn, this.maxOrder);
      while (pfn + pow2(order) > limit) order--;
      this.addFree(zone, pfn, order, true);
      zone.managed += pow2(order);
      pfn += pow2(order);
    }
  }

  /** __setup_per_zone_wmarks(), with min_free_kbytes from calculate_min_free_kbytes(). */
  setupWatermarks(pageSizeBytes: number): void {
    let lowmem = 0;
    for (const z of this.zones) if (z.type !== "Movable") lowmem += z.managed;
    const lowmemKb = (lowmem * pageSizeBytes) / 1024;
    const minFreeKb = Math.min(262144, Math.max(128, Math.floor(Math.sqrt(lowmemKb * 16))));
    const pagesMin = Math.floor(minFreeKb / (pageSizeBytes / 1024));
    for (const z of this.zones) {
      const tmp = lowmem > 0 ? Math.floor((pagesMin * z.managed) / lowmem) : 0;
      z.watermarkMin = z.type === "Movable" ? 0 : tmp;
      // watermark_scale_factor = 10 (0.1 % of the zone).
      const delta = Math.max(Math.floor(tmp / 4), Math.floor((z.managed * 10) / 10000));
      z.watermarkLow = z.watermarkMin + delta;
      z.watermarkHigh = z.watermarkMin + 2 * delta;
    }
  }

  // ---- the free lists ------------------------------------------------------------------------

  /**
   * Told when a pfn becomes the head of a free block (its order) or stops being one (-1): the
   * kernel's __SetPageBuddy() + set_buddy_order() and __ClearPageBuddy() + set_page_private(0)
   * on the head's struct page only (the Kernel writes them where a read would not generate them).
   */
  onFreeHead: ((pfn: number, order: number) => void) | null = null;
  /**
   * onFreeHead(q, -1) for q = from, from + step, ... below `to`, in that order (a run of pages
   * handed out, or the pages of a block freed whole); onFreeHead per page when not set.
   */
  onFreeHeadsCleared: ((from: number, to: number, step: number) => void) | null = null;
  /**
   * onFreeHead(q, order) for q = from, from + step, ... (n heads), the blocks a run free
   * (freeTopRun()) just linked; allowed only while onFreeHeadRunReady() says so. Without it, or
   * when not ready, blocks are freed one at a time.
   */
  onFreeHeadRun: ((from: number, n: number, step: number, order: number) => void) | null = null;
  onFreeHeadRunReady: (() => boolean) | null = null;
  /**
   * In place of n onFreeHead(pfn, ...) calls whose stores all fall to the next onFreeHead(pfn,
   * order) (freePagesPair(): a head marked and unmarked, then marked as the merged block's):
   * they are counted with that one where it stores. Allowed where onFreeHeadRun is.
   */
  onFreeHeadsOverwritten: ((pfn: number, n: number) => void) | null = null;
  /**
   * Whether marking the heads among [from, to) may render a vmemmap page that also holds struct
   * pages of [otherFrom, otherEnd): a rendering reads every struct page's state from the
   * allocator (headOrder()), which has none for a held rest (allocPagesBulkHeld()). Rests are
   * held only where it is set.
   */
  onFreeHeadsRenderAmong: RenderAmong | null = null;

  /** onFreeHead(q, -1) for every q from `from` below `to`, `step` apart. */
  private clearFreeHeads(from: number, to: number, step: number): void {
    if (this.onFreeHeadsCleared !== null) this.onFreeHeadsCleared(from, to, step);
    else if (this.onFreeHead !== null) for (let q = from; q < to; q += step) this.onFreeHead(q, -1);
  }

  /**
   * The free-list links in the heads' struct pages (mm/buddy_lru.ts), set by the Kernel once
   * the vmemmap exists: told after a block joins a list and before one leaves it.
   */
  lru: BuddyLru | null = null;

  /** The order of the free block whose head is pfn (lazy ranges included), or -1. */
  headOrder(pfn: number): number {
    if (this.heldZones.length !== 0) this.notHeld(pfn);
    const b = this.batch;
    if (b !== null && b.n !== 0) {
      // A block of the open batch of frees (its struct page rendered meanwhile).
      const s = b.slotOf(pfn);
      if (s >= 0 && b.live[s] >= 0) return b.live[s];
    }
    const o = this.ownOrderAt(pfn);
    if (o >= 0) return o;
    // Alignment first: only a pfn aligned to MAX_PAGE_ORDER can head a lazy block.
    if (modPow2(pfn, this.maxBlockPages) !== 0) return -1;
    for (const z of this.zones)
      if (z.lazy.length > 0 && z.contains(pfn))
        return findRange(z.lazy, pfn) >= 0 ? this.maxOrder : -1;
    return -1;
  }

  /** Whether some zone spans overlap (nodes interleaved): a pfn may lie in more than one. */
  private readonly zonesOverlap: boolean;

  /**
   * The order of each explicit free block below MAX_PAGE_ORDER, by its first pfn (top-order
   * blocks are looked up on their zone's list: a machine given back in MAX_PAGE_ORDER blocks
   * has millions, spread over all of memory).
   */
  private readonly subTopOrder = new PfnBytes();

  /** The order of the explicit free block headed by pfn (any zone), or -1. */
  private explicitOrderAt(pfn: number): number {
    this.makeBatch();
    return this.ownOrderAt(pfn);
  }

  /**
   * explicitOrderAt() without an open batch's blocks (subTopOrder and freeOfOrder as the batch
   * leaves them): for the batch and for headOrder(), which ask it first.
   */
  private ownOrderAt(pfn: number): number {
    const o = this.subTopOrder.get(pfn);
    if (o >= 0) return o;
    if (this.freeOfOrder[this.maxOrder] === 0) return -1;
    if (modPow2(pfn, this.maxBlockPages) !== 0) return -1;
    return this.topExplicitAt(pfn) ? this.maxOrder : -1;
  }

  private addFree(
    zone: Zone,
    pfn: number,
    order: number,
    toTail: boolean,
    /** The caller knows no free block starts at pfn: the test below would pass. */
    knownNotFree = false,
  ): void {
    if (!knownNotFree && this.explicitOrderAt(pfn) >= 0)
      throw new Oops(`buddy: block at pfn ${pfn} is free already`);
    if (zone.contigCursor !== null) freedBelowCursor(zone.contigCursor, pfn);
    if (toTail) zone.freeArea[order].addTail(pfn);
    else zone.freeArea[order].addHead(pfn);
    const block = pfn - modPow2(pfn, this.maxBlockPages);
    if (order === this.maxOrder) {
      if (zone.unmovableBlocks.size > 0) zone.unmovableBlocks.delete(block);
    } else if (zone.unmovableBlocks.size > 0 && zone.unmovableBlocks.has(block)) {
      if (toTail) zone.unmovableArea[order].addTail(pfn);
      else zone.unmovableArea[order].addHead(pfn);
    }
    if (order < this.maxOrder) this.subTopOrder.set(pfn, order);
    this.freeOfOrder[order]++;
    zone.nrFree += pow2(order);
    this.lru?.linked(zone, pfn, order);
    this.onFreeHead?.(pfn, order);
    if (this.listeners.length) emitRange(this.listeners, pfn, pow2(order));
  }

  private delFree(zone: Zone, pfn: number, order: number): void {
    this.lru?.unlinking(zone, pfn, order);
    zone.freeArea[order].remove(pfn);
    if (zone.unmovableArea[order].count > 0) zone.unmovableArea[order].remove(pfn);
    if (order < this.maxOrder) this.subTopOrder.delete(pfn);
    this.freeOfOrder[order]--;
    zone.nrFree -= pow2(order);
    this.onFreeHead?.(pfn, -1);
    if (this.listeners.length) emitRange(this.listeners, pfn, pow2(order));
  }

  /** The free block that contains pfn, or null. */
  freeBlockAt(pfn: number): { start: number; order: number; lazy: boolean } | null {
    if (this.heldZones.length !== 0) this.notHeld(pfn);
    this.makeBatch();
    // Free blocks are disjoint, so the order of the lookups does not change the answer: the
    // MAX_PAGE_ORDER ones first (most of free memory, and what alloc_contig_pages() scans).
    const max = this.maxOrder;
    const top = pfn - (pfn % this.maxBlockPages);
    if (this.freeOfOrder[max] !== 0 && this.topExplicitAt(top))
      return { start: top, order: max, lazy: false };
    const zone = this.zoneOf(pfn);
    if (zone !== null && zone.lazy.length > 0 && findRange(zone.lazy, pfn) >= 0)
      return { start: top, order: max, lazy: true };
    // pfn heading a block of order h, aligned to it: a block of a lower order containing pfn
    // would start at pfn too, where the index holds h alone, so the scan below would find
    // this one first (the common case: a walk from block to block).
    const h = this.subTopOrder.get(pfn);
    if (h >= 0 && this.freeOfOrder[h] !== 0 && pfn % pow2(h) === 0)
      return { start: pfn, order: h, lazy: false };
    for (let o = 0; o < max; o++) {
      if (this.freeOfOrder[o] === 0) continue;
      const start = pfn - (pfn % pow2(o));
      if (this.subTopOrder.get(start) === o) return { start, order: o, lazy: false };
    }
    return null;
  }

  /**
   * Whether an explicit MAX_PAGE_ORDER free block starts at top (aligned). A batch of frees
   * holds no block of that order: the zones' own lists answer, batch or not.
   */
  private topExplicitAt(top: number): boolean {
    const z = this.zoneOf(top);
    if (z === null) return false;
    if (z.ownFreeArea[this.maxOrder].has(top)) return true;
    if (this.zonesOverlap)
      for (const y of this.zones)
        if (y !== z && y.contains(top) && y.ownFreeArea[this.maxOrder].has(top)) return true;
    return false;
  }

  isFree(pfn: number): boolean {
    return this.freeBlockAt(pfn) !== null;
  }

  /** Takes one whole MAX block out of a lazy range, making it an ordinary block of the caller. */
  private takeLazy(zone: Zone, idx: number, blockStart: number): void {
    const size = pow2(this.maxOrder);
    const [s, e] = zone.lazy[idx];
    this.lru?.unlinking(zone, blockStart, this.maxOrder);
    if (blockStart === s) {
      if (s + size === e) zone.lazy.splice(idx, 1);
      else zone.lazy[idx][0] = s + size;
    } else if (blockStart + size === e) {
      zone.lazy[idx][1] = blockStart;
    } else {
      zone.lazy.splice(idx, 1, [s, blockStart], [blockStart + size, e]);
    }
    zone.nrFree -= size;
    this.onFreeHead?.(blockStart, -1);
    if (this.listeners.length) emitRange(this.listeners, blockStart, size);
  }

  /**
   * __rmqueue(): for an unmovable request, the claimed blocks' own free pages, then a whole free
   * block claimed (__rmqueue_claim()), then any free page; for a movable one, pages outside the
   * claimed blocks, then any. Returns the first pfn or -1.
   */
  private rmqueue(zone: Zone, order: number, movable: boolean, whole = false): number {
    if (movable) {
      if (zone.unmovableBlocks.size === 0) return this.rmqueueSmallest(zone, order, "any", whole);
      const pfn = this.rmqueueSmallest(zone, order, "movable", whole);
      return pfn >= 0 ? pfn : this.rmqueueSmallest(zone, order, "any", whole);
    }
    let pfn = this.rmqueueSmallest(zone, order, "unmovable", whole);
    if (pfn < 0) pfn = this.rmqueueSmallest(zone, order, "claim", whole);
    return pfn >= 0 ? pfn : this.rmqueueSmallest(zone, order, "any", whole);
  }

  /** The order of the block rmqueueSmallest() took last (before expand()). */
  private takenOrder = 0;

  /**
   * __rmqueue_smallest() + expand() over the blocks `kind` allows: "unmovable" the free blocks
   * of claimed blocks, "movable" those outside them, "claim" whole MAX_PAGE_ORDER blocks only
   * (which become claimed), "any" every free block. Returns the first pfn or -1. With `whole`,
   * the block found is taken whole (no expand()); its order is left in takenOrder.
   */
  private rmqueueSmallest(
    zone: Zone,
    order: number,
    kind: "any" | "movable" | "unmovable" | "claim" = "any",
    whole = false,
  ): number {
    const iso = this.isolated;
    const top = pow2(this.maxOrder);
    for (let o = kind === "claim" ? this.maxOrder : order; o <= this.maxOrder; o++) {
      if (kind === "unmovable" && o === this.maxOrder) break;
      const list = kind === "unmovable" ? zone.unmovableArea[o] : zone.freeArea[o];
      const skipUnmovable = kind === "movable" && zone.unmovableArea[o].count > 0;
      let pfn = -1;
      if (iso === null && !skipUnmovable) {
        if (list.count > 0) pfn = list.head;
      } else {
        // The free pages of an isolated range are on MIGRATE_ISOLATE lists: passed over.
        for (let p = list.head; p !== -1; p = list.nextOf(p))
          if (
            (iso === null || p >= iso.endPfn || p + pow2(o) <= iso.startPfn) &&
            !(skipUnmovable && zone.unmovableArea[o].has(p))
          ) {
            pfn = p;
            break;
          }
      }
      if (pfn >= 0) this.delFree(zone, pfn, o);
      else if (o === this.maxOrder && zone.lazy.length > 0) {
        const size = pow2(o);
        let idx = 0;
        pfn = zone.lazy[0][0];
        if (iso !== null) {
          pfn = -1;
          for (let i = 0; i < zone.lazy.length && pfn < 0; i++) {
            const [s, e] = zone.lazy[i];
            for (let b = s; b < e; b += size)
              if (b >= iso.endPfn || b + size <= iso.startPfn) {
                pfn = b;
                idx = i;
                break;
              }
          }
          if (pfn < 0) continue;
        }
        this.takeLazy(zone, idx, pfn);
      } else continue;
      if (kind === "claim") zone.unmovableBlocks.add(pfn - (pfn % top));
      this.takenOrder = o;
      if (whole) return pfn;
      // expand(): give back the upper halves, largest first, at the list heads.
      let high = o;
      while (high > order) {
        high--;
        this.addFree(zone, pfn + pow2(high), high, false);
      }
      return pfn;
    }
    return -1;
  }

  /** The zonelist for an allocation: preferred node's zones high to low, then other nodes. */
  zonelist(nid: number, gfp: number): Zone[] {
    // By node, then by the gfp mask (a small integer key: GFP_KERNEL alone is above V8's
    // 31-bit small integers, which would make every lookup hash a boxed number).
    let byGfp = this.zonelists[nid];
    if (byGfp === undefined) {
      byGfp = new Map();
      while (this.zonelists.length < nid) this.zonelists.push(undefined);
      this.zonelists[nid] = byGfp;
    }
    const key = (gfp % GFP_KERNEL) * 2 + (gfp >= GFP_KERNEL ? 1 : 0);
    let list = byGfp.get(key);
    if (!list) {
      list = this.buildZonelist(nid, gfp);
      byGfp.set(key, list);
    }
    return list;
  }

  private readonly zonelists: (Map<number, Zone[]> | undefined)[] = [];

  private buildZonelist(nid: number, gfp: number): Zone[] {
    const highest = gfp & __GFP_DMA ? 0 : gfp & __GFP_DMA32 ? 1 : gfp & __GFP_MOVABLE ? 3 : 2;
    const nodes = [nid];
    if (!(gfp & __GFP_THISNODE)) {
      for (let n = 0; n < this.zonesByNode.length; n++)
        if (n !== nid && this.zonesByNode[n]) nodes.push(n);
    }
    const out: Zone[] = [];
    for (const n of nodes) {
      const zs = (this.zonesByNode[n] ?? [])
        .filter((z) => ZONE_ORDER.indexOf(z.type) <= highest)
        .sort((a, b) => ZONE_ORDER.indexOf(b.type) - ZONE_ORDER.indexOf(a.type));
      out.push(...zs);
    }
    return out;
  }

  /**
   * alloc_pages_node(nid, gfp, order) / __alloc_pages(): a 2^order block, or null.
   * `site` names the caller for fault injection; `use` says what the block becomes.
   */
  allocPagesNode(
    nid: number,
    gfp: number,
    order: number,
    site: string,
    use: FrameUse,
  ): number | null {
    if (order > this.maxOrder) throw new Oops(`alloc_pages: order ${order} > MAX_PAGE_ORDER`);
    if (this.heldZones.length !== 0 || this.recordsLen !== 0) this.releaseRest();
    if (this.faults.shouldFail(site)) {
      this.failures.set(site, (this.failures.get(site) ?? 0) + 1);
      return null;
    }
    const nrPages = pow2(order);
    for (const zone of this.zonelist(nid, gfp)) {
      if (zone.nrFree - nrPages < zone.watermarkMin) continue;
      const pfn = this.rmqueue(zone, order, (gfp & __GFP_MOVABLE) !== 0);
      if (pfn >= 0) {
        this.allocations.setTaken(pfn, this.allocations.record(order, use, zone.nid));
        return pfn;
      }
    }
    this.failures.set(site, (this.failures.get(site) ?? 0) + 1);
    return null;
  }

  /**
   * allocPagesNode(nid, gfp, order, site, use) twice in a row, where the caller's work between
   * the two touches neither the buddy nor the second block's head struct page before storing
   * over its buddy marks (onFreeHeadsUnstored()): the first pfn, with the second in pairSecond
   * (-1: only the first was allocated, the same as one allocPagesNode()).
   *
   * Where the first call splits a block of twice the order (the list of its order empty, the
   * block outside any claimed one), expand() puts the upper half at the head of that list and
   * the second call takes it straight back: its list stays empty, its counters even, no list
   * neighbour is linked or unlinked, and its head's marks (set, then cleared) are left to the
   * caller's stores over them, counted as made. The second call's fault-injection call and
   * watermark test are the ones it would make there: quiet, and passed (fast_paths.ts
   * allocPairs).
   */
  allocPagesPair(nid: number, gfp: number, order: number, site: string, use: FrameUse): number {
    if (this.heldZones.length !== 0 || this.recordsLen !== 0) this.releaseRest();
    this.pairSecond = -1;
    if (
      !this.paths.allocPairs ||
      order >= this.maxOrder ||
      this.isolated !== null ||
      this.onFreeHeadsUnstored === null ||
      !this.bulkHeadsReady() ||
      (this.lru !== null && !this.lru.nodeWithMarks) ||
      this.faults.quiet?.(site) !== true
    )
      return this.allocPagesNode(nid, gfp, order, site, use) ?? -1;
    // The first call, as allocPagesNode() makes it, but the block taken whole.
    if (this.faults.shouldFail(site)) {
      this.failures.set(site, (this.failures.get(site) ?? 0) + 1);
      return -1;
    }
    const nrPages = pow2(order);
    const movable = (gfp & __GFP_MOVABLE) !== 0;
    for (const zone of this.zonelist(nid, gfp)) {
      if (zone.nrFree - nrPages < zone.watermarkMin) continue;
      const pfn = this.rmqueue(zone, order, movable, true);
      if (pfn < 0) continue;
      const o = this.takenOrder;
      const second = pfn + nrPages;
      const block = pfn - modPow2(pfn, this.maxBlockPages);
      // A block of twice the order split: its movable list of the order was empty (rmqueue()
      // takes the smallest block it may), so the upper half is alone there, linking and
      // unlinking it store into no neighbour, and the second call takes it from the head.
      const pair =
        o === order + 1 &&
        !(zone.unmovableBlocks.size > 0 && zone.unmovableBlocks.has(block)) &&
        // The second call's watermark test: nrFree then is this one with the upper half back
        // on its list, less the half.
        zone.nrFree >= zone.watermarkMin;
      // expand(): the upper halves at the heads of their lists, largest first; the one the
      // second call would take straight back only counted (the cursors see it freed).
      for (let high = o - 1; high >= order; high--) {
        if (pair && high === order) {
          if (zone.contigCursor !== null) freedBelowCursor(zone.contigCursor, second);
          this.onFreeHeadsUnstored(second, 2);
        } else this.addFree(zone, pfn + pow2(high), high, false);
      }
      this.allocations.setTaken(pfn, this.allocations.record(order, use, zone.nid));
      if (pair) {
        // The second call: its fault-injection call answered by quiet(), its zone the first's
        // (the zones before it fail the watermark or have no block, as for the first).
        this.takenOrder = order;
        this.allocations.setTaken(second, this.allocations.record(order, use, zone.nid));
        this.pairSecond = second;
      }
      return pfn;
    }
    this.failures.set(site, (this.failures.get(site) ?? 0) + 1);
    return -1;
  }

  /** The second block allocPagesPair() handed out last (-1: none). */
  pairSecond = -1;

  /**
   * n onFreeHead(pfn, ...) calls (a head marked free, then unmarked) whose stores all fall to
   * the caller's own stores into that struct page before anyone reads it (allocPagesPair()):
   * translated and counted as they would store, not made. Allowed where onFreeHeadRun is.
   */
  onFreeHeadsUnstored: ((pfn: number, n: number) => void) | null = null;

  /**
   * n order-0 alloc_pages_node() calls in a row, as alloc_vmemmap_page_list() makes them: the same
   * pfns in the same order, and the same free lists, counters, migratetype claims, watermark and
   * node fallback, fault-injector calls, failures and buddy marks as the n singles. Returns the
   * pfns handed out; fewer than n when call number `length + 1` failed (the caller's loop stops
   * there, so the rest are not tried).
   *
   * Why it can go a block at a time: the first request takes the smallest free block B it may
   * use, and expand() puts B's upper halves at the heads of the lower lists, where the next
   * requests find them before anything else (they are the smallest, in the same area). So B is
   * handed out page by page in ascending pfn order before any other block is touched, and a run
   * that stops inside B leaves the aligned pieces of B's rest at the heads of their lists. Every
   * page handed out was the head of a free block when it went, so its buddy mark is cleared.
   */
  allocPagesBulk(nid: number, gfp: number, n: number, site: string, use: FrameUse): number[] {
    const out: number[] = [];
    this.allocPagesBulkRuns(nid, gfp, n, site, use, (pfn, t) => {
      for (let i = 0; i < t; i++) out.push(pfn + i);
    });
    return out;
  }

  /**
   * allocPagesBulk() told as runs: onRun(pfn, t) for each t consecutive pfns handed out, in
   * order (no array of n pfns). Returns how many were handed out.
   */
  allocPagesBulkRuns(
    nid: number,
    gfp: number,
    n: number,
    site: string,
    use: FrameUse,
    onRun: (pfn: number, t: number) => void,
  ): number {
    if (this.heldZones.length !== 0 || this.recordsLen !== 0) this.releaseRest();
    let got = 0;
    const movable = (gfp & __GFP_MOVABLE) !== 0;
    const zl = n > 0 ? this.zonelist(nid, gfp) : [];
    const fail = () => this.failures.set(site, (this.failures.get(site) ?? 0) + 1);
    while (got < n) {
      if (this.faults.shouldFail(site)) {
        fail();
        break;
      }
      let zone: Zone | null = null;
      let pfn = -1;
      for (const z of zl) {
        if (z.nrFree - 1 < z.watermarkMin) continue;
        pfn = this.rmqueue(z, 0, movable, true);
        if (pfn >= 0) {
          zone = z;
          break;
        }
      }
      if (zone === null) {
        fail();
        break;
      }
      const size = pow2(this.takenOrder);
      // Pages of B handed out: while more are wanted, the zone stays above its min watermark
      // (nrFree before page t is the count before B was taken, less t) and no call fails.
      const lim = Math.min(size, n - got, zone.nrFree + size - zone.watermarkMin);
      let t = 1;
      let stopped = false;
      // No call of the site can fail (no rule names it, no chance applies to it): the calls
      // for pages 2..lim are all answered at once.
      if (lim > 1 && this.faults.quiet?.(site) === true) t = lim;
      while (t < lim) {
        if (this.faults.shouldFail(site)) {
          stopped = true;
          break;
        }
        t++;
      }
      onRun(pfn, t);
      got += t;
      // The rest of B, in aligned pieces at the list heads (what expand() left of it).
      let p = pfn + t;
      const end = pfn + size;
      while (p < end) {
        let o = lowestSetBitOrder(p, this.maxOrder);
        while (p + pow2(o) > end) o--;
        this.addFree(zone, p, o, false);
        p += pow2(o);
      }
      if (t > 1) this.clearFreeHeads(pfn + 1, pfn + t, 1);
      this.allocations.setOrder0Run(pfn, t, use, zone.nid, true);
      if (stopped) {
        fail();
        break;
      }
    }
    return got;
  }

  /**
   * The zones holding a rest for allocPagesBulkHeld() (Zone.heldFrom, heldEnd). Invariant:
   * while one is held, nothing but allocPagesBulkHeld() and releaseRest() changes the allocator.
   */
  private readonly heldZones: Zone[] = [];
  /** The gfp mask of the calls the held rests were split for. */
  private heldGfp = 0;

  /**
   * allocPagesBulkRuns() for one of a batch of calls between which nothing else uses the
   * allocator (hugetlb_vmemmap.ts restoreFolios()), whose caller ends the batch with
   * releaseRest(): the same pfns, runs, counters, marks and stores, but the rest of the block
   * a call splits stays off the lists until a later call takes it (fast_paths.ts heldRest).
   *
   * Why that is exact. allocPagesBulkRuns() takes the smallest block B its kind of request may
   * use in the zone, so the zone's lists below B's order hold nothing of that kind, and the
   * pieces of B's rest go onto them alone: each piece's links are to its list head only (no
   * neighbour is written), and the next request in that zone finds B's smallest piece, the
   * piece of the rest with the lowest pfn. So every piece goes on a list and comes off it
   * unchanged in between; what stays of it is its head's marks, made and then cleared
   * (onFreeHeadsOverwritten() counts the first with the second), and the contig cursor's note
   * of its pfn. What is left at the end goes onto the lists in releaseRest(), as the call that
   * left it would have put it there (each zone's lists are its own: a rest held in one zone
   * stays held while another zone serves a call). Taken only where nothing else would see the
   * pieces go on and off: no listener, no watched head, no isolated range, no fault that can
   * fire at the site; elsewhere the rests are released and the call is allocPagesBulkRuns().
   * Clearing the marks of the pages a call took may render a vmemmap page from the allocator's
   * state (a page held as a pattern that reads them); where that page holds struct pages of a
   * held rest too, the rests are released first (releaseBeforeMarks()), which leaves the state
   * the plain form has there. So a page of a held rest is stored to only by the take of its
   * piece: as it was when the rest was split, and releasing marks it as splitting would have.
   * That take renders no page of another held pfn: the pieces smaller than a vmemmap page's
   * struct pages lie in the first vmemmap page of the block they were split from, made the
   * frame's own (if it renders at all) when that block left its list, and each larger piece
   * fills its first vmemmap page alone.
   */
  allocPagesBulkHeld(
    nid: number,
    gfp: number,
    n: number,
    site: string,
    use: FrameUse,
    onRun: (pfn: number, t: number) => void,
  ): number {
    if (!this.holdFor(gfp, site)) return this.allocPagesBulkRuns(nid, gfp, n, site, use, onRun);
    let got = 0;
    const movable = (gfp & __GFP_MOVABLE) !== 0;
    const zl = n > 0 ? this.zonelist(nid, gfp) : [];
    // The pages handed out so far, while they run on from one another: one run of the list and
    // of the allocation map (runs that meet join there; a bulk call tells them apart in
    // nothing else).
    let runStart = -1;
    let runLen = 0;
    let runZone: Zone | null = null;
    while (got < n) {
      let zone: Zone | null = null;
      let pfn = -1;
      let held = false;
      for (const z of zl) {
        if (z.nrFree - 1 < z.watermarkMin) continue;
        if (z.heldFrom < z.heldEnd) {
          pfn = z.heldFrom;
          held = true;
          zone = z;
          break;
        }
        pfn = this.rmqueue(z, 0, movable, true);
        if (pfn >= 0) {
          zone = z;
          break;
        }
      }
      if (zone === null) {
        this.failures.set(site, (this.failures.get(site) ?? 0) + 1);
        break;
      }
      const size = held ? this.takeHeld(zone) : pow2(this.takenOrder);
      const lim = Math.min(size, n - got, zone.nrFree + size - zone.watermarkMin);
      // No call of the site can fail (mayHold()): the calls for pages 2..lim answered at once.
      const t = Math.max(lim, 1);
      if (runZone === zone && runStart + runLen === pfn) runLen += t;
      else {
        if (runLen > 0) this.heldRun(runStart, runLen, runZone as Zone, use, onRun);
        runStart = pfn;
        runLen = t;
        runZone = zone;
      }
      got += t;
      if (t < size) this.holdRest(zone, pfn + t, pfn + size);
      if (t > 1) {
        this.releaseBeforeMarks(pfn + 1, pfn + t);
        this.clearFreeHeads(pfn + 1, pfn + t, 1);
      }
    }
    if (runLen > 0) this.heldRun(runStart, runLen, runZone as Zone, use, onRun);
    return got;
  }

  /**
   * allocPagesNode(nid, gfp, 0, site, use) for one of a batch of calls as allocPagesBulkHeld()'s
   * (legacy HVO's new head pages, hugetlb_vmemmap.ts optimizeFoliosBatch()): the same pfn,
   * record, counters and marks, the rest of the block it splits held as there. expand() puts
   * the rest's pieces at the list heads largest first where a bulk call puts them smallest
   * first: each goes onto a list of its own, so the lists and stores are the same either way.
   */
  allocPageHeld(nid: number, gfp: number, site: string, use: FrameUse): number | null {
    if (!this.holdFor(gfp, site)) return this.allocPagesNode(nid, gfp, 0, site, use);
    const movable = (gfp & __GFP_MOVABLE) !== 0;
    for (const zone of this.zonelist(nid, gfp)) {
      if (zone.nrFree - 1 < zone.watermarkMin) continue;
      let pfn: number;
      let size: number;
      if (zone.heldFrom < zone.heldEnd) {
        pfn = zone.heldFrom;
        size = this.takeHeld(zone);
      } else {
        pfn = this.rmqueue(zone, 0, movable, true);
        if (pfn < 0) continue;
        size = pow2(this.takenOrder);
      }
      if (size > 1) this.holdRest(zone, pfn + 1, pfn + size);
      this.allocations.setTaken(pfn, this.allocations.record(0, use, zone.nid));
      return pfn;
    }
    this.failures.set(site, (this.failures.get(site) ?? 0) + 1);
    return null;
  }

  /**
   * rmqueue() of the smallest piece of zone's held rest, at heldFrom: alone on its list, so its
   * delFree() stores nothing into a neighbour; its marks cleared, counted with the ones its
   * addFree() made. Returns its size.
   */
  private takeHeld(zone: Zone): number {
    const pfn = zone.heldFrom;
    let o = lowestSetBitOrder(pfn, this.maxOrder);
    while (pfn + pow2(o) > zone.heldEnd) o--;
    const size = pow2(o);
    this.takenOrder = o;
    zone.nrFree -= size;
    zone.heldFrom += size;
    this.onFreeHeadsOverwritten?.(pfn, 1);
    this.onFreeHead?.(pfn, -1);
    return size;
  }

  /**
   * Before the marks of the heads among [from, to) are cleared: every rest released where
   * that may render a vmemmap page that holds struct pages of a held rest.
   */
  private releaseBeforeMarks(from: number, to: number): void {
    const renders = this.onFreeHeadsRenderAmong as RenderAmong;
    for (const z of this.heldZones) {
      if (z.heldFrom < z.heldEnd && renders(from, to, z.heldFrom, z.heldEnd)) {
        this.releaseRest();
        return;
      }
    }
  }

  /**
   * [from, end), the rest of a block just taken (end aligned to its order), held in zone below
   * what is left of its held rest, or as a new one: addFree()'s pieces in ascending order, of
   * which only the first can move the contig cursor.
   */
  private holdRest(zone: Zone, from: number, end: number): void {
    if (zone.heldFrom === zone.heldEnd) {
      zone.heldEnd = end;
      if (!this.heldZones.includes(zone)) this.heldZones.push(zone);
    }
    zone.heldFrom = from;
    zone.nrFree += end - from;
    if (zone.contigCursor !== null) freedBelowCursor(zone.contigCursor, from);
  }

  /**
   * allocPagesBulkHeld()'s pages [pfn, pfn + t) handed out: the caller's run, and their records,
   * which wait while the next call's pages run on from them (setOrder0Run() joins runs that
   * meet, so one call for the whole leaves the same runs); releaseRest() makes them, before
   * anything else uses the allocator.
   */
  private heldRun(
    pfn: number,
    t: number,
    zone: Zone,
    use: FrameUse,
    onRun: (pfn: number, t: number) => void,
  ): void {
    onRun(pfn, t);
    if (this.recordsLen > 0 && this.recordsFrom + this.recordsLen === pfn) {
      if (this.recordsNid === zone.nid && this.recordsUse === use) {
        this.recordsLen += t;
        return;
      }
    }
    this.heldRecords();
    this.recordsFrom = pfn;
    this.recordsLen = t;
    this.recordsNid = zone.nid;
    this.recordsUse = use;
  }

  /** The order-0 records heldRun() has not made yet: [recordsFrom, + recordsLen). */
  private recordsFrom = 0;
  private recordsLen = 0;
  private recordsNid = 0;
  private recordsUse: FrameUse = "vmemmap";

  /** heldRun()'s waiting records made. */
  private heldRecords(): void {
    const n = this.recordsLen;
    if (n === 0) return;
    this.recordsLen = 0;
    this.allocations.setOrder0Run(this.recordsFrom, n, this.recordsUse, this.recordsNid, true);
  }

  /** Nothing reads the free blocks of a held rest: they are on no list until releaseRest(). */
  private notHeld(pfn: number): void {
    for (const z of this.heldZones)
      if (pfn >= z.heldFrom && pfn < z.heldEnd)
        throw new Oops(`buddy: pfn ${pfn} read while held off the free lists (heldRest)`);
  }

  /**
   * Whether a call of allocPagesBulkHeld() or allocPageHeld() for gfp may hold a rest now
   * (mayHold(), asked once: releasing changes none of what it reads). The argument there is for
   * requests of one kind, so rests split for another mask go back first, as do all rests where
   * none may be held.
   */
  private holdFor(gfp: number, site: string): boolean {
    const may = this.mayHold(site);
    if (this.heldGfp !== gfp || !may) this.releaseRest();
    if (may) this.heldGfp = gfp;
    return may;
  }

  /** Whether allocPagesBulkHeld() may hold a rest now (see there). */
  private mayHold(site: string): boolean {
    return (
      this.paths.heldRest &&
      this.isolated === null &&
      this.allocations.listeners.length === 0 &&
      this.onFreeHeadsOverwritten !== null &&
      this.onFreeHeadsRenderAmong !== null &&
      (this.lru === null || this.lru.nodeWithMarks) &&
      this.bulkHeadsReady() &&
      this.faults.quiet?.(site) === true
    );
  }

  /**
   * The end of allocPagesBulkHeld()'s batch (or of its hold): each held rest's pieces go onto
   * the heads of their lists, in ascending order, as the call that left it would have put them.
   */
  releaseRest(): void {
    this.heldRecords();
    const zones = this.heldZones;
    while (zones.length > 0) {
      const zone = zones.pop() as Zone;
      const end = zone.heldEnd;
      let p = zone.heldFrom;
      zone.heldFrom = zone.heldEnd = 0;
      zone.nrFree -= end - p;
      while (p < end) {
        let o = lowestSetBitOrder(p, this.maxOrder);
        while (p + pow2(o) > end) o--;
        this.addFree(zone, p, o, false);
        p += pow2(o);
      }
    }
  }

  /** alloc_pages_node() that must succeed at boot (memblock-like callers after boot). */
  allocOrThrow(nid: number, gfp: number, order: number, site: string, use: FrameUse): number {
    const pfn = this.allocPagesNode(nid, gfp, order, site, use);
    if (pfn === null) throw new KernelError(ENOMEM, `${site}: out of memory`);
    return pfn;
  }

  /** __free_pages(): merges with free buddies and puts the block at the head of its list. */
  freePages(pfn: number, order: number): void {
    if (this.heldZones.length !== 0 || this.recordsLen !== 0) this.releaseRest();
    const a = this.allocations.get(pfn);
    if (!a) throw new Oops(`__free_pages: pfn ${pfn} was not allocated (double free?)`);
    if (a.order !== order)
      throw new Oops(`__free_pages: pfn ${pfn} freed at order ${order}, allocated at ${a.order}`);
    this.allocations.delete(pfn);
    this.freeToBuddy(pfn, order);
  }

  /**
   * __free_pages(pfn, 0) of each pfn in turn (free_vmemmap_page_list()): the same merges, list
   * positions, counters and buddy marks as the singles, and the same Oops at the same pfn for
   * one that was not an order-0 allocation (the pfns before it freed).
   *
   * A run of consecutive pfns (ascending or descending, one zone) goes a block at a time: the
   * pages of an aligned block B of the run are freed one after the other, and every merge
   * below B's order is with a buddy inside B, so once B's last page is freed the buddy holds
   * exactly what __free_one_page(B, order) gives. On the way, the pages of B that headed a free
   * block for a while (every other page from the first ascending, every page but the first
   * descending) had their buddy mark set and then cleared.
   */
  freePagesBulk(pfns: readonly number[]): void {
    this.freeBulk(pfns, false);
  }

  /**
   * free_reserved_page() of each pfn in turn (boot memory joining the buddy): the same as the
   * singles, a run at a time as freePagesBulk() does.
   */
  freeReservedPagesBulk(pfns: readonly number[]): void {
    const b = this.pauseFreeBatch();
    try {
      this.freeBulk(pfns, true);
    } finally {
      this.batch = b;
    }
  }

  private freeBulk(pfns: readonly number[], reserved: boolean): void {
    if (this.heldZones.length !== 0 || this.recordsLen !== 0) this.releaseRest();
    let i = 0;
    while (i < pfns.length) {
      const start = pfns[i];
      let zone: Zone | null;
      if (reserved) zone = this.zoneOf(start);
      else {
        const a = this.allocations.get(start);
        zone = a !== undefined && a.order === 0 ? this.zoneOf(start) : null;
      }
      const dir = i + 1 < pfns.length ? pfns[i + 1] - start : 0;
      if (zone === null || (dir !== 1 && dir !== -1)) {
        if (reserved) this.freeReservedPage(start);
        else this.freePages(start, 0);
        i++;
        continue;
      }
      let j = i + 1;
      while (j < pfns.length && pfns[j] === pfns[j - 1] + dir && zone.contains(pfns[j])) {
        if (!reserved) {
          const b = this.allocations.get(pfns[j]);
          if (b === undefined || b.order !== 0) break;
        }
        j++;
      }
      const lo = dir === 1 ? start : pfns[j - 1];
      const n = j - i;
      if (reserved) zone.managed += n;
      else this.allocations.deleteOrder0Run(lo, n);
      this.freeRunToBuddy(lo, n, dir === 1);
      i = j;
    }
  }

  /** freeRunToBuddy()'s list of aligned blocks (start, order pairs), reused. */
  private readonly runBlocks: number[] = [];

  /** [lo, lo + n) cut into the largest aligned blocks: (start, order) pairs pushed to out. */
  private alignedBlocks(lo: number, n: number, out: number[]): void {
    let p = lo;
    const end = lo + n;
    while (p < end) {
      let o = lowestSetBitOrder(p, this.maxOrder);
      while (p + pow2(o) > end) o--;
      out.push(p, o);
      p += pow2(o);
    }
  }

  /**
   * The pages freeReservedPagesBulk() of the falling run lo + n - 1, ..., lo frees as the first
   * page of a block (freeRunToBuddy()), as (start, order) pairs in out; it changes nothing. Its
   * runs end where a zone does (freeBulk()); a run of one page is the block of that page. Every
   * other page is marked a free head on the way (onFreeHead) and unmarked unless it stays one;
   * a start is marked only if it ends up heading the block it merges into.
   */
  reservedRunStarts(lo: number, n: number, out: number[]): void {
    out.length = 0;
    let hi = lo + n;
    while (hi > lo) {
      const zone = this.zoneOf(hi - 1);
      if (zone === null) {
        // free_reserved_page() of a page in no zone: it stops there (an Oops).
        out.push(hi - 1, 0);
        hi--;
        continue;
      }
      const s = Math.max(lo, zone.startPfn);
      this.alignedBlocks(s, hi - s, out);
      hi = s;
    }
  }

  /**
   * freeReservedPagesBulk() of the falling run lo + n - 1, ..., lo (n > 1): the same frees in
   * the same order, cut where a zone ends as freeBulk() cuts it, without an array of the pfns.
   */
  freeReservedRunDown(lo: number, n: number): void {
    const b = this.pauseFreeBatch();
    try {
      this.freeReservedRunDownNow(lo, n);
    } finally {
      this.batch = b;
    }
  }

  private freeReservedRunDownNow(lo: number, n: number): void {
    let hi = lo + n;
    while (hi > lo) {
      const zone = this.zoneOf(hi - 1);
      if (zone === null) {
        this.freeReservedPage(hi - 1);
        hi--;
        continue;
      }
      const s = Math.max(lo, zone.startPfn);
      zone.managed += hi - s;
      this.freeRunToBuddy(s, hi - s, false);
      hi = s;
    }
  }

  /** Order-0 frees of [lo, lo + n) in one zone, ascending or descending (freePagesBulk()). */
  private freeRunToBuddy(lo: number, n: number, ascending: boolean): void {
    const blocks = this.runBlocks;
    blocks.length = 0;
    this.alignedBlocks(lo, n, blocks);
    const nb = blocks.length / 2;
    for (let k = 0; k < nb; k++) {
      const b = ascending ? k : nb - 1 - k;
      const s = blocks[2 * b];
      const o = blocks[2 * b + 1];
      if (o > 0) {
        // Ascending, B's first page headed a block of its own before the rest came.
        this.clearFreeHeads(ascending ? s : s + 1, s + pow2(o), ascending ? 2 : 1);
      }
      this.freeToBuddy(s, o);
    }
  }

  // ---- a batch of frees (fast path freeBatch, mm/buddy_batch.ts) ---------------------------

  /**
   * The open batch of frees (freeVmemmapPageList()), null: none. While open, freeToBuddy() of
   * a block whose merges meet only the batch's own blocks is replayed on it (batchFree());
   * everything else makes the batch first (commitFreeBatch()), through the first read of the
   * zone's lists, counters or index (Zone.heldBy, makeBatch()).
   */
  private batch: FreeBatch | null = null;
  private batchMade: FreeBatch | null = null;
  /**
   * The zone whose lists the open batch holds blocks of (Zone.heldBy), null: none (no batch, or
   * an empty one). The lists, subTopOrder and freeOfOrder lack those blocks until it is made.
   */
  private heldZone: Zone | null = null;

  /**
   * An open batch's blocks made part of the lists, the index and the counters, where it holds
   * any: every reader of subTopOrder or freeOfOrder asks this first, as every reader of a
   * zone's lists or nrFree does through Zone.freeArea, unmovableArea and nrFree.
   */
  private makeBatch(): void {
    if (this.heldZone !== null) this.commitFreeBatch();
  }
  /**
   * The struct page of pfn as the batch leaves it (the Kernel stores it where its vmemmap page
   * takes stores, and counts `writes`): the words `mask` (buddy_batch.ts TOUCH_*) says were
   * stored, with their final values: heading a free block of `order` with these links, or
   * (order -1, marks stored) taken off its list. Returns whether it was stored into.
   */
  onFreeHeadFinal: FreeHeadFinal | null = null;
  /** The translation a store into pfn's struct page makes (the Kernel's vmemmap). */
  onFreeHeadTouch: ((pfn: number) => void) | null = null;
  /**
   * Whether the Kernel's stores may wait for the batch's end: nobody watching the heads, no
   * mutation, whole struct pages, and room in the TLB for `fills` more translations.
   */
  onFreeBatchReady: ((fills: number) => boolean) | null = null;
  /**
   * What onFreeBatchReady() said when the batch opened, or last when one of its inputs changed
   * (freeBatchInputsChanged()): a free asks this, not the Kernel.
   */
  private batchReady = false;

  /**
   * One of onFreeBatchReady()'s inputs changed (a head watched or not, marks to overwrite): asked
   * again, batch or not (one paused by a free it does not replay comes back with the answer). Its
   * TLB room was asked for the batch's whole time when it opened, so 0 more.
   */
  freeBatchInputsChanged(): void {
    this.batchReady = this.onFreeBatchReady?.(0) === true;
  }

  /**
   * Opens a batch for the free of a vmemmap page list of nPages pages (freeVmemmapPageList()),
   * each of which the caller reads through the vmemmap before freeing it (so that a store into
   * its struct page finds its translation in the TLB). False: none opened, frees go one by one.
   */
  beginFreeBatch(nPages: number): boolean {
    if (!this.paths.freeBatch || this.batch !== null) return false;
    if (this.lru === null || !this.lru.nodeWithMarks || this.listeners.length > 0) return false;
    if (this.zonesOverlap || this.onFreeHead === null || this.onFreeHeadFinal === null)
      return false;
    // Fills the batch's time may make: a read per page, and per free the translations of the
    // list changes made one by one (a free's merges and add, 3 struct pages each).
    const fills = nPages * (2 + 3 * (this.maxOrder + 2)) + 1024;
    if (this.onFreeBatchReady === null || !this.onFreeBatchReady(fills)) return false;
    if (this.batchMade === null) this.batchMade = new FreeBatch(this.maxOrder);
    this.batch = this.batchMade;
    this.batchReady = true;
    return true;
  }

  /** Closes the batch beginFreeBatch() opened, made. */
  endFreeBatch(): void {
    this.commitFreeBatch();
    this.batch = null;
  }

  /** The batch made and closed until the caller puts it back (a free it does not replay). */
  private pauseFreeBatch(): FreeBatch | null {
    const b = this.batch;
    this.commitFreeBatch();
    this.batch = null;
    return b;
  }

  /**
   * freeToBuddy(pfn, order) on the batch, where pfn heads no free block and the merged block
   * ends below MAX_PAGE_ORDER: the list changes delFree() and addFree() would make, the
   * batch's blocks on its lists, the zone's own blocks merged away taken off the zone's lists
   * at once, every store noted. False, with nothing done, otherwise.
   */
  private batchFree(zone: Zone, pfn: number, order: number): boolean {
    const b = this.batch as FreeBatch;
    if (b.zone !== zone) {
      this.commitFreeBatch();
      b.zone = zone;
    }
    const max = this.maxOrder;
    if (order >= max || !this.batchReady) return false;
    const s0 = b.slotOf(pfn);
    if ((s0 >= 0 && b.live[s0] >= 0) || this.ownOrderAt(pfn) >= 0) return false;
    const chain = b.chain;
    chain.length = 0;
    let p = pfn;
    let o = order;
    while (o < max) {
      const size = pow2(o);
      const buddy = modPow2(p, 2 * size) === 0 ? p + size : p - size;
      if (!zone.contains(buddy)) break;
      const s = b.slotOf(buddy);
      if (s >= 0 && b.live[s] === o) chain.push(-1 - s);
      else if (zone.ownFreeArea[o].has(buddy)) chain.push(buddy);
      else break;
      p = Math.min(p, buddy);
      o++;
    }
    if (o >= max) return false;
    // The merges stay inside one MAX_PAGE_ORDER block: one migratetype for every block here.
    const unmovable = zone.unmovableBlocks;
    const mt =
      unmovable.size > 0 && unmovable.has(p - modPow2(p, this.maxBlockPages))
        ? MIGRATE_UNMOVABLE
        : MIGRATE_MOVABLE;
    for (let i = 0, q = order; i < chain.length; i++, q++) {
      const c = chain[i];
      if (c < 0) this.batchDel(b, zone, -1 - c, mt);
      else this.batchDelOld(b, zone, c, q, mt);
    }
    this.batchAdd(b, zone, p, o, mt);
    if (this.heldZone === null) {
      // From here on, a read of the zone's lists or counters makes the batch first.
      this.heldZone = zone;
      zone.heldBy = this;
    }
    return true;
  }

  /**
   * The slot of a block on the zone's own lists (pfn, of `order`) a store goes to, made (and
   * the store's translation made) where the batch had none.
   */
  private oldSlot(b: FreeBatch, pfn: number, order: number): number {
    let s = b.slotOf(pfn);
    if (s < 0) {
      s = b.slotFor(pfn);
      b.old[s] = order;
      this.onFreeHeadTouch?.(pfn);
    }
    return s;
  }

  /** The first block of the zone's own list of order o and migratetype mt, -1: none. */
  private firstOwn(zone: Zone, o: number, mt: number): number {
    const um = zone.ownUnmovableArea[o];
    if (mt === MIGRATE_UNMOVABLE) return um.head;
    const all = zone.ownFreeArea[o];
    let f = all.head;
    if (um.count > 0) while (f !== -1 && um.has(f)) f = all.nextOf(f);
    return f;
  }

  /**
   * delFree() of the batch's block of slot s: lru.unlinking()'s stores (its prev's next, its
   * next's prev: a batch block's, or the first of the zone's own list's) and the cleared marks.
   */
  private batchDel(b: FreeBatch, zone: Zone, s: number, mt: number): void {
    const p = b.prev[s];
    const x = b.next[s];
    if (p >= 0) b.touch(p, TOUCH_NEXT, 1);
    if (x >= 0) b.touch(x, TOUCH_PREV, 1);
    else {
      const o = b.live[s];
      const f = this.firstOwn(zone, o, mt);
      if (f !== -1) b.touch(this.oldSlot(b, f, o), TOUCH_PREV, 1);
    }
    b.touch(s, TOUCH_MARKS | TOUCH_NEXT | TOUCH_PREV, 4);
    b.unlink(s);
  }

  /**
   * delFree() of the zone's own block pfn (order o, migratetype mt) in the batch: its
   * neighbours' and its own stores noted (its prev, where it is first on the zone's list, the
   * batch's last block of that list), and it leaves the zone's lists, index and counters now.
   */
  private batchDelOld(b: FreeBatch, zone: Zone, pfn: number, o: number, mt: number): void {
    const lru = this.lru as BuddyLru;
    const prev = lru.ownPrevOf(zone, pfn, o, mt);
    const next = lru.ownNextOf(zone, pfn, o, mt);
    if (prev !== NO_PAGE) b.touch(this.oldSlot(b, prev, o), TOUCH_NEXT, 1);
    else {
      const t = b.tail[2 * o + mt];
      if (t >= 0) b.touch(t, TOUCH_NEXT, 1);
    }
    if (next !== NO_PAGE) b.touch(this.oldSlot(b, next, o), TOUCH_PREV, 1);
    const s = this.oldSlot(b, pfn, o);
    b.touch(s, TOUCH_MARKS | TOUCH_NEXT | TOUCH_PREV, 4);
    b.old[s] = -1;
    zone.ownFreeArea[o].remove(pfn);
    if (zone.ownUnmovableArea[o].count > 0) zone.ownUnmovableArea[o].remove(pfn);
    this.subTopOrder.delete(pfn);
    this.freeOfOrder[o]--;
    zone.ownNrFree -= pow2(o);
  }

  /** addFree() of (p, o) on the batch: the cursors, its next's prev, its marks. */
  private batchAdd(b: FreeBatch, zone: Zone, p: number, o: number, mt: number): void {
    if (zone.contigCursor !== null) freedBelowCursor(zone.contigCursor, p);
    const li = 2 * o + mt;
    const s = b.slotFor(p);
    const h = b.head[li];
    if (h >= 0) {
      b.touch(h, TOUCH_PREV, 1);
      b.lastAddNext = b.pfnOf[h];
    } else {
      const f = this.firstOwn(zone, o, mt);
      if (f !== -1) b.touch(this.oldSlot(b, f, o), TOUCH_PREV, 1);
      b.lastAddNext = f;
    }
    b.touch(s, TOUCH_MARKS | TOUCH_NEXT | TOUCH_PREV, 4);
    b.old[s] = -1;
    b.push(s, o, li);
    b.lastAdd = s;
    b.lastAddList = li;
  }

  /**
   * The lru words of the free head pfn (of `order`) into a struct page being rendered, where
   * the open batch changed them (a block of its own, or the first block of the zone's own list
   * behind the batch's): true. False: the zone's lists say (BuddyLru.render()).
   */
  renderBatchLinks(zone: Zone, v: DataView, off: number, pfn: number, order: number): boolean {
    const b = this.batch;
    if (b === null || b.n === 0 || b.zone !== zone || order >= this.maxOrder) return false;
    const lru = this.lru as BuddyLru;
    const mt = lru.migratetype(zone, pfn, order);
    const s = b.slotOf(pfn);
    let next: number;
    let prev: number;
    if (s >= 0 && b.live[s] >= 0) {
      const x = b.next[s];
      next = x >= 0 ? b.pfnOf[x] : this.firstOwn(zone, order, mt);
      prev = b.prev[s] >= 0 ? b.pfnOf[b.prev[s]] : NO_PAGE;
    } else {
      const t = b.tail[2 * order + mt];
      if (t < 0 || pfn !== this.firstOwn(zone, order, mt)) return false;
      next = lru.ownNextOf(zone, pfn, order, mt);
      prev = b.pfnOf[t];
    }
    const head = lru.listHead(zone, order, mt);
    lru.words.render(v, off, next === -1 ? NO_PAGE : next, prev, head);
    return true;
  }

  /**
   * The open batch made: its blocks that are free at its end put at the heads of their lists
   * in the order they were added (every later change being at the head too, that is the order
   * the one-by-one adds leave); every struct page it stored into given its words' final values
   * (the lists as they now stand, or cleared marks and list_del()'s poison) and its stores
   * counted (onFreeHeadFinal()); BuddyLru's last linked node as the last add left it. The
   * batch stays open, empty.
   */
  commitFreeBatch(): void {
    const b = this.batch;
    if (b === null || b.n === 0) return;
    this.batch = null;
    const zone = b.zone as Zone;
    this.heldZone = null;
    zone.heldBy = null;
    for (let o = 0; o < this.maxOrder; o++) {
      // Both migratetypes' blocks share freeArea[o]: merged by when they were added.
      let m = b.tail[2 * o + MIGRATE_MOVABLE];
      let u = b.tail[2 * o + MIGRATE_UNMOVABLE];
      while (m >= 0 || u >= 0) {
        const takeU = u >= 0 && (m < 0 || b.seq[u] < b.seq[m]);
        const s = takeU ? u : m;
        const pfn = b.pfnOf[s];
        zone.ownFreeArea[o].addHead(pfn);
        if (takeU) {
          zone.ownUnmovableArea[o].addHead(pfn);
          u = b.prev[u];
        } else m = b.prev[m];
        this.subTopOrder.set(pfn, o);
        this.freeOfOrder[o]++;
        zone.ownNrFree += pow2(o);
      }
    }
    const lru = this.lru as BuddyLru;
    const final = this.onFreeHeadFinal as FreeHeadFinal;
    let lastStored = true;
    for (let s = 0; s < b.n; s++) {
      const pfn = b.pfnOf[s];
      const order = b.live[s] >= 0 ? b.live[s] : b.old[s];
      let next = NO_PAGE;
      let prev = NO_PAGE;
      let mt = MIGRATE_MOVABLE;
      if (order >= 0) {
        mt = lru.migratetype(zone, pfn, order);
        next = lru.ownNextOf(zone, pfn, order, mt);
        prev = lru.ownPrevOf(zone, pfn, order, mt);
      }
      const head = lru.listHead(zone, Math.max(order, 0), mt);
      const stored = final(pfn, order, b.mask[s], b.writes[s], next, prev, head);
      if (s === b.lastAdd) lastStored = stored;
    }
    if (b.lastAdd >= 0) {
      // linked() left the node for its marks' store, which took it unless the struct page's
      // vmemmap page takes no stores.
      const li = b.lastAddList;
      const head = lru.listHead(zone, li >> 1, li & 1);
      const next = b.lastAddNext === -1 ? NO_PAGE : b.lastAddNext;
      lru.nodeLeft(lastStored ? NO_PAGE : b.pfnOf[b.lastAdd], next, head);
    }
    b.reset();
    this.batch = b;
  }

  /**
   * __free_one_page(): pages that were not the allocator's (boot memory) can enter here too.
   * The merged block goes to the head of its list, or the tail with FPI_TO_TAIL.
   */
  freeToBuddy(
    pfn: number,
    order: number,
    toTail = false,
    /** A pfn the caller knows heads no free block (freePagesPair()), -1: none. */
    notFree = -1,
  ): void {
    if (this.heldZones.length !== 0 || this.recordsLen !== 0) this.releaseRest();
    const zone = this.zoneOf(pfn);
    if (!zone) throw new Oops(`__free_one_page: pfn ${pfn} is in no zone`);
    if (this.batch !== null && !toTail && notFree === -1) {
      if (this.batchFree(zone, pfn, order)) return;
      this.commitFreeBatch();
    }
    while (order < this.maxOrder) {
      // __find_buddy_pfn(): pfn ^ (1 << order), without 32-bit bitwise operators (pfn is
      // aligned to size, so pfn % (2 * size) is 0 or size).
      const size = pow2(order);
      const buddy = modPow2(pfn, 2 * size) === 0 ? pfn + size : pfn - size;
      if (!zone.contains(buddy) || !zone.freeArea[order].has(buddy)) break;
      this.delFree(zone, buddy, order);
      pfn = Math.min(pfn, buddy);
      order++;
    }
    this.addFree(zone, pfn, order, toTail, pfn === notFree);
  }

  /**
   * Whether freePagesPair(pfn, buddy, order) may run: buddy is pfn's buddy below
   * MAX_PAGE_ORDER, both handed out at that order and neither free, in one zone, pfn's block on
   * the movable lists, nobody listening to the buddy or watching its struct pages. Changes
   * nothing.
   */
  pairMayMerge(pfn: number, buddy: number, order: number): boolean {
    if (!this.paths.pairBulk || order >= this.maxOrder || !this.bulkHeadsReady()) return false;
    if (this.lru !== null && !this.lru.nodeWithMarks) return false;
    const size = pow2(order);
    if (modPow2(pfn, size) !== 0) return false;
    if ((modPow2(pfn, 2 * size) === 0 ? pfn + size : pfn - size) !== buddy) return false;
    const zone = this.zoneOf(pfn);
    if (zone === null || !zone.contains(buddy)) return false;
    const block = pfn - modPow2(pfn, this.maxBlockPages);
    if (zone.unmovableBlocks.size > 0 && zone.unmovableBlocks.has(block)) return false;
    const a = this.allocations.getHead(pfn);
    const b = this.allocations.getHead(buddy);
    if (a === undefined || a.order !== order || b === undefined || b.order !== order) return false;
    if (this.explicitOrderAt(pfn) >= 0 || this.explicitOrderAt(buddy) >= 0) return false;
    // For freePagesPair() (the records stand until something changes the allocations).
    this.pairPfn = pfn;
    this.pairBuddy = buddy;
    this.pairChanges = this.allocations.changes;
    this.pairA = a;
    this.pairB = b;
    return true;
  }

  /** The records pairMayMerge() read for pfn and its buddy when it said yes (pairPfn -1: none). */
  private pairPfn = -1;
  private pairBuddy = -1;
  private pairChanges = -1;
  private pairA: Allocation | null = null;
  private pairB: Allocation | null = null;

  /**
   * freePages(pfn, order), then freePages(buddy, order), where pairMayMerge() said yes: the
   * second merges with the first at once. pfn's stay at the head of its free list leaves its
   * list and counters as they were, and its struct page and its list neighbour's as the
   * kernel's stores leave them: those stores are made (the same values, in the same order, so
   * the same bytes and counts); the list and index updates that cancel out are not.
   */
  freePagesPair(pfn: number, buddy: number, order: number): void {
    const zone = this.zoneOf(pfn) as Zone;
    // The records pairMayMerge() read, where nothing came between (the pool's pair frees).
    const known =
      this.pairPfn === pfn &&
      this.pairBuddy === buddy &&
      this.allocations.changes === this.pairChanges;
    this.pairPfn = -1;
    if (known) this.allocations.deleteRecord(pfn, this.pairA as Allocation);
    else this.allocations.delete(pfn);
    // addFree(pfn): the cursors, then (lru.linked()) its list neighbour's prev and its marks.
    if (zone.contigCursor !== null) freedBelowCursor(zone.contigCursor, pfn);
    const lru = this.lru;
    let next = -1;
    let head: ListHead | null = null;
    if (lru !== null) {
      const all = zone.freeArea[order];
      const um = zone.unmovableArea[order];
      next = all.head;
      if (um.count > 0) while (next !== -1 && um.has(next)) next = all.nextOf(next);
      head = lru.listHead(zone, order, lru.migratetype(zone, pfn, order));
      if (next !== -1) lru.words.setPrev(next, pfn, head);
    }
    // pfn the lower, the merged block at MAX_PAGE_ORDER: pfn heads it, and its marks as that
    // block's (addFree() at once, no merge on up) overwrite every word the two marks below
    // store (pairMarksOnce): those are counted with them instead of made.
    const overwritten =
      this.paths.pairMarksOnce &&
      pfn < buddy &&
      order + 1 === this.maxOrder &&
      this.onFreeHeadsOverwritten !== null;
    if (overwritten) this.onFreeHeadsOverwritten?.(pfn, 2);
    else this.onFreeHead?.(pfn, order);
    // freePages(buddy): delFree(pfn) (the neighbour's prev back to the list head, pfn's marks
    // cleared), then the merged block on up.
    if (known) this.allocations.deleteRecord(buddy, this.pairB as Allocation);
    else this.allocations.delete(buddy);
    if (lru !== null && head !== null && next !== -1) lru.words.setPrev(next, NO_PAGE, head);
    if (!overwritten) this.onFreeHead?.(pfn, -1);
    // With the records pairMayMerge() read, neither head is free (it asked explicitOrderAt() of
    // both, and nothing has freed a block since): where the merged block stops there, addFree()'s
    // test that it is not free already is not asked again (pairNotFree; an allocator corrupted
    // past its records, a block on a free list that no record change freed, is not seen).
    const low = Math.min(pfn, buddy);
    this.freeToBuddy(low, order + 1, false, known && this.paths.pairNotFree ? low : -1);
  }

  /**
   * __offline_isolated_pages() + adjust_managed_page_count() + adjust_present_page_count():
   * the free pages of [start, start + nr) (present ones; the caller checked they are all free)
   * leave the buddy, their zone's managed and present counts.
   */
  offlinePages(start: number, nr: number, present: readonly PfnRange[]): void {
    for (const [s, e] of clip(present, start, start + nr)) {
      this.takeFreeRange(s, e - s);
      const zone = this.zoneOf(s);
      if (!zone) continue;
      zone.managed -= e - s;
      zone.present -= e - s;
    }
  }

  /**
   * online_pages(): the present pages of [start, start + nr) join the buddy in the largest
   * aligned blocks, merged and put at the tail of the lists (__free_pages_core() with
   * FPI_TO_TAIL), and count as managed and present again.
   */
  onlinePages(start: number, nr: number, present: readonly PfnRange[]): void {
    for (const [s, e] of clip(present, start, start + nr)) {
      const zone = this.zoneOf(s);
      if (!zone) continue;
      zone.managed += e - s;
      zone.present += e - s;
      let pfn = s;
      while (pfn < e) {
        let order = lowestSetBitOrder(pfn, this.maxOrder);
        while (pfn + pow2(order) > e) order--;
        this.freeToBuddy(pfn, order, true);
        pfn += pow2(order);
      }
    }
  }

  /** free_reserved_page(): a boot (memblock) page joins the buddy and becomes managed. */
  freeReservedPage(pfn: number): void {
    const zone = this.zoneOf(pfn);
    if (!zone) throw new Oops(`free_reserved_page: pfn ${pfn} is in no zone`);
    zone.managed++;
    const b = this.pauseFreeBatch();
    try {
      this.freeToBuddy(pfn, 0);
    } finally {
      this.batch = b;
    }
  }

  /**
   * The index in its zone's lazy ranges of the one that holds all of [start, start + nr), or
   * -1 (zones overlapping: a pfn's zone is not that of start). Every pfn of such a range is
   * free, in the lazily freed MAX_PAGE_ORDER block around it (a fresh gigantic folio's range
   * on a machine never allocated from: one lookup instead of one per block).
   */
  private lazyHolding(start: number, nr: number): number {
    if (!this.paths.lazyRunBulk || this.zonesOverlap) return -1;
    const zone = this.zoneOf(start);
    if (zone === null || zone.lazy.length === 0) return -1;
    const idx = findRange(zone.lazy, start);
    return idx >= 0 && start + nr <= zone.lazy[idx][1] ? idx : -1;
  }

  /** Are all pfns of [start, start + nr) free? */
  rangeFree(start: number, nr: number): boolean {
    if (this.lazyHolding(start, nr) >= 0) return true;
    let p = start;
    const end = start + nr;
    while (p < end) {
      const b = this.freeBlockAt(p);
      if (!b) return false;
      p = b.start + pow2(b.order);
    }
    return true;
  }

  /**
   * Takes the free range [start, start + nr) out of the buddy (isolation + __isolate_free_page),
   * splitting blocks that straddle its ends. The caller checked rangeFree().
   */
  takeFreeRange(start: number, nr: number): void {
    const end = start + nr;
    const size = this.maxBlockPages;
    const aligned = modPow2(start, size) === 0 && modPow2(nr, size) === 0;
    let idx = aligned ? this.lazyHolding(start, nr) : -1;
    if (idx >= 0) {
      // Whole lazy blocks, ascending: takeLazy() of each, as below (nothing to give back).
      const zone = this.zoneOf(start)!;
      if (this.takeLazyRun(zone, idx, start, end)) return;
      for (let b = start; b < end; b += size) {
        // A block inside the range split it: the rest is the next range.
        if (zone.lazy[idx][1] <= b) idx++;
        this.takeLazy(zone, idx, b);
      }
      return;
    }
    let p = start;
    while (p < end) {
      const b = this.freeBlockAt(p);
      if (!b) throw new Oops(`takeFreeRange: pfn ${p} is not free`);
      const zone = this.zoneOf(p)!;
      if (b.lazy) {
        const idx = findRange(zone.lazy, p);
        this.takeLazy(zone, idx, b.start);
      } else this.delFree(zone, b.start, b.order);
      const bEnd = b.start + pow2(b.order);
      // Give back what lies outside [start, end), in aligned pieces.
      this.giveBack(b.start, start);
      this.giveBack(end, bEnd);
      p = bEnd;
    }
  }

  /**
   * takeLazy() of the blocks of [start, end) (aligned, inside the lazy range idx), ascending, in
   * one pass: the range cut once, the free count once, the heads' marks cleared together
   * (clearFreeHeads()). False, with nothing changed, where the per-block calls do more: listeners
   * told per block, or an explicit block before the first on the list, whose next link each
   * unlinking would store (a block in the middle of the lazy blocks has lazy neighbours or the
   * list head: generated, nothing stored).
   */
  private takeLazyRun(zone: Zone, idx: number, start: number, end: number): boolean {
    if (!this.paths.lazyTakeRun || this.listeners.length > 0) return false;
    const r = zone.lazy[idx];
    const s = r[0];
    const e = r[1];
    if (this.lru !== null && start === s && idx === 0 && zone.freeArea[this.maxOrder].tail !== -1)
      return false;
    if (start === s) {
      if (end === e) zone.lazy.splice(idx, 1);
      else r[0] = end;
    } else if (end === e) r[1] = start;
    else zone.lazy.splice(idx, 1, [s, start], [end, e]);
    zone.nrFree -= end - start;
    this.clearFreeHeads(start, end, this.maxBlockPages);
    return true;
  }

  private giveBack(from: number, to: number): void {
    const top = this.maxBlockPages;
    if (to - from >= 2 * top && modPow2(from, top) === 0) {
      const n = Math.floor((to - from) / top);
      if (this.freeTopRun(from, n)) from += n * top;
    }
    let pfn = from;
    while (pfn < to) {
      let order = lowestSetBitOrder(pfn, this.maxOrder);
      while (pfn + pow2(order) > to) order--;
      this.freeToBuddy(pfn, order);
      pfn += pow2(order);
    }
  }

  /**
   * freeToBuddy() of the n MAX_PAGE_ORDER blocks from `from` (aligned), ascending, in one pass
   * (a gigantic folio given back: free_contig_range()). At the top order nothing merges, so each
   * block goes to the head of freeArea[maxOrder] in turn, the last one first; the list, the
   * counters, the buddy marks and the links in the struct pages end as after the per-block
   * calls. False, with nothing changed, when a precondition does not hold (the caller then frees
   * block by block, with the per-block path's Oops for a block that is free already).
   */
  /**
   * Whether a bulk path (freeTopRun(), freePagesPair()) may make the free-block head stores out
   * of the per-block calls: no listener told per block, no overlapping zones, and the Kernel
   * (onFreeHeadRunReady()) has no reason to see each head (a deliberate bug, a watched head,
   * struct pages not whole).
   */
  private bulkHeadsReady(): boolean {
    if (this.zonesOverlap || this.listeners.length > 0) return false;
    return this.onFreeHead === null || this.onFreeHeadRunReady?.() === true;
  }

  private freeTopRun(from: number, n: number): boolean {
    if (!this.paths.topRunBulk) return false;
    this.makeBatch();
    const max = this.maxOrder;
    const size = this.maxBlockPages;
    const end = from + n * size;
    const zone = this.zoneOf(from);
    if (zone === null || !zone.contains(end - 1) || zone.unmovableArea[max].count > 0) return false;
    if (!this.bulkHeadsReady() || (this.onFreeHead !== null && this.onFreeHeadRun === null))
      return false;
    // addFree()'s double-free check for every block, before anything changes.
    const list = zone.freeArea[max] as PfnRunList;
    if (this.freeOfOrder[max] !== 0 && list.anyIn(from, end)) return false;
    for (let i = 0; i < n; i++) if (this.subTopOrder.get(from + i * size) >= 0) return false;
    // The lowest block moves the cursors the most; the others (above it) move none further.
    if (zone.contigCursor !== null) freedBelowCursor(zone.contigCursor, from);
    list.addHeadRun(from, n);
    if (zone.unmovableBlocks.size > 0) zone.unmovableBlocks.deleteRun(from, n);
    this.freeOfOrder[max] += n;
    zone.nrFree += n * size;
    this.lru?.linkedRun(zone, from, n, max);
    this.onFreeHeadRun?.(from, n, size, max);
    return true;
  }

  /**
   * alloc_contig_pages(): nr (a power of two) naturally aligned free pages on the zonelist of
   * nid. Records the block as one allocation of order log2(nr).
   */
  allocContigPages(
    nrPages: number,
    gfp: number,
    nid: number,
    site: string,
    use: FrameUse,
  ): number | null {
    if (this.faults.shouldFail(site)) {
      this.failures.set(site, (this.failures.get(site) ?? 0) + 1);
      return null;
    }
    // alloc_contig_frozen_pages(): a first pass over ranges without HugeTLB folios, then, when
    // one was passed over for them and the kernel moves them (contigHugetlb), a second pass that
    // takes ranges whose HugeTLB folios are smaller than the request.
    let skipHugetlb = true;
    let skippedHugetlb = false;
    for (;;) {
      for (const zone of this.zonelist(nid, gfp)) {
        // The model's guard for wholly free ranges (alloc_contig_pages() has no watermark
        // check); the second pass frees its range itself, by moving the folios in it.
        if (skipHugetlb && zone.nrFree - nrPages < zone.watermarkMin) continue;
        let pfn = Math.ceil(zone.startPfn / nrPages) * nrPages;
        // The candidates below the zone's cursor for this size are not all free (a scan found
        // so, and nothing in them was freed since): the first pass passes over them without
        // looking once it has nothing more to learn from them (no hook, or a HugeTLB folio
        // already passed over). The cursor moves on over candidates found not all free.
        let cursors = zone.contigCursor;
        if (cursors === null) cursors = zone.contigCursor = new Map();
        const cursor = cursors.get(nrPages) ?? 0;
        let known = true;
        while (pfn + nrPages <= zone.endPfn) {
          if (pfn < cursor && skipHugetlb && (this.contigHugetlb === null || skippedHugetlb)) {
            pfn = Math.max(pfn + nrPages, cursor - (cursor % nrPages));
            continue;
          }
          const iso = this.isolated;
          const clear = iso === null || pfn >= iso.endPfn || pfn + nrPages <= iso.startPfn;
          let taken = false;
          const free = clear && this.rangeFree(pfn, nrPages);
          if (!clear) known = false;
          if (known && !free && pfn + nrPages > (cursors.get(nrPages) ?? 0))
            cursors.set(nrPages, pfn + nrPages);
          if (free) {
            this.takeFreeRange(pfn, nrPages);
            taken = true;
          } else if (clear && iso === null && this.contigHugetlb) {
            const v = this.rangeValidContig(pfn, nrPages, skipHugetlb);
            if (v === "hugetlb") skippedHugetlb = true;
            else if (v === "valid") taken = this.allocContigRangeHugetlb(pfn, nrPages);
          }
          if (taken) {
            this.allocations.set(pfn, { order: Math.log2(nrPages), use, nid: zone.nid });
            if (known && pfn + nrPages > (cursors.get(nrPages) ?? 0))
              cursors.set(nrPages, pfn + nrPages);
            return pfn;
          }
          pfn += nrPages;
        }
      }
      if (!(skipHugetlb && skippedHugetlb)) break;
      skipHugetlb = false;
    }
    this.failures.set(site, (this.failures.get(site) ?? 0) + 1);
    return null;
  }

  /**
   * pfn_range_valid_contig() for the model's ranges (it moves no other page): "valid" when every
   * pfn is free or in a HugeTLB folio smaller than the range; the first other page makes it
   * "invalid", and with skipHugetlb the first HugeTLB page makes it "hugetlb" (passed over on
   * the first pass).
   */
  private rangeValidContig(
    start: number,
    nrPages: number,
    skipHugetlb: boolean,
  ): "valid" | "invalid" | "hugetlb" {
    const hook = this.contigHugetlb as ContigHugetlb;
    const end = start + nrPages;
    let p = start;
    while (p < end) {
      const b = this.freeBlockAt(p);
      if (b) {
        p = b.start + pow2(b.order);
        continue;
      }
      const f = hook.folioAt(p);
      if (f === null) return "invalid";
      if (skipHugetlb) return "hugetlb";
      if (nrPages <= pow2(f.order)) return "invalid";
      p = f.head + pow2(f.order);
    }
    return "valid";
  }

  /**
   * alloc_contig_frozen_range() of a range holding small HugeTLB folios: isolated while
   * replace_free_hugepage_folios() moves them out (so that what it allocates comes from
   * elsewhere and what it frees stays), then taken when all of it is free.
   */
  private allocContigRangeHugetlb(start: number, nrPages: number): boolean {
    this.isolated = { startPfn: start, endPfn: start + nrPages };
    let rc: number;
    try {
      rc = (this.contigHugetlb as ContigHugetlb).replaceFreeHugepageFolios(start, start + nrPages);
    } finally {
      this.isolated = null;
    }
    if (rc !== 0 || !this.rangeFree(start, nrPages)) return false;
    this.takeFreeRange(start, nrPages);
    return true;
  }

  /** free_contig_range(): gives back a block allocated by allocContigPages(). */
  freeContigRange(pfn: number, nrPages: number): void {
    const a = this.allocations.get(pfn);
    if (!a || pow2(a.order) !== nrPages)
      throw new Oops(`free_contig_range: pfn ${pfn} x ${nrPages} was not allocated so`);
    this.allocations.delete(pfn);
    this.giveBack(pfn, pfn + nrPages);
  }

  /** Changes what an allocated block is recorded as (a folio handed from hugetlb to the buddy). */
  setUse(pfn: number, use: FrameUse): void {
    this.allocations.setUse(pfn, use);
  }

  /** split_page(): an order-n allocation becomes 2^n order-0 allocations. */
  splitPage(pfn: number): void {
    const a = this.allocations.get(pfn);
    if (!a) throw new Oops(`split_page: pfn ${pfn} not allocated`);
    for (let i = 0; i < pow2(a.order); i++)
      this.allocations.set(pfn + i, { order: 0, use: a.use, nid: a.nid });
  }

  nrFreePages(): number {
    let n = 0;
    for (const z of this.zones) n += z.nrFree;
    return n;
  }

  totalManaged(): number {
    let n = 0;
    for (const z of this.zones) n += z.managed;
    return n;
  }

  /** Every free block, for invariant checks: explicit ones, then lazy ranges as [start, nr]. */
  *freeBlocks(): IterableIterator<{ start: number; nrPages: number }> {
    for (const z of this.zones)
      for (let o = 0; o <= this.maxOrder; o++)
        for (const start of z.freeArea[o]) yield { start, nrPages: pow2(o) };
    for (const z of this.zones) for (const [s, e] of z.lazy) yield { start: s, nrPages: e - s };
  }
}

/** A block at pfn became free: every cursor above it goes back to the candidate that holds it. */
function freedBelowCursor(cursors: Map<number, number>, pfn: number): void {
  // By key, not by entry: an entry is an array made per step.
  for (const size of cursors.keys())
    if (pfn < (cursors.get(size) as number)) cursors.set(size, pfn - modPow2(pfn, size));
}

/** The parts of sorted ranges inside [start, end), as [s, e) pairs. */
function clip(ranges: readonly PfnRange[], start: number, end: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const r of ranges) {
    const s = Math.max(r.startPfn, start);
    const e = Math.min(r.endPfn, end);
    if (s < e) out.push([s, e]);
  }
  return out;
}

/** The largest order a pfn is aligned to (__ffs), capped at `cap` (62: any pfn). */
function lowestSetBitOrder(pfn: number, cap = 62): number {
  // 30 bits at a time (no fmod() for a pfn above 2^31): the lowest set bit of the first
  // 30-bit group that is not zero.
  let o = 0;
  let x = pfn;
  while (o < cap && x !== 0) {
    const lo = modPow2(x, LOW_BITS);
    if (lo !== 0) return Math.min(cap, o + 31 - Math.clz32(lo & -lo));
    x /= LOW_BITS;
    o += 30;
  }
  return cap;
}

/** 2^30: the group lowestSetBitOrder() looks at in one step. */
const LOW_BITS = 2 ** 30;

/** A range's first pfn (one function, not a closure per search). */
const rangeStart = (r: readonly [number, number]): number => r[0];
/** An order-0 run's first pfn, the runs' sort key (AllocationMap.get() is hot: no closure). */
const runStart = (r: { readonly start: number }): number => r.start;

/** Index of the [s, e) range that contains pfn in a sorted list, or -1. */
export function findRange(ranges: ReadonlyArray<readonly [number, number]>, pfn: number): number {
  const i = lastAtOrBelow(ranges, pfn, rangeStart);
  return i >= 0 && pfn < ranges[i][1] ? i : -1;
}

// ------------------------------------------------------------------ the free path's checks
//
// __free_pages_prepare() of mm/page_alloc.c (7.2; the same checks in 6.18): with the static key
// check_pages_enabled on (init_on_alloc or init_on_free, CONFIG_DEBUG_VM, page poisoning,
// debug_pagealloc or check_pages=1), every page of a block being freed must look free:
// free_page_is_bad() wants _mapcount -1, no mapping, _refcount 0, no memcg_data and none of
// PAGE_FLAGS_CHECK_AT_FREE; the tails of a compound page first go through
// free_tail_page_prepare() (the folio fields of pages 1 and 2, TAIL_MAPPING from page 4 on, a
// tail bit and the right head), which then clears their mapping and compound word. Every
// failure is a bad_page() report; a block with one is not given to the buddy allocator at all
// (the caller leaks it) and the kernel is tainted 'B'.

/** PAGE_FLAGS_CHECK_AT_FREE (include/linux/page-flags.h); LRU_GEN_MASK is not modelled. */
export const PAGE_FLAGS_CHECK_AT_FREE =
  (1 << PG.lru) |
  (1 << PG.locked) |
  (1 << PG.private) |
  (1 << PG.private_2) |
  (1 << PG.writeback) |
  (1 << PG.reserved) |
  (1 << PG.active) |
  (1 << PG.unevictable) |
  (1 << PG.mlocked);

/**
 * bad_page()'s rate limit: a burst of 60 reports, then quiet until a minute after the first
 * one (by the log's pseudo-clock), when a "messages suppressed" line precedes the next report.
 */
export interface BadPageRatelimit {
  nrShown: number;
  nrUnshown: number;
  resumeUsec: number;
}

export function newBadPageRatelimit(): BadPageRatelimit {
  return { nrShown: 0, nrUnshown: 0, resumeUsec: 0 };
}

const BAD_PAGE_BURST = 60;
const BAD_PAGE_INTERVAL_USEC = 60 * 1e6;

function hex16(v: bigint): string {
  return v.toString(16).padStart(16, "0");
}

/**
 * bad_page(): the report (its headline at KERN_ALERT, dump_page() at KERN_WARNING) and the
 * taint. print_modules() and dump_stack() are not modelled; the raw words are the struct page's
 * bytes as the check read them.
 */
export function badPage(k: Kernel, pfn: number, raw: Uint8Array, reason: string): void {
  const rl = k.badPageRatelimit;
  const log = k.printk;
  let show = true;
  if (rl.nrShown === BAD_PAGE_BURST) {
    if (log.nowUsec < rl.resumeUsec) {
      rl.nrUnshown++;
      show = false;
    } else {
      if (rl.nrUnshown)
        log.printk("alert", `BUG: Bad page state: ${rl.nrUnshown} messages suppressed`);
      rl.nrUnshown = 0;
      rl.nrShown = 0;
    }
  }
  if (show) {
    if (rl.nrShown++ === 0) rl.resumeUsec = log.nowUsec + BAD_PAGE_INTERVAL_USEC;
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const word = (off: number) => v.getBigUint64(off, true);
    const refcount = v.getInt32(PAGE_OFF.refcount, true);
    const mapcount = v.getInt32(PAGE_OFF.mapcount, true) + 1;
    log.printk(
      "alert",
      `BUG: Bad page state in process ${k.comm}  pfn:${pfn.toString(16).padStart(5, "0")}`,
    );
    log.printk(
      "warn",
      `page: refcount:${refcount} mapcount:${mapcount} mapping:${hex16(word(PAGE_OFF.mapping))} ` +
        `index:0x${word(PAGE_OFF.index).toString(16)} pfn:0x${pfn.toString(16)}`,
    );
    // %pGp: the PG_* names set, then the node and zone fields (lastcpupid is not modelled).
    const flags = word(PAGE_OFF.flags);
    const names = Object.entries(PG)
      .filter(([, bit]) => (flags >> BigInt(bit)) & 1n)
      .map(([name]) => name);
    names.push(
      `node=${pageToNid(flags, k.flagsLayout)}`,
      `zone=${pageZonenum(flags, k.flagsLayout)}`,
    );
    log.printk("warn", `flags: 0x${flags.toString(16)}(${names.join("|")})`);
    for (let off = 0; off + 8 <= raw.byteLength; off += 32) {
      const words: string[] = [];
      for (let w = off; w < Math.min(off + 32, raw.byteLength - 7); w += 8)
        words.push(hex16(word(w)));
      log.printk("warn", `raw: ${words.join(" ")}`);
    }
    log.printk("warn", `page dumped because: ${reason}`);
  }
  k.addTaint(TAINT_BAD_PAGE_BIT);
}

/** TAINT_BAD_PAGE (include/linux/panic.h). */
const TAINT_BAD_PAGE_BIT = 5;

/**
 * page_bad_reason() for PAGE_FLAGS_CHECK_AT_FREE, on a struct page's bytes at `off` (with the
 * mapping taken as `mapping`: free_tail_page_prepare() has cleared a tail's). The last failing
 * test names the reason, as in the kernel; null when the page is fine.
 */
function freeBadReason(
  v: DataView,
  off: number,
  hasMemcg: boolean,
  mappingNull: boolean,
): string | null {
  let reason: string | null = null;
  if (v.getInt32(off + PAGE_OFF.mapcount, true) !== -1) reason = "nonzero mapcount";
  if (!mappingNull && v.getBigUint64(off + PAGE_OFF.mapping, true) !== 0n)
    reason = "non-NULL mapping";
  if (v.getUint32(off + PAGE_OFF.refcount, true) !== 0) reason = "nonzero _refcount";
  if ((v.getUint32(off + PAGE_OFF.flags, true) & PAGE_FLAGS_CHECK_AT_FREE) !== 0)
    reason = "PAGE_FLAGS_CHECK_AT_FREE flag(s) set";
  if (hasMemcg && v.getBigUint64(off + PAGE_OFF.memcgData, true) !== 0n)
    reason = "page still charged to cgroup";
  return reason;
}

/**
 * The checks of __free_pages_prepare() on the block [pfn, pfn + 2^order), a compound page when
 * `compound`: each failing page is reported by bad_page(). Returns the number of reports; 0
 * means the block may go to the buddy allocator. Does nothing (0) while check_pages_enabled is
 * off. Reads the struct pages through the vmemmap; a vmemmap page whose struct pages are one
 * pattern (all tails of the folio, or one repeated struct page) is checked once.
 *
 * The caller has done what the kernel does before (the hugetlb type and folio->mapping
 * cleared) and does what it does after: on 0, the rest of the preparation; otherwise, on the
 * tails, what free_tail_page_prepare() leaves (freeTailPagesClear()).
 */
/** Vmemmap pages freePagesCheck() translates in one go. */
const FREE_CHECK_BATCH = 512;

export function freePagesCheck(
  k: Kernel,
  pfn: number,
  order: number,
  compound: boolean,
  /** k.compound.headView(pfn) the caller took just before (head at headOff), if it did. */
  view?: DataView | null,
): number {
  const f = k.layout.folio;
  if (compound && order > 0) {
    // page[1].flags &= ~PAGE_FLAGS_SECOND (the order byte); folio->_nr_pages = 0: both overlap
    // fields the checks read (_nr_pages sits where page 1's memcg_data is).
    const v = view === undefined ? k.compound.headView(pfn) : view;
    if (v !== null) {
      const o = k.compound.headOff;
      v.setUint32(o + f.flags1, (v.getUint32(o + f.flags1, true) & ~0xff) >>> 0, true);
      k.memmap.reads++;
      k.memmap.writes++;
      if (f.nrPages !== null) {
        v.setUint32(o + f.nrPages, 0, true);
        v.setUint32(o + f.nrPages + 4, 0, true);
        k.memmap.writes++;
      }
    } else {
      const f1 = k.memmap.readU32(pfn, f.flags1);
      k.memmap.writeU32(pfn, f.flags1, (f1 & ~0xff) >>> 0);
      if (f.nrPages !== null) k.memmap.writeU64(pfn, f.nrPages, 0n);
    }
  }
  if (!k.checkPages) return 0;
  return freePagesCheckPages(k, pfn, order, compound);
}

/**
 * freePagesCheck()'s checks proper, check_pages_enabled on. A function of its own: its
 * closures' context is made on every call, which the pool's frees with the checks off (every
 * folio of a shrink) need not pay for.
 */
function freePagesCheckPages(k: Kernel, pfn: number, order: number, compound: boolean): number {
  const f = k.layout.folio;
  const sps = k.layout.size;
  const nr = pow2(order);
  const hasMemcg = k.layout.hasMemcgData;
  const encoding = k.compound.config.encoding;
  const headVaddr = k.memmap.vaddrOf(pfn);
  let bad = 0;
  // One tail (index i) at byte `off` of view v: free_tail_page_prepare() then free_page_is_bad().
  const checkTail = (v: DataView, off: number, i: number, bytes: () => Uint8Array): number => {
    let n = 0;
    let reason: string | null = null;
    if (compound) {
      if (i === 1) {
        if (v.getInt32(f.largeMapcount - sps + off, true) !== -1) reason = "nonzero large_mapcount";
        else if (v.getInt32(f.mmIdMapcount - sps + off, true) !== -1)
          reason = "nonzero mm mapcount 0";
        else if (v.getInt32(f.mmIdMapcount - sps + 4 + off, true) !== -1)
          reason = "nonzero mm mapcount 1";
        else if (v.getInt32(f.entireMapcount - sps + off, true) !== -1)
          reason = "nonzero entire_mapcount";
        else if (v.getInt32(f.pincount - sps + off, true) !== 0) reason = "nonzero pincount";
      } else if (i === 2) {
        const next = v.getBigUint64(f.deferredList - 2 * sps + off, true);
        if (next !== k.memmap.vaddrOf(pfn + 2) + BigInt(f.deferredList - 2 * sps))
          reason = "on deferred list";
      } else if (i !== 3 && v.getBigUint64(off + PAGE_OFF.mapping, true) !== TAIL_MAPPING)
        reason = "corrupted mapping in tail page";
      if (reason === null) {
        const info = v.getBigUint64(off + PAGE_OFF.compoundInfo, true);
        if ((info & 1n) === 0n) reason = "PageTail not set";
        else if (decodeCompoundHead(encoding, k.memmap.vaddrOf(pfn + i), info) !== headVaddr)
          reason = "compound_head not consistent";
      }
      if (reason !== null) {
        badPage(k, pfn + i, bytes(), reason);
        n++;
      }
    }
    // free_tail_page_prepare() cleared the mapping (and the compound word) first.
    const r = freeBadReason(v, off, hasMemcg, compound);
    if (r !== null) {
      const b = bytes().slice();
      if (compound) {
        // dump_page() shows the tail as free_tail_page_prepare() left it.
        const bv = new DataView(b.buffer);
        bv.setBigUint64(PAGE_OFF.mapping, 0n, true);
        bv.setBigUint64(PAGE_OFF.compoundInfo, 0n, true);
      }
      badPage(k, pfn + i, b, r);
      n++;
    }
    return n;
  };
  // The fast test of a plain tail (index 4 on): every field the checks read holds what a tail
  // of this folio holds, compared as 32-bit halves; anything else takes checkTail().
  const info = k.compound.tailInfo(pfn, order);
  const infoLo = Number(info & 0xffffffffn);
  const infoHi = Number(info >> 32n);
  const tmLo = Number(TAIL_MAPPING & 0xffffffffn);
  const tmHi = Number(TAIL_MAPPING >> 32n);
  const plainTailOk = (v: DataView, off: number): boolean =>
    v.getUint32(off + PAGE_OFF.mapcount, true) === 0xffffffff &&
    v.getUint32(off + PAGE_OFF.refcount, true) === 0 &&
    (v.getUint32(off + PAGE_OFF.flags, true) & PAGE_FLAGS_CHECK_AT_FREE) === 0 &&
    v.getUint32(off + PAGE_OFF.mapping, true) === tmLo &&
    v.getUint32(off + PAGE_OFF.mapping + 4, true) === tmHi &&
    v.getUint32(off + PAGE_OFF.compoundInfo, true) === infoLo &&
    v.getUint32(off + PAGE_OFF.compoundInfo + 4, true) === infoHi &&
    (!hasMemcg ||
      (v.getUint32(off + PAGE_OFF.memcgData, true) === 0 &&
        v.getUint32(off + PAGE_OFF.memcgData + 4, true) === 0));
  const perPage = k.pageSize / sps;
  /** Own-byte buffers of vmemmap pages whose struct pages all passed (this call only). */
  const cleanPages = new WeakSet<Uint8Array>();
  /** The "fill" pattern (this call only) whose struct page passed as a plain tail. */
  let cleanFill: FramePattern | null = null;
  // The vmemmap pages of the block translated a batch at a time (one table walk per leaf
  // rather than per page; the TLB fills as the per-page reads would fill it).
  // With whole struct pages per vmemmap page: pfn is struct page r0 of vmemmap page vpn0, and
  // pfn + i is struct page (r0 + i) % perPage of page vpn0 + floor((r0 + i) / perPage). Small
  // integers per step: no division or fmod() of a pfn above 2^31.
  const wholePages = Number.isInteger(perPage);
  const vpn0 = wholePages ? Math.floor(pfn / perPage) : 0;
  const r0 = wholePages ? pfn - vpn0 * perPage : 0;
  const lastVpn = wholePages ? vpn0 + Math.floor((r0 + nr - 1) / perPage) : 0;
  /** The batch's tlbWord()s: 0 unmapped, else +-(frame + 1) (the sign: writable or not). */
  const batch = k.buddy.checkBatch;
  let batchVpn = -1;
  let batchN = 0;
  /**
   * After the vmemmap page at batch[at] (frame `frame`, its struct pages of the block ending
   * at block index `end`) passed on its pattern alone: the pages after it that this batch
   * translated to the next frames of a run (frame - 1, frame - 2, ... for a restore's pages
   * taken top-down, or frame + 1, ...) and that hold the same id (the same pattern) pass as
   * well, with nothing more to read. Returns the block index past them.
   */
  const passAlike = (at: number, frame: number, end: number): number => {
    const w0 = batch[at];
    if (end >= nr || at + 1 >= batchN || !k.buddy.paths.checkRuns) return end;
    const step = batch[at + 1] - w0;
    if (step !== 1 && step !== -1) return end;
    // tlbWord(): frame + 1 when writable, -(frame + 1) when not.
    const dir = w0 > 0 ? step : -step;
    // The frames after it holding its id (the frame store's runs first: the work below is then
    // no more than the pages passed over), then how many of those the words go on to by step,
    // keeping w0's sign (0: unmapped).
    const most = Math.min(batchN - at - 1, Math.ceil((nr - end) / perPage));
    const same = k.frames.sameStateRun(frame, most + 1, dir === 1 ? 1 : -1) - 1;
    // Page m + 1 goes on with the run while its word is w0 + (m + 1) * step of w0's sign (the
    // same test as each word against the one before it, one load a page): words moving away
    // from 0 keep the sign; moving toward it, they keep it for |w0| - 1 pages.
    const lim = step * w0 > 0 ? same : Math.min(same, Math.abs(w0) - 1);
    let m = 0;
    let want = w0 + step;
    while (m < lim && batch[at + m + 1] === want) {
      m++;
      want += step;
    }
    return Math.min(nr, end + m * perPage);
  };
  let i = 1;
  while (i < nr) {
    /** The frame of p's struct page (-1: unmapped, or no whole vmemmap pages). */
    let frame = -1;
    /** pfn + i's index in its vmemmap page (whole struct pages). */
    let r = 0;
    /** Its vmemmap page's index in the batch. */
    let at = 0;
    if (wholePages) {
      const q = r0 + i;
      const page = Math.floor(q / perPage);
      r = q - page * perPage;
      const vpn = vpn0 + page;
      if (vpn < batchVpn || vpn >= batchVpn + batchN) {
        batchVpn = vpn;
        batchN = Math.min(FREE_CHECK_BATCH, lastVpn - vpn + 1);
        k.memmap.pgt.translateRangeWords(vpn, batchN, batch);
      }
      at = vpn - batchVpn;
      const w = batch[at];
      frame = w === 0 ? -1 : Math.abs(w) - 1;
    }
    if (frame < 0) {
      const b = k.memmap.readStructPage(pfn + i);
      bad += checkTail(new DataView(b.buffer), 0, i, () => b);
      i++;
      continue;
    }
    // The struct pages of this vmemmap page that belong to the block.
    const first = r * sps;
    const end = Math.min(nr, i + perPage - r);
    // Its pattern's kind, info or slot (no object per page; its voff is not read here).
    const pat = k.frames.patternShapeOf(frame);
    // A vmemmap page that is all tails of this folio as prep_compound_tail() writes them
    // (_refcount 0, _mapcount -1, TAIL_MAPPING, the folio's compound word, no PG_* flags):
    // every check passes; nothing to render.
    if (
      compound &&
      i > 3 &&
      pat?.kind === "tails" &&
      // A word that depends on where the frame is read (infoSpan): the frame's own word.
      (pat.infoSpan === undefined
        ? pat.info === info
        : (k.frames.patternOf(frame) as { info: bigint }).info === info)
    ) {
      i = pat.infoSpan === undefined ? passAlike(at, frame, end) : end;
      continue;
    }
    const uniform = pat !== null && (pat.kind === "tails" || pat.kind === "fill") && i > 3;
    // A "fill" page whose struct page passed as a plain tail of this folio before: the same
    // bytes pass again (mainline's restored tails are all one such page).
    if (uniform && pat === cleanFill) {
      i = passAlike(at, frame, end);
      continue;
    }
    const bytes = pat?.kind === "fill" ? pat.slot : k.frames.view(frame);
    if (uniform) {
      // Every struct page here reads the same (but for lru, which no check reads): one check
      // tells; a failure is reported page by page, as the kernel does.
      const at = pat.kind === "fill" ? 0 : first;
      const slot = bytes.slice(at, at + sps);
      const sv = new DataView(slot.buffer);
      const plain = compound && plainTailOk(sv, 0);
      if (plain && pat.kind === "fill") cleanFill = pat;
      const probe = plain ? 0 : checkTail(sv, 0, i, () => slot);
      bad += probe;
      if (probe > 0) for (let j = i + 1; j < end; j++) bad += checkTail(sv, 0, j, () => slot);
      i = end;
      continue;
    }
    // Restored vmemmap pages are copies of one page (copy_page() of the shared tail): frames
    // that share their bytes share the verdict.
    const whole = compound && i > 3 && first === 0 && end - i === perPage;
    if (whole && cleanPages.has(bytes)) {
      i = end;
      continue;
    }
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let clean = true;
    for (let j = i; j < end; j++) {
      const off = first + (j - i) * sps;
      if (compound && j > 3 && plainTailOk(v, off)) continue;
      clean = false;
      bad += checkTail(v, off, j, () => bytes.slice(off, off + sps));
    }
    if (whole && clean && pat === null) cleanPages.add(bytes);
    i = end;
  }
  // The head, after the loop: free_page_is_bad(page).
  const head = k.memmap.readStructPage(pfn);
  const hr = freeBadReason(new DataView(head.buffer), 0, hasMemcg, false);
  if (hr !== null) {
    badPage(k, pfn, head, hr);
    bad++;
  }
  return bad;
}

/**
 * What free_tail_page_prepare() leaves on every tail of a block that was not freed: mapping and
 * compound word cleared, the rest (the refcount the check complained about) as it was; and
 * page[1].flags without PAGE_FLAGS_SECOND (the order byte).
 */
export function freeTailPagesClear(k: Kernel, pfn: number, order: number): void {
  const m = k.memmap;
  const f1 = m.readU32(pfn, k.layout.folio.flags1);
  m.writeU32(pfn, k.layout.folio.flags1, (f1 & ~0xff) >>> 0);
  for (let i = 1; i < pow2(order); i++) {
    m.writeU64(pfn + i, PAGE_OFF.mapping, 0n);
    m.writeU64(pfn + i, PAGE_OFF.compoundInfo, 0n);
  }
}
