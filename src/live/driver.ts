// Runs hvo-scenario/1 steps through an hvoexec channel (native/PROTOCOL.md) and turns the
// answers into hvo-result/1 step records. Transport-agnostic: the host runner (run.ts) hands
// in a local hvoexec, the QEMU runner can hand in a guest's. Holds no lock and restores
// nothing itself: run.ts does that around it.
import type {
  After,
  FinalReset,
  KpfPage,
  ResetWrite,
  ResultScenario,
  Scenario,
  Step,
  StepRecord,
} from "../scenario/format.ts";
import { sizeToKb } from "../scenario/names.ts";
import {
  changedAfterStepReturned,
  delta,
  HVO_SYSCTL,
  hstateDir,
  nodeHstateDir,
  observe,
} from "../scenario/observe.ts";
import { archOfKernel, resolveStepRoles, SkippedSteps } from "../scenario/roles.ts";
import { type HvoexecChannel, HvoexecError, type HvoexecReply } from "./hvoexec.ts";

export interface Topology {
  release: string;
  version: string;
  machine: string;
  pageSize: number;
  /** Ascending. */
  hstatesKb: number[];
  nodes: number[];
  uid: number;
}

export async function hello(ch: HvoexecChannel): Promise<Topology> {
  const r = await ch.request("hello");
  if (!r.ok) throw new HvoexecError(`hello failed: ${r.error}`);
  return {
    release: String(r.release),
    version: String(r.version),
    machine: String(r.machine),
    pageSize: Number(r.page_size),
    hstatesKb: (r.hstates as { kB: number }[]).map((h) => h.kB).sort((a, b) => a - b),
    nodes: r.nodes as number[],
    uid: Number(r.uid),
  };
}

/** The kB of a step's size, or of the 1G hstate for demote steps without one. */
function kbOf(size: string | undefined, fallback = "1G"): number {
  const kB = sizeToKb(size ?? fallback);
  if (kB === null) throw new HvoexecError(`not a huge page size: ${size}`);
  return kB;
}

const text = (v: number | string): string => (typeof v === "number" ? String(v) : v);
const flag = (v: 0 | 1 | boolean | undefined, def: 0 | 1): 0 | 1 =>
  v === undefined ? def : v === true || v === 1 ? 1 : 0;

/** The file a write-type step writes, or null for the other ops. */
export function stepWritePath(step: Step): string | null {
  switch (step.op) {
    case "hvo":
      return HVO_SYSCTL;
    case "nr":
      return `${hstateDir(kbOf(step.size))}/nr_hugepages`;
    case "nr_node":
      return `${nodeHstateDir(step.node ?? 0, kbOf(step.size))}/nr_hugepages`;
    case "nr_mempolicy":
      return `${hstateDir(kbOf(step.size))}/nr_hugepages_mempolicy`;
    case "overcommit":
      return `${hstateDir(kbOf(step.size))}/nr_overcommit_hugepages`;
    case "demote":
      return `${hstateDir(kbOf(step.size))}/demote`;
    case "demote_size":
      return `${hstateDir(kbOf(step.size))}/demote_size`;
    case "write":
      return step.path;
    case "sysctl":
      return `/proc/sys/vm/${step.name}`;
    default:
      return null;
  }
}

/** The hvoexec request of a step. */
export function stepRequest(step: Step): { op: string; args: Record<string, string | number> } {
  const path = stepWritePath(step);
  if (path !== null && "value" in step)
    return { op: "write", args: { path, value: text(step.value) } };
  switch (step.op) {
    case "map":
      return {
        op: "map",
        args: {
          id: step.id,
          size: step.size,
          n: step.n,
          touch: flag(step.touch, 1),
          noreserve: flag(step.noreserve, 0),
          shared: flag(step.shared, 0),
          trunc: flag(step.trunc, 1),
          ...(step.file ? { file: step.file } : {}),
        },
      };
    case "touch":
    case "release":
      return { op: step.op, args: { id: step.id } };
    case "populate":
      return { op: "populate", args: { file: step.file, size: step.size, n: step.n } };
    case "mount":
      return { op: "mount", args: { dir: step.dir, ...(step.opts ? { opts: step.opts } : {}) } };
    case "umount":
      return { op: "umount", args: { dir: step.dir } };
    case "unlink":
      return { op: "unlink", args: { path: step.path } };
    case "kpf":
      return { op: "kpf", args: { size: step.size, n: step.n ?? 1 } };
    default:
      throw new HvoexecError(`no request for op ${(step as Step).op}`);
  }
}

export interface ObserveSettings {
  settleMs?: number;
  pollMs?: number;
  maxMs?: number;
}

export interface Observation {
  after: After;
  /** What the files said right after the step returned (differs only where settling moved). */
  first: After;
  settled: boolean;
  waitedMs: number;
}

/** hvoexec's raw `obs` dump, turned into observations by the same observe() as the model's. */
export async function observeVia(
  ch: HvoexecChannel,
  topo: Topology,
  settings: ObserveSettings = {},
): Promise<Observation> {
  const r = await ch.request("obs", {
    settle_ms: settings.settleMs ?? 200,
    poll_ms: settings.pollMs ?? 20,
    max_ms: settings.maxMs ?? 5000,
  });
  if (!r.ok) throw new HvoexecError(`obs failed: ${r.error}`);
  const files = r.files as Record<string, string>;
  const first = r.first as Record<string, string>;
  const opts = { hstatesKb: topo.hstatesKb, nodes: topo.nodes };
  return {
    after: observe((p) => files[p] ?? null, opts),
    first: observe((p) => first[p] ?? files[p] ?? null, opts),
    settled: r.settled === true,
    waitedMs: Number(r.waited_ms),
  };
}

/** The kernel's answer of one reply, as a step record spells it. */
export function answerOf(r: HvoexecReply): { rc: 0 | -1; errno: number; code: string | null } {
  return { rc: r.rc === -1 ? -1 : 0, errno: r.errno ?? 0, code: r.code ?? null };
}

/**
 * hvoexec refuses, without a system call, a touch or release of a map id it does not hold
 * (never mapped, its map failed, or released) and a map of an id it still holds. These are
 * step results, spelt as the model spells them (FORMAT.md: rc -1, errno 0, code NO_SUCH_ID or
 * ID_IN_USE), not a broken executor.
 */
export function idRefusal(step: Step, r: HvoexecReply): HvoexecReply {
  if (r.ok) return r;
  const error = String(r.error ?? "");
  if ((step.op === "touch" || step.op === "release") && /unknown map id/.test(error))
    return {
      ok: true,
      rc: -1,
      errno: 0,
      code: "NO_SUCH_ID",
      ...(step.op === "touch" ? { touched: 0, pfns: [] } : {}),
    };
  if (step.op === "map" && /already in use/.test(error))
    return { ok: true, rc: -1, errno: 0, code: "ID_IN_USE", touched: 0, pfns: [] };
  return r;
}

/**
 * The hstate (kB) a step needs: its `size` (demote and demote_size default to 1G), the
 * `pagesize=` of a mount, the hugepages-<kB>kB directory a `write` names. null for the others.
 */
export function stepHstateKb(step: Step): number | null {
  switch (step.op) {
    case "nr":
    case "nr_node":
    case "nr_mempolicy":
    case "overcommit":
    case "map":
    case "populate":
    case "kpf":
      return sizeToKb(step.size);
    case "demote":
    case "demote_size":
      return sizeToKb(step.size ?? "1G");
    case "mount": {
      const m = /(?:^|,)pagesize=([^,]+)/.exec(step.opts ?? "");
      if (!m) return null;
      if (/^[0-9]+$/.test(m[1])) return Number(m[1]) / 1024;
      return sizeToKb(
        m[1].replace(/^([0-9]+)([KMG])i?B?$/i, (_, n, u) => `${n}${u.toUpperCase()}`),
      );
    }
    case "write": {
      const m = /\/hugepages-([0-9]+)kB(?:\/|$)/.exec(step.path);
      return m ? Number(m[1]) : null;
    }
    default:
      return null;
  }
}

export interface DriverHooks {
  /**
   * Whether to skip a step rather than run it, and why ("1G: this kernel has no 1048576kB
   * hstate"). A skipped step is recorded with `skipped` and the previous observation.
   */
  skipStep?: (step: Step) => string | null;
  /** Called after each step is recorded; a throw aborts the run (the runner still restores). */
  afterStep?: (scenario: string, rec: StepRecord) => void | Promise<void>;
  log?: (line: string) => void;
}

/**
 * The kernel log records logged since the last call (hvoexec's `kmsg`, /dev/kmsg), in its
 * "level,seq,usec,flags;text" form; with skip, none: the cursor moves past what is there.
 * null when the kernel log cannot be read (no /dev/kmsg, an hvoexec without the op).
 */
export async function kmsgVia(
  ch: HvoexecChannel,
  skip = false,
): Promise<(string[] & { lost?: number }) | null> {
  if (skip) {
    const r = await ch.request("kmsg", { skip: 1 });
    return r.ok && r.rc === 0 ? [] : null;
  }
  const lines: string[] & { lost?: number } = [];
  // KMSG_BATCH records per request: a burst of bad page reports is thousands of lines, and an
  // answer is one line through the guest's console.
  for (let round = 0; round < 1000; round++) {
    const r = await ch.request("kmsg", { max: KMSG_BATCH });
    if (!r.ok || r.rc !== 0 || !Array.isArray(r.lines)) return round === 0 ? null : lines;
    for (const l of r.lines as unknown[]) lines.push(String(l));
    // Records the ring overwrote before they were read (a burst larger than the log buffer).
    if (typeof r.lost === "number" && r.lost > 0) lines.lost = (lines.lost ?? 0) + r.lost;
    if (r.more !== true) break;
  }
  return lines;
}

/** Kernel log records per hvoexec `kmsg` request (native/PROTOCOL.md). */
const KMSG_BATCH = 200;

/** Resets the machine as FORMAT.md says and reports the writes that failed. */
export async function resetVia(
  ch: HvoexecChannel,
): Promise<{ clean: boolean; writes: ResetWrite[] }> {
  const r = await ch.request("reset");
  if (!r.ok) throw new HvoexecError(`reset failed: ${r.error}`);
  const writes = (r.writes as (ResetWrite & { value: string })[])
    .filter((w) => w.rc !== 0)
    .map((w) => ({ path: w.path, rc: w.rc, errno: w.errno, code: w.code }));
  return { clean: r.clean === true, writes };
}

/** Reset, run every step with an observation after each, reset again. */
export async function runScenarioVia(
  ch: HvoexecChannel,
  topo: Topology,
  scenario: Scenario,
  hooks: DriverHooks = {},
  settings: ObserveSettings = {},
): Promise<ResultScenario> {
  // `reset: false`: no reset before the steps; they start from the kernel as it is (the closing
  // reset, and the live runner's restore, still put it back).
  if (scenario.reset !== false) {
    const pre = await resetVia(ch);
    if (!pre.clean) hooks.log?.(`${scenario.id}: the reset before the scenario left pages behind`);
  }
  const initial = (await observeVia(ch, topo, settings)).after;
  // From here on every step gets the kernel log lines logged while it ran and settled.
  const kmsg = (await kmsgVia(ch, true)) !== null;
  let prev = initial;
  const steps: StepRecord[] = [];
  // Roles (PMD, PUD, ...) resolve to this kernel's hstates.
  const roles = {
    arch: archOfKernel(topo.machine, topo.pageSize),
    hstatesKb: topo.hstatesKb,
    what: "kernel" as const,
  };
  // Map ids and mount points whose step was skipped: the steps that use them are skipped too.
  const skippedDeps = new SkippedSteps();
  for (const [i, written] of scenario.steps.entries()) {
    const resolved = resolveStepRoles(written, roles);
    const step = resolved.step;
    const skipped =
      resolved.skip ?? hooks.skipStep?.(step) ?? skippedDeps.dependsOnSkipped(written);
    skippedDeps.note(written, skipped);
    if (skipped !== null) {
      // Not run: the machine is as the previous observation found it.
      const rec: StepRecord = {
        i,
        step: written,
        rc: 0,
        errno: 0,
        code: null,
        after: prev,
        delta: delta(prev, prev),
        skipped,
      };
      steps.push(rec);
      await hooks.afterStep?.(scenario.id, rec);
      continue;
    }
    const { op, args } = stepRequest(step);
    const r = idRefusal(step, await ch.request(op, args));
    if (!r.ok) throw new HvoexecError(`${scenario.id} step ${i} (${op}): ${r.error}`);
    const obs = await observeVia(ch, topo, settings);
    const rec: StepRecord = {
      i,
      step: written,
      ...answerOf(r),
      after: obs.after,
      delta: delta(prev, obs.after),
    };
    if (step !== written) rec.resolved_step = step;
    if (step.op === "map" || step.op === "touch") rec.pfns = (r.pfns as (number | null)[]) ?? [];
    if (r.code === "SIGBUS" || step.op === "map" || step.op === "touch" || step.op === "populate")
      rec.touched = r.touched;
    if (step.op === "kpf") rec.kpf = (r.pages as KpfPage[]) ?? [];
    if (kmsg) {
      const lines = await kmsgVia(ch);
      if (lines !== null) {
        rec.kmsg = [...lines];
        if (lines.lost) rec.kmsg_lost = lines.lost;
      }
    }
    const changed = changedAfterStepReturned(obs.first, obs.after);
    if (Object.keys(changed).length) rec.changed_after_step_returned = changed;
    if (!obs.settled) rec.settled = false;
    steps.push(rec);
    prev = obs.after;
    await hooks.afterStep?.(scenario.id, rec);
  }
  const post = await resetVia(ch);
  const finalAfter = (await observeVia(ch, topo, settings)).after;
  const final_reset: FinalReset = {
    clean: post.clean,
    writes: post.writes,
    after: finalAfter,
    delta: delta(prev, finalAfter),
  };
  return { ...(scenario.desc ? { desc: scenario.desc } : {}), initial, steps, final_reset };
}
