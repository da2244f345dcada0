// The tails of a folio whose compound word is the head's address (the pointer encoding of
// legacy) are given to the frame store as one pattern for every folio, the word following
// the frame's place (frames.ts infoSpan, compound.ts infoWord()). Here a second model gets, for
// the same stores, the plain form: frame by frame, a "tails" pattern holding the word the
// kernel's prep_compound_tail() writes there, the head's address | 1, worked out from the
// frame's memmap offset alone. Stepped through pools that grow and shrink, with HVO off and on,
// both must agree on everything a user or the kernel could tell apart (test/model_digest.ts).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import type { FramePattern, FrameStore } from "../../src/mm/frames.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";

const GiB = 2 ** 30;
const P1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
const SEED = 0x5ba7;

/** Makes m's frame store take every infoSpan "tails" pattern in its plain, per-frame form. */
function plainTails(m: Model): { spans: number } {
  const fr = m.k.frames as FrameStore;
  const page = m.k.pageSize;
  const base = m.k.memmap.vmemmapBase;
  const seen = { spans: 0 };
  /** The plain pattern of the frame that reads the memmap from voff on. */
  const plain = (p: FramePattern & { kind: "tails" }, voff: number): FramePattern => {
    const span = p.infoSpan as number;
    // The struct pages of the folio holding voff start at the span's start: its head.
    const headVoff = voff - (voff % span);
    // The head's address | 1 (PageTail); no checker mutation sets bit 1 in these models.
    return { kind: "tails", voff, info: base + BigInt(headVoff) + 1n };
  };
  const up = fr.setPatternRange.bind(fr);
  fr.setPatternRange = (frame: number, nr: number, p: FramePattern) => {
    if (p.kind !== "tails" || p.infoSpan === undefined) return up(frame, nr, p);
    seen.spans++;
    for (let i = 0; i < nr; i++) up(frame + i, 1, plain(p, p.voff + i * page));
  };
  const down = fr.setPatternRangeDown?.bind(fr);
  if (down !== undefined)
    fr.setPatternRangeDown = (frame: number, nr: number, p: FramePattern) => {
      if (p.kind !== "tails" || p.infoSpan === undefined) return down(frame, nr, p);
      seen.spans++;
      // frame + i reads the memmap page i below p.voff.
      for (let i = 0; i < nr; i++) up(frame + i, 1, plain(p, p.voff - i * page));
    };
  return seen;
}

function step(m: Model, file: string, n: number): void {
  m.write(file, String(n));
  m.settle();
}

// The pointer encoding with whole struct pages per vmemmap page (the shared form's only case):
// legacy's 64-byte struct pages. The other designs use the mask there (kernel.ts
// tailEncodingFor()), and other sizes are stored struct page by struct page.
const cases: [string, Design, boolean][] = [];
for (const preset of ["x86_64", "arm64-16k"])
  for (const hvo of [false, true]) cases.push([preset, "legacy", hvo]);

describe("tails patterns shared by folios (infoSpan) read as each folio's own plain pattern", () => {
  it.each(cases)(
    "%s %s, HVO %s: grow and shrink, same digests after every step",
    (preset, design, hvo) => {
      const small =
        preset === "x86_64"
          ? "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
          : "/sys/kernel/mm/hugepages/hugepages-32768kB/nr_hugepages";
      const counts = fc.sample(fc.array(fc.nat(40), { minLength: 5, maxLength: 5 }), {
        seed: SEED,
        numRuns: 1,
      })[0];
      const steps: [string, number][] = [
        [small, 20 + counts[0]],
        [P1G, 1],
        [small, counts[1]],
        [small, 30 + counts[2]],
        [P1G, 0],
        [small, counts[3]],
        [small, 0],
      ];
      const models = [0, 1].map(() =>
        bootModel(machinePreset(preset, { memoryBytes: 4 * GiB, nodes: 2 }), design),
      );
      const seen = plainTails(models[1]);
      const digests = models.map((m) => {
        step(m, "/proc/sys/vm/hugetlb_optimize_vmemmap", hvo ? 1 : 0);
        return steps.map(([file, n]) => {
          step(m, file, n);
          return JSON.stringify(modelDigest(m, { frames: true, pools: [small, P1G] }));
        });
      });
      for (let i = 0; i < steps.length; i++)
        expect(digests[0][i], `after ${steps[i][0]} = ${steps[i][1]} (seed ${SEED})`).toBe(
          digests[1][i],
        );
      // The shared form was taken (the plain model was given it, and turned it back).
      expect(seen.spans).toBeGreaterThan(0);
    },
  );
});
