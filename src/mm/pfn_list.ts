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
 * A doubly linked list of pfns, O(1) add at either end, remove anywhere and membership test.
 * Every pfn on it is a multiple of `align` (a power of two) at or above `base`; -1 stands for
 * "none" (the end of the list).
 */
export class PfnList {
  /** Pages by index / PAGE, split by TOP: links stored as value + 2 (0: not on the list). */
  private readonly dir: ((Float64Array | undefined)[] | undefined)[] = [];
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
    const t = Math.floor(p / TOP);
    this.slot = 2 * (i - p * PAGE);
    let row = this.dir[t];
    if (row === undefined) {
      if (!make) return undefined;
      while (this.dir.length < t) this.dir.push(undefined);
      row = [];
      this.dir[t] = row;
    }
    const k = p - t * TOP;
    let page = row[k];
    if (page === undefined) {
      if (!make) return undefined;
      page = this.spares.pop() ?? new Float64Array(PAGE_SLOTS);
      while (row.length < k) row.push(undefined);
      row[k] = page;
    }
    this.lastFirst = p * PAGE;
    this.lastPage = page;
    return page;
  }

  /** One entry fewer on the page that holds pfn: an empty page goes (kept for reuse). */
  private release(pfn: number, page: Float64Array): void {
    if (--page[LIVE] > 0) return;
    const p = Math.floor((pfn - this.base) / this.align / PAGE);
    const t = Math.floor(p / TOP);
    (this.dir[t] as (Float64Array | undefined)[])[p - t * TOP] = undefined;
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

/** Entries per page of PfnBytes. */
const BYTE_PAGE = 4096;

/**
 * A sparse map from pfn to a small number (0..254), in paged Uint16Arrays (the last slot of a page counts its entries) found through two
 * plain arrays; pages no entry uses any more go. -1 reads as "none".
 */
export class PfnBytes {
  private readonly dir: ((Uint16Array | undefined)[] | undefined)[] = [];
  private lastFirst = -1;
  private lastPage: Uint16Array | undefined = undefined;
  /** Pages let go, for reuse (all zeros). */
  private readonly spares: Uint16Array[] = [];
  size = 0;

  private at = 0;
  private pageOf(pfn: number, make: boolean): Uint16Array | undefined {
    const d = pfn - this.lastFirst;
    if (d >= 0 && d < BYTE_PAGE && this.lastFirst >= 0 && d === Math.floor(d)) {
      this.at = d;
      return this.lastPage;
    }
    if (!(pfn >= 0) || pfn !== Math.floor(pfn)) return undefined;
    const p = Math.floor(pfn / BYTE_PAGE);
    const t = Math.floor(p / TOP);
    this.at = pfn - p * BYTE_PAGE;
    let row = this.dir[t];
    if (row === undefined) {
      if (!make) return undefined;
      while (this.dir.length < t) this.dir.push(undefined);
      row = [];
      this.dir[t] = row;
    }
    const k = p - t * TOP;
    let page = row[k];
    if (page === undefined) {
      if (!make) return undefined;
      page = this.spares.pop() ?? new Uint16Array(BYTE_PAGE + 1);
      while (row.length < k) row.push(undefined);
      row[k] = page;
    }
    this.lastFirst = p * BYTE_PAGE;
    this.lastPage = page;
    return page;
  }

  get(pfn: number): number {
    if (this.size === 0) return -1;
    const page = this.pageOf(pfn, false);
    return page === undefined ? -1 : page[this.at] - 1;
  }

  set(pfn: number, v: number): void {
    const page = this.pageOf(pfn, true) as Uint16Array;
    if (page[this.at] === 0) {
      page[BYTE_PAGE]++;
      this.size++;
    }
    page[this.at] = v + 1;
  }

  delete(pfn: number): void {
    const page = this.pageOf(pfn, false);
    if (page === undefined || page[this.at] === 0) return;
    page[this.at] = 0;
    this.size--;
    if (--page[BYTE_PAGE] > 0) return;
    const p = Math.floor(pfn / BYTE_PAGE);
    const t = Math.floor(p / TOP);
    (this.dir[t] as (Uint16Array | undefined)[])[p - t * TOP] = undefined;
    if (this.spares.length < SPARES) this.spares.push(page);
    if (this.lastPage === page) {
      this.lastFirst = -1;
      this.lastPage = undefined;
    }
  }
}
