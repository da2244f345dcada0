// The free path's page checks (page_alloc.ts freePagesCheck(), mm/page_alloc.c
// __free_pages_prepare() / free_page_is_bad() / bad_page() of 7.2 and 6.18): what the kernel
// reports when a huge page whose struct pages do not look free is given back, and what it then
// does with the page. Rules and texts from mm/page_alloc.c:
//   - the checks run only with check_pages_enabled: init_on_alloc / init_on_free (config
//     default or command line) or check_pages=1 (mm/mm_init.c);
//   - page_bad_reason(): the last failing test names the reason ("nonzero mapcount",
//     "non-NULL mapping", "nonzero _refcount", "PAGE_FLAGS_CHECK_AT_FREE flag(s) set");
//     free_tail_page_prepare() first wants TAIL_MAPPING from the fourth tail on
//     ("corrupted mapping in tail page");
//   - bad_page() prints "BUG: Bad page state in process %s  pfn:%05lx" at KERN_ALERT, then
//     dump_page() and "page dumped because: REASON"; 60 reports, then quiet for a minute;
//     add_taint(TAINT_BAD_PAGE): bit 5 of /proc/sys/kernel/tainted;
//   - a block with a bad page is not given to the buddy allocator (it leaks).
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { PAGE_OFF, TAIL_MAPPING } from "../../src/include/mm_types.ts";
import { PG } from "../../src/include/page_flags.ts";
import { checkPagesEnabled } from "../../src/kernel.ts";
import { kmsgLine } from "../../src/kernel/printk.ts";
import { type Model, bootModel } from "../../src/model.ts";
import { parseMeminfo } from "../../src/scenario/observe.ts";
import { runScenarioOnModel } from "../../src/scenario/run_model.ts";
import { kmsgHeadlines } from "../../src/scenario/compare.ts";

const NR_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const NR_1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";

function boot(design: string, cmdline = ""): Model {
  return bootModel(machinePreset("x86_64", { memoryBytes: 4 * 2 ** 30, cmdline }), design);
}

/** One free 2M folio (HVO off: its struct pages are writable), its head pfn. */
function oneFolio(m: Model): number {
  m.write(NR_2M, "1");
  m.settle();
  return [...m.pool.hstateByKb(2048)!.hugepageFreelists[0]][0];
}

function memFreeKb(m: Model): number {
  return parseMeminfo(m.read("/proc/meminfo")).get("MemFree") ?? Number.NaN;
}

/** Frees the pool and returns what the step logged and how MemFree moved. */
function shrink(m: Model): { lines: string[]; texts: string[]; dMemFree: number } {
  const before = memFreeKb(m);
  const seq = m.k.printk.seq;
  m.write(NR_2M, "0");
  m.settle();
  const recs = m.k.printk.since(seq);
  return {
    lines: recs.map(kmsgLine),
    texts: recs.map((r) => r.text),
    dMemFree: memFreeKb(m) - before,
  };
}

describe("check_pages_enabled (mm/mm_init.c mem_debugging_and_hardening_init)", () => {
  it("follows init_on_alloc, init_on_free and check_pages, the last occurrence winning", () => {
    const on = { initOnAllocDefaultOn: true };
    const off = { initOnAllocDefaultOn: false };
    expect(checkPagesEnabled("", on)).toBe(true);
    expect(checkPagesEnabled("", off)).toBe(false);
    expect(checkPagesEnabled("init_on_alloc=0", on)).toBe(false);
    expect(checkPagesEnabled("init_on_alloc=0 init_on_alloc=1", on)).toBe(true);
    expect(checkPagesEnabled("init_on_free=1", off)).toBe(true);
    expect(checkPagesEnabled("check_pages=1", off)).toBe(true);
    expect(checkPagesEnabled("init_on_alloc=bogus", off)).toBe(false);
  });

  it("is on for mainline (Debian 7.2.13: INIT_ON_ALLOC_DEFAULT_ON=y), off for legacy (the live 6.18)", () => {
    expect(boot("mainline").k.checkPages).toBe(true);
    expect(boot("legacy").k.checkPages).toBe(false);
    expect(boot("legacy", "check_pages=1").k.checkPages).toBe(true);
  });
});

describe("freeing a huge page whose struct pages do not look free", () => {
  it("a tail with _refcount 1: one report, taint B, the 2 MiB folio leaks", () => {
    const m = boot("mainline");
    const head = oneFolio(m);
    m.k.memmap.writeU32(head + 5, PAGE_OFF.refcount, 1);
    const r = shrink(m);
    const pfn = (head + 5).toString(16).padStart(5, "0");
    expect(r.lines[0]).toMatch(
      new RegExp(`^1,\\d+,\\d+,-;BUG: Bad page state in process hvoexec  pfn:${pfn}$`),
    );
    expect(r.texts).toContain(
      `page: refcount:1 mapcount:0 mapping:0000000000000000 index:0x0 pfn:0x${(head + 5).toString(16)}`,
    );
    expect(r.texts).toContain("page dumped because: nonzero _refcount");
    // dump_page() after free_tail_page_prepare(): compound word and mapping already 0.
    expect(r.texts.filter((t) => t.startsWith("raw: "))[0]).toMatch(
      /^raw: [0-9a-f]{16} 0{16} [0-9a-f]{16} 0{16}$/,
    );
    expect(r.texts.filter((t) => t.startsWith("BUG:"))).toHaveLength(1);
    expect(m.read("/proc/sys/kernel/tainted")).toBe(`${2 ** 5}\n`);
    // The pool forgot the page, but the buddy allocator never got it back.
    expect(m.read(NR_2M)).toBe("0\n");
    expect(r.dMemFree).toBe(0);
    // What free_tail_page_prepare() left: mapping and compound word cleared, the count kept.
    expect(m.k.memmap.readU32(head + 5, PAGE_OFF.refcount)).toBe(1);
    expect(m.k.memmap.readU64(head + 5, PAGE_OFF.mapping)).toBe(0n);
  });

  it("without the checks (init_on_alloc=0) the same folio is freed silently: +2048 kB", () => {
    const m = boot("mainline", "init_on_alloc=0");
    const head = oneFolio(m);
    m.k.memmap.writeU32(head + 5, PAGE_OFF.refcount, 1);
    const r = shrink(m);
    expect(r.lines).toEqual([]);
    expect(r.dMemFree).toBe(2048);
    expect(m.read("/proc/sys/kernel/tainted")).toBe("0\n");
  });

  it("names the reason page_bad_reason() gives, the last failing test winning", () => {
    const cases: Array<[string, (m: Model, p: number) => void, string]> = [
      ["mapcount", (m, p) => m.k.memmap.writeU32(p, PAGE_OFF.mapcount, 0), "nonzero mapcount"],
      [
        "PG_reserved",
        (m, p) => m.k.memmap.setBit(p, PAGE_OFF.flags, PG.reserved, true),
        "PAGE_FLAGS_CHECK_AT_FREE flag(s) set",
      ],
      [
        "mapcount and refcount",
        (m, p) => {
          m.k.memmap.writeU32(p, PAGE_OFF.mapcount, 0);
          m.k.memmap.writeU32(p, PAGE_OFF.refcount, 2);
        },
        "nonzero _refcount",
      ],
      [
        "a tail without TAIL_MAPPING",
        (m, p) => m.k.memmap.writeU64(p, PAGE_OFF.mapping, TAIL_MAPPING + 8n),
        "corrupted mapping in tail page",
      ],
    ];
    for (const [what, corrupt, reason] of cases) {
      const m = boot("mainline");
      const head = oneFolio(m);
      corrupt(m, head + 100);
      const r = shrink(m);
      expect({ what, reasons: r.texts.filter((t) => t.startsWith("page dumped because")) }).toEqual(
        { what, reasons: [`page dumped because: ${reason}`] },
      );
    }
  });

  it("shows a burst of 60 reports and keeps quiet about the rest", () => {
    const m = boot("legacy", "check_pages=1");
    const head = oneFolio(m);
    for (let i = 1; i <= 100; i++) m.k.memmap.writeU32(head + i, PAGE_OFF.refcount, 1);
    const r = shrink(m);
    expect(r.texts.filter((t) => t.startsWith("BUG: Bad page state in process"))).toHaveLength(60);
    expect(m.k.badPageRatelimit.nrUnshown).toBe(40);
  });

  it("a pool of clean folios frees without a report in every design", () => {
    for (const design of ["legacy", "seed", "mainline", "mainline-7.1"]) {
      const m = boot(design, "check_pages=1");
      m.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
      m.write(NR_2M, "8");
      m.write(NR_1G, "1");
      m.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "0");
      m.write(NR_2M, "16");
      m.settle();
      const seq = m.k.printk.seq;
      m.write(NR_2M, "0");
      m.write(NR_1G, "0");
      m.settle();
      expect({ design, log: m.k.printk.since(seq).map((x) => x.text) }).toEqual({
        design,
        log: [],
      });
    }
  });
});

describe("Linux 7.2's boot-time 1 GiB report (docs/findings.md 5), by its mechanism", () => {
  it("tails restored from a shared tail page whose slots keep _refcount 1 are reported and leak", () => {
    // The condition findings.md 5 measured on the VM: memmap_init() wrote refcount 1 into the
    // zone's shared tail page through the writable boot-time mappings and nothing reset it.
    // Set the same bytes here, straight into the frame, and free the two boot-time folios.
    const cmdline = "hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on";
    const m = bootModel(machinePreset("x86_64", { memoryBytes: 6 * 2 ** 30, cmdline }), "mainline");
    const heads = [...m.pool.hstateByKb(1048576)!.hugepageFreelists[0]];
    expect(heads).toHaveLength(2);
    const t = m.k.memmap.translate(heads[0] + 64);
    expect(t?.writable).toBe(false);
    expect(m.k.memmap.translate(heads[1] + 64)?.frame).toBe(t?.frame);
    const frame = t?.frame as number;
    for (let slot = 0; slot < 64; slot++)
      m.k.frames.writeU32(frame, slot * 64 + PAGE_OFF.refcount, 1);
    const r = runScenarioOnModel(m, {
      id: "boot_1G_HVO_free",
      reset: false,
      steps: [{ op: "nr", size: "1G", value: 0 }],
    });
    const step = r.steps[0];
    expect(step.rc).toBe(0);
    expect(step.after.h1G.nr).toBe(0);
    // The VM printed, for subpages 64 on of each folio: "BUG: Bad page state in process
    // hvoexec  pfn:100040" with "page dumped because: nonzero _refcount".
    expect(kmsgHeadlines(step.kmsg ?? [])).toEqual(["BUG: Bad page state in process * pfn:*"]);
    const texts = (step.kmsg ?? []).map((l) => l.slice(l.indexOf(";") + 1));
    // The first report is subpage 64 of the folio freed first (the VM: 100040, its folio at
    // 4 GiB; which folio the model's free list gives first is the pool's business).
    expect(
      heads.map((h) => `BUG: Bad page state in process hvoexec  pfn:${(h + 64).toString(16)}`),
    ).toContain(texts[0]);
    expect(texts.filter((x) => x.startsWith("BUG:"))).toHaveLength(60);
    expect(texts).toContain("page dumped because: nonzero _refcount");
    // Both GiB lost; the restores still allocated 2 x 4095 vmemmap pages (4 kB each).
    expect(step.delta.memmap_sum).toBe(2 * 4095);
    expect(step.delta.MemFree_kB).toBe(-2 * 4095 * 4);
  });
});

describe("docs/findings.md 5 from the boot alone (x86_64, 6 GiB, hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on)", () => {
  const cmdline = "hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on check_pages=1";
  const free = (design: string) => {
    const m = bootModel(machinePreset("x86_64", { memoryBytes: 6 * 2 ** 30, cmdline }), design);
    return runScenarioOnModel(m, {
      id: "boot_1G_HVO_free",
      reset: false,
      steps: [{ op: "nr", size: "1G", value: 0 }],
    }).steps[0];
  };

  it("7.2 (mainline): memmap_init()'s refcount 1 in the shared tail is reported and both GiB leak", () => {
    const step = free("mainline");
    expect(step.after.h1G.nr).toBe(0);
    expect(kmsgHeadlines(step.kmsg ?? [])).toEqual(["BUG: Bad page state in process * pfn:*"]);
    expect(step.kmsg).toContainEqual(
      expect.stringMatching(/;page dumped because: nonzero _refcount$/),
    );
    expect(step.delta.MemFree_kB).toBe(-2 * 4095 * 4);
  });

  it("7.1 and 6.18 (mainline-7.1, legacy) free them cleanly: +2 x (1048576 - 4095 x 4) kB", () => {
    for (const design of ["mainline-7.1", "legacy"]) {
      const step = free(design);
      expect({ design, kmsg: kmsgHeadlines(step.kmsg ?? []) }).toEqual({ design, kmsg: [] });
      expect({ design, dMemFree: step.delta.MemFree_kB }).toEqual({
        design,
        dMemFree: 2 * (1048576 - 4095 * 4),
      });
    }
  });
});
