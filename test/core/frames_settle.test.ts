// frames.ts settleAsFree() decides whether a vmemmap page's own bytes are exactly the memmap of
// free memory (pattern "init", asFree, unlisted). When the page's struct pages lie in one zone
// and one free block (hugetlb_vmemmap.ts freeHeadIn(), which also names the block's head if it
// is among them), it renders one struct page and the head's instead of every one, and stops
// at the first word that differs. It must give exactly the answer of rendering the whole page
// and comparing 4 KiB:
//   - property: pages made from a rendering (free memory, or memmap_init()'s as boot left it,
//     reserved pages included) plus random 32-bit stores, or none, at random places of a model
//     whose buddy has free heads of many orders (and zones of two nodes): both ways agree, and
//     leave the same bytes;
//   - end to end: pools grown and shrunk with HVO on (the freed vmemmap pages are settled after
//     every free), one model deciding by class and one by rendering: the same memmap bytes, the
//     same frames held as a pattern, the same page tables, for legacy, seed and mainline on
//     x86_64 (4 KiB pages) and arm64 with 16 KiB pages.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { PAGE_OFF, POISON_POINTER_DELTA } from "../../src/include/mm_types.ts";
import type { Design } from "../../src/kernel.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";

const GiB = 2 ** 30;
const SEED = 7207;
const P2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const P1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";

function boot(preset: string, design: Design, classes: boolean): Model {
  const spec = machinePreset(preset, { memoryBytes: 4 * GiB, nodes: 2 });
  const m = bootModel(spec, design);
  m.k.paths.settleClasses = classes;
  return m;
}

function step(m: Model, file: string, n: number): void {
  m.write(file, String(n));
  m.settle();
}

describe("settleAsFree by class = by rendering the whole page", () => {
  it("property: random pages, random stores", () => {
    const m = boot("x86_64", "mainline", true);
    // Free heads of every order: a 2 MiB pool grown, then shrunk to a scattered half.
    step(m, P2M, 700);
    for (let i = 0; i < 40; i++) step(m, P2M, 700 - 7 * i - (i % 3));
    const { k } = m;
    const fr = k.frames;
    const core = m.vmemmap as HvoCore;
    const ps = k.pageSize;
    const sps = k.spec.structPageSize;
    const words = ps / 4;
    let end = 0;
    for (const n of k.spec.nodes) for (const r of n.ranges) end = Math.max(end, r.endPfn);
    const vpns = Math.floor((end * sps) / ps);
    // Two frames no model state uses (past the end of memory): the same bytes in each.
    const a = end + 10;
    const b = end + 11;
    let settled = 0;
    let kept = 0;
    let heads = 0;
    const store = fc.record({
      word: fc.nat(words - 1),
      how: fc.constantFrom("zero", "ones", "flip", "copy", "poison", "self"),
      from: fc.nat(words - 1),
      bit: fc.nat(31),
    });
    fc.assert(
      fc.property(
        fc.nat(vpns - 1),
        fc.constantFrom("freed", "freed", "asFree", "init"),
        fc.oneof(fc.constant([]), fc.array(store, { maxLength: 4 })),
        (vpn, base, stores) => {
          const voff = vpn * ps;
          fr.setPattern(a, {
            kind: "init",
            voff,
            asFree: base !== "init",
            unlisted: base === "freed",
          });
          const w = new Uint32Array(fr.view(a).slice().buffer);
          for (const s of stores) {
            const cur = w[s.word];
            w[s.word] =
              s.how === "zero"
                ? 0
                : s.how === "ones"
                  ? 0xffffffff
                  : s.how === "flip"
                    ? (cur ^ (1 << s.bit)) >>> 0
                    : s.how === "copy"
                      ? w[s.from]
                      : s.how === "poison"
                        ? Number(POISON_POINTER_DELTA >> 32n)
                        : // the low half of the struct page's lru.next
                          w[s.word - (s.word % (sps / 4)) + PAGE_OFF.lruNext / 4];
          }
          const bytes = new Uint8Array(w.buffer);
          fr.writeBytes(a, 0, bytes);
          fr.writeBytes(b, 0, bytes);
          const head = core.freeHeadIn(voff / sps, ps / sps);
          const byClass = fr.settleAsFree(a, voff, head);
          const byRender = fr.settleAsFree(b, voff);
          if (head === undefined) return;
          if (head >= 0) heads++;
          if (byRender) settled++;
          else kept++;
          expect(byClass).toBe(byRender);
          expect(Buffer.from(fr.view(a)).equals(Buffer.from(fr.view(b)))).toBe(true);
        },
      ),
      { seed: SEED, numRuns: 400, verbose: true },
    );
    // On pages the short cut takes, both answers came up, and pages with a free head.
    expect(settled).toBeGreaterThan(20);
    expect(kept).toBeGreaterThan(20);
    expect(heads).toBeGreaterThan(5);
  });

  const cases: [string, Design][] = [];
  for (const preset of ["x86_64", "arm64-16k"])
    for (const d of ["legacy", "seed", "mainline"] as Design[]) cases.push([preset, d]);

  it.each(cases)("end to end: %s %s, pools with HVO on", (preset, design) => {
    const large = P1G;
    const small =
      preset === "x86_64" ? P2M : "/sys/kernel/mm/hugepages/hugepages-32768kB/nr_hugepages";
    const models = [boot(preset, design, true), boot(preset, design, false)];
    const rng = fc.sample(fc.array(fc.nat(40), { minLength: 8, maxLength: 8 }), {
      seed: SEED,
      numRuns: 1,
    })[0];
    const digests = models.map((m) => {
      step(m, "/proc/sys/vm/hugetlb_optimize_vmemmap", 1);
      const out: string[] = [];
      const steps: [string, number][] = [
        [large, 2],
        [small, 30 + rng[0]],
        [large, 1],
        [small, 5 + rng[1]],
        [large, 3],
        [small, 0],
        [large, 0],
      ];
      for (const [file, n] of steps) {
        step(m, file, n);
        out.push(JSON.stringify(modelDigest(m, { frames: true, pools: [small, large] })));
      }
      return out;
    });
    expect(digests[0]).toEqual(digests[1]);
  });
});
