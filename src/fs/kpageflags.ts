// fs/proc/page.c: /proc/kpageflags (stable_page_flags() over a snapshot_page() of mm/util.c,
// 6.17+) and /proc/kpagecount (folio_precise_page_mapcount(), CONFIG_PAGE_MAPCOUNT). One
// little-endian u64 per pfn, computed from the struct page bytes as the kernel reads them.
//
// snapshot_page() decides head or tail from the struct page's own compound word, without the
// fake-head fixup of page_folio(): a legacy HVO alias of the head struct page (every 4 KiB of
// vmemmap) is a page whose word is even and which has PG_head, so it is snapshotted as a head.

import { PAGE_OFF, PGTY_buddy, PGTY_hugetlb } from "../include/mm_types.ts";
import { PG } from "../include/page_flags.ts";
import type { Kernel } from "../kernel.ts";

/** include/uapi/linux/kernel-page-flags.h and include/linux/kernel-page-flags.h */
export const KPF = {
  LOCKED: 0,
  ERROR: 1,
  REFERENCED: 2,
  UPTODATE: 3,
  DIRTY: 4,
  LRU: 5,
  ACTIVE: 6,
  SLAB: 7,
  WRITEBACK: 8,
  RECLAIM: 9,
  BUDDY: 10,
  MMAP: 11,
  ANON: 12,
  SWAPCACHE: 13,
  SWAPBACKED: 14,
  COMPOUND_HEAD: 15,
  COMPOUND_TAIL: 16,
  HUGE: 17,
  UNEVICTABLE: 18,
  HWPOISON: 19,
  NOPAGE: 20,
  KSM: 21,
  THP: 22,
  OFFLINE: 23,
  ZERO_PAGE: 24,
  IDLE: 25,
  PGTABLE: 26,
  RESERVED: 32,
  MLOCKED: 33,
  OWNER_2: 34,
  PRIVATE: 35,
  PRIVATE_2: 36,
  OWNER_PRIVATE: 37,
  ARCH: 38,
} as const;

const bit = (n: number): bigint => 1n << BigInt(n);

function pageTypeOf(word: number): number | null {
  // page_type_has_type(): a type is any value below PGTY_mapcount_underflow << 24 as signed.
  const top = word >>> 24;
  return top >= PGTY_buddy && top < 0xff ? top : null;
}

/** stable_page_flags() of one pfn. */
export function stablePageFlags(k: Kernel, pfn: number): bigint {
  const m = k.memmap;
  // kpage_read() (6.18): a pfn without an online page (no memmap, or in an offlined block)
  // reads 0; stable_page_flags(NULL)'s KPF_NOPAGE is no longer reached (live: pfn 0xc0000).
  if (!m.backing(pfn) || k.inOfflineBlock(pfn)) return 0n;
  const info = m.readU64(pfn, PAGE_OFF.compoundInfo);
  let headPfn = pfn;
  let idx = 0;
  if ((info & 1n) === 1n) {
    headPfn = k.compound.rawHead(pfn);
    idx = pfn - headPfn;
  } else if (!m.testBit(pfn, PAGE_OFF.flags, PG.head)) {
    headPfn = pfn;
  }
  // The folio snapshot: the "head" struct pages as seen from this page's own claim (for an
  // alias of a head, its own address: the copies of the real head's struct pages).
  const flags = m.readU64(headPfn, PAGE_OFF.flags);
  const large = (flags & bit(PG.head)) !== 0n;
  const mapping = m.readU64(headPfn, PAGE_OFF.mapping);
  const pageType = pageTypeOf(m.readU32(headPfn, PAGE_OFF.pageType));
  let u = 0n;
  const mapped = large
    ? (m.readU32(headPfn, k.layout.folio.largeMapcount) | 0) >= 0
    : (m.readU32(headPfn, PAGE_OFF.mapcount) | 0) >= 0 && pageType === null;
  if (mapped) u |= bit(KPF.MMAP);
  if ((mapping & 1n) === 1n) {
    u |= bit(KPF.ANON);
    if ((mapping & 2n) === 2n) u |= bit(KPF.KSM);
  }
  if (idx === 0) {
    if (large) u |= bit(KPF.COMPOUND_HEAD);
  } else u |= bit(KPF.COMPOUND_TAIL);
  const hugetlb = large && pageType === PGTY_hugetlb;
  if (hugetlb) u |= bit(KPF.HUGE);
  else if (large && (m.readU64(headPfn, k.layout.folio.flags1) & bit(PG.workingset)) !== 0n)
    u |= bit(KPF.THP);
  if (k.buddy.isFree(pfn)) u |= bit(KPF.BUDDY);
  if (pageType === 0xf1) u |= bit(KPF.OFFLINE);
  if (pageType === 0xf2) u |= bit(KPF.PGTABLE);
  if (pageType === 0xf5) u |= bit(KPF.SLAB);
  const copy = (kpf: number, pg: number, word = flags) => {
    if ((word & bit(pg)) !== 0n) u |= bit(kpf);
  };
  copy(KPF.LOCKED, PG.locked);
  copy(KPF.DIRTY, PG.dirty);
  copy(KPF.UPTODATE, PG.uptodate);
  copy(KPF.WRITEBACK, PG.writeback);
  copy(KPF.LRU, PG.lru);
  copy(KPF.REFERENCED, PG.referenced);
  copy(KPF.ACTIVE, PG.active);
  copy(KPF.RECLAIM, PG.reclaim);
  copy(KPF.SWAPBACKED, PG.swapbacked);
  copy(KPF.UNEVICTABLE, PG.unevictable);
  copy(KPF.MLOCKED, PG.mlocked);
  if (hugetlb) copy(KPF.HWPOISON, PG.hwpoison);
  else copy(KPF.HWPOISON, PG.hwpoison, m.readU64(pfn, PAGE_OFF.flags));
  copy(KPF.RESERVED, PG.reserved);
  copy(KPF.OWNER_2, PG.owner_2);
  copy(KPF.PRIVATE, PG.private);
  copy(KPF.PRIVATE_2, PG.private_2);
  copy(KPF.OWNER_PRIVATE, PG.owner_priv_1);
  copy(KPF.ARCH, PG.arch_1);
  return u;
}

/** kpagecount: folio_precise_page_mapcount() of the page in its folio (page_folio()). */
export function kpageCount(k: Kernel, pfn: number): bigint {
  const m = k.memmap;
  if (!m.backing(pfn) || k.inOfflineBlock(pfn)) return 0n;
  const own = m.readU32(pfn, PAGE_OFF.mapcount);
  let count = pageTypeOf(own) !== null ? 0 : (own | 0) + 1;
  const head = k.compound.compoundHead(pfn);
  if (m.testBit(head, PAGE_OFF.flags, PG.head)) {
    count += (m.readU32(head, k.layout.folio.entireMapcount) | 0) + 1;
  }
  return BigInt(Math.max(0, count));
}

/** The bytes of /proc/kpageflags or /proc/kpagecount at [offset, offset + length). */
export function readPfnWords(
  k: Kernel,
  which: "flags" | "count",
  offset: number,
  length: number,
  maxPfn: number,
): Uint8Array {
  const first = Math.floor(offset / 8);
  const last = Math.min(maxPfn, Math.floor((offset + length) / 8));
  const n = Math.max(0, last - first);
  const out = new Uint8Array(n * 8);
  const v = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const pfn = first + i;
    v.setBigUint64(i * 8, which === "flags" ? stablePageFlags(k, pfn) : kpageCount(k, pfn), true);
  }
  return out;
}
