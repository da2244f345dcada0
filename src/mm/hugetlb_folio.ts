// The HugeTLB parts of a folio's struct pages: include/linux/hugetlb.h (the HPG_* flags in
// folio->private, folio_test_hugetlb_vmemmap_optimized() ...) and include/linux/page-flags.h
// (the hugetlb page type). Shared by hugetlb.ts and hugetlb_vmemmap.ts; all through the memmap.

import { HPG, PAGE_OFF, PGTY_hugetlb } from "../include/mm_types.ts";
import type { Memmap } from "./memmap.ts";

export type HpgFlag = keyof typeof HPG;

/** folio_test_hugetlb_<flag>() */
export function folioTestHpg(memmap: Memmap, headPfn: number, flag: HpgFlag): boolean {
  return memmap.testBit(headPfn, PAGE_OFF.private, HPG[flag]);
}

/** folio_set_hugetlb_<flag>() / folio_clear_hugetlb_<flag>() */
export function folioSetHpg(memmap: Memmap, headPfn: number, flag: HpgFlag, on: boolean): void {
  memmap.setBit(headPfn, PAGE_OFF.private, HPG[flag], on);
}

/** folio_test_hugetlb(): the page type in the top byte of page_type. */
export function folioTestHugetlb(memmap: Memmap, headPfn: number): boolean {
  return memmap.readU32(headPfn, PAGE_OFF.pageType) >>> 24 === PGTY_hugetlb;
}

/** __folio_set_hugetlb() / __folio_clear_hugetlb() (the latter back to _mapcount = -1). */
export function folioSetHugetlb(memmap: Memmap, headPfn: number, on: boolean): void {
  memmap.writeU32(headPfn, PAGE_OFF.pageType, on ? (PGTY_hugetlb << 24) >>> 0 : 0xffffffff);
}

export function folioRefCount(memmap: Memmap, headPfn: number): number {
  return memmap.readU32(headPfn, PAGE_OFF.refcount) | 0;
}

export function folioSetRefCount(memmap: Memmap, headPfn: number, count: number): void {
  memmap.writeU32(headPfn, PAGE_OFF.refcount, count >>> 0);
}
