// `hvo report` through the CLI entry point, as a newcomer runs it.
import { describe, expect, test } from "vitest";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";

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
});
