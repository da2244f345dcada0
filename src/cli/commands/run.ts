// hvo run FILE: runs a scenario file (hvo-scenario/1) on the model (src/scenario/run_model.ts)
// and prints each step's answer and observations; --json prints hvo-result/1.
import { MUTATIONS, type Mutation } from "../../kernel.ts";
import { bootModel, type Model } from "../../model.ts";
import type { MachineSpec } from "../../machine/spec.ts";
import type { Result } from "../../scenario/format.ts";
import { formatResult } from "../../scenario/text.ts";
import { runModel } from "../../scenario/run_model.ts";
import { type Io, UsageError } from "../io.ts";
import { watchModel } from "../watch.ts";
import { resolveDesign, resolveMachine } from "../machine_arg.ts";
import { loadScenarioFile, onlyIds, withoutReset } from "../scenario_arg.ts";

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

/** Boots the model of --machine / --design (/ --mutation); `resched`: a watch's (src/cli/watch.ts). */
export async function bootFromArgs(opts: ModelArgs, resched?: () => void): Promise<Model> {
  return bootSpec(await resolveMachine(opts.machine, opts.cmdline), opts, resched);
}

/** Boots the model of a resolved --machine with --design (/ --mutation, --debug-vm). */
function bootSpec(spec: MachineSpec, opts: ModelArgs, resched?: () => void): Model {
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

/** The human-readable form of a model result. */
export function formatModelResult(result: Result): string {
  return formatResult(result, `machine ${result.machine}, design ${result.design}`);
}

/** Options of `hvo run` (src/cli/register/run.ts). */
export type RunCliOptions = ModelArgs & { json?: boolean; only?: string; reset?: boolean };

export async function runAction(io: Io, file: string, opts: RunCliOptions): Promise<void> {
  resolveDesign(opts.design);
  const sf = withoutReset(await loadScenarioFile(file), opts.reset);
  const only = onlyIds(opts.only, sf);
  const spec = await resolveMachine(opts.machine, opts.cmdline);
  // A progress line on a terminal for a long run, and a clean stop before memory runs out.
  const watch = watchModel(io, "hvo run");
  const boot = () => {
    const m = bootSpec(spec, opts, watch.resched);
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
}
