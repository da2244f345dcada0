// VmemmapMirror.mappedIn(start, end, frame, leaf): the frame ledger's question after an
// allocation changed [start, end) - which PTE-mapped frames of the range back the memmap, and
// which huge leaves map frames of it. Every huge leaf whose frames meet the range is told once,
// in increasing order of its blocks, whether the range is walked block by block or the blocks
// holding leaves are listed (a range wider than there are such blocks): compared with the
// leaves worked out from hugeLeaves() for ranges over one, two and all of them.
import { describe, expect, it } from "vitest";
import { checkContext } from "../../src/check/invariants.ts";
import { bootCheckModel, checkMachineSpec, defaultCheckMachine } from "../../src/check/run.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";

function bootMirror() {
  const spec = checkMachineSpec(defaultCheckMachine("x86_64", "hugetlb_free_vmemmap=on"));
  const model = bootCheckModel(spec, "mainline", null);
  new ModelSession(model).reset();
  model.settle();
  const c = checkContext(model.k);
  c.mirror.refresh();
  return c.mirror;
}

describe("mappedIn() tells every huge leaf that meets the range, once", () => {
  const mirror = bootMirror();
  const leaves = [...mirror.hugeLeaves()].sort((a, b) => a.frame - b.frame);
  const meeting = (start: number, end: number) =>
    leaves
      .filter((h) => h.frame < end && h.frame + h.nrPages > start)
      .map((h) => h.vpn)
      .sort((a, b) => a - b);
  const told = (start: number, end: number) => {
    const out: number[] = [];
    mirror.mappedIn(
      start,
      end,
      () => {},
      (vpn) => out.push(vpn),
    );
    return out;
  };

  it("the boot memmap is mapped by several huge leaves (what the cases below need)", () => {
    expect(leaves.length).toBeGreaterThan(3);
  });

  it("over all of them, one frame of each, and two neighbours' boundary", () => {
    const lo = leaves[0].frame;
    const hi = leaves[leaves.length - 1].frame + leaves[leaves.length - 1].nrPages;
    const cases: Array<[number, number]> = [
      [lo, hi],
      [lo - 5000, hi + 5000],
      [leaves[1].frame + 7, leaves[1].frame + 8],
      [leaves[1].frame + leaves[1].nrPages - 1, leaves[2].frame + 1],
      [leaves[0].frame, leaves[2].frame + leaves[2].nrPages],
    ];
    for (const [s, e] of cases) {
      const got = told(s, e);
      expect(new Set(got).size, `[${s}, ${e}) told a leaf twice`).toBe(got.length);
      expect(
        [...got].sort((a, b) => a - b),
        `[${s}, ${e})`,
      ).toEqual(meeting(s, e));
    }
  });
});
