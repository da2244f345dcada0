// The scenario, recording and result formats of docs/FORMAT.md:
// `hvo-scenario/1` (what a user does), `hvo-recording/1` (what a live kernel reported, several
// rounds) and `hvo-result/1` (one run, by the model or by `hvo live`).
//
// Pure and browser-safe: zod schemas, their TypeScript types, and parsers whose errors name the
// bad field ("scenarios[2].steps[4].size: ..."). No kernel file mirrored here; the observation
// fields are those of /proc/meminfo, /proc/vmstat and the hugepages sysfs/sysctl files.
import { z } from "zod";
import {
  FormatError,
  HSTATE_KEY_RE,
  HSTATE_ROLES,
  MAX_STEP_PAGES,
  RECORDING_FORMAT,
  RESULT_FORMAT,
  SCENARIO_FORMAT,
  formatPath,
} from "./names.ts";

// What the model's commands use without parsing (no zod) lives in names.ts; importers of this
// module get it from here too.
export {
  FormatError,
  HSTATE_DELTA_KEY_RE,
  HSTATE_KEY_RE,
  HSTATE_ROLES,
  type HstateRole,
  hstateDeltaKey,
  hstateKey,
  hstateName,
  isHstateRole,
  MAX_STEP_PAGES,
  parseJsonText,
  RECORDING_FORMAT,
  RESULT_FORMAT,
  SCENARIO_FORMAT,
  formatPath,
  sizeToKb,
} from "./names.ts";

// ------------------------------------------------------------------ sizes and hstate names

/** "2M", "1G", "64K", "32M", "512M", "16G", or the sysfs spelling "2048kB". */
export const sizeSchema = z
  .string()
  .regex(/^[1-9][0-9]*(K|M|G|kB)$/, 'a huge page size like "2M", "1G", "64K" or "2048kB"');

/** A step's size: a size name or a role. */
export const stepSizeSchema = z
  .string()
  .regex(
    new RegExp(`^([1-9][0-9]*(K|M|G|kB)|${HSTATE_ROLES.join("|")})$`),
    `a huge page size like "2M", "1G", "64K" or "2048kB", or a role (${HSTATE_ROLES.join(", ")})`,
  );

// ------------------------------------------------------------------ hvo-scenario/1

/** What a write step writes: a number is written as its decimal text, a string as it is. */
const writeValue = z.union([z.number().int(), z.string()]);
/** 0/1 flags of map steps; FORMAT.md spells them as numbers, booleans are accepted too. */
const flag = z.union([z.literal(0), z.literal(1), z.boolean()]);
const count = z.number().int().nonnegative();
const pageCount = count.max(MAX_STEP_PAGES, `at most ${MAX_STEP_PAGES} huge pages per step`);
const mapId = z.string().min(1).max(63).regex(/^\S+$/, "a map id without spaces");
const absPath = z.string().startsWith("/", "an absolute path");

export const stepSchema = z.discriminatedUnion("op", [
  z.strictObject({ op: z.literal("hvo"), value: writeValue }),
  z.strictObject({ op: z.literal("nr"), size: stepSizeSchema, value: writeValue }),
  z.strictObject({
    op: z.literal("nr_node"),
    size: stepSizeSchema,
    value: writeValue,
    node: count.optional(),
  }),
  z.strictObject({ op: z.literal("nr_mempolicy"), size: stepSizeSchema, value: writeValue }),
  z.strictObject({ op: z.literal("overcommit"), size: stepSizeSchema, value: writeValue }),
  /** The 1G hstate's files unless `size` names another hstate. */
  z.strictObject({ op: z.literal("demote"), value: writeValue, size: stepSizeSchema.optional() }),
  z.strictObject({
    op: z.literal("demote_size"),
    value: writeValue,
    size: stepSizeSchema.optional(),
  }),
  z.strictObject({ op: z.literal("write"), path: absPath, value: writeValue }),
  z.strictObject({
    op: z.literal("sysctl"),
    name: z.string().regex(/^[a-z0-9_]+$/, "a /proc/sys/vm file name"),
    value: writeValue,
  }),
  z.strictObject({
    op: z.literal("map"),
    id: mapId,
    size: stepSizeSchema,
    n: pageCount,
    touch: flag.optional(),
    noreserve: flag.optional(),
    shared: flag.optional(),
    file: absPath.optional(),
    trunc: flag.optional(),
  }),
  z.strictObject({ op: z.literal("touch"), id: mapId }),
  z.strictObject({ op: z.literal("release"), id: mapId }),
  z.strictObject({ op: z.literal("populate"), file: absPath, size: stepSizeSchema, n: pageCount }),
  z.strictObject({ op: z.literal("mount"), dir: absPath, opts: z.string().optional() }),
  z.strictObject({ op: z.literal("umount"), dir: absPath }),
  z.strictObject({ op: z.literal("unlink"), path: absPath }),
  z.strictObject({ op: z.literal("kpf"), size: stepSizeSchema, n: pageCount.min(1).optional() }),
]);

export type Step = z.infer<typeof stepSchema>;
export type StepOp = Step["op"];

export const scenarioSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]+$/, "an id of letters, digits, _ . -"),
  desc: z.string().optional(),
  /**
   * false: no reset before the steps; the scenario starts from the machine as booted (a fresh
   * boot where the runner can boot one: the model, the VM; the live kernel as it stands). The
   * closing reset is still done. Default true (FORMAT.md's reset).
   */
  reset: z.boolean().optional(),
  /** The machine `hvo vm` boots for it (src/live/vm/run.ts vmShapeSchema checks it). */
  vm: z.unknown().optional(),
  steps: z.array(stepSchema),
});
export type Scenario = z.infer<typeof scenarioSchema>;

export const scenarioFileSchema = z
  .object({
    format: z.literal(SCENARIO_FORMAT),
    scenarios: z.array(scenarioSchema),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.scenarios.forEach((s, i) => {
      if (seen.has(s.id))
        ctx.addIssue({
          code: "custom",
          path: ["scenarios", i, "id"],
          message: `duplicate scenario id "${s.id}"`,
        });
      seen.add(s.id);
    });
  });
export type ScenarioFile = z.infer<typeof scenarioFileSchema>;

// ------------------------------------------------------------------ observations

const num = z.number().nullable();

/** One hstate's pool, from its sysfs directory (and the node directories). */
export const hstateObsSchema = z
  .object({
    nr: num,
    free: num,
    surplus: num,
    resv: num,
    overcommit: num,
    demote_size: z.string().nullable().optional(),
  })
  .catchall(num.or(z.string()));
export interface HstateObs {
  nr: number | null;
  free: number | null;
  surplus: number | null;
  resv: number | null;
  overcommit: number | null;
  /** node<N>_nr, node<N>_free, node<N>_surplus for every node. */
  [nodeField: `node${number}_${string}`]: number | null;
  /** Only where the hstate has the file (the 1G hstate on x86_64). */
  demote_size?: string | null;
}

/** `after`: what the files said once the counters settled. */
export const afterSchema = z
  .object({
    nr_memmap_pages: num,
    nr_memmap_boot_pages: num,
    memmap_sum: num,
    hvo: num,
    HugePages_Total: num,
    HugePages_Free: num,
    HugePages_Rsvd: num,
    HugePages_Surp: num,
    Hugetlb_kB: num,
    MemFree_kB: num,
    PageTables_kB: num,
    zone_managed: z.record(z.string(), z.number()).nullable(),
  })
  .catchall(hstateObsSchema)
  .superRefine((after, ctx) => {
    for (const key of Object.keys(after)) {
      if (key in afterShapeKeys) continue;
      if (!HSTATE_KEY_RE.test(key))
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: "unknown observation field (hstates are named like h2M, h1G)",
        });
    }
  });
const afterShapeKeys: Record<string, true> = {
  nr_memmap_pages: true,
  nr_memmap_boot_pages: true,
  memmap_sum: true,
  hvo: true,
  HugePages_Total: true,
  HugePages_Free: true,
  HugePages_Rsvd: true,
  HugePages_Surp: true,
  Hugetlb_kB: true,
  MemFree_kB: true,
  PageTables_kB: true,
  zone_managed: true,
};

/** The typed view of an observation: the fixed fields plus `h<size>` hstate objects. */
export interface After {
  nr_memmap_pages: number | null;
  nr_memmap_boot_pages: number | null;
  memmap_sum: number | null;
  hvo: number | null;
  HugePages_Total: number | null;
  HugePages_Free: number | null;
  HugePages_Rsvd: number | null;
  HugePages_Surp: number | null;
  Hugetlb_kB: number | null;
  MemFree_kB: number | null;
  PageTables_kB: number | null;
  zone_managed: Record<string, number> | null;
  [hstate: `h${number}${"K" | "M" | "G"}`]: HstateObs;
}

/** `delta`: after minus the previous after (nr<size> is each pool's nr change). */
export const deltaSchema = z
  .object({
    nr_memmap_pages: num,
    nr_memmap_boot_pages: num,
    memmap_sum: num,
    Hugetlb_kB: num,
    MemFree_kB: num,
    PageTables_kB: num,
  })
  .catchall(num);
export interface Delta {
  nr_memmap_pages: number | null;
  nr_memmap_boot_pages: number | null;
  memmap_sum: number | null;
  Hugetlb_kB: number | null;
  MemFree_kB: number | null;
  PageTables_kB: number | null;
  /** nr2M, nr1G, ...: each pool's nr change. */
  [nrHstate: `nr${number}${"K" | "M" | "G"}`]: number | null;
}

// ------------------------------------------------------------------ step records

const errnoCode = z.string().nullable();

/** kpageflags/kpagecount of one huge page mapped by a `kpf` step ([word, how many] runs). */
export const kpfPageSchema = z.object({
  pfn: z.number(),
  contiguous: z.boolean(),
  nr: z.number(),
  head_flags: z.number(),
  head_count: z.number(),
  flags: z.array(z.tuple([z.number(), z.number()])),
  counts: z.array(z.tuple([z.number(), z.number()])),
});
export type KpfPage = z.infer<typeof kpfPageSchema>;

export const stepRecordSchema = z.looseObject({
  i: z.number().int().nonnegative(),
  step: stepSchema,
  rc: z.union([z.literal(0), z.literal(-1)]),
  /** Positive (22 for EINVAL), as in the recordings; 0 on success and for SIGBUS. */
  errno: z.number().int().nonnegative(),
  code: errnoCode,
  after: afterSchema,
  delta: deltaSchema,
  pfns: z.array(z.number().nullable()).optional(),
  /** Field -> [value right after the step returned, settled value]. */
  changed_after_step_returned: z.record(z.string(), z.tuple([z.unknown(), z.unknown()])).optional(),
  kpf: z.array(kpfPageSchema).optional(),
  /** The kernel log lines logged during the step, as /dev/kmsg reads them (FORMAT.md). */
  kmsg: z.array(z.string()).optional(),
  /**
   * Set when the step was not run, with the reason ("1G: this kernel has no 1048576kB
   * hstate"): rc, errno and code are then 0, 0, null and `after` is the previous observation.
   */
  skipped: z.string().optional(),
  /** The step as run, where `step` names a role (PMD, PUD, ...): the sizes it stood for. */
  resolved_step: stepSchema.optional(),
});
export interface StepRecord {
  i: number;
  step: Step;
  rc: 0 | -1;
  errno: number;
  code: string | null;
  after: After;
  delta: Delta;
  pfns?: (number | null)[];
  changed_after_step_returned?: Record<string, [unknown, unknown]>;
  kpf?: KpfPage[];
  /** The kernel log lines of the step ("level,seq,usec,-;text"); absent in older files. */
  kmsg?: string[];
  /** The step was not run, and why (see stepRecordSchema). */
  skipped?: string;
  /** The step with its roles replaced by this machine's sizes (see stepRecordSchema). */
  resolved_step?: Step;
  [extra: string]: unknown;
}

export const resetWriteSchema = z.looseObject({
  path: z.string().optional(),
  rc: z.union([z.literal(0), z.literal(-1)]),
  errno: z.number().int().nonnegative(),
  code: errnoCode,
});

export const finalResetSchema = z.looseObject({
  clean: z.boolean(),
  /** The reset's writes that failed (overcommit on a gigantic hstate gives EINVAL). */
  writes: z.array(resetWriteSchema),
  after: afterSchema,
  delta: deltaSchema,
});
export interface ResetWrite {
  path?: string;
  rc: 0 | -1;
  errno: number;
  code: string | null;
  [extra: string]: unknown;
}
export interface FinalReset {
  clean: boolean;
  writes: ResetWrite[];
  after: After;
  delta: Delta;
  [extra: string]: unknown;
}

// ------------------------------------------------------------------ hvo-recording/1

export const nondeterministicSchema = z.object({
  round: z.number().int().positive(),
  step: z.number().int().nonnegative(),
  /** Field names: "rc", "h1G.nr", "HugePages_Total", "d_memmap_sum" (delta), "map_pfns", ... */
  fields: z.array(z.string()),
  values: z.array(z.looseObject({ f: z.string(), r0: z.unknown(), rN: z.unknown() })),
});
export type Nondeterministic = z.infer<typeof nondeterministicSchema>;

export const runSchema = z.looseObject({
  round: z.number().int().nonnegative(),
  initial: afterSchema,
  steps: z.array(stepRecordSchema),
  final_reset: finalResetSchema.optional(),
});
export interface Run {
  round: number;
  initial: After;
  steps: StepRecord[];
  final_reset?: FinalReset;
  [extra: string]: unknown;
}

export const recordedScenarioSchema = z.looseObject({
  desc: z.string().optional(),
  nondeterministic: z.array(nondeterministicSchema),
  runs: z.array(runSchema).min(1),
});
export interface RecordedScenario {
  desc?: string;
  nondeterministic: Nondeterministic[];
  runs: Run[];
  [extra: string]: unknown;
}

export const recordingSchema = z.looseObject({
  format: z.literal(RECORDING_FORMAT),
  kernel: z.string(),
  cmdline: z.string().optional(),
  machine: z.looseObject({
    MemTotal_kB: z.number(),
    page_size: z.number(),
    cpus: z.number().optional(),
  }),
  rounds: z.number().int().positive(),
  scenarios: z.record(z.string(), recordedScenarioSchema),
});
export interface Recording {
  format: typeof RECORDING_FORMAT;
  kernel: string;
  cmdline?: string;
  machine: { MemTotal_kB: number; page_size: number; cpus?: number; [extra: string]: unknown };
  rounds: number;
  scenarios: Record<string, RecordedScenario>;
  [extra: string]: unknown;
}

// ------------------------------------------------------------------ hvo-result/1

export const resultScenarioSchema = z.looseObject({
  desc: z.string().optional(),
  initial: afterSchema.optional(),
  steps: z.array(stepRecordSchema),
  final_reset: finalResetSchema.optional(),
});
export interface ResultScenario {
  desc?: string;
  initial?: After;
  steps: StepRecord[];
  final_reset?: FinalReset;
  [extra: string]: unknown;
}

export const resultSchema = z.looseObject({
  format: z.literal(RESULT_FORMAT),
  /** "host" for a live kernel and for the model's --machine host; a preset name otherwise. */
  machine: z.string(),
  /** "legacy" | "seed" | "mainline" for the model; the kernel's name for a live run. */
  design: z.string(),
  kernel: z.string().optional(),
  /**
   * Hstates ("1G") the machine that ran the scenarios lacks although the architecture has them
   * (a CPU without 1 GiB pages): their fields are absent from every observation and their steps
   * are skipped. Comparisons leave those fields out.
   */
  absent_hstates: z.array(z.string().regex(/^[1-9][0-9]*[KMG]$/)).optional(),
  scenarios: z.record(z.string(), resultScenarioSchema),
});
export interface Result {
  format: typeof RESULT_FORMAT;
  machine: string;
  design: string;
  kernel?: string;
  /** Hstate names the machine lacks (see resultSchema). */
  absent_hstates?: string[];
  scenarios: Record<string, ResultScenario>;
  [extra: string]: unknown;
}

// ------------------------------------------------------------------ parsing

function explain(error: z.ZodError, what: string): FormatError {
  const lines = error.issues.slice(0, 5).map((issue) => {
    const path = issue.path as PropertyKey[];
    let message = issue.message;
    if (issue.code === "unrecognized_keys") message = `unknown field(s) ${issue.keys.join(", ")}`;
    return `${formatPath(path)}: ${message}`;
  });
  if (error.issues.length > 5) lines.push(`... and ${error.issues.length - 5} more`);
  return new FormatError(`not a valid ${what}: ${lines.join("; ")}`);
}

function parseWith<T>(schema: z.ZodType, data: unknown, what: string): T {
  const r = schema.safeParse(data);
  if (!r.success) throw explain(r.error, what);
  return r.data as T;
}

/** Parses a JSON value as `hvo-scenario/1`; FormatError names the bad field. */
export function parseScenarioFile(data: unknown): ScenarioFile {
  return parseWith<ScenarioFile>(scenarioFileSchema, data, SCENARIO_FORMAT);
}

/** Parses a JSON value as `hvo-recording/1`. */
export function parseRecording(data: unknown): Recording {
  return parseWith<Recording>(recordingSchema, data, RECORDING_FORMAT);
}

/** Parses a JSON value as `hvo-result/1`. */
export function parseResult(data: unknown): Result {
  return parseWith<Result>(resultSchema, data, RESULT_FORMAT);
}
