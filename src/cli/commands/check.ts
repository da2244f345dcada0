// hvo check: seeded random operations with fault injection, the SPEC §5 invariants after every
// K steps, and a minimised replay file for every failure. The engine is src/check/run.ts.
import { type Stats, readFileSync, statSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
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
import { DESIGNS, type Design, MUTATIONS } from "../../kernel.ts";
import { z } from "zod";
import { MachineError } from "../../machine/layout.ts";
import { FormatError, parseJsonText, parseScenarioFile } from "../../scenario/format.ts";
import { ExitStatus, type Io, UsageError } from "../io.ts";

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

/** The most --ops a run may have: the operations are drawn up front, 1e9 would not fit. */
export const MAX_OPS = 100_000;

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

export function checkAction(io: Io, opts: CheckCliOptions): void {
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
    const ex = replayRun(file, opts.mutation !== undefined ? { mutation } : {});
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
      io.out(`replay of ${opts.replay}: ${ex.stepsRun} steps, no violation\n`);
    else {
      const v = ex.violations[0];
      io.out(
        `replay of ${opts.replay}: VIOLATION ${v.invariant} at step ${v.step}\n  ${v.detail}\n`,
      );
      if (v.expected !== undefined) io.out(`  expected: ${v.expected}\n`);
      if (v.actual !== undefined) io.out(`  actual:   ${v.actual}\n`);
    }
    if (ex.violations.length) throw new ExitStatus(1);
    return;
  }

  const ds = designs(opts.design);
  const ms = machines(opts.machine);
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
  const matrix = ds.length * ms.length > 1;
  const results: RunResult[] = [];
  let n = 0;
  for (const m of ms) {
    for (const d of ds) {
      n++;
      if (matrix) io.err(`[${n}/${ds.length * ms.length}] ${m} ${d} seed ${seed0} ...\n`);
      const cfg = runConfig(m, d, seed0, { ops, every, faults, mutation, shrinkRuns });
      const started = Date.now(); // the progress line's time only: no output depends on it
      const r = checkRun(cfg);
      results.push(r);
      if (r.violations.length && r.replay) {
        const path = `${opts.out ?? "."}/hvo-check-failure-${m}-${d}-${seed0}.json`;
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
      if (matrix)
        io.err(
          `      ${r.ops} ops, ${r.faults} faults, ${r.violations.length ? `VIOLATION ${r.violations[0].invariant}` : "clean"} (${Date.now() - started} ms)\n`,
        );
    }
  }
  if (opts.json) {
    const out = {
      runs: results.map((r) => ({
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
      })),
    };
    io.out(`${JSON.stringify(out, null, 1)}\n`);
  } else {
    const rows = [["preset", "design", "ops", "faults injected", "violations"]];
    for (const r of results)
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
  if (results.some((r) => r.violations.length)) throw new ExitStatus(1);
}

export function register(program: Command, io: Io): void {
  program
    .command("check")
    .description(
      "seeded random operations with fault injection, checking the invariants of SPEC §5",
    )
    .option("--design <d>", `HVO design: ${DESIGNS.join(", ")} or all`)
    .option(
      "--machine <m>",
      `machine preset (${presetNames().join(", ")}) or all; 4 GiB on 2 nodes`,
    )
    .option(
      "--seed <s>",
      "seed of the operations, the boot command line and the faults (default 1)",
    )
    .option("--ops <n>", `operations per run (default 300, at most ${MAX_OPS})`)
    .option("--every <k>", "check the invariants after every k operations (default 1)")
    .option("--faults <p>", "probability of ENOMEM at every named allocation site (default 0)")
    .option("--mutation <name>", `a deliberate bug to boot with (${MUTATIONS.join(", ")})`)
    .option("--replay <file>", "run a replay file written by an earlier failure")
    .option("--out <dir>", "where to write replay files (default .)")
    .option(
      "--shrink-runs <n>",
      `candidate sequences replayed to minimise a failure, 0 for none (default ${SHRINK_RUNS})`,
    )
    .option("--json", "print {runs: [...]} as JSON")
    .action((opts: CheckCliOptions) => checkAction(io, opts));
}
