// mm/memory-failure.c: memory_failure() and soft_offline_page() as the memory-block files
// hard_offline_page and soft_offline_page reach them (drivers/base/memory.c, with
// CONFIG_MEMORY_FAILURE), for the pages the model has: free and in-use HugeTLB folios, free
// buddy pages and the kernel's own pages.
//
// What each returns was measured on Linux 7.2 in QEMU (test/diff/vm_memory.test.ts):
// hard_offline_page of a pfn the kernel does not manage is EBUSY, of a pfn in an offlined block
// ENXIO, of a page already poisoned EHWPOISON; a free huge page is dissolved (its vmemmap
// restored first) and its raw page taken off the buddy; a free buddy page is taken off; any
// other page is marked and counted but stays where it is (EBUSY). soft_offline_page: ENXIO
// without a memmap, EIO offline or for the kernel's own pages, 0 for a page already poisoned.
// Every page marked counts in /proc/meminfo's HardwareCorrupted.
//
// Not modelled: pages in use by a process (the kernel unmaps them and kills the users, or
// migrates them for a soft offline): the model answers EBUSY and changes nothing.

import { EBUSY, EHWPOISON, EIO, ENXIO } from "../include/errno.ts";
import { PAGE_OFF } from "../include/mm_types.ts";
import { PG } from "../include/page_flags.ts";
import type { Kernel } from "../kernel.ts";
import type { HugetlbPool } from "./hugetlb.ts";
import { folioRefCount } from "./hugetlb_folio.ts";

/** PageHWPoison() of the page, or of its HugeTLB folio's head (a marked folio). */
function pageHwpoison(k: Kernel, pool: HugetlbPool, pfn: number): boolean {
  const folio = pool.hugetlbFolioOf(pfn);
  return k.memmap.testBit(folio ?? pfn, PAGE_OFF.flags, PG.hwpoison);
}

/** SetPageHWPoison() + num_poisoned_pages_inc(). */
function poison(k: Kernel, pfn: number): void {
  k.memmap.setBit(pfn, PAGE_OFF.flags, PG.hwpoison, true);
  k.numPoisonedPages++;
}

/** take_page_off_buddy(): the free page leaves the buddy allocator for good. */
function takeOffBuddy(k: Kernel, pfn: number): void {
  k.buddy.takeFreeRange(pfn, 1);
  k.buddy.allocations.set(pfn, { order: 0, use: "hwpoison", nid: k.pfnToNid(pfn) });
}

/** The page's fate once poisoned: 0 when it could be isolated, -EBUSY otherwise. */
function handlePoisoned(k: Kernel, pool: HugetlbPool, pfn: number): number {
  const folio = pool.hugetlbFolioOf(pfn);
  if (folio !== null) {
    // get_huge_page_for_hwpoison(): the folio is marked (PG_hwpoison of its head: the tails'
    // struct pages may be read-only) and the page counted; __page_handle_poison() dissolves
    // it, and folio_clear_hugetlb_hwpoison() moves the mark to the raw page, which leaves
    // the buddy. A dissolve that fails leaves the folio marked.
    k.memmap.setBit(folio, PAGE_OFF.flags, PG.hwpoison, true);
    k.numPoisonedPages++;
    if (pool.dissolveFreeHugetlbFolio(pfn) !== 0) return -EBUSY;
    k.memmap.setBit(folio, PAGE_OFF.flags, PG.hwpoison, false);
    k.memmap.setBit(pfn, PAGE_OFF.flags, PG.hwpoison, true);
    if (k.buddy.isFree(pfn)) takeOffBuddy(k, pfn);
    return 0;
  }
  if (k.buddy.isFree(pfn)) {
    poison(k, pfn);
    takeOffBuddy(k, pfn);
    return 0;
  }
  // A page the kernel holds (reserved, page tables, vmemmap ...): marked, not recovered.
  poison(k, pfn);
  return -EBUSY;
}

/** memory_failure(pfn, MF_SW_SIMULATED) as hard_offline_page_store() returns it. */
export function memoryFailure(k: Kernel, pool: HugetlbPool, pfn: number): number {
  // No memmap: a pfn the kernel does not manage (7.2: MF_IGNORED, EBUSY).
  if (!k.memmap.backing(pfn)) return -EBUSY;
  if (k.inOfflineBlock(pfn)) return -ENXIO;
  if (pageHwpoison(k, pool, pfn)) return -EHWPOISON;
  const folio = pool.hugetlbFolioOf(pfn);
  if (folio !== null && folioRefCount(k.memmap, folio) !== 0) return -EBUSY;
  return handlePoisoned(k, pool, pfn);
}

/** soft_offline_page() as soft_offline_page_store() returns it. */
export function softOfflinePage(k: Kernel, pool: HugetlbPool, pfn: number): number {
  if (!k.memmap.backing(pfn)) return -ENXIO;
  if (k.inOfflineBlock(pfn)) return -EIO;
  if (pageHwpoison(k, pool, pfn)) return 0;
  const folio = pool.hugetlbFolioOf(pfn);
  if (folio !== null) {
    if (folioRefCount(k.memmap, folio) !== 0) return -EBUSY;
    return handlePoisoned(k, pool, pfn);
  }
  if (k.buddy.isFree(pfn)) return handlePoisoned(k, pool, pfn);
  // get_hwpoison_page(): an unhandlable page (reserved, the kernel's own).
  return -EIO;
}
