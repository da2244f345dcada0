// `hvo report`: what HVO does on one machine, for a newcomer. Pure: builds a ReportData from a
// MachineSpec (arithmetic from the kernel's formulas plus a booted model) and renders it as
// text; the CLI only prints. Sources of each number are in hstates.ts.

import { machineCpu } from "../arch/index.ts";
import type { Design, Kernel } from "../kernel.ts";
import { designFacts, hasSharedTail } from "../mm/hvo_designs.ts";
import type { MachineSpec } from "../machine/spec.ts";
import { UsageErrorLike } from "./errors.ts";
import {
  allHstateArithmetic,
  type HstateArithmetic,
  type MachineArithmetic,
  type MemmapArithmetic,
  machineArithmetic,
  memmapArithmetic,
} from "./hstates.ts";
import { measurePool, type MeasuredPool, modelHasPool } from "./measure.ts";
import { arithmeticRuns, type FolioPicture, formatRuns, walkFolioVmemmap } from "./picture.ts";
import { bootWithPool } from "./state.ts";
import { defaultPool, parsePool, type PoolRequest, type ZoneRoom, zoneRoom } from "./pool.ts";
import { grouped, hex, sizeText } from "./units.ts";

export const REPORT_FORMAT = "hvo-report/1";

export interface ReportOptions {
  design: Design;
  /** --pool text ("1G:2,2M:100"); absent: the default pool. */
  pool?: string;
  /** Run the pool in the model and report measured counters (when the model has a pool). */
  measure?: boolean;
}

export interface PoolLine {
  name: string;
  folios: number;
  /** folios x vmemmap pages per folio: what the pool's struct pages occupy without HVO */
  vmemmap_pages: number;
  /** folios x freed_per_folio */
  freed_pages: number;
  freed_bytes: number;
  /** seed: (node, order) pairs; mainline: (zone, order) pairs; legacy: 0 */
  shared_tail_pages: number;
  /** page-table pages the vmemmap PMD splits cost (folios assumed side by side) */
  pagetable_pages: number;
  /** freed - shared tails - page tables */
  net_saved_pages: number;
  /** where the folios would go: [{nid, zone, folios}] */
  placement: ZoneRoom[];
}

export interface ReportData {
  format: typeof REPORT_FORMAT;
  machine: string;
  design: Design;
  platform: {
    arch: string;
    preset: string;
    nodes: number;
    zones: Array<{ nid: number; zone: string; start_pfn: number; end_pfn: number }>;
    memory_bytes: number;
    vmemmap_base: string;
    cmdline: string;
    /** The CPU features the arch looks at (x86_64: gbpages), null on an arch without any. */
    cpu: { gbpages: boolean } | null;
  } & MachineArithmetic;
  hstates: Array<HstateArithmetic & { pool_folios: number }>;
  pool: {
    /** "given" (--pool) or "default" (each size alone, the largest that fits) */
    kind: "given" | "default";
    definition: string;
    hstates: PoolLine[];
    /** sums over hstates; null for the default pool, whose sizes are alternatives */
    total: Omit<PoolLine, "name" | "folios" | "placement"> | null;
  };
  memmap: MemmapArithmetic & {
    /** what the booted model's /proc/vmstat says */
    model_nr_memmap_boot_pages: number;
    model_nr_memmap_pages: number;
  };
  shared_tails: { per: "node" | "zone" | null; text: string };
  pictures: FolioPicture[];
  measured: MeasuredPool | null;
  /** why there is no measured part, when there is none */
  measured_note: string | null;
  warnings: string[];
}

function poolDefinition(explicit: boolean): string {
  return explicit
    ? "as given with --pool"
    : "default: for each size on its own, the largest pool that fits after boot (naturally aligned free " +
        "blocks of that size, less each zone's min watermark); the sizes are alternatives, not one pool";
}

/**
 * Spreads n folios over the zones as alloc_pool_huge_folio() would: round robin over the nodes,
 * and inside a node from the highest zone down (the zonelist order).
 */
function placeFolios(room: readonly ZoneRoom[], n: number): ZoneRoom[] {
  const nids = [...new Set(room.map((r) => r.nid))].sort((a, b) => a - b);
  const order = ["Movable", "Normal", "DMA32", "DMA"];
  const nodeRoom = new Map(
    nids.map((nid) => [nid, room.filter((r) => r.nid === nid).reduce((a, r) => a + r.folios, 0)]),
  );
  // Round robin over nodes is water-filling: every node gets the same share until it is full.
  const share = new Map(nids.map((nid) => [nid, 0]));
  let todo = n;
  let open = nids.filter((nid) => (nodeRoom.get(nid) ?? 0) > 0);
  while (todo > 0 && open.length > 0) {
    const each = Math.max(1, Math.floor(todo / open.length));
    for (const nid of open) {
      if (todo === 0) break;
      const give = Math.min(each, todo, (nodeRoom.get(nid) ?? 0) - (share.get(nid) ?? 0));
      share.set(nid, (share.get(nid) ?? 0) + give);
      todo -= give;
    }
    open = open.filter((nid) => (share.get(nid) ?? 0) < (nodeRoom.get(nid) ?? 0));
  }
  const out: ZoneRoom[] = [];
  for (const nid of nids) {
    let left = share.get(nid) ?? 0;
    const zones = room
      .filter((r) => r.nid === nid)
      .sort((a, b) => order.indexOf(a.zone) - order.indexOf(b.zone));
    for (const z of zones) {
      if (left === 0) break;
      const take = Math.min(left, z.folios);
      if (take > 0) out.push({ nid, zone: z.zone, folios: take });
      left -= take;
    }
  }
  return out;
}

function poolLine(k: Kernel, design: Design, h: HstateArithmetic, folios: number): PoolLine {
  const placement = placeFolios(zoneRoom(k, h.order), folios);
  const pageSize = k.pageSize;
  let sharedTails = 0;
  const scope = designFacts(design).tailScope;
  if (h.optimizable && scope !== "none" && folios > 0) {
    sharedTails = scope === "node" ? new Set(placement.map((p) => p.nid)).size : placement.length;
  }
  let pagetables = 0;
  if (h.optimizable && h.vmemmap_pmds_per_folio > 0) {
    for (const p of placement) pagetables += Math.ceil(p.folios * h.vmemmap_pmds_per_folio);
  }
  const freed = folios * h.freed_per_folio;
  return {
    name: h.name,
    folios,
    vmemmap_pages: folios * h.vmemmap_pages,
    freed_pages: freed,
    freed_bytes: freed * pageSize,
    shared_tail_pages: sharedTails,
    pagetable_pages: pagetables,
    net_saved_pages: freed - sharedTails - pagetables,
    placement,
  };
}

function sharedTailText(
  design: Design,
  m: MachineArithmetic,
): { per: "node" | "zone" | null; text: string } {
  const per = designFacts(design).tailScope;
  if (per === "none") {
    return {
      per: null,
      text:
        `${design}: no shared tail pages. The tail vmemmap pages of a folio are mapped to its own head ` +
        "vmemmap page, read-only, so every 64th struct page reads as a head (fake heads, which " +
        "compound_head() must detect while the static key is on).",
    };
  }
  return {
    per,
    text:
      `${design}: one shared page of ${m.struct_pages_per_vmemmap_page} identical tail struct pages per (${per}, order), ` +
      `created the first time a folio of that order is optimised on that ${per} and never freed; ` +
      "/proc/vmstat does not count it. Tails store a mask (compound_info), so compound_head() is " +
      "`page & mask` and no struct page ever looks like a head.",
  };
}

/** The first naturally aligned free block of 2^order pages, highest zone first (a folio to draw). */
function sampleFolio(k: Kernel, order: number): number | null {
  const nr = 2 ** order;
  const zones = [...k.buddy.zones].reverse();
  for (const z of zones) {
    for (const [s, e] of z.lazy) {
      const first = Math.ceil(s / nr) * nr;
      if (first + nr <= e) return first;
    }
  }
  for (const z of zones) {
    for (let pfn = Math.ceil(z.startPfn / nr) * nr; pfn + nr <= z.endPfn; pfn += nr) {
      if (k.buddy.rangeFree(pfn, nr)) return pfn;
    }
  }
  return null;
}

/** What a newcomer should know beside the drawing of one folio. */
function pictureNotes(k: Kernel, design: Design, h: HstateArithmetic, pic: FolioPicture): string[] {
  const notes: string[] = [];
  if (h.vmemmap_pages < 1) {
    notes.push(
      `its struct pages take ${h.vmemmap_bytes} bytes, part of one vmemmap page shared with other folios`,
    );
  }
  if (!h.optimizable && h.why_not_text) notes.push(`not optimisable: ${h.why_not_text}`);
  if (!pic.after) return notes;
  if (k.spec.arch.pageKernelRoIsPageKernel) {
    notes.push(
      `${k.spec.arch.name} has no PAGE_KERNEL_RO: the "read-only" tail mappings are writable`,
    );
  }
  const nr = Math.ceil(h.vmemmap_pages);
  const scope = designFacts(design).tailScope;
  notes.push(
    scope === "none"
      ? `HVO frees A..A+${nr - 1} (${nr} pages) and allocates H: ${h.freed_per_folio} pages saved per folio`
      : `HVO frees A..A+${nr - 1} (${nr} pages) and allocates H (T once per ${scope}): ` +
          `${h.freed_per_folio} pages saved per folio`,
  );
  if (pic.before.some((r) => r.level === "pmd")) {
    notes.push(
      "the vmemmap PMD leaf is split into PTEs first (one page-table page, never merged back)",
    );
  }
  if (h.gigantic && k.spec.arch.vmemmapPreinit) {
    notes.push(
      "gigantic pages allocated at boot (hugepages= on the command line) start out in the after layout",
    );
  }
  return notes;
}

function picture(
  k: Kernel,
  design: Design,
  h: HstateArithmetic,
  measured: MeasuredPool | null,
): FolioPicture {
  const fromModel = measured?.pictures.find((p) => p.hstate === h.name) ?? null;
  let pic: FolioPicture;
  if (fromModel) pic = fromModel;
  else {
    const headPfn = h.vmemmap_pages >= 1 ? sampleFolio(k, h.order) : null;
    const after = arithmeticRuns(k.spec, design, h, "after");
    pic = {
      hstate: h.name,
      order: h.order,
      head_pfn: headPfn,
      vaddr_start: headPfn !== null ? hex(k.memmap.vaddrOf(headPfn)) : null,
      vmemmap_pages: h.vmemmap_pages,
      before:
        headPfn !== null
          ? walkFolioVmemmap(k, headPfn, h.order)
          : arithmeticRuns(k.spec, design, h, "before"),
      after,
      source_before: headPfn !== null ? "model" : "arithmetic",
      source_after: after ? "arithmetic" : null,
      notes: [],
    };
  }
  pic.notes.push(...pictureNotes(k, design, h, pic));
  return pic;
}

export function buildReport(spec: MachineSpec, opts: ReportOptions): ReportData {
  const design = opts.design;
  const m = machineArithmetic(spec);
  const hstates = allHstateArithmetic(spec, design);
  const k = bootWithPool(spec, design).k;
  let request: PoolRequest;
  if (opts.pool !== undefined) request = parsePool(opts.pool, hstates);
  else request = defaultPool(k, hstates);
  const lines = hstates.map((h) => poolLine(k, design, h, request.counts.get(h.name) ?? 0));
  let total: ReportData["pool"]["total"] = null;
  if (request.explicit) {
    total = {
      vmemmap_pages: 0,
      freed_pages: 0,
      freed_bytes: 0,
      shared_tail_pages: 0,
      pagetable_pages: 0,
      net_saved_pages: 0,
    };
    for (const l of lines) {
      total.vmemmap_pages += l.vmemmap_pages;
      total.freed_pages += l.freed_pages;
      total.freed_bytes += l.freed_bytes;
      total.shared_tail_pages += l.shared_tail_pages;
      total.pagetable_pages += l.pagetable_pages;
      total.net_saved_pages += l.net_saved_pages;
    }
  }
  let measured: MeasuredPool | null = null;
  let measuredNote: string | null = null;
  if (!modelHasPool()) {
    measuredNote =
      "the model has no HugeTLB pool and HVO yet: the numbers above are the kernel's arithmetic only";
  } else if (opts.measure === false) {
    measuredNote = "not measured (--no-measure)";
  } else {
    measured = measurePool(spec, design, request, hstates, k);
  }
  const memmap = memmapArithmetic(spec);
  const present = spec.nodes.reduce(
    (a, n) => a + n.ranges.reduce((b, r) => b + r.endPfn - r.startPfn, 0),
    0,
  );
  const data: ReportData = {
    format: REPORT_FORMAT,
    machine: spec.name,
    design,
    platform: {
      arch: spec.arch.name,
      preset: spec.arch.preset,
      nodes: spec.nodes.length,
      zones: spec.nodes.flatMap((n) =>
        n.zones.map((z) => ({
          nid: n.nid,
          zone: z.type,
          start_pfn: z.startPfn,
          end_pfn: z.endPfn,
        })),
      ),
      memory_bytes: present * m.page_size,
      vmemmap_base: hex(spec.arch.vmemmapBase),
      cmdline: spec.cmdline,
      cpu: machineCpu(spec) ?? null,
      ...m,
    },
    hstates: hstates.map((h) => ({ ...h, pool_folios: request.counts.get(h.name) ?? 0 })),
    pool: {
      kind: request.explicit ? "given" : "default",
      definition: poolDefinition(request.explicit),
      hstates: lines,
      total,
    },
    memmap: {
      ...memmap,
      model_nr_memmap_boot_pages: k.vmstat.nrMemmapBootPages,
      model_nr_memmap_pages: k.vmstat.nrMemmapPages,
    },
    shared_tails: sharedTailText(design, m),
    pictures: hstates.map((h) => picture(k, design, h, measured)),
    measured,
    measured_note: measuredNote,
    warnings: k.log.filter((l) => l.level !== "info" && l.level !== "debug").map((l) => l.text),
  };
  return data;
}

// ---------------------------------------------------------------------------- text

/** Greedy word wrap at `width` columns, each line prefixed with `indent` (and `first` on the first). */
function wrap(text: string, width = 100, indent = "", first = indent): string[] {
  const out: string[] = [];
  let line = first;
  let fresh = true;
  for (const word of text.split(/\s+/)) {
    if (!fresh && line.length + 1 + word.length > width) {
      out.push(line);
      line = indent + word;
    } else line += (fresh ? "" : " ") + word;
    fresh = false;
  }
  out.push(line);
  return out;
}

function table(rows: string[][], indent = "  "): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) =>
    (
      indent +
      r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("   ")
    ).trimEnd(),
  );
}

function pagesAndBytes(pages: number, pageSize: number): string {
  return `${grouped(Math.ceil(pages))} (${sizeText(pages * pageSize)})`;
}

function vmemmapPagesText(h: HstateArithmetic): string {
  if (h.vmemmap_pages < 1) return `${h.vmemmap_bytes} B (<1 page)`;
  return `${grouped(h.vmemmap_pages)} (${sizeText(h.vmemmap_bytes)})`;
}

export function formatReport(r: ReportData): string {
  const p = r.platform;
  const ps = p.page_size;
  const out: string[] = [];
  const nodes = `${p.nodes} node${p.nodes > 1 ? "s" : ""}`;
  out.push(
    `hvo report: ${r.machine} (${p.preset}, ${sizeText(p.memory_bytes)} RAM, ${nodes}, ${ps / 1024} KiB pages, ` +
      `${p.struct_page_size}-byte struct page${p.cpu?.gbpages === false ? ", CPU without 1 GiB pages" : ""}), design ${r.design}`,
  );
  out.push("");
  const intro =
    `Every ${ps / 1024} KiB page frame has a ${p.struct_page_size}-byte struct page in the vmemmap ` +
    `(${r.memmap.memmap_percent.toFixed(2)} % of RAM). In a huge page only the first few struct pages differ, ` +
    "so HVO keeps the one vmemmap page that holds them and maps the rest of the huge page's vmemmap " +
    (!hasSharedTail(r.design)
      ? `read-only onto that same page (${r.design} design)`
      : `read-only onto one shared page of identical tails (${r.design} design)`) +
    ", giving the freed pages back to the buddy allocator.";
  out.push(...wrap(intro));
  out.push("");
  if (p.hvo_hypothetical) {
    out.push(...wrap(`Note: ${p.hvo_hypothetical}`));
    out.push("");
  }

  // Per hstate
  out.push("Per huge page size (Documentation/mm/vmemmap_dedup.rst arithmetic)");
  const hs = r.hstates;
  const rows: string[][] = [["", ...hs.map((h) => h.name)]];
  rows.push(["order", ...hs.map((h) => String(h.order))]);
  rows.push(["struct pages per folio", ...hs.map((h) => grouped(h.struct_pages))]);
  rows.push(["vmemmap pages per folio", ...hs.map(vmemmapPagesText)]);
  rows.push(["optimisable", ...hs.map((h) => (h.optimizable ? "yes" : `no (${h.why_not})`))]);
  rows.push(["HVO frees per folio", ...hs.map((h) => `${grouped(h.freed_per_folio)} pages`)]);
  rows.push(["tail compound_info", ...hs.map((h) => h.tail_compound_info)]);
  if (hasSharedTail(r.design)) {
    rows.push([
      "shared tail slot",
      ...hs.map((h) => (h.shared_tail_slot === null ? "-" : String(h.shared_tail_slot))),
    ]);
  }
  out.push(...table(rows));
  for (const h of hs)
    if (!h.optimizable && h.why_not_text)
      out.push(...wrap(h.why_not_text, 100, "    ", `  ${h.name}: `));
  out.push("");

  // Pool
  // The example names this machine's two largest sizes: "1G:N,2M:M", or "2M:N" alone.
  const example = [...r.hstates]
    .reverse()
    .slice(0, 2)
    .map((h, i) => `${h.name}:${"NM"[i]}`)
    .join(",");
  out.push(...wrap(`Pool (${r.pool.definition}; choose with --pool ${example})`));
  const prow: string[][] = [
    ["size", "folios", "vmemmap w/o HVO", "HVO frees", "shared tails", "page tables", "net saved"],
  ];
  for (const l of r.pool.hstates) {
    prow.push([
      l.name,
      grouped(l.folios),
      pagesAndBytes(l.vmemmap_pages, ps),
      pagesAndBytes(l.freed_pages, ps),
      String(l.shared_tail_pages),
      String(l.pagetable_pages),
      pagesAndBytes(l.net_saved_pages, ps),
    ]);
  }
  const t = r.pool.total;
  if (t) {
    prow.push([
      "total",
      "",
      pagesAndBytes(t.vmemmap_pages, ps),
      pagesAndBytes(t.freed_pages, ps),
      String(t.shared_tail_pages),
      String(t.pagetable_pages),
      pagesAndBytes(t.net_saved_pages, ps),
    ]);
  }
  out.push(...table(prow));
  out.push(
    "  (pages of the base page size; page tables: vmemmap PMD leaves split, folios assumed side by side)",
  );
  out.push("");

  // Memmap
  const mm = r.memmap;
  out.push(
    `Memmap of the machine: ${grouped(mm.present_sections)} present sections x ${mm.memmap_pages_per_section} pages = ` +
      `${pagesAndBytes(mm.boot_memmap_pages, ps)}`,
  );
  const agree = mm.model_nr_memmap_boot_pages === mm.boot_memmap_pages ? "agrees" : "DIFFERS";
  out.push(
    `  model after boot: nr_memmap_boot_pages ${grouped(mm.model_nr_memmap_boot_pages)}, nr_memmap_pages ` +
      `${grouped(mm.model_nr_memmap_pages)} (${agree})`,
  );
  out.push("");
  out.push(...wrap(r.shared_tails.text, 100, "  ", "Shared tail pages: "));
  out.push("");

  // Pictures
  out.push(
    `The vmemmap of one folio of each size (A = its own vmemmap frames, H = head page, T = shared tail)`,
  );
  for (const pic of r.pictures) {
    const where =
      pic.head_pfn !== null ? ` at pfn ${hex(pic.head_pfn)}, vmemmap ${pic.vaddr_start}` : "";
    const pages =
      pic.vmemmap_pages >= 1
        ? `${grouped(pic.vmemmap_pages)} vmemmap pages`
        : "part of a vmemmap page";
    out.push(`  ${pic.hstate} folio${where} (${pages})`);
    out.push(`    before HVO${pic.source_before === "arithmetic" ? " (arithmetic)" : ""}:`);
    out.push(...formatRuns(pic.before, "      "));
    if (pic.after) {
      out.push(
        `    after HVO, ${r.design}${pic.source_after === "arithmetic" ? " (the design's rules, not yet run in the model)" : ""}:`,
      );
      out.push(...formatRuns(pic.after, "      "));
    }
    for (const n of pic.notes) out.push(`    ${n}`);
  }
  out.push("");

  // Measured
  if (r.measured) {
    out.push(...formatMeasured(r));
  } else if (r.measured_note) {
    out.push(`Measured: ${r.measured_note}.`);
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return `${out.join("\n")}\n`;
}

function formatMeasured(r: ReportData): string[] {
  const m = r.measured;
  if (!m) return [];
  const ps = r.platform.page_size;
  const out: string[] = [];
  out.push(
    "Measured in the model (boot, echo 1 > hugetlb_optimize_vmemmap, echo N > nr_hugepages, read /proc/vmstat and /proc/meminfo)",
  );
  const rows: string[][] = [
    [
      "size",
      "asked",
      "got",
      "memmap change",
      "arithmetic",
      "shared tails",
      "page tables",
      "MemFree change",
      "HugePages_Total",
    ],
  ];
  for (const h of m.hstates) {
    rows.push([
      h.name,
      grouped(h.asked),
      grouped(h.got),
      grouped(h.memmap_delta),
      grouped(h.expected_memmap_delta),
      String(h.shared_tail_pages),
      String(h.pagetable_pages),
      grouped(h.memfree_delta_pages),
      h.hugepages_total === null ? "-" : grouped(h.hugepages_total),
    ]);
  }
  out.push(...table(rows));
  out.push(
    `  memmap change = nr_memmap_pages + nr_memmap_boot_pages after minus before, in ${ps / 1024} KiB pages`,
  );
  for (const n of m.notes) out.push(`  ${n}`);
  return out;
}

export { UsageErrorLike };
