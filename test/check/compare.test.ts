// hvo compare: one scenario under the three designs. Expected numbers from SPEC §1: after HVO a
// legacy 2 MiB folio's vmemmap pages 1..7 alias page 0, so struct pages 64, 128, ..., 448 read
// as the head (7 fake heads per folio; 4095 per 1 GiB folio); seed and mainline map them to a
// shared page of tails and have none.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../tmp.ts";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { compareDesigns } from "../../src/check/compare.ts";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import { parseScenarioFile } from "../../src/scenario/format.ts";

const SCENARIO = {
  format: "hvo-scenario/1",
  scenarios: [
    {
      id: "grow",
      steps: [
        { op: "hvo", value: 1 },
        { op: "nr", size: "2M", value: 4 },
        { op: "nr", size: "1G", value: 1 },
      ],
    },
  ],
};

describe("hvo compare", () => {
  const spec = machinePreset("x86_64", { memoryBytes: 8 * 2 ** 30, nodes: 2 });
  const cmp = compareDesigns(spec, parseScenarioFile(SCENARIO));

  it("legacy has 7 fake heads per 2 MiB folio and 4095 per 1 GiB folio; seed and mainline none", () => {
    // 8 GiB holds 4 x 2 MiB and an aligned free GiB: every design has the whole pool.
    for (const d of ["legacy", "seed", "mainline"] as const)
      expect([cmp.designs[d].after.h2M?.nr, cmp.designs[d].after.h1G?.nr], d).toEqual([4, 1]);
    expect(cmp.designs.legacy.fake_heads).toBe(4 * 7 + 1 * 4095);
    expect(cmp.designs.seed.fake_heads).toBe(0);
    expect(cmp.designs.mainline.fake_heads).toBe(0);
  });

  it("struct page 64 of the first folio has PG_head in legacy only", () => {
    expect(cmp.designs.legacy.tail?.pg_head).toBe(true);
    expect(cmp.designs.seed.tail?.pg_head).toBe(false);
    expect(cmp.designs.mainline.tail?.pg_head).toBe(false);
  });

  it("shared tails: none in legacy, one per (node, order) in seed, per (zone, order) in mainline", () => {
    expect(cmp.designs.legacy.shared_tail_pages).toBe(0);
    // The 2 MiB folios go round the nodes (2 on each), the 1 GiB one on a single node: seed has
    // a tail for (node 0, order 9), (node 1, order 9) and one for order 18. Mainline: node 0's
    // two 2 MiB folios come from its Normal zone (the highest, 1 GiB of free RAM above 4 GiB),
    // node 1 has only Normal: again two order-9 tails and one order-18 tail.
    expect(cmp.designs.legacy.after.h2M).toMatchObject({ node0_nr: 2, node1_nr: 2 });
    expect(cmp.designs.seed.shared_tail_pages).toBe(2 + 1);
    expect(cmp.designs.mainline.shared_tail_pages).toBe(2 + 1);
  });

  it("synchronize_rcu() only in legacy; the user's counters agree across designs", () => {
    expect(cmp.designs.legacy.synchronize_rcu).toBeGreaterThan(0);
    expect(cmp.designs.seed.synchronize_rcu).toBe(0);
    expect(cmp.designs.mainline.synchronize_rcu).toBe(0);
    for (const f of ["HugePages_Total", "Hugetlb_kB", "memmap_sum"] as const) {
      expect(cmp.designs.seed.after[f]).toBe(cmp.designs.legacy.after[f]);
      expect(cmp.designs.mainline.after[f]).toBe(cmp.designs.legacy.after[f]);
    }
  });

  it("the CLI prints JSON with the documented fields", async () => {
    const dir = tempDir("hvo-compare-");
    const path = join(dir, "s.json");
    writeFileSync(path, JSON.stringify(SCENARIO));
    const io = captureIo();
    expect(await main(["compare", path, "--json"], io)).toBe(0);
    const j = JSON.parse(io.stdout());
    for (const d of ["legacy", "seed", "mainline"]) {
      for (const f of [
        "fake_heads",
        "shared_tail_pages",
        "vmemmap_pages",
        "pagetable_pages",
        "pte_writes",
        "tlb_flushes",
        "synchronize_rcu",
        "after",
      ])
        expect(j.designs[d], `${d}.${f}`).toHaveProperty(f);
    }
  });
});
