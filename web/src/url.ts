// The view state in the address's fragment (#m=x86_64&d=legacy&sc=L02...&at=3&folio=...), so
// that a link in a mailing-list reply opens the same view. A bundled scenario is named by its
// id; any other list of steps is carried as JSON.

import { DESIGNS, type Design } from "../../src/kernel.ts";
import { type Step, stepSchema } from "../../src/scenario/format.ts";
import { DEFAULT_STATE, type ViewState } from "./engine.ts";

export function encodeState(s: ViewState, bundled: (id: string) => Step[] | undefined): string {
  const p = new URLSearchParams();
  p.set("m", s.machine);
  if (s.memMiB !== undefined) p.set("mem", String(s.memMiB));
  if (s.nodes !== undefined) p.set("nodes", String(s.nodes));
  if (s.cmdline !== undefined) p.set("cmd", s.cmdline);
  p.set("d", s.design);
  const b = bundled(s.scenario);
  if (b && JSON.stringify(b) === JSON.stringify(s.steps)) p.set("sc", s.scenario);
  else {
    p.set("id", s.scenario);
    p.set("steps", JSON.stringify(s.steps));
  }
  p.set("at", String(s.at));
  if (s.folio !== undefined) p.set("folio", String(s.folio));
  if (s.pfn !== undefined) p.set("pfn", String(s.pfn));
  return p.toString();
}

function intParam(p: URLSearchParams, name: string): number | undefined {
  const v = p.get(name);
  if (v === null || !/^[0-9]+$/.test(v)) return undefined;
  return Number(v);
}

/** The state of a fragment; what it cannot read is named in `problems`. */
export function decodeState(
  hash: string,
  bundled: (id: string) => Step[] | undefined,
): { state: ViewState; problems: string[] } {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const problems: string[] = [];
  const s: ViewState = { ...DEFAULT_STATE, steps: [] };
  if (p.get("m")) s.machine = p.get("m") as string;
  s.memMiB = intParam(p, "mem");
  s.nodes = intParam(p, "nodes");
  for (const [name, v] of [
    ["mem", s.memMiB],
    ["nodes", s.nodes],
  ] as const)
    if (p.has(name) && v === undefined) problems.push(`${name}: "${p.get(name)}" is not a number`);
  if (p.has("cmd")) s.cmdline = p.get("cmd") ?? "";
  const d = p.get("d");
  if (d !== null) {
    if (d === "all" || (DESIGNS as readonly string[]).includes(d)) s.design = d as Design | "all";
    else problems.push(`d: "${d}" is not a design (${DESIGNS.join(", ")}, all)`);
  }
  const sc = p.get("sc");
  if (sc !== null) {
    const steps = bundled(sc);
    if (steps) {
      s.scenario = sc;
      s.steps = steps;
    } else problems.push(`sc: no bundled scenario "${sc}"`);
  } else if (p.has("steps")) {
    s.scenario = p.get("id") || "web";
    try {
      const raw = JSON.parse(p.get("steps") as string) as unknown;
      if (!Array.isArray(raw)) throw new Error("not a list");
      s.steps = raw.map((x, i) => {
        const r = stepSchema.safeParse(x);
        if (!r.success) throw new Error(`step ${i}: ${r.error.issues[0]?.message ?? "bad step"}`);
        return r.data;
      });
    } catch (e) {
      problems.push(`steps: ${(e as Error).message}`);
    }
  }
  s.at = Math.min(intParam(p, "at") ?? s.steps.length, s.steps.length);
  s.folio = intParam(p, "folio");
  s.pfn = intParam(p, "pfn");
  return { state: s, problems };
}
