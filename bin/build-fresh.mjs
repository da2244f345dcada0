// Whether dist/ (the compiled CLI, `npm run build`) is at least as new as every file in src/.
// Shared by bin/hvo.mjs, which runs the build only then, and the startup bench, which says
// which of the two it timed.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function newestMtimeMs(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const t = e.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

/** root: the project's folder (the one holding src/ and dist/). */
export function buildIsFresh(root) {
  try {
    return statSync(join(root, "dist/.stamp")).mtimeMs >= newestMtimeMs(join(root, "src"));
  } catch {
    return false;
  }
}
