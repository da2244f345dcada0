// The pool rules that differ between the kernels the designs stand for (docs/rules.md), and
// the kernel's unsigned arithmetic past docs/findings.md 6. Expected values come from the
// kernel's code, quoted in each test: 6.18 for legacy (checked on the live kernel where it can
// be: docs/kernel-files.md), 7.2.13's mm/hugetlb.c, mm/hugetlb_sysfs.c and mm/hugetlb_sysctl.c
// for mainline (checked on the 7.2 guest where named), and the same code for 7.1 and the series
// (both sit on 6.19's pool).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { PoolRules } from "../../src/check/pool_ref.ts";
import { replayRun } from "../../src/check/run.ts";
import { EINVAL, ENOENT, ERANGE, KernelError } from "../../src/include/errno.ts";
import { Faults } from "../../src/mm/fault_inject.ts";
import { DESIGN_FACTS, DESIGNS, type Design } from "../../src/mm/hvo_designs.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { parseScenarioFile } from "../../src/scenario/format.ts";
import { ModelSession, observeModel, runModel } from "../../src/scenario/run_model.ts";

const GiB = 2 ** 30;
const H1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB";
const H2M = "/sys/kernel/mm/hugepages/hugepages-2048kB";
const ULONG_MAX = "18446744073709551615";

/** The errno of a write, 0 when it succeeds. */
function attempt(model: Model, path: string, value: string): number {
  try {
    model.write(path, value);
    return 0;
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
}

function boot(design: Design, cmdline = "", memoryBytes = 4 * GiB): Model {
  return bootModel(machinePreset("x86_64", { memoryBytes, cmdline }), design);
}

/** Gigantic overcommit came with 6.19 ("mm/hugetlb: allow overcommitting gigantic hugepages"). */
const overcommits = (d: Design) => DESIGN_FACTS[d].pool.giganticOvercommit;

describe("nr_overcommit_hugepages of a gigantic hstate", () => {
  it("the designs' kernels: 6.18 refuses it, 6.19 and later (7.1, 7.2, the series) take it", () => {
    expect(DESIGNS.filter(overcommits)).toEqual(["seed", "mainline", "mainline-7.1"]);
  });

  for (const design of DESIGNS) {
    if (!overcommits(design)) {
      it(`${design} (6.18): EINVAL for every value, before the value is parsed`, () => {
        // nr_overcommit_hugepages_store(): `if (hstate_is_gigantic(h)) return -EINVAL;` comes
        // before kstrtoul() (live 6.18: docs/kernel-files.md, "even 0", "abc" is EINVAL too).
        const model = boot(design);
        for (const v of ["1", "0", "abc", "18446744073709551616"])
          expect(attempt(model, `${H1G}/nr_overcommit_hugepages`, v), v).toBe(EINVAL);
        expect(model.read(`${H1G}/nr_overcommit_hugepages`)).toBe("0\n");
        // The sysctl of a 1 GiB default hstate: hugetlb_overcommit_handler(), the same test.
        const def1G = boot(design, "default_hugepagesz=1G");
        expect(attempt(def1G, "/proc/sys/vm/nr_overcommit_hugepages", "1")).toBe(EINVAL);
      });
      it(`${design} (6.18): a 1 GiB map with an empty pool fails at mmap (no gigantic surplus)`, () => {
        // alloc_surplus_hugetlb_folio(): `if (hstate_is_gigantic(h)) return NULL;`, so
        // gather_surplus_pages() cannot reserve and hugetlb_reserve_pages() gives ENOMEM.
        const s = new ModelSession(boot(design));
        expect(s.step({ op: "map", id: "A", size: "1G", n: 1 }).code).toBe("ENOMEM");
      });
    } else {
      it(`${design} (6.19+): the value is kstrtoul()'s, as for any other hstate`, () => {
        // hstate_is_gigantic_no_runtime() is false where gigantic pages can be allocated at run
        // time (CONFIG_CONTIG_ALLOC, every modelled architecture). The 7.2 guest takes it: the
        // FORMAT.md reset's `0` to the 1 GiB file fails on 6.18 (suite.recording.json
        // final_reset) and not on 7.2 (vm-7.2.recording.json: no failed write).
        const model = boot(design);
        expect(attempt(model, `${H1G}/nr_overcommit_hugepages`, "1")).toBe(0);
        expect(model.read(`${H1G}/nr_overcommit_hugepages`)).toBe("1\n");
        expect(attempt(model, `${H1G}/nr_overcommit_hugepages`, "abc")).toBe(EINVAL);
        expect(attempt(model, `${H1G}/nr_overcommit_hugepages`, "18446744073709551616")).toBe(
          ERANGE,
        );
        expect(attempt(model, `${H1G}/nr_overcommit_hugepages`, ULONG_MAX)).toBe(0);
        expect(model.read(`${H1G}/nr_overcommit_hugepages`)).toBe(`${ULONG_MAX}\n`);
        const def1G = boot(design, "default_hugepagesz=1G");
        expect(attempt(def1G, "/proc/sys/vm/nr_overcommit_hugepages", "0x2")).toBe(0);
        expect(def1G.read(`${H1G}/nr_overcommit_hugepages`)).toBe("2\n");
      });
      it(`${design} (6.19+): a 1 GiB map reserves a surplus page at mmap, freed at release`, () => {
        // gather_surplus_pages(): needed = resv 0 + 1 - free 0 = 1 surplus folio from
        // alloc_surplus_hugetlb_folio() (surplus 0 < overcommit 1), enqueued free and reserved.
        // The fault takes it (free 0, resv 0); free_huge_folio() then finds its node's surplus
        // count 1 and gives it back: the pool is empty again and MemFree is what it was.
        const model = boot(design);
        const s = new ModelSession(model);
        const before = observeModel(model);
        s.step({ op: "overcommit", size: "1G", value: 1 });
        expect(s.step({ op: "map", id: "A", size: "1G", n: 1, touch: 0 }).rc).toBe(0);
        let o = observeModel(model);
        expect([o.h1G.nr, o.h1G.free, o.h1G.resv, o.h1G.surplus]).toEqual([1, 1, 1, 1]);
        s.step({ op: "touch", id: "A" });
        o = observeModel(model);
        expect([o.h1G.nr, o.h1G.free, o.h1G.resv, o.h1G.surplus]).toEqual([1, 0, 0, 1]);
        // A second page is over the limit: surplus 1 >= overcommit 1.
        expect(s.step({ op: "map", id: "B", size: "1G", n: 1 }).code).toBe("ENOMEM");
        s.step({ op: "release", id: "A" });
        o = observeModel(model);
        expect([o.h1G.nr, o.h1G.free, o.h1G.resv, o.h1G.surplus]).toEqual([0, 0, 0, 0]);
        expect(o.MemFree_kB).toBe(before.MemFree_kB);
      });
    }
  }
});

describe("vm.movable_gigantic_pages (6.19+)", () => {
  for (const design of DESIGNS) {
    const has = DESIGN_FACTS[design].pool.movableGiganticPagesSysctl;
    it(`${design}: ${has ? "an int, 0 at boot, any int taken (proc_dointvec)" : "no such file"}`, () => {
      const model = boot(design);
      const path = "/proc/sys/vm/movable_gigantic_pages";
      if (!has) {
        expect(attempt(model, path, "1")).toBe(ENOENT);
        return;
      }
      expect(model.read(path)).toBe("0\n");
      expect(attempt(model, path, "1")).toBe(0);
      expect(model.read(path)).toBe("1\n");
      // The table entry has no bounds: a negative int is stored as written.
      expect(attempt(model, path, "-5")).toBe(0);
      expect(model.read(path)).toBe("-5\n");
      expect(attempt(model, path, "abc")).toBe(EINVAL);
      expect(attempt(model, path, "2147483648")).toBe(EINVAL);
      // Whatever it says, a 1 GiB page is still allocated on this machine (no ZONE_MOVABLE).
      expect(attempt(model, `${H1G}/nr_hugepages`, "1")).toBe(0);
      expect(model.read(`${H1G}/nr_hugepages`)).toBe("1\n");
    });
  }
});

describe("set_max_huge_pages(): min_count counts only persistent free pages", () => {
  // Since 6.15 ("mm/hugetlb: fix set_max_huge_pages() when there are surplus pages"), in 6.18 and
  // 7.2 alike: persistent_free_count = free, less the surplus when free > persistent;
  // min_count = resv + persistent - persistent_free_count. Before, min_count was
  // resv + nr - free, which counts a free surplus page twice.
  for (const design of ["legacy", "mainline"] as const)
    it(`${design}: a free surplus page from a failed restore does not keep a persistent page`, () => {
      const faults = new Faults();
      const model = bootModel(machinePreset("x86_64", { memoryBytes: 2 * GiB }), design, {
        faults,
      });
      const s = new ModelSession(model);
      s.step({ op: "hvo", value: 1 });
      s.step({ op: "nr", size: "2M", value: 4 });
      s.step({ op: "map", id: "A", size: "2M", n: 2 });
      // Shrink to 2 with every vmemmap restore failing: min_count = max(2, 0 + 4 - 2) = 2, the
      // two free pages are taken and come back as free surplus pages: nr 4, free 2, surplus 2.
      faults.add({ site: "alloc_vmemmap_page_list", fromNth: 1 });
      s.step({ op: "nr", size: "2M", value: 2 });
      let o = observeModel(model);
      expect([o.h2M.nr, o.h2M.free, o.h2M.surplus]).toEqual([4, 2, 2]);
      faults.clear();
      // Shrink to 1: persistent = 4 - 2 = 2, free 2 is not above it, so persistent_free_count
      // = 2 and min_count = max(1, 0 + 2 - 2) = 1: one free page goes (nr 3, free 1, persistent
      // 1), and count 1 < persistent 1 is false: no page turns surplus. [3, 1, 2].
      // (The old formula: min_count = max(1, 0 + 4 - 2) = 2 frees nothing and makes one more
      // page surplus: [4, 2, 3].)
      s.step({ op: "nr", size: "2M", value: 1 });
      o = observeModel(model);
      expect([o.h2M.nr, o.h2M.free, o.h2M.surplus]).toEqual([3, 1, 2]);
    });
});

describe("past docs/findings.md 6: surplus above nr, counted as the kernel counts (unsigned long)", () => {
  const file = JSON.parse(
    readFileSync(
      new URL("../../scenarios/findings/demote-surplus-above-nr.json", import.meta.url),
      "utf8",
    ),
  );
  const replay = (design: Design, cmdline: string) =>
    replayRun({
      ...parseScenarioFile(file),
      "x-check": { ...file["x-check"], design, cmdline },
    });

  for (const design of ["legacy", "mainline-7.1", "mainline"] as const)
    it(`${design}: later writes neither grow nor shrink the 1 GiB pool; max_huge_pages wraps`, () => {
      // The replay ends with nr 0, free 0, surplus 1 on the node of the demoted page.
      // persistent_huge_pages() = 0 - 1 = ULONG_MAX. `echo 1 > nr_hugepages`: count 1 is not
      // above ULONG_MAX (no growth); min_count = resv 0 + ULONG_MAX - 0 = ULONG_MAX, not below
      // persistent (nothing freed); `count < persistent` asks adjust_pool_surplus(+1) for a node
      // with surplus_node < nr_node: none (1 < 0, 0 < 0). max_huge_pages = ULONG_MAX.
      const ex = replay(design, "hugetlb_free_vmemmap=on default_hugepagesz=1G");
      expect(ex.violations).toEqual([]);
      const model = ex.model as Model;
      const o0 = observeModel(model);
      expect([o0.h1G.nr, o0.h1G.free, o0.h1G.surplus]).toEqual([0, 0, 1]);
      // demote_pool_huge_page(): max_huge_pages -= 1 from 0 (the shrink's persistent 1 - 1).
      expect(model.read("/proc/sys/vm/nr_hugepages")).toBe(`${ULONG_MAX}\n`);
      for (const [path, v] of [
        [`${H1G}/nr_hugepages`, "1"],
        [`${H1G}/nr_hugepages`, "0"],
        ["/proc/sys/vm/nr_hugepages", "2"],
        ["/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages", "1"],
        ["/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages", "1"],
      ] as const) {
        expect(attempt(model, path, v), `${path} <- ${v}`).toBe(0);
        const o = observeModel(model);
        expect([o.h1G.nr, o.h1G.free, o.h1G.surplus], `${path} <- ${v}`).toEqual([0, 0, 1]);
        expect(o.MemFree_kB, `${path} <- ${v}`).toBe(o0.MemFree_kB);
        expect(model.read("/proc/sys/vm/nr_hugepages")).toBe(`${ULONG_MAX}\n`);
      }
      // hugetlb_report_meminfo() prints the counters themselves: Total 0, Surp 1.
      const mi = model.read("/proc/meminfo");
      expect(mi).toMatch(/^HugePages_Total: +0$/m);
      expect(mi).toMatch(/^HugePages_Surp: +1$/m);
      // The 2 MiB pool, which got the 512 pages, is an ordinary pool.
      expect(attempt(model, `${H2M}/nr_hugepages`, "0")).toBe(0);
      expect(observeModel(model).h2M.nr).toBe(0);
    });
});

describe("hugepages= on the command line", () => {
  it("an invalid node list drops the counts it had added (hugepages_clear_pages_in_node())", () => {
    // "0:1" adds 1 to the 1 GiB hstate's max_huge_pages and node 0's count, then "x" is
    // invalid: hugepages_clear_pages_in_node() sets both back to 0 and nothing is allocated.
    const model = boot("mainline", "hugepagesz=1G hugepages=0:1,x");
    expect(model.read(`${H1G}/nr_hugepages`)).toBe("0\n");
    expect(model.k.log.some((l) => l.text === "HugeTLB: Invalid hugepages parameter x")).toBe(true);
    // The same list without the bad entry allocates the page on node 0.
    const ok = boot("mainline", "hugepagesz=1G hugepages=0:1");
    expect(ok.read(`${H1G}/nr_hugepages`)).toBe("1\n");
  });
});

describe("the checker's surplus rule on two nodes (free_huge_folio() looks at one node's count)", () => {
  // return_unused_surplus_pages() frees min(unused reservations, surplus) free pages of nodes
  // with a surplus count; free_huge_folio() frees a page only while its own node has one. On two
  // nodes the kernel can leave a surplus page free and unreserved, but only next to a page the
  // step put on the free list of a node without surplus. PoolRules.afterStep() allows exactly
  // that many (src/check/pool_ref.ts).
  function run(mutations: "return-surplus-one-short"[]) {
    const model = bootModel(
      machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }),
      "mainline",
      {
        mutations,
      },
    );
    const s = new ModelSession(model);
    const rules = new PoolRules();
    // One persistent free page on node 1; overcommit 2; a map of 3 reserves it and gathers 2
    // surplus pages (node 0 first: gather_surplus_pages()).
    s.step({ op: "nr_node", size: "2M", value: 1, node: 1 });
    s.step({ op: "overcommit", size: "2M", value: 2 });
    s.step({ op: "map", id: "A", size: "2M", n: 3, touch: 0 });
    const h = model.pool.hstates.find((x) => x.name === "hugepages-2048kB");
    expect([h?.surplusHugePagesNode[0], h?.surplusHugePagesNode[1]]).toEqual([2, 0]);
    rules.baseline(model.pool);
    // Unmapping drops 3 reservations: min(3, 2) = 2 surplus pages must go, both from node 0.
    s.step({ op: "release", id: "A" });
    return rules.afterStep(model.pool, { op: "release", id: "A" }, false).map((v) => v.invariant);
  }
  it("the kernel's code passes: node 1 keeps its persistent page, no surplus is left", () => {
    expect(run([])).toEqual([]);
  });
  it("one surplus page too few freed is caught, though node 1 holds a free page", () => {
    // Node 1's free page was free before the step: it does not excuse node 0's surplus page.
    expect(run(["return-surplus-one-short"])).toEqual(["surplus_unused"]);
  });
});

describe("dissolve_free_hugetlb_folio() and max_huge_pages (memory offline)", () => {
  // 7.2.13: `if (!adjust_surplus) h->max_huge_pages--;` a surplus page never counted in
  // max_huge_pages (persistent_huge_pages() excludes it) leaves it alone. The model's 6.18 pool
  // lowers it for every page (docs/rules.md: not checked on a 6.18 kernel).
  const BLOCK = 32768; // 128 MiB memory blocks of 4 KiB pages
  /** A block above 4 GiB that holds HugeTLB folios and nothing else the kernel cannot move. */
  function offlinable(model: Model): { id: number; heads: number } | null {
    for (let b = 32; b < 40; b++) {
      const lo = b * BLOCK;
      const hi = lo + BLOCK;
      if (model.k.memblock.reserved.some((r) => r.startPfn < hi && r.endPfn > lo)) continue;
      let heads = 0;
      let other = false;
      for (const [pfn, a] of model.k.buddy.allocations)
        if (pfn >= lo && pfn < hi) {
          if (a.use === "hugetlb") heads++;
          else other = true;
        }
      if (!other && heads > 0) return { id: b, heads };
    }
    return null;
  }
  for (const design of DESIGNS) {
    const keeps = DESIGN_FACTS[design].pool.dissolveKeepsMaxForSurplus;
    it(`${design}: offlining a block of free surplus pages ${keeps ? "keeps" : "lowers"} max_huge_pages`, () => {
      const faults = new Faults();
      const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB }), design, {
        faults,
      });
      model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
      model.write(`${H2M}/nr_hugepages`, "256");
      // Every restore fails: 256 free surplus pages, max_huge_pages = 256 - 256 = 0.
      faults.add({ site: "alloc_vmemmap_page_list", fromNth: 1 });
      model.write(`${H2M}/nr_hugepages`, "0");
      faults.clear();
      let o = observeModel(model);
      expect([o.h2M.nr, o.h2M.free, o.h2M.surplus]).toEqual([256, 256, 256]);
      expect(model.read("/proc/sys/vm/nr_hugepages")).toBe("0\n");
      const block = offlinable(model);
      expect(block).not.toBeNull();
      const n = block?.heads ?? 0;
      model.write(`/sys/devices/system/memory/memory${block?.id}/state`, "offline");
      model.settle();
      o = observeModel(model);
      // adjust_surplus: the node's surplus count is not 0, so each page leaves the surplus too.
      expect([o.h2M.nr, o.h2M.free, o.h2M.surplus]).toEqual([256 - n, 256 - n, 256 - n]);
      // 0, or 0 - n as an unsigned long.
      expect(model.read("/proc/sys/vm/nr_hugepages")).toBe(
        keeps ? "0\n" : `${(1n << 64n) - BigInt(n)}\n`,
      );
    });
  }
});

describe("the 7.2 guest's answers (scenarios/vm-7.2-pool-rules.result.json, `hvo vm --json`)", () => {
  // Recorded once on Debian's 7.2.13 under QEMU (6 GiB, one node); replayed here on mainline.
  const dir = new URL("../../scenarios/", import.meta.url);
  const file = parseScenarioFile(
    JSON.parse(readFileSync(new URL("vm-7.2-pool-rules.json", dir), "utf8")),
  );
  const guest = JSON.parse(readFileSync(new URL("vm-7.2-pool-rules.result.json", dir), "utf8"));
  type Rec = {
    rc: number;
    errno: number;
    code: string | null;
    after: { h1G: Record<string, unknown> };
  };
  const answers = (steps: Rec[]) =>
    steps.map((s) => [
      s.rc,
      s.errno,
      s.code,
      s.after.h1G.nr,
      s.after.h1G.free,
      s.after.h1G.resv,
      s.after.h1G.surplus,
    ]);
  it("the guest is 7.2.13", () => {
    expect(guest.kernel).toMatch(/^Linux version 7\.2\.13/);
  });
  for (const sc of file.scenarios)
    it(`${sc.id}: every step's answer and 1 GiB counters as on the guest`, () => {
      const model = boot("mainline", "", 6 * GiB);
      const res = runModel(model, { format: "hvo-scenario/1", scenarios: [sc] });
      expect(answers(res.scenarios[sc.id].steps as unknown as Rec[])).toEqual(
        answers(guest.scenarios[sc.id].steps),
      );
      // The FORMAT.md reset afterwards: 7.2 takes the 1 GiB overcommit write, nothing failed.
      expect(guest.scenarios[sc.id].final_reset.writes).toEqual([]);
    });
  it("legacy (6.18) answers the first scenario otherwise: EINVAL, then ENOMEM at mmap", () => {
    const model = boot("legacy", "", 6 * GiB);
    const sc = file.scenarios[0];
    const res = runModel(model, { format: "hvo-scenario/1", scenarios: [sc] });
    const codes = (res.scenarios[sc.id].steps as unknown as Rec[]).map((s) => s.code);
    expect(codes.slice(0, 2)).toEqual(["EINVAL", "ENOMEM"]);
  });
});
