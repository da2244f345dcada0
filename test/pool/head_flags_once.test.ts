// A pool shrink with HVO off done the short way against one step at a time, on two models
// run side by side:
// - each folio's optimised flag read once (hugetlb.ts HugetlbPool.headFlagsOnce:
//   remove_hugetlb_folio()'s test of it and its page type store through one view of the head,
//   and hugetlb_vmemmap_restore_folios() told that none of the folios set_max_huge_pages() took
//   was optimised) against reading and storing field by field, and reading the flag again;
// - two buddies freed one after the other given back as a pair (page_alloc.ts
//   PageAllocator.pairBulk, freePagesPair()) against one block after the other;
// - where no folio was ever optimised, each folio removed and freed before the next is taken
//   (hugetlb.ts HugetlbPool.fuseShrink) against all removals, the restore walk, then all frees.
// With HVO off, on, a pool of optimised and plain folios mixed, and folios that fail the free
// checks (a bad page leaks its folio), on one node (consecutive folios are buddies) and two (the
// shrink alternates nodes); after each step the vmemmap, buddy, allocations, counters, meminfo,
// pools and log must be the same, and so must the struct page reads and writes the memmap
// counted.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest, stepModels } from "../model_digest.ts";

const SMALL = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const SWITCH = "/proc/sys/vm/hugetlb_optimize_vmemmap";

function model(
  arch: string,
  design: Design,
  nodes: number,
  short: boolean,
  checks: boolean,
): Model {
  const base = machinePreset(arch).cmdline;
  // check_pages=1: the free path's page checks (off by default on these designs).
  const cmdline = checks ? `${base} check_pages=1` : base;
  const spec = machinePreset(arch, { memoryBytes: 2 * 2 ** 30, nodes, cmdline });
  const m = bootModel(spec, design);
  m.k.paths.headFlagsOnce = short;
  m.k.paths.pairBulk = short;
  m.k.paths.fuseShrink = short;
  return m;
}

/** _mapcount 0 in a tail of the pool's k-th folio (by pfn): free_page_is_bad() on its free. */
function spoil(m: Model, ks: readonly number[]): void {
  const heads = [...m.k.buddy.allocations]
    .filter(([, a]) => a.use === "hugetlb")
    .map(([pfn]) => pfn)
    .sort((x, y) => x - y);
  for (const k of ks) m.k.memmap.writeU32(heads[k] + 5, PAGE_OFF.mapcount, 0);
}

const digest = (m: Model): Record<string, string> => ({
  ...modelDigest(m, { pools: [SMALL] }),
  accesses: `${m.k.memmap.reads} reads, ${m.k.memmap.writes} writes`,
});

/** Each step: [file, value], or the pool folios (by pfn) to spoil. */
const CASES: Record<string, Array<[string, string] | number[]>> = {
  "HVO off": [
    [SMALL, "40"],
    [SMALL, "17"],
    [SMALL, "33"],
    [SMALL, "0"],
  ],
  "HVO on": [
    [SWITCH, "1"],
    [SMALL, "30"],
    [SMALL, "12"],
    [SMALL, "0"],
  ],
  "optimised and plain folios in one pool": [
    [SMALL, "10"],
    [SWITCH, "1"],
    [SMALL, "20"],
    [SWITCH, "0"],
    [SMALL, "26"],
    // The free lists hand out the last ones added first: plain folios, then optimised ones.
    [SMALL, "18"],
    [SMALL, "3"],
    [SMALL, "0"],
  ],
  // The lower of a pair of buddies, then the upper of another, leak.
  "bad pages": [
    [SMALL, "16"],
    [4, 9],
    [SMALL, "0"],
  ],
};

describe("a pool shrink the short way equals one step at a time", () => {
  // arm64 with 16 KiB pages: a 2 MiB folio is order 7, far below MAX_PAGE_ORDER (a merged pair
  // can merge on), and two folios' struct pages share a vmemmap page.
  for (const [arch, design, nodes] of [
    ["x86_64", "legacy", 1],
    ["x86_64", "legacy", 2],
    ["x86_64", "mainline", 1],
    ["x86_64", "seed", 2],
    ["arm64-16k", "mainline", 1],
  ] as Array<[string, Design, number]>) {
    for (const [name, steps] of Object.entries(CASES)) {
      it(`${arch}, ${design}, ${nodes} node(s), ${name}`, () => {
        const checks = name === "bad pages";
        const ms = [true, false].map((short) => model(arch, design, nodes, short, checks));
        // Whether the short model's shrink fuses: until a folio is optimised.
        const fuses = (): boolean =>
          (ms[0].pool as unknown as { mayFuseShrink(): boolean }).mayFuseShrink();
        expect(fuses()).toBe(true);
        for (const step of steps) {
          let at = `${design}, ${name}: after spoiling folios ${step.join(", ")}`;
          if (typeof step[0] === "number") for (const m of ms) spoil(m, step as number[]);
          else {
            const [path, value] = step as [string, string];
            stepModels(ms, path, value);
            at = `${design}, ${name}: after ${value} > ${path}`;
          }
          expect(digest(ms[0]), at).toEqual(digest(ms[1]));
        }
        // The steps did shrink the pool to nothing, and moved the counters they compare.
        expect(ms[0].read(SMALL).trim()).toBe("0");
        // Where HVO was switched on, x86_64's 2 MiB folios were optimised (8 of their 4 KiB
        // vmemmap pages, 7 freed): later shrinks did not fuse. (arm64 with 16 KiB pages: a
        // 2 MiB folio's 128 struct pages fill half a vmemmap page, nothing to free.)
        const optimised = arch === "x86_64" && steps.some((s) => s[0] === SWITCH && s[1] === "1");
        expect(fuses()).toBe(!optimised);
        expect(ms[0].k.memmap.writes).toBeGreaterThan(0);
        // Both spoilt folios were reported (and leaked).
        if (checks) expect(digest(ms[0]).log.split("Bad page state").length - 1).toBe(2);
      });
    }
  }
});
