// The simulated TLB (src/mm/pgtable.ts) against a plain Map of what it should hold: a fill
// stores what the page-table walk gave at that moment, a hit returns it unchanged even after the
// PTE changed (a missed flush stays visible), a flush removes exactly its range, and nothing
// else comes or goes (the capacity here is far above what the runs fill, so nothing is
// evicted). The runs cross the TLB's chunk boundaries and empty chunks so that they are
// dropped and reused. Seeded operation sequences (fast-check, fixed seed).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { bootModel } from "../../src/model.ts";
import { KernelPageTables, type Translation } from "../../src/mm/pgtable.ts";

const GiB = 2 ** 30;

type Op =
  | { op: "translate"; v: number }
  | { op: "range"; v: number; n: number }
  | { op: "flush"; v: number; n: number }
  | { op: "flushAll" }
  | { op: "stale"; v: number };

describe("the TLB holds exactly what was filled and not flushed", () => {
  const cases: [string, Design, string, number][] = [
    ["legacy, HVO'd 2 MiB folios", "legacy", "hugepages-2048kB", 40],
    // PTE tables held as runs of entries (translateRangeWords() reads them a run at a time).
    ["mainline, HVO'd 1 GiB folios", "mainline", "hugepages-1048576kB", 2],
  ];
  it.each(cases)(
    "%s: fills, hits after an unflushed PTE change, range and full flushes",
    (_, design, dir, nr) => {
      const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design);
      model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
      model.write(`/sys/kernel/mm/hugepages/${dir}/nr_hugepages`, String(nr));
      model.settle();
      const k = model.k;
      const heads = [...model.pool.folios.keys()];
      // The vmemmap page of the first folio's head: HVO'd folios have split PMDs (PTE leaves).
      const first = Math.floor((heads[0] * 64) / 4096);
      const vArb = fc.integer({ min: Math.max(0, first - 1500), max: first + 3000 });
      const opArb: fc.Arbitrary<Op> = fc.oneof(
        fc.record({ op: fc.constant("translate" as const), v: vArb }),
        fc.record({
          op: fc.constant("range" as const),
          v: vArb,
          n: fc.integer({ min: 1, max: 1100 }),
        }),
        fc.record({
          op: fc.constant("flush" as const),
          v: vArb,
          n: fc.integer({ min: 1, max: 1100 }),
        }),
        fc.record({ op: fc.constant("flushAll" as const) }),
        fc.record({ op: fc.constant("stale" as const), v: vArb }),
      );
      const vaddr = (v: number) => k.vmemmapBase + BigInt(v) * 4096n;
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
          const t = new KernelPageTables(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase);
          const ref = new Map<number, Translation>();
          const restores: Array<() => void> = [];
          /** What the MMU must answer for v, filling the reference as the TLB fills. */
          const expectFor = (v: number): Translation | null => {
            const cached = ref.get(v);
            if (cached) return cached;
            const w = t.walkPage(v);
            if (w) ref.set(v, { frame: w.frame, writable: w.writable });
            return w;
          };
          try {
            for (const o of ops) {
              if (o.op === "translate") {
                const want = expectFor(o.v);
                expect(t.translate(o.v)).toEqual(want);
                // The same answer without an object.
                expect(t.translateFrame(o.v)).toBe(want ? want.frame : -1);
                if (want) expect(t.tWritable).toBe(want.writable);
              } else if (o.op === "range") {
                const want = Array.from({ length: o.n }, (_, i) => expectFor(o.v + i));
                const words = t.translateRangeWords(o.v, o.n, new Float64Array(o.n));
                // Each word: 0 unmapped, frame + 1 writable, -(frame + 1) read-only.
                expect(Array.from(words)).toEqual(
                  want.map((w) => (w === null ? 0 : w.writable ? w.frame + 1 : -(w.frame + 1))),
                );
              } else if (o.op === "flush") {
                t.flushTlbRange(vaddr(o.v), vaddr(o.v + o.n));
                for (let v = o.v; v < o.v + o.n; v++) ref.delete(v);
              } else if (o.op === "flushAll") {
                t.flushTlbAll();
                ref.clear();
              } else {
                // A PTE changed without a flush: a held translation must not change.
                const leaf = t.lookup(vaddr(o.v));
                if (leaf && !leaf.huge) {
                  const old = t.get(leaf.tablePfn, leaf.idx);
                  t.set(leaf.tablePfn, leaf.idx, old ^ (1n << 12n));
                  restores.push(() => t.set(leaf.tablePfn, leaf.idx, old));
                }
              }
              expect(t.tlbSize).toBe(ref.size);
              for (const [v, want] of ref) expect(t.tlbEntry(v), `vpn ${v}`).toEqual(want);
            }
            // Entries filled before a PTE changed and not flushed since are the stale ones.
            const stale = [...ref].filter(([v, c]) => {
              const a = t.walkPage(v);
              return !a || a.frame !== c.frame || a.writable !== c.writable;
            });
            expect(
              t
                .staleTlbEntries()
                .map((s) => s.vpn)
                .sort((a, b) => a - b),
            ).toEqual(stale.map(([v]) => v).sort((a, b) => a - b));
          } finally {
            for (const r of restores.reverse()) r();
          }
        }),
        { seed: 11, numRuns: 60 },
      );
    },
  );
});
