// The model's deliberate bugs (hvo check --mutation, hvo run --mutation): no kernel file, the
// list the Kernel (src/kernel.ts, which re-exports it) boots with. Here, in a module that
// imports nothing, so that a command's help can name them without loading the model.

/**
 * Named deliberate bugs. Each is tested where the kernel code it breaks lives:
 *   skip-tlb-flush            hugetlb_vmemmap.ts: vmemmap pages freed without flushing the TLB
 *   no-fake-head-fixup        compound.ts: legacy compound_head() without page_fixed_fake_head()
 *   publish-uninitialised-tail hugetlb_vmemmap.ts: seed/mainline publish the shared tail before
 *                             initialising its struct pages
 *   restore-without-reset     hugetlb_vmemmap.ts: restored pages keep copies of the head page
 *   head-pte-readonly         hugetlb_vmemmap.ts: the head vmemmap page is remapped read-only
 *   leak-vmemmap-page         hugetlb_vmemmap.ts: a freed vmemmap page is not returned
 *   surplus-limit-off-by-one  hugetlb.ts alloc_surplus_hugetlb_folio(): the overcommit limit
 *                             is tested with > where the kernel has >=, one surplus page too many
 *   return-surplus-one-short  hugetlb.ts return_unused_surplus_pages(): frees one page fewer
 *                             than min(unused, surplus)
 *   tail-info-bit1            compound.ts set_compound_head() and hugetlb_vmemmap.ts's shared
 *                             tail: the tail's compound word has bit 1 set as well as bit 0
 */
export const MUTATIONS = [
  "skip-tlb-flush",
  "no-fake-head-fixup",
  "publish-uninitialised-tail",
  "restore-without-reset",
  "head-pte-readonly",
  "leak-vmemmap-page",
  "surplus-limit-off-by-one",
  "return-surplus-one-short",
  "tail-info-bit1",
] as const;
export type Mutation = (typeof MUTATIONS)[number];
