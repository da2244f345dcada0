// Comparing runs: a result against a recording (the live kernel's word), or two results, on
// the fields ../shared/scenarios/FORMAT.md calls exact. No kernel file mirrored here.
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

/** Compares two step lists of one scenario; `nondet(i)` names the fields to skip at step i. */
export function compareSteps(
  scenario: string,
  expected: readonly StepRecord[],
  actual: readonly StepRecord[],
  nondet: (i: number) => Set<string> = () => new Set(),
): Difference[] {
  const diffs: Difference[] = [];
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
    const skip = nondet(i);
    const ef = exactFields(e);
    const af = exactFields(a);
    for (const field of new Set([...Object.keys(ef), ...Object.keys(af)])) {
      if (skipped(field, skip)) continue;
      if (!same(ef[field], af[field]))
        diffs.push({ scenario, step: i, field, expected: ef[field], actual: af[field] });
    }
  }
  return diffs;
}

export interface CompareOptions {
  /** Which recorded round is "expected" (default 0; exact fields agree across rounds). */
  round?: number;
  /** Only these scenarios. */
  scenarios?: readonly string[];
  /** Report scenarios of `actual` that `expected` does not have (default true). */
  reportMissing?: boolean;
}

/** A result (model or live) against a live recording, skipping its nondeterministic fields. */
export function compareToRecording(
  recording: Pick<Recording, "scenarios">,
  result: Pick<Result, "scenarios">,
  opts: CompareOptions = {},
): Difference[] {
  const diffs: Difference[] = [];
  for (const [id, res] of Object.entries(result.scenarios)) {
    if (opts.scenarios && !opts.scenarios.includes(id)) continue;
    const rec = recording.scenarios[id];
    if (!rec) {
      if (opts.reportMissing ?? true)
        diffs.push({ scenario: id, step: null, field: "scenario", expected: null, actual: id });
      continue;
    }
    const run = rec.runs[opts.round ?? 0] ?? rec.runs[0];
    diffs.push(...compareSteps(id, run.steps, res.steps, (i) => nondeterministicFields(rec, i)));
  }
  return diffs;
}

/**
 * Two results (model against model, live against model). `nondeterministic`, when given, is a
 * recording whose nondeterministic lists say what to skip.
 */
export function compareResults(
  expected: Pick<Result, "scenarios">,
  actual: Pick<Result, "scenarios">,
  opts: CompareOptions & { nondeterministic?: Pick<Recording, "scenarios"> } = {},
): Difference[] {
  const diffs: Difference[] = [];
  for (const [id, act] of Object.entries(actual.scenarios)) {
    if (opts.scenarios && !opts.scenarios.includes(id)) continue;
    const exp = expected.scenarios[id];
    if (!exp) {
      if (opts.reportMissing ?? true)
        diffs.push({ scenario: id, step: null, field: "scenario", expected: null, actual: id });
      continue;
    }
    const rec = opts.nondeterministic?.scenarios[id];
    diffs.push(...compareSteps(id, exp.steps, act.steps, (i) => nondeterministicFields(rec, i)));
  }
  return diffs;
}

/** One line per difference, for people. */
export function formatDifference(d: Difference): string {
  const where = d.step === null ? d.scenario : `${d.scenario} step ${d.step}`;
  return `${where}: ${d.field}: expected ${JSON.stringify(d.expected)}, got ${JSON.stringify(d.actual)}`;
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
