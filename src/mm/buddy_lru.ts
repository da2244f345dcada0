// mm/page_alloc.c __add_to_free_list() / __del_page_from_free_list(): the links of the buddy
// allocator's free lists in the heads' struct pages (page->buddy_list, the lru words +8/+16).
//
// The kernel keeps one list per (zone, order, migratetype); the model's Zone keeps, per order,
// one list of every free block (freeArea) and the subset in claimed unmovable blocks
// (unmovableArea), plus never-allocated MAX_PAGE_ORDER blocks as ranges after the explicit ones
// (Zone.lazy). The kernel's lists follow from them:
//   - MIGRATE_UNMOVABLE at order o: unmovableArea[o], in its order;
//   - MIGRATE_MOVABLE at order o: freeArea[o] without the unmovable ones, in its order, then (at
//     MAX_PAGE_ORDER) the lazy blocks in ascending pfn order.
// So the neighbours of a head are those of its own migratetype list, as in the kernel. Where the
// model differs from the kernel's lists (it claims whole MAX_PAGE_ORDER blocks where the kernel
// changes the migratetype of 2 MiB pageblocks; an isolated range's free pages stay on their
// lists instead of moving to MIGRATE_ISOLATE; a block onlined or freed at the tail goes before
// the never-allocated ones rather than after them), the links follow the model's lists.
//
// The list heads live in struct zone inside NODE_DATA(nid): &pgdat->node_zones[zid]
// .free_area[order].free_list[mt], with the member offsets of the VM's kernel (Debian 7.2.13
// amd64, from its BTF: sizeof(struct zone) 1856, free_area at +256, sizeof(struct free_area) 104
// = 6 list heads and nr_free). Where NODE_DATA sits is the kernel's memblock placement in
// setup_arch(): the model makes it where the machine lists NODE_DATA among its boot allocations
// (the QEMU guests), and elsewhere uses a stand-in (Kernel.nodeDataVaddr), where a link to a list
// head is right in its offset from NODE_DATA, not in NODE_DATA itself.

import { ListHead as Head, type ListHead, type LruWords } from "./list.ts";
import { findRange, type Zone } from "./page_alloc.ts";
import { modPow2, pow2 } from "../include/pow2.ts";

/** list.ts NO_PAGE (a link to the list head), as a local constant on this hot path. */
const NO_PAGE = -1;

/** enum migratetype (include/linux/mmzone.h) for the two lists the model fills. */
export const MIGRATE_UNMOVABLE = 0;
export const MIGRATE_MOVABLE = 1;

/** The member offsets the list heads' addresses need (7.2.13 amd64, BTF of its vmlinux). */
export const FREE_LIST_LAYOUT = Object.freeze({
  /** sizeof(struct zone): node_zones[] is at offset 0 of struct pglist_data. */
  zoneSize: 1856,
  /** offsetof(struct zone, free_area) */
  freeAreaOff: 256,
  /** sizeof(struct free_area): free_list[MIGRATE_TYPES = 6] and nr_free. */
  freeAreaSize: 104,
  /** sizeof(struct list_head) */
  listHeadSize: 16,
});

/** enum zone_type order (CONFIG_ZONE_DMA, CONFIG_ZONE_DMA32 on x86_64). */
const ZONE_INDEX: Readonly<Record<string, number>> = { DMA: 0, DMA32: 1, Normal: 2, Movable: 3 };

export class BuddyLru {
  /** 2^maxOrder */
  private readonly topPages: number;

  constructor(
    readonly words: LruWords,
    private readonly maxOrder: number,
    /** NODE_DATA(nid)'s kernel virtual address (a stand-in: see the header). */
    private readonly nodeDataVaddr: (nid: number) => bigint,
  ) {
    this.topPages = pow2(maxOrder);
  }

  /** &zone->free_area[order].free_list[mt] */
  listHead(zone: Zone, order: number, mt: number): ListHead {
    let hs = zone.lruHeads;
    if (hs === null) {
      hs = [];
      const L = FREE_LIST_LAYOUT;
      const zoneAddr =
        this.nodeDataVaddr(zone.nid) + BigInt((ZONE_INDEX[zone.type] ?? 0) * L.zoneSize);
      for (let o = 0; o <= this.maxOrder; o++)
        for (const m of [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE])
          hs.push(
            new Head(
              zoneAddr + BigInt(L.freeAreaOff + o * L.freeAreaSize + m * L.listHeadSize),
              `node ${zone.nid} zone ${zone.type} free_area[${o}].free_list[${m === MIGRATE_MOVABLE ? "MIGRATE_MOVABLE" : "MIGRATE_UNMOVABLE"}]`,
            ),
          );
      zone.lruHeads = hs;
    }
    return hs[order * 2 + mt];
  }

  /** The migratetype list a free head of this order is on. */
  migratetype(zone: Zone, pfn: number, order: number): number {
    if (order >= this.maxOrder || zone.unmovableBlocks.size === 0) return MIGRATE_MOVABLE;
    const top = this.topPages;
    return zone.unmovableBlocks.has(pfn - modPow2(pfn, top)) ? MIGRATE_UNMOVABLE : MIGRATE_MOVABLE;
  }

  /**
   * The entry before the free head pfn on its list (NO_PAGE: the list head), on the zone's own
   * lists (Zone.ownFreeArea): an open batch of frees' blocks are not there, so mid-batch only the
   * batch and readers that ask it first (PageAllocator.renderBatchLinks()) call this.
   */
  ownPrevOf(zone: Zone, pfn: number, order: number, mt: number): number {
    if (mt === MIGRATE_UNMOVABLE) return orNone(zone.ownUnmovableArea[order].prevOf(pfn));
    const all = zone.ownFreeArea[order];
    if (order === this.maxOrder && !all.has(pfn)) {
      // A lazy block: the block before it in its range, the last of the range before, or the
      // last explicit block.
      const i = findRange(zone.lazy, pfn);
      const size = pow2(order);
      if (i >= 0 && pfn > zone.lazy[i][0]) return pfn - size;
      if (i > 0) return zone.lazy[i - 1][1] - size;
      return orNone(all.tail);
    }
    const um = zone.ownUnmovableArea[order];
    let p = all.prevOf(pfn);
    if (um.count > 0) while (p !== -1 && um.has(p)) p = all.prevOf(p);
    return orNone(p);
  }

  /** The entry after the free head pfn on its list (NO_PAGE: the list head): as ownPrevOf(). */
  ownNextOf(zone: Zone, pfn: number, order: number, mt: number): number {
    if (mt === MIGRATE_UNMOVABLE) return orNone(zone.ownUnmovableArea[order].nextOf(pfn));
    const all = zone.ownFreeArea[order];
    const size = pow2(order);
    if (order === this.maxOrder) {
      if (!all.has(pfn)) {
        const i = findRange(zone.lazy, pfn);
        if (i >= 0 && pfn + size < zone.lazy[i][1]) return pfn + size;
        if (i >= 0 && i + 1 < zone.lazy.length) return zone.lazy[i + 1][0];
        return NO_PAGE;
      }
      const n = all.nextOf(pfn);
      if (n !== -1) return n;
      return zone.lazy.length > 0 ? zone.lazy[0][0] : NO_PAGE;
    }
    const um = zone.ownUnmovableArea[order];
    let n = all.nextOf(pfn);
    if (um.count > 0) while (n !== -1 && um.has(n)) n = all.nextOf(n);
    return orNone(n);
  }

  /** After pfn joined its list: its links, and its neighbours' links to it. */
  linked(zone: Zone, pfn: number, order: number): void {
    zone.makeBatch();
    const mt = this.migratetype(zone, pfn, order);
    const head = this.listHead(zone, order, mt);
    // Added at the head of freeArea (expand(), a freed block): first on its own list too.
    const prev =
      zone.ownFreeArea[order].head === pfn ? NO_PAGE : this.ownPrevOf(zone, pfn, order, mt);
    const next = this.ownNextOf(zone, pfn, order, mt);
    if (!this.generated(zone, prev, order)) this.words.setNext(prev, pfn, head);
    if (!this.generated(zone, next, order)) this.words.setPrev(next, pfn, head);
    // The node's own words go with its buddy marks (storeNode(), one translation), the
    // allocator's onFreeHead call that follows; without one, here.
    if (this.nodeWithMarks) {
      this.nodePfn = pfn;
      this.nodeNext = next;
      this.nodePrev = prev;
      this.nodeHead = head;
    } else this.words.set(pfn, next, prev, head);
  }

  /**
   * After the n blocks from, from + 2^order, ... joined the head of their list one after the
   * other (so the last is first on it): linked() of each in turn, with each store's final value.
   * The first block's old neighbour links back to it; each block's own words are next = the block
   * below it (the first: that neighbour), prev = the block above it (the last: the list head),
   * what the per-block calls leave once each block's prev is rewritten by the block after it.
   */
  linkedRun(zone: Zone, from: number, n: number, order: number): void {
    zone.makeBatch();
    const mt = this.migratetype(zone, from, order);
    const head = this.listHead(zone, order, mt);
    const size = pow2(order);
    const next = this.ownNextOf(zone, from, order, mt);
    if (!this.generated(zone, next, order)) this.words.setPrev(next, from, head);
    this.runFrom = from;
    this.runLast = from + (n - 1) * size;
    this.runStep = size;
    this.runNext = next;
    this.runHead = head;
    if (!this.nodeWithMarks)
      for (let i = 0, p = from; i < n; i++, p += size) {
        // linked()'s stores: the node's words, then its prev from the block after it.
        this.words.set(p, p === from ? next : p - size, NO_PAGE, head);
        if (p !== this.runLast) this.words.setPrev(p, p + size, head);
      }
  }

  private runFrom = -1;
  private runLast = -1;
  private runStep = 0;
  private runNext = NO_PAGE;
  private runHead: ListHead | null = null;

  /**
   * The final words of pfn, a block of the run linkedRun() linked, into its struct page at off
   * of v (the Kernel's store of its buddy marks): the number of stores they stand for (its two
   * words, and the store into its prev by the block after it).
   */
  storeRunNode(pfn: number, v: DataView, off: number): number {
    const head = this.runHead as ListHead;
    const last = pfn === this.runLast;
    this.words.render(
      v,
      off,
      pfn === this.runFrom ? this.runNext : pfn - this.runStep,
      last ? NO_PAGE : pfn + this.runStep,
      head,
    );
    return last ? 2 : 3;
  }

  /** The Kernel stores a linked node's words with its buddy marks (storeNode()). */
  nodeWithMarks = false;
  private nodePfn = -1;
  private nodeNext = NO_PAGE;
  private nodePrev = NO_PAGE;
  private nodeHead: ListHead | null = null;

  /**
   * After a batch of frees (page_alloc.ts commitFreeBatch()): the node its last add linked, as
   * linked() and the store of its marks leave it: pfn -1 where that store took its words, else
   * the node (first on its list, before `next`) whose words wait as a generated page's do.
   */
  nodeLeft(pfn: number, next: number, head: ListHead): void {
    this.nodePfn = pfn;
    if (pfn === NO_PAGE) return;
    this.nodeNext = next;
    this.nodePrev = NO_PAGE;
    this.nodeHead = head;
  }

  /**
   * The words of the node linked() just put on a list, into its struct page at off of v (the
   * caller's writable view of its vmemmap page), or through the vmemmap when v is null.
   */
  storeNode(pfn: number, v: DataView | null, off: number): void {
    if (pfn !== this.nodePfn || this.nodeHead === null) return;
    if (v !== null) this.words.render(v, off, this.nodeNext, this.nodePrev, this.nodeHead);
    else this.words.set(pfn, this.nodeNext, this.nodePrev, this.nodeHead);
    this.nodePfn = -1;
  }

  /**
   * Before pfn (an explicit block, or a lazy one) leaves its list: its neighbours link to each
   * other. Its own words are poisoned by the caller's onFreeHead(pfn, -1) (Kernel).
   */
  unlinking(zone: Zone, pfn: number, order: number): void {
    zone.makeBatch();
    const mt = this.migratetype(zone, pfn, order);
    const head = this.listHead(zone, order, mt);
    const prev = this.ownPrevOf(zone, pfn, order, mt);
    const next = this.ownNextOf(zone, pfn, order, mt);
    if (!this.generated(zone, prev, order)) this.words.setNext(prev, next, head);
    if (!this.generated(zone, next, order)) this.words.setPrev(next, prev, head);
  }

  /**
   * Whether the head q (NO_PAGE: the list head) is a never-allocated block: its struct page is
   * memmap_init()'s, rendered from the lists, so a store would change nothing (cheaper to tell
   * from the lists than from its vmemmap page).
   */
  private generated(zone: Zone, q: number, order: number): boolean {
    return (
      q === NO_PAGE ||
      (order === this.maxOrder && zone.lazy.length > 0 && !zone.ownFreeArea[order].has(q))
    );
  }

  /**
   * After [start, end) of never-allocated blocks joined the tail of the top list (boot): the
   * block before them links to the first. The blocks' own links are generated (their vmemmap
   * pages are memmap_init()'s, never written).
   */
  lazyAppended(zone: Zone, start: number): void {
    zone.makeBatch();
    const head = this.listHead(zone, this.maxOrder, MIGRATE_MOVABLE);
    const prev = this.ownPrevOf(zone, start, this.maxOrder, MIGRATE_MOVABLE);
    this.words.setNext(prev, start, head);
    const r = zone.lazy[zone.lazy.length - 1];
    const last = this.bootLists[this.bootLists.length - 1];
    if (last !== undefined && last[1] === r[0]) last[1] = r[1];
    else if (last !== undefined && last[0] === r[0]) last[1] = r[1];
    else this.bootLists.push([r[0], r[1]]);
  }

  /** The never-allocated blocks memblock_free_all() listed: [start, end) pfns, ascending. */
  private readonly bootLists: Array<[number, number]> = [];

  /**
   * Whether pfn headed a MAX_PAGE_ORDER block boot put on a free list and is no free head now:
   * the allocator list_del()ed it. Its struct page, where the model never wrote it, reads
   * with LIST_POISON1/2 (Kernel.initStructPage()); where it was written, the bytes say.
   */
  leftBootList(pfn: number): boolean {
    const top = this.topPages;
    if (this.bootLists.length === 0 || modPow2(pfn, top) !== 0) return false;
    return findRange(this.bootLists, pfn) >= 0;
  }

  /**
   * The lru words of the free head pfn of this order, into a struct page being generated, from
   * the zone's own lists: mid-batch, its caller asks PageAllocator.renderBatchLinks() first.
   */
  renderOwn(zone: Zone, v: DataView, off: number, pfn: number, order: number): void {
    if (order === this.maxOrder && zone.lazy.length > 0) {
      // A never-allocated block (most generated heads): one search for both neighbours.
      const i = findRange(zone.lazy, pfn);
      if (i >= 0) {
        const size = pow2(order);
        const [s, e] = zone.lazy[i];
        const next =
          pfn + size < e ? pfn + size : i + 1 < zone.lazy.length ? zone.lazy[i + 1][0] : NO_PAGE;
        let prev =
          pfn > s ? pfn - size : i > 0 ? zone.lazy[i - 1][1] - size : zone.ownFreeArea[order].tail;
        if (prev === -1) prev = NO_PAGE;
        this.words.render(v, off, next, prev, this.listHead(zone, order, MIGRATE_MOVABLE));
        return;
      }
    }
    const mt = this.migratetype(zone, pfn, order);
    this.words.render(
      v,
      off,
      this.ownNextOf(zone, pfn, order, mt),
      this.ownPrevOf(zone, pfn, order, mt),
      this.listHead(zone, order, mt),
    );
  }

  /**
   * The free list as the struct pages link it, from its list head's first entry (for tests and
   * debuggers): the heads in list order. The list head's own `next` is not in the vmemmap: the
   * walk starts from the model's first entry and follows lru.next through the bytes.
   */
  listOrder(zone: Zone, order: number, mt: number): number[] {
    zone.makeBatch();
    const out: number[] = [];
    const all = mt === MIGRATE_UNMOVABLE ? zone.ownUnmovableArea[order] : zone.ownFreeArea[order];
    for (const p of all)
      if (mt === MIGRATE_UNMOVABLE || !zone.ownUnmovableArea[order].has(p)) out.push(p);
    if (order === this.maxOrder && mt === MIGRATE_MOVABLE)
      for (const [s, e] of zone.lazy) for (let b = s; b < e; b += pow2(order)) out.push(b);
    return out;
  }
}

function orNone(p: number): number {
  return p === -1 ? NO_PAGE : p;
}
