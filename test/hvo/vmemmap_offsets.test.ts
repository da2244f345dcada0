// HVO's per-folio walks (src/mm/hugetlb_vmemmap.ts: LEGACY.optimize(), LEGACY.remapAlloc(),
// splitFolio(), legacyRemapFree() and the direct walks) name a folio's vmemmap by its byte offset
// from the vmemmap's base, pfn * sizeof(struct page), instead of by its address as a bigint: the
// offset is what pfn_to_page() adds to the base. The offset forms must reach what the address
// forms reach: the same PMD slot (KernelPageTables.slotAt() against slot()), the same frame
// through the TLB (frameAtOff() against frameAt()), the same node read from the struct page
// (pageToNidOff() against pageToNidAt()). Checked on every preset (page sizes 4, 16 and 64 KiB,
// vmemmap bases aligned to every level or not) for heads of 2 MiB-sized, first, last and
// section-boundary pfns; then a 2 MiB pool grown and shrunk with HVO on still reads
// nr_hugepages and HugePages_Total as written (2000 folios, all of them handed back).
import { describe, expect, it } from "vitest";
import { machinePreset, presetNames } from "../../src/arch/index.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel } from "../../src/model.ts";

const GiB = 2 ** 30;
const HVO = "/proc/sys/vm/hugetlb_optimize_vmemmap";

describe("a folio's vmemmap named by its offset from the base is the one named by its address", () => {
  for (const preset of presetNames())
    it(`${preset}: PMD slots, frames and nodes of struct pages across the memmap`, () => {
      const md = bootModel(machinePreset(preset, { memoryBytes: 4 * GiB, nodes: 2 }), "legacy");
      const k = md.k;
      const hvo = md.vmemmap as HvoCore;
      const sps = k.spec.structPageSize;
      const base = k.memmap.vmemmapBase;
      const levels = k.pgt.levels;
      const pfns = new Set<number>();
      for (const n of k.spec.nodes)
        for (const r of n.ranges) {
          // Heads of folios a multiple of the page size's 2 MiB apart, and the range's ends.
          const step = Math.max(1, (2 * 2 ** 20) / k.pageSize);
          for (let p = r.startPfn; p < r.endPfn; p += step * 7) pfns.add(p);
          pfns.add(r.startPfn);
          pfns.add(r.endPfn - 1);
        }
      let compared = 0;
      for (const pfn of pfns) {
        const off = pfn * sps;
        const vaddr = base + BigInt(off);
        for (let level = 0; level < levels; level++) {
          const byOff = k.pgt.slotAt(level, off);
          // undefined: the offset form declines (no fastIndex), and its callers ask slot().
          if (byOff !== undefined) expect(byOff).toEqual(k.pgt.slot(level, vaddr));
        }
        if (k.pgt.walk(vaddr) === null) continue;
        expect(hvo.frameAtOff(off)).toBe(hvo.frameAt(vaddr));
        expect(hvo.pageToNidOff(off)).toBe(hvo.pageToNidAt(vaddr));
        expect(hvo.pageToNidOff(off)).toBe(k.pfnToNid(pfn));
        compared++;
      }
      expect(compared).toBeGreaterThan(10);
    });

  it("x86_64, legacy: 2000 x 2 MiB grown and shrunk with HVO on read back as written", () => {
    const md = bootModel(machinePreset("x86_64", { memoryBytes: 8 * GiB }), "legacy");
    const nr = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
    md.write(HVO, "1");
    for (const n of [2000, 0, 2000, 0]) {
      md.write(nr, String(n));
      md.settle();
      expect(md.read(nr).trim()).toBe(String(n));
      expect(md.read("/proc/meminfo")).toMatch(new RegExp(`HugePages_Total:\\s+${n}\\n`));
    }
  });
});
