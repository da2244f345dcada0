// No kernel counterpart: the model's switch between its fast paths and their plain forms.
//
// Where the kernel does something page by page, PTE by PTE or block by block, the model often
// does the same a run at a time, holds bytes as a pattern instead of storing them, or defers
// stores nobody reads yet. Each such fast path leaves every byte, list, counter and log line
// as its plain form (the step-by-step rendering of the kernel's code) leaves them, and each
// keeps its plain form alive behind a switch so that a differential test can run the two side
// by side on the same steps. FAST_PATHS below is the one list of them: where each lives, what
// its plain form is and which test compares the two.
//
// One FastPaths object is made per booted model (Kernel.paths) and shared by reference by
// every component that has a fast path (frame store, page tables, buddy allocator, compound
// pages, HVO); `k.paths.setAll(false)` turns every fast path off at once, `k.paths.<name> =
// false` one of them, and bootModel()'s `paths` option (e.g. FastPaths.plain()) sets them from
// the start of boot. A component made on its own (a store-level test) has an object of its own
// until the kernel hands it the shared one. test/core/fast_paths.test.ts runs a model on every
// plain form against one on every fast path.

/** One fast path: where it lives, what it does, its plain form and its differential test. */
interface FastPathDoc {
  readonly where: string;
  readonly fast: string;
  readonly plain: string;
  readonly test: string;
}

/** Every fast path of the model (the fields of FastPaths), in one place. */
export const FAST_PATHS = {
  holdBackStores: {
    where: "frames.ts FrameStore.storeWordsLater()",
    fast: "tail stores in a folio's head vmemmap page past its fields wait for a read or write",
    plain: "every store made at once",
    test: "test/core/frames_held_stores.test.ts",
  },
  rangeByRuns: {
    where: "pgtable.ts KernelPageTables.translateRangeWords(), walkRangeWords()",
    fast: "a PTE table held as runs of words read a run at a time",
    plain: "entry by entry",
    test: "test/core/tlb_range.test.ts",
  },
  sweepByRange: {
    where: "pgtable.ts KernelPageTables evictClean()",
    fast: "the TLB's well-filled chunks compared with the page tables a leaf at a time",
    plain: "a walk per TLB entry",
    test: "test/core/tlb_range.test.ts",
  },
  cleanChunks: {
    where: "pgtable.ts KernelPageTables evictClean() (TlbTable.dropClean(), stamp())",
    fast: "a TLB chunk whose every entry was filled while the tables read by walks stood as they stand now (frames.ts pgtGen, extGen()) dropped by the sweep unwalked",
    plain: "compared with the page tables",
    test: "test/core/tlb_clean_chunks.test.ts",
  },
  rangeOwnView: {
    where: "pgtable.ts KernelPageTables.translateRangeWords()",
    fast: "a PTE table held as bytes read through one lookup of its bytes (FrameStore.ownView()), as runs of entries",
    plain: "a frame store lookup per entry (entry()), entry by entry",
    test: "test/core/tlb_range.test.ts",
  },
  fillByRun: {
    where: "pgtable.ts KernelPageTables.translateRangeWords(), translateStrideWords()",
    fast: "a run of pages (a huge leaf's, a run of PTEs, a huge leaf's pages a stride apart) filled into the TLB in one loop",
    plain: "a fill per page",
    test: "test/core/tlb_range.test.ts",
  },
  checkRuns: {
    where: "page_alloc.ts freePagesCheck()",
    fast: "vmemmap pages that continue a passed page's run of frames (one id) pass unread",
    plain: "each vmemmap page judged on its own",
    test: "test/core/free_check_runs.test.ts",
  },
  lazyRunBulk: {
    where: "page_alloc.ts PageAllocator.rangeFree(), takeFreeRange() (lazyHolding())",
    fast: "a range inside one lazily freed range found by one lookup and taken in one pass",
    plain: "block by block",
    test: "test/core/buddy_lazy_take.test.ts",
  },
  lazyTakeRun: {
    where: "page_alloc.ts PageAllocator takeLazyRun() (takeFreeRange())",
    fast: "a gigantic range of never-allocated blocks cut from the lazy range once, the heads' marks cleared together",
    plain: "takeLazy() of each block",
    test: "test/core/buddy_heads_apart.test.ts",
  },
  pairBulk: {
    where: "page_alloc.ts PageAllocator freePagesPair() (hugetlb.ts freeFolioPair())",
    fast: "two buddy folios freed together: the first's stay on its free list made as stores only",
    plain: "freePages() of each",
    test: "test/pool/head_flags_once.test.ts",
  },
  headFlagsOnce: {
    where:
      "hugetlb.ts HugetlbPool removeHugetlbFolio(), setMaxHugePages() (restoreFolios()'s hint)",
    fast: "a shrink reads each head's optimised flag once, through one view of the head",
    plain: "field by field, and restoreFolios() reads the flag again",
    test: "test/pool/head_flags_once.test.ts",
  },
  fuseShrink: {
    where: "hugetlb.ts HugetlbPool removeAndFreeEach() (setMaxHugePages(), mayFuseShrink())",
    fast: "a shrink where no folio was ever optimised frees each folio as soon as the next is removed; the freed folios' entries leave the pool's map at its end (all at once where they are all of it: test/pool/fused_deletes.test.ts)",
    plain: "every folio removed, the restore walk, then every folio freed",
    test: "test/pool/head_flags_once.test.ts",
  },
  headsApart: {
    where: "kernel.ts Kernel clearBuddyHeadsApart() (clearBuddyHeads())",
    fast: "heads a whole number of vmemmap pages apart translated in one pass",
    plain: "markBuddyHead(q, -1) of each head",
    test: "test/core/buddy_heads_apart.test.ts",
  },
  keptCleared: {
    where: "kernel.ts Kernel clearBuddyHeads() (clearKeptFirst(), frames.ts keptFirstPages())",
    fast: "a freed vmemmap page with its first struct page kept, every mark in it cleared, takes the freed pattern where that struct page then reads as the pattern's",
    plain: "its bytes made its own and each struct page's marks stored",
    test: "test/core/buddy_kept_cleared.test.ts",
  },
  clearByRange: {
    where: "kernel.ts Kernel clearBuddyHeads() (clearRangeWords())",
    fast: "the vmemmap pages of a range of struct pages whose marks are all cleared translated in one pass (translateRangeWords())",
    plain: "translateFrame() of each page in turn",
    test: "test/core/buddy_kept_cleared.test.ts",
  },
  hugeLeaves: {
    where: "pgtable.ts KernelPageTables.translateStrideWords()",
    fast: "later pages of a huge leaf translated from the first page's walk",
    plain: "a walk per page",
    test: "test/core/buddy_heads_apart.test.ts",
  },
  topRunBulk: {
    where: "page_alloc.ts PageAllocator freeTopRun()",
    fast: "a gigantic folio's MAX_PAGE_ORDER blocks freed in one pass",
    plain: "freeToBuddy() of each block",
    test: "test/core/buddy_top_run.test.ts",
  },
  fallingRuns: {
    where: "compound.ts Compound forEachTailRange()",
    fast: "frames that fall as the vmemmap rises taken as one run",
    plain: "one frame at a time",
    test: "test/core/frames_fall.test.ts",
  },
  pteRuns: {
    where: "hugetlb_vmemmap.ts HvoCore vmemmapPteRange()",
    fast: "the remap and restore walks a run of PTEs at a time (tables held as runs of words)",
    plain: "PTE by PTE",
    test: "test/hvo/vmemmap_runs.test.ts",
  },
  pteRunsOfBytes: {
    where:
      "hugetlb_vmemmap.ts HvoCore vmemmapPteRange() (pgtable.ts KernelPageTables.pteRunsOfBytes())",
    fast: "the runs of a PTE table held as bytes found by reading its entries",
    plain: "such a table walked PTE by PTE",
    test: "test/hvo/pte_runs_bytes.test.ts",
  },
  vmemmapBulk: {
    where: "hugetlb_vmemmap.ts HvoCore freeVmemmapPageList(), allocVmemmapPageList()",
    fast: "vmemmap page lists freed and allocated through the buddy's bulk calls",
    plain: "a page at a time",
    test: "test/hvo/vmemmap_bulk.test.ts",
  },
  freedWhole: {
    where: "hugetlb_vmemmap.ts HvoCore clearReservedRunDown() (freedWholeFrame())",
    fast: "a freed boot vmemmap page held as the pattern of free memory, nothing stored into it",
    plain: "stored into and settled as the others",
    test: "test/hvo/freed_whole.test.ts",
  },
  settleClasses: {
    where: "hugetlb_vmemmap.ts HvoCore freeHeadIn() (frames.ts settleAsFree())",
    fast: "a freed vmemmap page in one zone and free block compared with one struct page",
    plain: "a rendering of every struct page",
    test: "test/core/frames_settle.test.ts",
  },
  pmdSlots: {
    where: "pgtable.ts KernelPageTables.slot() (slotOff(), at the PMD level)",
    fast: "a PMD slot found from the PMD-level table last reached for the same span (leafOf()'s PMD memory, which its walk keeps too), while no write above the PMD level was made",
    plain: "a walk from the top",
    test: "test/core/pmd_slots.test.ts",
  },
  runsAgain: {
    where: "frames.ts FrameStore.setWordRun() (runsAgain())",
    fast: "a page held as bytes that a long store of words leaves as a few runs held as runs again",
    plain: "kept as bytes",
    test: "test/core/frames_runs_again.test.ts",
  },
  resetInPlace: {
    where: "hugetlb_vmemmap.ts HvoCore.resetStructPages()",
    fast: "struct pages 4..7 moved over 0..3 within the frame's own bytes",
    plain: "read out and written back",
    test: "test/hvo/reset_struct_pages.test.ts",
  },
  copyReset: {
    where:
      "frames.ts FrameStore.copyFrameMoved() (hugetlb_vmemmap.ts HvoCore.copyAndResetFromVmemmap(), copyAndResetFromVmemmapOff(): restoreDirect(), copyHeadAndReset())",
    fast: "a restore's copy of the head vmemmap page made the new page's own bytes at once, struct pages 4..7 moved over 0..3 in them",
    plain: "the head's bytes shared by the copy, then copied on the move's write",
    test: "test/hvo/copy_reset.test.ts",
  },
  noneToOptimize: {
    where: "hugetlb_vmemmap.ts HvoCore.optimizeFolios() (hugetlb.ts prepAndAddAllocatedFolios())",
    fast: "a grow's fresh folios with HVO off: each optimised flag's two reads counted, not made",
    plain: "each flag read in the split walk and again in the remap walk",
    test: "test/pool/grow_shrink_views.test.ts",
  },
  headViewOnce: {
    where:
      "hugetlb.ts HugetlbPool enqueueHugetlbFolio(), prepAndAddAllocatedFolios(), removeHugetlbFolio(), removeAndFreeEach() (compound.ts headViewStored(), keepHead())",
    fast: "a folio's own list links stored through the view of its head its flags use, and kept: a grow links the next folio to it, a fused shrink frees it through it; a fused shrink's prev store into the list's new first entry left to that entry's removal (which overwrites it), and its list known, not looked up",
    plain:
      "each store through a translation of its own, the free through a new view of the head, the entry looked up",
    test: "test/pool/grow_shrink_views.test.ts",
  },
  pairMarksOnce: {
    where: "page_alloc.ts PageAllocator freePagesPair() (kernel.ts Kernel markBuddyHead())",
    fast: "the lower buddy's marks at the lower order, made and undone, left to the merged block's and counted",
    plain: "stored, cleared, then overwritten by the merged block's",
    test: "test/pool/grow_shrink_views.test.ts",
  },
  pairNotFree: {
    where:
      "page_alloc.ts PageAllocator freePagesPair() (freeToBuddy()'s notFree, addFree()'s knownNotFree)",
    fast: "the merged block's head, where the block stops there and pairMayMerge() found it heading no free block with the records it read still standing, not asked again whether it is free already",
    plain: "addFree() asks explicitOrderAt() of it (the free-already Oops)",
    test: "test/core/pair_not_free.test.ts",
  },
  directWalk: {
    where:
      "hugetlb_vmemmap.ts HvoCore splitDirect(), remapDirect(), restoreDirect() (directTable(); splitFolio(), legacyRemapFree(), LEGACY.remapAlloc() in a batch)",
    fast: "a batch's split, remap and restore walk of a folio whose vmemmap lies in one PTE table made without the generic walk: the same reads, list adds and takes, copies and PTE stores in the same order",
    plain: "vmemmapRemapRange() with its callbacks",
    test: "test/hvo/direct_walk.test.ts",
  },
  heldRest: {
    where:
      "page_alloc.ts PageAllocator allocPagesBulkHeld(), allocPageHeld(), releaseRest() (hugetlb_vmemmap.ts restoreFolios()' page lists, optimizeFoliosBatch()'s legacy new head pages)",
    fast: "the rest of the block a batch's allocation splits held off the free lists until the batch's next folio takes it: its pieces' list adds and takes left out, each piece's marks made once and counted twice; the page lists' order-0 records made once per run of pages that meet; the rests put back on the lists first where a store of the batch would render a vmemmap page that holds a held pfn's struct page",
    plain:
      "allocPagesBulkRuns() or allocPagesNode() of each folio: the rest's pieces put at the list heads and taken back by the next folio; the records made per call",
    test: "test/hvo/held_rest.test.ts",
  },
  leafMemo: {
    where:
      "pgtable.ts KernelPageTables leafOf() (holdLeaves(); hugetlb.ts HugetlbPool prepAndAddAllocatedFolios(), removeAndFreeEach())",
    fast: "while a grow enqueues fresh folios or a fused shrink frees them (no folio ever optimised, no mutation: no view reaches a page table), a walk inside the huge leaf the last walk found, with no table frame changed since, answered from that walk",
    plain: "a walk from the remembered table each time",
    test: "test/pool/leaf_memo.test.ts",
  },
  freeBatch: {
    where:
      "page_alloc.ts PageAllocator beginFreeBatch(), batchFree(), commitFreeBatch() (mm/buddy_batch.ts; hugetlb_vmemmap.ts freeVmemmapPageList(); kernel.ts storeBuddyFinal())",
    fast: "a vmemmap page list's frees whose merges meet only blocks the same list freed replayed on a side structure: the free lists changed once at the end (the blocks still free then), each struct page stored into once with its words' final values, the stores counted; the one old block a change stores into translated where its first store is",
    plain:
      "__free_one_page() of each block: every block put on its list and merged off it again, each list change's stores made",
    test: "test/hvo/free_batch.test.ts",
  },
  allocPairs: {
    where:
      "page_alloc.ts PageAllocator allocPagesPair() (hugetlb.ts HugetlbPool allocPoolHugeFolioPair(); kernel.ts onFreeHeadsUnstored)",
    fast: "a grow's two folios from one split block taken together: the upper half's stay on its list and its buddy marks, which the second folio's init overwrites, counted, not made",
    plain: "two allocations, expand() linking the upper half and the second unlinking it",
    test: "test/pool/alloc_pairs.test.ts",
  },
  readMemo: {
    where: "memmap.ts Memmap readU32(), readU64Lo() (memoFor(), remember())",
    fast: "a struct page read from the vmemmap page the last read went to, while no TLB entry was dropped (pgtable.ts tlbGen) and no frame changed (frames.ts gen), read from that page's words as they were found",
    plain: "a translation through the TLB and a frame store lookup per read",
    test: "test/core/read_memo.test.ts",
  },
} as const satisfies Record<string, FastPathDoc>;

export type FastPathName = keyof typeof FAST_PATHS;

/** FAST_PATHS' names, in its order. */
export const FAST_PATH_NAMES: readonly FastPathName[] = Object.freeze(
  Object.keys(FAST_PATHS) as FastPathName[],
);

/**
 * Which fast paths are on (true: the fast path; false: its plain form). Plain fields, read on
 * hot paths; FAST_PATHS says what each one switches.
 */
export class FastPaths implements Record<FastPathName, boolean> {
  holdBackStores = true;
  rangeByRuns = true;
  sweepByRange = true;
  cleanChunks = true;
  rangeOwnView = true;
  fillByRun = true;
  checkRuns = true;
  lazyRunBulk = true;
  lazyTakeRun = true;
  pairBulk = true;
  headFlagsOnce = true;
  fuseShrink = true;
  headsApart = true;
  keptCleared = true;
  clearByRange = true;
  hugeLeaves = true;
  topRunBulk = true;
  fallingRuns = true;
  pteRuns = true;
  pteRunsOfBytes = true;
  vmemmapBulk = true;
  freedWhole = true;
  settleClasses = true;
  pmdSlots = true;
  runsAgain = true;
  resetInPlace = true;
  copyReset = true;
  noneToOptimize = true;
  headViewOnce = true;
  pairMarksOnce = true;
  pairNotFree = true;
  directWalk = true;
  heldRest = true;
  leafMemo = true;
  allocPairs = true;
  freeBatch = true;
  readMemo = true;

  /** Every fast path on (true) or every one in its plain form (false). */
  setAll(on: boolean): this {
    for (const name of FAST_PATH_NAMES) this[name] = on;
    return this;
  }

  /** A new object with every path in its plain form (for a component tested on its own). */
  static plain(): FastPaths {
    return new FastPaths().setAll(false);
  }
}
