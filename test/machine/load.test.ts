// Machine files: what a user writes, and the one-line errors they get back.
import { describe, expect, it } from "vitest";
import { MachineFileError, parseMachineFile } from "../../src/machine/load.ts";
import { bootModel } from "../../src/model.ts";

function error(text: string, fileName = "machine.yaml"): string {
  try {
    parseMachineFile(text, fileName);
  } catch (e) {
    expect(e).toBeInstanceOf(MachineFileError);
    return (e as Error).message;
  }
  throw new Error("expected a MachineFileError");
}

describe("machine files", () => {
  it("a two-node x86_64 machine with holes, in YAML with units", () => {
    const m = parseMachineFile(
      `
preset: x86_64
structPageSize: 64
cmdline: hugepagesz=1G hugepages=2
vmemmapBase: 0xffffea0000000000
bootHvo: false
nodes:
  - ranges:
      - {start: 0x1000, end: 0x9f000}
      - {start: 1M, end: 3G}
      - {start: 4G, size: 5G}
  - nid: 1
    ranges:
      - {start: 9G, size: 8G}
`,
      "two.yaml",
    );
    expect(m.name).toBe("two.yaml");
    expect(m.cmdline).toBe("hugepagesz=1G hugepages=2");
    expect(m.arch.vmemmapPreinit).toBe(false);
    expect(m.nodes[0].ranges).toEqual([
      { startPfn: 1, endPfn: 0x9f },
      { startPfn: 0x100, endPfn: 0xc0000 },
      { startPfn: 0x100000, endPfn: 0x240000 },
    ]);
    expect(m.nodes[0].zones.map((z) => z.type)).toEqual(["DMA", "DMA32", "Normal"]);
    expect(m.nodes[1].zones).toEqual([{ type: "Normal", startPfn: 0x240000, endPfn: 0x440000 }]);
  });

  it("JSON works too, and arm64 takes its page size from the file", () => {
    const m = parseMachineFile(
      JSON.stringify({
        preset: "arm64",
        pageSize: "64K",
        memory: "32G",
        nodes: 2,
        structPageSize: 56,
      }),
      "m.json",
    );
    expect(m.arch.preset).toBe("arm64-64k");
    expect(m.structPageSize).toBe(56);
    expect(m.nodes).toHaveLength(2);
  });

  it("rejects bad files with the file, the field and the problem", () => {
    expect(
      error(`preset: x86_64
nodes:
  - ranges: [{start: 0, end: 1G}]
  - ranges: [{start: 0x100001001, size: 1G}]
`),
    ).toBe("machine.yaml: nodes[1].ranges[0].start: not page-aligned (0x100001001)");
    expect(
      error(`preset: x86_64
nodes:
  - ranges: [{start: 0, end: 2G}]
  - ranges: [{start: 1G, end: 3G}]
`),
    ).toBe("machine.yaml: nodes[1].ranges[0]: overlaps nodes[0].ranges[0] (at 0x40000000)");
    expect(error("preset: x86_64\nnodes:\n  - ranges: [{start: 0, end: 128T}]\n")).toBe(
      "machine.yaml: nodes[0].ranges[0]: ends at 0x800000000000, beyond MAX_PHYSMEM_BITS 46 of x86_64",
    );
    expect(error("preset: x86_64\nnodes:\n  - nid: 1\n    ranges: [{start: 0, end: 1G}]\n")).toBe(
      "machine.yaml: nodes[0].nid: nodes are numbered 0..0 in order (expected 0, got 1)",
    );
    expect(
      error(`preset: x86_64
nodes:
  - ranges: [{start: 0, end: 8G}]
    zones: [{type: DMA, start: 0, end: 16M}, {type: DMA32, start: 16M, end: 4G}]
`),
    ).toBe(
      "machine.yaml: nodes[0].zones: do not cover 0x100000000 of nodes[0].ranges (sorted) [0]",
    );
    expect(
      error(
        "preset: riscv64\nnodes:\n  - ranges: [{start: 2G, size: 1G}]\n    zones: [{type: DMA, start: 2G, size: 1G}]\n",
      ),
    ).toBe("machine.yaml: nodes[0].zones[0].type: riscv64 has no ZONE_DMA");
    expect(error("preset: x86_64\nstructPageSize: 60\n")).toBe(
      "machine.yaml: structPageSize: must be 56, 64, 72 or 80",
    );
    expect(error("preset: x86_64\npageSize: 16K\n")).toBe(
      "machine.yaml: pageSize: x86_64 has only 4K pages (16K)",
    );
    expect(error("preset: arm64\npageSize: 8K\n")).toBe(
      "machine.yaml: pageSize: arm64 has 4K, 16K and 64K pages (8K)",
    );
    expect(error("preset: vax\n")).toMatch(
      /^machine\.yaml: preset: unknown preset "vax" \(known: x86_64, /,
    );
    expect(error("preset: x86_64\nmemroy: 8G\n")).toBe('machine.yaml: unknown field "memroy"');
    expect(error("structPageSize: 64\n")).toBe("machine.yaml: preset: missing (expected string)");
    expect(error("preset: x86_64\nnodes:\n  - ranges: [{start: abc, end: 1G}]\n")).toBe(
      'machine.yaml: nodes[0].ranges[0].start: not a size or address ("abc")',
    );
    expect(error("preset: x86_64\nnodes:\n  - ranges: [{start: 0, end: 1G, size: 1G}]\n")).toBe(
      "machine.yaml: nodes[0].ranges[0]: give exactly one of end and size",
    );
    expect(error("preset: x86_64\nmemory: 8G\nnodes: 100\n")).toMatch(
      /^machine\.yaml: nodes: 100 nodes leave node \d+ without memory/,
    );
    expect(error("preset: x86_64\nvmemmapBase: 0x1000\n")).toBe(
      "machine.yaml: vmemmapBase: not a kernel virtual address (0x1000)",
    );
    expect(error("preset: x86_64\nmemory: 8G\nnodes: 2\notherUsedPages: [1]\n")).toBe(
      "machine.yaml: otherUsedPages: one entry per node: 2 nodes, 1 entries",
    );
    expect(error("preset: x86_64\nmemory: 8G\nnodes: 2\notherFreeUnmovablePages: [1]\n")).toBe(
      "machine.yaml: otherFreeUnmovablePages: one entry per node: 2 nodes, 1 entries",
    );
    expect(error("preset: x86_64\nmemory: 8G\nnodes: 2\notherUnmovablePages: [1]\n")).toBe(
      "machine.yaml: otherUnmovablePages: one entry per node: 2 nodes, 1 entries",
    );
    expect(error("preset: [x86_64\n")).toMatch(
      /^machine\.yaml: not valid YAML: line \d+, column \d+: /,
    );
    expect(error('{"preset": ', "m.json")).toMatch(/^m\.json: not valid JSON: /);
  });

  it("reports every problem of a file, one per line", () => {
    const msg = error(`preset: x86_64
nodes:
  - ranges: [{start: 0x1001, end: 1G}, {start: 2G, end: 0x80000fff}]
`);
    expect(msg.split("\n")).toEqual([
      "machine.yaml: nodes[0].ranges[0].start: not page-aligned (0x1001)",
      "machine.yaml: nodes[0].ranges[1].end: not page-aligned (0x80000fff)",
    ]);
  });

  it("memoryFailure: false is a kernel without CONFIG_MEMORY_FAILURE; a non-boolean is refused", () => {
    const off = parseMachineFile("preset: x86_64\nmemory: 4G\nmemoryFailure: false\n", "m.yaml");
    expect(off.memoryFailure).toBe(false);
    expect(
      bootModel(off, "mainline").vfs.exists("/sys/devices/system/memory/hard_offline_page"),
    ).toBe(false);
    const on = parseMachineFile("preset: x86_64\nmemory: 4G\n", "m.yaml");
    expect(
      bootModel(on, "mainline").vfs.exists("/sys/devices/system/memory/hard_offline_page"),
    ).toBe(true);
    expect(error("preset: x86_64\nmemoryFailure: maybe\n")).toMatch(
      /^machine\.yaml: memoryFailure: /,
    );
  });

  it("cpu: {gbpages: false} is an x86_64 CPU without 1 GiB pages: no 1G hstate at all", () => {
    // arch/x86/mm/hugetlbpage.c: without X86_FEATURE_GBPAGES only PMD_SIZE (2 MiB) is valid,
    // and gigantic_pages_init() registers no PUD (1 GiB) hstate.
    const H1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB";
    for (const form of [
      "preset: x86_64\nmemory: 4G\ncpu: {gbpages: false}\n",
      '{"preset": "x86_64", "memory": "4G", "cpu": {"gbpages": false}}',
      "preset: x86_64\nnodes:\n  - ranges: [{start: 1M, end: 4G}]\ncpu:\n  gbpages: false\n",
    ]) {
      const spec = parseMachineFile(form, form.startsWith("{") ? "m.json" : "m.yaml");
      expect(spec.cpu).toEqual({ gbpages: false });
      const m = bootModel(spec, "mainline");
      expect(m.pool.hstatesBySize().map((h) => h.sizeKb)).toEqual([2048]);
      expect(m.vfs.exists(H1G)).toBe(false);
    }
    // Control: the preset's CPU, and gbpages: true, have both sizes (2048 and 1048576 kB).
    for (const form of [
      "preset: x86_64\nmemory: 4G\n",
      "preset: x86_64\nmemory: 4G\ncpu: {gbpages: true}\n",
    ]) {
      const spec = parseMachineFile(form, "m.yaml");
      expect(spec.cpu).toEqual({ gbpages: true });
      const m = bootModel(spec, "mainline");
      expect(m.pool.hstatesBySize().map((h) => h.sizeKb)).toEqual([2048, 1048576]);
      expect(m.vfs.exists(`${H1G}/nr_hugepages`)).toBe(true);
    }
  });

  it("cpu: refuses a feature another arch has, an unknown one, a non-boolean", () => {
    expect(error("preset: arm64\ncpu: {gbpages: true}\n")).toBe(
      'machine.yaml: cpu: arm64-4k has no CPU feature "gbpages" (only x86_64 has gbpages)',
    );
    expect(error("preset: riscv64\ncpu: {gbpages: false}\n")).toMatch(
      /^machine\.yaml: cpu: riscv64 has no CPU feature "gbpages"/,
    );
    expect(error("preset: x86_64\ncpu: {pdpe1gb: true}\n")).toBe(
      'machine.yaml: cpu: unknown field "pdpe1gb"',
    );
    expect(error("preset: x86_64\ncpu: {gbpages: maybe}\n")).toBe(
      "machine.yaml: cpu.gbpages: expected boolean, got string",
    );
    expect(error("preset: x86_64\ncpu: true\n")).toBe(
      "machine.yaml: cpu: expected object, got boolean",
    );
    // Other archs have no CPU features: the spec carries none.
    expect(parseMachineFile("preset: arm64\n", "m.yaml").cpu).toBeUndefined();
  });
});
