// The stores prep_compound_tail() and free_tail_page_prepare() make on each tail struct page
// (src/mm/compound.ts tailStores()), as the two loops that make them store them: through a
// page's 32-bit words (tailsSpanWords(), little-endian hosts) and through a DataView
// (tailsSpan(), any host). The held-back stores of the head's vmemmap page (headTailsWords())
// hand the same description to the frame store; test/core/frames_held_stores.test.ts compares
// them with stores made at once.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { PAGE_OFF, TAIL_MAPPING } from "../../src/include/mm_types.ts";
import { bootModel } from "../../src/model.ts";

const k = bootModel(machinePreset("x86_64", { memoryBytes: 2 ** 30 }), "mainline").k;
/** The two store loops (private to Compound). */
const c = k.compound as unknown as {
  tailsSpanWords(mode: 0 | 1, w: Uint32Array, off: number, n: number, lo: number, hi: number): void;
  tailsSpan(mode: 0 | 1, v: DataView, off: number, n: number, lo: number, hi: number): void;
};

/** A compound word with bit 0 set (a tail) and a high half above 2^31 (sign-sensitive). */
const LO = 0x12345679;
const HI = 0xfffffff0;
const JUNK = 0xa5;
/** Ten struct pages from the second one (64 bytes each on x86_64) of a 4 KiB page. */
const OFF = 64;
const N = 10;

function page(): ArrayBuffer {
  const b = new ArrayBuffer(4096);
  new Uint8Array(b).fill(JUNK);
  return b;
}

/** What the page should hold: junk, with the given 64-bit words stored in each of the tails. */
function expected(words: ReadonlyArray<[number, bigint]>): Uint8Array {
  const b = page();
  const v = new DataView(b);
  for (let j = 0; j < N; j++)
    for (const [field, value] of words) v.setBigUint64(OFF + j * 64 + field, value, true);
  return new Uint8Array(b);
}

describe("the tail stores: the same bytes through words and through a DataView", () => {
  const cases = [
    {
      // prep_compound_tail(): ->mapping = TAIL_MAPPING, compound word, ->private = 0.
      mode: 0 as const,
      name: "prep_compound_tail()",
      words: [
        [PAGE_OFF.mapping, TAIL_MAPPING],
        [PAGE_OFF.compoundInfo, (BigInt(HI) << 32n) | BigInt(LO)],
        [PAGE_OFF.private, 0n],
      ] as Array<[number, bigint]>,
    },
    {
      // free_tail_page_prepare(): the compound word and ->mapping cleared; ->private kept.
      mode: 1 as const,
      name: "free_tail_page_prepare()",
      words: [
        [PAGE_OFF.compoundInfo, 0n],
        [PAGE_OFF.mapping, 0n],
      ] as Array<[number, bigint]>,
    },
  ];
  for (const t of cases) {
    it(`${t.name}: ${t.words.length} words on each of ${N} tails, the rest untouched`, () => {
      const viaWords = page();
      const viaView = page();
      const w0 = k.memmap.writes;
      c.tailsSpanWords(t.mode, new Uint32Array(viaWords), OFF, N, LO, HI);
      const w1 = k.memmap.writes;
      c.tailsSpan(t.mode, new DataView(viaView), OFF, N, LO, HI);
      const want = expected(t.words);
      expect(new Uint8Array(viaWords)).toEqual(want);
      expect(new Uint8Array(viaView)).toEqual(want);
      // One counted struct page write per word stored (3 or 2 a tail), by either loop.
      expect(w1 - w0).toBe(t.words.length * N);
      expect(k.memmap.writes - w1).toBe(t.words.length * N);
    });
  }
});
