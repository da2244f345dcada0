// Page-table entry codecs: round trips, and known entries spelled out from the kernel's
// definitions (arch/*/include/asm/pgtable*.h, cited per case).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset, presetNames } from "../../src/arch/index.ts";

describe("PTE codecs round-trip", () => {
  for (const name of presetNames()) {
    it(`${name}: mkLeaf/mkTable then decode gives back pfn and protection`, () => {
      const arch = machinePreset(name).arch;
      const pte = arch.pte;
      const last = arch.levelShifts.length - 1;
      const maxPfn = 2 ** (Math.min(arch.maxPhysmemBits, 48) - arch.pageShift) - 1;
      fc.assert(
        fc.property(fc.integer({ min: 0, max: maxPfn }), fc.boolean(), (pfn, writable) => {
          const leaf = pte.decode(pte.mkLeaf(pfn, { writable, huge: false }, last), last);
          expect(leaf).toEqual({ present: true, writable, huge: false, table: false, pfn });
          const ro = pte.decode(
            pte.wrprotect(pte.mkLeaf(pfn, { writable: true, huge: false }, last), last),
            last,
          );
          expect(ro?.writable).toBe(false);
          expect(ro?.pfn).toBe(pfn);
          const table = pte.decode(pte.mkTable(pfn, last - 1), last - 1);
          expect(table).toEqual({ present: true, writable: true, huge: false, table: true, pfn });
          // A PMD leaf maps a PMD-aligned block.
          const pmdPages = 2 ** (arch.levelShifts[last - 1] - arch.pageShift);
          const block = Math.floor(pfn / pmdPages) * pmdPages;
          const huge = pte.decode(pte.mkLeaf(block, { writable, huge: true }, last - 1), last - 1);
          expect(huge).toEqual({ present: true, writable, huge: true, table: false, pfn: block });
        }),
        { seed: 42, numRuns: 300 },
      );
      expect(pte.decode(0n, last)).toBeNull();
    });
  }
});

describe("known entries", () => {
  it("x86_64: PAGE_KERNEL for pfn 0x1234 is 0x8000000001234163", () => {
    // __PAGE_KERNEL = _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED | _PAGE_GLOBAL |
    // _PAGE_NX = 1 | 2 | 0x40 | 0x20 | 0x100 | 1 << 63 (pgtable_types.h).
    const x = machinePreset("x86_64").arch.pte;
    expect(x.mkLeaf(0x1234, { writable: true, huge: false }, 3)).toBe(0x8000000001234163n);
    // PAGE_KERNEL_RO drops _PAGE_RW.
    expect(x.mkLeaf(0x1234, { writable: false, huge: false }, 3)).toBe(0x8000000001234161n);
    // PAGE_KERNEL_LARGE (vmemmap_set_pmd()) adds _PAGE_PSE (0x80) at the PMD.
    expect(x.mkLeaf(0x200, { writable: true, huge: true }, 2)).toBe(0x80000000002001e3n);
    // _PAGE_TABLE = P | RW | USER | A | D (pmd_populate_kernel()).
    expect(x.mkTable(0x5678, 2)).toBe(0x5678067n);
    expect(x.decode(0x80000000002001e3n, 2)).toEqual({
      present: true,
      writable: true,
      huge: true,
      table: false,
      pfn: 0x200,
    });
    expect(x.wrprotect(0x8000000001234163n, 3)).toBe(0x8000000001234161n);
  });

  it("arm64-4k: PAGE_KERNEL, PAGE_KERNEL_RO, PROT_SECT_NORMAL, kernel tables", () => {
    const a = machinePreset("arm64-4k").arch.pte;
    // PROT_NORMAL = PTE_TYPE_PAGE(3) | PTE_AF(1 << 10) | PTE_SHARED(3 << 8) | PTE_PXN(1 << 53)
    // | PTE_UXN(1 << 54) | PTE_WRITE(DBM, 1 << 51) | AttrIndx(MT_NORMAL = 0); PAGE_KERNEL adds
    // the software PTE_DIRTY (1 << 55), as Debian's 7.2.13 arm64 guest's vmemmap entries show.
    expect(a.mkLeaf(0x40000, { writable: true, huge: false }, 3)).toBe(0x00e8000040000703n);
    // PAGE_KERNEL_RO = (PROT_NORMAL & ~PTE_WRITE) | PTE_RDONLY (AP[2], 1 << 7) | PTE_DIRTY.
    expect(a.mkLeaf(0x40000, { writable: false, huge: false }, 3)).toBe(0x00e0000040000783n);
    // The vmemmap block: PAGE_KERNEL with bit 1 clear (bits 1:0 = 0b01), 7.2's vmemmap PMDs.
    expect(a.mkLeaf(0x40200, { writable: true, huge: true }, 2)).toBe(0x00e8000040200701n);
    // PMD_TYPE_TABLE | PMD_TABLE_AF | PMD_TABLE_UXN (1 << 60).
    expect(a.mkTable(0x41000, 2)).toBe(0x1000000041000403n);
    // pte_wrprotect() of a hardware-dirty entry sets the software PTE_DIRTY (1 << 55).
    expect(a.wrprotect(0x0068000040000703n, 3)).toBe(0x00e0000040000783n);
  });

  it("arm64-64k: the output address starts at bit 16", () => {
    const a = machinePreset("arm64-64k").arch.pte;
    expect(a.mkLeaf(0x4000, { writable: true, huge: false }, 2)).toBe(0x00e8000040000703n);
    expect(a.decode(0x0068000040000703n, 2)?.pfn).toBe(0x4000);
  });

  it("riscv64: V R W A D G with the PPN at bit 10; tables are V only", () => {
    const r = machinePreset("riscv64").arch.pte;
    // _PAGE_KERNEL = R(2) | W(4) | V(1) | A(0x40) | D(0x80) | G(0x20) = 0xe7.
    expect(r.mkLeaf(0x80000, { writable: true, huge: false }, 2)).toBe((0x80000n << 10n) | 0xe7n);
    // PAGE_KERNEL_READ = 0xe3.
    expect(r.mkLeaf(0x80000, { writable: false, huge: false }, 2)).toBe((0x80000n << 10n) | 0xe3n);
    expect(r.mkTable(0x80001, 1)).toBe((0x80001n << 10n) | 1n);
    // A leaf at the PMD level is a 2 MiB mapping (R|W|X non-zero).
    expect(r.decode((0x80200n << 10n) | 0xe7n, 1)).toEqual({
      present: true,
      writable: true,
      huge: true,
      table: false,
      pfn: 0x80200,
    });
    expect(machinePreset("riscv64").arch.pageKernelRoIsPageKernel).toBe(true);
  });

  it("loongarch64: PAGE_KERNEL 0x1d3, _PAGE_HUGE | _PAGE_HGLOBAL at the PMD, tables by address", () => {
    const l = machinePreset("loongarch64").arch.pte;
    // PRESENT(0x80) | VALID(1) | DIRTY(2) | WRITE(0x100) | GLOBAL(0x40) | CACHE_CC(0x10).
    expect(l.mkLeaf(0x24000, { writable: true, huge: false }, 2)).toBe(0x90000000n | 0x1d3n);
    // vmemmap_set_pmd(): PAGE_KERNEL | _PAGE_HUGE (bit 6) | _PAGE_HGLOBAL (bit 12).
    expect(l.mkLeaf(0x24000, { writable: true, huge: true }, 1)).toBe(0x90000000n | 0x11d3n);
    // pmd_populate_kernel() stores the table's address in the cached window 0x9000000000000000.
    expect(l.mkTable(0x24001, 1)).toBe(0x9000000090004000n);
    expect(l.decode(0x9000000090004000n, 1)).toEqual({
      present: true,
      writable: true,
      huge: false,
      table: true,
      pfn: 0x24001,
    });
    // pte_wrprotect() clears _PAGE_WRITE and _PAGE_DIRTY.
    expect(l.wrprotect(0x90000000n | 0x1d3n, 2)).toBe(0x90000000n | 0xd1n);
  });
});
