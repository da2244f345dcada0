// The free path's page checks a run of vmemmap pages at a time (src/mm/page_alloc.ts
// freePagesCheck(), passAlike(); src/mm/frames.ts sameStateRun()): mm/page_alloc.c
// __free_pages_prepare() checks every tail of a folio (free_tail_page_prepare(),
// free_page_is_bad()). The model judges a vmemmap page that holds a pattern once; the pages after
// it whose frames continue its run of frames with the same pattern pass with it. Checked here:
//   - the frame store alone: sameStateRun() counts what asking each frame in turn counts, over
//     random runs, copies, stores and clears, in sparse and dense chunks and across a chunk edge;
//   - whole models (check_pages on): the same steps with the run skip on and with it off
//     (k.paths.checkRuns false: every vmemmap page judged on its own), with random struct
//     pages of pool folios made bad or merely different, compared by the kernel log,
//     /proc/meminfo and the whole state.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { PG } from "../../src/include/page_flags.ts";
import type { Design } from "../../src/kernel.ts";
import { kmsgLine } from "../../src/kernel/printk.ts";
import { type FramePattern, FrameStore } from "../../src/mm/frames.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";
import { initStructPage, PAGE, TAIL } from "./frames_reference.ts";

// ---- the frame store alone ----------------------------------------------------------------

/** The frame -> id map's chunk (frames.ts CHUNK): the range below straddles one of its edges. */
const CHUNK = 4096;
const LO = 2 * CHUNK - 300;
const SPAN = 600;

type StoreOp =
  | { op: "range" | "down"; frame: number; nr: number; pat: number }
  | { op: "write"; frame: number; value: number }
  | { op: "copy"; dst: number; nr: number; src: number }
  | { op: "zero"; frame: number };

/** A few patterns: two "fill" pages and two folios' tails. */
const FILLS = [new Uint8Array(64).fill(0x11), new Uint8Array(64).fill(0x22)];
function pattern(i: number, voffPage: number): FramePattern {
  return i < 2
    ? { kind: "fill", slot: FILLS[i] }
    : { kind: "tails", voff: voffPage * PAGE, info: 0xffffea0000000001n + BigInt(i) * 32768n };
}

const frameArb = fc.integer({ min: LO, max: LO + SPAN - 1 });
const storeOpArb: fc.Arbitrary<StoreOp> = fc.oneof(
  fc.record({
    op: fc.constantFrom("range" as const, "down" as const),
    frame: frameArb,
    nr: fc.integer({ min: 1, max: 80 }),
    pat: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({ op: fc.constant("write" as const), frame: frameArb, value: fc.nat() }),
  fc.record({
    op: fc.constant("copy" as const),
    dst: frameArb,
    nr: fc.integer({ min: 1, max: 60 }),
    src: frameArb,
  }),
  fc.record({ op: fc.constant("zero" as const), frame: frameArb }),
);

function apply(s: FrameStore, o: StoreOp): void {
  const end = LO + SPAN;
  if (o.op === "range")
    s.setPatternRange(o.frame, Math.min(o.nr, end - o.frame), pattern(o.pat, 7));
  else if (o.op === "down") {
    const nr = Math.min(o.nr, end - o.frame);
    s.setPatternRangeDown(o.frame, nr, pattern(o.pat, 7 + nr));
  } else if (o.op === "write") s.writeU32(o.frame, 8, o.value);
  else if (o.op === "copy") s.copyFrameRun(o.dst, Math.min(o.nr, end - o.dst), o.src);
  else s.zeroFrame(o.frame);
}

/** sameStateRun() as asking each frame in turn: the frames' ids, read one by one. */
function sameStateRunPlain(s: FrameStore, frame: number, n: number, dir: 1 | -1): number {
  const idOf = (f: number) => (s as unknown as { idOf(f: number): number }).idOf(f);
  const id = idOf(frame);
  if (id === 0) return Math.min(1, n);
  let k = 1;
  while (k < n && idOf(frame + dir * k) === id) k++;
  return k;
}

describe("FrameStore.sameStateRun(): runs of frames holding one id", () => {
  it("counts what reading each frame's id in turn counts", () => {
    fc.assert(
      fc.property(fc.array(storeOpArb, { minLength: 1, maxLength: 150 }), (ops) => {
        const s = new FrameStore(PAGE, 64, initStructPage, TAIL);
        s.addInitRange(LO, SPAN, 0);
        for (const o of ops) apply(s, o);
        for (let f = LO - 1; f <= LO + SPAN; f++)
          for (const dir of [1, -1] as const)
            for (const n of [1, 2, 5, 90, 700]) {
              const got = s.sameStateRun(f, n, dir);
              const want = sameStateRunPlain(s, f, n, dir);
              if (got !== want)
                throw new Error(
                  `sameStateRun(${f}, ${n}, ${dir}) = ${got}, frame by frame ${want}`,
                );
            }
      }),
      { seed: 1109, numRuns: 60 },
    );
  });
});

// ---- whole models -------------------------------------------------------------------------

const GiB = 2 ** 30;
const OPT = "/proc/sys/vm/hugetlb_optimize_vmemmap";
const H2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const H1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";

/** A change to one tail's struct page: the check reports it, or it passes (other bytes only). */
type Damage = "refcount" | "mapcount" | "flag" | "private" | "same";

/**
 * One run: pools grown (HVO on or off), struct pages of free folios changed, a pool shrunk part
 * way, then both emptied (every folio left goes through the checks).
 */
interface Scenario {
  hvo: boolean;
  nr2m: number;
  nr1g: number;
  damage: { size: "2M" | "1G"; folio: number; tail: number; what: Damage }[];
  part2m: number;
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  hvo: fc.boolean(),
  nr2m: fc.integer({ min: 0, max: 30 }),
  nr1g: fc.integer({ min: 0, max: 2 }),
  damage: fc.array(
    fc.record({
      size: fc.constantFrom("2M" as const, "1G" as const),
      folio: fc.nat(),
      // Tails 1..3 hold the folio's own fields; the rest plain tails, often at a page's edge.
      tail: fc.oneof(
        fc.integer({ min: 1, max: 262143 }),
        fc.integer({ min: 1, max: 4095 }).map((p) => p * 64),
        fc.integer({ min: 1, max: 4096 }).map((p) => p * 64 - 1),
      ),
      what: fc.constantFrom<Damage>("refcount", "mapcount", "flag", "private", "same"),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  part2m: fc.integer({ min: 0, max: 30 }),
});

function boot(design: Design, runs: boolean): Model {
  const m = bootModel(
    machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 1, cmdline: "check_pages=1" }),
    design,
  );
  // The plain form: every vmemmap page judged on its own.
  m.k.paths.checkRuns = runs;
  return m;
}

/** The damage done to one free folio's struct page; false where there was none to do. */
function damage(m: Model, d: Scenario["damage"][number]): boolean {
  // A free folio of the pool whose struct pages are writable (not optimised).
  const h = m.pool.hstateByKb(d.size === "2M" ? 2048 : 1048576);
  if (!h) return false;
  const folios = [...h.hugepageFreelists[0]].filter((f) => !m.pool.vmemmap.isOptimized(f));
  if (folios.length === 0) return false;
  const f = folios[d.folio % folios.length];
  const p = f + (d.tail % (h.nrPages - 1)) + 1;
  const mm = m.k.memmap;
  if (d.what === "refcount") mm.writeU32(p, PAGE_OFF.refcount, 1);
  else if (d.what === "mapcount") mm.writeU32(p, PAGE_OFF.mapcount, 0);
  else if (d.what === "flag") mm.setBit(p, PAGE_OFF.flags, PG.reserved, true);
  else if (d.what === "private") mm.writeU32(p, PAGE_OFF.private, 0x5a5a);
  else mm.writeU32(p, PAGE_OFF.refcount, mm.readU32(p, PAGE_OFF.refcount));
  return true;
}

const log = (m: Model) => m.k.printk.since(0).map(kmsgLine);

describe("freePagesCheck(): a run of vmemmap pages judged once, against each page on its own", () => {
  for (const design of ["mainline", "mainline-7.1", "seed"] as const) {
    it(`${design}: the same reports, leaks and state after every step`, () => {
      let damaged = 0;
      let reports = 0;
      fc.assert(
        fc.property(scenarioArb, (sc) => {
          const fast = boot(design, true);
          const plain = boot(design, false);
          const both = (path: string, value: string) => {
            for (const m of [fast, plain]) {
              m.write(path, value);
              m.settle();
            }
            const at = `${value} > ${path}`;
            expect(fast.read("/proc/meminfo"), at).toBe(plain.read("/proc/meminfo"));
            expect(log(fast), at).toEqual(log(plain));
          };
          both(OPT, sc.hvo ? "1" : "0");
          both(H1G, String(sc.nr1g));
          both(H2M, String(sc.nr2m));
          for (const d of sc.damage) if (damage(fast, d) && damage(plain, d)) damaged++;
          both(H2M, String(sc.part2m));
          both(H2M, "0");
          both(H1G, "0");
          reports += log(fast).filter((l) => l.includes("Bad page state")).length;
          const dg = (m: Model) => modelDigest(m, { frames: true, pools: [H2M, H1G] });
          expect(dg(fast)).toEqual(dg(plain));
        }),
        { seed: 2611, numRuns: 8 },
      );
      // The runs did what they are for: struct pages changed, and some of them reported.
      expect(damaged).toBeGreaterThan(0);
      expect(reports).toBeGreaterThan(0);
    });
  }
});
