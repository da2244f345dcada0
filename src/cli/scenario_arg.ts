// The scenario-file arguments of the commands that run one (run, cat --after, inspect --after,
// compare, diff, live, vm): reading and parsing the file, --only, --no-reset, --sizes. Apart
// from the commands so that those that run no model (live, vm) load none.
import { readFileSync } from "node:fs";
import type { ScenarioFile } from "../scenario/format.ts";
import { FormatError, parseJsonText, sizeToKb } from "../scenario/names.ts";
import { UsageError } from "./io.ts";

/**
 * Reads and parses a scenario file; problems are UsageErrors naming the file (after `flag`, the
 * option that named it, where given). The parser (zod) is loaded here, when a file is given, not
 * by every command that could take one.
 */
export async function loadScenarioFile(file: string, flag?: string): Promise<ScenarioFile> {
  const { parseScenarioFile } = await import("../scenario/format.ts");
  const usage = (message: string) => new UsageError(flag ? `${flag}: ${message}` : message);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw usage(`cannot read scenario file "${file}": ${(e as Error).message}`);
  }
  try {
    return parseScenarioFile(parseJsonText(text, file));
  } catch (e) {
    if (e instanceof FormatError)
      throw usage(e.message.startsWith(file) ? e.message : `${file}: ${e.message}`);
    throw e;
  }
}

/**
 * The scenario ids of --only ("a,b"), each checked against the file: an id the file does not
 * have is a usage error naming it (a run of nothing would look like success).
 */
export function onlyIds(arg: string | undefined, file: ScenarioFile): string[] | undefined {
  if (arg === undefined) return undefined;
  const ids = arg
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new UsageError(`--only: "${arg}" names no scenario`);
  const unknown = ids.filter((id) => !file.scenarios.some((s) => s.id === id));
  if (unknown.length)
    throw new UsageError(
      `--only: no scenario ${unknown.map((u) => `"${u}"`).join(", ")} in this file (it has ${file.scenarios.map((s) => s.id).join(", ")})`,
    );
  return ids;
}

/**
 * `--no-reset`: every scenario starts from the machine as booted (each `reset: false`), as the
 * field in the file does for one scenario.
 */
export function withoutReset(file: ScenarioFile, reset: boolean | undefined): ScenarioFile {
  if (reset !== false) return file;
  return { ...file, scenarios: file.scenarios.map((s) => ({ ...s, reset: false })) };
}

/** `--sizes 2M,1G`: the hstates (kB) a live run may use. */
export function parseSizesFlag(value: string): number[] {
  const out: number[] = [];
  for (const s of value.split(",").map((x) => x.trim())) {
    const kB = sizeToKb(s);
    if (kB === null)
      throw new UsageError(`--sizes ${value}: "${s}" is not a huge page size like 2M or 1G`);
    out.push(kB);
  }
  return out;
}

/** --no-reset on a scenario file's raw JSON (its `vm` shapes kept): every scenario reset: false. */
export function rawWithoutReset(raw: unknown, reset: boolean | undefined): unknown {
  const o = raw as { scenarios?: unknown };
  if (reset !== false || !Array.isArray(o?.scenarios)) return raw;
  return {
    ...o,
    scenarios: o.scenarios.map((s: unknown) =>
      s && typeof s === "object" ? { ...s, reset: false } : s,
    ),
  };
}
