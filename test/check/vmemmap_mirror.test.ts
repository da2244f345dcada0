// The checker's mirror of the vmemmap page tables, kept up to date by decoding only the table
// frames written since its last refresh, against a mirror built afresh from the root after
// every step of seeded random operations: same translations, same reverse map, same huge
// leaves, and the translations are the model's own page-table walk. Also: a table entry
// written behind the page tables' back (not through set_pte) is still seen.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkContext } from "../../src/check/invariants.ts";
import {
  applyStep,
  bootCheckModel,
  checkMachineSpec,
  defaultCheckMachine,
  isNoop,
  stepArbitrary,
} from "../../src/check/run.ts";
import { FrameCounts, VmemmapMirror } from "../../src/check/vmemmap_mirror.ts";
import type { Mapping, VpnChange } from "../../src/check/vmemmap_mirror.ts";
import { DESIGNS } from "../../src/kernel.ts";
import type { Kernel } from "../../src/kernel.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";
import { optimisedFolioModel } from "./seeded_steps.ts";

const PRESETS = ["x86_64", "arm64-64k", "riscv64"];

/**
 * A mainline model on the x86_64 preset with HVO on and one 2 MiB folio (its tail vmemmap
 * pages PTEs of a split PMD), and a checker context whose mirror has been refreshed.
 */
function oneOptimisedFolio() {
  return optimisedFolioModel("mainline", "2M");
}

/** Everything a mirror says, in a comparable form. */
function picture(m: VmemmapMirror) {
  return {
    refs: [...m.pteRefs()].sort((a, b) => a[0] - b[0]),
    huge: [...m.hugeLeaves()]
      .map((h) => [h.vpn, h.frame, h.nrPages, h.writable])
      .sort((a, b) => (a[0] as number) - (b[0] as number)),
    tables: [...m.tableFrames].sort((a, b) => a - b),
  };
}

/** A few vmemmap pages of every PTE table and huge leaf, translated by the model's own walk. */
function spotCheck(k: Kernel, m: VmemmapMirror): void {
  const vpns = new Set<number>();
  for (const h of m.hugeLeaves()) vpns.add(h.vpn).add(h.vpn + h.nrPages - 1);
  let i = 0;
  for (const [frame] of m.pteRefs()) if (i++ % 97 === 0) vpns.add(frame);
  for (const vpn of vpns) {
    const walked = k.pgt.walk(k.vmemmapBase + BigInt(vpn) * BigInt(k.pageSize));
    const mine = m.translate(vpn);
    expect(mine && { frame: mine.frame, writable: mine.writable }).toEqual(
      walked && { frame: walked.frame, writable: walked.writable },
    );
  }
}

/** Every vmemmap page of the present sections -> "frame/w" or "frame/r" (absent: unmapped). */
function translations(k: Kernel, m: VmemmapMirror): Map<number, string> {
  const out = new Map<number, string>();
  const perSection = 2 ** (k.spec.arch.sectionShift - k.spec.arch.pageShift);
  for (const s of k.sections)
    for (let v = m.vpnOfPfn(s.startPfn); v < m.vpnOfPfn(s.startPfn + perSection); v++) {
      const t = m.translate(v);
      if (t) out.set(v, `${t.frame}/${t.writable ? "w" : "r"}`);
    }
  return out;
}

const show = (t: Mapping | null) => (t ? `${t.frame}/${t.writable ? "w" : "r"}` : undefined);

/**
 * The mirror's change log between two states holds every vmemmap page whose translation
 * differs between them, each with its translation before (its first entry) and after (its last).
 */
function expectLogMatches(
  before: Map<number, string>,
  after: Map<number, string>,
  log: { changes: VpnChange[]; overflow: boolean },
): void {
  expect(log.overflow).toBe(false);
  const first = new Map<number, string | undefined>();
  const last = new Map<number, string | undefined>();
  for (const c of log.changes) {
    if (!first.has(c.vpn)) first.set(c.vpn, show(c.before));
    last.set(c.vpn, show(c.after));
    expect(show(c.before)).not.toBe(show(c.after));
  }
  for (const [vpn, was] of first) expect([vpn, was]).toEqual([vpn, before.get(vpn)]);
  for (const [vpn, now] of last) expect([vpn, now]).toEqual([vpn, after.get(vpn)]);
  const differ = new Set<number>();
  for (const [vpn, t] of before) if (after.get(vpn) !== t) differ.add(vpn);
  for (const [vpn, t] of after) if (before.get(vpn) !== t) differ.add(vpn);
  for (const vpn of differ) expect([vpn, first.has(vpn)]).toEqual([vpn, true]);
}

describe("the incremental vmemmap mirror equals one built from the root", () => {
  for (const preset of PRESETS)
    for (const design of DESIGNS)
      it(`${preset} ${design}: after every step of seeded runs`, () => {
        const spec = checkMachineSpec(defaultCheckMachine(preset));
        fc.assert(
          fc.property(fc.array(stepArbitrary(spec), { minLength: 1, maxLength: 50 }), (steps) => {
            const machine = defaultCheckMachine(preset, "hugetlb_free_vmemmap=on");
            const model = bootCheckModel(checkMachineSpec(machine), design, null);
            const session = new ModelSession(model);
            session.reset();
            const c = checkContext(model.k);
            c.mirror.refresh();
            c.mirror.drainLog();
            let was = translations(model.k, c.mirror);
            for (const s of steps) {
              if (isNoop(session, s)) continue;
              applyStep(model, session, s);
              model.settle();
              c.mirror.refresh();
              const fresh = new VmemmapMirror(model.k);
              fresh.refresh();
              expect(picture(c.mirror)).toEqual(picture(fresh));
              spotCheck(model.k, c.mirror);
              const now = translations(model.k, fresh);
              expectLogMatches(was, now, c.mirror.drainLog());
              was = now;
            }
          }),
          { seed: 20261206, numRuns: 3 },
        );
      });

  it("sees a PTE written straight into a table frame (no set_pte, no pteWrites)", () => {
    // One optimised 2 MiB folio: its tail vmemmap pages are PTEs of a split PMD.
    const { k, c } = oneOptimisedFolio();
    const [head] = (k.sub.hugetlb as { folios: Map<number, unknown> }).folios.keys();
    const vpn = c.mirror.vpnOfPfn(head) + 1;
    const leaf = k.pgt.lookup(k.vmemmapBase + BigInt(vpn) * BigInt(k.pageSize));
    expect(leaf?.huge).toBe(false);
    const { tablePfn, idx } = leaf as { tablePfn: number; idx: number };
    const writes = k.pgt.pteWrites;
    // Point the PTE at another frame, bypassing the page-table code.
    const other = (leaf?.pfn ?? 0) + 12345;
    k.frames.writeU64(
      tablePfn,
      idx * 8,
      k.spec.arch.pte.mkLeaf(other, { writable: false, huge: false }, leaf?.level ?? 3),
    );
    expect(k.pgt.pteWrites).toBe(writes);
    c.mirror.refresh();
    expect(c.mirror.translate(vpn)?.frame).toBe(other);
  });
});

describe("a PTE table held as runs of words: the refresh compares runs", () => {
  // The refresh of a table held as runs walks the old and the new runs side by side and decodes
  // only stretches whose first word or step differ. Random runs written into one PTE table
  // (first word, step and length; a step alone changed included) must read as a mirror built
  // from the root reads them, with the log the differences.
  /** One optimised 2 MiB folio on mainline: the PTE table of its vmemmap, held as runs. */
  function oneFolio() {
    const { k, c } = oneOptimisedFolio();
    c.mirror.drainLog();
    const [head] = (k.sub.hugetlb as { folios: Map<number, unknown> }).folios.keys();
    const vpn0 = c.mirror.vpnOfPfn(head);
    const leaf = k.pgt.lookup(k.vmemmapBase + BigInt(vpn0) * BigInt(k.pageSize));
    const { tablePfn, idx, level } = leaf as { tablePfn: number; idx: number; level: number };
    expect(k.frames.heldAsRuns(tablePfn)).toBe(true);
    return { k, c, tablePfn, level, tableVpn: vpn0 - idx };
  }

  it("under random runs of PTEs written into a table (fixed seed)", () => {
    const run = fc.record({
      word: fc.integer({ min: 0, max: 511 }),
      n: fc.integer({ min: 1, max: 64 }),
      frame: fc.integer({ min: 100_000, max: 100_050 }),
      writable: fc.boolean(),
      step: fc.constantFrom(0, 1, 2),
      // Start from the word already there: only the step (or the length) changes.
      keep: fc.boolean(),
    });
    const M64 = (1n << 64n) - 1n;
    const halves = (v: bigint) => [Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn)];
    fc.assert(
      fc.property(fc.array(run, { minLength: 1, maxLength: 8 }), (runs) => {
        const { k, c, tablePfn, level, tableVpn } = oneFolio();
        const pte = k.spec.arch.pte;
        const leafWord = (frame: number, writable: boolean) =>
          pte.mkLeaf(frame, { writable, huge: false }, level);
        // One frame's step in a PTE (x86_64: the pfn at bit 12), and its negation mod 2^64.
        const one = (leafWord(2, true) - leafWord(1, true)) & M64;
        const steps = [0n, one, (M64 + 1n - one) & M64];
        let was = translations(k, c.mirror);
        for (const r of runs) {
          const n = Math.min(r.n, 512 - r.word);
          const [lo, hi] = r.keep
            ? [k.frames.readU32(tablePfn, r.word * 8), k.frames.readU32(tablePfn, r.word * 8 + 4)]
            : halves(leafWord(r.frame + n, r.writable));
          const [dlo, dhi] = halves(steps[r.step]);
          k.frames.setWordRun(tablePfn, r.word, n, lo, hi, dlo, dhi);
          c.mirror.refresh();
          const fresh = new VmemmapMirror(k);
          fresh.refresh();
          expect(picture(c.mirror)).toEqual(picture(fresh));
          for (let w = 0; w < 512; w++)
            expect([w, show(c.mirror.translate(tableVpn + w))]).toEqual([
              w,
              show(fresh.translate(tableVpn + w)),
            ]);
          const now = translations(k, fresh);
          expectLogMatches(was, now, c.mirror.drainLog());
          was = now;
        }
      }),
      { seed: 20261206, numRuns: 40 },
    );
  });
});

describe("FrameCounts (the mirror's frame -> PTE-leaf count) answers as a Map would", () => {
  it("under random additions and removals (fixed seed)", () => {
    // Frames from a few blocks of 512 (and their edges), so blocks fill, empty and come back.
    const frame = fc.oneof(
      fc.integer({ min: 0, max: 3 * 512 - 1 }),
      fc.constantFrom(0, 511, 512, 1023, 1024, 2 ** 34 - 1, 2 ** 34),
    );
    const op = fc.record({ add: fc.boolean(), frame });
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 300 }),
        fc.nat(2 ** 34 + 1),
        fc.nat(2000),
        (ops, a, len) => {
          const counts = new FrameCounts();
          const map = new Map<number, number>();
          for (const o of ops) {
            if (o.add) {
              counts.add(o.frame);
              map.set(o.frame, (map.get(o.frame) ?? 0) + 1);
            } else {
              counts.remove(o.frame);
              const n = (map.get(o.frame) ?? 0) - 1;
              if (n > 0) map.set(o.frame, n);
              else map.delete(o.frame);
            }
            expect(counts.get(o.frame)).toBe(map.get(o.frame));
            expect(counts.has(o.frame)).toBe(map.has(o.frame));
            expect(counts.size).toBe(map.size);
          }
          const sorted = (e: Iterable<[number, number]>) => [...e].sort((x, y) => x[0] - y[0]);
          expect(sorted(counts)).toEqual(sorted(map));
          // The frames of a range, in increasing order; a range ending past a block's end too.
          for (const [lo, hi] of [
            [a % 1600, (a % 1600) + len],
            [0, 2 ** 34 + 1],
          ]) {
            const got: number[] = [];
            counts.forEachIn(lo, hi, (f) => got.push(f));
            const want = [...map.keys()].filter((f) => f >= lo && f < hi).sort((x, y) => x - y);
            expect(got).toEqual(want);
          }
        },
      ),
      { seed: 20261206, numRuns: 300, verbose: true },
    );
  });
});
