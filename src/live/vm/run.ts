// hvo vm: runs hvo-scenario/1 files on a real kernel booted under QEMU, with the same driver
// as hvo live (src/live/driver.ts) speaking hvoexec/1 to the guest. Scenarios that need the
// same machine shape (memory, nodes, boot command line) share one boot; each scenario still
// starts and ends with the FORMAT.md reset, inside the guest. Nothing on the host's own
// HugeTLB pool is touched, so no live lock is taken.
import fs from "node:fs";
import { z } from "zod";
import { nondeterminism } from "../../scenario/compare.ts";
import type {
  RecordedScenario,
  Recording,
  Result,
  ResultScenario,
  Run,
  Scenario,
} from "../../scenario/format.ts";
import { parseScenarioFile } from "../../scenario/format.ts";
import {
  FormatError,
  hstateName,
  parseJsonText,
  RECORDING_FORMAT,
  RESULT_FORMAT,
} from "../../scenario/names.ts";
import { parseMeminfo } from "../../scenario/observe.ts";
import {
  type DriverHooks,
  hello,
  type ObserveSettings,
  runScenarioVia,
  type Topology,
} from "../driver.ts";
import type { HvoexecChannel } from "../hvoexec.ts";
import { hstatesOfRun } from "../run.ts";
import { buildInitramfs } from "./initramfs.ts";
import {
  ensureHostTools,
  GUEST_TOOLS,
  type GuestArch,
  type KernelPieces,
  resolveKernel,
  VmSetupError,
} from "./pieces.ts";
import {
  DEFAULT_SHAPE,
  guestChannel,
  parseMemoryMiB,
  shapeKey,
  VmGuest,
  type VmShape,
} from "./qemu.ts";

/**
 * The optional machine a scenario (or a whole file) asks for:
 * `"vm": {"memory": "6G", "nodes": 2, "cmdline": "hugepagesz=1G hugepages=2"}`.
 * hvo run and hvo live ignore it; hvo vm boots a machine of that shape for the scenario.
 */
export const vmShapeSchema = z.strictObject({
  memory: z
    .string()
    .regex(/^\d+\s*[MmGg]?$/, 'a size like "6G" or "4096M"')
    .optional(),
  nodes: z.number().int().min(1).max(8).optional(),
  cmdline: z.string().optional(),
});
export type VmShapeSpec = z.infer<typeof vmShapeSchema>;

/** The `vm` fields of a scenario file's raw JSON: file-wide and per scenario id. */
export function readVmShapes(raw: unknown): { file: VmShapeSpec; byId: Map<string, VmShapeSpec> } {
  const byId = new Map<string, VmShapeSpec>();
  const parse = (v: unknown, where: string): VmShapeSpec => {
    if (v === undefined) return {};
    const r = vmShapeSchema.safeParse(v);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new FormatError(
        `${where}.vm${issue.path.map((p) => `.${String(p)}`).join("")}: ${issue.message}`,
      );
    }
    return r.data;
  };
  const obj = (raw ?? {}) as { vm?: unknown; scenarios?: { id?: unknown; vm?: unknown }[] };
  const file = parse(obj.vm, "(file)");
  (obj.scenarios ?? []).forEach((s, i) => {
    if (s && typeof s.id === "string") byId.set(s.id, parse(s.vm, `scenarios[${i}]`));
  });
  return { file, byId };
}

/**
 * The shape a scenario runs on: flags given on the command line win for memory and nodes, then
 * the scenario's own `vm`, then the file's, then the default; command lines add up (scenario,
 * file, then the flag's, so that a later parameter of the user wins where the kernel takes the
 * last one).
 */
export function effectiveShape(
  cli: Partial<VmShape>,
  scenario: VmShapeSpec,
  file: VmShapeSpec,
): VmShape {
  const cmdline = [file.cmdline, scenario.cmdline, cli.cmdline]
    .map((c) => (c ?? "").trim())
    .filter(Boolean)
    .join(" ");
  return {
    memory: cli.memory ?? scenario.memory ?? file.memory ?? DEFAULT_SHAPE.memory,
    nodes: cli.nodes ?? scenario.nodes ?? file.nodes ?? DEFAULT_SHAPE.nodes,
    cmdline,
  };
}

export interface VmOptions extends DriverHooks, ObserveSettings {
  /** "debian-7.2" (default) or a path to a bzImage / vmlinux. */
  kernel?: string;
  /** Machine shape from the command line; unset fields come from the scenario file. */
  shape?: Partial<VmShape>;
  /** Install missing host tools with apt-get and download the kernel (root). */
  install?: boolean;
  only?: readonly string[];
  /** Progress lines for people (stderr). */
  progress?: (line: string) => void;
}

/** What a boot and its scenarios cost, for people and for docs/vm.md. */
export interface VmTiming {
  shape: VmShape;
  bootMs: number;
  scenarios: { id: string; ms: number; steps: number }[];
}

interface Prepared {
  kernel: KernelPieces;
  initrd: string;
  qemu: string;
}

async function prepare(opts: VmOptions): Promise<Prepared> {
  const log = opts.progress ? (s: string) => opts.progress?.(s.trimEnd()) : undefined;
  const kernel = await resolveKernel(opts.kernel ?? "debian-7.2", { install: opts.install, log });
  const qemuTool = GUEST_TOOLS[kernel.arch].qemu;
  const qemu = (await ensureHostTools([qemuTool], { install: opts.install, log }))[qemuTool];
  const initrd = await buildInitramfs({ install: opts.install, log, arch: kernel.arch });
  return { kernel, initrd, qemu };
}

export interface BootedVm {
  guest: VmGuest;
  ch: HvoexecChannel;
  topo: Topology;
  /** /proc/version, /proc/cmdline and MemTotal of the guest. */
  version: string;
  cmdline: string;
  memTotalKb: number;
}

async function readGuest(ch: HvoexecChannel, path: string): Promise<string> {
  const r = await ch.request("read", { path });
  return r.ok && r.rc === 0 ? String(r.text) : "";
}

/** Boots one machine shape; the caller closes it with shutdown(). */
export async function bootVm(p: Prepared, shape: VmShape, opts: VmOptions = {}): Promise<BootedVm> {
  const guest = await VmGuest.boot({
    qemu: p.qemu,
    kernel: p.kernel.image,
    initrd: p.initrd,
    shape,
    arch: p.kernel.arch,
    log: opts.progress ? (s) => opts.progress?.(s.trimEnd()) : undefined,
  });
  const ch = guestChannel(guest);
  try {
    const topo = await hello(ch);
    const version = (await readGuest(ch, "/proc/version")).trim();
    const cmdline = (await readGuest(ch, "/proc/cmdline")).trim();
    const memTotalKb = parseMeminfo(await readGuest(ch, "/proc/meminfo")).get("MemTotal") ?? 0;
    return { guest, ch, topo, version, cmdline, memTotalKb };
  } catch (e) {
    guest.kill();
    throw e;
  }
}

/**
 * Throws when the guest's kernel printed an Oops, a BUG or a panic (a broken oracle), other
 * than the lines `allow` passes.
 */
export function checkGuestKernel(vm: BootedVm, allow?: (line: string) => boolean): void {
  const trouble = vm.guest.kernelTrouble(allow);
  if (trouble) throw new VmSetupError(`the guest's kernel broke: ${trouble}`);
}

/**
 * Closes the guest; fails when its kernel printed an Oops, a BUG or a panic while it ran (the
 * console is read first: closing removes it).
 */
export async function shutdown(vm: BootedVm, allow?: (line: string) => boolean): Promise<void> {
  const trouble = vm.guest.kernelTrouble(allow);
  await vm.ch.close();
  if (trouble) throw new VmSetupError(`the guest's kernel broke: ${trouble}`);
}

/** The scenarios of a file grouped by the machine they need, in file order within a group. */
function plan(
  raw: unknown,
  opts: VmOptions,
): {
  scenarios: Scenario[];
  groups: Map<string, { shape: VmShape; ids: string[] }>;
  shapes: Map<string, VmShape>;
} {
  const file = parseScenarioFile(raw);
  const vm = readVmShapes(raw);
  let list = file.scenarios;
  if (opts.only) {
    const unknown = opts.only.filter((id) => !list.some((s) => s.id === id));
    if (unknown.length) throw new FormatError(`no scenario named ${unknown.join(", ")}`);
    list = list.filter((s) => opts.only?.includes(s.id));
  }
  const groups = new Map<string, { shape: VmShape; ids: string[] }>();
  const shapes = new Map<string, VmShape>();
  for (const sc of list) {
    const shape = effectiveShape(opts.shape ?? {}, vm.byId.get(sc.id) ?? {}, vm.file);
    parseMemoryMiB(shape.memory);
    const key = bootKey(shape, sc);
    shapes.set(sc.id, shape);
    const g = groups.get(key) ?? { shape, ids: [] };
    g.ids.push(sc.id);
    groups.set(key, g);
  }
  return { scenarios: list, groups, shapes };
}

/**
 * Which boot a scenario runs on: its shape's, shared in file order, except that a scenario with
 * `reset: false` starts from the booted state and so gets a boot of its own.
 */
export function bootKey(shape: VmShape, sc: Pick<Scenario, "id" | "reset">): string {
  return sc.reset === false ? `${shapeKey(shape)}/fresh:${sc.id}` : shapeKey(shape);
}

export function loadScenarioJson(path: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(path, "utf8");
  } catch (e) {
    throw new FormatError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return parseJsonText(text, path);
}

/** The machine name of a result: vm:debian-7.2, or vm:<file> for a user's kernel. */
function machineName(k: KernelPieces): string {
  return `vm:${k.name}`;
}

/**
 * Runs the scenarios `rounds` times (round-major within each boot) and hands each run to
 * `sink`. One boot per machine shape.
 */
async function runRounds(
  raw: unknown,
  rounds: number,
  opts: VmOptions,
  sink: (
    id: string,
    round: number,
    r: ResultScenario,
    vm: BootedVm,
    pagetypeinfo: string | undefined,
  ) => void,
): Promise<{
  prepared: Prepared;
  timings: VmTiming[];
  vms: Map<string, Omit<BootedVm, "guest" | "ch">>;
  /** Hstates the guests lacked ("1G"), their steps skipped. */
  absent: Set<string>;
}> {
  const absent = new Set<string>();
  const { scenarios, groups } = plan(raw, opts);
  const prepared = await prepare(opts);
  const byId = new Map(scenarios.map((s) => [s.id, s]));
  const timings: VmTiming[] = [];
  const vms = new Map<string, Omit<BootedVm, "guest" | "ch">>();
  for (const { shape, ids } of groups.values()) {
    let allowBadPage = false;
    const allowRecorded = (line: string) => allowBadPage && /BUG: Bad page state/.test(line);
    opts.progress?.(
      `booting ${prepared.kernel.name}: memory ${shape.memory}, ${shape.nodes} node(s)${shape.cmdline ? `, ${shape.cmdline}` : ""}`,
    );
    const vm = await bootVm(prepared, shape, opts);
    const timing: VmTiming = { shape, bootMs: Math.round(vm.guest.bootMs), scenarios: [] };
    timings.push(timing);
    opts.progress?.(`booted in ${(vm.guest.bootMs / 1000).toFixed(1)} s: ${vm.version}`);
    try {
      for (let round = 0; round < rounds; round++) {
        // Where the kernel's next unmovable pages go (HVO's vmemmap) depends on the free pages
        // of its unmovable blocks: read before each round's first scenario, for the model's
        // calibration (calibratedToGuest()). A later round starts from the blocks the rounds
        // before it claimed (a restore's vmemmap pages), not from the boot's.
        const types = await vm.ch.request("read", { path: "/proc/pagetypeinfo" });
        const pagetypeinfo = types.ok && types.rc === 0 ? String(types.text) : undefined;
        for (const id of ids) {
          const sc = byId.get(id)!;
          opts.progress?.(`${rounds > 1 ? `round ${round}: ` : ""}${id}`);
          const t0 = performance.now();
          // A guest CPU without 1 GiB pages: its 1G steps are skipped by name, as on a host.
          const { skipStep, absentKb } = hstatesOfRun(vm.topo);
          for (const kB of absentKb) absent.add(hstateName(kB));
          const r = await runScenarioVia(vm.ch, vm.topo, sc, { ...opts, skipStep }, opts);
          // A "Bad page state" report is the kernel's answer, not a broken oracle, once the
          // steps carry the kernel log (kmsg) where it is recorded and compared.
          if (r.steps.some((st) => st.kmsg !== undefined)) allowBadPage = true;
          checkGuestKernel(vm, allowRecorded);
          timing.scenarios.push({
            id,
            ms: Math.round(performance.now() - t0),
            steps: sc.steps.length,
          });
          const { guest: _g, ch: _c, ...info } = vm;
          vms.set(id, info);
          sink(id, round, r, vm, pagetypeinfo);
        }
      }
      await vm.ch.request("reset");
    } catch (e) {
      vm.guest.kill();
      throw e;
    }
    await shutdown(vm, allowRecorded);
  }
  return { prepared, timings, vms, absent };
}

export interface VmResult extends Result {
  timings: VmTiming[];
  /**
   * The guest's architecture and base page size, and the size of the initramfs it booted (the
   * model's machine follows them: x86 loads the initrd at the top of low RAM, below which the
   * kernel's boot allocations go).
   */
  guest: { arch: GuestArch; page_size: number; initrd_bytes?: number };
}

/** Runs a scenario file in the VM: hvo-result/1 (plus `vm` shapes and `timings`). */
export async function runVm(raw: unknown, opts: VmOptions = {}): Promise<VmResult> {
  const out: Record<string, ResultScenario> = {};
  const { shapes } = plan(raw, opts);
  const { prepared, timings, vms, absent } = await runRounds(
    raw,
    1,
    opts,
    (id, _round, r, _vm, pagetypeinfo) => {
      out[id] = { ...r, vm: shapes.get(id), ...(pagetypeinfo ? { pagetypeinfo } : {}) };
    },
  );
  // Keep the file's order whatever order the boots ran in.
  const ordered: Record<string, ResultScenario> = {};
  for (const id of shapes.keys()) if (out[id]) ordered[id] = out[id];
  const first = vms.values().next().value;
  return {
    format: RESULT_FORMAT,
    machine: machineName(prepared.kernel),
    design: "live",
    kernel: first?.version ?? prepared.kernel.release ?? prepared.kernel.name,
    ...(prepared.kernel.package
      ? { package: `${prepared.kernel.package} ${prepared.kernel.packageVersion}` }
      : {}),
    ...(absent.size ? { absent_hstates: [...absent] } : {}),
    scenarios: ordered,
    timings,
    guest: {
      arch: prepared.kernel.arch,
      page_size: prepared.kernel.pageSize,
      initrd_bytes: fs.statSync(prepared.initrd).size,
    },
  };
}

/** Runs a scenario file `rounds` times in the VM: hvo-recording/1. */
export async function recordVm(
  raw: unknown,
  rounds: number,
  opts: VmOptions = {},
): Promise<Recording & { timings: VmTiming[] }> {
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new FormatError("rounds must be a positive integer");
  const { scenarios, shapes } = plan(raw, opts);
  // A later round would start where the last one's closing reset left the guest, not from the
  // boot: the rounds would differ by construction.
  const fresh = scenarios.find((s) => s.reset === false);
  if (fresh && rounds > 1)
    throw new FormatError(
      `scenario ${fresh.id} has "reset": false (it starts from the boot): record it with one round`,
    );
  const runs = new Map<string, Run[]>();
  const { prepared, timings, vms } = await runRounds(
    raw,
    rounds,
    opts,
    (id, round, r, _vm, types) => {
      const run: Run = {
        round,
        initial: r.initial!,
        steps: r.steps,
        final_reset: r.final_reset,
        ...(types ? { pagetypeinfo: types } : {}),
      };
      runs.set(id, [...(runs.get(id) ?? []), run]);
    },
  );
  const out: Record<string, RecordedScenario> = {};
  for (const sc of scenarios) {
    const rs = runs.get(sc.id) ?? [];
    const vm = vms.get(sc.id);
    out[sc.id] = {
      ...(sc.desc ? { desc: sc.desc } : {}),
      vm: shapes.get(sc.id),
      ...(vm ? { cmdline: vm.cmdline } : {}),
      nondeterministic: nondeterminism(rs),
      runs: rs,
    };
  }
  const first = vms.values().next().value;
  return {
    format: RECORDING_FORMAT,
    kernel: first?.version ?? prepared.kernel.name,
    cmdline: first?.cmdline ?? "",
    machine: {
      MemTotal_kB: first?.memTotalKb ?? 0,
      page_size: first?.topo.pageSize ?? 4096,
      cpus: first ? first.topo.nodes.length : 1,
      vm: machineName(prepared.kernel),
      ...(prepared.kernel.package
        ? { package: `${prepared.kernel.package} ${prepared.kernel.packageVersion}` }
        : {}),
    },
    rounds,
    scenarios: out,
    timings,
  };
}

/** Boots a shape for ad-hoc requests (tests, kcore exploration); close with shutdown(). */
export async function openVm(shape: Partial<VmShape>, opts: VmOptions = {}): Promise<BootedVm> {
  const p = await prepare(opts);
  return bootVm(p, effectiveShape(shape, {}, {}), opts);
}
