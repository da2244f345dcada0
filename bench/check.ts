// The checker's throughput for `npm run bench` (bench/run.ts imports benchCheck()): steps per
// second of `hvo check` with the invariants after every step on a 4 GiB 2-node x86_64 machine,
// per design; the same with the model alone (no checks); what each invariant costs per step;
// and the time of a full `hvo matrix`. A check run stops at its first violation: the seed is
// one whose 2000 operations run clean.
//
// Then, per design, where the model alone spends its time by kind of operation, what the checks
// add to each kind (CPU time per step, checked run minus the model alone), and the heap and RSS
// after runs of 10,000 and 100,000 ops (the same when nothing is kept per op).
//
// Each figure is the median of three runs after a first one that warms the JIT up, once every
// design has run once (the first run of each, the first design's in a fresh process, is shown
// too: that is what a short `hvo check` sees). Steps per second of wall time are the issue's
// figure; steps per CPU second of the process are shown next to them, for a machine shared
// with other work (where wall time measures the sharing).

import { buildMatrix } from "../src/check/matrix.ts";
import {
  applyStep,
  bootCheckModel,
  type CheckConfig,
  checkMachineSpec,
  defaultCheckMachine,
  execute,
  generateOps,
  isNoop,
  opStream,
} from "../src/check/run.ts";
import { DESIGNS, type Design } from "../src/kernel.ts";
import type { Step } from "../src/scenario/format.ts";
import { ModelSession } from "../src/scenario/run_model.ts";

/** Ops per run (`--quick`: fewer). */
export const OPS = 2000;
/** The goal: checked steps per second, per design. */
export const CHECK_GOAL = 20_000;

function config(design: Design, every: number, ops = OPS): CheckConfig {
  return {
    machine: defaultCheckMachine("x86_64"),
    design,
    seed: 1,
    ops,
    every,
    faults: 0,
    shrinkRuns: 0,
    clock: () => performance.now(), // the per-invariant timings
  };
}

export interface CheckBench {
  design: Design;
  steps: number;
  /** Steps per second: the first run of the process, then the median of three. */
  firstChecked: number;
  checked: number;
  /** Steps per CPU second of this process (median run). */
  cpuChecked: number;
  unchecked: number;
  /**
   * The model alone, by kind of operation (the last run): how many steps of the kind, and the
   * CPU microseconds they took in all (where a faster model would help the checked figure most).
   */
  modelByOp: Record<string, { steps: number; us: number }>;
  /** The same with the checks, by kind of operation (the median checked run). */
  checkedByOp: Record<string, { steps: number; us: number }>;
  /** Microseconds per step per invariant (median run). */
  perInvariant: Record<string, number>;
  violations: number;
}

/** CPU microseconds of this process (the by-operation tables: a shared machine's wall time
 * would measure the sharing). */
function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function median<T>(xs: T[], key: (x: T) => number): T {
  return [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)];
}

function runs(design: Design, n: number, nops: number) {
  const cfg = config(design, 1, nops);
  const ops = generateOps(cfg);
  const out = [];
  for (let i = 0; i < n; i++) {
    // Each step, checks included, by kind (the time from the step's start to its check's end).
    const byOp: Record<string, { steps: number; us: number }> = {};
    let kind = "";
    let s0 = 0;
    cfg.onStep = (step) => {
      if (step) {
        kind = opKind(step);
        s0 = cpuUs();
        return;
      }
      const e = byOp[kind] ?? { steps: 0, us: 0 };
      e.steps++;
      e.us += cpuUs() - s0;
      byOp[kind] = e;
    };
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const ex = execute(cfg, ops);
    const s = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    out.push({
      rate: Math.round(ex.stepsRun / s),
      cpuRate: Math.round(ex.stepsRun / cpu),
      ex,
      byOp,
    });
  }
  return out;
}

/** The kind of a step, for the by-operation table ("nr 2M", "write state", ...). */
function opKind(s: Step): string {
  const size = "size" in s ? ` ${s.size}` : "";
  if (s.op === "write") return `write ${s.path.split("/").pop()}`;
  if (s.op === "sysctl") return `sysctl ${s.name}`;
  return `${s.op}${size}`;
}

/** The same operations on the model alone: no checker, no listeners, no wrappers. */
function modelRuns(
  design: Design,
  n: number,
  nops: number,
): { rates: number[]; byOp: Record<string, { steps: number; us: number }> } {
  const cfg = config(design, 1, nops);
  const ops = generateOps(cfg);
  const rates = [];
  let byOp: Record<string, { steps: number; us: number }> = {};
  for (let i = 0; i < n; i++) {
    byOp = {};
    const t0 = performance.now();
    const model = bootCheckModel(checkMachineSpec(cfg.machine), design, null);
    const session = new ModelSession(model);
    session.reset();
    let steps = 0;
    for (const op of ops) {
      if (isNoop(session, op.step)) continue;
      const s0 = cpuUs();
      applyStep(model, session, op.step);
      model.settle();
      const k = opKind(op.step);
      const e = byOp[k] ?? { steps: 0, us: 0 };
      e.steps++;
      e.us += cpuUs() - s0;
      byOp[k] = e;
      steps++;
    }
    rates.push(Math.round(steps / ((performance.now() - t0) / 1000)));
  }
  return { rates, byOp };
}

/** Ops of the memory runs: one ten times longer than the other. */
export const MEMORY_OPS = [10_000, 100_000];

/**
 * The heap (after a full GC, when the process runs with --expose-gc) and the RSS at the end of
 * one `hvo check` run of n ops on mainline (ops drawn as they run): the same for 10 times the
 * ops when nothing is kept per op.
 */
export function memoryRun(n: number): { ops: number; heapBytes: number | null; rssBytes: number } {
  const cfg = { ...config("mainline", 1, n), clock: undefined };
  execute(cfg, opStream(cfg));
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const m = process.memoryUsage();
  return { ops: n, heapBytes: gc ? m.heapUsed : null, rssBytes: m.rss };
}

export function benchCheck(o: { ops?: number; matrix?: boolean } = {}): {
  rows: CheckBench[];
  matrixSeconds: number | null;
  memory: Array<{ ops: number; heapBytes: number | null; rssBytes: number }>;
} {
  const ops = o.ops ?? OPS;
  const rows: CheckBench[] = [];
  // Every design's first runs before any is measured: the designs share most of their code, so
  // the design measured first would pay the JIT's warm-up for all of them (measured: the first
  // one read about a quarter below the same runs measured after the others). The first run of
  // each design, from this pass, is the "first run" column.
  const firstRate = new Map<Design, number>();
  for (const design of DESIGNS) {
    firstRate.set(design, runs(design, 1, ops)[0].rate);
    modelRuns(design, 1, ops);
  }
  for (const design of DESIGNS) {
    const checked = runs(design, 4, ops);
    const unchecked = modelRuns(design, 4, ops);
    const m = median(checked.slice(1), (r) => r.rate);
    const perInvariant: Record<string, number> = {};
    for (const [k, ms] of Object.entries(m.ex.timings))
      perInvariant[k] = Math.round((ms * 1000) / Math.max(1, m.ex.stepsRun));
    rows.push({
      design,
      steps: m.ex.stepsRun,
      firstChecked: firstRate.get(design) ?? checked[0].rate,
      checked: m.rate,
      cpuChecked: m.cpuRate,
      unchecked: median(unchecked.rates.slice(1), (r) => r),
      modelByOp: unchecked.byOp,
      checkedByOp: m.byOp,
      perInvariant,
      violations: m.ex.violations.length,
    });
  }
  if (o.matrix === false) return { rows, matrixSeconds: null, memory: [] };
  const memory = MEMORY_OPS.map(memoryRun);
  const t0 = performance.now();
  buildMatrix({ ops: 20 });
  return { rows, matrixSeconds: Math.round((performance.now() - t0) / 100) / 10, memory };
}

/** The table bench/run.ts prints. */
export function checkTable(r: ReturnType<typeof benchCheck>): string[] {
  const lines = [
    "design        steps  checked/s  (first run)  checked/cpu-s  model alone/s  checks us/step",
  ];
  for (const x of r.rows)
    lines.push(
      `${x.design.padEnd(12)}  ${String(x.steps).padStart(5)}  ${String(x.checked).padStart(9)}  ${String(x.firstChecked).padStart(11)}  ${String(x.cpuChecked).padStart(13)}  ${String(x.unchecked).padStart(13)}  ${String(Math.round(1e6 / x.checked - 1e6 / x.unchecked)).padStart(14)}`,
    );
  lines.push("");
  lines.push("what the checks cost, us per step (median run):");
  const names = [...new Set(r.rows.flatMap((x) => Object.keys(x.perInvariant)))];
  const w = Math.max(...names.map((n) => n.length));
  lines.push(`  ${"".padEnd(w)}  ${r.rows.map((x) => x.design.padStart(8)).join("  ")}`);
  for (const n of names)
    lines.push(
      `  ${n.padEnd(w)}  ${r.rows.map((x) => String(x.perInvariant[n] ?? 0).padStart(8)).join("  ")}`,
    );
  lines.push("");
  lines.push("the model alone by operation: share of its time (us per step of that kind):");
  const kinds = [...new Set(r.rows.flatMap((x) => Object.keys(x.modelByOp)))];
  const total = (x: CheckBench) => Object.values(x.modelByOp).reduce((a, b) => a + b.us, 0);
  const cell = (x: CheckBench, kind: string) => {
    const e = x.modelByOp[kind];
    if (!e) return "-".padStart(14);
    return `${Math.round((100 * e.us) / Math.max(1, total(x)))}% (${Math.round(e.us / e.steps)})`.padStart(
      14,
    );
  };
  const kw = Math.max(...kinds.map((k) => k.length), 4);
  const first = r.rows[0];
  kinds.sort((a, b) => (first?.modelByOp[b]?.us ?? 0) - (first?.modelByOp[a]?.us ?? 0));
  lines.push(`  ${"".padEnd(kw)}  ${r.rows.map((x) => x.design.padStart(14)).join("  ")}`);
  for (const kind of kinds)
    lines.push(`  ${kind.padEnd(kw)}  ${r.rows.map((x) => cell(x, kind)).join("  ")}`);
  lines.push("");
  lines.push(
    "what the checks add by operation: us per step of that kind (share of all the checks add):",
  );
  const added = (x: CheckBench, kind: string) => {
    const c = x.checkedByOp[kind];
    const m = x.modelByOp[kind];
    return c && m ? c.us / c.steps - m.us / m.steps : null;
  };
  const addedTotal = (x: CheckBench) =>
    kinds.reduce((a, k) => a + Math.max(0, (added(x, k) ?? 0) * (x.checkedByOp[k]?.steps ?? 0)), 0);
  const addedCell = (x: CheckBench, kind: string) => {
    const a = added(x, kind);
    if (a === null) return "-".padStart(14);
    const share =
      (100 * Math.max(0, a) * (x.checkedByOp[kind]?.steps ?? 0)) / Math.max(1, addedTotal(x));
    return `${Math.round(share)}% (${Math.round(a)})`.padStart(14);
  };
  lines.push(`  ${"".padEnd(kw)}  ${r.rows.map((x) => x.design.padStart(14)).join("  ")}`);
  for (const kind of kinds)
    lines.push(`  ${kind.padEnd(kw)}  ${r.rows.map((x) => addedCell(x, kind)).join("  ")}`);
  const worst = Math.min(...r.rows.map((x) => x.checked));
  const clean = r.rows.every((x) => x.violations === 0);
  lines.push("");
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
  for (const x of r.memory)
    lines.push(
      `memory after ${x.ops.toLocaleString("en")} ops (mainline): heap ${x.heapBytes === null ? "? (run with --expose-gc)" : mb(x.heapBytes)}, RSS ${mb(x.rssBytes)}`,
    );
  if (r.matrixSeconds !== null) lines.push(`matrix: ${r.matrixSeconds} s (72 rows, 20 ops each)`);
  lines.push(
    `goal (issue 11): ${CHECK_GOAL.toLocaleString("en")} steps/s with invariants after every step: ${worst >= CHECK_GOAL ? "met" : "NOT met"} (slowest design ${worst.toLocaleString("en")})${clean ? "" : "; a run found a violation, so the figures are of a shorter run"}`,
  );
  return lines;
}

// Run directly: node --import tsx bench/check.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const l of checkTable(benchCheck())) process.stdout.write(`${l}\n`);
}
