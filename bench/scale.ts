// One scale measurement, in the current process (bench/run.ts runs each in a fresh child, so
// that its peak RSS is that machine's alone): boot a machine, fill it with 1 GiB pages with
// HVO on (vm.hugetlb_optimize_vmemmap=1, then nr_hugepages of the 1 GiB hstate to as many as
// fit), then free them all; through the model's files, as `hvo run` of `hvo 1`, `nr 1G N`,
// `nr 1G 0` does.
import { readFileSync } from "node:fs";
import { machinePreset } from "../src/arch/index.ts";
import type { MachineSpec } from "../src/machine/spec.ts";
import { parseMachineFile } from "../src/machine/load.ts";
import { bootModel } from "../src/model.ts";

export interface ScaleCase {
  /** A preset name with a size, or a machine file's path. */
  machine: string;
  /** Bytes, for a preset. */
  memoryBytes?: number;
  nodes?: number;
}

export interface ScaleResult {
  machine: string;
  size: number;
  folios: number;
  boot_ms: number;
  fill_ms: number;
  free_ms: number;
  peak_rss_bytes: number;
}

/** The design `hvo run` uses by default (src/cli/machine_arg.ts DEFAULT_DESIGN). */
const DESIGN = "mainline";

const GIG = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";

function specOf(c: ScaleCase): MachineSpec {
  if (/\.(ya?ml|json)$/.test(c.machine))
    return parseMachineFile(readFileSync(c.machine, "utf8"), c.machine);
  return machinePreset(c.machine, { memoryBytes: c.memoryBytes, nodes: c.nodes });
}

export function scaleOnce(c: ScaleCase): ScaleResult {
  const spec = specOf(c);
  const size = spec.nodes.reduce(
    (n, node) =>
      n + node.ranges.reduce((m, r) => m + (r.endPfn - r.startPfn) * 2 ** spec.arch.pageShift, 0),
    0,
  );
  const t0 = performance.now();
  const model = bootModel(spec, DESIGN);
  const t1 = performance.now();
  model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
  model.write(GIG, String(Math.floor(size / 2 ** 30)));
  model.settle();
  const t2 = performance.now();
  const folios = Number(model.vfs.tryRead(GIG)?.trim() ?? 0);
  model.write(GIG, "0");
  model.settle();
  const t3 = performance.now();
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    machine: spec.name ?? c.machine,
    size,
    folios,
    boot_ms: round(t1 - t0),
    fill_ms: round(t2 - t1),
    free_ms: round(t3 - t2),
    // resourceUsage().maxRSS is in KiB.
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  };
}
