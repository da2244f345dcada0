// The incremental checker. After each operation: the folios it touched (new ones, ones whose
// vmemmap mapping changed, ones HVO optimised or restored - those checked the moment HVO
// returns, before the pool frees them), the frame invariants over what changed (frame_ledger.ts)
// and the pool's and shared tails' invariants. Every `fullEvery` checks, and when asked (the
// last step of a run), everything from scratch: every folio and the whole-machine sweeps of
// invariants.ts, which also check the ledger's bookkeeping. Kernel counterparts: see
// invariants.ts. Pure and browser-safe.

import { lastAtOrBelow } from "../include/bsearch.ts";
import { pow2 } from "../include/pow2.ts";
import type { Kernel } from "../kernel.ts";
import type { RestoreBatchResult } from "../mm/hugetlb_vmemmap_api.ts";
import type { Step } from "../scenario/format.ts";
import { FrameLedger } from "./frame_ledger.ts";
import { PoolRules, type ResvHolders, reservationCounters } from "./pool_ref.ts";
import {
  type CheckContext,
  type FolioRef,
  type OwnBytesMemo,
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
  staleTlbOf,
} from "./invariants.ts";

/**
 * The default of CheckerOptions.fullEvery: a full audit costs about as much as a thousand
 * incremental checks on the 4 GiB machine, so one in 1024 keeps it a few per cent of a run.
 */
export const FULL_EVERY = 1024;

export interface CheckerOptions {
  /** Everything from scratch every this many checks. Default FULL_EVERY. */
  fullEvery?: number;
  /**
   * A clock in milliseconds (the bench passes performance.now): with one, the checker adds up
   * the time each invariant takes in `timings`; without one it takes none.
   */
  clock?: () => number;
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
  /** The pool's folios at the last check, head -> order. */
  private readonly knownFolios = new Map<number, number>();
  /** The pool's version (HugetlbPool.version) knownFolios was brought up to date at. */
  private poolVersion = -1;
  /** The heads of knownFolios in increasing order (null: to be sorted again). */
  private sortedHeads: Float64Array | null = null;

  private sortHeads(): Float64Array {
    const out = new Float64Array(this.knownFolios.size);
    let i = 0;
    for (const h of this.knownFolios.keys()) out[i++] = h;
    out.sort();
    this.sortedHeads = out;
    return out;
  }
  private readonly ledger: FrameLedger;
  /** Violations found inside an operation (right after HVO returned). */
  private pending: Violation[] = [];
  /**
   * Folios checked inside the current operation (head -> the order checked, and the size of
   * the mirror's change log right after the check: a change logged before it was seen by it).
   */
  private touched = new Map<number, { order: number; at: number }>();
  /**
   * The mappings and hugetlbfs whose reservation maps resv_hugepages must agree with (set by
   * whoever runs the steps); null: resv_hugepages is only checked against its bounds.
   */
  resvHolders: (() => ResvHolders) | null = null;
  /** The surplus rules across steps (pool_ref.ts). */
  private readonly poolRules = new PoolRules();
  /** Folios checked, in total (for reports and benchmarks). */
  foliosChecked = 0;
  /** Milliseconds spent per invariant, when a clock was given (for `npm run bench`). */
  readonly timings: Record<string, number> = {};
  private readonly clock: (() => number) | undefined;

  constructor(
    readonly k: Kernel,
    opts: CheckerOptions = {},
  ) {
    this.c = checkContext(k);
    this.fullEvery = Math.max(1, opts.fullEvery ?? FULL_EVERY);
    this.clock = opts.clock;
    this.ledger = new FrameLedger(this.c);
    this.watchHvo();
    const pool = poolOf(k);
    if (pool)
      pool.listener = {
        returnUnusedSurplus: (h, unused, surplus, taken) => {
          for (const v of this.poolRules.returnUnusedSurplus(pool, h, unused, surplus, taken))
            this.pending.push(v);
        },
      };
    this.c.mirror.refresh();
    this.c.mirror.drainLog();
  }

  private timed<T>(name: string, f: () => T): T {
    const clock = this.clock;
    if (!clock) return f();
    const t0 = clock();
    const r = f();
    this.timings[name] = (this.timings[name] ?? 0) + clock() - t0;
    return r;
  }

  /** Checks one folio now (the mirror refreshed first: HVO may have just remapped it). */
  private checkNow(order: number, head: number, optimized?: boolean): void {
    if (this.clock)
      this.timed("folios (on HVO's return)", () => this.checkNowUntimed(order, head, optimized));
    else this.checkNowUntimed(order, head, optimized);
  }

  private checkNowUntimed(order: number, head: number, optimized?: boolean): void {
    const mirror = this.c.mirror;
    mirror.refresh();
    this.touched.set(head, { order, at: mirror.logSize() });
    this.foliosChecked++;
    const found = checkFolio(this.c, { headPfn: head, order }, { optimized });
    for (let i = 0; i < found.length; i++) this.pending.push(found[i]);
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

  /**
   * After every step (checked or not), once the pool has settled: the rules that relate the
   * counters before and after one step. `step` null: no step, take the counters as they are (boot,
   * reset). `faulted`: an allocation failure was injected during the step.
   */
  afterStep(step: Step | null, faulted = false): void {
    const pool = poolOf(this.k);
    if (!pool) return;
    if (step === null) this.poolRules.baseline(pool);
    else
      for (const v of this.timed("pool counters", () =>
        this.poolRules.afterStep(pool, step, faulted),
      ))
        this.pending.push(v);
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
    const out: Violation[] = this.pending.splice(0);
    const audit = full || this.checks % this.fullEvery === 0;
    // The full audit compares every page table with the mirror, not only those seen written.
    if (audit) c.mirror.whole();
    c.mirror.refresh();
    // Every change since the last check, those seen in the middle of the operation too.
    const log = c.mirror.drainLog();
    const everything = audit || log.overflow;
    // A TLB entry goes stale only where a translation changed: those, or every entry (the full
    // pass also finds one filled from a translation that changed and changed back between two
    // checks, which the mirror does not log).
    if (everything) out.push(...this.timed("stale TLB", () => staleTlb(k)));
    else if (log.changes.length)
      out.push(
        ...this.timed("stale TLB", () =>
          staleTlbOf(k, log.changes, (vpn) => c.mirror.translate(vpn)),
        ),
      );
    // The pool's folios (head -> order) brought up to date in place: every folio, or the new
    // ones not already checked when HVO returned them, to check.
    const folios = this.knownFolios;
    const todo = new Map<number, number>();
    const pool = poolOf(k);
    let nr = 0;
    // The pool's folios as they were at the last check (the same version): nothing to bring
    // up to date, nothing new to check.
    const samePool = !everything && pool !== null && pool.version === this.poolVersion;
    if (pool && !samePool) {
      this.poolVersion = pool.version;
      for (const [h, info] of pool.folios) {
        const o = info.h.order;
        nr++;
        if (folios.get(h) !== o) {
          folios.set(h, o);
          this.sortedHeads = null;
          if (!everything && this.touched.get(h)?.order !== o) todo.set(h, o);
        }
        if (everything) todo.set(h, o);
      }
    } else if (samePool) nr = folios.size;
    // Folios that left the pool.
    if (folios.size !== nr) {
      for (const h of folios.keys()) if (!pool?.folios.has(h)) folios.delete(h);
      this.sortedHeads = null;
    }
    if (!everything) {
      // Folios whose vmemmap translation changed after they were last checked (on HVO's
      // return, a change logged before that check was seen by it).
      if (log.changes.length) {
        const sps = k.spec.structPageSize;
        const ps = k.pageSize;
        const sorted = this.sortedHeads ?? this.sortHeads();
        // The index of the last head at or below the pfn: the one found for the change before
        // when it still is (a folio's vmemmap pages change one after the other), else searched.
        let i = -1;
        for (let j = 0; j < log.changes.length; j++) {
          const pfn = Math.floor((log.changes[j].vpn * ps) / sps);
          if (i < 0 || sorted[i] > pfn || (i + 1 < sorted.length && sorted[i + 1] <= pfn))
            i = lastAtOrBelow(sorted, pfn, (x) => x);
          if (i < 0) continue;
          const h = sorted[i];
          if (todo.has(h)) continue;
          const o = folios.get(h) as number;
          if (pfn >= h + pow2(o)) continue;
          const seen = this.touched.get(h);
          if (seen === undefined || seen.order !== o || j >= seen.at) todo.set(h, o);
        }
      }
    }
    this.timed("folios", () => {
      const memo = new Map();
      const own: OwnBytesMemo = { bytes: null, summary: null };
      for (const [h, o] of todo) {
        this.foliosChecked++;
        out.push(
          ...checkFolio(
            c,
            { headPfn: h, order: o },
            { memo, own, optimized: isOptimizedRaw(c, h) },
          ),
        );
      }
    });
    this.touched.clear();
    out.push(...this.timed("frames", () => this.ledger.check(log.changes)));
    if (everything)
      out.push(
        ...this.timed("full sweeps", () => [
          ...frameTiling(k),
          ...memmapFrames(k),
          ...buddyCounters(k),
        ]),
      );
    // The full audit reads everything again: no verdict kept from an earlier pass.
    if (everything) {
      c.poolMemo = undefined;
      c.tailBytesAt?.clear();
      c.fillSummaries = undefined;
    }
    out.push(...this.timed("pool counters", () => poolCounters(k)));
    if (pool && this.resvHolders) {
      const holders = this.resvHolders();
      out.push(...this.timed("pool counters", () => reservationCounters(pool, holders)));
    }
    out.push(...this.timed("shared tails", () => sharedTails(k)));
    return dedupe(out);
  }

  /** Every folio the pool holds, as FolioRefs. */
  folioRefs(): FolioRef[] {
    return [...this.folios()].map(([headPfn, order]) => ({ headPfn, order }));
  }
}

function dedupe(vs: Violation[]): Violation[] {
  // After almost every step there is nothing to report.
  if (vs.length < 2) return vs;
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
