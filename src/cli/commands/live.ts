// hvo live FILE: runs a scenario file on this machine's kernel (root, HugeTLB) through
// native/hvoexec.c and prints what the kernel reported; --json prints hvo-result/1, and
// --record N runs every scenario N times and prints hvo-recording/1.
import { FormatError } from "../../scenario/names.ts";
import { formatResult } from "../../scenario/text.ts";
import { BuildError } from "../../live/build.ts";
import { HvoexecError } from "../../live/hvoexec.ts";
import { LockError } from "../../live/lock.ts";
import { LiveError, recordLive, runLive } from "../../live/run.ts";
import { type Io, UsageError } from "../io.ts";
import { loadScenarioFile, parseSizesFlag, withoutReset } from "../scenario_arg.ts";

export interface LiveFlags {
  json?: boolean;
  record?: string;
  only?: string;
  quiet?: boolean;
  sizes?: string;
  /** false with --no-reset. */
  reset?: boolean;
}

export async function liveAction(io: Io, file: string, opts: LiveFlags): Promise<void> {
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
      const rec = await recordLive(
        opts.reset === false ? withoutReset(await loadScenarioFile(file), false) : file,
        rounds,
        {
          only,
          log,
          sizesKb,
        },
      );
      io.out(`${JSON.stringify(rec)}\n`);
      return;
    }
    // --no-reset: every scenario starts from the kernel as it stands (as "reset": false).
    const scenarios =
      opts.reset === false ? withoutReset(await loadScenarioFile(file), false) : file;
    const result = await runLive(scenarios, { only, log, sizesKb });
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
