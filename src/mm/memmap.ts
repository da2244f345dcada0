// The memmap seen through the vmemmap (include/asm-generic/memory_model.h: pfn_to_page() is
// `vmemmap + pfn` with SPARSEMEM_VMEMMAP). Every struct page read or write of the model goes
// through the simulated kernel page tables and TLB, so that after HVO a read of struct page 64
// of a legacy folio returns the bytes of struct page 0, and a write there faults.
//
// vaddrs are bigint at the API; inside, pfn * sizeof(struct page) is a plain number (a pfn fits
// in 2^53 and so does its memmap offset).

import { Oops } from "../include/errno.ts";
import type { KernelPageTables } from "./pgtable.ts";
import type { FrameStore } from "./frames.ts";
import type { NodeSpec, PfnRange } from "../machine/spec.ts";
import { FastPaths } from "./fast_paths.ts";

const NO_WORDS = new Uint32Array(0);

export class Memmap {
  // The number fields read on every struct page access start as numbers: a field declared
  // without a value starts undefined (ES2022 class fields), and V8 then keeps it as "any
  // value", checked for a small integer, a heap number or undefined on every read.
  readonly pageSize: number = 0;
  readonly structPageSize: number = 0;
  /** sizeof(struct page) divides PAGE_SIZE: no struct page straddles two vmemmap pages. */
  readonly wholeStructPages: boolean;
  /** Struct page reads and writes, for reports and benchmarks. */
  reads = 0;
  writes = 0;

  constructor(
    readonly frames: FrameStore,
    readonly pgt: KernelPageTables,
    readonly vmemmapBase: bigint,
    structPageSize: number,
    pageShift: number,
  ) {
    this.structPageSize = structPageSize;
    this.pageSize = 2 ** pageShift;
    this.pageRecip = 2 ** -pageShift;
    this.wholeStructPages = this.pageSize % structPageSize === 0;
    this.baseLo32 = Number(vmemmapBase & 0xffffffffn);
    this.baseHi32 = Number(vmemmapBase >> 32n);
  }

  /** pfn_to_page(): the struct page's virtual address. */
  vaddrOf(pfn: number): bigint {
    return this.vmemmapBase + BigInt(pfn) * BigInt(this.structPageSize);
  }

  /** The high 32 bits of the address vaddrLo() computed last. */
  vhi = 0;
  private readonly baseLo32: number = 0;
  private readonly baseHi32: number = 0;

  /**
   * The low 32 bits of vaddrOf(pfn) + byteOff (the high 32 left in `vhi`): an address to store
   * as two halves, no bigint (byteOff is small and non-negative).
   */
  vaddrLo(pfn: number, byteOff: number): number {
    const low = this.baseLo32 + pfn * this.structPageSize + byteOff;
    // The carry out of the low half, without `%` on doubles (a call to fmod()).
    const carry = Math.floor(low / 2 ** 32);
    this.vhi = (this.baseHi32 + carry) >>> 0;
    return low - carry * 2 ** 32;
  }

  /** page_to_pfn() for an address inside the vmemmap (struct page aligned). */
  pfnOfVaddr(vaddr: bigint): number {
    return Number((vaddr - this.vmemmapBase) / BigInt(this.structPageSize));
  }

  /** The offset inside its frame of the byte the last at() translated. */
  private atOff = 0;
  /**
   * 1 / pageSize: a power of two, so voff * pageRecip is voff / pageSize exactly, and a
   * multiplication costs a few cycles where a division costs tens (every struct page access).
   */
  private readonly pageRecip: number = 0;

  /**
   * Where the byte at memmap offset `voff` lives, through the TLB: returns the frame and leaves
   * the offset in atOff (no object per access: this is the hot path of every struct page read).
   */
  private at(voff: number, write: boolean): number {
    const vpn = Math.floor(voff * this.pageRecip);
    const frame = this.pgt.translateFrame(vpn);
    if (frame < 0 || (write && !this.pgt.tWritable)) this.fault(voff, frame);
    this.atOff = voff - vpn * this.pageSize;
    return frame;
  }

  /**
   * The Oops of an access at() could not make: no mapping (frame < 0), or a store through a
   * read-only one. Apart from at() so that at() stays small enough to be inlined everywhere.
   */
  private fault(voff: number, frame: number): never {
    if (frame < 0) {
      throw new Oops("unable to handle page fault: vmemmap address not mapped", {
        vaddr: this.vmemmapBase + BigInt(voff),
        pfn: Math.floor(voff / this.structPageSize),
      });
    }
    throw new Oops("write to a read-only vmemmap page", {
      vaddr: this.vmemmapBase + BigInt(voff),
      pfn: Math.floor(voff / this.structPageSize),
      frame,
    });
  }

  /** The model's fast paths (fast_paths.ts): readMemo; the kernel's once booted. */
  paths = new FastPaths();
  /**
   * readMemo: the vmemmap page the last read through the TLB went to (-1: none), its frame's
   * words as FrameStore.wordsToRead() gave them, and the frame store's gen and the page
   * tables' tlbGen then. While both stand, the TLB still holds that page's translation (no
   * entry dropped, and fills only add) and the frame still holds those words with nothing held
   * back: a translation and a frame lookup would find that array again.
   */
  private memoVpn = -1;
  private memoWords: Uint32Array = NO_WORDS;
  private memoGen = -1;
  private memoTlb = -1;

  /** The memo's words for page vpn, or null where they are not known to stand. */
  private memoFor(vpn: number): Uint32Array | null {
    return vpn === this.memoVpn &&
      this.frames.gen === this.memoGen &&
      this.pgt.tlbGen === this.memoTlb &&
      this.paths.readMemo
      ? this.memoWords
      : null;
  }

  /** After a read of page vpn through at(), which found `frame`: the memo is that page's. */
  private remember(vpn: number, frame: number): void {
    const w = this.paths.readMemo ? this.frames.wordsToRead(frame) : null;
    if (w === null) {
      this.memoVpn = -1;
      return;
    }
    this.memoVpn = vpn;
    this.memoWords = w;
    this.memoGen = this.frames.gen;
    this.memoTlb = this.pgt.tlbGen;
  }

  readU32(pfn: number, fieldOff: number): number {
    this.reads++;
    const voff = pfn * this.structPageSize + fieldOff;
    const vpn = Math.floor(voff * this.pageRecip);
    const off = voff - vpn * this.pageSize;
    if ((off & 3) === 0) {
      const w = this.memoFor(vpn);
      if (w !== null) return w[off >> 2];
    }
    const frame = this.at(voff, false);
    const v = this.frames.readU32(frame, off);
    this.remember(vpn, frame);
    return v;
  }

  readU64(pfn: number, fieldOff: number): bigint {
    this.reads++;
    const frame = this.at(pfn * this.structPageSize + fieldOff, false);
    return this.frames.readU64(frame, this.atOff);
  }

  /** The high half of the 64-bit field readU64Lo() read last. */
  hi = 0;

  /**
   * The low 32 bits of a 64-bit field, with the high 32 left in `hi`: one struct page read, no
   * bigint and no array (compound_head() reads one such word per call).
   */
  readU64Lo(pfn: number, fieldOff: number): number {
    this.reads++;
    const voff = pfn * this.structPageSize + fieldOff;
    const vpn = Math.floor(voff * this.pageRecip);
    const off = voff - vpn * this.pageSize;
    if ((off & 7) === 0) {
      const w = this.memoFor(vpn);
      if (w !== null) {
        const i = off >> 2;
        this.hi = w[i + 1];
        return w[i];
      }
    }
    const frame = this.at(voff, false);
    const lo = this.frames.readU64Lo(frame, off);
    this.hi = this.frames.hi;
    this.remember(vpn, frame);
    return lo;
  }

  /** The low and high 32 bits of a 64-bit field, as numbers (hot paths avoid bigint). */
  readU64Parts(pfn: number, fieldOff: number): [number, number] {
    this.reads++;
    const frame = this.at(pfn * this.structPageSize + fieldOff, false);
    const off = this.atOff;
    return [this.frames.readU32(frame, off), this.frames.readU32(frame, off + 4)];
  }

  writeU32(pfn: number, fieldOff: number, value: number): void {
    this.writes++;
    const frame = this.at(pfn * this.structPageSize + fieldOff, true);
    this.frames.writeU32(frame, this.atOff, value);
  }

  writeU64(pfn: number, fieldOff: number, value: bigint): void {
    this.writes++;
    const frame = this.at(pfn * this.structPageSize + fieldOff, true);
    this.frames.writeU64(frame, this.atOff, value);
  }

  /**
   * The vmemmap page of pfn's struct page, for stores to struct pages that all live in it: the
   * frame's bytes (its own, written in place) and the byte offset of pfn's struct page in them;
   * null when the MMU has no writable mapping for it (the caller then stores field by field and
   * faults where the kernel would). The caller adds its stores to `writes`.
   */
  writableSpan(pfn: number): { view: DataView; off: number } | null {
    const voff = pfn * this.structPageSize;
    const vpn = Math.floor(voff * this.pageRecip);
    const frame = this.pgt.translateFrame(vpn);
    if (frame < 0 || !this.pgt.tWritable) return null;
    return { view: this.frames.writableView(frame), off: voff - vpn * this.pageSize };
  }

  /** The byte offset, in the view structPageView() returned last, of the struct page. */
  spanOff = 0;
  /** The same bytes as that view, as 32-bit words in the host's byte order. */
  spanWords: Uint32Array = new Uint32Array(0);
  /** The frame of that view. */
  spanFrame = -1;

  /**
   * pfn's whole struct page for stores in place (wholeStructPages only): its vmemmap page's
   * bytes, made the frame's own, with the struct page at spanOff. Null, with nothing done, when
   * the MMU has no writable mapping for it or, with `skipGenerated`, when the page still reads
   * as what memmap_init() left (pattern "init"): such a page is rendered from the model's state
   * on every read. No object per call; the caller counts its stores in `writes`.
   */
  structPageView(pfn: number, skipGenerated: boolean, span = 0): DataView | null {
    const voff = pfn * this.structPageSize;
    const vpn = Math.floor(voff * this.pageRecip);
    const frame = this.pgt.translateFrame(vpn);
    if (frame < 0 || !this.pgt.tWritable) return null;
    const off = voff - vpn * this.pageSize;
    // `span` > 0: the caller uses only that many struct pages from pfn's (frames.ts
    // writableViewAt()); 0: any of the page's bytes.
    const v = this.frames.writableViewAt(
      frame,
      span > 0 ? off : 0,
      span > 0 ? off + span * this.structPageSize : this.pageSize,
      skipGenerated,
    );
    if (v === null) return null;
    this.spanOff = off;
    this.spanFrame = frame;
    this.spanWords = this.frames.lastWords;
    return v;
  }

  /** The translation of pfn's struct page's vmemmap page (through the TLB, as any access). */
  translatePfn(pfn: number): void {
    this.pgt.translateFrame(Math.floor(pfn * this.structPageSize * this.pageRecip));
  }

  /** writeU64() of a word given as its 32-bit halves: one struct page write, no bigint. */
  writeU64Parts(pfn: number, fieldOff: number, lo: number, hi: number): void {
    this.writes++;
    const frame = this.at(pfn * this.structPageSize + fieldOff, true);
    // Two 32-bit stores to one aligned word of one frame: the bytes of the 64-bit store.
    const off = this.atOff;
    this.frames.writeU32(frame, off, lo);
    this.frames.writeU32(frame, off + 4, hi);
  }

  /** The raw bytes of a struct page (it may straddle two vmemmap pages). */
  readStructPage(pfn: number): Uint8Array {
    const sps = this.structPageSize;
    const out = new Uint8Array(sps);
    let voff = pfn * sps;
    let done = 0;
    while (done < sps) {
      const frame = this.at(voff, false);
      const off = this.atOff;
      const n = Math.min(sps - done, this.pageSize - off);
      out.set(this.frames.view(frame).subarray(off, off + n), done);
      done += n;
      voff += n;
    }
    this.reads++;
    return out;
  }

  /** Writes a whole struct page (memcpy of struct pages, as reset_struct_pages() does). */
  writeStructPage(pfn: number, bytes: Uint8Array): void {
    const sps = this.structPageSize;
    let voff = pfn * sps;
    let done = 0;
    while (done < sps) {
      const frame = this.at(voff, true);
      const off = this.atOff;
      const n = Math.min(sps - done, this.pageSize - off);
      this.frames.writeBytes(frame, off, bytes.subarray(done, done + n));
      done += n;
      voff += n;
    }
    this.writes++;
  }

  /** Sets or clears bit `bit` of the 64-bit word at fieldOff. */
  setBit(pfn: number, fieldOff: number, bit: number, on: boolean): void {
    const word = bit < 32 ? fieldOff : fieldOff + 4;
    const b = bit % 32;
    const v = this.readU32(pfn, word);
    const nv = on ? v | (1 << b) : v & ~(1 << b);
    if (nv !== v) this.writeU32(pfn, word, nv >>> 0);
  }

  testBit(pfn: number, fieldOff: number, bit: number): boolean {
    const word = bit < 32 ? fieldOff : fieldOff + 4;
    return ((this.readU32(pfn, word) >>> (bit % 32)) & 1) === 1;
  }

  /** What a store to pfn's struct page goes through: the TLB, filled by a walk on a miss. */
  translate(pfn: number): { frame: number; writable: boolean } | null {
    return this.pgt.translate(Math.floor(pfn * this.structPageSize * this.pageRecip));
  }

  /**
   * translate() without an object: the frame (-1 when unmapped) of pfn's struct page when it
   * is mapped writable, else -1.
   */
  writableFrame(pfn: number): number {
    const frame = this.pgt.translateFrame(Math.floor(pfn * this.structPageSize * this.pageRecip));
    return frame >= 0 && this.pgt.tWritable ? frame : -1;
  }

  /** The frame backing the struct page of pfn, and whether it is mapped writable (no TLB fill). */
  backing(pfn: number): { frame: number; writable: boolean } | null {
    return this.pgt.walkPage(Math.floor(pfn * this.structPageSize * this.pageRecip));
  }
}

/**
 * memmap_init()'s defer_init() (mm/mm_init.c, CONFIG_DEFERRED_STRUCT_PAGE_INIT): in the zone
 * that reaches the end of its node (pgdat_end_pfn()), only the first PAGES_PER_SECTION pfns
 * memmap_init_range() initialises, counted over the node's memory ranges in that zone, and up
 * to the next section boundary, are done early; from that pfn on the struct pages wait for
 * deferred_init_memmap(), which walks free memory only (never memblock reservations such as
 * boot-time huge pages). Returns that first deferred pfn, or null when the whole zone is
 * initialised early (another zone of the node ends later, or the zone is too small).
 */
export function firstDeferredPfn(
  node: NodeSpec,
  zone: PfnRange,
  pagesPerSection: number,
): number | null {
  const nodeEnd = Math.max(...node.zones.map((z) => z.endPfn));
  if (zone.endPfn < nodeEnd) return null;
  let counted = 0;
  /** The pfn that made nr_initialised exceed PAGES_PER_SECTION; from it on, the next aligned one stops. */
  let over: number | null = null;
  for (const r of node.ranges) {
    const s = Math.max(r.startPfn, zone.startPfn);
    const e = Math.min(r.endPfn, zone.endPfn);
    if (s >= e) continue;
    if (over === null && counted + (e - s) > pagesPerSection)
      over = s + (pagesPerSection - counted);
    counted += e - s;
    if (over === null) continue;
    const aligned = Math.ceil(Math.max(over, s) / pagesPerSection) * pagesPerSection;
    if (aligned < e) return aligned;
  }
  return null;
}
