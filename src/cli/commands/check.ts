// hvo check: seeded random operations with fault injection, the SPEC §5 invariants after every
// K steps, and a minimised replay file for every failure. The engine is src/check/run.ts.
import { type Stats, readFileSync, statSync, writeFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { presetNames } from "../../arch/index.ts";
import {
  type CheckConfig,
  type RunResult,
  checkMachineSpec,
  checkRun,
  cmdlineChoices,
  defaultCheckMachine,
  isMutation,
  type ReplayInfo,
  SHRINK_RUNS,
  replayRun,
} from "../../check/run.ts";
import { nodeSurplus } from "../../check/invariants.ts";
import {
  MergeError,
  ShardError,
  type ShardResult,
  type SweepSpec,
  mergeShards,
  parseShard,
  shardRuns,
  sweepRuns,
} from "../../check/sweep.ts";
import { DESIGNS, type Design, MUTATIONS } from "../../kernel.ts";
import { z } from "zod";
import { MachineError } from "../../machine/layout.ts";
import { parseScenarioFile } from "../../scenario/format.ts";
import { FormatError, parseJsonText } from "../../scenario/names.ts";
import { runJobs } from "../check_jobs.ts";
import { ExitStatus, type Io, UsageError } from "../io.ts";
import { progressLine } from "../progress.ts";
import { MAX_OPS } from "../register/check.ts";

// The progress line is src/cli/progress.ts's (hvo run's watch draws it too).
export { PROGRESS_AFTER_MS, progressLine } from "../progress.ts";

export interface CheckCliOptions {
  design?: string;
  machine?: string;
  seed?: string;
  ops?: string;
  every?: string;
  faults?: string;
  mutation?: string;
  json?: boolean;
  replay?: string;
  out?: string;
  shrinkRuns?: string;
  seeds?: string;
  jobs?: string;
  shard?: string;
  merge?: string[];
}

function int(name: string, v: string | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v)))
    throw new UsageError(`--${name}: "${v}" is not an integer >= ${min} (and < 2^53)`);
  return Number(v);
}

function designs(arg: string | undefined): Design[] {
  if (arg === "all") return [...DESIGNS];
  const d = arg ?? "mainline";
  if (!(DESIGNS as readonly string[]).includes(d))
    throw new UsageError(`--design: "${d}" is not a design (${DESIGNS.join(", ")}, all)`);
  return [d as Design];
}

function machines(arg: string | undefined): string[] {
  if (arg === "all") return presetNames();
  const m = arg ?? "x86_64";
  if (!presetNames().includes(m))
    throw new UsageError(`--machine: "${m}" is not a preset (${presetNames().join(", ")}, all)`);
  return [m];
}

const xCheckSchema = z.object({
  preset: z.string().refine((p) => presetNames().includes(p), {
    message: `a preset (${presetNames().join(", ")})`,
  }),
  memory: z.string().regex(/^[1-9][0-9]{0,5}[MG]$/, 'a memory size like "4G" or "512M"'),
  nodes: z.number().int().min(1).max(64),
  cmdline: z.string(),
  design: z.enum(DESIGNS),
  seed: z.number().int().nonnegative(),
  faults: z.number().min(0).max(1),
  faultSeeds: z.array(z.number().int().nonnegative()),
  mutation: z
    .string()
    .refine(isMutation, { message: `a mutation (${MUTATIONS.join(", ")})` })
    .nullable(),
  every: z.number().int().min(1),
  step: z.number().int(),
  invariant: z.string(),
  bootFaults: z.array(
    z.object({
      site: z.string(),
      nth: z.number().int().min(1).optional(),
      fromNth: z.number().int().min(1).optional(),
    }),
  ),
});

/**
 * Reads a replay file: a scenario file with an optional `x-check` (the run that wrote it).
 * A malformed file or x-check is a usage error naming the field, never a finding.
 */
export function loadReplay(
  text: string,
  path: string,
): { file: Parameters<typeof replayRun>[0]; raw: Record<string, unknown> } {
  try {
    const raw = parseJsonText(text, path);
    const file = parseScenarioFile(raw);
    const r = raw as Record<string, unknown>;
    if (r["x-check"] === undefined) return { file, raw: r };
    const x = xCheckSchema.partial().safeParse(r["x-check"]);
    if (!x.success) {
      const issue = x.error.issues[0];
      throw new FormatError(
        `x-check${issue.path.length ? `.${issue.path.join(".")}` : ""}: ${issue.message}`,
      );
    }
    const spec = {
      preset: x.data.preset ?? "x86_64",
      memoryBytes: memoryBytesOf(x.data.memory ?? "4G"),
      nodes: x.data.nodes ?? 2,
      cmdline: x.data.cmdline ?? "",
    };
    checkMachineSpec(spec); // a machine that cannot be built is the file's fault: MachineError
    return { file: { ...file, "x-check": x.data as Partial<ReplayInfo> }, raw: r };
  } catch (e) {
    if (e instanceof FormatError)
      throw new UsageError(
        e.message.startsWith(path) ? `--replay ${e.message}` : `--replay ${path}: ${e.message}`,
      );
    if (e instanceof MachineError) throw new UsageError(`--replay ${path}: x-check: ${e.message}`);
    throw e;
  }
}

function memoryBytesOf(m: string): number {
  return Number(m.slice(0, -1)) * (m.endsWith("G") ? 2 ** 30 : 2 ** 20);
}

/** The configuration of one run: the boot command line is drawn from the seed. */
export function runConfig(
  preset: string,
  design: Design,
  seed: number,
  o: {
    ops: number;
    every: number;
    faults: number;
    mutation: CheckConfig["mutation"];
    shrinkRuns?: number;
  },
): CheckConfig {
  const spec = checkMachineSpec(defaultCheckMachine(preset));
  const cmds = cmdlineChoices(spec);
  return {
    machine: defaultCheckMachine(preset, cmds[seed % cmds.length]),
    design,
    seed,
    ops: o.ops,
    every: o.every,
    faults: o.faults,
    mutation: o.mutation,
    shrinkRuns: o.shrinkRuns,
  };
}

function describe(r: RunResult, path: string | null, design: Design): string {
  const v = r.violations[0];
  const x = r.replay?.["x-check"];
  const lines = [
    `VIOLATION: ${v.invariant} (machine ${r.machine}, design ${r.design}, seed ${r.seed}, step ${v.step})`,
    `  ${v.detail}`,
  ];
  if (v.expected !== undefined) lines.push(`  expected: ${v.expected}`);
  if (v.actual !== undefined) lines.push(`  actual:   ${v.actual}`);
  for (const more of r.violations.slice(1, 4))
    lines.push(`  also: ${more.invariant}: ${more.detail}`);
  if (path && x) {
    lines.push(
      `  minimised to ${r.replay?.scenarios[0].steps.length} steps (failing at step ${x.step}${x.cmdline ? `, booted with "${x.cmdline}"` : ""}): ${path}`,
      `  replay: hvo check --replay ${path}`,
    );
    if (!x.mutation && !x.faultSeeds.some((f) => f) && !x.cmdline)
      lines.push(
        `  or:     hvo run ${path} --machine ${path.replace(/\.json$/, ".machine.json")} --design ${design}`,
      );
  }
  return `${lines.join("\n")}\n`;
}

/**
 * How far V8 lets the old generation grow past what the last full collection left live, in
 * per cent, during `hvo check`. Left to itself V8 picks 10-300 per cent from how fast old
 * objects come compared with how fast it marks them. A long check promotes, at a steady rate,
 * state that dies later (mappings, folio records, a Map's table outgrown by the next step), so
 * the factor climbs towards 300 once the run is warm, though the live heap stays at ~21 MB:
 * peak RSS went from 135 MB at 10,000 ops to 212 MB at 1,000,000, all of it V8's headroom.
 * 50 per cent keeps a run of any length near a short run's peak (1,000,000 ops: 155 MB;
 * 10,000,000: 143 MB in-process), for about 2.5 times as many full collections.
 */
const CHECK_HEAP_GROWING_PERCENT = 50;

export async function checkAction(io: Io, opts: CheckCliOptions): Promise<void> {
  // The flag is the process's (worker threads share it), read at every full collection; one
  // the user gave node (on its command line or in NODE_OPTIONS) stands.
  if (![...process.execArgv, process.env.NODE_OPTIONS ?? ""].some((a) => /heap.growing/.test(a)))
    setFlagsFromString(`--heap-growing-percent=${CHECK_HEAP_GROWING_PERCENT}`);
  if (opts.merge !== undefined) {
    for (const o of ["replay", "shard", "jobs", "seeds"] as const)
      if (opts[o] !== undefined) throw new UsageError(`--merge cannot be used with --${o}`);
    mergeAction(io, opts, opts.merge);
    return;
  }
  const ops = int("ops", opts.ops, 300, 1);
  if (ops > MAX_OPS) throw new UsageError(`--ops: ${ops} is more than the limit of ${MAX_OPS}`);
  const every = int("every", opts.every, 1, 1);
  const seed0 = int("seed", opts.seed, 1);
  const shrinkRuns = int("shrink-runs", opts.shrinkRuns, SHRINK_RUNS);
  const faults = opts.faults === undefined ? 0 : Number(opts.faults);
  if (!Number.isFinite(faults) || faults < 0 || faults > 1)
    throw new UsageError(`--faults: "${opts.faults}" is not a probability in [0, 1]`);
  let mutation: CheckConfig["mutation"] = null;
  if (opts.mutation !== undefined) {
    if (!isMutation(opts.mutation))
      throw new UsageError(
        `--mutation: "${opts.mutation}" is not a mutation (${MUTATIONS.join(", ")})`,
      );
    mutation = opts.mutation;
  }

  if (opts.replay) {
    let text: string;
    try {
      text = readFileSync(opts.replay, "utf8");
    } catch {
      throw new UsageError(`--replay: cannot read "${opts.replay}"`);
    }
    const { file, raw } = loadReplay(text, opts.replay);
    // --design runs the replay's steps on another design; "all" has no single run to report.
    if (opts.design === "all")
      throw new UsageError("--design all cannot be used with --replay (name one design)");
    const over: Partial<CheckConfig> = {};
    if (opts.mutation !== undefined) over.mutation = mutation;
    if (opts.design !== undefined) over.design = designs(opts.design)[0];
    const ex = replayRun(file, over);
    const ran = over.design ?? file["x-check"]?.design ?? "mainline";
    const apart = ex.model ? nodeSurplus(ex.model) : [];
    const out = {
      runs: [
        {
          machine: (raw["x-check"] as { preset?: string } | undefined)?.preset ?? "x86_64",
          design: ex.model?.k.design ?? "",
          seed: (raw["x-check"] as { seed?: number } | undefined)?.seed ?? 0,
          ops: ex.stepsRun,
          faults: ex.faultsInjected,
          violations: ex.violations.map((v) => ({
            step: v.step,
            invariant: v.invariant,
            detail: v.detail,
            expected: v.expected,
            actual: v.actual,
          })),
        },
      ],
    };
    if (opts.json) io.out(`${JSON.stringify(out, null, 1)}\n`);
    else if (ex.violations.length === 0)
      io.out(`replay of ${opts.replay} on ${ran}: ${ex.stepsRun} steps, no violation\n`);
    else {
      const v = ex.violations[0];
      io.out(
        `replay of ${opts.replay} on ${ran}: VIOLATION ${v.invariant} at step ${v.step}\n  ${v.detail}\n`,
      );
      if (v.expected !== undefined) io.out(`  expected: ${v.expected}\n`);
      if (v.actual !== undefined) io.out(`  actual:   ${v.actual}\n`);
    }
    // Pool findings the checker keeps apart (docs/findings.md 4 and 6): shown, not a failure.
    if (!opts.json) for (const v of apart) io.out(`  finding (not a violation): ${v.detail}\n`);
    if (ex.violations.length) throw new ExitStatus(1);
    return;
  }

  const ds = designs(opts.design);
  const ms = machines(opts.machine);
  const seeds = int("seeds", opts.seeds, 1, 1);
  const jobs = int("jobs", opts.jobs, 1, 1);
  let shard = null;
  if (opts.shard !== undefined) {
    try {
      shard = parseShard(opts.shard);
    } catch (e) {
      if (e instanceof ShardError) throw new UsageError(`--shard: ${e.message}`);
      throw e;
    }
  }
  if (opts.out !== undefined) {
    // Checked before the run: a failure found and then lost for want of a directory helps no one.
    let dir: Stats;
    try {
      dir = statSync(opts.out);
    } catch (e) {
      throw new UsageError(`--out: cannot use "${opts.out}": ${(e as Error).message}`);
    }
    if (!dir.isDirectory()) throw new UsageError(`--out: "${opts.out}" is not a directory`);
  }
  const sweep: SweepSpec = {
    machines: ms,
    designs: ds,
    seed0,
    seeds,
    ops,
    every,
    faults,
    mutation,
    shrinkRuns,
  };
  const all = sweepRuns(sweep);
  const mine = shard ? shardRuns(all, shard) : all;
  const cfgs = mine.map((r) =>
    runConfig(r.machine, r.design, r.seed, { ops, every, faults, mutation, shrinkRuns }),
  );
  const matrix = all.length > 1;
  const progress = progressLine(io);
  const results: RunResult[] = [];
  if (jobs > 1 && cfgs.length > 1) {
    let finished = 0;
    const t0 = Date.now(); // the progress line's time only: no output depends on it
    const got = await runJobs(cfgs, jobs, () => {
      finished++;
      progress(`hvo check: ${finished}/${cfgs.length} runs done on ${jobs} threads`, t0);
    });
    progress(null, t0);
    for (const [i, r] of got.entries()) report(io, opts, r, mine[i].seed);
    results.push(...got);
  } else {
    let n = 0;
    for (const [i, cfg] of cfgs.entries()) {
      const { machine: m, design: d, seed } = mine[i];
      n++;
      if (matrix) io.err(`[${n}/${cfgs.length}] ${m} ${d} seed ${seed} ...\n`);
      const started = Date.now(); // the progress line's time only: no output depends on it
      cfg.progress = (done, total) =>
        progress(
          `hvo check: ${m} ${d} seed ${seed}: ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} ops`,
          started,
        );
      const r = checkRun(cfg);
      progress(null, started);
      results.push(r);
      report(io, opts, r, seed);
      if (matrix)
        io.err(
          `      ${r.ops} ops, ${r.faults} faults, ${r.violations.length ? `VIOLATION ${r.violations[0].invariant}` : "clean"} (${Date.now() - started} ms)\n`,
        );
    }
  }
  const runs = results.map(jsonRun);
  if (opts.json)
    io.out(
      `${JSON.stringify(shard ? { sweep, shard: `${shard.index}/${shard.count}`, runs } : { runs }, null, 1)}\n`,
    );
  else printTable(io, runs);
  if (results.some((r) => r.violations.length)) throw new ExitStatus(1);
}

/** A run as `--json` shows it. */
type JsonRun = ReturnType<typeof jsonRun>;
function jsonRun(r: RunResult) {
  return {
    machine: r.machine,
    design: r.design,
    seed: r.seed,
    ops: r.ops,
    faults: r.faults,
    violations: r.violations.map((v) => ({
      step: v.step,
      invariant: v.invariant,
      detail: v.detail,
      expected: v.expected,
      actual: v.actual,
    })),
  };
}

function printTable(io: Io, runs: JsonRun[]): void {
  const rows = [["preset", "design", "ops", "faults injected", "violations"]];
  for (const r of runs)
    rows.push([
      r.machine,
      r.design,
      String(r.ops),
      String(r.faults),
      r.violations.length ? `${r.violations.length} (${r.violations[0].invariant})` : "0",
    ]);
  const w = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  for (const row of rows)
    io.out(
      `${row
        .map((c, i) => c.padEnd(w[i]))
        .join("  ")
        .trimEnd()}\n`,
    );
}

/** A run's violation: its replay file written, and described unless --json. */
function report(io: Io, opts: CheckCliOptions, r: RunResult, seed: number): void {
  const m = r.machine;
  const d = r.design;
  if (r.violations.length && r.replay) {
    const path = `${opts.out ?? "."}/hvo-check-failure-${m}-${d}-${seed}.json`;
    const x = r.replay["x-check"];
    let written: string | null = path;
    try {
      writeFileSync(path, `${JSON.stringify(r.replay, null, 1)}\n`);
      writeFileSync(
        path.replace(/\.json$/, ".machine.json"),
        `${JSON.stringify({ preset: x.preset, memory: x.memory, nodes: x.nodes, ...(x.cmdline ? { cmdline: x.cmdline } : {}) }, null, 1)}\n`,
      );
    } catch (e) {
      // The violation still counts and is still shown; only its replay file is missing.
      written = null;
      io.err(`hvo check: could not write the replay file: ${(e as Error).message}\n`);
    }
    if (!opts.json) io.out(describe(r, written, d));
  } else if (r.violations.length && !opts.json) io.out(describe(r, null, d));
}

/** `hvo check --merge FILES`: the shards' `--json` results as the unsharded run's. */
function mergeAction(io: Io, opts: CheckCliOptions, files: string[]): void {
  const parsed = files.map((name) => {
    let text: string;
    try {
      text = readFileSync(name, "utf8");
    } catch {
      throw new UsageError(`--merge: cannot read "${name}"`);
    }
    let result: ShardResult<JsonRun>;
    try {
      result = JSON.parse(text) as ShardResult<JsonRun>;
    } catch (e) {
      throw new UsageError(`--merge ${name}: not JSON (${(e as Error).message})`);
    }
    if (
      typeof result !== "object" ||
      result === null ||
      typeof result.sweep !== "object" ||
      !Array.isArray(result.runs)
    )
      throw new UsageError(
        `--merge ${name}: not the --json result of hvo check --shard (no "sweep" or "runs")`,
      );
    return { name, result };
  });
  let merged: { runs: JsonRun[] };
  try {
    merged = mergeShards(parsed);
  } catch (e) {
    if (e instanceof MergeError) throw new UsageError(`--merge: ${e.message}`);
    throw e;
  }
  if (opts.json) io.out(`${JSON.stringify({ runs: merged.runs }, null, 1)}\n`);
  else printTable(io, merged.runs);
  if (merged.runs.some((r) => r.violations.length)) throw new ExitStatus(1);
}
