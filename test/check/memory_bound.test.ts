// A long `hvo check` holds what a short one holds: after the reset every run starts from, the
// entries of every Map, Set and array (and every typed array, in 4 KiB units) that the model,
// the checker and the session can reach are, structure by structure, about as many after
// three times the operations. A structure that kept something per operation (a history of
// the steps, frame-store ids never given back: both made this test fail) would grow with the
// run; one bounded by the machine (a memo per folio head) would not, and need not. Bytes of
// RSS are not asserted: the garbage collector decides those (bench/check.ts memoryRun()
// measures them); counts of entries are the model's and the checker's own.
// Typed arrays count as structures too: a page list's spare pages, an id table's capacity
// are high-water marks that stop growing once the run has seen its largest state.
import { describe, expect, it } from "vitest";
import { Checker } from "../../src/check/checker.ts";
import {
  applyStep,
  bootCheckModel,
  checkMachineSpec,
  defaultCheckMachine,
  isNoop,
  opStream,
} from "../../src/check/run.ts";
import type { Design } from "../../src/kernel.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";

/**
 * Entries per structure of everything reachable from `roots`, breadth first. A structure is
 * named by the class of the object that holds it and its field ("FrameStore.runsOf"); what
 * sits inside a Map, Set or array is named after it ("PfnList.spares[]"), so that the names do
 * not depend on the path the walk took. Functions are not entered (what a closure holds is not
 * reachable from here).
 */
function census(roots: Record<string, object>): Map<string, number> {
  const out = new Map<string, number>();
  const seen = new Set<object>();
  let queue: [unknown, string][] = Object.entries(roots).map(([k, v]) => [v, k]);
  const count = (name: string, n: number) => out.set(name, (out.get(name) ?? 0) + n);
  while (queue.length) {
    const next: [unknown, string][] = [];
    for (const [o, name] of queue) {
      if (o === null || typeof o !== "object" || seen.has(o)) continue;
      seen.add(o);
      if (ArrayBuffer.isView(o)) {
        count(name, Math.ceil(o.byteLength / 4096));
        continue;
      }
      if (o instanceof ArrayBuffer) continue;
      if (o instanceof Map) {
        count(name, o.size);
        for (const [k, v] of o) next.push([k, `${name}.K`], [v, `${name}.V`]);
      } else if (o instanceof Set) {
        count(name, o.size);
        for (const v of o) next.push([v, `${name}[]`]);
      } else if (Array.isArray(o)) {
        count(name, o.length);
        for (const v of o) next.push([v, `${name}[]`]);
        continue;
      }
      const owner = o.constructor?.name ?? "null";
      for (const key of Object.getOwnPropertyNames(o)) {
        const d = Object.getOwnPropertyDescriptor(o, key);
        if (d && "value" in d)
          next.push([d.value, owner === "Object" ? `${name}.${key}` : `${owner}.${key}`]);
      }
    }
    queue = next;
  }
  return out;
}

/**
 * `hvo check`'s loop (src/check/run.ts execute()) over the seed's ops, the invariants checked
 * after every `every`-th op (`hvo check --every`: the checker still follows every step, and
 * the test stays quick), with the reset every run starts from after op `at[i]`; the census at
 * each of those points.
 */
function censusAfterReset(
  design: Design,
  ops: number,
  every: number,
  at: number[],
): Map<string, number>[] {
  const cfg = { machine: defaultCheckMachine("x86_64"), design, seed: 1, ops, every: 1, faults: 0 };
  const model = bootCheckModel(checkMachineSpec(cfg.machine), design, null);
  const checker = new Checker(model.k);
  const session = new ModelSession(model);
  const reset = () => {
    session.reset();
    model.settle();
    checker.afterStep(null);
  };
  reset();
  checker.resvHolders = () => ({
    mappings: [...session.maps.values()].filter((m) => m !== null),
    hugetlbfs: model.hugetlbfs,
  });
  const stream = opStream(cfg);
  const out: Map<string, number>[] = [];
  for (let i = 0; i < ops; i++) {
    const { step } = stream.next();
    if (!isNoop(session, step)) {
      applyStep(model, session, step);
      model.settle();
      checker.afterStep(step);
      if ((i + 1) % every === 0) expect(checker.check(), `op ${i}`).toEqual([]);
    }
    if (at.includes(i + 1)) {
      reset();
      expect(checker.check(true), `the reset after op ${i}`).toEqual([]);
      out.push(census({ model, checker, session }));
    }
  }
  return out;
}

describe("memory that does not grow with the number of operations", () => {
  for (const design of ["mainline", "legacy"] as const)
    it(`${design}: after 30,000 ops no structure holds much more than after 10,000`, () => {
      const [short, long] = censusAfterReset(design, 30_000, 10, [10_000, 30_000]);
      const grown: string[] = [];
      for (const [name, n] of long) {
        const before = short.get(name) ?? 0;
        if (n > before + Math.max(256, before / 4)) grown.push(`${name}: ${before} -> ${n}`);
      }
      expect(grown).toEqual([]);
      const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
      expect(total(long)).toBeLessThan(total(short) * 1.1);
    });
});
