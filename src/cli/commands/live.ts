// hvo live FILE: runs a scenario file on this machine's kernel (root, HugeTLB) through
// native/hvoexec.c and prints what the kernel reported; --json prints hvo-result/1, and
// --record N runs every scenario N times and prints hvo-recording/1.
import type { Command } from "commander";
import { type After, FormatError, type KpfPage, type StepRecord } from "../../scenario/format.ts";
import { BuildError } from "../../live/build.ts";
import { poolSummary } from "../../live/driver.ts";
import { HvoexecError } from "../../live/hvoexec.ts";
import { LockError } from "../../live/lock.ts";
import { LiveError, recordLive, runLive } from "../../live/run.ts";
import { type Io, UsageError } from "../io.ts";

function stepText(rec: StepRecord): string {
  const { op, ...rest } = rec.step as { op: string } & Record<string, unknown>;
  const args = Object.entries(rest)
    .map(([k, v]) => (k === "size" ? String(v) : `${k}=${JSON.stringify(v)}`))
    .join(" ");
  return args ? `${op} ${args}` : op;
}

function outcome(rec: StepRecord): string {
  if (rec.rc === 0) return "ok";
  return rec.code === "SIGBUS"
    ? `SIGBUS (touched ${rec.touched ?? "?"})`
    : `${rec.code} (${rec.errno})`;
}

/** KPF_COMPOUND_HEAD (include/uapi/linux/kernel-page-flags.h). */
const KPF_COMPOUND_HEAD = 15;

function kpfSummary(page: KpfPage): string {
  const hex = (w: number) => `0x${w.toString(16)}`;
  let heads = 0;
  const words = new Set<number>();
  for (const [word, n] of page.flags) {
    words.add(word);
    if (Math.floor(word / 2 ** KPF_COMPOUND_HEAD) % 2 === 1) heads += n;
  }
  return (
    `pfn ${page.pfn}: head ${hex(page.head_flags)}, ${heads} of ${page.nr} subpages report ` +
    `COMPOUND_HEAD, words {${[...words].map(hex).join(", ")}}, kpagecount ${JSON.stringify(page.counts)}`
  );
}

function signed(n: number | null): string {
  if (n === null) return "?";
  return n > 0 ? `+${n}` : String(n);
}

function counters(after: After, memmapDelta: number | null): string {
  return [
    `hvo=${after.hvo}`,
    `memmap ${after.memmap_sum} (${signed(memmapDelta)})`,
    poolSummary(after),
    `Hugetlb ${after.Hugetlb_kB} kB`,
  ].join("  ");
}

async function liveAction(
  io: Io,
  file: string,
  opts: { json?: boolean; record?: string; only?: string; quiet?: boolean },
): Promise<void> {
  const only = opts.only
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const log =
    opts.quiet || (!opts.json && !opts.record)
      ? undefined
      : (l: string) => io.err(`hvo live: ${l}\n`);
  try {
    if (opts.record !== undefined) {
      const rounds = Number(opts.record);
      if (!Number.isInteger(rounds) || rounds < 1)
        throw new UsageError(`--record needs a number of rounds >= 1, not "${opts.record}"`);
      const rec = await recordLive(file, rounds, { only, log });
      io.out(`${JSON.stringify(rec)}\n`);
      return;
    }
    const result = await runLive(file, { only, log });
    if (opts.json) {
      io.out(`${JSON.stringify(result, null, 1)}\n`);
      return;
    }
    io.out(`${result.kernel}\n`);
    for (const [id, sc] of Object.entries(result.scenarios)) {
      io.out(`\n${id}${sc.desc ? `: ${sc.desc}` : ""}\n`);
      if (sc.initial) io.out(`   -  initial${" ".repeat(30)}${counters(sc.initial, 0)}\n`);
      for (const rec of sc.steps) {
        const head = `${String(rec.i).padStart(4)}  ${stepText(rec)}`.padEnd(40);
        io.out(`${head} ${outcome(rec).padEnd(12)} ${counters(rec.after, rec.delta.memmap_sum)}\n`);
        for (const page of rec.kpf ?? []) io.out(`${" ".repeat(6)}${kpfSummary(page)}\n`);
      }
      const fr = sc.final_reset;
      if (fr)
        io.out(
          `   -  reset${" ".repeat(32)}${fr.clean ? "clean" : "NOT CLEAN"}  memmap ${fr.after.memmap_sum} (${signed(fr.delta.memmap_sum)})\n`,
        );
    }
  } catch (e) {
    if (
      e instanceof FormatError ||
      e instanceof LiveError ||
      e instanceof BuildError ||
      e instanceof LockError ||
      e instanceof HvoexecError
    )
      throw new UsageError(e.message);
    throw e;
  }
}

export function register(program: Command, io: Io): void {
  program
    .command("live")
    .description(
      "run a scenario file (hvo-scenario/1) on this machine's kernel: needs root and HugeTLB; " +
        "holds /tmp/hvo-live.lock and restores the pools, overcommit, demote_size and " +
        "hugetlb_optimize_vmemmap it found",
    )
    .argument("<file>", "an hvo-scenario/1 JSON file")
    .option("--json", "print hvo-result/1")
    .option("--record <rounds>", "run every scenario this many times and print hvo-recording/1")
    .option("--only <ids>", "only these scenarios (comma-separated ids)")
    .option("--quiet", "no progress lines on stderr")
    .action(
      (file: string, opts: { json?: boolean; record?: string; only?: string; quiet?: boolean }) =>
        liveAction(io, file, opts),
    );
}
