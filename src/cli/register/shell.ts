// hvo shell: its options and help. The session is src/cli/commands/shell.ts and
// src/cli/shell/, loaded when it runs.
import type { Command } from "commander";
import type { ShellCliOptions } from "../commands/shell.ts";
import { ExitStatus, type Io } from "../io.ts";
import { DESIGN_HELP, MACHINE_HELP } from "../machine_help.ts";

export function register(program: Command, io: Io): void {
  program
    .command("shell")
    .description(
      "one model, many commands: echo N > .../nr_hugepages, cat, ls, inspect, report, compare, undo, design, save",
    )
    .option("--machine <m>", MACHINE_HELP)
    .option("--design <d>", DESIGN_HELP)
    .option(
      "--cmdline <params>",
      "the kernel command line to boot with (hugepages=, hugetlb_free_vmemmap=)",
    )
    .option("--strict", "stop at the first command that fails, with its status (as set -e)")
    .action(async (opts: ShellCliOptions) => {
      const status = await (await import("../commands/shell.ts")).shellAction(io, opts);
      if (status !== 0) throw new ExitStatus(status);
    });
}
