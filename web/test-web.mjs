#!/usr/bin/env node
// npm run test:web: builds web/dist, makes sure there is a Chromium to drive (Debian's
// chromium, installed with apt-get when it is missing and this runs as root with apt), then
// runs the browser tests (test/web). Without a Chromium it says why, and the browser tests skip.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureChromium } from "./chromium.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  if (r.error) return { ok: false, why: r.error.message };
  return { ok: r.status === 0, why: `${cmd} ${args.join(" ")} exited ${r.status ?? r.signal}` };
}

const build = run("npm", ["run", "build:web"]);
if (!build.ok) {
  console.error(`test:web: the build failed (${build.why})`);
  process.exit(1);
}
const why = await ensureChromium((line) => console.error(`test:web: ${line}`));
if (why) console.error(`test:web: the browser tests will skip: ${why}`);
const tests = run("npx", ["vitest", "run", "test/web"]);
process.exit(tests.ok ? 0 : 1);
