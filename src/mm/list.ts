// include/linux/list.h and include/linux/poison.h over struct page's lru (+8 lru.next, +16
// lru.prev): the links of the free lists a struct page is on, as the kernel leaves them in the
// struct page's bytes.
//
// Which lists: a free buddy block's head is on zone->free_area[order].free_list[migratetype]
// (mm/page_alloc.c __add_to_free_list(), __del_page_from_free_list(); `buddy_list` is the same
// two words), a HugeTLB folio's head on hstate->hugepage_freelists[nid] or
// hstate->hugepage_activelist (mm/hugetlb.c). A link holds the address of the next (prev)
// list_head: `&page->lru` of the neighbouring head (vmemmap address + 8), or the list head
// itself, which lives outside the vmemmap (struct zone inside NODE_DATA on the direct map,
// struct hstate in the kernel image's hstates[]). list_del() leaves LIST_POISON1/2;
// INIT_LIST_HEAD() points both words at the struct page's own lru.
//
// Cost: a list operation writes the lru words of the node and of its two neighbours, each only
// when the neighbour's vmemmap page has bytes of its own; a vmemmap page still generated from
// the machine layout (pattern "init") renders the links from the allocator's lists on each read
// (Kernel.initStructPage()), so nothing is written there. Words are written as 32-bit halves:
// no bigint per operation.

import { PAGE_OFF } from "../include/mm_types.ts";
import type { FrameStore } from "./frames.ts";
import type { Memmap } from "./memmap.ts";

/**
 * POISON_POINTER_DELTA = CONFIG_ILLEGAL_POINTER_VALUE, 0xdead000000000000 in the 64-bit
 * kernels the designs follow (Debian's x86_64 and arm64 configs); LIST_POISON1 = 0x100 + delta
 * is what list_del() leaves in ->next, LIST_POISON2 = 0x122 + delta in ->prev.
 */
export const LIST_POISON1 = 0xdead000000000100n;
export const LIST_POISON2 = 0xdead000000000122n;
const POISON_HI = 0xdead0000;
const POISON1_LO = 0x100;
const POISON2_LO = 0x122;

/** A list_head outside the vmemmap: its kernel virtual address, also as 32-bit halves. */
export class ListHead {
  readonly lo: number;
  readonly hi: number;
  constructor(
    readonly addr: bigint,
    /** What it is, for reports ("zone Normal free_area[10].free_list[MIGRATE_MOVABLE]"). */
    readonly what: string,
  ) {
    this.lo = Number(addr & 0xffffffffn);
    this.hi = Number((addr >> 32n) & 0xffffffffn);
  }
}

/** A link's target: a struct page (its pfn, >= 0) or the list head (NO_PAGE). */
export const NO_PAGE = -1;

/**
 * Reads and writes the lru words of struct pages. `write*` store through the vmemmap (as the
 * kernel's list operations do) unless the struct page's vmemmap page is generated (pattern
 * "init") or not writable; `render` fills a struct page being generated.
 */
export class LruWords {
  private readonly baseLo: number;
  private readonly baseHi: number;

  constructor(
    private readonly memmap: Memmap,
    private readonly frames: FrameStore,
    vmemmapBase: bigint,
    private readonly sps: number,
  ) {
    this.baseLo = Number(vmemmapBase & 0xffffffffn);
    this.baseHi = Number(vmemmapBase >> 32n);
  }

  /** &page->lru of pfn: low half (the high half is left in `hi`). */
  hi = 0;
  lruLo(pfn: number): number {
    const low = this.baseLo + pfn * this.sps + PAGE_OFF.lruNext;
    // The carry out of the low half, without `%` on doubles (a call to fmod()).
    const carry = Math.floor(low / 2 ** 32);
    this.hi = (this.baseHi + carry) >>> 0;
    return low - carry * 2 ** 32;
  }

  /** &page->lru of pfn as a bigint (tests, reports). */
  lruAddr(pfn: number): bigint {
    const lo = this.lruLo(pfn);
    return (BigInt(this.hi) << 32n) | BigInt(lo);
  }

  /** Whether stores to pfn's struct page must be written (its vmemmap page has bytes). */
  private stored(pfn: number): boolean {
    const frame = this.memmap.writableFrame(pfn);
    return frame >= 0 && this.frames.patternOf(frame)?.kind !== "init";
  }

  /** The target's address (a pfn's lru, or the list head) into tLo/tHi. */
  private tLo = 0;
  private tHi = 0;
  private target(to: number, head: ListHead): void {
    if (to === NO_PAGE) {
      this.tLo = head.lo;
      this.tHi = head.hi;
    } else {
      this.tLo = this.lruLo(to);
      this.tHi = this.hi;
    }
  }

  /**
   * Stores the words of pfn's lru at `offs` (lruNext and/or lruPrev) := the targets, unless its
   * vmemmap page is generated or not writable: one translation.
   */
  private store(pfn: number, next: number, prev: number, head: ListHead, which: number): void {
    const m = this.memmap;
    if (m.wholeStructPages) {
      const v = m.structPageView(pfn, true, 1);
      if (v === null) return;
      const off = m.spanOff;
      if (which & 1) {
        this.target(next, head);
        v.setUint32(off + PAGE_OFF.lruNext, this.tLo, true);
        v.setUint32(off + PAGE_OFF.lruNext + 4, this.tHi, true);
        m.writes++;
      }
      if (which & 2) {
        this.target(prev, head);
        v.setUint32(off + PAGE_OFF.lruPrev, this.tLo, true);
        v.setUint32(off + PAGE_OFF.lruPrev + 4, this.tHi, true);
        m.writes++;
      }
      return;
    }
    if (!this.stored(pfn)) return;
    if (which & 1) {
      this.target(next, head);
      m.writeU64Parts(pfn, PAGE_OFF.lruNext, this.tLo, this.tHi);
    }
    if (which & 2) {
      this.target(prev, head);
      m.writeU64Parts(pfn, PAGE_OFF.lruPrev, this.tLo, this.tHi);
    }
  }

  /** pfn->lru.next := to (a pfn, or NO_PAGE for the list head); nothing for pfn NO_PAGE. */
  setNext(pfn: number, to: number, head: ListHead): void {
    if (pfn !== NO_PAGE) this.store(pfn, to, NO_PAGE, head, 1);
  }

  /** pfn->lru.prev := to (a pfn, or NO_PAGE for the list head); nothing for pfn NO_PAGE. */
  setPrev(pfn: number, to: number, head: ListHead): void {
    if (pfn !== NO_PAGE) this.store(pfn, NO_PAGE, to, head, 2);
  }

  /** Both words of pfn's lru. */
  set(pfn: number, next: number, prev: number, head: ListHead): void {
    this.store(pfn, next, prev, head, 3);
  }

  /**
   * __list_add(node, prev, next) as the struct pages see it: node between prev and next (pfns,
   * NO_PAGE for the list head); the head's own words are not in the vmemmap.
   */
  linked(node: number, prev: number, next: number, head: ListHead): void {
    this.set(node, next, prev, head);
    this.setNext(prev, node, head);
    this.setPrev(next, node, head);
  }

  /** list_del(node) with node between prev and next: they link up, node is poisoned. */
  unlinked(node: number, prev: number, next: number, head: ListHead): void {
    this.setNext(prev, next, head);
    this.setPrev(next, prev, head);
    this.poison(node);
  }

  /** list_del()'s LIST_POISON1 / LIST_POISON2 in pfn's lru (not in generated pages). */
  poison(pfn: number): void {
    const m = this.memmap;
    if (m.wholeStructPages) {
      const v = m.structPageView(pfn, true, 1);
      if (v === null) return;
      LruWords.poisonInto(v, m.spanOff);
      m.writes += 2;
      return;
    }
    if (!this.stored(pfn)) return;
    this.poisonAt(pfn);
  }

  /** LIST_POISON1/2 stored into pfn's lru through the vmemmap (the caller checked). */
  poisonAt(pfn: number): void {
    this.memmap.writeU64Parts(pfn, PAGE_OFF.lruNext, POISON1_LO, POISON_HI);
    this.memmap.writeU64Parts(pfn, PAGE_OFF.lruPrev, POISON2_LO, POISON_HI);
  }

  /** LIST_POISON1/2 into a struct page's bytes at off of v (stores already made writable). */
  static poisonInto(v: DataView, off: number): void {
    v.setUint32(off + PAGE_OFF.lruNext, POISON1_LO, true);
    v.setUint32(off + PAGE_OFF.lruNext + 4, POISON_HI, true);
    v.setUint32(off + PAGE_OFF.lruPrev, POISON2_LO, true);
    v.setUint32(off + PAGE_OFF.lruPrev + 4, POISON_HI, true);
  }

  /** INIT_LIST_HEAD(&page->lru): both words point at the struct page's own lru. */
  init(pfn: number): void {
    const lo = this.lruLo(pfn);
    const hi = this.hi;
    this.memmap.writeU64Parts(pfn, PAGE_OFF.lruNext, lo, hi);
    this.memmap.writeU64Parts(pfn, PAGE_OFF.lruPrev, lo, hi);
  }

  /** The lru words of a struct page being generated, into v at off (next, prev as above). */
  render(v: DataView, off: number, next: number, prev: number, head: ListHead): void {
    this.renderWord(v, off + PAGE_OFF.lruNext, next, head);
    this.renderWord(v, off + PAGE_OFF.lruPrev, prev, head);
  }

  /** lru.next alone of a struct page at off of v (render()'s word). */
  renderNext(v: DataView, off: number, next: number, head: ListHead): void {
    this.renderWord(v, off + PAGE_OFF.lruNext, next, head);
  }

  /** lru.prev alone of a struct page at off of v (render()'s word). */
  renderPrev(v: DataView, off: number, prev: number, head: ListHead): void {
    this.renderWord(v, off + PAGE_OFF.lruPrev, prev, head);
  }

  private renderWord(v: DataView, at: number, to: number, head: ListHead): void {
    if (to === NO_PAGE) {
      v.setUint32(at, head.lo, true);
      v.setUint32(at + 4, head.hi, true);
    } else {
      v.setUint32(at, this.lruLo(to), true);
      v.setUint32(at + 4, this.hi, true);
    }
  }
}

/**
 * The struct page a lru word points into (the head of the next/prev entry), or null when the
 * word is not the address of a struct page's lru in the vmemmap (a list head, poison, junk):
 * list_entry() as a debugger applies it.
 */
export function lruEntryPfn(
  word: bigint,
  vmemmapBase: bigint,
  sps: number,
  maxPfn: number,
): number | null {
  const off = word - vmemmapBase - BigInt(PAGE_OFF.lruNext);
  if (off < 0n || off % BigInt(sps) !== 0n) return null;
  const pfn = Number(off / BigInt(sps));
  return pfn < maxPfn ? pfn : null;
}
