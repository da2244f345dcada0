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
import { hstateName } from "../scenario/names.ts";
import { GiB, checkRun } from "./run.ts";

// ------------------------------------------------------------------ what a real kernel checked

/** The numbers of a matrix row that a real kernel can confirm. */
export const MATRIX_FIELDS = [
  "hstates",
  "vmemmap_pages_per_folio",
  "pages_freed_per_folio",
  "nr_vmemmap_tails",
  "vmemmap_align",
  "vmemmap_base",
] as const;
export type MatrixField = (typeof MATRIX_FIELDS)[number];

/**
 * One kernel that checked some of the numbers of one preset x struct page size x design, and
 * the tests that do it (each one fails when the model and that kernel disagree on those
 * numbers; they skip where the kernel cannot run). The one table of these facts: a new
 * differential test adds its row here (the arm64 guests under QEMU, once their tests land).
 */
export interface KernelCheck {
  preset: string;
  structPageSize: StructPageSize;
  design: Design;
  /** The kernel, as a person names it. */
  kernel: string;
  /** A few characters for the text table: "6.18 live". */
  short: string;
  fields: readonly MatrixField[];
  /** Test files (from the repository's root) that compare these numbers with the kernel. */
  tests: readonly string[];
  /** How the kernel shows them. */
  how: string;
  /** The kernel `hvo vm --kernel` boots for these tests (its config is cached beside it). */
  vmKernel?: string;
}

export const KERNEL_CHECKS: readonly KernelCheck[] = [
  {
    preset: "x86_64",
    structPageSize: 64,
    design: "legacy",
    kernel: "Linux 6.18, this host's live kernel (24 GiB, 1 node)",
    short: "6.18 live",
    fields: ["hstates", "vmemmap_pages_per_folio", "pages_freed_per_folio"],
    tests: [
      "test/scenario/replays.test.ts",
      "test/scenario/recordings.test.ts",
      "test/diff/live.test.ts",
    ],
    how:
      "the 2M and 1G sysfs directories; /proc/vmstat's memmap counters: -8 boot and +1 run-time " +
      "pages per 2M folio first used with HVO on, -7 / +7 per 2M and -4095 / +4095 per 1G " +
      "folio optimised / restored (recordings replayed, and hvo diff --against live)",
  },
  {
    preset: "x86_64",
    structPageSize: 64,
    design: "mainline",
    kernel: "Linux 7.2.13 (Debian linux-image-7.2.13+deb14-amd64) under QEMU",
    short: "7.2 vm",
    fields: ["hstates", "vmemmap_pages_per_folio", "pages_freed_per_folio", "vmemmap_base"],
    tests: ["test/vm/linux72.test.ts", "test/diff/vm.test.ts", "test/scenario/replays.test.ts"],
    vmKernel: "debian-7.2",
    how:
      "the memmap counters as on 6.18, boot-time 1G pages costing one vmemmap page each; raw " +
      "struct pages read through /proc/kcore at vmemmap_base + 64 * pfn and the vmemmap PTEs " +
      "that map them (hvo diff --against vm:debian-7.2)",
  },
  // Debian's arm64 kernels are built without HVO (no hugetlb_optimize_vmemmap sysctl): they
  // confirm the hstates, the vmemmap address and the memmap per page, not what HVO frees.
  {
    preset: "arm64-4k",
    structPageSize: 64,
    design: "mainline",
    kernel: "Linux 7.2.13 arm64 (Debian linux-image-7.2.13+deb14-arm64) on QEMU virt",
    short: "7.2 arm64 vm",
    fields: ["hstates", "vmemmap_pages_per_folio", "vmemmap_base"],
    tests: ["test/vm/arm64.test.ts"],
    vmKernel: "debian-7.2:arm64",
    how:
      "the 64K, 2M, 32M and 1G sysfs directories; pfn_to_page(0) from memstart_addr; " +
      "nr_memmap_boot_pages = RAM / 4K x 64 B / 4K; raw struct pages of a mapped 2M folio",
  },
  {
    preset: "arm64-16k",
    structPageSize: 64,
    design: "mainline",
    kernel: "Linux 7.2.13 arm64-16k (Debian linux-image-7.2.13+deb14-arm64-16k) on QEMU virt",
    short: "7.2 arm64-16k vm",
    fields: ["hstates", "vmemmap_pages_per_folio", "vmemmap_base"],
    tests: ["test/vm/arm64.test.ts"],
    vmKernel: "debian-7.2:arm64-16k",
    how:
      "the 2M, 32M and 1G sysfs directories; pfn_to_page(0) from memstart_addr; " +
      "nr_memmap_boot_pages = RAM / 16K x 64 B / 16K; raw struct pages of a mapped 32M folio",
  },
];

/** The kernel checks of one row. */
export function kernelChecksOf(preset: string, sps: StructPageSize, design: Design): KernelCheck[] {
  return KERNEL_CHECKS.filter(
    (c) => c.preset === preset && c.structPageSize === sps && c.design === design,
  );
}

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
  /** The kernels that confirmed some of these numbers, with the tests that do it. */
  checked_against: { kernel: string; fields: MatrixField[]; tests: string[] }[];
  /** The numbers no real kernel has confirmed: arithmetic only (the kernel's constants, docs). */
  arithmetic_only: MatrixField[];
  /** The preset's HVO is what-if arithmetic: why (its arch's released kernels lack HVO), or null. */
  hvo_hypothetical: string | null;
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
  const checks = kernelChecksOf(preset, sps, design);
  const confirmed = new Set(checks.flatMap((c) => c.fields));
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
    checked_against: checks.map((c) => ({
      kernel: c.kernel,
      fields: [...c.fields],
      tests: [...c.tests],
    })),
    // Fields the row has (the series' constants are null without the mask encoding).
    arithmetic_only: MATRIX_FIELDS.filter(
      (f) =>
        !confirmed.has(f) &&
        !(f === "nr_vmemmap_tails" && !mask) &&
        !(f === "vmemmap_align" && align === null),
    ),
    hvo_hypothetical: spec.arch.hvoHypothetical ?? null,
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

/**
 * "6.18 live: all", "7.2 vm: 4 of 6", or "arithmetic" where no kernel confirmed a number of the
 * row (the fields are in --json: checked_against, arithmetic_only).
 */
function realKernelColumn(r: MatrixRow): string {
  if (r.checked_against.length === 0) return "arithmetic";
  const short = (kernel: string) => KERNEL_CHECKS.find((c) => c.kernel === kernel)?.short ?? kernel;
  const all = new Set([...r.arithmetic_only, ...r.checked_against.flatMap((c) => c.fields)]).size;
  return r.checked_against
    .map((c) => {
      const n = c.fields.length;
      return `${short(c.kernel)}: ${n === all ? "all" : `${n} of ${all}`}`;
    })
    .join(", ");
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
      "real kernel",
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
      `${realKernelColumn(r)}${r.hvo_hypothetical ? " (HVO what-if*)" : ""}`,
    ]);
  }
  const whatIf = [
    ...new Set(rows.flatMap((r) => (r.hvo_hypothetical ? [r.hvo_hypothetical] : []))),
  ];
  const w = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  return `${table
    .map((row) =>
      row
        .map((c, i) => c.padEnd(w[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n${whatIf.map((t) => `\n* ${t}\n`).join("")}`;
}
