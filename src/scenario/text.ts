// The human-readable form of a scenario result (hvo-result/1), one printer for the model
// (hvo run), the live kernel (hvo live) and a VM (hvo vm), so that their outputs line up.

import { kmsgHeadlines } from "./compare.ts";
import type { After, KpfPage, Result, StepRecord } from "./format.ts";

/** "nr 2M value=16"; a role with the size it stood for: "nr PMD(2M) value=16". */
export function stepText(rec: Pick<StepRecord, "step" | "resolved_step">): string {
  const { op, ...rest } = rec.step as { op: string } & Record<string, unknown>;
  const resolved = rec.resolved_step as Record<string, unknown> | undefined;
  const size = (v: unknown) =>
    resolved && resolved.size !== v ? `${String(v)}(${String(resolved.size)})` : String(v);
  const args = Object.entries(rest)
    .map(([k, v]) => (k === "size" ? size(v) : `${k}=${JSON.stringify(v)}`))
    .join(" ");
  return args ? `${op} ${args}` : op;
}

/** "ok", "EINVAL (22)", "SIGBUS (touched 3)", "NO_SUCH_ID" */
export function outcome(rec: StepRecord): string {
  if (rec.skipped !== undefined) return `skipped: ${rec.skipped}`;
  if (rec.rc === 0) return "ok";
  if (rec.code === "SIGBUS") return `SIGBUS (touched ${rec.touched ?? "?"})`;
  // NO_SUCH_ID, ID_IN_USE: refused by the process before any system call, no errno.
  return rec.errno === 0 ? `${rec.code}` : `${rec.code} (${rec.errno})`;
}

export function signed(n: number | null): string {
  if (n === null) return "?";
  return n > 0 ? `+${n}` : String(n);
}

interface PoolObs {
  nr: number | null;
  free: number | null;
  surplus: number | null;
  resv: number | null;
  [field: string]: unknown;
}

function hstatesOf(after: After): Array<[string, PoolObs]> {
  return Object.entries(after)
    .filter(([k, v]) => /^h[1-9][0-9]*[KMG]$/.test(k) && v !== null && typeof v === "object")
    .map(([k, v]) => [k.slice(1), v as PoolObs]);
}

/** "2M 16/16 resv 8 surp 8" for every hstate (nr/free). */
export function poolSummary(after: After): string {
  return hstatesOf(after)
    .map(([size, h]) => {
      let s = `${size} ${h.nr}/${h.free}`;
      if (h.resv) s += ` resv ${h.resv}`;
      if (h.surplus) s += ` surp ${h.surplus}`;
      return s;
    })
    .join("  ");
}

/** Per-node pool sizes ("[2M n0 4 n1 8]") where a machine has more than one node in use. */
export function nodeSummary(after: After): string {
  const parts: string[] = [];
  for (const [size, h] of hstatesOf(after)) {
    const nodes = Object.entries(h)
      .map(([f, n]) => [/^node(\d+)_nr$/.exec(f)?.[1], n] as const)
      .filter(([node]) => node !== undefined);
    if (nodes.length > 1 && nodes.some(([, n]) => n)) {
      parts.push(`${size} ${nodes.map(([node, n]) => `n${node} ${n}`).join(" ")}`);
    }
  }
  return parts.length ? `  [${parts.join("; ")}]` : "";
}

/** KPF_COMPOUND_HEAD (include/uapi/linux/kernel-page-flags.h). */
const KPF_COMPOUND_HEAD = 15;

export function kpfSummary(page: KpfPage): string {
  const hex = (w: number) => `0x${w.toString(16)}`;
  let heads = 0;
  const words = new Set<number>();
  for (const [word, n] of page.flags) {
    words.add(word);
    if (Math.floor(word / 2 ** KPF_COMPOUND_HEAD) % 2 === 1) heads += n;
  }
  return (
    `pfn ${page.pfn}: head ${hex(page.head_flags)}, ${heads} of ${page.nr} subpages report ` +
    `COMPOUND_HEAD, words {${[...words].map(hex).join(", ")}}, kpagecount ${JSON.stringify(page.counts)}`
  );
}

function counters(after: After, memmapDelta: number | null): string {
  return (
    [
      `hvo=${after.hvo}`,
      `memmap ${after.memmap_sum} (${signed(memmapDelta)})`,
      poolSummary(after),
      `Hugetlb ${after.Hugetlb_kB} kB`,
    ].join("  ") + nodeSummary(after)
  );
}

/**
 * The kernel's BUG / WARNING / "Bad page state" lines a step logged (the headlines `hvo diff`
 * compares): the first of each kind as logged, and how many more of that kind followed.
 */
export function logSummary(kmsg: readonly string[]): string[] {
  const kinds = new Map<string, { first: string; n: number }>();
  for (const line of kmsg)
    for (const h of kmsgHeadlines([line])) {
      const k = kinds.get(h);
      if (k) k.n++;
      else kinds.set(h, { first: line.replace(/^\d+,\d+,\d+,[^;]*;/, ""), n: 1 });
    }
  return [...kinds.values()].map(
    ({ first, n }) => `log: ${first}${n > 1 ? ` (and ${n - 1} more like it)` : ""}`,
  );
}

/** Every scenario, step by step: what was done, the kernel's answer, the main counters. */
export function formatResult(result: Result, header?: string): string {
  const lines: string[] = [
    header ?? result.kernel ?? `machine ${result.machine}, design ${result.design}`,
  ];
  for (const [id, sc] of Object.entries(result.scenarios)) {
    lines.push("", `${id}${sc.desc ? `: ${sc.desc}` : ""}`);
    if (sc.initial)
      lines.push(`   -  ${"initial".padEnd(34)} ${"".padEnd(12)} ${counters(sc.initial, 0)}`);
    for (const rec of sc.steps) {
      const head = `${String(rec.i).padStart(4)}  ${stepText(rec)}`.padEnd(40);
      lines.push(`${head} ${outcome(rec).padEnd(12)} ${counters(rec.after, rec.delta.memmap_sum)}`);
      for (const page of rec.kpf ?? []) lines.push(`${" ".repeat(6)}${kpfSummary(page)}`);
      for (const l of logSummary(rec.kmsg ?? [])) lines.push(`${" ".repeat(6)}${l}`);
    }
    const fr = sc.final_reset;
    if (fr) lines.push(`   -  ${"reset".padEnd(34)} ${fr.clean ? "clean" : "NOT CLEAN"}`);
  }
  return `${lines.join("\n")}\n`;
}
