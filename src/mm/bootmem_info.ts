// mm/bootmem_info.c (and x86_64's register_page_bootmem_memmap(), arch/x86/mm/init_64.c): which
// memory section each PMD-mapped block of boot memmap belongs to, for get_page_bootmem()'s marks
// on the struct pages of that block (private = section << 4 | SECTION_INFO, _refcount 2).
//
// Boot hands the blocks out in a regular order (7.2: top-down, one block lower per section;
// 6.18: upwards through a per-node buffer), so the pairs (block, section) are held as runs of
// evenly spaced pairs: a handful per node instead of one entry per section (half a million on
// a 64 TiB machine).

import { lastAtOrBelow } from "../include/bsearch.ts";

/** A run of pairs: block `firstBlock + i * step` holds the memmap of section `firstSection + i`. */
interface Run {
  firstBlock: number;
  firstSection: number;
  /** Pfns from one block to the next (+/- the block size); 0 while the run has one pair. */
  step: number;
  count: number;
  /** The lowest and highest block pfn of the run (for the lookup). */
  lo: number;
  hi: number;
}

export class BootmemSections {
  private readonly runs: Run[] = [];
  /** The runs sorted by `lo`, rebuilt on the first lookup after a change. */
  private sorted: Run[] | null = null;
  private lastRun: Run | null = null;
  private pairs = 0;

  get size(): number {
    return this.pairs;
  }

  /** Records that the `blockPfns` pages from pfn `block` up hold section `section`'s memmap. */
  set(block: number, section: number, blockPfns: number): void {
    this.pairs++;
    this.sorted = null;
    this.lastRun = null;
    const r = this.runs[this.runs.length - 1];
    if (r !== undefined && section === r.firstSection + r.count) {
      const last = r.firstBlock + (r.count - 1) * r.step;
      const step = block - last;
      if (Math.abs(step) === blockPfns && (r.count === 1 || step === r.step)) {
        r.step = step;
        r.count++;
        r.lo = Math.min(r.lo, block);
        r.hi = Math.max(r.hi, block);
        return;
      }
    }
    this.runs.push({
      firstBlock: block,
      firstSection: section,
      step: 0,
      count: 1,
      lo: block,
      hi: block,
    });
  }

  /** The section whose memmap the block at pfn `block` holds, or undefined. */
  get(block: number): number | undefined {
    const last = this.lastRun;
    if (last !== null && block >= last.lo && block <= last.hi) return this.inRun(last, block);
    if (this.sorted === null) this.sorted = [...this.runs].sort((a, b) => a.lo - b.lo);
    // A run's blocks are one block apart, so the runs' [lo, hi] spans are disjoint.
    const i = lastAtOrBelow(this.sorted, block, (r) => r.lo);
    if (i < 0 || block > this.sorted[i].hi) return undefined;
    const r = this.sorted[i];
    this.lastRun = r;
    return this.inRun(r, block);
  }

  private inRun(r: Run, block: number): number | undefined {
    if (r.count === 1) return block === r.firstBlock ? r.firstSection : undefined;
    const i = (block - r.firstBlock) / r.step;
    return Number.isInteger(i) && i >= 0 && i < r.count ? r.firstSection + i : undefined;
  }
}
