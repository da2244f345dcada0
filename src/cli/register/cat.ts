// hvo cat: its options and help. The work is src/cli/commands/cat.ts, loaded when it runs.
import type { Command } from "commander";
import type { CatCliOptions } from "../commands/cat.ts";
import type { Io } from "../io.ts";
import { DESIGN_HELP, MACHINE_HELP } from "../machine_help.ts";
import { DEBUG_VM_HELP } from "./run.ts";

export function register(program: Command, io: Io): void {
  program
    .command("cat")
    .description("print a file of the model (/proc/meminfo, /sys/kernel/mm/hugepages/..., ...)")
    .argument("<path>", "the file's path as on Linux")
    .option("--machine <m>", MACHINE_HELP)
    .option("--design <d>", DESIGN_HELP)
    .option("--after <scenario-file>", "run this scenario file first (without its closing reset)")
    .option("--pfn <start[,count]>", "for /proc/kpageflags and /proc/kpagecount: the pfns to print")
    .option("--debug-vm", DEBUG_VM_HELP)
    .action(async (path: string, opts: CatCliOptions) =>
      (await import("../commands/cat.ts")).catAction(io, path, opts),
    );
}
