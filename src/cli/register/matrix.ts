// hvo matrix: its options and help. The work is src/cli/commands/matrix.ts, loaded when it runs.
import type { Command } from "commander";
import type { MatrixCliOptions } from "../commands/matrix.ts";
import type { Io } from "../io.ts";

/**
 * The most --ops of each of the matrix's short check runs: there are 72 of them (presets x
 * struct page sizes x designs), at about a thousand operations a second; `hvo check` is the
 * tool for long runs.
 */
export const MAX_MATRIX_OPS = 10_000;

export function register(program: Command, io: Io): void {
  program
    .command("matrix")
    .description(
      "every preset x struct page size x design: hstates, what HVO frees, tail alignment, a short check",
    )
    .option(
      "--ops <n>",
      `operations of each short check run (default 20, 0: none, at most ${MAX_MATRIX_OPS})`,
    )
    .option("--json", "print {rows: [...]} as JSON")
    .action(async (opts: MatrixCliOptions) =>
      (await import("../commands/matrix.ts")).matrixAction(io, opts),
    );
}
