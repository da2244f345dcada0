// arch/arm64: presets arm64-4k, arm64-16k, arm64-64k (48-bit VA, no KASLR, no LPA2, no KPTI)
// and the VMSAv8-64 stage 1 descriptor format for kernel mappings.
// Sources, all in torvalds/linux:
//   arch/arm64/include/asm/pgtable-hwdef.h  PTE_VALID, PTE_TYPE_PAGE, PMD_TYPE_{TABLE,SECT},
//                                           PTE_RDONLY (AP[2]), PTE_SHARED, PTE_AF, PTE_DBM,
//                                           PTE_PXN, PTE_UXN, PMD_TABLE_AF, PMD_TABLE_UXN
//   arch/arm64/include/asm/pgtable-prot.h   PROT_NORMAL, PAGE_KERNEL(_RO), PROT_SECT_NORMAL,
//                                           PTE_WRITE (= PTE_DBM), PTE_DIRTY (55)
//   arch/arm64/include/asm/pgtable.h        pte_wrprotect(), vmemmap = VMEMMAP_START - memstart
//   arch/arm64/include/asm/pgalloc.h        pmd_populate_kernel(): TABLE | TABLE_AF | TABLE_UXN
//   arch/arm64/include/asm/memory.h         VMEMMAP_START = VMEMMAP_END - VMEMMAP_SIZE,
//                                           VMEMMAP_END = -SZ_1G, VMEMMAP_RANGE
//   arch/arm64/include/asm/sparsemem.h      SECTION_SIZE_BITS 27 (4K, 16K) / 29 (64K),
//                                           MAX_PHYSMEM_BITS = CONFIG_ARM64_PA_BITS (48)
//   arch/arm64/mm/init.c                    ARM64_MEMSTART_SHIFT/ALIGN, zone_sizes_init()
//   arch/arm64/mm/mmu.c                     vmemmap_populate(): PMD leaves only with 4K pages
//   arch/arm64/mm/hugetlbpage.c             hugetlbpage_init(): PUD (4K only), CONT_PMD, PMD,
//                                           CONT_PTE
//   arch/arm64/Kconfig                      ARCH_FORCE_MAX_ORDER 10/11/13, PGTABLE_LEVELS,
//                                           select ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP
//   Documentation/mm/vmemmap_dedup.rst      hstate sizes per granule

import { type ArchPresetDef, GiB, MachineError, roundDown } from "../machine/layout.ts";
import type { ArchSpec, PfnRange, PteCodec, StructPageSize } from "../machine/spec.ts";

// pgtable-hwdef.h / pgtable-prot.h
export const PTE_VALID = 1n << 0n;
/** Bit 1: table (levels 0-2) or page (level 3); clear with bit 0 set = block. */
export const PTE_TABLE_BIT = 1n << 1n;
export const PTE_TYPE_PAGE = 3n;
export const PMD_TYPE_TABLE = 3n;
export const PMD_TYPE_SECT = 1n;
/** AP[2]: read-only. */
export const PTE_RDONLY = 1n << 7n;
/** SH[1:0] = 0b11, inner shareable (PTE_MAYBE_SHARED without LPA2). */
export const PTE_SHARED = 3n << 8n;
export const PTE_AF = 1n << 10n;
export const PTE_NG = 1n << 11n;
/** PTE_WRITE is PTE_DBM, bit 51. */
export const PTE_WRITE = 1n << 51n;
export const PTE_PXN = 1n << 53n;
export const PTE_UXN = 1n << 54n;
/** Software dirty bit, set by pte_wrprotect() when the entry was hardware-dirty. */
export const PTE_DIRTY = 1n << 55n;
export const PMD_TABLE_AF = 1n << 10n;
export const PMD_TABLE_UXN = 1n << 60n;
/** AttrIndx[2:0] at bits 4:2; MT_NORMAL is index 0. */
export const PTE_ATTRINDX_MT_NORMAL = 0n << 2n;

/** PROT_NORMAL = 0x0068000000000703 (no KPTI: PTE_MAYBE_NG = 0). */
export const PROT_NORMAL =
  PTE_TYPE_PAGE | PTE_AF | PTE_SHARED | PTE_PXN | PTE_UXN | PTE_WRITE | PTE_ATTRINDX_MT_NORMAL;
/**
 * PAGE_KERNEL = _PAGE_KERNEL = PROT_NORMAL | PTE_DIRTY = 0x00e8000000000703 (pgtable-prot.h
 * since PTE_DIRTY went back into the kernel's protections in 6.3; read off Debian's 7.2.13 arm64
 * guests' vmemmap PTEs and PMDs).
 */
export const PAGE_KERNEL = PROT_NORMAL | PTE_DIRTY;
/** PAGE_KERNEL_RO = (PROT_NORMAL & ~PTE_WRITE) | PTE_RDONLY | PTE_DIRTY = 0x00e0000000000783. */
export const PAGE_KERNEL_RO = (PROT_NORMAL & ~PTE_WRITE) | PTE_RDONLY | PTE_DIRTY;
/**
 * The vmemmap's block descriptor: the generic vmemmap_set_pmd() (mm/sparse-vmemmap.c, arm64 has
 * no override in 7.2) passes PAGE_KERNEL to pmd_set_huge(), whose mk_pmd_sect_prot() clears the
 * table bit: 0x00e8000000000701, as the 4K guest's vmemmap PMDs read.
 */
export const PROT_SECT_NORMAL = (PAGE_KERNEL & ~PTE_TABLE_BIT) | PMD_TYPE_SECT;
/** Kernel table descriptors (pmd/pud/p4d_populate for init_mm): 0x1000000000000403. */
export const KERNEL_TABLE = PMD_TYPE_TABLE | PMD_TABLE_AF | PMD_TABLE_UXN;

/** Output address: bits [47:PAGE_SHIFT] with 48-bit PAs (CONFIG_ARM64_PA_BITS_48). */
function oaMask(pageShift: number): bigint {
  return ((1n << 48n) - 1n) & ~((1n << BigInt(pageShift)) - 1n);
}

export function arm64PteCodec(pageShift: number, levelShifts: readonly number[]): PteCodec {
  const last = levelShifts.length - 1;
  const shift = BigInt(pageShift);
  const mask = oaMask(pageShift);
  return {
    mkTable(tablePfn) {
      return (BigInt(tablePfn) << shift) | KERNEL_TABLE;
    },
    mkLeaf(pfn, prot, level) {
      let v: bigint;
      if (prot.huge) {
        if (level === last || level === 0) {
          throw new RangeError("arm64: block mappings exist only at the PMD and PUD levels");
        }
        v = PROT_SECT_NORMAL; // mk_pmd_sect_prot(PAGE_KERNEL): bit 1 clear
        if (!prot.writable) v = (v & ~PTE_WRITE) | PTE_RDONLY;
      } else {
        if (level !== last) throw new RangeError("arm64: a page descriptor lives at level 3");
        v = prot.writable ? PAGE_KERNEL : PAGE_KERNEL_RO;
      }
      return (BigInt(pfn) << shift) | v;
    },
    decode(entry, level) {
      if (entry === 0n) return null;
      const valid = (entry & PTE_VALID) !== 0n;
      const tableBit = (entry & PTE_TABLE_BIT) !== 0n;
      const table = level !== last && valid && tableBit;
      const huge = level !== last && valid && !tableBit;
      return {
        present: valid,
        writable: table || (entry & PTE_RDONLY) === 0n,
        huge,
        table,
        pfn: Number((entry & mask) >> shift),
      };
    },
    wrprotect(entry) {
      // pte_wrprotect(): a hardware-dirty entry (writable and not read-only) keeps its dirtiness
      // in the software PTE_DIRTY bit before losing PTE_WRITE.
      let v = entry;
      if ((v & PTE_WRITE) !== 0n && (v & PTE_RDONLY) === 0n) v |= PTE_DIRTY;
      return (v & ~PTE_WRITE) | PTE_RDONLY;
    },
  };
}

interface Granule {
  preset: string;
  pageShift: number;
  levelShifts: number[];
  sectionShift: number;
  hstateOrders: number[];
  defaultHstateOrder: number;
  maxPageOrder: number;
  /** ARM64_MEMSTART_ALIGN: memstart_addr is DRAM's start rounded down to this. */
  memstartAlignBytes: number;
  /** Kconfig ARM64_CONT_PTE_SHIFT / ARM64_CONT_PMD_SHIFT: log2 of CONT_PTES / CONT_PMDS. */
  contPteBits: number;
  contPmdBits: number;
}

// VA_BITS 48 throughout (CONFIG_PGTABLE_LEVELS: 4 with 4K/16K, 3 with 64K; a 64K kernel with
// 42-bit VA would have only 2 levels).
const GRANULES: Record<"4k" | "16k" | "64k", Granule> = {
  "4k": {
    preset: "arm64-4k",
    pageShift: 12,
    levelShifts: [39, 30, 21, 12],
    sectionShift: 27,
    // CONT_PTE 64K (order 4), PMD 2M (9), CONT_PMD 32M (13), PUD 1G (18).
    hstateOrders: [4, 9, 13, 18],
    defaultHstateOrder: 9, // HPAGE_SHIFT = PMD_SHIFT
    maxPageOrder: 10,
    memstartAlignBytes: GiB, // PUD_SHIFT 30 > SECTION_SIZE_BITS
    contPteBits: 4,
    contPmdBits: 4,
  },
  "16k": {
    preset: "arm64-16k",
    pageShift: 14,
    levelShifts: [47, 36, 25, 14],
    sectionShift: 27,
    // CONT_PTE 128 x 16K = 2M (order 7), PMD 32M (11), CONT_PMD 32 x 32M = 1G (16); no PUD
    // blocks (pud_sect_supported() is 4K only).
    hstateOrders: [7, 11, 16],
    defaultHstateOrder: 11,
    maxPageOrder: 11,
    memstartAlignBytes: GiB, // CONT_PMD_SHIFT = 25 + 5 = 30
    contPteBits: 7,
    contPmdBits: 5,
  },
  "64k": {
    preset: "arm64-64k",
    pageShift: 16,
    levelShifts: [42, 29, 16],
    sectionShift: 29,
    // CONT_PTE 32 x 64K = 2M (order 5), PMD 512M (13), CONT_PMD 32 x 512M = 16G (18).
    hstateOrders: [5, 13, 18],
    defaultHstateOrder: 13,
    maxPageOrder: 13,
    memstartAlignBytes: 512 * 2 ** 20, // PMD_SHIFT 29 = SECTION_SIZE_BITS
    contPteBits: 5,
    contPmdBits: 5,
  },
};

export type Arm64Granule = keyof typeof GRANULES;

const TWO64 = 1n << 64n;

/**
 * VMEMMAP_START = -SZ_1G - (VMEMMAP_RANGE >> PAGE_SHIFT) * sizeof(struct page), VMEMMAP_RANGE =
 * _PAGE_END(48) - PAGE_OFFSET = 2^47. 4K: 0xfffffdffc0000000, 16K: 0xffffff7fc0000000,
 * 64K: 0xffffffdfc0000000 (64-byte struct page).
 * `vaBits`: the VAs the kernel runs with. A kernel built for 52-bit VAs on a CPU without LPA2
 * falls back to VA_BITS_MIN (48 with 4K pages, 47 with 16K) and keeps its 52-bit PAGE_OFFSET,
 * moving memstart_addr down instead, so the struct page of DRAM's first page sits where a kernel
 * built for VA_BITS_MIN puts it: -SZ_1G - 2^(VA_BITS_MIN - 1 - PAGE_SHIFT) * sizeof(struct page)
 * (read off Debian's 7.2.13 arm64 and arm64-16k kernels in QEMU: 0xfffffdffc0000000 and
 * 0xffffffbfc0000000).
 */
export function arm64VmemmapStart(pageShift: number, structPageSize: number, vaBits = 48): bigint {
  const size = (1n << BigInt(vaBits - 1 - pageShift)) * BigInt(structPageSize);
  return TWO64 - BigInt(GiB) - size;
}

/**
 * pfn_to_page(0) = vmemmap = (struct page *)VMEMMAP_START - (memstart_addr >> PAGE_SHIFT), with
 * memstart_addr = round_down(memblock_start_of_DRAM(), ARM64_MEMSTART_ALIGN).
 */
export function arm64VmemmapBase(
  granule: Arm64Granule,
  structPageSize: number,
  firstPfn: number,
  vaBits = 48,
): bigint {
  const g = GRANULES[granule];
  const memstart = roundDown(firstPfn * 2 ** g.pageShift, g.memstartAlignBytes);
  const start = arm64VmemmapStart(g.pageShift, structPageSize, vaBits);
  return start - BigInt(memstart / 2 ** g.pageShift) * BigInt(structPageSize);
}

/**
 * The page-table levels of a granule with `vaBits` of VA: 48 as the presets; 47 with 16K pages
 * (the fallback of a 52-bit kernel on a CPU without LPA2) drops the 2-entry top level, leaving
 * 3 levels (bits 46:36, 35:25, 24:14), as seen walking swapper_pg_dir in Debian's arm64-16k guest.
 */
export function arm64LevelShifts(granule: Arm64Granule, vaBits = 48): number[] {
  const g = GRANULES[granule];
  return g.levelShifts.filter((s) => s < vaBits);
}

export function arm64Arch(
  granule: Arm64Granule,
  structPageSize: StructPageSize,
  firstPfn: number,
  vaBits = 48,
): ArchSpec {
  const g = GRANULES[granule];
  const levelShifts = arm64LevelShifts(granule, vaBits);
  return {
    name: "arm64",
    preset: g.preset,
    pageShift: g.pageShift,
    levelShifts,
    vmemmapBase: arm64VmemmapBase(granule, structPageSize, firstPfn, vaBits),
    sectionShift: g.sectionShift,
    maxPhysmemBits: 48,
    vmemmapPmdLeaves: granule === "4k",
    hstateOrders: [...g.hstateOrders],
    defaultHstateOrder: g.defaultHstateOrder,
    maxPageOrder: g.maxPageOrder,
    vmemmapPreinit: false,
    optimizeHugetlbVmemmap: true,
    hvoHypothetical:
      "Linux 7.2 on arm64 has no HVO: the arch does not select ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP " +
      "(Debian's 7.2.13 arm64 and arm64-16k kernels have no CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP and no " +
      "/proc/sys/vm/hugetlb_optimize_vmemmap, test/vm/arm64.test.ts): the model's HVO figures for arm64 are what HVO " +
      "would give if it did, by the arithmetic of Documentation/mm/vmemmap_dedup.rst.",
    // Debian's arm64 configs (7.2.13, 4K and 16K): CONFIG_NODES_SHIFT=4, so a node-1 Normal page's
    // flags start 0x14 (node 1 in bits 63:60, zone 2 in 59:57), as the 2-node guest's read.
    nodesShift: 4,
    // CONT_PTE_SHIFT = CONT_PTE bits + PAGE_SHIFT, CONT_PMD_SHIFT = CONT_PMD bits + PMD_SHIFT.
    contShifts: {
      pte: g.contPteBits + g.pageShift,
      pmd: g.contPmdBits + g.levelShifts[g.levelShifts.length - 2],
    },
    pte: arm64PteCodec(g.pageShift, levelShifts),
  };
}

/** DRAM starts at 1 GiB, as on QEMU's virt board (hw/arm/virt.c VIRT_MEM). */
export const ARM64_DRAM_BASE = GiB;

function arm64Preset(granule: Arm64Granule): ArchPresetDef {
  const g = GRANULES[granule];
  const page = 2 ** g.pageShift;
  return {
    preset: g.preset,
    archName: "arm64",
    pageShift: g.pageShift,
    sectionShift: g.sectionShift,
    arch: ({ structPageSize, firstPfn }) => arm64Arch(granule, structPageSize, firstPfn),
    layout(memoryBytes) {
      if (memoryBytes % page !== 0 || memoryBytes <= 0) {
        throw new MachineError(
          `${g.preset}: memory must be a positive multiple of ${page} (${memoryBytes})`,
        );
      }
      const startPfn = ARM64_DRAM_BASE / page;
      return [{ startPfn, endPfn: startPfn + memoryBytes / page }];
    },
    zoneLimits(ranges: readonly PfnRange[]) {
      // zone_sizes_init() with no DT/ACPI DMA restriction: ZONE_DMA and ZONE_DMA32 both end at
      // max_zone_phys(32 bits) = 4 GiB (or the end of DRAM), so ZONE_DMA32 stays empty.
      const end = ranges.length ? ranges[ranges.length - 1].endPfn : 0;
      const fourG = (4 * GiB) / page;
      const first = ranges.length ? ranges[0].startPfn : 0;
      // max_zone_phys(): DRAM wholly above 4 GiB puts everything in ZONE_DMA.
      const limit = first * page >= 4 * GiB ? end : Math.min(fourG, end);
      return { DMA: limit, DMA32: limit };
    },
    defaultMemoryBytes: 16 * GiB,
    defaultCmdline: "",
  };
}

export const arm64_4kPreset = arm64Preset("4k");
export const arm64_16kPreset = arm64Preset("16k");
export const arm64_64kPreset = arm64Preset("64k");
