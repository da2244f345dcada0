// Scenario sizes by role (docs/FORMAT.md): PMD, PUD, CONT_PTE and CONT_PMD name the size each
// arch maps with that entry, from its constants. The expected sizes are the arithmetic of
// arch/arm64/mm/hugetlbpage.c's support matrix and the arches' page-table geometry, worked here
// by hand: a level maps PAGE_SIZE * (PAGE_SIZE / 8)^k bytes per entry (8-byte entries), and a
// contiguous run is CONT_PTES (CONT_PMDS) entries of the level below
// (Kconfig ARM64_CONT_PTE_SHIFT 4/7/5 and ARM64_CONT_PMD_SHIFT 4/5/5 for 4K/16K/64K pages).
import { describe, expect, it } from "vitest";
import { machinePreset, presetNames } from "../../src/arch/index.ts";
import { runScenarioVia, type Topology } from "../../src/live/driver.ts";
import type { HvoexecChannel, HvoexecReply } from "../../src/live/hvoexec.ts";
import { bootModel } from "../../src/model.ts";
import { HSTATE_ROLES, type HstateRole, parseScenarioFile } from "../../src/scenario/format.ts";
import { runModel } from "../../src/scenario/run_model.ts";
import { archOfKernel, resolveRole, roleSizeKb } from "../../src/scenario/roles.ts";

const KiB = 1;
const MiB = 1024;
const GiB = 1024 * 1024;

/** kB of each role, or null where the arch has no such size; `has`: the roles that are hstates. */
const EXPECTED: Record<string, { sizes: Record<HstateRole, number | null>; has: HstateRole[] }> = {
  // 4K pages, 512 entries a table: PMD 4K * 512 = 2M, PUD 2M * 512 = 1G. No contiguous bit.
  x86_64: {
    sizes: { PMD: 2 * MiB, PUD: 1 * GiB, CONT_PTE: null, CONT_PMD: null },
    has: ["PMD", "PUD"],
  },
  // 4K: CONT_PTE 2^4 * 4K = 64K, PMD 2M, CONT_PMD 2^4 * 2M = 32M, PUD 1G (pud_sect_supported).
  "arm64-4k": {
    sizes: { PMD: 2 * MiB, PUD: 1 * GiB, CONT_PTE: 64 * KiB, CONT_PMD: 32 * MiB },
    has: ["CONT_PTE", "PMD", "CONT_PMD", "PUD"],
  },
  // 16K, 2048 entries a table: CONT_PTE 2^7 * 16K = 2M, PMD 16K * 2048 = 32M,
  // CONT_PMD 2^5 * 32M = 1G, PUD 32M * 2048 = 64G with 4 levels, not an hstate (4K only).
  "arm64-16k": {
    sizes: { PMD: 32 * MiB, PUD: 64 * GiB, CONT_PTE: 2 * MiB, CONT_PMD: 1 * GiB },
    has: ["CONT_PTE", "PMD", "CONT_PMD"],
  },
  // 64K, 8192 entries a table, 3 levels: CONT_PTE 2^5 * 64K = 2M, PMD 64K * 8192 = 512M,
  // CONT_PMD 2^5 * 512M = 16G; the PUD is folded into the top level: 512M * 8192 = 4T, no hstate.
  "arm64-64k": {
    sizes: { PMD: 512 * MiB, PUD: 4096 * GiB, CONT_PTE: 2 * MiB, CONT_PMD: 16 * GiB },
    has: ["CONT_PTE", "PMD", "CONT_PMD"],
  },
  // Sv39, 4K pages: PMD 2M, PUD (the top level) 1G.
  riscv64: {
    sizes: { PMD: 2 * MiB, PUD: 1 * GiB, CONT_PTE: null, CONT_PMD: null },
    has: ["PMD", "PUD"],
  },
  // 16K pages, 3 levels: PMD 32M (its only hstate), PUD 32M * 2048 = 64G, not an hstate.
  loongarch64: {
    sizes: { PMD: 32 * MiB, PUD: 64 * GiB, CONT_PTE: null, CONT_PMD: null },
    has: ["PMD"],
  },
};

const name = (kB: number) =>
  kB % GiB === 0 ? `${kB / GiB}G` : kB % MiB === 0 ? `${kB / MiB}M` : `${kB}K`;

const file = (scenarios: unknown[]) => parseScenarioFile({ format: "hvo-scenario/1", scenarios });

describe("roles resolve to each preset's sizes", () => {
  it("covers every preset", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(presetNames().sort());
  });

  for (const [preset, want] of Object.entries(EXPECTED))
    it(`${preset}: ${HSTATE_ROLES.map((r) => `${r} ${want.sizes[r] === null ? "-" : name(want.sizes[r] as number)}`).join(", ")}`, () => {
      const model = bootModel(machinePreset(preset, { memoryBytes: 4 * 2 ** 30 }), "mainline");
      const hstatesKb = model.pool.hstatesBySize().map((h) => h.sizeKb);
      for (const role of HSTATE_ROLES) {
        expect(roleSizeKb(model.k.spec.arch, role), `${preset} ${role}`).toBe(want.sizes[role]);
        const a = resolveRole({ arch: model.k.spec.arch, hstatesKb, what: "machine" }, role);
        if (want.has.includes(role))
          expect(a, `${preset} ${role}`).toEqual({
            size: name(want.sizes[role] as number),
            kB: want.sizes[role],
          });
        else expect("skip" in a && a.skip.startsWith(`${role}`), `${preset} ${role}`).toBe(true);
      }
    });

  it("a kernel's arch from uname -m and its page size", () => {
    expect(archOfKernel("x86_64", 4096)?.preset).toBe("x86_64");
    expect(archOfKernel("aarch64", 4096)?.preset).toBe("arm64-4k");
    expect(archOfKernel("aarch64", 16384)?.preset).toBe("arm64-16k");
    expect(archOfKernel("aarch64", 65536)?.preset).toBe("arm64-64k");
    expect(archOfKernel("s390x", 4096)).toBeNull();
    expect(archOfKernel("x86_64", 16384)).toBeNull();
  });
});

describe("one scenario file on every preset", () => {
  const sf = file([
    {
      id: "R",
      steps: [
        { op: "hvo", value: 1 },
        { op: "nr", size: "PMD", value: 2 },
        { op: "map", id: "a", size: "PMD", n: 1 },
        { op: "release", id: "a" },
        { op: "nr", size: "CONT_PMD", value: 1 },
        { op: "map", id: "c", size: "CONT_PMD", n: 1 },
        { op: "touch", id: "c" },
        { op: "release", id: "c" },
        { op: "nr", size: "PMD", value: 0 },
      ],
    },
  ]);

  for (const [preset, want] of Object.entries(EXPECTED))
    it(`${preset}: PMD grows its ${name(want.sizes.PMD as number)} pool; CONT_PMD runs only where it is an hstate`, () => {
      const model = bootModel(machinePreset(preset, { memoryBytes: 4 * 2 ** 30 }), "mainline");
      const r = runModel(model, sf).scenarios.R;
      const pmd = `h${name(want.sizes.PMD as number)}` as `h${number}M`;
      expect(r.steps[1].after[pmd].nr).toBe(2);
      expect(r.steps[1].resolved_step).toEqual({
        op: "nr",
        size: name(want.sizes.PMD as number),
        value: 2,
      });
      expect(r.steps[1].step).toEqual({ op: "nr", size: "PMD", value: 2 });
      expect(r.steps[2].pfns?.length).toBe(1);
      // Memmap of one PMD folio: 8 vmemmap pages with a 64-byte struct page (page size / 8
      // struct pages per PMD * 64 B / page size), 7 freed by HVO.
      expect(r.steps[1].delta.memmap_sum).toBe(-2 * 7);
      expect(r.steps[8].after[pmd].nr).toBe(0);
      const cont = want.has.includes("CONT_PMD");
      for (const i of [4, 5, 6, 7]) expect(r.steps[i].skipped === undefined, `${i}`).toBe(cont);
      if (!cont) {
        expect(r.steps[4].skipped).toMatch(/^CONT_PMD: .* no contiguous-bit huge pages/);
        // The touch and release of a skipped map are skipped with it.
        expect(r.steps[6].skipped).toMatch(/^map c was skipped \(CONT_PMD: /);
      }
    });
});

describe("the driver resolves roles to the kernel's hstates", () => {
  function fakeChannel(): HvoexecChannel & { reqs: [string, Record<string, unknown>][] } {
    const reqs: [string, Record<string, unknown>][] = [];
    return {
      reqs,
      alive: true,
      async request(op: string, args: Record<string, unknown> = {}): Promise<HvoexecReply> {
        reqs.push([op, args]);
        if (op === "reset") return { ok: true, clean: true, writes: [] };
        if (op === "obs") return { ok: true, files: {}, first: {}, settled: true, waited_ms: 0 };
        return { ok: true, rc: 0, errno: 0, code: null, pfns: [], touched: 0 };
      },
      async close() {},
      kill() {},
    };
  }
  // Debian's arm64-16k kernel: 2M, 32M and 1G hstates.
  const ARM64_16K: Topology = {
    release: "7.2.13",
    version: "#1",
    machine: "aarch64",
    pageSize: 16384,
    hstatesKb: [2048, 32768, 1048576],
    nodes: [0],
    uid: 0,
  };
  const sc = file([
    {
      id: "D",
      reset: false,
      steps: [
        { op: "nr", size: "PMD", value: 1 },
        { op: "nr", size: "PUD", value: 1 },
        { op: "demote_size", size: "CONT_PMD", value: "PMD" },
        { op: "mount", dir: "/mnt/h", opts: "pagesize=CONT_PTE,size=8M" },
      ],
    },
  ]).scenarios[0];

  it("PMD is the 32M hstate, PUD (64G) is skipped by name, and no reset precedes reset:false steps", async () => {
    const ch = fakeChannel();
    const r = await runScenarioVia(ch, ARM64_16K, sc);
    expect(r.steps.map((s) => s.skipped ?? "ran")).toEqual([
      "ran",
      "PUD (64G): this kernel has no 67108864kB hstate",
      "ran",
      "ran",
    ]);
    const writes = ch.reqs.filter(([op]) => op === "write").map(([, a]) => [a.path, a.value]);
    expect(writes).toEqual([
      ["/sys/kernel/mm/hugepages/hugepages-32768kB/nr_hugepages", "1"],
      ["/sys/kernel/mm/hugepages/hugepages-1048576kB/demote_size", "32768kB"],
    ]);
    expect(ch.reqs.find(([op]) => op === "mount")?.[1].opts).toBe("pagesize=2M,size=8M");
    // reset: false: the first request after hello-less start is the observation, not a reset;
    // the closing reset is still made.
    expect(ch.reqs[0][0]).toBe("obs");
    expect(ch.reqs.filter(([op]) => op === "reset").length).toBe(1);
  });

  it("a scenario without the field is reset first", async () => {
    const ch = fakeChannel();
    await runScenarioVia(ch, ARM64_16K, { ...sc, reset: undefined });
    expect(ch.reqs[0][0]).toBe("reset");
  });
});

describe("the format", () => {
  it("takes a role wherever a size goes, and names a bad one", () => {
    expect(() => file([{ id: "A", steps: [{ op: "nr", size: "PMDX", value: 1 }] }])).toThrow(
      /scenarios\[0\]\.steps\[0\]\.size: .*a role \(PMD, PUD, CONT_PTE, CONT_PMD\)/,
    );
    expect(() => file([{ id: "A", reset: "no", steps: [] }])).toThrow(/scenarios\[0\]\.reset: /);
    expect(file([{ id: "A", reset: false, steps: [] }]).scenarios[0].reset).toBe(false);
    // A misspelt field would otherwise reset silently.
    expect(() => file([{ id: "A", rest: false, steps: [] }])).toThrow(
      /scenarios\[0\]: unknown field\(s\) rest/,
    );
  });
});
