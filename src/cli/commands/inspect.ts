// hvo inspect --pfn N: one struct page as crash/drgn would show it, through the model's vmemmap.
import { readFileSync } from "node:fs";
import type { ScenarioFile } from "../../scenario/format.ts";
import { FormatError, parseJsonText } from "../../scenario/names.ts";
import { UsageErrorLike } from "../../report/errors.ts";
import { formatInspect, inspectPfn, parsePfn } from "../../report/inspect.ts";
import { bootForInspect } from "../../report/state.ts";
import { type Io, UsageError } from "../io.ts";
import { resolveDesign, resolveMachine } from "../machine_arg.ts";
import { withoutReset } from "../scenario_arg.ts";

export interface InspectCliOptions {
  pfn?: string;
  machine?: string;
  design?: string;
  after?: string;
  cmdline?: string;
  /** false with --no-reset: the --after scenarios start from the booted state. */
  reset?: boolean;
  json?: boolean;
}

async function readScenarioArg(file: string): Promise<ScenarioFile> {
  const { parseScenarioFile } = await import("../../scenario/format.ts");
  try {
    return parseScenarioFile(parseJsonText(readFileSync(file, "utf8"), file));
  } catch (e) {
    if (e instanceof FormatError) throw new UsageError(`--after: ${e.message}`);
    throw e;
  }
}

export async function inspectAction(io: Io, opts: InspectCliOptions): Promise<void> {
  if (opts.pfn === undefined) throw new UsageError("--pfn N is required (decimal, or hex with 0x)");
  try {
    const pfn = parsePfn(opts.pfn);
    const spec = await resolveMachine(opts.machine, opts.cmdline);
    const design = resolveDesign(opts.design);
    if (opts.reset === false && opts.after === undefined)
      throw new UsageError("--no-reset goes with --after FILE (the scenarios it starts)");
    const scenario =
      opts.after === undefined
        ? undefined
        : withoutReset(await readScenarioArg(opts.after), opts.reset);
    const k = bootForInspect(spec, design, scenario);
    const data = inspectPfn(k, pfn);
    io.out(opts.json ? `${JSON.stringify(data, null, 1)}\n` : formatInspect(data));
  } catch (e) {
    if (e instanceof UsageErrorLike) throw new UsageError(e.message);
    throw e;
  }
}
