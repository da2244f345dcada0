// The model against the kernel it models, in one run: the same writes to nr_hugepages on the
// live kernel (when it can be used: Linux, root, HugeTLB) and on the model of this host
// (src/live/host.ts hostMachine(), design legacy: the 6.18 kernel's), and the ratio of their
// times. mm/hugetlb.c set_max_huge_pages() is what both run.
//
// The live part holds the project's live lock (src/live/lock.ts) and puts the machine back as
// it found it by the team's rule, also on failure: every pool 0, every overcommit 0,
// vm.hugetlb_optimize_vmemmap 0.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildIsFresh } from "../bin/build-fresh.mjs";
import { hostMachine } from "../src/live/host.ts";
import { acquireLiveLock } from "../src/live/lock.ts";
import { bootModel } from "../src/model.ts";

const HP = "/sys/kernel/mm/hugepages";
const OPTIMIZE = "/proc/sys/vm/hugetlb_optimize_vmemmap";
/** The team's ceiling for huge pages on the live machine. */
const LIVE_LIMIT_BYTES = 12 * 2 ** 30;

export interface LiveCase {
  /** e.g. "2M x 2000 grow, HVO off" */
  case: string;
  sizeKb: number;
  count: number;
  hvo: boolean;
  phase: "grow" | "shrink";
}

export interface VsLive {
  case: string;
  live_ms: number | null;
  model_ms: number;
  ratio: number | null;
}

/** The cases: 2000 x 2 MiB (n2m) and, where the host has 1 GiB pages, n1g x 1 GiB. */
export function liveCases(n2m: number, n1g: number, gigantic: boolean): LiveCase[] {
  const out: LiveCase[] = [];
  const sizes: [number, number, string][] = [[2048, n2m, "2M"]];
  if (gigantic && n1g > 0) sizes.push([1048576, n1g, "1G"]);
  for (const [sizeKb, count, name] of sizes)
    for (const hvo of [false, true])
      for (const phase of ["grow", "shrink"] as const)
        out.push({
          case: `${name} x ${count} ${phase}, HVO ${hvo ? "on" : "off"}`,
          sizeKb,
          count,
          hvo,
          phase,
        });
  return out;
}

function renamed(c: LiveCase, count: number): LiveCase {
  const name = c.sizeKb === 2048 ? "2M" : "1G";
  return {
    ...c,
    count,
    case: `${name} x ${count} ${c.phase}, HVO ${c.hvo ? "on" : "off"}`,
  };
}

/** Why the live kernel cannot be used here, or null. */
export function liveUnavailable(): string | null {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  if (!existsSync(`${HP}/hugepages-2048kB/nr_hugepages`)) return `no ${HP}/hugepages-2048kB`;
  if (process.getuid?.() !== 0) return "not root (the pool's files are root's to write)";
  if (!existsSync(OPTIMIZE)) return `no ${OPTIMIZE} (kernel without HVO)`;
  return null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/**
 * The model's untimed rounds before the timed ones: its code is compiled by the JIT as it runs
 * (the first rounds of a process run several times slower than the later ones), while the
 * kernel's is compiled already; "warm" means past that on both sides. V8 tiers a function up
 * after a number of its own calls, not of seconds: a 4-folio 1 GiB round calls the run-sized
 * paths a few dozen times, so they are still being compiled 15-50 rounds in (seen with
 * --trace-opt: a round that compiles takes 3-15 times a clean one); 40 rounds settle them.
 */
const MODEL_WARM_ROUNDS = 40;

/**
 * The model's timed rounds per live round, at least. A model round is a few milliseconds; the
 * live side's rounds cost the machine real grace periods, so only the model takes extra rounds.
 */
export const MODEL_REPS_PER_LIVE_REP = 3;

/**
 * The model's timed rounds go on until they add up to this much CPU time (or MODEL_MAX_ROUNDS).
 * The model's figure is their mean: its garbage is collected in some rounds and not in others
 * (a 1 GiB round with HVO on takes 1 ms or 15 ms by whether a scavenge lands in it), and only a
 * mean over many rounds charges each round its share of the collections, as a long run pays
 * them; a median of a few such rounds lands on either side from one run to the next.
 */
export const MODEL_TIMED_MS = 400;
const MODEL_MAX_ROUNDS = 400;

/** A clock in milliseconds. */
type Clock = () => number;

/** Wall time: what the live kernel's write takes, grace periods (synchronize_rcu()) included. */
const wallClock: Clock = () => performance.now();

/**
 * CPU time of this process (user + system, the garbage collector's threads included): what the
 * model's write costs. The model never sleeps, so on an idle machine this is its wall time; on a
 * loaded one (CI runners, shared hosts) it is that figure still, where wall time is not.
 */
const cpuClock: Clock = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** How a side's rounds are summed up: the live side by its median, the model by its mean. */
type Rounds = { reps: number; warm: number; clock: Clock; stat: "median" | "mean"; minMs?: number };

/**
 * One grow-then-shrink, timed per phase: `warm` untimed rounds, then `reps` timed ones, and more
 * while the timed rounds add up to less than `minMs` (at most MODEL_MAX_ROUNDS).
 */
function timeRounds(
  write: (path: string, text: string) => void,
  c: { sizeKb: number; count: number; hvo: boolean },
  r: Rounds,
): { grow: number; shrink: number; rounds: number } {
  const nr = `${HP}/hugepages-${c.sizeKb}kB/nr_hugepages`;
  write(OPTIMIZE, c.hvo ? "1" : "0");
  const grow: number[] = [];
  const shrink: number[] = [];
  let total = 0;
  for (let i = 0; ; i++) {
    const timed = i - r.warm;
    if (timed >= r.reps && (total >= (r.minMs ?? 0) || timed >= MODEL_MAX_ROUNDS)) break;
    const t0 = r.clock();
    write(nr, String(c.count));
    const t1 = r.clock();
    write(nr, "0");
    const t2 = r.clock();
    if (timed < 0) continue;
    grow.push(t1 - t0);
    shrink.push(t2 - t1);
    total += t2 - t0;
  }
  write(OPTIMIZE, "0");
  const stat = r.stat === "mean" ? mean : median;
  return { grow: stat(grow), shrink: stat(shrink), rounds: grow.length };
}

/** The model's entry points: from the sources, or from the compiled build. */
interface ModelEntry {
  bootModel: typeof bootModel;
  hostMachine: typeof hostMachine;
}

/**
 * The model as `hvo` runs it (bin/hvo.mjs): the compiled build in dist/ when it is at least as
 * new as every source file and HVO_FROM_SOURCE is not 1, otherwise the sources through tsx;
 * with a line that says which.
 */
async function modelAsRun(): Promise<{ entry: ModelEntry; from: string }> {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  if (process.env.HVO_FROM_SOURCE !== "1" && buildIsFresh(root)) {
    // Paths in variables: the build is not part of the type-checked sources.
    const modelJs = "../dist/model.js";
    const hostJs = "../dist/live/host.js";
    const [m, h] = (await Promise.all([import(modelJs), import(hostJs)])) as [
      { bootModel: typeof bootModel },
      { hostMachine: typeof hostMachine },
    ];
    return {
      entry: { bootModel: m.bootModel, hostMachine: h.hostMachine },
      from: "the model ran from the compiled build (dist/), as hvo does while dist/ is fresh",
    };
  }
  return {
    entry: { bootModel, hostMachine },
    from: "the model ran from the TypeScript sources through tsx, as hvo does while dist/ is older than src/ (npm run build) or HVO_FROM_SOURCE=1",
  };
}

/**
 * The writes on the model of this host, warm, through its files as `hvo write` does them; with
 * the timed rounds each case took (the same for a case's grow and shrink).
 */
export function modelTimes(
  cases: LiveCase[],
  reps: number,
  entry: ModelEntry = { bootModel, hostMachine },
): { times: Map<string, number>; rounds: Map<string, number> } {
  const model = entry.bootModel(entry.hostMachine(), "legacy");
  const write = (p: string, t: string) => {
    model.write(p, t);
    model.settle();
  };
  return timeAll(write, cases, {
    reps: reps * MODEL_REPS_PER_LIVE_REP,
    warm: MODEL_WARM_ROUNDS,
    clock: cpuClock,
    stat: "mean",
    minMs: MODEL_TIMED_MS,
  });
}

function timeAll(
  write: (p: string, t: string) => void,
  cases: LiveCase[],
  r: Rounds,
): { times: Map<string, number>; rounds: Map<string, number> } {
  const times = new Map<string, number>();
  const rounds = new Map<string, number>();
  const pairs = new Map<string, LiveCase>();
  for (const c of cases) pairs.set(`${c.sizeKb}/${c.count}/${c.hvo}`, c);
  for (const c of pairs.values()) {
    const t = timeRounds(write, c, r);
    for (const x of cases)
      if (x.sizeKb === c.sizeKb && x.count === c.count && x.hvo === c.hvo) {
        times.set(x.case, x.phase === "grow" ? t.grow : t.shrink);
        rounds.set(x.case, t.rounds);
      }
  }
  return { times, rounds };
}

function readNum(p: string): number {
  return Number(readFileSync(p, "utf8").trim());
}

/** Every pool and overcommit 0, HVO off: the state the team's rule leaves the machine in. */
function restoreLive(sizesKb: number[]): void {
  for (const kb of sizesKb) {
    for (const f of ["nr_hugepages", "nr_overcommit_hugepages"]) {
      try {
        writeFileSync(`${HP}/hugepages-${kb}kB/${f}`, "0");
      } catch {
        // keep going: the other files still have to be put back
      }
    }
  }
  try {
    writeFileSync(OPTIMIZE, "0");
  } catch {
    // as above
  }
}

/**
 * The same cases on the live kernel, under the live lock. The pools must be empty to begin
 * with (another user's pool is not ours to time or to free): else an error saying so.
 */
export async function liveTimes(
  cases: LiveCase[],
  reps: number,
): Promise<{ cases: LiveCase[]; times: Map<string, number>; notes: string[] }> {
  const bytes = Math.max(...cases.map((c) => c.sizeKb * 1024 * c.count));
  if (bytes >= LIVE_LIMIT_BYTES) throw new Error(`a case needs ${bytes} bytes of huge pages`);
  const lock = await acquireLiveLock({ timeoutMs: 120_000 });
  const sizesKb = [2048, 1048576].filter((kb) => existsSync(`${HP}/hugepages-${kb}kB`));
  try {
    for (const kb of sizesKb)
      if (readNum(`${HP}/hugepages-${kb}kB/nr_hugepages`) !== 0)
        throw new Error(`the live ${kb} kB pool is not empty: another user's pool`);
    // Gigantic pages come from alloc_contig_pages(): a host's memory may hold fewer free 1 GiB
    // ranges than asked. Both sides then time the count the live kernel can get.
    const notes: string[] = [];
    const adjusted: LiveCase[] = [];
    const probed = new Map<number, number>();
    for (const c of cases) {
      let n = probed.get(c.sizeKb);
      if (n === undefined) {
        const nr = `${HP}/hugepages-${c.sizeKb}kB/nr_hugepages`;
        writeFileSync(nr, String(c.count));
        n = Math.min(c.count, readNum(nr));
        writeFileSync(nr, "0");
        probed.set(c.sizeKb, n);
        if (n < c.count)
          notes.push(`the live kernel got ${n} of ${c.count} ${c.sizeKb} kB pages: timing ${n}`);
      }
      if (n > 0) adjusted.push(n === c.count ? c : renamed(c, n));
    }
    const short = new Set<string>();
    const write = (p: string, t: string) => {
      writeFileSync(p, t);
      // A grow that got fewer pages than asked (fragmented memory) would time less work.
      if (p.endsWith("/nr_hugepages") && t !== "0" && readNum(p) !== Number(t)) short.add(p);
    };
    const load = loadavg()[0];
    const cpus = availableParallelism();
    const { times } = timeAll(write, adjusted, { reps, warm: 1, clock: wallClock, stat: "median" });
    // Wall time is what the kernel's write costs only on a quiet machine: other work's threads
    // run between its steps (and its grace periods wait for them).
    const loadAfter = loadavg()[0];
    if (Math.max(load, loadAfter) >= cpus)
      notes.push(
        `load average ${Math.max(load, loadAfter).toFixed(1)} on ${cpus} CPUs while the live kernel was timed: its wall times include other work's`,
      );
    for (const c of adjusted)
      if (short.has(`${HP}/hugepages-${c.sizeKb}kB/nr_hugepages`)) {
        times.delete(c.case);
        notes.push(`${c.case}: the live kernel got fewer pages in a timed round: not compared`);
      }
    return { cases: adjusted, times, notes };
  } finally {
    restoreLive(sizesKb);
    await lock.release();
  }
}

/** Both sides and their ratios; live_unavailable says why the live side is missing. */
export async function benchVsLive(opts: {
  n2m: number;
  n1g: number;
  reps: number;
  live: boolean;
}): Promise<{ vs_live: VsLive[]; live_unavailable: string | null; notes: string[] }> {
  const gigantic = existsSync(`${HP}/hugepages-1048576kB`);
  let cases = liveCases(opts.n2m, opts.n1g, gigantic);
  let liveUnavail = opts.live ? liveUnavailable() : "--no-live";
  let live: Map<string, number> | null = null;
  let notes: string[] = [];
  if (liveUnavail === null) {
    try {
      const r = await liveTimes(cases, opts.reps);
      cases = r.cases;
      live = r.times;
      notes = r.notes;
    } catch (e) {
      liveUnavail = (e as Error).message;
    }
  }
  let model: Map<string, number>;
  try {
    const run = await modelAsRun();
    notes.push(run.from);
    const m = modelTimes(cases, opts.reps, run.entry);
    model = m.times;
    const counts = [...new Set(m.rounds.values())].sort((a, b) => a - b);
    notes.push(
      `the model's timed rounds per case: ${counts.length > 1 ? `${counts[0]} to ${counts[counts.length - 1]}` : counts[0]}`,
    );
  } catch (e) {
    return {
      vs_live: [],
      // Nothing to compare at all: the model's side is the reason, whatever the live side's.
      live_unavailable: `the model of this host: ${(e as Error).message}`,
      notes,
    };
  }
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    vs_live: cases.map((c) => {
      const m = model.get(c.case) ?? Number.NaN;
      const l = live?.get(c.case) ?? null;
      return {
        case: c.case,
        live_ms: l === null ? null : round(l),
        model_ms: round(m),
        ratio: l === null ? null : round(l / m),
      };
    }),
    live_unavailable: liveUnavail,
    notes,
  };
}
