// The scenario formats' names, sizes and errors, without their schemas (src/scenario/format.ts):
// what the model's commands use at run time. zod loads only where a file is parsed, so that a
// command that reads no scenario file does not pay for it at startup (test/cli/light_help).

/** A format error: the message names the field (a JSON path) and what is wrong with it. */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FormatError";
  }
}

export const SCENARIO_FORMAT = "hvo-scenario/1";
export const RECORDING_FORMAT = "hvo-recording/1";
export const RESULT_FORMAT = "hvo-result/1";

/**
 * The roles a step may name instead of a size, resolved per machine (src/scenario/roles.ts): the
 * huge page a PMD entry maps, the one a PUD entry maps, and arm64's contiguous-bit sizes
 * (CONT_PTE: CONT_PTES PTEs, CONT_PMD: CONT_PMDS PMDs). One scenario then runs on every arch.
 */
export const HSTATE_ROLES = ["PMD", "PUD", "CONT_PTE", "CONT_PMD"] as const;
export type HstateRole = (typeof HSTATE_ROLES)[number];

export function isHstateRole(s: unknown): s is HstateRole {
  return typeof s === "string" && (HSTATE_ROLES as readonly string[]).includes(s);
}

/** A size name ("2M", "2048kB") in kB (2048); null when it is not one (a role is not). */
export function sizeToKb(size: string): number | null {
  const m = /^([1-9][0-9]*)(K|M|G|kB)$/.exec(size);
  if (!m) return null;
  const n = Number(m[1]);
  const mul = m[2] === "G" ? 1024 * 1024 : m[2] === "M" ? 1024 : 1;
  return n * mul;
}

/** The hstate's short name from its size in kB: 2048 -> "2M", 1048576 -> "1G", 64 -> "64K". */
export function hstateName(kB: number): string {
  if (kB % (1024 * 1024) === 0) return `${kB / (1024 * 1024)}G`;
  if (kB % 1024 === 0) return `${kB / 1024}M`;
  return `${kB}K`;
}

/** The key of an hstate in an observation: "h2M", "h1G", "h64K". */
export function hstateKey(kB: number): string {
  return `h${hstateName(kB)}`;
}

/** The key of an hstate's pool-size change in a delta: "nr2M", "nr1G". */
export function hstateDeltaKey(kB: number): string {
  return `nr${hstateName(kB)}`;
}

export const HSTATE_KEY_RE = /^h[1-9][0-9]*[KMG]$/;
export const HSTATE_DELTA_KEY_RE = /^nr[1-9][0-9]*[KMG]$/;

/**
 * Huge pages of one map/populate/kpf step: at most 2^20 (2 TiB of 2M pages, more than any
 * machine here). The answer lists a pfn per page, so a larger n is refused as a format error
 * rather than run out of memory.
 */
export const MAX_STEP_PAGES = 2 ** 20;

/** "scenarios[2].steps[4].size" from a zod issue path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else if (typeof p === "string" && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(p))
      out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out || "(top level)";
}

/** Parses text: JSON syntax errors become FormatErrors too. */
export function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${what} is not JSON: ${(e as Error).message}`);
  }
}
