// npm run bench: boot time and memory of the model at three machine sizes, and (once the pool
// and HVO exist) the time to grow HugeTLB pools. Each measurement runs in a fresh child
// process, so that its RSS is that machine's alone. Never part of `npm test`.
//
//   node --expose-gc --import tsx bench/run.ts            all of it
//   node --expose-gc --import tsx bench/run.ts boot       boot only
//   node --expose-gc --import tsx bench/run.ts --child boot 64   (internal: one measurement)

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { bootOnce, type BootResult } from "./boot.ts";
import { CHECK_GOAL, benchCheck, checkTable } from "./check.ts";
import { poolBenchAvailable, poolOnce, type PoolBenchCase, type PoolResult } from "./pool.ts";

const GiB = 2 ** 30;
const SELF = fileURLToPath(import.meta.url);

/** Boot sizes: the 64 GiB, 1 TiB and 16 TiB x86_64 machines. */
const BOOT_SIZES_GIB = [64, 1024, 16384];

/** Pool cases: 2 MiB pool of 30000 pages on 64 GiB with HVO on and off, and a 1 GiB pool. */
const POOL_CASES: PoolBenchCase[] = [
  { label: "2M x 30000, HVO off", memoryGiB: 64, order: 9, count: 30000, hvo: false },
  { label: "2M x 30000, HVO on", memoryGiB: 64, order: 9, count: 30000, hvo: true },
  { label: "1G x 48, HVO off", memoryGiB: 64, order: 18, count: 48, hvo: false },
  { label: "1G x 48, HVO on", memoryGiB: 64, order: 18, count: 48, hvo: true },
];

function child<T>(args: string[]): T {
  const r = spawnSync(process.execPath, [...process.execArgv, SELF, "--child", ...args], {
    encoding: "utf8",
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`bench child ${args.join(" ")} failed:\n${r.stderr}`);
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

async function benchChecker(): Promise<void> {
  console.log("");
  console.log(
    `Invariant checker (hvo check, 4 GiB 2-node x86_64, 2000 seeded ops; goal: ${CHECK_GOAL.toLocaleString("en")} steps/s checked)`,
  );
  for (const l of checkTable(benchCheck())) console.log(l);
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === "--child") {
    const [, kind, arg] = argv;
    if (kind === "boot") console.log(JSON.stringify(bootOnce(Number(arg))));
    else if (kind === "pool")
      console.log(JSON.stringify(await poolOnce(JSON.parse(arg) as PoolBenchCase)));
    else throw new Error(`unknown bench child ${kind}`);
    return;
  }
  const only = argv[0];
  if (!only || only === "boot") benchBoot();
  if (!only || only === "pool") benchPool();
  if (!only || only === "checker") await benchChecker();
}

await main(process.argv.slice(2));
