// The shape of a simulated machine: what arch/*/ presets, machine files and the host reader
// produce, and what the kernel model boots. Pure data; no behaviour.
//
// Units are in the names: *Pfn are page frame numbers of the machine's base page size,
// *Shift are log2 of a size in bytes, *Bytes are bytes.

import { lastAtOrBelow } from "../include/bsearch.ts";

/** enum zone_type, include/linux/mmzone.h (ZONE_DEVICE is not modelled). */
export type ZoneType = "DMA" | "DMA32" | "Normal" | "Movable";
export const ZONE_TYPES: readonly ZoneType[] = ["DMA", "DMA32", "Normal", "Movable"];

export type ArchName = "x86_64" | "arm64" | "riscv64" | "loongarch64";

/** A page-table entry's meaning, independent of the architecture's bit layout. */
export interface PteProt {
  present: boolean;
  writable: boolean;
  /** A block/huge mapping at a level above the last one (x86 PSE, arm64 block descriptor). */
  huge: boolean;
}

/** A decoded entry, as decode() returns it (written in place by decodeParts()). */
export interface DecodedPte extends PteProt {
  pfn: number;
  table: boolean;
}

/**
 * One architecture's page-table entry format (arch/<arch>/include/asm/pgtable*.h).
 * Entries are 64-bit words stored little-endian in page-table frames.
 */
export interface PteCodec {
  /** A pointer to the next-level table at `level` (0 = top). */
  mkTable(tablePfn: number, level: number): bigint;
  /** A kernel data mapping (PAGE_KERNEL or PAGE_KERNEL_RO; huge at a non-last level). */
  mkLeaf(pfn: number, prot: { writable: boolean; huge: boolean }, level: number): bigint;
  /** Decode; null when the entry is none (not present and not a swap entry). */
  decode(entry: bigint, level: number): (PteProt & { pfn: number; table: boolean }) | null;
  /**
   * decode() of the entry given as its 32-bit halves, into `out` (false, out untouched, when
   * it is none): the page walk's hot path, no bigint and no object. Optional; decode() is used
   * where an arch has none.
   */
  decodeParts?(lo: number, hi: number, level: number, out: DecodedPte): boolean;
  /**
   * mkLeaf(pfn, { writable, huge: false }, last level) as its 32-bit halves: the low one
   * returned, the high one in out[0]. Optional, as decodeParts().
   */
  mkPteParts?(pfn: number, writable: boolean, out: Uint32Array): number;
  /**
   * Whether the first, second and last entries of a run of words (entry i = entry 0 + i * a
   * delta, mod 2^64) decide what every entry of it decodes to (pteRuns(), pgtable.ts). True
   * when each bit below some bit b is read as a field of its own (x86_64: present is bit 0 and
   * RW bit 1, b = 2), nothing else but the pfn is read, the pfn is one field above b, and
   * nothing above the pfn is read. Not so for arm64 (PTE_RDONLY is bit 7, above bits that are
   * not read) nor riscv64 (R, bit 1, counts only through whether the entry is a leaf): there a
   * delta in the low bits can carry into a bit that is read and out of it again within a run.
   * Absent: false, and pteRuns() decodes every entry.
   */
  runsDecidedByEnds?: boolean;
  /** ptep_set_wrprotect(): the same entry, read-only. */
  wrprotect(entry: bigint, level: number): bigint;
}

export interface ArchSpec {
  name: ArchName;
  /** A short label for reports: "x86_64", "arm64-16k". */
  preset: string;
  pageShift: number;
  /**
   * Shift of the region each page-table level maps per entry, top level first, the last entry
   * being pageShift: x86_64 4-level [39, 30, 21, 12].
   */
  levelShifts: number[];
  /** Start of the vmemmap: the struct page of pfn 0 lives here (vmemmap_base, VMEMMAP_START). */
  vmemmapBase: bigint;
  /** SECTION_SIZE_BITS. */
  sectionShift: number;
  /** MAX_PHYSMEM_BITS: the vmemmap spans 2^(maxPhysmemBits - pageShift) struct pages. */
  maxPhysmemBits: number;
  /** vmemmap_populate() maps whole sections' memmap with PMD leaves (x86_64 with PSE, arm64 4K). */
  vmemmapPmdLeaves: boolean;
  /** Huge page orders this arch supports (arch_hugetlb_valid_size), ascending. */
  hstateOrders: number[];
  /** HPAGE_SHIFT - PAGE_SHIFT: the default hstate's order. */
  defaultHstateOrder: number;
  /** MAX_PAGE_ORDER: the largest buddy order; larger huge pages are gigantic. */
  maxPageOrder: number;
  /** ARCH_WANT_HUGETLB_VMEMMAP_PREINIT: boot-time HVO of memblock gigantic pages. */
  vmemmapPreinit: boolean;
  /** ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP. */
  optimizeHugetlbVmemmap: boolean;
  /**
   * Set when the model gives the arch HVO that its released kernels do not have: why, in one
   * sentence. The report and the matrix print it next to the figures (arm64: 7.2 does not select
   * ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP, and the presets show what the arithmetic would give).
   */
  hvoHypothetical?: string;
  /**
   * The arch defines no PAGE_KERNEL_RO, so include/linux/pgtable.h falls back to PAGE_KERNEL and
   * HVO's "read-only" tail mappings (vmemmap_remap_pte()) are in fact writable: riscv64,
   * loongarch64. Absent or false: PAGE_KERNEL_RO is a real read-only mapping.
   */
  pageKernelRoIsPageKernel?: boolean;
  /**
   * arm64's contiguous-bit sizes (arch/arm64/include/asm/pgtable-hwdef.h): CONT_PTE_SHIFT and
   * CONT_PMD_SHIFT, a run of CONT_PTES / CONT_PMDS entries marked contiguous. Absent on the
   * arches without such huge pages.
   */
  contShifts?: { pte: number; pmd: number };
  /**
   * CONFIG_NODES_SHIFT of the distribution's kernel for this arch: the width of page->flags'
   * node field (include/linux/page-flags-layout.h). Absent: 10, Debian's x86_64 config.
   */
  nodesShift?: number;
  pte: PteCodec;
}

export interface PfnRange {
  startPfn: number;
  /** Exclusive. */
  endPfn: number;
}

export interface ZoneSpec extends PfnRange {
  type: ZoneType;
}

export interface NodeSpec {
  nid: number;
  /** Present memory; gaps between ranges are holes (no struct pages are initialised there). */
  ranges: PfnRange[];
  /** Zone spans on this node, ascending, non-overlapping. */
  zones: ZoneSpec[];
}

export type StructPageSize = 56 | 64 | 72 | 80;

/**
 * The CPU features that change what the kernel offers (boot_cpu_has()). Only x86_64 has any
 * that matter here:
 *   gbpages  X86_FEATURE_GBPAGES ("pdpe1gb" in /proc/cpuinfo): arch/x86/mm/hugetlbpage.c accepts
 *            hugepagesz=1G (arch_hugetlb_valid_size()) and registers the 1 GiB hstate
 *            (gigantic_pages_init()) only with it.
 */
export interface CpuFeatures {
  gbpages: boolean;
}

export interface MachineSpec {
  /** Preset name or file name, echoed in results. */
  name: string;
  arch: ArchSpec;
  /** sizeof(struct page): 64 normally; 56, 72, 80 for other configs (include/mm_types.ts). */
  structPageSize: StructPageSize;
  nodes: NodeSpec[];
  /** The kernel command line (hugepagesz=, hugepages=, default_hugepagesz=, hugetlb_free_vmemmap=). */
  cmdline: string;
  /**
   * Pages the rest of the kernel and its users hold after boot, taken from the buddy allocator
   * so that MemFree comes out as on the real machine. Per node; 0 when not given.
   */
  otherUsedPages?: number[];
  /**
   * Pages the kernel keeps reserved in memblock from setup_arch() on (its image, as it stands
   * after boot freed its init sections): PG_reserved, _refcount 1, never in the buddy.
   */
  reservedAtBoot?: PfnRange[];
  /**
   * Where the boot loader put the initramfs, whole pages ([image, PAGE_ALIGN(image + size))):
   * x86's setup_arch() reserves it in memblock before any allocation (early_reserve_initrd(); it
   * stays in place, reserve_initrd() relocates only a ramdisk outside the direct map, which on
   * 64-bit covers all RAM), so the kernel's own allocations and the memmap go below it, and the
   * kernel gives it to the buddy after boot (populate_rootfs() -> free_initrd_mem()). Absent: no
   * initrd.
   */
  initrd?: PfnRange;
  /**
   * The kernel's own memblock allocations before hugetlb's and the memmap's, in its order (x86
   * setup_arch(): the direct map's page tables, NODE_DATA, the e820 copies; sparse_init(): the
   * section roots and usage maps), as the guest's `memblock=debug` log lists them: bytes, byte
   * alignment, node (-1: NUMA_NO_NODE); `nodeData` marks NODE_DATA(nid), struct pglist_data,
   * whose address the free lists' heads are at. Absent: the model places none but its root page
   * table.
   */
  bootAllocations?: { bytes: number; align: number; nid: number; nodeData?: boolean }[];
  /**
   * The pfn of the kernel's top-level page table (swapper_pg_dir / init_top_pgt), a page of the
   * image in reservedAtBoot. Absent: the model takes a page from memblock for it.
   */
  rootPageTablePfn?: number;
  /**
   * Of those, how many the kernel's own unmovable blocks still have free after boot (per node,
   * /proc/pagetypeinfo's Unmovable free counts): the boot allocations (slab, page tables) leave
   * claimed pageblocks partly free, so the kernel's next unmovable pages land there. 0 when not
   * given.
   */
  otherFreeUnmovablePages?: number[];
  /**
   * Of otherUsedPages, how many pages the kernel's unmovable pageblocks span after boot, used and
   * free (per node, /proc/pagetypeinfo: the Unmovable count of "Number of blocks type" times
   * "Pages per block", in the zone the kernel's unmovable allocations try first). With it, the
   * claimed blocks hold those pages and otherFreeUnmovablePages of them stay free: the rest of
   * otherUsedPages is user memory (page cache, anonymous), taken as movable outside them. Without
   * it, all of otherUsedPages is unmovable and the last claimed block keeps whatever the count
   * leaves free.
   */
  otherUnmovablePages?: number[];
  /**
   * CONFIG_MEMORY_FAILURE: /sys/devices/system/memory/{hard,soft}_offline_page exist. Default
   * true (distribution kernels); this machine's live kernel is built without it.
   */
  memoryFailure?: boolean;
  /**
   * The CPU features of an arch that has any (x86_64: gbpages true unless the machine says
   * otherwise); absent on the others, or when the arch preset's CPU is meant.
   * arch.hstateOrders already reflects them.
   */
  cpu?: CpuFeatures;
}

/** A range's sort key (one function for every search: no closure made per call). */
const startPfnOf = (r: PfnRange): number => r.startPfn;

/** The index of the last range (of a list sorted by startPfn) that starts at or below pfn, or -1. */
export function lastPfnRangeAtOrBelow(sorted: readonly PfnRange[], pfn: number): number {
  return lastAtOrBelow(sorted, pfn, startPfnOf);
}

/** The range of a list sorted by startPfn, disjoint, that contains pfn; null when none does. */
export function findPfnRange<T extends PfnRange>(sorted: readonly T[], pfn: number): T | null {
  const i = lastPfnRangeAtOrBelow(sorted, pfn);
  return i >= 0 && pfn < sorted[i].endPfn ? sorted[i] : null;
}

export function pageSizeBytes(arch: ArchSpec): number {
  return 2 ** arch.pageShift;
}
