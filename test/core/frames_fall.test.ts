// Falling runs of frames (src/mm/frames.ts setPatternRangeDown(), src/mm/compound.ts
// forEachTailRange()): a restore takes its vmemmap pages off the buddy's lists top-down and maps
// them in ascending vmemmap order, so a folio's tails sit in frames that fall as the memmap
// rises. Held as one run, they must read as setPattern() of each frame in turn:
//   - the frame store alone, against the per-frame Map store (frames_reference.ts), seeded;
//   - whole models, with the compound code's falling runs on and off: 1 GiB and 2 MiB pools
//     grown and shrunk with HVO on, every struct page, PTE, free list and counter compared.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import type { FramePattern } from "../../src/mm/frames.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";
import {
  expectSameFrames,
  PAGE,
  rangeFrameArb,
  type StoreOp,
  storeOpArb,
  twoStores,
} from "./frames_reference.ts";

type Op =
  /** Frames [frame, frame + nr) take a pattern, frame + i at voff (voffPage - i) pages. */
  | {
      op: "down";
      frame: number;
      nr: number;
      voffPage: number;
      kind: "tails" | "freed";
      folio: number;
    }
  /** The same, ascending (setPatternRange()). */
  | {
      op: "up";
      frame: number;
      nr: number;
      voffPage: number;
      kind: "tails" | "freed";
      folio: number;
    }
  /** A store to one frame. */
  | StoreOp;

const frameArb = rangeFrameArb(40);
const runArb = (op: "down" | "up") =>
  fc.record({
    op: fc.constant(op),
    frame: frameArb,
    nr: fc.integer({ min: 1, max: 40 }),
    voffPage: fc.integer({ min: 40, max: 700 }),
    kind: fc.constantFrom("tails" as const, "freed" as const),
    folio: fc.integer({ min: 0, max: 3 }),
  });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: runArb("down") },
  { weight: 2, arbitrary: runArb("up") },
  {
    weight: 2,
    arbitrary: storeOpArb(frameArb),
  },
);

function pattern(kind: "tails" | "freed", folio: number, voff: number): FramePattern {
  return kind === "tails"
    ? { kind: "tails", voff, info: 0xffffea0000000001n + BigInt(folio) * 32768n }
    : { kind: "init", voff, asFree: true };
}

function bothAgree(ops: readonly Op[]): void {
  const { a, b } = twoStores();
  for (const o of ops) {
    if (o.op === "write") {
      a.writeU32(o.frame, o.off, o.value);
      b.writeU32(o.frame, o.off, o.value);
    } else if (o.op === "up") {
      a.setPatternRange(o.frame, o.nr, pattern(o.kind, o.folio, o.voffPage * PAGE));
      b.setPatternRange(o.frame, o.nr, pattern(o.kind, o.folio, o.voffPage * PAGE));
    } else {
      a.setPatternRangeDown(o.frame, o.nr, pattern(o.kind, o.folio, o.voffPage * PAGE));
      // The plain path: the run's frames one at a time, top-down as a page list hands them out.
      for (let i = o.nr - 1; i >= 0; i--)
        b.setPattern(o.frame + i, pattern(o.kind, o.folio, (o.voffPage - i) * PAGE));
    }
  }
  expectSameFrames(a, b);
}

const GiB = 2 ** 30;
const H2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const H1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
const STEPS: [string, string][] = [
  ["/proc/sys/vm/hugetlb_optimize_vmemmap", "1"],
  [H1G, "2"],
  [H2M, "200"],
  [H1G, "0"],
  [H1G, "2"],
  [H2M, "0"],
  [H1G, "1"],
  [H1G, "0"],
];

function model(design: Design, falling: boolean): Model {
  const m = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 1 }), design);
  m.k.paths.fallingRuns = falling;
  return m;
}

describe("falling runs of frames read as the same patterns set frame by frame", () => {
  it("frame store: setPatternRangeDown() against setPattern() of each frame, top-down", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 20, maxLength: 120 }), (ops) => bothAgree(ops)),
      { seed: 4242, numRuns: 40 },
    );
  });

  for (const design of ["mainline", "legacy"] as const) {
    it(`${design}: pools with HVO on, compound tails in falling runs and frame by frame`, () => {
      const fast = model(design, true);
      const plain = model(design, false);
      for (const [path, value] of STEPS) {
        fast.write(path, value);
        fast.settle();
        plain.write(path, value);
        plain.settle();
        expect(fast.vfs.tryRead(path), `${value} > ${path}`).toBe(plain.vfs.tryRead(path));
        const d = (m: Model) => modelDigest(m, { frames: true, pools: [H2M, H1G] });
        expect(d(fast), `${design} after ${value} > ${path}`).toEqual(d(plain));
      }
    });
  }
});
