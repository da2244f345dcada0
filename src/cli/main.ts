// The hvo command line. The only layer, with src/live/, that touches process, fs or a terminal.
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { KernelError, Oops } from "../include/errno.ts";
import { MachineError } from "../machine/layout.ts";
import { commands } from "./register/index.ts";
import { ExitStatus, type Io, OutOfMemoryError, processIo, UsageError } from "./io.ts";

/** The version in package.json (two folders up from src/cli/ and from dist/cli/ alike). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

export function buildProgram(io: Io): Command {
  const program = new Command("hvo")
    .description(
      "An executable, byte-accurate model of Linux's HugeTLB pool and its Vmemmap Optimization (HVO).",
    )
    .version(packageVersion(), "-V, --version", "print hvo's version (package.json)")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) });
  for (const register of commands) register(program, io);
  return program;
}

/** A message as one line: control characters (a value's "\n") are shown escaped. */
export function oneLine(message: string): string {
  const named: Record<string, string> = { "\n": "\\n", "\t": "\\t", "\r": "\\r" };
  let out = "";
  for (const c of message) {
    const code = c.charCodeAt(0);
    if (code >= 0x20 && code !== 0x7f) out += c;
    else out += named[c] ?? `\\x${code.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** Runs one hvo invocation; returns the exit status. Never throws. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof ExitStatus) return e.status;
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError || e instanceof MachineError) {
      io.err(`hvo: ${oneLine(e.message)}\n`);
      return 2;
    }
    if (e instanceof KernelError) {
      io.err(`hvo: ${oneLine(e.message)}\n`);
      return 1;
    }
    if (e instanceof OutOfMemoryError) {
      io.err(`hvo: ${oneLine(e.message)}\n`);
      return 71;
    }
    // An ArrayBuffer the host could not give (a frame's bytes), or a Map, Set or array at
    // JavaScript's most entries: the model outgrew what this process can hold.
    if (e instanceof RangeError && /allocation failed|maximum size exceeded/i.test(e.message)) {
      io.err(
        `hvo: out of memory: ${oneLine(e.message)} (the model outgrew what one node process holds)\n`,
      );
      return 71;
    }
    if (e instanceof Oops) {
      io.err(`hvo: the model stopped with ${oneLine(e.message)}\n`);
      return 3;
    }
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === "string" && typeof err.message === "string") {
      io.err(`hvo: ${oneLine(err.message)}\n`);
      return 2;
    }
    io.err(`hvo: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 70;
  }
}
