// hvo report: what HVO does on a machine (the main job). Arithmetic and model in src/report/.
import { UsageErrorLike } from "../../report/errors.ts";
import { buildReport, formatReport } from "../../report/report.ts";
import { type Io, UsageError } from "../io.ts";
import { resolveDesign, resolveMachine } from "../machine_arg.ts";

export interface ReportCliOptions {
  machine?: string;
  design?: string;
  cmdline?: string;
  pool?: string;
  json?: boolean;
  measure?: boolean;
}

/** A --pool this large (folios, all sizes) takes long enough to measure to warn about. */
const BIG_POOL = 100_000;

export async function reportAction(io: Io, opts: ReportCliOptions): Promise<void> {
  const spec = await resolveMachine(opts.machine, opts.cmdline);
  const design = resolveDesign(opts.design);
  const asked = [...(opts.pool ?? "").matchAll(/:\s*([0-9]+)/g)].reduce(
    (a, m) => a + Number(m[1]),
    0,
  );
  if (opts.measure !== false && asked >= BIG_POOL)
    // Growing a pool in the model costs time per folio: say so before the wait, not after.
    io.err(
      `hvo report: measuring a pool of ${asked.toLocaleString("en-US")} huge pages in the model (as many as fit), which can take minutes; --no-measure gives the arithmetic at once\n`,
    );
  let data: ReturnType<typeof buildReport>;
  try {
    data = buildReport(spec, { design, pool: opts.pool, measure: opts.measure !== false });
  } catch (e) {
    if (e instanceof UsageErrorLike) throw new UsageError(e.message);
    throw e;
  }
  io.out(opts.json ? `${JSON.stringify(data, null, 1)}\n` : formatReport(data));
}
