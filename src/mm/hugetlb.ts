// mm/hugetlb.c (and mm/hugetlb_sysfs.c, mm/hugetlb_sysctl.c from 6.19; rules that changed after
// 6.18 are the design's pool facts, mm/hvo_designs.ts, compared in docs/rules.md): hstates, the
// pool of huge pages and its counters, boot-time allocation (gigantic pages from memblock, the
// rest from the buddy allocator in a batch), set_max_huge_pages(), surplus pages and
// overcommit, reservations (gather_surplus_pages(), return_unused_surplus_pages(),
// hugetlb_acct_memory(), subpools), alloc_hugetlb_folio() and free_huge_folio() with its
// deferred path, update_and_free_pages_bulk(), demote and dissolve.
//
// Folios are named by their head pfn. The pool keeps its lists and counters here (struct
// hstate); the folio's own state (hugetlb page type, HPG_* flags, refcount, subpool, compound
// metadata) lives in its struct pages, written through k.memmap / k.compound exactly where the
// kernel writes them, so that HVO (src/mm/hugetlb_vmemmap.ts, called through the
// HugetlbVmemmap interface at the kernel's call sites) sees what it would see in the kernel.
//
// k.sub.huge_boot_pages (HugeBootmemPage[]): the memblock gigantic pages hugetlb_bootmem_alloc()
// took before sparse_init(), i.e. huge_boot_pages[nid] flattened. HVO's pre-HVO hooks
// (hugetlb_vmemmap_init_early/_late) read it in sparse_init and set HUGE_BOOTMEM_HVO /
// HUGE_BOOTMEM_ZONES_VALID in `flags`, or remove an entry whose zones are invalid (after
// giving its memory back). gather_bootmem_prealloc() (afterBuddy) turns the rest into folios.
// k.sub.hugetlb is the HugetlbPool.

import { BUG_ON, EBUSY, EINVAL, ENOMEM, ENOSPC, KernelError } from "../include/errno.ts";
import { bindHstateLists } from "./hugetlb_lru.ts";
import { PfnList } from "./pfn_list.ts";
import { type ListHead, LruWords } from "./list.ts";
import type { Memmap } from "./memmap.ts";
import { HPG, PAGE_OFF, PGTY_hugetlb } from "../include/mm_types.ts";
import { PG } from "../include/page_flags.ts";
import type { BootHooks, Kernel } from "../kernel.ts";
import { type HugetlbBootParams, parseHugetlbParams, stringGetSize } from "./hugetlb_cmdline.ts";
import { type DesignFacts, designFacts } from "./hvo_designs.ts";
import {
  folioRefCount,
  folioSetHpg,
  folioSetHugetlb,
  folioSetRefCount,
  folioTestHpg,
  folioTestHugetlb,
} from "./hugetlb_folio.ts";
import {
  HUGE_BOOTMEM_HVO,
  HUGE_BOOTMEM_ZONES_VALID,
  type HugeBootmemPage,
  type HugetlbVmemmap,
} from "./hugetlb_vmemmap_api.ts";
import {
  __GFP_COMP,
  __GFP_MOVABLE,
  __GFP_NOWARN,
  __GFP_RETRY_MAYFAIL,
  __GFP_THISNODE,
  type ContigHugetlb,
  GFP_KERNEL,
  freePagesCheck,
  freeTailPagesClear,
} from "./page_alloc.ts";
import { pow2 } from "../include/pow2.ts";

/** ULONG_MAX, the largest unsigned long of a 64-bit kernel. */
export const ULONG_MAX = (1n << 64n) - 1n;

/** An unsigned long as the kernel holds it: the value mod 2^64 of a signed count or sum. */
export function ulong(v: number | bigint): bigint {
  return BigInt.asUintN(64, typeof v === "bigint" ? v : BigInt(v));
}

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/** a < ulong(v) for an integer v, without a bigint per call while v is a safe non-negative. */
function ulongBelow(a: bigint, v: number): boolean {
  if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) return a <= MAX_SAFE_BIG && Number(a) < v;
  return a < ulong(v);
}

/** a as a number where it is a safe integer, else NaN: for the loops' tests below. */
function ulongNum(a: bigint): number {
  return a <= MAX_SAFE_BIG ? Number(a) : Number.NaN;
}

/** a > ulong(v), with aNum = ulongNum(a) made once by the caller (a loop's bound). */
function ulongAboveNum(a: bigint, aNum: number, v: number): boolean {
  if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) return Number.isNaN(aNum) || aNum > v;
  return a > ulong(v);
}

/** ulongBelow(a, v), with aNum = ulongNum(a) made once by the caller. */
function ulongBelowNum(a: bigint, aNum: number, v: number): boolean {
  if (v >= 0 && v <= Number.MAX_SAFE_INTEGER) return aNum < v;
  return a < ulong(v);
}

/** A list_head of folios: add at the head, take from the head, delete anywhere, O(1). */
export class FolioList {
  /** The links, by head pfn (no hash, nothing allocated per operation). */
  private readonly links: PfnList;
  /** Folios of nrPages pages: their heads are aligned to it. */
  constructor(nrPages: number) {
    this.links = new PfnList(0, nrPages);
  }
  /** The links in the folios' head struct pages (folio->lru) and the list head's address. */
  lru: { words: LruWords; head: ListHead } | null = null;
  /** Bumped by every add and delete (the checker skips a pass over unchanged lists). */
  version = 0;
  get head(): number {
    return this.links.head;
  }
  get size(): number {
    return this.links.count;
  }
  has(pfn: number): boolean {
    return this.links.has(pfn);
  }
  /** list_add() / list_move() to the head. */
  add(pfn: number): void {
    this.version++;
    const first = this.links.head;
    this.links.addHead(pfn);
    // After the list head (NO_PAGE, -1), before the old first entry (-1 when there was none).
    if (this.lru) this.lru.words.linked(pfn, -1, first, this.lru.head);
  }
  delete(pfn: number): void {
    if (!this.links.has(pfn)) return;
    this.version++;
    const n = this.links.nextOf(pfn);
    const p = this.links.prevOf(pfn);
    this.links.remove(pfn);
    // list_del(): the neighbours link up, the folio's lru is LIST_POISON1/2.
    if (this.lru) this.lru.words.unlinked(pfn, p, n, this.lru.head);
  }
  /**
   * add() of a folio whose head's struct page is at byte off of v (Compound.headViewStored():
   * stored, not generated), its own words stored there with the same values and counts.
   */
  addThrough(
    pfn: number,
    v: DataView,
    off: number,
    m: Memmap,
    /** The view of the old first's head at kOff of kv, where the caller kept it (else null). */
    kv: DataView | null = null,
    kOff = 0,
  ): void {
    const lru = this.lru as { words: LruWords; head: ListHead };
    this.version++;
    const first = this.links.head;
    this.links.addHead(pfn);
    // __list_add() between the list head and the old first: LruWords.linked()'s stores.
    lru.words.render(v, off, first, -1, lru.head);
    m.writes += 2;
    if (kv === null || first === -1) {
      lru.words.setPrev(first, pfn, lru.head);
      return;
    }
    // LruWords.setPrev()'s store, through the kept view (and writable()'s count of a change).
    const lo = lru.words.lruLo(pfn);
    kv.setUint32(kOff + PAGE_OFF.lruPrev, lo, true);
    kv.setUint32(kOff + PAGE_OFF.lruPrev + 4, lru.words.hi, true);
    m.writes++;
    m.frames.gen++;
  }
  /**
   * delete() of a listed folio through its head's view, as addThrough(). With `waits` (a fused
   * shrink, by list: HugetlbPool.prevWaits), the prev store into the entry that becomes first
   * waits for that entry's own removal, which overwrites the word (counted then, not made).
   */
  deleteThrough(
    pfn: number,
    v: DataView,
    off: number,
    m: Memmap,
    waits: number[] | null,
    slot: number,
  ): void {
    const lru = this.lru as { words: LruWords; head: ListHead };
    this.version++;
    const n = this.links.nextOf(pfn);
    const p = this.links.prevOf(pfn);
    this.links.remove(pfn);
    // LruWords.unlinked()'s stores.
    lru.words.setNext(p, n, lru.head);
    if (waits !== null && waits[slot] !== -1) {
      // The store into pfn waited, and list_del() poisons the word it was for: counted (pfn's
      // page is stored, as it was then: nothing since changed its mapping or made it).
      if (waits[slot] === pfn) m.writes++;
      else this.endWait(waits, slot);
      waits[slot] = -1;
    }
    if (waits !== null && p === -1 && n !== -1) waits[slot] = n;
    else lru.words.setPrev(n, p, lru.head);
    LruWords.poisonInto(v, off);
    m.writes += 2;
  }
  /** The prev store into waits[slot] (deleteThrough()), made now. */
  endWait(waits: number[], slot: number): void {
    const lru = this.lru as { words: LruWords; head: ListHead };
    if (waits[slot] !== -1) lru.words.setPrev(waits[slot], -1, lru.head);
    waits[slot] = -1;
  }
  [Symbol.iterator](): IterableIterator<number> {
    return this.links[Symbol.iterator]();
  }
}

/** struct hstate */
export class Hstate {
  readonly name: string;
  readonly sizeKb: number;
  readonly nrPages: number;
  maxHugePages = 0;
  readonly maxHugePagesNode: number[];
  nrHugePages = 0;
  freeHugePages = 0;
  resvHugePages = 0;
  surplusHugePages = 0;
  nrOvercommitHugePages = 0;
  /** The unsigned long as written (nr_overcommit_hugepages reads it back verbatim). */
  nrOvercommitRaw = 0n;
  readonly nrHugePagesNode: number[];
  readonly freeHugePagesNode: number[];
  readonly surplusHugePagesNode: number[];
  readonly hugepageFreelists: FolioList[];
  readonly hugepageActivelist: FolioList;
  nextNidToAlloc = 0;
  nextNidToFree = 0;
  demoteOrder = 0;
  constructor(
    readonly order: number,
    pageShift: number,
    nrNodeIds: number,
  ) {
    this.nrPages = pow2(order);
    this.sizeKb = pow2(order + pageShift - 10);
    this.name = `hugepages-${this.sizeKb}kB`;
    const zeros = () => new Array<number>(nrNodeIds).fill(0);
    this.maxHugePagesNode = zeros();
    this.nrHugePagesNode = zeros();
    this.freeHugePagesNode = zeros();
    this.surplusHugePagesNode = zeros();
    this.hugepageFreelists = Array.from({ length: nrNodeIds }, () => new FolioList(this.nrPages));
    this.hugepageActivelist = new FolioList(this.nrPages);
  }
  /** persistent_huge_pages() */
  get persistent(): number {
    return this.nrHugePages - this.surplusHugePages;
  }
  /** available_huge_pages() */
  get available(): number {
    return this.freeHugePages - this.resvHugePages;
  }
}

/** struct hugepage_subpool (a hugetlbfs mount's size=/min_size=). -1: no limit. */
export class Subpool {
  count = 1;
  usedHpages = 0;
  rsvHpages = 0;
  constructor(
    readonly h: Hstate,
    readonly maxHpages: number,
    readonly minHpages: number,
  ) {}
}

export interface FolioInfo {
  h: Hstate;
  nid: number;
  /** Which list the folio is on (folio->lru). */
  list: "free" | "active" | null;
  /** hugetlb_set_folio_subpool(): the subpool charged for it. */
  spool: Subpool | null;
}

/** A NUMA node mask as a sorted list of node ids. */
export type NodeMask = readonly number[];

/** What an observer (the checker, src/check) is told at kernel sites of the pool. */
export interface HugetlbListener {
  /**
   * return_unused_surplus_pages(h, unused): `surplus` surplus pages at entry, `taken` folios
   * taken off the free lists to be freed (before update_and_free_pages_bulk()).
   */
  returnUnusedSurplus?(h: Hstate, unused: number, surplus: number, taken: number): void;
}

export class HugetlbPool {
  readonly hstates: Hstate[] = [];
  defaultHstate!: Hstate;
  /** node_states[N_MEMORY] */
  readonly nodes: number[];
  readonly folios = new Map<number, FolioInfo>();
  /** hpage_freelist: folios whose freeing waits for free_hpage_work. */
  readonly hpageFreelist: number[] = [];
  /**
   * Bumped by every change to `folios`, to a folio's list and to hpageFreelist (the free and
   * active lists count their own, FolioList.version): the checker skips a pass over an
   * unchanged pool.
   */
  version = 0;
  /** node_alloc_noretry for boot and set_max_huge_pages. */
  private readonly bootParams: HugetlbBootParams;
  /** hstate_boot_nrinvalid */
  readonly bootNrInvalid = new Map<number, number>();
  private readonly nrNodeIds: number;
  /** Told what happens at some kernel sites (the checker's window); null: nobody listens. */
  listener: HugetlbListener | null = null;
  /** vm.movable_gigantic_pages (an int; the file exists only where the kernel has it). */
  movableGiganticPages = 0;

  constructor(
    readonly k: Kernel,
    readonly vmemmap: HugetlbVmemmap,
  ) {
    this.nodes = k.spec.nodes.map((n) => n.nid).sort((a, b) => a - b);
    this.nrNodeIds = Math.max(...this.nodes) + 1;
    this.bootParams = parseHugetlbParams(k.spec.cmdline, {
      pageShift: k.spec.arch.pageShift,
      validOrders: k.spec.arch.hstateOrders,
      defaultHstateOrder: k.spec.arch.defaultHstateOrder,
      onlineNodes: this.nodes,
    });
    k.sub.hugetlb = this;
    k.sub.huge_boot_pages = [] as HugeBootmemPage[];
  }

  // ------------------------------------------------------------------ hstates

  get pageShift(): number {
    return this.k.spec.arch.pageShift;
  }

  /** hstate_is_gigantic(): order > MAX_PAGE_ORDER */
  isGigantic(h: Hstate): boolean {
    return h.order > this.k.buddy.maxOrder;
  }

  /** hugetlb_add_hstate() */
  addHstate(order: number): Hstate {
    const old = this.hstateOfOrder(order);
    if (old) return old;
    const h = new Hstate(order, this.pageShift, this.nrNodeIds);
    this.hstates.push(h);
    bindHstateLists(h, this.hstates.length - 1, this.k.lruWords);
    return h;
  }

  hstateOfOrder(order: number): Hstate | null {
    return this.hstates.find((h) => h.order === order) ?? null;
  }

  /** size_to_hstate() */
  sizeToHstate(bytes: number): Hstate | null {
    return this.hstates.find((h) => h.nrPages * pow2(this.pageShift) === bytes) ?? null;
  }

  hstateByKb(kB: number): Hstate | null {
    return this.hstates.find((h) => h.sizeKb === kB) ?? null;
  }

  /** The hstates ascending by size (sysfs listing order does not matter to readers). */
  hstatesBySize(): Hstate[] {
    return [...this.hstates].sort((a, b) => a.order - b.order);
  }

  // ------------------------------------------------------------------ boot

  /** The boot hooks of hugetlb, wrapped around HVO's so that the kernel's order holds. */
  bootHooks(): BootHooks {
    const hvo = this.vmemmap.bootHooks;
    return {
      beforeSparseInit: (k) => {
        if (this.bootParams.freeVmemmap !== null)
          this.vmemmap.enabled = this.bootParams.freeVmemmap;
        for (const l of this.bootParams.log) k.printk.printk(l.level, l.text);
        this.hugetlbBootmemAlloc();
        hvo.beforeSparseInit?.(k);
      },
      populateSection: (k, s) => hvo.populateSection?.(k, s) ?? false,
      afterSparseInit: (k) => hvo.afterSparseInit?.(k),
      afterBuddy: (k) => {
        hvo.afterBuddy?.(k);
        if (this.poolRules.contigMovesSmallerHugetlb) k.buddy.contigHugetlb = this.contigHooks();
        this.hugetlbInit();
      },
      late: (k) => hvo.late?.(k),
    };
  }

  /** hugetlb_bootmem_alloc(): hstates of the command line, gigantic pages from memblock. */
  private hugetlbBootmemAlloc(): void {
    for (const order of this.bootParams.addedOrders) this.addHstate(order);
    for (const h of this.hstates) {
      if (!this.isGigantic(h)) continue;
      this.applyBootCounts(h);
      if (h.maxHugePages === 0) continue;
      // list_add(&m->list, &huge_boot_pages[node]): each node's list is newest first. The pages
      // come oldest first and go in front of what earlier hstates added (no unshift per page:
      // 65,000 boot pages on the largest machines).
      const boot = this.k.sub.huge_boot_pages as HugeBootmemPage[];
      const added: HugeBootmemPage[] = [];
      const allocated = this.allocBootGigantic(h, added);
      const merged = added.reverse().concat(boot);
      boot.length = 0;
      for (const m of merged) boot.push(m);
      this.allocErrcheck(h, allocated);
    }
  }

  private applyBootCounts(h: Hstate): void {
    h.maxHugePages = this.bootParams.maxHugePages.get(h.order) ?? 0;
    const perNode = this.bootParams.maxHugePagesNode.get(h.order);
    if (perNode) for (const [n, c] of perNode) h.maxHugePagesNode[n] = c;
  }

  /** __alloc_bootmem_huge_page() per page, node-specific counts first; `added` oldest first. */
  private allocBootGigantic(h: Hstate, added: HugeBootmemPage[]): number {
    const one = (nid: number, exact: boolean): boolean => {
      try {
        const pfn = this.k.memblock.alloc(h.nrPages, h.nrPages, nid, "hugetlb");
        const realNid = this.k.pfnToNid(pfn);
        if (exact && realNid !== nid) {
          this.k.memblock.unreserveRange(pfn, pfn + h.nrPages);
          return false;
        }
        added.push({ pfn, order: h.order, nid: realNid, flags: 0 });
        return true;
      } catch (e) {
        if (e instanceof KernelError) return false;
        throw e;
      }
    };
    if (this.bootParams.maxHugePagesNode.has(h.order)) {
      let total = 0;
      for (const nid of this.nodes) {
        const want = h.maxHugePagesNode[nid];
        let got = 0;
        while (got < want && one(nid, true)) got++;
        if (got < want) {
          this.k.warn(
            `HugeTLB: allocating ${want} of page size ${stringGetSize(h.nrPages * pow2(this.pageShift))} failed node${nid}.  Only allocated ${got} hugepages.`,
          );
          h.maxHugePagesNode[nid] = got;
        }
        total += got;
      }
      h.maxHugePages = total;
      return total;
    }
    let allocated = 0;
    while (allocated < h.maxHugePages) {
      const nid = this.nextNodeToAlloc(h, this.nodes);
      if (!one(nid, false)) break;
      allocated++;
    }
    return allocated;
  }

  /** hugetlb_hstate_alloc_pages_errcheck() */
  private allocErrcheck(h: Hstate, allocated: number): void {
    if (allocated < h.maxHugePages) {
      this.k.warn(
        `HugeTLB: allocating ${h.maxHugePages} of page size ${stringGetSize(h.nrPages * pow2(this.pageShift))} failed.  Only allocated ${allocated} hugepages.`,
      );
      h.maxHugePages = allocated;
    }
  }

  /** hugetlb_init() and the arch initcall that registers the arch's sizes. */
  private hugetlbInit(): void {
    // The arch's initcall (x86 gigantic_pages_init(), arm64 hugetlbpage_init()) registers its
    // sizes before hugetlb_init() adds HPAGE_SIZE. arch.hstateOrders holds what this machine's
    // CPU allows (x86_64: 1 GiB only with GBPAGES), as arch_hugetlb_valid_size() for the
    // command line above.
    const arch = this.k.spec.arch;
    for (const order of [...arch.hstateOrders].sort((a, b) => b - a)) {
      if (order !== arch.defaultHstateOrder) this.addHstate(order);
    }
    this.addHstate(arch.defaultHstateOrder);
    const defOrder = this.bootParams.defaultOrder ?? arch.defaultHstateOrder;
    this.defaultHstate = this.hstateOfOrder(defOrder) as Hstate;
    // hugetlb_init_hstates(): boot pages of the non-gigantic sizes, demote orders.
    for (const h of this.hstates) {
      if (this.isGigantic(h)) continue;
      this.applyBootCounts(h);
      if (h.maxHugePages === 0) continue;
      const allocated = this.allocBootPages(h);
      this.allocErrcheck(h, allocated);
    }
    // The largest smaller hstate, whatever its size (7.2 hugetlb_init_hstates(); no hugetlb_cma
    // here): arm64 4K's 2M demotes to 64K at boot, although demote_size refuses to be set below
    // HUGETLB_PAGE_ORDER (setDemoteSize). Seen on Debian's 7.2.13 arm64 guests.
    for (const h of this.hstates) {
      let best = 0;
      for (const h2 of this.hstates) if (h2.order < h.order && h2.order > best) best = h2.order;
      h.demoteOrder = best;
    }
    this.gatherBootmemPrealloc();
    // report_hugepages(): boot pages that spanned zones (hstate_boot_nrinvalid) leave
    // max_huge_pages here.
    for (const h of this.hstatesBySize()) {
      const size = stringGetSize(h.nrPages * pow2(this.pageShift));
      const invalid = this.bootNrInvalid.get(h.order) ?? 0;
      h.maxHugePages -= invalid;
      this.k.info(`HugeTLB: registered ${size} page size, pre-allocated ${h.nrHugePages} pages`);
      if (invalid)
        this.k.info(
          `HugeTLB: ${size} page size: ${invalid} invalid page${invalid === 1 ? "" : "s"} discarded`,
        );
      const kib = this.vmemmap.optimizableSize(h.order) / 1024;
      this.k.info(`HugeTLB: ${kib} KiB vmemmap can be freed for a ${size} page`);
    }
  }

  /** hugetlb_pages_alloc_boot(): buddy pages, then one prep_and_add_allocated_folios(). */
  private allocBootPages(h: Hstate): number {
    const list: number[] = [];
    const perNode = this.bootParams.maxHugePagesNode.get(h.order);
    if (perNode) {
      let total = 0;
      for (const nid of this.nodes) {
        const want = h.maxHugePagesNode[nid];
        let got = 0;
        while (got < want) {
          this.k.condResched();
          const f = this.allocPoolHugeFolio(h, [nid], { nextNid: nid });
          if (f === null) break;
          list.push(f);
          got++;
        }
        if (got < want) {
          this.k.warn(
            `HugeTLB: allocating ${want} of page size ${stringGetSize(h.nrPages * pow2(this.pageShift))} failed node${nid}.  Only allocated ${got} hugepages.`,
          );
          h.maxHugePagesNode[nid] = got;
        }
        total += got;
      }
      this.prepAndAddAllocatedFolios(h, list);
      h.maxHugePages = total;
      return total;
    }
    for (let i = 0; i < h.maxHugePages; i++) {
      this.k.condResched();
      const f = this.allocPoolHugeFolio(h, this.nodes, null);
      if (f === null) break;
      list.push(f);
    }
    this.prepAndAddAllocatedFolios(h, list);
    return list.length;
  }

  /**
   * gather_bootmem_prealloc(): the memblock gigantic pages become folios of the pool, node by
   * node (hugetlb_bootmem_struct_page_init() runs gather_bootmem_prealloc_node() per node on
   * padata threads; each node's lists are its own, so their order is the node's).
   */
  private gatherBootmemPrealloc(): void {
    const boot = this.k.sub.huge_boot_pages as HugeBootmemPage[];
    for (const nid of this.nodes) this.gatherBootmemPreallocNode(nid, boot);
    boot.length = 0;
  }

  /**
   * gather_bootmem_prealloc_node(): walks huge_boot_pages[nid] (newest first) and list_add()s
   * each folio to a local list, so that prep_and_add_bootmem_folios() gets them oldest first and
   * enqueues them in that order: the free list ends newest first, as boot allocated them in
   * reverse. A change of hstate in the walk hands the list so far to prep_and_add first.
   */
  private gatherBootmemPreallocNode(nid: number, boot: HugeBootmemPage[]): void {
    let list: number[] = [];
    let prevH: Hstate | null = null;
    for (const m of boot) {
      if (m.nid !== nid) continue;
      const h = this.hstateOfOrder(m.order);
      if (!h) continue;
      if (!this.bootmemPageZonesValid(m)) {
        this.bootNrInvalid.set(h.order, (this.bootNrInvalid.get(h.order) ?? 0) + 1);
        this.freeBootRange(m.pfn, h.nrPages);
        continue;
      }
      if (prevH !== null && h !== prevH) {
        this.prepAndAddBootmemFolios(prevH, list.reverse());
        list = [];
      }
      prevH = h;
      const head = m.pfn;
      // hugetlb_folio_init_vmemmap(folio, h, HUGETLB_VMEMMAP_RESERVE_PAGES): struct pages 0..63.
      this.initFolioStructPages(head, h.order, this.reservePages());
      this.initNewHugetlbFolio(head);
      if (m.flags & HUGE_BOOTMEM_HVO) {
        folioSetHpg(this.k.memmap, head, "vmemmap_optimized", true);
        this.bootOptimized = true;
      }
      // adjust_managed_page_count(): the pages become the buddy allocator's to free later.
      const zone = this.k.buddy.zoneOf(head);
      if (zone) zone.managed += h.nrPages;
      this.k.buddy.allocations.set(head, { order: h.order, use: "hugetlb", nid: m.nid });
      this.folios.set(head, { h, nid: m.nid, list: null, spool: null });
      this.version++;
      // list_add() to the local list: it ends in the reverse of the walk (pushed, reversed once).
      list.push(head);
      this.k.condResched();
    }
    if (prevH) this.prepAndAddBootmemFolios(prevH, list.reverse());
  }

  /** prep_and_add_bootmem_folios(): HVO of the list, then account and enqueue each in order. */
  private prepAndAddBootmemFolios(h: Hstate, list: number[]): void {
    this.vmemmap.optimizeBootmemFolios(h.order, list);
    for (const head of list) {
      if (!this.vmemmap.isOptimized(head)) this.initFolioStructPages(head, h.order, h.nrPages);
      this.accountAndEnqueue(h, head);
    }
  }

  private reservePages(): number {
    return this.k.pageSize / this.k.layout.size;
  }

  /** hugetlb_bootmem_page_zones_valid() */
  bootmemPageZonesValid(m: HugeBootmemPage): boolean {
    if (m.flags & HUGE_BOOTMEM_ZONES_VALID) return true;
    const z0 = this.k.buddy.zoneOf(m.pfn);
    const z1 = this.k.buddy.zoneOf(m.pfn + pow2(m.order) - 1);
    return z0 !== null && z0 === z1;
  }

  /** Memblock memory handed to the buddy allocator after boot (free_reserved_page() in bulk). */
  private freeBootRange(pfn: number, nrPages: number): void {
    this.k.memblock.unreserveRange(pfn, pfn + nrPages);
    for (let p = pfn; p < pfn + nrPages; p += pow2(this.k.buddy.maxOrder)) {
      const zone = this.k.buddy.zoneOf(p);
      if (!zone) continue;
      const n = Math.min(pow2(this.k.buddy.maxOrder), pfn + nrPages - p);
      zone.managed += n;
      if (n === pow2(this.k.buddy.maxOrder)) this.k.buddy.freeToBuddy(p, this.k.buddy.maxOrder);
      else for (let i = 0; i < n; i++) this.k.buddy.freeToBuddy(p + i, 0);
    }
  }

  /**
   * The compound metadata of the first `nrStructPages` struct pages of a boot folio (the rest
   * may alias them after pre-HVO and must not be written yet).
   */
  private initFolioStructPages(head: number, order: number, nrStructPages: number): void {
    const c = this.k.compound;
    if (nrStructPages >= pow2(order)) {
      c.prepCompoundPage(head, order);
    } else {
      const m = this.k.memmap;
      // hugetlb_folio_init_tail_vmemmap() runs __init_single_page() on struct pages 1..63, and
      // the head's was initialised again by reserve_bootmem_region() (only the tails are
      // noinit): whatever memmap_init() wrote there through aliasing tail PTEs is gone.
      const bytes = new Uint8Array(this.k.layout.size);
      const view = new DataView(bytes.buffer);
      for (let i = 0; i < nrStructPages; i++) {
        bytes.fill(0);
        this.k.initStructPage(head + i, bytes, view, 0, true);
        m.writeStructPage(head + i, bytes);
      }
      m.setBit(head, PAGE_OFF.flags, PG.head, true);
      const info = c.tailInfo(head, order);
      for (let i = 1; i < nrStructPages; i++) c.prepCompoundTail(head + i, info);
      c.prepCompoundHead(head, order);
    }
    folioSetRefCount(this.k.memmap, head, 0);
  }

  // ------------------------------------------------------------------ node iteration

  private nextAllowed(nid: number, mask: NodeMask): number {
    for (const n of mask) if (n > nid) return n;
    return mask[0];
  }

  private validAllowed(nid: number, mask: NodeMask): number {
    return mask.includes(nid) ? nid : mask[0];
  }

  /** hstate_next_node_to_alloc() on h->next_nid_to_alloc */
  nextNodeToAlloc(h: Hstate, mask: NodeMask): number {
    const nid = this.validAllowed(h.nextNidToAlloc, mask);
    h.nextNidToAlloc = this.nextAllowed(nid, mask);
    return nid;
  }

  /** hstate_next_node_to_free() */
  nextNodeToFree(h: Hstate, mask: NodeMask): number {
    const nid = this.validAllowed(h.nextNidToFree, mask);
    h.nextNidToFree = this.nextAllowed(nid, mask);
    return nid;
  }

  // ------------------------------------------------------------------ allocation

  /** The pool rules of the design's kernel (mm/hvo_designs.ts, docs/rules.md). */
  get poolRules(): DesignFacts["pool"] {
    return designFacts(this.k.design).pool;
  }

  /**
   * htlb_alloc_mask(): movable unless gigantic (hugepage_movable_supported()); from 6.19 a
   * gigantic hstate is movable too while vm.movable_gigantic_pages is set.
   */
  private htlbAllocMask(h: Hstate): number {
    const movable =
      !this.isGigantic(h) ||
      (this.poolRules.movableGiganticPagesSysctl && this.movableGiganticPages !== 0);
    return movable ? GFP_KERNEL | __GFP_MOVABLE : GFP_KERNEL;
  }

  /**
   * only_alloc_fresh_hugetlb_folio(): a gigantic folio from alloc_contig_pages() or a buddy
   * compound page, then init_new_hugetlb_folio(). No HVO, no accounting. Head pfn or null.
   */
  private onlyAllocFreshHugetlbFolio(h: Hstate, gfp: number, nid: number): number | null {
    let pfn: number | null;
    if (this.isGigantic(h)) {
      pfn = this.k.buddy.allocContigPages(h.nrPages, gfp, nid, "alloc_gigantic_folio", "hugetlb");
    } else {
      pfn = this.k.buddy.allocPagesNode(
        nid,
        gfp | __GFP_COMP | __GFP_NOWARN | __GFP_RETRY_MAYFAIL,
        h.order,
        "alloc_buddy_hugetlb_folio",
        "hugetlb",
      );
    }
    if (pfn === null) return null;
    return this.prepFreshHugetlbFolio(h, pfn);
  }

  /**
   * The rest of onlyAllocFreshHugetlbFolio() once the folio's pages are allocated: the
   * allocator's prep_compound_page(), folio_ref_freeze(), init_new_hugetlb_folio(). Its pfn.
   */
  private prepFreshHugetlbFolio(h: Hstate, pfn: number): number {
    // prep_compound_page() of the allocator, then folio_ref_freeze(folio, 1).
    const c = this.k.compound;
    const v = c.prepCompoundPage(pfn, h.order);
    const m = this.k.memmap;
    if (v !== null) {
      // The same stores, in place (64-bit stores count once, as the per-field path counts).
      const o = c.headOff;
      v.setUint32(o + PAGE_OFF.refcount, 0, true);
      v.setUint32(o + PAGE_OFF.mapping, 0, true);
      v.setUint32(o + PAGE_OFF.mapping + 4, 0, true);
      m.writes += 2;
    } else {
      folioSetRefCount(m, pfn, 0);
      m.writeU64(pfn, PAGE_OFF.mapping, 0n);
    }
    this.initNewHugetlbFolio(pfn, v);
    const info: FolioInfo = { h, nid: this.k.pfnToNid(pfn), list: null, spool: null };
    this.folios.set(pfn, info);
    this.freshInfo = info;
    this.version++;
    return pfn;
  }

  /** The entry in folios onlyAllocFreshHugetlbFolio() made last (its caller's to keep). */
  private freshInfo: FolioInfo | null = null;

  /**
   * init_new_hugetlb_folio(). `view`: compound.headView(head) just taken by the caller (the
   * head at compound.headOff), or null for field by field; looked up when not given.
   */
  private initNewHugetlbFolio(head: number, view?: DataView | null): void {
    const m = this.k.memmap;
    const f = this.k.layout.folio;
    const c = this.k.compound;
    const v = view === undefined ? c.headView(head) : view;
    if (v !== null) {
      // The stores of the per-field path below, in order, in place (64-bit stores count once).
      const o = c.headOff;
      v.setUint32(o + PAGE_OFF.pageType, (PGTY_hugetlb << 24) >>> 0, true);
      v.setUint32(o + PAGE_OFF.private, 0, true);
      v.setUint32(o + PAGE_OFF.private + 4, 0, true);
      const selfLo = m.vaddrLo(head, PAGE_OFF.lruNext);
      const selfHi = m.vhi;
      v.setUint32(o + PAGE_OFF.lruNext, selfLo, true);
      v.setUint32(o + PAGE_OFF.lruNext + 4, selfHi, true);
      v.setUint32(o + PAGE_OFF.lruPrev, selfLo, true);
      v.setUint32(o + PAGE_OFF.lruPrev + 4, selfHi, true);
      v.setUint32(o + f.hugetlbSubpool, 0, true);
      v.setUint32(o + f.hugetlbSubpool + 4, 0, true);
      v.setUint32(o + f.hugetlbCgroup, 0, true);
      v.setUint32(o + f.hugetlbCgroup + 4, 0, true);
      v.setUint32(o + f.hugetlbCgroupRsvd, 0, true);
      v.setUint32(o + f.hugetlbCgroupRsvd + 4, 0, true);
      m.writes += 7;
      return;
    }
    folioSetHugetlb(m, head, true);
    m.writeU64(head, PAGE_OFF.private, 0n);
    // INIT_LIST_HEAD(&folio->lru): both words point at it (as 32-bit halves, no bigint).
    const selfLo = m.vaddrLo(head, PAGE_OFF.lruNext);
    const selfHi = m.vhi;
    m.writeU64Parts(head, PAGE_OFF.lruNext, selfLo, selfHi);
    m.writeU64Parts(head, PAGE_OFF.lruPrev, selfLo, selfHi);
    m.writeU64(head, f.hugetlbSubpool, 0n);
    m.writeU64(head, f.hugetlbCgroup, 0n);
    m.writeU64(head, f.hugetlbCgroupRsvd, 0n);
  }

  /** alloc_pool_huge_folio(): round-robin over `mask`, __GFP_THISNODE, first success wins. */
  private allocPoolHugeFolio(
    h: Hstate,
    mask: NodeMask,
    fixed: { nextNid: number } | null,
  ): number | null {
    const gfp = this.htlbAllocMask(h) | __GFP_THISNODE;
    for (let i = 0; i < mask.length; i++) {
      const nid = fixed ? fixed.nextNid : this.nextNodeToAlloc(h, mask);
      const f = this.onlyAllocFreshHugetlbFolio(h, gfp, nid);
      if (f !== null) return f;
      if (fixed) break;
    }
    return null;
  }

  /**
   * allocPoolHugeFolio() twice in a row for one node (a grow that wants two more folios), where
   * the buddy may hand out both halves of one split block together (allocPairs): the first
   * folio, prepared; the second's head in pairedNext (-1: none), allocated and not yet prepared
   * (the caller prepares it next, at its own rescheduling point: nothing between reads the
   * buddy or its head's struct page). Nobody may run at the rescheduling points.
   */
  private allocPoolHugeFolioPair(h: Hstate, mask: NodeMask): number | null {
    this.pairedNext = -1;
    if (
      !this.k.paths.allocPairs ||
      mask.length !== 1 ||
      this.isGigantic(h) ||
      this.k.resched !== null
    )
      return this.allocPoolHugeFolio(h, mask, null);
    const gfp = this.htlbAllocMask(h) | __GFP_THISNODE;
    const nid = this.nextNodeToAlloc(h, mask);
    const buddy = this.k.buddy;
    const pfn = buddy.allocPagesPair(
      nid,
      gfp | __GFP_COMP | __GFP_NOWARN | __GFP_RETRY_MAYFAIL,
      h.order,
      "alloc_buddy_hugetlb_folio",
      "hugetlb",
    );
    if (pfn < 0) return null;
    const second = buddy.pairSecond;
    this.prepFreshHugetlbFolio(h, pfn);
    this.pairedNext = second;
    return pfn;
  }

  /** The second folio allocPoolHugeFolioPair() allocated and left to its caller (-1: none). */
  private pairedNext = -1;

  /** alloc_fresh_hugetlb_folio(): one folio, optimised alone, counted in nr_huge_pages. */
  private allocFreshHugetlbFolio(h: Hstate, gfp: number, nid: number): number | null {
    const f = this.onlyAllocFreshHugetlbFolio(h, gfp, nid);
    if (f === null) return null;
    this.vmemmap.optimizeFolio(h.order, f);
    const info = this.folios.get(f) as FolioInfo;
    h.nrHugePages++;
    h.nrHugePagesNode[info.nid]++;
    return f;
  }

  /**
   * prep_and_add_allocated_folios(): batched HVO, then account and enqueue each folio. `fresh`:
   * every folio is as init_new_hugetlb_folio() left it (its optimised flag cleared).
   */
  prepAndAddAllocatedFolios(
    h: Hstate,
    list: number[],
    fresh = false,
    /** The folios' entries in folios, in list's order, where the caller kept them. */
    infos: FolioInfo[] | null = null,
  ): void {
    if (list.length === 0) return;
    this.vmemmap.optimizeFolios(h.order, list, fresh);
    // Each list's first folio's view is kept for the next folio enqueued there (headViewOnce).
    const kept = this.enqueuedHeads;
    for (let nid = 0; nid < h.hugepageFreelists.length; nid++) kept.pfn[nid] = -1;
    this.enqueuing = fresh;
    // Each head's translation was flushed by the batch: one walk per huge leaf of the vmemmap,
    // not per folio, where no view can reach a page table (leafMemo).
    const hold = fresh && this.mayHoldLeaves();
    if (hold) this.k.pgt.holdLeaves(true);
    try {
      for (let i = 0; i < list.length; i++)
        this.accountAndEnqueue(h, list[i], infos === null ? undefined : infos[i]);
    } finally {
      this.enqueuing = false;
      kept.view.fill(null);
      if (hold) this.k.pgt.holdLeaves(false);
    }
  }

  /**
   * Whether the pool may tell the page tables that no store it makes through a view reaches a
   * page table (KernelPageTables.holdLeaves()): no folio was ever optimised (every vmemmap page
   * is where boot or hotplug put it, never a freed page reused as a table), no mutation, no
   * watcher of struct pages or the buddy (whose callbacks could do anything).
   */
  private mayHoldLeaves(): boolean {
    const k = this.k;
    return (
      !this.bootOptimized &&
      !this.vmemmap.everOptimized &&
      k.mutations.size === 0 &&
      k.headWatch === null &&
      k.resched === null &&
      k.buddy.listeners.length === 0
    );
  }

  /** Set while prepAndAddAllocatedFolios() enqueues fresh folios (enqueuedHeads is kept). */
  private enqueuing = false;
  /**
   * By node, while enqueuing: the folio enqueued last there (pfn, -1: none) and the view of its
   * head it was stored through, at off. The next folio enqueued there stores its prev link
   * through it: between the two only other folios' heads are stored to, the TLB holds its
   * translation (filled when it was enqueued) and its bytes are the frame's own.
   */
  private readonly enqueuedHeads = {
    pfn: [] as number[],
    view: [] as (DataView | null)[],
    off: [] as number[],
  };

  private accountAndEnqueue(
    h: Hstate,
    f: number,
    info: FolioInfo = this.folios.get(f) as FolioInfo,
  ): void {
    h.nrHugePages++;
    h.nrHugePagesNode[info.nid]++;
    this.enqueueHugetlbFolio(h, f, info);
  }

  /** enqueue_hugetlb_folio(); `info`: the folio's entry in folios, when the caller has it. */
  private enqueueHugetlbFolio(
    h: Hstate,
    f: number,
    info: FolioInfo = this.folios.get(f) as FolioInfo,
  ): void {
    // VM_BUG_ON_FOLIO(folio_ref_count(folio), folio): only with CONFIG_DEBUG_VM. Without it a
    // folio demoted from a boot-time page whose tails read refcount 1 (docs/findings.md 5) is
    // enqueued with that count.
    if (this.k.debugVm)
      BUG_ON(
        folioRefCount(this.k.memmap, f) !== 0,
        `enqueue_hugetlb_folio: refcount of ${f} is not 0`,
      );
    if (info.list === "active") h.hugepageActivelist.delete(f);
    const list = h.hugepageFreelists[info.nid];
    const c = this.k.compound;
    // The folio's own links stored through the view of its head the freed flag is set through
    // (headViewOnce): the same stores; a head still generated goes the plain way.
    const v =
      this.k.paths.headViewOnce && list.lru !== null && !list.has(f) ? c.headViewStored(f) : null;
    const nid = info.nid;
    if (v !== null) {
      const kept = this.enqueuedHeads;
      const first = list.head;
      const kv = this.enqueuing && first !== -1 && kept.pfn[nid] === first ? kept.view[nid] : null;
      list.addThrough(f, v, c.headOff, this.k.memmap, kv ?? null, kept.off[nid]);
      if (this.enqueuing) {
        kept.pfn[nid] = f;
        kept.view[nid] = v;
        kept.off[nid] = c.headOff;
      }
    } else {
      list.add(f);
      if (this.enqueuing) this.enqueuedHeads.pfn[nid] = -1;
    }
    info.list = "free";
    this.version++;
    h.freeHugePages++;
    h.freeHugePagesNode[info.nid]++;
    // folio_set_hugetlb_freed(), in place where the head's page is writable.
    c.setHeadBit(v ?? c.headView(f), f, PAGE_OFF.private, HPG.freed, true);
  }

  /** dequeue_hugetlb_folio_node_exact() over the nodes of `mask` (preferred first). */
  private dequeueHugetlbFolio(h: Hstate, mask: NodeMask, preferred: number): number | null {
    const order = [preferred, ...mask.filter((n) => n !== preferred)].filter((n) =>
      mask.includes(n),
    );
    for (const nid of order) {
      for (const f of h.hugepageFreelists[nid]) {
        if (this.k.memmap.testBit(f, PAGE_OFF.flags, PG.hwpoison)) continue;
        h.hugepageFreelists[nid].delete(f);
        h.hugepageActivelist.add(f);
        const info = this.folios.get(f) as FolioInfo;
        info.list = "active";
        this.version++;
        folioSetRefCount(this.k.memmap, f, 1);
        folioSetHpg(this.k.memmap, f, "freed", false);
        h.freeHugePages--;
        h.freeHugePagesNode[nid]--;
        return f;
      }
    }
    return null;
  }

  /** Whether the folio removeHugetlbFolio() took last was optimised (as it read the flag). */
  private removedOptimized = false;
  /** Whether a boot folio came with its optimised flag set (pre-HVO'd by memblock). */
  private bootOptimized = false;

  /**
   * A shrink where no folio can be optimised removes each folio and frees it (or the pair it
   * makes with the one removed next) before it takes the next, while its struct pages are
   * fresh in the host's caches: the same stores as all removals, then the restore walk, then
   * all frees (removals touch pool folios and their list, frees the folio and the buddy's
   * lists: no store of one meets the other's, and nothing a free reads does a removal change),
   * so long as nobody looks in between (fast_paths.ts fuseShrink).
   *
   * Whether the shrink may fuse: no folio's optimised flag was ever set (the restore walk
   * would allocate pages before any folio is freed), nothing runs at the rescheduling points
   * or listens to the buddy, nobody watches struct pages, no deliberate bug.
   */
  private mayFuseShrink(): boolean {
    const k = this.k;
    return (
      k.paths.fuseShrink &&
      k.paths.headFlagsOnce &&
      !this.bootOptimized &&
      !this.vmemmap.everOptimized &&
      k.resched === null &&
      k.headWatch === null &&
      k.mutations.size === 0 &&
      k.buddy.listeners.length === 0
    );
  }

  /**
   * set_max_huge_pages()' shrink, fused (mayFuseShrink()): remove_pool_hugetlb_folio() until
   * minCount, each folio freed as updateAndFreePagesBulk() would (in the removal order, a
   * buddy pair given back together) as soon as the one after it is known.
   */
  private removeAndFreeEach(h: Hstate, mask: NodeMask, minCount: bigint): void {
    // The stores into each free list's new first entry wait (FolioList.deleteThrough()), made
    // at the end for the entries left.
    const waits = this.prevWaits;
    for (let nid = 0; nid < h.hugepageFreelists.length; nid++) waits[nid] = -1;
    this.fusing = true;
    // One walk per huge leaf of the vmemmap for the folios' tails, not one per folio (leafMemo).
    const hold = this.mayHoldLeaves();
    if (hold) this.k.pgt.holdLeaves(true);
    try {
      this.removeAndFreeEachFused(h, mask, minCount);
    } finally {
      if (hold) this.k.pgt.holdLeaves(false);
      this.fusing = false;
      // The entries of the folios freed: the map emptied in one go where they were all of it
      // (the same map: deletes keep the others' order, and an empty map is empty).
      if (this.goneCount === this.folios.size) this.folios.clear();
      else for (let i = 0; i < this.goneCount; i++) this.folios.delete(this.goneHeads[i]);
      this.goneCount = 0;
      this.goneHeads.length = 0;
      this.k.compound.dropKeptHeads();
      for (let nid = 0; nid < h.hugepageFreelists.length; nid++)
        h.hugepageFreelists[nid].endWait(waits, nid);
    }
  }

  /** The heads removeAndFreeEach() freed, their entries in folios still to go (goneCount). */
  private readonly goneHeads: number[] = [];
  private goneCount = 0;

  /** Set while removeAndFreeEach() runs: removals leave prev stores waiting in prevWaits. */
  private fusing = false;
  /**
   * By node, during removeAndFreeEach(): the folio a removal made first on its free list, whose
   * prev store (the list head's address) waits for its own removal, which overwrites it (-1:
   * none). Nothing reads that struct page in between: the fused shrink removes and frees other
   * folios only.
   */
  private readonly prevWaits: number[] = [];

  private removeAndFreeEachFused(h: Hstate, mask: NodeMask, minCount: bigint): void {
    const m = this.k.memmap;
    // A folio removed and not yet freed: the next one removed may be its buddy.
    let held = -1;
    const minNum = ulongNum(minCount);
    while (ulongBelowNum(minCount, minNum, h.nrHugePages - h.surplusHugePages)) {
      const f = this.removePoolHugetlbFolio(h, mask, false);
      if (f === null) break;
      // hugetlb_vmemmap_restore_folios()' test of the flag: known clear, counted, not made.
      m.reads++;
      if (held === -1) {
        held = f;
        continue;
      }
      if (this.freeFolioPair(h, held, f)) held = -1;
      else {
        this.freeFolioToBuddy(h, held);
        held = f;
      }
      this.k.condResched();
    }
    if (held !== -1) {
      this.freeFolioToBuddy(h, held);
      this.k.condResched();
    }
  }

  /** remove_hugetlb_folio() */
  private removeHugetlbFolio(h: Hstate, f: number, adjustSurplus: boolean, freeNid = -1): void {
    const m = this.k.memmap;
    const c = this.k.compound;
    const paths = this.k.paths;
    // In a fused shrink, f is first on node freeNid's free list, and its entry in folios goes
    // with its free before anyone looks (headViewOnce): its list is known, no lookup is made
    // and the entry's list is left as it is.
    const info =
      this.fusing && freeNid >= 0 && paths.headViewOnce ? null : (this.folios.get(f) as FolioInfo);
    const nid = info === null ? freeNid : info.nid;
    const onList = info === null ? "free" : info.list;
    // With headFlagsOnce, the folio's own links are poisoned through the head's view its flags
    // use below (headViewOnce): the same stores; a head still generated goes the plain way.
    let v: DataView | null = null;
    if (onList === "free") {
      const list = h.hugepageFreelists[nid];
      if (paths.headViewOnce && paths.headFlagsOnce && list.lru !== null && list.has(f))
        v = c.headViewStored(f);
      const waits = this.fusing ? this.prevWaits : null;
      if (v !== null) list.deleteThrough(f, v, c.headOff, m, waits, nid);
      else {
        if (waits !== null) list.endWait(waits, nid);
        list.delete(f);
      }
    } else if (onList === "active") h.hugepageActivelist.delete(f);
    if (info !== null) info.list = null;
    this.version++;
    // The freed test, the optimised test and the page type store through one translation
    // where the head's struct page is writable in place (the same reads and store, counted
    // alike): both flags are bits of folio->private's low word.
    if (v === null && paths.headFlagsOnce) v = c.headView(f);
    const o = c.headOff + PAGE_OFF.private;
    let freed: boolean;
    if (v !== null) {
      m.reads++;
      freed = ((v.getUint32(o, true) >>> HPG.freed) & 1) === 1;
    } else freed = folioTestHpg(m, f, "freed");
    if (freed) {
      h.freeHugePages--;
      h.freeHugePagesNode[nid]--;
    }
    if (adjustSurplus) {
      h.surplusHugePages--;
      h.surplusHugePagesNode[nid]--;
    }
    // The page type stays while the vmemmap is optimised: its tails are read-only and a
    // memory failure must not write to them.
    if (v !== null) {
      m.reads++;
      this.removedOptimized = ((v.getUint32(o, true) >>> HPG.vmemmap_optimized) & 1) === 1;
      if (!this.removedOptimized) {
        v.setUint32(c.headOff + PAGE_OFF.pageType, 0xffffffff, true);
        m.writes++;
      }
    } else {
      this.removedOptimized = this.vmemmap.isOptimized(f);
      if (!this.removedOptimized) folioSetHugetlb(m, f, false);
    }
    h.nrHugePages--;
    h.nrHugePagesNode[nid]--;
    // A fused shrink frees the folio once the next one is removed: its view serves the free
    // (headViewOnce; only other folios' struct pages are stored to in between).
    if (v !== null && this.fusing && paths.headViewOnce) c.keepHead(f, v);
  }

  /** add_hugetlb_folio(): undo of remove_hugetlb_folio() for a folio still optimised. */
  private addHugetlbFolio(h: Hstate, f: number, adjustSurplus: boolean): void {
    const info = this.folios.get(f) as FolioInfo;
    const nid = info.nid;
    h.nrHugePages++;
    h.nrHugePagesNode[nid]++;
    if (adjustSurplus) {
      h.surplusHugePages++;
      h.surplusHugePagesNode[nid]++;
    }
    folioSetHugetlb(this.k.memmap, f, true);
    const optimized = this.vmemmap.isOptimized(f);
    // folio_change_private(folio, NULL), then the optimised flag again.
    this.k.memmap.writeU64(f, PAGE_OFF.private, 0n);
    if (optimized) folioSetHpg(this.k.memmap, f, "vmemmap_optimized", true);
    folioSetRefCount(this.k.memmap, f, 0);
    this.enqueueHugetlbFolio(h, f);
  }

  /** remove_pool_hugetlb_folio(): the head of a free list, round-robin from next_nid_to_free. */
  private removePoolHugetlbFolio(h: Hstate, mask: NodeMask, acctSurplus: boolean): number | null {
    for (let i = 0; i < mask.length; i++) {
      const nid = this.nextNodeToFree(h, mask);
      if ((!acctSurplus || h.surplusHugePagesNode[nid] > 0) && h.hugepageFreelists[nid].size > 0) {
        const f = h.hugepageFreelists[nid].head;
        this.removeHugetlbFolio(h, f, acctSurplus, nid);
        return f;
      }
    }
    return null;
  }

  /** adjust_pool_surplus() */
  private adjustPoolSurplus(h: Hstate, mask: NodeMask, delta: 1 | -1): boolean {
    for (let i = 0; i < mask.length; i++) {
      const nid = delta < 0 ? this.nextNodeToAlloc(h, mask) : this.nextNodeToFree(h, mask);
      const ok =
        delta < 0
          ? h.surplusHugePagesNode[nid] > 0
          : h.surplusHugePagesNode[nid] < h.nrHugePagesNode[nid];
      if (ok) {
        h.surplusHugePages += delta;
        h.surplusHugePagesNode[nid] += delta;
        return true;
      }
    }
    return false;
  }

  // ------------------------------------------------------------------ freeing

  /**
   * freeFolioToBuddy() of f and then of b, its buddy, when nothing watches the buddy or the
   * rescheduling points: the two folios are prepared first and then given back as a pair
   * (PageAllocator.freePagesPair(): the same stores, lists and counts as one after the other,
   * as nothing the preparation of b touches is f's or the buddy's). False: nothing done.
   */
  private freeFolioPair(h: Hstate, f: number, b: number): boolean {
    const buddy = this.k.buddy;
    if (this.k.resched !== null || !buddy.pairMayMerge(f, b, h.order)) return false;
    if (!this.freeFolioToBuddy(h, f, false)) {
      // f leaked (a bad page): b alone, as the kernel goes on.
      this.k.condResched();
      this.freeFolioToBuddy(h, b);
      return true;
    }
    this.k.condResched();
    if (!this.freeFolioToBuddy(h, b, false)) buddy.freePages(f, h.order);
    else buddy.freePagesPair(f, b, h.order);
    return true;
  }

  /**
   * The folio goes back to the page allocator (hugetlb_free_folio() after the checks). False: a
   * page failed the checks and the folio leaked. `giveBack` false: all but the give-back itself.
   */
  private freeFolioToBuddy(h: Hstate, f: number, giveBack = true): boolean {
    const m = this.k.memmap;
    const c0 = this.k.compound;
    const v = (this.fusing ? c0.keptHead(f) : null) ?? c0.headView(f);
    if (v !== null) {
      // The same reads and stores, in place.
      const o = this.k.compound.headOff;
      m.reads++;
      if (v.getUint32(o + PAGE_OFF.pageType, true) >>> 24 === PGTY_hugetlb) {
        v.setUint32(o + PAGE_OFF.pageType, 0xffffffff, true);
        m.writes++;
      }
      v.setUint32(o + PAGE_OFF.private, 0, true);
      v.setUint32(o + PAGE_OFF.private + 4, 0, true);
      v.setUint32(o + PAGE_OFF.mapping, 0, true);
      v.setUint32(o + PAGE_OFF.mapping + 4, 0, true);
      m.writes += 2;
    } else {
      if (folioTestHugetlb(m, f)) folioSetHugetlb(m, f, false);
      m.writeU64(f, PAGE_OFF.private, 0n);
      m.writeU64(f, PAGE_OFF.mapping, 0n);
    }
    // __free_pages_prepare(): a page that fails the checks is reported and the whole folio is
    // not freed: it leaks, held by nobody (page_alloc.ts freePagesCheck()).
    if (freePagesCheck(this.k, f, h.order, true, v) > 0) {
      freeTailPagesClear(this.k, f, h.order);
      this.folios.delete(f);
      this.version++;
      this.k.buddy.setUse(f, "kernel");
      return false;
    }
    // The head's view is still valid: nothing since changed the vmemmap's mapping or frames.
    const c = this.k.compound;
    c.destroyCompoundPage(f, h.order, v);
    // free_pages_prepare(): page->flags &= ~PAGE_FLAGS_CHECK_AT_PREP (all PG_* but hwpoison).
    if (v !== null) {
      const o = c.headOff;
      v.setUint32(
        o + PAGE_OFF.flags,
        (v.getUint32(o + PAGE_OFF.flags, true) & (1 << PG.hwpoison)) >>> 0,
        true,
      );
      v.setUint32(o + PAGE_OFF.refcount, 0, true);
      m.reads++;
      m.writes += 2;
    } else {
      const lo = m.readU32(f, PAGE_OFF.flags);
      m.writeU32(f, PAGE_OFF.flags, (lo & (1 << PG.hwpoison)) >>> 0);
      folioSetRefCount(m, f, 0);
    }
    // A fused shrink's entries go at its end, all at once where they are all there are: nobody
    // looks them up in between (fuseShrink).
    if (this.fusing) this.goneHeads[this.goneCount++] = f;
    else this.folios.delete(f);
    this.version++;
    // The caller gives it back (freeFolioPair()).
    if (!giveBack) return true;
    const a = this.k.buddy.allocations.getHead(f);
    if (a && a.order > this.k.buddy.maxOrder) this.k.buddy.freeContigRange(f, h.nrPages);
    else this.k.buddy.freePages(f, h.order);
    return true;
  }

  /** __update_and_free_hugetlb_folio(): restore the vmemmap, or back as a free surplus page. */
  private __updateAndFreeHugetlbFolio(h: Hstate, f: number): void {
    if (folioTestHpg(this.k.memmap, f, "raw_hwp_unreliable")) return;
    if (this.vmemmap.isOptimized(f) && this.vmemmap.restoreFolio(h.order, f) !== 0) {
      this.addHugetlbFolio(h, f, true);
      return;
    }
    this.freeFolioToBuddy(h, f);
  }

  /** update_and_free_hugetlb_folio(): atomic callers defer optimised folios to a worker. */
  private updateAndFreeHugetlbFolio(h: Hstate, f: number, atomic: boolean): void {
    if (!atomic || !this.vmemmap.isOptimized(f)) {
      this.__updateAndFreeHugetlbFolio(h, f);
      return;
    }
    this.hpageFreelist.push(f);
    this.version++;
  }

  /** free_hpage_workfn(), run to completion: what "the counters settled" waits for. */
  flushFreeHpageWork(): void {
    while (this.hpageFreelist.length) {
      const list = this.hpageFreelist.splice(0).reverse();
      this.version++;
      for (const f of list) {
        const info = this.folios.get(f);
        if (info) this.__updateAndFreeHugetlbFolio(info.h, f);
        this.k.condResched();
      }
    }
  }

  /** update_and_free_pages_bulk() with bulk_vmemmap_restore_error(). */
  updateAndFreePagesBulk(h: Hstate, list: number[], noneOptimized = false): void {
    let pending = list;
    for (;;) {
      const r = this.vmemmap.restoreFolios(h.order, pending, noneOptimized && pending === list);
      if (r.err === 0 || r.remaining.length === 0) {
        const nonHvo = r.nonHvo;
        for (let i = 0; i < nonHvo.length; i++) {
          // Two buddies one after the other (a pool grown from split blocks) go back as a pair.
          if (i + 1 < nonHvo.length && this.freeFolioPair(h, nonHvo[i], nonHvo[i + 1])) i++;
          else this.freeFolioToBuddy(h, nonHvo[i]);
          this.k.condResched();
        }
        for (const f of r.remaining) this.__updateAndFreeHugetlbFolio(h, f);
        return;
      }
      // bulk_vmemmap_restore_error()
      if (r.nonHvo.length > 0) {
        for (const f of r.nonHvo) this.freeFolioToBuddy(h, f);
        pending = r.remaining;
        continue;
      }
      const rest = [...r.remaining];
      let freedOne = false;
      while (rest.length) {
        const f = rest.shift() as number;
        if (this.vmemmap.restoreFolio(h.order, f) !== 0) {
          this.addHugetlbFolio(h, f, true);
        } else {
          this.freeFolioToBuddy(h, f);
          freedOne = true;
          break;
        }
      }
      if (!freedOne || rest.length === 0) return;
      pending = rest;
    }
  }

  /** free_huge_folio(): the last reference to an in-use folio went away. */
  freeHugeFolio(f: number): void {
    const info = this.folios.get(f) as FolioInfo;
    const h = info.h;
    const m = this.k.memmap;
    const spool = info.spool;
    info.spool = null;
    m.writeU64(f, this.k.layout.folio.hugetlbSubpool, 0n);
    m.writeU64(f, PAGE_OFF.mapping, 0n);
    m.setBit(f, PAGE_OFF.flags, PG.owner_2, false);
    let restoreReserve = folioTestHpg(m, f, "restore_reserve");
    folioSetHpg(m, f, "restore_reserve", false);
    if (!restoreReserve && this.hugepageSubpoolPutPages(spool, 1) === 0) restoreReserve = true;
    folioSetHpg(m, f, "migratable", false);
    folioSetRefCount(m, f, 0);
    if (restoreReserve) h.resvHugePages++;
    if (folioTestHpg(m, f, "temporary")) {
      this.removeHugetlbFolio(h, f, false);
      this.updateAndFreeHugetlbFolio(h, f, true);
    } else if (h.surplusHugePagesNode[info.nid] > 0) {
      this.removeHugetlbFolio(h, f, true);
      this.updateAndFreeHugetlbFolio(h, f, true);
    } else {
      this.enqueueHugetlbFolio(h, f);
    }
  }

  // ------------------------------------------------------------------ nr_hugepages

  /**
   * set_max_huge_pages(): nid null for the global files. Always succeeds (returns 0).
   *
   * The kernel's counts are unsigned long, and so is its arithmetic here: persistent_huge_pages()
   * is nr_huge_pages - surplus_huge_pages, which wraps to a huge number when surplus exceeds nr
   * (docs/findings.md 6: a demote after a failed restore). The model keeps its counters as
   * signed numbers and does every comparison of this function on their values mod 2^64, so
   * that such a pool behaves as the kernel's: nothing grows, nothing shrinks, and max_huge_pages
   * takes the wrapped value.
   */
  setMaxHugePages(h: Hstate, countIn: number, nid: number | null, mask: NodeMask): void {
    this.flushFreeHpageWork();
    const persistent = () => ulong(h.nrHugePages - h.surplusHugePages);
    let count = ulong(countIn);
    if (nid !== null) {
      const old = count;
      count = ulong(
        count + persistent() - ulong(h.nrHugePagesNode[nid] - h.surplusHugePagesNode[nid]),
      );
      // An overflow means "as many as possible".
      if (count < old) count = ULONG_MAX;
    }
    // Grow: surplus pages become persistent first, then fresh folios are allocated.
    while (h.surplusHugePages > 0 && count > persistent()) {
      if (!this.adjustPoolSurplus(h, mask, -1)) break;
    }
    const list: number[] = [];
    const infos: FolioInfo[] = [];
    let allocFailed = false;
    const countNum = ulongNum(count);
    while (ulongAboveNum(count, countNum, h.nrHugePages - h.surplusHugePages + list.length)) {
      this.k.condResched();
      // Two or more still wanted: the buddy may hand out two at once (allocPairs).
      const two = ulongAboveNum(
        count,
        countNum,
        h.nrHugePages - h.surplusHugePages + list.length + 1,
      );
      const f = two ? this.allocPoolHugeFolioPair(h, mask) : this.allocPoolHugeFolio(h, mask, null);
      if (f === null) {
        allocFailed = true;
        break;
      }
      list.push(f);
      infos.push(this.freshInfo as FolioInfo);
      if (two && this.pairedNext !== -1) {
        // The second allocation's turn: its rescheduling point and node, then its preparation.
        const b = this.pairedNext;
        this.pairedNext = -1;
        this.k.condResched();
        this.nextNodeToAlloc(h, mask);
        list.push(this.prepFreshHugetlbFolio(h, b));
        infos.push(this.freshInfo as FolioInfo);
      }
    }
    // list_add() makes page_list last-allocated-first.
    this.prepAndAddAllocatedFolios(h, list.reverse(), true, infos.reverse());
    if (!allocFailed) {
      // Shrink: free pages go back (keeping what reservations need), then the rest of the
      // persistent pages above count become surplus, freed when they are freed. min_count
      // counts only persistent free pages: a free surplus page (a failed vmemmap restore) is
      // not subtracted twice (persistent_free_count, in 6.18 and 7.2 alike).
      const free = BigInt(h.freeHugePages);
      const surplus = BigInt(h.surplusHugePages);
      let persistentFree = free;
      if (free > persistent()) persistentFree = free > surplus ? free - surplus : 0n;
      let minCount = ulong(BigInt(h.resvHugePages) + persistent() - persistentFree);
      if (count > minCount) minCount = count;
      const fused = this.mayFuseShrink();
      if (fused) this.removeAndFreeEach(h, mask, minCount);
      const freeList: number[] = [];
      let optimized = false;
      while (!fused && ulongBelow(minCount, h.nrHugePages - h.surplusHugePages)) {
        const f = this.removePoolHugetlbFolio(h, mask, false);
        if (f === null) break;
        freeList.push(f);
        if (this.removedOptimized) optimized = true;
      }
      // list_add() to page_list: the last one removed first.
      freeList.reverse();
      // Nothing between the removal and the restore changes a folio's optimised flag.
      if (!fused)
        this.updateAndFreePagesBulk(h, freeList, this.k.paths.headFlagsOnce && !optimized);
      this.flushFreeHpageWork();
      while (count < persistent()) {
        if (!this.adjustPoolSurplus(h, mask, 1)) break;
      }
    }
    // max_huge_pages = persistent_huge_pages(h): the signed difference stands for its value mod 2^64.
    h.maxHugePages = h.nrHugePages - h.surplusHugePages;
  }

  /** __nr_hugepages_store_common() */
  nrHugepagesStore(h: Hstate, count: number, nid: number | null): void {
    const mask = nid === null ? this.nodes : [nid];
    this.setMaxHugePages(h, count, nid, mask);
  }

  // ------------------------------------------------------------------ surplus and reservations

  /**
   * alloc_surplus_hugetlb_folio(): null at the overcommit limit, and for a gigantic hstate on a
   * kernel before 6.19 (which had no gigantic overcommit).
   */
  private allocSurplusHugetlbFolio(h: Hstate, nid: number): number | null {
    if (this.isGigantic(h) && !this.poolRules.giganticOvercommit) return null;
    const atLimit = this.k.mutations.has("surplus-limit-off-by-one")
      ? h.surplusHugePages > h.nrOvercommitHugePages
      : h.surplusHugePages >= h.nrOvercommitHugePages;
    if (atLimit) return null;
    const f = this.allocFreshHugetlbFolio(h, this.htlbAllocMask(h), nid);
    if (f === null) return null;
    const info = this.folios.get(f) as FolioInfo;
    h.surplusHugePages++;
    h.surplusHugePagesNode[info.nid]++;
    return f;
  }

  /** gather_surplus_pages(): grow the pool by surplus pages so that `delta` more can be reserved. */
  private gatherSurplusPages(h: Hstate, delta: number): number {
    let needed = h.resvHugePages + delta - h.freeHugePages;
    if (needed <= 0) {
      h.resvHugePages += delta;
      return 0;
    }
    const surplusList: number[] = [];
    let allocOk = true;
    const local = this.nodes[0];
    for (;;) {
      for (let i = 0; i < needed; i++) {
        let f = this.allocSurplusHugetlbFolio(h, local);
        if (f === null) {
          for (const n of this.nodes) {
            if (n === local) continue;
            f = this.allocSurplusHugetlbFolio(h, n);
            if (f !== null) break;
          }
        }
        if (f === null) {
          allocOk = false;
          break;
        }
        surplusList.unshift(f);
      }
      needed = h.resvHugePages + delta - (h.freeHugePages + surplusList.length);
      if (needed > 0 && allocOk) continue;
      break;
    }
    let ret = -ENOMEM;
    if (needed <= 0) {
      needed += surplusList.length;
      h.resvHugePages += delta;
      ret = 0;
      const keep = surplusList.splice(0, Math.max(0, needed));
      for (const f of keep) this.enqueueHugetlbFolio(h, f);
    }
    for (const f of surplusList) this.freeHugeFolio(f);
    return ret;
  }

  /** return_unused_surplus_pages() */
  private returnUnusedSurplusPages(h: Hstate, unused: number): void {
    h.resvHugePages -= unused;
    const surplus = h.surplusHugePages;
    let nr = Math.min(unused, surplus);
    if (this.k.mutations.has("return-surplus-one-short")) nr--;
    const list: number[] = [];
    while (nr-- > 0) {
      const f = this.removePoolHugetlbFolio(h, this.nodes, true);
      if (f === null) break;
      list.unshift(f);
    }
    this.listener?.returnUnusedSurplus?.(h, unused, surplus, list.length);
    this.updateAndFreePagesBulk(h, list);
  }

  /** hugetlb_acct_memory(): 0 or -ENOMEM. */
  hugetlbAcctMemory(h: Hstate, delta: number): number {
    if (delta > 0) {
      if (this.gatherSurplusPages(h, delta) < 0) return -ENOMEM;
      // allowed_mems_nr(): free pages on the nodes the task may use.
      let allowed = 0;
      for (const n of this.nodes) allowed += h.freeHugePagesNode[n];
      if (delta > allowed) {
        this.returnUnusedSurplusPages(h, delta);
        return -ENOMEM;
      }
      return 0;
    }
    if (delta < 0) this.returnUnusedSurplusPages(h, -delta);
    return 0;
  }

  /** hugepage_new_subpool(): null when min_size cannot be reserved. */
  hugepageNewSubpool(h: Hstate, maxHpages: number, minHpages: number): Subpool | null {
    const spool = new Subpool(h, maxHpages, minHpages);
    if (minHpages !== -1 && this.hugetlbAcctMemory(h, minHpages) !== 0) return null;
    spool.rsvHpages = minHpages;
    return spool;
  }

  /** hugepage_put_subpool() / unlock_or_release_subpool() */
  hugepagePutSubpool(spool: Subpool): void {
    spool.count--;
    this.releaseSubpoolIfFree(spool);
  }

  private releaseSubpoolIfFree(spool: Subpool): void {
    let free = spool.count === 0;
    if (free && spool.maxHpages !== -1) free = spool.usedHpages === 0;
    else if (free && spool.minHpages !== -1) free = spool.rsvHpages === spool.minHpages;
    if (free && spool.minHpages !== -1) {
      spool.count = -1; // released: no second release
      this.hugetlbAcctMemory(spool.h, -spool.minHpages);
    }
  }

  /** hugepage_subpool_get_pages(): the global change, or -ENOMEM. */
  hugepageSubpoolGetPages(spool: Subpool | null, delta: number): number {
    if (!spool) return delta;
    let ret = delta;
    if (spool.maxHpages !== -1) {
      if (spool.usedHpages + delta <= spool.maxHpages) spool.usedHpages += delta;
      else return -ENOMEM;
    }
    if (spool.minHpages !== -1 && spool.rsvHpages) {
      if (delta > spool.rsvHpages) {
        ret = delta - spool.rsvHpages;
        spool.rsvHpages = 0;
      } else {
        ret = 0;
        spool.rsvHpages -= delta;
      }
    }
    return ret;
  }

  /** hugepage_subpool_put_pages(): the global reservations to drop. */
  hugepageSubpoolPutPages(spool: Subpool | null, delta: number): number {
    if (!spool) return delta;
    let ret = delta;
    if (spool.maxHpages !== -1) spool.usedHpages -= delta;
    if (spool.minHpages !== -1 && spool.usedHpages < spool.minHpages) {
      if (spool.rsvHpages + delta <= spool.minHpages) ret = 0;
      else ret = spool.rsvHpages + delta - spool.minHpages;
      spool.rsvHpages += delta;
      if (spool.rsvHpages > spool.minHpages) spool.rsvHpages = spool.minHpages;
    }
    if (spool.count === 0) this.releaseSubpoolIfFree(spool);
    return ret;
  }

  /**
   * alloc_hugetlb_folio() for a fault. `hasReservation`: the mapping holds a reservation for
   * this page (gbl_chg 0). Returns the folio (refcount 1, on the active list) or throws
   * KernelError(ENOSPC) (the fault becomes SIGBUS).
   */
  allocHugetlbFolio(
    h: Hstate,
    spool: Subpool | null,
    hasReservation: boolean,
    nid: number,
  ): number {
    let gblChg = 0;
    if (!hasReservation) {
      gblChg = this.hugepageSubpoolGetPages(spool, 1);
      if (gblChg < 0) throw new KernelError(ENOSPC, "hugepage_subpool_get_pages");
    }
    let f: number | null = null;
    if (gblChg === 0 || h.available > 0) f = this.dequeueHugetlbFolio(h, this.nodes, nid);
    if (f === null) {
      f = this.allocSurplusHugetlbFolio(h, nid);
      if (f === null) {
        if (!hasReservation) this.hugepageSubpoolPutPages(spool, 1);
        throw new KernelError(ENOSPC, "alloc_hugetlb_folio");
      }
      const info = this.folios.get(f) as FolioInfo;
      h.hugepageActivelist.add(f);
      info.list = "active";
      this.version++;
      folioSetRefCount(this.k.memmap, f, 1);
    }
    if (gblChg === 0) {
      folioSetHpg(this.k.memmap, f, "restore_reserve", true);
      h.resvHugePages--;
    }
    const info = this.folios.get(f) as FolioInfo;
    info.spool = spool;
    return f;
  }

  // ------------------------------------------------------------------ overcommit, demote

  /**
   * nr_overcommit_hugepages store: -EINVAL on a gigantic hstate before 6.19
   * (hstate_is_gigantic()); from 6.19 only where gigantic pages cannot be allocated at run time
   * (hstate_is_gigantic_no_runtime(), never on the modelled architectures).
   */
  overcommitRefused(h: Hstate): boolean {
    return this.isGigantic(h) && !this.poolRules.giganticOvercommit;
  }

  setOvercommit(h: Hstate, value: bigint): void {
    if (this.overcommitRefused(h))
      throw new KernelError(EINVAL, "nr_overcommit_hugepages: gigantic");
    h.nrOvercommitRaw = value;
    h.nrOvercommitHugePages =
      value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
  }

  /** demote_store(): demote up to nr free pages of h; errno on failure. */
  demote(h: Hstate, nrDemote: number, nid: number | null): void {
    this.flushFreeHpageWork();
    const mask = nid === null ? this.nodes : [nid];
    let left = nrDemote;
    while (left > 0) {
      const avail = (nid !== null ? h.freeHugePagesNode[nid] : h.freeHugePages) - h.resvHugePages;
      if (avail === 0) break;
      const rc = this.demotePoolHugePage(h, mask, left);
      if (rc < 0) throw new KernelError(-rc, "demote");
      left -= rc;
    }
  }

  /** demote_pool_huge_page() */
  private demotePoolHugePage(src: Hstate, mask: NodeMask, nrToDemote: number): number {
    if (!src.demoteOrder) return -EINVAL;
    const dst = this.hstateOfOrder(src.demoteOrder) as Hstate;
    let nrDemoted = 0;
    let rc = 0;
    for (let i = 0; i < mask.length; i++) {
      const nid = this.nextNodeToFree(src, mask);
      const list: number[] = [];
      for (const f of [...src.hugepageFreelists[nid]]) {
        if (this.k.memmap.testBit(f, PAGE_OFF.flags, PG.hwpoison)) continue;
        this.removeHugetlbFolio(src, f, false);
        list.unshift(f);
        if (++nrDemoted === nrToDemote) break;
      }
      const left = this.demoteFreeHugetlbFolios(src, dst, list);
      rc = left.rc;
      for (const f of left.remaining) {
        this.addHugetlbFolio(src, f, false);
        nrDemoted--;
      }
      if (rc < 0 || nrDemoted === nrToDemote) break;
    }
    src.maxHugePages -= nrDemoted;
    dst.maxHugePages += nrDemoted * pow2(src.order - dst.order);
    if (rc < 0) return rc;
    if (nrDemoted) return nrDemoted;
    return -EBUSY;
  }

  /** demote_free_hugetlb_folios(): restore, split into dst folios, optimise them in a batch. */
  private demoteFreeHugetlbFolios(
    src: Hstate,
    dst: Hstate,
    list: number[],
  ): { rc: number; remaining: number[] } {
    const r = this.vmemmap.restoreFolios(src.order, list);
    const rc = r.err !== 0 ? -Math.abs(r.err) : r.restored;
    const dstList: number[] = [];
    const m = this.k.memmap;
    for (const f of r.nonHvo) {
      const info = this.folios.get(f) as FolioInfo;
      this.folios.delete(f);
      this.version++;
      const a = this.k.buddy.allocations.get(f);
      this.k.buddy.allocations.delete(f);
      const step = dst.nrPages;
      for (let p = f; p < f + src.nrPages; p += step) {
        if (p !== f) m.writeU64(p, PAGE_OFF.compoundInfo, 0n);
        else m.setBit(f, PAGE_OFF.flags, PG.head, false);
        this.k.compound.prepCompoundPage(p, dst.order);
        m.writeU64(p, PAGE_OFF.mapping, 0n);
        // No refcount is set: each new head keeps the count its struct page had as a tail, 0
        // unless restore copied tails that read 1 (a boot-time page, docs/findings.md 5).
        this.initNewHugetlbFolio(p);
        this.k.buddy.allocations.set(p, {
          order: dst.order,
          use: "hugetlb",
          nid: a?.nid ?? info.nid,
        });
        this.folios.set(p, { h: dst, nid: info.nid, list: null, spool: null });
        this.version++;
        dstList.unshift(p);
      }
    }
    this.prepAndAddAllocatedFolios(dst, dstList);
    return { rc, remaining: r.remaining };
  }

  /** demote_size store: a smaller hstate at least HUGETLB_PAGE_ORDER. */
  setDemoteSize(h: Hstate, bytes: bigint): void {
    const target = this.hstates.find(
      (x) => BigInt(x.nrPages) * BigInt(pow2(this.pageShift)) === bytes,
    );
    if (!target) throw new KernelError(EINVAL, "demote_size: no such hstate");
    if (target.order < this.k.spec.arch.defaultHstateOrder)
      throw new KernelError(EINVAL, "demote_size: too small");
    if (target.order >= h.order) throw new KernelError(EINVAL, "demote_size: not smaller");
    h.demoteOrder = target.order;
  }

  // ------------------------------------------------------------------ dissolve

  /** The head pfn of the hugetlb folio pfn belongs to, or null (page_folio() + folio_test_hugetlb()). */
  hugetlbFolioOf(pfn: number): number | null {
    if (!this.k.memmap.backing(pfn)) return null;
    const head = this.k.compound.compoundHead(pfn);
    if (!this.folios.has(head)) return null;
    return folioTestHugetlb(this.k.memmap, head) ? head : null;
  }

  /** Whether the folio headed at pfn is one of the pool's with no reference (free or being freed). */
  isFreeHugetlbFolio(headPfn: number): boolean {
    return this.folios.has(headPfn) && folioRefCount(this.k.memmap, headPfn) === 0;
  }

  /** dissolve_free_hugetlb_folio(): 0, -EBUSY (in use, or every free page reserved) or -ENOMEM. */
  dissolveFreeHugetlbFolio(pfn: number): number {
    const f = this.hugetlbFolioOf(pfn);
    if (f === null) return 0;
    const info = this.folios.get(f) as FolioInfo;
    const h = info.h;
    if (folioRefCount(this.k.memmap, f) !== 0) return -EBUSY;
    if (h.available <= 0) return -EBUSY;
    this.flushFreeHpageWork();
    const adjustSurplus = h.surplusHugePagesNode[info.nid] > 0;
    this.removeHugetlbFolio(h, f, adjustSurplus);
    // A surplus page was never counted in max_huge_pages (7.2 leaves it alone).
    const lowersMax = !(adjustSurplus && this.poolRules.dissolveKeepsMaxForSurplus);
    if (lowersMax) h.maxHugePages--;
    if (folioTestHugetlb(this.k.memmap, f)) {
      const rc = this.vmemmap.restoreFolio(h.order, f);
      if (rc !== 0) {
        this.addHugetlbFolio(h, f, adjustSurplus);
        if (lowersMax) h.maxHugePages++;
        return rc < 0 ? rc : -rc;
      }
    }
    this.freeFolioToBuddy(h, f);
    return 0;
  }

  /** What alloc_contig_pages() asks of HugeTLB (page_alloc.ts ContigHugetlb). */
  private contigHooks(): ContigHugetlb {
    return {
      folioAt: (pfn) => {
        const f = this.hugetlbFolioOf(pfn);
        return f === null ? null : { head: f, order: (this.folios.get(f) as FolioInfo).h.order };
      },
      replaceFreeHugepageFolios: (start, end) => this.replaceFreeHugepageFolios(start, end),
    };
  }

  /**
   * replace_free_hugepage_folios(), with the isolate_or_dissolve_huge_folio() calls of
   * alloc_contig_frozen_range()'s migration step that come first on the same folios: each free
   * HugeTLB folio of [start, end) is replaced by alloc_and_dissolve_hugetlb_folio(), in pfn
   * order. 0, or -ENOMEM for a gigantic folio or when no new folio can be had.
   */
  replaceFreeHugepageFolios(start: number, end: number): number {
    this.flushFreeHpageWork();
    let p = start;
    while (p < end) {
      const b = this.k.buddy.freeBlockAt(p);
      if (b) {
        p = b.start + pow2(b.order);
        continue;
      }
      const f = this.hugetlbFolioOf(p);
      if (f === null) {
        p++;
        continue;
      }
      const h = (this.folios.get(f) as FolioInfo).h;
      if (this.isGigantic(h)) return -ENOMEM;
      // A folio with a reference: the kernel migrates it when it can be isolated (in use, not
      // modelled) and passes over it otherwise (folio_isolate_hugetlb() fails: e.g. a free
      // folio whose head reads refcount 1, docs/findings.md 5); either way it stays here, and
      // the range is not taken (test_pages_isolated()).
      if (folioRefCount(this.k.memmap, f) === 0) {
        const rc = this.allocAndDissolveHugetlbFolio(f);
        if (rc) return rc;
      }
      p = f + h.nrPages;
    }
    return 0;
  }

  /**
   * alloc_and_dissolve_hugetlb_folio() of a free folio: a fresh folio of its size on its node
   * (__GFP_THISNODE, optimised alone) takes its place on the free list, and the old one is
   * freed (its vmemmap restored; a failed restore keeps it as a surplus page).
   */
  private allocAndDissolveHugetlbFolio(old: number): number {
    const info = this.folios.get(old) as FolioInfo;
    const h = info.h;
    const fresh = this.allocFreshHugetlbFolio(h, this.htlbAllocMask(h) | __GFP_THISNODE, info.nid);
    if (fresh === null) return -ENOMEM;
    // remove_hugetlb_folio(old), account_new_hugetlb_folio(fresh) (allocFreshHugetlbFolio()
    // counted it), enqueue_hugetlb_folio(fresh), update_and_free_hugetlb_folio(old, false).
    this.removeHugetlbFolio(h, old, false);
    this.enqueueHugetlbFolio(h, fresh);
    this.__updateAndFreeHugetlbFolio(h, old);
    return 0;
  }

  /** dissolve_free_hugetlb_folios(): memory offline of [start, end); stops at the first error. */
  dissolveFreeHugetlbFolios(startPfn: number, endPfn: number): number {
    if (this.hstates.length === 0) return 0;
    const minOrder = Math.min(...this.hstates.map((h) => h.order));
    for (let pfn = startPfn; pfn < endPfn; pfn += pow2(minOrder)) {
      const rc = this.dissolveFreeHugetlbFolio(pfn);
      if (rc) return rc;
    }
    return 0;
  }

  // ------------------------------------------------------------------ accounting

  /** hugetlb_total_pages() in base pages. */
  totalPages(): number {
    let n = 0;
    for (const h of this.hstates) n += h.nrHugePages * h.nrPages;
    return n;
  }
}

/** The pool of a booted kernel (k.sub.hugetlb). */
export function hugetlbOf(k: Kernel): HugetlbPool {
  const p = k.sub.hugetlb;
  if (!(p instanceof HugetlbPool)) throw new KernelError(EINVAL, "HugeTLB is not initialised");
  return p;
}
