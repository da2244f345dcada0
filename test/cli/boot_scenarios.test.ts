// Boot-time scenarios on the model (docs/FORMAT.md "reset": false) and the QEMU guest as a
// machine anyone can name (`--machine qemu:6G`, `qemu:4G,nodes=2`, `--cmdline`): a user replays
// what `hvo vm` booted without QEMU. The expected numbers are the command line's arithmetic:
// hugepagesz=1G hugepages=2 asks for 2 pages of 1 GiB = 2 * 1048576 kB of Hugetlb, and the
// FORMAT.md reset (nr_hugepages 0) gives them all back.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import { bootKey, recordVm } from "../../src/live/vm/run.ts";
import type { Result } from "../../src/scenario/format.ts";
import { tempDir } from "../tmp.ts";

const dir = tempDir("hvo-boot-scenarios-");

function scenarioFile(name: string, scenarios: unknown[]): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, JSON.stringify({ format: "hvo-scenario/1", scenarios }));
  return p;
}

async function run(args: string[]): Promise<{ status: number; out: string; err: string }> {
  const io = captureIo();
  const status = await main(args, io);
  return { status, out: io.stdout(), err: io.stderr() };
}

async function runJson(args: string[]): Promise<Result> {
  const r = await run([...args, "--json"]);
  expect(r.err).toBe("");
  expect(r.status).toBe(0);
  return JSON.parse(r.out) as Result;
}

const TWO_1G = "hugepagesz=1G hugepages=2";
const GiB_kB = 1048576;

describe('"reset": false on qemu:6G with hugepagesz=1G hugepages=2', () => {
  const file = scenarioFile("boot.json", [
    { id: "plain", steps: [{ op: "hvo", value: 1 }] },
    {
      id: "booted",
      reset: false,
      steps: [
        { op: "map", id: "m", size: "PUD", n: 1 },
        { op: "release", id: "m" },
        { op: "nr", size: "1G", value: 0 },
      ],
    },
  ]);

  it("starts from the booted pool: HugePages of 1 GiB 2 from the first observation", async () => {
    const r = await runJson(["run", file, "--machine", "qemu:6G", "--cmdline", TWO_1G]);
    expect(r.machine).toBe("qemu:6G");
    const s = r.scenarios.booted;
    expect(s.initial?.h1G.nr).toBe(2);
    expect(s.initial?.h1G.free).toBe(2);
    expect(s.initial?.Hugetlb_kB).toBe(2 * GiB_kB);
    // The map takes one of them (no page is allocated: free drops by one, nr stays).
    expect([s.steps[0].rc, s.steps[0].after.h1G.nr, s.steps[0].after.h1G.free]).toEqual([0, 2, 1]);
    expect(s.steps[0].resolved_step).toEqual({ op: "map", id: "m", size: "1G", n: 1 });
    expect(s.steps[2].after.Hugetlb_kB).toBe(0);
    // The closing reset is still done.
    expect(s.final_reset?.clean).toBe(true);
  });

  it("a reset:false scenario after another runs on a fresh boot; one without it is reset", async () => {
    const r = await runJson(["run", file, "--machine", "qemu:6G", "--cmdline", TWO_1G]);
    // "plain" came first and its reset gave the boot-time pages back: 0 of 1 GiB.
    expect(r.scenarios.plain.initial?.h1G.nr).toBe(0);
    expect(r.scenarios.booted.initial?.h1G.nr).toBe(2);
  });

  it("--no-reset does for every scenario what the field does for one", async () => {
    const r = await runJson([
      "run",
      file,
      "--machine",
      "qemu:6G",
      "--cmdline",
      TWO_1G,
      "--no-reset",
      "--only",
      "plain",
    ]);
    expect(r.scenarios.plain.initial?.h1G.nr).toBe(2);
  });

  it("default_hugepagesz=1G: HugePages_Total counts the two 1 GiB pages", async () => {
    const r = await runJson([
      "run",
      file,
      "--machine",
      "qemu:6G",
      "--cmdline",
      `default_hugepagesz=1G ${TWO_1G}`,
      "--only",
      "booted",
    ]);
    const init = r.scenarios.booted.initial;
    expect([init?.HugePages_Total, init?.HugePages_Free]).toEqual([2, 2]);
  });

  it("inspect --after --no-reset shows a boot-time 1 GiB page's tail, HVO'd at boot", async () => {
    const after = scenarioFile("inspect.json", [
      { id: "i", steps: [{ op: "map", id: "m", size: "1G", n: 1 }] },
    ]);
    const model = await runJson([
      "run",
      after,
      "--machine",
      "qemu:6G",
      "--cmdline",
      `${TWO_1G} hugetlb_free_vmemmap=on`,
      "--no-reset",
    ]);
    const head = model.scenarios.i.steps[0].pfns?.[0] as number;
    expect(head % (GiB_kB / 4)).toBe(0); // 1 GiB aligned: 262144 pages of 4 KiB
    const r = await run([
      "inspect",
      "--after",
      after,
      "--no-reset",
      "--machine",
      "qemu:6G",
      "--cmdline",
      `${TWO_1G} hugetlb_free_vmemmap=on`,
      "--pfn",
      String(head + 64),
      "--json",
    ]);
    expect(r.err).toBe("");
    const j = JSON.parse(r.out);
    // Struct page 64 is a tail of that head, on a read-only PTE: boot-time HVO mapped it onto
    // the shared tail page (a 4 KiB PTE, since the vmemmap page was remapped).
    expect([j.head_pfn, j.is_tail, j.mapping.level, j.mapping.writable]).toEqual([
      head,
      true,
      "pte",
      false,
    ]);
  });
});

describe("qemu:4G,nodes=2: the two-node guest of hvo vm --memory 4G --nodes 2", () => {
  it("has two nodes: a node's pool grows on that node only", async () => {
    const file = scenarioFile("nodes.json", [
      { id: "n", steps: [{ op: "nr_node", size: "PMD", node: 1, value: 4 }] },
    ]);
    const r = await runJson(["run", file, "--machine", "qemu:4G,nodes=2"]);
    const h = r.scenarios.n.steps[0].after.h2M;
    expect([h.nr, h.node0_nr, h.node1_nr]).toEqual([4, 0, 4]);
  });
});

describe("qemu:4G,arch=arm64-16k: the virt guest with Debian's 16K kernel, on the model", () => {
  it("hugepagesz=1G hugepages=1 is one CONT_PMD page (32 x 32M) from the first observation; PUD (64G) skipped", async () => {
    const file = scenarioFile("arm16k.json", [
      {
        id: "b",
        reset: false,
        steps: [
          { op: "nr", size: "CONT_PMD", value: 0 },
          { op: "nr", size: "PUD", value: 1 },
        ],
      },
    ]);
    const r = await runJson([
      "run",
      file,
      "--machine",
      "qemu:4G,arch=arm64-16k",
      "--cmdline",
      "hugepagesz=1G hugepages=1",
    ]);
    const s = r.scenarios.b;
    expect(s.initial?.h1G.nr).toBe(1);
    expect(s.steps[0].resolved_step).toEqual({ op: "nr", size: "1G", value: 0 });
    expect(s.steps[0].after.h1G.nr).toBe(0);
    // PUD: 32M * 2048 entries = 64G, and arm64 has PUD huge pages only with 4K pages.
    expect(s.steps[1].skipped).toBe("PUD (64G): this machine has no 67108864kB hstate");
  });
});

describe("qemu: machines and --cmdline: bad input is one line naming the problem", () => {
  const file = scenarioFile("one.json", [{ id: "x", steps: [] }]);
  it.each([
    ["qemu:", /give the guest's memory/],
    ["qemu:6X", /"6X" is not a memory size/],
    ["qemu:6G,nodes=x", /nodes=x is not a number of nodes/],
    ["qemu:6G,nodes=0", /nodes must be 1 to 8/],
    ["qemu:6G,nodes=5", /do not split evenly over 5 nodes/],
    ["qemu:6G,colour=blue", /"colour=blue" is not nodes=N, arch=A or initrd=BYTES/],
    ["qemu:6G,initrd=big", /initrd=big is not a size in bytes/],
    ["qemu:128M", /at least 256M/],
    ["qemu:6G,arch=sparc", /arch=sparc: the guests are x86_64, arm64, arm64-16k/],
  ])("%s", async (m, why) => {
    const r = await run(["run", file, "--machine", m]);
    expect(r.status).toBe(2);
    expect(r.err.trim().split("\n").length).toBe(1);
    expect(r.err).toMatch(why);
    expect(r.err).toContain(`--machine ${m}`);
    expect(r.out).toBe("");
  });

  it("a --cmdline of two lines", async () => {
    const r = await run(["run", file, "--cmdline", "hugepages=1\nhugepages=2"]);
    expect([r.status, r.err.trim()]).toEqual([2, "hvo: --cmdline: one line of kernel parameters"]);
  });
});

describe("the VM runner's boots", () => {
  it("a reset:false scenario gets a boot of its own, the others share their shape's", () => {
    const shape = { memory: "6G", nodes: 1, cmdline: TWO_1G };
    expect(bootKey(shape, { id: "a" })).toBe(bootKey(shape, { id: "b", reset: true }));
    expect(bootKey(shape, { id: "a", reset: false })).not.toBe(bootKey(shape, { id: "a" }));
    expect(bootKey(shape, { id: "a", reset: false })).not.toBe(
      bootKey(shape, { id: "b", reset: false }),
    );
  });

  it("refuses to record a reset:false scenario in several rounds (rounds after the first would not start from the boot), before booting", async () => {
    const raw = { format: "hvo-scenario/1", scenarios: [{ id: "b", reset: false, steps: [] }] };
    await expect(recordVm(raw, 2)).rejects.toThrow(
      'scenario b has "reset": false (it starts from the boot): record it with one round',
    );
  });
});
