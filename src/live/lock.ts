// The live-kernel lock: every interaction that writes /proc/sys/vm or the hugepages sysfs
// files holds an exclusive flock(2) on /tmp/hvo-live.lock (docs/TEAM.md), the same lock as
// `flock /tmp/hvo-live.lock <command>` in a shell.
//
// Node has no flock(); the lock is held by a child `flock -x FILE sh -c 'echo locked; exec
// cat'` whose stdin is a pipe from us. The child prints "locked" once it holds the lock and
// keeps it until its stdin closes: when we release it, and also when our process dies in any
// way (the kernel closes the pipe), so a crashed run can never leave the lock taken.
import { type ChildProcess, spawn } from "node:child_process";

export const LIVE_LOCK_PATH = "/tmp/hvo-live.lock";

export class LockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LockError";
  }
}

export interface LiveLock {
  readonly path: string;
  /** Releases the lock (idempotent); resolves once the holder has exited. */
  release(): Promise<void>;
  /** Releases without waiting (for signal handlers and exit paths). */
  releaseSync(): void;
}

export interface LockOptions {
  path?: string;
  /** Give up after this long (default 10 minutes: a whole recording may hold it). */
  timeoutMs?: number;
  /** Called once if the lock is not free at once, e.g. to tell the user we wait. */
  onWait?: () => void;
}

/** Takes the live-kernel lock, waiting for other holders. */
export function acquireLiveLock(opts: LockOptions = {}): Promise<LiveLock> {
  const lockPath = opts.path ?? LIVE_LOCK_PATH;
  const timeoutS = Math.max(1, Math.ceil((opts.timeoutMs ?? 600_000) / 1000));
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(
        "flock",
        ["-x", "-w", String(timeoutS), lockPath, "sh", "-c", "echo locked; exec cat >/dev/null"],
        { stdio: ["pipe", "pipe", "pipe"] },
      );
    } catch (e) {
      reject(new LockError(`cannot run flock: ${(e as Error).message}`));
      return;
    }
    let settled = false;
    let stderr = "";
    const waitTimer = opts.onWait ? setTimeout(() => opts.onWait?.(), 200) : null;
    const fail = (msg: string) => {
      if (settled) return;
      settled = true;
      if (waitTimer) clearTimeout(waitTimer);
      reject(new LockError(msg));
    };
    child.on("error", (e: NodeJS.ErrnoException) => {
      fail(
        e.code === "ENOENT"
          ? "the flock command was not found (it is in util-linux: apt-get install util-linux)"
          : `cannot run flock: ${e.message}`,
      );
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("exit", (code) => {
      fail(
        code === 1
          ? `timed out after ${timeoutS}s waiting for ${lockPath} (another live run holds it)`
          : `flock ${lockPath} failed (exit ${code}): ${stderr.trim()}`,
      );
    });
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (settled || !out.includes("locked")) return;
      settled = true;
      if (waitTimer) clearTimeout(waitTimer);
      let released = false;
      const exited = new Promise<void>((res) => {
        if (child.exitCode !== null) res();
        else child.once("exit", () => res());
      });
      const releaseSync = () => {
        if (released) return;
        released = true;
        child.stdin?.end();
        child.stdin?.destroy();
      };
      resolve({
        path: lockPath,
        releaseSync,
        release: async () => {
          releaseSync();
          await exited;
        },
      });
    });
  });
}

/** Runs `fn` holding the live-kernel lock. */
export async function withLiveLock<T>(
  fn: () => Promise<T> | T,
  opts: LockOptions = {},
): Promise<T> {
  const lock = await acquireLiveLock(opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
