// free_vmemmap_page_list() and alloc_vmemmap_page_list() through the buddy allocator's bulk
// calls against the same lists a page at a time (k.paths.vmemmapBulk false): the same pool steps on
// two models, and after each step every struct page (read through the page tables, frame by
// frame), every PTE of the vmemmap, the free lists, the allocations, memblock.reserved, the
// counters and the kernel log must be the same. Steps grow and shrink 2 MiB and 1 GiB pools
// with HVO on, so that boot memmap pages (PageReserved) and buddy pages are freed, and pages
// are allocated back; one case fails the allocation in the middle of a 1 GiB restore.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { Faults } from "../../src/mm/fault_inject.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";

const GiB = 2 ** 30;
const DESIGNS: readonly Design[] = ["legacy", "seed", "mainline", "mainline-7.1"];
const H2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const H1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";

function model(design: Design, bulk: boolean, faults?: Faults, piece?: number): Model {
  const spec = machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 });
  const m = bootModel(spec, design, { faults });
  m.k.paths.vmemmapBulk = bulk;
  if (piece !== undefined) (m.vmemmap as HvoCore).pageListPiece = piece;
  return m;
}

/** What the two models must agree on (the memmap alone is 24 MiB: only where asked). */
const digest = (m: Model, withMemmap = true) =>
  modelDigest(m, { memmap: withMemmap, pools: [H2M, H1G] });

const STEPS: [string, string][] = [
  ["/proc/sys/vm/hugetlb_optimize_vmemmap", "1"],
  [H2M, "300"],
  [H1G, "2"],
  [H2M, "100"],
  [H1G, "1"],
  [H2M, "400"],
  [H1G, "2"],
  [H1G, "0"],
  [H2M, "0"],
];
/** The steps after which the whole memmap is compared (the rest compare the allocator). */
const FULL = new Set([2, 4, 7, 8]);

describe("vmemmap page lists freed and allocated in bulk equal a page at a time", () => {
  for (const design of DESIGNS) {
    it(`${design}: every struct page, PTE, free list and counter after each step`, () => {
      const bulk = model(design, true);
      const single = model(design, false);
      for (const [i, [path, value]] of STEPS.entries()) {
        bulk.write(path, value);
        bulk.settle();
        single.write(path, value);
        single.settle();
        const full = FULL.has(i);
        expect(digest(bulk, full), `${design} after ${value} > ${path}`).toEqual(
          digest(single, full),
        );
      }
      // The steps did what they are for: 1 GiB folios optimised and given back.
      expect((bulk.vmemmap as HvoCore).counters.vmemmapPagesAllocated).toBeGreaterThan(4095);
      expect((bulk.vmemmap as HvoCore).counters.vmemmapPagesFreed).toBeGreaterThan(2 * 4095);
    });
  }

  // A batch of 65,000 1 GiB folios puts 266 million pages on one list: it is freed a piece at a
  // time, and a run of pages cut at a piece's end is freed as two bulk runs. Pieces of 1000
  // pages cut the 4095 pages of a 1 GiB folio and the 7 x 300 of a 2 MiB batch.
  for (const design of ["legacy", "mainline"] as const) {
    it(`${design}: the list freed in pieces of 1000 pages equals a page at a time`, () => {
      const pieces = model(design, true, undefined, 1000);
      const single = model(design, false);
      for (const [i, [path, value]] of STEPS.entries()) {
        for (const m of [pieces, single]) {
          m.write(path, value);
          m.settle();
        }
        const full = FULL.has(i);
        expect(digest(pieces, full), `${design} after ${value} > ${path}`).toEqual(
          digest(single, full),
        );
      }
    });
  }

  it("a restore that fails in the middle frees what it got, as the singles do", () => {
    // The 3000th page of alloc_vmemmap_page_list() fails: the 1 GiB folio stays optimised.
    const faulty = () => new Faults().add({ site: "alloc_vmemmap_page_list", nth: 3000 });
    const bulk = model("mainline", true, faulty());
    const single = model("mainline", false, faulty());
    for (const [path, value] of [...STEPS.slice(0, 3), [H1G, "0"]] as [string, string][]) {
      for (const m of [bulk, single]) {
        m.write(path, value);
        m.settle();
      }
    }
    expect(digest(bulk)).toEqual(digest(single));
    expect(bulk.k.buddy.failures.get("alloc_vmemmap_page_list")).toBe(1);
  });
});
