// Boot at scale: the present sections of a machine (mm/sparse.c) and register_page_bootmem_info()'s
// marks on the struct pages of each section's memmap block, now held as runs
// (src/mm/bootmem_info.ts) rather than one entry per section. Differential against the plain
// forms (a set of every section; a map per block) on seeded layouts, and on the 64 TiB 8-node
// machine against a walk of the page tables.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { Kernel } from "../../src/kernel.ts";
import { parseMachineFile } from "../../src/machine/load.ts";
import type { MachineSpec } from "../../src/machine/spec.ts";
import { BootmemSections } from "../../src/mm/bootmem_info.ts";
import { type Section, presentSections } from "../../src/mm/sparse_vmemmap.ts";

const SEED = 20261206;

/** The plain form: every section of every range, the first node listed keeps a shared one. */
function presentSectionsBySet(spec: Pick<MachineSpec, "arch" | "nodes">): Section[] {
  const per = 2 ** (spec.arch.sectionShift - spec.arch.pageShift);
  const out: Section[] = [];
  const seen = new Set<number>();
  for (const node of spec.nodes)
    for (const r of node.ranges)
      for (let s = Math.floor(r.startPfn / per); s <= Math.floor((r.endPfn - 1) / per); s++) {
        if (seen.has(s)) continue;
        seen.add(s);
        out.push({ nr: s, nid: node.nid, startPfn: s * per });
      }
  return out.sort((a, b) => a.nr - b.nr);
}

describe("presentSections()", () => {
  it("equals the plain form on seeded layouts (shared sections, holes, nodes out of order)", () => {
    // 16 pages a section; up to 5 nodes of up to 4 ranges each, anywhere in 0..300.
    const ranges = fc.array(fc.tuple(fc.nat(300), fc.nat(120)), { maxLength: 4 });
    fc.assert(
      fc.property(fc.array(ranges, { minLength: 1, maxLength: 5 }), (nodes) => {
        const spec = {
          arch: { sectionShift: 16, pageShift: 12 },
          nodes: nodes.map((rs, i) => ({
            nid: nodes.length - 1 - i,
            ranges: rs.map(([start, len]) => ({ startPfn: start, endPfn: start + len })),
          })),
        } as unknown as MachineSpec;
        expect(presentSections(spec)).toEqual(presentSectionsBySet(spec));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });
});

describe("BootmemSections", () => {
  it("answers as a map of every (block, section) pair, for blocks handed out up, down or anyhow", () => {
    const B = 512;
    const pairs = fc.array(
      fc.record({
        // A run of blocks: where it starts (in blocks), its direction, its length.
        start: fc.nat(2000),
        dir: fc.constantFrom(1, -1, 3),
        n: fc.integer({ min: 1, max: 20 }),
      }),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(pairs, fc.array(fc.nat(2100 * B), { maxLength: 50 }), (runs, probes) => {
        const ref = new Map<number, number>();
        const got = new BootmemSections();
        let section = 0;
        for (const r of runs)
          for (let i = 0; i < r.n; i++) {
            const block = (r.start + i * r.dir) * B;
            // Each block is handed out once (memblock never gives the same memory twice).
            if (block < 0 || ref.has(block)) continue;
            ref.set(block, section);
            got.set(block, section, B);
            section++;
          }
        expect(got.size).toBe(ref.size);
        for (const [block, s] of ref) expect(got.get(block)).toBe(s);
        for (const p of probes) expect(got.get(p)).toBe(ref.get(p));
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});

describe("the 64 TiB, 8-node machine boots", () => {
  const file = new URL("../../scenarios/machines/x86_64-la57-64T-8node.yaml", import.meta.url);
  const spec = parseMachineFile(readFileSync(file, "utf8"), "x86_64-la57-64T-8node.yaml");
  const k = new Kernel(spec, { design: "mainline" }).boot();
  const perSection = 2 ** (27 - 12); // 128 MiB sections of 4 KiB pages

  it("with a memmap block of 2 MiB for each of its 524,288 sections", () => {
    // RAM ends at 64 TiB + 1 GiB; the 1 GiB below 4 GiB is the PCI hole: (64 TiB + 1 GiB) /
    // 128 MiB sections, less the 8 of the hole.
    expect(k.sections.length).toBe((2 ** 46 + 2 ** 30) / 2 ** 27 - 8);
    // Each section's 32768 struct pages of 64 bytes: 2 MiB, 512 pages.
    expect(k.vmstat.nrMemmapBootPages).toBe(524288 * 512);
  });

  it("each block's struct pages carry get_page_bootmem()'s mark of their own section", () => {
    const picks = new Set<number>([0, 1, k.sections.length - 1]);
    for (let nid = 0; nid < 8; nid++) {
      const of = k.sections.filter((s) => s.nid === nid);
      picks.add(k.sections.indexOf(of[0]));
      picks.add(k.sections.indexOf(of[of.length - 1]));
    }
    for (let i = 0; i < 40; i++) picks.add((i * 104729) % k.sections.length);
    for (const i of picks) {
      const s = k.sections[i];
      // Where the page tables put the section's memmap (a walk, not the bootmem record).
      const first = k.memmap.backing(s.startPfn);
      const last = k.memmap.backing(s.startPfn + perSection - 1);
      expect(first, `section ${s.nr}`).not.toBeNull();
      expect(last!.frame - first!.frame).toBe(511);
      for (const pfn of [first!.frame, first!.frame + 200, last!.frame]) {
        // private = section << 4 | SECTION_INFO (1); one more reference than a reserved page.
        expect(k.memmap.readU64(pfn, PAGE_OFF.private), `pfn ${pfn}`).toBe(BigInt(s.nr * 16 + 1));
        expect(k.memmap.readU32(pfn, PAGE_OFF.refcount)).toBe(2);
      }
    }
  });
});
