// The checker watches the frame store and the page tables from outside (invariants.ts wraps
// their write methods): its vmemmap mirror learns which page-table frames changed, and a write
// to a published shared tail is caught. A write method the watch does not wrap is a blind spot:
// the mirror goes stale and the checker reports violations the model does not have (the
// incremental test found one, writeU64Parts(), in session 5). So every method of both classes
// is classified here; a new one fails this test until it is put in the watched lists or among
// the methods that keep every byte.
import { describe, expect, it } from "vitest";
import { FRAME_STORE_WRITES, PAGE_TABLE_WRITES } from "../../src/check/invariants.ts";
import { FrameStore } from "../../src/mm/frames.ts";
import { KernelPageTables } from "../../src/mm/pgtable.ts";

/** FrameStore methods that change no frame's bytes: reads, and changes of representation. */
const FRAME_STORE_KEEPS_BYTES = [
  "constructor",
  // reads
  "patternOf",
  "patternShapeOf",
  "tailsInfoOf",
  "readsAsInit",
  "rendersOnStore",
  "hasOwnBytes",
  "heldAsRuns",
  "sameStateRun",
  "wordRunsIn",
  "view",
  "snapshot",
  "readU32",
  "readU64Lo",
  "readU64LoOther",
  "readU64",
  "wordsToRead",
  "liveIds",
  "stats",
  "ownView",
  "keptFirstPages",
  "initRun",
  "extGen",
  // bookkeeping of which frames walks read tables from, and of changes to them (no bytes)
  "noteTable",
  "tableWrite",
  "tableBitsOf",
  // boot: describes what memmap_init() left, before anyone reads
  "addInitRange",
  // the same bytes held as a pattern (test/core/frames_diff.test.ts checks they stay equal)
  "settleAsFree",
  // private helpers, reached only through the methods above
  "newId",
  "growIds",
  "newOwn",
  "newOwnBlank",
  "freshPageBytes",
  "patternId",
  "classHas",
  "classIdAt",
  "classId",
  "idTable",
  "take",
  "drop",
  "chunkOf",
  "idOf",
  "cacheSet",
  "lookupId",
  "setIds",
  "chunkSet",
  "makeDense",
  "findInit",
  "patternAt",
  "render",
  "unlist",
  "renderKept",
  "renderStructPage",
  "ownIsRendered",
  "ownIsFreed",
  "writable",
  "writableCopy",
  "writeRunsWord",
  "renderRuns",
  // a page of words held as runs again after a watched setWordRun(): the same bytes
  "runsAgain",
  // held-back zero stores made: the bytes as they already read
  "pendingAt",
  "makePending",
  "storeWords",
  // held-back stores' bookkeeping when an id's bytes move (reached through the writes above)
  "carryPending",
  "growPending",
  "heldWordsWithin",
];

/** KernelPageTables methods that write no entry (walks, the TLB, lookups). */
const PAGE_TABLES_KEEP_ENTRIES = [
  "constructor",
  "index",
  "get",
  "entry",
  "slot",
  "slotAt",
  "slotOff",
  "lookup",
  "walk",
  "walkPage",
  "translate",
  "walkVpn",
  "leafOf",
  "remember",
  "translateRange",
  "translateFrame",
  "walkWord",
  // the translation a store would use, asked of the TLB's word or a walk's (nothing filled)
  "peekWord",
  "translateRangeWords",
  "pteRuns",
  "fillWord",
  "evictClean",
  "walkRangeWords",
  "hugeLeft",
  "vpnOf",
  "flushTlbRange",
  "flushTlbAll",
  "tlbSize",
  // the TLB's free room (page_alloc.ts beginFreeBatch()): a count, nothing written
  "tlbRoom",
  "tlbEntry",
  "staleTlbEntries",
  "translateStrideWords",
  "walkRange",
  "translateMiss",
  "pteRunsOfBytes",
  // the TLB sweep: walks compared with the TLB's words, entries dropped from the TLB only
  "dropEqualWords",
  // links a new table into its parent through set(), which is watched
  "installTable",
  // the walk memory's epoch bumps after an entry write (set(), setPte(), setPteRun()), and its
  // record of tables a walk passed: no entry written
  "pteWritten",
  "passedUpper",
  // a caller's promise that walks may reuse the last huge leaf's answer (leafOf()): no entry
  "holdLeaves",
];

function methods(proto: object): string[] {
  return Object.getOwnPropertyNames(proto).filter(
    (n) => typeof Object.getOwnPropertyDescriptor(proto, n)?.value === "function",
  );
}

describe("the checker's watch covers every write of the frame store and the page tables", () => {
  it("every watched name is a method (a rename would silently unwatch it)", () => {
    const fs = methods(FrameStore.prototype);
    for (const n of FRAME_STORE_WRITES) expect(fs, `FrameStore.${n}`).toContain(n);
    const pt = methods(KernelPageTables.prototype);
    for (const n of PAGE_TABLE_WRITES) expect(pt, `KernelPageTables.${n}`).toContain(n);
  });

  it("every FrameStore method is either watched or keeps every byte", () => {
    const known = new Set<string>([...FRAME_STORE_WRITES, ...FRAME_STORE_KEEPS_BYTES]);
    const unclassified = methods(FrameStore.prototype).filter((n) => !known.has(n));
    expect(
      unclassified,
      "add them to FRAME_STORE_WRITES (src/check/invariants.ts) or here",
    ).toEqual([]);
  });

  it("every KernelPageTables method is either watched or writes no entry", () => {
    const known = new Set<string>([...PAGE_TABLE_WRITES, ...PAGE_TABLES_KEEP_ENTRIES]);
    const unclassified = methods(KernelPageTables.prototype).filter((n) => !known.has(n));
    expect(unclassified, "add them to PAGE_TABLE_WRITES (src/check/invariants.ts) or here").toEqual(
      [],
    );
  });
});
