// Two models stepped side by side through seeded pool sizes, one with a fast path of the pool's
// grow and shrink on and one with it off (test/pool/leaf_memo, test/pool/alloc_pairs): after
// each step the vmemmap, buddy, allocations (and their order), the pool's folios (in its map's
// order), counters, meminfo, pools and log must be the same, and so must the TLB (its pages in iteration order and their translations)
// and the struct page reads and writes the memmap counted.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { expect } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest, stepModels, tlbOrderDigest } from "../model_digest.ts";

export const SMALL = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
export const GIGANTIC = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
const SWITCH = "/proc/sys/vm/hugetlb_optimize_vmemmap";

/** The machines the pool's fast paths are compared on: design and nodes (2 GiB, x86_64). */
export const SIDE_BY_SIDE_MACHINES: ReadonlyArray<readonly [Design, number]> = [
  ["legacy", 1],
  ["legacy", 2],
  ["mainline", 1],
];

/** A step: a 2 MiB pool size, a 1 GiB one (as [n]), or HVO switched (true: on). */
export type Step = number | [number] | boolean;

/** Seeded plans of steps: 2 MiB pools up to 500 folios (2 GiB machines), a few 1 GiB ones. */
export function plans(seed: number, runs: number): Step[][] {
  const step = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 500 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 1 }).map((n): [number] => [n]) },
    { weight: 1, arbitrary: fc.boolean() },
  );
  return fc.sample(fc.array(step, { minLength: 3, maxLength: 6 }), { seed, numRuns: runs });
}

/** The allocation map's blocks in its own order (the order offline_pages()' scan visits). */
function allocationOrder(m: Model): string {
  const h = createHash("sha256");
  m.k.buddy.allocations.forEachBlock((pfn) => {
    h.update(`${pfn};`);
    return true;
  });
  return h.digest("hex");
}

function digest(m: Model): Record<string, string> {
  return {
    ...modelDigest(m, { pools: [SMALL, GIGANTIC] }),
    allocationOrder: allocationOrder(m),
    folios: [...m.pool.folios].map(([f, i]) => `${f}:${i.h.order}:${i.nid}:${i.list}`).join(" "),
    tlb: tlbOrderDigest(m),
    accesses: `${m.k.memmap.reads} reads, ${m.k.memmap.writes} writes`,
    tlbFlushes: `${m.k.pgt.tlbFlushAlls} all, ${m.k.pgt.tlbFlushRanges} ranges`,
  };
}

/**
 * A 2 GiB x86_64 machine of `design` on `nodes` nodes with a fast path on and one with it off
 * (`set` switches it after boot; `prepare` runs on each), stepped through `plan`s, each ended by
 * emptying both pools; the digests compared after every step.
 */
export function compareSideBySide(
  set: (m: Model, on: boolean) => void,
  design: Design,
  nodes: number,
  planList: readonly Step[][],
  prepare: (m: Model) => void = () => {},
): void {
  const ms = [true, false].map((on) => {
    const m = bootModel(machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30, nodes }), design);
    set(m, on);
    prepare(m);
    return m;
  });
  const writes0 = ms[0].k.memmap.writes;
  for (const [r, plan] of planList.entries()) {
    for (const step of [...plan, 0, [0] as [number]]) {
      const [file, value] =
        typeof step === "boolean"
          ? [SWITCH, step ? "1" : "0"]
          : Array.isArray(step)
            ? [GIGANTIC, String(step[0])]
            : [SMALL, String(step)];
      stepModels(ms, file, value);
      expect(digest(ms[0]), `plan ${r}: after ${value} > ${file}`).toEqual(digest(ms[1]));
    }
  }
  // The steps did grow the pool and fill the TLB.
  expect(ms[0].k.memmap.writes).toBeGreaterThan(writes0);
  expect(ms[0].k.pgt.tlbSize).toBeGreaterThan(0);
  expect(ms[0].read(SMALL).trim()).toBe("0");
}
