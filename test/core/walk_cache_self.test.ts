// The page-table walk's memories (src/mm/pgtable.ts leafOf(): the last table read, and the
// PMD-level table passed last) stay valid across a write to a table they do not pass through.
// A table the walk remembers as a last-level table may itself lie on the path to it once an
// upper entry points somewhere wrong (a corrupted table, as the checker's mutations make): the
// walk then reaches that frame twice, at two levels. A write to it, told its level or not,
// changes the path, so the memory must go. Sequence: move one entry at some level by a frame,
// walk pages through the wrong pointer (the memory forms there), put the entry back through the
// same instance or another over the same frames, then every page must walk as from the root.
import { describe, expect, it } from "vitest";
import { KernelPageTables } from "../../src/mm/pgtable.ts";
import { walkModel } from "./walk_model.ts";

describe("a write to a remembered table that lies on its own path forgets the walk's memory", () => {
  for (const la57 of [false, true])
    it(`${la57 ? "5" : "4"}-level paging: move an entry, walk, put it back, walk`, () => {
      const { model, first } = walkModel(la57);
      const k = model.k;
      const levels = k.pgt.levels;
      expect(levels).toBe(la57 ? 5 : 4);
      const pages: number[] = [];
      for (let v = 0; v < 40; v += 3) pages.push(v);
      for (let v = first - 300; v <= first + 300; v += 37) pages.push(v);
      const failures: string[] = [];
      for (const told of [false, true])
        for (let level = 1; level < levels; level++)
          for (const src of [0, first, first + 100])
            for (const w of pages)
              for (const other of [false, true]) {
                // Fresh instances each time: no memory carried between cases.
                const a = new KernelPageTables(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase);
                const b = new KernelPageTables(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase);
                const s = a.slot(level, k.vmemmapBase + BigInt(src) * 4096n);
                if (s === null) continue;
                const old = a.get(s.tablePfn, s.idx);
                if (old === 0n) continue;
                // x86_64: bits 12.. of an entry hold the frame; moved by one frame.
                a.set(s.tablePfn, s.idx, old + 4096n, told ? level : -1);
                a.walkPage(w);
                b.walkPage(w);
                (other ? b : a).set(s.tablePfn, s.idx, old, told ? level : -1);
                for (const pt of [a, b])
                  for (const v of pages) {
                    const got = pt.walkPage(v);
                    const want = pt.walk(k.vmemmapBase + BigInt(v) * 4096n);
                    if (JSON.stringify(got) !== JSON.stringify(want))
                      failures.push(
                        `told ${told} level ${level} src ${src} walked ${w} undone by ${other ? "other" : "same"}: page ${v} walks to ${JSON.stringify(got)}, from the root ${JSON.stringify(want)}`,
                      );
                  }
              }
      // The first few, not thousands of lines.
      expect(failures.slice(0, 3)).toEqual([]);
    });

  // The memory of a PMD-level table outlives writes told they are to a table at the PMD level or
  // below. Point an entry two levels above the PMD level at a PMD table: walks then pass that
  // table one level higher, and a write to it, told (truly, for its own path) "PMD level",
  // changes the path to the PMD-level table they remember.
  for (const la57 of [false, true])
    it(`${la57 ? "5" : "4"}-level paging: a write told "PMD level" to a table a walk passed higher up`, () => {
      const { model, first } = walkModel(la57);
      const k = model.k;
      const levels = k.pgt.levels;
      const pmdLevel = levels - 2;
      const pages: number[] = [];
      for (let v = 0; v < 40; v += 3) pages.push(v);
      for (let v = first - 300; v <= first + 300; v += 37) pages.push(v);
      const at = (v: number) => k.vmemmapBase + BigInt(v) * 4096n;
      const failures: string[] = [];
      let written = 0;
      for (const w of pages)
        for (const other of [false, true]) {
          const a = new KernelPageTables(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase);
          const b = new KernelPageTables(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase);
          const top = a.slot(pmdLevel - 2, at(w));
          const mid = a.slot(pmdLevel - 1, at(w));
          const pmd = a.slot(pmdLevel, at(w));
          if (top === null || mid === null || pmd === null) continue;
          const old = a.get(top.tablePfn, top.idx);
          // x86_64: bits 12.. of an entry hold the frame: now the PMD table's.
          a.set(
            top.tablePfn,
            top.idx,
            old + BigInt(pmd.tablePfn - mid.tablePfn) * 4096n,
            pmdLevel - 2,
          );
          for (const pt of [a, b]) pt.walkPage(w);
          // The PMD table's entry for w, as walks now read it (one level higher), not present.
          const s2 = a.slot(pmdLevel - 1, at(w));
          const old2 = s2 === null ? 0n : a.get(s2.tablePfn, s2.idx);
          if (s2 !== null && s2.tablePfn === pmd.tablePfn && old2 !== 0n) {
            (other ? b : a).set(s2.tablePfn, s2.idx, old2 & ~1n, pmdLevel);
            written++;
            for (const pt of [a, b]) {
              const got = pt.walkPage(w);
              const want = pt.walk(at(w));
              if (JSON.stringify(got) !== JSON.stringify(want))
                failures.push(
                  `page ${w}, written by ${other ? "another instance" : "the same"}: ${JSON.stringify(got)}, from the root ${JSON.stringify(want)}`,
                );
            }
            a.set(s2.tablePfn, s2.idx, old2, pmdLevel);
          }
          a.set(top.tablePfn, top.idx, old, pmdLevel - 2);
        }
      // The case arose, and every walk matched.
      expect(written).toBeGreaterThan(0);
      expect(failures.slice(0, 3)).toEqual([]);
    });
});
