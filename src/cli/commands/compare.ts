// hvo compare: one scenario under the three HVO designs, side by side (src/check/compare.ts).
import type { Command } from "commander";
import { compareDesigns, formatComparison } from "../../check/compare.ts";
import { type Io, UsageError } from "../io.ts";
import { MACHINE_HELP, resolveMachine } from "../machine_arg.ts";
import { loadScenarioFile } from "./run.ts";

export interface CompareCliOptions {
  machine?: string;
  pfn?: string;
  json?: boolean;
}

export function compareAction(io: Io, file: string, opts: CompareCliOptions): void {
  const scenarios = loadScenarioFile(file);
  let pfn: number | undefined;
  if (opts.pfn !== undefined) {
    if (!/^(0x[0-9a-f]+|\d+)$/i.test(opts.pfn))
      throw new UsageError(`--pfn: "${opts.pfn}" is not a pfn`);
    pfn = Number(opts.pfn);
  }
  const spec = resolveMachine(opts.machine);
  const endPfn = Math.max(...spec.nodes.flatMap((n) => n.ranges.map((r) => r.endPfn)));
  if (pfn !== undefined && !(pfn < endPfn))
    throw new UsageError(
      `--pfn: 0x${pfn.toString(16)} is beyond the machine: its last page frame is 0x${(endPfn - 1).toString(16)}`,
    );
  const cmp = compareDesigns(spec, scenarios, pfn);
  io.out(opts.json ? `${JSON.stringify(cmp, null, 1)}\n` : formatComparison(cmp));
}

export function register(program: Command, io: Io): void {
  program
    .command("compare")
    .description(
      "run one scenario under the legacy, seed and mainline designs and show them side by side",
    )
    .argument("<file>", "hvo-scenario/1 file (its closing reset is skipped so the pages stay)")
    .option("--machine <m>", MACHINE_HELP)
    .option(
      "--pfn <pfn>",
      "the struct page to show raw (default: tail 64 of the first HugeTLB folio)",
    )
    .option("--json", "print {designs: {legacy, seed, mainline}} as JSON")
    .action((file: string, opts: CompareCliOptions) => compareAction(io, file, opts));
}
