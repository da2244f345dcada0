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
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";

const GiB = 2 ** 30;
const P2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const P1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
const HVO = "/proc/sys/vm/hugetlb_optimize_vmemmap";
const SEED = 0x4e1d;

type Write = [string, number];

function run(m: Model, writes: readonly Write[]): void {
  for (const [file, n] of writes) {
    try {
      m.write(file, String(n));
    } catch {
      // A refused write (EBUSY...) refuses the same in both models; the digests tell.
    }
    m.settle();
  }
}

const write = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constant(P2M), fc.nat(300)) },
  { weight: 2, arbitrary: fc.tuple(fc.constant(P1G), fc.nat(2)) },
  { weight: 1, arbitrary: fc.tuple(fc.constant(HVO), fc.nat(1)) },
) as fc.Arbitrary<Write>;
/** Sequences of writes; the models are compared after each sequence. */
const plan = fc.array(fc.array(write, { minLength: 1, maxLength: 5 }), {
  minLength: 4,
  maxLength: 6,
});

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
          run(m, seqs[i]);
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
    run(m, [
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
    run(m, [[P2M, 1]]);
    const head = [...m.pool.folios.keys()][0];
    run(m, [[P2M, 0]]);
    const tail = head + 10;
    expect(m.k.memmap.readU32(tail, PAGE_OFF.compoundInfo)).toBe(0);
    expect(m.k.memmap.readU32(tail, PAGE_OFF.mapping)).toBe(0);
    expect(made).toBeGreaterThan(0);
  });
});
