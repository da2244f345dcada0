// arch/x86 (x86_64, 4-level or 5-level paging, no KASLR): the x86_64 preset and its page-table
// entry format.
// Sources, all in torvalds/linux:
//   arch/x86/include/asm/pgtable_types.h   _PAGE_BIT_*, __PAGE_KERNEL*, _PAGE_TABLE
//   arch/x86/include/asm/pgtable_64_types.h PGDIR_SHIFT (39, 48 with LA57), P4D/PUD/PMD_SHIFT,
//                                          __VMEMMAP_BASE_L4, __VMEMMAP_BASE_L5
//   arch/x86/include/asm/sparsemem.h       SECTION_SIZE_BITS 27, MAX_PHYSMEM_BITS 46 (4-level),
//                                          52 (5-level: pgtable_l5_enabled())
//   arch/x86/include/asm/pgalloc.h         pmd/pud/p4d_populate*(): _PAGE_TABLE
//   arch/x86/mm/init_64.c                  vmemmap_populate(), vmemmap_set_pmd(): PAGE_KERNEL_LARGE
//   arch/x86/mm/hugetlbpage.c              arch_hugetlb_valid_size(): PMD_SIZE, PUD_SIZE if GBPAGES
//   arch/x86/Kconfig                       ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP, ..._PREINIT if X86_64
//   arch/x86/include/asm/dma.h             MAX_DMA_PFN (16 MiB), MAX_DMA32_PFN (4 GiB)

import { type ArchPresetDef, GiB, MachineError, MiB, type ZoneLimits } from "../machine/layout.ts";
import type { ArchSpec, CpuFeatures, PfnRange, PteCodec } from "../machine/spec.ts";

// pgtable_types.h: _PAGE_BIT_PRESENT 0, _RW 1, _USER 2, _ACCESSED 5, _DIRTY 6, _PSE 7,
// _GLOBAL 8, _NX 63.
export const _PAGE_PRESENT = 1n << 0n;
export const _PAGE_RW = 1n << 1n;
export const _PAGE_USER = 1n << 2n;
export const _PAGE_ACCESSED = 1n << 5n;
export const _PAGE_DIRTY = 1n << 6n;
export const _PAGE_PSE = 1n << 7n;
export const _PAGE_GLOBAL = 1n << 8n;
export const _PAGE_NX = 1n << 63n;

/** __PAGE_KERNEL = __PAGE_KERNEL_EXEC | _PAGE_NX: P, RW, D, A, G, NX = 0x8000000000000163. */
export const PAGE_KERNEL =
  _PAGE_PRESENT | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED | _PAGE_GLOBAL | _PAGE_NX;
/** __PAGE_KERNEL_RO = __PAGE_KERNEL & ~_PAGE_RW = 0x8000000000000161. */
export const PAGE_KERNEL_RO = PAGE_KERNEL & ~_PAGE_RW;
/** __PAGE_KERNEL_LARGE = __PAGE_KERNEL | _PAGE_PSE = 0x80000000000001e3 (vmemmap_set_pmd()). */
export const PAGE_KERNEL_LARGE = PAGE_KERNEL | _PAGE_PSE;
/**
 * _PAGE_TABLE = P | RW | USER | A | D = 0x67: what pmd_populate_kernel(), pud_populate() and
 * p4d_populate() write for the vmemmap's tables (x86 ANDs permissions down the walk, so the
 * upper levels stay permissive).
 */
export const _PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;

/** PAGE_KERNEL and PAGE_KERNEL_RO as 32-bit halves (the high halves are equal). */
const PAGE_KERNEL_LO = Number(PAGE_KERNEL & 0xffffffffn);
const PAGE_KERNEL_RO_LO = Number(PAGE_KERNEL_RO & 0xffffffffn);
const PAGE_KERNEL_HI = Number(PAGE_KERNEL >> 32n);

/** __PHYSICAL_MASK_SHIFT 52 (page_64_types.h): PTE_PFN_MASK = bits 51..12. */
const PTE_PFN_MASK = ((1n << 52n) - 1n) & ~0xfffn;

const PAGE_SHIFT = 12;
/** 4-level paging: PGDIR_SHIFT 39, PUD_SHIFT 30, PMD_SHIFT 21, PAGE_SHIFT. */
const LEVEL_SHIFTS = [39, 30, 21, 12];
/** 5-level paging (LA57): PGDIR_SHIFT 48 above P4D_SHIFT 39, then as 4-level. */
const LEVEL_SHIFTS_L5 = [48, 39, 30, 21, 12];

/** The x86_64 entry format (4 or 5 levels, as `levelShifts` has); `huge` is _PAGE_PSE, meaningful above the PTE level. */
export function x86PteCodec(levelShifts: readonly number[] = LEVEL_SHIFTS): PteCodec {
  const last = levelShifts.length - 1;
  // PHYSICAL_PMD_PAGE_MASK / PHYSICAL_PUD_PAGE_MASK per level: bit 12 is PAT on large pages.
  const hugeMasks = levelShifts.map((shift) => PTE_PFN_MASK & ~((1n << BigInt(shift)) - 1n));
  /** The same masks as a pfn alignment: a huge entry's pfn is a multiple of it. */
  const hugePfnAlign = levelShifts.map((shift) => 2 ** (shift - PAGE_SHIFT));
  return {
    mkTable(tablePfn) {
      return (BigInt(tablePfn) << 12n) | _PAGE_TABLE;
    },
    mkLeaf(pfn, prot, level) {
      let v = prot.writable ? PAGE_KERNEL : PAGE_KERNEL_RO;
      if (prot.huge) {
        if (level === last) throw new RangeError("x86_64: a huge mapping needs a PMD or PUD");
        v |= _PAGE_PSE;
      }
      return (BigInt(pfn) << 12n) | v;
    },
    decode(entry, level) {
      if (entry === 0n) return null;
      const huge = level !== last && (entry & _PAGE_PSE) !== 0n;
      const mask = huge ? hugeMasks[level] : PTE_PFN_MASK;
      return {
        present: (entry & _PAGE_PRESENT) !== 0n,
        writable: (entry & _PAGE_RW) !== 0n,
        huge,
        table: level !== last && !huge,
        pfn: Number((entry & mask) >> 12n),
      };
    },
    mkPteParts(pfn, writable, out) {
      // PAGE_KERNEL(_RO): bits 0..8 in the low half, _PAGE_NX (bit 63) in the high one.
      out[0] = (Math.floor(pfn / 2 ** 20) | PAGE_KERNEL_HI) >>> 0;
      return (((pfn % 2 ** 20) * 2 ** 12) | (writable ? PAGE_KERNEL_LO : PAGE_KERNEL_RO_LO)) >>> 0;
    },
    decodeParts(lo, hi, level, out) {
      if (lo === 0 && hi === 0) return false;
      // Bits 12..51: 20 from the low half, 20 from the high one; bit 7 is _PAGE_PSE.
      let pfn = (hi & 0xfffff) * 2 ** 20 + (lo >>> 12);
      const huge = level !== last && (lo & 0x80) !== 0;
      if (huge) pfn -= pfn % hugePfnAlign[level];
      out.present = (lo & 1) !== 0;
      out.writable = (lo & 2) !== 0;
      out.huge = huge;
      out.table = level !== last && !huge;
      out.pfn = pfn;
      return true;
    },
    wrprotect(entry) {
      return entry & ~_PAGE_RW;
    },
    // Present and RW are bits 0 and 1, the pfn bits 12..51, nothing decoded above it.
    runsDecidedByEnds: true,
  };
}

/** __VMEMMAP_BASE_L4 (pgtable_64_types.h): vmemmap_base without KASLR, 4-level paging. */
export const X86_64_VMEMMAP_BASE = 0xffffea0000000000n;
/** __VMEMMAP_BASE_L5 (pgtable_64_types.h): vmemmap_base without KASLR, 5-level paging. */
export const X86_64_VMEMMAP_BASE_L5 = 0xffd4000000000000n;

/** The paging modes x86_64 has: 4-level, and 5-level (LA57, CONFIG_X86_5LEVEL). */
export const X86_64_PAGING_LEVELS: readonly number[] = [4, 5];

/** The x86_64 preset's CPU: GBPAGES, as every x86_64 server CPU since about 2010 has. */
export const X86_64_DEFAULT_CPU: Readonly<CpuFeatures> = Object.freeze({ gbpages: true });

/**
 * The x86_64 arch on a CPU with `cpu`'s features, with 4-level or 5-level paging.
 * arch_hugetlb_valid_size() accepts PMD_SIZE always and PUD_SIZE only with
 * X86_FEATURE_GBPAGES, and gigantic_pages_init() adds the PUD hstate under the same condition:
 * without GBPAGES there is no 1 GiB hstate at all. 5-level paging adds the P4D level on top,
 * moves vmemmap_base to __VMEMMAP_BASE_L5 and raises MAX_PHYSMEM_BITS to 52; the vmemmap's
 * own tables below the P4D (PUD, PMD, PTE) and the huge page sizes stay as with 4 levels.
 */
export function x86_64Arch(cpu: CpuFeatures = X86_64_DEFAULT_CPU, pagingLevels = 4): ArchSpec {
  if (!X86_64_PAGING_LEVELS.includes(pagingLevels)) {
    throw new MachineError(`pagingLevels: x86_64 has 4-level and 5-level paging (${pagingLevels})`);
  }
  const la57 = pagingLevels === 5;
  const levelShifts = la57 ? LEVEL_SHIFTS_L5 : LEVEL_SHIFTS;
  return {
    name: "x86_64",
    preset: "x86_64",
    pageShift: PAGE_SHIFT,
    levelShifts: [...levelShifts],
    // Fixed: x86 indexes vmemmap_base by the absolute pfn, whatever RAM's first pfn is.
    vmemmapBase: la57 ? X86_64_VMEMMAP_BASE_L5 : X86_64_VMEMMAP_BASE,
    sectionShift: 27,
    // sparsemem.h: MAX_PHYSMEM_BITS = pgtable_l5_enabled() ? 52 : 46.
    maxPhysmemBits: la57 ? 52 : 46,
    // vmemmap_populate(): whole sections with X86_FEATURE_PSE use vmemmap_populate_hugepages().
    vmemmapPmdLeaves: true,
    // 2 MiB (PMD_SIZE) and, with X86_FEATURE_GBPAGES, 1 GiB (PUD_SIZE).
    hstateOrders: cpu.gbpages ? [9, 18] : [9],
    // HPAGE_SHIFT = PMD_SHIFT (page_types.h).
    defaultHstateOrder: 9,
    // MAX_PAGE_ORDER: no ARCH_FORCE_MAX_ORDER on x86, so include/linux/mmzone.h's default 10.
    maxPageOrder: 10,
    vmemmapPreinit: true,
    optimizeHugetlbVmemmap: true,
    pte: x86PteCodec(levelShifts),
  };
}

const MAX_DMA_PFN = (16 * MiB) >> PAGE_SHIFT;
const MAX_DMA32_PFN = (4 * GiB) / 2 ** PAGE_SHIFT;

/**
 * A PC's e820 map: pfn 0 kept back (firmware data; the live machines' e820 starts at 0x1000),
 * RAM to 0x9fbff (the EBDA and the 640 KiB - 1 MiB legacy hole above), RAM from 1 MiB to 3 GiB,
 * the 3-4 GiB PCI hole, and the remainder from 4 GiB up. `memoryBytes` counts the RAM as whole
 * sections (3 GiB low + the rest high), as the live 24 GiB machines do.
 */
export function x86_64Layout(memoryBytes: number): PfnRange[] {
  const page = 2 ** PAGE_SHIFT;
  if (memoryBytes % page !== 0 || memoryBytes < 2 * MiB) {
    throw new MachineError(
      `x86_64: memory must be a multiple of 4K and at least 2M (${memoryBytes})`,
    );
  }
  const pages = memoryBytes / page;
  const lowTop = (3 * GiB) / page;
  const ranges: PfnRange[] = [{ startPfn: 1, endPfn: 0x9f }];
  ranges.push({ startPfn: 0x100, endPfn: Math.min(pages, lowTop) });
  if (pages > lowTop) {
    ranges.push({ startPfn: MAX_DMA32_PFN, endPfn: MAX_DMA32_PFN + (pages - lowTop) });
  }
  return ranges;
}

export function x86_64ZoneLimits(): ZoneLimits {
  return { DMA: MAX_DMA_PFN, DMA32: MAX_DMA32_PFN };
}

export const x86_64Preset: ArchPresetDef = {
  preset: "x86_64",
  archName: "x86_64",
  pageShift: PAGE_SHIFT,
  sectionShift: 27,
  arch: ({ cpu, pagingLevels }) => x86_64Arch(cpu ?? X86_64_DEFAULT_CPU, pagingLevels ?? 4),
  defaultCpu: X86_64_DEFAULT_CPU,
  pagingLevels: X86_64_PAGING_LEVELS,
  layout: x86_64Layout,
  zoneLimits: x86_64ZoneLimits,
  defaultMemoryBytes: 16 * GiB,
  defaultCmdline: "",
};
