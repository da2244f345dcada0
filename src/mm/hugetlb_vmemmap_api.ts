// What mm/hugetlb.c calls in mm/hugetlb_vmemmap.c (mm/hugetlb_vmemmap.h), so that the pool and
// the HVO designs (mm/hvo_designs.ts) meet at one interface. A folio is named by its head pfn
// and its order.

import type { BootHooks } from "../kernel.ts";

/**
 * struct huge_bootmem_page, flattened over nodes: a gigantic page mm/hugetlb.ts took from
 * memblock at boot. It records them in k.sub.huge_boot_pages; HVO's boot hooks read them.
 */
export interface HugeBootmemPage {
  pfn: number;
  order: number;
  nid: number;
  flags: number;
}
export const HUGE_BOOTMEM_HVO = 0x1;
export const HUGE_BOOTMEM_ZONES_VALID = 0x2;
export const HUGE_BOOTMEM_CMA = 0x4;

export interface RestoreBatchResult {
  /**
   * Folios whose vmemmap is now complete (restored, or never optimised): safe to free. In the
   * order of the kernel's non_hvo_folios list, the last one walked first (list_move()).
   */
  nonHvo: number[];
  /** Folios still optimised: the one that failed and those not tried after it. */
  remaining: number[];
  /** 0, or the negative errno of the first failure (-ENOMEM). */
  err: number;
  /** How many were restored by this call. */
  restored: number;
}

export interface HugetlbVmemmap {
  /** vm.hugetlb_optimize_vmemmap / hugetlb_free_vmemmap=: affects later optimisations only. */
  enabled: boolean;
  /** hugetlb_vmemmap_optimizable(h): vmemmap_optimizable_size(order) > 0. */
  optimizable(order: number): boolean;
  /** hugetlb_vmemmap_optimizable_size(): bytes of vmemmap HVO frees per folio of `order`. */
  optimizableSize(order: number): number;
  /** Whether the sysctl file exists (registered only when some hstate is optimisable). */
  sysctlRegistered(orders: number[]): boolean;
  /** hugetlb_vmemmap_optimize_folio(): one folio (fresh surplus, migration, dissolve paths). */
  optimizeFolio(order: number, headPfn: number): void;
  /**
   * hugetlb_vmemmap_optimize_folios(): a batch (pool grow, demote), one TLB flush.
   * `noneOptimized`: the caller cleared every folio's optimised flag, and nothing set it since.
   */
  optimizeFolios(order: number, headPfns: number[], noneOptimized?: boolean): void;
  /** hugetlb_vmemmap_optimize_bootmem_folios(): boot-time gathered folios (pre-HVO'd ones too). */
  optimizeBootmemFolios(order: number, headPfns: number[]): void;
  /** hugetlb_vmemmap_restore_folio(): 0 or -ENOMEM. */
  restoreFolio(order: number, headPfn: number): number;
  /**
   * hugetlb_vmemmap_restore_folios(): stops at the first failure. `noneOptimized`: the caller
   * read every folio's optimised flag clear, and nothing changed it since (the reads are
   * counted, not made again).
   */
  restoreFolios(order: number, headPfns: number[], noneOptimized?: boolean): RestoreBatchResult;
  /** folio_test_hugetlb_vmemmap_optimized() */
  isOptimized(headPfn: number): boolean;
  /** Whether any folio's optimised flag was ever set through this code (false: none is set). */
  readonly everOptimized: boolean;
  /** Boot hooks: pre-HVO of memblock gigantic pages (sparse_init), late init. */
  bootHooks: BootHooks;
}
