// The pool's arithmetic against the rules Documentation/admin-guide/mm/hugetlbpage.rst states
// (a simple reference model), and behaviours a user sees: surplus at mmap, in-use pages becoming
// surplus, restore failure leaving a free surplus page, demote.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { Faults } from "../../src/mm/fault_inject.ts";
import { bootModel } from "../../src/model.ts";
import { ModelSession, observeModel } from "../../src/scenario/run_model.ts";

const GiB = 2 ** 30;
const H2 = "/sys/kernel/mm/hugepages/hugepages-2048kB";

/** The documented rules: grow takes surplus first; shrink stops at in-use + reserved; the rest of in-use becomes surplus. */
class Ref {
  nr = 0;
  free = 0;
  surplus = 0;
  resv = 0;
  setNr(count: number, capacity: number) {
    const persistent = this.nr - this.surplus;
    if (count > persistent) {
      const conv = Math.min(this.surplus, count - persistent);
      this.surplus -= conv;
      const want = count - (this.nr - this.surplus);
      const got = Math.max(0, Math.min(want, capacity - this.nr));
      this.nr += got;
      this.free += got;
      return;
    }
    const inUse = this.nr - this.free;
    const minCount = Math.max(count, this.resv + inUse);
    const removable = Math.max(0, Math.min(this.free, persistent - minCount));
    this.nr -= removable;
    this.free -= removable;
    const p2 = this.nr - this.surplus;
    if (count < p2) this.surplus += Math.min(p2 - count, this.nr - this.surplus);
  }
}

describe("nr_hugepages arithmetic (property)", () => {
  it("grow/shrink sequences match the documented rules", () => {
    const model = bootModel(machinePreset("x86_64", { memoryBytes: 2 * GiB }), "legacy");
    const s = new ModelSession(model);
    const base = observeModel(model);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 600 }), fc.boolean()), {
          minLength: 1,
          maxLength: 8,
        }),
        (ops) => {
          s.reset();
          const ref = new Ref();
          for (const [count, hvo] of ops) {
            model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", hvo ? "1" : "0");
            model.write(`${H2}/nr_hugepages`, String(count));
            // At most 600 x 2 MiB = 1200 MiB are asked of a 2 GiB machine: every request fits,
            // so the reference never runs short (a model that stops early is a failure).
            ref.setNr(count, Number.MAX_SAFE_INTEGER);
            const o = observeModel(model);
            expect([o.h2M.nr, o.h2M.free, o.h2M.surplus]).toEqual([ref.nr, ref.free, ref.surplus]);
            expect(o.Hugetlb_kB).toBe(ref.nr * 2048);
          }
          s.reset();
          // Back to an empty pool, every vmemmap page that HVO freed is allocated again.
          const end = observeModel(model);
          expect([end.h2M.nr, end.memmap_sum]).toEqual([0, base.memmap_sum]);
        },
      ),
      { seed: 42, numRuns: 25 },
    );
  });
});

describe("reservations and surplus", () => {
  const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB }), "legacy");
  const s = new ModelSession(model);

  it("a private map reserves at mmap (surplus under overcommit), touch consumes, release frees", () => {
    s.reset();
    const base = observeModel(model).memmap_sum as number;
    s.step({ op: "hvo", value: 1 });
    s.step({ op: "overcommit", size: "2M", value: 16 });
    expect(s.step({ op: "map", id: "A", size: "2M", n: 8, touch: 0 }).rc).toBe(0);
    let o = observeModel(model);
    expect([o.h2M.nr, o.h2M.free, o.h2M.resv, o.h2M.surplus]).toEqual([8, 8, 8, 8]);
    expect(o.memmap_sum).toBe(base - 8 * 7);
    s.step({ op: "touch", id: "A" });
    o = observeModel(model);
    expect([o.h2M.nr, o.h2M.free, o.h2M.resv, o.h2M.surplus]).toEqual([8, 0, 0, 8]);
    s.step({ op: "release", id: "A" });
    o = observeModel(model);
    expect([o.h2M.nr, o.h2M.free, o.h2M.resv, o.h2M.surplus, o.memmap_sum]).toEqual([
      0,
      0,
      0,
      0,
      base,
    ]);
    s.reset();
  });

  it("mmap without pages is ENOMEM; MAP_NORESERVE maps and the touch is SIGBUS", () => {
    s.reset();
    expect(s.step({ op: "map", id: "A", size: "2M", n: 1 }).code).toBe("ENOMEM");
    const a = s.step({ op: "map", id: "B", size: "2M", n: 1, noreserve: 1 });
    expect(a.code).toBe("SIGBUS");
    expect(s.step({ op: "map", id: "C", size: "1G", n: 1 }).code).toBe("ENOMEM");
    s.reset();
  });

  it("shrinking below what is in use turns the rest into surplus, freed on release", () => {
    s.reset();
    s.step({ op: "nr", size: "2M", value: 16 });
    s.step({ op: "map", id: "A", size: "2M", n: 8 });
    s.step({ op: "nr", size: "2M", value: 0 });
    let o = observeModel(model);
    expect([o.h2M.nr, o.h2M.free, o.h2M.surplus]).toEqual([8, 0, 8]);
    s.step({ op: "release", id: "A" });
    o = observeModel(model);
    expect([o.h2M.nr, o.h2M.free, o.h2M.surplus]).toEqual([0, 0, 0]);
    s.reset();
  });

  it("min_size reserves at mount; shrinking keeps the reserved pages as surplus", () => {
    s.reset();
    s.step({ op: "nr", size: "2M", value: 16 });
    expect(s.step({ op: "mount", dir: "/mnt/h", opts: "pagesize=2M,min_size=16M" }).rc).toBe(0);
    s.step({ op: "nr", size: "2M", value: 0 });
    const o = observeModel(model);
    expect([o.h2M.nr, o.h2M.free, o.h2M.resv, o.h2M.surplus]).toEqual([8, 8, 8, 8]);
    s.step({ op: "umount", dir: "/mnt/h" });
    expect(observeModel(model).h2M.nr).toBe(0);
    s.reset();
  });

  it("populate, truncate by a smaller map and unlink give pages back", () => {
    s.reset();
    s.step({ op: "nr", size: "2M", value: 8 });
    s.step({ op: "mount", dir: "/mnt/h", opts: "pagesize=2M" });
    expect(s.step({ op: "populate", file: "/mnt/h/f", size: "2M", n: 4 }).rc).toBe(0);
    expect(observeModel(model).h2M.free).toBe(4);
    s.step({ op: "map", id: "A", size: "2M", n: 2, shared: 1, file: "/mnt/h/f" });
    expect(observeModel(model).h2M.free).toBe(6);
    s.step({ op: "release", id: "A" });
    s.step({ op: "unlink", path: "/mnt/h/f" });
    expect(observeModel(model).h2M.free).toBe(8);
    expect(s.step({ op: "unlink", path: "/mnt/h/f" }).code).toBe("ENOENT");
    s.reset();
  });
});

describe("restore failure and demote", () => {
  it("a folio whose vmemmap cannot be restored stays as a free surplus page", () => {
    const faults = new Faults();
    const model = bootModel(machinePreset("x86_64", { memoryBytes: 2 * GiB }), "legacy", {
      faults,
    });
    model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
    model.write(`${H2}/nr_hugepages`, "4");
    faults.add({ site: "alloc_vmemmap_page_list", fromNth: 1 });
    model.write(`${H2}/nr_hugepages`, "0");
    const o = observeModel(model);
    // Every restore fails: each page comes back as a free surplus page (nr = free = surplus).
    expect([o.h2M.nr, o.h2M.free, o.h2M.surplus]).toEqual([4, 4, 4]);
  });

  it("demoting a 1G page gives 512 free 2M pages", () => {
    const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB }), "legacy");
    model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
    model.write("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "1");
    const before = observeModel(model);
    // 4 GiB of RAM ([0, 3 GiB) and [4 GiB, 5 GiB) on the x86_64 preset): aligned GiBs to spare.
    expect(before.h1G.nr).toBe(1);
    model.write("/sys/kernel/mm/hugepages/hugepages-1048576kB/demote", "1");
    const o = observeModel(model);
    expect([o.h1G.nr, o.h2M.nr, o.h2M.free, o.Hugetlb_kB]).toEqual([0, 512, 512, 1048576]);
    // restore of the 1G page (+4095), then 512 x 2M optimised (-7 each): +511.
    expect((o.memmap_sum as number) - (before.memmap_sum as number)).toBe(4095 - 512 * 7);
  });
});

describe("boot parameters", () => {
  it("hugepagesz/hugepages allocate at boot; a second count without hugepagesz is ignored", () => {
    const spec = machinePreset("x86_64", {
      memoryBytes: 4 * GiB,
      cmdline: "hugepagesz=1G hugepages=1 hugepagesz=2M hugepages=64 hugepages=3",
    });
    const model = bootModel(spec, "legacy");
    const o = observeModel(model);
    expect([o.h1G.nr, o.h2M.nr]).toEqual([1, 64]);
    expect(model.k.log.some((l) => l.text.includes("specified twice without interleaving"))).toBe(
      true,
    );
  });
  it("a leading hugepages= overrides an explicit count of the default size, with a warning", () => {
    const spec = machinePreset("x86_64", {
      memoryBytes: 4 * GiB,
      cmdline: "hugepages=8 hugepagesz=2M hugepages=16",
    });
    const model = bootModel(spec, "legacy");
    expect(observeModel(model).h2M.nr).toBe(8);
    expect(model.k.log.some((l) => l.text.includes("Ignoring hugepages=16"))).toBe(true);
  });
});
