// Writes to the model's files give the live 6.18 kernel's errnos and read-backs
// (test/fixtures/live-file-writes.json, recorded on the live kernel; the newer rows and the
// mount probes by test/fixtures/record-file-writes.ts; docs/kernel-files.md).
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
  /** hvoexec writes done first: [path, value] pairs (or scenario steps). */
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
  mounts: {
    steps: { op: "mount" | "umount"; dir: string; opts?: string; rc: 0 | -1; errno: number }[];
  };
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

/** A setup the model can do: scenario steps, or the [path, value] writes hvoexec did. */
function setupOf(c: Case): (() => void)[] | string {
  if (!Array.isArray(c.setup)) return "its setup is not a list";
  return c.setup.map((s) => {
    if (Array.isArray(s) && s.length === 2 && typeof s[0] === "string" && typeof s[1] === "string")
      return () => {
        expect(attempt(s[0], s[1]), `setup ${s[0]} <- ${s[1]}`).toBe(0);
      };
    if (typeof s === "object" && s !== null && "op" in s) return () => void session.step(s as Step);
    return () => {
      throw new Error(`a setup the test does not know: ${JSON.stringify(s)}`);
    };
  });
}

const cases = fixture.writes.map((c, i) => ({ i, c, setup: setupOf(c) }));

it("runs every row of the fixture (none dropped)", () => {
  expect(cases.filter((x) => typeof x.setup === "string").map((x) => x.i)).toEqual([]);
  expect(cases.length).toBe(fixture.writes.length);
});

describe("every measured write", () => {
  it.each(cases.map(({ i, c, setup }) => [i, JSON.stringify(c.value), c.path, c, setup] as const))(
    "case %i: %s to %s",
    (_i, _v, _p, c, setup) => {
      session.reset();
      for (const step of setup as (() => void)[]) step();
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
    },
  );
});

describe("hugetlbfs mounts on one directory, as the live kernel answered", () => {
  it("stacks a second mount and unmounts them one by one", () => {
    session.reset();
    const steps = fixture.mounts.steps;
    // The last umount finds no mount left: hvoexec removed the directory it had created, so
    // the kernel said ENOENT; the model has no directories outside its files and says EINVAL.
    // Both refuse it; the steps before are compared exactly.
    expect(steps.at(-1)?.rc).toBe(-1);
    const got = steps.map((m) => {
      try {
        if (m.op === "mount") model.hugetlbfs.mount(m.dir, m.opts);
        else model.hugetlbfs.umount(m.dir);
        return 0;
      } catch (e) {
        if (e instanceof KernelError) return e.errno;
        throw e;
      }
    });
    expect(got.slice(0, -1)).toEqual(steps.slice(0, -1).map((m) => (m.rc === 0 ? 0 : m.errno)));
    expect(got.at(-1)).not.toBe(0);
    session.reset();
  });

  it("shows the top mount's files, and the lower mount's again after umount", () => {
    session.reset();
    const dir = "/tmp/h5-stack";
    model.hugetlbfs.mount(dir);
    model.hugetlbfs.openCreate(`${dir}/lower`);
    model.hugetlbfs.mount(dir, "pagesize=1G");
    expect(model.hugetlbfs.lookup(`${dir}/lower`)).toBeNull();
    expect(model.hugetlbfs.openCreate(`${dir}/upper`)?.h.sizeKb).toBe(1024 * 1024);
    model.hugetlbfs.umount(dir);
    expect(model.hugetlbfs.lookup(`${dir}/lower`)?.h.sizeKb).toBe(2048);
    expect(model.hugetlbfs.lookup(`${dir}/upper`)).toBeNull();
    session.reset();
    expect(model.hugetlbfs.allMountDirs()).toEqual([]);
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
