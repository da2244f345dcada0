// Pool growth measurement: boot, set vm.hugetlb_optimize_vmemmap, write nr_hugepages, time it.
// TODO(model): boot through src/model.ts bootModel() once it lands (src/report/state.ts today).
import { machinePreset } from "../src/arch/index.ts";
import { bootWithPool } from "../src/report/state.ts";

export interface PoolBenchCase {
  label: string;
  memoryGiB: number;
  /** the hstate's order */
  order: number;
  count: number;
  hvo: boolean;
}

export interface PoolResult {
  label: string;
  got: number;
  growMs: number;
  memmapDelta: number;
  maxRssBytes: number;
}

export function poolBenchAvailable(): boolean {
  return true;
}

export async function poolOnce(c: PoolBenchCase): Promise<PoolResult> {
  const spec = machinePreset("x86_64", { memoryBytes: c.memoryGiB * 2 ** 30 });
  const m = bootWithPool(spec, "mainline");
  m.hvo.enabled = c.hvo;
  const h = m.pool.hstateOfOrder(c.order);
  if (!h) throw new Error(`no order-${c.order} hstate`);
  const memmap = () => m.k.vmstat.nrMemmapPages + m.k.vmstat.nrMemmapBootPages;
  const before = memmap();
  const t0 = performance.now();
  m.pool.nrHugepagesStore(h, c.count, null);
  m.pool.flushFreeHpageWork();
  const growMs = performance.now() - t0;
  return {
    label: c.label,
    got: h.nrHugePages,
    growMs,
    memmapDelta: memmap() - before,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}
