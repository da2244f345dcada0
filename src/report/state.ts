// The machine states the report and `hvo inspect` look at: a booted model (src/model.ts: the
// kernel with HugeTLB, the design's HVO and the user-visible files; a command line with
// hugepages= gets its boot-time pages, pre-HVO'd where the design does that), optionally after
// a scenario (src/scenario/run_model.ts) whose closing reset is skipped.

import type { Design, Kernel } from "../kernel.ts";
import type { MachineSpec } from "../machine/spec.ts";
import type { HugetlbPool } from "../mm/hugetlb.ts";
import type { HvoCore } from "../mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../model.ts";
import type { ScenarioFile } from "../scenario/format.ts";
import { runModel } from "../scenario/run_model.ts";

export interface BootedModel {
  model: Model;
  k: Kernel;
  pool: HugetlbPool;
  /** the design's HVO (createHugetlbVmemmap()), for its shared-tail table */
  hvo: HvoCore;
}

/** Boots a machine with the HugeTLB pool and the design's HVO. */
export function bootWithPool(spec: MachineSpec, design: Design): BootedModel {
  const model = bootModel(spec, design);
  return { model, k: model.k, pool: model.pool, hvo: model.vmemmap as HvoCore };
}

/** Boots the machine and, with a scenario file, runs it without the closing reset. */
export function bootForInspect(spec: MachineSpec, design: Design, scenario?: ScenarioFile): Kernel {
  const m = bootWithPool(spec, design);
  if (scenario) {
    runModel(m.model, scenario, { skipFinalReset: true, machine: spec.name });
    m.model.settle();
  }
  return m.k;
}
