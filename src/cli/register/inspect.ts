// hvo inspect: its options and help. The work is src/cli/commands/inspect.ts, loaded when it runs.
import type { Command } from "commander";
import type { InspectCliOptions } from "../commands/inspect.ts";
import type { Io } from "../io.ts";
import { CMDLINE_HELP, DESIGN_HELP, MACHINE_HELP } from "../machine_help.ts";

export function register(program: Command, io: Io): void {
  program
    .command("inspect")
    .description(
      "show one struct page (decoded, raw, its vmemmap mapping and frame), like crash's kmem -p",
    )
    .option("--pfn <n>", "page frame number (decimal, or hex with 0x)")
    .option("--machine <m>", MACHINE_HELP)
    .option("--design <d>", DESIGN_HELP)
    .option("--cmdline <params>", CMDLINE_HELP)
    .option("--after <file>", "run this scenario file first (its closing reset skipped)")
    .option("--no-reset", '--after: start from the machine as booted (as "reset": false)')
    .option("--json", "print JSON")
    .action(async (opts: InspectCliOptions) =>
      (await import("../commands/inspect.ts")).inspectAction(io, opts),
    );
}
