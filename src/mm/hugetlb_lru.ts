// mm/hugetlb.c: the list heads of struct hstate that folio->lru links a HugeTLB folio's head
// into: hstate->hugepage_freelists[nid] (free folios, enqueue_hugetlb_folio()'s list_move())
// and hstate->hugepage_activelist (folios handed out). The hstates are the kernel image's
// static array hstates[HUGE_MAX_HSTATE], in registration order (x86_64 with GBPAGES: 1 GiB
// first, by the command line or gigantic_pages_init(), then 2 MiB from hugetlb_init()).
//
// Addresses: hstates is at HSTATES_VADDR in the VM's kernel (Debian's 7.2.13 amd64; PVH boot,
// no KASLR): read back from the guest, where the boot-time 1 GiB folios' lru.prev is
// 0xffffffff83efbc10 = &hstates[0].hugepage_freelists[0] and a 2 MiB folio's
// 0xffffffff83f03ca0 = &hstates[1].hugepage_freelists[0] (one struct hstate, 32912 bytes, further
// on); struct hstate's layout from the kernel's BTF. The other
// kernels the designs follow have their own addresses and layouts, not modelled: theirs are the
// same stand-in (a kernel image address; a test compares them by class).

import { ListHead, type LruWords } from "./list.ts";
import type { FolioList, Hstate } from "./hugetlb.ts";

/** &hstates[0] in Debian's 7.2.13 amd64 kernel. */
export const HSTATES_VADDR = 0xffffffff83efbba0n;

/** struct hstate (7.2.13 amd64, BTF): its size and the offsets of its two kinds of lists. */
export const HSTATE_LAYOUT = Object.freeze({
  size: 32912,
  /** offsetof(struct hstate, hugepage_activelist) */
  activelistOff: 96,
  /** offsetof(struct hstate, hugepage_freelists): MAX_NUMNODES list heads. */
  freelistsOff: 112,
  listHeadSize: 16,
});

/** Binds the lists of hstates[idx] to their list heads' addresses and the lru writer. */
export function bindHstateLists(h: Hstate, idx: number, words: LruWords): void {
  const base = HSTATES_VADDR + BigInt(idx * HSTATE_LAYOUT.size);
  const bind = (l: FolioList, off: number, what: string) => {
    l.lru = { words, head: new ListHead(base + BigInt(off), `hstates[${idx}].${what}`) };
  };
  bind(h.hugepageActivelist, HSTATE_LAYOUT.activelistOff, "hugepage_activelist");
  h.hugepageFreelists.forEach((l, nid) => {
    bind(
      l,
      HSTATE_LAYOUT.freelistsOff + nid * HSTATE_LAYOUT.listHeadSize,
      `hugepage_freelists[${nid}]`,
    );
  });
}
