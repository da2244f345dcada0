// What two models run side by side must agree on, hashed: the differential tests of a fast
// path against its plain form (test/hvo/vmemmap_bulk, test/hvo/vmemmap_runs,
// test/core/frames_settle) step two models and compare these after each step.
import { createHash } from "node:crypto";
import type { HvoCore } from "../src/mm/hugetlb_vmemmap.ts";
import type { Model } from "../src/model.ts";

export interface DigestOptions {
  /** Every vmemmap page: its translation and bytes (false: skip, the memmap is 24 MiB at 4 GiB). */
  memmap?: boolean;
  /** Also how the frame store holds each page (own bytes or not) and its totals. */
  frames?: boolean;
  /** The pool files to read (nr_hugepages of the sizes the steps use). */
  pools?: readonly string[];
}

/**
 * The model's state a user or the kernel could tell apart, as hashes and short strings: the
 * vmemmap (PTE words, translations, struct page bytes), the buddy's free lists and allocations,
 * memblock.reserved, the counters (vmstat, HVO's, PTE writes), /proc/meminfo, the pools and the
 * kernel log.
 */
export function modelDigest(m: Model, o: DigestOptions = {}): Record<string, string> {
  const { k } = m;
  const sha = () => createHash("sha256");
  const ptes = sha();
  const memmap = sha();
  if (o.memmap !== false) {
    const perPage = k.pageSize / k.spec.structPageSize;
    let end = 0;
    for (const n of k.spec.nodes) for (const r of n.ranges) end = Math.max(end, r.endPfn);
    for (let pfn = 0; pfn < end; pfn += perPage) {
      const vaddr = k.memmap.vaddrOf(pfn);
      const leaf = k.pgt.lookup(vaddr);
      if (leaf) ptes.update(`${pfn}:${k.pgt.get(leaf.tablePfn, leaf.idx)};`);
      const t = k.pgt.walk(vaddr);
      if (!t) continue;
      memmap.update(`${pfn}:${t.frame}:${t.writable};`);
      if (o.frames) memmap.update(`${k.frames.hasOwnBytes(t.frame)};`);
      memmap.update(k.frames.view(t.frame));
    }
    if (o.frames) memmap.update(JSON.stringify(k.frames.stats()));
  }
  const buddy = sha();
  for (const z of k.buddy.zones) {
    buddy.update(
      JSON.stringify({
        free: z.freeArea.map((l) => [...l]),
        unmovable: z.unmovableArea.map((l) => [...l]),
        claimed: [...z.unmovableBlocks].sort((x, y) => x - y),
        lazy: z.lazy,
        nrFree: z.nrFree,
        managed: z.managed,
      }),
    );
  }
  const allocations = sha();
  for (const [pfn, a] of [...k.buddy.allocations].sort((x, y) => x[0] - y[0]))
    allocations.update(`${pfn}:${a.order}:${a.use}:${a.nid};`);
  const hvo = m.vmemmap as HvoCore;
  return {
    ptes: ptes.digest("hex"),
    memmap: memmap.digest("hex"),
    buddy: buddy.digest("hex"),
    allocations: allocations.digest("hex"),
    reserved: JSON.stringify(k.memblock.reserved),
    vmstat: JSON.stringify(k.vmstat),
    counters: JSON.stringify({ ...hvo.counters, pteWrites: k.pgt.pteWrites }),
    meminfo: m.read("/proc/meminfo"),
    pools: (o.pools ?? []).map((p) => m.read(p).trim()).join(" "),
    log: JSON.stringify(k.printk.records()),
  };
}

/** One write to a file on each of the models run side by side, each settled after it. */
export function stepModels(ms: readonly Model[], path: string, value: string): void {
  for (const m of ms) {
    m.write(path, value);
    m.settle();
  }
}

/** The head pfns of the hugetlb folios of an order the buddy allocator has handed out. */
export function hugetlbHeads(m: Model, order: number): number[] {
  return [...m.k.buddy.allocations]
    .filter(([, a]) => a.use === "hugetlb" && a.order === order)
    .map(([pfn]) => pfn);
}

/** Every translation the TLB holds for the memmap's pages, in vmemmap order, hashed. */
export function tlbDigest(m: Model): string {
  const { k } = m;
  let end = 0;
  for (const n of k.spec.nodes) for (const r of n.ranges) end = Math.max(end, r.endPfn);
  const lo = k.pgt.vpnOf(k.memmap.vaddrOf(0));
  const hi = k.pgt.vpnOf(k.memmap.vaddrOf(end));
  const h = createHash("sha256");
  let n = 0;
  for (let v = lo; v <= hi; v++) {
    const e = k.pgt.tlbEntry(v);
    if (e) {
      h.update(`${v}:${e.frame}:${e.writable};`);
      n++;
    }
  }
  return `${n} ${h.digest("hex")}`;
}

/**
 * The TLB's pages in its own iteration order (the order its sweep and evictions visit them)
 * with their translations, hashed: for fast paths that must fill it in the same order too.
 */
export function tlbOrderDigest(m: Model): string {
  const pgt = m.k.pgt as unknown as { tlb: { keys(): number[] } };
  const h = createHash("sha256");
  for (const vpn of pgt.tlb.keys()) {
    const t = m.k.pgt.tlbEntry(vpn);
    h.update(`${vpn}:${t?.frame}:${t?.writable};`);
  }
  return `${m.k.pgt.tlbSize} ${h.digest("hex")}`;
}
