// `hvo check`'s progress line: on a terminal only, once a run has gone on for a few seconds,
// redrawn in place on stderr and cleared at the end; never in a pipe or a file.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.ts";
import { PROGRESS_AFTER_MS, progressLine } from "../../src/cli/commands/check.ts";

describe("the progress line", () => {
  it("on a terminal: nothing for the first seconds, then one line redrawn in place, cleared at the end", () => {
    const io = captureIo();
    let now = 1_000_000;
    const line = progressLine(io, { tty: true, now: () => now });
    const started = now;
    now += PROGRESS_AFTER_MS - 1;
    line("early", started);
    expect(io.stderr()).toBe("");
    now += 1;
    line("3,072/10,000 ops", started);
    // \r and "erase to the end of the line": the line is drawn over itself, not appended.
    expect(io.stderr()).toBe("\r\x1b[K3,072/10,000 ops (3 s)");
    // At most five redraws a second.
    now += 100;
    line("4,096/10,000 ops", started);
    expect(io.stderr()).toBe("\r\x1b[K3,072/10,000 ops (3 s)");
    now += 100;
    line("5,120/10,000 ops", started);
    expect(io.stderr()).toBe("\r\x1b[K3,072/10,000 ops (3 s)\r\x1b[K5,120/10,000 ops (3 s)");
    line(null, started);
    expect(io.stderr().endsWith("\r\x1b[K")).toBe(true);
    expect(io.stdout()).toBe("");
  });

  it("not on a terminal: nothing at all, however long the run", () => {
    const io = captureIo();
    let now = 0;
    const line = progressLine(io, { tty: false, now: () => now });
    now = 60_000;
    line("1/2 ops", 0);
    line(null, 0);
    expect(io.stderr()).toBe("");
  });

  it("a long `hvo check` in a terminal (a pty from script(1)) shows it", async (ctx) => {
    if (spawnSync("script", ["--version"]).status !== 0)
      ctx.skip("no script(1) to give the run a terminal");
    const bin = join(import.meta.dirname, "../../bin/hvo.mjs");
    // A run far longer than the test: stopped as soon as the line has been seen.
    const child = spawn(
      "script",
      ["-qefc", `${process.execPath} ${bin} check --ops 100000000 --seed 1`, "/dev/null"],
      { detached: true, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    const seen = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 60_000);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (
          out
            .split("\r\x1b[K")
            .some((l) =>
              /^hvo check: x86_64 mainline seed 1: [\d,]+\/100,000,000 ops \(\d+ s\)$/.test(l),
            )
        ) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.on("exit", () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    // script(1) and the run under it (its terminal gone, the run gets SIGHUP).
    const gone = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(null);
      else child.on("exit", resolve);
    });
    try {
      process.kill(-(child.pid as number), "SIGTERM");
    } catch {
      // already gone
    }
    await gone;
    expect(seen, out.slice(-300)).toBe(true);
  }, 70_000);
});
