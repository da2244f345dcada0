// hvo check: its options and help. The work is src/cli/commands/check.ts (the engine
// src/check/run.ts), loaded when it runs.
import type { Command } from "commander";
import { presetNames } from "../../arch/index.ts";
import { SHRINK_RUNS } from "../../check/defaults.ts";
import { MUTATIONS } from "../../kernel/mutations.ts";
import { DESIGNS } from "../../mm/hvo_designs.ts";
import type { CheckCliOptions } from "../commands/check.ts";
import type { Io } from "../io.ts";

/**
 * The most --ops a run may have. The operations are drawn as they run (memory does not grow
 * with --ops); the limit keeps a run's step numbers exact.
 */
export const MAX_OPS = 1_000_000_000;

export function register(program: Command, io: Io): void {
  program
    .command("check")
    .description(
      "seeded random operations with fault injection, checking the invariants of SPEC §5",
    )
    .option("--design <d>", `HVO design: ${DESIGNS.join(", ")} or all`)
    .option(
      "--machine <m>",
      `machine preset (${presetNames().join(", ")}) or all; 4 GiB on 2 nodes`,
    )
    .option(
      "--seed <s>",
      "seed of the operations, the boot command line and the faults (default 1)",
    )
    .option("--ops <n>", `operations per run (default 300, at most ${MAX_OPS})`)
    .option("--every <k>", "check the invariants after every k operations (default 1)")
    .option("--faults <p>", "probability of ENOMEM at every named allocation site (default 0)")
    .option("--mutation <name>", `a deliberate bug to boot with (${MUTATIONS.join(", ")})`)
    .option(
      "--replay <file>",
      "run a replay file written by an earlier failure (on its own design unless --design names one)",
    )
    .option("--out <dir>", "where to write replay files (default .)")
    .option(
      "--shrink-runs <n>",
      `candidate sequences replayed to minimise a failure, 0 for none (default ${SHRINK_RUNS})`,
    )
    .option("--seeds <n>", "how many seeds from --seed on, one run each (default 1)")
    .option("--jobs <n>", "run the seeds on n worker threads (default 1); the output is the same")
    .option(
      "--shard <i/n>",
      "make only the i-th of n equal shares of the runs (batch jobs); merge the --json results with --merge",
    )
    .option("--merge <files...>", "combine the --json results of --shard 1/n .. n/n into one")
    .option("--json", "print {runs: [...]} as JSON")
    .action(async (opts: CheckCliOptions) =>
      (await import("../commands/check.ts")).checkAction(io, opts),
    );
}
