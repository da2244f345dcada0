#!/usr/bin/env node
// The hvo command. It runs the compiled CLI in dist/ (built by `npm run build`, which `npm ci`
// runs through `prepare`) when that build is at least as new as every source file; otherwise it
// registers tsx and runs the TypeScript sources as they are, so that an edit is never hidden
// behind a stale build.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildIsFresh } from "./build-fresh.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

let cli;
let io;
if (process.env.HVO_FROM_SOURCE !== "1" && buildIsFresh(root)) {
  [cli, io] = await Promise.all([import("../dist/cli/main.js"), import("../dist/cli/io.js")]);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  [cli, io] = await Promise.all([import("../src/cli/main.ts"), import("../src/cli/io.ts")]);
}
io.quietOnClosedPipe();
process.exitCode = await cli.main(process.argv.slice(2));
