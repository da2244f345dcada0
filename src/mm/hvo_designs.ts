// mm/hugetlb_vmemmap.c, include/linux/page-flags.h (compound_info_has_mask()) and
// include/linux/mmzone.h (vmemmap_tails[]): what each modelled HVO design is, as facts.
//
// A design is a released kernel (or the posted series v3). Everything that describes a design
// (report, check, matrix, compare, the kernel's tail encoding) asks these facts; no module but
// this one and the strategy objects of mm/hugetlb_vmemmap.ts compares design names. The code
// that differs (optimise, restore, boot-time HVO) is in HVO_DESIGNS of mm/hugetlb_vmemmap.ts,
// which carries these facts as `facts`.

export type Design = "legacy" | "seed" | "mainline" | "mainline-7.1";

/**
 * When the tails of a compound page hold the mask GENMASK(63, order + log2(sizeof(struct page)))
 * | 1 instead of the head's address | 1 (compound_info_has_mask()): never (legacy); whenever
 * struct page is a power of two with SPARSEMEM_VMEMMAP (v3, always on in the model); when it is
 * a power of two and CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP is set (7.1, 7.2).
 */
export type MaskCondition = "never" | "sparsemem_vmemmap" | "hugetlb_page_optimize_vmemmap";

/** What an optimised folio's tail vmemmap pages map: its own head page, or a page shared per node or per zone. */
export type TailScope = "none" | "node" | "zone";

/**
 * What vmemmap_restore_pte() writes into each page it maps back:
 *   head_page_reset        copy_page() of the head vmemmap page, then struct pages 4..7 over
 *                          0..3 (reset_struct_pages(); legacy, v3);
 *   head_last_struct_page  every slot a copy of the folio's struct page
 *                          PAGE_SIZE / sizeof(struct page) - 1 (7.1);
 *   shared_tail            copy_page() of the page the PTE maps, the shared tail page (7.2).
 */
export type RestoreSource = "head_page_reset" | "head_last_struct_page" | "shared_tail";

export interface DesignFacts {
  name: Design;
  /** One line for help texts and report headers. */
  label: string;
  /** The kernels the design stands for. */
  kernels: string;
  maskWhen: MaskCondition;
  tailScope: TailScope;
  restoreCopies: RestoreSource;
  /** hugetlb_optimize_vmemmap_key, fake heads and VMEMMAP_SYNCHRONIZE_RCU (legacy only). */
  fakeHeads: boolean;
  /**
   * The build configuration of the kernel the design is checked against, where it changes what
   * the model does: CONFIG_INIT_ON_ALLOC_DEFAULT_ON (y in Debian's 7.2.13, the VM's kernel; not
   * set in the live 6.18 host's), which turns on the free path's page checks (page_alloc.ts);
   * CONFIG_DEFERRED_STRUCT_PAGE_INIT (y in Debian's builds), which leaves all but the first
   * section of each node's last zone to the deferred pass (memmap.ts firstDeferredPfn()).
   * CONFIG_DEBUG_VM is off in all of them (Debian's 7.2.13: "# CONFIG_DEBUG_VM is not set"; the
   * live 6.18 the same), so the VM_WARN_ON / VM_BUG_ON checks are compiled out (src/mm/debug_vm.ts;
   * BootOptions.debugVm turns them on).
   */
  config: { initOnAllocDefaultOn: boolean; deferredStructPageInit: boolean; debugVm: boolean };
  /**
   * Where sparse_init() puts each section's memmap at boot. With a sparse buffer (6.18, mm/sparse.c
   * sparse_buffer_init()), one PMD-aligned memblock block per node, taken top-down, hands out the
   * sections' memmaps in ascending order (section 0 lowest); 7.2's mm/sparse-vmemmap.c has no
   * buffer: vmemmap_alloc_block_buf() asks memblock for each PMD_SIZE block in turn, top-down, so
   * section 0's memmap is the highest. 7.1 and the series are taken as 6.18 (not checked).
   */
  sparseBuffer: boolean;
  /** Whether the design has these upstream fixes. */
  fixes: {
    /**
     * "mm/hugetlb_vmemmap: fix incorrect vmemmap restore in rollback" (Fixes: c0b495b91a47):
     * the rollback of a failed vmemmap_remap_free() keeps the head PTE (the copied head) and
     * restores only the PTEs that map the shared tail, from the shared tail. Without it (7.1)
     * the rollback refills the head vmemmap page too, losing the head struct page.
     */
    rollbackKeepsHead: boolean;
    /**
     * The boot-time write-protect of pre-HVO'd tails covers the folio's whole vmemmap
     * (`epfn = spfn + hugetlb_vmemmap_size(h)`). Before, the end was the first struct page's
     * address plus pages_per_huge_page(h) as a byte count: for 1 GiB on x86_64, 262144 bytes
     * are 64 vmemmap pages, the head's is skipped, so 63 of the 4095 tail pages were protected.
     */
    wrprotectWholeVmemmap: boolean;
  };
  /**
   * Pool rules of mm/hugetlb.c (mm/hugetlb_sysfs.c, mm/hugetlb_sysctl.c from 6.19) that changed
   * after 6.18; docs/rules.md compares every rule. The design's kernel decides, not its HVO code:
   * legacy is 6.18's pool, seed sits on 6.19's mm tree, 7.1 and 7.2 have both changes.
   */
  pool: {
    /**
     * "mm/hugetlb: allow overcommitting gigantic hugepages" (6.19): nr_overcommit_hugepages of
     * a gigantic hstate is accepted (hstate_is_gigantic_no_runtime(), false where runtime
     * allocation works) and alloc_surplus_hugetlb_folio() makes gigantic surplus folios at
     * reservation and fault. Before (6.18): the write is EINVAL before its value is parsed and
     * a gigantic hstate never gets a surplus folio from the allocator.
     */
    giganticOvercommit: boolean;
    /**
     * "mm, hugetlb: implement movable_gigantic_pages sysctl" (6.19): /proc/sys/vm/
     * movable_gigantic_pages (int, default 0); when set, gigantic folios are allocated with
     * __GFP_MOVABLE (hugepage_movable_supported()), so ZONE_MOVABLE may hold them.
     */
    movableGiganticPagesSysctl: boolean;
    /**
     * dissolve_free_hugetlb_folio() lowers max_huge_pages only for a persistent page
     * (`if (!adjust_surplus) h->max_huge_pages--`), as 7.2.13 has it; the model's 6.18 pool
     * lowers it for every dissolved page (not observable on the live kernel: docs/rules.md).
     */
    dissolveKeepsMaxForSurplus: boolean;
    /**
     * alloc_contig_pages() takes a range holding HugeTLB folios smaller than the request (free
     * 2 MiB pages in the way of a 1 GiB page): pfn_range_valid_contig() accepts them ("mm/
     * page_alloc: ... hugetlb smaller than the requested contiguous region", Gregory Price,
     * from the movable_gigantic_pages discussion of Oct 2025, 6.19), and replace_free_hugepage_
     * folios() moves each free one elsewhere on its node. 7.2.13 tries such ranges only on a
     * second pass, when no range without HugeTLB was found (alloc_contig_frozen_pages(),
     * skip_hugetlb); the model does that for every design with this fact (when 6.19..7.1 got
     * the second pass is not checked here). 6.18: `if (PageHuge(page)) return false`.
     */
    contigMovesSmallerHugetlb: boolean;
  };
}

/** The pool of the 6.19 mm tree and later (seed, 7.1, 7.2): every change of DesignFacts.pool. */
const POOL_SINCE_6_19: DesignFacts["pool"] = {
  giganticOvercommit: true,
  movableGiganticPagesSysctl: true,
  dissolveKeepsMaxForSurplus: true,
  contigMovesSmallerHugetlb: true,
};

export const DESIGN_FACTS: Readonly<Record<Design, DesignFacts>> = {
  legacy: {
    name: "legacy",
    label: "Linux 6.18 (5.18 .. 7.0): tails alias the head page, fake heads",
    kernels: "5.18 .. 7.0 (the live 6.18)",
    maskWhen: "never",
    tailScope: "none",
    restoreCopies: "head_page_reset",
    fakeHeads: true,
    config: { initOnAllocDefaultOn: false, deferredStructPageInit: true, debugVm: false },
    sparseBuffer: true,
    fixes: { rollbackKeepsHead: false, wrprotectWholeVmemmap: false },
    pool: {
      giganticOvercommit: false,
      movableGiganticPagesSysctl: false,
      dissolveKeepsMaxForSurplus: false,
      contigMovesSmallerHugetlb: false,
    },
  },
  seed: {
    name: "seed",
    label: 'series "Eliminate fake head pages" v3: a shared tail page per node',
    kernels: "none (posted series v3, Jan 2026)",
    maskWhen: "sparsemem_vmemmap",
    tailScope: "node",
    restoreCopies: "head_page_reset",
    fakeHeads: false,
    config: { initOnAllocDefaultOn: false, deferredStructPageInit: true, debugVm: false },
    sparseBuffer: true,
    fixes: { rollbackKeepsHead: false, wrprotectWholeVmemmap: false },
    pool: POOL_SINCE_6_19,
  },
  mainline: {
    name: "mainline",
    label: "Linux 7.2: a shared tail page per zone, rollback fix",
    kernels: "7.2 (the VM's 7.2.13)",
    maskWhen: "hugetlb_page_optimize_vmemmap",
    tailScope: "zone",
    restoreCopies: "shared_tail",
    fakeHeads: false,
    config: { initOnAllocDefaultOn: true, deferredStructPageInit: true, debugVm: false },
    sparseBuffer: false,
    fixes: { rollbackKeepsHead: true, wrprotectWholeVmemmap: true },
    pool: POOL_SINCE_6_19,
  },
  "mainline-7.1": {
    name: "mainline-7.1",
    label:
      "Linux 7.1 as merged (7.1-rc1..rc6): a shared tail page per zone, before the rollback fix",
    kernels: "7.1-rc1 .. 7.1-rc6 (7.1 final has the rollback fix: docs/findings.md 2)",
    maskWhen: "hugetlb_page_optimize_vmemmap",
    tailScope: "zone",
    restoreCopies: "head_last_struct_page",
    fakeHeads: false,
    config: { initOnAllocDefaultOn: true, deferredStructPageInit: true, debugVm: false },
    sparseBuffer: true,
    fixes: { rollbackKeepsHead: false, wrprotectWholeVmemmap: false },
    pool: POOL_SINCE_6_19,
  },
};

/** Every design, in the order lists and `--design all` show them. */
export const DESIGNS: readonly Design[] = ["legacy", "seed", "mainline", "mainline-7.1"];

/** The designs `hvo compare` shows side by side unless told otherwise. */
export const COMPARE_DESIGNS: readonly Design[] = ["legacy", "seed", "mainline"];

export function isDesign(d: string): d is Design {
  return (DESIGNS as readonly string[]).includes(d);
}

export function designFacts(d: Design): DesignFacts {
  return DESIGN_FACTS[d];
}

/** compound_info_has_mask() for this design on a machine. */
export function usesMaskEncoding(
  d: Design,
  m: { structPagePow2: boolean; archHvo: boolean },
): boolean {
  switch (DESIGN_FACTS[d].maskWhen) {
    case "never":
      return false;
    case "sparsemem_vmemmap":
      return m.structPagePow2;
    case "hugetlb_page_optimize_vmemmap":
      return m.structPagePow2 && m.archHvo;
  }
}

/** Whether an optimised folio's tails map a shared tail page (the series) rather than its head. */
export function hasSharedTail(d: Design): boolean {
  return DESIGN_FACTS[d].tailScope !== "none";
}
