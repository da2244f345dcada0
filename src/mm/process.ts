// A user process's huge page mappings: mmap() of MAP_HUGETLB anonymous memory and of hugetlbfs
// files (fs/hugetlbfs/inode.c hugetlbfs_file_mmap() -> mm/hugetlb.c hugetlb_reserve_pages()),
// faults (hugetlb_no_page(): page cache lookup, alloc_hugetlb_folio(), the rmap / page cache
// bookkeeping of the folio), and munmap() / exit (zap of the pages, hugetlb_vm_op_close()
// returning the reservations a private mapping did not use).
//
// A mapping is a range of file page indexes [pgoff, pgoff + n). Private mappings own a resv_map
// of the indexes whose reservation they consumed (HPAGE_RESV_OWNER); shared ones use the
// inode's map.

import { ENOMEM, ENOSPC, KernelError } from "../include/errno.ts";
import { PAGE_OFF } from "../include/mm_types.ts";
import { PG } from "../include/page_flags.ts";
import type { Hugetlbfs, HugetlbInode } from "../fs/hugetlbfs.ts";
import type { Hstate, HugetlbPool } from "./hugetlb.ts";
import { folioRefCount, folioSetHpg, folioSetRefCount } from "./hugetlb_folio.ts";

/** Raised by a touch that cannot get a page: the process would get SIGBUS. */
export class Sigbus extends Error {
  constructor(readonly index: number) {
    super(`SIGBUS at huge page ${index}`);
    this.name = "Sigbus";
  }
}

export class HugetlbMapping {
  /** Private mappings: the folio mapped at each index (anonymous pages). */
  readonly privatePages = new Map<number, number>();
  /** The private resv_map: indexes whose reservation was consumed. */
  readonly consumed = new Set<number>();
  /** Shared mappings: which indexes this mapping has mapped (its page table entries). */
  readonly sharedMapped = new Set<number>();
  constructor(
    readonly inode: HugetlbInode,
    readonly shared: boolean,
    readonly noreserve: boolean,
    readonly pgoff: number,
    readonly n: number,
    /** HPAGE_RESV_OWNER: a private mapping that reserved at mmap time. */
    readonly resvOwner: boolean,
    /** The mapping's anon_vma (Kernel.anonVmaAlloc()): folio->mapping of its private pages. */
    readonly anonVma: bigint,
  ) {}
  get h(): Hstate {
    return this.inode.h;
  }
}

export class HugetlbMm {
  constructor(
    readonly pool: HugetlbPool,
    readonly fs: Hugetlbfs,
  ) {}

  /**
   * mmap() of n huge pages of `inode` at page index pgoff. Reserves as hugetlb_reserve_pages()
   * does; throws KernelError(ENOMEM) when the reservation cannot be had.
   */
  mmap(
    inode: HugetlbInode,
    n: number,
    opts: { shared: boolean; noreserve: boolean; pgoff?: number },
  ): HugetlbMapping {
    const pool = this.pool;
    const h = inode.h;
    const from = opts.pgoff ?? 0;
    const to = from + n;
    const spool = inode.sb.spool;
    const m = new HugetlbMapping(
      inode,
      opts.shared,
      opts.noreserve,
      from,
      n,
      !opts.shared && !opts.noreserve,
      pool.k.anonVmaAlloc(),
    );
    if (!opts.noreserve) {
      let chg: number;
      if (opts.shared) {
        chg = 0;
        for (let i = from; i < to; i++) if (!inode.resvMap.has(i)) chg++;
      } else {
        chg = to - from;
      }
      const gbl = pool.hugepageSubpoolGetPages(spool, chg);
      if (gbl < 0) throw new KernelError(ENOMEM, "hugetlb_reserve_pages: subpool");
      if (pool.hugetlbAcctMemory(h, gbl) < 0) {
        pool.hugepageSubpoolPutPages(spool, chg);
        throw new KernelError(ENOMEM, "hugetlb_reserve_pages");
      }
      if (opts.shared) for (let i = from; i < to; i++) inode.resvMap.add(i);
    }
    // hugetlbfs_file_mmap(): a writable mapping extends the file.
    const hsize = h.nrPages * 2 ** pool.pageShift;
    if (inode.sizeBytes < to * hsize) inode.sizeBytes = to * hsize;
    inode.users++;
    return m;
  }

  /** The folio mapped at index i of the mapping, or null. */
  folioAt(m: HugetlbMapping, i: number): number | null {
    const idx = m.pgoff + i;
    if (m.shared) return m.sharedMapped.has(idx) ? (m.inode.pages.get(idx) ?? null) : null;
    return m.privatePages.get(idx) ?? null;
  }

  /** A write fault on huge page i of the mapping (hugetlb_fault() -> hugetlb_no_page()). */
  fault(m: HugetlbMapping, i: number): number {
    const pool = this.pool;
    const mm = pool.k.memmap;
    const idx = m.pgoff + i;
    const existing = this.folioAt(m, i);
    if (existing !== null) return existing;
    const hsize = m.h.nrPages * 2 ** pool.pageShift;
    if (m.shared && idx * hsize >= m.inode.sizeBytes) throw new Sigbus(i);
    const nid = pool.nodes[0];
    if (m.shared) {
      const cached = m.inode.pages.get(idx);
      if (cached !== undefined) {
        this.mapFolio(cached, m);
        m.sharedMapped.add(idx);
        return cached;
      }
      const f = this.allocOrSigbus(m, m.inode.resvMap.has(idx), nid, i);
      // hugetlb_add_to_page_cache(): the cache holds a reference, the reservation is the file's.
      folioSetHpg(mm, f, "restore_reserve", false);
      m.inode.resvMap.add(idx);
      m.inode.pages.set(idx, f);
      mm.writeU64(f, PAGE_OFF.mapping, m.inode.mappingVaddr);
      // The page cache index of a hugetlb folio is in base pages (idx << huge_page_order).
      mm.writeU64(f, PAGE_OFF.index, BigInt(idx * m.h.nrPages));
      folioSetRefCount(mm, f, 1);
      // hugetlb_no_page(): "Only set hugetlb_migratable in newly allocated pages".
      folioSetHpg(mm, f, "migratable", true);
      // __folio_mark_uptodate() after clearing it; folio_mark_dirty() in the page cache.
      mm.setBit(f, PAGE_OFF.flags, PG.uptodate, true);
      mm.setBit(f, PAGE_OFF.flags, PG.dirty, true);
      this.mapFolio(f, m);
      m.sharedMapped.add(idx);
      return f;
    }
    const f = this.allocOrSigbus(m, m.resvOwner && !m.consumed.has(idx), nid, i);
    // __folio_mark_uptodate(), then hugetlb_add_new_anon_rmap() (SetPageAnonExclusive()).
    mm.setBit(f, PAGE_OFF.flags, PG.uptodate, true);
    mm.setBit(f, PAGE_OFF.flags, PG.owner_2, true);
    folioSetHpg(mm, f, "restore_reserve", false);
    mm.writeU64(f, PAGE_OFF.mapping, m.anonVma | 1n);
    // linear_page_index(): MAP_HUGETLB is a hugetlbfs file at offset 0, counted in base pages.
    mm.writeU64(f, PAGE_OFF.index, BigInt(idx * m.h.nrPages));
    folioSetHpg(mm, f, "migratable", true);
    const fl = pool.k.layout.folio;
    mm.writeU32(f, fl.entireMapcount, 0);
    mm.writeU32(f, fl.largeMapcount, 0);
    m.privatePages.set(idx, f);
    if (m.resvOwner) m.consumed.add(idx);
    return f;
  }

  /** alloc_hugetlb_folio() for a fault at page i; no page to be had is SIGBUS (VM_FAULT_OOM). */
  private allocOrSigbus(m: HugetlbMapping, hasResv: boolean, nid: number, i: number): number {
    try {
      return this.pool.allocHugetlbFolio(m.h, m.inode.sb.spool, hasResv, nid);
    } catch (e) {
      if (e instanceof KernelError && e.errno === ENOSPC) throw new Sigbus(i);
      throw e;
    }
  }

  /** hugetlb_add_file_rmap() and the mapping's reference. */
  private mapFolio(f: number, _m: HugetlbMapping): void {
    const mm = this.pool.k.memmap;
    const fl = this.pool.k.layout.folio;
    const ent = (mm.readU32(f, fl.entireMapcount) | 0) + 1;
    mm.writeU32(f, fl.entireMapcount, ent >>> 0);
    mm.writeU32(f, fl.largeMapcount, ent >>> 0);
    folioSetRefCount(mm, f, folioRefCount(mm, f) + 1);
  }

  private unmapFolio(f: number): number {
    const mm = this.pool.k.memmap;
    const fl = this.pool.k.layout.folio;
    const ent = (mm.readU32(f, fl.entireMapcount) | 0) - 1;
    mm.writeU32(f, fl.entireMapcount, ent >>> 0);
    mm.writeU32(f, fl.largeMapcount, ent >>> 0);
    const ref = folioRefCount(mm, f) - 1;
    folioSetRefCount(mm, f, ref);
    return ref;
  }

  /** Touches pages [0, n): returns how many were touched before a SIGBUS (n when none). */
  touch(m: HugetlbMapping, n = m.n): number {
    for (let i = 0; i < n; i++) {
      try {
        this.fault(m, i);
      } catch (e) {
        if (e instanceof Sigbus) return i;
        throw e;
      }
    }
    return n;
  }

  /** munmap() / exit: zap the pages, then hugetlb_vm_op_close(). */
  munmap(m: HugetlbMapping): void {
    const pool = this.pool;
    if (m.shared) {
      for (const idx of m.sharedMapped) {
        const f = m.inode.pages.get(idx);
        if (f !== undefined) this.unmapFolio(f);
      }
      m.sharedMapped.clear();
    } else {
      const mm = pool.k.memmap;
      for (const f of m.privatePages.values()) {
        const fl = pool.k.layout.folio;
        mm.writeU32(f, fl.entireMapcount, 0xffffffff);
        mm.writeU32(f, fl.largeMapcount, 0xffffffff);
        // zap: the written huge PTE's dirty bit goes to the folio (folio_mark_dirty()).
        mm.setBit(f, PAGE_OFF.flags, PG.dirty, true);
        folioSetRefCount(mm, f, 0);
        pool.freeHugeFolio(f);
      }
      m.privatePages.clear();
      if (m.resvOwner) {
        const reserve = m.n - m.consumed.size;
        if (reserve) {
          const gbl = pool.hugepageSubpoolPutPages(m.inode.sb.spool, reserve);
          pool.hugetlbAcctMemory(m.h, -gbl);
        }
        m.consumed.clear();
      }
    }
    this.fs.putInode(m.inode);
  }
}
