// include/linux/page-flags.h (and the page->flags layout of include/linux/page-flags-layout.h,
// include/linux/mm.h set_page_links()).
//
// Two encodings of a tail page's word at +8:
//   pointer (legacy, and seed/mainline when sizeof(struct page) is not a power of two):
//       compound_head = address of the head struct page | 1
//   mask (seed and mainline with a power-of-two struct page):
//       compound_info = GENMASK(63, order + log2(sizeof(struct page))) | 1
//     and the head is found from the tail's own vmemmap address: head = tail & compound_info.
// The mask depends on nothing but the order, so every tail of one order holds the same bytes.

import type { ZoneType } from "../machine/spec.ts";

/** enum pageflags (6.18). Bit numbers in page->flags. */
export const PG = {
  locked: 0,
  writeback: 1,
  referenced: 2,
  uptodate: 3,
  dirty: 4,
  lru: 5,
  head: 6,
  waiters: 7,
  active: 8,
  workingset: 9,
  owner_priv_1: 10,
  owner_2: 11,
  arch_1: 12,
  reserved: 13,
  private: 14,
  private_2: 15,
  reclaim: 16,
  swapbacked: 17,
  unevictable: 18,
  mlocked: 20,
  hwpoison: 21,
} as const;

/** enum zone_type: the zone number stored in page->flags. */
export const ZONE_IDX: Record<ZoneType, number> = { DMA: 0, DMA32: 1, Normal: 2, Movable: 3 };
export const ZONE_BY_IDX: readonly ZoneType[] = ["DMA", "DMA32", "Normal", "Movable"];

/**
 * Where node and zone live in page->flags. With SPARSEMEM_VMEMMAP there are no section bits;
 * the node field is the top NODES_SHIFT bits, the zone field right below it.
 * Defaults: CONFIG_NODES_SHIFT=10 (Debian's x86_64 config; arm64's is 4: ArchSpec.nodesShift) and ZONES_SHIFT=3
 * (MAX_NR_ZONES = 5 with ZONE_DEVICE: DMA, DMA32, NORMAL, MOVABLE, DEVICE).
 */
export interface PageFlagsLayout {
  nodesShift: number;
  zonesShift: number;
}
export const DEFAULT_PAGE_FLAGS_LAYOUT: PageFlagsLayout = { nodesShift: 10, zonesShift: 3 };

/** set_page_links(): the node and zone bits of a struct page's flags. */
export function pageLinks(nid: number, zone: ZoneType, layout = DEFAULT_PAGE_FLAGS_LAYOUT): bigint {
  const nodesPgShift = 64n - BigInt(layout.nodesShift);
  const zonesPgShift = nodesPgShift - BigInt(layout.zonesShift);
  return (BigInt(nid) << nodesPgShift) | (BigInt(ZONE_IDX[zone]) << zonesPgShift);
}

export function pageToNid(flags: bigint, layout = DEFAULT_PAGE_FLAGS_LAYOUT): number {
  return Number(flags >> (64n - BigInt(layout.nodesShift)));
}

export function pageZonenum(flags: bigint, layout = DEFAULT_PAGE_FLAGS_LAYOUT): number {
  const shift = 64n - BigInt(layout.nodesShift) - BigInt(layout.zonesShift);
  return Number((flags >> shift) & ((1n << BigInt(layout.zonesShift)) - 1n));
}

export function testBit(word: bigint, bit: number): boolean {
  return ((word >> BigInt(bit)) & 1n) === 1n;
}

const U64 = (1n << 64n) - 1n;

/** GENMASK(h, l) for 64-bit words. */
export function genmask(high: number, low: number): bigint {
  return ((U64 >> BigInt(63 - high)) >> BigInt(low)) << BigInt(low);
}

/** The two ways a tail finds its head. */
export type TailEncoding = "pointer" | "mask";

/**
 * compound_info_has_mask(): the mask encoding needs a power-of-two struct page (and, in the
 * series, SPARSEMEM_VMEMMAP (v3) or HUGETLB_PAGE_OPTIMIZE_VMEMMAP (v7), both on in our models).
 */
export function compoundInfoHasMask(structPageShift: number | null): boolean {
  return structPageShift !== null;
}

/** The value set_compound_head() stores in a tail of a folio of `order` (pointer: head vaddr). */
export function encodeTail(
  encoding: TailEncoding,
  order: number,
  headVaddr: bigint,
  structPageShift: number | null,
): bigint {
  if (encoding === "pointer") return headVaddr | 1n;
  if (structPageShift === null)
    throw new RangeError("mask encoding needs a power-of-two struct page");
  return genmask(63, order + structPageShift) | 1n;
}

/**
 * _compound_head() without the fake-head fixup: what a tail's own word says its head is.
 * Mask: branchless `page & (((info & 1) - 1) | info)`; pointer: info - 1 when bit 0 is set.
 */
export function decodeCompoundHead(encoding: TailEncoding, vaddr: bigint, info: bigint): bigint {
  if (encoding === "mask") return vaddr & ((((info & 1n) - 1n) & U64) | info);
  return (info & 1n) === 1n ? info - 1n : vaddr;
}

/** MAX_FOLIO_ORDER for HugeTLB on 64-bit: ilog2(SZ_16G) - PAGE_SHIFT (mmzone.h, series v6+). */
export function maxFolioOrder(pageShift: number): number {
  return 34 - pageShift;
}

/** VMEMMAP_TAIL_MIN_ORDER = ilog2(2 * PAGE_SIZE / sizeof(struct page)). */
export function vmemmapTailMinOrder(pageShift: number, structPageShift: number): number {
  return pageShift + 1 - structPageShift;
}

/** NR_VMEMMAP_TAILS, clamped at 0 as v6 does for powerpc (v3 did not clamp). */
export function nrVmemmapTails(pageShift: number, structPageShift: number): number {
  return Math.max(
    0,
    maxFolioOrder(pageShift) - vmemmapTailMinOrder(pageShift, structPageShift) + 1,
  );
}

/**
 * MAX_FOLIO_VMEMMAP_ALIGN = MAX_FOLIO_NR_PAGES * sizeof(struct page): the alignment of the
 * vmemmap that makes `tail & mask` land on the head for every folio size.
 */
export function maxFolioVmemmapAlign(pageShift: number, structPageSize: number): bigint {
  return (1n << BigInt(maxFolioOrder(pageShift))) * BigInt(structPageSize);
}
