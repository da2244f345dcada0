// The invariants of ../shared/SPEC.md §5, checked against a booted model. Each is a function
// (model) -> Violation[]; a Checker runs them incrementally (the folios an operation touched
// after every step, everything every K steps) with state it keeps between steps: its own view
// of the vmemmap page tables (vmemmap_mirror.ts) and the bytes of each shared tail page as they
// were when it became visible through the vmemmap.
//
// The checker never reads struct pages through the model's own TLB (that would change what the
// stale-TLB invariant sees): raw bytes come from the frames its mirror says are mapped, and
// compound_head() as the model computes it is evaluated through a shadow Memmap with its own
// page-table walker and TLB over the same frames. Kernel counterparts: include/linux/page-flags.h
// (compound_head, PageHead, PageTail), mm/page_alloc.c, mm/hugetlb.c, mm/hugetlb_vmemmap.c.
//
// Pure and browser-safe.

import { HOST_LITTLE_ENDIAN } from "../include/endian.ts";
import { Oops } from "../include/errno.ts";
import { pow2 } from "../include/pow2.ts";
import { PAGE_OFF, TAIL_MAPPING } from "../include/mm_types.ts";
import { PG } from "../include/page_flags.ts";
import type { Kernel } from "../kernel.ts";
import { Compound } from "../mm/compound.ts";
import { HPG } from "../include/mm_types.ts";
import type { HugetlbPool } from "../mm/hugetlb.ts";
import type { HvoDesign } from "../mm/hugetlb_vmemmap.ts";
import { usesMaskEncoding } from "../mm/hvo_designs.ts";
import type { MemblockUse } from "../mm/memblock.ts";
import { Memmap } from "../mm/memmap.ts";
import { FastPaths } from "../mm/fast_paths.ts";
import type { FrameUse } from "../mm/page_alloc.ts";
import { KernelPageTables, type Translation } from "../mm/pgtable.ts";
import { type FreeMemo, type ObservedHstate, observePool } from "./pool_ref.ts";
import { VmemmapMirror } from "./vmemmap_mirror.ts";

export type InvariantName =
  | "compound_head"
  | "page_head_tail"
  | "fake_head"
  | "ro_pte_write"
  | "oops"
  | "stale_tlb"
  | "frame_state"
  | "vmemmap_mapping"
  | "vmemmap_leak"
  | "memmap_counters"
  | "buddy_counters"
  | "pool_counters"
  | "surplus_limit"
  | "surplus_unused"
  | "tail_word"
  | "tails_identical"
  | "shared_tail_written";

export interface Violation {
  invariant: InvariantName;
  detail: string;
  /** What the kernel's invariant requires, as hex bytes where bytes are involved. */
  expected?: string;
  actual?: string;
  pfn?: number;
}

/** What the invariants take: a booted kernel, or anything that holds one (bootModel()'s result). */
export type CheckTarget = Kernel | { k: Kernel };

export function kernelOf(m: CheckTarget): Kernel {
  return "k" in m && !("frames" in m) ? (m as { k: Kernel }).k : (m as Kernel);
}

export function poolOf(k: Kernel): HugetlbPool | null {
  const p = k.sub.hugetlb as HugetlbPool | undefined;
  return p && typeof p === "object" && "folios" in p ? p : null;
}

export interface FolioRef {
  headPfn: number;
  order: number;
}

export function hex64(v: bigint): string {
  return `0x${BigInt.asUintN(64, v).toString(16).padStart(16, "0")}`;
}

export function hexBytes(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) {
    if (i && i % 8 === 0) s += " ";
    s += b[i].toString(16).padStart(2, "0");
  }
  return s;
}

const U64 = (1n << 64n) - 1n;

/** Bytes as little-endian 32-bit words, copied (for hosts or offsets where a view cannot be). */
function leWords(b: Uint8Array): Uint32Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Uint32Array(b.byteLength >> 2);
  for (let i = 0; i < out.length; i++) out[i] = v.getUint32(i * 4, true);
  return out;
}

// ------------------------------------------------------------------ frame states

export type FrameState = string;

/** What a frame is: "free", "alloc:<use>", "reserved:<use>", or "none" (no state: lost). */
const ALLOC_STATE: Readonly<Record<FrameUse, string>> = {
  vmemmap: "alloc:vmemmap",
  pagetable: "alloc:pagetable",
  shared_tail: "alloc:shared_tail",
  hugetlb: "alloc:hugetlb",
  kernel: "alloc:kernel",
  hwpoison: "alloc:hwpoison",
};
const RESERVED_STATE: Readonly<Record<MemblockUse, string>> = {
  vmemmap: "reserved:vmemmap",
  pagetable: "reserved:pagetable",
  kernel: "reserved:kernel",
  hugetlb: "reserved:hugetlb",
  shared_tail: "reserved:shared_tail",
};

/** "alloc:<use>": a fixed string per use. */
function allocState(use: FrameUse): string {
  return ALLOC_STATE[use];
}

/** "reserved:<use>": a fixed string per use. */
function reservedState(use: MemblockUse): string {
  return RESERVED_STATE[use];
}

export function frameState(k: Kernel, frame: number): FrameState {
  const a = k.buddy.allocations.get(frame);
  if (a) return allocState(a.use);
  const r = k.memblock.findReserved(frame);
  if (r) return reservedState(r.use);
  if (k.buddy.isFree(frame)) return "free";
  // Inside a multi-page allocation?
  const b = k.buddy.allocations.containing(frame);
  return b ? allocState(b.a.use) : "none";
}

/**
 * Whether a frame state is the memmap's: vmemmap or shared tail, allocated or reserved (string
 * comparisons, not a set's hash: the folio checks ask for every vmemmap page they look at).
 */
function isMemmapState(st: string): boolean {
  return (
    st === "alloc:vmemmap" ||
    st === "reserved:vmemmap" ||
    st === "alloc:shared_tail" ||
    st === "reserved:shared_tail"
  );
}

// ------------------------------------------------------------------ the checker's state

/** Page tables whose translations are the mirror's (kept up to date by its refresh()). */
class MirrorTables extends KernelPageTables {
  constructor(
    k: Kernel,
    private readonly mirror: VmemmapMirror,
  ) {
    super(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase);
  }
  override translate(vpn: number): Translation | null {
    return this.mirror.translate(vpn);
  }
  override translateFrame(vpn: number): number {
    const frame = this.mirror.frameOf(vpn);
    if (frame !== -1) this.tWritable = this.mirror.frameWritable;
    return frame;
  }
  override walk(vaddr: bigint): Translation | null {
    return this.mirror.translate(this.vpnOf(vaddr));
  }
  override walkPage(vpn: number): Translation | null {
    return this.mirror.translate(vpn);
  }
}

/**
 * Struct-page access through the checker's mirror of the page tables, without the model's TLB
 * (so the model's compound_head() can be evaluated without changing what staleTlb() sees). The
 * mirror must have been refreshed since the last change.
 */
class Shadow {
  readonly pgt: KernelPageTables;
  readonly memmap: Memmap;
  readonly compound: Compound;
  constructor(k: Kernel, mirror: VmemmapMirror) {
    this.pgt = new MirrorTables(k, mirror);
    this.memmap = new Memmap(
      k.frames,
      this.pgt,
      k.vmemmapBase,
      k.spec.structPageSize,
      k.spec.arch.pageShift,
    );
    // No read memo (memmap.ts readMemo): its stamps do not see the mirror's refreshes.
    this.memmap.paths = FastPaths.plain();
    this.compound = new Compound(this.memmap, k.layout, k.compound.config);
    // The shadow walks follow the kernel's fast-path switches (k.paths.setAll(false) reaches them).
    this.compound.paths = k.paths;
  }
}

/** A folio's tail word and whether it decodes to the head (null: not worked out yet). */
interface TailWordMemo {
  info: bigint;
  decodes: boolean | null;
}

export interface CheckContext {
  k: Kernel;
  mirror: VmemmapMirror;
  shadow: Shadow;
  /** Shared tail frames seen mapped, with their bytes at that moment. */
  sharedTails: Map<number, Uint8Array>;
  /** Writes to a published shared tail seen by the frame-store watch. */
  sharedTailWrites: Violation[];
  /** The pattern each shared tail frame had at the last pass (unchanged: skip it). */
  sharedTailPatterns: Map<number, unknown>;
  /** Summaries of published shared tail frames, kept across passes. */
  tailSummaries: Map<number, FrameSummary>;
  /** Whether the design's tail word is the mask (expectedTailWord(); computed once). */
  tailMask?: boolean;
  /** folioTailWord() per folio (head * 64 + order). */
  tailWords?: Map<number, TailWordMemo>;
  /** uncountedVmemmapRanges() of the machine (computed once). */
  uncountedRanges?: Array<[number, number]>;
  /** uncountedMemmapFrames() at a version of the mirror. */
  uncounted?: { version: number; boot: number; runtime: number };
  /**
   * Calls of the watched frame-store and page-table writes so far: while it stands still, no
   * frame's bytes and no translation changed (what a pass read before reads the same).
   */
  writes: number;
  /** observePool()'s free verdict per head, at `writes` (poolCounters() after every step). */
  poolFree?: FreeMemo;
  /**
   * Ranges the buddy allocator and memblock reported changed so far (counted by the frame
   * ledger's listeners, frame_ledger.ts; undefined where no ledger listens): while it and
   * `writes` stand still, no frame changed state or owner.
   */
  stateChanges?: number;
  /** poolCounters()'s verdicts and everything they were read from (poolKey()). */
  poolMemo?: { key: number[]; out: Violation[] };
  /** `writes` when a shared tail's own bytes were last seen equal to sharedTails' copy. */
  tailBytesAt?: Map<number, number>;
  /**
   * The "tails" pattern summarizeFrame() read last, and whether its flags hold PG_head (set in
   * checkContext()'s literal: a property added later would give the context another shape).
   */
  tailsPattern: object | null;
  tailsPatternHead: boolean;
  /** summarizeFrame()'s verdict per fill pattern of the frame store (never written). */
  fillSummaries?: WeakMap<object, FrameSummary>;
}

/**
 * The checker's state for a kernel (kept in k.sub.checker, so it lives and dies with that
 * kernel), created (and the watch installed) on first use.
 */
export function checkContext(k: Kernel): CheckContext {
  let c = k.sub.checker as CheckContext | undefined;
  if (!c) {
    const mirror = new VmemmapMirror(k);
    c = {
      k,
      mirror,
      shadow: new Shadow(k, mirror),
      sharedTails: new Map(),
      sharedTailWrites: [],
      sharedTailPatterns: new Map(),
      tailSummaries: new Map(),
      writes: 0,
      tailsPattern: null,
      tailsPatternHead: false,
    };
    k.sub.checker = c;
    watchSharedTails(c);
    watchPageTables(c);
  }
  return c;
}

/**
 * Every method of the frame store that changes a frame's bytes (writableView() hands out the
 * frame's bytes for stores in place: asking for it is taken as the write). A write method left
 * out of this list is a blind spot of the mirror and of the shared-tail watch:
 * test/check/watch_coverage.test.ts fails when the store gains a method nobody classified.
 */
export const FRAME_STORE_WRITES = [
  "writeU32",
  "writeU64",
  "writeU64Parts",
  "writableView",
  "writableViewAt",
  "storeWordsLater",
  "writeBytes",
  "setWordRun",
  "setPattern",
  "setPatternRange",
  "setPatternRangeDown",
  "zeroFrame",
  "copyFrame",
  "copyFrameRun",
  "copyFrameMoved",
  "moveWithin",
] as const;

/** The page tables' entry writes (set_pte/set_pmd and runs of them). */
export const PAGE_TABLE_WRITES = ["set", "setPte", "setPteRun"] as const;

/**
 * The shared tail must never be written once published: every write of the frame store is
 * checked against the published set (a watchpoint; the model's own code is not changed). The
 * same watch tells the vmemmap mirror which page-table frames were written, so that its
 * refresh decodes only those.
 */
function watchSharedTails(c: CheckContext): void {
  const f = c.k.frames as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of FRAME_STORE_WRITES) {
    const orig = f[name];
    if (typeof orig !== "function") continue;
    const tails = c.sharedTails;
    const writes = c.sharedTailWrites;
    const tables = c.mirror.tableFrames;
    const mirror = c.mirror;
    const tailWritten = (frame: number) => {
      if (writes.length >= 16) return;
      c.tailSummaries.delete(frame);
      writes.push({
        invariant: "shared_tail_written",
        detail: `${name}() on shared tail frame ${frame} after it was published`,
        pfn: frame,
      });
    };
    // setPatternRange(frame, nr, pattern), setPatternRangeDown() and copyFrameRun(frame, nr,
    // src) write nr frames from frame on; the others one.
    if (name === "setPatternRange" || name === "setPatternRangeDown" || name === "copyFrameRun")
      f[name] = function (this: unknown, frame: unknown, a: unknown, b: unknown) {
        const first = frame as number;
        const end = first + (a as number);
        if (meetsAny(tables, first, end))
          for (const t of tables) if (t >= first && t < end) mirror.written(t);
        for (const t of tails.keys()) if (t >= first && t < end) tailWritten(t);
        c.writes++;
        return orig.call(this, frame, a, b);
      };
    else {
      const note = (frame: number) => {
        if (tables.has(frame)) mirror.written(frame);
        if (tails.size !== 0 && tails.has(frame)) tailWritten(frame);
        c.writes++;
      };
      f[name] = passingOn(name, orig, note);
    }
  }
}

/** Arguments a watched write method takes at most (frame store and page tables). */
const WRITE_ARGS = 7;

/**
 * orig (a write method of the frame store or the page tables) with note(first argument) called
 * once it has run, or thrown (its stores up to the throw were made), unless it answered null:
 * a write that answers null stored nothing (writableViewAt() asked to skip a frame that reads as
 * memmap_init() left it). The arguments are passed on as they came, without a rest array per
 * write (the frame store's hot path), so orig may take at most WRITE_ARGS.
 */
function passingOn(
  name: string,
  orig: (...a: unknown[]) => unknown,
  note: (frame: number) => void,
): (...a: unknown[]) => unknown {
  if (orig.length > WRITE_ARGS)
    throw new Error(`${name}() takes more than ${WRITE_ARGS} arguments`);
  return function (
    this: unknown,
    frame: unknown,
    a: unknown,
    b: unknown,
    d: unknown,
    e: unknown,
    g: unknown,
    h: unknown,
  ) {
    let out: unknown;
    try {
      out = orig.call(this, frame, a, b, d, e, g, h);
      return out;
    } finally {
      if (out !== null) note(frame as number);
    }
  };
}

/**
 * Whether some member of `set` lies in [first, end): the frames of a short range looked up one
 * by one, else the set walked (a range write that meets no page table, the common case, is then
 * let through without walking every table frame).
 */
function meetsAny(set: ReadonlySet<number>, first: number, end: number): boolean {
  if (end - first > set.size) {
    for (const t of set) if (t >= first && t < end) return true;
    return false;
  }
  for (let t = first; t < end; t++) if (set.has(t)) return true;
  return false;
}

/**
 * The page tables' entry writes (set_pte/set_pmd: KernelPageTables.set(), setPte() and setPteRun()) tell
 * the mirror which table changed, whatever frame-store call they store with (the frame-store
 * watch above sees the stores that go around them).
 */
function watchPageTables(c: CheckContext): void {
  const pgt = c.k.pgt as unknown as Record<string, (...a: unknown[]) => unknown>;
  const tables = c.mirror.tableFrames;
  const mirror = c.mirror;
  for (const name of PAGE_TABLE_WRITES) {
    const orig = pgt[name];
    if (typeof orig !== "function") continue;
    pgt[name] = passingOn(name, orig, (table) => {
      if (tables.has(table)) mirror.written(table);
      c.writes++;
    });
  }
}

// ------------------------------------------------------------------ (a)(b)(f) one folio

interface FrameSummary {
  /** Every struct page slot of the frame holds this compound word (null: they differ). */
  info: bigint | null;
  /** A slot with PG_head set. */
  headSlots: readonly number[];
}

/** PG_head in a flags word. */
const PG_HEAD_BIT = 1n << BigInt(PG.head);

/** FrameSummary.headSlots of a "tails" frame (shared: summaries are never changed). */
const NO_SLOTS: readonly number[] = Object.freeze([]);
const SLOT_0: readonly number[] = Object.freeze([0]);

/** Raw 64-bit word at memmap byte offset voff, through the mirror (no TLB). */
function rawWord(c: CheckContext, voff: number): bigint | null {
  const ps = c.k.pageSize;
  const vpn = Math.floor(voff / ps);
  const frame = c.mirror.frameOf(vpn);
  if (frame === -1) return null;
  return c.k.frames.readU64(frame, voff - vpn * ps);
}

/**
 * The bytes summarizeFrame() read last from a frame that holds its own (the frame store hands
 * out one array per such state, shared by the frames a copy gave the same bytes: a legacy
 * restore's copies of the head page), with their summary. Kept for one pass of checks, during
 * which nothing writes: the same array holds the same bytes.
 */
export interface OwnBytesMemo {
  bytes: Uint8Array | null;
  summary: FrameSummary | null;
}

function summarizeFrame(
  c: CheckContext,
  frame: number,
  memo: Map<number, FrameSummary> | null,
  own: OwnBytesMemo,
): FrameSummary {
  const hit = memo?.get(frame) ?? c.tailSummaries.get(frame);
  if (hit) return hit;
  const k = c.k;
  const sps = k.spec.structPageSize;
  const ps = k.pageSize;
  // The class's pattern (no object made for the frame): its kind, flags and slot are the
  // frame's; a "tails" frame's compound word may depend on where it is (tailsInfoOf()).
  const p = k.frames.patternShapeOf(frame);
  let s: FrameSummary;
  if (p?.kind === "tails") {
    // The pattern's PG_head, worked out once per pattern (a restored folio's tail pages share
    // one; the store never writes a pattern in place, so the same object says the same).
    let head: boolean;
    if (p === c.tailsPattern) head = c.tailsPatternHead;
    else {
      head = p.flags !== undefined && (p.flags & PG_HEAD_BIT) !== 0n;
      c.tailsPattern = p;
      c.tailsPatternHead = head;
    }
    s = { info: k.frames.tailsInfoOf(frame) as bigint, headSlots: head ? SLOT_0 : NO_SLOTS };
  } else if (ps % sps !== 0) {
    s = { info: null, headSlots: [] };
  } else if (p?.kind === "fill" && p.slot.length === sps) {
    // Every slot holds the same bytes: one slot says it all (nothing to render). The store's
    // fill patterns are its own copies, never written (frames.ts), so the summary is the
    // pattern's, whichever frame holds it (a restored folio's tail pages share one).
    c.fillSummaries ??= new WeakMap();
    const fills = c.fillSummaries;
    let f = fills.get(p);
    if (f === undefined) {
      const v = new DataView(p.slot.buffer, p.slot.byteOffset, sps);
      if ((v.getUint32(0, true) >>> PG.head) & 1)
        f = { info: null, headSlots: Array.from({ length: ps / sps }, (_, i) => i) };
      else f = { info: v.getBigUint64(PAGE_OFF.compoundInfo, true), headSlots: NO_SLOTS };
      fills.set(p, f);
    }
    s = f;
  } else {
    const b = k.frames.view(frame);
    const ownBytes = k.frames.hasOwnBytes(frame);
    if (ownBytes && b === own.bytes && own.summary !== null)
      return remember(c, frame, memo, own.summary);
    const n = ps / sps;
    // The frame's bytes as 32-bit words: in place where they line up on a little-endian host
    // (every Node and browser host today), else a copy read word by word.
    const words =
      HOST_LITTLE_ENDIAN && b.byteOffset % 4 === 0
        ? new Uint32Array(b.buffer, b.byteOffset, b.byteLength >> 2)
        : leWords(b);
    // The compound word every slot without PG_head holds (null: they differ); slots with
    // PG_head (a head, or a fake one) are listed apart. (Struct page sizes and the compound
    // word's offset are multiples of 4.)
    let info: bigint | null | undefined;
    let lo0 = 0;
    let hi0 = 0;
    const headSlots: number[] = [];
    const step = sps >> 2;
    const ciw = PAGE_OFF.compoundInfo >> 2;
    const headBit = PG.head;
    for (let i = 0, w = 0; i < n; i++, w += step) {
      if ((words[w] >>> headBit) & 1) {
        headSlots.push(i);
        continue;
      }
      if (info === null) continue;
      const lo = words[w + ciw];
      const hi = words[w + ciw + 1];
      if (info === undefined) {
        info = (BigInt(hi) << 32n) | BigInt(lo);
        lo0 = lo;
        hi0 = hi;
      } else if (lo !== lo0 || hi !== hi0) info = null;
    }
    if (info === undefined) info = null;
    s = { info, headSlots };
    if (ownBytes) {
      own.bytes = b;
      own.summary = s;
    }
  }
  return remember(c, frame, memo, s);
}

/** summarizeFrame()'s verdict kept for the frame: in the pass's memo, and for a published shared tail. */
function remember(
  c: CheckContext,
  frame: number,
  memo: Map<number, FrameSummary> | null,
  s: FrameSummary,
): FrameSummary {
  memo?.set(frame, s);
  // A published shared tail never changes (a write to it is reported and drops this entry).
  if (c.sharedTails.has(frame)) c.tailSummaries.set(frame, s);
  return s;
}

function decodeHead(c: CheckContext, pfn: number, info: bigint): number {
  if ((info & 1n) === 0n) return pfn;
  const k = c.k;
  if (k.compound.config.encoding === "mask") {
    const vaddr = k.vmemmapBase + BigInt(pfn) * BigInt(k.spec.structPageSize);
    return (
      Number((vaddr & ((((info & 1n) - 1n) & U64) | info)) - k.vmemmapBase) / k.spec.structPageSize
    );
  }
  return Number((info - 1n - k.vmemmapBase) / BigInt(k.spec.structPageSize));
}

export interface FolioCheckOptions {
  optimized?: boolean;
  /** Frame summaries shared by the folios of one pass. */
  memo?: Map<number, FrameSummary>;
  /** The last own bytes summarised, shared by the folios of one pass. */
  own?: OwnBytesMemo;
}

/**
 * (a) compound_head of every pfn of the folio is its head, PageHead/PageTail agree; (b) no
 * struct page other than the head has PG_head (legacy: except the aliases of the head in an
 * optimised folio, which compound_head() must see through); the mapping of each of its vmemmap
 * pages fits (d); seed/mainline tails of an optimised folio are the shared tail's (f).
 */
export function checkFolio(
  c: CheckContext,
  f: FolioRef,
  opts: FolioCheckOptions = {},
): Violation[] {
  const out: Violation[] = [];
  const k = c.k;
  // One folio alone needs no map of summaries: a frame it maps twice is the one just before
  // (an alias, a shared tail), or a shared tail (kept in c.tailSummaries).
  const memo = opts.memo ?? null;
  const own = opts.own ?? { bytes: null, summary: null };
  let sumFrame = -1;
  let sumOf: FrameSummary | null = null;
  const sps = k.spec.structPageSize;
  const ps = k.pageSize;
  const head = f.headPfn;
  const nr = pow2(f.order);
  const sharedTailPage = (hvoDesignOf(k)?.facts.tailScope ?? "none") !== "none";
  const sh = c.shadow;
  const optimized = opts.optimized ?? isOptimizedRaw(c, head);
  const tw = folioTailWord(c, head, f.order);
  const expectedInfo = tw.info;
  const roIsRw = k.spec.arch.pageKernelRoIsPageKernel === true;

  // Head: PG_head, the order, PageHead through the model's own functions.
  if (!sh.memmap.backing(head)) {
    pushCapped(out, {
      invariant: "vmemmap_mapping",
      detail: `folio ${head}: the head's struct page is not mapped`,
      pfn: head,
    });
    return out;
  }
  if (!sh.compound.pageHead(head) || sh.compound.pageTail(head)) {
    pushCapped(out, {
      invariant: "page_head_tail",
      detail: `folio ${head} (order ${f.order}): PageHead ${sh.compound.pageHead(head)}, PageTail ${sh.compound.pageTail(head)}`,
      pfn: head,
      expected: "PageHead 1, PageTail 0",
      actual: hexBytes(sh.memmap.readStructPage(head)),
    });
  }
  if (sh.compound.folioOrder(head) !== f.order) {
    pushCapped(out, {
      invariant: "compound_head",
      detail: `folio ${head}: folio_order() ${sh.compound.folioOrder(head)}, the pool says ${f.order}`,
      pfn: head,
    });
  }

  const firstVpn = Math.floor((head * sps) / ps);
  const lastVpn = Math.floor(((head + nr) * sps - 1) / ps);
  // A vmemmap page holds whole struct pages (asked once, not per page: a floating remainder).
  const wholeSlots = ps % sps === 0;
  const mirror = c.mirror;
  const headFrame = mirror.frameOf(firstVpn);
  let tailFrame = -1;
  // Whether prep_compound_tail()'s word decodes to the head (expectedDecodes(), once).
  let expectedOk: boolean | null = null;
  /** compound_head() of pfn p, whose struct page holds `info`, must be the head. */
  const checkWord = (p: number, info: bigint): void => {
    if (p === head) return;
    if (info === expectedInfo) {
      expectedOk ??= tw.decodes ??= expectedDecodes(c, head, nr, expectedInfo);
      if (expectedOk) return;
    }
    const got = decodeHead(c, p, info);
    if (got !== head)
      pushCapped(out, {
        invariant: "compound_head",
        detail: `pfn ${p} of folio ${head} (order ${f.order}): compound_head gives ${got}`,
        pfn: p,
        expected: hex64(expectedInfo),
        actual: hex64(info),
      });
    else
      pushCapped(out, {
        invariant: "tail_word",
        detail: `pfn ${p} of folio ${head} (order ${f.order}): its compound word finds the head but is not the encoding's`,
        pfn: p,
        expected: hex64(expectedInfo),
        actual: hex64(info),
      });
  };
  let lastFrame = -1;
  let lastSt = "";
  // A vmemmap page mapping the frame the one before did, the same way, when that one was clean
  // with every slot holding the encoding's word and no PG_head (a shared tail, a page of
  // tails): nothing checked below can differ for it, so it is skipped (a 1 GiB folio's 4095
  // tail pages cost one look each).
  let cleanFrame = -1;
  let cleanWritable = false;
  // Legacy: the writability of an alias of the head page whose mapping was found right; a
  // later alias mapped the same way (but the last, whose struct pages are read) is skipped.
  let aliasOk: boolean | null = null;
  for (let vpn = firstVpn; vpn <= lastVpn; vpn++) {
    const mf = mirror.frameOf(vpn);
    const mw = mirror.frameWritable;
    // A page skipped, and the pages after it that map the same frame the same way (each would
    // be skipped alike: nothing below changes for a skipped page).
    if (mf !== -1 && mf === cleanFrame && mw === cleanWritable) {
      vpn += mirror.sameFrameRun(vpn + 1, mf, mw, lastVpn - vpn);
      continue;
    }
    if (mf !== -1 && aliasOk === mw && vpn !== lastVpn && headFrame !== -1 && mf === headFrame) {
      vpn += mirror.sameFrameRun(vpn + 1, mf, mw, lastVpn - 1 - vpn);
      continue;
    }
    cleanFrame = -1;
    const found = out.length;
    const pa = Math.max(head, Math.ceil((vpn * ps) / sps));
    const pb = Math.min(head + nr - 1, Math.floor(((vpn + 1) * ps - 1) / sps));
    if (mf === -1) {
      pushCapped(out, {
        invariant: "vmemmap_mapping",
        detail: `folio ${head}: struct pages ${pa}..${pb} are not mapped`,
        pfn: pa,
      });
      continue;
    }
    // Aliases (legacy) and shared tails (seed, mainline) map one frame many times.
    if (mf !== lastFrame) {
      lastFrame = mf;
      lastSt = frameState(k, mf);
    }
    const st = lastSt;
    if (!isMemmapState(st)) {
      pushCapped(out, {
        invariant: "frame_state",
        detail: `folio ${head}: vmemmap page of pfns ${pa}..${pb} maps frame ${mf}, which is ${st}`,
        pfn: pa,
        expected: "vmemmap, shared_tail or boot memmap",
        actual: st,
      });
    }
    // Mapping shape of the design.
    if (vpn === firstVpn) {
      if (!mw)
        pushCapped(out, {
          invariant: "vmemmap_mapping",
          detail: `folio ${head}: its head vmemmap page is mapped read-only`,
          pfn: head,
        });
    } else if (optimized && nr * sps > ps) {
      if (!roIsRw && mw)
        pushCapped(out, {
          invariant: "vmemmap_mapping",
          detail: `folio ${head}: optimised, but the tail vmemmap page of ${pa} is writable`,
          pfn: pa,
        });
      if (!sharedTailPage) {
        if (headFrame !== -1 && mf !== headFrame)
          pushCapped(out, {
            invariant: "vmemmap_mapping",
            detail: `folio ${head}: tail vmemmap page of ${pa} maps frame ${mf}, not the head page ${headFrame}`,
            pfn: pa,
          });
      } else {
        if (!st.endsWith("shared_tail"))
          pushCapped(out, {
            invariant: "vmemmap_mapping",
            detail: `folio ${head}: tail vmemmap page of ${pa} maps frame ${mf} (${st}), not a shared tail`,
            pfn: pa,
          });
        if (tailFrame === -1) tailFrame = mf;
        else if (mf !== tailFrame)
          pushCapped(out, {
            invariant: "tails_identical",
            detail: `folio ${head}: its tail vmemmap pages map different frames (${tailFrame}, ${mf})`,
            pfn: pa,
          });
      }
    } else if (!optimized && !mw) {
      pushCapped(out, {
        invariant: "vmemmap_mapping",
        detail: `folio ${head}: not optimised, but the vmemmap page of ${pa} is read-only`,
        pfn: pa,
      });
    }

    // Struct page contents.
    const aliasing = !sharedTailPage && optimized && vpn !== firstVpn;
    // Legacy aliases of the head page read alike: the first and the last alias stand for all.
    if (aliasing && headFrame !== -1 && mf === headFrame) {
      if (found < 8 && out.length === found) aliasOk = mw;
      if (vpn !== firstVpn + 1 && vpn !== lastVpn) continue;
    }
    let s: FrameSummary | null = null;
    if (wholeSlots) {
      if (mf !== sumFrame) {
        sumOf = summarizeFrame(c, mf, memo, own);
        sumFrame = mf;
      }
      s = sumOf;
    }
    if (s && s.info !== null) {
      // Every slot holds the same word: compound_head is monotone in the address, so the
      // first and the last pfn of the page decide for all of them.
      if (!aliasing) {
        // The encoding's own word, found to decode to the head: checkWord() would pass both.
        if (s.info === expectedInfo)
          expectedOk ??= tw.decodes ??= expectedDecodes(c, head, nr, expectedInfo);
        if (s.info !== expectedInfo || !expectedOk) {
          checkWord(pa, s.info);
          if (pb !== pa) checkWord(pb, s.info);
        }
      }
      if (
        vpn !== firstVpn &&
        !aliasing &&
        s.info === expectedInfo &&
        expectedOk === true &&
        s.headSlots.length === 0 &&
        found < 8 &&
        out.length === found
      ) {
        cleanFrame = mf;
        cleanWritable = mw;
      }
    } else {
      for (let p = pa; p <= pb; p++)
        if (!aliasing) checkWord(p, rawWord(c, p * sps + PAGE_OFF.compoundInfo) ?? 0n);
    }
    // compound_head() of a fake head found below, kept for the alias check after it (the same
    // pfn, read through the same tables with nothing written in between: the same answer).
    let chPfn = -1;
    let chOf = -1;
    // Fake heads: struct pages with PG_head that are not the head (none in a page whose summary
    // lists none).
    if (s === null || s.headSlots.length !== 0) {
      const headSlotsPfns: number[] = [];
      if (s) {
        for (const i of s.headSlots) {
          const p = Math.floor((vpn * ps) / sps) + i;
          if (p >= pa && p <= pb && p !== head) headSlotsPfns.push(p);
        }
      } else {
        for (let p = pa; p <= pb; p++) {
          if (p === head) continue;
          const w = rawWord(c, p * sps + PAGE_OFF.flags);
          if (w !== null && (w >> BigInt(PG.head)) & 1n) headSlotsPfns.push(p);
        }
      }
      for (const p of headSlotsPfns) {
        const legit = aliasing && (p * sps) % ps === 0;
        if (!legit) {
          pushCapped(out, {
            invariant: "fake_head",
            detail: `pfn ${p} of folio ${head} (order ${f.order}, ${optimized ? "optimised" : "not optimised"}, ${k.design}): its struct page has PG_head but is not the head`,
            pfn: p,
            expected: "PG_head clear",
            actual: hexBytes(sh.memmap.readStructPage(p)),
          });
        }
        // Whatever its raw bytes say, the model's compound_head()/PageTail() must find the head.
        const ch = sh.compound.compoundHead(p);
        chPfn = p;
        chOf = ch;
        if (ch !== head || !sh.compound.pageTail(p) || sh.compound.pageHead(p)) {
          pushCapped(out, {
            invariant: "compound_head",
            detail: `pfn ${p} of folio ${head}: compound_head() gives ${ch}, PageTail ${sh.compound.pageTail(p)}, PageHead ${sh.compound.pageHead(p)}`,
            pfn: p,
            expected: `head ${head}`,
            actual: hexBytes(sh.memmap.readStructPage(p)),
          });
        }
      }
    }
    if (aliasing && s && s.info !== null) {
      // The aliases of legacy: the pfn after each fake head must point at the real head.
      const p = Math.floor((vpn * ps) / sps);
      const ch = p === chPfn ? chOf : sh.compound.compoundHead(p);
      if (ch !== head)
        pushCapped(out, {
          invariant: "compound_head",
          detail: `pfn ${p} of folio ${head}: compound_head() gives ${ch}`,
          pfn: p,
          expected: `head ${head}`,
          actual: `${ch}`,
        });
    }
  }
  return out;
}

/** The design's facts (mm/hugetlb_vmemmap.ts HvoDesign), or null on a kernel without HVO. */
export function hvoDesignOf(k: Kernel): HvoDesign | null {
  const hvo = k.sub.hvo as { design?: HvoDesign } | undefined;
  return hvo?.design ?? null;
}

/**
 * The word set_compound_head() must leave in every tail of a folio, from the encoding's formula
 * (include/linux/page-flags.h): the head's struct page address | 1 (legacy, and the series when
 * sizeof(struct page) is not a power of two), or GENMASK(63, order + log2(sizeof(struct page)))
 * | 1 (the series' mask). Which one is the design's fact (mm/hvo_designs.ts usesMaskEncoding), not the model's
 * Compound config.
 */
export function expectedTailWord(k: Kernel, headPfn: number, order: number): bigint {
  return tailWord(k, tailWordIsMask(k), headPfn, order);
}

/** Whether the design's tail word is the mask (else the head's address | 1). */
function tailWordIsMask(k: Kernel): boolean {
  const d = hvoDesignOf(k);
  return (
    d !== null &&
    usesMaskEncoding(d.name, {
      structPagePow2: Number.isInteger(Math.log2(k.spec.structPageSize)),
      archHvo: k.spec.arch.optimizeHugetlbVmemmap,
    })
  );
}

function tailWord(k: Kernel, mask: boolean, headPfn: number, order: number): bigint {
  const sps = k.spec.structPageSize;
  if (mask) {
    const low = BigInt(order + Math.log2(sps));
    return ((U64 >> low) << low) | 1n;
  }
  return (k.vmemmapBase + BigInt(headPfn) * BigInt(sps)) | 1n;
}

/**
 * compound_head() of a tail holding exactly prep_compound_tail()'s word finds the head for
 * every pfn of the folio when it does for the first and the last (mask: monotone in the
 * address; pointer: constant).
 */
function expectedDecodes(c: CheckContext, head: number, nr: number, info: bigint): boolean {
  return decodeHead(c, head + 1, info) === head && decodeHead(c, head + nr - 1, info) === head;
}

/** Folios whose tail word CheckContext.tailWords keeps at most (then it starts again). */
const TAIL_WORDS_KEPT = 1 << 16;

/**
 * The encoding's tail word for a folio and whether it decodes to the head (expectedDecodes(),
 * worked out when first needed): both follow from the head, the order and the kernel's layout
 * alone, so they are worked out once per folio shape and kept (bigint arithmetic is most of a
 * folio check's cost otherwise).
 */
function folioTailWord(c: CheckContext, head: number, order: number): TailWordMemo {
  const key = head * 64 + order;
  if (c.tailWords === undefined) c.tailWords = new Map();
  const memo = c.tailWords;
  let w = memo.get(key);
  if (w === undefined) {
    if (memo.size >= TAIL_WORDS_KEPT) memo.clear();
    c.tailMask ??= tailWordIsMask(c.k);
    w = { info: tailWord(c.k, c.tailMask, head, order), decodes: null };
    memo.set(key, w);
  }
  return w;
}

function pushCapped(out: Violation[], v: Violation): void {
  if (out.length < 8) out.push(v);
}

/** folio_test_hugetlb_vmemmap_optimized(), read through the shadow memmap. */
export function isOptimizedRaw(c: CheckContext, head: number): boolean {
  if (!c.shadow.memmap.backing(head)) return false;
  return c.shadow.memmap.testBit(head, PAGE_OFF.private, HPG.vmemmap_optimized);
}

/** The folios of the pool (every HugeTLB folio the model knows). */
export function poolFolios(k: Kernel): FolioRef[] {
  const pool = poolOf(k);
  if (!pool) return [];
  const out: FolioRef[] = [];
  for (const [headPfn, info] of pool.folios) out.push({ headPfn, order: info.h.order });
  return out;
}

// ------------------------------------------------------------------ the invariants

/** (a)+(b) for every folio. */
export function compoundHeads(model: CheckTarget, folios?: FolioRef[]): Violation[] {
  const k = kernelOf(model);
  const c = checkContext(k);
  c.mirror.refresh();
  const memo = new Map<number, FrameSummary>();
  const own: OwnBytesMemo = { bytes: null, summary: null };
  const out: Violation[] = [];
  for (const f of folios ?? poolFolios(k)) out.push(...checkFolio(c, f, { memo, own }));
  return out;
}

/** (b) alone: struct pages with PG_head that are not a folio's head (seed/mainline: none at all). */
export function fakeHeads(model: CheckTarget, folios?: FolioRef[]): Violation[] {
  return compoundHeads(model, folios).filter((v) => v.invariant === "fake_head");
}

/**
 * (c) no stale TLB entries once an operation has completed: every entry, or those of `vpns`
 * (the vmemmap pages whose translation changed: no other entry can have gone stale).
 */
export function staleTlb(model: CheckTarget, vpns?: Iterable<number>): Violation[] {
  const k = kernelOf(model);
  return staleTlbViolations(k, k.pgt.staleTlbEntries(vpns));
}

/**
 * staleTlb() of the vmemmap pages of `changes` (in that order, repeats too), with the page
 * tables' translation taken from `translate` (the checker's mirror, just refreshed: what a walk
 * of the tables gives, without the walk). Only pages the TLB holds are looked at.
 */
export function staleTlbOf(
  k: Kernel,
  changes: readonly { vpn: number }[],
  translate: (vpn: number) => { frame: number; writable: boolean } | null,
): Violation[] {
  const pgt = k.pgt;
  if (pgt.tlbSize === 0) return [];
  const stale: Array<{ vpn: number; cached: Translation; actual: Translation | null }> = [];
  for (let i = 0; i < changes.length; i++) {
    const vpn = changes[i].vpn;
    const cached = pgt.tlbEntry(vpn);
    if (cached === undefined) continue;
    const a = translate(vpn);
    if (a && a.frame === cached.frame && a.writable === cached.writable) continue;
    stale.push({
      vpn,
      cached,
      actual: a ? { frame: a.frame, writable: a.writable } : null,
    });
  }
  return stale.length === 0 ? [] : staleTlbViolations(k, stale);
}

function staleTlbViolations(
  k: Kernel,
  stale: Array<{ vpn: number; cached: Translation; actual: Translation | null }>,
): Violation[] {
  return stale.slice(0, 8).map((s) => ({
    invariant: "stale_tlb" as const,
    detail: `TLB entry for vmemmap page ${s.vpn} (struct pages from pfn ${Math.floor((s.vpn * k.pageSize) / k.spec.structPageSize)}) still translates to frame ${s.cached.frame}${s.cached.writable ? " RW" : " RO"}; the page tables say ${s.actual ? `frame ${s.actual.frame}${s.actual.writable ? " RW" : " RO"}` : "unmapped"}`,
    expected: s.actual ? `frame ${s.actual.frame}` : "none",
    actual: `frame ${s.cached.frame}`,
  }));
}

/** (c) an Oops raised by an operation (a write through a read-only PTE, a BUG_ON). */
export function oopsViolation(e: Oops): Violation {
  const ro = /read-only/.test(e.message);
  return {
    invariant: ro ? "ro_pte_write" : "oops",
    detail: e.message,
    pfn: e.pfn ?? undefined,
    expected: ro ? "no write through a read-only vmemmap PTE" : undefined,
    actual: e.vaddr !== null ? hex64(e.vaddr) : undefined,
  };
}

/**
 * (d) every present frame in exactly one state: the buddy's free blocks, its allocations and
 * memblock's reservations tile the present memory, without overlap and without gaps.
 */
export function frameTiling(model: CheckTarget): Violation[] {
  const k = kernelOf(model);
  // Every interval as (start, end, state name), in flat arrays (thousands per machine).
  const starts: number[] = [];
  const ends: number[] = [];
  const whats: string[] = [];
  for (const b of k.buddy.freeBlocks()) {
    starts.push(b.start);
    ends.push(b.start + b.nrPages);
    whats.push("free");
  }
  for (const [pfn, a] of k.buddy.allocations) {
    starts.push(pfn);
    ends.push(pfn + 2 ** a.order);
    whats.push(allocState(a.use));
  }
  // memblock keeps listing the gigantic pages it gave HugeTLB at boot (memblock.reserved is not
  // pruned after boot); the pool's allocation is their one state, so those entries are skipped.
  for (const r of k.memblock.reserved)
    if (r.use !== "hugetlb" || !k.booted) {
      starts.push(r.startPfn);
      ends.push(r.endPfn);
      whats.push(reservedState(r.use));
    }
  const order = sortedByStart(starts);
  // Present memory that is online (an offlined memory block's frames are in no state).
  const present = k.onlineRanges();
  const out: Violation[] = [];
  const push = (v: Violation) => {
    if (out.length < 8) out.push(v);
  };
  /** Present frames [from, to) that are free, allocated and reserved nowhere. */
  const leaked = (from: number, to: number) =>
    push({
      invariant: "frame_state",
      detail: `frames ${from}..${to - 1} are in no state (leaked)`,
      pfn: from,
      expected: "free, allocated or reserved",
      actual: "none",
    });
  let pi = 0;
  let cursor = present.length ? present[0].startPfn : 0;
  let prev = -1;
  for (const i of order) {
    const xs = starts[i];
    const xe = ends[i];
    if (prev >= 0 && xs < ends[prev]) {
      push({
        invariant: "frame_state",
        detail: `frames ${xs}..${Math.min(xe, ends[prev]) - 1} are both ${whats[prev]} and ${whats[i]}`,
        pfn: xs,
        expected: "one state",
        actual: `${whats[prev]} + ${whats[i]}`,
      });
      if (xe > ends[prev]) prev = i;
      cursor = Math.max(cursor, xe);
      continue;
    }
    // Gaps before x inside present memory: frames in no state (lost).
    while (pi < present.length && present[pi].endPfn <= xs) {
      if (cursor < present[pi].endPfn) leaked(cursor, present[pi].endPfn);
      pi++;
      cursor = pi < present.length ? Math.max(cursor, present[pi].startPfn) : cursor;
    }
    if (pi < present.length && cursor < xs && xs > present[pi].startPfn) leaked(cursor, xs);
    const inside = pi < present.length && xs >= present[pi].startPfn && xe <= present[pi].endPfn;
    if (!inside && whats[i] !== "reserved:kernel")
      push({
        invariant: "frame_state",
        detail: `${whats[i]} frames ${xs}..${xe - 1} are not all present memory`,
        pfn: xs,
      });
    cursor = Math.max(cursor, xe);
    prev = i;
  }
  while (pi < present.length) {
    if (cursor < present[pi].endPfn) leaked(cursor, present[pi].endPfn);
    pi++;
    if (pi < present.length) cursor = Math.max(cursor, present[pi].startPfn);
  }
  return out;
}

/** Indexes of `starts` in ascending order: a numeric sort of start * 2^k + index. */
function sortedByStart(starts: number[]): number[] {
  const n = starts.length;
  let max = 0;
  for (const x of starts) if (x > max) max = x;
  const bits = Math.ceil(Math.log2(n + 1));
  if ((max + 1) * 2 ** bits >= 2 ** 53)
    return Array.from({ length: n }, (_, i) => i).sort((a, b) => starts[a] - starts[b]);
  const scale = 2 ** bits;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = starts[i] * scale + i;
  keys.sort();
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = keys[i] % scale;
  return out;
}

/**
 * (d) the memmap's frames: every frame a vmemmap PTE maps is memmap (runtime vmemmap, a shared
 * tail, boot memmap), and every frame allocated as vmemmap or shared tail is mapped (no leak).
 * (e) nr_memmap_pages and nr_memmap_boot_pages equal the frames that back the memmap.
 */
export function memmapFrames(model: CheckTarget): Violation[] {
  const k = kernelOf(model);
  const c = checkContext(k);
  c.mirror.refresh();
  const out: Violation[] = [];
  const push = (v: Violation) => {
    if (out.length < 8) out.push(v);
  };
  let boot = 0;
  let runtime = 0;
  const counted = (frame: number, st: string) => {
    if (st === "reserved:vmemmap") boot++;
    else if (st === "alloc:vmemmap") runtime++;
    else if (!st.endsWith("shared_tail")) push(memmapFrameViolation(frame, st));
  };
  c.mirror.pteRefs().forEachFrame((frame) => counted(frame, frameState(k, frame)));
  for (const h of c.mirror.hugeLeaves()) {
    // A huge leaf's frames share one state unless something is wrong: check the ends and the
    // reservation covering them.
    const r = k.memblock.findReserved(h.frame);
    if (r && r.use === "vmemmap" && r.endPfn >= h.frame + h.nrPages) boot += h.nrPages;
    else for (let j = 0; j < h.nrPages; j++) counted(h.frame + j, frameState(k, h.frame + j));
  }
  // Leaks: allocated as memmap but not mapped (a published shared tail is kept for later use).
  const published = publishedTails(k);
  for (const use of ["vmemmap", "shared_tail"] as const)
    for (const pfn of k.buddy.allocations.withUse(use)) {
      const a = k.buddy.allocations.get(pfn) as { order: number; use: string };
      for (let j = 0; j < 2 ** a.order; j++) {
        if (
          c.mirror.mapCount(pfn + j) === 0 &&
          !(a.use === "shared_tail" && published.has(pfn + j))
        )
          push({
            invariant: "vmemmap_leak",
            detail: `frame ${pfn + j} is allocated as ${a.use} but no vmemmap PTE maps it`,
            pfn: pfn + j,
            expected: "mapped or freed",
            actual: `alloc:${a.use}, unmapped`,
          });
      }
    }
  memmapCountVerdicts(c, boot, runtime, push);
  return out;
}

/**
 * The vmemmap pages the memmap counters do not cover: __populate_section_memmap() counts
 * DIV_ROUND_UP(PAGES_PER_SECTION * sizeof(struct page), PAGE_SIZE) per present section, but a
 * vmemmap PMD block that serves a present section is populated whole, so where one block spans
 * several sections (arm64 16K/64K, loongarch64) the memmap of sections that are not present is
 * backed too. These are the vmemmap pages of such blocks outside every present section's memmap,
 * from the machine's layout alone (ascending, as [start, end) vpn ranges).
 */
export function uncountedVmemmapRanges(k: Kernel): Array<[number, number]> {
  const g = k.geometry;
  const sps = k.spec.structPageSize;
  const ps = g.pageSize;
  const perPmd = Math.max(1, g.pmdSize / ps);
  const present: Array<[number, number]> = k.sections
    .map((sec): [number, number] => [
      Math.floor((sec.startPfn * sps) / ps),
      Math.ceil(((sec.startPfn + g.pagesPerSection) * sps) / ps),
    ])
    .sort((a, b) => a[0] - b[0]);
  const blocks = new Set<number>();
  for (const [a, b] of present)
    for (let blk = Math.floor(a / perPmd); blk * perPmd < b; blk++) blocks.add(blk);
  const out: Array<[number, number]> = [];
  for (const blk of [...blocks].sort((a, b) => a - b)) {
    let cur = blk * perPmd;
    const end = cur + perPmd;
    for (const [a, b] of present) {
      if (b <= cur || a >= end) continue;
      if (a > cur) out.push([cur, a]);
      cur = Math.max(cur, b);
    }
    if (cur < end) out.push([cur, end]);
  }
  return out;
}

/** The frames mapped at uncountedVmemmapRanges(), by state (distinct frames). */
export function uncountedMemmapFrames(c: CheckContext): { boot: number; runtime: number } {
  const k = c.k;
  if (c.uncounted && c.uncounted.version === c.mirror.version) return c.uncounted;
  c.uncountedRanges ??= uncountedVmemmapRanges(k);
  const boot = new Set<number>();
  const runtime = new Set<number>();
  for (const [a, b] of c.uncountedRanges)
    for (let vpn = a; vpn < b; vpn++) {
      const m = c.mirror.translate(vpn);
      if (!m) continue;
      const st = frameState(k, m.frame);
      if (st === "reserved:vmemmap") boot.add(m.frame);
      else if (st === "alloc:vmemmap") runtime.add(m.frame);
    }
  c.uncounted = { version: c.mirror.version, boot: boot.size, runtime: runtime.size };
  return c.uncounted;
}

/** A frame a vmemmap PTE maps that is not memmap. */
export function memmapFrameViolation(frame: number, st: string): Violation {
  return {
    invariant: "frame_state",
    detail: `frame ${frame} backs the memmap but is ${st}`,
    pfn: frame,
    expected: "vmemmap",
    actual: st,
  };
}

/**
 * What memmapFrames() concludes from the boot and run-time frames that back the memmap (the
 * frame ledger counts them its own way and concludes the same): a reserved boot memmap frame
 * no PTE maps, and the vmstat counters against the frames.
 */
export function memmapCountVerdicts(
  c: CheckContext,
  boot: number,
  runtime: number,
  push: (v: Violation) => void,
): void {
  const k = c.k;
  // Boot memmap: every reserved vmemmap frame is mapped exactly when the mapped boot frames
  // number as many as the reserved ones; only then look for which one is not.
  let reservedVmemmap = 0;
  for (const r of k.memblock.reserved)
    if (r.use === "vmemmap") reservedVmemmap += r.endPfn - r.startPfn;
  if (boot !== reservedVmemmap) {
    for (const r of k.memblock.reserved) {
      if (r.use !== "vmemmap") continue;
      for (let f = r.startPfn; f < r.endPfn; f++) {
        if (c.mirror.mapCount(f) === 0) {
          push({
            invariant: "vmemmap_leak",
            detail: `boot memmap frame ${f} is reserved but no vmemmap PTE maps it`,
            pfn: f,
            expected: "mapped or freed",
            actual: "reserved:vmemmap, unmapped",
          });
          break;
        }
      }
    }
  }
  // The counters count one vmemmap page per page of a present section's memmap that has its own
  // frame (a page remapped to the head page or to a shared tail is freed and uncounted): the
  // frames that back the memmap, less those only the vmemmap of absent sections maps
  // (uncountedVmemmapRanges(): the layout's arithmetic, not a calibration).
  const un = uncountedMemmapFrames(c);
  const wantRuntime = runtime - un.runtime;
  const wantBoot = boot - un.boot;
  const note = (off: number) => (off ? ` (${off} of them back only absent sections' memmap)` : "");
  if (k.vmstat.nrMemmapPages !== wantRuntime)
    push({
      invariant: "memmap_counters",
      detail: `nr_memmap_pages is ${k.vmstat.nrMemmapPages}, ${runtime} frames from the page allocator back the memmap${note(un.runtime)}`,
      expected: `${wantRuntime}`,
      actual: `${k.vmstat.nrMemmapPages}`,
    });
  if (k.vmstat.nrMemmapBootPages !== wantBoot)
    push({
      invariant: "memmap_counters",
      detail: `nr_memmap_boot_pages is ${k.vmstat.nrMemmapBootPages}, ${boot} boot frames back the memmap${note(un.boot)}`,
      expected: `${wantBoot}`,
      actual: `${k.vmstat.nrMemmapBootPages}`,
    });
}

/** (e) the buddy's counters: each zone's nr_free equals its free blocks; managed = free + handed out. */
export function buddyCounters(model: CheckTarget): Violation[] {
  const k = kernelOf(model);
  const out: Violation[] = [];
  const free = new Map<object, number>();
  const used = new Map<object, number>();
  for (const b of k.buddy.freeBlocks()) {
    const z = k.buddy.zoneOf(b.start);
    if (z) free.set(z, (free.get(z) ?? 0) + b.nrPages);
  }
  for (const [pfn, a] of k.buddy.allocations) {
    const z = k.buddy.zoneOf(pfn);
    if (z) used.set(z, (used.get(z) ?? 0) + 2 ** a.order);
  }
  for (const z of k.buddy.zones) {
    const f = free.get(z) ?? 0;
    if (f !== z.nrFree)
      out.push({
        invariant: "buddy_counters",
        detail: `node ${z.nid} zone ${z.type}: nr_free ${z.nrFree}, its free blocks hold ${f}`,
        expected: `${f}`,
        actual: `${z.nrFree}`,
      });
    const u = used.get(z) ?? 0;
    if (z.managed !== f + u)
      out.push({
        invariant: "buddy_counters",
        detail: `node ${z.nid} zone ${z.type}: managed ${z.managed}, free ${f} + allocated ${u} = ${f + u}`,
        expected: `${f + u}`,
        actual: `${z.managed}`,
      });
  }
  return out;
}

/**
 * (e) pool counters (mm/hugetlb.c struct hstate) against what the folios show (pool_ref.ts
 * observePool(): their pfns' nodes and their head struct pages), and the pool's lists against
 * its folios.
 */
export function poolCounters(model: CheckTarget): Violation[] {
  const k = kernelOf(model);
  const pool = poolOf(k);
  if (!pool) return [];
  const c = checkContext(k);
  c.mirror.refresh();
  // Nothing it reads changed since the last pass: the same verdicts.
  const key = poolKey(c, pool);
  const memo = c.poolMemo;
  if (key !== null && memo !== undefined && sameKey(memo.key, key)) return memo.out.slice();
  const out = poolCountersPass(k, c, pool);
  c.poolMemo = key === null ? undefined : { key, out: out.slice() };
  return out;
}

/**
 * Everything poolCounters() reads, as numbers: the pool's and its lists' versions (folios, their
 * lists, hpage_freelist), the frame-store and page-table writes (the heads' struct pages), the
 * buddy's and memblock's changes (the allocations), the mirror's version (translations), and
 * every counter of every hstate. Null when the allocations are not watched (no frame ledger).
 */
function poolKey(c: CheckContext, pool: HugetlbPool): number[] | null {
  if (c.stateChanges === undefined) return null;
  const key = [pool.version, c.writes, c.stateChanges, c.mirror.version];
  for (const h of pool.hstates) {
    key.push(
      h.hugepageActivelist.version,
      h.nrHugePages,
      h.freeHugePages,
      h.resvHugePages,
      h.surplusHugePages,
    );
    for (const nid of pool.nodes)
      key.push(h.hugepageFreelists[nid].version, h.freeHugePagesNode[nid], h.nrHugePagesNode[nid]);
    // Summed over every node id, not only those with memory.
    key.push(h.surplusHugePagesNode.length, ...h.surplusHugePagesNode);
  }
  return key;
}

function sameKey(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function poolCountersPass(k: Kernel, c: CheckContext, pool: HugetlbPool): Violation[] {
  const mirror = c.mirror;
  const allocations = k.buddy.allocations;
  // The per-folio rules below, judged during observePool()'s pass: only when some folio breaks
  // one is the pool walked again, per hstate, for the report. hugetlbHeads: the folios whose
  // head starts a hugetlb allocation (see the last rule).
  let folioTrouble = false;
  let hugetlbHeads = 0;
  c.poolFree ??= { writes: -1, free: new Map() };
  const seen = observePool(
    k,
    pool,
    (vpn) => mirror.frameOf(vpn),
    (head, info, nid) => {
      const a = allocations.get(head);
      if (a?.use === "hugetlb") hugetlbHeads++;
      if (folioTrouble) return;
      if (info.list === null) folioTrouble = !pool.hpageFreelist.includes(head);
      else folioTrouble = info.nid !== nid || a?.use !== "hugetlb" || a.order !== info.h.order;
    },
    { memo: c.poolFree, writes: c.writes },
  );
  const out: Violation[] = [];
  // The detail is written only for a counter that is wrong (this runs after every step).
  const bad = (detail: () => string, expected: number, actual: number) => {
    if (expected !== actual && out.length < 8)
      out.push({
        invariant: "pool_counters",
        detail: detail(),
        expected: `${expected}`,
        actual: `${actual}`,
      });
  };
  const pending = new Set(folioTrouble ? pool.hpageFreelist : []);
  for (const h of pool.hstates) {
    const obs = seen.get(h.name) as ObservedHstate;
    if (folioTrouble)
      for (const [head, info] of pool.folios) {
        if (info.h !== h) continue;
        if (info.list === null) {
          if (!pending.has(head) && out.length < 8)
            out.push({
              invariant: "pool_counters",
              detail: `${h.name}: folio ${head} is on no list and not waiting to be freed`,
              pfn: head,
            });
          continue;
        }
        if (info.nid !== k.pfnToNid(head))
          bad(
            () => `${h.name}: folio ${head} is counted on node ${info.nid}`,
            k.pfnToNid(head),
            info.nid,
          );
        const a = k.buddy.allocations.get(head);
        if (a?.use !== "hugetlb" || a.order !== h.order)
          out.push({
            invariant: "pool_counters",
            detail: `${h.name}: folio ${head} is ${a ? `alloc:${a.use} order ${a.order}` : "not allocated"}`,
            pfn: head,
          });
      }
    bad(() => `${h.name}: nr_hugepages against the folios in the pool`, obs.nr, h.nrHugePages);
    let free = 0;
    for (const nid of pool.nodes) {
      const list = h.hugepageFreelists[nid];
      free += list.size;
      bad(
        () => `${h.name}: node${nid} free_hugepages against the folios whose struct page says free`,
        obs.freeNode[nid] ?? 0,
        h.freeHugePagesNode[nid],
      );
      bad(
        () => `${h.name}: node${nid} free list against the folios whose struct page says free`,
        obs.freeNode[nid] ?? 0,
        list.size,
      );
      bad(
        () => `${h.name}: node${nid} nr_hugepages against the folios on that node`,
        obs.nrNode[nid] ?? 0,
        h.nrHugePagesNode[nid],
      );
      // A node's surplus may exceed its pages (nodeSurplus() below): not checked here.
      for (const f of list) {
        const info = pool.folios.get(f);
        if (info?.list !== "free" || info.nid !== nid)
          out.push({
            invariant: "pool_counters",
            detail: `${h.name}: folio ${f} on node${nid}'s free list is ${info ? `${info.list} on node ${info.nid}` : "unknown"}`,
            pfn: f,
          });
      }
    }
    bad(
      () => `${h.name}: free_hugepages against the folios whose struct page says free`,
      obs.free,
      h.freeHugePages,
    );
    bad(() => `${h.name}: free_hugepages against the free lists`, free, h.freeHugePages);
    bad(
      () => `${h.name}: nr_hugepages = free + active`,
      free + h.hugepageActivelist.size,
      h.nrHugePages,
    );
    bad(
      () => `${h.name}: surplus_hugepages against the per-node counts`,
      h.surplusHugePagesNode.reduce((a, b) => a + b, 0),
      h.surplusHugePages,
    );
    // Above nr_hugepages is a finding (nodeSurplus() below), not an invariant of the kernel.
    if (h.surplusHugePages < 0)
      bad(() => `${h.name}: surplus_hugepages below 0`, 0, h.surplusHugePages);
    if (h.resvHugePages < 0 || h.resvHugePages > h.freeHugePages)
      bad(
        () => `${h.name}: resv_hugepages outside [0, free ${h.freeHugePages}]`,
        Math.min(Math.max(h.resvHugePages, 0), h.freeHugePages),
        h.resvHugePages,
      );
  }
  // Every hugetlb allocation is a folio of the pool. The folios counted in hugetlbHeads are
  // distinct hugetlb allocations: as many as there are allocations means every one is a folio.
  const hugetlb = allocations.withUse("hugetlb");
  if (hugetlb.size !== hugetlbHeads)
    for (const pfn of hugetlb) {
      const a = k.buddy.allocations.get(pfn) as { order: number };
      if (!pool.folios.has(pfn) && out.length < 8)
        out.push({
          invariant: "pool_counters",
          detail: `frames ${pfn}..${pfn + 2 ** a.order - 1} are allocated as hugetlb but no folio of the pool holds them`,
          pfn,
        });
    }
  return out;
}

/**
 * A finding, not an invariant of the kernel: set_max_huge_pages() shrinks the persistent pool
 * with remove_pool_hugetlb_folio(acct_surplus = false), which takes free pages from any node
 * whatever that node's surplus count, so a node can be left with more surplus pages than pages
 * (its sysfs files show it). demote_pool_huge_page() removes free pages with
 * remove_hugetlb_folio(acct_surplus = false) too: demoting a free surplus page (one a failed
 * vmemmap restore put back) leaves surplus_hugepages above nr_hugepages for the whole hstate.
 * Kept apart so that it does not stop every run.
 */
export function nodeSurplus(model: CheckTarget): Violation[] {
  const pool = poolOf(kernelOf(model));
  const out: Violation[] = [];
  if (!pool) return out;
  for (const h of pool.hstates) {
    if (h.surplusHugePages > h.nrHugePages)
      out.push({
        invariant: "pool_counters",
        detail: `${h.name}: surplus_hugepages ${h.surplusHugePages} above nr_hugepages ${h.nrHugePages}`,
        expected: `<= ${h.nrHugePages}`,
        actual: `${h.surplusHugePages}`,
      });
    for (const nid of pool.nodes)
      if (h.surplusHugePagesNode[nid] < 0 || h.surplusHugePagesNode[nid] > h.nrHugePagesNode[nid])
        out.push({
          invariant: "pool_counters",
          detail: `${h.name}: node${nid} surplus_hugepages ${h.surplusHugePagesNode[nid]} outside [0, nr_hugepages ${h.nrHugePagesNode[nid]}]`,
          expected: `<= ${h.nrHugePagesNode[nid]}`,
          actual: `${h.surplusHugePagesNode[nid]}`,
        });
  }
  return out;
}

/** The shared tails HVO has published (vmemmap_tails[] of seed's nodes, mainline's zones). */
export function publishedTails(k: Kernel): Set<number> {
  const hvo = k.sub.hvo as
    | { sharedTails?: () => Array<{ pfn: number }>; vmemmapTails?: ReadonlyMap<string, number> }
    | undefined;
  const out = new Set<number>();
  // The table itself when there is one (read after every step: no list built to be read).
  if (hvo?.vmemmapTails instanceof Map) {
    for (const pfn of hvo.vmemmapTails.values()) if (pfn) out.add(pfn);
  } else if (hvo && typeof hvo.sharedTails === "function")
    for (const t of hvo.sharedTails()) if (t.pfn) out.add(t.pfn);
  return out;
}

/**
 * Whether publishedTails(k) is `prev` (the same frames): read from the table without building
 * a set, for a caller that asks after every step and almost always hears yes.
 */
export function publishedTailsAre(k: Kernel, prev: ReadonlySet<number>): boolean {
  const hvo = k.sub.hvo as
    | { sharedTails?: () => Array<{ pfn: number }>; vmemmapTails?: ReadonlyMap<string, number> }
    | undefined;
  if (!(hvo?.vmemmapTails instanceof Map)) return setsEqual(publishedTails(k), prev);
  // Distinct frames in the table, all in prev, as many as prev holds: the same set.
  const seen: number[] = [];
  for (const pfn of hvo.vmemmapTails.values()) {
    if (!pfn || seen.includes(pfn)) continue;
    if (!prev.has(pfn)) return false;
    seen.push(pfn);
  }
  return seen.length === prev.size;
}

function setsEqual(a: ReadonlySet<number>, b: ReadonlySet<number>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** The shared tail frames (seed/mainline): allocated or reserved as shared_tail. */
export function sharedTailFrames(k: Kernel): number[] {
  const out: number[] = [];
  for (const [pfn, a] of k.buddy.allocations)
    if (a.use === "shared_tail") for (let j = 0; j < 2 ** a.order; j++) out.push(pfn + j);
  for (const r of k.memblock.reserved)
    if (r.use === "shared_tail") for (let f = r.startPfn; f < r.endPfn; f++) out.push(f);
  return out;
}

/**
 * (f) seed/mainline: every struct page of a shared tail page is the same tail (bit 0 set,
 * TAIL_MAPPING, the mask of one order); shared tails of one order differ at most in their node
 * and zone bits; a shared tail's bytes never change once it is mapped.
 */
export function sharedTails(model: CheckTarget): Violation[] {
  const k = kernelOf(model);
  if ((hvoDesignOf(k)?.facts.tailScope ?? "none") === "none") return [];
  const c = checkContext(k);
  c.mirror.refresh();
  const out: Violation[] = [...c.sharedTailWrites.splice(0)];
  const sps = k.spec.structPageSize;
  const ps = k.pageSize;
  const byInfo = new Map<string, { frame: number; rest: Uint8Array }>();
  const hvo = k.sub.hvo as
    | { sharedTails?: () => Array<{ pfn: number; order: number }> }
    | undefined;
  // The order of each published tail, looked up only when a tail is looked at.
  let tailOrder: Map<number, number> | null = null;
  const orderOf = (frame: number): number | undefined => {
    if (tailOrder === null) {
      tailOrder = new Map();
      if (hvo && typeof hvo.sharedTails === "function")
        for (const t of hvo.sharedTails()) if (t.pfn) tailOrder.set(t.pfn, t.order);
    }
    return tailOrder.get(frame);
  };
  for (const frame of publishedTails(k)) {
    if (c.mirror.mapCount(frame) === 0) continue;
    // Unchanged since the last pass (same pattern object, or the same bytes): nothing new.
    const pat = k.frames.patternOf(frame);
    const last = c.sharedTailPatterns.get(frame);
    if (last !== undefined && pat !== null && last === pat) continue;
    const seen = c.sharedTails.get(frame);
    // Own bytes found equal to the copy, and no write since: equal still.
    if (c.tailBytesAt === undefined) c.tailBytesAt = new Map();
    const bytesAt = c.tailBytesAt;
    if (seen && pat === null && bytesAt.get(frame) === c.writes) continue;
    const view = k.frames.view(frame);
    if (seen && pat === null && equalBytes(seen, view)) {
      bytesAt.set(frame, c.writes);
      continue;
    }
    c.sharedTailPatterns.set(frame, pat);
    const bytes = view.slice();
    bytesAt.set(frame, c.writes);
    if (!seen) c.sharedTails.set(frame, bytes);
    else if (!equalBytes(seen, bytes)) {
      const at = firstDiff(seen, bytes);
      const slot = Math.floor(at / sps) * sps;
      out.push({
        invariant: "shared_tail_written",
        detail: `shared tail frame ${frame} changed at byte ${at} since it was published`,
        pfn: frame,
        expected: hexBytes(seen.subarray(slot, slot + sps)),
        actual: hexBytes(bytes.subarray(slot, slot + sps)),
      });
      c.sharedTails.set(frame, bytes);
      c.tailSummaries.delete(frame);
    }
    if (ps % sps !== 0) continue;
    const first = bytes.subarray(0, sps);
    for (let i = 1; i < ps / sps; i++) {
      const slot = bytes.subarray(i * sps, (i + 1) * sps);
      if (!equalBytes(first, slot)) {
        out.push({
          invariant: "tails_identical",
          detail: `shared tail frame ${frame}: struct page ${i} differs from struct page 0`,
          pfn: frame,
          expected: hexBytes(first),
          actual: hexBytes(slot),
        });
        break;
      }
    }
    const v = new DataView(first.buffer, first.byteOffset, sps);
    const info = v.getBigUint64(PAGE_OFF.compoundInfo, true);
    const mapping = v.getBigUint64(PAGE_OFF.mapping, true);
    const flags = v.getBigUint64(PAGE_OFF.flags, true);
    if ((info & 1n) === 0n || mapping !== TAIL_MAPPING || (flags >> BigInt(PG.head)) & 1n) {
      out.push({
        invariant: "tails_identical",
        detail: `shared tail frame ${frame}: struct page 0 is not a tail (compound word ${hex64(info)}, mapping ${hex64(mapping)})`,
        pfn: frame,
        expected: `compound word <mask>|1, mapping ${hex64(TAIL_MAPPING)}, PG_head clear`,
        actual: hexBytes(first),
      });
    }
    // The mask of its order, as the encoding's formula gives it (the head is not needed).
    const order = orderOf(frame);
    if (order !== undefined && (info & 1n) === 1n) {
      const want = expectedTailWord(k, 0, order);
      if (info !== want)
        out.push({
          invariant: "tail_word",
          detail: `shared tail frame ${frame} (order ${order}): its compound word is not the encoding's`,
          pfn: frame,
          expected: hex64(want),
          actual: hex64(info),
        });
    }
    // Across pages of one order: all but the flags word.
    const rest = first.slice(8);
    const key = info.toString(16);
    const other = byInfo.get(key);
    if (!other) byInfo.set(key, { frame, rest });
    else if (!equalBytes(other.rest, rest))
      out.push({
        invariant: "tails_identical",
        detail: `shared tails ${other.frame} and ${frame} of one order differ beyond their node and zone bits`,
        pfn: frame,
        expected: hexBytes(other.rest),
        actual: hexBytes(rest),
      });
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  // A shared tail's 4 KiB is compared after every step: by 32-bit words where both views are
  // aligned to them (the same answer, a quarter of the loads).
  if (((a.byteOffset | b.byteOffset | a.length) & 3) === 0) {
    const x = new Uint32Array(a.buffer, a.byteOffset, a.length >> 2);
    const y = new Uint32Array(b.buffer, b.byteOffset, b.length >> 2);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return a.length;
}

/** Every invariant, over everything. */
export function allInvariants(model: CheckTarget): Violation[] {
  return [
    ...staleTlb(model),
    ...compoundHeads(model),
    ...frameTiling(model),
    ...memmapFrames(model),
    ...buddyCounters(model),
    ...poolCounters(model),
    ...sharedTails(model),
  ];
}

export const INVARIANTS: ReadonlyArray<{ name: string; run: (m: CheckTarget) => Violation[] }> = [
  { name: "stale TLB", run: staleTlb },
  { name: "compound_head, PageHead/PageTail, fake heads", run: compoundHeads },
  { name: "one state per frame", run: frameTiling },
  { name: "memmap frames and counters", run: memmapFrames },
  { name: "buddy counters", run: buddyCounters },
  { name: "pool counters", run: poolCounters },
  { name: "shared tails", run: sharedTails },
];

export { Oops };
