// hugetlb_vmemmap.ts freeRunDown(): a falling run of vmemmap pages to free whose top is boot
// memory (PageReserved) is cleared from the top down by clearReservedRunDown(); where the run
// stops being boot memory part-way, the rest goes through freeVmemmapPiece() from that index
// on (the fallback). No pool step makes such a run (a folio's freed vmemmap pages are all boot
// memory or all the buddy's), so this test makes one: when HVO frees a 1 GiB folio's vmemmap
// pages (falling runs of boot pages), the lowest LOW pages of the list's first run are first turned into pages
// the buddy handed out (PG_reserved cleared, out of memblock.reserved, recorded as order-0
// vmemmap allocations, counted as managed and as run-time memmap), as the pages a restore
// allocated would be. Two models do the same, one freeing falling runs of boot memory the fast
// way (k.paths.freedWhole) and one the plain way (every page of the list judged in turn,
// hugetlb_vmemmap.ts freeVmemmapPiece()): after each step every struct page, PTE, free list,
// allocation, memblock.reserved, counter and log line must be the same, and the fast model
// must have gone through the fallback.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { PG } from "../../src/include/page_flags.ts";
import type { HvoCore, PageList } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";

const GiB = 2 ** 30;
const P1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
const HVO = "/proc/sys/vm/hugetlb_optimize_vmemmap";
/** Pages at the bottom of the run made the buddy's: not a whole vmemmap page of struct pages. */
const LOW = 100;

interface Probe {
  /** freeVmemmapPiece() calls that started part-way into their pfns (the fallback). */
  fallbacks: number;
  /** Lists whose run was changed. */
  changed: number;
}

function boot(design: Design, fast: boolean): { m: Model; probe: Probe } {
  const m = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 1 }), design);
  m.k.paths.freedWhole = fast;
  const core = m.vmemmap as HvoCore;
  // One piece for the whole list: the run is not cut where it changes.
  core.pageListPiece = 1 << 20;
  const probe: Probe = { fallbacks: 0, changed: 0 };
  const inner = core as unknown as {
    freeVmemmapPiece(pfns: number[], from?: number, firstReserved?: boolean): void;
  };
  const piece = inner.freeVmemmapPiece.bind(core);
  inner.freeVmemmapPiece = (pfns, from = 0, firstReserved) => {
    if (from > 0) probe.fallbacks++;
    piece(pfns, from, firstReserved);
  };
  const free = core.freeVmemmapPageList.bind(core);
  core.freeVmemmapPageList = (list: PageList) => {
    const pfns = [...list];
    // A 1 GiB folio's vmemmap pages: falling runs of boot memory (legacy: one run; mainline:
    // one per PMD block of memmap, 512 pages). The first run's lowest pages are changed.
    let end = 1;
    while (end < pfns.length && pfns[end] === pfns[end - 1] - 1) end++;
    if (end > 2 * LOW) {
      const { k } = m;
      if (pfns.slice(0, end).every((p) => core.pageReserved(p))) {
        probe.changed++;
        for (const p of pfns.slice(end - LOW, end)) {
          k.memmap.setBit(p, PAGE_OFF.flags, PG.reserved, false);
          k.memblock.unreservePage(p);
          const nid = k.pfnToNid(p);
          k.buddy.allocations.set(p, k.buddy.allocations.record(0, "vmemmap", nid));
          const zone = k.buddy.zoneOf(p);
          if (zone !== null) zone.managed++;
        }
        k.memmapBootPagesAdd(-LOW);
        k.memmapPagesAdd(LOW);
      }
    }
    free(list);
  };
  return { m, probe };
}

describe("a falling run of boot vmemmap pages that stops being boot memory part-way", () => {
  it.each(["legacy", "mainline"] as Design[])(
    "%s: the fast path's fallback frees it as the plain path does",
    (design) => {
      const fast = boot(design, true);
      const plain = boot(design, false);
      const steps: [string, string][] = [
        [HVO, "1"],
        [P1G, "1"],
        [P1G, "0"],
        [P1G, "2"],
      ];
      for (const [file, value] of steps) {
        for (const { m } of [fast, plain]) {
          m.write(file, value);
          m.settle();
        }
        expect(modelDigest(fast.m, { pools: [P1G] }), `after ${file} ${value}`).toEqual(
          modelDigest(plain.m, { pools: [P1G] }),
        );
      }
      expect(fast.probe.changed).toBeGreaterThan(0);
      expect(plain.probe.changed).toBe(fast.probe.changed);
      expect(fast.probe.fallbacks).toBeGreaterThan(0);
    },
  );
});
