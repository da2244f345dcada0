// arch/loongarch (LA64, 16 KiB pages, 3-level page tables, the 64-bit default): the loongarch64
// preset and its page-table entry format.
// Sources, all in torvalds/linux:
//   arch/loongarch/include/asm/pgtable-bits.h _PAGE_VALID 0, _PAGE_DIRTY 1, PLV 2-3, CACHE 4-5,
//                                            _PAGE_GLOBAL 6 (PTE) / _PAGE_HUGE 6 (PMD),
//                                            _PAGE_PRESENT 7, _PAGE_WRITE 8, _PAGE_HGLOBAL 12,
//                                            PFN_PTE_SHIFT = PAGE_SHIFT - 12 + 12,
//                                            PAGE_KERNEL (no PAGE_KERNEL_RO)
//   arch/loongarch/include/asm/pgtable.h     vmemmap = ALIGN(VMALLOC_END, VMEMMAP_ALIGN) (series
//                                            v7 06/18), VMALLOC_END, pmd_page_vaddr(): a PMD
//                                            holds the virtual address of its PTE table
//   arch/loongarch/include/asm/sparsemem.h   SECTION_SIZE_BITS 29, MAX_PHYSMEM_BITS 48,
//                                            VMEMMAP_SIZE = sizeof(struct page) << (pabits+1-PAGE_SHIFT)
//   arch/loongarch/kernel/cpu-probe.c        vm_map_base = 0 - (1 << cpu_vabits)
//   arch/loongarch/mm/init.c                 vmemmap_populate(): hugepages unless 2 levels;
//                                            vmemmap_set_pmd(): PAGE_KERNEL | _PAGE_HUGE |
//                                            _PAGE_HGLOBAL
//   arch/loongarch/include/asm/page.h        HPAGE_SHIFT = PAGE_SHIFT + PAGE_SHIFT - 3 (32 MiB)
//   arch/loongarch/Kconfig                   16KB_3LEVEL default, ARCH_FORCE_MAX_ORDER 11 (16K),
//                                            select ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP

import {
  type ArchPresetDef,
  GiB,
  MachineError,
  MiB,
  maxFolioVmemmapAlignBytes,
} from "../machine/layout.ts";
import type { ArchSpec, PteCodec, StructPageSize } from "../machine/spec.ts";

export const _PAGE_VALID = 1n << 0n;
export const _PAGE_DIRTY = 1n << 1n;
export const _CACHE_CC = 1n << 4n;
export const _PAGE_GLOBAL = 1n << 6n;
export const _PAGE_HUGE = 1n << 6n;
export const _PAGE_PRESENT = 1n << 7n;
export const _PAGE_WRITE = 1n << 8n;
export const _PAGE_HGLOBAL = 1n << 12n;
/** PLV_KERN = 0. */
export const _PAGE_KERN = 0n;

/** PAGE_KERNEL = PRESENT | VALID | DIRTY | WRITE | GLOBAL | KERN | CACHE_CC = 0x1d3. */
export const PAGE_KERNEL =
  _PAGE_PRESENT | _PAGE_VALID | _PAGE_DIRTY | _PAGE_WRITE | _PAGE_GLOBAL | _PAGE_KERN | _CACHE_CC;
/** A read-only kernel page: PAGE_KERNEL without __WRITEABLE (DIRTY | WRITE) = 0xd1. */
export const PAGE_KERNEL_NOWRITE = PAGE_KERNEL & ~(_PAGE_DIRTY | _PAGE_WRITE);
/** The cached direct-mapped window (DMW1, CSR_DMW1_BASE): PAGE_OFFSET, where tables live. */
export const CACHE_BASE = 0x9000000000000000n;

const PAGE_SHIFT = 14;
/** 16 KiB pages, 3 levels: PTE 14, PMD 25 (32 MiB), PGD 36 (PUD folded); 47-bit VA. */
const LEVEL_SHIFTS = [36, 25, 14];
const PFN_SHIFT = BigInt(PAGE_SHIFT - 12 + 12);
/** _PFN_MASK: bits [47:PFN_PTE_SHIFT] (_PAGE_PFN_END_SHIFT 48). */
const PFN_MASK = ((1n << 48n) - 1n) & ~((1n << PFN_SHIFT) - 1n);

/**
 * LoongArch entries. Table entries hold the table's kernel virtual address (CACHE_BASE | pa);
 * an empty table entry is 0 here, where the kernel points it at invalid_pte_table/pmd_table.
 */
export function loongarchPteCodec(levelShifts: readonly number[] = LEVEL_SHIFTS): PteCodec {
  const last = levelShifts.length - 1;
  return {
    mkTable(tablePfn) {
      return CACHE_BASE | (BigInt(tablePfn) << PFN_SHIFT);
    },
    mkLeaf(pfn, prot, level) {
      let v = prot.writable ? PAGE_KERNEL : PAGE_KERNEL_NOWRITE;
      if (prot.huge) {
        if (level === last) throw new RangeError("loongarch64: a huge mapping lives in a PMD");
        v |= _PAGE_HUGE | _PAGE_HGLOBAL;
      } else if (level !== last) {
        throw new RangeError("loongarch64: a base page lives in a PTE");
      }
      return (BigInt(pfn) << PFN_SHIFT) | v;
    },
    decode(entry, level) {
      if (entry === 0n) return null;
      if (level !== last && (entry & _PAGE_HUGE) === 0n) {
        return {
          present: true,
          writable: true,
          huge: false,
          table: true,
          pfn: Number((entry & PFN_MASK) >> PFN_SHIFT),
        };
      }
      return {
        present: (entry & _PAGE_PRESENT) !== 0n,
        writable: (entry & _PAGE_WRITE) !== 0n,
        huge: level !== last,
        table: false,
        pfn: Number((entry & PFN_MASK) >> PFN_SHIFT),
      };
    },
    wrprotect(entry) {
      // pte_wrprotect(): clears _PAGE_WRITE and the hardware-writable _PAGE_DIRTY.
      return entry & ~(_PAGE_WRITE | _PAGE_DIRTY);
    },
  };
}

/** cpu_vabits and cpu_pabits: CPUCFG1 VALEN-1 and PALEN-1 = 47 on the 3A5000/3A6000. */
const CPU_VABITS = 47;
const CPU_PABITS = 47;
const TWO64 = 1n << 64n;

/**
 * vmemmap = ALIGN(VMALLOC_END, max(PMD_SIZE, MAX_FOLIO_VMEMMAP_ALIGN)), VMALLOC_END =
 * vm_map_base + min(PTRS_PER_PGD * PTRS_PER_PMD * PTRS_PER_PTE * PAGE_SIZE, 1 << cpu_vabits)
 * - PMD_SIZE - VMEMMAP_SIZE - KFENCE_AREA_SIZE (0: KFENCE off). 0xffffff0000000000 (64-byte
 * struct page).
 */
export function loongarchVmemmapBase(structPageSize: number): bigint {
  const vmMapBase = TWO64 - (1n << BigInt(CPU_VABITS));
  const ptrs = 1n << BigInt(PAGE_SHIFT - 3);
  const span = ptrs * ptrs * ptrs * (1n << BigInt(PAGE_SHIFT));
  const vaSpan = 1n << BigInt(CPU_VABITS);
  const pmdSize = 1n << 25n;
  const vmemmapSize = BigInt(structPageSize) << BigInt(CPU_PABITS + 1 - PAGE_SHIFT);
  const vmallocEnd =
    (vmMapBase + (span < vaSpan ? span : vaSpan) - pmdSize - vmemmapSize + TWO64) % TWO64;
  const folioAlign = maxFolioVmemmapAlignBytes(PAGE_SHIFT, structPageSize);
  const align = folioAlign > pmdSize ? folioAlign : pmdSize;
  return ((vmallocEnd + align - 1n) / align) * align;
}

export function loongarch64Arch(structPageSize: StructPageSize): ArchSpec {
  return {
    name: "loongarch64",
    preset: "loongarch64",
    pageShift: PAGE_SHIFT,
    levelShifts: [...LEVEL_SHIFTS],
    vmemmapBase: loongarchVmemmapBase(structPageSize),
    sectionShift: 29,
    maxPhysmemBits: 48,
    vmemmapPmdLeaves: true,
    // Only HPAGE_SIZE (32 MiB, the PMD): no arch_hugetlb_valid_size(), so the generic one.
    hstateOrders: [11],
    defaultHstateOrder: 11,
    maxPageOrder: 11,
    vmemmapPreinit: false,
    optimizeHugetlbVmemmap: true,
    pageKernelRoIsPageKernel: true,
    pte: loongarchPteCodec(),
  };
}

/** QEMU's loongarch virt board: 256 MiB low memory at 0, the rest from 0x90000000. */
export const LOONGARCH_LOWMEM_BYTES = 256 * MiB;
export const LOONGARCH_HIGHMEM_BASE = 0x90000000;

export const loongarch64Preset: ArchPresetDef = {
  preset: "loongarch64",
  archName: "loongarch64",
  pageShift: PAGE_SHIFT,
  sectionShift: 29,
  arch: ({ structPageSize }) => loongarch64Arch(structPageSize),
  layout(memoryBytes) {
    const page = 2 ** PAGE_SHIFT;
    if (memoryBytes % page !== 0 || memoryBytes <= 0) {
      throw new MachineError(
        `loongarch64: memory must be a positive multiple of 16K (${memoryBytes})`,
      );
    }
    const low = Math.min(memoryBytes, LOONGARCH_LOWMEM_BYTES) / page;
    const ranges = [{ startPfn: 0, endPfn: low }];
    const rest = memoryBytes / page - low;
    if (rest > 0) {
      const start = LOONGARCH_HIGHMEM_BASE / page;
      ranges.push({ startPfn: start, endPfn: start + rest });
    }
    return ranges;
  },
  // zone_sizes_init(): max_zone_pfns[ZONE_DMA32] = MAX_DMA32_PFN (4 GiB); no ZONE_DMA.
  zoneLimits: () => ({ DMA32: (4 * GiB) / 2 ** PAGE_SHIFT }),
  defaultMemoryBytes: 16 * GiB,
  defaultCmdline: "",
};
