// The simulated kernel: one object that holds every subsystem of one booted machine, and the
// boot sequence of init/main.c as far as memory goes (setup_arch's memblock, sparse_init(),
// mm_core_init()'s memblock_free_all(), then the initcalls that HugeTLB and HVO register).
//
// Subsystems hook into boot through BootHooks instead of this file knowing them; the design
// switch (legacy | seed | mainline) is one strategy object chosen here, at boot.

import { Oops } from "./include/errno.ts";
import {
  PAGE_OFF,
  PGTY_buddy,
  type StructPageLayout,
  structPageLayout,
} from "./include/mm_types.ts";
import {
  DEFAULT_PAGE_FLAGS_LAYOUT,
  PG,
  type PageFlagsLayout,
  type TailEncoding,
  maxFolioVmemmapAlign,
  pageLinks,
} from "./include/page_flags.ts";
import { type MachineSpec, type PfnRange, type ZoneType, findPfnRange } from "./machine/spec.ts";
import { MachineError } from "./machine/layout.ts";
import { type LogLine, Printk } from "./kernel/printk.ts";
import { Compound } from "./mm/compound.ts";
import { Faults } from "./mm/fault_inject.ts";
import { FrameStore } from "./mm/frames.ts";
import { BootmemSections } from "./mm/bootmem_info.ts";
import { Memblock, type ReservedRange } from "./mm/memblock.ts";
import { Memmap } from "./mm/memmap.ts";
import { BuddyLru } from "./mm/buddy_lru.ts";
import { LruWords } from "./mm/list.ts";
import { TOUCH_MARKS, TOUCH_NEXT, TOUCH_PREV } from "./mm/buddy_batch.ts";
import {
  type FreeHeadFinal,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  PageAllocator,
} from "./mm/page_alloc.ts";
import { type Design, DESIGN_FACTS, usesMaskEncoding } from "./mm/hvo_designs.ts";
import { kstrtobool, splitCmdline } from "./mm/hugetlb_cmdline.ts";
import { type BadPageRatelimit, newBadPageRatelimit } from "./mm/page_alloc.ts";
import { KernelPageTables } from "./mm/pgtable.ts";
import { FastPaths } from "./mm/fast_paths.ts";
import {
  type Section,
  SparseBuffer,
  type VmemmapGeometry,
  type VmemmapPopulateContext,
  presentSections,
  vmemmapGeometry,
  emptyPmdTableCache,
  vmemmapPopulate,
} from "./mm/sparse_vmemmap.ts";
import { pow2 } from "./include/pow2.ts";
import type { Mutation } from "./kernel/mutations.ts";
import { lastAtOrBelow } from "./include/bsearch.ts";

export { type Design, DESIGNS } from "./mm/hvo_designs.ts";

/**
 * What differs between designs at the level of struct pages (the rest: hugetlb_vmemmap.ts):
 * compound_info_has_mask() from the design's facts, the struct page size and the arch.
 */
export function tailEncodingFor(
  design: Design,
  structPageShift: number | null,
  archHvo: boolean,
): TailEncoding {
  return usesMaskEncoding(design, { structPagePow2: structPageShift !== null, archHvo })
    ? "mask"
    : "pointer";
}

export type { LogLine } from "./kernel/printk.ts";

/** add_taint() flags (include/linux/panic.h): the bit numbers of /proc/sys/kernel/tainted. */
export const TAINT_BAD_PAGE = 5;
export const TAINT_WARN = 9;

/** Boot-time hooks a subsystem registers (hugetlb, hugetlb_vmemmap). Called in this order. */
export interface BootHooks {
  /** setup_arch()/mm_core_init_early(): memblock is up, sparse_init has not run (bootmem huge pages). */
  beforeSparseInit?(k: Kernel): void;
  /** Inside sparse_init(): return true when the hook populated (or must skip) this section. */
  populateSection?(k: Kernel, section: Section): boolean;
  /** free_area_init(): sparse_init() is done, zones exist, memblock still allocates. */
  afterSparseInit?(k: Kernel): void;
  /** After memblock_free_all(): the buddy allocator works (hugetlb_init and its initcalls). */
  afterBuddy?(k: Kernel): void;
  /** late_initcall()s. */
  late?(k: Kernel): void;
}

export interface BootOptions {
  design: Design;
  faults?: Faults;
  hooks?: BootHooks[];
  flagsLayout?: PageFlagsLayout;
  /** Deliberate bugs for the checker to catch (`hvo check --mutation NAME`); none by default. */
  mutations?: Iterable<Mutation>;
  /**
   * CONFIG_DEBUG_VM: the VM_WARN_ON / VM_BUG_ON checks (src/mm/debug_vm.ts) and page checks on
   * every free. Default: the design's kernel config (off, as in the reference kernels).
   */
  debugVm?: boolean;
  /** The fast paths' switches (mm/fast_paths.ts) from the start of boot; default all on. */
  paths?: FastPaths;
}

// The deliberate bugs live in a module of their own, which the CLI's help reads alone.
export { MUTATIONS, type Mutation } from "./kernel/mutations.ts";

/**
 * mem_debugging_and_hardening_init(): whether check_pages_enabled is on. init_on_alloc= and
 * init_on_free= (defaults from CONFIG_INIT_ON_*_DEFAULT_ON) and check_pages= turn it on;
 * CONFIG_DEBUG_VM (which keeps it on always), page_poison= and debug_pagealloc= are not
 * modelled (off in both reference kernels' configs: Debian 7.2.13 and the live 6.18).
 * The last occurrence of a parameter wins, as early_param() handlers overwrite.
 */
export function checkPagesEnabled(
  cmdline: string,
  config: { initOnAllocDefaultOn: boolean; initOnFreeDefaultOn?: boolean },
): boolean {
  let initOnAlloc = config.initOnAllocDefaultOn;
  let initOnFree = config.initOnFreeDefaultOn ?? false;
  let checkPages = false;
  for (const p of splitCmdline(cmdline)) {
    const b = kstrtobool(p.value);
    if (b === null) continue;
    if (p.name === "init_on_alloc") initOnAlloc = b;
    else if (p.name === "init_on_free") initOnFree = b;
    else if (p.name === "check_pages") checkPages = b;
  }
  return checkPages || initOnAlloc || initOnFree;
}

/** page_type of a free block's head: PGTY_buddy in the top byte (include/linux/page-flags.h). */
const BUDDY_PAGE_TYPE = (PGTY_buddy << 24) >>> 0;
/** sizeof(struct pglist_data) in the VM's kernel (7.2.13 amd64, BTF). */
const PGLIST_DATA_SIZE = 176256;
/** What the guest's setup_arch() allocated top-down on a node before NODE_DATA (8 KiB). */
const NODE_DATA_BELOW_TOP = 8192;
/** x86_64's PAGE_OFFSET without KASLR: the direct map (a stand-in on other arches). */
const DIRECT_MAP_BASE = 0xffff888000000000n;
/** get_page_bootmem()'s type of a section's memmap page, as 7.2's struct pages read it. */
const BOOTMEM_SECTION_INFO = 1;

export class Kernel {
  readonly spec: MachineSpec;
  readonly design: Design;
  readonly layout: StructPageLayout;
  readonly flagsLayout: PageFlagsLayout;
  readonly geometry: VmemmapGeometry;
  readonly pageSize: number;
  readonly vmemmapBase: bigint;
  readonly frames: FrameStore;
  readonly memblock: Memblock;
  readonly buddy: PageAllocator;
  readonly faults: Faults;
  pgt!: KernelPageTables;
  memmap!: Memmap;
  /** The lru words of struct pages (mm/list.ts): free-list links. */
  lruWords!: LruWords;
  compound!: Compound;
  readonly sections: Section[];
  /** num_poisoned_pages: pages memory_failure() marked (meminfo's HardwareCorrupted). */
  numPoisonedPages = 0;
  /** /proc/vmstat nr_memmap_pages and nr_memmap_boot_pages. */
  readonly vmstat = { nrMemmapPages: 0, nrMemmapBootPages: 0 };
  /** The kernel log (printk's ring): boot messages, warnings, bad page reports. */
  readonly printk = new Printk();
  /** tainted_mask: TAINT_* bits set by add_taint() (a bad page, a WARN). */
  tainted = 0;
  /**
   * The static key check_pages_enabled (mm_init.c mem_debugging_and_hardening_init()): the
   * free path's page checks (page_alloc.ts freePagesCheck()). Set at boot from the command
   * line and the design's kernel config.
   */
  readonly checkPages: boolean;
  /** CONFIG_DEBUG_VM (BootOptions.debugVm): the kernel's VM_WARN_ON / VM_BUG_ON checks. */
  readonly debugVm: boolean;
  /** bad_page()'s rate-limit state (its function statics). */
  readonly badPageRatelimit: BadPageRatelimit = newBadPageRatelimit();
  /** current->comm of the task doing what the model does: hvoexec, as on the live and VM runs. */
  comm = "hvoexec";
  /** The kernel log as {level, text} lines, oldest first (a copy: log with printk). */
  get log(): readonly LogLine[] {
    return this.printk.records().map((r) => ({ level: r.level, text: r.text }));
  }
  /** system_state: false while booting. */
  booted = false;
  /** memblock.reserved as it was when memblock_free_all() ran: what memmap_init() marked. */
  private bootReserved: ReservedRange[] = [];
  /** Subsystem state, by subsystem name (hugetlb, hugetlb_vmemmap): set by their boot hooks. */
  readonly sub: Record<string, unknown> = {};
  private readonly presentRanges: PfnRange[];
  private readonly vmemmapBaseLo: number;
  private readonly vmemmapBaseHi: number;
  private readonly zoneCache: Array<PfnRange & { nid: number; zone: ZoneType }>;
  readonly hooks: BootHooks[];
  readonly mutations: ReadonlySet<Mutation>;
  /**
   * The model's fast paths (mm/fast_paths.ts), shared by every component that has one:
   * `paths.setAll(false)` runs the model on the plain forms alone.
   */
  readonly paths: FastPaths;

  constructor(spec: MachineSpec, opts: BootOptions) {
    this.spec = spec;
    this.design = opts.design;
    this.layout = structPageLayout(spec.structPageSize);
    this.flagsLayout =
      opts.flagsLayout ??
      (spec.arch.nodesShift !== undefined
        ? { ...DEFAULT_PAGE_FLAGS_LAYOUT, nodesShift: spec.arch.nodesShift }
        : DEFAULT_PAGE_FLAGS_LAYOUT);
    // MAX_NUMNODES = 1 << NODES_SHIFT: a node id must fit page->flags' node field.
    if (spec.nodes.length > pow2(this.flagsLayout.nodesShift))
      throw new MachineError(
        `${spec.nodes.length} nodes, but ${spec.arch.preset}'s kernel has CONFIG_NODES_SHIFT=${this.flagsLayout.nodesShift}: at most ${pow2(this.flagsLayout.nodesShift)} (MAX_NUMNODES)`,
      );
    this.geometry = vmemmapGeometry(spec.arch, spec.structPageSize);
    this.pageSize = this.geometry.pageSize;
    this.vmemmapBase = spec.arch.vmemmapBase;
    this.faults = opts.faults ?? new Faults();
    this.hooks = opts.hooks ?? [];
    this.mutations = new Set(opts.mutations ?? []);
    this.paths = opts.paths ?? new FastPaths();
    this.presentRanges = spec.nodes
      .flatMap((n) => n.ranges)
      .sort((a, b) => a.startPfn - b.startPfn);
    this.vmemmapBaseLo = Number(this.vmemmapBase & 0xffffffffn);
    this.vmemmapBaseHi = Number(this.vmemmapBase >> 32n);
    this.zoneCache = spec.nodes
      .flatMap((n) =>
        n.zones.map((z) => ({ startPfn: z.startPfn, endPfn: z.endPfn, nid: n.nid, zone: z.type })),
      )
      .sort((a, b) => a.startPfn - b.startPfn);
    this.frames = new FrameStore(
      this.pageSize,
      spec.structPageSize,
      (pfn, out, v, off, asFree) => this.initStructPage(pfn, out, v, off, asFree),
      {
        flagsOff: PAGE_OFF.flags,
        infoOff: PAGE_OFF.compoundInfo,
        mappingOff: PAGE_OFF.mapping,
        privateOff: PAGE_OFF.private,
        refcountOff: PAGE_OFF.refcount,
        mapcountOff: PAGE_OFF.mapcount,
      },
      (first, n, out, v, off, asFree) => this.initStructPages(first, n, out, v, off, asFree),
    );
    this.frames.paths = this.paths;
    this.memblock = new Memblock(spec.nodes, pow2(spec.arch.pageShift));
    this.buddy = new PageAllocator(spec.nodes, spec.arch.maxPageOrder, this.faults);
    this.buddy.paths = this.paths;
    this.buddy.onFreeHead = (pfn, order) => this.markBuddyHead(pfn, order);
    this.buddy.onFreeHeadsCleared = (from, to, step) => this.clearBuddyHeads(from, to, step);
    this.buddy.onFreeHeadRun = (from, n, step, order) => this.markBuddyRun(from, n, step, order);
    this.buddy.onFreeHeadsOverwritten = (pfn, n) => {
      this.overwrittenPfn = pfn;
      this.overwrittenMarks = n;
      this.buddy.freeBatchInputsChanged();
    };
    this.buddy.onFreeHeadsUnstored = (pfn, n) => this.countBuddyMarks(pfn, n);
    this.buddy.onFreeHeadRunReady = () =>
      this.headWatch === null &&
      this.mutations.size === 0 &&
      (this.memmap === undefined || this.memmap.wholeStructPages);
    this.buddy.onFreeHeadTouch = (pfn) => this.memmap.translatePfn(pfn);
    this.buddy.onFreeHeadsRenderAmong = (from, to, otherFrom, otherEnd) =>
      this.rendersAmong(from, to, otherFrom, otherEnd);
    this.buddy.onFreeHeadFinal = this.storeBuddyFinal;
    // Asked when a batch opens and when headWatch or overwrittenPfn changes (they tell the buddy:
    // freeBatchInputsChanged()); the mutations and whole struct pages are fixed once booted.
    this.buddy.onFreeBatchReady = (fills) =>
      this.headWatch === null &&
      this.mutations.size === 0 &&
      this.memmap?.wholeStructPages === true &&
      this.overwrittenPfn === -1 &&
      this.pgt.tlbRoom() > fills;
    this.sections = presentSections(spec);
    this.debugVm = opts.debugVm ?? DESIGN_FACTS[this.design].config.debugVm;
    // mm_init.c: check_pages_enabled is DEFINE_STATIC_KEY_MAYBE(CONFIG_DEBUG_VM, ...): on from
    // the start with CONFIG_DEBUG_VM, whatever the command line says.
    this.checkPages =
      this.debugVm || checkPagesEnabled(spec.cmdline, DESIGN_FACTS[this.design].config);
  }

  /** The node and zone a pfn belongs to, with the zone's span (zone spans include holes). */
  pfnZone(pfn: number): (PfnRange & { nid: number; zone: ZoneType }) | null {
    // Runs of struct pages (a vmemmap page rendered, a folio's tails) ask about one zone.
    const last = this.lastZone;
    if (last !== null && pfn >= last.startPfn && pfn < last.endPfn) return last;
    const z = findPfnRange(this.zoneCache, pfn);
    if (z !== null) this.lastZone = z;
    return z;
  }
  /** The zone pfnZone() found last (zoneCache never changes after the constructor). */
  private lastZone: (PfnRange & { nid: number; zone: ZoneType }) | null = null;

  pfnToNid(pfn: number): number {
    return this.pfnZone(pfn)?.nid ?? 0;
  }

  private bootReservedAt(pfn: number): ReservedRange | null {
    // Runs of struct pages (a vmemmap page rendered) ask about one range.
    const last = this.lastReserved;
    if (last !== null && pfn >= last.startPfn && pfn < last.endPfn) return last;
    const r = findPfnRange(this.bootReserved, pfn);
    if (r !== null) this.lastReserved = r;
    return r;
  }
  /** The range bootReservedAt() found last (in bootReserved, which boot sets once). */
  private lastReserved: ReservedRange | null = null;

  private isPresent(pfn: number): boolean {
    return this.presentRangeAt(pfn) !== null;
  }

  /** The present range that holds pfn, or null in a hole. */
  private presentRangeAt(pfn: number): PfnRange | null {
    const last = this.lastPresent;
    if (last !== null && pfn >= last.startPfn && pfn < last.endPfn) return last;
    const r = findPfnRange(this.presentRanges, pfn);
    if (r !== null) this.lastPresent = r;
    return r;
  }
  /** The present range presentRangeAt() found last (presentRanges never change after boot). */
  private lastPresent: PfnRange | null = null;

  /**
   * Memory blocks offlined by mm/memory_hotplug.c (sorted, disjoint): present, with their
   * memmap, but not online - pfn_to_online_page() is NULL, the buddy does not have them.
   */
  readonly offlineRanges: PfnRange[] = [];
  private onlineCache: PfnRange[] | null = null;

  /** Whether pfn is in a memory block that was offlined (pfn_to_online_page() is NULL). */
  inOfflineBlock(pfn: number): boolean {
    return this.offlineRanges.length > 0 && findPfnRange(this.offlineRanges, pfn) !== null;
  }

  /** Present memory minus the offline blocks, sorted. */
  onlineRanges(): readonly PfnRange[] {
    if (this.onlineCache) return this.onlineCache;
    const out: PfnRange[] = [];
    for (const r of this.presentRanges) {
      let p = r.startPfn;
      for (const o of this.offlineRanges) {
        if (o.endPfn <= p || o.startPfn >= r.endPfn) continue;
        if (o.startPfn > p) out.push({ startPfn: p, endPfn: o.startPfn });
        p = Math.max(p, o.endPfn);
      }
      if (p < r.endPfn) out.push({ startPfn: p, endPfn: r.endPfn });
    }
    this.onlineCache = out;
    return out;
  }

  /**
   * memmap_init_range() of hot-plugged memory followed by __free_pages_core(): the struct pages
   * of [startPfn, endPfn) become those of free buddy pages, written through the vmemmap (whole
   * vmemmap pages as a pattern).
   */
  reinitStructPages(startPfn: number, endPfn: number): void {
    const sps = this.layout.size;
    const perPage = this.pageSize / sps;
    const buf = new Uint8Array(sps);
    const view = new DataView(buf.buffer);
    let pfn = startPfn;
    while (pfn < endPfn) {
      const voff = pfn * sps;
      if (Number.isInteger(perPage) && voff % this.pageSize === 0 && pfn + perPage <= endPfn) {
        const frame = this.memmap.writableFrame(pfn);
        if (frame >= 0) {
          this.frames.setPattern(frame, { kind: "init", voff, asFree: true });
          pfn += perPage;
          continue;
        }
      }
      buf.fill(0);
      this.initStructPage(pfn, buf, view, 0, true);
      this.memmap.writeStructPage(pfn, buf);
      pfn++;
    }
  }

  /** Marks [startPfn, endPfn) offline (true) or online again (false). */
  setOffline(startPfn: number, endPfn: number, offline: boolean): void {
    const i = this.offlineRanges.findIndex((r) => r.startPfn === startPfn);
    if (offline && i < 0) {
      this.offlineRanges.push({ startPfn, endPfn });
      this.offlineRanges.sort((a, b) => a.startPfn - b.startPfn);
    } else if (!offline && i >= 0) this.offlineRanges.splice(i, 1);
    this.onlineCache = null;
  }

  /**
   * __init_single_page() as memmap_init() and reserve_bootmem_region() leave a struct page:
   * zeroed, node and zone links, _refcount 1 and PG_reserved for memory the buddy never got
   * (memblock reservations, holes), _refcount 0 for memory freed to the buddy, _mapcount -1,
   * lru pointing to itself. Memblock-allocated HugeTLB pages are initialised by hugetlb itself
   * without PG_reserved (memblock_reserved_mark_noinit()).
   * The buddy allocator's own bookkeeping (PG_buddy, free-list links) is not written.
   */
  initStructPage(pfn: number, _out: Uint8Array, v: DataView, off: number, asFree = false): void {
    const z = this.pfnZone(pfn) ?? this.nearestZone(pfn);
    const r = asFree ? null : this.bootReservedAt(pfn);
    const reserved = !asFree && ((r !== null && r.use !== "hugetlb") || !this.isPresent(pfn));
    const links = this.linksOf(z.nid, z.zone);
    this.storeInitFields(
      v,
      off,
      reserved ? links[0] | (1 << PG.reserved) : links[0],
      links[1],
      this.vmemmapBaseLo + pfn * this.layout.size + PAGE_OFF.lruNext,
      reserved ? 1 : 0,
    );
    if (reserved) {
      if (r?.use === "vmemmap" && this.bootmemSections.size > 0) {
        const perPmd = this.geometry.pmdSize / this.pageSize;
        const sec = this.bootmemSections.get(Math.floor(pfn / perPmd) * perPmd);
        if (sec !== undefined) storeBootmemSection(v, off, sec);
      }
      return;
    }
    this.storeBuddyState(v, off, pfn);
  }

  /**
   * The fields memmap_init() gives every struct page: flags (as two 32-bit words), lru pointing
   * to itself (its address's low 32 bits plus carry given as `low`: no bigint per struct page),
   * _mapcount -1 and _refcount.
   */
  private storeInitFields(
    v: DataView,
    off: number,
    flags0: number,
    flags1: number,
    low: number,
    refcount: number,
  ): void {
    v.setUint32(off + PAGE_OFF.flags, flags0, true);
    v.setUint32(off + PAGE_OFF.flags + 4, flags1, true);
    // (>>> 0 is the remainder modulo 2^32 of these exact integers, without a float modulo.)
    const lo = low >>> 0;
    const hi = (this.vmemmapBaseHi + Math.floor(low / 2 ** 32)) >>> 0;
    v.setUint32(off + PAGE_OFF.lruNext, lo, true);
    v.setUint32(off + PAGE_OFF.lruNext + 4, hi, true);
    v.setUint32(off + PAGE_OFF.lruPrev, lo, true);
    v.setUint32(off + PAGE_OFF.lruPrev + 4, hi, true);
    v.setUint32(off + PAGE_OFF.mapcount, 0xffffffff, true);
    v.setUint32(off + PAGE_OFF.refcount, refcount, true);
  }

  /**
   * What the buddy allocator left in the struct page of a free page: on the head of a free
   * block, PG_buddy in page_type, the block's order in private and its free-list links in lru;
   * on a page whose block left the boot free list since, list_del()'s poison.
   */
  private storeBuddyState(v: DataView, off: number, pfn: number): void {
    const order = this.buddy.headOrder(pfn);
    if (order >= 0) {
      v.setUint32(off + PAGE_OFF.pageType, BUDDY_PAGE_TYPE, true);
      v.setUint32(off + PAGE_OFF.private, order, true);
      const lru = this.buddy.lru;
      const zone = lru !== null ? this.buddy.zoneOf(pfn) : null;
      if (lru !== null && zone !== null && !this.buddy.renderBatchLinks(zone, v, off, pfn, order))
        lru.renderOwn(zone, v, off, pfn, order);
    } else if (this.buddy.lru?.leftBootList(pfn)) {
      // A block memblock_free_all() put on a list and the allocator took off since: list_del()
      // left LIST_POISON1/2 (its vmemmap page was not written since, or is a folio's tails).
      LruWords.poisonInto(v, off);
    }
  }

  /**
   * initStructPage() for the n consecutive struct pages from firstPfn, struct page i at
   * off + i * struct page size: the same bytes. Where the run lies in one zone, one boot
   * reservation state and one present state, those lookups (and the node/zone links) are done
   * once; the buddy's heads and boot-list leavers are still asked per pfn. Elsewhere (a run
   * across a zone, reservation or hole boundary) it is initStructPage() per struct page.
   */
  initStructPages(
    firstPfn: number,
    n: number,
    out: Uint8Array,
    v: DataView,
    off: number,
    asFree: boolean,
  ): void {
    const sps = this.layout.size;
    const end = firstPfn + n;
    const z = this.pfnZone(firstPfn);
    let r: ReservedRange | null = null;
    let present = true;
    let uniform = z !== null && end <= z.endPfn;
    if (uniform && !asFree) {
      r = this.bootReservedAt(firstPfn);
      uniform = r !== null ? end <= r.endPfn : !startsWithin(this.bootReserved, firstPfn, end);
      if (uniform) {
        const p = this.presentRangeAt(firstPfn);
        present = p !== null;
        uniform = p !== null ? end <= p.endPfn : !startsWithin(this.presentRanges, firstPfn, end);
      }
    }
    if (!uniform || z === null) {
      for (let i = 0; i < n; i++) this.initStructPage(firstPfn + i, out, v, off + i * sps, asFree);
      return;
    }
    const reserved = !asFree && ((r !== null && r.use !== "hugetlb") || !present);
    const links = this.linksOf(z.nid, z.zone);
    const flags0 = reserved ? links[0] | (1 << PG.reserved) : links[0];
    const flags1 = links[1];
    const refcount = reserved ? 1 : 0;
    const sections = reserved && r?.use === "vmemmap" && this.bootmemSections.size > 0;
    const perPmd = this.geometry.pmdSize / this.pageSize;
    // The bootmem section of the PMD block being rendered (one lookup per block).
    let block = -1;
    let sec: number | undefined;
    // &page->lru of the first struct page; each next one is sps bytes further.
    let low = this.vmemmapBaseLo + firstPfn * sps + PAGE_OFF.lruNext;
    for (let i = 0; i < n; i++, low += sps) {
      const pfn = firstPfn + i;
      const o = off + i * sps;
      this.storeInitFields(v, o, flags0, flags1, low, refcount);
      if (!reserved) this.storeBuddyState(v, o, pfn);
      else if (sections) {
        const b = Math.floor(pfn / perPmd) * perPmd;
        if (b !== block) {
          block = b;
          sec = this.bootmemSections.get(b);
        }
        if (sec !== undefined) storeBootmemSection(v, o, sec);
      }
    }
  }

  /**
   * Whether memmap_init() left the struct pages of [first, first + n) alike but for their own
   * addresses: one zone, one boot reservation that is not HugeTLB's (so every one PG_reserved,
   * present or not), one bootmem section block. Then initStructPage() of one of them, with its
   * address-dependent lru, tells what the others hold, and what it tells holds for any run alike
   * in the same zone (pfnZone()), reservation (the one returned) and PMD block. Null otherwise.
   */
  reservedAlike(first: number, n: number): ReservedRange | null {
    const end = first + n;
    const z = this.pfnZone(first);
    if (z === null || end > z.endPfn) return null;
    const r = this.bootReservedAt(first);
    if (r === null || r.use === "hugetlb" || end > r.endPfn) return null;
    const perPmd = this.geometry.pmdSize / this.pageSize;
    return Math.floor(first / perPmd) === Math.floor((end - 1) / perPmd) ? r : null;
  }

  /**
   * While set, the pfns whose struct pages the buddy's marks (markBuddyHead(), clearBuddyHeads())
   * reach are noted: headWatchMarked[i] becomes true when headWatch[i] is marked or unmarked,
   * whether or not its vmemmap page is stored into (hugetlb_vmemmap.ts clearReservedRunDown()
   * holds pages as a pattern whose every struct page but these it knows will be marked).
   */
  get headWatch(): number[] | null {
    return this.watched;
  }
  set headWatch(w: number[] | null) {
    this.watched = w;
    // A watched head must be marked as its free goes, not at a batch's end.
    this.buddy.freeBatchInputsChanged();
  }
  private watched: number[] | null = null;
  readonly headWatchMarked: boolean[] = [];
  private noteWatched(from: number, to: number, step: number): void {
    const w = this.headWatch as number[];
    for (let i = 0; i < w.length; i++) {
      const q = w[i];
      if (q >= from && q < to && (q - from) % step === 0) this.headWatchMarked[i] = true;
    }
  }

  /**
   * The buddy's marks on the head of a free block (__SetPageBuddy(), set_buddy_order()) or their
   * removal (__ClearPageBuddy(), set_page_private(page, 0)), written into the struct page unless
   * its vmemmap page is still generated (initStructPage() adds them on each read).
   */
  private markBuddyHead(pfn: number, order: number): void {
    if (this.memmap === undefined) return;
    if (this.headWatch !== null) this.noteWatched(pfn, pfn + 1, 1);
    if (this.memmap.wholeStructPages) {
      // The hot path (every buddy merge and split): one translation, stores in place.
      const v = this.memmap.structPageView(pfn, true, 1);
      if (pfn === this.overwrittenPfn) {
        // The marks this one overwrites (onFreeHeadsOverwritten()), counted as they stored:
        // through the same view, so where this one stores.
        if (v !== null)
          this.memmap.writes += this.overwrittenMarks * (this.buddy.lru !== null ? 4 : 2);
        this.overwrittenPfn = -1;
        this.buddy.freeBatchInputsChanged();
      }
      if (v !== null) this.storeBuddyMarks(v, this.memmap.spanOff, pfn, order);
      return;
    }
    const frame = this.memmap.writableFrame(pfn);
    if (frame < 0 || this.frames.patternOf(frame)?.kind === "init") return;
    this.memmap.writeU32(pfn, PAGE_OFF.pageType, order >= 0 ? BUDDY_PAGE_TYPE : 0xffffffff);
    this.memmap.writeU64Parts(pfn, PAGE_OFF.private, Math.max(order, 0), 0);
    if (order >= 0) this.buddy.lru?.storeNode(pfn, null, 0);
    else this.buddy.lru?.words.poisonAt(pfn);
  }

  /**
   * n markBuddyHead(pfn, ...) calls whose stores the caller's next stores into the struct page
   * overwrite before anyone reads it (PageAllocator.allocPagesPair()), wholeStructPages only:
   * translated as the first would be (the TLB filled, the page made writable unless it is still
   * generated) and counted as they store, not made.
   */
  private countBuddyMarks(pfn: number, n: number): void {
    const m = this.memmap;
    if (m === undefined) return;
    if (m.structPageView(pfn, true, 1) !== null) m.writes += n * (this.buddy.lru !== null ? 4 : 2);
  }

  /** The head whose next markBuddyHead() counts overwrittenMarks marks more (-1: none). */
  private overwrittenPfn = -1;
  private overwrittenMarks = 0;

  /**
   * markBuddyHead()'s stores into the struct page of pfn at v[off]: PG_buddy and the order, its
   * free-list links (mm/buddy_lru.ts); or, with order -1, their removal and what list_del()
   * left: LIST_POISON1/2 (mm/list.ts).
   */
  private storeBuddyMarks(v: DataView, off: number, pfn: number, order: number): void {
    v.setUint32(off + PAGE_OFF.pageType, order >= 0 ? BUDDY_PAGE_TYPE : 0xffffffff, true);
    v.setUint32(off + PAGE_OFF.private, Math.max(order, 0), true);
    v.setUint32(off + PAGE_OFF.private + 4, 0, true);
    this.memmap.writes += 2;
    const lru = this.buddy.lru;
    if (lru !== null) {
      if (order >= 0) lru.storeNode(pfn, v, off);
      else LruWords.poisonInto(v, off);
      this.memmap.writes += 2;
    }
  }

  /**
   * The struct page of pfn as a batch of frees leaves it (page_alloc.ts commitFreeBatch()), in
   * place of the stores markBuddyHead() and the lru words' list changes made one by one: the
   * words `mask` names (buddy_batch.ts TOUCH_*) with their final values, `writes` stores
   * counted, where the vmemmap page takes stores (structPageView(), one translation). Returns
   * whether it did.
   */
  private readonly storeBuddyFinal: FreeHeadFinal = (
    pfn,
    order,
    mask,
    writes,
    next,
    prev,
    head,
  ) => {
    const m = this.memmap;
    const v = m.structPageView(pfn, true, 1);
    if (v === null) return false;
    m.writes += writes;
    const off = m.spanOff;
    if ((mask & TOUCH_MARKS) !== 0) {
      // storeBuddyMarks()'s words: the marks of a free head with its links, or cleared and
      // list_del()'s poison.
      v.setUint32(off + PAGE_OFF.pageType, order >= 0 ? BUDDY_PAGE_TYPE : 0xffffffff, true);
      v.setUint32(off + PAGE_OFF.private, Math.max(order, 0), true);
      v.setUint32(off + PAGE_OFF.private + 4, 0, true);
      if (order >= 0) this.lruWords.render(v, off, next, prev, head);
      else LruWords.poisonInto(v, off);
      return true;
    }
    if ((mask & TOUCH_NEXT) !== 0) this.lruWords.renderNext(v, off, next, head);
    if ((mask & TOUCH_PREV) !== 0) this.lruWords.renderPrev(v, off, prev, head);
    return true;
  };

  /**
   * markBuddyHead(q, order) for q = from, from + step, ... (n heads), the blocks of a run the
   * buddy just linked (BuddyLru.linkedRun()), wholeStructPages only: each head's marks and its
   * final list links, one translation per head.
   */
  private markBuddyRun(from: number, n: number, step: number, order: number): void {
    const m = this.memmap;
    if (m === undefined) return;
    const lru = this.buddy.lru;
    for (let i = 0, q = from; i < n; i++, q += step) {
      const v = m.structPageView(q, true, 1);
      if (v === null) continue;
      const off = m.spanOff;
      v.setUint32(off + PAGE_OFF.pageType, BUDDY_PAGE_TYPE, true);
      v.setUint32(off + PAGE_OFF.private, order, true);
      v.setUint32(off + PAGE_OFF.private + 4, 0, true);
      m.writes += 2;
      if (lru !== null) m.writes += lru.storeRunNode(q, v, off);
    }
  }

  /**
   * Whether marking the heads among [from, to) may render a vmemmap page that also holds struct
   * pages of [otherFrom, otherEnd): a page of both, mapped writable, whose frame a store would
   * make its own by rendering it (FrameStore.rendersOnStore()). Asked of the translations the
   * stores would use, with nothing filled (KernelPageTables.peekWord()).
   */
  private rendersAmong(from: number, to: number, otherFrom: number, otherEnd: number): boolean {
    const m = this.memmap;
    if (m === undefined) return false;
    const sps = this.layout.size;
    const ps = this.pageSize;
    // The pages both ranges' struct pages reach (from the first byte of each range's first
    // struct page to the last byte of its last).
    const lo = Math.max(Math.floor((from * sps) / ps), Math.floor((otherFrom * sps) / ps));
    const hi = Math.min(Math.floor((to * sps - 1) / ps), Math.floor((otherEnd * sps - 1) / ps));
    for (let vpn = lo; vpn <= hi; vpn++) {
      // A translation to a writable frame: frame + 1.
      const w = m.pgt.peekWord(vpn);
      if (w > 0 && this.frames.rendersOnStore(w - 1)) return true;
    }
    return false;
  }

  /**
   * markBuddyHead(q, -1) for q = from, from + step, ... below `to`. The struct pages of one
   * vmemmap page share its translation: when that page is still generated (or not mapped
   * writable) none of them is written, so one probe answers for all of them; otherwise each is
   * marked in turn.
   */
  private clearBuddyHeads(from: number, to: number, step: number): void {
    const m = this.memmap;
    if (m === undefined) return;
    if (this.headWatch !== null) this.noteWatched(from, to, step);
    if (!m.wholeStructPages) {
      for (let q = from; q < to; q += step) this.markBuddyHead(q, -1);
      return;
    }
    const sps = this.layout.size;
    const per = this.pageSize / sps;
    if (this.paths.headsApart && step > per && (step * sps) % this.pageSize === 0) {
      this.clearBuddyHeadsApart(from, to, step);
      return;
    }
    let q = from;
    // With every struct page of two vmemmap pages or more cleared, the pages' translations in
    // one pass (clearRangeWords()): the same lookups and fills in the same order as the loop's
    // translateFrame() of each, as nothing in the loop changes a page table.
    const firstVpn = Math.floor(from / per);
    const words =
      step === 1 && this.paths.keptCleared && this.paths.clearByRange && to - from >= 2 * per
        ? this.clearRangeWords(firstVpn, Math.ceil(to / per) - firstVpn)
        : null;
    while (q < to) {
      const pageEnd = Math.min(to, (Math.floor(q / per) + 1) * per);
      if (step === 1 && pageEnd - q === per && this.paths.keptCleared) {
        // Every struct page of the vmemmap page: structPageView()'s translation and tests,
        // then the kept first struct page's frame settled rather than made its own.
        let frame: number;
        let writable: boolean;
        if (words !== null) {
          const x = words[q / per - firstVpn];
          frame = x > 0 ? x - 1 : x < 0 ? -x - 1 : -1;
          writable = x > 0;
        } else {
          frame = m.pgt.translateFrame(q / per);
          writable = m.pgt.tWritable;
        }
        if (frame < 0 || !writable || this.frames.readsAsInit(frame)) {
          q = pageEnd;
          continue;
        }
        if (this.clearKeptFirst(frame, per)) {
          q = pageEnd;
          continue;
        }
      }
      const v = m.structPageView(q, true);
      if (v === null) {
        q += Math.ceil((pageEnd - q) / step) * step;
        continue;
      }
      // markBuddyHead(q, -1)'s stores, struct page after struct page, on the page's bytes.
      // The loop counts in small integers: a pfn above 2^31 stepped in a loop whose value is
      // also passed to calls is kept boxed, one heap number per struct page (order -1 reads no
      // pfn, so 0 is passed).
      const n = Math.ceil((pageEnd - q) / step);
      const offStep = step * sps;
      let off = m.spanOff;
      for (let j = 0; j < n; j++, off += offStep) this.storeBuddyMarks(v, off, 0, -1);
      q += n * step;
    }
  }

  /** clearBuddyHeads()'s translations of a range of vmemmap pages, reused. */
  private clearWords = new Float64Array(0);

  /** translateRangeWords() of vmemmap pages [vpn, vpn + n), into clearWords. */
  private clearRangeWords(vpn: number, n: number): Float64Array {
    if (this.clearWords.length < n) this.clearWords = new Float64Array(n);
    return this.memmap.pgt.translateRangeWords(vpn, n, this.clearWords);
  }

  /** clearKeptFirst()'s struct pages: the kept one (cleared there) and the freed pattern's. */
  private keptSlot = new Uint8Array(0);
  private keptSlotView = new DataView(new ArrayBuffer(0));
  private freedSlot = new Uint8Array(0);

  /**
   * clearBuddyHeads() of every struct page of the vmemmap page `frame` (per of them), where it
   * is held as the freed pattern with its first struct page kept (hugetlb_vmemmap.ts
   * keepUnmarked()) and that struct page, its marks cleared, reads as the freed pattern's: the
   * frame takes the freed pattern, nothing stored, the stores counted as made, and true is
   * returned. The other struct pages read as the freed pattern's under either pattern, and
   * clearing the marks of pages the buddy no longer lists leaves them so (the stores the
   * plain form makes into a rendering change nothing that the pattern would not). False:
   * nothing done, the stores are to be made.
   */
  private clearKeptFirst(frame: number, per: number): boolean {
    const sps = this.layout.size;
    if (this.keptSlot.length !== sps) {
      this.keptSlot = new Uint8Array(sps);
      this.keptSlotView = new DataView(this.keptSlot.buffer);
      this.freedSlot = new Uint8Array(sps);
    }
    const kept = this.keptSlot;
    const freed = this.freedSlot;
    const voff = this.frames.keptFirstPages(frame, kept, freed);
    if (voff < 0) return false;
    const m = this.memmap;
    // markBuddyHead(q, -1)'s stores on the kept struct page, counted apart.
    const writes = m.writes;
    this.storeBuddyMarks(this.keptSlotView, 0, 0, -1);
    const each = m.writes - writes;
    m.writes = writes;
    for (let i = 0; i < sps; i++) if (kept[i] !== freed[i]) return false;
    this.frames.setPattern(frame, { kind: "init", voff, asFree: true, unlisted: true });
    m.writes += each * per;
    return true;
  }

  /** clearBuddyHeadsApart()'s translations, reused. */
  private apartWords = new Float64Array(0);

  /**
   * clearBuddyHeads() where each head's struct page is alone in its vmemmap page, the pages a
   * constant number apart: markBuddyHead(q, -1) of each, ascending, with the same TLB fills in
   * the same order (KernelPageTables.translateStrideWords()), then each head's stores.
   */
  private clearBuddyHeadsApart(from: number, to: number, step: number): void {
    const m = this.memmap;
    const sps = this.layout.size;
    const n = Math.ceil((to - from) / step);
    const voff = from * sps;
    const vpn = Math.floor(voff / this.pageSize);
    const off = voff - vpn * this.pageSize;
    if (this.apartWords.length < n) this.apartWords = new Float64Array(n);
    const strideV = (step * sps) / this.pageSize;
    const w = m.pgt.translateStrideWords(vpn, n, strideV, this.apartWords);
    const frames = m.frames;
    // Frames [initLo, initHi) read as memmap_init() left them (readsAsInit()): the heads of one
    // huge leaf sit a constant number of frames apart in one boot range, one lookup for all.
    let initLo = 0;
    let initHi = 0;
    for (let k = 0; k < n; k++) {
      // Unmapped (0) or mapped read-only (negative): structPageView() gives none.
      const x = w[k];
      if (x <= 0) continue;
      const frame = x - 1;
      if (frame >= initLo && frame < initHi) continue;
      // As far as the last head's frame would lie were the rest mapped on from this one.
      const run = frames.initRun(frame, (n - 1 - k) * strideV + 1);
      if (run > 0) {
        initLo = frame;
        initHi = frame + run;
        continue;
      }
      const v = frames.writableViewAt(frame, off, off + sps);
      this.storeBuddyMarks(v, off, 0, -1);
    }
  }

  /** NODE_DATA(nid)'s physical address, where boot placed it (a `nodeData` boot allocation). */
  private readonly nodeDataPhys = new Map<number, number>();

  /**
   * NODE_DATA(nid)'s kernel virtual address, in x86_64's direct map (PAGE_OFFSET
   * 0xffff888000000000 without KASLR). The kernel memblock-allocates struct pglist_data (176256
   * bytes in the VM's 7.2.13) in setup_arch(), top-down on its node: where the machine lists it
   * among its boot allocations (the QEMU guests), memblock placed it (0xffff8881bffd2f80 on the
   * 6 GiB one-node guest and node 1 of the two-node one; node 0 of that one sits below the initrd,
   * 0xffff8880bfc09f80). Elsewhere it is a stand-in with the one-node guest's rule, 8 KiB (two
   * earlier top-down pages) plus the structure below the node's end, 64-byte aligned; the free
   * lists' heads are at their true offsets from it (mm/buddy_lru.ts, docs/struct-page-lru.md).
   */
  nodeDataVaddr(nid: number): bigint {
    // Where the machine lists NODE_DATA among its boot allocations, memblock placed it.
    const placed = this.nodeDataPhys.get(nid);
    if (placed !== undefined) return DIRECT_MAP_BASE + BigInt(placed);
    const node = this.spec.nodes.find((n) => n.nid === nid);
    const endPfn = node ? Math.max(...node.ranges.map((r) => r.endPfn)) : 0;
    const top = endPfn * this.pageSize - NODE_DATA_BELOW_TOP;
    const phys = Math.floor((top - PGLIST_DATA_SIZE) / 64) * 64;
    return DIRECT_MAP_BASE + BigInt(Math.max(phys, 0));
  }

  private readonly linksCache = new Map<string, [number, number]>();
  /** set_page_links() bits as 32-bit halves, per (node, zone). */
  /** The (node, zone) linksOf() answered last, and its answer (runs of struct pages share it). */
  private linksNid = -1;
  private linksZone: ZoneType | null = null;
  private linksLast: [number, number] = [0, 0];
  private linksOf(nid: number, zone: ZoneType): [number, number] {
    if (nid === this.linksNid && zone === this.linksZone) return this.linksLast;
    const key = `${nid}:${zone}`;
    let l = this.linksCache.get(key);
    if (!l) {
      const w = pageLinks(nid, zone, this.flagsLayout);
      l = [Number(w & 0xffffffffn), Number(w >> 32n)];
      this.linksCache.set(key, l);
    }
    this.linksNid = nid;
    this.linksZone = zone;
    this.linksLast = l;
    return l;
  }

  private nearestZone(pfn: number): { nid: number; zone: ZoneType } {
    let best = this.zoneCache[0];
    for (const z of this.zoneCache) if (z.startPfn <= pfn) best = z;
    return best;
  }

  /** memmap_pages_add() */
  memmapPagesAdd(delta: number): void {
    this.vmstat.nrMemmapPages += delta;
  }

  /** memmap_boot_pages_add() */
  memmapBootPagesAdd(delta: number): void {
    this.vmstat.nrMemmapBootPages += delta;
  }

  /**
   * What cond_resched() runs: set by the host (the CLI's progress line and memory guard), null
   * otherwise. The kernel lets other tasks run there; the model has none. A hook that throws
   * ends the operation half-way, and the model is not used again.
   */
  resched: (() => void) | null = null;

  /**
   * cond_resched(): a point in a long loop (one per huge page in the pool's loops; the vmemmap
   * batches' GFP_KERNEL allocations, might_sleep(), are such points too).
   */
  condResched(): void {
    if (this.resched !== null) this.resched();
  }

  warn(text: string): void {
    this.printk.printk("warn", text);
  }

  info(text: string): void {
    this.printk.printk("info", text);
  }

  /**
   * WARN_ON()'s report as far as a comparison reads it: the "WARNING: CPU: 0 PID: 1 at FILE:LINE
   * FUNC+0x0/0x0" headline (the model has no CPUs, pids, line numbers or code offsets; the
   * comparison of headlines leaves those out), a line of our own that says what was wrong,
   * and TAINT_WARN. `file` is the kernel's source file, `func` the function that warned.
   */
  warnOn(file: string, func: string, detail: string): void {
    this.printk.printk("warn", `WARNING: CPU: 0 PID: 1 at ${file}:0 ${func}+0x0/0x0`);
    this.printk.printk("warn", detail);
    this.addTaint(TAINT_WARN);
  }

  /** add_taint() */
  addTaint(flag: number): void {
    this.tainted |= 1 << flag;
  }

  /** A zeroed page-table page at run time (pte_alloc_one_kernel()); null on failure. */
  allocPageTablePage(site: string, nid = 0): number | null {
    const pfn = this.buddy.allocPagesNode(nid, GFP_KERNEL, 0, site, "pagetable");
    if (pfn !== null) this.frames.zeroFrame(pfn);
    return pfn;
  }

  populateContext(): VmemmapPopulateContext {
    return {
      arch: this.spec.arch,
      geometry: this.geometry,
      frames: this.frames,
      pgt: this.pgt,
      memblock: this.memblock,
      vmemmapBase: this.vmemmapBase,
      allocTablePage: (nid) => {
        const pfn = this.memblock.alloc(1, 1, nid, "pagetable");
        this.frames.zeroFrame(pfn);
        return pfn;
      },
    };
  }

  /** The boot sequence. */
  boot(): this {
    const { spec } = this;
    // setup_arch(): the kernel image, where the machine says what of it stays reserved.
    for (const r of spec.reservedAtBoot ?? [])
      this.memblock.reserve(r.startPfn, r.endPfn, "kernel", this.pfnToNid(r.startPfn));
    // early_reserve_initrd(): the initramfs where the boot loader put it, before any allocation.
    const initrd = spec.initrd;
    if (initrd)
      this.memblock.reserve(
        initrd.startPfn,
        initrd.endPfn,
        "kernel",
        this.pfnToNid(initrd.startPfn),
      );
    // The kernel's own boot allocations, where the machine lists them (memblock.ts allocBytes()).
    for (const a of spec.bootAllocations ?? []) {
      const addr = this.memblock.allocBytes(a.bytes, a.align, a.nid, "kernel");
      if (a.nodeData) this.nodeDataPhys.set(a.nid, addr);
    }
    // The kernel's top-level page table lives in its image (swapper_pg_dir): a reserved page,
    // taken from memblock where the machine does not say which.
    let root: number;
    if (spec.rootPageTablePfn === undefined) root = this.memblock.alloc(1, 1, 0, "pagetable");
    else {
      root = spec.rootPageTablePfn;
      this.memblock.unreserveRange(root, root + 1);
      this.memblock.reserve(root, root + 1, "pagetable", this.pfnToNid(root));
    }
    this.frames.zeroFrame(root);
    this.pgt = new KernelPageTables(spec.arch, this.frames, root, this.vmemmapBase);
    this.pgt.paths = this.paths;
    this.memmap = new Memmap(
      this.frames,
      this.pgt,
      this.vmemmapBase,
      spec.structPageSize,
      spec.arch.pageShift,
    );
    this.memmap.paths = this.paths;
    this.lruWords = new LruWords(this.memmap, this.frames, this.vmemmapBase, spec.structPageSize);
    this.buddy.lru = new BuddyLru(this.lruWords, spec.arch.maxPageOrder, (nid) =>
      this.nodeDataVaddr(nid),
    );
    // markBuddyHead() stores a newly linked head's lru with its buddy marks.
    this.buddy.lru.nodeWithMarks = true;
    this.compound = new Compound(this.memmap, this.layout, {
      encoding: tailEncodingFor(this.design, this.layout.shift, spec.arch.optimizeHugetlbVmemmap),
      fakeHeadFixup: () => this.fakeHeadKey > 0 && !this.mutations.has("no-fake-head-fixup"),
      tailInfoBit1: () => this.mutations.has("tail-info-bit1"),
    });
    this.compound.paths = this.paths;

    for (const h of this.hooks) h.beforeSparseInit?.(this);
    this.checkMemmapAlignment();
    this.sparseInit();
    for (const h of this.hooks) h.afterSparseInit?.(this);

    // free_initrd_mem() (populate_rootfs(), an initcall): the kernel frees the initramfs after
    // memblock_free_all() as order-0 pages (free_reserved_area(): PG_reserved cleared, the page
    // freed, managed_pages and MemTotal grow). The pages end free and merged with their free
    // neighbours as when memblock_free_all() hands them over, which is what the model does: only
    // their order on the free lists may differ (docs/vm.md).
    if (initrd) this.memblock.unreserveRange(initrd.startPfn, initrd.endPfn);
    // mm_core_init(): memblock_free_all(); from here on memmap_init()'s view is fixed.
    this.bootReserved = this.memblock.reserved.map((r) => ({ ...r }));
    this.lastReserved = null;
    for (const r of this.memblock.freeRanges()) this.buddy.freeBootRange(r.startPfn, r.endPfn);
    this.buddy.setupWatermarks(this.pageSize);
    this.takeOtherUsedPages();
    this.booted = true;

    for (const h of this.hooks) h.afterBuddy?.(this);
    for (const h of this.hooks) h.late?.(this);
    return this;
  }

  /**
   * hugetlb_optimize_vmemmap_key (legacy): a count of optimised folios; compound_head() looks
   * for fake heads only while it is non-zero. Always 0 in seed and mainline, which have no key.
   */
  fakeHeadKey = 0;

  /** The last inode number handed out (fs/inode.c get_next_ino()): per kernel, from 1. */
  private lastIno = 0;
  /** anon_vma objects made so far (mm/rmap.c anon_vma_alloc()): per kernel. */
  private anonVmas = 0;

  /** get_next_ino(): the next inode number of this kernel (1, 2, ...). */
  getNextIno(): number {
    return ++this.lastIno;
  }

  /**
   * anon_vma_alloc(): a made-up but stable address for the next anon_vma of this kernel (what
   * folio->mapping of an anonymous folio points at, with PAGE_MAPPING_ANON added by the caller).
   */
  anonVmaAlloc(): bigint {
    this.anonVmas++;
    return 0xffff888200000000n + BigInt(this.anonVmas) * 0x100n;
  }

  /**
   * sparse_init()'s check (series v3 08/15 "Check memmap alignment for compound_info_has_mask()",
   * VM_WARN_ON_ONCE in v7): `tail & mask` finds the head only when pfn_to_page(0) is aligned to
   * MAX_FOLIO_VMEMMAP_ALIGN. The kernel only warns; so does the model, and compound_head() then
   * gives what the misaligned arithmetic gives.
   */
  private checkMemmapAlignment(): void {
    // A VM_WARN_ON_ONCE() in sparse_init(): compiled out without CONFIG_DEBUG_VM.
    if (!this.debugVm) return;
    if (this.compound.config.encoding !== "mask") return;
    const align = maxFolioVmemmapAlign(this.spec.arch.pageShift, this.layout.size);
    if (this.vmemmapBase % align !== 0n) {
      this.warn(
        `WARNING: mm/sparse.c: memmap at 0x${this.vmemmapBase.toString(16)} is not aligned to ` +
          `MAX_FOLIO_VMEMMAP_ALIGN (0x${align.toString(16)}): compound_head() of tail pages will be wrong`,
      );
    }
  }

  /** sparse_init(): the memmap of every present section, from one buffer per node (or none). */
  private sparseInit(): void {
    const g = this.geometry;
    const ctx = this.populateContext();
    const sectionMapPages = Math.ceil(g.sectionMemmapBytes / g.pmdSize) * (g.pmdSize / g.pageSize);
    const byNode = new Map<number, Section[]>();
    for (const s of this.sections) {
      const list = byNode.get(s.nid) ?? [];
      list.push(s);
      byNode.set(s.nid, list);
    }
    const sparseBuffer = DESIGN_FACTS[this.design].sparseBuffer;
    const tables = emptyPmdTableCache();
    const perPmd = g.pmdSize / g.pageSize;
    const hooks = this.hooks.filter((h) => h.populateSection !== undefined);
    for (const [nid, sections] of byNode) {
      // Without a sparse buffer (7.2) every block comes from memblock, top-down, as it is asked for.
      const buf = new SparseBuffer(
        this.memblock,
        nid,
        sparseBuffer ? sections.length * sectionMapPages : 0,
        perPmd,
      );
      // The blocks one section's population took: one PMD-sized block is one aligned PMD leaf.
      let blocks = 0;
      let pmdBlock = -1;
      const block = (n: number) => {
        const pfn = buf.alloc(n);
        blocks++;
        pmdBlock = n === perPmd ? pfn : -1;
        return pfn;
      };
      for (const s of sections) {
        if (hooks.some((h) => h.populateSection?.(this, s))) continue;
        const voff = s.startPfn * this.spec.structPageSize;
        blocks = 0;
        vmemmapPopulate(ctx, voff, voff + g.sectionMemmapBytes, nid, block, tables);
        // A section mapped by one fresh PMD leaf: what noteBootmemInfo() would find by walking.
        if (blocks === 1 && pmdBlock >= 0 && this.bootmemByLeaf())
          this.bootmemSections.set(pmdBlock, s.nr, perPmd);
        else this.noteBootmemInfo(s);
        // __populate_section_memmap(): memmap_boot_pages_add(DIV_ROUND_UP(end - start, PAGE_SIZE))
        this.memmapBootPagesAdd(Math.ceil(g.sectionMemmapBytes / g.pageSize));
      }
      buf.fini();
    }
  }

  /**
   * register_page_bootmem_info() (x86_64 arch/x86/mm/init_64.c register_page_bootmem_memmap(),
   * CONFIG_MEMORY_HOTREMOVE): every page of a section's PMD-mapped memmap block gets
   * get_page_bootmem(section, page, SECTION_INFO): private = section << 4 | SECTION_INFO (1, as
   * 7.2's struct pages read) and one more reference (_refcount 2). By first pfn of each block.
   * The marks on page-table pages (MIX_SECTION_INFO) and on PTE-mapped vmemmap pages (boot-time
   * HVO sections) are not modelled.
   */
  private readonly bootmemSections = new BootmemSections();

  /** Whether register_page_bootmem_info() marks PMD-mapped memmap blocks on this machine. */
  private bootmemByLeaf(): boolean {
    const g = this.geometry;
    return (
      this.spec.arch.name === "x86_64" &&
      this.spec.arch.vmemmapPmdLeaves &&
      g.sectionMemmapBytes === g.pmdSize
    );
  }

  private noteBootmemInfo(s: Section): void {
    if (!this.bootmemByLeaf()) return;
    const g = this.geometry;
    const perPmd = g.pmdSize / g.pageSize;
    const b = this.memmap.backing(s.startPfn);
    if (!b || b.frame % perPmd !== 0) return;
    // A PMD leaf maps perPmd consecutive frames from an aligned one; a PTE-mapped section's
    // first page is a single frame (not checked further: boot-time HVO maps those with PTEs).
    const last = this.memmap.backing(s.startPfn + (g.pagesPerSection - 1));
    if (!last || last.frame !== b.frame + perPmd - 1) return;
    this.bootmemSections.set(b.frame, s.nr, perPmd);
  }

  /** The rest of the kernel and user space: pages held so that MemFree looks like the machine's. */
  private takeOtherUsedPages(): void {
    const other = this.spec.otherUsedPages ?? [];
    const spare = this.spec.otherFreeUnmovablePages ?? [];
    const span = this.spec.otherUnmovablePages ?? [];
    const blockPages = pow2(this.buddy.maxOrder);
    for (const node of this.spec.nodes) {
      const total = other[node.nid] ?? 0;
      // Pages the kernel's unmovable blocks keep free: taken as single pages after the rest and
      // every second one given back, so that each freed page's buddy stays in use and the
      // blocks stay claimed, as the guest's partly used slab and page-table blocks are.
      const free = Math.min(spare[node.nid] ?? 0, Math.floor(total / 2));
      // With the span of the kernel's unmovable blocks known, the model claims as many whole
      // blocks as cover it and fills them but for the free pages: what the next unmovable
      // allocations find there is the guest's count, not what is left of the last block after
      // the total is cut into blocks. The rest is user memory, outside the claimed blocks.
      let unmovable = total;
      const spanPages = span[node.nid];
      if (spanPages !== undefined && spanPages > 0) {
        const filled = Math.ceil(spanPages / blockPages) * blockPages - free;
        if (filled <= total && filled >= free) unmovable = filled;
      }
      this.takeOtherBlocks(node.nid, unmovable - free, GFP_KERNEL);
      const singles: number[] = [];
      for (let i = 0; i < 2 * free; i++) {
        const pfn = this.buddy.allocPagesNode(node.nid, GFP_KERNEL, 0, "boot:other", "kernel");
        if (pfn === null) break;
        singles.push(pfn);
      }
      for (let i = 0; i < singles.length; i += 2) this.buddy.freePages(singles[i], 0);
      this.takeOtherBlocks(node.nid, total - unmovable, GFP_HIGHUSER_MOVABLE);
    }
  }

  /** nrPages of "other" pages on node nid, in the largest blocks the buddy has. */
  private takeOtherBlocks(nid: number, nrPages: number, gfp: number): void {
    let left = nrPages;
    let order = this.buddy.maxOrder;
    while (left > 0 && order >= 0) {
      if (pow2(order) > left) {
        order--;
        continue;
      }
      const pfn = this.buddy.allocPagesNode(nid, gfp, order, "boot:other", "kernel");
      if (pfn === null) {
        order--;
        continue;
      }
      left -= pow2(order);
    }
  }

  /** The struct page of pfn must be mapped (pfn_valid()); otherwise an Oops. */
  assertPfnValid(pfn: number): void {
    if (!this.memmap.backing(pfn)) throw new Oops(`pfn ${pfn} has no memmap`, { pfn });
  }
}

/** get_page_bootmem()'s mark on a struct page of boot memmap: the section, and a reference. */
function storeBootmemSection(v: DataView, off: number, sec: number): void {
  v.setUint32(off + PAGE_OFF.private, sec * 16 + BOOTMEM_SECTION_INFO, true);
  v.setUint32(off + PAGE_OFF.refcount, 2, true);
}

/** Whether a range of a list sorted by startPfn starts in (from, to). */
function startsWithin(sorted: readonly PfnRange[], from: number, to: number): boolean {
  // The first range that starts after from.
  const next = lastAtOrBelow(sorted, from, (r) => r.startPfn) + 1;
  return next < sorted.length && sorted[next].startPfn < to;
}
