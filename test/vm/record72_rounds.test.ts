// `hvo vm --record` of several rounds on Linux 7.2 under QEMU: each round's runs carry the
// guest's /proc/pagetypeinfo as it was before that round (recordVm()), and the replay of each
// round on the model of the guest (runModelLikeVm(), calibrated with that round's text) agrees
// on every exact field.
//
// The rounds share one boot. A 2 MiB pool grown with HVO on and shrunk gives back its vmemmap
// (2048 folios x 7 pages = 14,336 pages restored, GFP_KERNEL): the kernel claims Unmovable
// pageblocks for them (mm/page_alloc.c __rmqueue_claim()) and keeps them Unmovable, so round 1
// starts from more Unmovable blocks than the boot had. A round calibrated with the boot's text
// would model a guest that round 1 never ran on.
//
// One boot (6 GiB). Skips, saying why, where QEMU or the Debian kernel cannot be had.
import { beforeAll, describe, expect, it } from "vitest";
import { comparison, runModelLikeVm } from "../../src/cli/commands/diff.ts";
import { recordVm } from "../../src/live/vm/run.ts";
import { formatDifference } from "../../src/scenario/compare.ts";
import { parseScenarioFile } from "../../src/scenario/format.ts";
import { recordedRound, vmPiecesUnavailable } from "./pieces.ts";

let unavailable: string | null = null;
beforeAll(async () => {
  unavailable = await vmPiecesUnavailable("test/vm/record72_rounds");
}, 600_000);

/** Pages spanned by Node 0's Normal Unmovable pageblocks ("Number of blocks type" x per block). */
function unmovableSpan(text: string): number {
  const perBlock = Number(/^Pages per block:\s+(\d+)$/m.exec(text)?.[1]);
  const blocks = Number(/^Node\s+0,\s*zone\s+Normal\s+(\d+)\s/m.exec(text)?.[1]);
  return blocks * perBlock;
}

const raw = {
  format: "hvo-scenario/1",
  vm: { memory: "6G" },
  scenarios: [
    {
      id: "restore_2M_HVO",
      desc: "2048 x 2 MiB with HVO on, then freed: 14,336 vmemmap pages restored",
      steps: [
        { op: "hvo", value: 1 },
        { op: "nr", size: "2M", value: 2048 },
        { op: "nr", size: "2M", value: 0 },
      ],
    },
  ],
};

describe("Linux 7.2: hvo vm --record, two rounds in one boot", () => {
  it("each round carries the pagetypeinfo it started from, and replays equal on the model", async (ctx) => {
    if (unavailable) return ctx.skip();
    const rec = await recordVm(raw, 2, {});
    const runs = rec.scenarios.restore_2M_HVO.runs;
    expect(runs.map((r) => r.round)).toEqual([0, 1]);
    const texts = runs.map((r) => r.pagetypeinfo);
    for (const t of texts) expect(t).toMatch(/^Pages per block:\s+512$/m);
    // The guest did grow and shrink the pool, and gave the vmemmap back (+7 a folio).
    for (const r of runs) {
      expect(r.steps[1].after.h2M.nr).toBe(2048);
      expect(r.steps[2].delta.memmap_sum).toBe(2048 * 7);
    }
    // Round 0's restores claimed Unmovable blocks that round 1 starts from.
    const [span0, span1] = texts.map((t) => unmovableSpan(String(t)));
    expect(span0).toBeGreaterThan(0);
    expect(span1).toBeGreaterThanOrEqual(span0 + 512);
    // Each round on the model of the guest booted with that round's figures.
    for (const round of [0, 1]) {
      const real = recordedRound(rec, round);
      expect(real.scenarios.restore_2M_HVO.pagetypeinfo).toBe(texts[round]);
      const { result: model } = await runModelLikeVm(parseScenarioFile(raw), real);
      expect([round, comparison(real, model, rec, true).diffs.map(formatDifference)]).toEqual([
        round,
        [],
      ]);
    }
  }, 900_000);
});
