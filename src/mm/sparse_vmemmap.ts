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
  const out: Section[] = [];
  const seen = new Set<number>();
  for (const node of spec.nodes) {
    for (const r of node.ranges) {
      let s = Math.floor(r.startPfn / pagesPerSection);
      const last = Math.floor((r.endPfn - 1) / pagesPerSection);
      for (; s <= last; s++) {
        if (seen.has(s)) continue;
        seen.add(s);
        out.push({ nr: s, nid: node.nid, startPfn: s * pagesPerSection });
      }
    }
  }
  return out.sort((a, b) => a.nr - b.nr);
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
export function ensureTables(ctx: VmemmapPopulateContext, vaddr: bigint, level: number, nid: number): { tablePfn: number; idx: number } {
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
 * vmemmap_populate() for the memmap bytes [voffStart, voffEnd) (offsets from the vmemmap base),
 * with backing from `block(nrPages)`. Returns the number of backing pages it mapped.
 */
export function vmemmapPopulate(
  ctx: VmemmapPopulateContext,
  voffStart: number,
  voffEnd: number,
  nid: number,
  block: (nrPages: number) => number,
): number {
  const { geometry: g, arch, pgt, frames } = ctx;
  let mapped = 0;
  if (arch.vmemmapPmdLeaves) {
    // vmemmap_populate_hugepages(): one PMD leaf per PMD-sized piece not mapped yet.
    let v = Math.floor(voffStart / g.pmdSize) * g.pmdSize;
    for (; v < voffEnd; v += g.pmdSize) {
      const vaddr = ctx.vmemmapBase + BigInt(v);
      const s = ensureTables(ctx, vaddr, g.pmdLevel, nid);
      if (arch.pte.decode(pgt.get(s.tablePfn, s.idx), g.pmdLevel)) continue;
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
