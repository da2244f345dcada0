// `hvo compare`: one scenario under the three designs, side by side - frames by use, the user's
// counters, PTE writes, TLB flushes, synchronize_rcu() calls, fake heads, and the raw struct
// page of one tail. Kernel counterparts: mm/hugetlb_vmemmap.c of each design. Pure.

import type { Design, Kernel } from "../kernel.ts";
import { COMPARE_DESIGNS } from "../mm/hvo_designs.ts";
import type { MachineSpec } from "../machine/spec.ts";
import { bootModel } from "../model.ts";
import type { After, ScenarioFile } from "../scenario/format.ts";
import { observeModel, runModel } from "../scenario/run_model.ts";
import { checkContext, hexBytes, poolOf, publishedTails } from "./invariants.ts";
import { PAGE_OFF } from "../include/mm_types.ts";
import { PG } from "../include/page_flags.ts";

export interface DesignComparison {
  design: Design;
  /** Struct pages whose raw bytes have PG_head set but are not a folio's head. */
  fake_heads: number;
  shared_tail_pages: number;
  /** Frames backing the memmap (distinct frames the vmemmap maps). */
  vmemmap_pages: number;
  /** Of those, the runtime pages that hold a folio's head struct pages after HVO. */
  vmemmap_head_pages: number;
  pagetable_pages: number;
  /** vmemmap pages HVO gave back, and took again on restore. */
  vmemmap_pages_freed: number;
  vmemmap_pages_allocated: number;
  pte_writes: number;
  tlb_flushes: number;
  tlb_flush_ranges: number;
  tlb_flush_alls: number;
  synchronize_rcu: number;
  frames_by_use: Record<string, number>;
  tail: { pfn: number; head: number | null; bytes: string; pg_head: boolean } | null;
  after: After;
}

export interface Comparison {
  /** The designs compared, in column order (COMPARE_DESIGNS unless chosen). */
  order: Design[];
  /** Keyed by design name; only the designs in `order` are present. */
  designs: Record<string, DesignComparison>;
}

/** Raw PG_head bits on non-head struct pages of every folio, through the page tables. */
export function countFakeHeads(k: Kernel): number {
  const pool = poolOf(k);
  if (!pool) return 0;
  const c = checkContext(k);
  c.mirror.refresh();
  const sps = k.spec.structPageSize;
  const ps = k.pageSize;
  let n = 0;
  for (const [head, info] of pool.folios) {
    const nr = info.h.nrPages;
    for (let p = head + 1; p < head + nr; p++) {
      const voff = p * sps;
      const vpn = Math.floor(voff / ps);
      const m = c.mirror.translate(vpn);
      if (!m) continue;
      // Only struct pages at the start of a vmemmap page can alias a head; elsewhere the slot
      // of a tails pattern never has PG_head. Read every slot of frames with bytes of their own.
      const pat = k.frames.patternOf(m.frame);
      if (pat?.kind === "tails" && pat.flags === undefined) {
        p = Math.floor(((vpn + 1) * ps) / sps) - 1;
        continue;
      }
      const flags = k.frames.readU32(m.frame, voff - vpn * ps);
      if ((flags >>> PG.head) & 1) n++;
    }
  }
  return n;
}

export function compareDesign(
  spec: MachineSpec,
  design: Design,
  file: ScenarioFile,
  pfn?: number,
): DesignComparison {
  const model = bootModel(spec, design);
  runModel(model, file, { skipFinalReset: true });
  const k = model.k;
  const after = observeModel(model);
  const byUse: Record<string, number> = {};
  for (const a of k.buddy.allocations.values()) byUse[a.use] = (byUse[a.use] ?? 0) + 2 ** a.order;
  for (const r of k.memblock.reserved)
    byUse[`boot_${r.use}`] = (byUse[`boot_${r.use}`] ?? 0) + r.endPfn - r.startPfn;
  byUse.free = k.buddy.nrFreePages();
  const c = checkContext(k);
  c.mirror.refresh();
  let mapped = c.mirror.pteRefs().size;
  for (const h of c.mirror.hugeLeaves()) mapped += h.nrPages;
  const hvo = k.sub.hvo as {
    counters?: { synchronizeRcu: number; vmemmapPagesFreed: number; vmemmapPagesAllocated: number };
  };
  const pool = poolOf(k);
  let vmemmapHeads = 0;
  let optimisedHead: number | null = null;
  if (pool) {
    for (const head of pool.folios.keys()) {
      const m = c.mirror.translate(Math.floor((head * k.spec.structPageSize) / k.pageSize));
      if (
        m &&
        k.buddy.allocations.get(m.frame)?.use === "vmemmap" &&
        c.shadow.memmap.testBit(head, PAGE_OFF.private, 4)
      )
        vmemmapHeads++;
      if (optimisedHead === null || head < optimisedHead) optimisedHead = head;
    }
  }
  let tail: DesignComparison["tail"] = null;
  const tailPfn = pfn ?? (optimisedHead !== null ? optimisedHead + 64 : null);
  if (tailPfn !== null && c.shadow.memmap.backing(tailPfn)) {
    const bytes = c.shadow.memmap.readStructPage(tailPfn);
    tail = {
      pfn: tailPfn,
      head: optimisedHead,
      bytes: hexBytes(bytes),
      pg_head: ((bytes[0] >>> PG.head) & 1) === 1,
    };
  }
  const pagetable = (byUse.pagetable ?? 0) + (byUse.boot_pagetable ?? 0);
  return {
    design,
    fake_heads: countFakeHeads(k),
    shared_tail_pages: publishedTails(k).size,
    vmemmap_pages: mapped,
    vmemmap_head_pages: vmemmapHeads,
    pagetable_pages: pagetable,
    vmemmap_pages_freed: hvo.counters?.vmemmapPagesFreed ?? 0,
    vmemmap_pages_allocated: hvo.counters?.vmemmapPagesAllocated ?? 0,
    pte_writes: k.pgt.pteWrites,
    tlb_flushes: k.pgt.tlbFlushRanges + k.pgt.tlbFlushAlls,
    tlb_flush_ranges: k.pgt.tlbFlushRanges,
    tlb_flush_alls: k.pgt.tlbFlushAlls,
    synchronize_rcu: hvo.counters?.synchronizeRcu ?? 0,
    frames_by_use: byUse,
    tail,
    after,
  };
}

export function compareDesigns(
  spec: MachineSpec,
  file: ScenarioFile,
  pfn?: number,
  which: readonly Design[] = COMPARE_DESIGNS,
): Comparison {
  const designs: Record<string, DesignComparison> = {};
  for (const d of which) designs[d] = compareDesign(spec, d, file, pfn);
  return { order: [...which], designs };
}

/** The text table of `hvo compare`. */
export function formatComparison(cmp: Comparison): string {
  const ds = cmp.order.map((d) => cmp.designs[d]);
  const rows: Array<[string, ...string[]]> = [["", ...cmp.order]];
  const row = (label: string, f: (x: DesignComparison) => unknown) =>
    rows.push([label, ...ds.map((x) => String(f(x) ?? "-"))]);
  rows.push(["frames by use"]);
  row("  vmemmap (runtime)", (x) => x.frames_by_use.vmemmap ?? 0);
  row("  vmemmap head pages", (x) => x.vmemmap_head_pages);
  row("  vmemmap (boot)", (x) => x.frames_by_use.boot_vmemmap ?? 0);
  row("  shared tails", (x) => x.shared_tail_pages);
  row("  page tables", (x) => x.pagetable_pages);
  row("  hugetlb", (x) => x.frames_by_use.hugetlb ?? 0);
  row("  free", (x) => x.frames_by_use.free);
  row("  freed by HVO", (x) => x.vmemmap_pages_freed);
  row("  allocated by HVO", (x) => x.vmemmap_pages_allocated);
  rows.push(["counters"]);
  row("  nr_memmap_pages", (x) => x.after.nr_memmap_pages);
  row("  nr_memmap_boot_pages", (x) => x.after.nr_memmap_boot_pages);
  row("  HugePages_Total", (x) => x.after.HugePages_Total);
  row("  HugePages_Free", (x) => x.after.HugePages_Free);
  row("  Hugetlb_kB", (x) => x.after.Hugetlb_kB);
  row("  MemFree_kB", (x) => x.after.MemFree_kB);
  rows.push(["work"]);
  row("  PTE writes", (x) => x.pte_writes);
  row("  TLB flushes (range/all)", (x) => `${x.tlb_flush_ranges}/${x.tlb_flush_alls}`);
  row("  synchronize_rcu()", (x) => x.synchronize_rcu);
  row("fake heads present", (x) => x.fake_heads);
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  let out = rows
    .map((r) =>
      r
        .map((c, i) => (i === 0 ? c.padEnd(w[0]) : c.padStart(w[i])))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
  out += "\n";
  for (const x of ds) {
    if (!x.tail) continue;
    out += `\n${x.design}: struct page of pfn ${x.tail.pfn} (folio ${x.tail.head}): ${x.tail.pg_head ? "PG_head set" : "PG_head clear"}\n  ${x.tail.bytes}\n`;
  }
  return out;
}
