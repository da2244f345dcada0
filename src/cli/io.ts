// The CLI's window on the outside world: where output goes. Tests hand in a capturing Io;
// the hvo binary hands in the process's streams.
import { freemem, totalmem } from "node:os";
import { Readable } from "node:stream";
import { getHeapStatistics } from "node:v8";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** What the user types (hvo shell); absent: nothing to read. `isTTY` when it is a terminal. */
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** What a long model run reads of the host (src/cli/watch.ts); absent: this process's. */
  readonly host?: HostProbe;
}

/** The host as a long model run sees it: the clock, its memory, and whether stderr is a terminal. */
export interface HostProbe {
  /** stderr is a terminal: a progress line may be drawn there. */
  readonly tty: boolean;
  /** The terminal's width (a progress line longer than it would wrap); absent: unknown. */
  readonly columns?: number;
  /** Milliseconds (only for the progress line and how often memory is looked at). */
  now(): number;
  /** This process's resident set, in bytes. */
  rss(): number;
  /** V8's heap: the bytes in use and the most it may grow to (--max-old-space-size). */
  heap(): { used: number; limit: number };
  /** Bytes the host can still give: MemAvailable, or less where a cgroup limit is nearer. */
  available(): number;
  /** The host's RAM, in bytes. */
  total(): number;
}

/** A cgroup limit below this is real; above it (2^64 - 1 rounded) means "none". */
const NO_LIMIT = 2 ** 60;

/** This process on this host. `tty`: stderr is a terminal. */
export function processHost(tty = process.stderr.isTTY === true): HostProbe {
  return {
    tty,
    ...(process.stderr.columns ? { columns: process.stderr.columns } : {}),
    now: () => Date.now(),
    rss: () => process.memoryUsage.rss(),
    heap: () => {
      const h = getHeapStatistics();
      return { used: h.used_heap_size, limit: h.heap_size_limit };
    },
    available: () => {
      // os.freemem() is MemAvailable on Linux; a cgroup's memory.max may be nearer.
      const limit = process.constrainedMemory?.() ?? 0;
      const free = freemem();
      return limit > 0 && limit < NO_LIMIT
        ? Math.min(free, Math.max(0, limit - process.memoryUsage.rss()))
        : free;
    },
    total: () => {
      const limit = process.constrainedMemory?.() ?? 0;
      return limit > 0 && limit < NO_LIMIT ? limit : totalmem();
    },
  };
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  // A getter: process.stdin is opened only by a command that reads it.
  get stdin() {
    return process.stdin;
  },
  get host() {
    return processHost();
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

/**
 * The model would need more memory than the host (or node's heap limit) has: the run stopped
 * before it ran out, with one line saying where and why (exit status 71, EX_OSERR).
 */
export class OutOfMemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OutOfMemoryError";
  }
}

/** A command that ran to the end but wants a non-zero exit status (diff found differences). */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}
