// The remap walk over PTE tables the frame store holds as bytes, by runs found from the entries
// (k.paths.pteRunsOfBytes, pgtable.ts pteRunsOfBytes()) against the same walk PTE by
// PTE. A PTE table maps the vmemmap of 64 2 MiB folios; HVO leaves two runs per folio (the head
// page, then one page seven times) and a restore at least two (the head, then the pages off the
// list), so past 64 runs such a table is bytes. The same pool steps on two models; after each,
// every vmemmap PTE word and struct page, the free lists, allocations, memblock.reserved, the
// counters and the log must be the same. One case fails a restore's page list part way.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { Faults } from "../../src/mm/fault_inject.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest, stepModels } from "../model_digest.ts";

const SMALL = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const SWITCH = "/proc/sys/vm/hugetlb_optimize_vmemmap";
const DESIGNS: readonly Design[] = ["legacy", "seed", "mainline", "mainline-7.1"];

function model(design: Design, byEntry: boolean, faults?: Faults): Model {
  const spec = machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30, nodes: 2 });
  const m = bootModel(spec, design, { faults });
  m.k.paths.pteRunsOfBytes = byEntry;
  return m;
}

const digest = (m: Model) => modelDigest(m, { pools: [SMALL] });

describe("the remap walk by runs read from a PTE table held as bytes equals the walk PTE by PTE", () => {
  for (const design of DESIGNS) {
    it(`${design}: grow and shrink 2 MiB pools over whole PTE tables, twice`, () => {
      const ms = [model(design, true), model(design, false)];
      // 200 folios fill three PTE tables (64 folios each) and part of a fourth.
      const steps: [string, string][] = [
        [SWITCH, "1"],
        [SMALL, "200"],
        [SMALL, "70"],
        [SMALL, "230"],
        [SMALL, "0"],
        [SMALL, "150"],
        [SMALL, "0"],
      ];
      for (const [path, value] of steps) {
        stepModels(ms, path, value);
        expect(digest(ms[0]), `${design} after ${value} > ${path}`).toEqual(digest(ms[1]));
      }
      const hvo = ms[0].vmemmap as HvoCore;
      expect(hvo.counters.vmemmapPagesFreed).toBeGreaterThan(0);
      expect(hvo.counters.vmemmapPagesAllocated).toBeGreaterThan(0);
    });
  }

  for (const design of DESIGNS) {
    it(`${design}: a restore whose page list fails part way`, () => {
      // The first shrink restores 150 folios (at most 7 pages each, 1,050); the 1,400th page
      // fails in the second, which restores over tables the first left as bytes.
      const faulty = () => new Faults().add({ site: "alloc_vmemmap_page_list", nth: 1400 });
      const ms = [model(design, true, faulty()), model(design, false, faulty())];
      for (const [path, value] of [
        [SWITCH, "1"],
        [SMALL, "150"],
        [SMALL, "0"],
        [SMALL, "150"],
        [SMALL, "0"],
        [SMALL, "0"],
      ] as [string, string][]) {
        stepModels(ms, path, value);
        expect(digest(ms[0]), `${design} after ${value} > ${path}`).toEqual(digest(ms[1]));
      }
      for (const m of ms) expect(m.k.buddy.failures.get("alloc_vmemmap_page_list")).toBe(1);
    });
  }
});
