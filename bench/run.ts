// npm run bench: the model against the live kernel it models (when it can be used), the model
// at scale (up to the 64 TiB 8-node machine), the checker's throughput, compound_head() through
// the simulated MMU, the CLI's start-up time, and boot and pool growth at three machine sizes.
// Each machine-sized measurement runs in a fresh child process, so that its RSS is that
// machine's alone. Never part of `npm test` (test/bench.test.ts runs `--quick --no-live` once
// for the shape of the JSON line, untimed).
//
//   npm run bench                      all of it, as tables
//   npm run bench -- --json            the same, ending with one JSON line (the issue's shape)
//   npm run bench -- --quick           every figure of the JSON line, at small sizes
//   npm run bench -- --no-live         without the live kernel
//   npm run bench -- live              one section (boot, pool, checker, live, scale, compound, startup)
//   node --expose-gc --import tsx bench/run.ts --child boot 64   (internal: one measurement)

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildIsFresh } from "../bin/build-fresh.mjs";
import { bootOnce, type BootResult } from "./boot.ts";
import { CHECK_GOAL, OPS, benchCheck, checkTable } from "./check.ts";
import { compoundHeadRate } from "./compound.ts";
import { benchVsLive, MODEL_REPS_PER_LIVE_REP, MODEL_TIMED_MS } from "./live.ts";
import { poolBenchAvailable, poolOnce, type PoolBenchCase, type PoolResult } from "./pool.ts";
import {
  type CliScaleCase,
  type CliScaleResult,
  type ScaleCase,
  type ScaleResult,
  cliScaleOnce,
  scaleOnce,
} from "./scale.ts";

const GiB = 2 ** 30;
const SELF = fileURLToPath(import.meta.url);
const ROOT = join(dirname(SELF), "..");

/** Boot sizes: the issue's 64 GiB, 1 TiB and 16 TiB x86_64 machines. */
const BOOT_SIZES_GIB = [64, 1024, 16384];

/** Pool cases: 2 MiB pool of 30000 pages on 64 GiB with HVO on and off, and a 1 GiB pool. */
const POOL_CASES: PoolBenchCase[] = [
  { label: "2M x 30000, HVO off", memoryGiB: 64, order: 9, count: 30000, hvo: false },
  { label: "2M x 30000, HVO on", memoryGiB: 64, order: 9, count: 30000, hvo: true },
  { label: "1G x 48, HVO off", memoryGiB: 64, order: 18, count: 48, hvo: false },
  { label: "1G x 48, HVO on", memoryGiB: 64, order: 18, count: 48, hvo: true },
];

function child<T>(args: string[], timeoutMs?: number): T {
  const r = spawnSync(process.execPath, [...process.execArgv, SELF, "--child", ...args], {
    encoding: "utf8",
    maxBuffer: 1 << 24,
    timeout: timeoutMs,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT")
    throw new Error(`stopped after ${Math.round((timeoutMs ?? 0) / 1000)} s`);
  if (r.status !== 0) {
    // The error's own line first (what the tables show), then all of stderr.
    const line = r.stderr.split("\n").find((l) => /^\w*Error\b/.test(l)) ?? `exit ${r.status}`;
    throw new Error(`${line}\n(bench child ${args.join(" ")})\n${r.stderr}`);
  }
  const last = r.stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(last) as T;
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  console.log(pad(header, widths));
  for (const r of rows) console.log(pad(r, widths));
}

function benchBoot(): void {
  console.log("Boot (x86_64 preset, design mainline, one node; fresh process per machine)");
  const results: BootResult[] = BOOT_SIZES_GIB.map((g) => child<BootResult>(["boot", String(g)]));
  const base = results[0];
  printTable(
    [
      "memory",
      "boot ms",
      "RSS after boot",
      "peak RSS",
      "heap used",
      "memmap pages",
      "x time",
      "x RSS",
    ],
    results.map((r) => [
      r.memoryGiB >= 1024 ? `${r.memoryGiB / 1024} TiB` : `${r.memoryGiB} GiB`,
      r.bootMs.toFixed(0),
      mib(r.rssBytes),
      mib(r.maxRssBytes),
      mib(r.heapUsedBytes),
      r.nrMemmapBootPages.toLocaleString("en-US"),
      (r.bootMs / base.bootMs).toFixed(1),
      (r.rssBytes / base.rssBytes).toFixed(2),
    ]),
  );
  const big = results[results.length - 1];
  const ok = big.bootMs < 10_000 && big.maxRssBytes < GiB;
  console.log(
    `goal (issue 2): 16 TiB boots in seconds with well under 1 GiB RSS: ${ok ? "met" : "NOT MET"} ` +
      `(${(big.bootMs / 1000).toFixed(1)} s, peak ${mib(big.maxRssBytes)}); memory grows x${(16384 / 64).toFixed(0)}`,
  );
}

function benchPool(): void {
  console.log("");
  console.log(
    "Pool growth (echo N > nr_hugepages on a freshly booted 64 GiB x86_64, design mainline)",
  );
  if (!poolBenchAvailable()) {
    console.log("  skipped: the model has no HugeTLB pool yet (src/model.ts)");
    return;
  }
  const results = POOL_CASES.map((c) => child<PoolResult>(["pool", JSON.stringify(c)]));
  printTable(
    ["case", "got", "grow ms", "us/folio", "memmap change", "peak RSS"],
    results.map((r) => [
      r.label,
      String(r.got),
      r.growMs.toFixed(0),
      ((r.growMs * 1000) / Math.max(1, r.got)).toFixed(1),
      r.memmapDelta.toLocaleString("en-US"),
      mib(r.maxRssBytes),
    ]),
  );
}

function benchChecker(quick: boolean): ReturnType<typeof benchCheck> {
  const ops = quick ? QUICK.checkOps : OPS;
  console.log("");
  console.log(
    `Invariant checker (hvo check, 4 GiB 2-node x86_64, ${ops} seeded ops; goal: ${CHECK_GOAL.toLocaleString("en")} steps/s checked)`,
  );
  const r = benchCheck({ ops, matrix: !quick });
  for (const l of checkTable(r)) console.log(l);
  return r;
}

/** The sizes of `--quick`: every measurement made, small (the shape test, bench.test.ts). */
const QUICK = { n2m: 20, n1g: 1, reps: 1, checkOps: 60, folios: 2, calls: 20_000, startup: 1 };
const FULL = { n2m: 2000, n1g: 4, reps: 3, folios: 64, calls: 2_000_000, startup: 5 };

/** The issue's targets (issue 11), printed next to the figures. */
const TARGET = {
  hvoOn: 10,
  hvoOff: 3,
  scaleMs: 10_000,
  scaleRss: 4 * GiB,
  chPerS: 20e6,
  startupMs: 300,
};

async function benchLive(
  quick: boolean,
  live: boolean,
): Promise<Awaited<ReturnType<typeof benchVsLive>>> {
  const o = quick ? QUICK : FULL;
  console.log("");
  console.log(
    `The live kernel (wall time) and the model of this host (design legacy, warm, CPU time), live: median of ${o.reps} rounds; model: mean of at least ${o.reps * MODEL_REPS_PER_LIVE_REP} rounds, more until they add up to ${MODEL_TIMED_MS} ms; ratio = live / model`,
  );
  const r = await benchVsLive({ n2m: o.n2m, n1g: o.n1g, reps: o.reps, live });
  if (r.live_unavailable) console.log(`  live kernel not used: ${r.live_unavailable}`);
  for (const n of r.notes) console.log(`  note: ${n}`);
  const fmt = (x: number | null) => (x === null ? "-" : x.toFixed(1));
  printTable(
    ["case", "live ms", "model ms", "live/model", "target"],
    r.vs_live.map((v) => [
      v.case,
      fmt(v.live_ms),
      fmt(v.model_ms),
      v.ratio === null ? "-" : v.ratio.toFixed(2),
      v.case.includes("HVO on") ? `>= ${TARGET.hvoOn}` : `>= ${TARGET.hvoOff}`,
    ]),
  );
  return r;
}

/** The scale machines: the 64 TiB 8-node machine file once it loads, and presets. */
function scaleCases(quick: boolean): ScaleCase[] {
  if (quick) return [{ machine: "x86_64", memoryBytes: 4 * GiB }];
  const out: ScaleCase[] = [
    { machine: "x86_64", memoryBytes: 64 * GiB },
    { machine: "x86_64", memoryBytes: 1024 * GiB },
  ];
  const big = join(ROOT, "scenarios/machines/x86_64-la57-64T-8node.yaml");
  if (existsSync(big)) out.push({ machine: big });
  return out;
}

/**
 * The CLI case: `hvo run` of `hvo 1`, `nr 1G N`, `nr 1G 0` on the 64 TiB machine file, N the
 * folios the in-process case filled within its budget (a full run asks 65000; --quick: 2 pages on
 * the 128 GiB 5-level machine file).
 */
function cliScaleCase(quick: boolean, inProcess: ScaleResult | undefined): CliScaleCase {
  if (quick)
    return {
      machine: join(ROOT, "scenarios/machines/x86_64-la57-128G.yaml"),
      count: 2,
      target: 2,
      bootMs: 0,
      bootRssBytes: 0,
      budgetMs: SCALE_BUDGET_MS.quick,
    };
  const full = 65000;
  return {
    machine: join(ROOT, "scenarios/machines/x86_64-la57-64T-8node.yaml"),
    count: inProcess ? Math.min(full, Math.max(1, inProcess.folios)) : 64,
    target: inProcess?.complete ? inProcess.folios : full,
    bootMs: inProcess?.boot_ms ?? 0,
    bootRssBytes: inProcess?.rss_boot_bytes ?? 0,
    budgetMs: SCALE_BUDGET_MS.full,
  };
}

/**
 * The time budget of each scale case (fill and free; boot comes on top): a run that does not
 * finish in it stops filling, frees what it filled, and projects the full run.
 */
const SCALE_BUDGET_MS = { full: 60_000, quick: 5_000 };

/** How long one scale child may take before it is stopped: its budget several times over. */
const SCALE_TIMEOUT_MS = 6 * SCALE_BUDGET_MS.full;

function s1(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function benchScale(quick: boolean): ScaleResult[] {
  const budget = quick ? SCALE_BUDGET_MS.quick : SCALE_BUDGET_MS.full;
  console.log("");
  console.log(
    `Scale (boot, 1 GiB pages with HVO on to fill the machine, free them all; fresh process each; ` +
      `fill and free under a ${s1(budget)} budget, a run cut short projects the full run linearly)`,
  );
  const out: ScaleResult[] = [];
  const rows: string[][] = [];
  const verdict = (r: { complete: boolean; target_met: boolean }) =>
    `${r.target_met ? "met" : "not met"}${r.complete ? "" : " (projected)"}`;
  const big = join(ROOT, "scenarios/machines/x86_64-la57-64T-8node.yaml");
  let bigResult: ScaleResult | undefined;
  for (const c of scaleCases(quick)) {
    const name = c.memoryBytes ? `${c.machine} ${c.memoryBytes / GiB} GiB` : basename(c.machine);
    try {
      const r = child<ScaleResult>(["scale", JSON.stringify(c), String(budget)], SCALE_TIMEOUT_MS);
      out.push(r);
      if (c.machine === big) bigResult = r;
      rows.push([
        r.machine,
        `${(r.size / GiB).toFixed(0)} GiB`,
        `${r.folios}/${r.target_folios}`,
        r.boot_ms.toFixed(0),
        `${r.fill_ms.toFixed(0)} (${r.fill_per_s.toFixed(0)}/s)`,
        `${r.free_ms.toFixed(0)} (${r.free_per_s.toFixed(0)}/s)`,
        mib(r.peak_rss_bytes),
        `${s1(r.projected_total_ms)}, ${mib(r.projected_peak_rss_bytes)}`,
        verdict(r),
      ]);
    } catch (e) {
      rows.push([name, "-", "-", "-", "-", "-", "-", "-", (e as Error).message.split("\n")[0]]);
    }
  }
  const cli = cliScaleCase(quick, bigResult);
  try {
    const r = child<CliScaleResult>(["cli", JSON.stringify(cli)], SCALE_TIMEOUT_MS);
    out.push(r.result as unknown as ScaleResult);
    rows.push([
      r.result.machine,
      `${(r.result.size / GiB).toFixed(0)} GiB`,
      `${r.result.folios}/${r.result.target_folios}`,
      `total ${r.total_ms}${r.cpu_ms === null ? "" : ` (CPU ${r.cpu_ms})`}`,
      "-",
      "-",
      mib(r.result.peak_rss_bytes),
      `${s1(r.result.projected_total_ms)}, ${mib(r.result.projected_peak_rss_bytes)}`,
      verdict(r.result),
    ]);
  } catch (e) {
    rows.push([
      `hvo run (CLI) ${basename(cli.machine)}`,
      "-",
      "-",
      "-",
      "-",
      "-",
      "-",
      "-",
      (e as Error).message.split("\n")[0],
    ]);
  }
  printTable(
    [
      "machine",
      "size",
      "folios done/full",
      "boot ms",
      "fill ms",
      "free ms",
      "peak RSS",
      "full run (projected)",
      "<= 10 s, 4 GiB",
    ],
    rows,
  );
  return out;
}

const SHAPE_DESIGNS = ["legacy", "seed", "mainline"] as const;

function benchCompound(quick: boolean): Record<string, number> {
  const o = quick ? QUICK : FULL;
  console.log("");
  console.log(
    `compound_head() through the simulated MMU (${o.folios} optimised 2 MiB folios, every pfn, per CPU second; goal ${TARGET.chPerS / 1e6} M/s)`,
  );
  const out: Record<string, number> = {};
  for (const d of SHAPE_DESIGNS) out[d] = compoundHeadRate(d, o.folios, o.calls);
  printTable(
    ["design", "calls/s"],
    SHAPE_DESIGNS.map((d) => [d, out[d].toLocaleString("en-US")]),
  );
  return out;
}

/** `node bin/hvo.mjs ARGS`, wall time in ms, median of n. */
function medianRunMs(args: string[], n: number): number {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [join(ROOT, "bin/hvo.mjs"), ...args], {
      encoding: "utf8",
      env: { ...process.env, HVO_FROM_SOURCE: undefined },
    });
    times.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`hvo ${args.join(" ")} failed: ${r.stderr}`);
  }
  return Math.round(times.sort((a, b) => a - b)[Math.floor(n / 2)]);
}

/**
 * `hvo --help` (the issue's figure), and beside it a command that boots the default machine and
 * reads one file, for what a script calling hvo again and again pays.
 */
function benchStartup(quick: boolean): number {
  const n = quick ? QUICK.startup : FULL.startup;
  const ms = medianRunMs(["--help"], n);
  const cat = medianRunMs(["cat", "/proc/meminfo"], n);
  const fresh = buildIsFresh(ROOT);
  console.log("");
  console.log(
    `Startup: hvo --help in ${ms} ms (median of ${n}; goal ${TARGET.startupMs} ms)${fresh ? "" : "; dist/ is older than src/, so this ran the sources through tsx: npm run build"}`,
  );
  console.log(`         hvo cat /proc/meminfo (boots the default machine) in ${cat} ms`);
  return ms;
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === "--child") {
    const [, kind, arg] = argv;
    if (kind === "boot") console.log(JSON.stringify(bootOnce(Number(arg))));
    else if (kind === "pool")
      console.log(JSON.stringify(await poolOnce(JSON.parse(arg) as PoolBenchCase)));
    else if (kind === "scale")
      console.log(JSON.stringify(scaleOnce(JSON.parse(arg) as ScaleCase, Number(argv[3]))));
    else if (kind === "cli")
      console.log(JSON.stringify(await cliScaleOnce(ROOT, JSON.parse(arg) as CliScaleCase)));
    else throw new Error(`unknown bench child ${kind}`);
    return;
  }
  const flags = new Set(argv.filter((a) => a.startsWith("--")));
  for (const f of flags)
    if (!["--json", "--quick", "--no-live"].includes(f)) {
      console.error(`bench: unknown option ${f} (--json, --quick, --no-live)`);
      process.exit(2);
    }
  const quick = flags.has("--quick");
  const json = flags.has("--json");
  const live = !flags.has("--no-live");
  const only = argv.find((a) => !a.startsWith("--"));
  const SECTIONS = ["boot", "pool", "checker", "live", "scale", "compound", "startup"];
  if (only && !SECTIONS.includes(only)) {
    console.error(`bench: unknown section ${only} (${SECTIONS.join(", ")})`);
    process.exit(2);
  }
  const want = (s: string) => (only ? only === s : true);
  // --quick: every figure of the --json line, small; the slow tables of --json are left out.
  if (!quick && want("boot")) benchBoot();
  if (!quick && want("pool")) benchPool();
  const vs = json || want("live") ? await benchLive(quick, live) : null;
  const scale = json || want("scale") ? benchScale(quick) : null;
  const check = json || want("checker") ? benchChecker(quick) : null;
  const ch = json || want("compound") ? benchCompound(quick) : null;
  const startup = json || want("startup") ? benchStartup(quick) : null;
  if (json) {
    const rate = (d: string) => check?.rows.find((r) => r.design === d)?.checked ?? null;
    const out = {
      vs_live: vs?.vs_live ?? [],
      live_unavailable: vs?.live_unavailable ?? null,
      scale: scale ?? [],
      check: Object.fromEntries(SHAPE_DESIGNS.map((d) => [d, { steps_per_s: rate(d) }])),
      compound_head_per_s: ch,
      startup_ms: startup,
    };
    console.log(JSON.stringify(out));
  }
}

await main(process.argv.slice(2));
