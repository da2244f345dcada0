// What the live-kernel tests need, once: Linux, root, HugeTLB and a C compiler for hvoexec
// (src/live/build.ts). Each test file skips with the reason this gives, and says it.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Why the live kernel cannot be used for tests here, or null. */
export function liveTestUnavailable(): string | null {
  if (process.platform !== "linux") return "not Linux";
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return "not root";
  if (!existsSync("/sys/kernel/mm/hugepages/hugepages-2048kB"))
    return "the kernel has no HugeTLB (no /sys/kernel/mm/hugepages/hugepages-2048kB)";
  if (spawnSync(process.env.CC ?? "gcc", ["--version"]).error) return "no C compiler for hvoexec";
  return null;
}

/** Whether this kernel has a 1 GiB hstate (CPUs without pdpe1gb have none). */
export const have1GHstate = (): boolean =>
  existsSync("/sys/kernel/mm/hugepages/hugepages-1048576kB");
