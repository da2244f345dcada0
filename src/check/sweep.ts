// A sweep of `hvo check`: the list of (machine, design, seed) runs one invocation makes, how
// `--shard I/N` splits it so that N batch jobs (a CI matrix, Kubernetes Jobs, Slurm arrays)
// together make every run once, and how `--merge` puts their `--json` results back together
// in the order of the unsharded run. Pure: the CLI reads and writes the files.

import type { Design, Mutation } from "../kernel.ts";

/** Everything that decides which runs a sweep makes and what each finds. */
export interface SweepSpec {
  machines: string[];
  designs: Design[];
  /** The first seed and how many: seeds seed0 .. seed0 + seeds - 1. */
  seed0: number;
  seeds: number;
  ops: number;
  every: number;
  faults: number;
  mutation: Mutation | null;
  shrinkRuns: number;
}

export interface SweepRun {
  /** Position in the unsharded sweep. */
  index: number;
  machine: string;
  design: Design;
  seed: number;
}

/** The runs of a sweep, in the order the unsharded `hvo check` makes them. */
export function sweepRuns(s: SweepSpec): SweepRun[] {
  const out: SweepRun[] = [];
  for (const machine of s.machines)
    for (const design of s.designs)
      for (let k = 0; k < s.seeds; k++)
        out.push({ index: out.length, machine, design, seed: s.seed0 + k });
  return out;
}

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}

export class ShardError extends Error {}

/** Parses "I/N" (1 <= I <= N). */
export function parseShard(text: string): Shard {
  const m = /^(\d{1,9})\/(\d{1,9})$/.exec(text);
  if (!m) throw new ShardError(`"${text}" is not I/N (this job's number and the number of jobs)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new ShardError(`"${text}": the number of jobs must be at least 1`);
  if (index < 1 || index > count)
    throw new ShardError(`"${text}": the job's number must be from 1 to ${count}`);
  return { index, count };
}

/**
 * The runs of one shard: every count-th run, starting at index - 1, so that each shard gets
 * a share of every machine and design (their runs take unequal times).
 */
export function shardRuns<T extends { index: number }>(runs: readonly T[], shard: Shard): T[] {
  return runs.filter((r) => r.index % shard.count === shard.index - 1);
}

/** A shard's `--json` result: the unsharded `{runs}` with the sweep and shard that made it. */
export interface ShardResult<R> {
  sweep: SweepSpec;
  shard: string;
  runs: R[];
}

export class MergeError extends Error {}

function sweepDiff(a: SweepSpec, b: SweepSpec): string {
  for (const k of Object.keys(a) as (keyof SweepSpec)[])
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k]))
      return `${k} ${JSON.stringify(a[k])} vs ${JSON.stringify(b[k])}`;
  return "";
}

/**
 * The runs of the whole sweep from the results of all its shards, each named by its file:
 * every shard of one sweep exactly once, or a MergeError saying what is wrong.
 */
export function mergeShards<R>(files: { name: string; result: ShardResult<R> }[]): {
  sweep: SweepSpec;
  runs: R[];
} {
  if (files.length === 0) throw new MergeError("no files to merge");
  const first = files[0];
  const count = parseShardOf(first.name, first.result.shard).count;
  const byIndex = new Map<number, { name: string; result: ShardResult<R> }>();
  for (const f of files) {
    const d = sweepDiff(first.result.sweep, f.result.sweep);
    if (d) throw new MergeError(`${f.name} is from a different sweep than ${first.name} (${d})`);
    const sh = parseShardOf(f.name, f.result.shard);
    if (sh.count !== count)
      throw new MergeError(
        `${f.name} is shard ${f.result.shard}, ${first.name} is shard ${first.result.shard}: not one split`,
      );
    const dup = byIndex.get(sh.index);
    if (dup)
      throw new MergeError(`shard ${f.result.shard} is given twice (${dup.name}, ${f.name})`);
    byIndex.set(sh.index, f);
  }
  const missing = [];
  for (let i = 1; i <= count; i++) if (!byIndex.has(i)) missing.push(`${i}/${count}`);
  if (missing.length) throw new MergeError(`missing shard ${missing.join(", ")}`);
  const all = sweepRuns(first.result.sweep);
  const runs: R[] = new Array(all.length);
  for (const [i, f] of byIndex) {
    const mine = shardRuns(all, { index: i, count });
    if (mine.length !== f.result.runs.length)
      throw new MergeError(
        `${f.name}: shard ${f.result.shard} of this sweep has ${mine.length} runs, the file ${f.result.runs.length}`,
      );
    mine.forEach((r, k) => {
      runs[r.index] = f.result.runs[k];
    });
  }
  return { sweep: first.result.sweep, runs };
}

function parseShardOf(name: string, shard: unknown): Shard {
  if (typeof shard !== "string") throw new MergeError(`${name}: no "shard" (not a --shard result)`);
  try {
    return parseShard(shard);
  } catch (e) {
    throw new MergeError(`${name}: shard ${(e as Error).message}`);
  }
}
