// hvo report: its options and help. The work is src/cli/commands/report.ts, loaded when it runs.
import type { Command } from "commander";
import type { ReportCliOptions } from "../commands/report.ts";
import type { Io } from "../io.ts";
import { CMDLINE_HELP, DESIGN_HELP, MACHINE_HELP } from "../machine_help.ts";

export function register(program: Command, io: Io): void {
  program
    .command("report")
    .description(
      "what HVO does on a machine: savings per huge page size, for a pool, and the vmemmap of one folio",
    )
    .option("--machine <m>", MACHINE_HELP)
    .option("--design <d>", DESIGN_HELP)
    .option("--cmdline <params>", CMDLINE_HELP)
    .option(
      "--pool <spec>",
      "pool to price, e.g. 1G:2,2M:100 (default: the largest pool of each size that fits)",
    )
    .option("--no-measure", "arithmetic only: do not run the pool in the model")
    .option("--json", "print the report as JSON (hvo-report/1)")
    .action(async (opts: ReportCliOptions) =>
      (await import("../commands/report.ts")).reportAction(io, opts),
    );
}
