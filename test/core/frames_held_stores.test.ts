// The stores to a folio's tails in its head vmemmap page past the folio's fields are held back
// by the frame store (frames.ts storeWordsLater(), compound.ts headTailsWords()): made when a
// read or write meets them, replaced by the next stores to the same words. Here a second model
// makes every such store at once (holdBackStores off). Both run the same sequences of pool
// changes (several between two looks, so that held-back stores meet the buddy's splits and
// merges, 1 GiB pages taking the freed memory, HVO remapping head pages) and must agree on
// everything a user or the kernel could tell apart after each sequence (test/model_digest.ts).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { bootModel } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";
import { P1G, P2M, runWrites, writePlan } from "../pool_writes.ts";

const GiB = 2 ** 30;
const SEED = 0x4e1d;

const plan = writePlan(300, 1);

const designs: Design[] = ["legacy", "mainline"];

describe("held-back tail stores read as the stores made at once", () => {
  it.each(designs)("%s: pools grown and shrunk, same digests after every sequence", (design) => {
    const plans = fc.sample(plan, { seed: SEED, numRuns: 2 });
    for (const [r, seqs] of plans.entries()) {
      const models = [0, 1].map(() =>
        bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design),
      );
      models[1].k.paths.holdBackStores = false;
      for (let i = 0; i < seqs.length; i++) {
        const d = models.map((m) => {
          runWrites(m, seqs[i]);
          return JSON.stringify(modelDigest(m, { frames: true, pools: [P2M, P1G] }));
        });
        expect(
          d[0],
          `seed ${SEED} run ${r}, after sequence ${i} of ${JSON.stringify(seqs.slice(0, i + 1))}`,
        ).toBe(d[1]);
      }
    }
  });

  it("the stores are held back on the pool's path (the frame store made none of them)", () => {
    const m = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 1 }), "legacy");
    const fr = m.k.frames as unknown as { makePending(id: number): void };
    let made = 0;
    const orig = fr.makePending.bind(fr);
    fr.makePending = (id: number) => {
      made++;
      orig(id);
    };
    runWrites(m, [
      [P2M, 200],
      [P2M, 0],
      [P2M, 200],
      [P2M, 0],
    ]);
    // 2 MiB folios: tails 4..63 of each head vmemmap page are held back, and nothing between
    // a folio's make and free (nor a free and the next make) reads them.
    expect(made).toBe(0);
    // A read of a freed head's vmemmap page makes them: its tails read as freed (no compound
    // word, no mapping), as the kernel's free_tail_page_prepare() left them.
    runWrites(m, [[P2M, 1]]);
    const head = [...m.pool.folios.keys()][0];
    runWrites(m, [[P2M, 0]]);
    const tail = head + 10;
    expect(m.k.memmap.readU32(tail, PAGE_OFF.compoundInfo)).toBe(0);
    expect(m.k.memmap.readU32(tail, PAGE_OFF.mapping)).toBe(0);
    expect(made).toBeGreaterThan(0);
  });
});
