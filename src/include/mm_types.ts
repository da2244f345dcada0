// include/linux/mm_types.h: struct page and struct folio, as byte offsets.
//
// The 64-byte layout of x86_64 (and of every 64-bit config with CONFIG_MEMCG and nothing else):
//
//   +0  flags            (PG_* bits low, zone and node bits at the top: page_flags.ts)
//   +8  lru.next         == compound_head / compound_info on tail pages (bit 0 set)
//   +16 lru.prev
//   +24 mapping          (TAIL_MAPPING on tails)
//   +32 index
//   +40 private          (hugetlb: the HPG_* flags of the folio)
//   +48 _mapcount / page_type (4 bytes; hugetlb heads: PGTY_hugetlb << 24)
//   +52 _refcount        (4 bytes)
//   +56 memcg_data       (CONFIG_MEMCG)
//
// Other sizes come from the config options that add or remove trailing fields; the fields
// above do not move:
//   56: !CONFIG_MEMCG and !CONFIG_SLAB_OBJ_EXT: memcg_data is gone.
//   72: WANT_PAGE_VIRTUAL (`void *virtual` at +64), as on some 64-bit configs with highmem-like
//       address handling, or LAST_CPUPID_NOT_IN_PAGE_FLAGS (`int _last_cpupid`, padded).
//   80: CONFIG_KMSAN (`kmsan_shadow` and `kmsan_origin` pointers at +64 and +72).
// 72 and 80 are not powers of two: the mask encoding and HVO are then off (SPEC §1.2).
//
// struct folio overlays the first four struct pages of a large folio (pages 0..3, which is why
// __NR_USED_SUBPAGE and NR_RESET_STRUCT_PAGE are 4). Offsets below are from the head struct
// page, so they depend on sizeof(struct page) for pages 1..3.

import type { StructPageSize } from "../machine/spec.ts";

export const PAGE_OFF = {
  flags: 0,
  lruNext: 8,
  compoundInfo: 8,
  lruPrev: 16,
  mapping: 24,
  index: 32,
  private: 40,
  mapcount: 48,
  pageType: 48,
  refcount: 52,
  memcgData: 56,
} as const;

/** Fields of struct folio that live in struct pages 1..3 (6.15+ layout, 64-bit). */
export interface FolioLayout {
  /** page[1].flags: the folio order in its low byte (folio_order()). */
  flags1: number;
  /** page[1].compound_head: page 1 is a tail like every other. */
  head1: number;
  largeMapcount: number;
  nrPagesMapped: number;
  entireMapcount: number;
  pincount: number;
  /** _mm_id_mapcount[0..1] (CONFIG_MM_ID, 6.15+): -1 each in a fresh folio. */
  mmIdMapcount: number;
  /** _mm_ids: 0 in a fresh folio. */
  mmIds: number;
  mapcount1: number;
  refcount1: number;
  /** _nr_pages (NR_PAGES_IN_LARGE_FOLIO, 64-bit): folio_nr_pages(); null when it does not fit. */
  nrPages: number | null;
  flags2: number;
  head2: number;
  deferredList: number;
  flags3: number;
  head3: number;
  hugetlbSubpool: number;
  hugetlbCgroup: number;
  hugetlbCgroupRsvd: number;
  hugetlbHwpoison: number;
}

export interface StructPageLayout {
  size: StructPageSize;
  /** log2(size), or null when size is not a power of two. */
  shift: number | null;
  hasMemcgData: boolean;
  folio: FolioLayout;
}

export function structPageLayout(size: StructPageSize): StructPageLayout {
  const p1 = size;
  const p2 = 2 * size;
  const p3 = 3 * size;
  const shift = (size & (size - 1)) === 0 ? Math.log2(size) : null;
  return {
    size,
    shift,
    hasMemcgData: size >= 64,
    folio: {
      flags1: p1 + 0,
      head1: p1 + 8,
      largeMapcount: p1 + 16,
      nrPagesMapped: p1 + 20,
      entireMapcount: p1 + 24,
      pincount: p1 + 28,
      mmIdMapcount: p1 + 32,
      mmIds: p1 + 40,
      mapcount1: p1 + 48,
      refcount1: p1 + 52,
      // _nr_pages sits after _refcount_1, where memcg_data of page 1 would be; a 56-byte
      // struct page has no room for it there.
      nrPages: size >= 64 ? p1 + 56 : null,
      flags2: p2 + 0,
      head2: p2 + 8,
      deferredList: p2 + 16,
      flags3: p3 + 0,
      head3: p3 + 8,
      hugetlbSubpool: p3 + 16,
      hugetlbCgroup: p3 + 24,
      hugetlbCgroupRsvd: p3 + 32,
      hugetlbHwpoison: p3 + 40,
    },
  };
}

/** include/linux/poison.h: POISON_POINTER_DELTA on x86_64 (CONFIG_ILLEGAL_POINTER_VALUE). */
export const POISON_POINTER_DELTA = 0xdead000000000000n;
/** include/linux/poison.h: TAIL_MAPPING, what prep_compound_tail() puts in ->mapping. */
export const TAIL_MAPPING = 0x400n + POISON_POINTER_DELTA;

/** include/linux/page-flags.h: page_type values live in the top byte of the 32-bit word. */
export const PGTY_buddy = 0xf0;
export const PGTY_hugetlb = 0xf4;
/** A page without a type has _mapcount == -1. */
export const PAGE_MAPCOUNT_NONE = 0xffffffff;

/** mm/hugetlb.h HPG_* bits, kept in folio->private of a hugetlb folio. */
export const HPG = {
  restore_reserve: 0,
  migratable: 1,
  temporary: 2,
  freed: 3,
  vmemmap_optimized: 4,
  raw_hwp_unreliable: 5,
  cma: 6,
} as const;
