// The one switch for the model's fast paths (src/mm/fast_paths.ts). A booted model's kernel
// holds one FastPaths object that every component with a fast path reads, so one call
// (k.paths.setAll(false)) runs the whole model on the plain forms (bootModel()'s paths option:
// from the start of boot). Then:
//   - a model on the plain forms from boot on and one on the fast paths take the same seeded sequences of
//     pool changes (2 MiB and 1 GiB pools grown and shrunk, HVO turned on and off) and must
//     agree after each sequence on everything a user or the kernel could tell apart
//     (test/model_digest.ts: memmap bytes, PTEs, free lists, counters, meminfo, log; not how
//     the frame store holds the bytes, which some fast paths change);
//   - FAST_PATHS, the list of fast paths, names for each one a differential test that exists
//     and switches that path by name, and lists exactly the switches FastPaths has.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { FAST_PATHS, FAST_PATH_NAMES, FastPaths } from "../../src/mm/fast_paths.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";
import { P1G, P2M, runWrites, type Write, writePlan } from "../pool_writes.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const GiB = 2 ** 30;
const SEED = 0xfa57;

const plan = writePlan(400, 2);

function boot(design: Design, paths?: FastPaths): Model {
  return bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design, { paths });
}

describe("one switch for the fast paths", () => {
  it("every component of a booted model reads the kernel's switches, and one call turns them all off", () => {
    const m = boot("mainline");
    const { k } = m;
    const holders = [k.frames, k.pgt, k.memmap, k.buddy, k.compound, m.vmemmap as HvoCore];
    for (const c of holders) expect(c.paths).toBe(k.paths);
    for (const name of FAST_PATH_NAMES) expect(k.paths[name], name).toBe(true);
    k.paths.setAll(false);
    for (const c of holders)
      for (const name of FAST_PATH_NAMES) expect(c.paths[name], name).toBe(false);
    // Given at boot: that object is the one shared.
    const given = FastPaths.plain();
    expect(boot("legacy", given).k.compound.paths).toBe(given);
    // A component on its own keeps its own switches.
    const plain = FastPaths.plain();
    expect(FAST_PATH_NAMES.filter((n) => plain[n])).toEqual([]);
    expect(FAST_PATH_NAMES.filter((n) => !new FastPaths()[n])).toEqual([]);
  });

  it("FAST_PATHS lists every switch once, each with a differential test that switches it", () => {
    const fields = Object.keys(new FastPaths()).sort();
    expect([...FAST_PATH_NAMES].sort()).toEqual(fields);
    for (const name of FAST_PATH_NAMES) {
      const file = join(ROOT, FAST_PATHS[name].test);
      expect(existsSync(file), `${name}: ${FAST_PATHS[name].test}`).toBe(true);
      const text = readFileSync(file, "utf8");
      // Off by name (paths.<name> = ...) or all of a component's at once (FastPaths.plain()).
      const switches =
        new RegExp(`paths\\.${name}\\s*=`).test(text) || text.includes("FastPaths.plain()");
      expect(switches, `${name}: ${FAST_PATHS[name].test} does not switch it`).toBe(true);
    }
  });

  it.each(["legacy", "seed", "mainline", "mainline-7.1"] as Design[])(
    "%s: the plain forms and the fast paths agree after every sequence of pool changes",
    (design) => {
      const plans = fc.sample(plan, { seed: SEED, numRuns: 2 });
      for (const [r, planned] of plans.entries()) {
        // Both pools emptied at the end: every 1 GiB folio given back to the buddy.
        const seqs: Write[][] = [
          ...planned,
          [
            [P1G, 0],
            [P2M, 0],
          ],
        ];
        // The second on the plain forms from the start of boot.
        const models = [boot(design), boot(design, FastPaths.plain())];
        for (let i = 0; i < seqs.length; i++) {
          const d = models.map((m) => {
            runWrites(m, seqs[i]);
            return JSON.stringify(modelDigest(m, { pools: [P2M, P1G] }));
          });
          expect(
            d[0],
            `seed ${SEED} run ${r}, after sequence ${i} of ${JSON.stringify(seqs.slice(0, i + 1))}`,
          ).toBe(d[1]);
        }
      }
    },
  );
});
