// hvo live: runs hvo-scenario/1 files on this machine's kernel through hvoexec and reports
// hvo-result/1 (runLive) or, over several rounds, hvo-recording/1 (recordLive).
//
// The machine is shared: the whole run holds /tmp/hvo-live.lock (lock.ts); every scenario
// starts and ends with the FORMAT.md reset; and whatever happens (a failed step, an exception,
// SIGINT/SIGTERM/SIGHUP) the pools (largest hstate first), overcommit, demote_size and
// hugetlb_optimize_vmemmap are put back to what the run found, and the hugetlbfs mounts the
// scenarios made are removed.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type {
  Recording,
  RecordedScenario,
  Result,
  ResultScenario,
  Run,
  ScenarioFile,
  Step,
} from "../scenario/format.ts";
import { parseScenarioFile } from "../scenario/format.ts";
import {
  FormatError,
  parseJsonText,
  RECORDING_FORMAT,
  RESULT_FORMAT,
  hstateName,
} from "../scenario/names.ts";
import { nondeterminism } from "../scenario/compare.ts";
import { parseMeminfo, HUGEPAGES_DIR, HVO_SYSCTL, hstateDir } from "../scenario/observe.ts";
import { BuildError, buildHvoexec } from "./build.ts";
import {
  type DriverHooks,
  hello,
  stepHstateKb,
  type ObserveSettings,
  runScenarioVia,
  type Topology,
} from "./driver.ts";
import { type HvoexecChannel, spawnHvoexec } from "./hvoexec.ts";
import { acquireLiveLock, LIVE_LOCK_PATH, type LiveLock } from "./lock.ts";

/**
 * The live kernel cannot be used here (`unavailable`: not Linux, not root, no HugeTLB), or the
 * run broke (the machine was left unrestored, a bad sizesKb).
 */
export class LiveError extends Error {
  constructor(
    message: string,
    readonly unavailable = false,
  ) {
    super(message);
    this.name = "LiveError";
  }
}

/**
 * Whether an error of a live run means "this host cannot run the live oracle" (not root, no
 * HugeTLB, no C compiler): a reason to skip. Anything else (hvoexec failed, the restore
 * failed, the compiler failed) is the oracle breaking, which must fail.
 */
export function isLiveUnavailable(e: unknown): boolean {
  return (e instanceof LiveError || e instanceof BuildError) && e.unavailable;
}

export interface LiveOptions extends DriverHooks, ObserveSettings {
  /** A lock the caller already holds; otherwise runLive takes (and releases) it. */
  lock?: LiveLock;
  /** An hvoexec binary; otherwise native/hvoexec.c is built into .cache/. */
  binary?: string;
  /** Only these scenario ids. */
  only?: readonly string[];
  lockTimeoutMs?: number;
  /**
   * The hstates (kB) the run may use, default all the kernel has (hvoexec's hello, which lists
   * /sys/kernel/mm/hugepages as hostHugepageSizesKb() does). A
   * size left out is treated as on a kernel without it: not observed, and its steps skipped by
   * name. This is how a host with 1 GiB pages runs as one without them.
   */
  sizesKb?: readonly number[];
}

// ------------------------------------------------------------------ machine state

/** What the run found and must put back. */
export interface MachineState {
  /** Per hstate (kB): the values of its files. */
  hstates: { kB: number; nr: string; overcommit: string; demoteSize: string | null }[];
  hvo: string | null;
  /** Memory blocks (/sys/devices/system/memory/memoryN) that were online. */
  onlineBlocks: string[];
}

const MEMORY_DIR = "/sys/devices/system/memory";

function onlineMemoryBlocks(): string[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(MEMORY_DIR).filter((d) => /^memory\d+$/.test(d));
  } catch {
    return [];
  }
  return names.filter((d) => readTrim(`${MEMORY_DIR}/${d}/state`) === "online");
}

function readTrim(path: string): string | null {
  try {
    return fs.readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

function hstatesOnHost(): number[] {
  return fs
    .readdirSync(HUGEPAGES_DIR)
    .map((d) => /^hugepages-(\d+)kB$/.exec(d))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export function snapshotMachine(): MachineState {
  return {
    hstates: hstatesOnHost().map((kB) => ({
      kB,
      nr: readTrim(`${hstateDir(kB)}/nr_hugepages`) ?? "0",
      overcommit: readTrim(`${hstateDir(kB)}/nr_overcommit_hugepages`) ?? "0",
      demoteSize: readTrim(`${hstateDir(kB)}/demote_size`),
    })),
    hvo: readTrim(HVO_SYSCTL),
    onlineBlocks: onlineMemoryBlocks(),
  };
}

function writeIfDifferent(path: string, value: string, failures: string[]): void {
  if (readTrim(path) === value) return;
  try {
    fs.writeFileSync(path, value);
  } catch (e) {
    failures.push(
      `${path} <- ${value}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** Hugetlbfs mount points currently mounted, from /proc/mounts. */
export function hugetlbfsMounts(): string[] {
  const text = readTrim("/proc/mounts") ?? "";
  return text
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f[2] === "hugetlbfs")
    .map((f) => f[1].replace(/\\040/g, " "));
}

/**
 * Puts the machine back: unmounts `mounts` (the scenarios' hugetlbfs mounts still there),
 * onlines the memory blocks that were online, then overcommit, nr_hugepages largest hstate first, demote_size, the sysctl. Synchronous, so that
 * it also runs from a signal handler. Returns what could not be restored.
 */
export function restoreMachine(
  state: MachineState,
  mounts: Iterable<string> = [],
  newDirs: Iterable<string> = [],
): string[] {
  const failures: string[] = [];
  const mounted = new Set(hugetlbfsMounts());
  for (const dir of mounts) {
    if (!mounted.has(dir)) continue;
    const r = spawnSync("umount", [dir], { encoding: "utf8" });
    if (r.status !== 0)
      failures.push(`umount ${dir}: ${(r.stderr ?? "").trim() || r.error?.message}`);
  }
  // The mount points (and parents) the run made, deepest first, where they are empty.
  for (const dir of [...newDirs].sort((a, b) => b.length - a.length)) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // Not empty, already gone, or mounted still: left as it is.
    }
  }
  // Memory blocks a scenario offlined come back first (the pools may need their memory).
  for (const b of state.onlineBlocks ?? [])
    writeIfDifferent(`${MEMORY_DIR}/${b}/state`, "online", failures);
  const desc = [...state.hstates].sort((a, b) => b.kB - a.kB);
  for (const h of desc) {
    // The kernel refuses any overcommit write on a gigantic hstate, so only write what differs.
    writeIfDifferent(`${hstateDir(h.kB)}/nr_overcommit_hugepages`, h.overcommit, failures);
  }
  for (const h of desc) writeIfDifferent(`${hstateDir(h.kB)}/nr_hugepages`, h.nr, failures);
  for (const h of desc)
    if (h.demoteSize !== null)
      writeIfDifferent(`${hstateDir(h.kB)}/demote_size`, h.demoteSize, failures);
  if (state.hvo !== null) writeIfDifferent(HVO_SYSCTL, state.hvo, failures);
  for (const h of desc) {
    const nr = readTrim(`${hstateDir(h.kB)}/nr_hugepages`);
    if (nr !== h.nr) failures.push(`${hstateDir(h.kB)}/nr_hugepages is ${nr}, was ${h.nr}`);
  }
  return failures;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Waits until process `pid` has released its memory (gone or a zombie), at most `ms`. */
function waitProcessGone(pid: number | undefined, ms: number): void {
  if (pid === undefined) return;
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const stat = readTrim(`/proc/${pid}/stat`);
    if (stat === null || /\) Z /.test(stat)) return;
    sleepSync(10);
  }
}

// ------------------------------------------------------------------ the session

/** Refuses clearly when this machine cannot run live scenarios. */
export function checkLiveHost(): void {
  if (process.platform !== "linux") throw new LiveError("hvo live needs a Linux kernel", true);
  if (typeof process.getuid === "function" && process.getuid() !== 0)
    throw new LiveError(
      "hvo live must run as root: it writes /proc/sys/vm and the hugepages sysfs files",
      true,
    );
  if (!fs.existsSync(HUGEPAGES_DIR))
    throw new LiveError(
      `${HUGEPAGES_DIR} is missing: this kernel has no HugeTLB (CONFIG_HUGETLBFS)`,
      true,
    );
}

export interface Session {
  ch: HvoexecChannel;
  /** hvoexec's topology, its hstates cut down to the ones the run uses (sizesKb). */
  topo: Topology;
  /** Hstates the architecture has but the run goes without (kB, ascending). */
  absentKb: number[];
  /** The reason a step is skipped (it needs an absent hstate), or null. */
  skipStep: (step: Step) => string | null;
  /** hugetlbfs mount points the scenarios name (to unmount if a run dies). */
  mounts: Set<string>;
  /** Directories that did not exist when their mount point was noted (removed when empty). */
  newDirs: Set<string>;
}

/**
 * Runs `body` with hvoexec started, the lock held and the machine state saved; restores it
 * afterwards whatever happens.
 */
export async function withLiveSession<T>(
  opts: LiveOptions,
  body: (s: Session) => Promise<T>,
): Promise<T> {
  checkLiveHost();
  const binary = opts.binary ?? buildHvoexec();
  const lock =
    opts.lock ??
    (await acquireLiveLock({
      timeoutMs: opts.lockTimeoutMs,
      onWait: () => opts.log?.(`waiting for ${LIVE_LOCK_PATH} (another live run holds it)`),
    }));
  const ownLock = !opts.lock;
  const state = snapshotMachine();
  const ch = spawnHvoexec(binary);
  const mounts = new Set<string>();
  const newDirs = new Set<string>();
  let restored = false;
  const restoreNow = (): string[] => {
    if (restored) return [];
    restored = true;
    ch.kill();
    waitProcessGone(ch.pid, 5000);
    return restoreMachine(state, mounts, newDirs);
  };
  const onSignal = (sig: NodeJS.Signals) => {
    const failures = restoreNow();
    if (failures.length)
      process.stderr.write(`hvo live: could not restore: ${failures.join("; ")}\n`);
    if (ownLock) lock.releaseSync();
    process.exit(128 + (os.constants.signals[sig] ?? 1));
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of signals) process.on(s, onSignal);
  try {
    let result: T;
    try {
      const { topo, absentKb, skipStep } = hstatesOfRun(await hello(ch), opts.sizesKb);
      result = await body({ ch, topo, absentKb, skipStep, mounts, newDirs });
      // The normal way out: hvoexec resets and exits; then the state found is restored.
      await ch.request("reset");
      await ch.close();
    } catch (e) {
      const failures = restoreNow();
      if (failures.length)
        throw new LiveError(
          `${(e as Error).message}; and the machine could not be restored: ${failures.join("; ")}`,
        );
      throw e;
    }
    const failures = restoreNow();
    if (failures.length)
      throw new LiveError(`the machine could not be restored: ${failures.join("; ")}`);
    return result;
  } finally {
    for (const s of signals) process.off(s, onSignal);
    if (ownLock) await lock.release();
  }
}

/** The huge page sizes (kB) of an architecture as uname -m names it, where we know them. */
function archHstatesKb(machine: string): number[] {
  // arch/x86/mm/hugetlbpage.c: PMD_SIZE always, PUD_SIZE with X86_FEATURE_GBPAGES.
  if (machine === "x86_64") return [2048, 1048576];
  return [];
}

/**
 * The hstates a run uses (sizesKb, default every one the kernel has) and those it goes without:
 * the architecture's sizes the kernel lacks (a CPU without GBPAGES has no 1 GiB hstate) and
 * the ones sizesKb leaves out. A step that needs one of those is skipped, by name.
 */
export function hstatesOfRun(
  kernel: Topology,
  sizesKb?: readonly number[],
): { topo: Topology; absentKb: number[]; skipStep: (step: Step) => string | null } {
  const have = kernel.hstatesKb;
  const use = sizesKb ? [...new Set(sizesKb)].sort((a, b) => a - b) : [...have];
  const extra = use.filter((kB) => !have.includes(kB));
  if (extra.length)
    throw new LiveError(
      `sizesKb names ${extra.map((kB) => `${kB}kB`).join(", ")}: this kernel has hstates of ${have.map((kB) => `${kB}kB`).join(", ") || "no size"} only`,
    );
  const hidden = have.filter((kB) => !use.includes(kB));
  const lacking = archHstatesKb(kernel.machine).filter((kB) => !have.includes(kB));
  const absentKb = [...hidden, ...lacking].sort((a, b) => a - b);
  const skipStep = (step: Step): string | null => {
    const kB = stepHstateKb(step);
    if (kB === null || !absentKb.includes(kB)) return null;
    return hidden.includes(kB)
      ? `${hstateName(kB)}: this run goes without the kernel's ${kB}kB hstate (sizesKb)`
      : `${hstateName(kB)}: this kernel has no ${kB}kB hstate`;
  };
  return { topo: { ...kernel, hstatesKb: use }, absentKb, skipStep };
}

function loadScenarios(file: string | ScenarioFile): ScenarioFile {
  if (typeof file !== "string") return file;
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new FormatError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return parseScenarioFile(parseJsonText(text, file));
}

function selected(file: ScenarioFile, only?: readonly string[]) {
  if (!only) return file.scenarios;
  const unknown = only.filter((id) => !file.scenarios.some((s) => s.id === id));
  if (unknown.length) throw new FormatError(`no scenario named ${unknown.join(", ")}`);
  return file.scenarios.filter((s) => only.includes(s.id));
}

/** The mount points of a file, and which of them and their parents do not exist yet. */
function noteMounts(file: ScenarioFile, session: Session): void {
  for (const s of file.scenarios)
    for (const step of s.steps) {
      if (step.op !== "mount") continue;
      const dir = step.dir.replace(/\/+$/, "");
      session.mounts.add(dir);
      for (let d = dir; d !== "/" && d !== "." && !fs.existsSync(d); d = path.dirname(d))
        session.newDirs.add(d);
    }
}

/** Runs a scenario file on the live kernel: hvo-result/1. */
export async function runLive(
  file: string | ScenarioFile,
  opts: LiveOptions = {},
): Promise<Result> {
  const scenarios = loadScenarios(file);
  const list = selected(scenarios, opts.only);
  return withLiveSession(opts, async (session) => {
    const { ch, topo, absentKb, skipStep } = session;
    noteMounts(scenarios, session);
    const out: Record<string, ResultScenario> = {};
    for (const sc of list) {
      opts.log?.(`${sc.id}`);
      out[sc.id] = await runScenarioVia(ch, topo, sc, { ...opts, skipStep }, opts);
    }
    return {
      format: RESULT_FORMAT,
      machine: "host",
      design: "live",
      kernel: `Linux ${topo.release} ${topo.version}`,
      ...(absentKb.length ? { absent_hstates: absentKb.map(hstateName) } : {}),
      scenarios: out,
    };
  });
}

/** Runs a scenario file `rounds` times (round-major) and makes hvo-recording/1 of it. */
export async function recordLive(
  file: string | ScenarioFile,
  rounds: number,
  opts: LiveOptions = {},
): Promise<Recording> {
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new FormatError("rounds must be a positive integer");
  const scenarios = loadScenarios(file);
  const list = selected(scenarios, opts.only);
  return withLiveSession(opts, async (session) => {
    const { ch, topo, absentKb, skipStep } = session;
    noteMounts(scenarios, session);
    const runs = new Map<string, Run[]>();
    for (let round = 0; round < rounds; round++)
      for (const sc of list) {
        opts.log?.(`round ${round}: ${sc.id}`);
        const r = await runScenarioVia(ch, topo, sc, { ...opts, skipStep }, opts);
        const run: Run = { round, initial: r.initial!, steps: r.steps, final_reset: r.final_reset };
        runs.set(sc.id, [...(runs.get(sc.id) ?? []), run]);
      }
    const out: Record<string, RecordedScenario> = {};
    for (const sc of list) {
      const rs = runs.get(sc.id) ?? [];
      out[sc.id] = {
        ...(sc.desc ? { desc: sc.desc } : {}),
        nondeterministic: nondeterminism(rs),
        runs: rs,
      };
    }
    const meminfo = parseMeminfo(readTrim("/proc/meminfo") ?? "");
    return {
      format: RECORDING_FORMAT,
      kernel: readTrim("/proc/version") ?? `Linux version ${topo.release}`,
      cmdline: readTrim("/proc/cmdline") ?? "",
      machine: {
        MemTotal_kB: meminfo.get("MemTotal") ?? 0,
        page_size: topo.pageSize,
        cpus: os.cpus().length,
      },
      rounds,
      ...(absentKb.length ? { absent_hstates: absentKb.map(hstateName) } : {}),
      scenarios: out,
    };
  });
}
