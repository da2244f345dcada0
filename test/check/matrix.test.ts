// hvo matrix against Documentation/mm/vmemmap_dedup.rst: with a 64-byte struct page, a 2 MiB
// HugeTLB page on x86_64 has 512 * 64 / 4096 = 8 vmemmap pages, HVO keeps 1 and frees 7; a
// 1 GiB page has 262144 * 64 / 4096 = 4096 and frees 4095. arm64 by the same formula
// (research/legacy.md §5.1): vmemmap pages = nr_pages * sizeof(struct page) / PAGE_SIZE, freed
// = that - 1 when it is more than one page and sizeof(struct page) is a power of two.
import { describe, expect, it } from "vitest";
import { buildMatrix, matrixRow } from "../../src/check/matrix.ts";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

function expected(hugeBytes: number, pageBytes: number, sps: number) {
  const nrPages = hugeBytes / pageBytes;
  const vmemmapPages = (nrPages * sps) / pageBytes;
  const pow2 = (sps & (sps - 1)) === 0;
  const freed = pow2 && vmemmapPages > 1 ? vmemmapPages - 1 : 0;
  return { vmemmapPages, freed };
}

describe("hvo matrix", () => {
  it("x86_64: 7 of 8 pages per 2 MiB, 4095 of 4096 per 1 GiB (vmemmap_dedup.rst)", () => {
    for (const design of ["legacy", "seed", "mainline"] as const) {
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

  it("arm64 4K/16K/64K by the same formula", () => {
    const cases: Array<[string, number, Array<[string, number]>]> = [
      [
        "arm64-4k",
        4 * KiB,
        [
          ["64K", 64 * KiB],
          ["2M", 2 * MiB],
          ["32M", 32 * MiB],
          ["1G", GiB],
        ],
      ],
      [
        "arm64-16k",
        16 * KiB,
        [
          ["2M", 2 * MiB],
          ["32M", 32 * MiB],
          ["1G", GiB],
        ],
      ],
      [
        "arm64-64k",
        64 * KiB,
        [
          ["2M", 2 * MiB],
          ["512M", 512 * MiB],
          ["16G", 16 * GiB],
        ],
      ],
    ];
    for (const [preset, page, sizes] of cases) {
      for (const sps of [56, 64, 72, 80] as const) {
        const row = matrixRow(preset, sps, "mainline", { ops: 0 });
        for (const [name, bytes] of sizes) {
          const e = expected(bytes, page, sps);
          const h = row.hstates.find((x) => x.name === name);
          expect(h, `${preset} ${name}`).toBeDefined();
          expect(h?.vmemmap_pages_per_folio, `${preset} ${sps} ${name}`).toBe(e.vmemmapPages);
          expect(h?.pages_freed_per_folio, `${preset} ${sps} ${name}`).toBe(e.freed);
          expect(h?.optimizable).toBe(e.freed > 0);
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
    expect(rows.length).toBe(6 * 4 * 3);
  });

  it("hvo matrix --json prints every row with its short check result", async () => {
    const io = captureIo();
    expect(await main(["matrix", "--json", "--ops", "5"], io)).toBe(0);
    const j = JSON.parse(io.stdout());
    expect(j.rows.length).toBe(72);
    const x86 = j.rows.find(
      (r: { preset: string; struct_page_size: number; design: string }) =>
        r.preset === "x86_64" && r.struct_page_size === 64 && r.design === "mainline",
    );
    expect(x86.vmemmap_base_aligned).toBe(true);
    expect(x86.check.ops).toBeGreaterThan(0);
  }, 120000);
});
