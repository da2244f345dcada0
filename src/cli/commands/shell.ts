// hvo shell: one booted model and many commands, as a root shell on a kernel (`echo 4 >
// .../nr_hugepages`, `cat /proc/meminfo`, `ls`, ...), plus the model's own views (inspect,
// report, compare) and its history (undo, design, save). The session is src/cli/shell/.
// On a terminal: node:readline with a prompt, Tab completion and history; otherwise the lines
// of stdin are read with no prompt. The exit status is that of the last command, as sh's is
// for a script; --strict stops at the first command that fails (as `set -e`).
import { appendFileSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { KernelError } from "../../include/errno.ts";
import { canonical } from "../../fs/vfs.ts";
import type { Io } from "../io.ts";
import { DEFAULT_MACHINE, resolveDesign, resolveMachine } from "../machine_arg.ts";
import { complete } from "../shell/complete.ts";
import { ShellSession } from "../shell/session.ts";

export interface ShellCliOptions {
  machine?: string;
  design?: string;
  cmdline?: string;
  strict?: boolean;
}

/** The Tab completer of a session: paths of its current model. */
export function completerOf(sh: ShellSession): (line: string) => [string[], string] {
  return (line) =>
    complete(line, {
      cwd: sh.cwd,
      readdir: (dir) => {
        try {
          return sh.model.vfs.readdir(dir);
        } catch (e) {
          if (e instanceof KernelError) return null;
          throw e;
        }
      },
      isDir: (p) => sh.model.vfs.isDir(canonical(p).replace(/(.)\/$/, "$1")),
    });
}

/** ~/.hvo_history, or $HVO_HISTFILE ("" keeps the history in memory only). */
function historyFile(): string | null {
  const env = process.env.HVO_HISTFILE;
  if (env !== undefined) return env === "" ? null : env;
  try {
    return join(homedir(), ".hvo_history");
  } catch {
    return null;
  }
}

function loadHistory(file: string | null): string[] {
  if (!file) return [];
  try {
    // readline wants the newest first.
    return readFileSync(file, "utf8").split("\n").filter(Boolean).slice(-500).reverse();
  } catch {
    return [];
  }
}

async function interactive(sh: ShellSession, io: Io, opts: ShellCliOptions): Promise<number> {
  const file = historyFile();
  const rl = createInterface({
    input: io.stdin as NodeJS.ReadableStream,
    output: process.stdout,
    terminal: true,
    history: loadHistory(file),
    historySize: 500,
    removeHistoryDuplicates: true,
    completer: completerOf(sh),
  });
  const prompt = () => {
    rl.setPrompt(`hvo:${sh.design}:${sh.cwd}# `);
    rl.prompt();
  };
  io.out(
    `hvo shell: machine ${opts.machine ?? DEFAULT_MACHINE}, design ${sh.design}. help lists the commands, Tab completes, exit or ^D leaves.\n`,
  );
  let status = 0;
  return new Promise<number>((resolve) => {
    rl.on("SIGINT", () => {
      rl.write(null, { ctrl: true, name: "u" });
      io.out("^C\n");
      prompt();
    });
    rl.on("line", (line) => {
      if (file && line.trim())
        try {
          appendFileSync(file, `${line}\n`);
        } catch {
          // the history file is a convenience: a read-only home keeps it in memory only
        }
      const r = sh.run(line);
      status = r.status;
      if (r.exit || (opts.strict && r.status !== 0)) rl.close();
      else prompt();
    });
    rl.on("close", () => {
      io.out("\n");
      resolve(status);
    });
    prompt();
  });
}

async function fromStream(sh: ShellSession, io: Io, opts: ShellCliOptions): Promise<number> {
  if (!io.stdin) return 0;
  const rl = createInterface({
    input: io.stdin,
    terminal: false,
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let status = 0;
  for await (const line of rl) {
    const r = sh.run(line);
    status = r.status;
    if (r.exit || (opts.strict && r.status !== 0)) break;
  }
  rl.close();
  return status;
}

export async function shellAction(io: Io, opts: ShellCliOptions): Promise<number> {
  // --cmdline after the machine's own parameters (a qemu: guest's, a machine file's).
  const spec = await resolveMachine(opts.machine, opts.cmdline);
  const design = resolveDesign(opts.design);
  const sh = new ShellSession(
    { spec, machineArg: opts.machine ?? DEFAULT_MACHINE, cmdlineArg: opts.cmdline, design },
    io,
  );
  return io.stdin?.isTTY ? interactive(sh, io, opts) : fromStream(sh, io, opts);
}
