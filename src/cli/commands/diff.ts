// hvo diff FILE: the scenario file on the model and on a real kernel, then a table of every
// exact field (compare.ts) that differs, and of the kpageflags words of `kpf` steps. Exit
// status 1 when one does.
//   --against live (default): this machine's kernel (src/live/run.ts runLive); the model is
//     --machine (default host) with --design (default legacy: what the live 6.18 runs). When
//     the live kernel cannot be used (not root, no HugeTLB) or its run broke (hvoexec failed,
//     the machine could not be restored) the command says which and exits 2: never 0 with
//     nothing compared. Steps the kernel skipped (an hstate it lacks) are named, not compared.
//   --against vm:debian-7.2 | vm:PATH: a kernel booted under QEMU (src/live/vm/run.ts runVm)
//     with --memory/--nodes/--cmdline (or the scenario's `vm` shape); the model is the same
//     guest (src/live/vm/machine.ts vmMachineSpec) with --design (default mainline: 7.1+).
// --recording FILE: a recording whose `nondeterministic` lists say which fields to skip.
import { readFileSync } from "node:fs";
import type { Design } from "../../kernel.ts";
import type { MachineSpec } from "../../machine/spec.ts";
import { bootModel } from "../../model.ts";
import {
  compareResultsDetailed,
  type Difference,
  formatSkipped,
  type SkippedStep,
  showValue,
} from "../../scenario/compare.ts";
import type {
  KpfPage,
  Recording,
  Result,
  ResultScenario,
  ScenarioFile,
} from "../../scenario/format.ts";
import { parseRecording, parseScenarioFile } from "../../scenario/format.ts";
import { FormatError, hstateName, parseJsonText, RESULT_FORMAT } from "../../scenario/names.ts";
import { runModel } from "../../scenario/run_model.ts";
import { HvoexecError } from "../../live/hvoexec.ts";
import { ExitStatus, type Io, UsageError } from "../io.ts";
import { resolveDesign, resolveMachine } from "../machine_arg.ts";
import {
  loadScenarioFile,
  parseSizesFlag,
  rawWithoutReset,
  withoutReset,
} from "../scenario_arg.ts";

// ------------------------------------------------------------------ comparing

/**
 * The kpageflags and kpagecount words of every `kpf` step (the selftest hugepage-vmemmap's
 * check): the head word, the run-length encoded words of all subpages, the counts. Pfns are
 * informational and not compared.
 */
export function kpfDifferences(
  expected: Pick<Result, "scenarios">,
  actual: Pick<Result, "scenarios">,
  skipped: readonly SkippedStep[] = [],
): Difference[] {
  const skip = new Set(skipped.map((s) => `${s.scenario}\0${s.step}`));
  const diffs: Difference[] = [];
  for (const [id, act] of Object.entries(actual.scenarios)) {
    const exp = expected.scenarios[id];
    if (!exp) continue;
    const n = Math.min(exp.steps.length, act.steps.length);
    for (let i = 0; i < n; i++) {
      const e = exp.steps[i];
      const a = act.steps[i];
      if (e.step.op !== "kpf" || a.step.op !== "kpf") continue;
      if (e.skipped !== undefined || a.skipped !== undefined || skip.has(`${id}\0${i}`)) continue;
      const ep = e.kpf ?? [];
      const ap = a.kpf ?? [];
      if (ep.length !== ap.length)
        diffs.push({
          scenario: id,
          step: i,
          field: "kpf.pages",
          expected: ep.length,
          actual: ap.length,
        });
      for (let p = 0; p < Math.min(ep.length, ap.length); p++) {
        const fields: (keyof KpfPage)[] = ["nr", "head_flags", "head_count", "flags", "counts"];
        for (const f of fields) {
          const ev = JSON.stringify(ep[p][f]);
          const av = JSON.stringify(ap[p][f]);
          if (ev !== av)
            diffs.push({
              scenario: id,
              step: i,
              field: `kpf[${p}].${f}`,
              expected: ep[p][f],
              actual: ap[p][f],
            });
        }
      }
    }
  }
  return diffs;
}

/**
 * Every difference between a real kernel's result and the model's, in the fields we model,
 * and the steps left out (one side skipped them: an hstate its machine lacks).
 */
export function comparison(
  real: Pick<Result, "scenarios" | "absent_hstates">,
  model: Pick<Result, "scenarios" | "absent_hstates">,
  nondeterministic?: Pick<Recording, "scenarios">,
  memFree = false,
): { diffs: Difference[]; skipped: SkippedStep[] } {
  const c = compareResultsDetailed(real, model, { nondeterministic, memFree });
  const diffs = [...c.diffs, ...kpfDifferences(real, model, c.skipped)].sort((a, b) =>
    a.scenario === b.scenario ? (a.step ?? -1) - (b.step ?? -1) : a.scenario < b.scenario ? -1 : 1,
  );
  return { diffs, skipped: c.skipped };
}

/** Every difference between a real kernel's result and the model's, in the fields we model. */
export function differences(
  real: Pick<Result, "scenarios" | "absent_hstates">,
  model: Pick<Result, "scenarios" | "absent_hstates">,
  nondeterministic?: Pick<Recording, "scenarios">,
): Difference[] {
  return comparison(real, model, nondeterministic).diffs;
}

export interface DiffOutcome {
  /** "live" or "vm:debian-7.2". */
  against: string;
  real: Result;
  model: Result;
  diffs: Difference[];
  /** Steps not compared, by name and reason. */
  skipped: SkippedStep[];
}

// ------------------------------------------------------------------ the live kernel

export interface LiveDiffOptions {
  /** The model's machine (default: the host preset, read from this machine). */
  machine?: MachineSpec;
  design?: Design;
  only?: readonly string[];
  nondeterministic?: Pick<Recording, "scenarios">;
  /** Passed to runLive (a lock already held, progress). */
  live?: import("../../live/run.ts").LiveOptions;
}

/** The real kernel cannot be used on this host (not Linux, not root, no HugeTLB, no compiler). */
export class RealKernelUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RealKernelUnavailable";
  }
}

/**
 * The real kernel could be used but the run broke: hvoexec failed, the machine could not be
 * restored, the lock was not had. Never a reason to skip.
 */
export class RealKernelBroke extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RealKernelBroke";
  }
}

/**
 * The model's machine without the hstates the live run went without (`sizesKb`, or a CPU
 * without 1 GiB pages): the same machine as the kernel the model is compared with.
 */
export function withoutHstates(spec: MachineSpec, absent: readonly string[]): MachineSpec {
  const kbOf = (order: number) => 2 ** (order + spec.arch.pageShift - 10);
  const keep = spec.arch.hstateOrders.filter((o) => !absent.includes(hstateName(kbOf(o))));
  if (keep.length === spec.arch.hstateOrders.length) return spec;
  const out: MachineSpec = { ...spec, arch: { ...spec.arch, hstateOrders: keep } };
  // x86_64's 1 GiB hstate exists only with GBPAGES: a machine without it has no such CPU flag.
  if (spec.cpu && absent.includes("1G")) out.cpu = { ...spec.cpu, gbpages: false };
  return out;
}

/** The scenario file on the live kernel and on the model. */
export async function diffLive(sf: ScenarioFile, opts: LiveDiffOptions = {}): Promise<DiffOutcome> {
  const { runLive, isLiveUnavailable } = await import("../../live/run.ts");
  let real: Result;
  try {
    real = await runLive(sf, { ...opts.live, only: opts.only });
  } catch (e) {
    if (e instanceof FormatError) throw e;
    const message = (e as Error).message ?? String(e);
    if (isLiveUnavailable(e)) throw new RealKernelUnavailable(message);
    throw new RealKernelBroke(message);
  }
  const spec = withoutHstates(
    opts.machine ?? (await resolveMachine("host")),
    real.absent_hstates ?? [],
  );
  const model = runModel(bootModel(spec, opts.design ?? "legacy"), sf, {
    only: opts.only,
    machine: spec.name,
  });
  return { against: "live", real, model, ...comparison(real, model, opts.nondeterministic) };
}

// ------------------------------------------------------------------ a kernel in QEMU

export interface VmDiffOptions {
  /** "debian-7.2" (default) or a bzImage / vmlinux path. */
  kernel?: string;
  design?: Design;
  /** --memory / --nodes / --cmdline; unset ones come from the scenario file's `vm` shapes. */
  shape?: Partial<import("../../live/vm/qemu.ts").VmShape>;
  only?: readonly string[];
  nondeterministic?: Pick<Recording, "scenarios">;
  install?: boolean;
  progress?: (line: string) => void;
  /**
   * Take the pages the guest's kernel holds after boot from the model's buddy as well (default
   * true): measured from the first observation of each boot (calibratedToGuest)
   */
  calibrate?: boolean;
}

/**
 * The model's side of a VM run: each scenario on vmMachineSpec() of the shape it ran on in the
 * guest, scenarios of one shape sharing one booted model in file order, as they shared a boot.
 */
export async function runModelLikeVm(
  file: ScenarioFile,
  real: Result,
  opts: Pick<VmDiffOptions, "design" | "calibrate"> = {},
): Promise<{ result: Result; specs: Map<string, MachineSpec> }> {
  const { vmMachineSpec, calibratedToGuest, guestOfVmResult } = await import(
    "../../live/vm/machine.ts"
  );
  const { parseMemoryMiB } = await import("../../live/vm/qemu.ts");
  const { bootKey } = await import("../../live/vm/run.ts");
  type Shape = import("../../live/vm/qemu.ts").VmShape;
  const groups = new Map<string, { shape: Shape; ids: string[] }>();
  for (const sc of file.scenarios) {
    const r = real.scenarios[sc.id] as (ResultScenario & { vm?: Shape }) | undefined;
    if (!r?.vm) continue;
    // The boots of the VM run: a `reset: false` scenario had one of its own.
    const key = bootKey(r.vm, sc);
    const g = groups.get(key) ?? { shape: r.vm, ids: [] };
    g.ids.push(sc.id);
    groups.set(key, g);
  }
  const scenarios: Record<string, ResultScenario> = {};
  const specs = new Map<string, MachineSpec>();
  for (const { shape, ids } of groups.values()) {
    let spec = vmMachineSpec({
      memoryBytes: parseMemoryMiB(shape.memory) * 2 ** 20,
      nodes: shape.nodes,
      cmdline: shape.cmdline,
      ...guestOfVmResult(real),
    });
    if (opts.calibrate ?? true) {
      // The boot's /proc/pagetypeinfo, where the run read it (runVm(): every scenario of a boot).
      const first = real.scenarios[ids[0]];
      const types = typeof first?.pagetypeinfo === "string" ? first.pagetypeinfo : undefined;
      spec = calibratedToGuest(spec, first?.initial, types);
    }
    const r = runModel(bootModel(spec, opts.design ?? "mainline"), file, {
      only: ids,
      machine: spec.name,
    });
    for (const id of ids) {
      scenarios[id] = r.scenarios[id];
      specs.set(id, spec);
    }
  }
  const ordered: Record<string, ResultScenario> = {};
  for (const sc of file.scenarios) if (scenarios[sc.id]) ordered[sc.id] = scenarios[sc.id];
  return {
    result: {
      format: RESULT_FORMAT,
      machine: "vm-model",
      design: opts.design ?? "mainline",
      scenarios: ordered,
    },
    specs,
  };
}

/** The scenario file (raw JSON, with its `vm` shapes) in the VM and on the model of that VM. */
export async function diffVm(
  raw: unknown,
  opts: VmDiffOptions = {},
): Promise<DiffOutcome & { specs: Map<string, MachineSpec> }> {
  const { runVm } = await import("../../live/vm/run.ts");
  const file = parseScenarioFile(raw);
  const real = await runVm(raw, {
    kernel: opts.kernel,
    shape: opts.shape,
    only: opts.only,
    install: opts.install,
    progress: opts.progress,
  });
  const { result: model, specs } = await runModelLikeVm(file, real, opts);
  return {
    against: real.machine,
    real,
    model,
    specs,
    // MemFree changes of freeing steps too: a guest is quiet enough (compare.ts).
    ...comparison(real, model, opts.nondeterministic, true),
  };
}

// ------------------------------------------------------------------ the command

/** The differences as a table: scenario, step, field, the kernel's value, the model's. */
export function table(diffs: Difference[], against: string): string {
  const rows = diffs.map((d) => [
    d.scenario,
    d.step === null ? "-" : String(d.step),
    d.field,
    showValue(d.expected),
    showValue(d.actual),
  ]);
  const head = ["scenario", "step", "field", against, "model"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `${r.map((c, i) => c.padEnd(w[i])).join("  ")}\n`;
  return line(head) + rows.map(line).join("");
}

/** Options of `hvo diff` (src/cli/register/diff.ts). */
export interface DiffFlags {
  against: string;
  machine?: string;
  design?: string;
  only?: string;
  memory?: string;
  nodes?: string;
  cmdline?: string;
  recording?: string;
  install?: boolean;
  sizes?: string;
  /** false with --no-reset. */
  reset?: boolean;
}

function loadRecording(path: string): Recording {
  try {
    return parseRecording(parseJsonText(readFileSync(path, "utf8"), path));
  } catch (e) {
    throw new UsageError(`--recording ${path}: ${(e as Error).message}`);
  }
}

function report(io: Io, out: DiffOutcome): void {
  for (const s of out.skipped) io.out(`${formatSkipped(s)}\n`);
  const skippedNote = out.skipped.length ? `; ${out.skipped.length} steps skipped` : "";
  if (out.diffs.length === 0) {
    io.out(
      `no differences in the exact fields (${Object.keys(out.model.scenarios).length} scenarios${skippedNote})\n`,
    );
    return;
  }
  io.out(table(out.diffs, out.against));
  throw new ExitStatus(1);
}

export async function diffAction(io: Io, file: string, opts: DiffFlags): Promise<void> {
  const only = opts.only
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const nondeterministic = opts.recording ? loadRecording(opts.recording) : undefined;
  const against = opts.against.trim();
  if (against === "live") {
    for (const f of ["memory", "nodes", "cmdline"] as const)
      if (opts[f] !== undefined)
        throw new UsageError(`--${f} is for --against vm:..., not the live kernel`);
    // The host's layout is read after the live run: a user who cannot run it hears why first.
    const machine = opts.machine !== undefined ? await resolveMachine(opts.machine) : undefined;
    const design = resolveDesign(opts.design ?? "legacy");
    const sizesKb = opts.sizes !== undefined ? parseSizesFlag(opts.sizes) : undefined;
    const sf = withoutReset(await loadScenarioFile(file), opts.reset);
    let out: DiffOutcome;
    try {
      out = await diffLive(sf, { machine, design, only, nondeterministic, live: { sizesKb } });
    } catch (e) {
      if (e instanceof FormatError) throw new UsageError(`${file}: ${e.message}`);
      if (e instanceof RealKernelUnavailable) {
        io.err(`hvo diff: the live kernel cannot run here: ${e.message}\n`);
        throw new ExitStatus(2);
      }
      if (e instanceof RealKernelBroke) {
        io.err(`hvo diff: the live kernel's run broke: ${e.message}\n`);
        throw new ExitStatus(2);
      }
      throw e;
    }
    report(io, out);
    return;
  }
  const m = /^vm:(.+)$/.exec(against);
  if (!m)
    throw new UsageError(`--against ${against}: give live, vm:debian-7.2 or vm:PATH_TO_KERNEL`);
  if (opts.machine !== undefined)
    throw new UsageError(
      "--machine is for --against live: in a VM the model boots the guest's machine",
    );
  if (opts.sizes !== undefined) throw new UsageError("--sizes is for --against live");
  const design = resolveDesign(opts.design ?? "mainline");
  const { VmSetupError, parseDebianKernelSpec } = await import("../../live/vm/pieces.ts");
  try {
    parseDebianKernelSpec(m[1]); // an unknown flavour is the user's mistake, not a broken VM
  } catch (e) {
    throw new UsageError(
      `--against ${against}: ${(e as Error).message.replace(/^--kernel \S+: /, "")}`,
    );
  }
  const { loadScenarioJson } = await import("../../live/vm/run.ts");
  const { guestShape } = await import("./vm.ts");
  try {
    const shape = guestShape(opts);
    const raw = rawWithoutReset(loadScenarioJson(file), opts.reset);
    const out = await diffVm(raw, {
      kernel: m[1],
      design,
      shape,
      only,
      nondeterministic,
      install: opts.install,
      progress: (line) => io.err(`hvo diff: ${line}\n`),
    });
    report(io, out);
  } catch (e) {
    if (e instanceof FormatError) throw new UsageError(e.message);
    // The VM could not be had, or it broke (a bad download, a guest that crashed, its
    // hvoexec failing): exit 2 with the reason, never a comparison of nothing.
    if (e instanceof VmSetupError || e instanceof HvoexecError) {
      const what = e instanceof VmSetupError && e.unavailable ? "cannot run here" : "broke";
      io.err(`hvo diff: the kernel in the VM ${what}: ${e.message}\n`);
      throw new ExitStatus(2);
    }
    throw e;
  }
}
