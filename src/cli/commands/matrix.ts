// hvo matrix: every preset x struct page size x design, HVO's arithmetic and a short check run
// (src/check/matrix.ts).
import { buildMatrix, formatMatrix } from "../../check/matrix.ts";
import { type Io, UsageError } from "../io.ts";
import { MAX_MATRIX_OPS } from "../register/matrix.ts";

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
