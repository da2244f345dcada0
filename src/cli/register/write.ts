// hvo write: its options and help. The work is src/cli/commands/write.ts, loaded when it runs.
import type { Command } from "commander";
import type { WriteCliOptions } from "../commands/write.ts";
import type { Io } from "../io.ts";
import { DESIGN_HELP, MACHINE_HELP } from "../machine_help.ts";

export function register(program: Command, io: Io): void {
  program
    .command("write")
    .description("write VALUE to a file of the model and report the kernel's answer")
    .argument("<path>", "the file's path as on Linux")
    .argument("<value>", "the text to write (no newline is added)")
    .argument("[more...]", "more PATH VALUE pairs, written in order")
    .option("--machine <m>", MACHINE_HELP)
    .option("--design <d>", DESIGN_HELP)
    .option("--after <scenario-file>", "run this scenario file first (without its closing reset)")
    .option("--cat <paths>", "print these files afterwards (comma-separated)")
    .action(async (path: string, value: string, more: string[], opts: WriteCliOptions) =>
      (await import("../commands/write.ts")).writeAction(io, path, value, more, opts),
    );
}
