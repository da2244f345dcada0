// A deterministic core: the model holds no state outside its Kernel, so two models in one
// process, driven alike, hold the same bytes whatever ran before them; the checker and the
// comparison print the same bytes on every run, in one process or in two.
//
// The ids a model hands out are visible to a user: a page cache folio's struct page points at
// its file's address_space (inode i_ino from get_next_ino()), an anonymous one at its
// anon_vma (anon_vma_alloc()). Both are counters of one kernel, starting afresh at every boot.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { type CheckConfig, checkRun, defaultCheckMachine } from "../../src/check/run.ts";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import type { Design } from "../../src/kernel.ts";
import { type Model, bootModel } from "../../src/model.ts";
import { inspectPfn } from "../../src/report/inspect.ts";
import type { Step } from "../../src/scenario/format.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";
import { tempDir } from "../tmp.ts";

const ROOT = join(import.meta.dirname, "../..");
const GiB = 2 ** 30;

/** Mappings of every kind that allocates an id: files (inodes) and private maps (anon_vma). */
const STEPS: Step[] = [
  { op: "hvo", value: 1 },
  { op: "nr", size: "2M", value: 12 },
  { op: "mount", dir: "/mnt/det", opts: "pagesize=2M" },
  { op: "map", id: "file-shared", size: "2M", n: 2, file: "/mnt/det/a", shared: 1 },
  { op: "map", id: "file-private", size: "2M", n: 1, file: "/mnt/det/b" },
  { op: "map", id: "anon-private", size: "2M", n: 2 },
  { op: "map", id: "anon-shared", size: "2M", n: 1, shared: 1 },
  { op: "unlink", path: "/mnt/det/b" },
  { op: "release", id: "anon-private" },
  { op: "map", id: "anon-private-2", size: "2M", n: 2 },
  { op: "populate", file: "/mnt/det/c", size: "2M", n: 1 },
];

/** Other work, to run on another model in between: more ids, other pages. */
const OTHER: Step[] = [
  { op: "nr", size: "2M", value: 20 },
  { op: "mount", dir: "/mnt/other", opts: "pagesize=2M" },
  ...Array.from(
    { length: 6 },
    (_, i): Step => ({
      op: "map",
      id: `o${i}`,
      size: "2M",
      n: 1,
      ...(i % 2 ? { file: `/mnt/other/f${i}` } : {}),
    }),
  ),
];

function boot(design: Design): Model {
  return bootModel(machinePreset("x86_64", { memoryBytes: 2 * GiB, nodes: 2 }), design);
}

interface Driven {
  model: Model;
  session: ModelSession;
  /** Every step's answer, pfns included. */
  answers: unknown[];
}

function start(design: Design): Driven {
  const model = boot(design);
  return { model, session: new ModelSession(model), answers: [] };
}

function step(d: Driven, s: Step): void {
  d.answers.push(d.session.step(s));
  d.model.settle();
}

function drive(design: Design, steps: readonly Step[] = STEPS): Driven {
  const d = start(design);
  for (const s of steps) step(d, s);
  return d;
}

/** The pfns of the folios the process has mapped now. */
function mappedHeads(d: Driven): number[] {
  const out: number[] = [];
  for (const m of d.session.maps.values()) {
    if (!m) continue;
    for (let i = 0; i < m.n; i++) {
      const pfn = d.model.mm.folioAt(m, i);
      if (pfn !== null) out.push(pfn);
    }
  }
  return out;
}

/**
 * What a user could see of the machine: a digest of every frame's bytes (struct pages, page
 * tables, everything), every text file of /proc and /sys, and each mapped folio's head struct
 * page as `hvo inspect` shows it (its mapping word is the inode's or the anon_vma's address).
 */
function fingerprint(d: Driven) {
  const k = d.model.k;
  const frames = createHash("sha256");
  const end = Math.max(...k.spec.nodes.flatMap((n) => n.ranges.map((r) => r.endPfn)));
  for (let f = 0; f < end; f++) {
    if (!k.frames.hasOwnBytes(f) && k.frames.patternOf(f) === null) continue; // zeros
    frames.update(`${f}:`);
    frames.update(k.frames.view(f));
  }
  const files: Record<string, string> = {};
  for (const p of d.model.vfs.paths()) {
    try {
      files[p] = d.model.read(p);
    } catch (e) {
      files[p] = `error ${(e as Error).message}`; // write-only files: the same error each time
    }
  }
  const heads = mappedHeads(d);
  return {
    answers: JSON.stringify(d.answers),
    frames: frames.digest("hex"),
    files,
    heads: heads.map((pfn) => inspectPfn(k, pfn)),
  };
}

describe("two models in one process", () => {
  it("the steps map folios of files and of private maps, whose struct pages name them", () => {
    // Not vacuous: the comparisons below cover struct pages that carry ids.
    const d = drive("mainline");
    const heads = mappedHeads(d);
    // file-shared 2 + file-private 1 (unlinked, still mapped) + anon-shared 1 + anon-private-2 2
    expect(heads.length).toBe(6);
    // folio->mapping (+24) is non-zero on every mapped head: an address_space or anon_vma | 1.
    for (const pfn of heads) expect(d.model.k.memmap.readU64(pfn, 24)).not.toBe(0n);
    // Two files mapped from one mount are two inodes: two different address_spaces.
    const file = d.session.maps.get("file-shared");
    const priv = d.session.maps.get("anon-private-2");
    expect(file && priv).toBeTruthy();
    const a = d.model.mm.folioAt(file as NonNullable<typeof file>, 0) as number;
    const b = d.model.mm.folioAt(priv as NonNullable<typeof priv>, 0) as number;
    const wa = d.model.k.memmap.readU64(a, 24);
    const wb = d.model.k.memmap.readU64(b, 24);
    expect(wa & 1n).toBe(0n); // page cache: an address_space pointer
    expect(wb & 1n).toBe(1n); // anonymous: PAGE_MAPPING_ANON
  });

  for (const design of ["legacy", "mainline"] as const) {
    it(`${design}: a model driven after another holds the same bytes as the first`, () => {
      const first = fingerprint(drive(design));
      drive(design, OTHER); // something else in between, with its own files and maps
      const second = fingerprint(drive(design));
      expect(second.answers).toBe(first.answers);
      expect(second.heads).toEqual(first.heads);
      expect(second.files).toEqual(first.files);
      expect(second.frames).toBe(first.frames);
    }, 120000);
  }

  it("two models driven in lock-step, a third one busy in between, hold the same bytes", () => {
    const a = start("seed");
    const b = start("seed");
    const busy = start("seed");
    for (let i = 0; i < STEPS.length; i++) {
      step(a, STEPS[i]);
      step(
        busy,
        OTHER[i] ?? { op: "map", id: `more${i}`, size: "2M", n: 1, file: `/mnt/other/m${i}` },
      );
      step(b, STEPS[i]);
    }
    const fa = fingerprint(a);
    const fb = fingerprint(b);
    expect(fb.answers).toBe(fa.answers);
    expect(fb.heads).toEqual(fa.heads);
    expect(fb.files).toEqual(fa.files);
    expect(fb.frames).toBe(fa.frames);
  }, 120000);
});

// ------------------------------------------------------------------ the CLI's JSON

async function run(args: string[]): Promise<{ rc: number; out: string }> {
  const io = captureIo();
  const rc = await main(args, io);
  return { rc, out: io.stdout() };
}

function runChild(args: string[]): { rc: number; out: string } {
  try {
    const out = execFileSync(process.execPath, [join(ROOT, "bin/hvo.mjs"), ...args], {
      cwd: ROOT,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return { rc: 0, out };
  } catch (e) {
    const x = e as { status: number; stdout: string };
    return { rc: x.status, out: x.stdout };
  }
}

describe("hvo check --json and hvo compare --json print the same bytes every time", () => {
  const dir = tempDir("hvo-det-");
  const scenario = join(dir, "ids.json");
  writeFileSync(
    scenario,
    JSON.stringify({ format: "hvo-scenario/1", scenarios: [{ id: "ids", steps: STEPS }] }),
  );

  it("compare: twice in this process, once in another; the three designs name the same file", async () => {
    const probe = JSON.parse((await run(["compare", scenario, "--json"])).out);
    // By default compare shows tail 64 of the first folio; its head carries the mapping word.
    const head = String(probe.designs.mainline.tail.head);
    const args = ["compare", scenario, "--json", "--pfn", head];
    const one = await run(args);
    const two = await run(args);
    expect(one.rc).toBe(0);
    expect(two.out).toBe(one.out);
    expect(runChild(args)).toEqual(one);
    // Each design boots its own kernel: the same first inode, so the same folio->mapping (the
    // struct page's fourth word) under all three.
    const j = JSON.parse(one.out);
    const word = (d: string) => String(j.designs[d].tail.bytes).split(" ")[3];
    expect(word("legacy")).not.toBe("0000000000000000");
    expect(word("seed")).toBe(word("legacy"));
    expect(word("mainline")).toBe(word("legacy"));
  }, 120000);

  it("check: a clean run and a failing one, twice in this process, once in another", async () => {
    for (const args of [
      ["check", "--json", "--ops", "30", "--seed", "5", "--design", "all"],
      [
        "check",
        "--json",
        "--ops",
        "40",
        "--seed",
        "2",
        "--mutation",
        "leak-vmemmap-page",
        "--out",
        dir,
      ],
    ]) {
      const one = await run(args);
      const two = await run(args);
      expect(two).toEqual(one);
      expect(runChild(args)).toEqual(one);
      const runs = JSON.parse(one.out).runs;
      expect(runs.length).toBeGreaterThan(0);
      // No clock readings in the output: no field that could differ from one run to the next.
      expect(one.out).not.toMatch(/"(ms|time|timings|elapsed)"/);
    }
  }, 240000);

  it("check: the minimised replay is the same file every time (the shrinker counts runs)", async () => {
    const args = ["check", "--ops", "60", "--seed", "1", "--design", "legacy"];
    const mutation = ["--mutation", "no-fake-head-fixup", "--shrink-runs", "15"];
    const replay = join(dir, "hvo-check-failure-x86_64-legacy-1.json");
    const a = await run([...args, ...mutation, "--out", dir]);
    expect(a.rc).toBe(1);
    const first = readFileSync(replay, "utf8");
    const b = runChild([...args, ...mutation, "--out", dir]);
    expect(b.rc).toBe(1);
    expect(readFileSync(replay, "utf8")).toBe(first);
    expect(b.out).toBe(a.out);
  }, 240000);
});

describe("the shrinker's budget is a number of runs", () => {
  const cfg = (shrinkRuns: number): CheckConfig => ({
    machine: defaultCheckMachine("x86_64", "hugetlb_free_vmemmap=on"),
    design: "legacy",
    seed: 1,
    ops: 60,
    every: 1,
    faults: 0,
    mutation: "no-fake-head-fixup",
    shrinkRuns,
  });

  it("0: no shrinking, the replay is the failing prefix; N: at most N runs, the same file twice", () => {
    const none = checkRun(cfg(0));
    expect(none.violations.length).toBeGreaterThan(0);
    expect(none.shrinkRuns).toBe(0);
    const failAt = none.violations[0].step;
    const kept = none.replay?.scenarios[0].steps.length ?? -1;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(failAt + 1); // the prefix, no-ops left out

    const a = checkRun(cfg(3));
    const b = checkRun(cfg(3));
    expect(a.shrinkRuns).toBe(3); // the budget was the limit here: the minimum takes more runs
    expect(b).toEqual(a);
    // A larger budget goes at least as far.
    const c = checkRun(cfg(40));
    expect(c.shrinkRuns).toBeLessThanOrEqual(40);
    expect(c.replay?.scenarios[0].steps.length).toBeLessThanOrEqual(
      a.replay?.scenarios[0].steps.length ?? 0,
    );
  }, 120000);
});

// ------------------------------------------------------------------ a cheap guard

/** The model core: src/ without src/cli and src/live. */
function coreFiles(dir = join(ROOT, "src")): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    const rel = relative(join(ROOT, "src"), p);
    if (e.isDirectory()) {
      if (rel === "cli" || rel === "live") continue;
      out.push(...coreFiles(p));
    } else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** A file's lines without comments (a comment may name what the code must not do). */
function codeLines(path: string): Array<{ n: number; text: string }> {
  return readFileSync(path, "utf8")
    .split("\n")
    .map((text, i) => ({ n: i + 1, text: text.replace(/\/\/.*$/, "") }))
    .filter((l) => !/^\s*(\*|\/\*)/.test(l.text));
}

describe("the model core's source", () => {
  const files = coreFiles();

  it("is where we think it is", () => {
    expect(files.map((f) => relative(ROOT, f))).toContain("src/kernel.ts");
    expect(files.some((f) => f.includes("/src/cli/") || f.includes("/src/live/"))).toBe(false);
  });

  it("has no module-level variables or mutable module-level collections", () => {
    const found: string[] = [];
    for (const f of files)
      for (const l of codeLines(f))
        if (
          /^(export )?(let|var) /.test(l.text) ||
          (/^(export )?const \w+\s*=\s*new (Map|Set|WeakMap|WeakSet)\b/.test(l.text) &&
            !/:\s*Readonly(Map|Set)</.test(l.text))
        )
          found.push(`${relative(ROOT, f)}:${l.n}: ${l.text.trim()}`);
    expect(found).toEqual([]);
  });

  it("reads no clock and no random numbers", () => {
    const found: string[] = [];
    for (const f of files)
      for (const l of codeLines(f))
        if (/\b(Date\.now|performance\.now|Math\.random|new Date\b|process\.hrtime)/.test(l.text))
          found.push(`${relative(ROOT, f)}:${l.n}: ${l.text.trim()}`);
    expect(found).toEqual([]);
  });
});
