// A worker thread of `hvo check --jobs N`: runs the seeds the main thread hands it, one at a
// time, and sends back each RunResult (src/check/run.ts). Started by src/cli/check_jobs.ts.
import { parentPort } from "node:worker_threads";
import { type CheckConfig, checkRun } from "../check/run.ts";

export interface JobRequest {
  index: number;
  cfg: CheckConfig;
}

const port = parentPort;
if (port) {
  port.on("message", (m: JobRequest | null) => {
    if (m === null) {
      port.close();
      return;
    }
    try {
      port.postMessage({ index: m.index, result: checkRun(m.cfg) });
    } catch (e) {
      port.postMessage({ index: m.index, error: (e as Error)?.message ?? String(e) });
    }
  });
}
