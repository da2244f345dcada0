// One boot measurement, in the current process (bench/run.ts runs it in a fresh child).
import { machinePreset } from "../src/arch/index.ts";
import { Kernel } from "../src/kernel.ts";

export interface BootResult {
  memoryGiB: number;
  bootMs: number;
  rssBytes: number;
  maxRssBytes: number;
  heapUsedBytes: number;
  nrMemmapBootPages: number;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export function bootOnce(memoryGiB: number): BootResult {
  const spec = machinePreset("x86_64", { memoryBytes: memoryGiB * 2 ** 30 });
  gc();
  const t0 = performance.now();
  const k = new Kernel(spec, { design: "mainline" }).boot();
  const bootMs = performance.now() - t0;
  gc();
  const mem = process.memoryUsage();
  return {
    memoryGiB,
    bootMs,
    rssBytes: mem.rss,
    // resourceUsage().maxRSS is in KiB.
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    heapUsedBytes: mem.heapUsed,
    nrMemmapBootPages: k.vmstat.nrMemmapBootPages,
  };
}
