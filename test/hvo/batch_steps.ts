// Two models of one machine, a fast path on in one and off in the other, stepped through the
// same pool sizes and HVO switches (test/hvo/direct_walk, test/hvo/held_rest): both must agree
// after each optimise and restore batch, not only after each step (a batch may leave something
// wrong that the step's later work overwrites).
import { expect } from "vitest";
import type { Model } from "../../src/model.ts";
import { modelDigest, stepModels, tlbOrderDigest } from "../model_digest.ts";

const SWITCH = "/proc/sys/vm/hugetlb_optimize_vmemmap";
const HP = "/sys/kernel/mm/hugepages";
/** The 2 MiB and 1 GiB pool sizes. */
export const SMALL = `${HP}/hugepages-2048kB/nr_hugepages`;
export const GIANT = `${HP}/hugepages-1048576kB/nr_hugepages`;

/**
 * What two models of a fast path and its plain form must agree on: the whole digest (frames
 * too), the memmap's access counts, the TLB's flushes and the order of its fills.
 */
export const batchDigest = (m: Model): Record<string, string> => ({
  ...modelDigest(m, { pools: [SMALL, GIANT], frames: true }),
  accesses: `${m.k.memmap.reads} reads, ${m.k.memmap.writes} writes`,
  tlbFlushes: `${m.k.pgt.tlbFlushAlls} all, ${m.k.pgt.tlbFlushRanges} ranges`,
  tlb: tlbOrderDigest(m),
});

/** A step: a small pool size, HVO switched (true: on), or a 1 GiB pool size (a string). */
export type BatchStep = number | boolean | string;

/**
 * The digests of m taken after each of its optimise and restore batches, as they come (the
 * caller clears the array); `optimizing` is told when an optimise batch starts and ends.
 */
export function digestEachBatch(
  m: Model,
  digest: (m: Model) => Record<string, string>,
  optimizing?: (running: boolean) => void,
): Record<string, string>[] {
  const batches: Record<string, string>[] = [];
  const hvo = m.vmemmap;
  const optimizeFolios = hvo.optimizeFolios.bind(hvo);
  hvo.optimizeFolios = (order, heads, none) => {
    optimizing?.(true);
    try {
      optimizeFolios(order, heads, none);
    } finally {
      optimizing?.(false);
    }
    batches.push(digest(m));
  };
  const restoreFolios = hvo.restoreFolios.bind(hvo);
  hvo.restoreFolios = (order, heads, none) => {
    const r = restoreFolios(order, heads, none);
    batches.push(digest(m));
    return r;
  };
  return batches;
}

/**
 * fast and plain stepped through plan, then both pools emptied (small first), each side's
 * batches (digestEachBatch()) and the digest after each step compared.
 */
export function stepBothByBatch(
  fast: { m: Model; batches: Record<string, string>[] },
  plain: { m: Model; batches: Record<string, string>[] },
  plan: readonly BatchStep[],
  small: string,
  digest: (m: Model) => Record<string, string>,
): void {
  for (const step of [...plan, 0, "0"]) {
    const [path, value] =
      typeof step === "boolean"
        ? [SWITCH, step ? "1" : "0"]
        : typeof step === "string"
          ? [GIANT, step]
          : [small, String(step)];
    fast.batches.length = 0;
    plain.batches.length = 0;
    stepModels([fast.m, plain.m], path, value);
    const at = `after ${value} > ${path}`;
    expect(fast.batches, `${at}, HVO batches`).toEqual(plain.batches);
    expect(digest(fast.m), at).toEqual(digest(plain.m));
  }
}
