// hvo compare: its options and help. The work is src/cli/commands/compare.ts, loaded when it runs.
import type { Command } from "commander";
import { COMPARE_DESIGNS, DESIGNS } from "../../mm/hvo_designs.ts";
import type { CompareCliOptions } from "../commands/compare.ts";
import type { Io } from "../io.ts";
import { CMDLINE_HELP, MACHINE_HELP } from "../machine_help.ts";

export function register(program: Command, io: Io): void {
  program
    .command("compare")
    .description(
      `run one scenario under several HVO designs (default ${COMPARE_DESIGNS.join(", ")}) and show them side by side`,
    )
    .argument("<file>", "hvo-scenario/1 file (its closing reset is skipped so the pages stay)")
    .option("--machine <m>", MACHINE_HELP)
    .option("--cmdline <params>", CMDLINE_HELP)
    .option(
      "--pfn <pfn>",
      "the struct page to show raw (default: tail 64 of the first HugeTLB folio)",
    )
    .option("--designs <list>", `comma-separated designs to compare (${DESIGNS.join(", ")})`)
    .option("--json", "print {order: [...], designs: {<design>: ...}} as JSON")
    .action(async (file: string, opts: CompareCliOptions) =>
      (await import("../commands/compare.ts")).compareAction(io, file, opts),
    );
}
