// Runs hvo-scenario/1 (docs/FORMAT.md) on a booted model and produces
// hvo-result/1: each step as hvoexec performs it on the live kernel (native/hvoexec.c), the
// FORMAT.md reset before and after every scenario, and the observations of observe() over the
// model's virtual files after the deferred frees have run (the "settled" counters).
// Pure: no Node APIs.

import { EINVAL, ENOENT, ENOMEM, KernelError, errnoName } from "../include/errno.ts";
import type { Model } from "../model.ts";
import type { HugetlbInode } from "../fs/hugetlbfs.ts";
import type { Hstate } from "../mm/hugetlb.ts";
import type { HugetlbMapping } from "../mm/process.ts";
import type {
  After,
  FinalReset,
  KpfPage,
  ResetWrite,
  Result,
  ResultScenario,
  Scenario,
  ScenarioFile,
  Step,
  StepRecord,
} from "./format.ts";
import { RESULT_FORMAT, sizeToKb } from "./names.ts";
import { kmsgLine } from "../kernel/printk.ts";
import { stepText } from "./text.ts";
import { HUGEPAGES_DIR, HVO_SYSCTL, NODE_DIR, delta, observe } from "./observe.ts";
import { type RoleContext, resolveStepRoles, SkippedSteps } from "./roles.ts";

export interface RunModelOptions {
  /** Skip the closing reset (to inspect the files after the scenario). */
  skipFinalReset?: boolean;
  /** Only these scenario ids. */
  only?: readonly string[];
  machine?: string;
  /**
   * Boots a fresh model: a scenario with `reset: false` after the first runs on one, so that it
   * starts from the booted state as on the VM (without it, from the machine as it stands).
   */
  boot?: () => Model;
  /**
   * Told where the run is before each reset and each step that runs ("scale-1g step 2/3 nr 1G
   * value=65000", "scale-1g final reset"): for a progress line.
   */
  onProgress?: (where: string) => void;
}

/** The roles of the model's machine: its arch and the hstates it booted with. */
export function modelRoles(model: Model): RoleContext {
  return {
    arch: model.k.spec.arch,
    hstatesKb: model.pool.hstatesBySize().map((h) => h.sizeKb),
    what: "machine",
  };
}

interface Answer {
  rc: 0 | -1;
  errno: number;
  code: string | null;
  pfns?: (number | null)[];
  touched?: number;
  kpf?: KpfPage[];
}

const OK: Answer = { rc: 0, errno: 0, code: null };

/**
 * The user address space an mmap must fit in: x86_64's TASK_SIZE with 4-level page tables
 * (2^47 less a guard page). A longer mmap finds no room (get_unmapped_area()): ENOMEM. Other
 * architectures' limits differ with their configuration; the model uses this one for all.
 */
const USER_SPACE_BYTES = 2 ** 47 - 4096;

function fail(errno: number): Answer {
  return { rc: -1, errno, code: errnoName(errno) };
}

function sigbus(touched: number): Answer {
  return { rc: -1, errno: 0, code: "SIGBUS", touched };
}

/**
 * A step on a map id the process does not hold (never mapped, its map failed, or released):
 * no system call is made, hvoexec refuses it (FORMAT.md: code NO_SUCH_ID, errno 0).
 */
const NO_SUCH_ID: Answer = { rc: -1, errno: 0, code: "NO_SUCH_ID" };
/** A map step on an id the process still holds: refused, nothing mapped (code ID_IN_USE). */
const ID_IN_USE: Answer = { rc: -1, errno: 0, code: "ID_IN_USE" };

/** One process's state across the steps of a scenario (hvoexec's maps[] and mounts[]). */
export class ModelSession {
  readonly maps = new Map<string, HugetlbMapping | null>();
  /** The unit of each map id's answers: hvoexec reports a pfn per step `size` for `n` steps. */
  private readonly units = new Map<string, { kB: number; n: number }>();
  readonly mounts: string[] = [];
  constructor(readonly model: Model) {}

  private hstateOf(size: string): Hstate | null {
    const kB = sizeToKb(size);
    return kB === null ? null : this.model.pool.hstateByKb(kB);
  }

  private writeAnswer(path: string, value: string | number): Answer {
    try {
      this.model.write(path, String(value));
      return OK;
    } catch (e) {
      if (e instanceof KernelError) return fail(e.errno);
      throw e;
    }
  }

  private hstatePath(size: string, file: string, node?: number): string {
    const kB = sizeToKb(size) ?? 0;
    return node === undefined
      ? `${HUGEPAGES_DIR}/hugepages-${kB}kB/${file}`
      : `${NODE_DIR}/node${node}/hugepages/hugepages-${kB}kB/${file}`;
  }

  private biggestDemotable(): string {
    const hs = this.model.pool.hstatesBySize().filter((h) => h.demoteOrder);
    const h = hs[hs.length - 1] ?? this.model.pool.hstatesBySize().at(-1);
    return `${h?.sizeKb ?? 0}kB`;
  }

  /**
   * The pfn at the start of every step-size unit of the mapping (hvoexec's put_pfns(): the byte
   * at i * size, i < n, from /proc/self/pagemap), null where nothing is mapped. The same as one
   * pfn per folio when the step's size is the file's huge page size.
   */
  private pfnsOf(m: HugetlbMapping, id: string): (number | null)[] {
    const unit = this.units.get(id) ?? { kB: m.inode.h.sizeKb, n: m.n };
    const pageKb = this.model.k.pageSize / 1024;
    const out: (number | null)[] = [];
    for (let i = 0; i < unit.n; i++) {
      const offKb = i * unit.kB;
      const idx = Math.floor(offKb / m.inode.h.sizeKb);
      const head = idx < m.n ? this.model.mm.folioAt(m, idx) : null;
      out.push(head === null ? null : head + (offKb % m.inode.h.sizeKb) / pageKb);
    }
    return out;
  }

  /** Runs one step; the answer hvoexec would give. */
  step(step: Step): Answer {
    const mdl = this.model;
    switch (step.op) {
      case "hvo":
        return this.writeAnswer(HVO_SYSCTL, step.value);
      case "nr":
        return this.writeAnswer(this.hstatePath(step.size, "nr_hugepages"), step.value);
      case "nr_node":
        return this.writeAnswer(
          this.hstatePath(step.size, "nr_hugepages", step.node ?? 0),
          step.value,
        );
      case "nr_mempolicy":
        return this.writeAnswer(this.hstatePath(step.size, "nr_hugepages_mempolicy"), step.value);
      case "overcommit":
        return this.writeAnswer(this.hstatePath(step.size, "nr_overcommit_hugepages"), step.value);
      case "demote":
      case "demote_size": {
        const size = step.size ?? this.biggestDemotable();
        return this.writeAnswer(this.hstatePath(size, step.op), step.value);
      }
      case "write":
        return this.writeAnswer(step.path, step.value);
      case "sysctl":
        return this.writeAnswer(`/proc/sys/vm/${step.name}`, step.value);
      case "map":
        return this.map(step);
      case "touch": {
        const m = this.maps.get(step.id);
        if (m === undefined) return { ...NO_SUCH_ID, touched: 0, pfns: [] };
        if (m === null) return { ...OK, touched: 0, pfns: [] };
        const touched = mdl.mm.touch(m);
        const a = touched < m.n ? sigbus(touched) : { ...OK, touched };
        return { ...a, pfns: this.pfnsOf(m, step.id) };
      }
      case "release": {
        const m = this.maps.get(step.id);
        if (m === undefined) return NO_SUCH_ID;
        this.maps.delete(step.id);
        this.units.delete(step.id);
        if (m) mdl.mm.munmap(m);
        return OK;
      }
      case "populate":
        return this.populate(step.file, step.size, step.n);
      case "mount": {
        try {
          mdl.hugetlbfs.mount(step.dir, step.opts);
          this.mounts.push(step.dir);
          return OK;
        } catch (e) {
          if (e instanceof KernelError) return fail(e.errno);
          throw e;
        }
      }
      case "umount": {
        try {
          mdl.hugetlbfs.umount(step.dir);
          const i = this.mounts.indexOf(step.dir);
          if (i >= 0) this.mounts.splice(i, 1);
          return OK;
        } catch (e) {
          if (e instanceof KernelError) return fail(e.errno);
          throw e;
        }
      }
      case "unlink": {
        try {
          mdl.hugetlbfs.unlink(step.path);
          return OK;
        } catch (e) {
          if (e instanceof KernelError) return fail(e.errno);
          throw e;
        }
      }
      case "kpf":
        return this.kpf(step.size, step.n ?? 1);
    }
  }

  private openFile(file: string): HugetlbInode | Answer {
    const mdl = this.model;
    const ino = mdl.hugetlbfs.openCreate(file);
    if (ino) return ino;
    // Not on a hugetlbfs mount: an ordinary file (tmpfs or disk), nothing HugeTLB sees.
    return OK;
  }

  private map(step: Extract<Step, { op: "map" }>): Answer {
    const mdl = this.model;
    if (this.maps.has(step.id)) return { ...ID_IN_USE, touched: 0, pfns: [] };
    const shared = step.shared === 1 || step.shared === true;
    const noreserve = step.noreserve === 1 || step.noreserve === true;
    const touch = step.touch === undefined || step.touch === 1 || step.touch === true;
    const trunc = step.trunc === undefined || step.trunc === 1 || step.trunc === true;
    let ino: HugetlbInode;
    if (step.file) {
      const r = this.openFile(step.file);
      if (!("sb" in r)) {
        this.maps.set(step.id, null);
        return { ...r, touched: 0, pfns: [] };
      }
      ino = r;
      if (sizeToKb(step.size) !== ino.h.sizeKb) {
        // mmap length is still a multiple of the file's huge page size only by chance; the
        // kernel checks alignment against the file's hstate.
        const hsize = (sizeToKb(step.size) ?? 0) * 1024 * step.n;
        if (hsize % (ino.h.sizeKb * 1024) !== 0) return { ...fail(EINVAL), touched: 0, pfns: [] };
      }
      if (trunc) {
        try {
          mdl.hugetlbfs.truncate(ino, (sizeToKb(step.size) ?? 0) * 1024 * step.n);
        } catch (e) {
          if (e instanceof KernelError) return { ...fail(e.errno), touched: 0, pfns: [] };
          throw e;
        }
      }
    } else {
      const h = this.hstateOf(step.size);
      if (!h) return { ...fail(EINVAL), touched: 0, pfns: [] };
      ino = mdl.hugetlbfs.anonFile(h);
    }
    const hsizeKb = sizeToKb(step.size) ?? 0;
    if (hsizeKb * 1024 * step.n > USER_SPACE_BYTES)
      return { ...fail(ENOMEM), touched: 0, pfns: [] };
    const n = Math.round((hsizeKb * step.n) / ino.h.sizeKb);
    if (n === 0) {
      // mmap of length 0 is not done by hvoexec: nothing mapped.
      this.maps.set(step.id, null);
      return { ...OK, touched: 0, pfns: [] };
    }
    let m: HugetlbMapping;
    try {
      m = mdl.mm.mmap(ino, n, { shared, noreserve });
    } catch (e) {
      if (e instanceof KernelError) return { ...fail(e.errno), touched: 0, pfns: [] };
      throw e;
    }
    this.maps.set(step.id, m);
    this.units.set(step.id, { kB: hsizeKb, n: step.n });
    let touched = 0;
    let a: Answer = OK;
    if (touch) {
      touched = mdl.mm.touch(m);
      if (touched < m.n) a = sigbus(touched);
    }
    return { ...a, touched, pfns: this.pfnsOf(m, step.id) };
  }

  private populate(file: string, size: string, n: number): Answer {
    const mdl = this.model;
    const r = this.openFile(file);
    if (!("sb" in r)) return { ...r, touched: 0 };
    const ino = r;
    const len = (sizeToKb(size) ?? 0) * 1024 * n;
    if (ino.sizeBytes < len) {
      try {
        mdl.hugetlbfs.truncate(ino, len);
      } catch (e) {
        if (e instanceof KernelError) return { ...fail(e.errno), touched: 0 };
        throw e;
      }
    }
    if (len === 0) return { ...OK, touched: 0 };
    // hugetlb_get_unmapped_area(): a length that is not whole huge pages of the file is EINVAL.
    if (len % (ino.h.sizeKb * 1024) !== 0) return { ...fail(EINVAL), touched: 0 };
    if (len > USER_SPACE_BYTES) return { ...fail(ENOMEM), touched: 0 };
    const nPages = len / (ino.h.sizeKb * 1024);
    ino.users++; // the open descriptor
    let m: HugetlbMapping;
    try {
      m = mdl.mm.mmap(ino, nPages, { shared: true, noreserve: false });
    } catch (e) {
      mdl.hugetlbfs.putInode(ino);
      if (e instanceof KernelError) return { ...fail(e.errno), touched: 0 };
      throw e;
    }
    const touched = mdl.mm.touch(m);
    mdl.mm.munmap(m);
    mdl.hugetlbfs.putInode(ino);
    return touched < nPages ? sigbus(touched) : { ...OK, touched };
  }

  private kpf(size: string, n: number): Answer {
    const mdl = this.model;
    const h = this.hstateOf(size);
    if (!h) return { ...fail(EINVAL), kpf: [] };
    if (h.sizeKb * 1024 * n > USER_SPACE_BYTES) return { ...fail(ENOMEM), kpf: [] };
    const ino = mdl.hugetlbfs.anonFile(h);
    let m: HugetlbMapping;
    try {
      m = mdl.mm.mmap(ino, n, { shared: false, noreserve: false });
    } catch (e) {
      if (e instanceof KernelError) return { ...fail(e.errno), kpf: [] };
      throw e;
    }
    const touched = mdl.mm.touch(m);
    if (touched < n) {
      mdl.mm.munmap(m);
      return { ...sigbus(touched * h.nrPages), kpf: [] };
    }
    const pages: KpfPage[] = [];
    for (let i = 0; i < n; i++) {
      const pfn = mdl.mm.folioAt(m, i) as number;
      const flags = mdl.readBinary("/proc/kpageflags", pfn * 8, h.nrPages * 8);
      const counts = mdl.readBinary("/proc/kpagecount", pfn * 8, h.nrPages * 8);
      const fw = words(flags);
      const cw = words(counts);
      pages.push({
        pfn,
        contiguous: true,
        nr: h.nrPages,
        head_flags: fw[0],
        head_count: cw[0],
        flags: rle(fw),
        counts: rle(cw),
      });
    }
    mdl.mm.munmap(m);
    return { ...OK, kpf: pages };
  }

  /** FORMAT.md's reset: release, unmount, overcommit 0, pools 0 (largest first), demote_size, HVO off. */
  reset(): { clean: boolean; writes: ResetWrite[] } {
    const mdl = this.model;
    for (const [id, m] of [...this.maps]) {
      if (m) mdl.mm.munmap(m);
      this.maps.delete(id);
      this.units.delete(id);
    }
    for (const dir of [...mdl.hugetlbfs.allMountDirs()]) {
      try {
        mdl.hugetlbfs.umount(dir);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
      }
    }
    this.mounts.length = 0;
    const writes: ResetWrite[] = [];
    const w = (path: string, value: string) => {
      const a = this.writeAnswer(path, value);
      if (a.rc !== 0) writes.push({ path, rc: a.rc, errno: a.errno, code: a.code });
    };
    const hs = mdl.pool.hstatesBySize();
    for (const h of hs) w(`${HUGEPAGES_DIR}/${h.name}/nr_overcommit_hugepages`, "0");
    for (const h of [...hs].reverse()) w(`${HUGEPAGES_DIR}/${h.name}/nr_hugepages`, "0");
    for (const h of hs) {
      if (!h.demoteOrder) continue;
      const smallest = hs.find(
        (x) => x.order >= mdl.k.spec.arch.defaultHstateOrder && x.order < h.order,
      );
      if (smallest && mdl.vfs.exists(`${HUGEPAGES_DIR}/${h.name}/demote_size`))
        w(
          `${HUGEPAGES_DIR}/${h.name}/demote_size`,
          `${hs.filter((x) => x.order < h.order).at(-1)?.sizeKb ?? smallest.sizeKb}kB`,
        );
    }
    if (mdl.vfs.exists(HVO_SYSCTL)) w(HVO_SYSCTL, "0");
    mdl.settle();
    let clean = true;
    for (const h of hs) if (h.nrHugePages !== 0) clean = false;
    return { clean, writes };
  }
}

function words(b: Uint8Array): number[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: number[] = [];
  for (let i = 0; i < b.byteLength; i += 8) out.push(Number(v.getBigUint64(i, true)));
  return out;
}

function rle(w: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (const x of w) {
    const last = out[out.length - 1];
    if (last && last[0] === x) last[1]++;
    else out.push([x, 1]);
  }
  return out;
}

/** The observation of FORMAT.md over the model's files, after the deferred work settled. */
export function observeModel(model: Model): After {
  model.settle();
  return observe((p) => model.vfs.tryRead(p));
}

/** Runs one scenario: reset, steps with observations, reset (unless skipped). */
export function runScenarioOnModel(
  model: Model,
  scenario: Scenario,
  opts: RunModelOptions = {},
): ResultScenario {
  const s = new ModelSession(model);
  // `reset: false`: the steps start from the machine as it is (as booted, for a fresh model).
  if (scenario.reset !== false) {
    opts.onProgress?.(`${scenario.id} reset`);
    s.reset();
  }
  const initial = observeModel(model);
  let prev = initial;
  const steps: StepRecord[] = [];
  const roles = modelRoles(model);
  const skipped = new SkippedSteps();
  for (const [i, written] of scenario.steps.entries()) {
    // Roles (PMD, PUD, ...) become this machine's sizes; a role it lacks skips the step by name.
    const r = resolveStepRoles(written, roles);
    const why = r.skip ?? skipped.dependsOnSkipped(written);
    skipped.note(written, why);
    if (why !== null) {
      steps.push({
        i,
        step: written,
        rc: 0,
        errno: 0,
        code: null,
        after: prev,
        delta: delta(prev, prev),
        skipped: why,
      });
      continue;
    }
    const step = r.step;
    opts.onProgress?.(
      `${scenario.id} step ${i + 1}/${scenario.steps.length} ${stepText({
        step: written,
        ...(step !== written ? { resolved_step: step } : {}),
      })}`,
    );
    const kmsgSeq = model.k.printk.seq;
    const a = s.step(step);
    const after = observeModel(model);
    const rec: StepRecord = {
      i,
      step: written,
      rc: a.rc,
      errno: a.errno,
      code: a.code,
      after,
      delta: delta(prev, after),
    };
    if (step !== written) rec.resolved_step = step;
    // What the kernel logged during the step (deferred frees included), as /dev/kmsg reads it.
    rec.kmsg = model.k.printk.since(kmsgSeq).map(kmsgLine);
    if (step.op === "map" || step.op === "touch") rec.pfns = a.pfns ?? [];
    if (a.code === "SIGBUS" || step.op === "map" || step.op === "touch" || step.op === "populate")
      rec.touched = a.touched ?? 0;
    if (step.op === "kpf") rec.kpf = a.kpf ?? [];
    steps.push(rec);
    prev = after;
  }
  const out: ResultScenario = { ...(scenario.desc ? { desc: scenario.desc } : {}), initial, steps };
  if (!opts.skipFinalReset) {
    opts.onProgress?.(`${scenario.id} final reset`);
    const post = s.reset();
    const finalAfter = observeModel(model);
    const final_reset: FinalReset = {
      clean: post.clean,
      writes: post.writes,
      after: finalAfter,
      delta: delta(prev, finalAfter),
    };
    out.final_reset = final_reset;
  }
  return out;
}

/** Runs every scenario of a file on one booted model (as `hvo live` runs them on one kernel). */
export function runModel(model: Model, file: ScenarioFile, opts: RunModelOptions = {}): Result {
  const scenarios: Record<string, ResultScenario> = {};
  const list = file.scenarios.filter((s) => !opts.only || opts.only.includes(s.id));
  let current = model;
  list.forEach((sc, idx) => {
    const last = idx === list.length - 1;
    if (sc.reset === false && idx > 0 && opts.boot) current = opts.boot();
    scenarios[sc.id] = runScenarioOnModel(current, sc, {
      ...opts,
      skipFinalReset: opts.skipFinalReset && last,
    });
  });
  return {
    format: RESULT_FORMAT,
    machine: opts.machine ?? model.k.spec.name,
    design: model.k.design,
    scenarios,
  };
}

/** ENOENT-safe read for `hvo cat`. */
export function catFile(model: Model, path: string): string {
  if (!model.vfs.exists(path)) throw new KernelError(ENOENT, path);
  return model.read(path);
}
