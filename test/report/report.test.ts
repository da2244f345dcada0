// hvo report: the pool arithmetic and the JSON a script reads.
import { describe, expect, test } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { buildReport } from "../../src/report/report.ts";

describe("report with --pool", () => {
  test("2M:100,1G:2 on x86_64 frees 100 x 7 + 2 x 4095 pages (vmemmap_dedup.rst)", () => {
    const r = buildReport(machinePreset("x86_64"), {
      design: "mainline",
      pool: "2M:100,1G:2",
      measure: false,
    });
    const two = r.pool.hstates.find((h) => h.name === "2M")!;
    const one = r.pool.hstates.find((h) => h.name === "1G")!;
    expect(two.folios).toBe(100);
    expect(two.freed_pages).toBe(100 * 7);
    expect(two.vmemmap_pages).toBe(100 * 8);
    expect(one.freed_pages).toBe(2 * 4095);
    expect(r.pool.total!.freed_pages).toBe(100 * 7 + 2 * 4095);
    expect(r.pool.total!.freed_bytes).toBe((100 * 7 + 2 * 4095) * 4096);
  });

  test("shared tails: mainline one per (zone, order), seed one per (node, order), legacy none", () => {
    // 100 2 MiB folios fit in ZONE_NORMAL of the one node: one zone, one order.
    const pool = "2M:100";
    const mainline = buildReport(machinePreset("x86_64"), {
      design: "mainline",
      pool,
      measure: false,
    });
    const seed = buildReport(machinePreset("x86_64"), { design: "seed", pool, measure: false });
    const legacy = buildReport(machinePreset("x86_64"), { design: "legacy", pool, measure: false });
    expect(mainline.pool.hstates[0].shared_tail_pages).toBe(1);
    expect(seed.pool.hstates[0].shared_tail_pages).toBe(1);
    expect(legacy.pool.hstates[0].shared_tail_pages).toBe(0);
  });

  test("two nodes: seed needs a shared tail per node", () => {
    const spec = machinePreset("x86_64", { nodes: 2, memoryBytes: 32 * 2 ** 30 });
    const r = buildReport(spec, { design: "seed", pool: "2M:100", measure: false });
    expect(r.pool.hstates.find((h) => h.name === "2M")!.shared_tail_pages).toBe(2);
  });

  test("the default pool is the largest of each size alone, no more than RAM holds", () => {
    const r = buildReport(machinePreset("x86_64"), { design: "mainline", measure: false });
    expect(r.pool.kind).toBe("default");
    expect(r.pool.total).toBeNull();
    const two = r.pool.hstates.find((h) => h.name === "2M")!;
    const one = r.pool.hstates.find((h) => h.name === "1G")!;
    // 16 GiB of RAM, less the boot memmap (256 MiB) and the rest the kernel holds.
    expect(two.folios).toBeGreaterThan(7000);
    expect(two.folios).toBeLessThan((16 * 1024) / 2);
    expect(one.folios).toBeGreaterThan(10);
    expect(one.folios).toBeLessThan(16);
    expect(r.pool.definition).toMatch(/largest/);
  });
});

describe("report JSON shape", () => {
  test("machine, design, hstates with the issue's fields, pool, memmap", () => {
    const r = JSON.parse(
      JSON.stringify(buildReport(machinePreset("x86_64"), { design: "mainline", measure: false })),
    );
    expect(r.machine).toBe("x86_64");
    expect(r.design).toBe("mainline");
    for (const h of r.hstates) {
      for (const k of [
        "name",
        "size_kb",
        "order",
        "vmemmap_pages",
        "optimizable",
        "freed_per_folio",
      ]) {
        expect(h).toHaveProperty(k);
      }
    }
    expect(r.hstates.map((h: { name: string }) => h.name)).toEqual(["2M", "1G"]);
    expect(r.memmap.boot_memmap_pages).toBe(r.memmap.model_nr_memmap_boot_pages);
    expect(r.pool.hstates).toHaveLength(2);
    expect(r.pictures).toHaveLength(2);
  });

  test("the picture of a 2 MiB folio: 8 own pages before; after, H RW then 7 RO pages on T (mainline)", () => {
    const r = buildReport(machinePreset("x86_64"), { design: "mainline", measure: false });
    const p = r.pictures.find((x) => x.hstate === "2M")!;
    expect(p.before).toHaveLength(1);
    expect(p.before[0]).toMatchObject({
      first: 0,
      last: 7,
      writable: true,
      role: "own",
      level: "pmd",
    });
    expect(p.after![0]).toMatchObject({ first: 0, last: 0, writable: true, role: "head" });
    expect(p.after![1]).toMatchObject({ first: 1, last: 7, writable: false, role: "shared_tail" });
  });

  test("legacy's picture maps pages 1-7 back onto the head page, read-only", () => {
    const r = buildReport(machinePreset("x86_64"), { design: "legacy", measure: false });
    const p = r.pictures.find((x) => x.hstate === "2M")!;
    expect(p.after![1]).toMatchObject({ first: 1, last: 7, writable: false, role: "head_alias" });
  });
});

describe("report measured in the model", () => {
  for (const design of ["legacy", "seed", "mainline"] as const) {
    test(`${design}: growing a 2M pool of 10 folios changes the memmap by -10 x 7 pages`, () => {
      const r = buildReport(machinePreset("x86_64"), { design, pool: "2M:10" });
      const m = r.measured!.hstates.find((h) => h.name === "2M")!;
      expect(m.got).toBe(10);
      expect(m.memmap_delta).toBe(-10 * 7);
      expect(m.expected_memmap_delta).toBe(-10 * 7);
      // SPEC 1.3: one shared tail per (node|zone, order) in seed/mainline, none in legacy
      expect(m.shared_tail_pages).toBe(design === "legacy" ? 0 : 1);
      const pic = r.pictures.find((p) => p.hstate === "2M")!;
      expect(pic.source_after).toBe("model");
      expect(pic.after![1]).toMatchObject({ first: 1, last: 7, writable: false });
    });
  }
});
