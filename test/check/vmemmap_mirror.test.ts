// The checker's mirror of the vmemmap page tables, kept up to date by decoding only the table
// frames written since its last refresh, against a mirror built afresh from the root after
// every step of seeded random operations: same translations, same reverse map, same huge
// leaves, and the translations are the model's own page-table walk. Also: a table entry
// written behind the page tables' back (not through set_pte) is still seen.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkContext } from "../../src/check/invariants.ts";
import {
  applyStep,
  bootCheckModel,
  checkMachineSpec,
  defaultCheckMachine,
  isNoop,
  stepArbitrary,
} from "../../src/check/run.ts";
import { VmemmapMirror } from "../../src/check/vmemmap_mirror.ts";
import { DESIGNS } from "../../src/kernel.ts";
import type { Kernel } from "../../src/kernel.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";

const PRESETS = ["x86_64", "arm64-64k", "riscv64"];

/** Everything a mirror says, in a comparable form. */
function picture(m: VmemmapMirror) {
  return {
    refs: [...m.pteRefs()].sort((a, b) => a[0] - b[0]),
    huge: [...m.hugeLeaves()]
      .map((h) => [h.vpn, h.frame, h.nrPages, h.writable])
      .sort((a, b) => (a[0] as number) - (b[0] as number)),
    tables: [...m.tableFrames].sort((a, b) => a - b),
  };
}

/** A few vmemmap pages of every PTE table and huge leaf, translated by the model's own walk. */
function spotCheck(k: Kernel, m: VmemmapMirror): void {
  const vpns = new Set<number>();
  for (const h of m.hugeLeaves()) vpns.add(h.vpn).add(h.vpn + h.nrPages - 1);
  let i = 0;
  for (const [frame] of m.pteRefs()) if (i++ % 97 === 0) vpns.add(frame);
  for (const vpn of vpns) {
    const walked = k.pgt.walk(k.vmemmapBase + BigInt(vpn) * BigInt(k.pageSize));
    const mine = m.translate(vpn);
    expect(mine && { frame: mine.frame, writable: mine.writable }).toEqual(
      walked && { frame: walked.frame, writable: walked.writable },
    );
  }
}

describe("the incremental vmemmap mirror equals one built from the root", () => {
  for (const preset of PRESETS)
    for (const design of DESIGNS)
      it(`${preset} ${design}: after every step of seeded runs`, () => {
        const spec = checkMachineSpec(defaultCheckMachine(preset));
        fc.assert(
          fc.property(fc.array(stepArbitrary(spec), { minLength: 1, maxLength: 50 }), (steps) => {
            const machine = defaultCheckMachine(preset, "hugetlb_free_vmemmap=on");
            const model = bootCheckModel(checkMachineSpec(machine), design, null);
            const session = new ModelSession(model);
            session.reset();
            const c = checkContext(model.k);
            c.mirror.refresh();
            for (const s of steps) {
              if (isNoop(session, s)) continue;
              applyStep(model, session, s);
              model.settle();
              c.mirror.refresh();
              const fresh = new VmemmapMirror(model.k);
              fresh.refresh();
              expect(picture(c.mirror)).toEqual(picture(fresh));
              spotCheck(model.k, c.mirror);
            }
          }),
          { seed: 20261206, numRuns: 3 },
        );
      });

  it("sees a PTE written straight into a table frame (no set_pte, no pteWrites)", () => {
    const spec = checkMachineSpec(defaultCheckMachine("x86_64", "hugetlb_free_vmemmap=on"));
    const model = bootCheckModel(spec, "mainline", null);
    const session = new ModelSession(model);
    session.reset();
    // One optimised 2 MiB folio: its tail vmemmap pages are PTEs of a split PMD.
    applyStep(model, session, { op: "hvo", value: 1 });
    applyStep(model, session, { op: "nr", size: "2M", value: 1 });
    model.settle();
    const c = checkContext(model.k);
    c.mirror.refresh();
    const k = model.k;
    const [head] = (k.sub.hugetlb as { folios: Map<number, unknown> }).folios.keys();
    const vpn = c.mirror.vpnOfPfn(head) + 1;
    const leaf = k.pgt.lookup(k.vmemmapBase + BigInt(vpn) * BigInt(k.pageSize));
    expect(leaf?.huge).toBe(false);
    const { tablePfn, idx } = leaf as { tablePfn: number; idx: number };
    const writes = k.pgt.pteWrites;
    // Point the PTE at another frame, bypassing the page-table code.
    const other = (leaf?.pfn ?? 0) + 12345;
    k.frames.writeU64(
      tablePfn,
      idx * 8,
      k.spec.arch.pte.mkLeaf(other, { writable: false, huge: false }, leaf?.level ?? 3),
    );
    expect(k.pgt.pteWrites).toBe(writes);
    c.mirror.refresh();
    expect(c.mirror.translate(vpn)?.frame).toBe(other);
  });
});
