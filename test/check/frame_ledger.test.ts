// The frame ledger (what the checker runs after every step) against the whole-machine sweeps of
// invariants.ts (what it runs every FULL_EVERY checks): after seeded random operations on every preset
// and design they agree that all is well, and after a corruption of the page allocator's or
// the vmemmap's bookkeeping both see it, through the same invariants.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameLedger } from "../../src/check/frame_ledger.ts";
import {
  type Violation,
  buddyCounters,
  checkContext,
  frameTiling,
  memmapFrames,
} from "../../src/check/invariants.ts";
import {
  applyStep,
  bootCheckModel,
  checkMachineSpec,
  defaultCheckMachine,
  isNoop,
  stepArbitrary,
} from "../../src/check/run.ts";
import { DESIGNS, type Design } from "../../src/kernel.ts";
import type { Model } from "../../src/model.ts";
import { GFP_KERNEL } from "../../src/mm/page_alloc.ts";
import type { Step } from "../../src/scenario/format.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";

const PRESETS = ["x86_64", "arm64-4k", "arm64-16k", "arm64-64k", "riscv64", "loongarch64"];

interface Run {
  model: Model;
  session: ModelSession;
  /** The ledger's verdict and the sweeps' verdict, now. */
  both(): { ledger: Violation[]; full: Violation[] };
}

function start(preset: string, design: Design): Run {
  const spec = checkMachineSpec(defaultCheckMachine(preset, "hugetlb_free_vmemmap=on"));
  const model = bootCheckModel(spec, design, null);
  const session = new ModelSession(model);
  session.reset();
  const c = checkContext(model.k);
  const ledger = new FrameLedger(c);
  const both = () => {
    c.mirror.refresh();
    const log = c.mirror.drainLog();
    const full = [...frameTiling(model.k), ...memmapFrames(model.k), ...buddyCounters(model.k)];
    return { ledger: ledger.check(log.changes), full };
  };
  both();
  return { model, session, both };
}

function step(run: Run, s: Step): void {
  if (isNoop(run.session, s)) return;
  applyStep(run.model, run.session, s);
  run.model.settle();
}

const names = (vs: Violation[]) => [...new Set(vs.map((v) => v.invariant))].sort();

describe("the frame ledger agrees with the whole-machine sweeps", () => {
  for (const preset of PRESETS)
    for (const design of DESIGNS)
      it(`${preset} ${design}: both clean after every step of seeded runs`, () => {
        const spec = checkMachineSpec(defaultCheckMachine(preset));
        fc.assert(
          fc.property(fc.array(stepArbitrary(spec), { minLength: 1, maxLength: 60 }), (steps) => {
            const run = start(preset, design);
            for (const s of steps) {
              step(run, s);
              const r = run.both();
              expect(r.full).toEqual([]);
              expect(r.ledger).toEqual([]);
            }
          }),
          { seed: 20261126, numRuns: 5 },
        );
      });
});

/** Corruptions of the model's bookkeeping, each a bug the frame invariants exist to catch. */
const CORRUPTIONS: Record<string, (m: Model) => boolean> = {
  // A frame that backs the memmap is recorded as handed to someone else.
  "vmemmap frame reused": (m) => {
    const c = checkContext(m.k);
    for (const pfn of m.k.buddy.allocations.withUse("vmemmap"))
      if (c.mirror.mapCount(pfn) > 0) {
        m.k.buddy.setUse(pfn, "kernel");
        return true;
      }
    return false;
  },
  // A frame that backs the memmap goes back to the buddy while still mapped.
  "vmemmap frame freed while mapped": (m) => {
    const c = checkContext(m.k);
    for (const pfn of m.k.buddy.allocations.withUse("vmemmap"))
      if (c.mirror.mapCount(pfn) > 0) {
        m.k.buddy.freePages(pfn, 0);
        return true;
      }
    return false;
  },
  // A vmemmap page allocated and never mapped.
  "vmemmap page leaked": (m) =>
    m.k.buddy.allocPagesNode(0, GFP_KERNEL, 0, "test", "vmemmap") !== null,
  // A block handed out that is still on a free list.
  "block both free and allocated": (m) => {
    for (const b of m.k.buddy.freeBlocks()) {
      if (m.k.buddy.allocations.has(b.start)) continue;
      m.k.buddy.allocations.set(b.start, { order: 0, use: "kernel", nid: 0 });
      return true;
    }
    return false;
  },
  // An allocation forgotten without being freed.
  "allocation lost": (m) => {
    for (const pfn of m.k.buddy.allocations.withUse("pagetable")) {
      m.k.buddy.allocations.delete(pfn);
      return true;
    }
    return false;
  },
  // The vmemmap counters drift from the frames.
  "nr_memmap_pages drift": (m) => {
    m.k.vmstat.nrMemmapPages++;
    return true;
  },
  // A zone's free count drifts from its lists.
  "nr_free drift": (m) => {
    m.k.buddy.zones[m.k.buddy.zones.length - 1].nrFree += 1;
    return true;
  },
};

describe("a corrupted bookkeeping is seen by the ledger and by the sweeps alike", () => {
  for (const design of DESIGNS)
    it(`${design}: every corruption, after seeded runs`, () => {
      const spec = checkMachineSpec(defaultCheckMachine("x86_64"));
      fc.assert(
        fc.property(
          fc.array(stepArbitrary(spec), { maxLength: 30 }),
          fc.constantFrom(...Object.keys(CORRUPTIONS)),
          (steps, name) => {
            const run = start("x86_64", design);
            for (const s of steps) step(run, s);
            run.both();
            fc.pre(CORRUPTIONS[name](run.model));
            const r = run.both();
            expect(names(r.ledger).length).toBeGreaterThan(0);
            expect(names(r.ledger)).toEqual(names(r.full));
          },
        ),
        { seed: 20261126, numRuns: 40 },
      );
    });
});

// The memmap counters are checked against the frames that back present sections' memmap, with
// the frames that serve only absent sections (a vmemmap PMD block populated whole) told apart
// by the layout's arithmetic: nothing is calibrated on the first check, so a counter that is
// wrong from boot is caught at once.
describe("memmap counters from the layout's arithmetic", () => {
  // __populate_section_memmap() counts DIV_ROUND_UP(PAGES_PER_SECTION * sizeof(struct page),
  // PAGE_SIZE) per present section (4 GiB machines on 2 nodes, struct page 64 bytes).
  const CASES = [
    // 0-3 GiB and 4-5 GiB: 32 sections of 128 MiB; 32768 pages x 64 B = 2 MiB = 512 pages each.
    { preset: "x86_64", bootPages: 32 * 512 },
    // 1-5 GiB: 8 sections of 512 MiB; 8192 x 64 B = 512 KiB = 8 pages of 64 KiB each, all in one
    // 512 MiB PMD of vmemmap (8192 pages) that also serves absent sections.
    { preset: "arm64-64k", bootPages: 8 * 8 },
    // 0-256 MiB, 2.25-6 GiB: sections 0, 4-7 and 8-11 of 512 MiB; 32768 x 64 B = 2 MiB = 128
    // pages of 16 KiB each, in 32 MiB PMDs of vmemmap.
    { preset: "loongarch64", bootPages: 9 * 128 },
  ];
  for (const c of CASES)
    for (const design of DESIGNS) {
      it(`${c.preset} ${design}: nr_memmap_boot_pages is ${c.bootPages} at boot, and one more is caught`, () => {
        const spec = checkMachineSpec(defaultCheckMachine(c.preset));
        const model = bootCheckModel(spec, design, null);
        expect(model.k.vmstat).toEqual({ nrMemmapPages: 0, nrMemmapBootPages: c.bootPages });
        expect(memmapFrames(model.k)).toEqual([]);
        const wrong = bootCheckModel(spec, design, null);
        wrong.k.vmstat.nrMemmapBootPages++;
        const vs = memmapFrames(wrong.k);
        expect(names(vs)).toEqual(["memmap_counters"]);
        expect(vs[0].expected).toBe(`${c.bootPages}`);
      });
    }
});
