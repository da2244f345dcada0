// hvo run FILE: runs a scenario file (hvo-scenario/1) on the model (src/scenario/run_model.ts)
// and prints each step's answer and observations; --json prints hvo-result/1.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { bootModel, type Model } from "../../model.ts";
import {
  type After,
  FormatError,
  type Result,
  type ScenarioFile,
  type StepRecord,
  parseJsonText,
  parseScenarioFile,
} from "../../scenario/format.ts";
import { runModel } from "../../scenario/run_model.ts";
import { type Io, UsageError } from "../io.ts";
import { DESIGN_HELP, MACHINE_HELP, resolveDesign, resolveMachine } from "../machine_arg.ts";

export interface ModelArgs {
  machine?: string;
  design?: string;
}

/** Boots the model of --machine / --design. */
export function bootFromArgs(opts: ModelArgs): Model {
  const spec = resolveMachine(opts.machine);
  return bootModel(spec, resolveDesign(opts.design));
}

/** Reads and parses a scenario file; problems are UsageErrors naming the file. */
export function loadScenarioFile(file: string): ScenarioFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read scenario file "${file}": ${(e as Error).message}`);
  }
  try {
    return parseScenarioFile(parseJsonText(text, file));
  } catch (e) {
    if (e instanceof FormatError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
}

function stepText(rec: StepRecord): string {
  const { op, ...rest } = rec.step as { op: string } & Record<string, unknown>;
  const args = Object.entries(rest)
    .map(([k, v]) => (k === "size" ? String(v) : `${k}=${JSON.stringify(v)}`))
    .join(" ");
  return args ? `${op} ${args}` : op;
}

function outcome(rec: StepRecord): string {
  if (rec.rc === 0) return "ok";
  return rec.code === "SIGBUS"
    ? `SIGBUS (touched ${rec.touched ?? "?"})`
    : `${rec.code} (${rec.errno})`;
}

function signed(n: number | null): string {
  if (n === null) return "?";
  return n > 0 ? `+${n}` : String(n);
}

/** "2M 16/16 resv 8 surp 8" for every hstate. */
export function pools(after: After): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(after)) {
    if (!/^h[1-9][0-9]*[KMG]$/.test(k) || v === null || typeof v !== "object") continue;
    const h = v as {
      nr: number | null;
      free: number | null;
      surplus: number | null;
      resv: number | null;
    };
    let s = `${k.slice(1)} ${h.nr}/${h.free}`;
    if (h.resv) s += ` resv ${h.resv}`;
    if (h.surplus) s += ` surp ${h.surplus}`;
    parts.push(s);
  }
  return parts.join("  ");
}

/** The human-readable form of a result. */
export function formatResult(result: Result): string {
  let out = `machine ${result.machine}, design ${result.design}\n`;
  for (const [id, sc] of Object.entries(result.scenarios)) {
    out += `\n${id}${sc.desc ? `: ${sc.desc}` : ""}\n`;
    for (const rec of sc.steps) {
      const head = `${String(rec.i).padStart(4)}  ${stepText(rec)}`.padEnd(40);
      const a = rec.after;
      out += `${head} ${outcome(rec).padEnd(12)} hvo=${a.hvo}  memmap ${a.memmap_sum} (${signed(rec.delta.memmap_sum)})  ${pools(a)}  Hugetlb ${a.Hugetlb_kB} kB\n`;
    }
    if (sc.final_reset)
      out += `   -  reset${" ".repeat(32)}${sc.final_reset.clean ? "clean" : "NOT CLEAN"}\n`;
  }
  return out;
}

export function register(program: Command, io: Io): void {
  program
    .command("run")
    .description("run a scenario file (hvo-scenario/1) on the model and print what each step did")
    .argument("<file>", "an hvo-scenario/1 JSON file")
    .option("--machine <m>", MACHINE_HELP)
    .option("--design <d>", DESIGN_HELP)
    .option("--json", "print hvo-result/1")
    .option("--only <ids>", "only these scenarios (comma-separated ids)")
    .action((file: string, opts: ModelArgs & { json?: boolean; only?: string }) => {
      resolveDesign(opts.design);
      const sf = loadScenarioFile(file);
      const only = opts.only
        ?.split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      const model = bootFromArgs(opts);
      const result = runModel(model, sf, { only, machine: opts.machine ?? "x86_64" });
      io.out(opts.json ? `${JSON.stringify(result, null, 1)}\n` : formatResult(result));
    });
}
