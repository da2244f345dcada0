// When the tests that read this machine as the `host` machine cannot run here, and why: the
// reason goes into the skipped test's name. Only what the host lacks skips (another arch, no
// memory-block sysfs, a layout this user may not read); as root an unreadable layout is a
// failure of the reader and the test runs, to fail.
import { existsSync } from "node:fs";
import { hostMachine } from "../../src/live/host.ts";
import { MachineError } from "../../src/machine/layout.ts";

export function hostSkipReason(): string | null {
  if (process.arch !== "x64") return `not an x86_64 host (${process.arch})`;
  if (!existsSync("/sys/devices/system/memory/block_size_bytes")) {
    return "no /sys/devices/system/memory on this machine";
  }
  try {
    hostMachine();
    return null;
  } catch (e) {
    if (e instanceof MachineError && process.getuid?.() !== 0) return e.message;
    return null;
  }
}

/** " (skipped: REASON)" for a test's name, or "" when it runs. */
export function skippedBecause(reason: string | null): string {
  return reason === null ? "" : ` (skipped: ${reason})`;
}
