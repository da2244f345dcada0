// hvo diff FILE: the scenario file on the model and on a real kernel, then a table of every
// exact field (compare.ts) that differs, and of the kpageflags words of `kpf` steps. Exit
// status 1 when one does.
//   --against live (default): this machine's kernel (src/live/run.ts runLive); the model is
//     --machine (default host) with --design (default legacy: what the live 6.18 runs). When
//     the live kernel cannot be used the command says why and exits 0 without comparing.
//   --against vm:debian-7.2 | vm:PATH: a kernel booted under QEMU (src/live/vm/run.ts runVm)
//     with --memory/--nodes/--cmdline (or the scenario's `vm` shape); the model is the same
//     guest (src/live/vm/machine.ts vmMachineSpec) with --design (default mainline: 7.1+).
// --recording FILE: a recording whose `nondeterministic` lists say which fields to skip.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { Design } from "../../kernel.ts";
import type { MachineSpec } from "../../machine/spec.ts";
import { bootModel } from "../../model.ts";
import { compareResults, type Difference } from "../../scenario/compare.ts";
import {
  FormatError,
  type KpfPage,
  parseJsonText,
  parseRecording,
  parseScenarioFile,
  type Recording,
  RESULT_FORMAT,
  type Result,
  type ResultScenario,
  type ScenarioFile,
} from "../../scenario/format.ts";
import { runModel } from "../../scenario/run_model.ts";
import { ExitStatus, type Io, UsageError } from "../io.ts";
import { DESIGN_HELP, MACHINE_HELP, resolveDesign, resolveMachine } from "../machine_arg.ts";
import { loadScenarioFile } from "./run.ts";

// ------------------------------------------------------------------ comparing

/**
 * The kpageflags and kpagecount words of every `kpf` step (the selftest hugepage-vmemmap's
 * check): the head word, the run-length encoded words of all subpages, the counts. Pfns are
 * informational and not compared.
 */
export function kpfDifferences(
  expected: Pick<Result, "scenarios">,
  actual: Pick<Result, "scenarios">,
): Difference[] {
  const diffs: Difference[] = [];
  for (const [id, act] of Object.entries(actual.scenarios)) {
    const exp = expected.scenarios[id];
    if (!exp) continue;
    const n = Math.min(exp.steps.length, act.steps.length);
    for (let i = 0; i < n; i++) {
      const e = exp.steps[i];
      const a = act.steps[i];
      if (e.step.op !== "kpf" || a.step.op !== "kpf") continue;
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

/** Every difference between a real kernel's result and the model's, in the fields we model. */
export function differences(
  real: Pick<Result, "scenarios">,
  model: Pick<Result, "scenarios">,
  nondeterministic?: Pick<Recording, "scenarios">,
): Difference[] {
  return [
    ...compareResults(real, model, { nondeterministic }),
    ...kpfDifferences(real, model),
  ].sort((a, b) =>
    a.scenario === b.scenario ? (a.step ?? -1) - (b.step ?? -1) : a.scenario < b.scenario ? -1 : 1,
  );
}

export interface DiffOutcome {
  /** "live" or "vm:debian-7.2". */
  against: string;
  real: Result;
  model: Result;
  diffs: Difference[];
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

/** The real kernel could not be used (not root, no HugeTLB, no compiler, the lock, QEMU). */
export class RealKernelUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RealKernelUnavailable";
  }
}

/** The scenario file on the live kernel and on the model. */
export async function diffLive(sf: ScenarioFile, opts: LiveDiffOptions = {}): Promise<DiffOutcome> {
  const { runLive } = await import("../../live/run.ts");
  let real: Result;
  try {
    real = await runLive(sf, { ...opts.live, only: opts.only });
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new RealKernelUnavailable((e as Error).message ?? String(e));
  }
  const spec = opts.machine ?? resolveMachine("host");
  const model = runModel(bootModel(spec, opts.design ?? "legacy"), sf, {
    only: opts.only,
    machine: spec.name,
  });
  return { against: "live", real, model, diffs: differences(real, model, opts.nondeterministic) };
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
   * true): measured from the first observation of each boot (guestOtherUsedPages).
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
  const { vmMachineSpec, guestOtherUsedPages } = await import("../../live/vm/machine.ts");
  const { parseMemoryMiB, shapeKey } = await import("../../live/vm/qemu.ts");
  type Shape = import("../../live/vm/qemu.ts").VmShape;
  const groups = new Map<string, { shape: Shape; ids: string[] }>();
  for (const sc of file.scenarios) {
    const r = real.scenarios[sc.id] as (ResultScenario & { vm?: Shape }) | undefined;
    if (!r?.vm) continue;
    const key = shapeKey(r.vm);
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
    });
    const initial = real.scenarios[ids[0]]?.initial;
    if ((opts.calibrate ?? true) && initial) {
      const other = guestOtherUsedPages(spec, initial);
      if (other) spec = { ...spec, otherUsedPages: other };
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
    diffs: differences(real, model, opts.nondeterministic),
  };
}

// ------------------------------------------------------------------ the command

function table(diffs: Difference[], against: string): string {
  const rows = diffs.map((d) => [
    d.scenario,
    d.step === null ? "-" : String(d.step),
    d.field,
    JSON.stringify(d.expected),
    JSON.stringify(d.actual),
  ]);
  const head = ["scenario", "step", "field", against, "model"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `${r.map((c, i) => c.padEnd(w[i])).join("  ")}\n`;
  return line(head) + rows.map(line).join("");
}

interface DiffFlags {
  against: string;
  machine?: string;
  design?: string;
  only?: string;
  memory?: string;
  nodes?: string;
  cmdline?: string;
  recording?: string;
  install?: boolean;
}

function loadRecording(path: string): Recording {
  try {
    return parseRecording(parseJsonText(readFileSync(path, "utf8"), path));
  } catch (e) {
    throw new UsageError(`--recording ${path}: ${(e as Error).message}`);
  }
}

function report(io: Io, out: DiffOutcome): void {
  if (out.diffs.length === 0) {
    io.out(
      `no differences in the exact fields (${Object.keys(out.model.scenarios).length} scenarios)\n`,
    );
    return;
  }
  io.out(table(out.diffs, out.against));
  throw new ExitStatus(1);
}

export function register(program: Command, io: Io): void {
  program
    .command("diff")
    .description(
      "run a scenario file on the model and on a real kernel (live, or in a VM); print the exact fields that differ",
    )
    .argument("<file>", "an hvo-scenario/1 JSON file")
    .option(
      "--against <target>",
      "live (this machine's kernel) or vm:debian-7.2 / vm:PATH (a kernel under QEMU)",
      "live",
    )
    .option("--machine <m>", `${MACHINE_HELP} (live only; default host)`)
    .option("--design <d>", `${DESIGN_HELP} (default legacy for live, mainline for vm)`)
    .option("--only <ids>", "only these scenarios (comma-separated ids)")
    .option("--memory <size>", "vm: guest RAM, e.g. 6G (default: the scenario's, else 6G)")
    .option("--nodes <n>", "vm: NUMA nodes (default: the scenario's, else 1)")
    .option("--cmdline <params>", "vm: extra boot parameters for the guest and the model")
    .option("--recording <file>", "skip the fields this recording lists as nondeterministic")
    .option("--install", "vm: install missing QEMU pieces and download the kernel (root)")
    .action(async (file: string, opts: DiffFlags) => {
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
        const machine = resolveMachine(opts.machine ?? "host");
        const design = resolveDesign(opts.design ?? "legacy");
        const sf = loadScenarioFile(file);
        let out: DiffOutcome;
        try {
          out = await diffLive(sf, { machine, design, only, nondeterministic });
        } catch (e) {
          if (e instanceof FormatError) throw new UsageError(`${file}: ${e.message}`);
          if (!(e instanceof RealKernelUnavailable)) throw e;
          io.err(`hvo diff: the live kernel is not available (${e.message}); nothing compared\n`);
          return;
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
      const design = resolveDesign(opts.design ?? "mainline");
      const { parseMemoryMiB } = await import("../../live/vm/qemu.ts");
      const { VmSetupError } = await import("../../live/vm/pieces.ts");
      const { loadScenarioJson } = await import("../../live/vm/run.ts");
      const shape: { memory?: string; nodes?: number; cmdline?: string } = {};
      try {
        if (opts.memory !== undefined) {
          parseMemoryMiB(opts.memory);
          shape.memory = opts.memory;
        }
        if (opts.nodes !== undefined) {
          const n = Number(opts.nodes);
          if (!Number.isInteger(n) || n < 1 || n > 8)
            throw new UsageError(`--nodes ${opts.nodes}: a number from 1 to 8`);
          shape.nodes = n;
        }
        if (opts.cmdline !== undefined) shape.cmdline = opts.cmdline;
        const raw = loadScenarioJson(file);
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
        if (e instanceof VmSetupError || e instanceof FormatError) throw new UsageError(e.message);
        throw e;
      }
    });
}
