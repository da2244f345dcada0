// Comparing runs: a result against a recording (the live kernel's word), or two results, on
// the fields docs/FORMAT.md calls exact. No kernel file mirrored here.
//
// Field names are the flat names of flattenAfter() ("h1G.nr", "HugePages_Free"), "rc",
// "errno", "code", and "d_<field>" for a delta field ("d_memmap_sum"), which is how the
// recordings' `nondeterministic` lists name them.
import type {
  After,
  Nondeterministic,
  RecordedScenario,
  Recording,
  Result,
  StepRecord,
} from "./format.ts";
import { flattenAfter } from "./observe.ts";

export interface Difference {
  scenario: string;
  /** The step's index; null for the scenario as a whole (missing, different step count). */
  step: number | null;
  field: string;
  expected: unknown;
  actual: unknown;
}

/** The observation fields that must match exactly (besides every h<size>.* field). */
export const EXACT_AFTER_FIELDS: readonly string[] = [
  "hvo",
  "HugePages_Total",
  "HugePages_Free",
  "HugePages_Rsvd",
  "HugePages_Surp",
  "Hugetlb_kB",
];

/** The exact fields of one step record, by their flat names, in a stable order. */
export function exactFields(rec: Pick<StepRecord, "rc" | "errno" | "code" | "after" | "delta">) {
  const out: Record<string, unknown> = { rc: rec.rc, errno: rec.errno, code: rec.code };
  const flat = flattenAfter(rec.after);
  for (const f of EXACT_AFTER_FIELDS) out[f] = flat[f];
  for (const [k, v] of Object.entries(flat)) if (/^h[1-9][0-9]*[KMG]\./.test(k)) out[k] = v;
  out.d_memmap_sum = rec.delta.memmap_sum;
  return out;
}

/** Every field name a nondeterministic list might use for the same thing as `field`. */
function aliases(field: string): string[] {
  const out = [field];
  const h = /^(h[1-9][0-9]*[KMG])\.(.+)$/.exec(field);
  if (h) {
    out.push(h[1], `${h[1]}_${h[2]}`, `after.${field}`);
    // A pool whose size varied also varies its delta.
    if (h[2] === "nr") out.push(`d_nr${h[1].slice(1)}`);
  } else if (field.startsWith("d_")) {
    out.push(`delta.${field.slice(2)}`);
  } else {
    out.push(`after.${field}`);
  }
  return out;
}

/** The fields the recording lists as nondeterministic for step `i` (in any round). */
export function nondeterministicFields(
  scenario: Pick<RecordedScenario, "nondeterministic"> | undefined,
  i: number,
): Set<string> {
  const out = new Set<string>();
  for (const nd of scenario?.nondeterministic ?? ([] as Nondeterministic[]))
    if (nd.step === i) for (const f of nd.fields) out.add(f);
  return out;
}

function skipped(field: string, nondet: Set<string>): boolean {
  return aliases(field).some((a) => nondet.has(a));
}

function same(a: unknown, b: unknown): boolean {
  return a === b || (a === undefined && b === null) || (a === null && b === undefined);
}

/** A step left out of a comparison: one side did not run it, or ran on from another state. */
export interface SkippedStep {
  scenario: string;
  step: number;
  reason: string;
}

/** What a comparison found: the differences, and the steps it could not compare, by name. */
export interface Comparison {
  diffs: Difference[];
  skipped: SkippedStep[];
}

// ------------------------------------------------------------------ kernel log headlines

/**
 * The first line of each kernel report a comparison holds: BUG (a "Bad page state" too),
 * WARNING, "kernel BUG at", Oops. Not "BUG: Bad page state: N messages suppressed": when it
 * appears depends on the wall clock (bad_page()'s one-minute window).
 */
const HEADLINE_RE = /^(BUG: |WARNING: |kernel BUG at |Oops: )/;
const NOT_HEADLINE_RE = /^BUG: Bad page state: \d+ messages suppressed/;

/**
 * A headline with what differs from run to run and machine to machine replaced by `*`:
 * the process after "in process " (hvoexec on the model and the VM, a kworker when the free
 * was deferred), pfns ("pfn:100040"), CPU and PID numbers, source line numbers
 * ("mm/hugetlb_vmemmap.c:512"), code offsets ("+0x1c/0x80"), and hex numbers and addresses.
 */
export function normaliseHeadline(text: string): string {
  return text
    .replace(/in process \S+/, "in process *")
    .replace(/pfn:(0x)?[0-9a-f]+/g, "pfn:*")
    .replace(/\b(CPU|PID): \d+/g, "$1: *")
    .replace(/(\.[ch]):\d+/g, "$1:*")
    .replace(/\+0x[0-9a-f]+\/0x[0-9a-f]+/g, "+*")
    .replace(/\b0x[0-9a-f]+\b/g, "0x*")
    .replace(/\b[0-9a-f]{8,16}\b/g, "*")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * The distinct normalised headlines of a step's kernel log lines (/dev/kmsg form, or plain
 * text), sorted: a set, because how many of a burst are shown depends on bad_page()'s rate
 * limit (60 a minute) and on what earlier steps printed.
 */
export function kmsgHeadlines(lines: readonly string[]): string[] {
  const out = new Set<string>();
  for (const line of lines) {
    const semi = /^\d+,\d+,\d+,[^;]*;/.exec(line);
    const text = semi ? line.slice(semi[0].length) : line;
    if (HEADLINE_RE.test(text) && !NOT_HEADLINE_RE.test(text)) out.add(normaliseHeadline(text));
  }
  return [...out].sort();
}

/**
 * How far a real kernel's MemFree change may be from the model's on a step that frees huge
 * pages: 200 MiB, or 15% of the huge page memory freed when that is more. Measured on Linux
 * 7.2 under QEMU (vm-7.2.recording.json, 63 freeing steps x 3 rounds): freed 2M pages wait on
 * the per-cpu page lists (order 9 has its own list with THP), which MemFree does not count,
 * until a later free drains them: S01 step 4 frees 319 488 kB and MemFree rises 270 336 kB
 * (202 752 kB in the recording before this one, whose next step then rose 237 568 kB for
 * 204 800 kB freed); the largest such gap was 195 212 kB
 * (S20, 2 GB of 2M pages freed). 1G pages bypass those lists (gaps under 35 MB). The live host
 * moves by up to 281 MB on a 13 MB step (other processes: suite.recording.json L06), so live
 * comparisons leave MemFree out. What it catches: a step that should give memory back and does
 * not (docs/findings.md 5: +2 064 392 kB expected, -40 056 kB seen).
 */
export function memFreeToleranceKb(freedKb: number): number {
  return Math.max(200 * 1024, Math.round(0.15 * Math.abs(freedKb)));
}

/** Whether a step freed huge pages: Hugetlb_kB fell and no pool grew (a demote moves pages). */
function freesHugePages(rec: Pick<StepRecord, "delta">): boolean {
  const d = rec.delta;
  if (d.Hugetlb_kB === null || d.Hugetlb_kB >= 0) return false;
  for (const [k, v] of Object.entries(d))
    if (/^nr[1-9][0-9]*[KMG]$/.test(k) && typeof v === "number" && v > 0) return false;
  return true;
}

export interface StepsCompareOptions {
  /**
   * Compare MemFree_kB changes on steps that free huge pages, within memFreeToleranceKb() of
   * the expected side's huge pages freed (VM runs; the live host is too noisy).
   */
  memFree?: boolean;
  /** The fields to skip at step i (a recording's nondeterministic lists). */
  nondet?: (i: number) => Set<string>;
  /** Hstate names ("1G") one side's machine lacks: their fields are not compared. */
  absent?: ReadonlySet<string>;
  /** The observations before step 0, to tell whether a skipped step 0 changed anything. */
  expectedInitial?: After;
  actualInitial?: After;
}

/** Whether `field` belongs to an hstate in `absent` ("h1G.nr", "d_nr1G"). */
function ofAbsentHstate(field: string, absent: ReadonlySet<string>): boolean {
  const m = /^(?:h|d_nr)([1-9][0-9]*[KMG])(?:\.|$)/.exec(field);
  return m !== null && absent.has(m[1]);
}

/** The exact observation fields of `after` (no rc, errno, delta), leaving out absent hstates. */
function exactState(after: After, absent: ReadonlySet<string>): string {
  const flat = flattenAfter(after);
  const out: Record<string, unknown> = {};
  for (const f of EXACT_AFTER_FIELDS) out[f] = flat[f];
  for (const [k, v] of Object.entries(flat))
    if (/^h[1-9][0-9]*[KMG]\./.test(k) && !ofAbsentHstate(k, absent)) out[k] = v;
  return JSON.stringify(out);
}

/**
 * Compares two step lists of one scenario. A step one side skipped (`skipped`: it needs an
 * hstate that machine lacks) is not compared but named; when the side that ran it changed an
 * exact field, the two machines are in different states from there on and the scenario's
 * later steps are named as skipped too.
 */
export function compareStepsDetailed(
  scenario: string,
  expected: readonly StepRecord[],
  actual: readonly StepRecord[],
  opts: StepsCompareOptions = {},
): Comparison {
  const nondet = opts.nondet ?? (() => new Set<string>());
  const absent = opts.absent ?? new Set<string>();
  const diffs: Difference[] = [];
  const skippedSteps: SkippedStep[] = [];
  let diverged: string | null = null;
  if (expected.length !== actual.length)
    diffs.push({
      scenario,
      step: null,
      field: "steps.length",
      expected: expected.length,
      actual: actual.length,
    });
  const n = Math.min(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    const e = expected[i];
    const a = actual[i];
    if (JSON.stringify(e.step) !== JSON.stringify(a.step)) {
      diffs.push({ scenario, step: i, field: "step", expected: e.step, actual: a.step });
      continue;
    }
    if (diverged !== null) {
      skippedSteps.push({ scenario, step: i, reason: diverged });
      continue;
    }
    if (e.skipped !== undefined || a.skipped !== undefined) {
      const reason = (a.skipped ?? e.skipped) as string;
      skippedSteps.push({ scenario, step: i, reason });
      // The side that ran the step: did it change what the other side would have seen?
      for (const [ran, list, initial] of [
        [e, expected, opts.expectedInitial],
        [a, actual, opts.actualInitial],
      ] as const) {
        if (ran.skipped !== undefined) continue;
        const before = i > 0 ? list[i - 1].after : initial;
        if (!before || exactState(before, absent) !== exactState(ran.after, absent))
          diverged = `step ${i} was skipped (${reason}) and changed the pools where it ran`;
      }
      continue;
    }
    const skip = nondet(i);
    const ef = exactFields(e);
    const af = exactFields(a);
    for (const field of new Set([...Object.keys(ef), ...Object.keys(af)])) {
      if (skipped(field, skip) || ofAbsentHstate(field, absent)) continue;
      if (!same(ef[field], af[field]))
        diffs.push({ scenario, step: i, field, expected: ef[field], actual: af[field] });
    }
    // The kernel's reports, when both sides recorded the log (older files did not: absent is
    // not compared).
    if (Array.isArray(e.kmsg) && Array.isArray(a.kmsg) && !skipped("kmsg", skip)) {
      const eh = kmsgHeadlines(e.kmsg);
      const ah = kmsgHeadlines(a.kmsg);
      if (JSON.stringify(eh) !== JSON.stringify(ah))
        diffs.push({ scenario, step: i, field: "kmsg.headlines", expected: eh, actual: ah });
    }
    if (opts.memFree && freesHugePages(e) && !skipped("d_MemFree_kB", skip)) {
      const em = e.delta.MemFree_kB;
      const am = a.delta.MemFree_kB;
      const tol = memFreeToleranceKb(e.delta.Hugetlb_kB ?? 0);
      if (em !== null && am !== null && Math.abs(em - am) > tol)
        diffs.push({
          scenario,
          step: i,
          field: `d_MemFree_kB (tolerance ${tol})`,
          expected: em,
          actual: am,
        });
    }
  }
  return { diffs, skipped: skippedSteps };
}

/** Compares two step lists of one scenario; `nondet(i)` names the fields to skip at step i. */
export function compareSteps(
  scenario: string,
  expected: readonly StepRecord[],
  actual: readonly StepRecord[],
  nondet: (i: number) => Set<string> = () => new Set(),
): Difference[] {
  return compareStepsDetailed(scenario, expected, actual, { nondet }).diffs;
}

/** The hstates either document says its machine lacks. */
function absentOf(...docs: ({ absent_hstates?: unknown } | undefined)[]): Set<string> {
  const out = new Set<string>();
  for (const d of docs)
    if (Array.isArray(d?.absent_hstates))
      for (const h of d.absent_hstates) if (typeof h === "string") out.add(h);
  return out;
}

export interface CompareOptions {
  /** Which recorded round is "expected" (default 0; exact fields agree across rounds). */
  round?: number;
  /** Only these scenarios. */
  scenarios?: readonly string[];
  /** Report scenarios of `actual` that `expected` does not have (default true). */
  reportMissing?: boolean;
  /** Compare MemFree changes of freeing steps within memFreeToleranceKb() (VM runs). */
  memFree?: boolean;
}

/** A result (model or live) against a live recording, skipping its nondeterministic fields. */
export function compareToRecording(
  recording: Pick<Recording, "scenarios"> & { absent_hstates?: unknown },
  result: Pick<Result, "scenarios" | "absent_hstates">,
  opts: CompareOptions = {},
): Difference[] {
  return compareToRecordingDetailed(recording, result, opts).diffs;
}

/** compareToRecording, with the steps it skipped named. */
export function compareToRecordingDetailed(
  recording: Pick<Recording, "scenarios"> & { absent_hstates?: unknown },
  result: Pick<Result, "scenarios" | "absent_hstates">,
  opts: CompareOptions = {},
): Comparison {
  const absent = absentOf(recording, result);
  const diffs: Difference[] = [];
  const skippedSteps: SkippedStep[] = [];
  for (const [id, res] of Object.entries(result.scenarios)) {
    if (opts.scenarios && !opts.scenarios.includes(id)) continue;
    const rec = recording.scenarios[id];
    if (!rec) {
      if (opts.reportMissing ?? true)
        diffs.push({ scenario: id, step: null, field: "scenario", expected: null, actual: id });
      continue;
    }
    const run = rec.runs[opts.round ?? 0] ?? rec.runs[0];
    const c = compareStepsDetailed(id, run.steps, res.steps, {
      nondet: (i) => nondeterministicFields(rec, i),
      absent,
      expectedInitial: run.initial,
      actualInitial: res.initial,
      memFree: opts.memFree,
    });
    diffs.push(...c.diffs);
    skippedSteps.push(...c.skipped);
  }
  return { diffs, skipped: skippedSteps };
}

/**
 * Two results (model against model, live against model). `nondeterministic`, when given, is a
 * recording whose nondeterministic lists say what to skip.
 */
export function compareResults(
  expected: Pick<Result, "scenarios" | "absent_hstates">,
  actual: Pick<Result, "scenarios" | "absent_hstates">,
  opts: CompareOptions & { nondeterministic?: Pick<Recording, "scenarios"> } = {},
): Difference[] {
  return compareResultsDetailed(expected, actual, opts).diffs;
}

/** compareResults, with the steps it skipped named. */
export function compareResultsDetailed(
  expected: Pick<Result, "scenarios" | "absent_hstates">,
  actual: Pick<Result, "scenarios" | "absent_hstates">,
  opts: CompareOptions & { nondeterministic?: Pick<Recording, "scenarios"> } = {},
): Comparison {
  const absent = absentOf(expected, actual);
  const diffs: Difference[] = [];
  const skippedSteps: SkippedStep[] = [];
  for (const [id, act] of Object.entries(actual.scenarios)) {
    if (opts.scenarios && !opts.scenarios.includes(id)) continue;
    const exp = expected.scenarios[id];
    if (!exp) {
      if (opts.reportMissing ?? true)
        diffs.push({ scenario: id, step: null, field: "scenario", expected: null, actual: id });
      continue;
    }
    const rec = opts.nondeterministic?.scenarios[id];
    const c = compareStepsDetailed(id, exp.steps, act.steps, {
      nondet: (i) => nondeterministicFields(rec, i),
      absent,
      expectedInitial: exp.initial,
      actualInitial: act.initial,
      memFree: opts.memFree,
    });
    diffs.push(...c.diffs);
    skippedSteps.push(...c.skipped);
  }
  return { diffs, skipped: skippedSteps };
}

/** A value as a difference shows it: JSON, or "(absent)" for a field one side does not have. */
export function showValue(v: unknown): string {
  return v === undefined ? "(absent)" : JSON.stringify(v);
}

/** One line per difference, for people. */
export function formatDifference(d: Difference): string {
  const where = d.step === null ? d.scenario : `${d.scenario} step ${d.step}`;
  return `${where}: ${d.field}: expected ${showValue(d.expected)}, got ${showValue(d.actual)}`;
}

/** One line per skipped step, for people. */
export function formatSkipped(s: SkippedStep): string {
  return `${s.scenario} step ${s.step}: skipped: ${s.reason}`;
}

// ------------------------------------------------------------------ nondeterminism of rounds

function short(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  const s = JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

/**
 * The `nondeterministic` list of a recorded scenario: for every round after the first and
 * every step, the fields that differ from round 0. Checked fields: the exact fields, the memmap
 * split (d_nr_memmap_pages, d_nr_memmap_boot_pages) and map_pfns, as the shared recordings.
 */
export function nondeterminism(
  runs: readonly { steps: readonly StepRecord[] }[],
): Nondeterministic[] {
  const out: Nondeterministic[] = [];
  const base = runs[0];
  if (!base) return out;
  const fieldsOf = (s: StepRecord): Record<string, unknown> => ({
    ...exactFields(s),
    d_nr_memmap_pages: s.delta.nr_memmap_pages,
    d_nr_memmap_boot_pages: s.delta.nr_memmap_boot_pages,
    ...(s.pfns ? { map_pfns: s.pfns } : {}),
    ...(s.kmsg ? { kmsg: kmsgHeadlines(s.kmsg) } : {}),
  });
  for (let r = 1; r < runs.length; r++) {
    const steps = runs[r].steps;
    for (let i = 0; i < Math.min(steps.length, base.steps.length); i++) {
      const f0 = fieldsOf(base.steps[i]);
      const fN = fieldsOf(steps[i]);
      const fields: string[] = [];
      const values: { f: string; r0: unknown; rN: unknown }[] = [];
      for (const f of new Set([...Object.keys(f0), ...Object.keys(fN)])) {
        if (JSON.stringify(f0[f]) === JSON.stringify(fN[f])) continue;
        fields.push(f);
        values.push({ f, r0: short(f0[f]), rN: short(fN[f]) });
      }
      if (fields.length) out.push({ round: r, step: i, fields, values });
    }
  }
  return out;
}

/** Whether an observation is the reset state: every pool empty, HVO off. */
export function isResetState(after: After): boolean {
  const flat = flattenAfter(after);
  if (after.hvo !== 0 && after.hvo !== null) return false;
  for (const [k, v] of Object.entries(flat))
    if (/^h[1-9][0-9]*[KMG]\.(nr|free|surplus|resv|overcommit)$/.test(k) && v !== 0 && v !== null)
      return false;
  return true;
}
