// hvo compare: one scenario under several HVO designs (legacy, seed, mainline unless --designs),
// side by side (src/check/compare.ts).
import { compareDesigns, formatComparison } from "../../check/compare.ts";
import { type Io, UsageError } from "../io.ts";
import { resolveMachine } from "../machine_arg.ts";
import { loadScenarioFile } from "../scenario_arg.ts";
import { COMPARE_DESIGNS, DESIGNS, type Design, isDesign } from "../../mm/hvo_designs.ts";

export interface CompareCliOptions {
  machine?: string;
  cmdline?: string;
  pfn?: string;
  json?: boolean;
  designs?: string;
}

export async function compareAction(io: Io, file: string, opts: CompareCliOptions): Promise<void> {
  const scenarios = await loadScenarioFile(file);
  let pfn: number | undefined;
  if (opts.pfn !== undefined) {
    if (!/^(0x[0-9a-f]+|\d+)$/i.test(opts.pfn))
      throw new UsageError(`--pfn: "${opts.pfn}" is not a pfn`);
    pfn = Number(opts.pfn);
  }
  const spec = await resolveMachine(opts.machine, opts.cmdline);
  const endPfn = Math.max(...spec.nodes.flatMap((n) => n.ranges.map((r) => r.endPfn)));
  if (pfn !== undefined && !(pfn < endPfn))
    throw new UsageError(
      `--pfn: 0x${pfn.toString(16)} is beyond the machine: its last page frame is 0x${(endPfn - 1).toString(16)}`,
    );
  let which: Design[] = [...COMPARE_DESIGNS];
  if (opts.designs !== undefined) {
    which = opts.designs.split(",").map((d) => d.trim()) as Design[];
    const bad = which.find((d) => !isDesign(d));
    if (bad !== undefined || which.length === 0)
      throw new UsageError(
        `--designs: "${bad ?? ""}" is not a design (${DESIGNS.join(", ")}; comma-separated)`,
      );
    if (new Set(which).size !== which.length)
      throw new UsageError(`--designs: "${opts.designs}" names a design twice`);
  }
  const cmp = compareDesigns(spec, scenarios, pfn, which);
  io.out(opts.json ? `${JSON.stringify(cmp, null, 1)}\n` : formatComparison(cmp));
}
