// A channel to hvoexec (native/PROTOCOL.md): one request line out, one JSON line back. The
// local channel runs the binary as a child of this process; the QEMU runner (src/live/vm/)
// speaks the same protocol over a guest console and can hand its own channel to driver.ts.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/** One hvoexec answer: `ok` plus whatever the op returns. */
export interface HvoexecReply {
  ok: boolean;
  error?: string;
  rc?: 0 | -1;
  errno?: number;
  code?: string | null;
  stage?: string;
  [field: string]: unknown;
}

export interface HvoexecChannel {
  /** Sends one command (op and already-encoded key=value pairs) and returns its answer. */
  request(
    op: string,
    args?: Record<string, string | number | boolean | undefined>,
  ): Promise<HvoexecReply>;
  /** Ends hvoexec (it releases its mappings and mounts on EOF). */
  close(): Promise<void>;
  /** Kills hvoexec at once: the kernel unmaps everything it had mapped. Its mounts stay. */
  kill(): void;
  readonly alive: boolean;
  /** The process id, when hvoexec is a local process. */
  readonly pid?: number;
}

export class HvoexecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HvoexecError";
  }
}

/** `op key=value ...` with every value percent-encoded (PROTOCOL.md). */
export function encodeRequest(
  op: string,
  args: Record<string, string | number | boolean | undefined> = {},
): string {
  const parts = [op];
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined) continue;
    const text = typeof v === "boolean" ? (v ? "1" : "0") : String(v);
    parts.push(`${k}=${encodeURIComponent(text)}`);
  }
  return parts.join(" ");
}

/** Starts a local hvoexec binary. */
export function spawnHvoexec(binary: string): HvoexecChannel {
  const child: ChildProcessWithoutNullStreams = spawn(binary, [], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let alive = true;
  let stderr = "";
  const waiting: { resolve: (r: HvoexecReply) => void; reject: (e: Error) => void }[] = [];
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  const failAll = (why: string) => {
    alive = false;
    for (const w of waiting.splice(0)) w.reject(new HvoexecError(why));
  };
  child.on("error", (e) => failAll(`hvoexec: ${e.message}`));
  // A request written to an hvoexec that has died: its pending replies fail with the reason.
  child.stdin.on("error", (e) => failAll(`hvoexec took no request: ${e.message}`));
  child.on("exit", (code, signal) =>
    failAll(`hvoexec exited (${signal ?? `status ${code}`})${stderr ? `: ${stderr.trim()}` : ""}`),
  );
  child.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const rl = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  rl.on("line", (line) => {
    const w = waiting.shift();
    if (!w) return;
    try {
      w.resolve(JSON.parse(line) as HvoexecReply);
    } catch {
      w.reject(
        new HvoexecError(`hvoexec answered with a line that is not JSON: ${line.slice(0, 200)}`),
      );
    }
  });
  return {
    get alive() {
      return alive;
    },
    pid: child.pid,
    request(op, args) {
      if (!alive) return Promise.reject(new HvoexecError("hvoexec is not running"));
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin.write(`${encodeRequest(op, args)}\n`);
      });
    },
    async close() {
      if (!alive) return;
      child.stdin.end();
      await exited;
    },
    kill() {
      if (alive) child.kill("SIGKILL");
    },
  };
}
