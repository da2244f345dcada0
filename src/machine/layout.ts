// How the kernel turns present memory into nodes and zones: mm/mm_init.c
// (zone_spanned_pages_in_node(), calculate_node_totalpages(), free_area_init()) with the arch's
// zone_sizes_init() limits, plus the sparse section arithmetic of include/linux/mmzone.h.
//
// Pure functions over pfn ranges; every arch preset and the machine-file loader use them.

import type {
  ArchName,
  ArchSpec,
  CpuFeatures,
  NodeSpec,
  PfnRange,
  StructPageSize,
  ZoneSpec,
  ZoneType,
} from "./spec.ts";

/** A machine description that cannot be built: bad preset name, impossible layout. */
export class MachineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MachineError";
  }
}

/**
 * The exclusive upper pfn of each low zone, as the arch's zone_sizes_init() sets
 * max_zone_pfns[]. A zone type the arch does not configure is absent.
 */
export interface ZoneLimits {
  DMA?: number;
  DMA32?: number;
}

/** What one arch preset file provides; src/arch/index.ts turns it into a MachineSpec. */
export interface ArchPresetDef {
  /** Preset name: "x86_64", "arm64-16k". */
  preset: string;
  archName: ArchName;
  pageShift: number;
  sectionShift: number;
  /**
   * The ArchSpec for a machine whose RAM starts at `firstPfn`: on arm64 and riscv64 the vmemmap
   * base (the struct page of pfn 0) depends on where DRAM starts and on sizeof(struct page).
   */
  arch(opts: {
    structPageSize: StructPageSize;
    firstPfn: number;
    cpu?: CpuFeatures;
    /** Page-table levels, where the arch has a choice (pagingLevels); the default when absent. */
    pagingLevels?: number;
  }): ArchSpec;
  /**
   * The page-table depths a machine may choose, default first (x86_64: 4, and 5 with LA57).
   * Absent: the arch's depth is fixed by its page size, and a machine that names one is refused.
   */
  pagingLevels?: readonly number[];
  /**
   * The CPU features this arch's kernel looks at, with the preset's values (x86_64: gbpages
   * true, as on every current x86_64 server CPU). Absent: the arch has none, and a machine that
   * names one is refused.
   */
  defaultCpu?: CpuFeatures;
  /** Present RAM of a one-node machine with `memoryBytes` of RAM, ascending, with the holes. */
  layout(memoryBytes: number): PfnRange[];
  /** zone_sizes_init(): the zone limits for this machine's present memory. */
  zoneLimits(ranges: readonly PfnRange[]): ZoneLimits;
  defaultMemoryBytes: number;
  defaultCmdline: string;
}

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;

/** Total pages in a list of ranges. */
export function rangesPages(ranges: readonly PfnRange[]): number {
  let n = 0;
  for (const r of ranges) n += r.endPfn - r.startPfn;
  return n;
}

/**
 * zone_spanned_pages_in_node(): a zone spans the node's span [first present pfn, last present
 * pfn + 1) clamped to the zone's [low, high). Holes inside stay inside the span; an empty
 * intersection gives no zone.
 */
export function zonesForNode(ranges: readonly PfnRange[], limits: ZoneLimits): ZoneSpec[] {
  if (ranges.length === 0) return [];
  const nodeStart = ranges[0].startPfn;
  const nodeEnd = ranges[ranges.length - 1].endPfn;
  const bounds: { type: ZoneType; low: number; high: number }[] = [];
  let low = 0;
  if (limits.DMA !== undefined) {
    bounds.push({ type: "DMA", low, high: limits.DMA });
    low = limits.DMA;
  }
  if (limits.DMA32 !== undefined) {
    bounds.push({ type: "DMA32", low, high: Math.max(low, limits.DMA32) });
    low = Math.max(low, limits.DMA32);
  }
  bounds.push({ type: "Normal", low, high: Number.MAX_SAFE_INTEGER });
  const zones: ZoneSpec[] = [];
  for (const b of bounds) {
    const startPfn = Math.min(Math.max(nodeStart, b.low), b.high);
    const endPfn = Math.min(Math.max(nodeEnd, b.low), b.high);
    if (endPfn > startPfn) zones.push({ type: b.type, startPfn, endPfn });
  }
  return zones;
}

/**
 * Splits a machine's present memory into `nrNodes` nodes of (nearly) equal present size, cutting
 * only at section boundaries: a sparse section, and so a memory block, belongs to one node.
 * Node 0 gets the lowest addresses, so DMA and DMA32 end up on the node(s) covering low memory.
 */
export function splitIntoNodes(
  ranges: readonly PfnRange[],
  nrNodes: number,
  pagesPerSection: number,
): PfnRange[][] {
  if (!Number.isInteger(nrNodes) || nrNodes < 1) {
    throw new MachineError(`nodes: must be a positive integer (${nrNodes})`);
  }
  const total = rangesPages(ranges);
  const cuts: number[] = [];
  for (let k = 1; k < nrNodes; k++) {
    const target = Math.floor((total * k) / nrNodes);
    // The pfn below which `target` present pages lie, rounded up to a section boundary.
    let seen = 0;
    let cut = ranges[ranges.length - 1].endPfn;
    for (const r of ranges) {
      const len = r.endPfn - r.startPfn;
      if (seen + len >= target) {
        cut = r.startPfn + (target - seen);
        break;
      }
      seen += len;
    }
    cuts.push(Math.ceil(cut / pagesPerSection) * pagesPerSection);
  }
  const nodes: PfnRange[][] = [];
  for (let nid = 0; nid < nrNodes; nid++) {
    const lo = nid === 0 ? 0 : cuts[nid - 1];
    const hi = nid === nrNodes - 1 ? Number.MAX_SAFE_INTEGER : cuts[nid];
    const mine: PfnRange[] = [];
    for (const r of ranges) {
      const s = Math.max(r.startPfn, lo);
      const e = Math.min(r.endPfn, hi);
      if (e > s) mine.push({ startPfn: s, endPfn: e });
    }
    if (mine.length === 0) {
      throw new MachineError(
        `nodes: ${nrNodes} nodes leave node ${nid} without memory (${total} pages, sections of ${pagesPerSection} pages)`,
      );
    }
    nodes.push(mine);
  }
  return nodes;
}

/** Builds NodeSpecs from per-node ranges, zoning each node as the kernel would. */
export function buildNodes(perNode: readonly PfnRange[][], limits: ZoneLimits): NodeSpec[] {
  return perNode.map((ranges, nid) => ({
    nid,
    ranges: ranges.map((r) => ({ ...r })),
    zones: zonesForNode(ranges, limits),
  }));
}

/**
 * The sparse sections that hold present memory (present_section_nr()): each gets its memmap
 * populated at boot, PAGES_PER_SECTION * sizeof(struct page) bytes.
 */
export function presentSections(
  ranges: readonly PfnRange[],
  pageShift: number,
  sectionShift: number,
): Set<number> {
  const pagesPerSection = 2 ** (sectionShift - pageShift);
  const sections = new Set<number>();
  for (const r of ranges) {
    if (r.endPfn <= r.startPfn) continue;
    const first = Math.floor(r.startPfn / pagesPerSection);
    const last = Math.floor((r.endPfn - 1) / pagesPerSection);
    for (let s = first; s <= last; s++) sections.add(s);
  }
  return sections;
}

/** Pages of memmap one present section needs: PAGES_PER_SECTION * sizeof(struct page) / PAGE_SIZE. */
export function memmapPagesPerSection(arch: ArchSpec, structPageSize: number): number {
  return (2 ** (arch.sectionShift - arch.pageShift) * structPageSize) / 2 ** arch.pageShift;
}

/**
 * MAX_FOLIO_VMEMMAP_ALIGN of the series (v7 02/18): MAX_FOLIO_NR_PAGES * sizeof(struct page) when
 * sizeof(struct page) is a power of two, else 0 (no mask encoding, no requirement).
 * MAX_FOLIO_ORDER is get_order(SZ_16G) with gigantic hugetlb folios (include/linux/mm.h), so
 * 256 MiB with 4 KiB pages, 64 MiB with 16 KiB, 16 MiB with 64 KiB (64-byte struct page).
 */
export function maxFolioVmemmapAlignBytes(pageShift: number, structPageSize: number): bigint {
  if ((structPageSize & (structPageSize - 1)) !== 0) return 0n;
  const maxFolioNrPages = 2n ** BigInt(34 - pageShift);
  return maxFolioNrPages * BigInt(structPageSize);
}

/** The check sparse_init() makes in the series: IS_ALIGNED(pfn_to_page(0), MAX_FOLIO_VMEMMAP_ALIGN). */
export function vmemmapBaseAligned(arch: ArchSpec, structPageSize: number): boolean {
  const align = maxFolioVmemmapAlignBytes(arch.pageShift, structPageSize);
  return align === 0n || arch.vmemmapBase % align === 0n;
}

/** Rounds down to a multiple of `align` (a power of two). */
export function roundDown(value: number, align: number): number {
  return Math.floor(value / align) * align;
}
