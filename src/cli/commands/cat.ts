// hvo cat PATH: a file of the model's virtual filesystem (src/fs/vfs.ts), on a fresh boot or
// after a scenario file ran (--after, without its closing reset). Binary files are printed as
// one "pfn word" line per pfn of --pfn START[,COUNT].
import { KernelError, strerror } from "../../include/errno.ts";
import { runModel } from "../../scenario/run_model.ts";
import { ExitStatus, type Io, UsageError } from "../io.ts";
import { type ModelWatch, watchModel } from "../watch.ts";
import { loadScenarioFile } from "../scenario_arg.ts";
import { bootFromArgs, type ModelArgs } from "./run.ts";
import type { Model } from "../../model.ts";

/**
 * The model after --after's scenarios ran (closing reset skipped), or a fresh boot, watched by
 * `watch` (a progress line on a terminal, a clean stop before memory runs out; src/cli/watch.ts)
 * while the caller uses it: the caller calls watch.done() when it is finished with the model.
 */
export async function modelAfter(
  opts: ModelArgs & { after?: string },
  watch: ModelWatch,
): Promise<Model> {
  const model = await bootFromArgs(opts, watch.resched);
  watch.attach(model);
  if (opts.after)
    runModel(model, await loadScenarioFile(opts.after), {
      skipFinalReset: true,
      onProgress: (where) => watch.at(where),
    });
  return model;
}

/** Options of `hvo cat` (src/cli/register/cat.ts). */
export type CatCliOptions = ModelArgs & { after?: string; pfn?: string };

export async function catAction(io: Io, path: string, opts: CatCliOptions): Promise<void> {
  const watch = watchModel(io, "hvo cat");
  let model: Model;
  try {
    model = await modelAfter(opts, watch);
  } finally {
    watch.done();
  }
  try {
    if (path === "/proc/kpageflags" || path === "/proc/kpagecount") {
      const m = /^(\d+)(?:,(\d+))?$/.exec(opts.pfn ?? "");
      if (!m) throw new UsageError(`${path} is binary: give --pfn START[,COUNT]`);
      const start = Number(m[1]);
      const count = Number(m[2] ?? 1);
      const b = model.readBinary(path, start * 8, count * 8);
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < b.byteLength / 8; i++)
        io.out(`${start + i} 0x${v.getBigUint64(i * 8, true).toString(16)}\n`);
      return;
    }
    io.out(model.read(path));
  } catch (e) {
    if (e instanceof KernelError) {
      io.err(`cat: ${path}: ${strerror(e.errno)}\n`);
      throw new ExitStatus(1);
    }
    throw e;
  }
}
