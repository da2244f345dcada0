// Machine files: a YAML or JSON description of a machine, based on a preset, turned into a
// MachineSpec. Every error names the file, the field and the problem, in one line per problem:
//   machine.yaml: nodes[1].ranges[0].start: not page-aligned (0x1001)
// The checks are the ones the kernel's boot would trip over: memblock ranges page-aligned and
// disjoint, below MAX_PHYSMEM_BITS, every present page inside a zone, nodes 0..N-1.

import { parseDocument } from "yaml";
import type { z } from "zod";
import {
  machinePreset,
  presetDef,
  presetNames,
  resolveCpu,
  resolvePagingLevels,
} from "../arch/index.ts";
import { type ArchPresetDef, MachineError, zonesForNode } from "./layout.ts";
import {
  type MachineFile,
  type MachineFileRange,
  type MachineFileZone,
  machineFileSchema,
  parseSize,
} from "./schema.ts";
import type {
  MachineSpec,
  NodeSpec,
  PfnRange,
  StructPageSize,
  ZoneSpec,
  ZoneType,
} from "./spec.ts";
import { ZONE_TYPES } from "./spec.ts";

/** A machine file the model cannot use; the message is ready to print as is. */
export class MachineFileError extends MachineError {
  constructor(message: string) {
    super(message);
    this.name = "MachineFileError";
  }
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** bigints from YAML that fit a double exactly become numbers; the rest stay bigints. */
function normalize(value: unknown): unknown {
  if (typeof value === "bigint") {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= -BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value;
  }
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v)]));
  }
  return value;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const seg of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function formatIssue(fileName: string, root: unknown, issue: z.core.$ZodIssue): string {
  const path = formatPath(issue.path);
  const where = path ? `${fileName}: ${path}` : fileName;
  switch (issue.code) {
    case "unrecognized_keys":
      return `${where}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    case "invalid_type": {
      const got = valueAt(root, issue.path);
      if (got === undefined) return `${where}: missing (expected ${issue.expected})`;
      return `${where}: expected ${issue.expected}, got ${describe(got)}`;
    }
    case "invalid_union":
      return `${where}: ${path === "nodes" ? "expected a node count or a list of nodes" : "expected an integer or a string like 16G or 0x100000000"}`;
    case "invalid_value":
      return `${where}: must be one of ${issue.values.map((v) => String(v)).join(", ")}`;
    case "too_small":
      return `${where}: ${Array.isArray(valueAt(root, issue.path)) ? "must not be empty" : issue.message}`;
    default:
      return `${where}: ${issue.message}`;
  }
}

/** Reads the file's text as JSON (by name or a leading brace) or YAML. */
function parseText(text: string, fileName: string): unknown {
  if (/\.json$/i.test(fileName) || text.trimStart().startsWith("{")) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new MachineFileError(`${fileName}: not valid JSON: ${(e as Error).message}`);
    }
  }
  const doc = parseDocument(text, { intAsBigInt: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const offset = err.pos[0];
    const before = text.slice(0, offset).split("\n");
    const at = `line ${before.length}, column ${before[before.length - 1].length + 1}: `;
    throw new MachineFileError(`${fileName}: not valid YAML: ${at}${err.message.split("\n")[0]}`);
  }
  return doc.toJS();
}

interface Ctx {
  fileName: string;
  errors: string[];
}

function fail(ctx: Ctx, path: string, problem: string): void {
  ctx.errors.push(`${ctx.fileName}: ${path}: ${problem}`);
}

function size(ctx: Ctx, path: string, value: number | bigint | string): bigint | null {
  const v = parseSize(value);
  if (v === null) fail(ctx, path, `not a size or address (${JSON.stringify(String(value))})`);
  else if (v < 0n) fail(ctx, path, `negative (${String(value)})`);
  else return v;
  return null;
}

/** A {start, end|size} pair in bytes, checked for page alignment; pfns out. */
function pfnRange(
  ctx: Ctx,
  path: string,
  r: MachineFileRange | MachineFileZone,
  pageBytes: bigint,
): PfnRange | null {
  const start = size(ctx, `${path}.start`, r.start);
  if ((r.end === undefined) === (r.size === undefined)) {
    fail(ctx, path, "give exactly one of end and size");
    return null;
  }
  const endField = r.end !== undefined ? "end" : "size";
  const second = size(ctx, `${path}.${endField}`, (r.end ?? r.size)!);
  if (start === null || second === null) return null;
  let ok = true;
  if (start % pageBytes !== 0n) {
    fail(ctx, `${path}.start`, `not page-aligned (${hex(start)})`);
    ok = false;
  }
  if (second % pageBytes !== 0n) {
    fail(ctx, `${path}.${endField}`, `not page-aligned (${hex(second)})`);
    ok = false;
  }
  if (!ok) return null;
  const end = r.end !== undefined ? second : start + second;
  if (end <= start) {
    fail(ctx, path, `empty (end ${hex(end)} <= start ${hex(start)})`);
    return null;
  }
  return { startPfn: Number(start / pageBytes), endPfn: Number(end / pageBytes) };
}

function resolvePreset(ctx: Ctx, file: MachineFile): ArchPresetDef | null {
  let name = file.preset;
  if (file.pageSize !== undefined) {
    const bytes = size(ctx, "pageSize", file.pageSize);
    if (bytes === null) return null;
    const label = bytes >= 1024n ? `${bytes / 1024n}K` : String(bytes);
    if (name.startsWith("arm64")) {
      const granule = { "4096": "4k", "16384": "16k", "65536": "64k" }[String(bytes)];
      if (!granule) {
        fail(ctx, "pageSize", `arm64 has 4K, 16K and 64K pages (${label})`);
        return null;
      }
      name = `arm64-${granule}`;
    } else {
      let def: ArchPresetDef;
      try {
        def = presetDef(name);
      } catch {
        fail(ctx, "preset", `unknown preset "${name}" (known: ${presetNames().join(", ")})`);
        return null;
      }
      if (bytes !== 2n ** BigInt(def.pageShift)) {
        fail(ctx, "pageSize", `${name} has only ${2 ** (def.pageShift - 10)}K pages (${label})`);
        return null;
      }
    }
  } else if (name === "arm64") {
    name = "arm64-4k";
  }
  try {
    return presetDef(name);
  } catch {
    fail(
      ctx,
      "preset",
      `unknown preset "${file.preset}" (known: ${presetNames().join(", ")}, arm64 with pageSize)`,
    );
    return null;
  }
}

function zoneTypesOf(def: ArchPresetDef, all: PfnRange[]): Set<ZoneType> {
  const limits = def.zoneLimits(all);
  const types = new Set<ZoneType>(["Normal", "Movable"]);
  if (limits.DMA !== undefined) types.add("DMA");
  if (limits.DMA32 !== undefined) types.add("DMA32");
  return types;
}

/** Explicit nodes: ranges and zones as written, checked. */
function explicitNodes(
  ctx: Ctx,
  nodes: NonNullable<Exclude<MachineFile["nodes"], number>>,
  def: ArchPresetDef,
  maxPhysmemBits: number,
): NodeSpec[] {
  const pageBytes = 2n ** BigInt(def.pageShift);
  const maxPfn = 2 ** (maxPhysmemBits - def.pageShift);
  const perNode: PfnRange[][] = [];
  const tagged: { r: PfnRange; path: string }[] = [];
  nodes.forEach((node, nid) => {
    if (node.nid !== undefined && node.nid !== nid) {
      fail(
        ctx,
        `nodes[${nid}].nid`,
        `nodes are numbered 0..${nodes.length - 1} in order (expected ${nid}, got ${node.nid})`,
      );
    }
    const ranges: PfnRange[] = [];
    node.ranges.forEach((raw, i) => {
      const path = `nodes[${nid}].ranges[${i}]`;
      const r = pfnRange(ctx, path, raw, pageBytes);
      if (!r) return;
      if (r.endPfn > maxPfn) {
        fail(
          ctx,
          path,
          `ends at ${hex(BigInt(r.endPfn) * pageBytes)}, beyond MAX_PHYSMEM_BITS ${maxPhysmemBits} of ${def.preset}`,
        );
        return;
      }
      ranges.push(r);
      tagged.push({ r, path });
    });
    ranges.sort((a, b) => a.startPfn - b.startPfn);
    perNode.push(ranges);
  });
  tagged.sort((a, b) => a.r.startPfn - b.r.startPfn);
  for (let i = 1; i < tagged.length; i++) {
    const prev = tagged[i - 1];
    const cur = tagged[i];
    if (cur.r.startPfn < prev.r.endPfn) {
      fail(ctx, cur.path, `overlaps ${prev.path} (at ${hex(BigInt(cur.r.startPfn) * pageBytes)})`);
    }
  }
  if (ctx.errors.length > 0) return [];
  const all = tagged.map((t) => t.r);
  const allowed = zoneTypesOf(def, all);
  return perNode.map((ranges, nid) => {
    const given = nodes[nid].zones;
    const zones = given
      ? explicitZones(ctx, nid, given, ranges, pageBytes, allowed, def.preset)
      : zonesForNode(ranges, def.zoneLimits(all));
    return { nid, ranges, zones };
  });
}

function explicitZones(
  ctx: Ctx,
  nid: number,
  given: MachineFileZone[],
  ranges: PfnRange[],
  pageBytes: bigint,
  allowed: Set<ZoneType>,
  preset: string,
): ZoneSpec[] {
  const zones: ZoneSpec[] = [];
  given.forEach((raw, i) => {
    const path = `nodes[${nid}].zones[${i}]`;
    if (!allowed.has(raw.type)) {
      fail(ctx, `${path}.type`, `${preset} has no ZONE_${raw.type.toUpperCase()}`);
      return;
    }
    const r = pfnRange(ctx, path, raw, pageBytes);
    if (!r) return;
    const prev = zones[zones.length - 1];
    if (prev && ZONE_TYPES.indexOf(raw.type) <= ZONE_TYPES.indexOf(prev.type)) {
      fail(
        ctx,
        `${path}.type`,
        `zones go in the kernel's order DMA, DMA32, Normal, Movable, each once (${raw.type} after ${prev.type})`,
      );
      return;
    }
    if (prev && r.startPfn < prev.endPfn) {
      fail(
        ctx,
        path,
        `overlaps nodes[${nid}].zones[${i - 1}] (at ${hex(BigInt(r.startPfn) * pageBytes)})`,
      );
      return;
    }
    zones.push({ type: raw.type, ...r });
  });
  if (zones.length !== given.length) return zones;
  ranges.forEach((r, i) => {
    // Every present page must lie in a zone; zones are disjoint and ascending.
    let pfn = r.startPfn;
    for (const z of zones) {
      if (z.startPfn <= pfn && pfn < z.endPfn) pfn = Math.min(r.endPfn, z.endPfn);
    }
    if (pfn < r.endPfn) {
      fail(
        ctx,
        `nodes[${nid}].zones`,
        `do not cover ${hex(BigInt(pfn) * pageBytes)} of nodes[${nid}].ranges (sorted) [${i}]`,
      );
    }
  });
  return zones;
}

/** Parses a machine file; throws MachineFileError listing every problem found. */
export function parseMachineFile(text: string, fileName: string): MachineSpec {
  const root = normalize(parseText(text, fileName));
  const parsed = machineFileSchema.safeParse(root);
  if (!parsed.success) {
    throw new MachineFileError(
      parsed.error.issues.map((issue) => formatIssue(fileName, root, issue)).join("\n"),
    );
  }
  const file = parsed.data;
  const ctx: Ctx = { fileName, errors: [] };
  const def = resolvePreset(ctx, file);
  if (!def) throw new MachineFileError(ctx.errors.join("\n"));
  const structPageSize = (file.structPageSize ?? 64) as StructPageSize;
  let cpu: ReturnType<typeof resolveCpu>;
  let pagingLevels: number | undefined;
  try {
    cpu = resolveCpu(def, file.cpu);
    pagingLevels = resolvePagingLevels(def, file.pagingLevels);
  } catch (e) {
    if (e instanceof MachineError) throw new MachineFileError(`${fileName}: ${e.message}`);
    throw e;
  }

  let spec: MachineSpec;
  if (Array.isArray(file.nodes)) {
    if (file.memory !== undefined) {
      fail(
        ctx,
        "memory",
        "give either memory (with a node count) or explicit node ranges, not both",
      );
    }
    // MAX_PHYSMEM_BITS does not depend on where RAM starts; build the arch once to learn it.
    const probe = def.arch({ structPageSize, firstPfn: 0, cpu, pagingLevels });
    const nodes = explicitNodes(ctx, file.nodes, def, probe.maxPhysmemBits);
    if (ctx.errors.length > 0) throw new MachineFileError(ctx.errors.join("\n"));
    const firstPfn = Math.min(
      ...nodes.map((n) => n.ranges[0]?.startPfn ?? Number.MAX_SAFE_INTEGER),
    );
    spec = {
      name: file.name ?? fileName,
      arch: def.arch({ structPageSize, firstPfn, cpu, pagingLevels }),
      structPageSize,
      nodes,
      cmdline: def.defaultCmdline,
    };
    if (cpu) spec.cpu = cpu;
  } else {
    let memoryBytes: number | undefined;
    if (file.memory !== undefined) {
      const m = size(ctx, "memory", file.memory);
      if (m !== null) memoryBytes = Number(m);
    }
    if (ctx.errors.length > 0) throw new MachineFileError(ctx.errors.join("\n"));
    try {
      spec = machinePreset(def.preset, {
        memoryBytes,
        nodes: file.nodes,
        structPageSize,
        cpu: file.cpu,
        pagingLevels,
      });
    } catch (e) {
      if (e instanceof MachineError) throw new MachineFileError(`${fileName}: ${e.message}`);
      throw e;
    }
    spec.name = file.name ?? fileName;
  }

  if (file.cmdline !== undefined) spec.cmdline = file.cmdline;
  if (file.bootHvo !== undefined) spec.arch.vmemmapPreinit = file.bootHvo;
  if (file.vmemmapBase !== undefined) {
    const base = size(ctx, "vmemmapBase", file.vmemmapBase);
    if (base !== null) {
      if (base >= 1n << 64n || base < 1n << 63n) {
        fail(ctx, "vmemmapBase", `not a kernel virtual address (${hex(base)})`);
      } else if (base % 2n ** BigInt(spec.arch.pageShift) !== 0n) {
        fail(ctx, "vmemmapBase", `not page-aligned (${hex(base)})`);
      } else {
        spec.arch.vmemmapBase = base;
      }
    }
  }
  // Per-node counts of the rest of the kernel's memory: one entry per node.
  for (const key of ["otherUsedPages", "otherFreeUnmovablePages", "otherUnmovablePages"] as const) {
    const perNode = file[key];
    if (perNode === undefined) continue;
    if (perNode.length !== spec.nodes.length)
      fail(ctx, key, `one entry per node: ${spec.nodes.length} nodes, ${perNode.length} entries`);
    else spec[key] = [...perNode];
  }
  if (file.memoryFailure !== undefined) spec.memoryFailure = file.memoryFailure;
  if (ctx.errors.length > 0) throw new MachineFileError(ctx.errors.join("\n"));
  return spec;
}
