// `hvo --help`, `hvo X --help` and a usage error start without loading the model: the command
// definitions (src/cli/register/) are light and each command loads its work when it runs. A
// child process runs bin/hvo.mjs (dist/ while it is fresh, the sources through tsx otherwise)
// with module hooks that log every module it loads; the test names the modules that must not
// be among them. It says nothing of time: the startup bench measures that.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { tempDir } from "../tmp.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin/hvo.mjs");
const HOOKS = pathToFileURL(join(ROOT, "test/cli/loaded_modules.mjs")).href;
const dir = tempDir("hvo-light-");

/** The subcommands hvo has (as its --help lists them). */
const COMMANDS = [
  "report",
  "inspect",
  "live",
  "vm",
  "run",
  "cat",
  "write",
  "shell",
  "diff",
  "check",
  "compare",
  "matrix",
  "web",
];

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  /** What the process loaded, as paths under the project (src/..., dist/..., node_modules/...). */
  loaded: string[];
}

let runs = 0;
function hvo(args: string[]): Promise<Ran> {
  const log = join(dir, `loaded-${runs++}.txt`);
  writeFileSync(log, "");
  const register = `import { register } from "node:module"; register(${JSON.stringify(HOOKS)});`;
  const child = spawn(
    process.execPath,
    ["--import", `data:text/javascript,${encodeURIComponent(register)}`, BIN, ...args],
    { env: { ...process.env, HVO_LOADED_LOG: log }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += String(d);
  });
  child.stderr.on("data", (d) => {
    stderr += String(d);
  });
  return new Promise((done) =>
    child.on("close", (status) => {
      const root = pathToFileURL(ROOT).href.replace(/\/?$/, "/");
      const loaded = readFileSync(log, "utf8")
        .split("\n")
        .filter((u) => u.startsWith(root))
        .map((u) => u.slice(root.length).replace(/\?.*$/, ""));
      done({ status, stdout, stderr, loaded });
    }),
  );
}

/**
 * Modules a help text or a usage error has no use for, each costly to load: the model (the
 * Kernel, the Model, mm/ but for the design facts, which import nothing), the commands' work
 * (src/cli/commands/), the machine file parser, and zod, yaml and fast-check.
 */
function heavy(loaded: string[]): string[] {
  return loaded.filter(
    (p) =>
      /^(src|dist)\/(kernel|model)\.[jt]s$/.test(p) ||
      (/^(src|dist)\/mm\//.test(p) && !/\/mm\/hvo_designs\.[jt]s$/.test(p)) ||
      /^(src|dist)\/(cli\/commands|scenario|live|report)\//.test(p) ||
      /^(src|dist)\/machine\/load\.[jt]s$/.test(p) ||
      /^node_modules\/(zod|yaml|fast-check)\//.test(p),
  );
}

/** The run went through the CLI's own modules (the hooks saw them). */
function sawCli(r: Ran): boolean {
  return r.loaded.some((p) => /^(src|dist)\/cli\/main\.[jt]s$/.test(p));
}

describe("hvo starts light when it only prints help or a usage error", () => {
  it("hvo --help lists every command and loads no model", async () => {
    const r = await hvo(["--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: hvo /);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`\\n  ${c} `));
    expect(sawCli(r)).toBe(true);
    expect(heavy(r.loaded)).toEqual([]);
  });

  it("hvo X --help and hvo help X print X's options (the model's facts among them) without it", async () => {
    const all: Ran[] = [];
    // Two commands (four processes) at a time: the machine may be running other tests.
    for (let i = 0; i < COMMANDS.length; i += 2)
      all.push(
        ...(await Promise.all(
          COMMANDS.slice(i, i + 2).flatMap((c) => [hvo([c, "--help"]), hvo(["help", c])]),
        )),
      );
    for (const [i, r] of all.entries()) {
      const c = COMMANDS[i >> 1];
      expect(r.status, c).toBe(0);
      expect(r.stdout, c).toMatch(new RegExp(`^Usage: hvo ${c} `));
      expect(sawCli(r), c).toBe(true);
      expect(heavy(r.loaded), c).toEqual([]);
    }
    // Help texts built from the model's lists: the designs, the mutations, the presets.
    const run = all[COMMANDS.indexOf("run") * 2].stdout;
    expect(run).toMatch(/legacy, seed, mainline/);
    expect(run).toMatch(/skip-tlb-flush/);
    const check = all[COMMANDS.indexOf("check") * 2].stdout;
    expect(check).toMatch(/x86_64, arm64/);
  });

  it("a usage error is reported, with status 2, before any model is loaded", async () => {
    for (const args of [["--bogus"], ["report", "--bogus"], ["run"], ["nosuchcommand"]]) {
      const r = await hvo(args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(/^error: /);
      expect(sawCli(r), args.join(" ")).toBe(true);
      expect(heavy(r.loaded), args.join(" ")).toEqual([]);
    }
  });

  it("hvo --version prints package.json's version, loading no model", async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    for (const flag of ["--version", "-V"]) {
      const r = await hvo([flag]);
      expect(r.status, flag).toBe(0);
      expect(r.stdout, flag).toBe(`${version}\n`);
      expect(heavy(r.loaded), flag).toEqual([]);
    }
  });

  it("a model command given no file loads neither parser (zod, yaml); given one, it loads that one's", async () => {
    const parsers = (r: Ran) =>
      r.loaded.filter((p) => /^node_modules\/(zod|yaml)\//.test(p)).map((p) => p.split("/")[1]);
    const runs: [string[], string[]][] = [
      [["report", "--no-measure"], []],
      [["cat", "/proc/meminfo"], []],
      [["write", "/proc/sys/vm/nr_hugepages", "1"], []],
      [["inspect", "--pfn", "0x1000"], []],
      // A machine file: yaml and the machine schema's zod; a scenario file: the format's zod.
      [
        [
          "cat",
          "/proc/meminfo",
          "--machine",
          join(ROOT, "scenarios/machines/x86_64-la57-128G.yaml"),
        ],
        ["yaml", "zod"],
      ],
      [["cat", "/proc/meminfo", "--after", join(ROOT, "scenarios/suite.json")], ["zod"]],
    ];
    for (const [args, want] of runs) {
      const r = await hvo(args);
      expect(r.status, args.join(" ")).toBe(0);
      expect([...new Set(parsers(r))].sort(), args.join(" ")).toEqual(want);
    }
  });

  it("a command that runs loads its work (the hooks see what a command imports when it runs)", async () => {
    const r = await hvo(["run", join(dir, "no-such-scenario.json")]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot read scenario file/);
    expect(r.loaded.some((p) => /^(src|dist)\/cli\/commands\/run\.[jt]s$/.test(p))).toBe(true);
    expect(r.loaded.some((p) => /^(src|dist)\/kernel\.[jt]s$/.test(p))).toBe(true);
  });
});
