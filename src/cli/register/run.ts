// hvo run: its options and help. The work is src/cli/commands/run.ts, loaded when it runs.
import type { Command } from "commander";
import { MUTATIONS } from "../../kernel/mutations.ts";
import type { RunCliOptions } from "../commands/run.ts";
import type { Io } from "../io.ts";
import { CMDLINE_HELP, DESIGN_HELP, MACHINE_HELP } from "../machine_help.ts";

export const DEBUG_VM_HELP =
  "as a kernel built with CONFIG_DEBUG_VM: its VM_WARN_ON/VM_BUG_ON checks run and log (Debian's 7.2 has it off)";

export function register(program: Command, io: Io): void {
  program
    .command("run")
    .description("run a scenario file (hvo-scenario/1) on the model and print what each step did")
    .argument("<file>", "an hvo-scenario/1 JSON file")
    .option("--machine <m>", MACHINE_HELP)
    .option("--design <d>", DESIGN_HELP)
    .option("--cmdline <params>", CMDLINE_HELP)
    .option(
      "--no-reset",
      'start every scenario from the machine as booted (no FORMAT.md reset before it; as "reset": false)',
    )
    .option("--debug-vm", DEBUG_VM_HELP)
    .option("--json", "print hvo-result/1")
    .option("--only <ids>", "only these scenarios (comma-separated ids)")
    .option(
      "--mutation <name>",
      `boot with a deliberate bug, to replay an hvo check failure (${MUTATIONS.join(", ")})`,
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .action(async (file: string, opts: RunCliOptions) =>
      (await import("../commands/run.ts")).runAction(io, file, opts),
    );
}
