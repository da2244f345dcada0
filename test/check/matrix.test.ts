// hvo matrix against Documentation/mm/vmemmap_dedup.rst. A HugeTLB page of n base pages has
// n * sizeof(struct page) / PAGE_SIZE pages of struct pages ("struct_size"); HVO keeps the head
// vmemmap page and frees the rest, only when sizeof(struct page) is a power of two and the
// struct pages fill more than one page. Every number below is that arithmetic done by hand
// (one line per hstate), not by the code under test.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { presetNames } from "../../src/arch/index.ts";
import {
  buildMatrix,
  formatMatrix,
  KERNEL_CHECKS,
  MATRIX_FIELDS,
  matrixRow,
} from "../../src/check/matrix.ts";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";

const DESIGNS = ["legacy", "seed", "mainline", "mainline-7.1"] as const;
const SIZES = [56, 64, 72, 80] as const;

/**
 * [preset, hstate, vmemmap pages per folio with a 56/64/72/80-byte struct page, pages freed
 * with 64 bytes]. With 56, 72 or 80 bytes nothing is freed (not a power of two).
 */
const TABLE: Array<[string, string, [number, number, number, number], number]> = [
  // 4 KiB pages. 2M: 512 struct pages; 512 * 56 / 4096 = 7, * 64 = 8, * 72 = 9, * 80 = 10.
  ["x86_64", "2M", [7, 8, 9, 10], 7],
  // 1G: 262144 struct pages; 262144 * 64 / 4096 = 4096 (the doc's "1GB ... 4096"), keep 1.
  ["x86_64", "1G", [3584, 4096, 4608, 5120], 4095],
  // 64K (contiguous PTEs): 16 struct pages * 64 B = 1 KiB, a quarter page: nothing to free.
  ["arm64-4k", "64K", [0.21875, 0.25, 0.28125, 0.3125], 0],
  ["arm64-4k", "2M", [7, 8, 9, 10], 7],
  // 32M (contiguous PMDs): 8192 struct pages * 64 / 4096 = 128.
  ["arm64-4k", "32M", [112, 128, 144, 160], 127],
  ["arm64-4k", "1G", [3584, 4096, 4608, 5120], 4095],
  // 16 KiB pages. 2M: 128 struct pages * 64 B = 8 KiB, half a page: nothing to free.
  ["arm64-16k", "2M", [0.4375, 0.5, 0.5625, 0.625], 0],
  // 32M (PMD): 2048 * 64 / 16384 = 8, the doc's pmd-level "8 (pages)".
  ["arm64-16k", "32M", [7, 8, 9, 10], 7],
  // 1G: 65536 * 64 / 16384 = 256.
  ["arm64-16k", "1G", [224, 256, 288, 320], 255],
  // 64 KiB pages. 2M: 32 struct pages * 64 B = 2 KiB of a 64 KiB page: nothing to free.
  ["arm64-64k", "2M", [0.02734375, 0.03125, 0.03515625, 0.0390625], 0],
  // 512M (PMD): 8192 * 64 / 65536 = 8.
  ["arm64-64k", "512M", [7, 8, 9, 10], 7],
  // 16G: 262144 * 64 / 65536 = 256.
  ["arm64-64k", "16G", [224, 256, 288, 320], 255],
  // riscv64, 4 KiB pages: as x86_64.
  ["riscv64", "2M", [7, 8, 9, 10], 7],
  ["riscv64", "1G", [3584, 4096, 4608, 5120], 4095],
  // loongarch64, 16 KiB pages, 32M (PMD): 2048 * 64 / 16384 = 8.
  ["loongarch64", "32M", [7, 8, 9, 10], 7],
];

describe("hvo matrix", () => {
  it("x86_64: 7 of 8 pages per 2 MiB, 4095 of 4096 per 1 GiB (vmemmap_dedup.rst)", () => {
    for (const design of DESIGNS) {
      const row = matrixRow("x86_64", 64, design, { ops: 0 });
      const h2 = row.hstates.find((h) => h.name === "2M");
      const h1 = row.hstates.find((h) => h.name === "1G");
      expect(h2).toMatchObject({
        optimizable: true,
        vmemmap_pages_per_folio: 8,
        pages_freed_per_folio: 7,
      });
      expect(h1).toMatchObject({
        optimizable: true,
        vmemmap_pages_per_folio: 4096,
        pages_freed_per_folio: 4095,
      });
    }
  });

  it("every preset, struct page size and design: the hand-computed table", () => {
    for (const preset of new Set(TABLE.map(([p]) => p))) {
      const names = TABLE.filter(([p]) => p === preset).map(([, n]) => n);
      for (const [i, sps] of SIZES.entries())
        for (const design of DESIGNS) {
          const row = matrixRow(preset, sps, design, { ops: 0 });
          const where = `${preset} ${sps} ${design}`;
          // The table lists exactly the hstates of the preset.
          expect(row.hstates.map((h) => h.name).sort(), where).toEqual([...names].sort());
          for (const [, name, pages, freed64] of TABLE.filter(([p]) => p === preset)) {
            const h = row.hstates.find((x) => x.name === name);
            const freed = sps === 64 ? freed64 : 0;
            expect(
              [h?.vmemmap_pages_per_folio, h?.pages_freed_per_folio, h?.optimizable],
              `${where} ${name}`,
            ).toEqual([pages[i], freed, freed > 0]);
          }
        }
    }
  });

  it("NR_VMEMMAP_TAILS and MAX_FOLIO_VMEMMAP_ALIGN of the series (research/series.md §6)", () => {
    // MAX_FOLIO_ORDER = 34 - PAGE_SHIFT; VMEMMAP_TAIL_MIN_ORDER = PAGE_SHIFT + 1 - 6;
    // NR = MAX_FOLIO_ORDER - MIN + 1; ALIGN = 2^MAX_FOLIO_ORDER * 64.
    const want: Record<string, [number, bigint]> = {
      x86_64: [22 - 7 + 1, (1n << 22n) * 64n],
      "arm64-4k": [22 - 7 + 1, (1n << 22n) * 64n],
      "arm64-16k": [20 - 9 + 1, (1n << 20n) * 64n],
      "arm64-64k": [18 - 11 + 1, (1n << 18n) * 64n],
    };
    for (const [preset, [nr, align]] of Object.entries(want)) {
      const row = matrixRow(preset, 64, "mainline", { ops: 0 });
      expect(row.nr_vmemmap_tails).toBe(nr);
      expect(BigInt(row.vmemmap_align ?? "0")).toBe(align);
      // No mask encoding in legacy, nor with a struct page that is not a power of two.
      expect(matrixRow(preset, 64, "legacy", { ops: 0 }).nr_vmemmap_tails).toBeNull();
      expect(matrixRow(preset, 72, "mainline", { ops: 0 }).nr_vmemmap_tails).toBeNull();
    }
  });

  it("covers every preset x struct page size x design", () => {
    const rows = buildMatrix({ ops: 0 });
    // 6 presets x 4 struct page sizes x 4 designs (legacy, seed, 7.2, 7.1).
    expect(rows.length).toBe(6 * 4 * 4);
  });

  it("hvo matrix --json prints every row with its short check result", async () => {
    const io = captureIo();
    expect(await main(["matrix", "--json", "--ops", "5"], io)).toBe(0);
    const j = JSON.parse(io.stdout());
    expect(j.rows.length).toBe(6 * 4 * 4);
    const x86 = j.rows.find(
      (r: { preset: string; struct_page_size: number; design: string }) =>
        r.preset === "x86_64" && r.struct_page_size === 64 && r.design === "mainline",
    );
    expect(x86.vmemmap_base_aligned).toBe(true);
    expect(x86.check.ops).toBeGreaterThan(0);
  }, 120000);
});

describe("hvo matrix: which numbers a real kernel checked", () => {
  const ROOT = join(import.meta.dirname, "../..");

  it("every kernel check names a preset, a design and test files that exist", () => {
    for (const c of KERNEL_CHECKS) {
      const where = `${c.preset} ${c.structPageSize} ${c.design} (${c.kernel})`;
      expect(presetNames(), where).toContain(c.preset);
      expect(DESIGNS as readonly string[], where).toContain(c.design);
      expect(c.fields.length, where).toBeGreaterThan(0);
      for (const f of c.fields) expect(MATRIX_FIELDS as readonly string[], where).toContain(f);
      expect(c.tests.length, where).toBeGreaterThan(0);
      for (const t of c.tests) expect(existsSync(join(ROOT, t)), `${where}: ${t}`).toBe(true);
    }
  });

  it("a kernel built without HVO confirms nothing HVO frees (its cached config, where present)", (ctx) => {
    let read = 0;
    for (const c of KERNEL_CHECKS) {
      if (!c.vmKernel) continue;
      const config = join(ROOT, ".cache/vm/kernels", c.vmKernel.replace(":", "-"), "config");
      if (!existsSync(config)) continue;
      read++;
      const hvo = /^CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP=y$/m.test(readFileSync(config, "utf8"));
      if (!hvo) expect(c.fields, c.kernel).not.toContain("pages_freed_per_folio");
    }
    if (read === 0) ctx.skip("no VM kernel has been downloaded here (.cache/vm/kernels)");
  });

  it("arm64 rows mark their HVO as what-if (no released arm64 kernel has it), with the reason once under the table", () => {
    const rows = buildMatrix({ ops: 0 });
    for (const r of rows) {
      const where = `${r.preset} ${r.struct_page_size} ${r.design}`;
      if (r.preset.startsWith("arm64"))
        expect(r.hvo_hypothetical, where).toMatch(/arm64 has no HVO/);
      else expect(r.hvo_hypothetical, where).toBeNull();
    }
    const text = formatMatrix(rows);
    const marked = text.split("\n").filter((l) => l.includes("(HVO what-if*)"));
    expect(marked.length).toBe(rows.filter((r) => r.preset.startsWith("arm64")).length);
    for (const l of marked) expect(l.startsWith("arm64")).toBe(true);
    expect(text.match(/^\* Linux 7\.2 on arm64 has no HVO/gm)?.length).toBe(1);
  });

  it("x86_64 with a 64-byte struct page: legacy checked by the live 6.18, mainline by 7.2 in QEMU", () => {
    const legacy = matrixRow("x86_64", 64, "legacy", { ops: 0 });
    expect(legacy.checked_against.map((c) => c.kernel)).toEqual([
      expect.stringMatching(/^Linux 6\.18/),
    ]);
    expect(legacy.checked_against[0].fields).toContain("pages_freed_per_folio");
    const mainline = matrixRow("x86_64", 64, "mainline", { ops: 0 });
    expect(mainline.checked_against.map((c) => c.kernel)).toEqual([
      expect.stringMatching(/^Linux 7\.2/),
    ]);
    expect(mainline.checked_against[0].fields).toContain("vmemmap_base");
    // The series as posted ran on no released kernel; a 72-byte struct page on none of ours.
    for (const row of [
      matrixRow("x86_64", 64, "seed", { ops: 0 }),
      matrixRow("x86_64", 72, "mainline", { ops: 0 }),
    ]) {
      expect(row.checked_against).toEqual([]);
      expect(row.arithmetic_only).toContain("pages_freed_per_folio");
    }
  });

  it("each row splits its numbers into checked and arithmetic only, and says so in the table", () => {
    const rows = buildMatrix({ ops: 0 });
    for (const r of rows) {
      const where = `${r.preset} ${r.struct_page_size} ${r.design}`;
      const checked = r.checked_against.flatMap((c) => c.fields);
      expect(
        checked.filter((f) => r.arithmetic_only.includes(f)),
        where,
      ).toEqual([]);
      // The series' constants exist only with the mask encoding; every other number is one
      // or the other.
      const has = MATRIX_FIELDS.filter(
        (f) =>
          !(f === "nr_vmemmap_tails" && r.nr_vmemmap_tails === null) &&
          !(f === "vmemmap_align" && r.vmemmap_align === null),
      );
      expect(new Set([...checked, ...r.arithmetic_only]), where).toEqual(new Set(has));
    }
    const text = formatMatrix(rows).split("\n");
    expect(text[0]).toMatch(/real kernel$/);
    for (const [i, r] of rows.entries())
      if (r.checked_against.length === 0)
        expect(text[i + 1]).toMatch(/ arithmetic(?: \(HVO what-if\*\))?$/);
      else expect(text[i + 1]).not.toMatch(/ arithmetic(?: \(HVO what-if\*\))?$/);
  });
});
