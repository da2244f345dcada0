// `hvo matrix`: every preset x struct page size x design - its hstates, whether HVO can optimise
// each (mm/hugetlb_vmemmap.c hugetlb_vmemmap_optimizable_size()), the vmemmap pages a folio has
// and HVO frees, NR_VMEMMAP_TAILS and MAX_FOLIO_VMEMMAP_ALIGN of the series (include/linux/
// mmzone.h, page-flags.h) against the preset's vmemmap base, and a short check run. Pure.

import { machinePreset, presetNames, STRUCT_PAGE_SIZES } from "../arch/index.ts";
import { maxFolioVmemmapAlign, nrVmemmapTails } from "../include/page_flags.ts";
import { type Design, DESIGNS } from "../kernel.ts";
import type { StructPageSize } from "../machine/spec.ts";
import { bootModel } from "../model.ts";
import { usesMaskEncoding } from "../mm/hvo_designs.ts";
import { hstateName } from "../scenario/format.ts";
import { GiB, checkRun } from "./run.ts";

export interface MatrixHstate {
  name: string;
  order: number;
  optimizable: boolean;
  vmemmap_pages_per_folio: number;
  pages_freed_per_folio: number;
}

export interface MatrixRow {
  preset: string;
  struct_page_size: StructPageSize;
  design: Design;
  hstates: MatrixHstate[];
  /** NR_VMEMMAP_TAILS (seed/mainline with a power-of-two struct page; null otherwise). */
  nr_vmemmap_tails: number | null;
  /** MAX_FOLIO_VMEMMAP_ALIGN in bytes (mask encoding only). */
  vmemmap_align: string | null;
  vmemmap_base: string;
  vmemmap_base_aligned: boolean | null;
  check: { ops: number; violations: number; first: string | null } | null;
}

export interface MatrixOptions {
  /** Ops of the short check run; 0 skips it. */
  ops?: number;
  seed?: number;
  presets?: string[];
  onRow?: (row: MatrixRow, index: number, total: number) => void;
}

export function matrixRow(
  preset: string,
  sps: StructPageSize,
  design: Design,
  opts: MatrixOptions = {},
): MatrixRow {
  const spec = machinePreset(preset, { memoryBytes: 4 * GiB, nodes: 2, structPageSize: sps });
  const model = bootModel(spec, design);
  const ps = 2 ** spec.arch.pageShift;
  const pow2 = (sps & (sps - 1)) === 0;
  const mask = usesMaskEncoding(design, {
    structPagePow2: pow2,
    archHvo: spec.arch.optimizeHugetlbVmemmap,
  });
  const hstates = model.pool.hstatesBySize().map((h) => {
    const freed = model.vmemmap.optimizableSize(h.order) / ps;
    return {
      name: hstateName(h.sizeKb),
      order: h.order,
      optimizable: model.vmemmap.optimizable(h.order),
      vmemmap_pages_per_folio: (h.nrPages * sps) / ps,
      pages_freed_per_folio: freed,
    };
  });
  const align = mask ? maxFolioVmemmapAlign(spec.arch.pageShift, sps) : null;
  let check: MatrixRow["check"] = null;
  const ops = opts.ops ?? 20;
  if (ops > 0) {
    const r = checkRun({
      machine: { preset, memoryBytes: 4 * GiB, nodes: 2, cmdline: "", structPageSize: sps },
      design,
      seed: opts.seed ?? 1,
      ops,
      every: 1,
      faults: 0,
      shrinkRuns: 0,
    });
    check = {
      ops: r.ops,
      violations: r.violations.length,
      first: r.violations[0]?.invariant ?? null,
    };
  }
  return {
    preset,
    struct_page_size: sps,
    design,
    hstates,
    nr_vmemmap_tails: mask ? nrVmemmapTails(spec.arch.pageShift, Math.log2(sps)) : null,
    vmemmap_align: align === null ? null : `0x${align.toString(16)}`,
    vmemmap_base: `0x${spec.arch.vmemmapBase.toString(16)}`,
    vmemmap_base_aligned: align === null ? null : spec.arch.vmemmapBase % align === 0n,
    check,
  };
}

export function buildMatrix(opts: MatrixOptions = {}): MatrixRow[] {
  const presets = opts.presets ?? presetNames();
  const total = presets.length * STRUCT_PAGE_SIZES.length * DESIGNS.length;
  const rows: MatrixRow[] = [];
  for (const p of presets)
    for (const sps of STRUCT_PAGE_SIZES)
      for (const d of DESIGNS) {
        const row = matrixRow(p, sps, d, opts);
        rows.push(row);
        opts.onRow?.(row, rows.length, total);
      }
  return rows;
}

export function formatMatrix(rows: MatrixRow[]): string {
  const table: string[][] = [
    [
      "preset",
      "sp",
      "design",
      "hstates: optimisable? vmemmap pages/freed",
      "tails",
      "align",
      "base ok",
      "check",
    ],
  ];
  for (const r of rows) {
    table.push([
      r.preset,
      String(r.struct_page_size),
      r.design,
      r.hstates
        .map(
          (h) =>
            `${h.name}:${h.optimizable ? "y" : "n"} ${h.vmemmap_pages_per_folio}/${h.pages_freed_per_folio}`,
        )
        .join(", "),
      r.nr_vmemmap_tails === null ? "-" : String(r.nr_vmemmap_tails),
      r.vmemmap_align ?? "-",
      r.vmemmap_base_aligned === null ? "-" : r.vmemmap_base_aligned ? "yes" : "NO",
      r.check === null
        ? "-"
        : r.check.violations
          ? `${r.check.first} (${r.check.ops} ops)`
          : `clean (${r.check.ops} ops)`,
    ]);
  }
  const w = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return `${table
    .map((row) =>
      row
        .map((c, i) => c.padEnd(w[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}
