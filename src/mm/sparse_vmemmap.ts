// mm/sparse.c sparse_init() and mm/sparse-vmemmap.c: populating the vmemmap at boot.
//
// Each present memory section gets its memmap (PAGES_PER_SECTION struct pages) mapped at
// vmemmap + section_start_pfn. Backing comes from one memblock buffer per node
// (sparse_buffer_init(), PMD-aligned, top-down in the node), handed out in ascending order;
// page-table pages come from memblock one by one (vmemmap_alloc_block_zero()).
// Where the arch maps the vmemmap with PMD leaves (x86_64 with PSE, arm64 with 4K pages), each
// PMD-sized piece is one leaf; elsewhere every vmemmap page has its own PTE.
// Every populated section adds DIV_ROUND_UP(memmap bytes, PAGE_SIZE) to nr_memmap_boot_pages.

import { KernelError, Oops } from "../include/errno.ts";
import type { ArchSpec, MachineSpec } from "../machine/spec.ts";
import type { FrameStore } from "./frames.ts";
import type { Memblock } from "./memblock.ts";
import type { KernelPageTables } from "./pgtable.ts";

export interface Section {
  nr: number;
  nid: number;
  startPfn: number;
}

/** Present sections (those with any present pfn), per node, ascending. */
export function presentSections(spec: MachineSpec): Section[] {
  const shift = spec.arch.sectionShift - spec.arch.pageShift;
  const pagesPerSection = 2 ** shift;
  // A section two ranges share belongs to the node listed first. The ranges' sections, each a
  // run [first, last] of section numbers, merged in ascending order without a set of every
  // section (a 64 TiB machine has half a million).
  const runs: { first: number; last: number; nid: number; rank: number }[] = [];
  spec.nodes.forEach((node, rank) => {
    for (const r of node.ranges) {
      const first = Math.floor(r.startPfn / pagesPerSection);
      const last = Math.floor((r.endPfn - 1) / pagesPerSection);
      runs.push({ first, last, nid: node.nid, rank });
    }
  });
  runs.sort((a, b) => a.first - b.first || a.rank - b.rank);
  const out: Section[] = [];
  /** The rank of the node each section of `out` went to (parallel to out). */
  const ranks: number[] = [];
  for (const run of runs) {
    let s = run.first;
    // Sections an earlier run emitted already: the node listed first keeps them.
    if (out.length > 0 && s <= out[out.length - 1].nr) {
      let i = out.length - 1;
      while (i > 0 && out[i - 1].nr >= s) i--;
      for (; i < out.length && out[i].nr <= run.last; i++) {
        if (run.rank < ranks[i]) {
          out[i] = { nr: out[i].nr, nid: run.nid, startPfn: out[i].startPfn };
          ranks[i] = run.rank;
        }
      }
      s = out[out.length - 1].nr + 1;
    }
    for (; s <= run.last; s++) {
      out.push({ nr: s, nid: run.nid, startPfn: s * pagesPerSection });
      ranks.push(run.rank);
    }
  }
  return out;
}

/** Geometry of the vmemmap for one machine. */
export interface VmemmapGeometry {
  pageSize: number;
  pagesPerSection: number;
  /** memmap bytes of one section */
  sectionMemmapBytes: number;
  /** PMD_SIZE */
  pmdSize: number;
  pmdLevel: number;
  pteLevel: number;
}

export function vmemmapGeometry(arch: ArchSpec, structPageSize: number): VmemmapGeometry {
  const levels = arch.levelShifts.length;
  const pagesPerSection = 2 ** (arch.sectionShift - arch.pageShift);
  return {
    pageSize: 2 ** arch.pageShift,
    pagesPerSection,
    sectionMemmapBytes: pagesPerSection * structPageSize,
    pmdSize: 2 ** arch.levelShifts[levels - 2],
    pmdLevel: levels - 2,
    pteLevel: levels - 1,
  };
}

/** Where boot-time vmemmap pages come from: a per-node sparse buffer, then memblock. */
export class SparseBuffer {
  private next = 0;
  private end = 0;
  constructor(
    private readonly memblock: Memblock,
    readonly nid: number,
    nrPages: number,
    alignPages: number,
  ) {
    // sparse_buffer_init(): when the node cannot hold the whole buffer (section_map_size() is
    // PMD-aligned, 512 MiB a section on arm64 with 64K pages), blocks come from memblock one by one.
    if (nrPages > 0) {
      try {
        this.next = memblock.alloc(nrPages, alignPages, nid, "vmemmap");
        this.end = this.next + nrPages;
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
      }
    }
  }
  /** sparse_buffer_alloc(), or memblock when the buffer is used up. */
  alloc(nrPages: number): number {
    const start = Math.ceil(this.next / nrPages) * nrPages;
    if (this.end > 0 && start + nrPages <= this.end) {
      this.next = start + nrPages;
      return start;
    }
    return this.memblock.alloc(nrPages, nrPages, this.nid, "vmemmap");
  }
  /** sparse_buffer_fini(): what was not handed out goes back to memblock. */
  fini(): void {
    this.memblock.unreserveRange(this.next, this.end);
    this.next = this.end;
  }
}

export interface VmemmapPopulateContext {
  arch: ArchSpec;
  geometry: VmemmapGeometry;
  frames: FrameStore;
  pgt: KernelPageTables;
  memblock: Memblock;
  vmemmapBase: bigint;
  /** A zeroed page-table page for node nid. */
  allocTablePage(nid: number): number;
}

/** Walks from the root down to `level` for vaddr, creating missing tables. */
export function ensureTables(
  ctx: VmemmapPopulateContext,
  vaddr: bigint,
  level: number,
  nid: number,
): { tablePfn: number; idx: number } {
  const { pgt, arch } = ctx;
  let table = pgt.rootPfn;
  for (let l = 0; l < level; l++) {
    const idx = pgt.index(l, vaddr);
    const e = arch.pte.decode(pgt.get(table, idx), l);
    if (!e) {
      const t = ctx.allocTablePage(nid);
      pgt.set(table, idx, arch.pte.mkTable(t, l));
      table = t;
    } else if (e.table) table = e.pfn;
    else throw new Oops(`vmemmap_populate: a leaf at level ${l} covers the range`, { vaddr });
  }
  return { tablePfn: table, idx: pgt.index(level, vaddr) };
}

/**
 * The PMD table sparse_init() wrote into last and the vmemmap offsets it maps ([start, end)),
 * so that consecutive sections (512 per table on x86_64) do not walk from the root each time.
 * Boot never frees a page table, so a table found stays the one for its range.
 */
export interface PmdTableCache {
  start: number;
  end: number;
  tablePfn: number;
}

/** A PmdTableCache that holds nothing yet. */
export function emptyPmdTableCache(): PmdTableCache {
  return { start: 0, end: 0, tablePfn: -1 };
}

/** ensureTables() down to the PMD table of vmemmap offset v, through `cache` when it holds it. */
function pmdSlot(
  ctx: VmemmapPopulateContext,
  v: number,
  nid: number,
  cache: PmdTableCache | undefined,
): { tablePfn: number; idx: number } {
  const g = ctx.geometry;
  if (cache !== undefined && v >= cache.start && v < cache.end)
    return { tablePfn: cache.tablePfn, idx: Math.floor((v - cache.start) / g.pmdSize) };
  const s = ensureTables(ctx, ctx.vmemmapBase + BigInt(v), g.pmdLevel, nid);
  if (cache !== undefined) {
    // The table maps PMD-sized pieces from the vaddr aligned down to its span.
    const span = g.pmdSize * (g.pageSize / 8);
    cache.start = v - s.idx * g.pmdSize - (v % g.pmdSize);
    cache.end = cache.start + span;
    cache.tablePfn = s.tablePfn;
  }
  return s;
}

/**
 * vmemmap_populate() for the memmap bytes [voffStart, voffEnd) (offsets from the vmemmap base),
 * with backing from `block(nrPages)`. Returns the number of backing pages it mapped. `cache`
 * (sparse_init()'s, one for all sections) saves the walk to the PMD table.
 */
export function vmemmapPopulate(
  ctx: VmemmapPopulateContext,
  voffStart: number,
  voffEnd: number,
  nid: number,
  block: (nrPages: number) => number,
  cache?: PmdTableCache,
): number {
  const { geometry: g, arch, pgt, frames } = ctx;
  let mapped = 0;
  if (arch.vmemmapPmdLeaves) {
    // vmemmap_populate_hugepages(): one PMD leaf per PMD-sized piece not mapped yet.
    let v = Math.floor(voffStart / g.pmdSize) * g.pmdSize;
    for (; v < voffEnd; v += g.pmdSize) {
      const s = pmdSlot(ctx, v, nid, cache);
      const e = pgt.entry(s.tablePfn, s.idx, g.pmdLevel) ? pgt.e : null;
      if (e?.table) {
        // A PTE table is there already (a boot-time HVO population that failed half-way):
        // vmemmap_check_pmd() says no, and vmemmap_populate_basepages() fills the PTEs that
        // are still none.
        const to = Math.min(v + g.pmdSize, voffEnd);
        for (let b = Math.max(v, voffStart); b < to; b += g.pageSize) {
          const slot = ensureTables(ctx, ctx.vmemmapBase + BigInt(b), g.pteLevel, nid);
          if (arch.pte.decode(pgt.get(slot.tablePfn, slot.idx), g.pteLevel)) continue;
          const pfn = block(1);
          pgt.set(
            slot.tablePfn,
            slot.idx,
            arch.pte.mkLeaf(pfn, { writable: true, huge: false }, g.pteLevel),
          );
          frames.addInitRange(pfn, 1, b);
          mapped++;
        }
        continue;
      }
      if (e) continue;
      const nrPages = g.pmdSize / g.pageSize;
      const pfn = block(nrPages);
      pgt.set(s.tablePfn, s.idx, arch.pte.mkLeaf(pfn, { writable: true, huge: true }, g.pmdLevel));
      frames.addInitRange(pfn, nrPages, v);
      mapped += nrPages;
    }
    return mapped;
  }
  // vmemmap_populate_basepages()
  let v = Math.floor(voffStart / g.pageSize) * g.pageSize;
  for (; v < voffEnd; v += g.pageSize) {
    const vaddr = ctx.vmemmapBase + BigInt(v);
    const s = ensureTables(ctx, vaddr, g.pteLevel, nid);
    if (arch.pte.decode(pgt.get(s.tablePfn, s.idx), g.pteLevel)) continue;
    const pfn = block(1);
    pgt.set(s.tablePfn, s.idx, arch.pte.mkLeaf(pfn, { writable: true, huge: false }, g.pteLevel));
    frames.addInitRange(pfn, 1, v);
    mapped++;
  }
  return mapped;
}

// ---- Boot-time HVO (CONFIG_SPARSEMEM_VMEMMAP_PREINIT): vmemmap_populate_hvo() and friends ----
//
// These work on memmap byte offsets from the vmemmap base, like vmemmapPopulate() above. Frames
// handed out by `block` are raw memblock memory; the struct pages in them read as memmap_init()
// would have left them (an "init" pattern per frame), which is what the kernel's later
// initialisation writes there.

/** The PTE slot of one vmemmap page. */
export interface PteSlot {
  tablePfn: number;
  idx: number;
}

function setInitFrame(ctx: VmemmapPopulateContext, frame: number, voff: number): void {
  // A pattern per frame rather than an init range: a frame freed by vmemmap_undo_hvo() may come
  // back from memblock for another offset, and init ranges must not overlap.
  ctx.frames.setPattern(frame, { kind: "init", voff });
}

/**
 * vmemmap_populate_address(): the tables down to the PTE of vaddr (zeroed memblock pages), then,
 * when the PTE is none, a PAGE_KERNEL mapping of `ptpfn`, or of a fresh page from `block` when
 * ptpfn is null. Null when an allocation fails.
 */
export function vmemmapPopulateAddress(
  ctx: VmemmapPopulateContext,
  voff: number,
  nid: number,
  ptpfn: number | null,
  block: () => number | null,
): PteSlot | null {
  const { geometry: g, arch, pgt } = ctx;
  const vaddr = ctx.vmemmapBase + BigInt(voff);
  let s: PteSlot;
  try {
    s = ensureTables(ctx, vaddr, g.pteLevel, nid);
  } catch (e) {
    if (e instanceof Oops) throw e;
    return null; // memblock ENOMEM for a table page
  }
  if (arch.pte.decode(pgt.get(s.tablePfn, s.idx), g.pteLevel)) return s;
  let pfn = ptpfn;
  if (pfn === null) {
    pfn = block();
    if (pfn === null) return null;
    setInitFrame(ctx, pfn, voff - (voff % g.pageSize));
  }
  pgt.set(s.tablePfn, s.idx, arch.pte.mkLeaf(pfn, { writable: true, huge: false }, g.pteLevel));
  return s;
}

/**
 * vmemmap_populate_hvo(addr, end, ..., headsize): the first `headsizeBytes` of the range get
 * pages of their own; every other PTE maps `restPfn` (seed/mainline: the shared tail), or, when
 * restPfn is null, the last head page (legacy: the "mirrors"). All PAGE_KERNEL (writable): the
 * tails are write-protected later, when hugetlb gathers the folio (vmemmap_wrprotect_hvo()).
 * Returns 0 or -ENOMEM, and the head pages it allocated.
 */
export function vmemmapPopulateHvo(
  ctx: VmemmapPopulateContext,
  voffStart: number,
  voffEnd: number,
  nid: number,
  headsizeBytes: number,
  restPfn: number | null,
  block: () => number | null,
): { ret: number; headPfns: number[] } {
  const g = ctx.geometry;
  const headPfns: number[] = [];
  let last: PteSlot | null = null;
  let voff = voffStart;
  for (; voff < voffStart + headsizeBytes; voff += g.pageSize) {
    last = vmemmapPopulateAddress(ctx, voff, nid, null, () => {
      const p = block();
      if (p !== null) headPfns.push(p);
      return p;
    });
    if (!last) return { ret: -12, headPfns };
  }
  let rest = restPfn;
  if (rest === null) {
    const e = last ? ctx.arch.pte.decode(ctx.pgt.get(last.tablePfn, last.idx), g.pteLevel) : null;
    if (!e)
      throw new Oops("vmemmap_populate_hvo: no head page mapped", {
        vaddr: ctx.vmemmapBase + BigInt(voffStart),
      });
    rest = e.pfn;
  }
  for (; voff < voffEnd; voff += g.pageSize) {
    if (!vmemmapPopulateAddress(ctx, voff, nid, rest, () => null)) return { ret: -12, headPfns };
  }
  return { ret: 0, headPfns };
}

/**
 * vmemmap_wrprotect_hvo(addr, end, node, headsize): ptep_set_wrprotect() on every PTE from
 * addr + headsize up to end. The caller flushes the TLB.
 */
export function vmemmapWrprotectHvo(
  ctx: VmemmapPopulateContext,
  voffStart: number,
  voffEnd: number,
  headsizeBytes: number,
): void {
  const { geometry: g, arch, pgt } = ctx;
  for (let voff = voffStart + headsizeBytes; voff < voffEnd; voff += g.pageSize) {
    const vaddr = ctx.vmemmapBase + BigInt(voff);
    let s = pgt.slot(g.pteLevel, vaddr);
    if (!s) {
      // virt_to_kpte() does not look at what the PMD holds: where a PMD leaf maps the range
      // (populating HVO-style failed at boot and vmemmap_populate() used huge pages, yet the
      // folio is marked optimised), pte_offset_kernel() takes the leaf's first page for a page
      // table, and ptep_set_wrprotect() changes a bit of the struct pages stored there.
      const pmd = pgt.slot(g.pmdLevel, vaddr);
      const e = pmd ? arch.pte.decode(pgt.get(pmd.tablePfn, pmd.idx), g.pmdLevel) : null;
      if (e && !e.table) s = { tablePfn: e.pfn, idx: pgt.index(g.pteLevel, vaddr) };
    }
    if (!s) throw new Oops("vmemmap_wrprotect_hvo: no PTE", { vaddr });
    pgt.set(s.tablePfn, s.idx, arch.pte.wrprotect(pgt.get(s.tablePfn, s.idx), g.pteLevel));
  }
}

/**
 * vmemmap_populate() as x86_64 has it (arch/x86/mm/init_64.c): base pages for less than a
 * section's memmap; otherwise vmemmap_populate_hugepages(), which maps a PMD leaf where the PMD
 * is none and falls back to base pages where a PTE table is already there
 * (vmemmap_check_pmd() returns 0 for a table). Arches without PMD-mapped vmemmap use base pages.
 * `block(nrPages)` gives memblock memory (PMD_SIZE blocks aligned to their size) or null.
 * Returns 0 or -ENOMEM.
 */
export function vmemmapPopulateRange(
  ctx: VmemmapPopulateContext,
  voffStart: number,
  voffEnd: number,
  nid: number,
  block: (nrPages: number) => number | null,
): number {
  const { geometry: g, arch, pgt } = ctx;
  const base = (from: number, to: number): number => {
    for (let v = from; v < to; v += g.pageSize) {
      if (!vmemmapPopulateAddress(ctx, v, nid, null, () => block(1))) return -12;
    }
    return 0;
  };
  if (!arch.vmemmapPmdLeaves || voffEnd - voffStart < g.sectionMemmapBytes)
    return base(voffStart, voffEnd);
  for (let v = voffStart; v < voffEnd; ) {
    const next = Math.min(Math.floor(v / g.pmdSize) * g.pmdSize + g.pmdSize, voffEnd);
    const vaddr = ctx.vmemmapBase + BigInt(v);
    const s = ensureTables(ctx, vaddr, g.pmdLevel, nid);
    const e = arch.pte.decode(pgt.get(s.tablePfn, s.idx), g.pmdLevel);
    if (!e) {
      const nrPages = g.pmdSize / g.pageSize;
      const pfn = block(nrPages);
      if (pfn !== null) {
        pgt.set(
          s.tablePfn,
          s.idx,
          arch.pte.mkLeaf(pfn, { writable: true, huge: true }, g.pmdLevel),
        );
        const pmdVoff = Math.floor(v / g.pmdSize) * g.pmdSize;
        for (let i = 0; i < nrPages; i++) setInitFrame(ctx, pfn + i, pmdVoff + i * g.pageSize);
        v = next;
        continue;
      }
    } else if (e.huge) {
      v = next;
      continue;
    }
    if (base(v, next) < 0) return -12;
    v = next;
  }
  return 0;
}

/**
 * vmemmap_undo_hvo() (legacy and the seed, early boot only; gone in mainline): clear the tail
 * PTEs, clear the head PTEs and give their pages back to memblock (`memblockFree`), flush the
 * range, and populate it the ordinary way.
 */
export function vmemmapUndoHvo(
  ctx: VmemmapPopulateContext,
  voffStart: number,
  voffEnd: number,
  nid: number,
  headsizeBytes: number,
  memblockFree: (pfn: number) => void,
  block: (nrPages: number) => number | null,
): number {
  const { geometry: g, arch, pgt } = ctx;
  const pte = (voff: number): PteSlot => {
    const s = pgt.slot(g.pteLevel, ctx.vmemmapBase + BigInt(voff));
    if (!s) throw new Oops("vmemmap_undo_hvo: no PTE", { vaddr: ctx.vmemmapBase + BigInt(voff) });
    return s;
  };
  for (let voff = voffStart + headsizeBytes; voff < voffEnd; voff += g.pageSize) {
    const s = pte(voff);
    pgt.set(s.tablePfn, s.idx, 0n);
  }
  for (let voff = voffStart; voff < voffStart + headsizeBytes; voff += g.pageSize) {
    const s = pte(voff);
    const e = arch.pte.decode(pgt.get(s.tablePfn, s.idx), g.pteLevel);
    pgt.set(s.tablePfn, s.idx, 0n);
    if (e) memblockFree(e.pfn);
  }
  pgt.flushTlbRange(ctx.vmemmapBase + BigInt(voffStart), ctx.vmemmapBase + BigInt(voffEnd));
  return vmemmapPopulateRange(ctx, voffStart, voffEnd, nid, block);
}
