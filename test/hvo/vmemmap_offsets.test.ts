// HVO's per-folio walks (src/mm/hugetlb_vmemmap.ts: LEGACY.optimize(), LEGACY.remapAlloc(),
// splitFolio(), legacyRemapFree() and the direct walks) name a folio's vmemmap by its byte offset
// from the vmemmap's base, pfn * sizeof(struct page), instead of by its address as a bigint: the
// offset is what pfn_to_page() adds to the base. The offset forms must reach what the address
// forms reach: the same PMD slot (KernelPageTables.slotAt() against slot()), the same frame
// through the TLB (frameAtOff() against frameAt()), the same node read from the struct page
// (pageToNidOff() against pageToNidAt()). Checked on every preset (page sizes 4, 16 and 64 KiB,
// vmemmap bases aligned to every level or not) for heads of 2 MiB-sized, first, last and
// section-boundary pfns. Then a 2 MiB pool grown and shrunk twice with HVO on (the walks that
// take offsets): exactly the pool's folios have their 8 vmemmap pages on one frame, and the
// memmap's page count in /proc/vmstat moves by 7 a folio, as 6.18's vmemmap_remap_free() and
// restore do.
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

  it("x86_64, legacy: 2000 x 2 MiB grown and shrunk with HVO on, each folio's vmemmap shared and given back", () => {
    const md = bootModel(machinePreset("x86_64", { memoryBytes: 8 * GiB }), "legacy");
    const k = md.k;
    const hvo = md.vmemmap as HvoCore;
    const nr = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
    // A 2 MiB folio is 512 struct pages of 64 bytes: 8 vmemmap pages of 4 KiB.
    const perFolio = (512 * 64) / 4096;
    const vmstat = (key: string): number =>
      Number(new RegExp(`^${key} (\\d+)$`, "m").exec(md.read("/proc/vmstat"))?.[1]);
    const memmapPages = (): number => vmstat("nr_memmap_pages") + vmstat("nr_memmap_boot_pages");
    // Folios (2 MiB-aligned runs of 512 pfns) whose 8 vmemmap pages all map one frame, as
    // HVO leaves them: the tails' PTEs point at the head's page.
    const sharedFolios = (): number => {
      let shared = 0;
      for (const n of k.spec.nodes)
        for (const r of n.ranges)
          for (let pfn = Math.ceil(r.startPfn / 512) * 512; pfn + 512 <= r.endPfn; pfn += 512) {
            const off = pfn * 64;
            const head = hvo.frameAtOff(off);
            let all = true;
            for (let i = 1; i < perFolio && all; i++) all = hvo.frameAtOff(off + i * 4096) === head;
            if (all) shared++;
          }
      return shared;
    };
    const atBoot = memmapPages();
    md.write(HVO, "1");
    for (const n of [2000, 0, 2000, 0]) {
      md.write(nr, String(n));
      md.settle();
      expect(md.read(nr).trim()).toBe(String(n));
      expect(md.read("/proc/meminfo")).toMatch(new RegExp(`HugePages_Total:\\s+${n}\\n`));
      expect(sharedFolios()).toBe(n);
      // 6.18's vmemmap_remap_free() frees all 8 pages of a folio and takes one new page for
      // its head: 7 fewer a folio; the restore takes 7 back.
      expect(memmapPages()).toBe(atBoot - n * (perFolio - 1));
    }
  });
});
