// hvo inspect --pfn N: one struct page as crash/drgn would show it, through the model's vmemmap.
import { UsageErrorLike } from "../../report/errors.ts";
import { formatInspect, inspectPfn, parsePfn } from "../../report/inspect.ts";
import { bootForInspect } from "../../report/state.ts";
import { type Io, UsageError } from "../io.ts";
import { resolveDesign, resolveMachine } from "../machine_arg.ts";
import { loadScenarioFile, withoutReset } from "../scenario_arg.ts";

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
        : withoutReset(await loadScenarioFile(opts.after, "--after"), opts.reset);
    const k = bootForInspect(spec, design, scenario);
    const data = inspectPfn(k, pfn);
    io.out(opts.json ? `${JSON.stringify(data, null, 1)}\n` : formatInspect(data));
  } catch (e) {
    if (e instanceof UsageErrorLike) throw new UsageError(e.message);
    throw e;
  }
}
