// compound_head() through the simulated MMU, per design: include/linux/page-flags.h
// compound_head() (with page_fixed_fake_head() where the design has it) of every pfn of
// optimised folios, read through the vmemmap the way the CPU reads it. A 4 GiB 2-node x86_64
// machine, 2 MiB folios with HVO on.
import { machinePreset } from "../src/arch/index.ts";
import type { Design } from "../src/kernel.ts";
import { bootModel } from "../src/model.ts";

const GiB = 2 ** 30;

/** Calls of compoundHead() per CPU second over every pfn of `folios` optimised 2 MiB folios. */
export function compoundHeadRate(design: Design, folios: number, minCalls: number): number {
  const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design);
  model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
  model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", String(folios));
  model.settle();
  const heads: [number, number][] = [];
  for (const [head, info] of model.pool.folios) heads.push([head, 2 ** info.h.order]);
  if (heads.length === 0) throw new Error(`${design}: no folios to read`);
  const c = model.k.compound;
  // One pass to warm the JIT up and to check the answers: a bench of wrong answers is no bench.
  for (const [head, n] of heads)
    for (let i = 0; i < n; i++)
      if (c.compoundHead(head + i) !== head)
        throw new Error(`${design}: compound_head(${head + i}) is not ${head}`);
  let sink = 0;
  const round = (): number => {
    let calls = 0;
    while (calls < minCalls) {
      for (const [head, n] of heads) for (let i = 0; i < n; i++) sink ^= c.compoundHead(head + i);
      calls += heads.reduce((s, [, n]) => s + n, 0);
    }
    return calls;
  };
  // A whole untimed round first: the JIT reaches its optimised code only after many calls.
  round();
  // CPU time of this process, not wall time: the same figure on an idle machine, and one that
  // does not drop when other work shares the cores. The median of TIMED_ROUNDS rounds: the
  // first timed round after the warm one still ran 10-25% slow in about half of the runs
  // measured (the JIT re-optimising after the previous design's model), and one round of
  // 0.1 s said more about that than about compound_head().
  const rates: number[] = [];
  for (let r = 0; r < TIMED_ROUNDS; r++) {
    const t0 = process.cpuUsage();
    const calls = round();
    const used = process.cpuUsage(t0);
    rates.push(calls / ((used.user + used.system) / 1e6));
  }
  if (sink === -1) throw new Error("unreachable"); // keeps the loop's result alive
  rates.sort((a, b) => a - b);
  return Math.round(rates[(rates.length - 1) >> 1]);
}

/** Timed rounds per design, of which compoundHeadRate() reports the median. */
const TIMED_ROUNDS = 5;
