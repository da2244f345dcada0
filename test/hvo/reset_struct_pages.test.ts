// reset_struct_pages() (hugetlb_vmemmap.ts resetStructPages()) moving struct pages 4..7 over
// 0..3 in the frame's own bytes (k.paths.resetInPlace) against reading them out and writing
// them back: the same pool steps on two models, then a restore of every pool folio by hand (the
// restored vmemmap pages stay mapped, so their struct pages are read through the page tables),
// then the pool shrunk to nothing; after each, every vmemmap PTE and struct page, the free
// lists, allocations, counters and log must be the same. Legacy and seed restore by
// copy_page() of the head vmemmap page then reset_struct_pages(); the later designs do not.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { hugetlbHeads, modelDigest, stepModels } from "../model_digest.ts";

const SMALL = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const SWITCH = "/proc/sys/vm/hugetlb_optimize_vmemmap";
const ORDER_2M = 21 - 12; // a 2 MiB folio of 4 KiB pages

function model(design: Design, inPlace: boolean): Model {
  const spec = machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30, nodes: 2 });
  const m = bootModel(spec, design);
  m.k.paths.resetInPlace = inPlace;
  return m;
}

const digest = (m: Model) => modelDigest(m, { pools: [SMALL] });

describe("reset_struct_pages() in place equals the copy out and back", () => {
  for (const design of ["legacy", "seed"] as Design[]) {
    it(`${design}: restored vmemmap pages, then the pool freed`, () => {
      const ms = [model(design, true), model(design, false)];
      stepModels(ms, SWITCH, "1");
      stepModels(ms, SMALL, "24");
      expect(digest(ms[0])).toEqual(digest(ms[1]));
      // Restore every pool folio (what dissolving one does first), keeping it in the pool.
      let restored = 0;
      for (const m of ms) {
        const hvo = m.vmemmap as HvoCore;
        for (const head of hugetlbHeads(m, ORDER_2M)) {
          expect(hvo.isOptimized(head)).toBe(true);
          expect(hvo.restoreFolio(ORDER_2M, head)).toBe(0);
          restored++;
        }
      }
      expect(restored).toBe(2 * 24);
      expect(digest(ms[0]), `${design} after restoring`).toEqual(digest(ms[1]));
      stepModels(ms, SMALL, "0");
      expect(digest(ms[0]), `${design} after 0 > nr_hugepages`).toEqual(digest(ms[1]));
    });
  }
});
