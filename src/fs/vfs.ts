// The files a user reads and writes, as text: fs/proc/meminfo.c (+ hugetlb_report_meminfo()),
// mm/vmstat.c (/proc/vmstat, /proc/zoneinfo), mm/hugetlb_sysfs.c (the hugepages-<kB>kB
// directories, global and per node), mm/hugetlb_sysctl.c (vm.nr_hugepages,
// vm.nr_hugepages_mempolicy, vm.nr_overcommit_hugepages), mm/hugetlb_vmemmap.c
// (vm.hugetlb_optimize_vmemmap), fs/proc/page.c (/proc/kpageflags, /proc/kpagecount).
//
// Errnos are the live 6.18 kernel's (docs/kernel-files.md): sysfs stores parse with
// kstrtoul(buf, 10) (no spaces, one trailing newline, ERANGE on overflow), sysctls with
// proc_doulongvec_minmax()/proc_dointvec() (leading blanks, base 0, EINVAL on overflow); an
// empty write changes nothing, a write of nothing but blanks ("\n", "echo > file") is EINVAL on
// both kinds; opening a read-only sysfs file for writing is EACCES, writing a read-only proc
// file EIO; a directory is EISDIR, a file used as a directory ("file/") ENOTDIR (the path walk
// of fs/namei.c). A bad value is refused before anything changes.

import { kmsgLine } from "../kernel/printk.ts";
import {
  EACCES,
  EINVAL,
  EIO,
  EISDIR,
  ENOENT,
  ENOTDIR,
  ERANGE,
  KernelError,
} from "../include/errno.ts";
import type { Kernel } from "../kernel.ts";
import { type Hstate, type HugetlbPool, ulong } from "../mm/hugetlb.ts";
import { memparse } from "../mm/hugetlb_cmdline.ts";
import type { HugetlbVmemmap } from "../mm/hugetlb_vmemmap_api.ts";
import type { MemoryHotplug } from "../mm/memory_hotplug.ts";
import { readPfnWords } from "./kpageflags.ts";
import { isMemoryDir, memoryFile, memoryPaths } from "./memory_sysfs.ts";

const ULONG_MAX = (1n << 64n) - 1n;

/** kstrtoul(s, 10) as a bigint (the exact unsigned long). */
export function kstrtoulBig(text: string): bigint {
  const s = text.endsWith("\n") ? text.slice(0, -1) : text;
  const m = /^\+?([0-9]+)$/.exec(s);
  if (!m) throw new KernelError(EINVAL, `kstrtoul: "${text}"`);
  const v = BigInt(m[1]);
  if (v > ULONG_MAX) throw new KernelError(ERANGE, `kstrtoul: "${text}" overflows`);
  return v;
}

/** kstrtoul(s, 10): the value (clamped to a safe number; larger counts mean "as many as possible"). */
export function kstrtoul(text: string): number {
  const s = text.endsWith("\n") ? text.slice(0, -1) : text;
  const m = /^\+?([0-9]+)$/.exec(s);
  if (!m) throw new KernelError(EINVAL, `kstrtoul: "${text}"`);
  const v = BigInt(m[1]);
  if (v > ULONG_MAX) throw new KernelError(ERANGE, `kstrtoul: "${text}" overflows`);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** The value of base-0 digits (_parse_integer_fixup_radix()): 0x hexadecimal, 0 octal. */
export function base0Value(digits: string): bigint {
  if (/^0[xX]/.test(digits)) return BigInt(digits);
  return digits.length > 1 && digits[0] === "0" ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
}

/** proc_get_long(): one number of a sysctl write (base 0); null when the write holds none. */
export function procGetLong(text: string): { neg: boolean; value: bigint } | null {
  const s = text.replace(/^[\s]+/, "");
  if (s.length === 0) return null;
  const m = /^(-?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([\s\S]*)$/.exec(s);
  if (!m) throw new KernelError(EINVAL, `sysctl: "${text}"`);
  if (m[3].length && !/^[ \t\n]/.test(m[3])) throw new KernelError(EINVAL, `sysctl: "${text}"`);
  if (m[2].length > 21) throw new KernelError(EINVAL, `sysctl: "${text}"`);
  const v = base0Value(m[2]);
  if (v > ULONG_MAX) throw new KernelError(EINVAL, `sysctl: "${text}" overflows`);
  return { neg: m[1] === "-", value: v };
}

/**
 * The number of a sysctl write. A write of blanks only is EINVAL: the handler's loop stops
 * before its first value and `if (write && first) return -EINVAL` (an empty write never gets
 * here: Vfs.write returns first, as the handler does for *lenp == 0).
 */
function procNumber(text: string): { neg: boolean; value: bigint } {
  const r = procGetLong(text);
  if (r === null) throw new KernelError(EINVAL, `sysctl: "${text}" holds no number`);
  return r;
}

/** proc_doulongvec_minmax() write. */
export function procUlong(text: string): number {
  const r = procNumber(text);
  if (r.neg) throw new KernelError(EINVAL, `sysctl: "${text}" is negative`);
  return r.value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(r.value);
}

/** proc_dointvec() write. */
export function procInt(text: string): number {
  const r = procNumber(text);
  if (r.neg ? r.value > 2n ** 31n : r.value > 2n ** 31n - 1n)
    throw new KernelError(EINVAL, `sysctl: "${text}"`);
  return Number(r.neg ? -r.value : r.value);
}

export interface FileOps {
  read?: () => string;
  /** Absent: read-only. */
  write?: (text: string) => void;
  /** sysfs (EACCES on a write to a read-only file) or proc (EIO). */
  kind: "sysfs" | "proc";
}

export interface VfsDeps {
  k: Kernel;
  pool: HugetlbPool;
  vmemmap: HugetlbVmemmap;
  /** Memory blocks (drivers/base/memory.c); absent: no /sys/devices/system/memory. */
  hotplug?: MemoryHotplug;
  /** Runs deferred work (free_hpage_work) before a file is read, as "settled" readers see it. */
  settle?: () => void;
}

const HUGEPAGES = "/sys/kernel/mm/hugepages";
const NODE = "/sys/devices/system/node";

export class Vfs {
  constructor(readonly d: VfsDeps) {}

  private get k(): Kernel {
    return this.d.k;
  }
  private get pool(): HugetlbPool {
    return this.d.pool;
  }

  /** Every file path, for listing (sorted). */
  paths(): string[] {
    const all = [...this.table().keys()];
    if (this.d.hotplug) all.push(...memoryPaths(this.d.hotplug));
    return all.sort();
  }

  /**
   * getdents(2) of a directory: the names directly under it, sorted ("." and ".." left out).
   * ENOTDIR for a file, ENOENT for a path that names nothing.
   */
  readdir(path: string): string[] {
    const dir = canonical(path).replace(/(.)\/$/, "$1");
    if (!this.isDir(dir)) {
      if (this.lookupFile(dir)) throw new KernelError(ENOTDIR, path);
      throw new KernelError(ENOENT, path);
    }
    const prefix = dir === "/" ? "/" : `${dir}/`;
    const names = new Set<string>();
    for (const p of [...this.paths(), "/proc/kpagecount", "/proc/kpageflags"]) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      const slash = rest.indexOf("/");
      names.add(slash < 0 ? rest : rest.slice(0, slash));
    }
    return [...names].sort();
  }

  exists(path: string): boolean {
    return this.lookup(path) !== null || path === "/proc/kpageflags" || path === "/proc/kpagecount";
  }

  /** read(2) of the whole file. ENOENT for a path that does not exist. */
  read(path: string): string {
    if (path === "/proc/kpageflags" || path === "/proc/kpagecount") {
      throw new KernelError(EINVAL, `${path} is binary: use readBinary`);
    }
    const f = this.lookup(path) ?? this.lookup(canonical(path));
    if (!f) throw this.notAFile(path);
    if (!f.read) throw new KernelError(EACCES, path);
    return f.read();
  }

  /** read() that returns null instead of an error (what observe() wants). */
  tryRead(path: string): string | null {
    try {
      return this.read(path);
    } catch (e) {
      if (e instanceof KernelError) return null;
      throw e;
    }
  }

  /** write(2) of `text`; throws KernelError(errno) as the kernel's write returns it. */
  write(path: string, text: string): void {
    if (path === "/proc/kpageflags" || path === "/proc/kpagecount")
      throw new KernelError(EIO, path);
    const f = this.lookup(path) ?? this.lookup(canonical(path));
    if (!f) throw this.notAFile(path);
    if (!f.write) throw new KernelError(f.kind === "sysfs" ? EACCES : EIO, path);
    // A zero-length write never reaches the store method (kernfs), nor the sysctl's parser.
    if (text.length === 0) return;
    f.write(text);
  }

  /** pread() of a binary file: /proc/kpageflags, /proc/kpagecount (8-byte aligned offsets). */
  readBinary(path: string, offset: number, length: number): Uint8Array {
    const which =
      path === "/proc/kpageflags" ? "flags" : path === "/proc/kpagecount" ? "count" : null;
    if (which === null)
      return new TextEncoder().encode(this.read(path)).subarray(offset, offset + length);
    if (offset % 8 !== 0 || length % 8 !== 0)
      throw new KernelError(EINVAL, `${path}: unaligned read`);
    return readPfnWords(this.k, which, offset, length, this.maxPfn());
  }

  /**
   * The error of a path that names no file, as open(2)'s path walk gives it: a directory is
   * EISDIR (read() of it, or open for writing), a file followed by "/" or by more of a path is
   * ENOTDIR, anything else ENOENT. Repeated and "." components resolve as the kernel's.
   */
  private notAFile(path: string): KernelError {
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    const trailingSlash = /\/\.?$/.test(path);
    for (let i = 1; i <= parts.length; i++) {
      const prefix = `/${parts.slice(0, i).join("/")}`;
      const whole = i === parts.length;
      if ((!whole || trailingSlash) && this.lookupFile(prefix))
        return new KernelError(ENOTDIR, path);
      if (whole && this.isDir(prefix)) return new KernelError(EISDIR, path);
      if (!whole && !this.isDir(prefix)) break;
    }
    if (parts.length === 0 && path.startsWith("/")) return new KernelError(EISDIR, path);
    return new KernelError(ENOENT, path);
  }

  private lookupFile(path: string): boolean {
    return this.lookup(path) !== null || path === "/proc/kpageflags" || path === "/proc/kpagecount";
  }

  /** A directory of the file tree: every directory above a file, and the memory block dirs. */
  isDir(path: string): boolean {
    if (path === "/") return true;
    if (this.d.hotplug && isMemoryDir(this.d.hotplug, path)) return true;
    if (this.cachedDirs === null || this.cachedDirsTable !== this.table()) {
      const dirs = new Set<string>(["/proc"]);
      for (const p of this.table().keys())
        for (let i = p.indexOf("/", 1); i > 0; i = p.indexOf("/", i + 1)) dirs.add(p.slice(0, i));
      this.cachedDirs = dirs;
      this.cachedDirsTable = this.table();
    }
    return this.cachedDirs.has(path);
  }

  private cachedDirs: Set<string> | null = null;
  private cachedDirsTable: Map<string, FileOps> | null = null;

  /** max_pfn: the end of the highest present range. */
  maxPfn(): number {
    let max = 0;
    for (const n of this.k.spec.nodes) for (const r of n.ranges) max = Math.max(max, r.endPfn);
    return max;
  }

  // ------------------------------------------------------------------ the file table

  /** The file at path: the table's, or a memory-block file (made on demand: there may be 10^5). */
  private lookup(path: string): FileOps | null {
    const f = this.table().get(path);
    if (f) return f;
    return this.d.hotplug ? memoryFile(this.d.hotplug, path) : null;
  }

  private cachedTable: Map<string, FileOps> | null = null;
  private cachedTableKey = "";

  /** The file table, built again only when the set of files can have changed. */
  private table(): Map<string, FileOps> {
    const pool = this.pool;
    // Which files exist depends on the sysctl's registration, the hstates' demote orders and
    // the nodes; the handlers read everything else when called.
    let key = this.d.vmemmap.sysctlRegistered(pool.hstates.map((h) => h.order)) ? "s" : "-";
    for (const h of pool.hstates) key += `/${h.order}:${h.demoteOrder}`;
    key += `/${pool.nodes.join(",")}`;
    if (this.cachedTable === null || key !== this.cachedTableKey) {
      this.cachedTable = this.buildTable();
      this.cachedTableKey = key;
    }
    return this.cachedTable;
  }

  private buildTable(): Map<string, FileOps> {
    const t = new Map<string, FileOps>();
    const pool = this.pool;
    const kb = this.k.pageSize / 1024;
    t.set("/proc/meminfo", { kind: "proc", read: () => this.meminfo() });
    t.set("/proc/vmstat", { kind: "proc", read: () => this.vmstat() });
    t.set("/proc/zoneinfo", { kind: "proc", read: () => this.zoneinfo() });
    t.set("/proc/cmdline", { kind: "proc", read: () => `${this.k.spec.cmdline}\n` });
    // kernel/printk/printk.c devkmsg_read(): one record per line, "level,seq,usec,flags;text"
    // (a reader of the real file blocks at the end; this one ends there).
    t.set("/dev/kmsg", {
      kind: "proc",
      read: () =>
        this.k.printk
          .records()
          .map((r) => `${kmsgLine(r)}\n`)
          .join(""),
    });
    // kernel/panic.c: tainted_mask as a decimal number (2^5 TAINT_BAD_PAGE, 2^9 TAINT_WARN).
    t.set("/proc/sys/kernel/tainted", { kind: "proc", read: () => `${this.k.tainted}\n` });
    t.set(`${NODE}/online`, { kind: "sysfs", read: () => `${nodeList(pool.nodes)}\n` });
    const def = pool.defaultHstate;
    // max_huge_pages is an unsigned long: after a pool's surplus exceeds its pages it reads
    // as the wrapped difference (docs/findings.md 6).
    t.set("/proc/sys/vm/nr_hugepages", {
      kind: "proc",
      read: () => `${ulong(def.maxHugePages)}\n`,
      write: (s) => pool.nrHugepagesStore(def, procUlong(s), null),
    });
    t.set("/proc/sys/vm/nr_hugepages_mempolicy", {
      kind: "proc",
      read: () => `${ulong(def.maxHugePages)}\n`,
      write: (s) => pool.nrHugepagesStore(def, procUlong(s), null),
    });
    t.set("/proc/sys/vm/nr_overcommit_hugepages", {
      kind: "proc",
      read: () => `${def.nrOvercommitRaw}\n`,
      write: (s) => {
        const r = procNumber(s);
        if (r.neg) throw new KernelError(EINVAL, `sysctl: "${s}" is negative`);
        pool.setOvercommit(def, r.value);
      },
    });
    if (pool.poolRules.movableGiganticPagesSysctl) {
      // mm/hugetlb_sysctl.c (6.19+): a plain proc_dointvec, any int is taken.
      t.set("/proc/sys/vm/movable_gigantic_pages", {
        kind: "proc",
        read: () => `${pool.movableGiganticPages}\n`,
        write: (s) => {
          pool.movableGiganticPages = procInt(s);
        },
      });
    }
    if (this.d.vmemmap.sysctlRegistered(pool.hstates.map((h) => h.order))) {
      t.set("/proc/sys/vm/hugetlb_optimize_vmemmap", {
        kind: "proc",
        read: () => `${this.d.vmemmap.enabled ? 1 : 0}\n`,
        write: (s) => {
          this.d.vmemmap.enabled = procInt(s) !== 0;
        },
      });
    }
    for (const h of pool.hstates) {
      const dir = `${HUGEPAGES}/${h.name}`;
      const nr = (nid: number | null) => (s: string) => pool.nrHugepagesStore(h, kstrtoul(s), nid);
      t.set(`${dir}/nr_hugepages`, {
        kind: "sysfs",
        read: () => `${h.nrHugePages}\n`,
        write: nr(null),
      });
      t.set(`${dir}/nr_hugepages_mempolicy`, {
        kind: "sysfs",
        read: () => `${h.nrHugePages}\n`,
        write: nr(null),
      });
      t.set(`${dir}/free_hugepages`, { kind: "sysfs", read: () => `${h.freeHugePages}\n` });
      t.set(`${dir}/resv_hugepages`, { kind: "sysfs", read: () => `${h.resvHugePages}\n` });
      t.set(`${dir}/surplus_hugepages`, { kind: "sysfs", read: () => `${h.surplusHugePages}\n` });
      t.set(`${dir}/nr_overcommit_hugepages`, {
        kind: "sysfs",
        read: () => `${h.nrOvercommitRaw}\n`,
        write: (s) => {
          if (pool.overcommitRefused(h))
            throw new KernelError(EINVAL, "nr_overcommit_hugepages: gigantic");
          pool.setOvercommit(h, kstrtoulBig(s));
        },
      });
      if (h.demoteOrder) this.demoteFiles(t, dir, h, null);
      for (const nid of pool.nodes) {
        const nd = `${NODE}/node${nid}/hugepages/${h.name}`;
        t.set(`${nd}/nr_hugepages`, {
          kind: "sysfs",
          read: () => `${h.nrHugePagesNode[nid]}\n`,
          write: nr(nid),
        });
        t.set(`${nd}/free_hugepages`, {
          kind: "sysfs",
          read: () => `${h.freeHugePagesNode[nid]}\n`,
        });
        t.set(`${nd}/surplus_hugepages`, {
          kind: "sysfs",
          read: () => `${h.surplusHugePagesNode[nid]}\n`,
        });
        if (h.demoteOrder) this.demoteFiles(t, nd, h, nid);
      }
    }
    for (const nid of pool.nodes) {
      t.set(`${NODE}/node${nid}/meminfo`, { kind: "sysfs", read: () => this.nodeMeminfo(nid) });
    }
    void kb;
    return t;
  }

  private demoteFiles(t: Map<string, FileOps>, dir: string, h: Hstate, nid: number | null): void {
    const pool = this.pool;
    t.set(`${dir}/demote`, {
      kind: "sysfs",
      write: (s) => pool.demote(h, kstrtoul(s), nid),
    });
    t.set(`${dir}/demote_size`, {
      kind: "sysfs",
      read: () => `${2 ** (h.demoteOrder + pool.pageShift - 10)}kB\n`,
      write: (s) => pool.setDemoteSize(h, memparse(s)),
    });
  }

  // ------------------------------------------------------------------ /proc/meminfo

  private meminfo(): string {
    this.d.settle?.();
    const k = this.k;
    const kbPerPage = k.pageSize / 1024;
    const total = k.buddy.totalManaged();
    const free = k.buddy.nrFreePages();
    const pool = this.pool;
    const lines: string[] = [];
    const kbLine = (label: string, kB: number) =>
      lines.push(`${`${label}:`.padEnd(16)}${String(kB).padStart(8)} kB`);
    kbLine("MemTotal", total * kbPerPage);
    kbLine("MemFree", free * kbPerPage);
    kbLine("MemAvailable", free * kbPerPage);
    for (const l of [
      "Buffers",
      "Cached",
      "SwapCached",
      "Active",
      "Inactive",
      "Active(anon)",
      "Inactive(anon)",
      "Active(file)",
      "Inactive(file)",
      "Unevictable",
      "Mlocked",
      "SwapTotal",
      "SwapFree",
      "Zswap",
      "Zswapped",
      "Dirty",
      "Writeback",
      "AnonPages",
      "Mapped",
      "Shmem",
      "KReclaimable",
      "Slab",
      "SReclaimable",
      "SUnreclaim",
      "KernelStack",
    ])
      kbLine(l, 0);
    kbLine("PageTables", this.pageTablePages() * kbPerPage);
    for (const l of ["SecPageTables", "NFS_Unstable", "Bounce", "WritebackTmp"]) kbLine(l, 0);
    kbLine("CommitLimit", Math.floor(((total - pool.totalPages()) * kbPerPage) / 2));
    kbLine("Committed_AS", 0);
    kbLine("VmallocTotal", 34359738367);
    for (const l of ["VmallocUsed", "VmallocChunk", "Percpu"]) kbLine(l, 0);
    // CONFIG_MEMORY_FAILURE: the pages memory_failure() marked (num_poisoned_pages).
    if (k.spec.memoryFailure !== false) kbLine("HardwareCorrupted", k.numPoisonedPages * kbPerPage);
    for (const l of [
      "AnonHugePages",
      "ShmemHugePages",
      "ShmemPmdMapped",
      "FileHugePages",
      "FilePmdMapped",
      "Balloon",
    ])
      kbLine(l, 0);
    // hugetlb_report_meminfo()
    const h = pool.defaultHstate;
    lines.push(`HugePages_Total:   ${String(h.nrHugePages).padStart(5)}`);
    lines.push(`HugePages_Free:    ${String(h.freeHugePages).padStart(5)}`);
    lines.push(`HugePages_Rsvd:    ${String(h.resvHugePages).padStart(5)}`);
    lines.push(`HugePages_Surp:    ${String(h.surplusHugePages).padStart(5)}`);
    lines.push(`Hugepagesize:   ${String(h.sizeKb).padStart(8)} kB`);
    let hugetlbKb = 0;
    for (const x of pool.hstates) hugetlbKb += x.nrHugePages * x.sizeKb;
    lines.push(`Hugetlb:        ${String(hugetlbKb).padStart(8)} kB`);
    return `${lines.join("\n")}\n`;
  }

  /** NR_PAGETABLE: page-table pages the page allocator gave out after boot. */
  private pageTablePages(): number {
    return this.k.buddy.allocations.pagesWithUse("pagetable");
  }

  private nodeMeminfo(nid: number): string {
    const h = this.pool.defaultHstate;
    const z = this.k.buddy.zonesByNode[nid] ?? [];
    const kbPerPage = this.k.pageSize / 1024;
    const total = z.reduce((a, b) => a + b.managed, 0);
    const free = z.reduce((a, b) => a + b.nrFree, 0);
    const pad = (label: string, v: number) =>
      `Node ${nid} ${`${label}:`.padEnd(16)}${String(v).padStart(8)} kB`;
    return `${[
      pad("MemTotal", total * kbPerPage),
      pad("MemFree", free * kbPerPage),
      pad("MemUsed", (total - free) * kbPerPage),
      `Node ${nid} HugePages_Total: ${String(h.nrHugePagesNode[nid]).padStart(5)}`,
      `Node ${nid} HugePages_Free:  ${String(h.freeHugePagesNode[nid]).padStart(5)}`,
      `Node ${nid} HugePages_Surp:  ${String(h.surplusHugePagesNode[nid]).padStart(5)}`,
    ].join("\n")}\n`;
  }

  // ------------------------------------------------------------------ /proc/vmstat, zoneinfo

  private vmstat(): string {
    this.d.settle?.();
    const k = this.k;
    const rows: Array<[string, number]> = [
      ["nr_free_pages", k.buddy.nrFreePages()],
      ["nr_zone_inactive_anon", 0],
      ["nr_zone_active_anon", 0],
      ["nr_page_table_pages", this.pageTablePages()],
      ["nr_memmap_pages", k.vmstat.nrMemmapPages],
      ["nr_memmap_boot_pages", k.vmstat.nrMemmapBootPages],
      ["htlb_buddy_alloc_success", 0],
      ["htlb_buddy_alloc_fail", k.buddy.failures.get("alloc_buddy_hugetlb_folio") ?? 0],
    ];
    return rows.map(([a, b]) => `${a} ${b}\n`).join("");
  }

  private zoneinfo(): string {
    this.d.settle?.();
    const out: string[] = [];
    for (const nid of this.pool.nodes) {
      for (const z of this.k.buddy.zonesByNode[nid] ?? []) {
        out.push(`Node ${nid}, zone ${z.type.padStart(8)}`);
        out.push(`  pages free     ${z.nrFree}`);
        out.push(`        boost    0`);
        out.push(`        min      ${z.watermarkMin}`);
        out.push(`        low      ${z.watermarkLow}`);
        out.push(`        high     ${z.watermarkHigh}`);
        out.push(`        promo    ${z.watermarkHigh}`);
        out.push(`        spanned  ${z.endPfn - z.startPfn}`);
        out.push(`        present  ${z.present}`);
        out.push(`        managed  ${z.managed}`);
        out.push(`        cma      0`);
        out.push(`  start_pfn:           ${z.startPfn}`);
      }
    }
    return `${out.join("\n")}\n`;
  }
}

/**
 * A path as the kernel's walk resolves it: "//" and "/./" are one "/", ".." goes up. A path
 * ending in "/" keeps it (it can only name a directory).
 */
export function canonical(path: string): string {
  if (!path.startsWith("/")) return path;
  const out: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return `/${out.join("/")}${/\/\.{0,2}$/.test(path) && out.length ? "/" : ""}`;
}

/** A nodemask as the kernel prints it: "0", "0-3", "0,2-3". */
export function nodeList(nodes: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < nodes.length) {
    let j = i;
    while (j + 1 < nodes.length && nodes[j + 1] === nodes[j] + 1) j++;
    parts.push(i === j ? `${nodes[i]}` : `${nodes[i]}-${nodes[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}
