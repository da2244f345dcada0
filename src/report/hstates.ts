// The arithmetic of HVO per hstate, from the machine alone: Documentation/mm/vmemmap_dedup.rst
// and mm/hugetlb_vmemmap.h (hugetlb_vmemmap_size(), hugetlb_vmemmap_optimizable_size(),
// HUGETLB_VMEMMAP_RESERVE_SIZE), the series' shared-tail constants (include/linux/mmzone.h:
// VMEMMAP_TAIL_MIN_ORDER, NR_VMEMMAP_TAILS) and mm/hugetlb.c report_hugepages().
//
// Nothing here boots a kernel: these are the numbers the kernel's formulas give, so that the
// report can put them next to what the model measures.

import type { Design } from "../kernel.ts";
import { usesMaskEncoding } from "../mm/hvo_designs.ts";
import { genmask, maxFolioOrder, vmemmapTailMinOrder } from "../include/page_flags.ts";
import type { MachineSpec } from "../machine/spec.ts";
import { hex64, hstateName } from "./units.ts";

/** Why an hstate cannot be optimised (hugetlb_vmemmap_optimizable() is false). */
export type NotOptimizableReason = "arch_no_hvo" | "struct_page_not_pow2" | "fits_in_one_page";

export interface HstateArithmetic {
  /** "2M", "1G", "64K" */
  name: string;
  size_kb: number;
  order: number;
  /** pages_per_huge_page(h): one struct page each. */
  struct_pages: number;
  /** hugetlb_vmemmap_size(h) = pages_per_huge_page(h) * sizeof(struct page). */
  vmemmap_bytes: number;
  /** vmemmap_bytes / PAGE_SIZE: vmemmap_dedup.rst's struct_size; below 1 when it shares a page. */
  vmemmap_pages: number;
  /** Larger than MAX_PAGE_ORDER: allocated with alloc_contig_pages() or from memblock. */
  gigantic: boolean;
  optimizable: boolean;
  why_not: NotOptimizableReason | null;
  /** One sentence for a newcomer; null when optimizable. */
  why_not_text: string | null;
  /** hugetlb_vmemmap_optimizable_size(h) / PAGE_SIZE. */
  freed_per_folio: number;
  /** "HugeTLB: %d KiB vmemmap can be freed for a %s page" of report_hugepages(). */
  freed_kb_per_folio: number;
  /** Vmemmap pages the folio keeps: the head page (HUGETLB_VMEMMAP_RESERVE_SIZE). */
  kept_per_folio: number;
  /**
   * What a tail's word at +8 holds: the mask (seed, mainline with a power-of-two struct page;
   * the same for every folio of this order) or "head | 1" (the pointer encoding).
   */
  tail_compound_info: string;
  /** seed/mainline: index of this order in vmemmap_tails[] (order - VMEMMAP_TAIL_MIN_ORDER). */
  shared_tail_slot: number | null;
  /**
   * 2 MiB vmemmap PMD leaves this folio's vmemmap spans (a fraction when many folios share
   * one): the first HVO inside each splits it, one page-table page. 0 without PMD leaves.
   */
  vmemmap_pmds_per_folio: number;
}

export interface MachineArithmetic {
  page_size: number;
  struct_page_size: number;
  /** sizeof(struct page) is a power of two (needed by HVO and the mask encoding). */
  struct_page_pow2: boolean;
  /** struct pages in one vmemmap page. */
  struct_pages_per_vmemmap_page: number;
  /** The arch selects ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP. */
  arch_hvo: boolean;
  /** Why the arch's HVO here is what-if arithmetic: its released kernels lack HVO (null: they have it). */
  hvo_hypothetical: string | null;
  /** The vmemmap is mapped with PMD leaves that HVO must split (x86_64, arm64 4K, ...). */
  vmemmap_pmd_size: number | null;
  /** VMEMMAP_TAIL_MIN_ORDER, MAX_FOLIO_ORDER, NR_VMEMMAP_TAILS (null without a power-of-two struct page). */
  vmemmap_tail_min_order: number | null;
  max_folio_order: number;
}

export function machineArithmetic(spec: MachineSpec): MachineArithmetic {
  const pageSize = 2 ** spec.arch.pageShift;
  const sps = spec.structPageSize;
  const pow2 = (sps & (sps - 1)) === 0;
  const levels = spec.arch.levelShifts.length;
  return {
    page_size: pageSize,
    struct_page_size: sps,
    struct_page_pow2: pow2,
    struct_pages_per_vmemmap_page: pageSize / sps,
    arch_hvo: spec.arch.optimizeHugetlbVmemmap,
    hvo_hypothetical: spec.arch.hvoHypothetical ?? null,
    vmemmap_pmd_size: spec.arch.vmemmapPmdLeaves ? 2 ** spec.arch.levelShifts[levels - 2] : null,
    vmemmap_tail_min_order: pow2 ? vmemmapTailMinOrder(spec.arch.pageShift, Math.log2(sps)) : null,
    max_folio_order: maxFolioOrder(spec.arch.pageShift),
  };
}

/** The hstate orders a machine boots with: the arch's supported sizes (arch_hugetlb_valid_size()). */
export function hstateOrders(spec: MachineSpec): number[] {
  return [...spec.arch.hstateOrders].sort((a, b) => a - b);
}

export function hstateArithmetic(
  spec: MachineSpec,
  design: Design,
  order: number,
): HstateArithmetic {
  const m = machineArithmetic(spec);
  const pageSize = m.page_size;
  const sps = m.struct_page_size;
  const structPages = 2 ** order;
  const vmemmapBytes = structPages * sps;
  const sizeKb = (structPages * pageSize) / 1024;
  let whyNot: NotOptimizableReason | null = null;
  let whyNotText: string | null = null;
  if (!m.arch_hvo) {
    whyNot = "arch_no_hvo";
    whyNotText = `${spec.arch.name} does not select ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP: no HVO on this arch`;
  } else if (!m.struct_page_pow2) {
    whyNot = "struct_page_not_pow2";
    whyNotText = `struct page is ${sps} bytes, not a power of two: HVO is off (hugetlb_vmemmap_optimizable_size() is 0)`;
  } else if (vmemmapBytes <= pageSize) {
    whyNot = "fits_in_one_page";
    whyNotText = `its ${vmemmapBytes} bytes of struct pages fit in one ${pageSize / 1024} KiB page: nothing to free`;
  }
  const optimizableBytes = whyNot ? 0 : vmemmapBytes - pageSize;
  // compound_info_has_mask(), as the design's facts have it (mm/hvo_designs.ts).
  const mask = usesMaskEncoding(design, {
    structPagePow2: m.struct_page_pow2,
    archHvo: m.arch_hvo,
  });
  const minOrder = m.vmemmap_tail_min_order;
  const slot =
    mask && minOrder !== null && !whyNot && order >= minOrder && order <= m.max_folio_order
      ? order - minOrder
      : null;
  return {
    name: hstateName(sizeKb),
    size_kb: sizeKb,
    order,
    struct_pages: structPages,
    vmemmap_bytes: vmemmapBytes,
    vmemmap_pages: vmemmapBytes / pageSize,
    gigantic: order > spec.arch.maxPageOrder,
    optimizable: whyNot === null,
    why_not: whyNot,
    why_not_text: whyNotText,
    freed_per_folio: optimizableBytes / pageSize,
    freed_kb_per_folio: optimizableBytes / 1024,
    kept_per_folio: whyNot ? 0 : 1,
    tail_compound_info: mask ? hex64(genmask(63, order + Math.log2(sps)) | 1n) : "head | 1",
    shared_tail_slot: slot,
    vmemmap_pmds_per_folio: m.vmemmap_pmd_size ? vmemmapBytes / m.vmemmap_pmd_size : 0,
  };
}

export function allHstateArithmetic(spec: MachineSpec, design: Design): HstateArithmetic[] {
  return hstateOrders(spec).map((o) => hstateArithmetic(spec, design, o));
}

/** The memmap of the whole machine at boot: every present section's struct pages. */
export interface MemmapArithmetic {
  present_sections: number;
  section_bytes: number;
  pages_per_section: number;
  /** PAGES_PER_SECTION * sizeof(struct page) / PAGE_SIZE */
  memmap_pages_per_section: number;
  /** present sections x memmap pages per section: nr_memmap_boot_pages right after boot. */
  boot_memmap_pages: number;
  boot_memmap_bytes: number;
  /** Present RAM (pages in the nodes' ranges, holes excluded). */
  present_pages: number;
  /** boot memmap / present RAM, in percent (1.5625 % with 64-byte struct pages and 4 KiB pages). */
  memmap_percent: number;
}

export function memmapArithmetic(spec: MachineSpec): MemmapArithmetic {
  const pageSize = 2 ** spec.arch.pageShift;
  const pagesPerSection = 2 ** (spec.arch.sectionShift - spec.arch.pageShift);
  const sections = new Set<number>();
  let present = 0;
  for (const n of spec.nodes) {
    for (const r of n.ranges) {
      if (r.endPfn <= r.startPfn) continue;
      present += r.endPfn - r.startPfn;
      const last = Math.floor((r.endPfn - 1) / pagesPerSection);
      for (let s = Math.floor(r.startPfn / pagesPerSection); s <= last; s++) sections.add(s);
    }
  }
  const perSection = Math.ceil((pagesPerSection * spec.structPageSize) / pageSize);
  const boot = sections.size * perSection;
  return {
    present_sections: sections.size,
    section_bytes: 2 ** spec.arch.sectionShift,
    pages_per_section: pagesPerSection,
    memmap_pages_per_section: perSection,
    boot_memmap_pages: boot,
    boot_memmap_bytes: boot * pageSize,
    present_pages: present,
    memmap_percent: present > 0 ? (100 * boot) / present : 0,
  };
}
