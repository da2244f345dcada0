// Machines and folios for the HVO tests, without the pool: a folio is a buddy (or contig)
// allocation made compound and hugetlb by hand, with refcount 0 as the pool keeps free folios.
import { machinePreset } from "../../src/arch/index.ts";
import { type Design, Kernel } from "../../src/kernel.ts";
import type { MachineSpec } from "../../src/machine/spec.ts";
import { folioSetHugetlb } from "../../src/mm/hugetlb_folio.ts";
import { type HvoCore, createHugetlbVmemmap } from "../../src/mm/hugetlb_vmemmap.ts";
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL, __GFP_THISNODE } from "../../src/mm/page_alloc.ts";

export const GiB = 2 ** 30;
export const DESIGNS: readonly Design[] = ["legacy", "seed", "mainline"];

export function x86(gib = 4, nodes = 1, cmdline = "hugetlb_free_vmemmap=on"): MachineSpec {
  return machinePreset("x86_64", { memoryBytes: gib * GiB, nodes, cmdline });
}

export function bootHvo(spec: MachineSpec, design: Design): { k: Kernel; hvo: HvoCore } {
  const k = new Kernel(spec, { design });
  const hvo = createHugetlbVmemmap(k);
  k.hooks.push(hvo.bootHooks);
  k.boot();
  return { k, hvo };
}

/** A free hugetlb folio of `order` on node nid (gfp picks the zone). */
export function makeFolio(
  k: Kernel,
  order: number,
  nid = 0,
  gfp = GFP_HIGHUSER_MOVABLE | __GFP_THISNODE,
): number {
  const head =
    order > k.buddy.maxOrder
      ? k.buddy.allocContigPages(2 ** order, gfp, nid, "test:folio", "hugetlb")
      : k.buddy.allocPagesNode(nid, gfp, order, "test:folio", "hugetlb");
  if (head === null) throw new Error(`no order-${order} folio on node ${nid}`);
  k.compound.prepCompoundPage(head, order);
  folioSetHugetlb(k.memmap, head, true);
  return head;
}

/** The folio goes back to the buddy (update_and_free_hugetlb_folio() after a restore). */
export function freeFolio(k: Kernel, head: number, order: number): void {
  folioSetHugetlb(k.memmap, head, false);
  k.compound.destroyCompoundPage(head, order);
  if (order > k.buddy.maxOrder) k.buddy.freeContigRange(head, 2 ** order);
  else k.buddy.freePages(head, order);
}

/** The bytes of the vmemmap range of a folio, read through the page tables (no TLB). */
export function vmemmapBytes(k: Kernel, head: number, order: number): Uint8Array {
  const sps = k.spec.structPageSize;
  const nrPages = (2 ** order * sps) / k.pageSize;
  const out = new Uint8Array(nrPages * k.pageSize);
  const base = k.memmap.vaddrOf(head);
  for (let i = 0; i < nrPages; i++) {
    const t = k.pgt.walk(base + BigInt(i * k.pageSize));
    if (!t) throw new Error(`vmemmap page ${i} unmapped`);
    out.set(k.frames.view(t.frame), i * k.pageSize);
  }
  return out;
}

/** PG_head in the raw bytes of a struct page (no fake-head logic). */
export function rawPgHead(k: Kernel, pfn: number): boolean {
  return (k.memmap.readStructPage(pfn)[0] & (1 << 6)) !== 0;
}

/** The leaf PTE of the vmemmap page holding struct page pfn. */
export function pteOf(k: Kernel, pfn: number): { pfn: number; writable: boolean } {
  const l = k.pgt.lookup(k.memmap.vaddrOf(pfn));
  if (!l) throw new Error(`struct page of ${pfn} unmapped`);
  return {
    pfn: l.huge
      ? l.pfn + Number((k.memmap.vaddrOf(pfn) % BigInt(k.geometry.pmdSize)) / BigInt(k.pageSize))
      : l.pfn,
    writable: l.writable,
  };
}

/** The first byte offset where a and b differ, or -1 (cheap on 16 MiB, unlike toEqual). */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * firstDiff() that ignores lru.prev (bytes 16..23 of each struct page): memmap_init() leaves it
 * pointing at the struct page itself, and every vmemmap page the kernel rebuilds (restore, and
 * the rollback of a half-done optimise) is a copy of struct pages of the head page, so the
 * rebuilt tails carry the head page's pointers there.
 */
export function firstDiffButLruPrev(a: Uint8Array, b: Uint8Array, sps: number): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    const f = i % sps;
    if (f >= 16 && f < 24) continue;
    if (a[i] !== b[i]) return i;
  }
  return -1;
}

/**
 * A 1 GiB folio on a 4 GiB x86_64 machine whose optimisation fails at the second vmemmap PMD
 * split, so the walk is rolled back half-way: the vmemmap bytes and vmstat before it, the bytes
 * after it.
 */
export function rollBackHalfDone1G(design: Design) {
  const { k, hvo } = bootHvo(x86(4), design);
  const head = makeFolio(k, 18, 0, GFP_KERNEL);
  const before = vmemmapBytes(k, head, 18);
  const v0 = { ...k.vmstat };
  k.faults.add({ site: "vmemmap_split_pmd", nth: 2 });
  hvo.optimizeFolio(18, head);
  return { k, hvo, head, before, after: vmemmapBytes(k, head, 18), v0 };
}
