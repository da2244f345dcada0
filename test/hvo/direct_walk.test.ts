// A batch's direct walks of each 2 MiB folio (hugetlb_vmemmap.ts HvoCore splitDirect(),
// remapDirect(), restoreDirect(); fast path directWalk) against vmemmapRemapRange() with its
// callbacks, on two models run side by side: seeded sequences of 2 MiB pool sizes, HVO switched
// on and off, a 1 GiB folio now and then (its vmemmap spans PMDs: the generic walk), on x86_64
// legacy with one node and two, and mainline (which splits directly and walks the rest). arm64
// has no PTE runs, so it never walks directly. After each step, and after each optimise and
// restore batch (before the folios are enqueued or freed, which overwrites most of what a restore
// stored), the vmemmap, buddy, allocations, counters, meminfo, pools and log must be the same,
// and so must the struct page reads and writes, the TLB flushes and every translation the TLB
// holds.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest, tlbDigest } from "../model_digest.ts";
import { type BatchStep, digestEachBatch, stepBothByBatch } from "./batch_steps.ts";

const HP = "/sys/kernel/mm/hugepages";
const GIANT = `${HP}/hugepages-1048576kB/nr_hugepages`;
const SEED = 0x4e59;

/** A model, and the digests taken after each of its HVO batches (cleared by the test). */
function model(
  design: Design,
  nodes: number,
  direct: boolean,
  small: string,
): { m: Model; batches: Record<string, string>[] } {
  const m = bootModel(machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30, nodes }), design);
  m.k.paths.directWalk = direct;
  const batches = digestEachBatch(m, (x) => digest(x, small));
  return { m, batches };
}

const digest = (m: Model, small: string): Record<string, string> => ({
  ...modelDigest(m, { pools: [small, GIANT] }),
  accesses: `${m.k.memmap.reads} reads, ${m.k.memmap.writes} writes`,
  tlbFlushes: `${m.k.pgt.tlbFlushAlls} all, ${m.k.pgt.tlbFlushRanges} ranges`,
  tlb: tlbDigest(m),
});

type Step = BatchStep;
const steps = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 70 }) },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: fc.constantFrom("0", "1") },
  ),
  { minLength: 5, maxLength: 10 },
);

describe("an HVO batch walks each 2 MiB folio directly as the generic walk does", () => {
  const plans = fc.sample(steps, { seed: SEED, numRuns: 1 });
  // The fixed plan: grows and shrinks with HVO on (folios restored in batches, some of them
  // freed and grown again, so the restore lands on pages freed by earlier ones), a shrink with
  // HVO off after a grow with it on, and a 1 GiB folio among the 2 MiB ones.
  const fixed: Step[] = [true, 70, 0, 60, 20, 65, false, 10, true, "1", 50, "0", 0];
  // A seeded plan starts with HVO on (so that it has batches to walk).
  // Mainline splits its batches the same way, and remaps and restores the generic way.
  for (const [design, nodes, name, plan] of [
    ["legacy", 1, "the fixed plan", fixed],
    ["legacy", 1, "a seeded plan", [true, ...plans[0]]],
    ["legacy", 2, "the fixed plan", fixed],
    ["mainline", 1, "the fixed plan", fixed],
  ] as Array<[Design, number, string, Step[]]>) {
    it(`x86_64, ${design}, ${nodes} node(s), ${name}`, () => {
      const small = `${HP}/hugepages-2048kB/nr_hugepages`;
      const [fast, plain] = [model(design, nodes, true, small), model(design, nodes, false, small)];
      const ms = [fast.m, plain.m];
      // How often each direct walk was taken (a comparison of two generic walks proves nothing).
      const taken = { splitDirect: 0, remapDirect: 0, restoreDirect: 0 };
      const hvo = fast.m.vmemmap as unknown as Record<
        keyof typeof taken,
        (...a: unknown[]) => boolean
      >;
      for (const name of Object.keys(taken) as (keyof typeof taken)[]) {
        const walk = hvo[name].bind(hvo);
        hvo[name] = (...a: unknown[]) => {
          const r = walk(...a);
          if (r) taken[name]++;
          return r;
        };
      }
      stepBothByBatch(fast, plain, plan, small, (x) => digest(x, small));
      expect(taken.splitDirect).toBeGreaterThan(10);
      if (design === "legacy") {
        expect(taken.remapDirect).toBeGreaterThan(10);
        expect(taken.restoreDirect).toBeGreaterThan(10);
      }
      expect(ms[0].read(small).trim()).toBe("0");
    });
  }
});
