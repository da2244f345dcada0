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

export class Memmap {
  readonly pageSize: number;
  /** Struct page reads and writes, for reports and benchmarks. */
  reads = 0;
  writes = 0;

  constructor(
    readonly frames: FrameStore,
    readonly pgt: KernelPageTables,
    readonly vmemmapBase: bigint,
    readonly structPageSize: number,
    pageShift: number,
  ) {
    this.pageSize = 2 ** pageShift;
  }

  /** pfn_to_page(): the struct page's virtual address. */
  vaddrOf(pfn: number): bigint {
    return this.vmemmapBase + BigInt(pfn) * BigInt(this.structPageSize);
  }

  /** page_to_pfn() for an address inside the vmemmap (struct page aligned). */
  pfnOfVaddr(vaddr: bigint): number {
    return Number((vaddr - this.vmemmapBase) / BigInt(this.structPageSize));
  }

  /** Where the byte at memmap offset `voff` lives, through the TLB. */
  private at(voff: number, write: boolean): { frame: number; off: number } {
    const vpn = Math.floor(voff / this.pageSize);
    const t = this.pgt.translate(vpn);
    const pfn = Math.floor(voff / this.structPageSize);
    if (!t) {
      throw new Oops("unable to handle page fault: vmemmap address not mapped", {
        vaddr: this.vmemmapBase + BigInt(voff),
        pfn,
      });
    }
    if (write && !t.writable) {
      throw new Oops("write to a read-only vmemmap page", {
        vaddr: this.vmemmapBase + BigInt(voff),
        pfn,
        frame: t.frame,
      });
    }
    return { frame: t.frame, off: voff - vpn * this.pageSize };
  }

  readU32(pfn: number, fieldOff: number): number {
    this.reads++;
    const a = this.at(pfn * this.structPageSize + fieldOff, false);
    return this.frames.readU32(a.frame, a.off);
  }

  readU64(pfn: number, fieldOff: number): bigint {
    this.reads++;
    const a = this.at(pfn * this.structPageSize + fieldOff, false);
    return this.frames.readU64(a.frame, a.off);
  }

  /** The low and high 32 bits of a 64-bit field, as numbers (hot paths avoid bigint). */
  readU64Parts(pfn: number, fieldOff: number): [number, number] {
    this.reads++;
    const a = this.at(pfn * this.structPageSize + fieldOff, false);
    return [this.frames.readU32(a.frame, a.off), this.frames.readU32(a.frame, a.off + 4)];
  }

  writeU32(pfn: number, fieldOff: number, value: number): void {
    this.writes++;
    const a = this.at(pfn * this.structPageSize + fieldOff, true);
    this.frames.writeU32(a.frame, a.off, value);
  }

  writeU64(pfn: number, fieldOff: number, value: bigint): void {
    this.writes++;
    const a = this.at(pfn * this.structPageSize + fieldOff, true);
    this.frames.writeU64(a.frame, a.off, value);
  }

  /** The raw bytes of a struct page (it may straddle two vmemmap pages). */
  readStructPage(pfn: number): Uint8Array {
    const sps = this.structPageSize;
    const out = new Uint8Array(sps);
    let voff = pfn * sps;
    let done = 0;
    while (done < sps) {
      const a = this.at(voff, false);
      const n = Math.min(sps - done, this.pageSize - a.off);
      out.set(this.frames.view(a.frame).subarray(a.off, a.off + n), done);
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
      const a = this.at(voff, true);
      const n = Math.min(sps - done, this.pageSize - a.off);
      this.frames.writeBytes(a.frame, a.off, bytes.subarray(done, done + n));
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
    return this.pgt.translate(Math.floor((pfn * this.structPageSize) / this.pageSize));
  }

  /** The frame backing the struct page of pfn, and whether it is mapped writable (no TLB fill). */
  backing(pfn: number): { frame: number; writable: boolean } | null {
    return this.pgt.walk(this.vaddrOf(pfn));
  }
}
