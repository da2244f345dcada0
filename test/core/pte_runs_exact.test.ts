// KernelPageTables.pteRuns() (src/mm/pgtable.ts) reads a PTE table held as runs of 64-bit words
// (word i = word 0 + i * delta, mod 2^64) as runs of entries a constant pfn step apart with one
// protection. On x86_64 it decodes the first, second and last entry of each run only
// (PteCodec.runsDecidedByEnds, argued next to the check); elsewhere it decodes every entry. A
// run whose middle entries decode differently from what its ends say must come back -1 (the
// caller then reads entry by entry), and what does come back must be what entry() reads.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { machinePreset } from "../../src/arch/index.ts";
import { arm64PteCodec, PAGE_KERNEL as ARM64_PAGE_KERNEL } from "../../src/arch/arm64.ts";
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_GLOBAL,
  _PAGE_PRESENT,
  _PAGE_WRITE,
  riscvPteCodec,
} from "../../src/arch/riscv64.ts";
import type { PteCodec } from "../../src/machine/spec.ts";
import { KernelPageTables, PteRuns } from "../../src/mm/pgtable.ts";
import { bootModel } from "../../src/model.ts";

const k = bootModel(machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30 }), "mainline").k;
const runs = new PteRuns(8);

function table(): number {
  const t = k.allocPageTablePage("test");
  if (t === null) throw new Error("no page-table page");
  return t;
}

/** Words [0, n) of table t: word 0 + i * delta (mod 2^64), each as its 32-bit halves. */
function writeRun(t: number, n: number, word0: bigint, delta: bigint): void {
  const half = (v: bigint, s: bigint) => Number((v >> s) & 0xffffffffn);
  k.frames.setWordRun(
    t,
    0,
    n,
    half(word0, 0n),
    half(word0, 32n),
    half(delta, 0n),
    half(delta, 32n),
  );
}

/** Entries [0, n) of t as "pfn:rw" read one by one, or as pteRuns() says (null for -1). */
function byEntry(pgt: KernelPageTables, t: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    expect(pgt.entry(t, i, pgt.levels - 1)).toBe(true);
    return `${pgt.e.pfn}:${pgt.e.present && pgt.e.writable}`;
  });
}
function byRuns(pgt: KernelPageTables, t: number, n: number): string[] | null {
  const r = pgt.pteRuns(t, 0, n, runs);
  if (r < 0) return null;
  const out: string[] = [];
  for (let j = 0; j < r; j++)
    for (let i = 0; i < runs.len[j]; i++)
      out.push(`${runs.pfn[j] + i * runs.step[j]}:${runs.writable[j] === 1}`);
  return out;
}

/** Page tables over the same frames with another arch's entry format (decodeParts from decode). */
function tablesWith(codec: PteCodec, runsDecidedByEnds: boolean): KernelPageTables {
  const pte: PteCodec = {
    ...codec,
    decodeParts(lo, hi, level, out) {
      const d = codec.decode((BigInt(hi) << 32n) | BigInt(lo), level);
      if (d === null) return false;
      Object.assign(out, d);
      return true;
    },
    runsDecidedByEnds,
  };
  return new KernelPageTables({ ...k.pgt.arch, pte }, k.frames, k.pgt.rootPfn, 0n);
}

describe("x86_64: the first, second and last entry decide a run (carries into the pfn)", () => {
  const pgt = k.pgt;
  // PAGE_KERNEL's low 12 bits are 0x163; pfn 100 is 100 << 12.
  const pte100 = (100n << 12n) | 0x163n | (1n << 63n);

  it("a delta in bits 2..11 that carries into the pfn in the middle: -1", () => {
    // Low bits 0xfe3 (P, RW and bits 5..11) + 4 an entry pass 0xfff after 8 entries
    // (0xfe3 + 8 * 4 = 0x1003): entries 0..7 map pfn 100, entries 8..511 pfn 101.
    const t = table();
    writeRun(t, 512, (100n << 12n) | 0xfe3n, 4n);
    const entries = byEntry(pgt, t, 512);
    expect(entries[7]).toBe("100:true");
    expect(entries[8]).toBe("101:true");
    expect(byRuns(pgt, t, 512)).toBeNull();
  });

  it("a delta of 0xffc (a carry every entry but one): -1", () => {
    // 0x163 + i * 0xffc = i * 0x1000 + 0x163 - 4i: a carry into the pfn every entry while
    // 4i <= 0x163 (i <= 88), then one fewer: pfn 101 at entry 1, 188 at 88, 188 again at 89.
    const t = table();
    writeRun(t, 512, pte100, 0xffcn);
    const entries = byEntry(pgt, t, 512);
    expect(entries.slice(0, 2)).toEqual(["100:true", "101:true"]);
    expect(entries.slice(88, 90)).toEqual(["188:true", "188:true"]);
    expect(byRuns(pgt, t, 512)).toBeNull();
  });

  it("a delta of 4 that never reaches the pfn: one run, as entry() reads it", () => {
    // 0x163 + 511 * 4 = 0x95f < 0x1000: every entry maps pfn 100.
    const t = table();
    writeRun(t, 512, pte100, 4n);
    expect(byRuns(pgt, t, 512)).toEqual(Array(512).fill("100:true"));
  });

  it("whatever it returns for any run of words is what entry() reads (seeded)", () => {
    // Deltas: pfn steps with low bits (multiples of 4 below 0x1000), any 64-bit value, and
    // small ones; word 0 present, RW either way, any pfn and top bits. The -1 answers are
    // allowed (the caller then reads entry by entry); a run it returns must be exact.
    const t = table();
    let exact = 0;
    // Low bits of the delta (multiples of 4: bits 0 and 1 must not change): none, small ones,
    // any, and just below 0x1000 (a carry into the pfn nearly every entry).
    const low = fc.oneof(
      fc.constant(0n),
      fc.integer({ min: 1, max: 15 }).map((x) => BigInt(x * 4)),
      fc.integer({ min: 0, max: 1023 }).map((x) => BigInt(x * 4)),
      fc.integer({ min: 1, max: 15 }).map((x) => BigInt(0x1000 - x * 4)),
    );
    const step = fc.integer({ min: -3, max: 3 }).map((s) => BigInt(s) << 12n);
    const delta = fc.oneof(
      { weight: 4, arbitrary: fc.tuple(step, low).map(([s, l]) => (s + l) & (2n ** 64n - 1n)) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
      { weight: 1, arbitrary: low },
    );
    const word0 = fc
      .tuple(
        fc.bigInt({ min: 0n, max: 2n ** 52n - 1n }),
        fc.bigInt({ min: 0n, max: 4095n }),
        fc.boolean(),
      )
      .map(([w, top, rw]) => (w & ~3n) | 1n | (rw ? 2n : 0n) | (top << 52n));
    fc.assert(
      fc.property(word0, delta, fc.integer({ min: 2, max: 512 }), (w0, d, n) => {
        writeRun(t, n, w0, d);
        const got = byRuns(pgt, t, n);
        if (got === null) return;
        exact++;
        expect(got).toEqual(byEntry(pgt, t, n));
      }),
      { seed: 0x9e7, numRuns: 600 },
    );
    // The check is not vacuous: many runs came back (steps -3..3 with or without low bits).
    expect(exact).toBeGreaterThan(150);
  });
});

describe("encodings where the ends do not decide a run: every entry is decoded", () => {
  // arm64 (4K pages): valid is bit 0 but read-only is PTE_RDONLY, bit 7, with undecoded bits
  // below it. PAGE_KERNEL's low bits 0x703 + 0x40 an entry: 0x743, 0x783, 0x7c3, 0x803, so
  // entries 2 and 3 have bit 7 set (read-only) and entry 4 carries out of it into bit 11.
  // riscv64: V is bit 0 and W bit 2; R (bit 1) counts only through whether the entry is a leaf.
  // V|W|A|D|G = 0xe5 + 2 an entry: 0xe7, 0xe9, 0xeb, 0xed, so entries 2 and 3 have W clear
  // and entry 4 has it again.
  const cases = [
    {
      name: "arm64-4k",
      codec: arm64PteCodec(12, [39, 30, 21, 12]),
      word0: (7n << 12n) | ARM64_PAGE_KERNEL,
      delta: 0x40n,
    },
    {
      name: "riscv64",
      codec: riscvPteCodec([39, 30, 21, 12]),
      word0:
        (7n << 10n) | _PAGE_PRESENT | _PAGE_WRITE | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL,
      delta: 2n,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: a run whose middle entries are read-only comes back -1`, () => {
      const pgt = tablesWith(c.codec, false);
      const t = table();
      writeRun(t, 5, c.word0, c.delta);
      expect(byEntry(pgt, t, 5)).toEqual(["7:true", "7:true", "7:false", "7:false", "7:true"]);
      expect(byRuns(pgt, t, 5)).toBeNull();
      // The run is one the three-entry rule gets wrong: told it may, pteRuns() calls it one
      // writable run. So these encodings must not claim runsDecidedByEnds.
      expect(byRuns(tablesWith(c.codec, true), t, 5)).toEqual(Array(5).fill("7:true"));
    });

    it(`${c.name}: a run of consecutive frames still reads as one run`, () => {
      const pgt = tablesWith(c.codec, false);
      const t = table();
      const pfnShift = c.name === "riscv64" ? 10n : 12n;
      writeRun(t, 300, c.word0, 1n << pfnShift);
      const want = Array.from({ length: 300 }, (_, i) => `${7 + i}:true`);
      expect(byEntry(pgt, t, 300)).toEqual(want);
      expect(byRuns(pgt, t, 300)).toEqual(want);
    });
  }

  it("the arch presets that decode entries from halves claim it only for x86_64", () => {
    // Of the presets, x86_64 alone has decodeParts (pteRuns() answers -1 for the others), and
    // its encoding is the one argued exact in pgtable.ts.
    for (const name of ["x86_64", "arm64-4k", "arm64-16k", "arm64-64k", "riscv64", "loongarch64"]) {
      const pte = machinePreset(name, { memoryBytes: 2 ** 30 }).arch.pte;
      expect(pte.runsDecidedByEnds === true).toBe(name === "x86_64");
    }
  });
});
