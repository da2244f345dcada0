// The CLI's window on the outside world: where output goes. Tests hand in a capturing Io;
// the hvo binary hands in the process's streams.
import { Readable } from "node:stream";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** What the user types (hvo shell); absent: nothing to read. `isTTY` when it is a terminal. */
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  // A getter: process.stdin is opened only by a command that reads it.
  get stdin() {
    return process.stdin;
  },
};

/** The exit status of a command whose reader went away (a shell's 128 + SIGPIPE). */
export const EPIPE_STATUS = 141;

/**
 * Makes a closed pipe on stdout or stderr (`hvo ... | head`) end the process quietly, as
 * SIGPIPE ends a C program, instead of an unhandled 'error' event with a stack trace.
 */
export function quietOnClosedPipe(proc: NodeJS.Process = process): void {
  for (const stream of [proc.stdout, proc.stderr])
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") proc.exit(EPIPE_STATUS);
      // Any other output error: one line where it can still go, and an I/O failure status.
      if (stream === proc.stdout) proc.stderr.write(`hvo: cannot write the output: ${e.message}\n`);
      proc.exit(74);
    });
}

/** An Io that keeps what was written, for tests; `stdin` is what a command reads (not a terminal). */
export function captureIo(stdin?: string): Io & { stdout: () => string; stderr: () => string } {
  let out = "";
  let err = "";
  return {
    ...(stdin === undefined ? {} : { stdin: Readable.from([stdin]) }),
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    stdout: () => out,
    stderr: () => err,
  };
}

/** An error the user caused (bad flag, missing file): printed as one line, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A command that ran to the end but wants a non-zero exit status (diff found differences). */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}
