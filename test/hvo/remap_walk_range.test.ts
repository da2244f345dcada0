// vmemmap_remap_range() (hugetlb_vmemmap.ts vmemmapRemapRange()) works on byte offsets from the
// vmemmap's base as numbers. Its checks and its answers as the kernel's: an address that is not
// page aligned is the kernel's BUG() (nothing walked, nothing written); a walk that finds a
// page's own PTE, as the split walk of vmemmap_remap_split() before an optimisation does,
// reads the PTE index of its address (the address's bits 12..20 on x86_64). The offsets are
// plain numbers because no machine's memmap reaches 2^53 bytes; a range outside the vmemmap
// (below its base, or 2^53 bytes or more past it) is a broken caller: an Oops, nothing walked.
import { describe, expect, it } from "vitest";
import { machinePreset, presetDef, presetNames, STRUCT_PAGE_SIZES } from "../../src/arch/index.ts";
import { Oops } from "../../src/include/errno.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel } from "../../src/model.ts";

const GiB = 2 ** 30;

function hvo() {
  const m = bootModel(machinePreset("x86_64", { memoryBytes: 2 * GiB, nodes: 1 }), "legacy");
  return { m, core: m.vmemmap as HvoCore };
}

describe("vmemmap_remap_range() on offsets from the vmemmap base", () => {
  it("an unaligned start or end is the kernel's BUG(), with nothing written", () => {
    const { m, core } = hvo();
    const start = m.k.memmap.vaddrOf(512);
    const before = m.k.pgt.pteWrites;
    for (const [s, e] of [
      [start + 8n, start + 4096n * 8n],
      [start, start + 4096n * 8n - 64n],
    ]) {
      const walk = core.newWalk({ remapPte: core.restorePte });
      expect(() => core.vmemmapRemapRange(s, e, walk)).toThrow(Oops);
      expect(() => core.vmemmapRemapRange(s, e, walk)).toThrow(/unaligned range/);
      expect(walk.nrWalked).toBe(0);
    }
    expect(m.k.pgt.pteWrites).toBe(before);
  });

  it("a find-reuse walk takes the page its first PTE maps, at any PTE index of its table", () => {
    const { m, core } = hvo();
    // Split the PMDs first (vmemmap_remap_split()), then walk one page at a time: the page a
    // walk finds is the frame the MMU translates the address to.
    const base = m.k.memmap.vaddrOf(0);
    expect(core.vmemmapRemapSplit(base, base + 2n * 2n ** 21n, 0)).toBe(0);
    // PTE indexes 0, 1, 255, 511 of the first table and 0 of the second (4 KiB pages, 512 PTEs
    // per table: the index is (address >> 12) & 511).
    for (const page of [0, 1, 255, 511, 512]) {
      const vaddr = base + BigInt(page * 4096);
      const walk = core.newWalk({ remapPte: () => {}, findReuse: true });
      expect(core.vmemmapRemapRange(vaddr, vaddr + 4096n, walk)).toBe(0);
      expect(walk.reusePage, `page ${page}`).toBe(core.frameAt(vaddr));
    }
  });

  it("a range below the vmemmap's base or 2^53 bytes past it is an Oops, nothing walked", () => {
    const { m, core } = hvo();
    const base = m.k.memmap.vmemmapBase;
    const before = m.k.pgt.pteWrites;
    for (const [s, e] of [
      [base - 4096n, base + 4096n],
      [base + 4096n, base + 2n ** 53n],
    ]) {
      const walk = core.newWalk({ remapPte: core.restorePte });
      expect(() => core.vmemmapRemapRange(s, e, walk)).toThrow(/range outside the vmemmap/);
      expect(walk.nrWalked).toBe(0);
    }
    expect(m.k.pgt.pteWrites).toBe(before);
  });

  it("every arch's largest memmap is under 2^53 bytes, so no machine reaches that Oops", () => {
    // The pfns a machine may have end at 2^(MAX_PHYSMEM_BITS - PAGE_SHIFT) (loading refuses
    // memory past it); at sizeof(struct page) 80, the largest the model takes, the most is
    // riscv64's 2^(56 - 12) * 80 = 1.4e15 bytes, under Number.MAX_SAFE_INTEGER (9.0e15).
    const maxStruct = Math.max(...STRUCT_PAGE_SIZES);
    expect(maxStruct).toBe(80);
    let largest = 0;
    for (const name of presetNames()) {
      const def = presetDef(name);
      for (const pagingLevels of def.pagingLevels ?? [undefined]) {
        const arch = def.arch({ structPageSize: 80, firstPfn: 0, pagingLevels });
        const bytes = 2 ** (arch.maxPhysmemBits - arch.pageShift) * maxStruct;
        expect(bytes, `${name} ${pagingLevels ?? ""}`).toBeLessThan(Number.MAX_SAFE_INTEGER);
        largest = Math.max(largest, bytes);
      }
    }
    expect(largest).toBe(2 ** 44 * 80);
    // And a machine past MAX_PHYSMEM_BITS is refused before it boots (x86_64, 4-level: 46).
    expect(() => machinePreset("x86_64", { memoryBytes: 2 ** 47 })).toThrow(/MAX_PHYSMEM_BITS/);
  });
});
