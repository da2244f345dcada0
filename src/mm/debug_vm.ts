// include/linux/mmdebug.h, mm/hugetlb_vmemmap.c, mm/sparse.c: the VM_WARN_ON / VM_BUG_ON checks
// of HVO in Linux 7.2. They exist only in a kernel built with CONFIG_DEBUG_VM; Debian's 7.2.13
// (the VM's) and the live 6.18 are built without it, so there they are compiled out and the
// model leaves them out too unless the kernel is booted with BootOptions.debugVm.
//
// What 7.2.13 checks, and where the model has it:
//   __hugetlb_vmemmap_optimize_folio(), __hugetlb_vmemmap_restore_folio():
//     VM_WARN_ON_ONCE_FOLIO(!folio_test_hugetlb(folio)) and (folio_ref_count(folio)):
//     checkHvoFolio() below, called by hugetlb_vmemmap.ts for both.
//   sparse_init(): VM_WARN_ON_ONCE(memmap not aligned to MAX_FOLIO_VMEMMAP_ALIGN) where tails
//     store the mask: Kernel.checkMemmapAlignment().
//   CONFIG_DEBUG_VM also turns the free path's page checks on for good (check_pages_enabled is
//     DEFINE_STATIC_KEY_MAYBE(CONFIG_DEBUG_VM, ...)): Kernel.checkPages.
//   vmemmap_remap_pte(): VM_WARN_ON_ONCE(!PageHead) on the head PTE, (!PageTail) on the others;
//   vmemmap_restore_pte(): VM_WARN_ON_ONCE(PageHead) (both added by the rollback fix,
//     docs/findings.md 2); vmemmap_remap_range(): VM_BUG_ON(start or end not page aligned):
//     not in the walk (its ranges are page aligned by construction), and the states they catch
//     are what `hvo check`'s page_head_tail and compound_head invariants look for after every
//     step, with or without this config.
import type { Kernel } from "../kernel.ts";
import { folioRefCount, folioTestHugetlb } from "./hugetlb_folio.ts";

/** How a check reports: WARN_ON_ONCE's report at `key` (HvoCore.warnOnOnce). */
export type WarnOnOnce = (key: string, file: string, func: string, detail: string) => void;

/**
 * The two VM_WARN_ON_ONCE_FOLIO()s at the top of __hugetlb_vmemmap_optimize_folio() and
 * __hugetlb_vmemmap_restore_folio() (`fn`): the folio must be a hugetlb folio nobody holds a
 * reference to. Nothing without CONFIG_DEBUG_VM.
 */
export function checkHvoFolio(k: Kernel, headPfn: number, fn: string, warn: WarnOnOnce): void {
  if (!k.debugVm) return;
  const m = k.memmap;
  if (!folioTestHugetlb(m, headPfn))
    warn(`${fn}:hugetlb`, "mm/hugetlb_vmemmap.c", fn, `folio at pfn ${headPfn} is not hugetlb`);
  if (folioRefCount(m, headPfn) !== 0)
    warn(`${fn}:ref`, "mm/hugetlb_vmemmap.c", fn, `folio at pfn ${headPfn} has a reference`);
}
