// `hvo check --jobs N`: the runs of a sweep on N worker threads (src/cli/check_worker.ts),
// handed out one at a time as workers come free; the results come back in sweep order, so
// that the output is the serial run's, byte for byte.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { CheckConfig, RunResult } from "../check/run.ts";

/**
 * A worker running check_worker: the compiled file next to this one when this is compiled
 * JavaScript (dist/), else the TypeScript source through tsx, registered in the worker first.
 */
function startWorker(): Worker {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new Worker(new URL("./check_worker.js", here));
  // tsx's ESM entry (its CommonJS one registers hooks that a worker cannot resolve).
  const tsx = pathToFileURL(
    createRequire(here)
      .resolve("tsx/esm/api")
      .replace(/\.cjs$/, ".mjs"),
  );
  const src = new URL("./check_worker.ts", here).href;
  return new Worker(
    `import(${JSON.stringify(tsx.href)}).then((m) => { m.register(); return import(${JSON.stringify(src)}); });`,
    { eval: true },
  );
}

/** Runs checkRun(cfgs[i]) for every i on `jobs` threads; `done` is called as each finishes. */
export async function runJobs(
  cfgs: CheckConfig[],
  jobs: number,
  done: (index: number, r: RunResult) => void = () => {},
): Promise<RunResult[]> {
  const results: RunResult[] = new Array(cfgs.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(jobs, cfgs.length) }, startWorker);
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const feed = () => {
              if (next >= cfgs.length) {
                w.postMessage(null);
                resolve();
                return;
              }
              const index = next++;
              w.postMessage({ index, cfg: cfgs[index] });
            };
            w.on("message", (m: { index: number; result?: RunResult; error?: string }) => {
              if (m.error !== undefined || !m.result) {
                reject(new Error(`hvo check --jobs: run ${m.index + 1} failed: ${m.error}`));
                return;
              }
              results[m.index] = m.result;
              done(m.index, m.result);
              feed();
            });
            w.on("error", reject);
            w.on("exit", (code) => {
              if (code !== 0) reject(new Error(`hvo check --jobs: a worker exited with ${code}`));
            });
            feed();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return results;
}
