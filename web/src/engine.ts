// The page's model: the same core as the CLI (src/model.ts, src/scenario/run_model.ts,
// src/report/*), driven by a list of hvo-scenario/1 steps. Going back a step replays the list
// from a fresh boot: the model is deterministic, so step i is always the same state.
// No DOM here.

import { machinePreset } from "../../src/arch/index.ts";
import { type Design, DESIGNS } from "../../src/kernel.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { PG } from "../../src/include/page_flags.ts";
import { errnoName, strerror } from "../../src/include/errno.ts";
import type { MachineSpec } from "../../src/machine/spec.ts";
import type { HvoCore, SharedTail } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { walkFolioVmemmap, type FrameRole } from "../../src/report/picture.ts";
import type { After, Result, Step } from "../../src/scenario/format.ts";
import { RESULT_FORMAT } from "../../src/scenario/format.ts";
import { ModelSession, observeModel, runScenarioOnModel } from "../../src/scenario/run_model.ts";

export { DESIGNS, type Design };

/** What the page shows, all of it in the URL. */
export interface ViewState {
  machine: string;
  /** RAM in MiB (the preset's default when absent) */
  memMiB?: number;
  nodes?: number;
  cmdline?: string;
  design: Design | "all";
  /** the scenario's id (a bundled one is restored from its id alone) */
  scenario: string;
  steps: Step[];
  /** how many steps have run */
  at: number;
  /** the selected folio (head pfn) and struct page */
  folio?: number;
  pfn?: number;
}

export const DEFAULT_STATE: ViewState = {
  machine: "x86_64",
  design: "mainline",
  scenario: "web",
  steps: [],
  at: 0,
};

export function designsOf(s: ViewState): Design[] {
  return s.design === "all" ? [...DESIGNS] : [s.design];
}

export function buildSpec(s: ViewState): MachineSpec {
  return machinePreset(s.machine, {
    memoryBytes: s.memMiB === undefined ? undefined : s.memMiB * 1024 * 1024,
    nodes: s.nodes,
    cmdline: s.cmdline,
  });
}

export interface StepOutcome {
  step: Step;
  rc: number;
  errno: number;
  code: string | null;
  /** what a shell would print: "" on success, "write error: Invalid argument" */
  message: string;
}

/** One design's run of the steps: the observations of all of them, the model at `at`. */
export interface Lane {
  design: Design;
  model: Model;
  /** the steps run on `model`; the session that ran them (it can go on) */
  at: number;
  session: ModelSession;
  /** observations: [initial, after step 0, after step 1, ...] for every step of the list */
  series: After[];
  outcomes: StepOutcome[];
  /** the observation at `at` */
  now: After;
}

function outcomeOf(step: Step, a: { rc: number; errno: number; code: string | null }): StepOutcome {
  let message = "";
  if (a.rc !== 0) {
    if (a.code === "SIGBUS") message = "Bus error (SIGBUS)";
    else if (a.errno > 0)
      message = `${step.op === "map" || step.op === "kpf" ? "mmap" : "write"} error: ${strerror(a.errno)}`;
    else message = `refused: ${a.code ?? "error"}`;
  }
  return {
    step,
    rc: a.rc,
    errno: a.errno,
    code: a.code ?? (a.errno ? errnoName(a.errno) : null),
    message,
  };
}

/**
 * Runs the steps on a fresh model of the design as `hvo run` does (the reset of FORMAT.md,
 * then each step and its settled observation), stopping after `upTo` steps.
 */
export function runSteps(spec: MachineSpec, design: Design, steps: readonly Step[], upTo: number) {
  const model = bootModel(spec, design);
  const session = new ModelSession(model);
  session.reset();
  const series: After[] = [observeModel(model)];
  const outcomes: StepOutcome[] = [];
  for (const step of steps.slice(0, upTo)) {
    try {
      const a = session.step(step);
      outcomes.push(outcomeOf(step, a));
      series.push(observeModel(model));
    } catch (e) {
      // An Oops (a write through a read-only vmemmap PTE, a BUG_ON): shown on the step; the
      // observation stays the last one read.
      const message = (e as Error).message.split("\n")[0];
      outcomes.push({ step, rc: -1, errno: 0, code: "OOPS", message });
      series.push(series[series.length - 1]);
    }
  }
  return { model, session, series, outcomes };
}

export type FullRun = ReturnType<typeof runSteps>;

/** All the steps on a fresh model: every observation, and the model after the last step. */
export function runAll(spec: MachineSpec, design: Design, steps: readonly Step[]): FullRun {
  return runSteps(spec, design, steps, steps.length);
}

/**
 * The lane at `at`: the full run's observations, and a model replayed up to `at`. `prev`, a
 * lane one step behind that nobody will look at again, is stepped on instead of replaying.
 */
export function buildLane(
  spec: MachineSpec,
  design: Design,
  steps: readonly Step[],
  at: number,
  full: FullRun = runAll(spec, design, steps),
  prev?: Lane,
): Lane {
  const base = { design, at, series: full.series, outcomes: full.outcomes, now: full.series[at] };
  if (at === steps.length) return { ...base, model: full.model, session: full.session };
  if (prev && prev.at === at - 1 && prev.model !== full.model) {
    prev.session.step(steps[at - 1]);
    prev.model.settle();
    return { ...base, model: prev.model, session: prev.session };
  }
  const run = runSteps(spec, design, steps, at);
  return { ...base, model: run.model, session: run.session };
}

/** The model's hvo-result/1 of the steps as one scenario (closing reset included). */
export function modelResult(spec: MachineSpec, design: Design, id: string, steps: Step[]): Result {
  const model = bootModel(spec, design);
  return {
    format: RESULT_FORMAT,
    machine: spec.name,
    design,
    scenarios: { [id]: runScenarioOnModel(model, { id, steps }) },
  };
}

// ------------------------------------------------------------------ folios and their vmemmap

export interface FolioRow {
  head: number;
  order: number;
  sizeKb: number;
  nid: number;
  list: string;
  optimized: boolean;
}

export function folios(model: Model): FolioRow[] {
  const out: FolioRow[] = [];
  for (const [head, f] of model.pool.folios) {
    out.push({
      head,
      order: f.h.order,
      sizeKb: f.h.sizeKb,
      nid: f.nid,
      list: f.list ?? "-",
      optimized: isOptimized(model, head, f.h.order),
    });
  }
  return out.sort((a, b) => a.head - b.head);
}

/** HVO'd: the folio's second vmemmap page is mapped read-only (every design does that). */
function isOptimized(model: Model, head: number, order: number): boolean {
  const k = model.k;
  if (2 ** order * k.layout.size <= k.pageSize) return false;
  const leaf = k.pgt.lookup(k.memmap.vaddrOf(head) + BigInt(k.pageSize));
  return leaf !== null && !leaf.writable;
}

export interface VmemmapPageCell {
  index: number;
  frame: number;
  writable: boolean;
  level: string;
  role: FrameRole;
}

/** The folio's vmemmap pages, one cell each: the PTE (or PMD) behind it and its frame. */
export function vmemmapPages(model: Model, head: number, order: number): VmemmapPageCell[] {
  const cells: VmemmapPageCell[] = [];
  for (const r of walkFolioVmemmap(model.k, head, order)) {
    for (let i = r.first; i <= r.last; i++) {
      const frame = (r.frame ?? 0) + (r.consecutive ? i - r.first : 0);
      cells.push({ index: i, frame, writable: r.writable, level: r.level, role: r.role });
    }
  }
  return cells;
}

export type StructPageKind = "head" | "tail" | "fake-head" | "other";

/**
 * What the raw bytes of the struct page of `pfn` say: a head, a tail, or PG_head on a struct
 * page that is not the folio's head (a fake head: the legacy design's aliased head page).
 */
export function structPageKind(model: Model, head: number, pfn: number): StructPageKind {
  const mm = model.k.memmap;
  const pgHead = mm.testBit(pfn, PAGE_OFF.flags, PG.head);
  if (pfn === head) return pgHead ? "head" : "other";
  if (pgHead) return "fake-head";
  return (mm.readU32(pfn, PAGE_OFF.compoundInfo) & 1) === 1 ? "tail" : "other";
}

export function sharedTails(model: Model): SharedTail[] {
  const core = model.vmemmap as Partial<HvoCore>;
  return typeof core.sharedTails === "function" ? core.sharedTails.call(model.vmemmap) : [];
}

export function structPagesPerVmemmapPage(model: Model): number {
  return model.k.pageSize / model.k.layout.size;
}
