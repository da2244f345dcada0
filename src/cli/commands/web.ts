// hvo web: serves the web view (web/dist, built by `npm run build:web` from web/ and the model
// core in src/) on a local address and prints it. The page needs nothing but static files: the
// model runs in the browser. Builds web/dist first when it is missing or older than its sources.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { type Io, UsageError } from "../io.ts";

export const REPO_ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
export const WEB_DIR = join(REPO_ROOT, "web");
export const WEB_DIST = join(WEB_DIR, "dist");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = st.mtimeMs;
  for (const e of readdirSync(path)) {
    if (e === "dist" || e === "node_modules") continue;
    t = Math.max(t, newestMtime(join(path, e)));
  }
  return t;
}

/** web/dist is missing, or older than web/ or the model core it was built from. */
export function webDistStale(): boolean {
  const index = join(WEB_DIST, "index.html");
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  const sources = [WEB_DIR, join(REPO_ROOT, "src"), join(REPO_ROOT, "scenarios")];
  return sources.some((s) => newestMtime(s) > built);
}

/** Builds web/dist with Vite's API (web/vite.config.ts). */
export async function buildWeb(): Promise<void> {
  let vite: typeof import("vite");
  try {
    vite = await import("vite");
  } catch {
    throw new UsageError(
      "cannot build web/dist: Vite is not installed (run npm ci in the repository)",
    );
  }
  // Built beside web/dist and moved in place: two builds at once (two test runs) do not
  // empty each other's folder half-way.
  const tmp = `${WEB_DIST}.tmp-${process.pid}`;
  await vite.build({
    configFile: join(WEB_DIR, "vite.config.ts"),
    logLevel: "warn",
    build: { outDir: tmp, emptyOutDir: true },
  });
  const old = `${WEB_DIST}.old-${process.pid}`;
  if (existsSync(WEB_DIST)) renameSync(WEB_DIST, old);
  renameSync(tmp, WEB_DIST);
  rmSync(old, { recursive: true, force: true });
}

/** A static file server for `dir` on host:port (port 0: any free port). */
export function serveDir(dir: string, port: number, host: string): Promise<Server> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname);
    } catch {
      res.writeHead(400).end("bad path\n");
      return;
    }
    let file = normalize(join(root, rel));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end("outside the served folder\n");
      return;
    }
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!existsSync(file)) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`no ${rel}\n`);
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[extname(file)] ?? "application/octet-stream",
      "cache-control": "no-cache",
    });
    res.end(readFileSync(file));
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => ok(server));
  });
}

function tryOpen(url: string): void {
  const paths = (process.env.PATH ?? "").split(":");
  if (!paths.some((p) => p && existsSync(join(p, "xdg-open")))) return;
  try {
    const child = spawn("xdg-open", [url], { stdio: "ignore", detached: true });
    child.on("error", () => {});
    child.unref();
  } catch {
    // no browser to open: the printed address is enough
  }
}

/** Options of `hvo web` (src/cli/register/web.ts). */
export interface WebCliOptions {
  port: string;
  host: string;
  build?: boolean;
  open: boolean;
}

export async function webAction(io: Io, opts: WebCliOptions): Promise<void> {
  if (!/^[0-9]+$/.test(opts.port) || Number(opts.port) > 65535)
    throw new UsageError(`--port: "${opts.port}" is not a TCP port (0-65535)`);
  if (opts.build || webDistStale()) {
    io.err("hvo web: building web/dist ...\n");
    await buildWeb();
  }
  let server: Server;
  try {
    server = await serveDir(WEB_DIST, Number(opts.port), opts.host);
  } catch (e) {
    throw new UsageError(`cannot listen on ${opts.host}:${opts.port}: ${(e as Error).message}`);
  }
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : Number(opts.port);
  const url = `http://${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${port}/`;
  io.out(`hvo web: serving ${WEB_DIST} at ${url} (Ctrl-C stops)\n`);
  if (opts.open) tryOpen(url);
  await new Promise<void>((done) => {
    const stop = () => {
      server.closeAllConnections();
      server.close(() => done());
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
