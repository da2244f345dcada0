// hvo run FILE: runs a scenario file (hvo-scenario/1) on the model (src/scenario/run_model.ts)
// and prints each step's answer and observations; --json prints hvo-result/1.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { MUTATIONS, type Mutation } from "../../kernel.ts";
import { bootModel, type Model } from "../../model.ts";
import {
  FormatError,
  type Result,
  type ScenarioFile,
  parseJsonText,
  parseScenarioFile,
} from "../../scenario/format.ts";
import { formatResult } from "../../scenario/text.ts";
import { runModel } from "../../scenario/run_model.ts";
import { type Io, UsageError } from "../io.ts";
import { watchModel } from "../watch.ts";
import {
  CMDLINE_HELP,
  DESIGN_HELP,
  MACHINE_HELP,
  resolveDesign,
  resolveMachine,
} from "../machine_arg.ts";

export interface ModelArgs {
  machine?: string;
  design?: string;
  /** Kernel parameters after the machine's own. */
  cmdline?: string;
  /** Deliberate bugs (hvo check's --mutation), to replay a checker failure. */
  mutation?: string[];
  /** Boot a kernel built with CONFIG_DEBUG_VM (its VM_WARN_ON / VM_BUG_ON checks run). */
  debugVm?: boolean;
}

export const DEBUG_VM_HELP =
  "as a kernel built with CONFIG_DEBUG_VM: its VM_WARN_ON/VM_BUG_ON checks run and log (Debian's 7.2 has it off)";

/** Boots the model of --machine / --design (/ --mutation); `resched`: a watch's (src/cli/watch.ts). */
export function bootFromArgs(opts: ModelArgs, resched?: () => void): Model {
  const spec = resolveMachine(opts.machine, opts.cmdline);
  const mutations = (opts.mutation ?? []).map((m) => {
    if (!(MUTATIONS as readonly string[]).includes(m))
      throw new UsageError(`unknown mutation "${m}" (known: ${MUTATIONS.join(", ")})`);
    return m as Mutation;
  });
  return bootModel(spec, resolveDesign(opts.design), {
    mutations,
    debugVm: opts.debugVm,
    ...(resched ? { resched } : {}),
  });
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
    if (e instanceof FormatError)
      throw new UsageError(e.message.startsWith(file) ? e.message : `${file}: ${e.message}`);
    throw e;
  }
}

/**
 * The scenario ids of --only ("a,b"), each checked against the file: an id the file does not
 * have is a usage error naming it (a run of nothing would look like success).
 */
export function onlyIds(arg: string | undefined, file: ScenarioFile): string[] | undefined {
  if (arg === undefined) return undefined;
  const ids = arg
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new UsageError(`--only: "${arg}" names no scenario`);
  const unknown = ids.filter((id) => !file.scenarios.some((s) => s.id === id));
  if (unknown.length)
    throw new UsageError(
      `--only: no scenario ${unknown.map((u) => `"${u}"`).join(", ")} in this file (it has ${file.scenarios.map((s) => s.id).join(", ")})`,
    );
  return ids;
}

/**
 * `--no-reset`: every scenario starts from the machine as booted (each `reset: false`), as the
 * field in the file does for one scenario.
 */
export function withoutReset(file: ScenarioFile, reset: boolean | undefined): ScenarioFile {
  if (reset !== false) return file;
  return { ...file, scenarios: file.scenarios.map((s) => ({ ...s, reset: false })) };
}

/** The human-readable form of a model result. */
export function formatModelResult(result: Result): string {
  return formatResult(result, `machine ${result.machine}, design ${result.design}`);
}

export function register(program: Command, io: Io): void {
  program
    .command("run")
    .description("run a scenario file (hvo-scenario/1) on the model and print what each step did")
    .argument("<file>", "an hvo-scenario/1 JSON file")
    .option("--machine <m>", MACHINE_HELP)
    .option("--design <d>", DESIGN_HELP)
    .option("--cmdline <params>", CMDLINE_HELP)
    .option(
      "--no-reset",
      'start every scenario from the machine as booted (no FORMAT.md reset before it; as "reset": false)',
    )
    .option("--debug-vm", DEBUG_VM_HELP)
    .option("--json", "print hvo-result/1")
    .option("--only <ids>", "only these scenarios (comma-separated ids)")
    .option(
      "--mutation <name>",
      `boot with a deliberate bug, to replay an hvo check failure (${MUTATIONS.join(", ")})`,
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .action(
      (file: string, opts: ModelArgs & { json?: boolean; only?: string; reset?: boolean }) => {
        resolveDesign(opts.design);
        const sf = withoutReset(loadScenarioFile(file), opts.reset);
        const only = onlyIds(opts.only, sf);
        // A progress line on a terminal for a long run, and a clean stop before memory runs out.
        const watch = watchModel(io, "hvo run");
        const boot = () => {
          const m = bootFromArgs(opts, watch.resched);
          watch.attach(m);
          return m;
        };
        let result: Result;
        try {
          const model = boot();
          result = runModel(model, sf, {
            only,
            machine: opts.machine ?? "x86_64",
            boot,
            onProgress: (where) => watch.at(where),
          });
        } finally {
          watch.done();
        }
        io.out(opts.json ? `${JSON.stringify(result, null, 1)}\n` : formatModelResult(result));
      },
    );
}
