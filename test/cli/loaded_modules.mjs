// Module hooks for test/cli/light_help.test.ts: every module the process loads (through node's
// ESM loader: the CLI's own modules from dist/ or, through tsx, from src/) is appended as one
// URL a line to the file named by HVO_LOADED_LOG.
import { appendFileSync } from "node:fs";

export async function load(url, context, nextLoad) {
  if (process.env.HVO_LOADED_LOG) appendFileSync(process.env.HVO_LOADED_LOG, `${url}\n`);
  return nextLoad(url, context);
}
