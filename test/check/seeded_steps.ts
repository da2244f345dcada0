// Seeded runs of `hvo check` operations on a model, for the tests of the checker's kept
// verdicts (pass_memo, pool_memo): a 4 GiB x86_64 machine booted with HVO, and a walk over
// the steps of one seed that calls back after each step that changes something; and a model
// with one folio HVO optimised, with a checker context (vmemmap_mirror, folio_runs).
import { bootCheckModel, checkMachineSpec, defaultCheckMachine } from "../../src/check/run.ts";
import { applyStep, generateOps, isNoop } from "../../src/check/run.ts";
import { type CheckContext, checkContext } from "../../src/check/invariants.ts";
import type { Design, Kernel, Mutation } from "../../src/kernel.ts";
import type { Model } from "../../src/model.ts";
import type { Step } from "../../src/scenario/format.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";

export const machine = defaultCheckMachine("x86_64", "hugetlb_free_vmemmap=on");

/** A check model of `machine` and its session, reset as `hvo check` starts a run. */
export function checkModel(
  design: Design,
  mutation: Mutation | null = null,
): { model: Model; session: ModelSession } {
  const model = bootCheckModel(checkMachineSpec(machine), design, mutation);
  const session = new ModelSession(model);
  session.reset();
  return { model, session };
}

/** The seed's `ops` operations on the model, each applied and settled, then `after(i, step)`;
 * no-op steps are skipped as `hvo check` skips them. */
export function runSeed(
  design: Design,
  seed: number,
  ops: number,
  { model, session }: { model: Model; session: ModelSession },
  after: (i: number, step: Step) => void,
): void {
  const plan = generateOps({ machine, design, seed, ops, every: 1, faults: 0, shrinkRuns: 0 });
  for (const [i, op] of plan.entries()) {
    if (isNoop(session, op.step)) continue;
    applyStep(model, session, op.step);
    model.settle();
    after(i, op.step);
  }
}

/**
 * A check model of `machine` with HVO on and one folio of `size` optimised, settled, and a
 * checker context whose vmemmap mirror has been refreshed.
 */
export function optimisedFolioModel(design: Design, size: "2M" | "1G") {
  const { model, session } = checkModel(design);
  applyStep(model, session, { op: "hvo", value: 1 });
  applyStep(model, session, { op: "nr", size, value: 1 });
  model.settle();
  const k = model.k;
  const c = checkContext(k);
  c.mirror.refresh();
  return { k, c };
}

/**
 * Pfns where a lookup by pfn can go wrong: the first, middle and last pfn of every free block
 * and every allocation, the pfn after each allocation, each with its neighbours (-1 to +2), and
 * every 997th pfn of the machine.
 */
export function edgePfns(k: Kernel): number[] {
  const out: number[] = [];
  const near = (p: number) => {
    for (const d of [-1, 0, 1, 2]) if (p + d >= 0) out.push(p + d);
  };
  for (const b of k.buddy.freeBlocks()) {
    near(b.start);
    near(b.start + b.nrPages - 1);
    near(b.start + (b.nrPages >> 1));
  }
  for (const [pfn, a] of k.buddy.allocations) {
    const n = 2 ** a.order;
    near(pfn);
    near(pfn + (n >> 1));
    near(pfn + n - 1);
    near(pfn + n);
  }
  const end = Math.max(...k.spec.nodes.flatMap((n) => n.ranges.map((r) => r.endPfn)));
  for (let p = 0; p < end; p += 997) out.push(p);
  return out;
}

/**
 * One 2 MiB folio, not optimised, on mainline with the checker's context made: its head, the
 * struct pages per vmemmap page, its first vmemmap page and the frames of vmemmap pages 1..3
 * (which hold nothing but plain tails), for tests that give those pages other contents.
 */
export function oneFolio() {
  const { model, session } = checkModel("mainline");
  applyStep(model, session, { op: "nr", size: "2M", value: 1 });
  model.settle();
  const k: Kernel = model.k;
  const c: CheckContext = checkContext(k);
  c.mirror.refresh();
  const head = [...(k.sub.hugetlb as { folios: Map<number, unknown> }).folios.keys()][0];
  const perPage = k.pageSize / k.spec.structPageSize;
  const vpn0 = c.mirror.vpnOfPfn(head);
  const frames = [1, 2, 3].map((i) => c.mirror.frameOf(vpn0 + i));
  return { k, c, head, perPage, vpn0, frames };
}
