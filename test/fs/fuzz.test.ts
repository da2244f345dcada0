// Any write to any of the model's files, whatever the bytes: it succeeds or fails with the
// errno of a KernelError - never another exception (a stack trace for the user) - and the
// machine's invariants hold afterwards. fast-check, fixed seed; a failure prints the seed and
// the shortest sequence of writes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { allInvariants } from "../../src/check/invariants.ts";
import { KernelError } from "../../src/include/errno.ts";
import { bootModel } from "../../src/model.ts";

const VALUES = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    "0",
    "1",
    "3",
    "8\n",
    "-1",
    "+2",
    " 4",
    "0x10",
    "010",
    "18446744073709551615",
    "18446744073709551616",
    "2048kB",
    "1G",
    "offline",
    "online",
    "online_movable\n",
    "on",
    "0x1000",
    "0x100000000",
    "",
  ),
  fc.nat(1 << 20).map(String),
);

describe("writes of arbitrary bytes to every file", () => {
  for (const design of ["legacy", "mainline"] as const)
    it(`${design}: a KernelError or success, and the invariants hold`, () => {
      const spec = machinePreset("x86_64", {
        memoryBytes: 2 * 2 ** 30,
        nodes: 2,
        cmdline: "hugetlb_free_vmemmap=on",
      });
      const paths = bootModel(spec, design)
        .vfs.paths()
        .filter((p) => !/\/memory\d+\/(phys_index|phys_device|removable|valid_zones)$/.test(p));
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.constantFrom(...paths), VALUES), { minLength: 1, maxLength: 12 }),
          (writes) => {
            const m = bootModel(spec, design);
            for (const [path, value] of writes) {
              try {
                m.write(path, value);
              } catch (e) {
                if (!(e instanceof KernelError)) throw e;
              }
              m.settle();
            }
            expect(allInvariants(m)).toEqual([]);
          },
        ),
        { seed: 20261126, numRuns: 60 },
      );
    }, 120_000);
});
