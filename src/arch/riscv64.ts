// arch/riscv (rv64, Sv39): the riscv64 preset and its page-table entry format.
// Sources, all in torvalds/linux:
//   arch/riscv/include/asm/pgtable-bits.h  _PAGE_PRESENT (V) 0, READ 1, WRITE 2, EXEC 3, USER 4,
//                                          GLOBAL 5, ACCESSED 6, DIRTY 7, _PAGE_PFN_SHIFT 10,
//                                          _PAGE_TABLE = _PAGE_PRESENT, leaf iff R|W|X
//   arch/riscv/include/asm/pgtable.h       _PAGE_KERNEL, PAGE_KERNEL, PAGE_KERNEL_READ (no
//                                          PAGE_KERNEL_RO), VMEMMAP_SHIFT/SIZE/START,
//                                          vmemmap = VMEMMAP_START - vmemmap_start_pfn
//   Documentation/arch/riscv/vm-layout.rst Sv39: vmemmap 0xffffffc500000000, 4 GB; vmalloc
//                                          0xffffffc600000000 (VMALLOC_START)
//   arch/riscv/include/asm/sparsemem.h     SECTION_SIZE_BITS 27, MAX_PHYSMEM_BITS 56 (rv64)
//   arch/riscv/mm/init.c                   vmemmap_populate(): vmemmap_populate_hugepages();
//                                          vmemmap_start_pfn = round_down(phys_ram_base,
//                                          VMEMMAP_ADDR_ALIGN) >> PAGE_SHIFT; zone_sizes_init()
//   arch/riscv/mm/hugetlbpage.c            __hugetlb_valid_size(): HPAGE_SIZE, PUD_SIZE, and
//                                          NAPOT (64K) only with Svnapot
//   arch/riscv/Kconfig                     select ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP; no
//                                          ARCH_FORCE_MAX_ORDER, so MAX_PAGE_ORDER 10
// The series' riscv patch (v7 05/18, "riscv/mm: Align vmemmap to maximal folio size") makes
// VMEMMAP_ADDR_ALIGN = max(1 << SECTION_SIZE_BITS, MAX_FOLIO_VMEMMAP_ALIGN).

import {
  type ArchPresetDef,
  GiB,
  MachineError,
  maxFolioVmemmapAlignBytes,
  roundDown,
} from "../machine/layout.ts";
import type { ArchSpec, PteCodec, StructPageSize } from "../machine/spec.ts";

export const _PAGE_PRESENT = 1n << 0n;
export const _PAGE_READ = 1n << 1n;
export const _PAGE_WRITE = 1n << 2n;
export const _PAGE_EXEC = 1n << 3n;
export const _PAGE_USER = 1n << 4n;
export const _PAGE_GLOBAL = 1n << 5n;
export const _PAGE_ACCESSED = 1n << 6n;
export const _PAGE_DIRTY = 1n << 7n;
export const _PAGE_TABLE = _PAGE_PRESENT;
const _PAGE_LEAF = _PAGE_READ | _PAGE_WRITE | _PAGE_EXEC;
/** _PAGE_PFN_MASK = GENMASK(53, 10). */
const _PAGE_PFN_MASK = ((1n << 54n) - 1n) & ~((1n << 10n) - 1n);

/** _PAGE_KERNEL = R | W | V | A | D | G = 0xe7 (Svpbmt's PMA memory type is 0). */
export const PAGE_KERNEL =
  _PAGE_READ | _PAGE_WRITE | _PAGE_PRESENT | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL;
/** PAGE_KERNEL_READ = _PAGE_KERNEL & ~_PAGE_WRITE = 0xe3. */
export const PAGE_KERNEL_READ = PAGE_KERNEL & ~_PAGE_WRITE;

const PAGE_SHIFT = 12;
const LEVEL_SHIFTS = [30, 21, 12];

export function riscvPteCodec(levelShifts: readonly number[] = LEVEL_SHIFTS): PteCodec {
  const last = levelShifts.length - 1;
  return {
    mkTable(tablePfn) {
      return (BigInt(tablePfn) << 10n) | _PAGE_TABLE;
    },
    mkLeaf(pfn, prot, level) {
      if (prot.huge === (level === last)) {
        throw new RangeError("riscv64: huge leaves live above the last level, base pages at it");
      }
      return (BigInt(pfn) << 10n) | (prot.writable ? PAGE_KERNEL : PAGE_KERNEL_READ);
    },
    decode(entry, level) {
      if (entry === 0n) return null;
      const leaf = (entry & _PAGE_LEAF) !== 0n;
      return {
        present: (entry & _PAGE_PRESENT) !== 0n,
        writable: !leaf || (entry & _PAGE_WRITE) !== 0n,
        huge: leaf && level !== last,
        table: !leaf && level !== last,
        pfn: Number((entry & _PAGE_PFN_MASK) >> 10n),
      };
    },
    wrprotect(entry) {
      return entry & ~_PAGE_WRITE;
    },
  };
}

/** VMALLOC_START for Sv39 (vm-layout.rst): PAGE_OFFSET_L3 0xffffffd600000000 - 64 GB. */
const SV39_VMALLOC_START = 0xffffffc600000000n;

/**
 * VMEMMAP_START = VMALLOC_START - BIT(VA_BITS - PAGE_SHIFT - 1 + STRUCT_PAGE_MAX_SHIFT), where
 * STRUCT_PAGE_MAX_SHIFT = order_base_2(sizeof(struct page)): 0xffffffc500000000 for 56 or 64
 * bytes, 0xffffffc400000000 for 72 or 80.
 */
export function riscvVmemmapStart(structPageSize: number): bigint {
  const structPageMaxShift = Math.ceil(Math.log2(structPageSize));
  return SV39_VMALLOC_START - (1n << BigInt(39 - PAGE_SHIFT - 1 + structPageMaxShift));
}

/**
 * vmemmap = VMEMMAP_START - vmemmap_start_pfn, vmemmap_start_pfn = round_down(phys_ram_base,
 * VMEMMAP_ADDR_ALIGN) >> PAGE_SHIFT, phys_ram_base = memblock_start_of_DRAM() & PMD_MASK.
 * VMEMMAP_ADDR_ALIGN is a physical alignment; MAX_FOLIO_VMEMMAP_ALIGN is a size in vmemmap bytes,
 * so DRAM at 2 GiB leaves pfn_to_page(0) only 32 MiB aligned (see the report's open questions).
 */
export function riscvVmemmapBase(structPageSize: number, firstPfn: number): bigint {
  const pmdSize = 2 * 2 ** 20;
  const physRamBase = roundDown(firstPfn * 2 ** PAGE_SHIFT, pmdSize);
  const align = Math.max(2 ** 27, Number(maxFolioVmemmapAlignBytes(PAGE_SHIFT, structPageSize)));
  const vmemmapStartPfn = roundDown(physRamBase, align) / 2 ** PAGE_SHIFT;
  return riscvVmemmapStart(structPageSize) - BigInt(vmemmapStartPfn) * BigInt(structPageSize);
}

export function riscv64Arch(structPageSize: StructPageSize, firstPfn: number): ArchSpec {
  return {
    name: "riscv64",
    preset: "riscv64",
    pageShift: PAGE_SHIFT,
    // Sv39: what every rv64 board shipping today walks (JH7110, SG2042, K1); a kernel picks Sv48
    // or Sv57 only when the hart has them.
    levelShifts: [...LEVEL_SHIFTS],
    vmemmapBase: riscvVmemmapBase(structPageSize, firstPfn),
    sectionShift: 27,
    maxPhysmemBits: 56,
    vmemmapPmdLeaves: true,
    // PMD 2M and PUD 1G; the 64K NAPOT size needs Svnapot, absent on the boards above.
    hstateOrders: [9, 18],
    defaultHstateOrder: 9, // HPAGE_SHIFT = PMD_SHIFT
    maxPageOrder: 10,
    vmemmapPreinit: false,
    optimizeHugetlbVmemmap: true,
    pageKernelRoIsPageKernel: true,
    pte: riscvPteCodec(),
  };
}

/** DRAM at 2 GiB, as on QEMU's virt board and every rv64 SoC above. */
export const RISCV_DRAM_BASE = 2 * GiB;

export const riscv64Preset: ArchPresetDef = {
  preset: "riscv64",
  archName: "riscv64",
  pageShift: PAGE_SHIFT,
  sectionShift: 27,
  arch: ({ structPageSize, firstPfn }) => riscv64Arch(structPageSize, firstPfn),
  layout(memoryBytes) {
    const page = 2 ** PAGE_SHIFT;
    if (memoryBytes % page !== 0 || memoryBytes <= 0) {
      throw new MachineError(`riscv64: memory must be a positive multiple of 4K (${memoryBytes})`);
    }
    const startPfn = RISCV_DRAM_BASE / page;
    return [{ startPfn, endPfn: startPfn + memoryBytes / page }];
  },
  zoneLimits(ranges) {
    // zone_sizes_init(): only ZONE_DMA32 = min(4 GiB, end of DRAM); riscv has no ZONE_DMA.
    const end = ranges.length ? ranges[ranges.length - 1].endPfn : 0;
    return { DMA32: Math.min((4 * GiB) / 2 ** PAGE_SHIFT, end) };
  },
  defaultMemoryBytes: 16 * GiB,
  defaultCmdline: "",
};
