// The checker's throughput for `npm run bench` (bench/run.ts imports benchCheck()): steps per
// second of `hvo check` with the invariants after every step on a 4 GiB 2-node x86_64 machine,
// per design, the same with the model alone (no checks), the difference per step, and the
// time of a full `hvo matrix`. A check run stops at its first violation: the seed is one
// whose 2000 operations run clean.

import { buildMatrix } from "../src/check/matrix.ts";
import { type CheckConfig, defaultCheckMachine, execute, generateOps } from "../src/check/run.ts";
import { DESIGNS } from "../src/kernel.ts";

const OPS = 2000;

function config(design: CheckConfig["design"], every: number): CheckConfig {
  return {
    machine: defaultCheckMachine("x86_64"),
    design,
    seed: 7,
    ops: OPS,
    every,
    faults: 0,
    shrinkMs: 0,
  };
}

/** Steps per second, per design, with checks every step and (for comparison) every 10^9 steps. */
export async function benchCheck(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  // Warm the JIT up first, so that the first design measured is not the slowest by accident.
  const warm = config("mainline", 1);
  execute(warm, generateOps({ ...warm, ops: 300 }));
  for (const design of DESIGNS) {
    const perStep: Record<string, number> = {};
    for (const [label, every] of [
      ["checked", 1],
      ["unchecked", 1e9],
    ] as const) {
      const cfg = config(design, every);
      const ops = generateOps(cfg);
      const t0 = performance.now();
      const ex = execute(cfg, ops);
      const s = (performance.now() - t0) / 1000;
      out[`check ${design} steps/s (${label})`] = Math.round(ex.stepsRun / s);
      perStep[label] = (s * 1e6) / Math.max(1, ex.stepsRun);
    }
    // What the invariants add to each step, whatever the model's own operations cost.
    out[`check ${design} invariant µs/step`] = Math.round(perStep.checked - perStep.unchecked);
  }
  const t0 = performance.now();
  buildMatrix({ ops: 20 });
  out["matrix s (72 rows, 20 ops each)"] = Math.round((performance.now() - t0) / 100) / 10;
  return out;
}

// Run directly: node --import tsx bench/check.ts
if (import.meta.url === `file://${process.argv[1]}`) {
  benchCheck().then((r) => {
    for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(44)} ${v}\n`);
  });
}
