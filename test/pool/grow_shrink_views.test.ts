// A pool grown and shrunk the short way against the plain way, on two models run side by side:
// - a grow's fresh folios with HVO off: the split walk's and the remap walk's reads of each
//   optimised flag counted, not made (hugetlb_vmemmap.ts HvoCore noneToOptimize);
// - a folio's own free-list links stored through the view of its head that its flags use, on
//   enqueue_hugetlb_folio() and remove_hugetlb_folio() (hugetlb.ts HugetlbPool headViewOnce);
// - two buddies freed as a pair that merge into a MAX_PAGE_ORDER block: the lower one's marks
//   at the lower order, made and undone, left to the merged block's marks that overwrite them,
//   and counted (page_alloc.ts PageAllocator pairMarksOnce);
// against the plain forms, each switched off alone and all together. Seeded sequences of pool
// sizes, HVO switched on and off between them, on one node and two, legacy and mainline, and
// arm64 with 16 KiB pages (two 2 MiB folios share a vmemmap page); after each step the vmemmap,
// buddy, allocations, counters, meminfo, pools and log must be the same, and so must the struct
// page reads and writes the memmap counted.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import type { FastPathName } from "../../src/mm/fast_paths.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest, stepModels } from "../model_digest.ts";

const SMALL = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const SWITCH = "/proc/sys/vm/hugetlb_optimize_vmemmap";
const SEED = 0x5117;

const NEW_PATHS: FastPathName[] = ["noneToOptimize", "headViewOnce", "pairMarksOnce"];

function model(arch: string, design: Design, nodes: number, plain: FastPathName[]): Model {
  const spec = machinePreset(arch, { memoryBytes: 2 * 2 ** 30, nodes });
  const m = bootModel(spec, design);
  const { paths } = m.k;
  if (plain.includes("noneToOptimize")) paths.noneToOptimize = false;
  if (plain.includes("headViewOnce")) paths.headViewOnce = false;
  if (plain.includes("pairMarksOnce")) paths.pairMarksOnce = false;
  return m;
}

const digest = (m: Model): Record<string, string> => ({
  ...modelDigest(m, { pools: [SMALL] }),
  accesses: `${m.k.memmap.reads} reads, ${m.k.memmap.writes} writes`,
  tlbFlushes: `${m.k.pgt.tlbFlushAlls} all, ${m.k.pgt.tlbFlushRanges} ranges`,
});

/** A step: a pool size, or HVO switched (true: on). */
type Step = number | boolean;
const steps = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 0, max: 48 }) },
    { weight: 1, arbitrary: fc.boolean() },
  ),
  { minLength: 4, maxLength: 9 },
);

describe("a pool grown and shrunk the short way equals the plain way", () => {
  const plans = fc.sample(steps, { seed: SEED, numRuns: 2 });
  // The fixed plan first: a grow from empty and a shrink to empty with HVO off (all three paths
  // taken, the pair merging at MAX_PAGE_ORDER), then HVO on and a mixed pool.
  const fixed: Step[] = [40, 0, 24, 7, true, 30, false, 36, 0];
  for (const [arch, design, nodes] of [
    ["x86_64", "legacy", 1],
    ["x86_64", "legacy", 2],
    ["x86_64", "mainline", 1],
    ["arm64-16k", "mainline", 1],
  ] as Array<[string, Design, number]>) {
    // Each path alone in its plain form on the first machine; all three on the others.
    const alone = arch === "x86_64" && design === "legacy" && nodes === 1;
    for (const plain of alone ? [NEW_PATHS, ...NEW_PATHS.map((n) => [n])] : [NEW_PATHS]) {
      it(`${arch}, ${design}, ${nodes} node(s), plain: ${plain.join(", ")}`, () => {
        const ms = [model(arch, design, nodes, []), model(arch, design, nodes, plain)];
        const writes0 = ms[0].k.memmap.writes;
        for (const [r, plan] of [fixed, ...plans].entries()) {
          for (const step of [...plan, 0]) {
            const [path, value] =
              typeof step === "boolean" ? [SWITCH, step ? "1" : "0"] : [SMALL, String(step)];
            stepModels(ms, path, value);
            expect(digest(ms[0]), `plan ${r}: after ${value} > ${path}`).toEqual(digest(ms[1]));
          }
        }
        // The steps did grow the pool and move the counters they compare.
        expect(ms[0].k.memmap.writes).toBeGreaterThan(writes0);
        expect(ms[0].read(SMALL).trim()).toBe("0");
      });
    }
  }
});
