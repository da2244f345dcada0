// mm/hugetlb.c's accounting rules, written apart from the pool (src/mm/hugetlb.ts) so that the
// checker does not take its expectations from the bookkeeping it checks. Two halves:
//
//  - observePool(): the counters as the folios show them. nr_hugepages of a node is the
//    number of folios of the hstate on a pool list whose head pfn lies on that node (the
//    machine's layout, not the pool's record); free_hugepages of a node the number of those whose
//    head struct page says free (refcount 0 and HPG_freed, set by enqueue_hugetlb_folio() and
//    cleared by dequeue), read through the checker's own view of the vmemmap.
//
//  - PoolRules: what may happen to surplus_hugepages in one step. surplus_huge_pages is a
//    count, not a property of a folio, so it cannot be observed; the kernel's rules about it can:
//      * it grows only through alloc_surplus_hugetlb_folio(), which refuses once
//        surplus_huge_pages >= nr_overcommit_huge_pages, or through set_max_huge_pages()
//        shrinking the persistent pool under pages in use (adjust_pool_surplus()). So a step
//        that writes no nr_hugepages file leaves it at most max(before, nr_overcommit_hugepages).
//      * a surplus page that is neither in use nor reserved does not stay in the pool:
//        free_huge_folio() frees an in-use page while its node has surplus pages and
//        return_unused_surplus_pages() frees min(unused reservations, surplus) free pages when
//        reservations go (Documentation/admin-guide/mm/hugetlbpage.rst: "As these surplus huge
//        pages become unused, they are freed back to the kernel's normal page pool"). With
//        unused = surplus - in use - reserved, a step that starts with unused <= 0 ends with
//        unused <= the free pages the step added to nodes whose surplus count is 0. Both rules are per node
//        (free_huge_folio() looks at the folio's node's surplus count only), so with pages on
//        two nodes a page freed on a node without surplus stays free while another node's
//        surplus page sits free and unreserved (node 1's surplus page is free and reserved,
//        a fault on node 0 takes node 0's persistent page with that reservation, and the page
//        comes back to node 0's free list): unused grows by at most the pages such nodes keep.
//        On one node the bound is 0 whenever there is surplus at all.
//        set_max_huge_pages() makes no such promise (it converts persistent pages to surplus
//        ones per node without asking whether they are in use, and a per-node write can only
//        free pages of its node), so nr_hugepages writes are not judged; neither are two other
//        kernel paths that legitimately leave such a page: a vmemmap restore that fails with
//        ENOMEM (add_hugetlb_folio() puts the folio back as a free surplus page) and a node whose
//        surplus count exceeds its pages (invariants.ts nodeSurplus(), a finding of
//        set_max_huge_pages()); steps where either happened are not judged.
//
// Pure and browser-safe.

import { HPG, PAGE_OFF } from "../include/mm_types.ts";
import type { Kernel } from "../kernel.ts";
import type { Hugetlbfs, HugetlbInode } from "../fs/hugetlbfs.ts";
import type { FolioInfo, Hstate, HugetlbPool, Subpool } from "../mm/hugetlb.ts";
import type { HugetlbMapping } from "../mm/process.ts";
import type { Step } from "../scenario/format.ts";
import type { Violation } from "./invariants.ts";

/** One hstate's counters as observed from its folios. */
export interface ObservedHstate {
  nr: number;
  free: number;
  nrNode: number[];
  freeNode: number[];
}

/**
 * observePool()'s verdict per head (its struct page says free), good while no frame-store or
 * page-table write happened: `writes` is the write count (CheckContext.writes) it was read at.
 */
export interface FreeMemo {
  writes: number;
  free: Map<number, boolean>;
}

/**
 * The counters the folios show, per hstate (by name). `translate` gives the frame that backs a
 * vmemmap page, -1 for none (the checker's mirror of the page tables, not the model's TLB).
 * `visit` is called with every folio of the pool, those being freed too, and the node its head
 * pfn lies on (for a caller that has its own look at each folio: one pass, not two).
 */
export function observePool(
  k: Kernel,
  pool: HugetlbPool,
  translate: (vpn: number) => number,
  visit?: (head: number, info: FolioInfo, nid: number) => void,
  memo?: { memo: FreeMemo; writes: number },
): Map<string, ObservedHstate> {
  const sps = k.spec.structPageSize;
  const ps = k.pageSize;
  const readU32 = (voff: number): number | null => {
    const vpn = Math.floor(voff / ps);
    const frame = translate(vpn);
    return frame !== -1 ? k.frames.readU32(frame, voff - vpn * ps) : null;
  };
  const out = new Map<string, ObservedHstate>();
  const nrNodeIds = Math.max(0, ...pool.nodes) + 1;
  for (const h of pool.hstates)
    out.set(h.name, {
      nr: 0,
      free: 0,
      nrNode: new Array<number>(nrNodeIds).fill(0),
      freeNode: new Array<number>(nrNodeIds).fill(0),
    });
  // Verdicts of heads that left the pool are dropped with the rest at the next write (freeing
  // a folio writes its struct pages); the size bound keeps a run of write-free steps in check.
  let known: Map<number, boolean> | undefined;
  if (memo) {
    known = memo.memo.free;
    if (memo.memo.writes !== memo.writes || known.size > 2 * pool.folios.size + 64) {
      known.clear();
      memo.memo.writes = memo.writes;
    }
  }
  let lastH: Hstate | null = null;
  let o = null as unknown as ObservedHstate;
  for (const [head, info] of pool.folios) {
    const nid = k.pfnToNid(head);
    visit?.(head, info, nid);
    if (info.list === null) continue; // being freed: remove_hugetlb_folio() already counted it
    // Runs of folios of one hstate: its entry looked up by name once per run.
    if (info.h !== lastH) {
      lastH = info.h;
      o = out.get(info.h.name) as ObservedHstate;
    }
    o.nr++;
    o.nrNode[nid]++;
    // Two words of the head's struct page, read from the frames that back them (a struct page
    // may straddle two vmemmap pages; an aligned 32-bit word never does).
    // (The second only when the first says free.) With a memo, read again only after a write:
    // the same bytes through the same translation say the same.
    let isFree = known?.get(head);
    if (isFree === undefined) {
      isFree = false;
      if (readU32(head * sps + PAGE_OFF.refcount) === 0) {
        const priv = readU32(head * sps + PAGE_OFF.private);
        isFree = priv !== null && ((priv >>> HPG.freed) & 1) === 1;
      }
      known?.set(head, isFree);
    }
    if (isFree) {
      o.free++;
      o.freeNode[nid]++;
    }
  }
  return out;
}

/** Where reservations are held: a process's mappings and hugetlbfs. */
export interface ResvHolders {
  mappings: Iterable<HugetlbMapping>;
  hugetlbfs: Hugetlbfs;
}

/**
 * resv_huge_pages of each hstate as the reservation maps say it must be (hugetlb_reserve_pages(),
 * hugetlb_unreserve_pages(), the subpool's min_size): one per page a private mapping reserved
 * at mmap time and has not faulted in (HPAGE_RESV_OWNER), one per index of a file's resv_map
 * that has no page in the page cache yet, and what each subpool still holds of its min_size.
 * Null when some holder cannot be seen (a mount hidden by another on the same directory).
 */
export function reservationsFromMaps(
  pool: HugetlbPool,
  holders: ResvHolders,
): Map<Hstate, number> | null {
  const fs = holders.hugetlbfs;
  if (fs.allMountDirs().length !== fs.mounts.size) return null;
  const resv = new Map<Hstate, number>(pool.hstates.map((h) => [h, 0]));
  const add = (h: Hstate, n: number) => resv.set(h, (resv.get(h) ?? 0) + n);
  const inodes = new Set<HugetlbInode>();
  const spools = new Set<Subpool>();
  for (const sb of fs.mounts.values()) {
    for (const ino of sb.files.values()) inodes.add(ino);
    if (sb.spool) spools.add(sb.spool);
  }
  for (const m of holders.mappings) {
    inodes.add(m.inode);
    if (m.inode.sb.spool) spools.add(m.inode.sb.spool);
    if (!m.shared && m.resvOwner) add(m.h, m.n - m.consumed.size);
  }
  for (const ino of inodes) {
    let n = 0;
    for (const idx of ino.resvMap) if (!ino.pages.has(idx)) n++;
    add(ino.h, n);
  }
  // A released subpool (count -1) gave its min_size back.
  for (const sp of spools) if (sp.minHpages !== -1 && sp.count >= 0) add(sp.h, sp.rsvHpages);
  return resv;
}

/** resv_hugepages against reservationsFromMaps(). */
export function reservationCounters(pool: HugetlbPool, holders: ResvHolders): Violation[] {
  const want = reservationsFromMaps(pool, holders);
  if (!want) return [];
  const out: Violation[] = [];
  for (const [h, n] of want)
    if (h.resvHugePages !== n)
      out.push({
        invariant: "pool_counters",
        detail: `${h.name}: resv_hugepages against the reservation maps of the mappings, files and subpools`,
        expected: `${n}`,
        actual: `${h.resvHugePages}`,
      });
  return out;
}

/** The counters PoolRules compares across a step. */
interface Counters {
  nr: number;
  free: number;
  surplus: number;
  resv: number;
  overcommit: number;
  /** Some node counts more surplus pages than it has pages. */
  nodeSurplusAnomaly: boolean;
  /** Free pages on nodes whose surplus count is 0 (free_huge_folio() kept them there). */
  freeWithoutSurplus: number;
}

function snapshot(pool: HugetlbPool): Map<string, Counters> {
  const out = new Map<string, Counters>();
  for (const h of pool.hstates) {
    let anomaly = false;
    let freeWithoutSurplus = 0;
    for (const nid of pool.nodes) {
      if (h.surplusHugePagesNode[nid] > h.nrHugePagesNode[nid]) anomaly = true;
      if (h.surplusHugePagesNode[nid] === 0) freeWithoutSurplus += h.freeHugePagesNode[nid];
    }
    out.set(h.name, {
      nr: h.nrHugePages,
      free: h.freeHugePages,
      surplus: h.surplusHugePages,
      resv: h.resvHugePages,
      overcommit: h.nrOvercommitHugePages,
      nodeSurplusAnomaly: anomaly,
      freeWithoutSurplus,
    });
  }
  return out;
}

/** A step that may run set_max_huge_pages() (nr_hugepages in any of its files). */
export function writesNrHugepages(step: Step): boolean {
  switch (step.op) {
    case "nr":
    case "nr_node":
    case "nr_mempolicy":
      return true;
    case "sysctl":
      return step.name.startsWith("nr_hugepages");
    case "write":
      return /nr_hugepages/.test(step.path);
    default:
      return false;
  }
}

/** Surplus pages neither in use nor reserved: surplus - (nr - free) - resv. */
function unusedSurplus(c: Counters): number {
  return c.surplus - (c.nr - c.free) - c.resv;
}

/** The surplus rules across steps (see the top of this file). */
export class PoolRules {
  private last: Map<string, Counters> | null = null;

  /**
   * Inside return_unused_surplus_pages(): it must take min(unused, surplus at entry) free pages,
   * fewer only when no node is left with both a surplus count and a free page
   * (remove_pool_hugetlb_folio(acct_surplus) found nothing), never more.
   */
  returnUnusedSurplus(
    pool: HugetlbPool,
    h: Hstate,
    unused: number,
    surplus: number,
    taken: number,
  ): Violation[] {
    const want = Math.max(0, Math.min(unused, surplus));
    if (taken === want) return [];
    const stuck = pool.nodes.every(
      (nid) => h.surplusHugePagesNode[nid] <= 0 || h.hugepageFreelists[nid].size === 0,
    );
    if (taken < want && stuck) return [];
    return [
      {
        invariant: "surplus_unused",
        detail: `${h.name}: return_unused_surplus_pages(${unused}) with ${surplus} surplus pages took ${taken} free pages`,
        expected: `min(${unused}, ${surplus}) = ${want}`,
        actual: `${taken}`,
      },
    ];
  }

  /** Forget the previous step (a reset, or a step the rules cannot judge). */
  baseline(pool: HugetlbPool): void {
    this.last = snapshot(pool);
  }

  /**
   * After one step has run and the pool has settled. `faulted`: an allocation failure was
   * injected while it ran.
   */
  afterStep(pool: HugetlbPool, step: Step, faulted: boolean): Violation[] {
    const now = snapshot(pool);
    const before = this.last;
    this.last = now;
    if (!before) return [];
    const out: Violation[] = [];
    const setsPool = writesNrHugepages(step);
    for (const [name, a] of now) {
      const b = before.get(name);
      if (!b) continue;
      const limit = Math.max(b.surplus, a.overcommit);
      if (!setsPool && a.surplus > limit)
        out.push({
          invariant: "surplus_limit",
          detail: `${name}: a ${step.op} step took surplus_hugepages from ${b.surplus} to ${a.surplus} with nr_overcommit_hugepages ${a.overcommit}`,
          expected: `<= ${limit}`,
          actual: `${a.surplus}`,
        });
      if (
        !setsPool &&
        !faulted &&
        !b.nodeSurplusAnomaly &&
        !a.nodeSurplusAnomaly &&
        unusedSurplus(b) <= 0 &&
        unusedSurplus(a) > Math.max(0, a.freeWithoutSurplus - b.freeWithoutSurplus)
      )
        out.push({
          invariant: "surplus_unused",
          detail: `${name}: after a ${step.op} step ${unusedSurplus(a)} surplus page(s) are free and unreserved (surplus ${a.surplus}, in use ${a.nr - a.free}, reserved ${a.resv})`,
          expected: `surplus_hugepages <= ${a.nr - a.free + a.resv + Math.max(0, a.freeWithoutSurplus - b.freeWithoutSurplus)}`,
          actual: `${a.surplus}`,
        });
    }
    return out;
  }
}
