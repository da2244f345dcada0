// mm/page_alloc.c free_contig_range() of a gigantic folio: its MAX_PAGE_ORDER blocks given back
// in one pass (PageAllocator freeTopRun()) against the same blocks one __free_one_page() at a
// time (topRunBulk false). Two models take the same seeded pool steps (1 GiB folios grown and
// shrunk, HVO on and off, 2 MiB folios between them so that the top free list is not one run)
// and after each step must agree on every struct page's bytes and translation, the free lists
// in list order, the allocations, the counters and the stores counted in memmap.writes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { BlockSet } from "../../src/mm/page_alloc.ts";
import { PfnRunList } from "../../src/mm/pfn_list.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { stepModels } from "../model_digest.ts";
import { buddyState, H1G, H2M, HVO, type Step, stepArb } from "./gigantic_steps.ts";

const GiB = 2 ** 30;

interface Machine {
  name: string;
  arch: string;
  memoryBytes: number;
  nodes: number;
}
const MACHINES: readonly Machine[] = [
  { name: "x86_64 4 GiB, 2 nodes", arch: "x86_64", memoryBytes: 4 * GiB, nodes: 2 },
  { name: "arm64-4k 6 GiB, 1 node", arch: "arm64-4k", memoryBytes: 6 * GiB, nodes: 1 },
];

function model(m: Machine, design: Design, bulk: boolean): Model {
  const md = bootModel(
    machinePreset(m.arch, { memoryBytes: m.memoryBytes, nodes: m.nodes }),
    design,
  );
  md.k.paths.topRunBulk = bulk;
  return md;
}

describe("a gigantic folio's top-order blocks freed in one pass equal one at a time", () => {
  // The path is the same in every design; two of them on x86_64, one on arm64 (CPU time).
  const CASES: [Machine, Design][] = [
    [MACHINES[0], "legacy"],
    [MACHINES[0], "mainline"],
    [MACHINES[1], "mainline"],
  ];
  for (const [m, design] of CASES)
    it(`${m.name}, ${design}: bytes, lists and counters after each seeded step`, () => {
      let runs = 0;
      const seed = 9411;
      fc.assert(
        fc.property(fc.array(stepArb, { minLength: 3, maxLength: 6 }), (steps) => {
          const bulk = model(m, design, true);
          const mark = bulk.k.buddy.onFreeHeadRun;
          bulk.k.buddy.onFreeHeadRun = (from, n, step, order) => {
            runs++;
            mark?.(from, n, step, order);
          };
          const single = model(m, design, false);
          const all: Step[] = [...steps, [H1G, "0"], [H2M, "0"]];
          for (const [i, [path, value]] of all.entries()) {
            stepModels([bulk, single], path, value);
            const full = i >= all.length - 2 || path === H1G;
            expect(buddyState(bulk, full), `step ${i}: ${value} > ${path}`).toEqual(
              buddyState(single, full),
            );
          }
        }),
        { seed, numRuns: 3, verbose: true },
      );
      // The sequences did free 1 GiB folios through the one-pass path.
      expect(runs, `seed ${seed}: folios freed in one pass`).toBeGreaterThan(0);
    });

  it("a 1 GiB folio's blocks go back through the one-pass path, HVO on and off", () => {
    for (const hvo of ["0", "1"]) {
      const md = model(MACHINES[0], "mainline", true);
      const buddy = md.k.buddy;
      const runs: number[] = [];
      const mark = buddy.onFreeHeadRun;
      buddy.onFreeHeadRun = (from, n, step, order) => {
        runs.push(n);
        mark?.(from, n, step, order);
      };
      md.write(HVO, hvo);
      md.write(H1G, "1");
      md.settle();
      expect(md.read(H1G).trim()).toBe("1");
      md.write(H1G, "0");
      md.settle();
      // 1 GiB in 4 MiB blocks (x86_64: 4 KiB pages, MAX_PAGE_ORDER 10): 2^30 / 2^22 = 256.
      expect(runs, `hvo ${hvo}`).toEqual([256]);
    }
  });
});

describe("PfnRunList.addHeadRun() equals addHead() of each entry", () => {
  it("same list, runs and count (seeded)", () => {
    const align = 1024;
    const opArb = fc.array(
      fc.record({
        at: fc.integer({ min: 0, max: 60 }),
        n: fc.integer({ min: 1, max: 6 }),
        tail: fc.boolean(),
      }),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(opArb, (ops) => {
        const a = new PfnRunList(0, align);
        const b = new PfnRunList(0, align);
        for (const { at, n, tail } of ops) {
          const from = at * align;
          if (a.anyIn(from, from + n * align)) {
            // anyIn() agrees with has() of each entry.
            let any = false;
            for (let i = 0; i < n; i++) any ||= b.has(from + i * align);
            expect(any).toBe(true);
            continue;
          }
          for (let i = 0; i < n; i++) expect(b.has(from + i * align)).toBe(false);
          if (tail) {
            a.addTail(from);
            b.addTail(from);
            continue;
          }
          a.addHeadRun(from, n);
          for (let i = 0; i < n; i++) b.addHead(from + i * align);
          expect([...a]).toEqual([...b]);
          expect([a.runs, a.count, a.head, a.tail]).toEqual([b.runs, b.count, b.head, b.tail]);
        }
      }),
      { seed: 4411, numRuns: 300, verbose: true },
    );
  });
});

describe("BlockSet.deleteRun() equals delete() of each block", () => {
  it("same blocks, same order, same answers after (seeded)", () => {
    const pages = 1024;
    const opArb = fc.array(
      fc.record({
        del: fc.boolean(),
        at: fc.integer({ min: 0, max: 400 }),
        n: fc.integer({ min: 1, max: 300 }),
      }),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(opArb, (ops) => {
        const a = new BlockSet(pages);
        const b = new BlockSet(pages);
        for (const { del, at, n } of ops) {
          // Near 2^34 pfns, as on the 64 TiB machine (keys above 2^24).
          const from = 2 ** 34 + at * pages;
          if (!del) {
            for (const s of [a, b]) for (let i = 0; i < n; i += 7) s.add(from + i * pages);
            continue;
          }
          a.deleteRun(from, n);
          for (let i = 0; i < n; i++) b.delete(from + i * pages);
          expect([...a]).toEqual([...b]);
          expect(a.size).toBe(b.size);
        }
        // Groups emptied and refilled still answer.
        for (let i = 0; i < 500; i++)
          expect(a.has(2 ** 34 + i * pages)).toBe(b.has(2 ** 34 + i * pages));
      }),
      { seed: 5511, numRuns: 200, verbose: true },
    );
  });
});
