// The Chromium the browser tests drive (test/web): Debian's /usr/bin/chromium, or $HVO_CHROMIUM.
// Where it is missing and this runs as root on a host with apt-get, it is installed, as the VM
// tests install QEMU; otherwise the reason the browser tests skip. Shared by `npm test` (through
// test/web/browser.ts) and `npm run test:web` (web/test-web.mjs).
//
// The install runs as a child the caller awaits, never a synchronous spawn: a vitest worker
// whose event loop stays blocked for 60 s (downloading and unpacking chromium on a fresh host
// takes longer) misses the runner's RPC answers, and the whole run fails with
// `Timeout calling "onTaskUpdate"` though every test passed.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export const CHROMIUM = process.env.HVO_CHROMIUM ?? "/usr/bin/chromium";

function onPath(name, env = process.env) {
  return (env.PATH ?? "").split(":").some((p) => p && existsSync(join(p, name)));
}

/**
 * apt-get with its arguments, one at a time on this host (two test runs at once wait): null, or
 * what went wrong. The caller's event loop keeps turning while it runs.
 */
export function aptGet(args, env = process.env) {
  const cmd = onPath("flock", env)
    ? ["flock", "/tmp/hvo-apt.lock", "apt-get", ...args]
    : ["apt-get", ...args];
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", (e) => resolve(e.message));
    child.on("close", (status, signal) => {
      if (status === 0) return resolve(null);
      const tail = stderr.trim().split("\n").slice(-1)[0] ?? "";
      resolve(`apt-get ${args.join(" ")} exited ${status ?? signal}${tail ? `: ${tail}` : ""}`);
    });
  });
}

/**
 * null when CHROMIUM exists (installing Debian's chromium first where it is missing and that can
 * be done here); otherwise why the browser tests cannot run. `log` is told before an install.
 */
export async function ensureChromium(log = (_line) => {}) {
  if (existsSync(CHROMIUM)) return null;
  if (process.env.HVO_CHROMIUM) return `HVO_CHROMIUM names ${CHROMIUM}, which does not exist`;
  if (process.platform !== "linux" || !onPath("apt-get"))
    return `no Chromium at ${CHROMIUM} and no apt-get to install Debian's chromium package`;
  if (typeof process.getuid !== "function" || process.getuid() !== 0)
    return `no Chromium at ${CHROMIUM}; installing it needs root (apt-get install chromium)`;
  log("installing Debian's chromium with apt-get ...");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const up = await aptGet(["update", "-q"], env);
  if (up) return `apt-get update failed (${up})`;
  const inst = await aptGet(["install", "-y", "-q", "chromium"], env);
  if (inst) return `apt-get install chromium failed (${inst})`;
  return existsSync(CHROMIUM)
    ? null
    : `apt-get installed chromium, but ${CHROMIUM} is still missing`;
}
