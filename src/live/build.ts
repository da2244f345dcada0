// Builds native/hvoexec.c (the live-kernel oracle's executor, native/PROTOCOL.md) on demand
// into <project>/.cache/hvoexec/, keyed by a hash of the source and the flags: an edited
// source is rebuilt, an unchanged one is reused.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const HVOEXEC_SOURCE = path.join(PROJECT_ROOT, "native", "hvoexec.c");
export const CACHE_DIR = path.join(PROJECT_ROOT, ".cache", "hvoexec");

/**
 * A build that could not happen: no compiler (`unavailable`: this host cannot build it), or
 * the compiler failed (a broken build, which a test must not take for a missing tool).
 */
export class BuildError extends Error {
  constructor(
    message: string,
    readonly unavailable = false,
  ) {
    super(message);
    this.name = "BuildError";
  }
}

export interface BuildOptions {
  /** Link statically (for initramfs guests); the host build is dynamic. Default false. */
  static?: boolean;
  /** The C compiler (default $CC or gcc). */
  cc?: string;
  cacheDir?: string;
  source?: string;
}

/** The path of an up-to-date hvoexec binary, compiling it first when needed. */
export function buildHvoexec(opts: BuildOptions = {}): string {
  const cc = opts.cc ?? process.env.CC ?? "gcc";
  const source = opts.source ?? HVOEXEC_SOURCE;
  const cacheDir = opts.cacheDir ?? CACHE_DIR;
  let text: Buffer;
  try {
    text = fs.readFileSync(source);
  } catch (e) {
    throw new BuildError(`cannot read ${source}: ${(e as Error).message}`);
  }
  const flags = ["-std=c99", "-O2", "-Wall", ...(opts.static ? ["-static"] : [])];
  const hash = createHash("sha256")
    .update(text)
    .update(`\0${cc}\0${flags.join(" ")}`)
    .digest("hex")
    .slice(0, 16);
  const out = path.join(cacheDir, `hvoexec-${hash}${opts.static ? "-static" : ""}`);
  if (fs.existsSync(out)) return out;

  const probe = spawnSync(cc, ["--version"], { encoding: "utf8" });
  if (probe.error) {
    const code = (probe.error as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      throw new BuildError(
        `no C compiler: "${cc}" was not found; hvo live needs one to build native/hvoexec.c ` +
          "(install it with: apt-get install gcc libc6-dev)",
        true,
      );
    throw new BuildError(`cannot run ${cc}: ${probe.error.message}`);
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${out}.tmp${process.pid}`;
  const r = spawnSync(cc, [...flags, "-o", tmp, source], { encoding: "utf8" });
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    const hint = opts.static
      ? " (a static build needs libc.a: apt-get install libc6-dev)"
      : " (apt-get install libc6-dev provides the headers)";
    throw new BuildError(
      `${cc} could not build ${path.relative(PROJECT_ROOT, source)}${hint}:\n${r.stderr.trim()}`,
    );
  }
  fs.renameSync(tmp, out);
  return out;
}
