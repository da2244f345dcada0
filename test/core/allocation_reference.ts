// The plain form of the allocator's record of handed-out blocks (src/mm/page_alloc.ts
// AllocationMap), for the property tests that run the two side by side: a Map of the blocks
// handed out one at a time in the order their keys were added, a Map of the pages handed out
// in bulk (order-0 runs), a Set per use kept at every change, and the block that holds each
// page. No search, no window, no lazily made Set: what the AllocationMap documents, done the
// slow way.
import { type Allocation, FRAME_USES, type FrameUse } from "../../src/mm/page_alloc.ts";

export class PlainAllocationMap {
  /** Blocks handed out one at a time, in the order their keys were added. */
  readonly singles = new Map<number, Allocation>();
  /** Pages handed out in bulk (setOrder0Run) and not since changed one at a time. */
  readonly bulk = new Map<number, Allocation>();
  /** Per use, its single blocks' first pfns: a block given a record again goes last. */
  readonly uses = new Map<FrameUse, Set<number>>(FRAME_USES.map((u) => [u, new Set<number>()]));
  /** The block start that holds each page, or -1. */
  readonly owner: number[];

  /** pfns: pages 0 .. pfns - 1 are tracked in owner. */
  constructor(readonly pfns: number) {
    this.owner = new Array<number>(pfns).fill(-1);
  }

  get(pfn: number): Allocation | undefined {
    return this.singles.get(pfn) ?? this.bulk.get(pfn);
  }
  get size(): number {
    return this.singles.size + this.bulk.size;
  }
  /** Whether len pages from start are all inside the range and held by no block. */
  free(start: number, len: number): boolean {
    for (let p = start; p < start + len; p++)
      if (p >= this.pfns || this.owner[p] >= 0) return false;
    return true;
  }
  /** Whether pfn is the start of an order-0 block. */
  isOrder0(pfn: number): boolean {
    return this.owner[pfn] === pfn && this.get(pfn)?.order === 0;
  }
  /** The length of the stretch from pfn (at most n, inside the range) that pred accepts. */
  stretch(pfn: number, n: number, pred: (p: number) => boolean): number {
    let len = 0;
    while (len < n && pfn + len < this.pfns && pred(pfn + len)) len++;
    return len;
  }
  /** A bulk page changed alone becomes a single block first (the AllocationMap's unrun()). */
  private unbulk(pfn: number): void {
    const a = this.bulk.get(pfn);
    if (a === undefined) return;
    this.bulk.delete(pfn);
    this.singles.set(pfn, a);
  }
  private own(pfn: number, order: number, who: number): void {
    for (let p = pfn; p < Math.min(pfn + 2 ** order, this.pfns); p++) this.owner[p] = who;
  }
  set(pfn: number, a: Allocation): void {
    this.unbulk(pfn);
    const old = this.singles.get(pfn);
    if (old) this.uses.get(old.use)?.delete(pfn);
    this.singles.set(pfn, a);
    this.uses.get(a.use)?.add(pfn);
    this.own(pfn, a.order, pfn);
  }
  addBulk(start: number, n: number, use: FrameUse, nid: number): void {
    for (let p = start; p < start + n; p++) {
      this.bulk.set(p, { order: 0, use, nid });
      if (p < this.pfns) this.owner[p] = p;
    }
  }
  /** A block's record deleted; nothing happens where no block starts. */
  delete(pfn: number): void {
    this.unbulk(pfn);
    const a = this.singles.get(pfn);
    if (a === undefined) return;
    this.uses.get(a.use)?.delete(pfn);
    this.singles.delete(pfn);
    this.own(pfn, a.order, -1);
  }
  deleteBulk(start: number, n: number): void {
    for (let p = start; p < start + n; p++) {
      if (this.bulk.delete(p)) {
        if (p < this.pfns) this.owner[p] = -1;
      } else this.delete(p);
    }
  }
  setUse(pfn: number, use: FrameUse): void {
    const a = this.get(pfn) as Allocation;
    this.set(pfn, { order: a.order, use, nid: a.nid });
  }
  /** Bulk pages by pfn, as the AllocationMap lists its runs after its Map. */
  private bulkSorted(): [number, Allocation][] {
    return [...this.bulk].sort((x, y) => x[0] - y[0]);
  }
  entries(): [number, Allocation][] {
    return [...this.singles, ...this.bulkSorted()];
  }
  withUse(use: FrameUse): number[] {
    const out = [...(this.uses.get(use) as Set<number>)];
    for (const [p, a] of this.bulkSorted()) if (a.use === use) out.push(p);
    return out;
  }
  pagesWithUse(use: FrameUse): number {
    let n = 0;
    for (const [, a] of this.entries()) if (a.use === use) n += 2 ** a.order;
    return n;
  }
  /** Every block whose pages hold pfn, lowest order's start first (allContaining()'s order). */
  holding(pfn: number, maxOrder: number): number[] {
    const out: number[] = [];
    for (let o = 0; o <= maxOrder; o++) {
      const s = pfn - (pfn % 2 ** o);
      const a = this.get(s);
      if (a && a.order === o && !out.includes(s)) out.push(s);
    }
    return out;
  }
}
