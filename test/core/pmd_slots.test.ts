// HVO's remap walks (src/mm/hugetlb_vmemmap.ts vmemmapRemapRange()) find the PMD of each 2 MiB of
// a folio's vmemmap with KernelPageTables.slot(). With pmdSlots, a PMD slot starts from the
// PMD-level table the last one reached for the same 1 GiB span of vmemmap, while no write was
// made above the PMD level (pgtEpochHigh); the plain form walks from the top each time. On a
// 128 GiB machine of two nodes the vmemmap spans two PMD-level tables (1 GiB of vmemmap maps 64
// GiB of memory), and the pool's 1 GiB folios alternate between them. Two models, one on each
// form, take the same seeded pool steps and after each must agree on every vmemmap page's
// translation of every folio in the pools, the counters (PTE writes and flushes among them),
// the free lists, allocations, meminfo, the pools and the log. Seeded (fast-check, fixed seed).
// No pool step writes above the PMD level; test/core/walk_cache_pmd.test.ts makes such writes
// between PMD-level slots.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest, stepModels } from "../model_digest.ts";

const GiB = 2 ** 30;
const H2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const H1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
const HVO = "/proc/sys/vm/hugetlb_optimize_vmemmap";
type Step = [string, string];

function model(design: Design, fast: boolean): Model {
  const md = bootModel(machinePreset("x86_64", { memoryBytes: 128 * GiB, nodes: 2 }), design);
  md.k.paths.pmdSlots = fast;
  return md;
}

/** Every pool folio's vmemmap pages (64-byte struct pages): page, frame, writable. */
function folioVmemmap(md: Model): number[] {
  const k = md.k;
  const out: number[] = [];
  for (const head of [...md.pool.folios.keys()].sort((x, y) => x - y)) {
    const order = md.pool.folios.get(head)?.h.order ?? 0;
    const first = (head * 64) / 4096;
    for (let v = first; v < first + (2 ** order * 64) / 4096; v++) {
      const t = k.pgt.walkPage(v);
      out.push(v, t ? t.frame : -1, t?.writable ? 1 : 0);
    }
  }
  return out;
}

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.integer({ min: 0, max: 6 }).map((n): Step => [H1G, String(n)]),
  fc.integer({ min: 0, max: 200 }).map((n): Step => [H2M, String(n)]),
  fc.constantFrom<Step>([HVO, "0"], [HVO, "1"]),
);

describe("a PMD slot found from the PMD-level table of its span is the walk's from the top", () => {
  for (const design of ["legacy", "mainline"] as const)
    it(`x86_64 128 GiB, 2 nodes, ${design}: translations, counters and lists after each seeded step`, () => {
      fc.assert(
        fc.property(fc.array(stepArb, { minLength: 2, maxLength: 6 }), (steps) => {
          const fast = model(design, true);
          const plain = model(design, false);
          const all: Step[] = [[HVO, "1"], [H1G, "4"], ...steps, [H1G, "0"], [H2M, "0"]];
          for (const [i, [path, value]] of all.entries()) {
            stepModels([fast, plain], path, value);
            const at = `step ${i}: ${value} > ${path}`;
            expect(folioVmemmap(fast), at).toEqual(folioVmemmap(plain));
            expect(
              modelDigest(fast, { memmap: false, frames: false, pools: [H2M, H1G] }),
              at,
            ).toEqual(modelDigest(plain, { memmap: false, frames: false, pools: [H2M, H1G] }));
          }
        }),
        { seed: 20261208, numRuns: 4 },
      );
    });
});
