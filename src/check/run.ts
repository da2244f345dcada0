// `hvo check`: seeded random sequences of what users and the kernel do to the HugeTLB pool,
// expressed as hvo-scenario/1 steps (docs/FORMAT.md) so that a failure's
// minimised sequence is a scenario file, with ENOMEM injected at every named allocation site
// (lib/fault-inject.c in spirit) and the invariants of invariants.ts after every K steps.
// Generation and shrinking are fast-check's, from the given seed. Pure and browser-safe: the
// CLI writes the files.

import fc from "fast-check";
import { machinePreset } from "../arch/index.ts";
import { KernelError, Oops } from "../include/errno.ts";
import { type Design, type Mutation, MUTATIONS } from "../kernel.ts";
import type { MachineSpec } from "../machine/spec.ts";
import { type Model, bootModel } from "../model.ts";
import { type FaultRule, Faults } from "../mm/fault_inject.ts";
import { memoryFailure } from "../mm/memory_failure.ts";
import { memoryBlockSizeBytes } from "../mm/memory_hotplug.ts";
import { createHugetlbVmemmap } from "../mm/hugetlb_vmemmap.ts";
import type { ScenarioFile, Step } from "../scenario/format.ts";
import { SCENARIO_FORMAT, hstateName } from "../scenario/names.ts";
import { ModelSession } from "../scenario/run_model.ts";
import { Checker } from "./checker.ts";
import { type Violation, oopsViolation } from "./invariants.ts";
import { SHRINK_RUNS } from "./defaults.ts";

export const GiB = 2 ** 30;

/** The machine a check runs on: small, so that runs are fast. */
export interface CheckMachine {
  preset: string;
  memoryBytes: number;
  nodes: number;
  cmdline: string;
  structPageSize?: 56 | 64 | 72 | 80;
}

export function checkMachineSpec(m: CheckMachine): MachineSpec {
  return machinePreset(m.preset, {
    memoryBytes: m.memoryBytes,
    nodes: m.nodes,
    cmdline: m.cmdline,
    structPageSize: m.structPageSize,
  });
}

/** One op: a scenario step and the seed of the fault injector while it runs (0: none). */
export interface CheckOp {
  step: Step;
  fault: number;
}

export interface CheckConfig {
  machine: CheckMachine;
  design: Design;
  seed: number;
  ops: number;
  every: number;
  /** ENOMEM probability per allocation call. */
  faults: number;
  mutation?: Mutation | null;
  /** Full folio sweep every this many checks. */
  fullEvery?: number;
  /**
   * Candidate sequences the shrinker may replay while minimising a failure (0: no shrinking;
   * default SHRINK_RUNS). A count, not a time: the replay file depends on the seed alone.
   */
  shrinkRuns?: number;
  /**
   * A clock (milliseconds) for the checker's per-invariant timings (`npm run bench`). Without
   * one the checker takes no timings: the model core reads no clock of its own.
   */
  clock?: () => number;
  /**
   * Called every PROGRESS_EVERY ops of the run (not of the shrinker's replays) with the ops
   * done and the total: the CLI's progress line. Nothing the run finds depends on it.
   */
  progress?: (done: number, total: number) => void;
  /** ENOMEM at named allocation sites during boot only (a replay's `x-check.bootFaults`). */
  bootFaults?: FaultRule[];
  /**
   * Called with each step that runs, before it runs, and with null once it and its check are
   * done (`npm run bench`: what each kind of step costs, checks included). Nothing the run
   * finds depends on it.
   */
  onStep?: (step: Step | null) => void;
}

/** How often CheckConfig.progress is called, in ops. */
export const PROGRESS_EVERY = 1024;

/** The shrinker's default budget, in src/check/defaults.ts for hvo check --help to read alone. */
export { SHRINK_RUNS };

export interface RunViolation extends Violation {
  step: number;
}

export interface RunResult {
  machine: string;
  design: Design;
  seed: number;
  ops: number;
  faults: number;
  violations: RunViolation[];
  /** The minimised failing sequence, as a scenario file (with the x-check extension). */
  replay?: ScenarioFile & { "x-check": ReplayInfo };
  /** Steps executed, checks done (throughput). */
  stepsRun: number;
  checks: number;
  /** Candidate sequences the shrinker replayed (at most CheckConfig.shrinkRuns). */
  shrinkRuns: number;
}

export interface ReplayInfo {
  preset: string;
  memory: string;
  nodes: number;
  cmdline: string;
  design: Design;
  seed: number;
  faults: number;
  faultSeeds: number[];
  mutation: Mutation | null;
  every: number;
  /** The failure the sequence reproduces. */
  step: number;
  invariant: string;
  /** Allocation sites made to fail while the machine boots (written by hand, not by check). */
  bootFaults?: FaultRule[];
}

// ------------------------------------------------------------------ generation

/** The hstate size names of a machine ("2M", "1G"), smallest first. */
export function hstateSizes(spec: MachineSpec): { name: string; gigantic: boolean }[] {
  const ps = spec.arch.pageShift;
  return [...spec.arch.hstateOrders]
    .sort((a, b) => a - b)
    .map((o) => ({ name: hstateName(2 ** (o + ps - 10)), gigantic: o > spec.arch.maxPageOrder }));
}

const MAP_IDS = ["m0", "m1", "m2", "m3"];

/** A fast-check arbitrary of one step on `spec`. */
export function stepArbitrary(spec: MachineSpec): fc.Arbitrary<Step> {
  const sizes = hstateSizes(spec);
  const normal = sizes.filter((s) => !s.gigantic).map((s) => s.name);
  const all = sizes.map((s) => s.name);
  const nodes = spec.nodes.length;
  const small = normal.length ? normal : all;
  const maxPfn = Math.max(...spec.nodes.flatMap((n) => n.ranges.map((r) => r.endPfn)));
  const blockPages = memoryBlockSizeBytes(spec) / 2 ** spec.arch.pageShift;
  const blocks = Math.ceil(maxPfn / blockPages);
  const pageBytes = 2 ** spec.arch.pageShift;
  // No chain()/map(): fast-check shrinks a given failing sequence only when every value can be
  // shrunk without the context it was generated in.
  const nrArbs = sizes.map((sz) => {
    const max = sz.gigantic ? 2 : 12;
    return fc.oneof(
      {
        weight: 2,
        arbitrary: fc.record({
          op: fc.constant("nr" as const),
          size: fc.constant(sz.name),
          value: fc.nat(max),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          op: fc.constant("nr_node" as const),
          size: fc.constant(sz.name),
          value: fc.nat(max),
          node: fc.nat(nodes - 1),
        }),
      },
    );
  });
  const statePaths = Array.from(
    { length: blocks },
    (_, b) => `/sys/devices/system/memory/memory${b}/state`,
  );
  const poisonAddrs = Array.from({ length: 128 }, (_, i) => {
    const pfn = Math.min(maxPfn - 1, Math.floor((i * maxPfn) / 128) + (i % 8) * 7);
    return `0x${(pfn * pageBytes).toString(16)}`;
  });
  return fc.oneof(
    ...nrArbs.map((a) => ({ weight: Math.max(1, Math.floor(9 / nrArbs.length)), arbitrary: a })),
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant("overcommit" as const),
        size: fc.constantFrom(...small),
        value: fc.nat(6),
      }),
    },
    { weight: 3, arbitrary: fc.record({ op: fc.constant("hvo" as const), value: fc.nat(1) }) },
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant("map" as const),
        id: fc.constantFrom(...MAP_IDS),
        size: fc.constantFrom(...small),
        n: fc.integer({ min: 1, max: 4 }),
        touch: fc.constantFrom(0 as const, 1 as const),
        noreserve: fc.constantFrom(0 as const, 1 as const),
        shared: fc.constantFrom(0 as const, 1 as const),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant("touch" as const), id: fc.constantFrom(...MAP_IDS) }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant("release" as const),
        id: fc.constantFrom(...MAP_IDS),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("demote" as const),
        value: fc.integer({ min: 1, max: 2 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("sysctl" as const),
        name: fc.constantFrom("nr_hugepages", "nr_overcommit_hugepages"),
        value: fc.nat(8),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("write" as const),
        path: fc.constantFrom(...statePaths),
        value: fc.constantFrom("offline", "online"),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant("write" as const),
        path: fc.constantFrom(HARD_OFFLINE, SOFT_OFFLINE),
        value: fc.constantFrom(...poisonAddrs),
      }),
    },
  ) as fc.Arbitrary<Step>;
}

export function opArbitrary(spec: MachineSpec, faults: number): fc.Arbitrary<CheckOp> {
  const fault =
    faults > 0 ? fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0x7fffffff })) : fc.constant(0);
  return fc.record({ step: stepArbitrary(spec), fault });
}

/** Boot command lines a run may start with (random per seed). */
export function cmdlineChoices(spec: MachineSpec): string[] {
  const sizes = hstateSizes(spec);
  const small = sizes.find((s) => !s.gigantic)?.name ?? sizes[0].name;
  const out = [
    "",
    "hugetlb_free_vmemmap=on",
    `hugepagesz=${small} hugepages=4 hugetlb_free_vmemmap=on`,
  ];
  const gig = sizes.find((s) => s.gigantic && s.name === "1G");
  if (gig)
    out.push(
      "hugetlb_free_vmemmap=on hugepagesz=1G hugepages=1",
      "hugepages=0:2,1:2 hugetlb_free_vmemmap=on",
    );
  return out;
}

// ------------------------------------------------------------------ execution

export const HARD_OFFLINE = "/sys/devices/system/memory/hard_offline_page";
export const SOFT_OFFLINE = "/sys/devices/system/memory/soft_offline_page";

/** mulberry32: the seeded generator the fault injector draws from. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A set of op indexes as a bitmap: a run of 10 million ops keeps its skipped ops in 1.25 MB,
 * not in a Set of millions of numbers.
 */
export class IndexSet {
  private bits = new Uint8Array(64);
  size = 0;
  add(i: number): void {
    const byte = i >>> 3;
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    const m = 1 << (i & 7);
    if (!(this.bits[byte] & m)) this.size++;
    this.bits[byte] |= m;
  }
  has(i: number): boolean {
    const byte = i >>> 3;
    return byte < this.bits.length && (this.bits[byte] & (1 << (i & 7))) !== 0;
  }
  /** How many indexes below `end` the set holds. */
  countBelow(end: number): number {
    let n = 0;
    for (let i = 0; i < end; i++) if (this.has(i)) n++;
    return n;
  }
}

/**
 * Ops drawn one at a time (opStream): a long run holds one op at a time, not all of them.
 * `next()` is called once per op, in order.
 */
export interface OpStream {
  readonly length: number;
  next(): CheckOp;
}

export interface Execution {
  model: Model | null;
  violations: RunViolation[];
  /** Indexes of the ops that ran as no-ops (a touch of a map that does not exist ...). */
  skipped: IndexSet;
  stepsRun: number;
  checks: number;
  faultsInjected: number;
  /** Milliseconds the checker spent per invariant (Checker.timings; empty without a clock). */
  timings: Record<string, number>;
}

/** bootModel() with the mutation switched on before boot. */
export function bootCheckModel(
  spec: MachineSpec,
  design: Design,
  mutation: Mutation | null | undefined,
  faults?: Faults,
): Model {
  return bootModel(spec, design, {
    faults,
    vmemmap: (k) => {
      if (mutation) (k.mutations as Set<Mutation>).add(mutation);
      return createHugetlbVmemmap(k);
    },
  });
}

/**
 * A write the machine has no file for: memory failure on a kernel without
 * CONFIG_MEMORY_FAILURE (the host preset here) still runs memory_failure(), so that the
 * checker drives it on every machine.
 */
function kernelWrite(model: Model, step: Step & { op: "write" }): { errno: number } | null {
  if (model.vfs.exists(step.path)) return null;
  if (step.path === HARD_OFFLINE) {
    const addr = Number(BigInt(String(step.value).trim()));
    const rc = memoryFailure(model.k, model.pool, Math.floor(addr / model.k.pageSize));
    return { errno: rc < 0 ? -rc : 0 };
  }
  return null;
}

/** Whether a step would do nothing on this session (a touch of a map that does not exist ...). */
export function isNoop(session: ModelSession, s: Step): boolean {
  if ((s.op === "touch" || s.op === "release") && !session.maps.has(s.id)) return true;
  return s.op === "map" && session.maps.has(s.id);
}

/** One step, with the writes the model's files do not have yet done through the pool. */
export function applyStep(model: Model, session: ModelSession, s: Step): void {
  if (s.op === "write" && kernelWrite(model, s)) return;
  session.step(s);
}

/** Runs ops on a fresh machine with the checker; stops at the first check that finds something. */
export function execute(cfg: CheckConfig, ops: readonly CheckOp[] | OpStream): Execution {
  const spec = checkMachineSpec(cfg.machine);
  const faults = new Faults();
  const nextOp = Array.isArray(ops)
    ? (i: number) => (ops as readonly CheckOp[])[i]
    : () => (ops as OpStream).next();
  const ex: Execution = {
    model: null,
    violations: [],
    skipped: new IndexSet(),
    stepsRun: 0,
    checks: 0,
    faultsInjected: 0,
    timings: {},
  };
  const fail = (step: number, vs: Violation[]) => {
    for (const v of vs) ex.violations.push({ step, ...v });
  };
  const guard = (step: number, f: () => void): boolean => {
    try {
      f();
      return true;
    } catch (e) {
      if (e instanceof Oops) fail(step, [oopsViolation(e)]);
      else if (e instanceof KernelError)
        fail(step, [{ invariant: "oops", detail: `unexpected ${e.message}` }]);
      else
        fail(step, [
          { invariant: "oops", detail: `the model threw ${(e as Error)?.stack ?? String(e)}` },
        ]);
      return false;
    }
  };
  let model: Model | null = null;
  let checker: Checker | null = null;
  let session: ModelSession | null = null;
  for (const r of cfg.bootFaults ?? []) faults.add(r);
  if (
    !guard(-1, () => {
      model = bootCheckModel(spec, cfg.design, cfg.mutation, faults);
      faults.clearRules();
      checker = new Checker(model.k, { fullEvery: cfg.fullEvery, clock: cfg.clock });
      session = new ModelSession(model);
    })
  )
    return ex;
  const mdl = model as unknown as Model;
  const chk = checker as unknown as Checker;
  const ses = session as unknown as ModelSession;
  ex.model = mdl;
  ex.timings = chk.timings;
  // Boot (with its command line) checked in full, then the reset every scenario starts with.
  fail(-1, chk.check(true));
  ex.checks++;
  if (ex.violations.length) return ex;
  if (!guard(-1, () => ses.reset())) return ex;
  chk.resvHolders = () => ({
    mappings: [...ses.maps.values()].filter((m) => m !== null),
    hugetlbfs: mdl.hugetlbfs,
  });
  chk.afterStep(null);
  const injected = () => {
    let n = 0;
    for (const v of faults.injected.values()) n += v;
    return n;
  };
  const every = Math.max(1, cfg.every);
  for (let i = 0; i < ops.length; i++) {
    if (cfg.progress && i % PROGRESS_EVERY === 0) cfg.progress(i, ops.length);
    const op = nextOp(i);
    const s = op.step;
    if (isNoop(ses, s)) {
      ex.skipped.add(i);
      continue;
    }
    cfg.onStep?.(s);
    const injectedBefore = injected();
    if (cfg.faults > 0 && op.fault) faults.random(cfg.faults, mulberry32(op.fault));
    const ok = guard(i, () => applyStep(mdl, ses, s));
    faults.random(0, () => 1);
    ex.stepsRun++;
    if (!ok) break;
    if (!guard(i, () => mdl.settle())) break;
    chk.afterStep(s, injected() !== injectedBefore);
    if ((i + 1) % every === 0 || i === ops.length - 1) {
      ex.checks++;
      let vs: Violation[] = [];
      if (!guard(i, () => (vs = chk.check(i === ops.length - 1)))) break;
      fail(i, vs);
      if (ex.violations.length) break;
    }
    cfg.onStep?.(null);
  }
  for (const n of faults.injected.values()) ex.faultsInjected += n;
  return ex;
}

// ------------------------------------------------------------------ the run

function memoryName(bytes: number): string {
  return bytes % GiB === 0 ? `${bytes / GiB}G` : `${bytes / 2 ** 20}M`;
}

/** The ops a seed generates (fast-check, deterministic). */
export function generateOps(cfg: CheckConfig): CheckOp[] {
  const spec = checkMachineSpec(cfg.machine);
  const arb = fc.array(opArbitrary(spec, cfg.faults), { minLength: cfg.ops, maxLength: cfg.ops });
  return fc.sample(arb, { seed: cfg.seed, numRuns: 1 })[0];
}

/**
 * fc.array(item, {minLength: n, maxLength: n}) drawn lazily: the array draws its length from
 * the generator first, then every item in turn from the same generator with the same bias;
 * this does the same draws, one item per call of the function it produces.
 */
class LazyArray<T> extends fc.Arbitrary<() => T> {
  constructor(
    private readonly item: fc.Arbitrary<T>,
    private readonly n: number,
  ) {
    super();
  }
  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<() => T> {
    fc.integer({ min: this.n, max: this.n }).generate(mrng, undefined);
    return new fc.Value(() => this.item.generate(mrng, biasFactor).value, undefined);
  }
  canShrinkWithoutContext(_value: unknown): _value is () => T {
    return false;
  }
  shrink(): fc.Stream<fc.Value<() => T>> {
    return fc.Stream.nil();
  }
}

/**
 * The ops of generateOps(cfg), the same ones in the same order, drawn one at a time: memory
 * that does not grow with --ops (test/check/sweep.test.ts compares the two).
 */
export function opStream(cfg: CheckConfig): OpStream {
  const spec = checkMachineSpec(cfg.machine);
  const draw = fc.sample(new LazyArray(opArbitrary(spec, cfg.faults), cfg.ops), {
    seed: cfg.seed,
    numRuns: 1,
  })[0];
  return { length: cfg.ops, next: draw };
}

/** The first n ops of a seed's sequence, as an array (the failing prefix the shrinker gets). */
export function opPrefix(cfg: CheckConfig, n: number): CheckOp[] {
  const s = opStream(cfg);
  return Array.from({ length: Math.min(n, cfg.ops) }, () => s.next());
}

/** The replay of a failing op sequence: a scenario file with the skipped ops left out. */
export function replayFile(
  cfg: CheckConfig,
  ops: readonly CheckOp[],
  ex: Execution,
): RunResult["replay"] {
  const kept = ops.filter((_, i) => !ex.skipped.has(i));
  const first = ex.violations[0];
  const stepInKept = first ? first.step - ex.skipped.countBelow(first.step) : -1;
  return {
    format: SCENARIO_FORMAT,
    "x-check": {
      preset: cfg.machine.preset,
      memory: memoryName(cfg.machine.memoryBytes),
      nodes: cfg.machine.nodes,
      cmdline: cfg.machine.cmdline,
      design: cfg.design,
      seed: cfg.seed,
      faults: cfg.faults,
      faultSeeds: kept.map((o) => o.fault),
      mutation: cfg.mutation ?? null,
      every: cfg.every,
      step: stepInKept,
      invariant: first?.invariant ?? "",
    },
    scenarios: [
      {
        id: `hvo-check-${cfg.seed}`,
        desc: `hvo check --seed ${cfg.seed} --design ${cfg.design}: ${first ? `${first.invariant} at step ${stepInKept}` : "no violation"}`,
        steps: kept.map((o) => o.step),
      },
    ],
  };
}

/**
 * One seeded run: generate, execute; on a violation, shrink the failing prefix with
 * fast-check (same seed) to a minimal sequence that still violates an invariant.
 */
export function checkRun(cfg: CheckConfig): RunResult {
  // Drawn as they run: only a failure's prefix is ever held whole (for the shrinker).
  const ex = execute(cfg, opStream(cfg));
  const base: RunResult = {
    machine: cfg.machine.preset,
    design: cfg.design,
    seed: cfg.seed,
    ops: ex.stepsRun,
    faults: ex.faultsInjected,
    violations: ex.violations,
    stepsRun: ex.stepsRun,
    checks: ex.checks,
    shrinkRuns: 0,
  };
  if (!ex.violations.length) return base;
  const failAt = Math.max(0, ex.violations[0].step);
  const prefix = opPrefix(cfg, failAt + 1);
  const spec = checkMachineSpec(cfg.machine);
  const budget = cfg.shrinkRuns ?? SHRINK_RUNS;
  if (budget <= 0) {
    base.replay = replayFile(cfg, prefix, ex);
    return base;
  }
  const quiet: CheckConfig = { ...cfg, progress: undefined, onStep: undefined };
  let runs = 0;
  let best = prefix;
  let bestEx = ex;
  const prop = fc.property(
    fc.array(opArbitrary(spec, cfg.faults), { maxLength: prefix.length }),
    (candidate) => {
      // Budget spent: everything passes, so fast-check stops with the smallest failure so far.
      if (runs >= budget) return true;
      runs++;
      const r = execute(quiet, candidate);
      if (r.violations.length === 0) return true;
      if (candidate.length <= best.length) {
        best = candidate;
        bestEx = r;
      }
      return false;
    },
  );
  fc.check(prop, { seed: cfg.seed, numRuns: 1, examples: [[prefix]] });
  // The minimal sequence once more, for its details (deterministic).
  const final = best === prefix && bestEx === ex ? ex : execute(quiet, best);
  base.violations = final.violations.length ? final.violations : ex.violations;
  base.replay = replayFile(cfg, best, final.violations.length ? final : bestEx);
  base.shrinkRuns = runs;
  return base;
}

/** Replays a file written by checkRun (or any scenario) under the checker. */
export function replayRun(
  file: ScenarioFile & { "x-check"?: Partial<ReplayInfo> },
  over: Partial<CheckConfig> = {},
): Execution {
  const x = file["x-check"] ?? {};
  const memory = x.memory ?? "4G";
  const memoryBytes = memory.endsWith("G")
    ? Number(memory.slice(0, -1)) * GiB
    : Number(memory.slice(0, -1)) * 2 ** 20;
  const cfg: CheckConfig = {
    machine: {
      preset: x.preset ?? "x86_64",
      memoryBytes,
      nodes: x.nodes ?? 2,
      cmdline: x.cmdline ?? "",
    },
    design: (x.design as Design) ?? "mainline",
    seed: x.seed ?? 0,
    ops: 0,
    every: x.every ?? 1,
    faults: x.faults ?? 0,
    mutation: x.mutation ?? null,
    bootFaults: x.bootFaults,
    ...over,
  };
  const steps = file.scenarios.flatMap((s) => s.steps);
  const seeds = x.faultSeeds ?? [];
  const ops = steps.map((step, i) => ({ step, fault: seeds[i] ?? 0 }));
  cfg.ops = ops.length;
  return execute(cfg, ops);
}

export function isMutation(name: string): name is Mutation {
  return (MUTATIONS as readonly string[]).includes(name);
}

/** The default check machine of a preset: 4 GiB on 2 nodes (the arm64-64k preset: 4 GiB too). */
export function defaultCheckMachine(preset: string, cmdline = ""): CheckMachine {
  return { preset, memoryBytes: 4 * GiB, nodes: 2, cmdline };
}
