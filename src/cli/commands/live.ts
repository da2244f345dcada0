// hvo live FILE: runs a scenario file on this machine's kernel (root, HugeTLB) through
// native/hvoexec.c and prints what the kernel reported; --json prints hvo-result/1, and
// --record N runs every scenario N times and prints hvo-recording/1.
import type { Command } from "commander";
import { FormatError } from "../../scenario/format.ts";
import { formatResult } from "../../scenario/text.ts";
import { BuildError } from "../../live/build.ts";
import { HvoexecError } from "../../live/hvoexec.ts";
import { LockError } from "../../live/lock.ts";
import { LiveError, recordLive, runLive } from "../../live/run.ts";
import { type Io, UsageError } from "../io.ts";
import { parseSizesFlag } from "./diff.ts";

async function liveAction(
  io: Io,
  file: string,
  opts: { json?: boolean; record?: string; only?: string; quiet?: boolean; sizes?: string },
): Promise<void> {
  const only = opts.only
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const log =
    opts.quiet || (!opts.json && !opts.record)
      ? undefined
      : (l: string) => io.err(`hvo live: ${l}\n`);
  try {
    const sizesKb = opts.sizes !== undefined ? parseSizesFlag(opts.sizes) : undefined;
    if (opts.record !== undefined) {
      const rounds = Number(opts.record);
      if (!Number.isInteger(rounds) || rounds < 1)
        throw new UsageError(`--record needs a number of rounds >= 1, not "${opts.record}"`);
      const rec = await recordLive(file, rounds, { only, log, sizesKb });
      io.out(`${JSON.stringify(rec)}\n`);
      return;
    }
    const result = await runLive(file, { only, log, sizesKb });
    if (opts.json) {
      io.out(`${JSON.stringify(result, null, 1)}\n`);
      return;
    }
    io.out(formatResult(result));
  } catch (e) {
    if (
      e instanceof FormatError ||
      e instanceof LiveError ||
      e instanceof BuildError ||
      e instanceof LockError ||
      e instanceof HvoexecError
    )
      throw new UsageError(e.message);
    throw e;
  }
}

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
    .action(
      (
        file: string,
        opts: { json?: boolean; record?: string; only?: string; quiet?: boolean; sizes?: string },
      ) => liveAction(io, file, opts),
    );
}
