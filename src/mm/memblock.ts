// mm/memblock.c: the boot-time allocator. Regions of memory per node, a reserved list, and
// top-down allocation (memblock's default direction) below the node's end.
//
// Invariant: reserved ranges are sorted, disjoint and inside memory; after memblock_free_all()
// every present pfn is either reserved here or was handed to the buddy allocator.

import { ENOMEM, KernelError, Oops } from "../include/errno.ts";
import {
  type NodeSpec,
  type PfnRange,
  findPfnRange,
  lastPfnRangeAtOrBelow,
} from "../machine/spec.ts";
import { type RangeListener, emitRange } from "./page_alloc.ts";

export type MemblockUse = "vmemmap" | "pagetable" | "kernel" | "hugetlb" | "shared_tail";

export interface ReservedRange extends PfnRange {
  use: MemblockUse;
  nid: number;
}

export class Memblock {
  /** Sorted by startPfn, disjoint. */
  readonly reserved: ReservedRange[] = [];
  /** Told of every range reserved or freed (see RangeListener in page_alloc.ts). */
  readonly listeners: RangeListener[] = [];

  constructor(
    private readonly nodes: NodeSpec[],
    /** PAGE_SIZE in bytes (allocBytes() works in bytes). */
    private readonly pageBytes = 4096,
  ) {}

  /** memblock_reserve(). */
  reserve(startPfn: number, endPfn: number, use: MemblockUse, nid: number): void {
    this.reserveRange(startPfn, endPfn, use, nid);
    if (this.listeners.length) emitRange(this.listeners, startPfn, endPfn - startPfn);
  }

  private reserveRange(startPfn: number, endPfn: number, use: MemblockUse, nid: number): void {
    let i = this.reserved.length;
    while (i > 0 && this.reserved[i - 1].startPfn >= endPfn) i--;
    const before = this.reserved[i - 1];
    if (before && before.endPfn > startPfn) {
      throw new Oops(
        `memblock_reserve: [${startPfn}, ${endPfn}) overlaps [${before.startPfn}, ${before.endPfn})`,
      );
    }
    // memblock_merge_regions(): neighbours of the same kind become one region.
    const after = this.reserved[i];
    if (before && before.endPfn === startPfn && before.use === use && before.nid === nid) {
      before.endPfn = endPfn;
      if (after && after.startPfn === endPfn && after.use === use && after.nid === nid) {
        before.endPfn = after.endPfn;
        this.reserved.splice(i, 1);
      }
      return;
    }
    if (after && after.startPfn === endPfn && after.use === use && after.nid === nid) {
      after.startPfn = startPfn;
      return;
    }
    this.reserved.splice(i, 0, { startPfn, endPfn, use, nid });
  }

  /**
   * memblock_alloc_try_nid(): nrPages aligned to alignPages, top-down inside node nid's
   * memory (any node when nid < 0 or the node is full).
   */
  alloc(nrPages: number, alignPages: number, nid: number, use: MemblockUse): number {
    // The node's own memory first (sparse_init() asks once per section: no list made for it).
    const own = nid >= 0 ? this.nodes[nid] : undefined;
    if (own !== undefined && own.nid === nid) {
      const pfn = this.findTopDown(own, nrPages, alignPages);
      if (pfn >= 0) {
        this.reserve(pfn, pfn + nrPages, use, nid);
        return pfn;
      }
    }
    const order =
      nid >= 0
        ? [nid, ...this.nodes.map((n) => n.nid).filter((n) => n !== nid)]
        : this.nodes.map((n) => n.nid);
    for (const n of order) {
      const pfn = this.findTopDown(this.nodes[n], nrPages, alignPages);
      if (pfn >= 0) {
        this.reserve(pfn, pfn + nrPages, use, n);
        return pfn;
      }
    }
    throw new KernelError(ENOMEM, `memblock: cannot allocate ${nrPages} pages`);
  }

  /**
   * Pages that byte-sized allocations (allocBytes()) used only from some offset up: pfn -> the
   * first used byte. Memblock works in bytes and allocates top-down, so the bytes below that
   * offset are still free for the next small allocation; a page-sized one cannot use them.
   */
  private readonly partial = new Map<number, number>();

  /**
   * memblock_alloc_try_nid() of `bytes` aligned to `align` bytes (both below or above a page):
   * the highest free address of node nid (of all memory when nid < 0, NUMA_NO_NODE; other
   * nodes when nid's is full), counting the free low part of pages small allocations share.
   * Reserves the pages it touches; returns the byte address.
   */
  allocBytes(bytes: number, align: number, nid: number, use: MemblockUse): number {
    const page = this.pageBytes;
    let best: { addr: number; top: number; nid: number } | null = null;
    const consider = (nodes: NodeSpec[]) => {
      for (const node of nodes) {
        const c = this.findTopDownBytes(node, bytes, align);
        if (c && (!best || c.addr > best.addr)) best = { ...c, nid: node.nid };
      }
    };
    const own = this.nodes.find((n) => n.nid === nid);
    if (nid >= 0 && own) consider([own]);
    if (!best) consider(this.nodes);
    if (!best) throw new KernelError(ENOMEM, `memblock: cannot allocate ${bytes} bytes`);
    const { addr, top } = best as { addr: number; top: number; nid: number };
    const first = Math.floor(addr / page);
    const end = Math.ceil((addr + bytes) / page);
    // The part above `top` lies in a page an earlier small allocation reserved.
    if (end > top) {
      if (first === top) this.setPartial(top, addr - top * page);
      else this.partial.delete(top);
    }
    if (first < Math.min(end, top)) {
      this.reserve(first, Math.min(end, top), use, (best as { nid: number }).nid);
      this.setPartial(first, addr - first * page);
    }
    return addr;
  }

  private setPartial(pfn: number, offset: number): void {
    if (offset > 0) this.partial.set(pfn, offset);
    else this.partial.delete(pfn);
  }

  /** The highest fit for allocBytes() in one node, and the free gap's top pfn. */
  private findTopDownBytes(
    node: NodeSpec,
    bytes: number,
    align: number,
  ): { addr: number; top: number } | null {
    const page = this.pageBytes;
    const res = this.reserved;
    for (let r = node.ranges.length - 1; r >= 0; r--) {
      const range = node.ranges[r];
      let top = range.endPfn;
      for (let k = this.lastReservedBelow(range.endPfn); ; k--) {
        const under = this.reservedInside(k, range) ? res[k] : null;
        const low = under !== null ? Math.max(under.endPfn, range.startPfn) : range.startPfn;
        if (top >= low) {
          // The free low part of a shared page right above the gap continues it.
          const topByte = top * page + (top < range.endPfn ? (this.partial.get(top) ?? 0) : 0);
          const cand = Math.floor((topByte - bytes) / align) * align;
          if (cand >= low * page) return { addr: cand, top };
        }
        if (under === null) break;
        top = Math.min(top, under.startPfn);
      }
    }
    return null;
  }

  /**
   * The index of the last reserved region that starts below pfn, -1 for none. The regions are
   * sorted and disjoint, so those inside a range are the ones from there down to the first that
   * ends at or below the range's start: the free gaps are found highest first, without a list.
   */
  private lastReservedBelow(pfn: number): number {
    return lastPfnRangeAtOrBelow(this.reserved, pfn - 1);
  }

  /** Whether reserved region k (from lastReservedBelow(range.endPfn) down) lies in range. */
  private reservedInside(k: number, range: PfnRange): boolean {
    return k >= 0 && this.reserved[k].endPfn > range.startPfn;
  }

  private findTopDown(node: NodeSpec, nrPages: number, alignPages: number): number {
    const res = this.reserved;
    for (let r = node.ranges.length - 1; r >= 0; r--) {
      const range = node.ranges[r];
      // Free gaps of this range, highest first.
      let top = range.endPfn;
      for (let k = this.lastReservedBelow(range.endPfn); ; k--) {
        const under = this.reservedInside(k, range) ? res[k] : null;
        const low = under !== null ? Math.max(under.endPfn, range.startPfn) : range.startPfn;
        const cand = Math.floor((top - nrPages) / alignPages) * alignPages;
        if (cand >= low && cand + nrPages <= top) return cand;
        if (under === null) break;
        top = Math.min(top, under.startPfn);
      }
    }
    return -1;
  }

  /** memblock_phys_free() of one page, or the removal of a freed boot page from the list. */
  unreservePage(pfn: number): void {
    this.unreserveRange(pfn, pfn + 1);
  }

  /** memblock_phys_free() of [startPfn, endPfn), which must lie inside one reserved region. */
  unreserveRange(startPfn: number, endPfn: number): void {
    if (startPfn >= endPfn) return;
    const r = this.findReserved(startPfn);
    if (!r || endPfn > r.endPfn)
      throw new Oops(`memblock: [${startPfn}, ${endPfn}) is not reserved`);
    const i = this.reserved.indexOf(r);
    const parts: ReservedRange[] = [];
    if (r.startPfn < startPfn) parts.push({ ...r, endPfn: startPfn });
    if (endPfn < r.endPfn) parts.push({ ...r, startPfn: endPfn });
    this.reserved.splice(i, 1, ...parts);
    if (this.listeners.length) emitRange(this.listeners, startPfn, endPfn - startPfn);
  }

  isReserved(pfn: number): boolean {
    return this.findReserved(pfn) !== null;
  }

  findReserved(pfn: number): ReservedRange | null {
    return findPfnRange(this.reserved, pfn);
  }

  /** The present ranges minus the reserved ones: what memblock_free_all() gives the buddy. */
  *freeRanges(): IterableIterator<PfnRange> {
    for (const node of this.nodes) {
      for (const range of node.ranges) {
        let p = range.startPfn;
        for (const r of this.reserved) {
          if (r.endPfn <= p || r.startPfn >= range.endPfn) continue;
          if (r.startPfn > p) yield { startPfn: p, endPfn: r.startPfn };
          p = Math.max(p, r.endPfn);
        }
        if (p < range.endPfn) yield { startPfn: p, endPfn: range.endPfn };
      }
    }
  }
}
