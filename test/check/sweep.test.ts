// hvo check for long sweeps: --jobs N gives the serial run's output, --shard I/N with
// --merge gives the unsharded run's output byte for byte (and its exit status), bad --shard
// values and merges of unrelated files are usage errors, and the ops a run draws one at a
// time are the ops the seed generates.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CheckConfig,
  IndexSet,
  defaultCheckMachine,
  generateOps,
  opStream,
} from "../../src/check/run.ts";
import { parseShard, shardRuns, sweepRuns } from "../../src/check/sweep.ts";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import { tempDir } from "../tmp.ts";

async function hvo(args: string[]) {
  const io = captureIo();
  const status = await main(args, io);
  return { status, out: io.stdout(), err: io.stderr() };
}

const dir = tempDir("hvo-sweep-");
/** A small sweep: every design x 3 seeds, short runs (any of them may find something). */
const SWEEP = [
  "check",
  "--json",
  "--ops",
  "25",
  "--seed",
  "3",
  "--seeds",
  "3",
  "--design",
  "all",
  "--shrink-runs",
  "3",
  "--out",
  dir,
];
/** Runs with a deliberate bug: violations, replay files, exit status 1. */
const FAILING = [
  "check",
  "--json",
  "--ops",
  "40",
  "--seed",
  "2",
  "--seeds",
  "2",
  "--mutation",
  "leak-vmemmap-page",
  "--shrink-runs",
  "5",
  "--out",
  dir,
];

describe("the ops of a seed, drawn one at a time", () => {
  it("are the ops generateOps() draws all at once, for any seed, length and fault rate", () => {
    fc.assert(
      fc.property(
        fc.nat(2 ** 31 - 1),
        fc.integer({ min: 1, max: 60 }),
        fc.constantFrom(0, 0.05),
        fc.constantFrom("x86_64", "arm64-64k"),
        (seed, ops, faults, preset) => {
          const cfg: CheckConfig = {
            machine: defaultCheckMachine(preset),
            design: "mainline",
            seed,
            ops,
            every: 1,
            faults,
          };
          const all = generateOps(cfg);
          const s = opStream(cfg);
          expect(all.map(() => s.next())).toEqual(all);
        },
      ),
      { seed: 11, numRuns: 25 },
    );
  });

  it("IndexSet counts the indexes below a bound as a Set would", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(5000), { maxLength: 200 }), fc.nat(5001), (xs, end) => {
        const s = new IndexSet();
        for (const x of xs) s.add(x);
        const ref = new Set(xs);
        expect(s.size).toBe(ref.size);
        expect(s.countBelow(end)).toBe([...ref].filter((x) => x < end).length);
        for (const x of xs) expect(s.has(x)).toBe(true);
        expect(s.has(5001)).toBe(false);
      }),
      { seed: 5, numRuns: 50 },
    );
  });
});

describe("--shard I/N", () => {
  it("N shards make every run of the sweep exactly once", () => {
    const runs = sweepRuns({
      machines: ["x86_64", "arm64-4k"],
      designs: ["legacy", "seed", "mainline"],
      seed0: 7,
      seeds: 5,
      ops: 10,
      every: 1,
      faults: 0,
      mutation: null,
      shrinkRuns: 0,
    });
    // 2 machines x 3 designs x 5 seeds.
    expect(runs.length).toBe(30);
    for (const n of [1, 2, 3, 7, 30, 31]) {
      const seen = Array.from({ length: n }, (_, i) => shardRuns(runs, { index: i + 1, count: n }))
        .flat()
        .map((r) => r.index)
        .sort((a, b) => a - b);
      expect(seen).toEqual(runs.map((r) => r.index));
    }
  });

  it("bad values are usage errors (exit 2) naming the flag", async () => {
    for (const bad of ["0/3", "4/3", "1/0", "a/b", "1", "1/3/4", "-1/3", "1.5/3"]) {
      const r = await hvo(["check", "--ops", "5", "--shard", bad]);
      expect(r.status, bad).toBe(2);
      expect(r.err, bad).toMatch(/^hvo: --shard: /);
      expect(r.err.trim().split("\n")).toHaveLength(1);
    }
    expect(() => parseShard("2/3")).not.toThrow();
  });
});

describe("--merge of the shards' --json results", () => {
  it("equals the unsharded run byte for byte, with its exit status", async () => {
    const whole = await hvo(SWEEP);
    expect([0, 1]).toContain(whole.status);
    // Every design x 3 seeds.
    const designs = new Set(JSON.parse(whole.out).runs.map((r: { design: string }) => r.design));
    expect(JSON.parse(whole.out).runs).toHaveLength(designs.size * 3);
    expect(designs.size).toBeGreaterThanOrEqual(3);
    const files = [];
    for (const i of [1, 2, 3]) {
      const r = await hvo([...SWEEP, "--shard", `${i}/3`]);
      expect([0, 1]).toContain(r.status);
      const f = join(dir, `clean-${i}.json`);
      writeFileSync(f, r.out);
      files.push(f);
    }
    // The order of the files does not matter.
    const merged = await hvo(["check", "--json", "--merge", files[2], files[0], files[1]]);
    expect(merged.status).toBe(whole.status);
    expect(merged.out).toBe(whole.out);
  }, 240000);

  it("equals the unsharded run with violations too, exit status 1", async () => {
    const whole = await hvo(FAILING);
    expect(whole.status).toBe(1);
    const files = [];
    for (const i of [1, 2]) {
      const r = await hvo([...FAILING, "--shard", `${i}/2`]);
      const f = join(dir, `failing-${i}.json`);
      writeFileSync(f, r.out);
      files.push(f);
    }
    const merged = await hvo(["check", "--json", "--merge", ...files]);
    expect(merged.status).toBe(1);
    expect(merged.out).toBe(whole.out);
  }, 240000);

  it("refuses files of different sweeps, missing or repeated shards, with one clear line", async () => {
    const a = join(dir, "a.json");
    const b = join(dir, "b.json");
    const c = join(dir, "c.json");
    const one = ["check", "--json", "--ops", "5", "--seeds", "2", "--out", dir];
    writeFileSync(a, (await hvo([...one, "--shard", "1/2"])).out);
    writeFileSync(b, (await hvo([...one, "--ops", "6", "--shard", "2/2"])).out);
    writeFileSync(c, (await hvo([...one, "--shard", "2/2"])).out);
    const cases: [string[], RegExp][] = [
      [[a, b], /b\.json is from a different sweep than .*a\.json \(ops 5 vs 6\)/],
      [[a], /missing shard 2\/2/],
      [[a, a, c], /shard 1\/2 is given twice/],
      [[a, join(dir, "nothing.json")], /cannot read/],
    ];
    for (const [files, msg] of cases) {
      const r = await hvo(["check", "--merge", ...files]);
      expect(r.status).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err.trim().split("\n")).toHaveLength(1);
    }
    // The output of an unsharded run is not a shard.
    const plain = join(dir, "plain.json");
    writeFileSync(plain, (await hvo(one)).out);
    const r = await hvo(["check", "--merge", plain]);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/not the --json result of hvo check --shard/);
    // Merged without --json: the table of the whole sweep.
    const t = await hvo(["check", "--merge", a, c]);
    expect([0, 1]).toContain(t.status);
    expect(t.out.split("\n")[0]).toMatch(/^preset\s+design\s+ops/);
    expect(t.out.trim().split("\n")).toHaveLength(3);
    expect(readFileSync(a, "utf8")).toMatch(/"shard": "1\/2"/);
  }, 240000);
});

describe("--jobs N", () => {
  it("gives the serial run's output, byte for byte", async () => {
    const serial = await hvo(SWEEP);
    const jobs = await hvo([...SWEEP, "--jobs", "2"]);
    expect(jobs.status).toBe(serial.status);
    expect(jobs.out).toBe(serial.out);
    const bad = await hvo([...SWEEP, "--jobs", "0"]);
    expect(bad.status).toBe(2);
    expect(bad.err).toMatch(/--jobs/);
  }, 240000);

  it("gives the serial run's violations and replay files", async () => {
    const serial = await hvo(FAILING);
    const replay = readFileSync(join(dir, "hvo-check-failure-x86_64-mainline-2.json"), "utf8");
    const jobs = await hvo([...FAILING, "--jobs", "2"]);
    expect(jobs.status).toBe(1);
    expect(jobs.out).toBe(serial.out);
    expect(readFileSync(join(dir, "hvo-check-failure-x86_64-mainline-2.json"), "utf8")).toBe(
      replay,
    );
  }, 240000);
});
