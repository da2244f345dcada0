// The incremental checker: after each operation, the folios it touched (new ones, ones whose
// vmemmap mapping changed, ones HVO optimised or restored - those checked the moment HVO returns,
// before the pool frees them) and the cheap global invariants; every `fullEvery` checks, every
// folio and the whole-machine sweeps (frame tiling, memmap frames, buddy counters). Kernel
// counterparts: see invariants.ts. Pure and browser-safe.

import type { Kernel } from "../kernel.ts";
import type { RestoreBatchResult } from "../mm/hugetlb_vmemmap_api.ts";
import {
  type CheckContext,
  type FolioRef,
  type Violation,
  buddyCounters,
  checkContext,
  checkFolio,
  frameTiling,
  isOptimizedRaw,
  memmapFrames,
  poolCounters,
  poolOf,
  sharedTails,
  staleTlb,
} from "./invariants.ts";

export interface CheckerOptions {
  /** Every folio, frame tiling and buddy counters every this many checks. Default 16. */
  fullEvery?: number;
}

interface HvoLike {
  optimizeFolio(order: number, headPfn: number): void;
  optimizeFolios(order: number, headPfns: number[]): void;
  restoreFolio(order: number, headPfn: number): number;
  restoreFolios(order: number, headPfns: number[]): RestoreBatchResult;
}

export class Checker {
  readonly c: CheckContext;
  private checks = 0;
  private readonly fullEvery: number;
  private lastPteWrites = -1;
  private knownFolios = new Map<number, number>();
  /** Violations found inside an operation (right after HVO returned). */
  private pending: Violation[] = [];
  /** Folios checked inside the current operation. */
  private touched = new Set<number>();
  /** vmemmap pages whose translation changed during the current operation (seen mid-way). */
  private stepChanges: number[] = [];
  /** Folios checked, in total (for reports and benchmarks). */
  foliosChecked = 0;

  constructor(
    readonly k: Kernel,
    opts: CheckerOptions = {},
  ) {
    this.c = checkContext(k);
    this.fullEvery = Math.max(1, opts.fullEvery ?? 16);
    this.watchHvo();
    this.c.mirror.refresh();
  }

  /** Checks one folio now (the mirror refreshed first: HVO may have just remapped it). */
  private checkNow(order: number, head: number, optimized?: boolean): void {
    // The shadow TLB is only as old as the page tables it walked.
    if (this.c.mirror.refresh()) this.c.shadow.reset();
    this.touched.add(head);
    this.foliosChecked++;
    for (const v of checkFolio(this.c, { headPfn: head, order }, { optimized }))
      this.pending.push(v);
  }

  /** Wraps the HVO entry points of this kernel so that their folios are checked on return. */
  private watchHvo(): void {
    const hvo = this.k.sub.hvo as (HvoLike & Record<string, unknown>) | undefined;
    if (!hvo || typeof hvo.restoreFolio !== "function") return;
    const optimizeFolio = hvo.optimizeFolio.bind(hvo);
    const optimizeFolios = hvo.optimizeFolios.bind(hvo);
    const restoreFolio = hvo.restoreFolio.bind(hvo);
    const restoreFolios = hvo.restoreFolios.bind(hvo);
    hvo.optimizeFolio = (order: number, head: number) => {
      optimizeFolio(order, head);
      this.checkNow(order, head);
    };
    hvo.optimizeFolios = (order: number, heads: number[]) => {
      const list = [...heads];
      optimizeFolios(order, heads);
      for (const h of list) this.checkNow(order, h);
    };
    hvo.restoreFolio = (order: number, head: number) => {
      const rc = restoreFolio(order, head);
      if (rc === 0) this.checkNow(order, head, false);
      return rc;
    };
    hvo.restoreFolios = (order: number, heads: number[]) => {
      const r = restoreFolios(order, heads);
      for (const h of r.nonHvo) this.checkNow(order, h, false);
      return r;
    };
  }

  /** The pool's folios, head -> order. */
  private folios(): Map<number, number> {
    const pool = poolOf(this.k);
    const out = new Map<number, number>();
    if (pool) for (const [head, info] of pool.folios) out.set(head, info.h.order);
    return out;
  }

  /** Violations found since the last call, after an operation completed. */
  check(full = false): Violation[] {
    const k = this.k;
    const c = this.c;
    this.checks++;
    const everything = full || this.checks % this.fullEvery === 0;
    const out: Violation[] = this.pending.splice(0);
    if (everything || k.pgt.pteWrites !== this.lastPteWrites) {
      const stale = staleTlb(k);
      out.push(...stale);
    }
    this.lastPteWrites = k.pgt.pteWrites;
    if (c.mirror.refresh() || everything) c.shadow.reset();
    const folios = this.folios();
    // Touched: new folios, folios whose vmemmap translation changed.
    const todo = new Map<number, number>();
    if (everything) for (const [h, o] of folios) todo.set(h, o);
    else {
      // New folios not already checked when HVO returned them.
      for (const [h, o] of folios)
        if (this.knownFolios.get(h) !== o && !this.touched.has(h)) todo.set(h, o);
      // Folios whose vmemmap translation changed: those changed before a check on HVO's return
      // were checked then (after the change), unless HVO was working on other folios.
      const sps = k.spec.structPageSize;
      const ps = k.pageSize;
      let sorted: number[] | null = null;
      const mark = (vpn: number, skipTouched: boolean) => {
        sorted ??= [...folios.keys()].sort((a, b) => a - b);
        const pfn = Math.floor((vpn * ps) / sps);
        const h = floorHead(sorted, pfn);
        if (h === null || pfn >= h + 2 ** (folios.get(h) as number)) return;
        if (skipTouched && this.touched.has(h)) return;
        todo.set(h, folios.get(h) as number);
      };
      for (const vpn of this.stepChanges) mark(vpn, true);
      for (const ch of c.mirror.changes) mark(ch.vpn, false);
    }
    const memo = new Map();
    for (const [h, o] of todo) {
      this.foliosChecked++;
      out.push(
        ...checkFolio(c, { headPfn: h, order: o }, { memo, optimized: isOptimizedRaw(c, h) }),
      );
    }
    this.knownFolios = folios;
    this.touched.clear();
    this.stepChanges = [];
    // The whole-machine sweeps (every frame's state, memmap frames, buddy counters) cost a sort
    // of every block: they run with the full check, every `fullEvery` checks.
    if (everything) out.push(...frameTiling(k), ...memmapFrames(k), ...buddyCounters(k));
    out.push(...poolCounters(k), ...sharedTails(k));
    return dedupe(out);
  }

  /** Every folio the pool holds, as FolioRefs. */
  folioRefs(): FolioRef[] {
    return [...this.folios()].map(([headPfn, order]) => ({ headPfn, order }));
  }
}

function floorHead(sorted: number[], pfn: number): number | null {
  let lo = 0;
  let hi = sorted.length - 1;
  let best: number | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= pfn) {
      best = sorted[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

function dedupe(vs: Violation[]): Violation[] {
  const seen = new Set<string>();
  const out: Violation[] = [];
  for (const v of vs) {
    const key = `${v.invariant}|${v.detail}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(v);
  }
  return out;
}
