#!/usr/bin/env node
// The hvo command. It runs the compiled CLI in dist/ (built by `npm run build`, which `npm ci`
// runs through `prepare`) when that build is at least as new as every source file; otherwise it
// registers tsx and runs the TypeScript sources as they are, so that an edit is never hidden
// behind a stale build.
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function newestMtimeMs(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const t = e.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

function buildIsFresh() {
  try {
    return statSync(join(root, "dist/.stamp")).mtimeMs >= newestMtimeMs(join(root, "src"));
  } catch {
    return false;
  }
}

let cli;
let io;
if (process.env.HVO_FROM_SOURCE !== "1" && buildIsFresh()) {
  [cli, io] = await Promise.all([import("../dist/cli/main.js"), import("../dist/cli/io.js")]);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  [cli, io] = await Promise.all([import("../src/cli/main.ts"), import("../src/cli/io.ts")]);
}
io.quietOnClosedPipe();
process.exitCode = await cli.main(process.argv.slice(2));
