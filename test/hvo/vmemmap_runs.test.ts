// The remap walk a run of PTEs at a time (k.paths.pteRuns, hugetlb_vmemmap.ts
// vmemmapPteRange()) against the same walk PTE by PTE: the same pool steps on two models, and
// after each step every vmemmap PTE word, every struct page (read through the page tables),
// the free lists, the allocations, memblock.reserved, the counters (PTE writes, pages
// allocated and freed, splits, rollbacks) and the kernel log must be the same. Steps grow and
// shrink 2 MiB and 1 GiB pools with HVO on, fixed and seeded-random; one case fails a split in
// the middle of a batch (a rollback walk), one an allocation in the middle of a restore.
// x86_64 keeps PTE tables as runs of words (the run path); arm64 with 16 KiB pages keeps them
// as bytes, where both walks must go PTE by PTE and still agree.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { Faults } from "../../src/mm/fault_inject.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";

const GiB = 2 ** 30;
const DESIGNS: readonly Design[] = ["legacy", "seed", "mainline", "mainline-7.1"];

interface Arch {
  preset: string;
  memory: number;
  /** The pool files of the two sizes the steps use (small, large). */
  small: string;
  large: string;
}
const X86: Arch = {
  preset: "x86_64",
  memory: 4 * GiB,
  small: "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
  large: "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
};
const ARM16K: Arch = {
  preset: "arm64-16k",
  memory: 4 * GiB,
  small: "/sys/kernel/mm/hugepages/hugepages-32768kB/nr_hugepages",
  large: "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
};

function model(arch: Arch, design: Design, runs: boolean, faults?: Faults): Model {
  const spec = machinePreset(arch.preset, { memoryBytes: arch.memory, nodes: 2 });
  const m = bootModel(spec, design, { faults });
  m.k.paths.pteRuns = runs;
  return m;
}

/** What the two models must agree on (the pools of both sizes the steps use). */
const digest = (m: Model) => modelDigest(m, { pools: [X86.small, X86.large] });

function both(a: Model, b: Model, path: string, value: string): void {
  for (const m of [a, b]) {
    m.write(path, value);
    m.settle();
  }
}

const SWITCH = "/proc/sys/vm/hugetlb_optimize_vmemmap";

describe("the remap walk in runs of PTEs equals the walk PTE by PTE", () => {
  for (const arch of [X86, ARM16K]) {
    for (const design of DESIGNS) {
      it(`${arch.preset}, ${design}: every PTE, struct page, list and counter after each step`, () => {
        const runs = model(arch, design, true);
        const single = model(arch, design, false);
        const steps: [string, string][] = [
          [SWITCH, "1"],
          [arch.small, "20"],
          [arch.large, "2"],
          [arch.small, "5"],
          [arch.large, "1"],
          [arch.small, "30"],
          [arch.large, "2"],
          [arch.large, "0"],
          [arch.small, "0"],
        ];
        for (const [path, value] of steps) {
          both(runs, single, path, value);
          expect(digest(runs), `${design} after ${value} > ${path}`).toEqual(digest(single));
        }
        // The steps did what they are for: folios optimised and restored.
        const hvo = runs.vmemmap as HvoCore;
        expect(hvo.counters.vmemmapPagesAllocated).toBeGreaterThan(0);
        expect(hvo.counters.vmemmapPagesFreed).toBeGreaterThan(0);
      });
    }
  }

  for (const design of DESIGNS) {
    it(`x86_64, ${design}: seeded random pool sizes (seed 711)`, () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 40 })),
            { minLength: 1, maxLength: 5 },
          ),
          (ops) => {
            const runs = model(X86, design, true);
            const single = model(X86, design, false);
            both(runs, single, SWITCH, "1");
            for (const [large, g, s] of ops) {
              const [path, value] = large ? [X86.large, String(g)] : [X86.small, String(s * 10)];
              both(runs, single, path, value);
              expect(digest(runs), `${value} > ${path}`).toEqual(digest(single));
            }
          },
        ),
        { seed: 711, numRuns: 2, verbose: fc.VerbosityLevel.Verbose },
      );
    });
  }

  for (const design of DESIGNS) {
    it(`x86_64, ${design}: a split that fails in a batch, and a restore short of pages`, () => {
      // The 5th PMD split fails (the second 1 GiB folio's); the 3000th page of a restore's
      // list fails: the rollback and the failed restore leave the same state both ways.
      const faulty = () =>
        new Faults()
          .add({ site: "vmemmap_split_pmd", nth: 12 })
          .add({ site: "alloc_vmemmap_page_list", nth: 3000 });
      const runs = model(X86, design, true, faulty());
      const single = model(X86, design, false, faulty());
      for (const [path, value] of [
        [SWITCH, "1"],
        [X86.large, "2"],
        [X86.small, "40"],
        [X86.large, "0"],
        [X86.small, "0"],
      ] as [string, string][]) {
        both(runs, single, path, value);
        expect(digest(runs), `${design} after ${value} > ${path}`).toEqual(digest(single));
      }
      expect(runs.k.buddy.failures.get("vmemmap_split_pmd")).toBe(1);
    });
  }
});
