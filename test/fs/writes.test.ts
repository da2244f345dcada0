// Writes to the model's files give the live 6.18 kernel's errnos and read-backs
// (test/fixtures/live-file-writes.json, recorded by the live engineer; docs/kernel-files.md).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { KernelError } from "../../src/include/errno.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";
import type { Step } from "../../src/scenario/format.ts";

interface Case {
  path: string;
  value: string;
  setup: unknown[];
  rc: 0 | -1;
  errno: number;
  readback: string | null;
  readback_path: string | null;
}
const fixture = JSON.parse(
  readFileSync(new URL("../fixtures/live-file-writes.json", import.meta.url), "utf8"),
) as {
  writes: Case[];
};

const model: Model = bootModel(machinePreset("x86_64", { memoryBytes: 8 * 2 ** 30 }), "legacy");
const session = new ModelSession(model);

function attempt(path: string, value: string): number {
  try {
    model.write(path, value);
    return 0;
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
}

// Cases whose setup is a list of scenario steps; others (hvoexec-only setups) are skipped.
const cases = fixture.writes.filter(
  (c) =>
    Array.isArray(c.setup) &&
    c.setup.every((s) => typeof s === "object" && s !== null && "op" in (s as object)),
);

describe("every measured write", () => {
  it.each(cases.map((c, i) => [i, c] as const))("case %i", (_i, c) => {
    session.reset();
    for (const s of c.setup as Step[]) session.step(s);
    const errno = attempt(c.path, c.value);
    expect({ path: c.path, value: c.value, errno }).toEqual({
      path: c.path,
      value: c.value,
      errno: c.rc === 0 ? 0 : c.errno,
    });
    if (c.readback_path && c.readback !== null)
      expect(model.vfs.tryRead(c.readback_path)).toBe(
        /^E[A-Z]+$/.test(c.readback) ? null : c.readback,
      );
    session.reset();
  });
});

describe("a bad write leaves nothing half-changed", () => {
  it("keeps the pool", () => {
    session.reset();
    model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "4");
    for (const v of ["abc", "-1", " 5", "5abc", "18446744073709551616"])
      expect(attempt("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", v)).not.toBe(0);
    expect(model.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")).toBe("4\n");
    expect(
      attempt("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_overcommit_hugepages", "0"),
    ).toBe(22);
    expect(attempt("/proc/meminfo", "0")).toBe(5);
    expect(attempt("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "0")).toBe(13);
    expect(attempt("/sys/kernel/mm/hugepages/hugepages-4096kB/nr_hugepages", "0")).toBe(2);
    session.reset();
  });
});
