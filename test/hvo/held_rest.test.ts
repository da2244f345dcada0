// The rest of a block split by a batch's allocations held off the free lists until the
// batch's next folio takes it (page_alloc.ts allocPagesBulkHeld(), allocPageHeld(),
// releaseRest(); fast path heldRest), in a restore batch's page lists and a legacy optimise
// batch's new head pages, against the plain allocations of each folio, which put the rest's
// pieces at the heads of the free lists for the next folio to take back. Two models run side by
// side on seeded sequences of 2 MiB pool sizes with HVO on, HVO switched off and on, a 1 GiB
// folio now and then, on x86_64 legacy with one node and two (a rest held on one node while
// the next folio's pages come from the other), a machine filled to its last pages (restores
// that reach the watermark and fail), and faults injected (into the page-list allocation: the
// fast path steps aside, and the failure frees what it got; elsewhere: it holds). After each
// step, and after each optimise and restore batch (before the folios are enqueued or freed,
// which overwrites much of what the batch stored), the vmemmap and how the frame store holds
// it, the buddy's lists and counts, allocations, counters, meminfo, pools and log must be the
// same, and so must the struct page reads and writes, the TLB flushes and every translation
// the TLB holds.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { parseMachineFile } from "../../src/machine/load.ts";
import { Faults } from "../../src/mm/fault_inject.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { parseScenarioFile } from "../../src/scenario/format.ts";
import { runModel } from "../../src/scenario/run_model.ts";
import { modelDigest, tlbDigest } from "../model_digest.ts";
import { type BatchStep, digestEachBatch, stepBothByBatch } from "./batch_steps.ts";

const HP = "/sys/kernel/mm/hugepages";
const SMALL = `${HP}/hugepages-2048kB/nr_hugepages`;
const GIANT = `${HP}/hugepages-1048576kB/nr_hugepages`;
const SEED = 0x6d2a;

const digest = (m: Model): Record<string, string> => ({
  ...modelDigest(m, { pools: [SMALL, GIANT], frames: true }),
  accesses: `${m.k.memmap.reads} reads, ${m.k.memmap.writes} writes`,
  tlbFlushes: `${m.k.pgt.tlbFlushAlls} all, ${m.k.pgt.tlbFlushRanges} ranges`,
  tlb: tlbDigest(m),
  // The free blocks of each order, as the allocator counts them.
  freeOfOrder: JSON.stringify((m.k.buddy as unknown as { freeOfOrder: number[] }).freeOfOrder),
  failures: JSON.stringify([...m.k.buddy.failures]),
  // Where alloc_contig_pages() would start its next scan, per zone and size.
  contig: JSON.stringify(m.k.buddy.zones.map((z) => [...(z.contigCursor ?? [])])),
});

/**
 * A model with heldRest on or off, the digests taken after each of its optimise and restore batches
 * (cleared by the test), and how many pieces of a held rest its allocations took (of them, how many
 * in grows, and how many had their marks stored).
 */
function model(
  design: Design,
  memoryBytes: number,
  nodes: number,
  held: boolean,
  faults?: Faults,
  releaseEvery = 0,
): {
  m: Model;
  batches: Record<string, string>[];
  held: () => { takes: number; stored: number; grown: number; released: number };
} {
  const m = bootModel(machinePreset("x86_64", { memoryBytes, nodes }), design, { faults });
  m.k.paths.heldRest = held;
  // With releaseEvery n, every nth question whether clearing the taken pages' marks renders a
  // page beside a held rest is answered yes: the rests go back to the lists at points of a
  // batch the model's own answers seldom pick (the next call takes their smallest piece from the
  // lists).
  let released = 0;
  const renders = m.k.buddy.onFreeHeadsRenderAmong;
  if (releaseEvery > 0 && renders !== null) {
    let asked = 0;
    m.k.buddy.onFreeHeadsRenderAmong = (from, to, otherFrom, otherEnd) => {
      const r = renders(from, to, otherFrom, otherEnd) || ++asked % releaseEvery === 0;
      if (r) released++;
      return r;
    };
  }
  let optimizing = false;
  const batches = digestEachBatch(m, digest, (running) => {
    optimizing = running;
  });
  // A held piece's marks are cleared with the ones its list add would have made counted (one
  // mark overwritten; the pair frees count two): the takes whose marks were stored (a vmemmap
  // page still as memmap_init() left it is rendered from the lists, and stores nothing).
  let takes = 0;
  let stored = 0;
  let grown = 0;
  let piece = -1;
  const buddy = m.k.buddy;
  const overwritten = buddy.onFreeHeadsOverwritten;
  buddy.onFreeHeadsOverwritten = (pfn, n) => {
    if (n === 1) {
      piece = pfn;
      takes++;
      if (optimizing) grown++;
    }
    overwritten?.(pfn, n);
  };
  const mark = buddy.onFreeHead;
  buddy.onFreeHead = (pfn, order) => {
    const writes = m.k.memmap.writes;
    mark?.(pfn, order);
    if (pfn === piece && m.k.memmap.writes - writes > 4) stored++;
    piece = -1;
  };
  return { m, batches, held: () => ({ takes, stored, grown, released }) };
}

/** A step: a 2 MiB pool size, HVO switched (true: on), or a 1 GiB pool size (a string). */
type Step = BatchStep;
const steps = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 320 }) },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: fc.constantFrom("0", "1") },
  ),
  { minLength: 5, maxLength: 9 },
);

function run(
  design: Design,
  memoryBytes: number,
  nodes: number,
  plan: Step[],
  faults?: () => Faults,
  releaseEvery = 0,
): { takes: number; stored: number; grown: number; released: number; ms: Model[] } {
  const fast = model(design, memoryBytes, nodes, true, faults?.(), releaseEvery);
  const plain = model(design, memoryBytes, nodes, false, faults?.());
  const ms = [fast.m, plain.m];
  stepBothByBatch(fast, plain, plan, SMALL, digest);
  expect(plain.held().takes).toBe(0);
  return { ...fast.held(), ms };
}

const GiB = 2 ** 30;

describe("a batch holding the rest of a split block equals its folios' allocations one by one", () => {
  const plans = fc.sample(steps, { seed: SEED, numRuns: 2 });
  // Grows and shrinks with HVO on, partial shrinks (the batch restores some folios, the rest
  // stay), regrowth onto the pages the restores freed, HVO off and on again, and a 1 GiB folio
  // (restored through the generic walk, with the rest released before it). The churn makes
  // later restores split blocks freed by folios, whose struct pages were written (elsewhere a
  // vmemmap page is still as memmap_init() left it: its marks are rendered, never stored).
  const fixed: Step[] = [
    true,
    400,
    100,
    450,
    200,
    0,
    260,
    "1",
    100,
    false,
    150,
    true,
    300,
    "0",
    40,
  ];
  for (const [nodes, name, plan] of [
    [1, "the fixed plan", fixed],
    [1, "a seeded plan", [true, ...plans[0]]],
    [2, "the fixed plan", fixed],
    [2, "a seeded plan", [true, ...plans[1]]],
  ] as Array<[number, string, Step[]]>) {
    it(`x86_64 legacy, ${nodes} node(s), ${name}`, () => {
      const { takes, stored, grown } = run("legacy", 2 * GiB, nodes, plan);
      // The held path ran (a comparison of two plain forms proves nothing), in the grows' new
      // head pages too, and on the fixed plan it held pieces whose marks are stored.
      expect(takes).toBeGreaterThan(50);
      expect(grown).toBeGreaterThan(20);
      if (plan === fixed) expect(stored).toBeGreaterThan(50);
    });
  }

  it("the rests released at every fifth question whether a store renders beside them: the same", () => {
    // Released in the middle of a batch, the rests are where the plain form has them: the next
    // call takes their smallest piece from the lists and holds what it splits again.
    const { takes, released } = run("legacy", 2 * GiB, 2, fixed, undefined, 5);
    expect(released).toBeGreaterThan(50);
    expect(takes).toBeGreaterThan(50);
  });

  it("a machine filled to its last pages: restores reach the watermark and fail", () => {
    // 1 GiB of memory grown to as many 2 MiB folios as it has, HVO on: the restore of the
    // shrink runs out of free pages part of the way through, then the pool is freed.
    const { takes, ms } = run("legacy", GiB, 1, [true, 2000, 400, 1000, 0]);
    expect(takes).toBeGreaterThan(50);
    expect(ms[0].k.buddy.failures.get("alloc_vmemmap_page_list") ?? 0).toBeGreaterThan(0);
  });

  it("a fault injected into the page-list allocation: the plain path, and the failure frees what it got", () => {
    const faults = () => new Faults().add({ site: "alloc_vmemmap_page_list", nth: 900 });
    run("legacy", 2 * GiB, 1, [true, 300, 0, 300, 0], faults);
  });

  it("a fault injected elsewhere leaves the page-list allocation quiet: it holds", () => {
    const faults = () => new Faults().add({ site: "vmemmap_remap_free:new_head", nth: 40 });
    const { takes, stored } = run("legacy", 2 * GiB, 1, [true, 300, 0, 300, 0], faults);
    expect(takes).toBeGreaterThan(50);
    expect(stored).toBeGreaterThan(50);
  });
});

// The machine of the live recordings (scenarios/machines/recording-host.yaml: one node, 24 GiB
// with the PCI hole, 1 GiB pages) with 2,021,457 pages of other memory: what `hvo diff --against
// live` read while another run held about 4 GiB of huge pages. Scenario L23 of the 26-scenario
// suite, after the 22 before it on the same model, restores folios whose page lists split a
// block beside a vmemmap page still held as a pattern (boot vmemmap freed with its first struct
// page kept). Clearing the taken pages' marks renders that page from the allocator's state, and
// held pfns have their struct pages in it: the rests are released before that store
// (PageAllocator.releaseBeforeMarks()). Without that, the model Oopsed ("read while held off
// the free lists", pfn 6544922).
describe("the recording host with 4 GiB more in use: a held rest beside a page a store renders", () => {
  it("runs the live suite's scenarios L01-L23 with heldRest on, the rests released first, as the plain form does", () => {
    const file = new URL("../../scenarios/machines/recording-host.yaml", import.meta.url);
    const spec = {
      ...parseMachineFile(readFileSync(file, "utf8"), "recording-host.yaml"),
      otherUsedPages: [2021457],
    };
    const suite = parseScenarioFile(
      JSON.parse(readFileSync(new URL("../../scenarios/suite.json", import.meta.url), "utf8")),
    );
    const upTo = suite.scenarios.findIndex((s) => s.id === "L23_1G_grow_beyond_reach") + 1;
    expect(upTo).toBe(23);
    const scenarios = { ...suite, scenarios: suite.scenarios.slice(0, upTo) };
    const fast = bootModel(spec, "legacy");
    expect(fast.k.paths.heldRest).toBe(true);
    // The stores found to render a page beside a held rest: each released the rests first.
    let released = 0;
    const buddy = fast.k.buddy;
    const renders = buddy.onFreeHeadsRenderAmong;
    expect(renders).not.toBeNull();
    buddy.onFreeHeadsRenderAmong = (from, to, otherFrom, otherEnd) => {
      const r = renders?.(from, to, otherFrom, otherEnd) === true;
      if (r) released++;
      return r;
    };
    const plain = bootModel(spec, "legacy");
    plain.k.paths.heldRest = false;
    const outFast = runModel(fast, scenarios, { machine: spec.name });
    const outPlain = runModel(plain, scenarios, { machine: spec.name });
    expect(Object.keys(outFast.scenarios)).toHaveLength(23);
    expect(released).toBeGreaterThan(0);
    expect(outFast.scenarios).toEqual(outPlain.scenarios);
    expect(digest(fast)).toEqual(digest(plain));
  });
});
