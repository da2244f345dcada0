// hvo write PATH VALUE [PATH VALUE ...]: writes to the model's files in order, each as
// `echo -n VALUE > PATH` would (no newline added), and prints what a shell would on failure
// ("write error: Invalid argument"); then the files can be read in the same model with --cat.
import { KernelError, strerror } from "../../include/errno.ts";
import { ExitStatus, type Io, UsageError } from "../io.ts";
import type { Model } from "../../model.ts";
import { watchModel } from "../watch.ts";
import { modelAfter } from "./cat.ts";
import type { ModelArgs } from "./run.ts";

/** Options of `hvo write` (src/cli/register/write.ts). */
export type WriteCliOptions = ModelArgs & { after?: string; cat?: string };

export async function writeAction(
  io: Io,
  path: string,
  value: string,
  more: string[],
  opts: WriteCliOptions,
): Promise<void> {
  if (more.length % 2 !== 0) throw new UsageError("write: give PATH VALUE pairs");
  const pairs: [string, string][] = [[path, value]];
  for (let i = 0; i < more.length; i += 2) pairs.push([more[i], more[i + 1]]);
  // A progress line while the model boots, runs --after and takes the writes (an
  // nr_hugepages of a large machine takes long), cleared before anything is printed.
  const watch = watchModel(io, "hvo write");
  let model: Model;
  const errors: string[] = [];
  try {
    model = await modelAfter(opts, watch);
    for (const [p, v] of pairs) {
      watch.at(`${p} ${v}`);
      try {
        model.write(p, v);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        errors.push(`hvo write: ${p}: write error: ${strerror(e.errno)}\n`);
      }
    }
  } finally {
    watch.done();
  }
  const failed = errors.length > 0;
  for (const line of errors) io.err(line);
  for (const p of opts.cat?.split(",").filter(Boolean) ?? []) {
    io.out(`==> ${p} <==\n${model.vfs.tryRead(p) ?? "(cannot read)\n"}`);
  }
  if (failed) throw new ExitStatus(1);
}
