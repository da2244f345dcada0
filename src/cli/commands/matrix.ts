// hvo matrix: every preset x struct page size x design, HVO's arithmetic and a short check run
// (src/check/matrix.ts).
import type { Command } from "commander";
import { buildMatrix, formatMatrix } from "../../check/matrix.ts";
import { type Io, UsageError } from "../io.ts";

/**
 * The most --ops of each of the matrix's short check runs: there are 72 of them (presets x
 * struct page sizes x designs), at about a thousand operations a second; `hvo check` is the
 * tool for long runs.
 */
export const MAX_MATRIX_OPS = 10_000;

export interface MatrixCliOptions {
  json?: boolean;
  ops?: string;
}

export function matrixAction(io: Io, opts: MatrixCliOptions): void {
  const ops = opts.ops === undefined ? 20 : /^\d+$/.test(opts.ops) ? Number(opts.ops) : Number.NaN;
  if (!Number.isInteger(ops) || ops < 0)
    throw new UsageError(`--ops: "${opts.ops}" is not an integer >= 0`);
  if (ops > MAX_MATRIX_OPS)
    throw new UsageError(
      `--ops: ${ops} is more than the limit of ${MAX_MATRIX_OPS} (hvo check runs longer ones)`,
    );
  const rows = buildMatrix({
    ops,
    onRow: (r, i, n) => io.err(`[${i}/${n}] ${r.preset} ${r.struct_page_size} ${r.design}\n`),
  });
  io.out(opts.json ? `${JSON.stringify({ rows }, null, 1)}\n` : formatMatrix(rows));
}

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
    .action((opts: MatrixCliOptions) => matrixAction(io, opts));
}
