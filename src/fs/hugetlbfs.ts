// fs/hugetlbfs/inode.c: hugetlbfs mounts (pagesize=, size=, min_size= and their subpool),
// files (inodes with a page cache of huge folios and a reservation map), truncate, unlink and
// eviction (remove_inode_hugepages() + hugetlb_unreserve_pages() of mm/hugetlb.c), and the
// internal mounts behind MAP_HUGETLB (hugetlb_file_setup()).
//
// The reservation map of a file is the set of page indexes that hold a reservation or a page
// (struct resv_map's regions, one index at a time); counting regions is counting members.

import { EBUSY, EINVAL, ENOENT, ENOMEM, KernelError } from "../include/errno.ts";
import { PAGE_OFF } from "../include/mm_types.ts";
import type { Hstate, HugetlbPool, Subpool } from "../mm/hugetlb.ts";
import { folioRefCount, folioSetRefCount } from "../mm/hugetlb_folio.ts";
import { memparse } from "../mm/hugetlb_cmdline.ts";

/** A hugetlbfs inode. */
export class HugetlbInode {
  sizeBytes = 0;
  /** The resv_map's regions, as page indexes. */
  readonly resvMap = new Set<number>();
  /** The page cache: index -> head pfn. */
  readonly pages = new Map<number, number>();
  /** Links from a directory (0 once unlinked, or for the anonymous files of MAP_HUGETLB). */
  nlink = 1;
  /** Mappings (and open descriptors) that keep the inode alive. */
  users = 0;
  constructor(
    readonly sb: HugetlbfsSb,
    readonly name: string,
    /** i_ino, from the kernel's get_next_ino() (Kernel.getNextIno()). */
    readonly id: number,
  ) {}
  get h(): Hstate {
    return this.sb.h;
  }
  /** A made-up address_space pointer, for folio->mapping of page cache folios. */
  get mappingVaddr(): bigint {
    return 0xffff888100000000n + BigInt(this.id) * 0x400n;
  }
}

/** struct hugetlbfs_sb_info */
export class HugetlbfsSb {
  readonly files = new Map<string, HugetlbInode>();
  constructor(
    readonly dir: string | null,
    readonly h: Hstate,
    readonly spool: Subpool | null,
  ) {}
}

export interface MountOptions {
  pagesizeBytes: bigint | null;
  size: { value: bigint; percent: boolean } | null;
  minSize: { value: bigint; percent: boolean } | null;
}

/** hugetlbfs_parse_param(): the options we know; others are accepted and ignored. */
export function parseMountOptions(opts: string | undefined): MountOptions {
  const out: MountOptions = { pagesizeBytes: null, size: null, minSize: null };
  for (const part of (opts ?? "").split(",")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    if (key === "pagesize") out.pagesizeBytes = memparse(value);
    else if (key === "size" || key === "min_size") {
      const percent = value.endsWith("%");
      const v = { value: memparse(percent ? value.slice(0, -1) : value), percent };
      if (key === "size") out.size = v;
      else out.minSize = v;
    } else if (!["mode", "uid", "gid", "nr_inodes"].includes(key)) {
      throw new KernelError(EINVAL, `hugetlbfs: unknown option ${key}`);
    }
  }
  return out;
}

export class Hugetlbfs {
  /** The mount each directory shows (the last one mounted there). */
  readonly mounts = new Map<string, HugetlbfsSb>();
  /**
   * Mounts hidden under a later mount on the same directory, oldest first: Linux stacks a
   * second mount on a mount point (do_new_mount() does not refuse it; measured on 6.18, see
   * docs/kernel-files.md), and umount uncovers the one below.
   */
  private readonly covered = new Map<string, HugetlbfsSb[]>();
  /** hugetlbfs_vfsmount[]: the internal mounts of MAP_HUGETLB, one per hstate. */
  private readonly internal = new Map<number, HugetlbfsSb>();

  constructor(readonly pool: HugetlbPool) {}

  /** hugetlbfs_size_to_hpages() */
  private sizeToHpages(h: Hstate, v: { value: bigint; percent: boolean } | null): number {
    if (v === null) return -1;
    const shift = BigInt(h.order + this.pool.pageShift);
    let size = v.value;
    if (v.percent) size = ((size << shift) * BigInt(h.maxHugePages)) / 100n;
    return Number(size >> shift);
  }

  /** mount -t hugetlbfs -o opts none dir */
  mount(dir: string, opts?: string): HugetlbfsSb {
    const o = parseMountOptions(opts);
    let h = this.pool.defaultHstate;
    if (o.pagesizeBytes !== null) {
      const found = this.pool.hstates.find(
        (x) => BigInt(x.nrPages) * BigInt(2 ** this.pool.pageShift) === o.pagesizeBytes,
      );
      if (!found) {
        // hugetlbfs_parse_param(): pr_err() with the "hugetlbfs: " prefix, then -EINVAL.
        const text = `Unsupported page size ${o.pagesizeBytes >> 20n} MB`;
        this.pool.k.printk.printk("err", `hugetlbfs: ${text}`);
        throw new KernelError(EINVAL, text);
      }
      h = found;
    }
    const maxHpages = this.sizeToHpages(h, o.size);
    const minHpages = this.sizeToHpages(h, o.minSize);
    if (maxHpages !== -1 && minHpages > maxHpages) {
      throw new KernelError(EINVAL, "Minimum size can't be greater than maximum size");
    }
    let spool: Subpool | null = null;
    if (maxHpages !== -1 || minHpages !== -1) {
      spool = this.pool.hugepageNewSubpool(h, maxHpages, minHpages);
      if (!spool) throw new KernelError(ENOMEM, "hugepage_new_subpool");
    }
    const sb = new HugetlbfsSb(dir, h, spool);
    const below = this.mounts.get(dir);
    if (below) this.covered.set(dir, [...(this.covered.get(dir) ?? []), below]);
    this.mounts.set(dir, sb);
    return sb;
  }

  /** umount dir: EBUSY while a file of it is mapped; the files are evicted. */
  umount(dir: string): void {
    const sb = this.mounts.get(dir);
    if (!sb) throw new KernelError(EINVAL, `${dir} is not a mount point`);
    for (const ino of sb.files.values())
      if (ino.users > 0) throw new KernelError(EBUSY, `${dir} is busy`);
    for (const ino of [...sb.files.values()]) {
      sb.files.delete(ino.name);
      ino.nlink = 0;
      this.evictInode(ino);
    }
    const stack = this.covered.get(dir) ?? [];
    const below = stack.pop();
    if (stack.length === 0) this.covered.delete(dir);
    if (below) this.mounts.set(dir, below);
    else this.mounts.delete(dir);
    if (sb.spool) this.pool.hugepagePutSubpool(sb.spool);
  }

  /** The mount and file name of a path, or null when it is on no hugetlbfs mount. */
  resolve(path: string): { sb: HugetlbfsSb; name: string } | null {
    let best: HugetlbfsSb | null = null;
    for (const [dir, sb] of this.mounts) {
      const prefix = dir.endsWith("/") ? dir : `${dir}/`;
      if (path.startsWith(prefix) && (!best || (best.dir as string).length < dir.length)) best = sb;
    }
    if (!best) return null;
    const dir = best.dir as string;
    const name = path.slice((dir.endsWith("/") ? dir : `${dir}/`).length);
    if (!name || name.includes("/")) return null;
    return { sb: best, name };
  }

  /** open(path, O_RDWR | O_CREAT): the inode; null when the path is on no hugetlbfs mount. */
  openCreate(path: string): HugetlbInode | null {
    const r = this.resolve(path);
    if (!r) return null;
    let ino = r.sb.files.get(r.name);
    if (!ino) {
      ino = new HugetlbInode(r.sb, r.name, this.pool.k.getNextIno());
      r.sb.files.set(r.name, ino);
    }
    return ino;
  }

  lookup(path: string): HugetlbInode | null {
    const r = this.resolve(path);
    return r ? (r.sb.files.get(r.name) ?? null) : null;
  }

  /** hugetlb_file_setup(): an unlinked file on the hstate's internal mount (no subpool). */
  anonFile(h: Hstate): HugetlbInode {
    let sb = this.internal.get(h.order);
    if (!sb) {
      sb = new HugetlbfsSb(null, h, null);
      this.internal.set(h.order, sb);
    }
    const ino = new HugetlbInode(sb, `anon_hugepage`, this.pool.k.getNextIno());
    ino.nlink = 0;
    return ino;
  }

  /** unlink(path) */
  unlink(path: string): void {
    const r = this.resolve(path);
    const ino = r ? r.sb.files.get(r.name) : undefined;
    if (!r || !ino) throw new KernelError(ENOENT, path);
    r.sb.files.delete(r.name);
    ino.nlink = 0;
    if (ino.users === 0) this.evictInode(ino);
  }

  /** A user of the inode went away: an unlinked inode nobody uses is evicted. */
  putInode(ino: HugetlbInode): void {
    ino.users--;
    if (ino.users === 0 && ino.nlink === 0) this.evictInode(ino);
  }

  /** hugetlbfs_evict_inode(): remove_inode_hugepages(inode, 0, LLONG_MAX). */
  private evictInode(ino: HugetlbInode): void {
    this.removeInodeHugepages(ino, 0);
  }

  /** hugetlbfs_setattr() size: multiples of the huge page size; shrinking truncates. */
  truncate(ino: HugetlbInode, sizeBytes: number): void {
    const hsize = ino.h.nrPages * 2 ** this.pool.pageShift;
    if (sizeBytes % hsize !== 0) throw new KernelError(EINVAL, "hugetlbfs: size not aligned");
    const old = ino.sizeBytes;
    ino.sizeBytes = sizeBytes;
    if (sizeBytes < old) this.removeInodeHugepages(ino, sizeBytes / hsize);
  }

  /** remove_inode_hugepages(inode, lstart, LLONG_MAX) + hugetlb_unreserve_pages(). */
  private removeInodeHugepages(ino: HugetlbInode, startIdx: number): void {
    const pool = this.pool;
    let freed = 0;
    for (const [idx, f] of [...ino.pages]) {
      if (idx < startIdx) continue;
      ino.pages.delete(idx);
      // hugetlb_delete_from_page_cache(), then the page cache's reference goes.
      pool.k.memmap.writeU64(f, PAGE_OFF.mapping, 0n);
      const ref = folioRefCount(pool.k.memmap, f) - 1;
      folioSetRefCount(pool.k.memmap, f, Math.max(0, ref));
      if (ref <= 0) pool.freeHugeFolio(f);
      freed++;
    }
    // hugetlb_unreserve_pages(inode, start, LONG_MAX, freed)
    let chg = 0;
    for (const idx of [...ino.resvMap]) {
      if (idx >= startIdx) {
        ino.resvMap.delete(idx);
        chg++;
      }
    }
    const gbl = pool.hugepageSubpoolPutPages(ino.sb.spool, chg - freed);
    pool.hugetlbAcctMemory(ino.h, -gbl);
  }

  /** The directory of every mount, once per mount (a directory with stacked mounts repeats). */
  allMountDirs(): string[] {
    return [...this.mounts.keys()].flatMap((d) =>
      Array<string>(1 + (this.covered.get(d)?.length ?? 0)).fill(d),
    );
  }
}
