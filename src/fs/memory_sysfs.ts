// drivers/base/memory.c: /sys/devices/system/memory - block_size_bytes, auto_online_blocks and
// one memoryN directory per memory block (phys_index, state, online, phys_device, removable,
// valid_zones). Writes to state and online run memory_hotplug.ts's offline/online.
//
// Errnos as the live 6.18 kernel gives them (docs/kernel-files.md): state_store() accepts
// "online", "online_kernel", "online_movable" and "offline" (sysfs_streq(): one trailing
// newline allowed), anything else is EINVAL, and so is asking for the state the block is
// already in (device_online()/device_offline() return 1, which state_store() turns into
// EINVAL); the device core's online_store() parses a kstrtobool() and reports success when
// the block already is in that state.

import { EINVAL, KernelError } from "../include/errno.ts";
import { memoryFailure, softOfflinePage } from "../mm/memory_failure.ts";
import type { MemoryBlock, MemoryHotplug } from "../mm/memory_hotplug.ts";
import { type FileOps, base0Value } from "./vfs.ts";

export const MEMORY_DIR = "/sys/devices/system/memory";

/** A directory of /sys/devices/system/memory: the top one, and memoryN of an existing block. */
export function isMemoryDir(hp: MemoryHotplug, path: string): boolean {
  if (path === MEMORY_DIR || path === "/sys/devices/system" || path === "/sys/devices") return true;
  const m = /^\/sys\/devices\/system\/memory\/memory([0-9]+)$/.exec(path);
  return m !== null && String(Number(m[1])) === m[1] && hp.blocks.has(Number(m[1]));
}

/** sysfs_streq(): equal but for one trailing newline on either side. */
export function sysfsStreq(a: string, b: string): boolean {
  const strip = (s: string) => (s.endsWith("\n") ? s.slice(0, -1) : s);
  return strip(a) === strip(b);
}

/**
 * kstrtobool() (lib/kstrtox.c): by the first character, e/E/y/Y/t/T/1 true and d/D/n/N/f/F/0
 * false, "on"/"off" by the second; EINVAL otherwise (live: "e", "T", "enable" are true).
 */
export function kstrtobool(text: string): boolean {
  const c0 = text[0];
  const c1 = text[1];
  if (c0 !== undefined && "eEyYtT1".includes(c0)) return true;
  if (c0 !== undefined && "dDnNfF0".includes(c0)) return false;
  if (c0 === "o" || c0 === "O") {
    if (c1 === "n" || c1 === "N") return true;
    if (c1 === "f" || c1 === "F") return false;
  }
  throw new KernelError(EINVAL, `kstrtobool: "${text}"`);
}

const ONLINE_TYPES = ["online", "online_kernel", "online_movable"] as const;

function runOrThrow(rc: number, what: string): void {
  if (rc < 0) throw new KernelError(-rc, what);
}

const BLOCK_FILES = ["phys_index", "phys_device", "removable", "valid_zones", "state", "online"];
const BLOCK_PATH = /^\/sys\/devices\/system\/memory\/memory(\d+)\/([a-z_]+)$/;

/** kstrtoull(buf, 0) of a physical address, as a pfn; EINVAL for anything else. */
function pfnOfAddress(hp: MemoryHotplug, text: string): number {
  const s = text.endsWith("\n") ? text.slice(0, -1) : text;
  const m = /^\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) throw new KernelError(EINVAL, `kstrtoull: "${text}"`);
  const v = base0Value(m[1]);
  if (v >= 1n << 64n) throw new KernelError(EINVAL, `kstrtoull: "${text}" overflows`);
  return Number(v >> BigInt(hp.k.spec.arch.pageShift));
}

/** Every memory-block file path. */
export function memoryPaths(hp: MemoryHotplug): string[] {
  const out = [`${MEMORY_DIR}/block_size_bytes`, `${MEMORY_DIR}/auto_online_blocks`];
  if (hp.k.spec.memoryFailure !== false)
    out.push(`${MEMORY_DIR}/hard_offline_page`, `${MEMORY_DIR}/soft_offline_page`);
  for (const id of hp.ids())
    for (const f of BLOCK_FILES) out.push(`${MEMORY_DIR}/memory${id}/${f}`);
  return out;
}

/** The file at `path` under /sys/devices/system/memory, or null. */
export function memoryFile(hp: MemoryHotplug, path: string): FileOps | null {
  if (path === `${MEMORY_DIR}/block_size_bytes`)
    return { kind: "sysfs", read: () => `${hp.blockBytes.toString(16)}\n` };
  if (path === `${MEMORY_DIR}/auto_online_blocks`)
    return {
      kind: "sysfs",
      read: () => `${hp.autoOnline}\n`,
      write: (s) => {
        for (const v of ["offline", ...ONLINE_TYPES] as const)
          if (sysfsStreq(s, v)) {
            hp.autoOnline = v;
            return;
          }
        throw new KernelError(EINVAL, `auto_online_blocks: "${s}"`);
      },
    };
  if (hp.k.spec.memoryFailure !== false) {
    // CONFIG_MEMORY_FAILURE: write-only (0200), a physical address (kstrtoull, base 0).
    if (path === `${MEMORY_DIR}/hard_offline_page`)
      return {
        kind: "sysfs",
        write: (s) => runOrThrow(memoryFailure(hp.k, hp.pool, pfnOfAddress(hp, s)), path),
      };
    if (path === `${MEMORY_DIR}/soft_offline_page`)
      return {
        kind: "sysfs",
        write: (s) => runOrThrow(softOfflinePage(hp.k, hp.pool, pfnOfAddress(hp, s)), path),
      };
  }
  const m = BLOCK_PATH.exec(path);
  if (!m || String(Number(m[1])) !== m[1]) return null;
  const id = Number(m[1]);
  const b = hp.blocks.get(id);
  if (!b) return null;
  switch (m[2]) {
    case "phys_index":
      return { kind: "sysfs", read: () => `${id.toString(16).padStart(8, "0")}\n` };
    case "phys_device":
      return { kind: "sysfs", read: () => "0\n" };
    case "removable":
      return { kind: "sysfs", read: () => "1\n" };
    case "valid_zones":
      return { kind: "sysfs", read: () => `${hp.validZones(b)}\n` };
    case "state":
      return { kind: "sysfs", read: () => `${b.state}\n`, write: (s) => stateStore(hp, b, s) };
    case "online":
      return {
        kind: "sysfs",
        read: () => (b.state === "online" ? "1\n" : "0\n"),
        write: (s) => {
          const on = kstrtobool(s);
          if (on && b.state === "offline")
            runOrThrow(hp.online(b, "online"), `memory${id}: online`);
          else if (!on && b.state === "online") runOrThrow(hp.offline(b), `memory${id}: offline`);
        },
      };
    default:
      return null;
  }
}

/** state_store(). */
function stateStore(hp: MemoryHotplug, b: MemoryBlock, s: string): void {
  const id = b.id;
  const type = ONLINE_TYPES.find((x) => sysfsStreq(s, x));
  if (type) {
    if (b.state === "online") throw new KernelError(EINVAL, `memory${id}: already online`);
    runOrThrow(hp.online(b, type), `memory${id}: online`);
    return;
  }
  if (sysfsStreq(s, "offline")) {
    if (b.state === "offline") throw new KernelError(EINVAL, `memory${id}: already offline`);
    runOrThrow(hp.offline(b), `memory${id}: offline`);
    return;
  }
  throw new KernelError(EINVAL, `memory${id}/state: "${s}"`);
}
