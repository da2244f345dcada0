// The vmemmap of one folio, page by page: which frame each vmemmap PTE maps and whether it is
// writable, before and after HVO. The compact text form of Documentation/mm/vmemmap_dedup.rst's
// diagrams: consecutive vmemmap pages that map consecutive frames (or all the same frame) with
// the same protection are one line.
//
// Two sources: a walk of the model's page tables (walkFolioVmemmap), or the design's rules
// applied to symbolic frames (arithmeticRuns) where the model cannot show it yet.

import type { Design, Kernel } from "../kernel.ts";
import { designFacts, hasSharedTail } from "../mm/hvo_designs.ts";
import type { MachineSpec } from "../machine/spec.ts";
import type { HstateArithmetic } from "./hstates.ts";
import { hex } from "./units.ts";

/** What a frame is to this folio. */
export type FrameRole =
  /** one of the folio's own vmemmap pages (boot memmap, or restored) */
  | "own"
  /** page 0 after HVO: the (new) head vmemmap page */
  | "head"
  /** legacy: a tail vmemmap page mapped to the head page again (the source of fake heads) */
  | "head_alias"
  /** seed/mainline: the shared page of identical tails */
  | "shared_tail";

export interface VmemmapRun {
  /** vmemmap page indices within the folio, inclusive */
  first: number;
  last: number;
  /** the leaf that maps them */
  level: "pte" | "pmd" | "pud";
  writable: boolean;
  /** first frame (model) or null (arithmetic: the symbol says it) */
  frame: number | null;
  /** frames advance by one per page (true) or all pages map the same frame (false) */
  consecutive: boolean;
  role: FrameRole;
  /** "A", "H", "T": the symbol used in the text */
  symbol: string;
  note: string;
}

export interface FolioPicture {
  hstate: string;
  order: number;
  /** the folio shown (model) or null (arithmetic) */
  head_pfn: number | null;
  vaddr_start: string | null;
  vmemmap_pages: number;
  before: VmemmapRun[];
  /** null when HVO does not apply (not optimisable, or disabled) */
  after: VmemmapRun[] | null;
  source_before: "model" | "arithmetic";
  source_after: "model" | "arithmetic" | null;
  notes: string[];
}

function levelName(k: Kernel, level: number): "pte" | "pmd" | "pud" {
  const levels = k.pgt.levels;
  if (level === levels - 1) return "pte";
  if (level === levels - 2) return "pmd";
  return "pud";
}

/**
 * Walks the page tables for the vmemmap pages of the folio [headPfn, headPfn + 2^order) and
 * groups them into runs. Roles: page 0's frame seen again at a later page is a head alias; a
 * frame recorded as a shared tail allocation is the shared tail; page 0 is the head when any
 * alias or shared tail exists; everything else is the folio's own.
 */
export function walkFolioVmemmap(k: Kernel, headPfn: number, order: number): VmemmapRun[] {
  const pageSize = k.pageSize;
  const start = k.memmap.vaddrOf(headPfn);
  const nrBytes = 2 ** order * k.layout.size;
  const firstPage = start - (start % BigInt(pageSize));
  const nrPages = Math.max(1, Math.ceil(Number(start + BigInt(nrBytes) - firstPage) / pageSize));
  const pages: Array<{ frame: number; writable: boolean; level: "pte" | "pmd" | "pud" }> = [];
  const pte = k.spec.arch.pte;
  const last = k.pgt.levels - 1;
  // One walk per PTE table (or leaf), then the table's entries directly: a 1 GiB folio has
  // 4096 vmemmap pages and walking each from the root shows in the report's run time.
  let table: { pfn: number; idx: number } | null = null;
  for (let i = 0; i < nrPages; i++) {
    const vaddr = firstPage + BigInt(i * pageSize);
    if (table && table.idx + 1 < k.pgt.entriesPerTable) {
      table.idx++;
      const e = pte.decode(k.pgt.get(table.pfn, table.idx), last);
      if (!e?.present) throw new RangeError(`vmemmap page ${i} of pfn ${headPfn} is not mapped`);
      pages.push({ frame: e.pfn, writable: e.writable, level: "pte" });
      continue;
    }
    const leaf = k.pgt.lookup(vaddr);
    if (!leaf) throw new RangeError(`vmemmap page ${i} of pfn ${headPfn} is not mapped`);
    let frame = leaf.pfn;
    if (leaf.huge) {
      const span = 2n ** BigInt(k.spec.arch.levelShifts[leaf.level]);
      frame += Number((vaddr % span) / BigInt(pageSize));
      table = null;
    } else table = { pfn: leaf.tablePfn, idx: leaf.idx };
    pages.push({ frame, writable: leaf.writable, level: levelName(k, leaf.level) });
  }
  const head = pages[0].frame;
  const roles: FrameRole[] = pages.map((p, i) => {
    if (i > 0 && p.frame === head) return "head_alias";
    if (k.buddy.allocations.get(p.frame)?.use === "shared_tail") return "shared_tail";
    return "own";
  });
  if (roles.some((r) => r !== "own")) roles[0] = "head";
  const runs: VmemmapRun[] = [];
  for (let i = 0; i < pages.length; i++) {
    const p = pages[i];
    const r = runs[runs.length - 1];
    if (
      r &&
      r.role === roles[i] &&
      r.writable === p.writable &&
      r.level === p.level &&
      r.frame !== null
    ) {
      const span = i - r.first;
      const consecutiveOk = (r.last === r.first || r.consecutive) && p.frame === r.frame + span;
      const sameOk = (r.last === r.first || !r.consecutive) && p.frame === r.frame;
      if (consecutiveOk || sameOk) {
        r.consecutive = consecutiveOk;
        r.last = i;
        continue;
      }
    }
    runs.push({
      first: i,
      last: i,
      level: p.level,
      writable: p.writable,
      frame: p.frame,
      consecutive: true,
      role: roles[i],
      symbol: "",
      note: "",
    });
  }
  for (const r of runs) describeRun(k.spec, k.design, order, r, zoneLabel(k, r.frame));
  return runs;
}

function zoneLabel(k: Kernel, frame: number | null): string {
  if (frame === null) return "";
  const z = k.pfnZone(frame);
  return z ? `node ${z.nid}, zone ${z.zone}` : "";
}

function describeRun(
  spec: MachineSpec,
  design: Design,
  order: number,
  r: VmemmapRun,
  where: string,
): void {
  const perPage = 2 ** spec.arch.pageShift / spec.structPageSize;
  switch (r.role) {
    case "own":
      r.symbol = r.first === 0 ? "A" : `A+${r.first}`;
      r.note =
        r.first === 0
          ? r.last === 0
            ? `head + struct pages 1-${perPage - 1}`
            : `the folio's own vmemmap pages: head and ${2 ** order - 1} tails`
          : "the folio's own vmemmap pages: tails";
      break;
    case "head":
      r.symbol = "H";
      r.note = `head vmemmap page: struct pages 0-${perPage - 1} (head + first tails), a copy of A`;
      break;
    case "head_alias":
      r.symbol = "H";
      r.note = `the head page again: struct page ${perPage}*k reads as the head (a fake head)`;
      break;
    case "shared_tail": {
      r.symbol = "T";
      const per = designFacts(design).tailScope;
      r.note = `shared tail page, one per ${per} and order${where ? ` (${where}, order ${order})` : ""}: ${perPage} identical tails`;
      break;
    }
  }
}

/** The design's rules on symbolic frames (A = the folio's own vmemmap frames, H, T). */
export function arithmeticRuns(
  spec: MachineSpec,
  design: Design,
  h: HstateArithmetic,
  stage: "before",
): VmemmapRun[];
export function arithmeticRuns(
  spec: MachineSpec,
  design: Design,
  h: HstateArithmetic,
  stage: "after",
): VmemmapRun[] | null;
export function arithmeticRuns(
  spec: MachineSpec,
  design: Design,
  h: HstateArithmetic,
  stage: "before" | "after",
): VmemmapRun[] | null {
  const nrPages = Math.max(1, Math.ceil(h.vmemmap_pages));
  const pmdLeaves = spec.arch.vmemmapPmdLeaves;
  if (stage === "before") {
    const r: VmemmapRun = {
      first: 0,
      last: nrPages - 1,
      level: pmdLeaves ? "pmd" : "pte",
      writable: true,
      frame: null,
      consecutive: true,
      role: "own",
      symbol: "",
      note: "",
    };
    describeRun(spec, design, h.order, r, "");
    return [r];
  }
  if (!h.optimizable) return null;
  // PAGE_KERNEL_RO falls back to PAGE_KERNEL on riscv64 and loongarch64.
  const roWritable = spec.arch.pageKernelRoIsPageKernel === true;
  const head: VmemmapRun = {
    first: 0,
    last: 0,
    level: "pte",
    writable: true,
    frame: null,
    consecutive: true,
    role: "head",
    symbol: "",
    note: "",
  };
  const rest: VmemmapRun = {
    first: 1,
    last: nrPages - 1,
    level: "pte",
    writable: roWritable,
    frame: null,
    consecutive: false,
    role: hasSharedTail(design) ? "shared_tail" : "head_alias",
    symbol: "",
    note: "",
  };
  describeRun(spec, design, h.order, head, "");
  describeRun(spec, design, h.order, rest, "");
  return [head, rest];
}

function pagesText(r: VmemmapRun): string {
  return r.first === r.last ? `page ${r.first}` : `pages ${r.first}-${r.last}`;
}

function framesText(r: VmemmapRun): string {
  if (r.frame === null) {
    if (r.role === "own") return r.first === r.last ? r.symbol : `${r.symbol}..A+${r.last}`;
    return r.symbol;
  }
  const sym = r.role === "own" ? "" : ` (${r.symbol})`;
  if (r.first === r.last || !r.consecutive) return `frame ${hex(r.frame)}${sym}`;
  return `frames ${hex(r.frame)}-${hex(r.frame + r.last - r.first)}${sym}`;
}

/** Text lines of one run list. */
export function formatRuns(runs: readonly VmemmapRun[], indent: string): string[] {
  const rows = runs.map((r) => [
    pagesText(r),
    `-> ${framesText(r)}`,
    `${r.level.toUpperCase()} ${r.writable ? "RW" : "RO"}`,
    r.note,
  ]);
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max(...rows.map((x) => x[1].length));
  const w2 = Math.max(...rows.map((x) => x[2].length));
  return rows.map((x) =>
    `${indent}${x[0].padEnd(w0)}  ${x[1].padEnd(w1)}  ${x[2].padEnd(w2)}  ${x[3]}`.trimEnd(),
  );
}
