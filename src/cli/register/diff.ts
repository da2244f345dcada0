// hvo diff: its options and help. The work is src/cli/commands/diff.ts, loaded when it runs.
import type { Command } from "commander";
import type { DiffFlags } from "../commands/diff.ts";
import type { Io } from "../io.ts";
import { DESIGN_HELP, MACHINE_HELP } from "../machine_help.ts";

export function register(program: Command, io: Io): void {
  program
    .command("diff")
    .description(
      "run a scenario file on the model and on a real kernel (live, or in a VM); print the exact fields that differ",
    )
    .argument("<file>", "an hvo-scenario/1 JSON file")
    .option(
      "--against <target>",
      "live (this machine's kernel) or vm:debian-7.2[:arm64|:arm64-16k] / vm:PATH (a kernel under QEMU)",
      "live",
    )
    .option("--machine <m>", `${MACHINE_HELP} (live only; default host)`)
    .option("--design <d>", `${DESIGN_HELP} (default legacy for live, mainline for vm)`)
    .option("--only <ids>", "only these scenarios (comma-separated ids)")
    .option("--memory <size>", "vm: guest RAM, e.g. 6G (default: the scenario's, else 6G)")
    .option("--nodes <n>", "vm: NUMA nodes (default: the scenario's, else 1)")
    .option("--cmdline <params>", "vm: extra boot parameters for the guest and the model")
    .option("--recording <file>", "skip the fields this recording lists as nondeterministic")
    .option("--install", "vm: install missing QEMU pieces and download the kernel (root)")
    .option(
      "--no-reset",
      'start every scenario from the machine as booted (as "reset": false; vm: a boot each)',
    )
    .option(
      "--sizes <list>",
      "live: only these hstates, e.g. 2M (the kernel's others are treated as absent: their steps skipped)",
    )
    .action(async (file: string, opts: DiffFlags) =>
      (await import("../commands/diff.ts")).diffAction(io, file, opts),
    );
}
