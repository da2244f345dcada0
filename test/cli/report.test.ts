// `hvo report` through the CLI entry point, as a newcomer runs it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import { hostCpuFeatures, hostHugepageSizesKb } from "../../src/live/host.ts";
import { hostSkipReason, skippedBecause } from "../machine/host_skip.ts";

// `--machine host` needs this machine's memory layout (x86_64, memory blocks in sysfs, a layout
// this user may read) and a kernel with HugeTLB; elsewhere the test is skipped with the reason
// in its name.
const liveHstatesKb = hostHugepageSizesKb();
const hostSkip =
  hostSkipReason() ??
  (liveHstatesKb.length === 0 ? "the kernel has no HugeTLB (/sys/kernel/mm/hugepages)" : null);

describe("hvo report", () => {
  test("main(['report']) prints the report and exits 0", async () => {
    const io = captureIo();
    expect(await main(["report"], io)).toBe(0);
    expect(io.stdout()).toContain("2M");
    expect(io.stdout()).toContain("1G");
    expect(io.stdout()).toMatch(/HVO frees per folio\s+7 pages\s+4,095 pages/);
    expect(io.stderr()).toBe("");
  });

  test("--json prints one JSON document", async () => {
    const io = captureIo();
    expect(await main(["report", "--json", "--pool", "2M:10"], io)).toBe(0);
    const r = JSON.parse(io.stdout());
    expect(r.hstates[0]).toMatchObject({
      name: "2M",
      size_kb: 2048,
      order: 9,
      vmemmap_pages: 8,
      optimizable: true,
      freed_per_folio: 7,
    });
    expect(r.pool.hstates[0].freed_pages).toBe(70);
  });

  test("every preset reports", async () => {
    for (const m of ["arm64-4k", "arm64-16k", "arm64-64k", "riscv64", "loongarch64"]) {
      const io = captureIo();
      expect(await main(["report", "--machine", m], io), m).toBe(0);
    }
  });

  // Released arm64 kernels have no HVO: Debian's 7.2.13 arm64 configs lack
  // CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP and the guests have no hugetlb_optimize_vmemmap
  // (test/vm/arm64.test.ts); x86_64, riscv64 and loongarch64 select
  // ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP. A reader of an arm64 report must learn that its HVO
  // figures are what-if arithmetic, and nobody else must be told so.
  test("arm64 reports say their HVO is what-if arithmetic; the arches with HVO do not", async () => {
    for (const m of ["arm64-4k", "arm64-16k", "arm64-64k"]) {
      const text = captureIo();
      expect(await main(["report", "--machine", m], text), m).toBe(0);
      expect(text.stdout().replace(/\s+/g, " "), m).toContain(
        "Note: Linux 7.2 on arm64 has no HVO: the arch does not select ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP",
      );
      const json = captureIo();
      expect(await main(["report", "--machine", m, "--json"], json), m).toBe(0);
      expect(JSON.parse(json.stdout()).platform.hvo_hypothetical, m).toMatch(/no HVO/);
    }
    for (const m of ["x86_64", "riscv64", "loongarch64"]) {
      const text = captureIo();
      expect(await main(["report", "--machine", m], text), m).toBe(0);
      expect(text.stdout(), m).not.toContain("Note:");
      const json = captureIo();
      expect(await main(["report", "--machine", m, "--json"], json), m).toBe(0);
      expect(JSON.parse(json.stdout()).platform.hvo_hypothetical, m).toBeNull();
    }
  });

  test("an unknown machine is a usage error that lists the presets", async () => {
    const io = captureIo();
    expect(await main(["report", "--machine", "pdp11"], io)).toBe(2);
    expect(io.stderr()).toContain("x86_64");
    expect(io.stderr()).toContain("arm64-16k");
    expect(io.stderr()).toContain("host");
  });

  test("a missing machine file is a usage error", async () => {
    const io = captureIo();
    expect(await main(["report", "--machine", "/nonexistent/m.yaml"], io)).toBe(2);
    expect(io.stderr()).toContain("no machine file");
  });

  test("bad --pool and --design are usage errors", async () => {
    for (const args of [
      ["--pool", "3M:1"],
      ["--pool", "2M"],
      ["--pool", "2M:x"],
      ["--design", "best"],
    ]) {
      const io = captureIo();
      expect(await main(["report", ...args], io), args.join(" ")).toBe(2);
      expect(io.stderr()).toMatch(/--(pool|design)/);
    }
  });

  test.skipIf(hostSkip !== null)(
    `--machine host --json lists exactly the hstates of /sys/kernel/mm/hugepages${skippedBecause(hostSkip)}`,
    async () => {
      const io = captureIo();
      expect(await main(["report", "--machine", "host", "--json"], io), io.stderr()).toBe(0);
      const r = JSON.parse(io.stdout());
      expect(r.hstates.map((h: { size_kb: number }) => h.size_kb)).toEqual(liveHstatesKb);
      // /proc/cpuinfo's pdpe1gb is the machine's gbpages; without it there is no 1 GiB size.
      const cpu = hostCpuFeatures();
      if (cpu !== null) {
        expect(r.platform.cpu).toEqual(cpu);
        expect(liveHstatesKb.includes(1048576)).toBe(cpu.gbpages);
      }
    },
  );

  test("a machine file without 1 GiB pages reports 2M alone, and --pool 1G:1 is refused", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hvo-report-"));
    try {
      const file = join(dir, "nogb.yaml");
      writeFileSync(file, "preset: x86_64\nmemory: 4G\ncpu: {gbpages: false}\n");
      const io = captureIo();
      expect(await main(["report", "--machine", file, "--json", "--no-measure"], io)).toBe(0);
      const r = JSON.parse(io.stdout());
      expect(r.hstates.map((h: { name: string }) => h.name)).toEqual(["2M"]);
      expect(r.platform.cpu).toEqual({ gbpages: false });
      const text = captureIo();
      expect(await main(["report", "--machine", file, "--no-measure"], text)).toBe(0);
      expect(text.stdout()).toContain("CPU without 1 GiB pages");
      expect(text.stdout()).not.toMatch(/\b1G\b/);
      const bad = captureIo();
      expect(await main(["report", "--machine", file, "--pool", "1G:1"], bad)).toBe(2);
      expect(bad.stderr()).toBe("hvo: --pool: this machine has no 1G huge pages (its sizes: 2M)\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
