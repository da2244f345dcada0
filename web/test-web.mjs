#!/usr/bin/env node
// npm run test:web: builds web/dist, makes sure there is a Chromium to drive (Debian's
// chromium, installed with apt-get when it is missing and this runs as root with apt), then
// runs the browser tests (test/web). Without a Chromium it says why, and the browser tests skip.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const chromium = process.env.HVO_CHROMIUM ?? "/usr/bin/chromium";

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  if (r.error) return { ok: false, why: r.error.message };
  return { ok: r.status === 0, why: `${cmd} ${args.join(" ")} exited ${r.status ?? r.signal}` };
}

function onPath(name) {
  return (process.env.PATH ?? "").split(":").some((p) => p && existsSync(join(p, name)));
}

function ensureChromium() {
  if (existsSync(chromium)) return null;
  if (process.env.HVO_CHROMIUM) return `HVO_CHROMIUM names ${chromium}, which does not exist`;
  if (process.platform !== "linux" || !onPath("apt-get"))
    return `no Chromium at ${chromium} and no apt-get to install Debian's chromium package`;
  if (typeof process.getuid !== "function" || process.getuid() !== 0)
    return `no Chromium at ${chromium}; installing it needs root (apt-get install chromium)`;
  console.error("test:web: installing Debian's chromium with apt-get ...");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const up = run("apt-get", ["update"], { env });
  if (!up.ok) return `apt-get update failed (${up.why})`;
  const inst = run("apt-get", ["install", "-y", "chromium"], { env });
  if (!inst.ok) return `apt-get install chromium failed (${inst.why})`;
  return existsSync(chromium)
    ? null
    : `apt-get installed chromium, but ${chromium} is still missing`;
}

const build = run("npm", ["run", "build:web"]);
if (!build.ok) {
  console.error(`test:web: the build failed (${build.why})`);
  process.exit(1);
}
const why = ensureChromium();
if (why) console.error(`test:web: the browser tests will skip: ${why}`);
const tests = run("npx", ["vitest", "run", "test/web"]);
process.exit(tests.ok ? 0 : 1);
