// mm/hugetlb_vmemmap.c: HugeTLB Vmemmap Optimization (HVO), in the designs the project models
// (their facts: mm/hvo_designs.ts), with the shared-tail pieces of include/linux/mmzone.h
// (vmemmap_tails[]), mm/internal.h (init_compound_tail()) and the boot-time tail of
// mm/sparse-vmemmap.c.
//
//   legacy   Linux 6.18 (5.18 .. 7.0): the tail vmemmap pages of a folio alias its (new) head
//            page read-only; fake heads, the hugetlb_optimize_vmemmap_key static key and
//            VMEMMAP_SYNCHRONIZE_RCU.
//   seed     the series "Eliminate fake head pages" as posted in v3 (Jan 2026): a shared page of
//            tails per (node, order) in pglist_data.vmemmap_tails[] (PFNs, 0 = empty), allocated
//            without __GFP_ZERO, published under hugetlb_lock; boot HVO early, per node.
//   mainline Linux 7.2 (series v7 as merged in 7.1, plus the rollback fix): per (zone, order),
//            zeroed, init_compound_tail(), cmpxchg; boot HVO deferred to
//            hugetlb_vmemmap_init_late(), when zones exist; restore copies the shared tail; a
//            failed optimise rolls back only the tail PTEs.
//   mainline-7.1  Linux 7.1 as merged (rc1..rc6): the same, but restore fills every slot with
//            the folio's struct page 63, the rollback refills the head vmemmap page too, and the
//            boot-time write-protect covers 63 pages only.
//
// What differs is held by ONE strategy object per design (LEGACY, SEED, MAINLINE, MAINLINE_7_1),
// chosen at boot from k.design; the walk, the PMD split, rollback, page freeing and the batches
// are shared. Each design's code is reproduced as written, including what looks wrong (see the
// notes at SEED.getTail, MAINLINE.restoreFill and optimizeFolios' wrprotect range).
//
// Coordination with mm/hugetlb.ts (the pool). The pool owns the boot-time gigantic pages; it
// allocates them from memblock in a beforeSparseInit hook and records them, huge_boot_pages[]
// flattened over nodes, as k.sub.huge_boot_pages: HugeBootmemPage[] (first pfn, order, node,
// flags; k.sub.hugetlb.hugeBootPages is read when that is absent). This module sets HUGE_BOOTMEM_HVO and
// HUGE_BOOTMEM_ZONES_VALID in `flags`, and removes an entry (list_del) when legacy/seed undo the
// HVO of a page that spans zones (its memory is then given back to memblock). At gather time
// the pool marks entries with HUGE_BOOTMEM_HVO as vmemmap-optimised, initialises only their first
// HUGETLB_VMEMMAP_RESERVE_PAGES struct pages, and calls optimizeBootmemFolios().
// If the pool provides `bootmemPageZonesValid(m)` there, it is used; otherwise the check below.
//
// Frame bookkeeping: head vmemmap pages and restored pages are allocated as "vmemmap", shared
// tails as "shared_tail" (never freed), split page tables as "pagetable" (never freed).

import { ENOMEM, ENOTSUPP, Oops } from "../include/errno.ts";
import { modPow2, pow2 } from "../include/pow2.ts";
import { PAGE_OFF, TAIL_MAPPING } from "../include/mm_types.ts";
import {
  PG,
  ZONE_BY_IDX,
  encodeTail,
  maxFolioOrder,
  pageLinks,
  pageToNid,
  pageZonenum,
  vmemmapTailMinOrder,
} from "../include/page_flags.ts";
import type { BootHooks, Design, Kernel } from "../kernel.ts";
import { DESIGN_FACTS, type DesignFacts } from "./hvo_designs.ts";
import type { ZoneType } from "../machine/spec.ts";
import { firstDeferredPfn } from "./memmap.ts";
import { PteRuns, TLB_CAPACITY } from "./pgtable.ts";
import type { FastPaths } from "./fast_paths.ts";
import { LruWords } from "./list.ts";
import { folioSetHpg, folioTestHpg } from "./hugetlb_folio.ts";
import { checkHvoFolio } from "./debug_vm.ts";
import {
  HUGE_BOOTMEM_HVO,
  HUGE_BOOTMEM_ZONES_VALID,
  type HugeBootmemPage,
  type HugetlbVmemmap,
  type RestoreBatchResult,
} from "./hugetlb_vmemmap_api.ts";
import {
  GFP_KERNEL,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RETRY_MAYFAIL,
  __GFP_ZERO,
} from "./page_alloc.ts";
import {
  type PteSlot,
  type Section,
  type VmemmapPopulateContext,
  vmemmapPopulateHvo,
  vmemmapPopulateRange,
  vmemmapUndoHvo,
  vmemmapWrprotectHvo,
} from "./sparse_vmemmap.ts";

/** A zeroed struct page's bytes and a view of them. */
function structPageBuf(sps: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(sps);
  return { bytes, view: new DataView(bytes.buffer) };
}

/** The offset in a struct page of the 32-bit word of flags that holds PG_reserved. */
const RESERVED_WORD = PAGE_OFF.flags + (PG.reserved < 32 ? 0 : 4);

/** struct vmemmap_remap_walk flags. */
export const VMEMMAP_SPLIT_NO_TLB_FLUSH = 1 << 0;
export const VMEMMAP_REMAP_NO_TLB_FLUSH = 1 << 1;
/** Legacy only. */
export const VMEMMAP_SYNCHRONIZE_RCU = 1 << 2;

/** Fault-injection sites of this module. */
export const HVO_SITES = {
  newHead: "vmemmap_remap_free:new_head",
  pageList: "alloc_vmemmap_page_list",
  splitPmd: "vmemmap_split_pmd",
  getTail: "vmemmap_get_tail",
  bootTail: "vmemmap_get_tail:boot",
  bootPopulate: "vmemmap_populate_hvo",
} as const;

/** isVmemmapSelfHosted() until memory hotplug sets its own: no page is (directTable() knows it). */
const NOT_SELF_HOSTED = (_framePfn: number): boolean => false;

/** Number.MAX_SAFE_INTEGER as a bigint, made once (originOf() compares every walk with it). */
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * TLB entries left free below which a batch stops holding a rest (mayHoldRest()): far more than
 * one folio's optimise or restore fills, so no sweep runs while a rest is held.
 */
const HELD_REST_TLB_ROOM = 2 ** 16;

/**
 * The PTE a remap walk is at: its table and index, and its virtual address made as a bigint only
 * when a callback asks for it (a walk over a 1 GiB folio's 4,096 PTEs makes none on the paths
 * that do not read it).
 */
export class PteCursor implements PteSlot {
  idx: number;
  constructor(
    readonly tablePfn: number,
    private readonly first: number,
    private readonly base: bigint,
    private readonly pageSize: number,
  ) {
    this.idx = first;
  }

  /** The address the PTE maps: the walk's address for this table, plus a page per index. */
  vaddr(): bigint {
    return this.base + BigInt((this.idx - this.first) * this.pageSize);
  }
}

/** struct vmemmap_remap_walk: both designs' fields (legacy: reuse_*, series: vmemmap_*). */
export interface RemapWalk {
  /** Called per PTE with its slot; pte.vaddr() makes its address only where it is needed. */
  remapPte: ((pte: PteCursor, walk: RemapWalk) => void) | null;
  nrWalked: number;
  /** Legacy: the first PTE walked supplies reuse_page unless one was allocated. */
  findReuse: boolean;
  reusePage: number | null;
  reuseAddr: bigint;
  /** Seed: where the head page is (v3 09/15 keeps it in the walk). */
  vmemmapStart: bigint;
  vmemmapHead: number | null;
  vmemmapTail: number | null;
  /** The list of pages to free or to map from; index 0 is the list head (list_add). */
  vmemmapPages: PageList;
  flags: number;
  /** Node for pte_alloc_one_kernel() (the model's stand-in for the running CPU's node). */
  nid: number;
  /**
   * Legacy/seed restore: the first page this walk filled (copy of the head page + reset). Every
   * later page of the walk gets the same bytes, so they share them copy-on-write instead of
   * copying 4 KiB each (nothing writes the head page during a walk).
   */
  restoreTemplate?: number;
}

/** Counters `hvo compare` shows, beside k.pgt's PTE writes and TLB flushes. */
export interface HvoCounters {
  synchronizeRcu: number;
  vmemmapPagesAllocated: number;
  vmemmapPagesFreed: number;
  pmdSplits: number;
  rollbacks: number;
}

/** One published shared tail page. */
export interface SharedTail {
  nid: number;
  /** mainline only: the zone whose vmemmap_tails[] holds it. */
  zone: ZoneType | null;
  order: number;
  pfn: number;
}

/** What differs between the designs. Everything else is HvoCore. */
export interface HvoDesign {
  name: Design;
  /** What the design is (mm/hvo_designs.ts): encoding, tail scope, restore source, fixes. */
  facts: DesignFacts;
  /** hugetlb_optimize_vmemmap_key and VMEMMAP_SYNCHRONIZE_RCU exist (legacy). */
  staticKey: boolean;
  /** Flags hugetlb_vmemmap_optimize_folio()/restore_folio() pass for one folio. */
  singleFlags: number;
  /** __hugetlb_vmemmap_optimize_folio() after vmemmap_should_optimize_folio() said yes. */
  optimize(core: HvoCore, order: number, headPfn: number, list: PageList, flags: number): number;
  /** vmemmap_remap_alloc() for an optimised folio (0 or -ENOMEM). */
  remapAlloc(core: HvoCore, order: number, headPfn: number, flags: number): number;
  /** The bytes vmemmap_restore_pte() maps back at pte.vaddr(); `src` is the page it mapped. */
  restoreFill(core: HvoCore, frame: number, pte: PteCursor, walk: RemapWalk, src: number): void;
  /** hugetlb_vmemmap_init_early(nid) (sparse_init, per node). */
  initEarly(core: HvoCore, nid: number): void;
  /** hugetlb_vmemmap_init_late(nid) (free_area_init, zones exist). */
  initLate(core: HvoCore, nid: number): void;
  /** hugetlb_vmemmap_init() late_initcall, beyond the sysctl. */
  lateInitcall(core: HvoCore): void;
  /**
   * Series vmemmap_remap_pte(): which of the n PTEs from `pte` on is the head's (its offset from
   * pte.idx), or -1 for none. v3 compares the address with the walk's vmemmap_start; v7 maps the
   * head at the first PTE walked (only legacy has no such test). A per-PTE walk asks with n = 1.
   */
  headPteIndex?(core: HvoCore, walk: RemapWalk, pte: PteCursor, n: number): number;
  /**
   * vmemmap_restore_pte()'s fill where it is a copy_page() of one frame for every page a walk
   * restores from PTEs mapping `src`: that frame (the walk maps a run of pages as copies of it
   * at once); null where the fill is made page by page.
   */
  restoreSource?(core: HvoCore, walk: RemapWalk, src: number): number | null;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;

/** The shared machinery of mm/hugetlb_vmemmap.c, and the HugetlbVmemmap the pool calls. */
export class HvoCore implements HugetlbVmemmap {
  readonly k: Kernel;
  readonly design: HvoDesign;
  /**
   * The kernel's fast paths (fast_paths.ts): pteRuns, pteRunsOfBytes, vmemmapBulk, freedWhole,
   * settleClasses, resetInPlace.
   */
  readonly paths: FastPaths;
  /** vmemmap_optimize_enabled: hugetlb_free_vmemmap= / vm.hugetlb_optimize_vmemmap. */
  enabled: boolean;
  readonly counters: HvoCounters = {
    synchronizeRcu: 0,
    vmemmapPagesAllocated: 0,
    vmemmapPagesFreed: 0,
    pmdSplits: 0,
    rollbacks: 0,
  };
  /**
   * vmemmap_tails[]: seed keys `${nid}/${idx}` (pglist_data, a PFN, 0 = empty); mainline keys
   * `${nid}/${zone}/${idx}` (struct zone, a struct page pointer, absent = NULL).
   */
  readonly vmemmapTails = new Map<string, number>();
  /**
   * memory_hotplug.memmap_on_memory: PageVmemmapSelfHosted() of a vmemmap backing frame. The walk
   * refuses (-ENOTSUPP) when the folio's first vmemmap page is self-hosted.
   */
  isVmemmapSelfHosted: (framePfn: number) => boolean = NOT_SELF_HOSTED;
  /**
   * Called between allocating a shared tail and publishing it: a test scheduler can run a
   * second optimiser there, so that two allocators race for one slot.
   */
  beforeTailPublish: ((key: string) => void) | null = null;
  /** Sections hugetlb_vmemmap_init_early() marked SECTION_IS_VMEMMAP_PREINIT. */
  readonly preinitSections = new Set<number>();
  private readonly warned = new Set<string>();
  private readonly earlyDone = new Set<number>();
  readonly bootHooks: BootHooks;

  constructor(k: Kernel, design: HvoDesign) {
    this.k = k;
    this.design = design;
    this.paths = k.paths;
    this.enabled = parseFreeVmemmap(k.spec.cmdline, false);
    this.bootHooks = {
      populateSection: (kk, section) => this.populateSectionHook(kk, section),
      afterSparseInit: () => this.afterSparseInitHook(),
      late: () => this.design.lateInitcall(this),
    };
  }

  // ---- sizes (mm/hugetlb_vmemmap.h) ---------------------------------------------------------

  get pageSize(): number {
    return this.k.pageSize;
  }
  get structPageSize(): number {
    return this.k.spec.structPageSize;
  }
  /** HUGETLB_VMEMMAP_RESERVE_SIZE */
  get reserveSize(): number {
    return this.pageSize;
  }
  /** HUGETLB_VMEMMAP_RESERVE_PAGES: struct pages in the head vmemmap page. */
  get reservePages(): number {
    return this.pageSize / this.structPageSize;
  }
  /** hugetlb_vmemmap_size(h) */
  vmemmapSize(order: number): number {
    return pow2(order) * this.structPageSize;
  }
  optimizableSize(order: number): number {
    const sps = this.structPageSize;
    if ((sps & (sps - 1)) !== 0) return 0;
    if (!this.k.spec.arch.optimizeHugetlbVmemmap) return 0;
    return Math.max(0, this.vmemmapSize(order) - this.reserveSize);
  }
  optimizable(order: number): boolean {
    return this.optimizableSize(order) > 0;
  }
  /** hugetlb_vmemmap_init(): the sysctl is registered when some hstate is optimisable. */
  sysctlRegistered(orders: number[]): boolean {
    return orders.some((o) => this.optimizable(o));
  }
  isOptimized(headPfn: number): boolean {
    return folioTestHpg(this.k.memmap, headPfn, "vmemmap_optimized");
  }
  /** VMEMMAP_TAIL_MIN_ORDER */
  get tailMinOrder(): number {
    return vmemmapTailMinOrder(this.k.spec.arch.pageShift, this.k.layout.shift ?? 0);
  }
  /** MAX_FOLIO_ORDER */
  get maxFolioOrder(): number {
    return maxFolioOrder(this.k.spec.arch.pageShift);
  }

  vaddrOf(pfn: number): bigint {
    return this.k.memmap.vaddrOf(pfn);
  }

  /** The frame the MMU gives for a vmemmap address (TLB first, as a load would). */
  frameAt(vaddr: bigint): number {
    const frame = this.k.pgt.translateFrame(this.k.pgt.vpnOf(vaddr));
    if (frame < 0)
      throw new Oops("unable to handle page fault: vmemmap address not mapped", { vaddr });
    return frame;
  }

  /**
   * frameAt() of the vmemmap address at byte offset off (>= 0, a safe integer) from the base:
   * the same translation, the address made a bigint only for the Oops.
   */
  frameAtOff(off: number): number {
    const frame = this.k.pgt.translateFrame(Math.floor(off / this.pageSize));
    if (frame < 0)
      throw new Oops("unable to handle page fault: vmemmap address not mapped", {
        vaddr: this.k.memmap.vmemmapBase + BigInt(off),
      });
    return frame;
  }

  /** page_to_nid() of the struct page at a vmemmap address, read through the vmemmap. */
  pageToNidAt(vaddr: bigint): number {
    const m = this.k.memmap;
    const shift = this.k.flagsLayout.nodesShift;
    const off = Number(vaddr - m.vmemmapBase);
    if (!Number.isSafeInteger(off) || shift > 32)
      return pageToNid(m.readU64(m.pfnOfVaddr(vaddr), PAGE_OFF.flags), this.k.flagsLayout);
    return this.pageToNidOff(off);
  }

  /** pageToNidAt() of the struct page at byte offset off (>= 0, a safe integer) from the base. */
  pageToNidOff(off: number): number {
    const m = this.k.memmap;
    const shift = this.k.flagsLayout.nodesShift;
    if (shift > 32)
      return pageToNid(
        m.readU64(Math.trunc(off / this.structPageSize), PAGE_OFF.flags),
        this.k.flagsLayout,
      );
    // The node is the top NODES_SHIFT bits of the flags word: its high half's, as numbers.
    m.readU64Lo(Math.trunc(off / this.structPageSize), PAGE_OFF.flags);
    return shift === 0 ? 0 : m.hi >>> (32 - shift);
  }

  /**
   * alloc_pages_node() on a node read from the struct page at byte offset `off` from the vmemmap
   * base: a node that does not exist oopses. The address is made only for the Oops.
   */
  checkNode(nid: number, off: number, what: string): void {
    if (!this.k.spec.nodes.some((n) => n.nid === nid)) {
      const vaddr = this.k.memmap.vmemmapBase + BigInt(off);
      throw new Oops(
        `${what}: alloc_pages_node() on node ${nid}, which does not exist (page_to_nid() of the struct page at ${hex(vaddr)})`,
        { vaddr },
      );
    }
  }

  warnOnce(key: string, text: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.k.warn(text);
  }

  /** WARN_ON_ONCE() at `key`: the kernel's WARNING report (Kernel.warnOn()), once. */
  warnOnOnce(key: string, file: string, func: string, detail: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.k.warnOn(file, func, detail);
  }

  /** The static key and synchronize_rcu() (legacy only). */
  staticBranchInc(): void {
    if (this.design.staticKey) this.k.fakeHeadKey++;
  }
  staticBranchDec(): void {
    if (this.design.staticKey) this.k.fakeHeadKey--;
  }
  synchronizeRcu(flags: number): void {
    if (this.design.staticKey && flags & VMEMMAP_SYNCHRONIZE_RCU) this.counters.synchronizeRcu++;
  }

  // ---- page tables ---------------------------------------------------------------------------

  private mkPte(pfn: number, writable: boolean): bigint {
    return this.k.spec.arch.pte.mkLeaf(pfn, { writable, huge: false }, this.k.geometry.pteLevel);
  }

  /**
   * PAGE_KERNEL_RO. Where the arch has none (riscv64, loongarch64), include/linux/pgtable.h makes
   * it PAGE_KERNEL, and the "read-only" tail mapping is writable.
   */
  mkPteRo(pfn: number): bigint {
    return this.mkPte(pfn, this.roWritable);
  }

  /** Whether PAGE_KERNEL_RO is writable here (it is PAGE_KERNEL where the arch has none). */
  get roWritable(): boolean {
    return this.k.spec.arch.pageKernelRoIsPageKernel === true;
  }

  ptePfn(pte: PteSlot): number {
    const pgt = this.k.pgt;
    if (!pgt.entry(pte.tablePfn, pte.idx, this.k.geometry.pteLevel))
      throw new Oops("vmemmap walk: PTE is none", {});
    return pgt.e.pfn;
  }

  /** PageReserved() of a frame, from its own struct page. */
  pageReserved(pfn: number): boolean {
    return this.k.memmap.testBit(pfn, PAGE_OFF.flags, PG.reserved);
  }

  /**
   * vmemmap_split_pmd(): one PTE table mapping the PMD's 2^n pages PAGE_KERNEL, installed in
   * place of the leaf; split_page() of the backing unless it is memblock memory (PageReserved).
   * Never undone.
   */
  vmemmapSplitPmd(pmd: PteSlot, headPfn: number, start: bigint, walk: RemapWalk): number {
    const { k } = this;
    const g = k.geometry;
    const pgtable = k.allocPageTablePage(HVO_SITES.splitPmd, walk.nid);
    if (pgtable === null) return -ENOMEM;
    k.pgt.setPteRun(pgtable, 0, k.pgt.entriesPerTable, headPfn, true);
    if (!this.pageReserved(headPfn)) k.buddy.splitPage(headPfn);
    k.pgt.set(pmd.tablePfn, pmd.idx, k.spec.arch.pte.mkTable(pgtable, g.pmdLevel), g.pmdLevel);
    if (!(walk.flags & VMEMMAP_SPLIT_NO_TLB_FLUSH))
      k.pgt.flushTlbRange(start, start + BigInt(g.pmdSize));
    this.counters.pmdSplits++;
    return 0;
  }

  /**
   * vmemmap_remap_range()'s origin for [start, end): the vmemmap's base (baseRems then hold its
   * remainders by the page and PMD sizes and its PTE index). Every range a caller walks is
   * struct pages of memory the machine has, so it lies at a safe number of bytes (below 2^53)
   * past the base: a machine's memory ends by 2^(MAX_PHYSMEM_BITS - PAGE_SHIFT) pfns (loading
   * refuses more, src/arch/index.ts, src/machine/load.ts), and the most of any arch the model
   * has is riscv64's 2^(56 - 12) = 2^44 struct pages of at most 80 bytes: 2^44 * 80 = 1.4e15
   * bytes, under 2^53 = 9.0e15 (x86_64 with 5-level paging: 2^(52 - 12) * 80 = 8.8e13). A range
   * outside it is a broken caller: an Oops, before anything is walked.
   */
  private originOf(start: bigint, end: bigint): bigint {
    const base = this.k.memmap.vmemmapBase;
    if (start < base || end - base > MAX_SAFE_BIG)
      throw new Oops("vmemmap walk: range outside the vmemmap", { vaddr: start });
    if (this.baseRems[3] === 0) {
      const g = this.k.geometry;
      this.baseRems[0] = Number(base % BigInt(this.pageSize));
      this.baseRems[1] = Number(base % BigInt(g.pmdSize));
      this.baseRems[2] = this.k.pgt.index(g.pteLevel, base);
      this.baseRems[3] = 1;
    }
    return base;
  }
  /** originOf()'s remainders of the base: page, PMD, PTE index, and 1 once made. */
  private readonly baseRems = [0, 0, 0, 0];

  /**
   * vmemmap_pmd_entry(): the memmap_on_memory refusal, then a split of a leaf PMD (`pteIdx`:
   * the PTE index of vaddr).
   */
  private vmemmapPmdEntry(
    pmd: PteSlot,
    leafPfn: number | null,
    vaddr: bigint,
    pteIdx: number,
    walk: RemapWalk,
  ): number {
    const g = this.k.geometry;
    let ret = 0;
    if (walk.nrWalked === 0) {
      const page =
        leafPfn !== null
          ? leafPfn + pteIdx
          : this.ptePfn({ tablePfn: this.pmdTable(pmd), idx: pteIdx });
      if (this.isVmemmapSelfHosted(page)) ret = -ENOTSUPP;
    }
    if (leafPfn === null || ret) return ret;
    const pmdMask = ~(BigInt(g.pmdSize) - 1n);
    return this.vmemmapSplitPmd(pmd, leafPfn, vaddr & pmdMask, walk);
  }

  private pmdTable(pmd: PteSlot): number {
    const pgt = this.k.pgt;
    if (!pgt.entry(pmd.tablePfn, pmd.idx, this.k.geometry.pmdLevel) || !pgt.e.table)
      throw new Oops("vmemmap walk: PMD is no table", {});
    return pgt.e.pfn;
  }

  /** vmemmap_pte_entry() */
  private vmemmapPteEntry(pte: PteCursor, walk: RemapWalk): void {
    if (walk.findReuse && walk.reusePage === null) walk.reusePage = this.ptePfn(pte);
    else walk.remapPte?.(pte, walk);
    walk.nrWalked++;
  }

  /**
   * vmemmap_remap_range(): walk_kernel_page_table_range() over [start, end) with the pmd and pte
   * callbacks (a split-only walk does not descend), then flush_tlb_kernel_range() unless told
   * not to. Returns 0 or a negative errno.
   */
  vmemmapRemapRange(start: bigint, end: bigint, walk: RemapWalk): number {
    const { k } = this;
    const g = k.geometry;
    const ps = this.pageSize;
    const pmdSize = g.pmdSize;
    // Addresses as byte offsets (numbers) from the vmemmap's base (its remainders and first
    // PTE index kept; originOf()). One bigint per PMD, for the callbacks.
    const origin = this.originOf(start, end);
    const pageRem = this.baseRems[0];
    const pmdRem = this.baseRems[1];
    const originPte = this.baseRems[2];
    const s = Number(start - origin);
    const e = Number(end - origin);
    if ((s + pageRem) % ps !== 0 || (e + pageRem) % ps !== 0)
      throw new Oops("kernel BUG: vmemmap_remap_range: unaligned range", { vaddr: start });
    const perTable = k.pgt.entriesPerTable;
    let ret = 0;
    for (let off = s; off < e; ) {
      const pmdEnd = off - ((off + pmdRem) % pmdSize) + pmdSize;
      const next = Math.min(pmdEnd, e);
      const addr = origin + BigInt(off);
      const pmd = k.pgt.slot(g.pmdLevel, addr);
      if (!pmd || !k.pgt.entry(pmd.tablePfn, pmd.idx, g.pmdLevel)) {
        off = next; // a hole: pte_hole, nothing to do
        continue;
      }
      // The PTE index of addr: the origin's plus the pages from the origin's page on.
      const pteIdx = (originPte + Math.floor((off + pageRem) / ps)) % perTable;
      ret = this.vmemmapPmdEntry(pmd, k.pgt.e.huge ? k.pgt.e.pfn : null, addr, pteIdx, walk);
      if (ret) break;
      if (walk.remapPte) {
        const table = this.pmdTable(pmd);
        // The PTEs of one table are consecutive: the first index, then one more per page (one
        // cursor for them all: the callbacks use it, and keep nothing of it, per call).
        const pte = new PteCursor(table, pteIdx, addr, ps);
        this.vmemmapPteRange(pte, (next - off) / ps, walk);
      }
      off = next;
    }
    if (ret) return ret;
    if (
      walk.remapPte &&
      !(walk.flags & VMEMMAP_REMAP_NO_TLB_FLUSH) &&
      !k.mutations.has("skip-tlb-flush")
    )
      k.pgt.flushTlbRange(start, end);
    return 0;
  }

  private readonly runsBuf = new PteRuns(80);

  /** vmemmap_pte_entry() of the PTEs [pte.idx, pte.idx + n), from pte.idx on, one at a time. */
  private ptesOneByOne(pte: PteCursor, n: number, walk: RemapWalk): void {
    for (let i = 0; i < n; i++) {
      this.vmemmapPteEntry(pte, walk);
      pte.idx++;
    }
  }

  /**
   * vmemmap_pte_entry() of nr PTEs of one table from pte.idx on. The callbacks this module
   * knows do the same to every PTE of a run that maps frames a constant step apart (what HVO,
   * vmemmap_split_pmd() and a restore leave): such runs are done at once, with the same list
   * adds, PTE words, fills and counts, in the same order; the PTEs a callback treats apart (the
   * head's, reuse_page's, the first of a find-reuse walk) and anything the run path does not
   * know (mutations, tables held as bytes, a rollback) go one at a time.
   */
  private vmemmapPteRange(pte: PteCursor, nr: number, walk: RemapWalk): void {
    const { k } = this;
    const fn = walk.remapPte;
    const mode =
      !this.paths.pteRuns || k.mutations.size !== 0
        ? 0
        : fn === this.seriesRemapPte
          ? 1
          : fn === this.legacyRemapPte
            ? 2
            : fn === this.restorePte && walk.vmemmapTail === null
              ? 3
              : 0;
    const b = this.runsBuf;
    let runs = mode === 0 ? -1 : k.pgt.pteRuns(pte.tablePfn, pte.idx, nr, b);
    if (runs < 0 && mode !== 0 && this.paths.pteRunsOfBytes)
      runs = k.pgt.pteRunsOfBytes(pte.tablePfn, pte.idx, nr, b, true);
    if (runs < 0) {
      this.ptesOneByOne(pte, nr, walk);
      return;
    }
    const table = pte.tablePfn;
    const ps = this.pageSize;
    const list = walk.vmemmapPages;
    // Legacy: reuse_addr less the address of the first PTE, as a number where that is exact.
    const idx0 = pte.idx;
    const reuseRel = mode === 2 ? Number(walk.reuseAddr - pte.vaddr()) : 0;
    const relExact = Number.isSafeInteger(reuseRel);
    for (let r = 0; r < runs; r++) {
      const f = b.first[r];
      const end = f + b.len[r];
      const p0 = b.pfn[r];
      const step = b.step[r];
      while (pte.idx < end) {
        const i = pte.idx;
        if (walk.findReuse && walk.reusePage === null) {
          this.ptesOneByOne(pte, 1, walk);
          continue;
        }
        const src = p0 + (i - f) * step;
        if (mode === 3) {
          // vmemmap_restore_pte(): pages off the list head, each a copy of one frame.
          const shared =
            step === 0 && (!walk.findReuse || src === walk.reusePage)
              ? (this.design.restoreSource?.(this, walk, src) ?? null)
              : null;
          const got = shared === null ? 0 : list.takeHeadRun(end - i);
          if (got === 0) {
            this.ptesOneByOne(pte, 1, walk);
            continue;
          }
          const page = list.runHead;
          const dir = list.runStep;
          k.frames.copyFrameRun(dir < 0 ? page - (got - 1) : page, got, shared as number);
          k.pgt.setPteRun(table, i, got, page, true, dir);
          walk.nrWalked += got;
          pte.idx += got;
          continue;
        }
        // vmemmap_remap_pte(): every PTE but the head's maps one page, read-only.
        let h: number;
        let to: number | null;
        if (mode === 1) {
          h = this.design.headPteIndex?.(this, walk, pte, end - i) ?? -1;
          to = walk.vmemmapTail;
        } else {
          if (relExact) {
            const d = reuseRel - (i - idx0) * ps;
            h = d >= 0 && d < (end - i) * ps ? d / ps : -1;
          } else {
            const d = walk.reuseAddr - pte.vaddr();
            h = d >= 0n && d < BigInt((end - i) * ps) ? Number(d) / ps : -1;
          }
          to = walk.reusePage;
        }
        const m = h < 0 ? end - i : h;
        if (m === 0 || to === null) {
          this.ptesOneByOne(pte, Math.max(m, 1), walk);
          continue;
        }
        list.addRun(src, step, m);
        k.pgt.setPteRun(table, i, m, to, this.roWritable, 0);
        walk.nrWalked += m;
        pte.idx += m;
      }
    }
  }

  /**
   * The PTE table and index of a batch's walk of n vmemmap pages from vaddr where the walk may
   * go direct (fast_paths.ts directWalk: restoreDirect(), remapDirect(), splitDirect()): the
   * model's fast paths on, no mutation, no flush of its own, no memmap_on_memory hook, the
   * pages in one table of one PMD mapped by a table (not a leaf, not a hole). The index goes to
   * directIdx; -1 (nothing but reads done) elsewhere: the caller walks.
   */
  private directTable(off: number, n: number, flags: number): number {
    const { k } = this;
    if (
      !this.paths.directWalk ||
      !this.paths.pteRuns ||
      k.mutations.size !== 0 ||
      !(flags & (VMEMMAP_REMAP_NO_TLB_FLUSH | VMEMMAP_SPLIT_NO_TLB_FLUSH)) ||
      this.isVmemmapSelfHosted !== NOT_SELF_HOSTED ||
      this.baseRems[3] === 0 ||
      !Number.isInteger(n) ||
      n < 2
    )
      return -1;
    const g = k.geometry;
    const pgt = k.pgt;
    const ps = this.pageSize;
    // In one PMD (the walk goes a PMD at a time), aligned, at a safe offset (originOf()).
    // The sizes are powers of two and the numbers non-negative: modPow2(), not `%` (fmod()).
    if (
      off < 0 ||
      !Number.isSafeInteger(off + n * ps) ||
      modPow2(off + this.baseRems[0], ps) !== 0 ||
      modPow2(off + this.baseRems[1], g.pmdSize) + n * ps > g.pmdSize
    )
      return -1;
    // The PMD's slot from the offset where the tables allow it: no bigint per folio.
    let pmd = pgt.slotAt(g.pmdLevel, off);
    if (pmd === undefined) pmd = pgt.slot(g.pmdLevel, k.memmap.vmemmapBase + BigInt(off));
    if (!pmd || !pgt.entry(pmd.tablePfn, pmd.idx, g.pmdLevel) || !pgt.e.table) return -1;
    const idx = modPow2(
      this.baseRems[2] + Math.floor((off + this.baseRems[0]) / ps),
      pgt.entriesPerTable,
    );
    if (idx + n > pgt.entriesPerTable) return -1;
    this.directIdx = idx;
    return pgt.e.pfn;
  }
  /** directTable()'s index of the first PTE. */
  private directIdx = 0;

  /** The n PTEs of table from idx as runs into runsBuf (pteRuns(), else pteRunsOfBytes()), or -1. */
  private directRuns(table: number, idx: number, n: number): number {
    const pgt = this.k.pgt;
    const runs = pgt.pteRuns(table, idx, n, this.runsBuf);
    if (runs >= 0 || !this.paths.pteRunsOfBytes) return runs;
    return pgt.pteRunsOfBytes(table, idx, n, this.runsBuf, true);
  }

  /**
   * vmemmap_remap_split() of a batch's folio whose vmemmap PMD is a table already: nothing to
   * split, and with no memmap_on_memory hook the walk's one PTE read decides nothing. True where
   * that holds (directTable()); false, nothing but reads done, where the caller walks.
   */
  splitDirect(startOff: number, n: number, flags: number): boolean {
    const table = this.directTable(startOff, n, flags);
    // vmemmap_pmd_entry()'s read of the first PTE (a PTE that is none is the walk's Oops).
    return table >= 0 && this.k.pgt.entry(table, this.directIdx, this.k.geometry.pteLevel);
  }

  /**
   * Legacy's vmemmap_remap_free() walk from reuse (the head's vmemmap page) over a batch's
   * folio's n vmemmap pages, with a new head page allocated: the head's PTE maps `page`
   * writable, the rest `page` read-only, each old page added to the list in PTE order (the
   * head's in place of `page`, added just before). What vmemmapRemapRange() with legacyRemapPte
   * does, run by run, without its generic machinery (directTable()). False, with nothing but
   * reads done, where the caller walks.
   */
  remapDirect(reuseOff: number, n: number, page: number, list: PageList, flags: number): boolean {
    const table = this.directTable(reuseOff, n, flags);
    if (table < 0) return false;
    const idx = this.directIdx;
    const runs = this.directRuns(table, idx, n);
    if (runs < 0) return false;
    const pgt = this.k.pgt;
    const b = this.runsBuf;
    list.del(page);
    list.add(b.pfn[0]);
    pgt.setPte(table, idx, page, true);
    for (let r = 0; r < runs; r++) {
      const f = b.first[r];
      const end = f + b.len[r];
      const i = Math.max(f, idx + 1);
      if (i >= end) continue;
      list.addRun(b.pfn[r] + (i - f) * b.step[r], b.step[r], end - i);
      pgt.setPteRun(table, i, end - i, page, this.roWritable, 0);
    }
    return true;
  }

  /**
   * Legacy's vmemmap_remap_alloc() walk of a batch's folio's n vmemmap pages from reuse (the
   * head's), as HVO left them: the first PTE mapping the head page, the other n - 1 that same
   * page; `list` holds n - 1 pages. What vmemmapRemapRange() with restorePte does there,
   * without its generic machinery (directTable()): the first page a copy of the head page with
   * its struct pages reset, the rest copies of it, taken off the list and mapped in the same
   * order. False, with nothing but reads done, where the caller walks.
   */
  restoreDirect(reuseOff: number, n: number, list: PageList, flags: number): boolean {
    if (list.length < n - 1) return false;
    const table = this.directTable(reuseOff, n, flags);
    if (table < 0) return false;
    const idx = this.directIdx;
    const runs = this.directRuns(table, idx, n);
    const b = this.runsBuf;
    // The head's PTE and the rest mapping its page: one run (one protection) or two.
    if (
      !(runs === 1 && b.step[0] === 0) &&
      !(runs === 2 && b.len[0] === 1 && b.pfn[1] === b.pfn[0] && b.step[1] === 0)
    )
      return false;
    const { k } = this;
    // vmemmap_restore_pte() of the second PTE: a copy of the head page, reset; the rest copies
    // of that page, a run of the list at a time.
    const page = list.takeHead() as number;
    this.copyAndResetFromVmemmapOff(page, reuseOff);
    k.pgt.setPte(table, idx + 1, page, true);
    for (let i = idx + 2; i < idx + n; ) {
      const got = list.takeHeadRun(idx + n - i);
      const first = list.runHead;
      const dir = list.runStep;
      k.frames.copyFrameRun(dir < 0 ? first - (got - 1) : first, got, page);
      k.pgt.setPteRun(table, i, got, first, true, dir);
      i += got;
    }
    return true;
  }

  newWalk(fields: Partial<RemapWalk>): RemapWalk {
    // Every field written here, in one order, restoreTemplate too: every walk has one shape
    // (a spread, and restoreTemplate added later, gave the walk's readers several).
    return {
      remapPte: fields.remapPte ?? null,
      nrWalked: fields.nrWalked ?? 0,
      findReuse: fields.findReuse ?? false,
      reusePage: fields.reusePage ?? null,
      reuseAddr: fields.reuseAddr ?? 0n,
      vmemmapStart: fields.vmemmapStart ?? 0n,
      vmemmapHead: fields.vmemmapHead ?? null,
      vmemmapTail: fields.vmemmapTail ?? null,
      // A list of its own only for a walk given none.
      vmemmapPages: fields.vmemmapPages ?? new PageList(),
      flags: fields.flags ?? 0,
      nid: fields.nid ?? 0,
      restoreTemplate: fields.restoreTemplate,
    };
  }

  // ---- freeing and allocating vmemmap pages --------------------------------------------------

  /**
   * free_vmemmap_page(): memblock memory (PageReserved) goes through free_bootmem_page() and
   * counts against nr_memmap_boot_pages; a page from the buddy against nr_memmap_pages.
   */
  freeVmemmapPage(pfn: number): void {
    const { k } = this;
    if (k.mutations.has("leak-vmemmap-page")) {
      // Mutation: counted as freed, never returned.
      if (this.pageReserved(pfn)) k.memmapBootPagesAdd(-1);
      else k.memmapPagesAdd(-1);
      this.counters.vmemmapPagesFreed++;
      return;
    }
    if (this.pageReserved(pfn)) {
      k.memmapBootPagesAdd(-1);
      this.clearReservedPage(pfn);
      k.buddy.freeReservedPage(pfn);
      k.memblock.unreservePage(pfn);
    } else {
      k.memmapPagesAdd(-1);
      k.buddy.freePages(pfn, 0);
    }
    this.counters.vmemmapPagesFreed++;
  }

  /**
   * Pages freeVmemmapPageList() takes off its list at a time (a test makes it small, so that
   * runs are cut at piece ends as they are in batches of thousands of 1 GiB folios).
   */
  pageListPiece = PAGE_LIST_PIECE;

  /**
   * The struct page stores of free_reserved_page(): PG_reserved cleared, then init_page_count()
   * and __free_page() leave _refcount 0. The same stores and counts as memmap setBit() and
   * writeU32(), made in the struct page's bytes in place when its vmemmap page is mapped
   * writable (else through them, which fault as the kernel's stores would).
   */
  private clearReservedPage(pfn: number): void {
    const m = this.k.memmap;
    const v = m.wholeStructPages ? m.structPageView(pfn, false) : null;
    this.clearedView = v;
    if (v === null) {
      m.setBit(pfn, PAGE_OFF.flags, PG.reserved, false);
      m.writeU32(pfn, PAGE_OFF.refcount, 0);
      return;
    }
    this.clearedOff = m.spanOff;
    this.clearInPlace(v, m.spanOff, v.getUint32(m.spanOff + RESERVED_WORD, true));
  }

  /**
   * The vmemmap page, as clearReservedPage() stored into it in place, of the struct page it
   * cleared last, and that struct page's offset in it (null: it stored field by field).
   */
  private clearedView: DataView | null = null;
  private clearedOff = 0;

  /** clearReservedPage()'s stores to the struct page at off of v, whose flags word is `old`. */
  private clearInPlace(v: DataView, off: number, old: number): void {
    const m = this.k.memmap;
    m.reads++;
    const nv = (old & ~(1 << (PG.reserved % 32))) >>> 0;
    if (nv !== old) {
      v.setUint32(off + RESERVED_WORD, nv, true);
      m.writes++;
    }
    v.setUint32(off + PAGE_OFF.refcount, 0, true);
    m.writes++;
  }

  /**
   * The run of reserved pages of pfns from i on (pfns[i] is PageReserved, and the next page,
   * if any, is pfns[i] + dir): clearReservedPage() of each while the next is consecutive and
   * PageReserved, up to index `stop`. Returns the index past the run (clearReservedSeq()).
   */
  private clearReservedRun(pfns: readonly number[], i: number, dir: number, stop: number): number {
    let e = i + 1;
    if (dir === 1 || dir === -1) while (e < stop && pfns[e] === pfns[e - 1] + dir) e++;
    return i + this.clearReservedSeq(pfns[i], dir, e - i);
  }

  /**
   * clearReservedPage() of first (PageReserved), then of first + dir, first + 2 * dir, ... while
   * PageReserved, at most count pages (dir is 1 or -1 where count > 1). Returns how many. The
   * same reads, stores and counts as pageReserved() and clearReservedPage() page by page, in the
   * same order; a struct page in the vmemmap page of the one cleared before it is read and
   * stored in those bytes directly (no translation: the page before it was just translated to
   * them, writable).
   */
  private clearReservedSeq(first: number, dir: number, count: number): number {
    const m = this.k.memmap;
    const sps = this.structPageSize;
    const ps = this.pageSize;
    this.clearReservedPage(first);
    let t = 1;
    while (t < count) {
      const v = this.clearedView;
      const off = this.clearedOff + dir * sps;
      if (v !== null && off >= 0 && off + sps <= ps) {
        // pageReserved(), then clearReservedPage(), in the same bytes.
        m.reads++;
        const old = v.getUint32(off + RESERVED_WORD, true);
        if (((old >>> (PG.reserved % 32)) & 1) !== 1) break;
        this.clearedOff = off;
        this.clearInPlace(v, off, old);
      } else {
        const pfn = first + dir * t;
        if (!this.pageReserved(pfn)) break;
        this.clearReservedPage(pfn);
      }
      t++;
    }
    this.clearedView = null;
    return t;
  }

  /**
   * clearReservedRun() of the falling run top, top - 1, ... (n consecutive pfns, top
   * PageReserved; returns how many it cleared), where whole vmemmap pages
   * of its struct pages need not be stored into. A vmemmap page holding struct pages of the run
   * only, that memmap_init() left untouched (freedWholeFrame()), is given the pattern of the
   * memmap of free memory at once: freed from the top down, each page of the run is marked a
   * free head when freed or merged into, and unmarked if it stops being one (page_alloc.ts
   * freeRunToBuddy()), so it ends as a free head or with list_del()'s poison, which is what the
   * pattern renders; the buddy's marks skip a page held as a pattern (kernel.ts
   * markBuddyHead()). The exception is the first page of a block the run is freed as
   * (reservedRunStarts()): merged at once into a free block below it, it is never marked and
   * keeps what clearReservedPage() left. Those pages are watched while the buddy frees the run
   * (watchBuf) and stored into after it (keepUnmarked()). The same reads and stores of
   * clearReservedPage() are counted, and each vmemmap page is translated where its stores
   * would first translate it (the TLB fills the same).
   */
  private clearReservedRunDown(top: number, n: number): number {
    const { k } = this;
    const m = k.memmap;
    const per = this.pageSize / this.structPageSize;
    // The vmemmap pages found whole: (how many pages of the run come before their top struct
    // page's, frame).
    const whole = this.wholeBuf;
    whole.length = 0;
    this.watchBuf.length = 0;
    let t = 0;
    while (t < n) {
      const p = top - t;
      // The struct pages of p's vmemmap page from p down: (p mod per) + 1 of them.
      const inPage = p - Math.floor(p / per) * per + 1;
      if (inPage === per && t + per <= n) {
        const frame = this.freedWholeFrame(p - per + 1, per);
        if (frame >= 0) {
          whole.push(t, frame);
          t += per;
          continue;
        }
      }
      if (t > 0 && !this.pageReserved(p)) break;
      const stop = Math.min(n - t, inPage);
      const c = this.clearReservedSeq(p, -1, stop);
      t += c;
      if (c < stop) break;
    }
    if (whole.length === 0) return t;
    // The blocks the run's cleared pages are freed as.
    const starts = this.startsBuf;
    k.buddy.reservedRunStarts(top - t + 1, t, starts);
    const fp = this.freedPattern;
    const watch = this.watchBuf;
    for (let w = 0; w < whole.length; w += 2) {
      const at = whole[w];
      const first = top - at - per + 1;
      for (let q = 0; q < starts.length; q += 2)
        if (starts[q] >= first && starts[q] < first + per) watch.push(starts[q]);
      // pageReserved() and clearReservedPage() of each: two reads and two stores (the caller
      // read the run's first).
      m.reads += 2 * per - (at === 0 ? 1 : 0);
      m.writes += 2 * per;
      fp.voff = first * this.structPageSize;
      k.frames.setPattern(whole[w + 1], fp);
    }
    return t;
  }

  /**
   * After the buddy freed a run clearReservedRunDown() cleared: the first pages of its blocks
   * (watch) that the buddy never marked (marked[i] false: merged at once into a free block
   * below) hold what clearReservedPage() left, memmap_init()'s struct page with PG_reserved
   * cleared and _refcount 0, not the pattern's poisoned lru: their vmemmap pages take bytes of
   * their own (the pattern's, rendered now) with those struct pages stored into them.
   */
  private keepUnmarked(watch: readonly number[], marked: readonly boolean[]): void {
    const { k } = this;
    const m = k.memmap;
    const ps = this.pageSize;
    const sps = this.structPageSize;
    for (let i = 0; i < watch.length; i++) {
      if (marked[i] === true) continue;
      const voff = watch[i] * sps;
      if (voff % ps === 0) {
        // The first struct page of a vmemmap page still held as the freed pattern: the
        // pattern with that struct page kept (frames.ts keepFirst), no bytes of its own.
        const frame = k.pgt.translateFrame(voff / ps);
        const p = frame >= 0 && k.pgt.tWritable ? k.frames.patternOf(frame) : null;
        if (
          p !== null &&
          p.kind === "init" &&
          p.unlisted === true &&
          p.keepFirst !== true &&
          p.voff === voff
        ) {
          const kp = this.keptPattern;
          kp.voff = voff;
          k.frames.setPattern(frame, kp);
          continue;
        }
      }
      const a = this.clearedInit(watch[i]);
      const v = m.structPageView(watch[i], false);
      // The page was mapped writable when the run was cleared, and freeing changes no table.
      if (v === null) throw new Oops(`vmemmap page of pfn ${watch[i]} lost its writable mapping`);
      const off = m.spanOff;
      for (let b = 0; b < a.bytes.length; b += 4)
        v.setUint32(off + b, a.view.getUint32(b, true), true);
    }
  }

  private readonly wholeBuf: number[] = [];
  private readonly startsBuf: number[] = [];
  /** The first pages of blocks, in vmemmap pages clearReservedRunDown() held as a pattern. */
  private readonly watchBuf: number[] = [];

  /** The freed pattern with its first struct page kept (keepUnmarked()). */
  private readonly keptPattern: {
    kind: "init";
    voff: number;
    asFree: true;
    unlisted: true;
    keepFirst: true;
  } = { kind: "init", voff: 0, asFree: true, unlisted: true, keepFirst: true };

  /** The pattern clearReservedRunDown() gives (its voff set per page). */
  private readonly freedPattern: {
    kind: "init";
    voff: number;
    asFree: true;
    unlisted: true;
  } = { kind: "init", voff: 0, asFree: true, unlisted: true };

  /**
   * The frame of the vmemmap page of the struct pages [first, first + per) when it is mapped
   * writable, still reads as what memmap_init() left (boot memory, PG_reserved) and freeing
   * those pages from the top down turns it into the memmap of free memory (pattern "init",
   * asFree, unlisted); -1 otherwise. The struct pages are alike but for their addresses
   * (kernel.ts reservedAlike()), so one of them answers for all: its bytes after
   * clearReservedPage() and the buddy's clearing marks must be the pattern's for a page that
   * heads no free block (a head's fields are the same marks both ways).
   */
  private freedWholeFrame(first: number, per: number): number {
    const { k } = this;
    const ps = this.pageSize;
    const vpn = (first * this.structPageSize) / ps;
    const frame = k.pgt.translateFrame(vpn);
    if (frame < 0 || !k.pgt.tWritable || k.buddy.lru === null) return -1;
    const p = k.frames.patternOf(frame);
    if (p === null || p.kind !== "init" || p.asFree === true || p.voff !== vpn * ps) return -1;
    const r = k.reservedAlike(first, per);
    if (r === null) return -1;
    // The answer for struct pages alike in the same zone, reservation and PMD block.
    const z = k.pfnZone(first);
    const block = Math.floor(first / (k.geometry.pmdSize / ps));
    if (r !== this.alikeRange || z !== this.alikeZone || block !== this.alikeBlock) {
      this.alikeRange = r;
      this.alikeZone = z;
      this.alikeBlock = block;
      this.alikeFreed = this.clearedIsFreed(first);
    }
    return this.alikeFreed ? frame : -1;
  }
  /** The class freedWholeFrame() compared last, and whether it ends as the freed pattern. */
  private alikeRange: object | null = null;
  private alikeZone: object | null = null;
  private alikeBlock = -1;
  private alikeFreed = false;

  /**
   * Whether the struct page of pfn (boot memory, PG_reserved, heading no free block), after
   * clearReservedPage() and the buddy's clearing marks, holds what the memmap of free memory
   * renders for a page that heads no free block.
   */
  private clearedIsFreed(pfn: number): boolean {
    const { k } = this;
    const sps = this.structPageSize;
    if (this.cmpB === null) this.cmpB = structPageBuf(sps);
    const a = this.clearedInit(pfn);
    const b = this.cmpB;
    b.bytes.fill(0);
    // As the buddy's clearing marks (kernel.ts storeBuddyMarks()) leave it.
    const av = a.view;
    av.setUint32(PAGE_OFF.pageType, 0xffffffff, true);
    av.setUint32(PAGE_OFF.private, 0, true);
    av.setUint32(PAGE_OFF.private + 4, 0, true);
    LruWords.poisonInto(av, 0);
    // As the pattern renders a struct page that heads no block (frames.ts renderStructPage();
    // pfn is reserved memory, no free head, now).
    k.initStructPage(pfn, b.bytes, b.view, 0, true);
    if (b.view.getUint32(PAGE_OFF.mapcount, true) === 0xffffffff) LruWords.poisonInto(b.view, 0);
    for (let w = 0; w < a.bytes.length; w++) if (a.bytes[w] !== b.bytes[w]) return false;
    return true;
  }
  /**
   * The struct page of pfn (boot memory, PG_reserved) as clearReservedPage() leaves it:
   * memmap_init()'s, PG_reserved cleared, _refcount 0 (in a buffer reused by the next call).
   */
  private clearedInit(pfn: number): { bytes: Uint8Array; view: DataView } {
    if (this.cmpA === null) this.cmpA = structPageBuf(this.structPageSize);
    const a = this.cmpA;
    a.bytes.fill(0);
    this.k.initStructPage(pfn, a.bytes, a.view, 0, false);
    const av = a.view;
    const flags = av.getUint32(RESERVED_WORD, true);
    av.setUint32(RESERVED_WORD, (flags & ~(1 << (PG.reserved % 32))) >>> 0, true);
    av.setUint32(PAGE_OFF.refcount, 0, true);
    return a;
  }

  /** freedWholeFrame()'s two struct pages (made on first use). */
  private cmpA: { bytes: Uint8Array; view: DataView } | null = null;
  private cmpB: { bytes: Uint8Array; view: DataView } | null = null;

  /** free_vmemmap_page_list(): from the list head on. */
  freeVmemmapPageList(list: PageList): void {
    const { k } = this;
    if (!this.paths.vmemmapBulk || k.mutations.has("leak-vmemmap-page")) {
      for (const pfn of list) this.freeVmemmapPage(pfn);
      list.clear();
      return;
    }
    // A run of consecutive pfns (one way) of one kind, boot memory or the buddy's, at a time:
    // each page's own struct page writes in list order (a page is measured after the writes of
    // the one before it, as the singles measure it), then the run's frees in one bulk call.
    // The list comes in pieces of pageListPiece pages; a run cut by a piece's end is freed
    // as two runs, which frees the same pages in the same order (a bulk free is its singles).
    // A falling run of boot memory goes without an array of its pfns (freeRunDown()); the rest
    // as a piece of its own (a piece's runs are freed one after the other either way).
    // The buddy's frees of the list as one batch (freeBatch): every page is read (its
    // PageReserved test) before its free, as beginFreeBatch() asks.
    const batched = k.buddy.beginFreeBatch(list.length);
    try {
      list.drainRuns(this.pageListPiece, this.chunkVisitor);
    } finally {
      if (batched) k.buddy.endFreeBatch();
    }
  }

  /**
   * Whether falling runs of boot memory go through clearReservedRunDown(): whole struct pages
   * per vmemmap page, and no mutation of the free path.
   */
  private downFast(): boolean {
    return this.paths.freedWhole && this.k.memmap.wholeStructPages && this.k.mutations.size === 0;
  }

  /** freeVmemmapPageList()'s visitor of the list's runs (made once). */
  private readonly chunkVisitor = (head: number, step: number, n: number): void => {
    if (step === -1 && n > 1 && this.downFast()) {
      this.freeRunDown(head, n);
      return;
    }
    if (n === 1) {
      // A page alone (most old head pages, and the pieces of a list of scattered pages):
      // freeVmemmapPiece() of [head], without the arrays where it is the buddy's. Its run is the
      // page, and settleFreedMemmap() of one struct page settles nothing (no vmemmap page holds
      // only it).
      const reserved = this.pageReserved(head);
      if (!reserved) {
        this.freeBuddyPages(head);
        return;
      }
      const a = this.pieceBuf;
      a.length = 1;
      a[0] = head;
      this.freeVmemmapPiece(a, 0, reserved);
      return;
    }
    const a = this.pieceBuf;
    a.length = n;
    for (let i = 0; i < n; i++) a[i] = head + step * i;
    this.freeVmemmapPiece(a);
  };

  /**
   * freeVmemmapPiece() of the falling run top, top - 1, ..., top - n + 1 (n > 1), without an
   * array of its pfns where it is boot memory cleared by clearReservedRunDown() up to its end:
   * the same reads, stores, frees and counts in the same order.
   */
  private freeRunDown(top: number, n: number): void {
    const { k } = this;
    const reserved = this.pageReserved(top);
    const j = reserved ? this.clearReservedRunDown(top, n) : 0;
    if (!reserved || j < n) {
      // Not boot memory, or boot memory up to index j only: from there as a piece (the read
      // of the first page made here stands for its own).
      const a = this.pieceBuf;
      a.length = n;
      for (let i = 0; i < n; i++) a[i] = top - i;
      this.freeVmemmapPiece(a, j, reserved);
      return;
    }
    const lo = top - n + 1;
    k.memmapBootPagesAdd(-n);
    this.freeWatched(() => k.buddy.freeReservedRunDown(lo, n));
    this.unreserveRun(lo, top + 1);
    this.counters.vmemmapPagesFreed += n;
    this.settleFreedMemmap(lo, top + 1);
  }

  /**
   * The buddy's free of a run clearReservedRunDown() cleared, watching the first pages of its
   * blocks that it held as a pattern (watchBuf), then keepUnmarked().
   */
  private freeWatched(free: () => void): void {
    const { k } = this;
    const watch = this.watchBuf;
    if (watch.length === 0) {
      free();
      return;
    }
    const marked = k.headWatchMarked;
    marked.length = watch.length;
    marked.fill(false);
    k.headWatch = watch;
    try {
      free();
    } finally {
      k.headWatch = null;
    }
    this.keepUnmarked(watch, marked);
  }

  /** memblock_phys_free() of the freed boot pages [lo, end), a reserved region at a time. */
  private unreserveRun(lo: number, end: number): void {
    const mb = this.k.memblock;
    for (let p = lo; p < end; ) {
      const r = mb.findReserved(p);
      const e = r === null ? p + 1 : Math.min(r.endPfn, end);
      if (r === null) mb.unreservePage(p);
      else mb.unreserveRange(p, e);
      p = e;
    }
  }

  /** The piece of the list freeVmemmapPageList() frees, and a run of it (reused, not made per call). */
  private readonly pieceBuf: number[] = [];
  private readonly runBuf: number[] = [];

  /**
   * freeVmemmapPageList() of one piece of the list, from the head on (from index `from`, where
   * the pages before it are cleared: their run freed from there; `firstReserved`: what
   * pageReserved() of pfns[0] read, made by the caller).
   */
  private freeVmemmapPiece(pfns: number[], from = 0, firstReserved?: boolean): void {
    const { k } = this;
    let i = 0;
    while (i < pfns.length) {
      const first = pfns[i];
      const reserved =
        i === 0 && firstReserved !== undefined ? firstReserved : this.pageReserved(first);
      const dir = i + 1 < pfns.length ? pfns[i + 1] - first : 0;
      let j = i;
      const down = reserved && dir === -1 && this.downFast();
      if (i === 0 && from > 0) j = from;
      else if (down) {
        let e = i + 1;
        while (e < pfns.length && pfns[e] === pfns[e - 1] - 1) e++;
        j = i + this.clearReservedRunDown(first, e - i);
      } else if (reserved) j = this.clearReservedRun(pfns, i, dir, pfns.length);
      else
        do j++;
        while (
          (dir === 1 || dir === -1) &&
          j < pfns.length &&
          pfns[j] === pfns[j - 1] + dir &&
          !this.pageReserved(pfns[j])
        );
      const run = this.runBuf;
      run.length = j - i;
      for (let r = i; r < j; r++) run[r - i] = pfns[r];
      if (reserved) {
        k.memmapBootPagesAdd(-run.length);
        if (down || (i === 0 && from > 0))
          this.freeWatched(() => k.buddy.freeReservedPagesBulk(run));
        else k.buddy.freeReservedPagesBulk(run);
        this.unreserveRun(Math.min(first, pfns[j - 1]), Math.max(first, pfns[j - 1]) + 1);
        this.counters.vmemmapPagesFreed += run.length;
      } else this.freeBuddyPages(first, run);
      this.settleFreedMemmap(Math.min(first, pfns[j - 1]), Math.max(first, pfns[j - 1]) + 1);
      i = j;
    }
  }

  /**
   * freeVmemmapPiece()'s pages that are not boot memory back to the buddy, counted: its run from
   * pfn (run[0] is pfn), or where run is null the page pfn alone, without an array (the chunk
   * visitor's page), whose bulk free is __free_pages(pfn, 0).
   */
  private freeBuddyPages(pfn: number, run: readonly number[] | null = null): void {
    const { k } = this;
    const n = run === null ? 1 : run.length;
    k.memmapPagesAdd(-n);
    if (run === null) k.buddy.freePages(pfn, 0);
    else k.buddy.freePagesBulk(run);
    this.counters.vmemmapPagesFreed += n;
  }

  /**
   * The vmemmap pages that hold only struct pages of [lo, end), just freed: those whose bytes
   * are now what the memmap of memory freed page by page holds (frames.ts settleAsFree()) are
   * held as that pattern again, not as 4 KiB of their own. Their bytes do not change; the walk
   * fills no TLB entry.
   */
  private settleFreedMemmap(lo: number, end: number): void {
    if (!this.k.memmap.wholeStructPages) return;
    const ps = this.pageSize;
    const sps = this.structPageSize;
    const last = Math.floor((end * sps) / ps);
    const first = Math.ceil((lo * sps) / ps);
    if (last <= first) return;
    // Settling compares the pages' bytes with the free lists: the batch of frees made first.
    // The bytes are not the lists (their reads do not make the batch): asked here.
    this.k.buddy.commitFreeBatch();
    // The pages' walks first, one per leaf (no TLB; settling changes no page table).
    if (this.settleWords.length < last - first) this.settleWords = new Float64Array(last - first);
    const w = this.k.pgt.walkRange(first, last - first, this.settleWords);
    for (let vpn = first; vpn < last; vpn++) {
      const x = w[vpn - first];
      if (x === 0) continue;
      const frame = x > 0 ? x - 1 : -x - 1;
      // Only a page with bytes of its own can be settled (clearReservedRunDown() gave most of
      // them the pattern already).
      if (!this.k.frames.hasOwnBytes(frame)) continue;
      const voff = vpn * ps;
      this.k.frames.settleAsFree(frame, voff, this.freeHeadIn(voff / sps, ps / sps));
    }
  }
  /** settleFreedMemmap()'s walks, reused. */
  private settleWords = new Float64Array(0);

  /**
   * For frames.ts settleAsFree(), the struct pages of [first, first + n): the one pfn of them
   * that heads a free block (-1: none) when they all lie in one zone and in one free block
   * (free blocks are disjoint, and only a block's first page heads it); undefined otherwise.
   */
  freeHeadIn(first: number, n: number): number | undefined {
    const { k } = this;
    if (!this.paths.settleClasses || !this.zonesDisjoint()) return undefined;
    const z = k.pfnZone(first);
    if (z === null || k.pfnZone(first + n - 1) !== z) return undefined;
    const b = k.buddy.freeBlockAt(first);
    if (b === null || b.start + 2 ** b.order < first + n) return undefined;
    return b.start === first ? first : -1;
  }

  /** Whether no two zone spans overlap (then pfnZone() answers one range per pfn). */
  private zonesDisjoint(): boolean {
    if (this.disjoint === null) {
      const spans = this.k.spec.nodes
        .flatMap((n) => n.zones.map((z) => [z.startPfn, z.endPfn]))
        .sort((x, y) => x[0] - y[0]);
      this.disjoint = spans.every((s, i) => i === 0 || spans[i - 1][1] <= s[0]);
    }
    return this.disjoint;
  }
  private disjoint: boolean | null = null;

  /**
   * alloc_vmemmap_page_list(): (end - start) / PAGE_SIZE pages on the node of the struct page at
   * `start`, all or none.
   */
  allocVmemmapPageList(start: bigint, end: bigint, list: PageList, hold = false): number {
    // Offsets from the vmemmap base: safe integers (the memmap of MAX_PHYSMEM_BITS of memory).
    const base = this.k.memmap.vmemmapBase;
    return this.allocVmemmapPageListOff(Number(start - base), Number(end - base), list, hold);
  }

  /**
   * allocVmemmapPageList() of the addresses at byte offsets [startOff, endOff) from the vmemmap
   * base (safe integers), without a bigint.
   */
  allocVmemmapPageListOff(startOff: number, endOff: number, list: PageList, hold: boolean): number {
    const nrPages = Math.trunc((endOff - startOff) / this.pageSize);
    const nid = this.pageToNidOff(startOff);
    this.checkNode(nid, startOff, "alloc_vmemmap_page_list");
    return this.allocVmemmapPages(nrPages, nid, list, hold);
  }

  /** The list the restore of a folio fills (LEGACY.remapAlloc()): the core's own, empty. */
  restoreList(): PageList {
    if (this.spareList === null || this.spareList.length !== 0) this.spareList = new PageList();
    return this.spareList;
  }
  /** The list restoreList() gave goes with the generic walk: the next restore gets a new one. */
  dropRestoreList(): void {
    this.spareList = null;
  }
  private spareList: PageList | null = null;

  /** The list allocVmemmapPages()' runs go to, for its visitor (made once). */
  private runsTo: PageList | null = null;
  private readonly onPageRun = (pfn: number, t: number): void => {
    (this.runsTo as PageList).addRun(pfn, 1, t);
  };

  /** alloc_vmemmap_page_list() of nrPages pages on node nid, once the node is known to exist. */
  private allocVmemmapPages(nrPages: number, nid: number, list: PageList, hold: boolean): number {
    const { k } = this;
    if (this.paths.vmemmapBulk) {
      // Each run of pages handed out goes on the list as one (the adds of its pages in turn).
      this.runsTo = list;
      const onRun = this.onPageRun;
      const gfp = GFP_KERNEL | __GFP_RETRY_MAYFAIL;
      const site = HVO_SITES.pageList;
      let got: number;
      if (hold && this.mayHoldRest())
        got = k.buddy.allocPagesBulkHeld(nid, gfp, nrPages, site, "vmemmap", onRun);
      else {
        this.releaseRest();
        got = k.buddy.allocPagesBulkRuns(nid, gfp, nrPages, site, "vmemmap", onRun);
      }
      if (got < nrPages) {
        this.releaseRest();
        k.buddy.freePagesBulk([...list]);
        list.clear();
        return -ENOMEM;
      }
      k.memmapPagesAdd(nrPages);
      this.counters.vmemmapPagesAllocated += nrPages;
      return 0;
    }
    for (let i = 0; i < nrPages; i++) {
      const pfn = k.buddy.allocPagesNode(
        nid,
        GFP_KERNEL | __GFP_RETRY_MAYFAIL,
        0,
        HVO_SITES.pageList,
        "vmemmap",
      );
      if (pfn === null) {
        for (const p of list) k.buddy.freePages(p, 0);
        list.clear();
        return -ENOMEM;
      }
      list.add(pfn);
    }
    k.memmapPagesAdd(nrPages);
    this.counters.vmemmapPagesAllocated += nrPages;
    return 0;
  }

  /**
   * Whether the batch under way (restoreFolios()' page lists, optimizeFoliosBatch()'s legacy new
   * head pages) holds the rest of a split block across its folios (fast_paths.ts heldRest,
   * page_alloc.ts allocPagesBulkHeld(), allocPageHeld()).
   */
  private holdingRest = false;

  /**
   * Whether this allocation of a batch may leave the rest of its block held: the batch holds,
   * nobody runs at the rescheduling points, and the TLB is far from full (a held piece is
   * marked when a later folio takes it, not when the allocator would have put it on its list:
   * the same translations filled, later; with no sweep in between, the same TLB).
   */
  private mayHoldRest(): boolean {
    return (
      this.holdingRest &&
      this.k.resched === null &&
      this.k.pgt.tlbSize < TLB_CAPACITY - HELD_REST_TLB_ROOM
    );
  }

  /** A held rest onto the free lists (before anything but the batch's allocations uses them). */
  releaseRest(): void {
    this.k.buddy.releaseRest();
  }

  /** copy_page(page_to_virt(dst), vaddr): the source is read through the vmemmap. */
  copyPageFromVmemmap(dstFrame: number, vaddr: bigint): void {
    this.k.frames.copyFrame(dstFrame, this.frameAt(vaddr));
  }

  // ---- the per-PTE callbacks -----------------------------------------------------------------

  /** Legacy vmemmap_remap_pte(): everything maps reuse_page, RW at reuse_addr, RO elsewhere. */
  readonly legacyRemapPte = (pte: PteCursor, walk: RemapWalk): void => {
    const page = this.ptePfn(pte);
    let writable: boolean;
    if (walk.reusePage === null)
      throw new Oops("kernel BUG: vmemmap_remap_pte without reuse_page", { vaddr: pte.vaddr() });
    if (pte.vaddr() === walk.reuseAddr) {
      walk.vmemmapPages.del(walk.reusePage);
      writable = this.k.mutations.has("head-pte-readonly") ? this.roWritable : true;
    } else writable = this.roWritable;
    walk.vmemmapPages.add(page);
    this.k.pgt.setPte(pte.tablePfn, pte.idx, walk.reusePage, writable);
  };

  /** Series vmemmap_remap_pte(): the head PTE maps vmemmap_head RW, the rest vmemmap_tail RO. */
  readonly seriesRemapPte = (pte: PteCursor, walk: RemapWalk): void => {
    const page = this.ptePfn(pte);
    // The entry as mkPte()/mkPteRo() make it, written as setPte() writes it (no bigint).
    let pfn: number;
    let writable: boolean;
    if (this.design.headPteIndex?.(this, walk, pte, 1) === 0 && walk.vmemmapHead !== null) {
      walk.vmemmapPages.del(walk.vmemmapHead);
      pfn = walk.vmemmapHead;
      writable = this.k.mutations.has("head-pte-readonly") ? this.roWritable : true;
    } else {
      if (walk.vmemmapTail === null)
        throw new Oops("kernel BUG: vmemmap_remap_pte without vmemmap_tail", {
          vaddr: pte.vaddr(),
        });
      pfn = walk.vmemmapTail;
      writable = this.roWritable;
    }
    walk.vmemmapPages.add(page);
    this.k.pgt.setPte(pte.tablePfn, pte.idx, pfn, writable);
  };

  /** vmemmap_restore_pte(): a page from the list, filled as the design fills it, mapped RW. */
  readonly restorePte = (pte: PteCursor, walk: RemapWalk): void => {
    const src = this.ptePfn(pte);
    // 7.2's rollback (the walk carries vmemmap_tail): the head PTE keeps the copied head; only
    // PTEs that map the shared tail are restored.
    if (walk.vmemmapTail !== null && src !== walk.vmemmapTail) return;
    if (walk.findReuse && src !== walk.reusePage) {
      throw new Oops("kernel BUG: vmemmap_restore_pte: PTE does not map reuse_page", {
        vaddr: pte.vaddr(),
      });
    }
    const page = walk.vmemmapPages.takeHead();
    if (page === undefined)
      throw new Oops("kernel BUG: vmemmap_restore_pte: list empty", { vaddr: pte.vaddr() });
    this.design.restoreFill(this, page, pte, walk, src);
    this.k.pgt.setPte(pte.tablePfn, pte.idx, page, true);
  };

  /**
   * copy_page() of the head vmemmap page at vaddr into dstFrame, then reset_struct_pages() of
   * the copy: where the move is made in place, as one copy of the frame store's
   * (frames.ts copyFrameMoved(): fast path copyReset).
   */
  copyAndResetFromVmemmap(dstFrame: number, vaddr: bigint): void {
    this.copyAndResetFrom(dstFrame, this.frameAt(vaddr));
  }

  /** copyAndResetFromVmemmap() of the address at byte offset off from the vmemmap base. */
  copyAndResetFromVmemmapOff(dstFrame: number, off: number): void {
    this.copyAndResetFrom(dstFrame, this.frameAtOff(off));
  }

  /** copyAndResetFromVmemmap() once the source's frame is known. */
  private copyAndResetFrom(dstFrame: number, srcFrame: number): void {
    const sps = this.structPageSize;
    if (this.paths.resetInPlace && sps % 4 === 0) {
      this.k.frames.copyFrameMoved(dstFrame, srcFrame, 0, 4 * sps, 8 * sps);
      return;
    }
    this.k.frames.copyFrame(dstFrame, srcFrame);
    this.resetStructPages(dstFrame);
  }

  /** reset_struct_pages(): struct pages 4..7 of the page copied over 0..3 (NR_RESET_STRUCT_PAGE). */
  resetStructPages(frame: number): void {
    const sps = this.structPageSize;
    const frames = this.k.frames;
    if (this.paths.resetInPlace && sps % 4 === 0) {
      // In the frame's own bytes, as 32-bit words (a move of bytes: any byte order), without a
      // copy of the 4 struct pages first; stores held back on the tails stay held back.
      frames.moveWithin(frame, 0, 4 * sps, 8 * sps);
      return;
    }
    const from = frames.view(frame).slice(4 * sps, 8 * sps);
    frames.writeBytes(frame, 0, from);
  }

  // ---- the remap primitives ------------------------------------------------------------------

  /** vmemmap_remap_split() */
  vmemmapRemapSplit(start: bigint, end: bigint, nid: number): number {
    return this.vmemmapRemapRange(
      start,
      end,
      this.newWalk({ flags: VMEMMAP_SPLIT_NO_TLB_FLUSH, nid }),
    );
  }

  /**
   * Legacy vmemmap_remap_free(start, end, reuse): a new head page if one can be had (else the
   * old one stays), the walk from reuse, and on a failure after some PTEs the walked prefix
   * restored from the list.
   */
  legacyRemapFree(
    startOff: number,
    endOff: number,
    reuseOff: number,
    list: PageList,
    flags: number,
  ): number {
    const { k } = this;
    // The addresses as byte offsets from the vmemmap base (safe integers: pfn times the size of
    // a struct page), made bigints only where the generic walk or an Oops needs them.
    const nid = this.pageToNidOff(reuseOff);
    const gfp = GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN;
    // In a batch, the rest of the block the page comes from may stay held for the next folio
    // while the walk goes direct (no allocator in it); the generic walk may allocate or flush.
    const page = this.mayHoldRest()
      ? k.buddy.allocPageHeld(nid, gfp, HVO_SITES.newHead, "vmemmap")
      : k.buddy.allocPagesNode(nid, gfp, 0, HVO_SITES.newHead, "vmemmap");
    if (page !== null) {
      // copy_page() from the head's vmemmap page (copyPageFromVmemmap(), by offset).
      k.frames.copyFrame(page, this.frameAtOff(reuseOff));
      list.add(page);
      k.memmapPagesAdd(1);
      this.counters.vmemmapPagesAllocated++;
    }
    const base = k.memmap.vmemmapBase;
    if (startOff - reuseOff !== this.pageSize)
      throw new Oops("kernel BUG: vmemmap_remap_free: start - reuse != PAGE_SIZE", {
        vaddr: base + BigInt(startOff),
      });
    if (
      page !== null &&
      this.remapDirect(reuseOff, (endOff - reuseOff) / this.pageSize, page, list, flags)
    )
      return 0;
    const reuse = base + BigInt(reuseOff);
    const end = base + BigInt(endOff);
    this.releaseRest();
    const walk = this.newWalk({
      remapPte: this.legacyRemapPte,
      findReuse: true,
      reusePage: page,
      reuseAddr: reuse,
      vmemmapPages: list,
      flags,
      nid,
    });
    const ret = this.vmemmapRemapRange(reuse, end, walk);
    if (ret && walk.nrWalked) {
      const rend = reuse + BigInt(walk.nrWalked * this.pageSize);
      const back = this.newWalk({
        remapPte: this.restorePte,
        findReuse: true,
        reuseAddr: reuse,
        vmemmapPages: list,
        flags: 0,
        nid,
      });
      this.vmemmapRemapRange(reuse, rend, back);
      this.counters.rollbacks++;
    }
    return ret;
  }

  /** Series vmemmap_remap_free(start, end, head, tail): the walk, and the same rollback from start. */
  seriesRemapFree(
    start: bigint,
    end: bigint,
    head: number,
    tail: number,
    list: PageList,
    flags: number,
    nid: number,
  ): number {
    const walk = this.newWalk({
      remapPte: this.seriesRemapPte,
      vmemmapStart: start,
      vmemmapHead: head,
      vmemmapTail: tail,
      vmemmapPages: list,
      flags,
      nid,
    });
    const ret = this.vmemmapRemapRange(start, end, walk);
    if (!ret || !walk.nrWalked) return ret;
    const rend = start + BigInt(walk.nrWalked * this.pageSize);
    const back = this.newWalk({
      remapPte: this.restorePte,
      vmemmapStart: start,
      vmemmapTail: this.design.facts.fixes.rollbackKeepsHead ? tail : null,
      vmemmapPages: list,
      flags: 0,
      nid,
    });
    this.vmemmapRemapRange(start, rend, back);
    this.counters.rollbacks++;
    return ret;
  }

  // ---- folio level ---------------------------------------------------------------------------

  /** The VM_WARN_ON_ONCE_FOLIO()s of optimise and restore: CONFIG_DEBUG_VM only (debug_vm.ts). */
  private checkFolio(headPfn: number, fn: string): void {
    if (this.k.debugVm) checkHvoFolio(this.k, headPfn, fn, (...a) => this.warnOnOnce(...a));
  }

  /** vmemmap_should_optimize_folio() */
  shouldOptimizeFolio(order: number, headPfn: number): boolean {
    if (this.isOptimized(headPfn)) return false;
    if (!this.enabled) return false;
    return this.optimizable(order);
  }

  /** __hugetlb_vmemmap_optimize_folio() */
  optimizeFolioInto(order: number, headPfn: number, list: PageList, flags: number): number {
    this.checkFolio(headPfn, "__hugetlb_vmemmap_optimize_folio");
    if (!this.shouldOptimizeFolio(order, headPfn)) return 0;
    return this.design.optimize(this, order, headPfn, list, flags);
  }

  /** Whether setOptimized() ever set the flag (hugetlb.ts: a shrink that knows none is set). */
  everOptimized = false;

  setOptimized(headPfn: number, on: boolean): void {
    if (on) this.everOptimized = true;
    folioSetHpg(this.k.memmap, headPfn, "vmemmap_optimized", on);
  }

  optimizeFolio(order: number, headPfn: number): void {
    const list = new PageList();
    this.optimizeFolioInto(order, headPfn, list, this.design.singleFlags);
    this.freeVmemmapPageList(list);
  }

  /** hugetlb_vmemmap_split_folio() */
  splitFolio(order: number, headPfn: number): number {
    if (!this.shouldOptimizeFolio(order, headPfn)) return 0;
    const size = this.vmemmapSize(order);
    const n = size / this.pageSize;
    if (this.splitDirect(headPfn * this.structPageSize, n, VMEMMAP_SPLIT_NO_TLB_FLUSH)) return 0;
    const start = this.vaddrOf(headPfn);
    return this.vmemmapRemapSplit(start, start + BigInt(size), this.k.pfnToNid(headPfn));
  }

  /** __hugetlb_vmemmap_optimize_folios(): split all, one flush, remap all, one flush, free. */
  optimizeFoliosBatch(order: number, headPfns: number[], boot: boolean): void {
    const { k } = this;
    const list = new PageList();
    let flags = VMEMMAP_REMAP_NO_TLB_FLUSH | (this.design.staticKey ? VMEMMAP_SYNCHRONIZE_RCU : 0);
    let nrToOptimize = 0;
    for (const head of headPfns) {
      if (boot && this.isOptimized(head)) {
        // Pre-HVO'd at boot: write-protect the tails. Before the upstream fix ("use
        // hugetlb_vmemmap_size(h) for the write-protect range", Fixes 752fe17af693) the end was
        // the struct page address plus pages_per_huge_page(h) BYTES, so only the first
        // pages_per_huge_page / PAGE_SIZE vmemmap pages were covered (63 of 4095 for 1 GiB on
        // x86_64): legacy, seed and 7.1 reproduce that; Linux 7.2 (mainline) protects all of them.
        const spfn = head * this.structPageSize;
        const epfn =
          spfn +
          (this.design.facts.fixes.wrprotectWholeVmemmap ? this.vmemmapSize(order) : 2 ** order);
        vmemmapWrprotectHvo(k.populateContext(), spfn, epfn, this.reserveSize);
        this.staticBranchInc();
        continue;
      }
      nrToOptimize++;
      k.condResched();
      const ret = this.splitFolio(order, head);
      if (ret === -ENOMEM) break;
    }
    if (nrToOptimize) {
      k.pgt.flushTlbAll();
      // The new head pages' allocations hold the rest of the block they split (heldRest),
      // given back before the flushes and frees.
      this.holdingRest = this.paths.heldRest && !boot;
      try {
        for (const head of headPfns) {
          k.condResched();
          const ret = this.optimizeFolioInto(order, head, list, flags);
          flags &= ~VMEMMAP_SYNCHRONIZE_RCU;
          if (ret === -ENOMEM && list.length > 0) {
            this.releaseRest();
            if (!k.mutations.has("skip-tlb-flush")) k.pgt.flushTlbAll();
            this.freeVmemmapPageList(list);
            this.optimizeFolioInto(order, head, list, flags);
          }
        }
      } finally {
        this.holdingRest = false;
        this.releaseRest();
      }
    }
    // Mutation skip-tlb-flush: the old vmemmap pages go back to the buddy while the TLB may
    // still translate their addresses to them.
    if (!k.mutations.has("skip-tlb-flush")) k.pgt.flushTlbAll();
    this.freeVmemmapPageList(list);
  }

  optimizeFolios(order: number, headPfns: number[], noneOptimized = false): void {
    if (noneOptimized && this.optimizeNone(headPfns.length)) return;
    this.optimizeFoliosBatch(order, headPfns, false);
  }

  /**
   * optimizeFoliosBatch() of n folios whose optimised flags the caller cleared (fresh folios,
   * nothing set them since) while HVO is off: the split walk and the remap walk each read every
   * flag clear and leave the folio, the two TLB flushes stand, no page is freed. The reads are
   * counted, not made (fast_paths.ts noneToOptimize). False, with nothing done, where the walks
   * would do more: HVO on, someone at the rescheduling points, CONFIG_DEBUG_VM's checks.
   */
  private optimizeNone(n: number): boolean {
    const { k } = this;
    if (!this.paths.noneToOptimize || this.enabled || k.resched !== null || k.debugVm) return false;
    k.memmap.reads += 2 * n;
    if (n > 0) k.pgt.flushTlbAll();
    if (!k.mutations.has("skip-tlb-flush")) k.pgt.flushTlbAll();
    return true;
  }

  optimizeBootmemFolios(order: number, headPfns: number[]): void {
    this.optimizeFoliosBatch(order, headPfns, true);
  }

  /** __hugetlb_vmemmap_restore_folio() */
  restoreFolioFlags(order: number, headPfn: number, flags: number): number {
    this.checkFolio(headPfn, "__hugetlb_vmemmap_restore_folio");
    if (!this.isOptimized(headPfn)) return 0;
    this.synchronizeRcu(flags);
    const ret = this.design.remapAlloc(this, order, headPfn, flags);
    if (!ret) {
      this.setOptimized(headPfn, false);
      this.staticBranchDec();
    }
    return ret;
  }

  restoreFolio(order: number, headPfn: number): number {
    return this.restoreFolioFlags(order, headPfn, this.design.singleFlags);
  }

  /** hugetlb_vmemmap_restore_folios(): stops at the first failure, one flush if any restored. */
  restoreFolios(order: number, headPfns: number[], noneOptimized = false): RestoreBatchResult {
    let flags = VMEMMAP_REMAP_NO_TLB_FLUSH | (this.design.staticKey ? VMEMMAP_SYNCHRONIZE_RCU : 0);
    const nonHvo: number[] = [];
    let restored = 0;
    let err = 0;
    let i = 0;
    this.holdingRest = this.paths.heldRest;
    try {
      for (; i < headPfns.length; i++) {
        const head = headPfns[i];
        // Known clear: the read counted (reads++ < 0 is false), not made.
        if (noneOptimized ? this.k.memmap.reads++ < 0 : this.isOptimized(head)) {
          this.k.condResched();
          err = this.restoreFolioFlags(order, head, flags);
          flags &= ~VMEMMAP_SYNCHRONIZE_RCU;
          if (err) break;
          restored++;
        }
        nonHvo.push(head);
      }
    } finally {
      this.holdingRest = false;
      this.releaseRest();
    }
    if (restored) this.k.pgt.flushTlbAll();
    // list_move() puts each folio at the head of non_hvo_folios: the list is the walk reversed.
    nonHvo.reverse();
    return { nonHvo, remaining: headPfns.slice(i), err, restored };
  }

  // ---- shared tails --------------------------------------------------------------------------

  tailKey(nid: number, zone: ZoneType | null, order: number): string {
    const idx = order - this.tailMinOrder;
    return zone === null ? `${nid}/${idx}` : `${nid}/${zone}/${idx}`;
  }

  /** Published shared tails, for reports and `hvo compare`. */
  sharedTails(): SharedTail[] {
    const out: SharedTail[] = [];
    for (const [key, pfn] of this.vmemmapTails) {
      const parts = key.split("/");
      const idx = Number(parts[parts.length - 1]);
      if (pfn === 0) continue; // seed's empty slot (pglist_data holds PFNs, 0 = none)
      out.push({
        nid: Number(parts[0]),
        zone: parts.length === 3 ? (parts[1] as ZoneType) : null,
        order: idx + this.tailMinOrder,
        pfn,
      });
    }
    return out;
  }

  /** The bytes of one tail struct page of `order` (prep_compound_tail(), head = NULL). */
  tailInfo(order: number): bigint {
    const info = encodeTail("mask", order, 0n, this.k.layout.shift);
    return this.k.mutations.has("tail-info-bit1") ? info | 2n : info;
  }

  /** Everything `hvo compare` shows of this module. */
  report(): {
    design: Design;
    pteWrites: number;
    tlbFlushRanges: number;
    tlbFlushAlls: number;
    synchronizeRcu: number;
    staticKey: number;
    sharedTails: SharedTail[];
    vmemmapPagesAllocated: number;
    vmemmapPagesFreed: number;
    pmdSplits: number;
    rollbacks: number;
  } {
    const { pgt } = this.k;
    return {
      design: this.design.name,
      pteWrites: pgt.pteWrites,
      tlbFlushRanges: pgt.tlbFlushRanges,
      tlbFlushAlls: pgt.tlbFlushAlls,
      synchronizeRcu: this.counters.synchronizeRcu,
      staticKey: this.k.fakeHeadKey,
      sharedTails: this.sharedTails(),
      vmemmapPagesAllocated: this.counters.vmemmapPagesAllocated,
      vmemmapPagesFreed: this.counters.vmemmapPagesFreed,
      pmdSplits: this.counters.pmdSplits,
      rollbacks: this.counters.rollbacks,
    };
  }

  // ---- boot ----------------------------------------------------------------------------------

  /** huge_boot_pages as the pool recorded them (empty when the pool has none). */
  hugeBootPages(): HugeBootmemPage[] {
    const flat = this.k.sub.huge_boot_pages;
    if (Array.isArray(flat)) return flat as HugeBootmemPage[];
    const h = this.k.sub.hugetlb as { hugeBootPages?: unknown } | undefined;
    return Array.isArray(h?.hugeBootPages) ? (h.hugeBootPages as HugeBootmemPage[]) : [];
  }

  /** list_del(&m->list) */
  removeBootPage(m: HugeBootmemPage): void {
    const list = this.hugeBootPages();
    const i = list.indexOf(m);
    if (i >= 0) list.splice(i, 1);
  }

  /** hugetlb_bootmem_page_zones_valid(): the page lies in one zone (no pfn_range_intersects_zones()). */
  bootmemPageZonesValid(m: HugeBootmemPage): boolean {
    if (m.flags & HUGE_BOOTMEM_ZONES_VALID) return true;
    const h = this.k.sub.hugetlb as
      | { bootmemPageZonesValid?: (m: HugeBootmemPage) => boolean }
      | undefined;
    if (typeof h?.bootmemPageZonesValid === "function") return h.bootmemPageZonesValid(m);
    const node = this.k.spec.nodes.find((n) => n.nid === m.nid);
    const end = m.pfn + 2 ** m.order;
    const hit = (node?.zones ?? []).filter((z) => z.startPfn < end && z.endPfn > m.pfn);
    return hit.length === 1 && hit[0].startPfn <= m.pfn && hit[0].endPfn >= end;
  }

  /** vmemmap_should_optimize_bootmem_page() */
  shouldOptimizeBootmemPage(m: HugeBootmemPage): boolean {
    if (!this.enabled) return false;
    if (!this.optimizable(m.order)) return false;
    const nr = 2 ** m.order;
    const sectionPages = this.k.geometry.pagesPerSection;
    if (m.pfn % sectionPages !== 0 || nr % sectionPages !== 0) return false;
    // pmd_vmemmap_size: the pfns whose struct pages fill one vmemmap PMD.
    const pmdPfns = this.k.geometry.pmdSize / this.structPageSize;
    if (m.pfn % pmdPfns !== 0 || nr % pmdPfns !== 0) return false;
    return true;
  }

  /** Marks the folio's sections SECTION_IS_VMEMMAP_PREINIT (sparse_init_early_section()). */
  markPreinit(m: HugeBootmemPage): void {
    const sectionPages = this.k.geometry.pagesPerSection;
    const first = m.pfn / sectionPages;
    for (let i = 0; i < 2 ** m.order / sectionPages; i++) this.preinitSections.add(first + i);
  }

  /** The memblock allocator of the vmemmap (vmemmap_alloc_block() before slab), or null. */
  memblockPage(
    nid: number,
    use: "vmemmap" | "shared_tail" | "pagetable",
    site: string,
  ): number | null {
    if (this.k.faults.shouldFail(site)) return null;
    try {
      return this.k.memblock.alloc(1, 1, nid, use);
    } catch {
      return null;
    }
  }

  memblockBlock(nid: number, nrPages: number): number | null {
    try {
      return this.k.memblock.alloc(nrPages, nrPages, nid, "vmemmap");
    } catch {
      return null;
    }
  }

  populateContext(): VmemmapPopulateContext {
    return this.k.populateContext();
  }

  /** memblock_phys_free() of a whole boot huge page. */
  memblockFreeRange(pfn: number, nrPages: number): void {
    for (let p = pfn; p < pfn + nrPages; p++) this.k.memblock.unreservePage(p);
  }

  /**
   * sparse_init() calls hugetlb_vmemmap_init_early(nid) before a node's sections
   * (sparse_vmemmap_init_nid_early()) and skips the sections it pre-initialised.
   */
  private populateSectionHook(_k: Kernel, section: Section): boolean {
    if (!this.earlyDone.has(section.nid)) {
      this.earlyDone.add(section.nid);
      this.design.initEarly(this, section.nid);
    }
    return this.preinitSections.has(section.nr);
  }

  /** free_area_init() runs hugetlb_vmemmap_init_late(nid) for every node after sparse_init(). */
  private afterSparseInitHook(): void {
    for (const n of this.k.spec.nodes) {
      if (!this.earlyDone.has(n.nid)) {
        this.earlyDone.add(n.nid);
        this.design.initEarly(this, n.nid);
      }
    }
    for (const n of this.k.spec.nodes) this.design.initLate(this, n.nid);
    this.memmapInitBootHvo();
  }

  /**
   * memmap_init(), which free_area_init() runs right after hugetlb_vmemmap_init_late():
   * __init_single_page() on every pfn of memory that is not deferred, boot-time huge pages
   * included (their tails are only memblock_reserved_mark_noinit(), which memmap_init_range()
   * does not look at). For a folio whose vmemmap was populated HVO-style the struct pages from
   * HUGETLB_VMEMMAP_RESERVE_PAGES on go through its tail PTEs, writable still, into the one page
   * they all map (the folio's head page in legacy, the shared tail in seed and mainline): slot by
   * slot, the highest pfn of each slot last. So only the last slot's worth of pfns of each folio
   * is written here, folios in ascending order; every other struct page of the model reads as
   * memmap_init() left it without being written (frames.ts's init pattern).
   */
  private memmapInitBootHvo(): void {
    const { k } = this;
    const perPage = this.reservePages;
    const folios = this.hugeBootPages()
      .filter((m) => m.flags & HUGE_BOOTMEM_HVO)
      .sort((a, b) => a.pfn - b.pfn);
    const bytes = new Uint8Array(this.structPageSize);
    const view = new DataView(bytes.buffer);
    for (const m of folios) {
      const z = k.pfnZone(m.pfn);
      const node = k.spec.nodes.find((n) => n.nid === z?.nid);
      const zone = node?.zones.find((x) => x.type === z?.zone);
      if (!node || !zone) continue;
      const deferred = this.design.facts.config.deferredStructPageInit
        ? firstDeferredPfn(node, zone, k.geometry.pagesPerSection)
        : null;
      const end = Math.min(m.pfn + 2 ** m.order, deferred ?? Number.POSITIVE_INFINITY);
      const start = Math.max(m.pfn + perPage, end - perPage);
      for (let pfn = start; pfn < end; pfn++) {
        // The backing may be a full memmap (populating HVO-style failed): the write then lands
        // in the pfn's own page, which holds these bytes already.
        bytes.fill(0);
        initSinglePage(k, pfn, bytes, view);
        k.memmap.writeStructPage(pfn, bytes);
      }
    }
  }

  /** Voff range (from the vmemmap base) of a folio's struct pages. */
  folioVoff(pfn: number, order: number): { start: number; end: number } {
    const start = pfn * this.structPageSize;
    return { start, end: start + this.vmemmapSize(order) };
  }
}

/** Pages freeVmemmapPageList() takes off its list at a time (see PageList.drain()). */
export const PAGE_LIST_PIECE = 2 ** 16;

/**
 * A list of vmemmap pages as the kernel's list_head of them: list_add() puts a page at the head,
 * the free and restore paths take pages from the head. One batch of 1 GiB folios puts 4095
 * pages per folio on it (266 million for 65,000 folios: more than a JavaScript array can hold),
 * mostly in runs of consecutive pfns, so it is kept as runs in the order they were added (the
 * last run's last page is the head): a run is its first pfn, its direction (+1 or -1; 0 while
 * it has one page) and its length.
 */
export class PageList {
  private starts: number[] = [];
  private dirs: number[] = [];
  private lens: number[] = [];
  private n = 0;

  get length(): number {
    return this.n;
  }

  /** list_add() */
  add(pfn: number): void {
    const r = this.starts.length - 1;
    if (r >= 0) {
      const len = this.lens[r];
      const d = pfn - (this.starts[r] + this.dirs[r] * (len - 1));
      if ((d === 1 || d === -1) && (len === 1 || d === this.dirs[r])) {
        this.dirs[r] = d;
        this.lens[r] = len + 1;
        this.n++;
        return;
      }
    }
    this.starts.push(pfn);
    this.dirs.push(0);
    this.lens.push(1);
    this.n++;
  }

  /** list_add() of pfn, pfn + step, ... (n pages) in turn. */
  addRun(pfn: number, step: number, n: number): void {
    if (n <= 0) return;
    this.add(pfn);
    if (n === 1) return;
    if (step !== 1 && step !== -1) {
      for (let i = 1; i < n; i++) this.add(pfn + i * step);
      return;
    }
    // pfn is the last page of the last run now: the rest continue it, or start a run.
    const r = this.starts.length - 1;
    if (this.lens[r] === 1 || this.dirs[r] === step) {
      this.dirs[r] = step;
      this.lens[r] += n - 1;
    } else {
      this.starts.push(pfn + step);
      this.dirs.push(n - 1 > 1 ? step : 0);
      this.lens.push(n - 1);
    }
    this.n += n - 1;
  }

  /** The first page takeHeadRun() took, and the step from each page it took to the next. */
  runHead = 0;
  runStep = 0;

  /**
   * takeHead() up to max times while the pages taken are consecutive (one way): returns how
   * many, the first in runHead and the step in runStep (0 when one).
   */
  takeHeadRun(max: number): number {
    const r = this.starts.length - 1;
    if (r < 0 || max <= 0) return 0;
    const len = this.lens[r];
    const d = this.dirs[r];
    const m = Math.min(max, len);
    this.runHead = this.starts[r] + d * (len - 1);
    this.runStep = m > 1 ? -d : 0;
    if (m === len) {
      this.starts.pop();
      this.dirs.pop();
      this.lens.pop();
    } else {
      this.lens[r] = len - m;
      if (len - m === 1) this.dirs[r] = 0;
    }
    this.n -= m;
    return m;
  }

  /** list_add() of each page of pfns in turn. */
  addAll(pfns: readonly number[]): void {
    // A run of consecutive pfns (one way) at a time: addRun() is its adds.
    let i = 0;
    while (i < pfns.length) {
      const step = i + 1 < pfns.length ? pfns[i + 1] - pfns[i] : 0;
      let j = i + 1;
      if (step === 1 || step === -1) while (j < pfns.length && pfns[j] === pfns[j - 1] + step) j++;
      this.addRun(pfns[i], step, j - i);
      i = j;
    }
  }

  /** list_first_entry() + list_del() */
  takeHead(): number | undefined {
    const r = this.starts.length - 1;
    if (r < 0) return undefined;
    const len = this.lens[r];
    const pfn = this.starts[r] + this.dirs[r] * (len - 1);
    if (len === 1) {
      this.starts.pop();
      this.dirs.pop();
      this.lens.pop();
    } else {
      this.lens[r] = len - 1;
      if (len === 2) this.dirs[r] = 0;
    }
    this.n--;
    return pfn;
  }

  /** list_del() of a page added recently (searched from the head). */
  del(pfn: number): void {
    const last = this.starts.length - 1;
    if (last >= 0 && pfn === this.starts[last] + this.dirs[last] * (this.lens[last] - 1)) {
      // The head itself (legacy HVO's new head page, added just before): the runs as the split
      // below leaves them, without making arrays for it.
      this.takeHead();
      return;
    }
    for (let r = this.starts.length - 1; r >= 0; r--) {
      const s = this.starts[r];
      const d = this.dirs[r];
      const len = this.lens[r];
      const i = d === 0 ? (pfn === s ? 0 : -1) : (pfn - s) * d;
      if (i < 0 || i >= len) continue;
      // Split around index i: [0, i) and (i, len).
      const starts: number[] = [];
      const dirs: number[] = [];
      const lens: number[] = [];
      if (i > 0) {
        starts.push(s);
        dirs.push(i === 1 ? 0 : d);
        lens.push(i);
      }
      if (i < len - 1) {
        starts.push(s + d * (i + 1));
        dirs.push(len - i - 1 === 1 ? 0 : d);
        lens.push(len - i - 1);
      }
      this.starts.splice(r, 1, ...starts);
      this.dirs.splice(r, 1, ...dirs);
      this.lens.splice(r, 1, ...lens);
      this.n--;
      return;
    }
  }

  clear(): void {
    this.starts = [];
    this.dirs = [];
    this.lens = [];
    this.n = 0;
  }

  /**
   * Empties the list and hands its pages out from the head on, in arrays of at most `max`
   * pages (the caller consumes each before asking for the next). With `reuse`, every piece is
   * that array, refilled: a caller that keeps a piece copies it.
   */
  *drain(max: number, reuse?: number[]): Generator<number[]> {
    const { starts, dirs, lens } = this;
    this.clear();
    let out: number[] = reuse ?? [];
    let n = 0;
    for (let r = starts.length - 1; r >= 0; r--) {
      const s = starts[r];
      const d = dirs[r];
      for (let k = lens[r] - 1; k >= 0; k--) {
        out[n++] = s + d * k;
        if (n === max) {
          out.length = n;
          yield out;
          out = reuse ?? [];
          n = 0;
        }
      }
    }
    if (n > 0) {
      out.length = n;
      yield out;
    }
  }

  /**
   * drain() as runs: empties the list and calls visit(head, step, n) for its pages from the head
   * on, n at a time, head + i * step the i-th (step 0 when n is 1): each run of consecutive
   * pfns, cut where drain()'s pieces of `max` pages would end.
   */
  drainRuns(max: number, visit: (head: number, step: number, n: number) => void): void {
    const { starts, dirs, lens } = this;
    this.clear();
    let left = max;
    for (let r = starts.length - 1; r >= 0; r--) {
      const s = starts[r];
      const d = dirs[r];
      let len = lens[r];
      while (len > 0) {
        const n = Math.min(len, left);
        visit(s + d * (len - 1), n > 1 ? -d : 0, n);
        len -= n;
        left -= n;
        if (left === 0) left = max;
      }
    }
  }

  /** From the head on (list_for_each_entry). */
  *[Symbol.iterator](): IterableIterator<number> {
    for (let r = this.starts.length - 1; r >= 0; r--)
      for (let k = this.lens[r] - 1; k >= 0; k--) yield this.starts[r] + this.dirs[r] * k;
  }
}

/** kstrtobool() of early_param("hugetlb_free_vmemmap"): the last valid value wins. */
export function parseFreeVmemmap(cmdline: string, dflt: boolean): boolean {
  let v = dflt;
  for (const word of cmdline.split(/\s+/)) {
    const m = /^hugetlb_free_vmemmap=(.*)$/.exec(word);
    if (!m) continue;
    const s = m[1];
    const c = s[0];
    if (c === "y" || c === "Y" || c === "1") v = true;
    else if (c === "n" || c === "N" || c === "0") v = false;
    else if ((c === "o" || c === "O") && (s[1] === "n" || s[1] === "N")) v = true;
    else if ((c === "o" || c === "O") && (s[1] === "f" || s[1] === "F")) v = false;
  }
  return v;
}

// ---- the designs --------------------------------------------------------------------------------

/** Legacy and seed restore: copy_page() of the head vmemmap page, then reset_struct_pages(). */
function copyHeadAndReset(core: HvoCore, frame: number, headVaddr: bigint, walk: RemapWalk): void {
  if (walk.restoreTemplate !== undefined) {
    core.k.frames.copyFrame(frame, walk.restoreTemplate);
    return;
  }
  if (core.k.mutations.has("restore-without-reset")) core.copyPageFromVmemmap(frame, headVaddr);
  else core.copyAndResetFromVmemmap(frame, headVaddr);
  walk.restoreTemplate = frame;
}

/** Boot-time HVO of legacy and seed: hugetlb_vmemmap_init_early() populates at once. */
function initEarlyPopulate(
  core: HvoCore,
  nid: number,
  restPfn: (m: HugeBootmemPage) => number | null | "fail",
): void {
  const { k } = core;
  if (!k.spec.arch.vmemmapPreinit || !core.enabled) return;
  for (const m of core.hugeBootPages()) {
    if (m.nid !== nid || !core.shouldOptimizeBootmemPage(m)) continue;
    const { start, end } = core.folioVoff(m.pfn, m.order);
    const rest = restPfn(m);
    if (rest === "fail") continue;
    const r = vmemmapPopulateHvo(
      core.populateContext(),
      start,
      end,
      nid,
      core.reserveSize,
      rest,
      () => core.memblockPage(nid, "vmemmap", HVO_SITES.bootPopulate),
    );
    if (r.ret < 0) continue;
    k.memmapBootPagesAdd(core.reserveSize / core.pageSize);
    core.markPreinit(m);
    m.flags |= HUGE_BOOTMEM_HVO;
  }
}

/** hugetlb_vmemmap_init_late() of legacy and seed: undo the HVO of pages that span zones. */
function initLateUndo(core: HvoCore, nid: number): void {
  const { k } = core;
  if (!k.spec.arch.vmemmapPreinit || !core.enabled) return;
  for (const m of [...core.hugeBootPages()]) {
    if (m.nid !== nid || !(m.flags & HUGE_BOOTMEM_HVO)) continue;
    if (!core.bootmemPageZonesValid(m)) {
      core.removeBootPage(m);
      const { start, end } = core.folioVoff(m.pfn, m.order);
      vmemmapUndoHvo(
        core.populateContext(),
        start,
        end,
        nid,
        core.reserveSize,
        (pfn) => k.memblock.unreservePage(pfn),
        (n) => core.memblockBlock(nid, n),
      );
      k.memmapBootPagesAdd(Math.ceil((end - start - core.reserveSize) / core.pageSize));
      core.memblockFreeRange(m.pfn, 2 ** m.order);
      continue;
    }
    m.flags |= HUGE_BOOTMEM_ZONES_VALID;
  }
}

export const LEGACY: HvoDesign = {
  name: "legacy",
  facts: DESIGN_FACTS.legacy,
  staticKey: true,
  singleFlags: VMEMMAP_SYNCHRONIZE_RCU,
  optimize(core, order, headPfn, list, flags) {
    core.staticBranchInc();
    core.synchronizeRcu(flags);
    // Set before the remap so that the copied head carries it (the "Very Subtle" comment).
    core.setOptimized(headPfn, true);
    const reuse = headPfn * core.structPageSize;
    const end = reuse + core.vmemmapSize(order);
    const ret = core.legacyRemapFree(reuse + core.reserveSize, end, reuse, list, flags);
    if (ret) {
      core.staticBranchDec();
      core.setOptimized(headPfn, false);
    }
    return ret;
  },
  remapAlloc(core, order, headPfn, flags) {
    // The addresses as byte offsets from the vmemmap base (pfn times the size of a struct
    // page: safe integers), made bigints only for the generic walk.
    const reuseOff = headPfn * core.structPageSize;
    const size = core.vmemmapSize(order);
    // A list of the core's own while the direct walk takes every page off it (it is empty
    // again then); a new one for a list the generic walk keeps (restoreList()).
    const list = core.restoreList();
    // The rest of the block the pages came from may stay held for the batch's next folio
    // while the walk goes direct (no allocator in it); the generic walk may allocate.
    if (core.allocVmemmapPageListOff(reuseOff + core.reserveSize, reuseOff + size, list, true))
      return -ENOMEM;
    if (core.restoreDirect(reuseOff, size / core.pageSize, list, flags)) return 0;
    core.dropRestoreList();
    const reuse = core.vaddrOf(headPfn);
    const end = reuse + BigInt(size);
    core.releaseRest();
    const walk = core.newWalk({
      remapPte: core.restorePte,
      findReuse: true,
      reuseAddr: reuse,
      vmemmapPages: list,
      flags,
      nid: core.k.pfnToNid(headPfn),
    });
    return core.vmemmapRemapRange(reuse, end, walk);
  },
  restoreFill(core, frame, _pte, walk) {
    copyHeadAndReset(core, frame, walk.reuseAddr, walk);
  },
  restoreSource: (_core, walk) => walk.restoreTemplate ?? null,
  initEarly(core, nid) {
    // The tails mirror the last head page.
    initEarlyPopulate(core, nid, () => null);
  },
  initLate: initLateUndo,
  lateInitcall() {},
};

/** The series' optimise (v3 and v7 alike, after the shared tail is known). */
function seriesOptimize(
  core: HvoCore,
  order: number,
  headPfn: number,
  list: PageList,
  flags: number,
  tail: number,
): number {
  const { k } = core;
  const nid = pageToNid(k.memmap.readU64(headPfn, PAGE_OFF.flags), k.flagsLayout);
  core.setOptimized(headPfn, true);
  const vmemmapHead = k.buddy.allocPagesNode(nid, GFP_KERNEL, 0, HVO_SITES.newHead, "vmemmap");
  let ret: number;
  if (vmemmapHead === null) ret = -ENOMEM;
  else {
    const start = core.vaddrOf(headPfn);
    core.copyPageFromVmemmap(vmemmapHead, start);
    list.add(vmemmapHead);
    k.memmapPagesAdd(1);
    core.counters.vmemmapPagesAllocated++;
    ret = core.seriesRemapFree(
      start,
      start + BigInt(core.vmemmapSize(order)),
      vmemmapHead,
      tail,
      list,
      flags,
      nid,
    );
  }
  if (ret) core.setOptimized(headPfn, false);
  return ret;
}

/** PAGE_SIZE / sizeof(struct page) copies of one struct page. */
function fillSlots(core: HvoCore, frame: number, slot: Uint8Array): void {
  core.k.frames.setPattern(frame, { kind: "fill", slot });
}

export const SEED: HvoDesign = {
  name: "seed",
  facts: DESIGN_FACTS.seed,
  staticKey: false,
  singleFlags: 0,
  headPteIndex(core, walk, pte, n) {
    const d = walk.vmemmapStart - pte.vaddr();
    return d >= 0n && d < BigInt(n * core.pageSize) ? Number(d) / core.pageSize : -1;
  },
  restoreSource: (_core, walk) => walk.restoreTemplate ?? null,
  optimize(core, order, headPfn, list, flags) {
    const nid = pageToNid(core.k.memmap.readU64(headPfn, PAGE_OFF.flags), core.k.flagsLayout);
    const tail = seedGetTail(core, order, nid);
    if (tail === null) return -ENOMEM;
    return seriesOptimize(core, order, headPfn, list, flags, tail);
  },
  remapAlloc(core, order, headPfn, flags) {
    // v3: the caller passes the folio; the callee keeps it as vmemmap_start and skips the head.
    const vmemmapStart = core.vaddrOf(headPfn);
    const start = vmemmapStart + BigInt(core.reserveSize);
    const end = vmemmapStart + BigInt(core.vmemmapSize(order));
    const list = new PageList();
    // page_to_nid() of struct page 64: it reads the SHARED TAIL's flags, which v3 never
    // initialises (stale bytes of whatever the page held before, or 0 for a boot tail).
    if (core.allocVmemmapPageList(start, end, list)) return -ENOMEM;
    const walk = core.newWalk({
      remapPte: core.restorePte,
      vmemmapStart,
      vmemmapPages: list,
      flags,
      nid: core.k.pfnToNid(headPfn),
    });
    return core.vmemmapRemapRange(start, end, walk);
  },
  restoreFill(core, frame, _pte, walk) {
    copyHeadAndReset(core, frame, walk.vmemmapStart, walk);
  },
  initEarly(core, nid) {
    initEarlyPopulate(core, nid, (m) => {
      // v3 vmemmap_populate_hvo(): the order from the range, ilog2(len * sizeof(struct page) /
      // PAGE_SIZE), which is the folio's order only when sizeof(struct page)^2 == PAGE_SIZE.
      const { start, end } = core.folioVoff(m.pfn, m.order);
      const order = seedPopulateHvoOrder(end - start, core.structPageSize, core.pageSize);
      const tail = seedGetTailBoot(core, order, nid);
      return tail === 0 ? "fail" : tail;
    });
  },
  initLate: initLateUndo,
  lateInitcall() {},
};

/** v3's order computation in vmemmap_populate_hvo(): ilog2(len * sizeof(struct page) / PAGE_SIZE). */
export function seedPopulateHvoOrder(
  lenBytes: number,
  structPageSize: number,
  pageSize: number,
): number {
  return Math.floor(Math.log2(Math.floor((lenBytes * structPageSize) / pageSize)));
}

/**
 * v3 runtime vmemmap_get_tail(order, node): the node's slot, or a page from alloc_pages_node()
 * (NOT zeroed in v3) with prep_compound_tail() on every entry, published under hugetlb_lock; the
 * loser frees its copy. Only mapping, compound_info and private are written: flags, _refcount,
 * _mapcount and the rest keep whatever the page held before.
 */
export function seedGetTail(core: HvoCore, order: number, nid: number): number | null {
  const { k } = core;
  const key = core.tailKey(nid, null, order);
  const pfn = core.vmemmapTails.get(key) ?? 0;
  if (pfn) return pfn;
  const tail = k.buddy.allocPagesNode(nid, GFP_KERNEL, 0, HVO_SITES.getTail, "shared_tail");
  if (tail === null) return null;
  const sps = core.structPageSize;
  const info = core.tailInfo(order);
  // Mutation publish-uninitialised-tail: published as allocated, prep_compound_tail() never runs.
  const entries = k.mutations.has("publish-uninitialised-tail") ? 0 : core.reservePages;
  for (let i = 0; i < entries; i++) {
    k.frames.writeU64(tail, i * sps + PAGE_OFF.mapping, TAIL_MAPPING);
    k.frames.writeU64(tail, i * sps + PAGE_OFF.compoundInfo, info);
    k.frames.writeU64(tail, i * sps + PAGE_OFF.private, 0n);
  }
  core.beforeTailPublish?.(key);
  // spin_lock(&hugetlb_lock)
  const now = core.vmemmapTails.get(key) ?? 0;
  if (!now) {
    core.vmemmapTails.set(key, tail);
    return tail;
  }
  k.buddy.freePages(tail, 0);
  return now;
}

/**
 * v3 boot vmemmap_get_tail(order, node) in mm/sparse-vmemmap.c: BUG_ON an order out of range,
 * then a zeroed memblock page with prep_compound_tail() on every entry. Returns 0 on failure.
 */
export function seedGetTailBoot(core: HvoCore, order: number, nid: number): number {
  if (order < core.tailMinOrder || order > core.maxFolioOrder) {
    throw new Oops(
      `kernel BUG at mm/sparse-vmemmap.c: vmemmap_get_tail(): order ${order} out of [${core.tailMinOrder}, ${core.maxFolioOrder}]`,
    );
  }
  const key = core.tailKey(nid, null, order);
  const pfn = core.vmemmapTails.get(key) ?? 0;
  if (pfn) return pfn;
  const p = core.memblockPage(nid, "shared_tail", HVO_SITES.bootTail);
  if (p === null) return 0;
  const slot = new Uint8Array(core.structPageSize);
  const v = new DataView(slot.buffer);
  v.setBigUint64(PAGE_OFF.mapping, TAIL_MAPPING, true);
  v.setBigUint64(PAGE_OFF.compoundInfo, core.tailInfo(order), true);
  fillSlots(core, p, slot);
  core.vmemmapTails.set(key, p);
  return p;
}

/** init_compound_tail(tail, NULL, order, zone) on a zeroed page: every slot the same bytes. */
function initCompoundTailSlot(
  core: HvoCore,
  order: number,
  nid: number,
  zone: ZoneType,
): Uint8Array {
  const slot = new Uint8Array(core.structPageSize);
  const v = new DataView(slot.buffer);
  v.setUint32(PAGE_OFF.mapcount, 0xffffffff, true);
  v.setBigUint64(PAGE_OFF.flags, pageLinks(nid, zone, core.k.flagsLayout), true);
  v.setBigUint64(PAGE_OFF.mapping, TAIL_MAPPING, true);
  v.setBigUint64(PAGE_OFF.compoundInfo, core.tailInfo(order), true);
  v.setBigUint64(PAGE_OFF.private, 0n, true);
  return slot;
}

/** folio_zone(): the node and zone bits of the head's flags. */
function folioZone(core: HvoCore, headPfn: number): { nid: number; zone: ZoneType } {
  const flags = core.k.memmap.readU64(headPfn, PAGE_OFF.flags);
  return {
    nid: pageToNid(flags, core.k.flagsLayout),
    zone: ZONE_BY_IDX[pageZonenum(flags, core.k.flagsLayout)],
  };
}

/**
 * v7 runtime vmemmap_get_tail(order, zone): the zone's slot, or a zeroed page from the zone's
 * node with init_compound_tail() on every entry, published with cmpxchg; the loser frees its
 * copy and takes the winner's.
 */
export function mainlineGetTail(
  core: HvoCore,
  order: number,
  nid: number,
  zone: ZoneType,
): number | null {
  const { k } = core;
  const key = core.tailKey(nid, zone, order);
  const cur = core.vmemmapTails.get(key);
  if (cur !== undefined) return cur;
  const tail = k.buddy.allocPagesNode(
    nid,
    GFP_KERNEL | __GFP_ZERO,
    0,
    HVO_SITES.getTail,
    "shared_tail",
  );
  if (tail === null) return null;
  k.frames.zeroFrame(tail);
  // Mutation publish-uninitialised-tail: published zeroed, init_compound_tail() never runs.
  if (!k.mutations.has("publish-uninitialised-tail"))
    fillSlots(core, tail, initCompoundTailSlot(core, order, nid, zone));
  core.beforeTailPublish?.(key);
  const won = core.vmemmapTails.get(key);
  if (won !== undefined) {
    k.buddy.freePages(tail, 0);
    return won;
  }
  core.vmemmapTails.set(key, tail);
  return tail;
}

/** compound_head() of the struct page at vmemmap address vaddr (mainline's restore fill). */
function restoreHead(core: HvoCore, vaddr: bigint): number {
  return core.k.compound.compoundHead(core.k.memmap.pfnOfVaddr(vaddr));
}

export const MAINLINE: HvoDesign = {
  name: "mainline",
  facts: DESIGN_FACTS.mainline,
  staticKey: false,
  singleFlags: 0,
  headPteIndex: (_core, walk) => (walk.nrWalked === 0 ? 0 : -1),
  restoreSource: (core, _walk, src) =>
    core.design.facts.restoreCopies === "shared_tail" &&
    !core.k.mutations.has("restore-without-reset")
      ? src
      : null,
  optimize(core, order, headPfn, list, flags) {
    const { nid, zone } = folioZone(core, headPfn);
    const tail = mainlineGetTail(core, order, nid, zone);
    if (tail === null) return -ENOMEM;
    return seriesOptimize(core, order, headPfn, list, flags, tail);
  },
  remapAlloc(core, order, headPfn, flags) {
    const head = core.vaddrOf(headPfn);
    const start = head + BigInt(core.reserveSize);
    const end = head + BigInt(core.vmemmapSize(order));
    const list = new PageList();
    if (core.allocVmemmapPageList(start, end, list)) return -ENOMEM;
    const walk = core.newWalk({
      remapPte: core.restorePte,
      vmemmapPages: list,
      flags,
      nid: core.k.pfnToNid(headPfn),
    });
    return core.vmemmapRemapRange(start, end, walk);
  },
  restoreFill(core, frame, pte, _walk, src) {
    // compound_head(addr) is read only by the two paths that use it (7.2's copy does not).
    if (core.k.mutations.has("restore-without-reset")) {
      // Mutation: a plain copy of the head vmemmap page, head and folio fields included.
      core.copyPageFromVmemmap(frame, core.k.memmap.vaddrOf(restoreHead(core, pte.vaddr())));
      return;
    }
    if (core.design.facts.restoreCopies === "shared_tail") {
      // 7.2: copy_page() of what the PTE maps, the shared tail page (the rollback skips the
      // head PTE, see restorePte).
      core.k.frames.copyFrame(frame, src);
      return;
    }
    // 7.1: every slot a copy of compound_head(addr) + PAGE_SIZE / sizeof(struct page) - 1. In
    // the rollback of a half-done optimise the walk starts at the head page itself, so the head
    // vmemmap page is refilled with 64 copies of struct page 63 as well: the head struct page
    // and the folio fields of pages 1..3 are lost, and the new head page (already off the list)
    // is mapped nowhere. Reproduced as written.
    fillSlots(
      core,
      frame,
      core.k.memmap.readStructPage(restoreHead(core, pte.vaddr()) + core.reservePages - 1),
    );
  },
  initEarly(core, nid) {
    const { k } = core;
    if (!k.spec.arch.vmemmapPreinit || !core.enabled) return;
    for (const m of core.hugeBootPages()) {
      if (m.nid !== nid || !core.shouldOptimizeBootmemPage(m)) continue;
      core.markPreinit(m);
      m.flags |= HUGE_BOOTMEM_HVO;
    }
  },
  initLate(core, nid) {
    const { k } = core;
    if (!k.spec.arch.vmemmapPreinit || !core.enabled) return;
    const ctx = core.populateContext();
    const block = (n: number): number | null => core.memblockBlock(nid, n);
    for (const m of [...core.hugeBootPages()]) {
      if (m.nid !== nid || !(m.flags & HUGE_BOOTMEM_HVO)) continue;
      const { start, end } = core.folioVoff(m.pfn, m.order);
      if (!core.bootmemPageZonesValid(m)) {
        core.removeBootPage(m);
        vmemmapPopulateRange(ctx, start, end, nid, block);
        k.memmapBootPagesAdd(Math.ceil((end - start) / core.pageSize));
        core.memblockFreeRange(m.pfn, 2 ** m.order);
        continue;
      }
      const z = k.pfnZone(m.pfn);
      if (!z || z.nid !== nid) {
        // WARN_ON_ONCE(!zone)
        core.warnOnOnce(
          "pfn_to_zone",
          "mm/hugetlb_vmemmap.c",
          "hugetlb_vmemmap_init_late",
          `hugetlb_vmemmap_init_late: no zone of node ${nid} spans pfn ${m.pfn}`,
        );
        continue;
      }
      let nrMmap: number;
      const tail = mainlineGetTailBoot(core, m.order, nid, z.zone);
      const r =
        tail === null
          ? { ret: -ENOMEM }
          : vmemmapPopulateHvo(ctx, start, end, nid, core.reserveSize, tail, () =>
              core.memblockPage(nid, "vmemmap", HVO_SITES.bootPopulate),
            );
      if (r.ret < 0) {
        // Fall back to a full memmap.
        vmemmapPopulateRange(ctx, start, end, nid, block);
        nrMmap = end - start;
      } else {
        m.flags |= HUGE_BOOTMEM_ZONES_VALID;
        nrMmap = core.reserveSize;
      }
      k.memmapBootPagesAdd(Math.ceil(nrMmap / core.pageSize));
    }
  },
  lateInitcall(core) {
    // hugetlb_bootmem_struct_page_init() (7.2; hugetlb_vmemmap_init() before): init_compound_tail()
    // on every slot of every published tail of every zone. The boot ones were zeroed, then
    // memmap_init() wrote whole struct pages into them through the tail PTEs; init_compound_tail()
    // sets _mapcount, node, zone, mapping, compound_info and private, and leaves the rest
    // (_refcount, lru.prev, flags' other bits) as memmap_init() left it.
    for (const t of core.sharedTails()) {
      if (t.zone === null) continue;
      const init = initCompoundTailSlot(core, t.order, t.nid, t.zone);
      const iv = new DataView(init.buffer);
      const sps = core.structPageSize;
      const frame = core.k.frames.view(t.pfn);
      const out = new Uint8Array(frame.length);
      out.set(frame);
      const ov = new DataView(out.buffer);
      for (let off = 0; off + sps <= out.length; off += sps) {
        ov.setUint32(off + PAGE_OFF.mapcount, 0xffffffff, true);
        ov.setBigUint64(
          off + PAGE_OFF.flags,
          ov.getBigUint64(off + PAGE_OFF.flags, true) | iv.getBigUint64(PAGE_OFF.flags, true),
          true,
        );
        for (const f of [PAGE_OFF.mapping, PAGE_OFF.compoundInfo, PAGE_OFF.private])
          ov.setBigUint64(off + f, iv.getBigUint64(f, true), true);
      }
      let uniform = true;
      for (let off = sps; off + sps <= out.length && uniform; off += sps)
        for (let b = 0; b < sps; b++)
          if (out[off + b] !== out[b]) {
            uniform = false;
            break;
          }
      if (uniform) fillSlots(core, t.pfn, out.slice(0, sps));
      else core.k.frames.writeBytes(t.pfn, 0, out);
    }
  },
};

/**
 * v7 boot vmemmap_get_tail(order, zone) in mm/sparse-vmemmap.c: WARN and NULL for an order out
 * of range; a zeroed memblock page, deliberately not initialised (hugetlb_vmemmap_init() does it
 * at late_initcall, after memmap_init()).
 */
export function mainlineGetTailBoot(
  core: HvoCore,
  order: number,
  nid: number,
  zone: ZoneType,
): number | null {
  if (order < core.tailMinOrder || order > core.maxFolioOrder) {
    // WARN_ON_ONCE(order < VMEMMAP_TAIL_MIN_ORDER), WARN_ON_ONCE(order > MAX_FOLIO_ORDER)
    core.warnOnOnce(
      `vmemmap_get_tail:${order < core.tailMinOrder ? "min" : "max"}`,
      "mm/sparse-vmemmap.c",
      "vmemmap_get_tail",
      `vmemmap_get_tail: order ${order} out of range`,
    );
    return null;
  }
  const key = core.tailKey(nid, zone, order);
  const cur = core.vmemmapTails.get(key);
  if (cur !== undefined) return cur;
  const p = core.memblockPage(nid, "shared_tail", HVO_SITES.bootTail);
  if (p === null) return null;
  core.k.frames.zeroFrame(p);
  core.vmemmapTails.set(key, p);
  return p;
}

/** Linux 7.1 as merged (rc1..rc6; 7.1 final has the rollback fix): MAINLINE's code, its facts. */
export const MAINLINE_7_1: HvoDesign = {
  ...MAINLINE,
  name: "mainline-7.1",
  facts: DESIGN_FACTS["mainline-7.1"],
};

export const HVO_DESIGNS: Record<Design, HvoDesign> = {
  legacy: LEGACY,
  seed: SEED,
  mainline: MAINLINE,
  "mainline-7.1": MAINLINE_7_1,
};

/**
 * The HVO of a kernel, for its design. Call before k.boot() and add `bootHooks` to k.hooks for
 * boot-time HVO (the pool does both); k.sub.hvo is set to it.
 */
export function createHugetlbVmemmap(k: Kernel): HvoCore {
  const core = new HvoCore(k, HVO_DESIGNS[k.design]);
  k.sub.hvo = core;
  return core;
}

/**
 * __init_single_page() (mm/mm_init.c) of pfn into `bytes` (zeroed by the caller): zone and node
 * links, _refcount 1 (init_page_count()), _mapcount -1, lru pointing to itself. The lastcpupid
 * bits of flags are not modelled.
 */
export function initSinglePage(k: Kernel, pfn: number, bytes: Uint8Array, view: DataView): void {
  k.initStructPage(pfn, bytes, view, 0, true);
  view.setUint32(PAGE_OFF.refcount, 1, true);
}
