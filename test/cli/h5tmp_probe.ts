import fc from "fast-check";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import { writeFileSync, appendFileSync } from "node:fs";
const MACHINE = "/tmp/h5/m2n.json";
writeFileSync(MACHINE, JSON.stringify({ preset: "x86_64", memory: "2G", nodes: 2 }));
// Well-formed steps (the format accepts them) with odd meanings: sizes the machine lacks,
// values the kernel refuses, ids never mapped or reused, files off any mount.
const sizes = fc.constantFrom("2M", "1G", "2048kB", "4M", "64K", "16G", "3M", "1024G", "1048576kB");
const ids = fc.constantFrom("a", "b", "c");
const values = fc.oneof(
  fc.integer({ min: -3, max: 8 }),
  fc.constantFrom(
    "\n",
    " ",
    "",
    "0x10",
    "-1",
    "1e9",
    "18446744073709551616",
    "2048kB",
    "abc",
    "5 6",
    1e9,
    2 ** 53 - 1,
  ),
);
const pages = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom(2 ** 20, 1000));
const paths = fc.constantFrom(
  "/proc/sys/vm/nr_hugepages",
  "/proc/sys/vm/",
  "/proc/sys/vm",
  "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages/",
  "/sys/kernel/mm/hugepages/hugepages-4096kB/nr_hugepages",
  "/proc/meminfo/x",
  "/sys/devices/system/memory/memory0/state",
  "/sys/devices/system/memory/memory3/online",
  "/sys/devices/system/memory/hard_offline_page",
  "/mnt/h/f",
);
const dirs = fc.constantFrom("/mnt/h", "/mnt/h/", "/mnt/g", "/", "/proc/sys/vm");
const files = fc.constantFrom("/mnt/h/f", "/mnt/g/f", "/tmp/plain", "/mnt/h/");

const wellFormedStep: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ op: fc.constant("hvo"), value: values }),
  fc.record({
    op: fc.constantFrom("nr", "nr_mempolicy", "overcommit"),
    size: sizes,
    value: values,
  }),
  fc.record(
    {
      op: fc.constant("nr_node"),
      size: sizes,
      value: values,
      node: fc.integer({ min: 0, max: 3 }),
    },
    { requiredKeys: ["op", "size", "value"] },
  ),
  fc.record(
    { op: fc.constantFrom("demote", "demote_size"), size: sizes, value: values },
    { requiredKeys: ["op", "value"] },
  ),
  fc.record({ op: fc.constant("write"), path: paths, value: values }),
  fc.record({
    op: fc.constant("sysctl"),
    name: fc.constantFrom(
      "nr_hugepages",
      "nope",
      "nr_overcommit_hugepages",
      "hugetlb_optimize_vmemmap",
    ),
    value: values,
  }),
  fc.record(
    {
      op: fc.constant("map"),
      id: ids,
      size: sizes,
      n: pages,
      touch: fc.constantFrom(0, 1, true),
      noreserve: fc.constantFrom(0, 1),
      shared: fc.constantFrom(0, 1),
      file: files,
      trunc: fc.constantFrom(0, 1),
    },
    { requiredKeys: ["op", "id", "size", "n"] },
  ),
  fc.record({ op: fc.constantFrom("touch", "release"), id: ids }),
  fc.record({ op: fc.constant("populate"), file: files, size: sizes, n: pages }),
  fc.record(
    {
      op: fc.constant("mount"),
      dir: dirs,
      opts: fc.constantFrom(
        "pagesize=1G",
        "pagesize=4M",
        "size=4M",
        "min_size=1G",
        "size=50%",
        "bogus",
        "",
      ),
    },
    { requiredKeys: ["op", "dir"] },
  ),
  fc.record({ op: fc.constant("umount"), dir: dirs }),
  fc.record({ op: fc.constant("unlink"), path: fc.constantFrom("/mnt/h/f", "/mnt/h/nope", "/") }),
  fc.record(
    { op: fc.constant("kpf"), size: sizes, n: fc.integer({ min: 1, max: 3 }) },
    { requiredKeys: ["op", "size"] },
  ),
);

/** Anything in a step's place: bad ops, bad types, sizes and ids the format refuses. */
const anyStep: fc.Arbitrary<unknown> = fc.oneof(
  wellFormedStep,
  fc.record({ op: fc.string({ maxLength: 6 }), id: fc.constantFrom("", "a b", "x".repeat(70)) }),
  fc.record({
    op: fc.constant("sysctl"),
    name: fc.constantFrom("../vm/nr_hugepages", ""),
    value: fc.constantFrom(2 ** 53, 1.5),
  }),
  fc.record({
    op: fc.constantFrom("map", "nr", "kpf"),
    size: fc.constantFrom("", "0M", "2m", "1T"),
    n: fc.constantFrom(-1, 0.5, 2 ** 20 + 1),
    id: ids,
    value: values,
  }),
  fc.jsonValue({ maxDepth: 2 }),
);

const xCheck = fc.oneof(
  fc.constant(undefined),
  fc.record(
    {
      preset: fc.constantFrom("x86_64", "arm64-64k", "riscv64"),
      memory: fc.constantFrom("2G", "1G"),
      nodes: fc.constantFrom(1, 2),
      cmdline: fc.constantFrom("", "hugepagesz=1G hugepages=1", "hugepages=-1", "hugepagesz=3M"),
      design: fc.constantFrom("legacy", "seed", "mainline"),
      seed: fc.constantFrom(0, 5),
      faults: fc.constantFrom(0, 0.5),
      faultSeeds: fc.constantFrom([], [1, 2, 3, 4, 5]),
      mutation: fc.constantFrom(null, "tail-info-bit1", "skip-tlb-flush"),
      every: fc.constantFrom(1, 3),
    },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      preset: fc.constantFrom("nope", 3),
      memory: fc.constantFrom("0G", "1T", "abc", 4),
      nodes: fc.constantFrom(0, -1, 1000, 1.5),
      design: fc.constantFrom("nope"),
      faults: fc.constantFrom(2, "x"),
      faultSeeds: fc.constantFrom("x", [-1]),
      mutation: fc.constantFrom("nope"),
      every: fc.constantFrom(0),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 1 }),
);

const scenarios = (st: fc.Arbitrary<unknown>, ids: fc.Arbitrary<string | number>) =>
  fc.array(
    fc.record(
      { id: ids, desc: fc.string({ maxLength: 5 }), steps: fc.array(st, { maxLength: 12 }) },
      { requiredKeys: ["id", "steps"] },
    ),
    { minLength: 1, maxLength: 2 },
  );

/** Files the format accepts (but for a repeated scenario id), with odd steps. */
const wellFormedFile = fc.record(
  {
    format: fc.constant("hvo-scenario/1"),
    "x-check": xCheck,
    scenarios: scenarios(wellFormedStep, fc.constant("S")).map((list) =>
      list.map((sc, i) => ({ ...sc, id: `S${i + 1}` })),
    ),
  },
  { requiredKeys: ["format", "scenarios"] },
);

/** Anything shaped more or less like a scenario file. */
const anyFile = fc.record(
  {
    format: fc.constantFrom("hvo-scenario/1", "hvo-scenario/2", 1),
    "x-check": xCheck,
    scenarios: fc.oneof(
      scenarios(anyStep, fc.constantFrom("S1", "S1", "", 5)),
      fc.jsonValue({ maxDepth: 1 }),
    ),
  },
  { requiredKeys: ["scenarios"] },
);

/** The text of a file: a scenario file as JSON, or broken JSON, or something else entirely. */
const fileText = fc.oneof(
  { weight: 8, arbitrary: wellFormedFile.map((f) => JSON.stringify(f)) },
  { weight: 2, arbitrary: anyFile.map((f) => JSON.stringify(f)) },
  { weight: 1, arbitrary: wellFormedFile.map((f) => JSON.stringify(f).slice(0, -3)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? "") },
  { weight: 1, arbitrary: fc.constantFrom("", "scenarios:\n  - id: a\n", "\u0000\u00ff", "{}") },
);


const samples = fc.sample(fileText, { seed: Number(process.env.H5_SEED), numRuns: Number(process.env.H5_RUNS) });
let i = 0;
for (const text of samples) {
  writeFileSync("/tmp/h5/cur.json", text);
  for (const cmd of [["run", "/tmp/h5/cur.json", "--machine", MACHINE], ["run", "/tmp/h5/cur.json", "--machine", MACHINE, "--json", "--design", "legacy"], ["compare", "/tmp/h5/cur.json", "--machine", MACHINE], ["check", "--replay", "/tmp/h5/cur.json"]]) {
    writeFileSync("/tmp/h5/curcmd.txt", `${i} ${cmd.join(" ")}`);
    const io = captureIo();
    const t0 = Date.now();
    const rc = await main(cmd, io);
    const ms = Date.now() - t0;
    if (![0, 1, 2].includes(rc) || /internal error|\n\s+at /.test(io.stderr()) || (rc === 2 && !/^hvo: [^\n]*\n$/.test(io.stderr())) || ms > 3000) {
      appendFileSync("/tmp/h5/bad.txt", `${i} ${cmd.join(" ")} rc=${rc} ms=${ms}\n${text}\n${io.stderr().slice(0, 2000)}\n----\n`);
    }
  }
  i++;
}
console.log("done", i);
