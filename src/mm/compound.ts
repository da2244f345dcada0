// Compound pages through the vmemmap: mm/page_alloc.c prep_compound_page(), mm/internal.h
// prep_compound_head()/prep_compound_tail(), include/linux/page-flags.h compound_head(),
// PageHead(), PageTail(), page_fixed_fake_head(), and the free-side undoing of them
// (free_tail_page_prepare(), clear_compound_head()).
//
// The two encodings and the legacy fake-head fixup are chosen by a CompoundConfig, which the
// HVO design strategy provides: this file holds no `if (design === ...)`.

import { HOST_LITTLE_ENDIAN } from "../include/endian.ts";
import { BUG_ON } from "../include/errno.ts";
import { type StructPageLayout, PAGE_OFF, TAIL_MAPPING } from "../include/mm_types.ts";
import { PG, type TailEncoding, encodeTail } from "../include/page_flags.ts";
import type { Memmap } from "./memmap.ts";
import { pow2 } from "../include/pow2.ts";
import { FastPaths } from "./fast_paths.ts";

export interface CompoundConfig {
  encoding: TailEncoding;
  /**
   * Legacy only: page_fixed_fake_head() looks behind a PG_head struct page at the start of a
   * vmemmap page while this returns true (the hugetlb_optimize_vmemmap_key static key).
   */
  fakeHeadFixup: () => boolean;
  /** Mutation tail-info-bit1 (kernel.ts MUTATIONS): set_compound_head() also sets bit 1. */
  tailInfoBit1?: () => boolean;
}

const U64 = (1n << 64n) - 1n;
/** TAIL_MAPPING as its 32-bit halves. */
const TAIL_MAPPING_LO = Number(TAIL_MAPPING & 0xffffffffn);
const TAIL_MAPPING_HI = Number(TAIL_MAPPING >> 32n);
/** The struct page fields of the bulk stores, read once (hot loops). */
const OFF_MAPPING = PAGE_OFF.mapping;
const OFF_INFO = PAGE_OFF.compoundInfo;
const OFF_PRIVATE = PAGE_OFF.private;

/** What forEachTailRange() does to the tails: prep_compound_page()'s, or their undoing. */
const TAILS_PREP = 0;
const TAILS_DESTROY = 1;
type TailsMode = typeof TAILS_PREP | typeof TAILS_DESTROY;

export class Compound {
  // Number fields start as numbers (memmap.ts Memmap says why: rawHead() reads them per call).
  private readonly perVmemmapPage: number = 0;
  /** The model's fast paths (fast_paths.ts): fallingRuns; the kernel's once booted. */
  paths = new FastPaths();
  /** translateRange()'s answers for forEachTailRange(), reused (no array per folio). */
  private transBuf = new Float64Array(0);
  /** The vmemmap base's 32-bit halves (rawHead()'s number arithmetic). */
  private readonly baseHi: number = 0;
  private readonly baseLo: number = 0;
  /** config.encoding is "mask" (read once: rawHead() runs for every compound_head()). */
  private readonly maskEncoding: boolean;
  /**
   * 1 / the struct page size where that is a power of two (then a product is the quotient
   * exactly, and far cheaper); 0 where it is not (56 or 72 bytes), for a division.
   */
  private readonly spsRecip: number = 0;
  /**
   * log2 of the struct page size where the vmemmap base's low 32 bits are 0 and the size is a
   * power of two (x86_64's 0xffffea0000000000 with 64-byte struct pages), else -1. Then a
   * struct page below 4 GiB of memmap has the base's high half as its address's, and
   * rawHead()'s arithmetic takes 32-bit integers (its first branch).
   */
  private readonly lowShift: number = -1;
  /** The vmemmap base's high half as an int32 (compared with words' high halves as int32s). */
  private readonly baseHiI: number = 0;
  constructor(
    readonly memmap: Memmap,
    readonly layout: StructPageLayout,
    readonly config: CompoundConfig,
  ) {
    this.perVmemmapPage = memmap.pageSize / layout.size;
    this.baseHi = Number(memmap.vmemmapBase >> 32n);
    this.baseLo = Number(memmap.vmemmapBase & 0xffffffffn);
    this.maskEncoding = config.encoding === "mask";
    const sps = layout.size;
    this.spsRecip = (sps & (sps - 1)) === 0 ? 1 / sps : 0;
    this.lowShift = this.spsRecip !== 0 && this.baseLo === 0 ? Math.log2(sps) : -1;
    this.baseHiI = this.baseHi | 0;
  }

  /** The word a tail of an order-`order` folio with head `headPfn` stores at +8. */
  tailInfo(headPfn: number, order: number): bigint {
    const info = encodeTail(
      this.config.encoding,
      order,
      this.memmap.vaddrOf(headPfn),
      this.layout.shift,
    );
    return this.config.tailInfoBit1?.() ? info | 2n : info;
  }

  /**
   * tailInfo() as its 32-bit halves, no bigint (one folio at a time, per prep_compound_page()):
   * returns the low half and leaves the high half in infoHi.
   */
  tailInfoLo(headPfn: number, order: number): number {
    let lo: number;
    if (this.config.encoding === "pointer") {
      // The head's address | 1: struct pages are 8-byte aligned, so bit 0 (and bit 1) are clear.
      const low = this.baseLo + headPfn * this.layout.size;
      const carry = Math.floor(low / 2 ** 32);
      this.infoHi = (this.baseHi + carry) >>> 0;
      lo = low - carry * 2 ** 32 + 1;
    } else {
      // The mask is the same for every folio of the order.
      let w = this.maskInfo[order];
      if (w === undefined) {
        w = this.tailInfo(headPfn, order) & ~2n;
        this.maskInfo[order] = w;
      }
      this.infoHi = Number(w >> 32n);
      lo = Number(w & 0xffffffffn);
    }
    return this.config.tailInfoBit1?.() ? (lo | 2) >>> 0 : lo;
  }

  /** The high half of the word tailInfoLo() returned last. */
  infoHi = 0;
  /** The mask encoding's compound word per order (without the tail-info-bit1 mutation). */
  private readonly maskInfo: bigint[] = [];

  /** _compound_head() of the raw struct page, without any fixup: the tail's own claim. */
  rawHead(pfn: number): number {
    const m = this.memmap;
    const lo = m.readU64Lo(pfn, PAGE_OFF.compoundInfo);
    if ((lo & 1) === 0) return pfn;
    const hi = m.hi;
    const shift = this.lowShift;
    if (shift >= 0) {
      // The memmap offset of pfn below 4 GiB and the base's low half 0: the page's address is
      // (base high half : voff). Mask: its AND with the word keeps the base's high half where
      // the word's high half holds all its bits, and the head's offset is voff AND the low
      // half. Pointer: the word's high half is the base's, the offset is the low half minus 1
      // (bit 0 is set: no borrow). Either way an offset below 4 GiB, so a shift gives the pfn.
      const voff = pfn * this.layout.size;
      if (voff < 2 ** 32) {
        const h = hi | 0;
        if (this.maskEncoding) {
          if ((h & this.baseHiI) === this.baseHiI) return (voff & lo) >>> shift;
        } else if (h === this.baseHiI) return (lo - 1) >>> shift;
      }
    }
    // The same arithmetic on 32-bit halves, while the head's memmap offset is a safe integer
    // (any word a tail can hold otherwise takes the bigint path below). No division or modulo
    // on the way: compound_head() of every pfn is the hottest read there is.
    let headHi: number;
    let headLo: number;
    if (this.maskEncoding) {
      const voff = pfn * this.layout.size;
      // voff's halves: below 4 GiB of memmap (every machine up to 256 GiB of 64-byte struct
      // pages) the high half is 0 without dividing.
      let vHiPart = 0;
      let vLoPart = voff;
      if (voff >= 2 ** 32) {
        vHiPart = Math.floor(voff / 2 ** 32);
        vLoPart = voff - vHiPart * 2 ** 32;
      }
      const sumLo = this.baseLo + vLoPart;
      const vHi = (this.baseHi + vHiPart + (sumLo >= 2 ** 32 ? 1 : 0)) >>> 0;
      headHi = (vHi & hi) >>> 0;
      headLo = (sumLo & lo) >>> 0;
    } else {
      headHi = hi;
      headLo = lo - 1;
    }
    // pfnOfHalves(headHi, headLo), written out: a call here is not always inlined.
    const d = headHi - this.baseHi;
    if (d >= 0 && d < 2 ** 20) {
      const headVoff = d * 2 ** 32 + headLo - this.baseLo;
      if (headVoff >= 0)
        return this.spsRecip !== 0
          ? Math.floor(headVoff * this.spsRecip)
          : Math.floor(headVoff / this.layout.size);
    }
    return this.rawHeadSlow(pfn, (BigInt(hi) << 32n) | BigInt(lo));
  }

  /**
   * page_to_pfn() of the vmemmap address with these 32-bit halves, where its memmap offset is a
   * safe non-negative integer below 2^52 (then it is that offset over the struct page size,
   * rounded down, as the bigint division gives); -1 otherwise, for the bigint path.
   */
  private pfnOfHalves(hi: number, lo: number): number {
    const d = hi - this.baseHi;
    if (d >= 0 && d < 2 ** 20) {
      const voff = d * 2 ** 32 + lo - this.baseLo;
      if (voff >= 0)
        return this.spsRecip !== 0
          ? Math.floor(voff * this.spsRecip)
          : Math.floor(voff / this.layout.size);
    }
    return -1;
  }

  private rawHeadSlow(pfn: number, info: bigint): number {
    const vaddr = this.memmap.vaddrOf(pfn);
    const head =
      this.config.encoding === "mask" ? vaddr & ((((info & 1n) - 1n) & U64) | info) : info - 1n;
    return this.memmap.pfnOfVaddr(head);
  }

  /**
   * page_fixed_fake_head(): with the key on, a struct page that starts a vmemmap page and has
   * PG_head set may be an alias of a head; its neighbour tells where the real head is.
   */
  private fixedFakeHead(pfn: number): number {
    if (!this.config.fakeHeadFixup()) return pfn;
    if ((pfn * this.layout.size) % this.memmap.pageSize !== 0) return pfn;
    if (!this.memmap.testBit(pfn, PAGE_OFF.flags, PG.head)) return pfn;
    const m = this.memmap;
    const lo = m.readU64Lo(pfn + 1, PAGE_OFF.compoundInfo);
    if ((lo & 1) === 0) return pfn;
    // The neighbour's word minus 1 (bit 0 is set, so no borrow reaches the high half).
    const head = this.pfnOfHalves(m.hi, lo - 1);
    if (head >= 0) return head;
    return m.pfnOfVaddr(((BigInt(m.hi) << 32n) | BigInt(lo)) - 1n);
  }

  /** compound_head(): the head pfn of the folio pfn belongs to (pfn itself for a head). */
  compoundHead(pfn: number): number {
    const head = this.rawHead(pfn);
    if (head !== pfn) return head;
    return this.fixedFakeHead(pfn);
  }

  /** page_is_fake_head() */
  isFakeHead(pfn: number): boolean {
    return this.fixedFakeHead(pfn) !== pfn;
  }

  /** PageHead(): PG_head, and (legacy) not a fake head. */
  pageHead(pfn: number): boolean {
    return this.memmap.testBit(pfn, PAGE_OFF.flags, PG.head) && !this.isFakeHead(pfn);
  }

  /** PageTail(): bit 0 of the compound word, or (legacy) a fake head. */
  pageTail(pfn: number): boolean {
    return (this.memmap.readU32(pfn, PAGE_OFF.compoundInfo) & 1) === 1 || this.isFakeHead(pfn);
  }

  pageCompound(pfn: number): boolean {
    return (
      this.memmap.testBit(pfn, PAGE_OFF.flags, PG.head) ||
      (this.memmap.readU32(pfn, PAGE_OFF.compoundInfo) & 1) === 1
    );
  }

  /** folio_order(): the low byte of _flags_1, for a large folio. */
  folioOrder(headPfn: number): number {
    if (!this.memmap.testBit(headPfn, PAGE_OFF.flags, PG.head)) return 0;
    return this.memmap.readU32(headPfn, this.layout.folio.flags1) & 0xff;
  }

  compoundNr(headPfn: number): number {
    return pow2(this.folioOrder(headPfn));
  }

  /** prep_compound_tail(): mapping, the compound word, private. */
  prepCompoundTail(tailPfn: number, info: bigint): void {
    this.prepCompoundTailParts(tailPfn, Number(info & 0xffffffffn), Number(info >> 32n));
  }

  /** prep_compound_tail() with the compound word as its 32-bit halves (the per-tail loop). */
  private prepCompoundTailParts(tailPfn: number, infoLo: number, infoHi: number): void {
    const m = this.memmap;
    m.writeU64Parts(tailPfn, PAGE_OFF.mapping, TAIL_MAPPING_LO, TAIL_MAPPING_HI);
    m.writeU64Parts(tailPfn, PAGE_OFF.compoundInfo, infoLo, infoHi);
    m.writeU64Parts(tailPfn, PAGE_OFF.private, 0, 0);
  }

  /**
   * prep_compound_page(): PG_head on the head, every other struct page a tail, then the folio
   * fields of pages 1..3 (prep_compound_head()). Whole vmemmap pages of tails are written as
   * one "tails" pattern (one run of frames), which reads exactly as the per-struct-page writes
   * would. Returns headView(headPfn) as it was used (the head at headOff), for the caller's
   * stores to the head that follow at once (nothing between them may change the vmemmap's
   * mapping or its frames), or null where the stores went field by field.
   */
  prepCompoundPage(headPfn: number, order: number): DataView | null {
    const nr = pow2(order);
    // The head's vmemmap page, translated once for PG_head, the tails that share it and the
    // folio fields (the caller's stores that follow may use it too: see the return).
    const v = this.headView(headPfn);
    this.setHeadBit(v, headPfn, PAGE_OFF.flags, PG.head, true);
    const infoLo = this.tailInfoLo(headPfn, order);
    this.forEachTailRange(TAILS_PREP, headPfn, nr, infoLo, this.infoHi, v);
    this.prepCompoundHead(headPfn, order, v);
    return v;
  }

  /** prep_compound_head() + folio_set_order() (6.18). */
  prepCompoundHead(headPfn: number, order: number, view?: DataView | null): void {
    const m = this.memmap;
    const f = this.layout.folio;
    const v = view === undefined ? this.headView(headPfn) : view;
    if (v !== null) {
      // The same stores, in the same order, on the bytes of the head's vmemmap page.
      const o = this.headOff;
      const flags1 = v.getUint32(o + f.flags1, true);
      v.setUint32(o + f.flags1, ((flags1 & ~0xff) | order) >>> 0, true);
      // The stores below, as the per-field path counts them (mmIds is one 64-bit store).
      let n = 8;
      if (f.nrPages !== null) {
        v.setUint32(o + f.nrPages, pow2(order), true);
        n++;
      }
      v.setUint32(o + f.largeMapcount, 0xffffffff, true);
      v.setUint32(o + f.nrPagesMapped, 0, true);
      v.setUint32(o + f.mmIds, 0, true);
      v.setUint32(o + f.mmIds + 4, 0, true);
      v.setUint32(o + f.mmIdMapcount, 0xffffffff, true);
      v.setUint32(o + f.mmIdMapcount + 4, 0xffffffff, true);
      v.setUint32(o + f.pincount, 0, true);
      v.setUint32(o + f.entireMapcount, 0xffffffff, true);
      if (order > 1) {
        const selfLo = m.vaddrLo(headPfn, f.deferredList);
        const selfHi = m.vhi;
        v.setUint32(o + f.deferredList, selfLo, true);
        v.setUint32(o + f.deferredList + 4, selfHi, true);
        v.setUint32(o + f.deferredList + 8, selfLo, true);
        v.setUint32(o + f.deferredList + 12, selfHi, true);
        n += 2;
      }
      m.reads++;
      m.writes += n;
      return;
    }
    const flags1 = m.readU32(headPfn, f.flags1);
    m.writeU32(headPfn, f.flags1, ((flags1 & ~0xff) | order) >>> 0);
    if (f.nrPages !== null) m.writeU32(headPfn, f.nrPages, pow2(order));
    m.writeU32(headPfn, f.largeMapcount, 0xffffffff);
    m.writeU32(headPfn, f.nrPagesMapped, 0);
    // CONFIG_MM_ID: no mm maps the folio yet.
    m.writeU64(headPfn, f.mmIds, 0n);
    m.writeU32(headPfn, f.mmIdMapcount, 0xffffffff);
    m.writeU32(headPfn, f.mmIdMapcount + 4, 0xffffffff);
    m.writeU32(headPfn, f.pincount, 0);
    m.writeU32(headPfn, f.entireMapcount, 0xffffffff);
    if (order > 1) {
      // INIT_LIST_HEAD(&folio->_deferred_list)
      const selfLo = m.vaddrLo(headPfn, f.deferredList);
      const selfHi = m.vhi;
      m.writeU64Parts(headPfn, f.deferredList, selfLo, selfHi);
      m.writeU64Parts(headPfn, f.deferredList + 8, selfLo, selfHi);
    }
  }

  /**
   * The bytes of the vmemmap page that holds struct pages headPfn..headPfn + 3 (the folio's
   * fields), made writable, with the head at memmap.spanOff; null when they are not all in one
   * vmemmap page mapped writable (the caller then stores field by field, faulting where the
   * kernel's store would). Stores through it count in memmap.writes.
   */
  headView(headPfn: number): DataView | null {
    return this.headViewOf(headPfn, false);
  }

  /**
   * headView(), or null where the head's vmemmap page still reads as memmap_init() left it
   * (generated: a store to it through the list code is not made) as well: nothing done then.
   */
  headViewStored(headPfn: number): DataView | null {
    return this.headViewOf(headPfn, true);
  }

  /** headView() and headViewStored(): `skipGenerated` as structPageView() takes it. */
  private headViewOf(headPfn: number, skipGenerated: boolean): DataView | null {
    const m = this.memmap;
    if (!m.wholeStructPages) return null;
    // The folio's four struct pages are all its users read or store through the view (but
    // forEachTailRange(), which sees to the tails' held-back stores itself).
    const v = m.structPageView(headPfn, skipGenerated, 4);
    if (v === null || m.spanOff + 4 * this.layout.size > m.pageSize) return null;
    this.headOff = m.spanOff;
    this.headWords = m.spanWords;
    this.headFrame = m.spanFrame;
    return v;
  }

  /**
   * memmap.setBit() on the head's struct page: through v (headView(headPfn), the head at
   * headOff) when not null, with the same read, store and counts; field by field otherwise.
   */
  setHeadBit(
    v: DataView | null,
    headPfn: number,
    fieldOff: number,
    bit: number,
    on: boolean,
  ): void {
    const m = this.memmap;
    if (v === null) {
      m.setBit(headPfn, fieldOff, bit, on);
      return;
    }
    const o = this.headOff + (bit < 32 ? fieldOff : fieldOff + 4);
    const b = bit % 32;
    const old = v.getUint32(o, true);
    m.reads++;
    // Compared as memmap.setBit() compares (a store whenever the signed result differs).
    const nv = on ? old | (1 << b) : old & ~(1 << b);
    if (nv !== old) {
      v.setUint32(o, nv >>> 0, true);
      m.writes++;
    }
  }

  /** The head's byte offset in the view headView() returned last (also memmap.spanOff then). */
  headOff = 0;
  /** That view's bytes as 32-bit words (memmap.spanWords then). */
  private headWords: Uint32Array = new Uint32Array(0);
  /** That view's frame. */
  private headFrame = -1;

  /**
   * Two heads' views kept by keepHead() (their pfns, -1: none), for a caller that stores to a
   * head again before anything could change its vmemmap page's mapping or bytes' holder.
   */
  private readonly keptPfn = [-1, -1];
  private readonly keptView: (DataView | null)[] = [null, null];
  private readonly keptOff = [0, 0];
  private readonly keptWords: Uint32Array[] = [new Uint32Array(0), new Uint32Array(0)];
  private readonly keptFrame = [-1, -1];

  /** Keeps the view headView() (or headViewStored()) just returned for headPfn, v. */
  keepHead(headPfn: number, v: DataView): void {
    const s = this.keptPfn[0] === -1 || this.keptPfn[1] !== -1 ? 0 : 1;
    this.keptPfn[s] = headPfn;
    this.keptView[s] = v;
    this.keptOff[s] = this.headOff;
    this.keptWords[s] = this.headWords;
    this.keptFrame[s] = this.headFrame;
  }

  /**
   * The view keepHead() kept for headPfn, made headView()'s last again (as headView() would
   * give it: its translation is in the TLB, and the bytes are the frame's own, with no stores
   * held back in the head's struct pages), or null when none is kept. Taken once.
   */
  keptHead(headPfn: number): DataView | null {
    const s = this.keptPfn[0] === headPfn ? 0 : this.keptPfn[1] === headPfn ? 1 : -1;
    if (s < 0) return null;
    this.keptPfn[s] = -1;
    this.headOff = this.keptOff[s];
    this.headWords = this.keptWords[s];
    this.headFrame = this.keptFrame[s];
    // writable()'s count of a change to the frame, which headView() would make.
    this.memmap.frames.gen++;
    const v = this.keptView[s];
    this.keptView[s] = null;
    return v;
  }

  /** Forgets the kept views. */
  dropKeptHeads(): void {
    this.keptPfn[0] = this.keptPfn[1] = -1;
    this.keptView[0] = this.keptView[1] = null;
  }

  /**
   * The free side: the head loses PG_head and its order, every tail its compound word and
   * TAIL_MAPPING (free_tail_page_prepare()); whole vmemmap pages of tails go back to what
   * memmap_init() left for a page of the buddy, which is what those writes produce.
   */
  destroyCompoundPage(headPfn: number, order: number, view?: DataView | null): void {
    const m = this.memmap;
    const nr = pow2(order);
    const v = view === undefined ? this.headView(headPfn) : view;
    const f = this.layout.folio;
    if (v !== null) {
      // The same reads and stores, in place: PG_head tested, the tails, PG_head cleared, then
      // page[1]'s order byte.
      const o = this.headOff;
      const flags = v.getUint32(o + PAGE_OFF.flags, true);
      m.reads++;
      // (The message only when it fires: a template string per folio is garbage.)
      if ((flags & (1 << PG.head)) === 0)
        BUG_ON(true, `destroy_compound_page: pfn ${headPfn} is no head`);
      this.forEachTailRange(TAILS_DESTROY, headPfn, nr, 0, 0, v);
      const now = v.getUint32(o + PAGE_OFF.flags, true);
      const cleared = (now & ~(1 << PG.head)) >>> 0;
      m.reads += 2;
      if (cleared !== now) {
        v.setUint32(o + PAGE_OFF.flags, cleared, true);
        m.writes++;
      }
      v.setUint32(o + f.flags1, (v.getUint32(o + f.flags1, true) & ~0xff) >>> 0, true);
      m.writes++;
      return;
    }
    if (!m.testBit(headPfn, PAGE_OFF.flags, PG.head))
      BUG_ON(true, `destroy_compound_page: pfn ${headPfn} is no head`);
    this.forEachTailRange(TAILS_DESTROY, headPfn, nr, 0, 0, null);
    m.setBit(headPfn, PAGE_OFF.flags, PG.head, false);
    // page[1].flags &= ~PAGE_FLAGS_SECOND: the order byte goes with it.
    const flags1 = m.readU32(headPfn, f.flags1);
    m.writeU32(headPfn, f.flags1, (flags1 & ~0xff) >>> 0);
  }

  /**
   * The tails [head + 1, head + nr) of prep_compound_page() (TAILS_PREP: prep_compound_tail()
   * with the compound word given as its 32-bit halves) or of its undoing (TAILS_DESTROY: compound
   * word and mapping cleared). Runs of vmemmap pages holding only such tails, each mapped
   * writable by exactly this address and backed by consecutive frames, take a pattern (one run
   * of frames); the struct pages of a vmemmap page shared with struct pages outside the range
   * are stored in place in one go when it is mapped writable; anything else goes struct page by
   * struct page, so that a fault is raised as the kernel's store would raise it.
   */
  private forEachTailRange(
    mode: TailsMode,
    headPfn: number,
    nr: number,
    infoLo: number,
    infoHi: number,
    /** headView(headPfn), or null: the head's vmemmap page, already translated. */
    hv: DataView | null,
  ): void {
    const m = this.memmap;
    const sps = this.layout.size;
    const headVpn = hv !== null ? Math.floor((headPfn * sps) / m.pageSize) : -1;
    const pageSize = m.pageSize;
    // Struct pages per vmemmap page, as an int32 (used only with whole struct pages).
    const per = this.perVmemmapPage | 0;
    const whole = m.wholeStructPages;
    // pfn - headPfn, counted in small integers: a pfn above 2^31 stepped in a loop and passed
    // to calls would be kept boxed, one heap number per step.
    let d = 1;
    const end = headPfn + nr;
    // The vmemmap pages wholly inside [headPfn + 1, end), translated in one go (one walk per
    // leaf).
    const firstPage = whole ? Math.ceil(((headPfn + 1) * sps) / pageSize) : 0;
    const lastPage = whole ? Math.floor((end * sps) / pageSize) : 0;
    if (this.transBuf.length < lastPage - firstPage)
      this.transBuf = new Float64Array(lastPage - firstPage);
    // tlbWord()s: frame + 1 where mapped writable (read-only and unmapped pages are <= 0).
    const trans =
      lastPage > firstPage
        ? m.pgt.translateRangeWords(firstPage, lastPage - firstPage, this.transBuf)
        : this.transBuf;
    // The common shape (a folio of whole vmemmap pages, its head starting one, the pages after
    // the head's on ascending frames, mapped writable): what the loop below does for it, without
    // its steps: the head page's tails in one go, then the other pages as one run.
    if (hv !== null && headPfn % per === 0 && nr % per === 0 && lastPage - firstPage > 0) {
      const pages = lastPage - firstPage;
      const w0 = trans[0];
      let k = 1;
      if (w0 > 0) while (k < pages && trans[k] === w0 + k) k++;
      if (w0 > 0 && k === pages) {
        if (HOST_LITTLE_ENDIAN)
          this.headTailsWords(mode, this.headOff + sps, 1, per - 1, infoLo, infoHi);
        else {
          m.frames.writableView(this.headFrame);
          this.tailsSpan(mode, hv, this.headOff + sps, per - 1, infoLo >>> 0, infoHi >>> 0);
        }
        this.tailsRun(mode, w0 - 1, firstPage * pageSize, pages, 1, headPfn, nr, infoLo, infoHi);
        return;
      }
    }
    let runFrame = -1;
    let runVoff = 0;
    let runLen = 0;
    /** 1: frames ascending, -1: falling, 0: not known yet (one frame). */
    let runDir = 0;
    // The first vmemmap page boundary at or after pfn: its page (an index into trans from
    // firstPage) and its first pfn. No division or remainder per step.
    let q = firstPage;
    let qPfn = q * per;
    while (d < nr) {
      const pfn = headPfn + d;
      if (whole && pfn > qPfn) {
        q++;
        qPfn += per;
      }
      const voff = pfn * sps;
      if (whole && pfn === qPfn && pfn + per <= end) {
        // The stores go through the MMU: a stale TLB entry is used as the kernel's would be.
        const w = trans[q - firstPage];
        if (w > 0) {
          const frame = w - 1;
          // Frames ascending, or falling (a restore's pages, taken top-down): one run either way.
          if (runLen > 0 && runDir >= 0 && frame === runFrame + runLen) {
            runLen++;
            runDir = 1;
          } else if (
            runLen > 0 &&
            runDir <= 0 &&
            frame === runFrame - runLen &&
            this.paths.fallingRuns
          ) {
            runLen++;
            runDir = -1;
          } else {
            if (runLen > 0)
              this.tailsRun(mode, runFrame, runVoff, runLen, runDir, headPfn, nr, infoLo, infoHi);
            runFrame = frame;
            runVoff = voff;
            runLen = 1;
            runDir = 0;
          }
          d += per;
          // The whole pages after it whose words go on with the run, in one loop over the
          // translations (what the steps above would do page by page).
          let t = q + 1 - firstPage;
          const dir =
            runDir !== 0
              ? runDir
              : trans[t] === w + 1
                ? 1
                : trans[t] === w - 1 && this.paths.fallingRuns
                  ? -1
                  : 0;
          if (dir !== 0) {
            const t0 = t;
            const tEnd = lastPage - firstPage;
            let want = w + dir;
            while (t < tEnd && want > 0 && trans[t] === want) {
              t++;
              want += dir;
            }
            const more = t - t0;
            if (more > 0) {
              runLen += more;
              runDir = dir;
              d += more * per;
              q += more;
              qPfn += more * per;
            }
          }
          continue;
        }
      }
      if (runLen > 0)
        this.tailsRun(mode, runFrame, runVoff, runLen, runDir, headPfn, nr, infoLo, infoHi);
      runLen = 0;
      if (whole) {
        // The struct pages of this vmemmap page that are tails here, stored in one go when the
        // page is mapped writable (otherwise the first store faults, page by page).
        const vpn = Math.floor(voff / pageSize);
        const n = Math.min(end, (vpn + 1) * per) - pfn;
        if (vpn === headVpn && hv !== null) {
          // The head's own vmemmap page: translated and made writable by headView().
          const off = this.headOff + (pfn - headPfn) * sps;
          if (HOST_LITTLE_ENDIAN) this.headTailsWords(mode, off, pfn - headPfn, n, infoLo, infoHi);
          else {
            // Stores held back in the page made first (writableView()), then these at once.
            m.frames.writableView(this.headFrame);
            this.tailsSpan(mode, hv, off, n, infoLo >>> 0, infoHi >>> 0);
          }
          d += n;
          continue;
        }
        const v = m.structPageView(pfn, false);
        if (v !== null) {
          if (HOST_LITTLE_ENDIAN)
            this.tailsSpanWords(mode, m.spanWords, m.spanOff, n, infoLo, infoHi);
          else this.tailsSpan(mode, v, m.spanOff, n, infoLo >>> 0, infoHi >>> 0);
          d += n;
          continue;
        }
      }
      if (mode === TAILS_PREP) this.prepCompoundTailParts(pfn, infoLo, infoHi);
      else {
        m.writeU64Parts(pfn, PAGE_OFF.compoundInfo, 0, 0);
        m.writeU64Parts(pfn, PAGE_OFF.mapping, 0, 0);
      }
      d++;
    }
    if (runLen > 0)
      this.tailsRun(mode, runFrame, runVoff, runLen, runDir, headPfn, nr, infoLo, infoHi);
  }

  /**
   * Whole vmemmap pages of tails from memmap offset voff on, backed by frames [frame, frame + n)
   * (dir >= 0) or frame, frame - 1, ... (dir < 0): one pattern.
   */
  private tailsRun(
    mode: TailsMode,
    frame: number,
    voff: number,
    n: number,
    dir: number,
    headPfn: number,
    nr: number,
    infoLo: number,
    infoHi: number,
  ): void {
    // The same bytes as the per-struct-page stores produce (memmap_init()'s page of the buddy
    // once the compound words and mappings are cleared). The pattern objects are reused: the
    // frame store copies what it keeps of them.
    let p:
      | { kind: "tails"; voff: number; info: bigint }
      | { kind: "init"; voff: number; asFree: true };
    if (mode === TAILS_PREP) {
      const t = this.tailsPattern;
      t.info = this.infoWord(headPfn, nr, infoLo, infoHi);
      p = t;
    } else p = this.freedPattern;
    const frames = this.memmap.frames;
    if (dir >= 0) {
      p.voff = voff;
      frames.setPatternRange(frame, n, p);
    } else {
      // The lowest frame reads the run's last vmemmap page.
      p.voff = voff + (n - 1) * this.memmap.pageSize;
      frames.setPatternRangeDown(frame - n + 1, n, p);
    }
  }

  /**
   * The compound word tailInfoLo(headPfn, log2(nr)) gave as halves, as a bigint, with as few
   * bigints made as may be (the pattern of a folio's tails holds it), for tailsPattern: with
   * tailsPattern.infoSpan set where the word is the head's address and the folio's struct pages
   * fill an aligned span of memmap (then it is the vmemmap's base plus the low bits, and the
   * frame store adds the span's offset: frames.ts tailsInfoAt()), so that the tails of every
   * such folio are one pattern; unset otherwise.
   */
  private infoWord(headPfn: number, nr: number, lo: number, hi: number): bigint {
    const t = this.tailsPattern;
    t.infoSpan = undefined;
    if (this.config.encoding === "pointer") {
      // The head's address plus its low bits (0 there: struct pages are 8-byte aligned).
      if (headPfn % nr === 0) {
        t.infoSpan = nr * this.layout.size;
        const low = lo & 3;
        let b = this.infoBases[low];
        if (b === undefined) b = this.infoBases[low] = this.memmap.vmemmapBase + BigInt(low);
        return b;
      }
      return this.memmap.vmemmapBase + BigInt(headPfn * this.layout.size + (lo & 3));
    }
    const w = this.maskInfo[Math.log2(nr)];
    if (w === undefined) return (BigInt(hi) << 32n) | BigInt(lo);
    return (lo & 2) !== 0 ? w | 2n : w;
  }

  /** The vmemmap's base plus low bits 0..3 (infoWord()'s relative words), made once each. */
  private readonly infoBases: bigint[] = [];
  private readonly tailsPattern: {
    kind: "tails";
    voff: number;
    info: bigint;
    infoSpan: number | undefined;
  } = {
    kind: "tails",
    voff: 0,
    info: 0n,
    infoSpan: undefined,
  };
  private readonly freedPattern: { kind: "init"; voff: number; asFree: true } = {
    kind: "init",
    voff: 0,
    asFree: true,
  };

  /**
   * The stores of one mode on every tail struct page, as the kernel makes them, in the form
   * FrameStore.storeWordsLater() takes: their count, then (byte offset in the struct page, low
   * word, high word) for each. The one description of them that tailsSpanWords(), tailsSpan()
   * and the stores headTailsWords() holds back all read, so that they cannot drift apart. `lo`
   * and `hi` are the compound word's halves (the array is reused: read it before the next call).
   */
  private tailStores(mode: TailsMode, lo: number, hi: number): Int32Array {
    if (mode !== TAILS_PREP) return this.destroyStores;
    const w = this.prepStores;
    w[5] = lo;
    w[6] = hi;
    return w;
  }

  /** prep_compound_tail(): mapping, compound word (words 5 and 6, set per folio), private. */
  private readonly prepStores = Int32Array.of(
    3,
    OFF_MAPPING,
    TAIL_MAPPING_LO,
    TAIL_MAPPING_HI,
    OFF_INFO,
    0,
    0,
    OFF_PRIVATE,
    0,
    0,
  );
  /** free_tail_page_prepare(): compound word and mapping cleared. */
  private readonly destroyStores = Int32Array.of(2, OFF_INFO, 0, 0, OFF_MAPPING, 0, 0);

  /**
   * tailsSpan() through the page's 32-bit words, on a little-endian host (where a word store
   * writes the bytes a little-endian 32-bit store writes): the same stores, cheaper.
   */
  private tailsSpanWords(
    mode: TailsMode,
    w: Uint32Array,
    off: number,
    n: number,
    lo: number,
    hi: number,
  ): void {
    const ops = this.tailStores(mode, lo, hi);
    const count = ops[0];
    const step = this.layout.size >> 2;
    let i = off >> 2;
    const end = i + n * step;
    // The stores in locals, the loop unrolled for the two modes' counts (a hot loop: every
    // tail of every folio made or freed outside the head's vmemmap page).
    const a = ops[1] >> 2;
    const aLo = ops[2];
    const aHi = ops[3];
    const b = ops[4] >> 2;
    const bLo = ops[5];
    const bHi = ops[6];
    if (count === 3) {
      const c = ops[7] >> 2;
      const cLo = ops[8];
      const cHi = ops[9];
      for (; i < end; i += step) {
        w[i + a] = aLo;
        w[i + a + 1] = aHi;
        w[i + b] = bLo;
        w[i + b + 1] = bHi;
        w[i + c] = cLo;
        w[i + c + 1] = cHi;
      }
    } else {
      for (; i < end; i += step) {
        w[i + a] = aLo;
        w[i + a + 1] = aHi;
        w[i + b] = bLo;
        w[i + b + 1] = bHi;
      }
    }
    this.memmap.writes += count * n;
  }

  /**
   * tailsSpanWords() on the tails in the head's own vmemmap page (headWords), n of them from
   * byte off, the first being tail number `first` (1 when the head starts the page). The tails
   * past the folio's fields (number 4 on) have their stores held back by the frame store
   * (frames.ts storeWordsLater()): their cache lines are not touched until the page is read,
   * and a free's stores replace the make's there (and the next make's the free's). The folio's
   * struct pages 0..3, which headView()'s users read and store, are stored at once.
   */
  private headTailsWords(
    mode: TailsMode,
    off: number,
    first: number,
    n: number,
    lo: number,
    hi: number,
  ): void {
    const now = Math.min(n, Math.max(0, 4 - first));
    this.tailsSpanWords(mode, this.headWords, off, now, lo, hi);
    if (now === n) return;
    const ops = this.tailStores(mode, lo, hi);
    this.memmap.writes += ops[0] * (n - now);
    const sps = this.layout.size;
    this.memmap.frames.storeWordsLater(this.headFrame, off + now * sps, n - now, sps, ops);
  }

  /** The stores of one mode on n struct pages of one writable vmemmap page, from byte off of v. */
  private tailsSpan(
    mode: TailsMode,
    v: DataView,
    off: number,
    n: number,
    lo: number,
    hi: number,
  ): void {
    const ops = this.tailStores(mode, lo, hi);
    const sps = this.layout.size;
    for (let j = 0; j < n; j++, off += sps) {
      for (let k = 1; k < 3 * ops[0]; k += 3) {
        v.setUint32(off + ops[k], ops[k + 1], true);
        v.setUint32(off + ops[k] + 4, ops[k + 2], true);
      }
    }
    this.memmap.writes += ops[0] * n;
  }
}
