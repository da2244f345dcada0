// The frame invariants of invariants.ts - every frame in one state (frameTiling), the frames
// that back the memmap and their counters (memmapFrames), the buddy's counters
// (buddyCounters) - kept up to date after every step without sweeping the machine.
//
// The page allocator and memblock tell their listeners of every pfn range whose state changed
// (RangeListener in mm/page_alloc.ts: trace_mm_page_alloc()/trace_mm_page_free() in spirit),
// and the vmemmap mirror says which translations changed. If the invariants held at the last
// check, a violation now involves a range or a frame that changed since: those are the only
// ones looked at. The full sweeps stay in invariants.ts; the Checker runs them now and then
// and at the end of a run, which also checks this ledger's bookkeeping. Kernel counterparts:
// mm/page_alloc.c, mm/memblock.c, mm/sparse-vmemmap.c. Pure and browser-safe.

import { lastAtOrBelow } from "../include/bsearch.ts";
import { modPow2, pow2 } from "../include/pow2.ts";
import { findPfnRange } from "../machine/spec.ts";
import { type AllocationMap, type PageAllocator, findRange } from "../mm/page_alloc.ts";
import { PageDir } from "../mm/pfn_list.ts";
import {
  type CheckContext,
  type Violation,
  frameState,
  memmapCountVerdicts,
  memmapFrameViolation,
  publishedTails,
  publishedTailsAre,
} from "./invariants.ts";
import type { VpnChange } from "./vmemmap_mirror.ts";

/** Journal entries (start, nr pairs) kept before the ledger gives up and rebuilds. */
const MAX_JOURNAL = 1 << 18;

/** What a frame PTE leaves map counts as, or the state that makes it a violation. */
type MemmapClass = "boot" | "runtime" | "tail" | `bad:${string}`;

function memmapClass(st: string): MemmapClass {
  if (st === "reserved:vmemmap") return "boot";
  if (st === "alloc:vmemmap") return "runtime";
  if (st.endsWith("shared_tail")) return "tail";
  return `bad:${st}`;
}

/** memmapClass() as a small number, for FrameCodes (BAD: the state is kept apart). */
const NONE = 0;
const BOOT = 1;
const RUNTIME = 2;
const TAIL = 3;
const BAD = 4;

function classCode(st: string): number {
  const m = memmapClass(st);
  return m === "boot" ? BOOT : m === "runtime" ? RUNTIME : m === "tail" ? TAIL : BAD;
}

/** Frames per page of FrameCodes (a power of two). */
const CODE_PAGE = 1 << 16;

/**
 * A small number per frame (0 by default), in pages of CODE_PAGE frames made on first write:
 * a lookup is a division and an index, not a hash (the ledger looks up every frame a step
 * touched), and storage follows the frames the memmap's PTEs map, not the machine's size.
 */
class FrameCodes {
  private readonly pages = new Map<number, Uint8Array>();
  private lastKey = -1;
  private last: Uint8Array | undefined = undefined;

  private page(key: number): Uint8Array | undefined {
    if (key !== this.lastKey) {
      this.last = this.pages.get(key);
      this.lastKey = key;
    }
    return this.last;
  }

  get(frame: number): number {
    const key = Math.floor(frame / CODE_PAGE);
    const p = this.page(key);
    return p === undefined ? NONE : p[frame - key * CODE_PAGE];
  }

  set(frame: number, code: number): void {
    const key = Math.floor(frame / CODE_PAGE);
    let p = this.page(key);
    if (p === undefined) {
      if (code === NONE) return;
      p = new Uint8Array(CODE_PAGE);
      this.pages.set(key, p);
      this.last = p;
    }
    p[frame - key * CODE_PAGE] = code;
  }

  clear(): void {
    this.pages.clear();
    this.lastKey = -1;
    this.last = undefined;
  }
}

/**
 * A set of frames as update() builds one, without hashing: each frame's mark (the number of the
 * current round) in pages of CODE_PAGE frames made on first use (a PageDir, as the buddy's pfn
 * pages), and the frames in the order they were first added (a Set's order).
 */
export class FrameMarks {
  private pages = new PageDir<Uint16Array>();
  private lastKey = -1;
  private last: Uint16Array | undefined = undefined;
  private round = 0;
  /** The frames added since clear(), in the order first added. */
  readonly list: number[] = [];

  /** Empties the set (a new round: marks of older rounds no longer count). */
  clear(): void {
    this.list.length = 0;
    this.round++;
    if (this.round === 0x10000) {
      // The marks wrapped: every page starts again from 0.
      this.pages = new PageDir<Uint16Array>();
      this.lastKey = -1;
      this.last = undefined;
      this.round = 1;
    }
  }

  add(frame: number): void {
    const key = Math.floor(frame / CODE_PAGE);
    let p = key === this.lastKey ? this.last : this.pages.get(key);
    if (p === undefined) {
      p = new Uint16Array(CODE_PAGE);
      this.pages.put(key, p);
    }
    this.lastKey = key;
    this.last = p;
    const i = frame - key * CODE_PAGE;
    if (p[i] === this.round) return;
    p[i] = this.round;
    this.list.push(frame);
  }
}

interface LeafState {
  frame: number;
  nrPages: number;
  boot: number;
  runtime: number;
  /** Frames of the leaf that are not memmap, with their state. */
  bad: Map<number, string>;
}

export class FrameLedger {
  /** Every changed range since the last check, as start, nr pairs. */
  private ranges: number[] = [];
  /** The ranges whose allocation or reservation changed (a subset of `ranges`). */
  private allocRanges: number[] = [];
  private overflow = false;
  /** Numbers noted since the last check, two per range (ranges joined or not). */
  private noted = 0;
  private ready = false;
  /** Distinct frames PTE leaves map -> class. */
  private readonly cls = new FrameCodes();
  private readonly leaves = new Map<number, LeafState>();
  private boot = 0;
  private runtime = 0;
  /** Frames PTE leaves map that are not memmap -> their state. */
  private readonly bad = new Map<number, string>();
  /** Frames allocated as vmemmap or shared tail that nothing maps -> their use. */
  private readonly leaks = new Map<number, string>();
  private published = new Set<number>();
  private hugeVersion = -1;
  private readonly coalesce = new Coalescer();
  /** update()'s frames to look at again (kept from call to call, emptied first). */
  private readonly dirty = new FrameMarks();
  /** tiling()'s first allocation holding a pfn: start, end (allocationsHolding()). */
  private readonly held1 = [0, 0];
  /**
   * tiling() passes over runs of single pages with order0After() (false: block by block, as
   * test/check/frame_ledger_runs.test.ts compares).
   */
  byRuns = true;

  constructor(private readonly c: CheckContext) {
    const k = c.k;
    const all = (s: number, n: number) => this.note(s, n, false);
    const alloc = (s: number, n: number) => this.note(s, n, true);
    k.buddy.listeners.push(all);
    k.buddy.allocations.listeners.push(alloc);
    k.memblock.listeners.push(alloc);
    c.stateChanges ??= 0;
  }

  private note(start: number, nr: number, alloc: boolean): void {
    // Counted before anything else (CheckContext.stateChanges): memos of other passes key on it.
    (this.c.stateChanges as number)++;
    if (this.overflow) return;
    // `ranges` is read as a union (tiling()): a range that touches or repeats the one noted
    // last joins it (pages freed or handed out one after the other note hundreds of ranges a
    // step, then sorted). `allocRanges` keeps each range: update() looks at each one's start.
    const r = this.ranges;
    const n = r.length;
    if (n !== 0 && r[n - 2] <= start && start <= r[n - 2] + r[n - 1])
      r[n - 1] = Math.max(r[n - 2] + r[n - 1], start + nr) - r[n - 2];
    else if (n !== 0 && start < r[n - 2] && r[n - 2] <= start + nr) {
      r[n - 1] = Math.max(r[n - 2] + r[n - 1], start + nr) - start;
      r[n - 2] = start;
    } else r.push(start, nr);
    if (alloc) this.allocRanges.push(start, nr);
    this.noted += 2;
    if (this.noted > MAX_JOURNAL) {
      this.overflow = true;
      this.ranges = [];
      this.allocRanges = [];
    }
  }

  /** Forgets everything; the next check() rebuilds from the whole machine. */
  reset(): void {
    this.ready = false;
  }

  /**
   * The frame invariants after the changes since the last call (the vmemmap mirror refreshed
   * by the caller; `changes`: every translation change since the last call). The first call,
   * and one after too many changes, rebuilds from the whole machine.
   */
  check(changes: readonly VpnChange[]): Violation[] {
    const out: Violation[] = [];
    const push = (v: Violation) => {
      if (out.length < 8) out.push(v);
    };
    if (!this.ready || this.overflow) {
      this.rebuild();
      // Every present range, offline blocks too (nothing may be in them).
      const all = this.c.k.spec.nodes
        .flatMap((n) => n.ranges.map((r) => [r.startPfn, r.endPfn] as [number, number]))
        .sort((a, b) => a[0] - b[0]);
      this.tiling(all, push);
    } else {
      this.update(changes);
      this.tiling(this.coalesce.of(this.ranges), push);
    }
    this.ranges = [];
    this.allocRanges = [];
    this.noted = 0;
    this.overflow = false;
    this.memmapViolations(push);
    this.buddyCounters(push);
    return out;
  }

  // ---------------------------------------------------------------- one state per frame

  /**
   * frameTiling() over the given ranges: at each pfn, exactly one of a free block, an
   * allocation, a reservation holds it (a present pfn), none does (a hole).
   */
  private tiling(ranges: Array<[number, number]>, push: (v: Violation) => void): void {
    const k = this.c.k;
    const buddy = k.buddy;
    // Present memory that is online (an offlined memory block's frames are in no state).
    const present = k.onlineRanges();
    const apart = zonesApart(buddy);
    const allocs = buddy.allocations;
    const held1 = this.held1;
    for (const [start, end] of ranges) {
      let p = start;
      while (p < end) {
        const fb = apart ? freeBlockHolding(buddy, p) : buddy.freeBlockAt(p);
        // How many allocations hold p, and the first's end (no array: most blocks are one).
        const nHeld = allocationsHolding(allocs, p, held1);
        const r0 = k.memblock.findReserved(p);
        // memblock keeps listing the gigantic pages it gave HugeTLB at boot (see frameTiling).
        const r = r0 && (r0.use !== "hugetlb" || !k.booted) ? r0 : null;
        // The common case: one state, inside present memory; on to the next block.
        if ((fb ? 1 : 0) + nHeld + (r ? 1 : 0) === 1) {
          const fs = fb ? fb.start : nHeld ? held1[0] : (r as { startPfn: number }).startPfn;
          const fe = fb
            ? fb.start + 2 ** fb.order
            : nHeld
              ? held1[1]
              : (r as { endPfn: number }).endPfn;
          const pr = findPfnRange(present, p);
          if (pr !== null && fs >= pr.startPfn && fe <= pr.endPfn) {
            // A single page handed out alone (a restore's vmemmap pages, page tables): the
            // single pages after it in one pass (order0After()).
            p =
              fe === p + 1 && nHeld && apart && this.byRuns
                ? order0After(k, p, end, pr.endPfn)
                : fe;
            continue;
          }
        }
        const held = allocs.allContaining(p);
        const found: Array<{ start: number; end: number; what: string }> = [];
        if (fb) found.push({ start: fb.start, end: fb.start + 2 ** fb.order, what: "free" });
        for (const { start: s, a } of held)
          found.push({ start: s, end: s + 2 ** a.order, what: `alloc:${a.use}` });
        if (r) found.push({ start: r.startPfn, end: r.endPfn, what: `reserved:${r.use}` });
        const pr = findPfnRange(present, p);
        if (found.length > 1) {
          push({
            invariant: "frame_state",
            detail: `frame ${p} is both ${found[0].what} (${found[0].start}..${found[0].end - 1}) and ${found[1].what} (${found[1].start}..${found[1].end - 1})`,
            pfn: p,
            expected: "one state",
            actual: found.map((f) => f.what).join(" + "),
          });
          return;
        }
        if (found.length === 0) {
          if (pr) {
            push({
              invariant: "frame_state",
              detail: `frame ${p} is in no state (leaked)`,
              pfn: p,
              expected: "free, allocated or reserved",
              actual: "none",
            });
            return;
          }
          // A hole: on to the next present range.
          const next = present.find((x) => x.startPfn > p);
          p = next ? next.startPfn : end;
          continue;
        }
        const f = found[0];
        const inside = pr !== null && f.start >= pr.startPfn && f.end <= pr.endPfn;
        if (!inside && f.what !== "reserved:kernel") {
          push({
            invariant: "frame_state",
            detail: `${f.what} frames ${f.start}..${f.end - 1} are not all present memory`,
            pfn: f.start,
          });
          return;
        }
        p = f.end;
      }
    }
  }

  // ---------------------------------------------------------------- the memmap's frames

  private rebuild(): void {
    const c = this.c;
    const k = c.k;
    this.cls.clear();
    this.leaves.clear();
    this.bad.clear();
    this.leaks.clear();
    this.boot = 0;
    this.runtime = 0;
    this.published = publishedTails(k);
    c.mirror.pteRefs().forEachFrame((frame) => this.classify(frame, frameState(k, frame)));
    for (const h of c.mirror.hugeLeaves()) this.addLeaf(h.vpn);
    this.hugeVersion = c.mirror.hugeVersion;
    for (const use of ["vmemmap", "shared_tail"] as const)
      for (const pfn of k.buddy.allocations.withUse(use)) {
        const a = k.buddy.allocations.get(pfn);
        if (a) for (let j = 0; j < 2 ** a.order; j++) this.leakCheck(pfn + j, `alloc:${use}`);
      }
    this.ready = true;
  }

  private update(changes: readonly VpnChange[]): void {
    const c = this.c;
    const k = c.k;
    const dirty = this.dirty;
    dirty.clear();
    for (const ch of changes) {
      if (ch.beforeFrame >= 0) dirty.add(ch.beforeFrame);
      if (ch.afterFrame >= 0) dirty.add(ch.afterFrame);
    }
    if (c.mirror.hugeVersion !== this.hugeVersion) {
      // Huge leaves that went or came. A split PMD maps the same frames through PTEs, which
      // the mirror does not report as changes: the frames of a leaf that went are looked at.
      const now = c.mirror.hugeLeafMap();
      for (const [vpn, l] of this.leaves) {
        const h = now.get(vpn);
        if (h && h.frame === l.frame && h.nrPages === l.nrPages) continue;
        this.dropLeaf(vpn);
        for (let j = 0; j < l.nrPages; j++) dirty.add(l.frame + j);
      }
      for (const vpn of now.keys()) if (!this.leaves.has(vpn)) this.addLeaf(vpn);
      this.hugeVersion = c.mirror.hugeVersion;
    }
    const a = this.allocRanges;
    const mapped = (f: number) => dirty.add(f);
    const leaf = (vpn: number) => {
      this.dropLeaf(vpn);
      this.addLeaf(vpn);
    };
    for (let i = 0; i < a.length; i += 2) {
      const start = a[i];
      const end = start + a[i + 1];
      c.mirror.mappedIn(start, end, mapped, leaf);
      const al = k.buddy.allocations.get(start);
      if (al && (al.use === "vmemmap" || al.use === "shared_tail"))
        for (let j = 0; j < 2 ** al.order; j++) dirty.add(start + j);
      if (this.leaks.size !== 0)
        for (const f of this.leaks.keys()) if (f >= start && f < end) dirty.add(f);
    }
    // Shared tails published or withdrawn since the last check.
    if (!publishedTailsAre(k, this.published)) {
      const pub = publishedTails(k);
      for (const f of pub) if (!this.published.has(f)) dirty.add(f);
      for (const f of this.published) if (!pub.has(f)) dirty.add(f);
      this.published = pub;
    }
    const refs = c.mirror.pteRefs();
    for (const f of dirty.list) {
      const st = frameState(k, f);
      // Reclassified only when its class changed (most dirty frames keep theirs).
      const want = refs.has(f) ? classCode(st) : NONE;
      const was = this.cls.get(f);
      if (was !== want || (want === BAD && this.bad.get(f) !== st)) {
        this.unclassify(f);
        if (want !== NONE) this.classify(f, st);
      }
      this.leakCheck(f, st);
    }
  }

  private classify(frame: number, st: string): void {
    const m = classCode(st);
    this.cls.set(frame, m);
    if (m === BOOT) this.boot++;
    else if (m === RUNTIME) this.runtime++;
    else if (m === BAD) this.bad.set(frame, st);
  }

  private unclassify(frame: number): void {
    const m = this.cls.get(frame);
    if (m === NONE) return;
    this.cls.set(frame, NONE);
    if (m === BOOT) this.boot--;
    else if (m === RUNTIME) this.runtime--;
    else if (m === BAD) this.bad.delete(frame);
  }

  private leakCheck(frame: number, st: string): void {
    const use =
      st === "alloc:vmemmap" ? "vmemmap" : st === "alloc:shared_tail" ? "shared_tail" : null;
    if (use === null) {
      if (this.leaks.size !== 0) this.leaks.delete(frame);
      return;
    }
    if (
      this.c.mirror.mapCount(frame) === 0 &&
      !(use === "shared_tail" && this.published.has(frame))
    )
      this.leaks.set(frame, use);
    else this.leaks.delete(frame);
  }

  /** A huge leaf's frames, counted as memmapFrames() counts them. */
  private addLeaf(vpn: number): void {
    const k = this.c.k;
    const h = this.c.mirror.hugeLeaf(vpn);
    if (!h) return;
    const l: LeafState = {
      frame: h.frame,
      nrPages: h.nrPages,
      boot: 0,
      runtime: 0,
      bad: new Map(),
    };
    const r = k.memblock.findReserved(h.frame);
    if (r && r.use === "vmemmap" && r.endPfn >= h.frame + h.nrPages) l.boot = h.nrPages;
    else
      for (let j = 0; j < h.nrPages; j++) {
        const st = frameState(k, h.frame + j);
        const m = memmapClass(st);
        if (m === "boot") l.boot++;
        else if (m === "runtime") l.runtime++;
        else if (m !== "tail") l.bad.set(h.frame + j, st);
      }
    this.leaves.set(vpn, l);
    this.boot += l.boot;
    this.runtime += l.runtime;
  }

  private dropLeaf(vpn: number): void {
    const l = this.leaves.get(vpn);
    if (!l) return;
    this.leaves.delete(vpn);
    this.boot -= l.boot;
    this.runtime -= l.runtime;
  }

  /** memmapFrames()'s verdicts from the ledger's counts. */
  private memmapViolations(push: (v: Violation) => void): void {
    // Nothing to sort and nothing to report, the common case: no list built.
    let anyBad = this.bad.size !== 0;
    if (!anyBad)
      for (const l of this.leaves.values())
        if (l.bad.size !== 0) {
          anyBad = true;
          break;
        }
    if (anyBad) {
      const bad: Array<[number, string]> = [...this.bad];
      for (const l of this.leaves.values()) bad.push(...l.bad);
      for (const [frame, st] of bad.sort((x, y) => x[0] - y[0]))
        push(memmapFrameViolation(frame, st));
    }
    if (this.leaks.size !== 0)
      for (const [frame, use] of [...this.leaks].sort((x, y) => x[0] - y[0]))
        push({
          invariant: "vmemmap_leak",
          detail: `frame ${frame} is allocated as ${use} but no vmemmap PTE maps it`,
          pfn: frame,
          expected: "mapped or freed",
          actual: `alloc:${use}, unmapped`,
        });
    memmapCountVerdicts(this.c, this.boot, this.runtime, push);
  }

  // ---------------------------------------------------------------- the buddy's counters

  /**
   * buddyCounters() without walking the free lists: each zone's nr_free against the lengths of
   * its free lists and lazy ranges, managed against free plus the pages handed out.
   */
  private buddyCounters(push: (v: Violation) => void): void {
    const buddy = this.c.k.buddy;
    for (const z of buddy.zones) {
      let f = z.lazyPages();
      // 2^o pages per block of order o (a product, not a pow() per order).
      for (let o = 0, size = 1; o < z.freeArea.length; o++, size *= 2)
        f += z.freeArea[o].count * size;
      if (f !== z.nrFree)
        push({
          invariant: "buddy_counters",
          detail: `node ${z.nid} zone ${z.type}: nr_free ${z.nrFree}, its free lists hold ${f}`,
          expected: `${f}`,
          actual: `${z.nrFree}`,
        });
      const u = buddy.allocatedPages(z);
      if (z.managed !== f + u)
        push({
          invariant: "buddy_counters",
          detail: `node ${z.nid} zone ${z.type}: managed ${z.managed}, free ${f} + allocated ${u} = ${f + u}`,
          expected: `${f + u}`,
          actual: `${z.managed}`,
        });
    }
  }
}

/**
 * PageAllocator.freeBlockAt(pfn), asked only where a free block holding pfn can start. A block
 * is aligned to its order, so its head is pfn with some of its low bits cleared: the
 * MAX_PAGE_ORDER block's head (a lazy range's block included), then pfn and the heads below
 * it, each asked headOrder() once, where freeBlockAt() looks once per order (the tiling's walk
 * stops at block starts, mostly aligned: one or two heads instead of MAX_PAGE_ORDER lookups).
 * The questions come in freeBlockAt()'s order, which decides which of two overlapping blocks a
 * broken buddy reports. For zones that do not overlap (zonesApart()): headOrder() asks the zone
 * that holds the head about lazy ranges, freeBlockAt() the zone of pfn. The same answer as
 * freeBlockAt(): test/check/free_block.test.ts compares them pfn by pfn.
 */
export function freeBlockHolding(
  buddy: PageAllocator,
  pfn: number,
): { start: number; order: number } | null {
  const max = buddy.maxOrder;
  const top = pow2(max);
  const rem = modPow2(pfn, top);
  const base = pfn - rem;
  const ht = buddy.headOrder(base);
  if (ht === max) return { start: base, order: max };
  if (ht !== -1) {
    // A smaller block heads the MAX_PAGE_ORDER block. freeBlockAt()'s second question, a lazy
    // range of pfn's zone, comes before the smaller blocks (its first, an explicit
    // MAX_PAGE_ORDER block at the same head, cannot be: the buddy refuses a second head there).
    const z = buddy.zoneOf(pfn);
    if (z !== null && z.lazy.length > 0 && findRange(z.lazy, pfn) >= 0)
      return { start: base, order: max };
  }
  // pfn and the heads below it within its MAX_PAGE_ORDER block, smallest order first as
  // freeBlockAt() asks: rem with its lowest set bits cleared one by one (rem <
  // 2^MAX_PAGE_ORDER: 32-bit arithmetic), then the block's head, whose order is known.
  for (let low = rem; low !== 0; low &= low - 1) {
    const s = base + low;
    const h = buddy.headOrder(s);
    // The block of order h at s holds pfn when pfn is inside it (a free list holds only blocks
    // aligned to its order: PfnList refuses any other head).
    if (h >= 0 && rem - low < pow2(h)) return { start: s, order: h };
  }
  if (ht !== -1 && rem < pow2(ht)) return { start: base, order: ht };
  return null;
}

/**
 * Where tiling()'s walk goes after pfn p, found to be one page allocated alone and nothing
 * else: past every pfn q after it, up to `end` and the end of its present range `prEnd`, that
 * the walk would find the same way (one order-0 allocation, no free block, no reservation),
 * asking two questions of q instead of the walk's dozen (freeBlockHolding()'s heads,
 * allocationsHolding()'s orders, memblock, the present ranges). Exact, for zones apart:
 *  - free: freeBlockHolding(q) asks of q's MAX_PAGE_ORDER block's head and of q with its low
 *    bits cleared. With that head free of any block (asked once) and p found in none, a block
 *    holding q from at or below p would hold p and head one of p's own questions; so none
 *    holds q when no block heads a pfn of (p, q].
 *  - allocations: allocationsHolding(q) finds q's own order-0 block first; its other questions
 *    are q rounded down to each order, either p's own questions (whose blocks do not hold p,
 *    so not q) or a pfn of (p, q), a page allocated alone. So q's order-0 block alone holds q.
 *  - reservations and present memory: no region starts in (p, q], so q's answers are p's.
 * The walk stops at the first pfn that fails (the block-by-block walk carries on from there),
 * at `end`, and at the end of p's MAX_PAGE_ORDER block. test/check/frame_ledger_runs.test.ts
 * compares the two walks' findings on seeded runs and broken machines.
 */
export function order0After(k: CheckContext["k"], p: number, end: number, prEnd: number): number {
  const buddy = k.buddy;
  const allocs = buddy.allocations;
  if (!allocs.blocksOfOrder[0]) return p + 1;
  const top = pow2(buddy.maxOrder);
  const base = p - modPow2(p, top);
  let e = Math.min(end, prEnd, base + top);
  if (e <= p + 1) return p + 1;
  // The first reservation after p (memblock's list is sorted: findReserved() searches it so).
  const res = k.memblock.reserved;
  const i = lastAtOrBelow(res, p, (r) => r.startPfn);
  if (i + 1 < res.length && res[i + 1].startPfn < e) e = res[i + 1].startPfn;
  if (e <= p + 1 || buddy.headOrder(base) !== -1) return p + 1;
  let q = p + 1;
  while (q < e) {
    if (buddy.headOrder(q) !== -1) break;
    const a = allocs.get(q);
    if (a === undefined || a.order !== 0) break;
    q++;
  }
  return q;
}

/**
 * How many blocks of AllocationMap.allContaining(pfn) there are, without making its list: the
 * same lookups in the same order (the orders that have blocks, each block start asked once).
 * The first block's start and end go to first[0] and first[1]. The same count and first block
 * as allContaining(): test/check/allocations_holding.test.ts compares them pfn by pfn.
 */
export function allocationsHolding(allocs: AllocationMap, pfn: number, first: number[]): number {
  // Only the orders that have blocks (a pool has two or three of them).
  const orders = allocs.ordersWithBlocks;
  let n = 0;
  let last = -1;
  for (let i = 0; i < orders.length; i++) {
    const o = orders[i];
    const start = pfn - (pfn % pow2(o));
    if (start === last) continue;
    const b = allocs.get(start);
    if (b && pfn < start + pow2(b.order)) {
      if (n === 0) {
        first[0] = start;
        first[1] = start + pow2(b.order);
      }
      n++;
      last = start;
    }
  }
  return n;
}

/** Whether no two zones' spans overlap (nodes not interleaved): see freeBlockHolding(). */
export function zonesApart(buddy: PageAllocator): boolean {
  const z = buddy.zones;
  for (let i = 0; i < z.length; i++)
    for (let j = i + 1; j < z.length; j++)
      if (z[i].startPfn < z[j].endPfn && z[j].startPfn < z[i].endPfn) return false;
  return true;
}

/**
 * start, nr pairs -> sorted, merged [start, end) ranges (ranges that touch merge too). A step
 * of a pool operation notes hundreds of ranges: the starts and the ends are sorted apart, as
 * numbers (a typed array's own sort, no comparator; an insertion sort for the few of most
 * steps), and swept: a range of the union opens at a start when none is open and closes at
 * the end that leaves none open (at equal positions the start comes first, so touching ranges
 * merge). The two arrays are kept from call to call (grown when short).
 */
class Coalescer {
  private starts = new Float64Array(64);
  private ends = new Float64Array(64);

  of(pairs: number[]): Array<[number, number]> {
    const n = pairs.length / 2;
    if (n > this.starts.length) {
      this.starts = new Float64Array(n * 2);
      this.ends = new Float64Array(n * 2);
    }
    const starts = this.starts;
    const ends = this.ends;
    for (let i = 0; i < n; i++) {
      starts[i] = pairs[2 * i];
      ends[i] = pairs[2 * i] + pairs[2 * i + 1];
    }
    sortPrefix(starts, n);
    sortPrefix(ends, n);
    const out: Array<[number, number]> = [];
    let open = 0;
    let from = 0;
    let j = 0;
    for (let i = 0; i < n; i++) {
      const s = starts[i];
      while (ends[j] < s) {
        open--;
        if (open === 0) out.push([from, ends[j]]);
        j++;
      }
      if (open === 0) from = s;
      open++;
    }
    if (n > 0) out.push([from, ends[n - 1]]);
    return out;
  }
}

/** Sorts a[0, n) in increasing order. */
function sortPrefix(a: Float64Array, n: number): void {
  if (n > 32) {
    a.subarray(0, n).sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}
