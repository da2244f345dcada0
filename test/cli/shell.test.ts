// `hvo shell`: one model across many lines, driven through main() with a stdin string and
// once as a child process with piped stdin; its Tab completer as a unit.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { completerOf } from "../../src/cli/commands/shell.ts";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import { type CompletionContext, complete } from "../../src/cli/shell/complete.ts";
import { parseLine } from "../../src/cli/shell/parse.ts";
import { ShellSession } from "../../src/cli/shell/session.ts";
import { tempDir } from "../tmp.ts";

const NR_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const HVO = "/proc/sys/vm/hugetlb_optimize_vmemmap";

async function shell(lines: string[], args: string[] = []) {
  const io = captureIo(`${lines.join("\n")}\n`);
  const status = await main(["shell", ...args], io);
  return { status, out: io.stdout(), err: io.stderr() };
}

/** Every HugePages_Total line of the meminfos printed, in order. */
function totals(out: string): number[] {
  return [...out.matchAll(/^HugePages_Total:\s+(\d+)$/gm)].map((m) => Number(m[1]));
}

describe("hvo shell keeps one model across lines", () => {
  test("a write is seen by the next line's read; the fresh boot has no huge pages", async () => {
    const r = await shell(["cat /proc/meminfo", `echo 4 > ${NR_2M}`, "cat /proc/meminfo"]);
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    // 2M is the x86_64 default hstate: meminfo's HugePages_* are its pool. 0 before, 4 written.
    expect(totals(r.out)).toEqual([0, 4]);
  });

  test("quoting, relative paths after cd, echo -n, >> and comments", async () => {
    const r = await shell([
      "# a comment line",
      `echo '3' > "${NR_2M}"`,
      `cat ${NR_2M}`,
      "cd /sys/kernel/mm/hugepages/hugepages-2048kB",
      "pwd",
      "echo -n 5 >> nr_hugepages  # append is a plain write for sysfs",
      "cat nr_hugepages ../hugepages-2048kB/free_hugepages",
    ]);
    expect(r.err).toBe("");
    expect(r.out).toBe("3\n/sys/kernel/mm/hugepages/hugepages-2048kB\n5\n5\n");
  });

  test("the kernel's errors, as bash and cat print them, and the pool stays as it was", async () => {
    const r = await shell([
      `echo 2 > ${NR_2M}`,
      `echo abc > ${NR_2M}`,
      `echo -1 > ${NR_2M}`,
      `echo > ${NR_2M}`,
      "echo 1 > /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
      "cat /proc/nope",
      "frobnicate now",
      `cat ${NR_2M}`,
      "echo 7 > /proc/nope",
    ]);
    const err = r.err.split("\n").filter(Boolean);
    // kstrtoul() takes digits only: "abc", "-1" and a lone newline are EINVAL (22).
    expect(err.slice(0, 3)).toEqual(Array(3).fill("hvo: echo: write error: Invalid argument"));
    // free_hugepages is 0444: opening it for writing fails before any write(2).
    expect(err[3]).toBe(
      "hvo: /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages: Permission denied",
    );
    expect(err[4]).toBe("cat: /proc/nope: No such file or directory");
    expect(err[5]).toMatch(/^hvo: frobnicate: command not found/);
    expect(err[6]).toBe("hvo: /proc/nope: No such file or directory");
    expect(err).toHaveLength(7);
    expect(r.out).toBe("2\n");
    // The exit status is the last command's, as sh's for a script.
    expect(r.status).toBe(1);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  test("--strict stops at the first command that fails", async () => {
    const r = await shell([`echo abc > ${NR_2M}`, "cat /proc/meminfo"], ["--strict"]);
    expect(r.status).toBe(1);
    expect(r.out).toBe("");
  });

  test("exit N ends the session with N; nothing after it runs", async () => {
    const r = await shell(["exit 3", "cat /proc/meminfo"]);
    expect(r.status).toBe(3);
    expect(r.out).toBe("");
  });

  test("ls lists the hstates of the x86_64 preset (2M and, with pdpe1gb, 1G)", async () => {
    const r = await shell(["ls /sys/kernel/mm/hugepages", "ls /proc/meminfo", "ls /nope"]);
    expect(r.out).toBe("hugepages-1048576kB\nhugepages-2048kB\n/proc/meminfo\n");
    expect(r.err).toBe("ls: cannot access '/nope': No such file or directory\n");
  });

  test("ls of an hstate directory lists the attributes of mm/hugetlb_sysfs.c", async () => {
    const r = await shell([
      "ls /sys/kernel/mm/hugepages/hugepages-2048kB",
      "cd /sys/kernel/mm/hugepages/hugepages-1048576kB",
      "ls",
    ]);
    const hstateAttrs = [
      "free_hugepages",
      "nr_hugepages",
      "nr_hugepages_mempolicy",
      "nr_overcommit_hugepages",
      "resv_hugepages",
      "surplus_hugepages",
    ];
    // hstate_demote_attrs (demote, demote_size) exist only where a smaller hstate to demote
    // to exists: the 1G one, not the 2M one.
    expect(r.out).toBe(
      `${[...hstateAttrs, ...["demote", "demote_size", ...hstateAttrs].sort()].join("\n")}\n`,
    );
  });

  test("undo replays the history without its last command", async () => {
    const r = await shell([
      `echo 4 > ${NR_2M}`,
      `echo 6 > ${NR_2M}`,
      `cat ${NR_2M}`,
      "undo",
      `cat ${NR_2M}`,
      "undo",
      `cat ${NR_2M}`,
      "undo",
    ]);
    expect(r.out.split("\n").filter((l) => /^\d+$/.test(l))).toEqual(["6", "4", "0"]);
    expect(r.out).toContain(`undone: echo 6 > ${NR_2M}`);
    expect(r.err).toBe("hvo: undo: nothing to undo\n");
  });

  test("design NAME replays the history: same pool, the design's own vmemmap", async () => {
    // One 2M folio with HVO on; its struct page 64 starts vmemmap page 1 (64 struct pages of
    // 64 bytes per 4 KiB page). Legacy maps that page onto the head page, so it reads as a head
    // (a fake head); seed and mainline map a page of tails there.
    const r = await shell([
      `echo 1 > ${HVO}`,
      `echo 1 > ${NR_2M}`,
      "map a 2M 1",
      "report",
      "design legacy",
      "cat /proc/meminfo",
      "report",
    ]);
    expect(r.err).toBe("");
    expect(r.out).toContain("design legacy: 3 commands replayed (was mainline)");
    expect(totals(r.out)).toEqual([1]);
    const heads = [...r.out.matchAll(/folio at pfn (0x[0-9a-f]+)/g)].map((m) => m[1]);
    expect(heads).toHaveLength(2);
    const inspect = async (design: string) => {
      const x = await shell(
        [
          `echo 1 > ${HVO}`,
          `echo 1 > ${NR_2M}`,
          "map a 2M 1",
          `inspect --json ${Number(heads[1]) + 64}`,
        ],
        ["--design", design],
      );
      return JSON.parse(x.out.slice(x.out.indexOf("{"))) as { fake_head: boolean };
    };
    expect((await inspect("legacy")).fake_head).toBe(true);
    expect((await inspect("mainline")).fake_head).toBe(false);
    expect(r.out).toMatch(/design legacy, hugetlb_optimize_vmemmap 1/);
  });

  test("mappings: a mapped, touched page leaves the free count; release gives it back", async () => {
    const r = await shell([
      `echo 3 > ${NR_2M}`,
      "map a 2M 2",
      `cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages`,
      "map a 2M 1",
      "release a",
      `cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages`,
      "map",
      'step {"op":"nr","size":"2M","value":5}',
      `cat ${NR_2M}`,
    ]);
    // 3 pages, 2 faulted in: 1 free; after munmap all 3 are free again.
    expect(r.out.split("\n").filter((l) => /^\d+$/.test(l))).toEqual(["1", "3", "5"]);
    expect(r.out).toMatch(/^pfns 0x[0-9a-f]+ 0x[0-9a-f]+, 2 touched$/m);
    expect(r.err).toBe(
      'hvo: map: "a" is mapped already (release it first)\n' +
        "hvo: map: usage: map ID SIZE N [notouch] [noreserve] [shared] [file=PATH] [notrunc]\n",
    );
  });

  test('--cmdline boots with its pages; save writes "reset": false and the hvo run line that replays from them', async () => {
    const file = join(tempDir("hvo-shell-"), "boot.json");
    const r = await shell(
      [`echo 3 > ${NR_2M}`, "cat /proc/meminfo", `save ${file}`],
      ["--cmdline", "hugepages=2"],
    );
    // hugepages=2 without hugepagesz= is 2 pages of the default size (2M on x86_64).
    expect(r.err).toBe("");
    expect(r.out).toContain(
      `(hvo run ${file} --cmdline hugepages=2 --design mainline replays them, from the boot: 2 pages in hugepages-2048kB)`,
    );
    const saved = JSON.parse(readFileSync(file, "utf8"));
    expect(saved.scenarios[0].reset).toBe(false);
    // The replay starts from the 2 boot-time pages, as the session did, and grows to 3.
    const io = captureIo();
    expect(await main(["run", file, "--cmdline", "hugepages=2", "--json"], io)).toBe(0);
    const sc = JSON.parse(io.stdout()).scenarios.shell;
    expect([sc.initial.HugePages_Total, sc.steps[0].after.HugePages_Total]).toEqual([2, 3]);
  });

  test("design with a bad name says which designs there are", async () => {
    const r = await shell(["design frob", "design"]);
    expect(r.err).toBe(
      'hvo: design: "frob" is not a design (legacy, seed, mainline, mainline-7.1)\n',
    );
    expect(r.out).toBe("mainline\n");
  });

  test("save writes a scenario that hvo run replays to the same counters", async () => {
    const file = join(tempDir("hvo-shell-"), "session.json");
    const r = await shell([
      `echo 1 > ${HVO}`,
      `echo 3 > ${NR_2M}`,
      "echo 1 > /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages",
      `echo abc > ${NR_2M}`,
      "map a 2M 2",
      `save ${file}`,
      "cat /proc/meminfo",
      "cat /proc/vmstat",
    ]);
    expect(r.out).toContain(`saved 5 steps to ${file}`);
    const saved = JSON.parse(readFileSync(file, "utf8"));
    expect(saved.format).toBe("hvo-scenario/1");
    // echo adds a newline; the refused write is kept with the errno hvo run will report.
    expect(saved.scenarios[0].steps.slice(0, 2)).toEqual([
      { op: "hvo", value: "1\n" },
      { op: "nr", size: "2048kB", value: "3\n" },
    ]);
    const io = captureIo();
    expect(await main(["run", file, "--json"], io)).toBe(0);
    const steps = JSON.parse(io.stdout()).scenarios.shell.steps;
    expect(steps.map((s: { code: string | null }) => s.code)).toEqual([
      null,
      null,
      null,
      "EINVAL",
      null,
    ]);
    const last = steps[4].after;
    const meminfo = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(r.out)?.[1]);
    const vmstat = (key: string) => Number(new RegExp(`^${key} (\\d+)$`, "m").exec(r.out)?.[1]);
    expect(last.HugePages_Total).toBe(3);
    expect(last.HugePages_Free).toBe(meminfo("HugePages_Free"));
    expect(last.MemFree_kB).toBe(meminfo("MemFree"));
    expect(last.nr_memmap_pages).toBe(vmstat("nr_memmap_pages"));
    expect(last.h1G.nr).toBe(1);
  });
});

describe("the shell's parser", () => {
  test("words, quotes and the redirection", () => {
    expect(parseLine(`echo -n "a b" 'c>d' e\\ f >/x`)).toEqual({
      words: ["echo", "-n", "a b", "c>d", "e f"],
      redirect: { path: "/x", append: false },
    });
    expect(parseLine("echo 1 >> /y # note")).toEqual({
      words: ["echo", "1"],
      redirect: { path: "/y", append: true },
    });
  });
  test("a redirection with no file is a syntax error", async () => {
    const r = await shell(["echo 4 >"]);
    expect(r.err).toBe("hvo: syntax error near unexpected token `newline'\n");
    expect(r.status).toBe(2);
  });
});

describe("Tab completion", () => {
  const tree = new Map<string, string[]>([
    ["/", ["proc", "sys"]],
    ["/proc", ["meminfo", "sys"]],
    ["/proc/sys", ["vm"]],
    ["/proc/sys/vm", ["hugetlb_optimize_vmemmap", "nr_hugepages", "nr_hugepages_mempolicy"]],
    ["/sys", ["kernel"]],
    ["/sys/kernel", ["mm"]],
    ["/sys/kernel/mm", ["hugepages"]],
    ["/sys/kernel/mm/hugepages", ["hugepages-1048576kB", "hugepages-2048kB"]],
    ["/sys/kernel/mm/hugepages/hugepages-2048kB", ["free_hugepages", "nr_hugepages"]],
  ]);
  const ctx = (cwd = "/"): CompletionContext => ({
    cwd,
    readdir: (d) => tree.get(d) ?? null,
    isDir: (p) => tree.has(p),
  });

  test("the first word completes to a command", () => {
    expect(complete("ca", ctx())).toEqual([["cat"], "ca"]);
    expect(complete("c", ctx())).toEqual([["cat", "cd", "compare"], "c"]);
    expect(complete("un", ctx())).toEqual([["undo", "unlink"], "un"]);
  });
  test("paths complete against the tree, directories with a slash", () => {
    expect(complete("cat /sys/kernel/mm/hugepages/hugepages-2", ctx())).toEqual([
      ["/sys/kernel/mm/hugepages/hugepages-2048kB/"],
      "/sys/kernel/mm/hugepages/hugepages-2",
    ]);
    expect(complete("echo 4 > /proc/sys/vm/nr_h", ctx())).toEqual([
      ["/proc/sys/vm/nr_hugepages", "/proc/sys/vm/nr_hugepages_mempolicy"],
      "/proc/sys/vm/nr_h",
    ]);
    expect(complete("echo 4 >/proc/sys/vm/h", ctx())[0]).toEqual([
      "/proc/sys/vm/hugetlb_optimize_vmemmap",
    ]);
    expect(complete("ls /nope/x", ctx())).toEqual([[], "/nope/x"]);
  });
  test("relative paths start from the current directory", () => {
    expect(complete("cat n", ctx("/sys/kernel/mm/hugepages/hugepages-2048kB"))).toEqual([
      ["nr_hugepages"],
      "n",
    ]);
    expect(complete("cd kernel/m", ctx("/sys"))).toEqual([["kernel/mm/"], "kernel/m"]);
  });
  test("on a session, paths come from its model's files", () => {
    const sh = new ShellSession(
      { spec: machinePreset("x86_64"), machineArg: "x86_64", design: "mainline" },
      captureIo(),
    );
    const c = completerOf(sh);
    expect(c("cat /sys/kernel/mm/hugepages/hugepages-2")).toEqual([
      ["/sys/kernel/mm/hugepages/hugepages-2048kB/"],
      "/sys/kernel/mm/hugepages/hugepages-2",
    ]);
    expect(c("echo 1 > /proc/sys/vm/hugetlb_")[0]).toEqual([
      "/proc/sys/vm/hugetlb_optimize_vmemmap",
    ]);
    sh.run("cd /proc");
    expect(c("cat mem")[0]).toEqual(["meminfo"]);
  });
  test("design names after design", () => {
    expect(complete("design l", ctx())).toEqual([["legacy"], "l"]);
  });
});

test("as a child process: piped stdin, no prompt, state kept across lines", () => {
  const r = spawnSync(process.execPath, ["bin/hvo.mjs", "shell"], {
    input: `echo 4 > ${NR_2M}\ncat /proc/meminfo\n`,
    encoding: "utf8",
    cwd: join(import.meta.dirname, "../.."),
    env: { ...process.env, HVO_HISTFILE: "" },
  });
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  expect(r.stdout.startsWith("MemTotal:")).toBe(true);
  expect(totals(r.stdout)).toEqual([4]);
});
