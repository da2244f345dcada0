// The frame ledger's tiling passes over pages allocated alone one after the other in one pass
// (src/check/frame_ledger.ts order0After()): two questions per page instead of the walk's
// dozen. It must find what the block-by-block walk finds: two ledgers, one walking each way,
// are given the same changes and compared, on seeded runs of `hvo check` operations (HVO
// restores leave runs of single vmemmap pages) and on machines broken inside such a run behind
// the allocator's back: a page of it also free, a larger allocation over it, a reservation in
// it. And each page order0After() passes over is one the walk would pass over alone.
import { describe, expect, it } from "vitest";
import {
  FrameLedger,
  allocationsHolding,
  freeBlockHolding,
  order0After,
} from "../../src/check/frame_ledger.ts";
import { type Violation, checkContext, frameTiling } from "../../src/check/invariants.ts";
import type { Kernel } from "../../src/kernel.ts";
import { DESIGNS } from "../../src/kernel.ts";
import { GFP_KERNEL } from "../../src/mm/page_alloc.ts";
import { checkModel, runSeed } from "./seeded_steps.ts";

/** Two ledgers on one kernel: by runs (the default) and block by block. */
function ledgers(k: Kernel): { runs: FrameLedger; blocks: FrameLedger } {
  const c = checkContext(k);
  const runs = new FrameLedger(c);
  const blocks = new FrameLedger(c);
  blocks.byRuns = false;
  return { runs, blocks };
}

/** Both ledgers' findings after the changes since the last call. */
function checkBoth(k: Kernel, l: { runs: FrameLedger; blocks: FrameLedger }): Violation[][] {
  const c = checkContext(k);
  c.mirror.refresh();
  const changes = c.mirror.drainLog().changes;
  return [l.runs.check(changes), l.blocks.check(changes)];
}

const key = (v: Violation) => `${v.invariant} ${v.pfn} ${v.detail}`;

/**
 * Pages q after p that order0After() passes over, each checked with the walk's own questions:
 * one order-0 block [q, q + 1), no free block, no reservation, present. Returns how many.
 */
function passedOver(k: Kernel, p: number): number {
  const present = k.onlineRanges();
  const pr = present.find((r) => p >= r.startPfn && p < r.endPfn);
  if (!pr) return 0;
  const end = pr.endPfn;
  const q1 = order0After(k, p, end, pr.endPfn);
  const held = [0, 0];
  for (let q = p + 1; q < q1; q++) {
    expect(freeBlockHolding(k.buddy, q), `free block at ${q} (from ${p})`).toBeNull();
    expect(allocationsHolding(k.buddy.allocations, q, held), `allocations at ${q}`).toBe(1);
    expect(held, `the block at ${q}`).toEqual([q, q + 1]);
    expect(k.memblock.findReserved(q), `reservation at ${q}`).toBeNull();
  }
  return q1 - p - 1;
}

/** First pfns of the single pages handed out that follow another single page. */
function singlePages(k: Kernel): number[] {
  const out: number[] = [];
  const allocs = k.buddy.allocations;
  for (const [pfn, a] of allocs) {
    if (a.order !== 0) continue;
    const b = allocs.get(pfn - 1);
    if (b === undefined || b.order !== 0) out.push(pfn);
  }
  return out;
}

describe("the frame ledger's pass over single pages", () => {
  for (const design of DESIGNS)
    it(`finds what the block-by-block walk finds over a seeded run (${design})`, () => {
      const m = checkModel(design);
      const k = m.model.k;
      const l = ledgers(k);
      expect(checkBoth(k, l)).toEqual([[], []]);
      let skipped = 0;
      runSeed(design, 11, 240, m, (i) => {
        const [a, b] = checkBoth(k, l);
        expect(a.map(key), `after op ${i}`).toEqual(b.map(key));
        if (i % 40 === 0) for (const p of singlePages(k)) skipped += passedOver(k, p);
      });
      // It passed over pages, not only stopped at each.
      expect(skipped).toBeGreaterThan(100);
    });

  /** A machine with a run of 64 single pages handed out, both ledgers up to date. */
  function withRun(design: (typeof DESIGNS)[number]) {
    const m = checkModel(design);
    const k = m.model.k;
    const l = ledgers(k);
    checkBoth(k, l);
    const pfns = k.buddy.allocPagesBulk(0, GFP_KERNEL, 64, "test", "pagetable");
    expect(pfns.length).toBe(64);
    const [a, b] = checkBoth(k, l);
    expect(a).toEqual([]);
    expect(b).toEqual([]);
    // The run is one stretch of consecutive pages, passed over whole from its first.
    const first = pfns[0];
    expect(pfns).toEqual(pfns.map((_, i) => first + i));
    expect(passedOver(k, first)).toBeGreaterThanOrEqual(8);
    return { k, l, first };
  }

  /** Both ledgers told of [from, from + n), then their findings (equal) and the sweep's. */
  function afterBreaking(
    k: Kernel,
    l: { runs: FrameLedger; blocks: FrameLedger },
    from: number,
    n: number,
  ): string[] {
    for (const f of k.buddy.listeners) f(from, n);
    const [a, b] = checkBoth(k, l);
    expect(a.map(key)).toEqual(b.map(key));
    return a.map((v) => `${v.invariant} ${v.pfn}`);
  }

  for (const design of ["legacy", "mainline"] as const) {
    it(`finds a page of the run that is also free (${design})`, () => {
      const { k, l, first } = withRun(design);
      const q = first + 5;
      // Freed (the allocator tells), then handed out again behind its back: free and allocated.
      k.buddy.freePages(q, 0);
      const told = k.buddy.allocations.listeners.splice(0);
      k.buddy.allocations.set(q, { order: 0, use: "pagetable", nid: 0 });
      k.buddy.allocations.listeners.push(...told);
      expect(frameTiling(k).map((v) => `${v.invariant} ${v.pfn}`)).toContain(`frame_state ${q}`);
      expect(afterBreaking(k, l, first, 64)).toContain(`frame_state ${q}`);
    });

    it(`stops where the walk would jump over a larger block (${design})`, () => {
      const { k, l, first } = withRun(design);
      // An order-2 block over four pages of the run, and its third page also free: the walk
      // takes the block whole and never looks at that page, so neither may the pass.
      const s = (Math.floor(first / 4) + 2) * 4;
      k.buddy.freePages(s + 2, 0);
      const told = k.buddy.allocations.listeners.splice(0);
      k.buddy.allocations.set(s + 2, { order: 0, use: "pagetable", nid: 0 });
      k.buddy.allocations.set(s, { order: 2, use: "kernel", nid: 0 });
      k.buddy.allocations.listeners.push(...told);
      expect(frameTiling(k).length).toBeGreaterThan(0);
      afterBreaking(k, l, first, 64);
    });

    it(`finds a reservation inside the run (${design})`, () => {
      const { k, l, first } = withRun(design);
      const q = first + 9;
      const res = k.memblock.reserved;
      const i = res.findIndex((r) => r.startPfn > q);
      res.splice(i < 0 ? res.length : i, 0, {
        startPfn: q,
        endPfn: q + 2,
        use: "kernel",
        nid: 0,
      } as (typeof res)[number]);
      expect(afterBreaking(k, l, first, 64)).toContain(`frame_state ${q}`);
    });
  }
});
