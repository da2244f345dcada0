// hvo live: its options and help. The work is src/cli/commands/live.ts, loaded when it runs.
import type { Command } from "commander";
import type { LiveFlags } from "../commands/live.ts";
import type { Io } from "../io.ts";

export function register(program: Command, io: Io): void {
  program
    .command("live")
    .description(
      "run a scenario file (hvo-scenario/1) on this machine's kernel: needs root and HugeTLB; " +
        "holds /tmp/hvo-live.lock and restores the pools, overcommit, demote_size and " +
        "hugetlb_optimize_vmemmap it found",
    )
    .argument("<file>", "an hvo-scenario/1 JSON file")
    .option("--json", "print hvo-result/1")
    .option("--record <rounds>", "run every scenario this many times and print hvo-recording/1")
    .option("--only <ids>", "only these scenarios (comma-separated ids)")
    .option("--quiet", "no progress lines on stderr")
    .option(
      "--sizes <list>",
      "only these hstates, e.g. 2M: the kernel's others are treated as absent (their steps skipped, by name)",
    )
    .option(
      "--no-reset",
      'start every scenario from the kernel as it stands (as "reset": false; still restored after)',
    )
    .action(async (file: string, opts: LiveFlags) =>
      (await import("../commands/live.ts")).liveAction(io, file, opts),
    );
}
