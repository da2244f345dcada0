// One `hvo shell` session: a booted model (src/model.ts) that many commands act on, and the
// history of the commands that changed it, as hvo-scenario/1 steps (docs/FORMAT.md). The model
// is deterministic, so `undo` and `design NAME` boot a fresh model and replay the history.
// Writes go through the model's files (src/fs/vfs.ts) as echo's write(2) does; what the
// kernel answers is printed as bash and coreutils print it.

import { dmesgLine } from "../../kernel/printk.ts";
import { writeFileSync } from "node:fs";
import { compareDesigns, formatComparison } from "../../check/compare.ts";
import {
  EACCES,
  EISDIR,
  ENOENT,
  ENOTDIR,
  KernelError,
  Oops,
  strerror,
} from "../../include/errno.ts";
import { DESIGNS, type Design } from "../../kernel.ts";
import type { MachineSpec } from "../../machine/spec.ts";
import { bootModel, isDesign, type Model } from "../../model.ts";
import { UsageErrorLike } from "../../report/errors.ts";
import { formatInspect, inspectPfn, parsePfn } from "../../report/inspect.ts";
import { formatRuns, walkFolioVmemmap } from "../../report/picture.ts";
import { hex } from "../../report/units.ts";
import type { ScenarioFile, Step } from "../../scenario/format.ts";
import { parseScenarioFile, stepSchema } from "../../scenario/format.ts";
import { FormatError, SCENARIO_FORMAT } from "../../scenario/names.ts";
import { HUGEPAGES_DIR, HVO_SYSCTL, NODE_DIR } from "../../scenario/observe.ts";
import { ModelSession, observeModel } from "../../scenario/run_model.ts";
import { canonical } from "../../fs/vfs.ts";
import type { Io } from "../io.ts";
import { oneLine } from "../main.ts";
import { echoText, parseLine, quoteWord, ShellSyntaxError } from "./parse.ts";

/** The shell's own commands, for help and completion. */
export const SHELL_COMMANDS: Record<string, string> = {
  echo: "echo [-n] [-e] VALUE > PATH   write VALUE (and a newline, without -n) to a file",
  cat: "cat PATH...                    print files (/proc/meminfo, .../nr_hugepages, ...)",
  ls: "ls [PATH...]                   list a directory of /proc or /sys",
  dmesg: "dmesg                          print the kernel log (also: cat /dev/kmsg)",
  cd: "cd [PATH]                      change the directory relative paths start from",
  pwd: "pwd                            print that directory",
  map: "map ID SIZE N [notouch] [noreserve] [shared] [file=PATH] [notrunc]   mmap huge pages",
  touch: "touch ID                       fault in every page of a mapping",
  release: "release ID                     munmap a mapping",
  populate: "populate FILE SIZE N           fill a hugetlbfs file (mmap, touch, munmap)",
  mount: "mount DIR [OPTS]               mount hugetlbfs (OPTS as mount -o: pagesize=1G,size=...)",
  umount: "umount DIR                     unmount it",
  unlink: "unlink PATH                    remove a hugetlbfs file",
  step: 'step JSON                      one hvo-scenario/1 step, e.g. step {"op":"demote","value":1}',
  inspect: "inspect [--json] PFN           one struct page, as hvo inspect --pfn prints it",
  report: "report                         the pools and the vmemmap of one folio of each size, now",
  compare: "compare [PFN]                  this session's history on legacy, seed and mainline",
  history: "history                        the commands that changed the model",
  undo: "undo                           forget the last of them (the history is replayed)",
  design:
    "design [NAME]                  replay the history on another design (legacy, seed, mainline, mainline-7.1)",
  save: "save FILE                      write the history as a hvo-scenario/1 file for hvo run",
  help: "help                           this list",
  exit: "exit [N]                       leave (also quit, or end of input)",
  quit: "quit                           leave",
};

/** One command that changed the model: the line as recorded and the step it ran. */
export interface HistoryEntry {
  line: string;
  step: Step;
  /** The kernel's answer when it ran: 0, an errno name, or SIGBUS/NO_SUCH_ID/ID_IN_USE. */
  code: string | null;
}

type Answer = ReturnType<ModelSession["step"]>;

/** What a line did: its exit status, and whether the shell should stop. */
export interface LineResult {
  status: number;
  exit?: boolean;
}

export interface ShellOptions {
  spec: MachineSpec;
  /** --machine as given, for the saved file's description and hvo run's --machine. */
  machineArg: string;
  /** --cmdline as given, for hvo run's --cmdline. */
  cmdlineArg?: string;
  design: Design;
}

/** The paths a write step addresses, as a readable scenario op where one exists. */
export function stepForWrite(path: string, value: string): Step {
  if (path === HVO_SYSCTL) return { op: "hvo", value };
  const sys = /^\/proc\/sys\/vm\/([a-z0-9_]+)$/.exec(path);
  if (sys) return { op: "sysctl", name: sys[1], value };
  const glob = new RegExp(`^${HUGEPAGES_DIR}/hugepages-([1-9][0-9]*)kB/([a-z_]+)$`).exec(path);
  if (glob) {
    const size = `${glob[1]}kB`;
    const ops: Record<string, Step> = {
      nr_hugepages: { op: "nr", size, value },
      nr_hugepages_mempolicy: { op: "nr_mempolicy", size, value },
      nr_overcommit_hugepages: { op: "overcommit", size, value },
      demote: { op: "demote", size, value },
      demote_size: { op: "demote_size", size, value },
    };
    if (glob[2] in ops) return ops[glob[2]];
  }
  const node = new RegExp(
    `^${NODE_DIR}/node(0|[1-9][0-9]*)/hugepages/hugepages-([1-9][0-9]*)kB/nr_hugepages$`,
  ).exec(path);
  if (node) return { op: "nr_node", size: `${node[2]}kB`, node: Number(node[1]), value };
  return { op: "write", path, value };
}

/** Errnos a write meets when opening the file (the path walk, a read-only sysfs mode). */
const OPEN_ERRNOS = new Set([ENOENT, ENOTDIR, EISDIR, EACCES]);

export class ShellSession {
  design: Design;
  model: Model;
  private session: ModelSession;
  readonly history: HistoryEntry[] = [];
  cwd = "/";
  /** What the boot left that hvo run's opening reset would undo (a saved file cannot hold it). */
  private bootState: string[];

  constructor(
    readonly opts: ShellOptions,
    private readonly io: Io,
  ) {
    this.design = opts.design;
    this.model = bootModel(opts.spec, opts.design);
    this.session = new ModelSession(this.model);
    this.bootState = this.nonResetBootState();
  }

  private out(s: string): void {
    this.io.out(s);
  }
  private err(s: string): void {
    this.io.err(`${oneLine(s)}\n`);
  }

  /** Pools or HVO the boot set up (hugepages=, hugetlb_free_vmemmap= on the command line). */
  private nonResetBootState(): string[] {
    const left: string[] = [];
    for (const h of this.model.pool.hstatesBySize())
      if (h.nrHugePages !== 0) left.push(`${h.nrHugePages} pages in ${h.name}`);
    if (this.model.vmemmap.enabled) left.push("hugetlb_optimize_vmemmap 1");
    return left;
  }

  /** A path as the shell resolves it: relative ones start from the current directory. */
  resolve(path: string): string {
    if (path.startsWith("/")) return path;
    return canonical(`${this.cwd === "/" ? "" : this.cwd}/${path}`);
  }

  /** Runs one line; never throws. */
  run(line: string): LineResult {
    try {
      return this.runLine(line);
    } catch (e) {
      if (e instanceof ShellSyntaxError) {
        this.err(`hvo: ${e.message}`);
        return { status: 2 };
      }
      if (e instanceof Oops) {
        // Like a kernel after an Oops, this model cannot be trusted: boot again and replay the
        // history, which does not hold the command that stopped it.
        this.err(`hvo: the model stopped with ${e.message}; back to the state before that command`);
        this.replay(this.design, [...this.history]);
        return { status: 3 };
      }
      if (e instanceof KernelError || e instanceof UsageErrorLike || e instanceof FormatError) {
        this.err(`hvo: ${e.message}`);
        return { status: 1 };
      }
      this.err(`hvo: internal error: ${(e as Error)?.message ?? String(e)}`);
      return { status: 70 };
    }
  }

  private runLine(line: string): LineResult {
    // A step's JSON is taken as typed: shell quoting would eat its double quotes.
    const json = /^\s*step\s+(\{.*\})\s*$/.exec(line);
    if (json) return this.userStep("step", [json[1]]);
    const { words, redirect } = parseLine(line);
    if (words.length === 0) {
      if (redirect) return this.write(redirect.path, "", line);
      return { status: 0 };
    }
    const [cmd, ...args] = words;
    if (redirect && cmd !== "echo") {
      this.err(`hvo: ${cmd}: only echo writes to a file here`);
      return { status: 2 };
    }
    switch (cmd) {
      case "echo": {
        const text = echoText(args);
        if (!redirect) {
          this.out(text);
          return { status: 0 };
        }
        const shown = [
          cmd,
          ...args.map(quoteWord),
          redirect.append ? ">>" : ">",
          quoteWord(this.resolve(redirect.path)),
        ];
        return this.write(redirect.path, text, shown.join(" "));
      }
      case "cat":
        return this.cat(args);
      case "ls":
        return this.ls(args);
      case "dmesg":
        for (const r of this.model.k.printk.records()) this.out(`${dmesgLine(r)}\n`);
        return { status: 0 };
      case "cd":
        return this.cd(args);
      case "pwd":
        this.out(`${this.cwd}\n`);
        return { status: 0 };
      case "map":
      case "touch":
      case "release":
      case "populate":
      case "mount":
      case "umount":
      case "unlink":
      case "step":
        return this.userStep(cmd, args);
      case "inspect":
        return this.inspect(args);
      case "report":
        return this.report();
      case "compare":
        return this.compare(args);
      case "history":
        for (const [i, h] of this.history.entries())
          this.out(`${String(i + 1).padStart(4)}  ${h.line}${h.code ? `   # ${h.code}` : ""}\n`);
        return { status: 0 };
      case "undo":
        return this.undo();
      case "design":
        return this.switchDesign(args);
      case "save":
        return this.save(args);
      case "help":
        this.out(
          `${Object.values(SHELL_COMMANDS)
            .map((s) => `  ${s}`)
            .join(
              "\n",
            )}\nPaths complete with Tab; relative paths start from the current directory (cd).\n`,
        );
        return { status: 0 };
      case "exit":
      case "quit": {
        const n = args[0] === undefined ? 0 : Number(args[0]);
        if (!Number.isInteger(n) || n < 0 || n > 255) {
          this.err(`hvo: exit: ${args[0]}: numeric argument required`);
          return { status: 2, exit: true };
        }
        return { status: n, exit: true };
      }
      default:
        this.err(`hvo: ${cmd}: command not found (help lists the commands)`);
        return { status: 127 };
    }
  }

  // ------------------------------------------------------------------ changing the model

  /**
   * Runs a step on the model and records it, unless it never reached the kernel: an open(2)
   * that failed (no such file, a directory, a read-only sysfs file), or a map id hvoexec
   * refuses before any system call. A write the kernel refused is kept: it is part of what
   * happened, and a scenario can assert it (demote can fail after demoting some pages).
   */
  private apply(line: string, step: Step): Answer {
    const a = this.session.step(step);
    const writes = !["map", "touch", "release", "populate", "mount", "umount", "unlink"].includes(
      step.op,
    );
    const noCall = a.code === "NO_SUCH_ID" || a.code === "ID_IN_USE";
    if (!noCall && !(writes && a.rc !== 0 && OPEN_ERRNOS.has(a.errno)))
      this.history.push({ line, step, code: a.code });
    return a;
  }

  private write(path: string, text: string, line: string): LineResult {
    const abs = this.resolve(path);
    const a = this.apply(line, stepForWrite(abs, text));
    if (a.rc === 0) return { status: 0 };
    if (OPEN_ERRNOS.has(a.errno)) this.err(`hvo: ${path}: ${strerror(a.errno)}`);
    else this.err(`hvo: echo: write error: ${strerror(a.errno)}`);
    return { status: 1 };
  }

  private userStep(cmd: string, args: string[]): LineResult {
    let raw: Record<string, unknown>;
    if (cmd === "step") {
      try {
        raw = JSON.parse(args.join(" ")) as Record<string, unknown>;
      } catch {
        this.err(`hvo: step: "${args.join(" ")}" is not JSON (a hvo-scenario/1 step)`);
        return { status: 2 };
      }
    } else {
      const needed: Record<string, number> = { map: 3, populate: 3, mount: 1 };
      const want = needed[cmd] ?? 1;
      if (args.length < want || (want === 1 && cmd !== "mount" && args.length > 1)) {
        this.err(`hvo: ${cmd}: usage: ${SHELL_COMMANDS[cmd].split("  ")[0]}`);
        return { status: 2 };
      }
      const abs = (p: string | undefined) => (p === undefined ? p : this.resolve(p));
      const n = (s: string | undefined) => (s !== undefined && /^[0-9]+$/.test(s) ? Number(s) : s);
      switch (cmd) {
        case "map": {
          raw = { op: "map", id: args[0], size: args[1], n: n(args[2]) };
          for (const f of args.slice(3)) {
            if (f === "notouch") raw.touch = 0;
            else if (f === "noreserve" || f === "shared") raw[f] = 1;
            else if (f === "notrunc") raw.trunc = 0;
            else if (f.startsWith("file=")) raw.file = abs(f.slice(5));
            else {
              this.err(
                `hvo: map: unknown flag "${f}" (notouch, noreserve, shared, file=PATH, notrunc)`,
              );
              return { status: 2 };
            }
          }
          break;
        }
        case "touch":
        case "release":
          raw = { op: cmd, id: args[0] };
          break;
        case "populate":
          raw = { op: cmd, file: abs(args[0]), size: args[1], n: n(args[2]) };
          break;
        case "mount":
          raw = { op: cmd, dir: abs(args[0]), ...(args[1] ? { opts: args[1] } : {}) };
          break;
        case "umount":
          raw = { op: cmd, dir: abs(args[0]) };
          break;
        default:
          raw = { op: cmd, path: abs(args[0]) };
      }
    }
    const parsed = stepSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.join(".") || "step";
      this.err(
        `hvo: ${cmd}: ${field}: ${issue?.message ?? "not a step"} (usage: ${SHELL_COMMANDS[cmd]?.split("  ")[0] ?? cmd})`,
      );
      return { status: 2 };
    }
    const step = parsed.data;
    if (step.op === "kpf") {
      this.err("hvo: step: kpf is for hvo run (its answer is the flags of every page)");
      return { status: 2 };
    }
    const line =
      cmd === "step" ? `step ${JSON.stringify(step)}` : [cmd, ...args.map(quoteWord)].join(" ");
    const a = this.apply(line, step);
    this.describe(step, a);
    return { status: a.rc === 0 ? 0 : 1 };
  }

  /** Prints what a step did, as a line a user can read. */
  private describe(step: Step, a: Answer): void {
    const name = step.op;
    if (a.code === "NO_SUCH_ID")
      this.err(`hvo: ${name}: no mapping "${"id" in step ? step.id : ""}"`);
    else if (a.code === "ID_IN_USE")
      this.err(
        `hvo: ${name}: "${"id" in step ? step.id : ""}" is mapped already (release it first)`,
      );
    else if (a.code === "SIGBUS")
      this.err(`hvo: ${name}: SIGBUS after ${a.touched ?? 0} pages were touched`);
    else if (a.rc !== 0) {
      const what =
        "path" in step
          ? step.path
          : "dir" in step
            ? step.dir
            : "file" in step
              ? step.file
              : undefined;
      this.err(
        `hvo: ${name}: ${what && OPEN_ERRNOS.has(a.errno) ? `${what}: ` : ""}${strerror(a.errno)}`,
      );
    }
    if (a.pfns?.length) {
      const shown = a.pfns.slice(0, 8).map((p) => (p === null ? "-" : hex(p)));
      this.out(
        `pfns ${shown.join(" ")}${a.pfns.length > 8 ? ` ... (${a.pfns.length})` : ""}${a.touched !== undefined ? `, ${a.touched} touched` : ""}\n`,
      );
    }
  }

  // ------------------------------------------------------------------ reading the model

  private cat(args: string[]): LineResult {
    if (args.length === 0) {
      this.err("hvo: cat: give a file (cat /proc/meminfo)");
      return { status: 2 };
    }
    let status = 0;
    for (const p of args) {
      const abs = this.resolve(p);
      if (abs === "/proc/kpageflags" || abs === "/proc/kpagecount") {
        this.err(
          `cat: ${p}: binary, 8 bytes per pfn (hvo cat ${abs} --pfn START,COUNT prints them)`,
        );
        status = 1;
        continue;
      }
      try {
        this.out(this.model.read(abs));
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        this.err(`cat: ${p}: ${strerror(e.errno)}`);
        status = 1;
      }
    }
    return { status };
  }

  private ls(args: string[]): LineResult {
    const targets = args.length ? args : ["."];
    let status = 0;
    const files: string[] = [];
    const dirs: [string, string[]][] = [];
    for (const p of targets) {
      try {
        dirs.push([p, this.model.vfs.readdir(this.resolve(p))]);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        if (
          e.errno === ENOTDIR &&
          this.model.vfs.exists(this.resolve(p).replace(/\/$/, "")) &&
          !p.endsWith("/")
        )
          files.push(p);
        else {
          this.err(`ls: cannot access '${p}': ${strerror(e.errno)}`);
          status = 2;
        }
      }
    }
    for (const f of files) this.out(`${f}\n`);
    dirs.forEach(([p, names], i) => {
      const many = targets.length > 1;
      if (many) this.out(`${i > 0 || files.length ? "\n" : ""}${p}:\n`);
      for (const n of names) this.out(`${n}\n`);
    });
    return { status };
  }

  private cd(args: string[]): LineResult {
    const target = args[0] ?? "/";
    const abs = canonical(this.resolve(target)).replace(/(.)\/$/, "$1");
    if (this.model.vfs.isDir(abs)) {
      this.cwd = abs;
      return { status: 0 };
    }
    const errno = this.model.vfs.exists(abs) ? ENOTDIR : ENOENT;
    this.err(`hvo: cd: ${target}: ${strerror(errno)}`);
    return { status: 1 };
  }

  private inspect(args: string[]): LineResult {
    const json = args.includes("--json");
    const rest = args.filter((a) => a !== "--json");
    if (rest.length !== 1) {
      this.err("hvo: inspect: give one PFN (decimal, or hex with 0x)");
      return { status: 2 };
    }
    this.model.settle();
    let data: ReturnType<typeof inspectPfn>;
    try {
      data = inspectPfn(this.model.k, parsePfn(rest[0]));
    } catch (e) {
      if (!(e instanceof UsageErrorLike)) throw e;
      this.err(`hvo: inspect: ${e.message.replace(/^--pfn: /, "")}`);
      return { status: 2 };
    }
    this.out(json ? `${JSON.stringify(data, null, 1)}\n` : formatInspect(data));
    return { status: 0 };
  }

  /** The current state: pools, memmap counters, and the vmemmap of one folio of each size. */
  private report(): LineResult {
    const m = this.model;
    const after = observeModel(m);
    const lines: string[] = [];
    lines.push(
      `machine ${this.opts.machineArg}, design ${this.design}, hugetlb_optimize_vmemmap ${after.hvo ?? "-"}, ${this.history.length} commands`,
    );
    lines.push(
      `nr_memmap_pages ${after.nr_memmap_pages}, nr_memmap_boot_pages ${after.nr_memmap_boot_pages}, MemFree ${after.MemFree_kB} kB, PageTables ${after.PageTables_kB} kB`,
    );
    lines.push("");
    lines.push("  hstate               nr    free  surplus   resv");
    for (const h of m.pool.hstatesBySize())
      lines.push(
        `  ${h.name.padEnd(19)}${String(h.nrHugePages).padStart(4)}${String(h.freeHugePages).padStart(8)}${String(h.surplusHugePages).padStart(9)}${String(h.resvHugePages).padStart(7)}`,
      );
    for (const h of m.pool.hstatesBySize()) {
      let head: number | null = null;
      for (const [pfn, f] of m.pool.folios)
        if (f.h === h && (head === null || pfn < head)) head = pfn;
      if (head === null) continue;
      lines.push("");
      lines.push(
        `vmemmap of the ${h.name} folio at pfn ${hex(head)} (struct pages at ${hex(m.k.memmap.vaddrOf(head))}):`,
      );
      lines.push(...formatRuns(walkFolioVmemmap(m.k, head, h.order), "  "));
    }
    lines.push("");
    lines.push("(hvo report --machine ... prices any pool; inspect PFN shows one struct page)");
    this.out(`${lines.join("\n")}\n`);
    return { status: 0 };
  }

  /**
   * The history as a scenario file. A session whose boot left pools or HVO on (hugepages=,
   * hugetlb_free_vmemmap=on) saves `reset: false`: hvo run then starts where this session did.
   */
  scenarioFile(): ScenarioFile {
    return {
      format: SCENARIO_FORMAT,
      scenarios: [
        {
          id: "shell",
          desc: `hvo shell session (--machine ${this.opts.machineArg}${this.opts.spec.cmdline ? `, command line "${this.opts.spec.cmdline}"` : ""}, design ${this.design})`,
          ...(this.bootState.length ? { reset: false } : {}),
          steps: this.history.map((h) => h.step),
        },
      ],
    };
  }

  private compare(args: string[]): LineResult {
    let pfn: number | undefined;
    try {
      if (args[0] !== undefined) pfn = parsePfn(args[0]);
    } catch (e) {
      if (!(e instanceof UsageErrorLike)) throw e;
      this.err(`hvo: compare: ${e.message.replace(/^--pfn: /, "")}`);
      return { status: 2 };
    }
    const cmp = compareDesigns(this.opts.spec, this.scenarioFile(), pfn);
    this.out(`the ${this.history.length} commands of this session on each design:\n`);
    this.out(formatComparison(cmp));
    return { status: 0 };
  }

  // ------------------------------------------------------------------ history

  /** Boots `design` and replays the history; the answers that differ from the recorded ones. */
  private replay(design: Design, entries: readonly HistoryEntry[]): string[] {
    const model = bootModel(this.opts.spec, design);
    const session = new ModelSession(model);
    const changed: string[] = [];
    const replayed: HistoryEntry[] = [];
    entries.forEach((h, i) => {
      const a = session.step(h.step);
      if (a.code !== h.code)
        changed.push(
          `  ${i + 1}: ${h.line}: ${h.code ?? "ok"} on ${this.design}, ${a.code ?? "ok"} on ${design}`,
        );
      replayed.push({ ...h, code: a.code });
    });
    this.model = model;
    this.session = session;
    this.design = design;
    this.history.splice(0, this.history.length, ...replayed);
    return changed;
  }

  private undo(): LineResult {
    const last = this.history.at(-1);
    if (!last) {
      this.err("hvo: undo: nothing to undo");
      return { status: 1 };
    }
    this.replay(this.design, this.history.slice(0, -1));
    this.out(`undone: ${last.line}${last.code ? ` (it had failed: ${last.code})` : ""}\n`);
    return { status: 0 };
  }

  private switchDesign(args: string[]): LineResult {
    const name = args[0];
    if (name === undefined) {
      this.out(`${this.design}\n`);
      return { status: 0 };
    }
    if (!isDesign(name)) {
      this.err(`hvo: design: "${name}" is not a design (${DESIGNS.join(", ")})`);
      return { status: 2 };
    }
    const from = this.design;
    const changed = this.replay(name, this.history);
    this.out(
      `design ${name}: ${this.history.length} command${this.history.length === 1 ? "" : "s"} replayed (was ${from})\n`,
    );
    if (changed.length) this.out(`answers that differ:\n${changed.join("\n")}\n`);
    return { status: 0 };
  }

  private save(args: string[]): LineResult {
    if (args.length !== 1) {
      this.err("hvo: save: give one FILE");
      return { status: 2 };
    }
    const file = this.scenarioFile();
    parseScenarioFile(file); // the steps were checked one by one; the whole must pass too
    try {
      writeFileSync(args[0], `${JSON.stringify(file, null, 2)}\n`);
    } catch (e) {
      const why = (e as Error).message.replace(/^[A-Z]+: /, "").replace(/, open .*$/, "");
      this.err(`hvo: save: cannot write ${args[0]}: ${why}`);
      return { status: 1 };
    }
    this.out(
      `saved ${this.history.length} steps to ${args[0]} (hvo run ${quoteWord(args[0])}${this.opts.machineArg === "x86_64" ? "" : ` --machine ${quoteWord(this.opts.machineArg)}`}${this.opts.cmdlineArg ? ` --cmdline ${quoteWord(this.opts.cmdlineArg)}` : ""} --design ${this.design} replays them${this.bootState.length ? `, from the boot: ${this.bootState.join(", ")}` : ""})\n`,
    );
    return { status: 0 };
  }
}
