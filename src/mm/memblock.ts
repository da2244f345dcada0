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
   * Pages small allocations (allocBytes()) use: pfn -> the byte spans of it they use, [lo, hi)
   * from the page's start, sorted. Such a page is reserved whole for everything else (a
   * page-sized allocation cannot use it), and only those bytes for the next small allocation:
   * memblock works in bytes, so the bytes an allocation left free below or above it in its page
   * are free.
   */
  private readonly shared = new Map<number, Array<[number, number]>>();

  /**
   * memblock_alloc_try_nid() of `bytes` aligned to `align` bytes (both below or above a page):
   * the highest free address of node nid (of all memory when nid < 0, NUMA_NO_NODE; other
   * nodes when nid's is full), counting the free bytes of pages small allocations share.
   * Reserves the pages it touches; returns the byte address.
   */
  allocBytes(bytes: number, align: number, nid: number, use: MemblockUse): number {
    const page = this.pageBytes;
    let addr = -1;
    let at = -1;
    const consider = (nodes: NodeSpec[]) => {
      for (const node of nodes) {
        const a = this.findTopDownBytes(node, bytes, align);
        if (a > addr) {
          addr = a;
          at = node.nid;
        }
      }
    };
    const own = this.nodes.find((n) => n.nid === nid);
    if (nid >= 0 && own) consider([own]);
    if (addr < 0) consider(this.nodes);
    if (addr < 0) throw new KernelError(ENOMEM, `memblock: cannot allocate ${bytes} bytes`);
    // The pages it touches: each one's used bytes noted; the ones no small allocation used yet
    // (free until now) reserved, in runs.
    const first = Math.floor(addr / page);
    const last = Math.floor((addr + bytes - 1) / page);
    let run = -1;
    for (let p = first; p <= last; p++) {
      const span: [number, number] = [
        Math.max(addr - p * page, 0),
        Math.min(addr + bytes - p * page, page),
      ];
      const spans = this.shared.get(p);
      if (spans === undefined) {
        this.shared.set(p, [span]);
        if (run < 0) run = p;
        continue;
      }
      spans.push(span);
      spans.sort((x, y) => x[0] - y[0]);
      if (run >= 0) this.reserve(run, p, use, at);
      run = -1;
    }
    if (run >= 0) this.reserve(run, last + 1, use, at);
    return addr;
  }

  /**
   * The highest address of node's memory aligned to `align` below which `bytes` free bytes
   * follow inside one range, or -1: the free ranges between used bytes, highest first.
   */
  private findTopDownBytes(node: NodeSpec, bytes: number, align: number): number {
    const page = this.pageBytes;
    const res = this.reserved;
    for (let r = node.ranges.length - 1; r >= 0; r--) {
      const range = node.ranges[r];
      const start = range.startPfn * page;
      // The top of the free range being looked at.
      let top = range.endPfn * page;
      // A free range [low, top): the highest fit in it, or -1.
      const highestIn = (low: number): number => {
        const cand = Math.floor((top - bytes) / align) * align;
        return cand >= low && cand >= start ? cand : -1;
      };
      for (let k = this.lastReservedBelow(range.endPfn); this.reservedInside(k, range); k--) {
        // The region's used bytes, highest first: whole pages but where small allocations
        // share a page, where only their spans are used.
        const used = this.usedBytesDown(res[k]);
        for (let u = 0; u < used.length; u += 2) {
          const c = highestIn(used[u + 1]);
          if (c >= 0) return c;
          top = Math.min(top, used[u]);
        }
      }
      const c = highestIn(start);
      if (c >= 0) return c;
    }
    return -1;
  }

  /** The used bytes of reserved region r, as [lo, hi) pairs flattened, highest first. */
  private usedBytesDown(r: ReservedRange): number[] {
    const page = this.pageBytes;
    const inside: number[] = [];
    for (const p of this.shared.keys()) if (p >= r.startPfn && p < r.endPfn) inside.push(p);
    inside.sort((a, b) => b - a);
    const out: number[] = [];
    let cur = r.endPfn * page;
    for (const p of inside) {
      const base = p * page;
      if (cur > base + page) out.push(base + page, cur);
      const spans = this.shared.get(p) as Array<[number, number]>;
      for (let i = spans.length - 1; i >= 0; i--) out.push(base + spans[i][0], base + spans[i][1]);
      cur = base;
    }
    if (cur > r.startPfn * page) out.push(r.startPfn * page, cur);
    return out;
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
    // Freed whole: the bytes small allocations used in them too (a Map may lose entries while
    // it is walked; no array per free, which the boot and HVO make page by page).
    for (const p of this.shared.keys()) if (p >= startPfn && p < endPfn) this.shared.delete(p);
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
