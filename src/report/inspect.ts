// `hvo inspect --pfn N`: one struct page as crash's `kmem -p` or drgn would show it, read
// through the model's vmemmap: the decoded fields (include/linux/mm_types.h, page-flags.h),
// the folio fields of pages 1..3 for a head, the raw bytes, and how the vmemmap maps them:
// the PTE or PMD, the frame behind it, and whether that frame is shared with other PTEs.

import {
  HPG,
  PAGE_OFF,
  PGTY_hugetlb,
  POISON_POINTER_DELTA,
  TAIL_MAPPING,
} from "../include/mm_types.ts";
import { PG, pageToNid, pageZonenum, ZONE_BY_IDX } from "../include/page_flags.ts";
import type { Kernel } from "../kernel.ts";
import { UsageErrorLike } from "./errors.ts";
import { bytesHex, hex, hex64 } from "./units.ts";

/** enum pagetype (include/linux/page-flags.h, 6.18): the top byte of page_type. */
const PAGE_TYPES: Record<number, string> = {
  240: "buddy",
  241: "offline",
  242: "table",
  243: "guard",
  244: "hugetlb",
  245: "slab",
  246: "zsmalloc",
  247: "unaccepted",
  248: "large_kmalloc",
};

export interface InspectFolio {
  order: number;
  /** _nr_pages, or null where the layout has no room for it */
  nr_pages: number | null;
  large_mapcount: number;
  entire_mapcount: number;
  nr_pages_mapped: number;
  pincount: number;
  hugetlb: boolean;
  hugetlb_subpool: string;
  hugetlb_cgroup: string;
  hugetlb_cgroup_rsvd: string;
  hugetlb_hwpoison: string;
  /** HPG_* bits set in folio->private */
  hpg_flags: string[];
}

export interface InspectData {
  machine: string;
  design: string;
  pfn: number;
  /** pfn_to_page(pfn) */
  vaddr: string;
  /** the struct page's bytes as read through the vmemmap */
  raw: string;
  flags: string;
  flag_names: string[];
  node: number;
  zone: string;
  /** the word at +8: lru.next, or compound_head / compound_info on a tail */
  compound_info: string;
  /** what the word at +8 says on its own: null when bit 0 is clear (not a tail) */
  compound_info_head_vaddr: string | null;
  compound_info_encoding: "mask" | "pointer";
  /** compound_head(): the head pfn (pfn itself for a head or a non-compound page) */
  head_pfn: number;
  is_head: boolean;
  is_tail: boolean;
  fields: {
    lru_prev: string;
    mapping: string;
    mapping_is_tail_mapping: boolean;
    index: string;
    private: string;
    /** _mapcount when no page type is set */
    mapcount: number | null;
    page_type: string | null;
    page_type_raw: string;
    refcount: number;
    memcg_data: string | null;
  };
  /** the folio fields in pages 1..3, for a large folio's head */
  folio: InspectFolio | null;
  /** the leaf entry that maps the struct page's vmemmap page */
  mapping: {
    level: "pte" | "pmd" | "pud";
    writable: boolean;
    entry: string;
    table_pfn: number;
    index: number;
    /**
     * The walk from the top table down to that leaf: each level's table frame, the index used
     * and the entry read (pgd, [p4d with 5-level paging,] pud, pmd, pte).
     */
    walk: Array<{ level: TableLevel; table_pfn: number; index: number; entry: string }>;
  };
  /** the physical frame holding the struct page (its first byte) */
  frame: number;
  /** byte offset of the struct page in that frame */
  frame_offset: number;
  /** the frame is mapped by more than one vmemmap PTE */
  frame_shared: boolean;
  /** vmemmap PTEs found mapping the frame in the scanned range */
  frame_mappings: number;
  /** the vmemmap range walked to find them (the folio's PTE tables) */
  frame_scan: { start: string; end: string };
  /** what the frame is: a boot vmemmap page, a run-time vmemmap page, a shared tail ... */
  frame_use: string;
  /** raw bytes with PG_head on a struct page that is not a folio's real head (legacy HVO) */
  fake_head: boolean;
}

/** Parses --pfn: decimal or 0x hex. */
export function parsePfn(text: string): number {
  const t = text.trim();
  const ok = /^(0x[0-9a-f]+|[0-9]+)$/i.test(t);
  const v = ok ? Number(t) : Number.NaN;
  if (!ok || !Number.isSafeInteger(v)) {
    throw new UsageErrorLike(
      `--pfn: "${text}" is not a page frame number (decimal, or hex with 0x)`,
    );
  }
  return v;
}

function checkPfn(k: Kernel, pfn: number): void {
  let maxPfn = 0;
  for (const n of k.spec.nodes) for (const r of n.ranges) maxPfn = Math.max(maxPfn, r.endPfn);
  if (pfn >= maxPfn) {
    throw new UsageErrorLike(
      `--pfn: ${hex(pfn)} is beyond the machine: its last page frame is ${hex(maxPfn - 1)} (${maxPfn - 1})`,
    );
  }
  if (!k.memmap.backing(pfn)) {
    throw new UsageErrorLike(
      `--pfn: ${hex(pfn)} is in a memory hole without memmap (no present memory in its section)`,
    );
  }
}

function flagNames(k: Kernel, flags: bigint): string[] {
  const fieldBits = k.flagsLayout.nodesShift + k.flagsLayout.zonesShift;
  const byBit = new Map<number, string>();
  for (const [name, bit] of Object.entries(PG)) byBit.set(bit, name);
  const names: string[] = [];
  for (let bit = 0; bit < 64 - fieldBits; bit++) {
    if ((flags >> BigInt(bit)) & 1n) names.push(byBit.get(bit) ?? `bit${bit}`);
  }
  return names;
}

function signed32(v: number): number {
  return v | 0;
}

function pointerText(v: bigint): string {
  if (v === TAIL_MAPPING) return `${hex64(v)} (TAIL_MAPPING)`;
  if (v >= POISON_POINTER_DELTA && v < POISON_POINTER_DELTA + 0x1000n)
    return `${hex64(v)} (poison)`;
  return hex64(v);
}

function levelName(k: Kernel, level: number): "pte" | "pmd" | "pud" {
  if (level === k.pgt.levels - 1) return "pte";
  if (level === k.pgt.levels - 2) return "pmd";
  return "pud";
}

type TableLevel = "pgd" | "p4d" | "pud" | "pmd" | "pte";

/**
 * The kernel's name of a table level: counted from the bottom (pte, pmd, pud, p4d), the top
 * one always the pgd; folded levels (include/asm-generic/pgtable-nop4d.h, -nopud.h) are absent.
 */
function tableLevelName(k: Kernel, level: number): TableLevel {
  if (level === 0) return "pgd";
  const fromBottom: TableLevel[] = ["pte", "pmd", "pud", "p4d"];
  return fromBottom[k.pgt.levels - 1 - level] ?? "p4d";
}

/** The tables walked from the root to vaddr's leaf (at `leafLevel`), with the entries read. */
function tableWalk(k: Kernel, vaddr: bigint, leafLevel: number): InspectData["mapping"]["walk"] {
  const out: InspectData["mapping"]["walk"] = [];
  let table = k.pgt.rootPfn;
  for (let level = 0; level <= leafLevel; level++) {
    const index = k.pgt.index(level, vaddr);
    const e = k.pgt.get(table, index);
    out.push({ level: tableLevelName(k, level), table_pfn: table, index, entry: hex64(e) });
    const d = k.spec.arch.pte.decode(e, level);
    if (!d?.table) break;
    table = d.pfn;
  }
  return out;
}

/** What the frame is used for, from the buddy's allocations and memblock's reservations. */
function frameUse(k: Kernel, frame: number): string {
  const a = k.buddy.allocations.get(frame);
  if (a) return a.use === "vmemmap" ? "vmemmap page allocated at run time" : a.use;
  for (const r of k.memblock.reserved) {
    if (frame >= r.startPfn && frame < r.endPfn) {
      return r.use === "vmemmap" ? "vmemmap page from memblock (boot)" : `memblock ${r.use}`;
    }
  }
  if (k.buddy.isFree(frame)) return "free (in the buddy allocator)";
  return "unknown";
}

/**
 * Counts the vmemmap PTEs that map `frame` in every PTE table covering the vmemmap of
 * [firstPfn, firstPfn + nrPfns): a reverse lookup limited to the folio's neighbourhood (one
 * PMD's worth of vmemmap per table), never the whole vmemmap.
 */
function countMappings(
  k: Kernel,
  frame: number,
  firstPfn: number,
  nrPfns: number,
): { n: number; start: bigint; end: bigint } {
  const pmdBytes = 2n ** BigInt(k.spec.arch.levelShifts[k.pgt.levels - 2]);
  const pageBytes = BigInt(k.pageSize);
  const start = k.memmap.vaddrOf(firstPfn);
  const end = k.memmap.vaddrOf(firstPfn + nrPfns);
  const scanStart = start - (start % pmdBytes);
  const scanEnd = end % pmdBytes === 0n ? end : end - (end % pmdBytes) + pmdBytes;
  let n = 0;
  for (let v = scanStart; v < scanEnd; ) {
    const leaf = k.pgt.lookup(v);
    if (!leaf) {
      v += pageBytes;
      continue;
    }
    if (leaf.huge) {
      const span = 2n ** BigInt(k.spec.arch.levelShifts[leaf.level]);
      if (frame >= leaf.pfn && frame < leaf.pfn + Number(span / pageBytes)) n++;
      v = v - (v % span) + span;
      continue;
    }
    // A PTE table: read all its entries at once.
    const entries = k.pgt.entriesPerTable;
    const tableStart = v - (v % pmdBytes);
    for (let i = 0; i < entries; i++) {
      const e = k.spec.arch.pte.decode(k.pgt.get(leaf.tablePfn, i), leaf.level);
      if (e?.present && e.pfn === frame) n++;
    }
    v = tableStart + pmdBytes;
  }
  return { n, start: scanStart, end: scanEnd };
}

export function inspectPfn(k: Kernel, pfn: number): InspectData {
  checkPfn(k, pfn);
  const m = k.memmap;
  const L = k.layout;
  const raw = m.readStructPage(pfn);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const flags = dv.getBigUint64(PAGE_OFF.flags, true);
  const info = dv.getBigUint64(PAGE_OFF.compoundInfo, true);
  const vaddr = m.vaddrOf(pfn);
  const encoding = k.compound.config.encoding;
  let infoHead: bigint | null = null;
  if ((info & 1n) === 1n) {
    infoHead = encoding === "mask" ? vaddr & info : info - 1n;
  }
  const headPfn = k.compound.compoundHead(pfn);
  const pgHead = ((flags >> BigInt(PG.head)) & 1n) === 1n;
  const isTail = (info & 1n) === 1n || headPfn !== pfn;
  const isHead = pgHead && !isTail;

  const typeWord = dv.getUint32(PAGE_OFF.mapcount, true);
  const typeByte = typeWord >>> 24;
  const pageType =
    typeByte >= 0xf0 && typeByte < 0xff ? (PAGE_TYPES[typeByte] ?? hex(typeByte)) : null;

  let folio: InspectFolio | null = null;
  if (isHead) {
    const f = L.folio;
    const order = m.readU32(pfn, f.flags1) & 0xff;
    const priv = dv.getBigUint64(PAGE_OFF.private, true);
    const hpg = Object.entries(HPG)
      .filter(([, bit]) => ((priv >> BigInt(bit)) & 1n) === 1n)
      .map(([name]) => name);
    folio = {
      order,
      nr_pages: f.nrPages === null ? null : m.readU32(pfn, f.nrPages),
      large_mapcount: signed32(m.readU32(pfn, f.largeMapcount)),
      entire_mapcount: signed32(m.readU32(pfn, f.entireMapcount)),
      nr_pages_mapped: signed32(m.readU32(pfn, f.nrPagesMapped)),
      pincount: signed32(m.readU32(pfn, f.pincount)),
      hugetlb: typeByte === PGTY_hugetlb,
      hugetlb_subpool: hex64(m.readU64(pfn, f.hugetlbSubpool)),
      hugetlb_cgroup: hex64(m.readU64(pfn, f.hugetlbCgroup)),
      hugetlb_cgroup_rsvd: hex64(m.readU64(pfn, f.hugetlbCgroupRsvd)),
      hugetlb_hwpoison: hex64(m.readU64(pfn, f.hugetlbHwpoison)),
      hpg_flags: typeByte === PGTY_hugetlb ? hpg : [],
    };
  }

  const leaf = k.pgt.lookup(vaddr);
  const t = m.backing(pfn);
  if (!leaf || !t) throw new UsageErrorLike(`--pfn: ${hex(pfn)} has no memmap mapping`);
  const entry = k.pgt.get(leaf.tablePfn, leaf.idx);
  const nrFolio = isHead || isTail ? 2 ** k.compound.folioOrder(headPfn) : 1;
  const scan = countMappings(k, t.frame, isHead || isTail ? headPfn : pfn, Math.max(1, nrFolio));

  // page_fixed_fake_head()'s test on raw bytes, whether or not the static key is on.
  const startsPage = (pfn * L.size) % k.pageSize === 0;
  let fakeHead = false;
  if (pgHead && startsPage) {
    const nextInfo = m.readU64(pfn + 1, PAGE_OFF.compoundInfo);
    if ((nextInfo & 1n) === 1n && k.compound.rawHead(pfn + 1) !== pfn) fakeHead = true;
  }

  return {
    machine: k.spec.name,
    design: k.design,
    pfn,
    vaddr: hex(vaddr),
    raw: bytesHex(raw),
    flags: hex64(flags),
    flag_names: flagNames(k, flags),
    node: pageToNid(flags, k.flagsLayout),
    zone:
      ZONE_BY_IDX[pageZonenum(flags, k.flagsLayout)] ?? String(pageZonenum(flags, k.flagsLayout)),
    compound_info: hex64(info),
    compound_info_head_vaddr: infoHead === null ? null : hex(infoHead),
    compound_info_encoding: encoding,
    head_pfn: headPfn,
    is_head: isHead,
    is_tail: isTail,
    fields: {
      lru_prev: hex64(dv.getBigUint64(PAGE_OFF.lruPrev, true)),
      mapping: pointerText(dv.getBigUint64(PAGE_OFF.mapping, true)),
      mapping_is_tail_mapping: dv.getBigUint64(PAGE_OFF.mapping, true) === TAIL_MAPPING,
      index: hex64(dv.getBigUint64(PAGE_OFF.index, true)),
      private: hex64(dv.getBigUint64(PAGE_OFF.private, true)),
      mapcount: pageType === null ? signed32(typeWord) : null,
      page_type: pageType,
      page_type_raw: hex(typeWord),
      refcount: dv.getInt32(PAGE_OFF.refcount, true),
      memcg_data: L.hasMemcgData ? hex64(dv.getBigUint64(PAGE_OFF.memcgData, true)) : null,
    },
    folio,
    mapping: {
      level: levelName(k, leaf.level),
      writable: t.writable,
      entry: hex64(entry),
      table_pfn: leaf.tablePfn,
      index: leaf.idx,
      walk: tableWalk(k, vaddr, leaf.level),
    },
    frame: t.frame,
    frame_offset: Number((vaddr - k.vmemmapBase) % BigInt(k.pageSize)),
    frame_shared: scan.n > 1,
    frame_mappings: scan.n,
    frame_scan: { start: hex(scan.start), end: hex(scan.end) },
    frame_use: frameUse(k, t.frame),
    fake_head: fakeHead,
  };
}

function hexdump(rawHex: string, indent: string): string[] {
  const out: string[] = [];
  for (let off = 0; off < rawHex.length / 2; off += 16) {
    const bytes = [];
    for (let i = off; i < Math.min(off + 16, rawHex.length / 2); i++)
      bytes.push(rawHex.slice(2 * i, 2 * i + 2));
    out.push(
      `${indent}+${String(off).padStart(2, "0")}  ${bytes.slice(0, 8).join(" ")}  ${bytes.slice(8).join(" ")}`.trimEnd(),
    );
  }
  return out;
}

export function formatInspect(d: InspectData): string {
  const out: string[] = [];
  const what = d.is_head
    ? `head of an order-${d.folio?.order} folio`
    : d.is_tail
      ? `tail ${d.pfn - d.head_pfn} of the folio at pfn ${hex(d.head_pfn)}`
      : "not part of a compound page";
  out.push(
    `struct page ${d.vaddr}  pfn ${hex(d.pfn)} (${d.pfn})  node ${d.node} zone ${d.zone}  (${d.machine}, ${d.design})`,
  );
  out.push(`  ${what}${d.fake_head ? "  ** raw bytes look like a head: a FAKE HEAD **" : ""}`);
  out.push(
    `  +0  flags          ${d.flags}  ${d.flag_names.join("|") || "-"}  [node ${d.node}, zone ${d.zone}]`,
  );
  const infoText =
    d.compound_info_head_vaddr === null
      ? "bit 0 clear: lru.next, not a tail"
      : `tail: ${d.compound_info_encoding === "mask" ? "mask, head = this & info" : "pointer, head = info - 1"} = ${d.compound_info_head_vaddr}`;
  out.push(`  +8  compound_info  ${d.compound_info}  ${infoText}`);
  out.push(`  +16 lru.prev       ${d.fields.lru_prev}`);
  out.push(`  +24 mapping        ${d.fields.mapping}`);
  out.push(`  +32 index          ${d.fields.index}`);
  out.push(`  +40 private        ${d.fields.private}`);
  out.push(
    `  +48 ${d.fields.page_type === null ? `_mapcount      ${d.fields.mapcount}` : `page_type      ${d.fields.page_type_raw} (${d.fields.page_type})`}`,
  );
  out.push(`  +52 _refcount      ${d.fields.refcount}`);
  if (d.fields.memcg_data !== null) out.push(`  +56 memcg_data     ${d.fields.memcg_data}`);
  out.push(`  compound_head() -> pfn ${hex(d.head_pfn)}${d.head_pfn === d.pfn ? " (itself)" : ""}`);
  const f = d.folio;
  if (f) {
    out.push(
      `  folio: order ${f.order}, _nr_pages ${f.nr_pages ?? "-"}, _large_mapcount ${f.large_mapcount}, ` +
        `_entire_mapcount ${f.entire_mapcount}, _nr_pages_mapped ${f.nr_pages_mapped}, _pincount ${f.pincount}`,
    );
    if (f.hugetlb) {
      out.push(
        `  hugetlb: HPG flags [${f.hpg_flags.join(", ") || "none"}], subpool ${f.hugetlb_subpool}, ` +
          `cgroup ${f.hugetlb_cgroup}, cgroup_rsvd ${f.hugetlb_cgroup_rsvd}, hwpoison ${f.hugetlb_hwpoison}`,
      );
    }
  }
  out.push(`  raw (${d.raw.length / 2} bytes):`);
  out.push(...hexdump(d.raw, "    "));
  const mp = d.mapping;
  out.push(
    `  vmemmap: ${mp.level.toUpperCase()} entry ${mp.entry} (table pfn ${hex(mp.table_pfn)} [${mp.index}]) ` +
      `${mp.writable ? "RW" : "RO"} -> frame ${hex(d.frame)} +${hex(d.frame_offset)}`,
  );
  out.push(
    `  walk: ${mp.walk.map((w) => `${w.level.toUpperCase()} ${hex(w.table_pfn)}[${w.index}]`).join(" -> ")}`,
  );
  out.push(
    `  frame ${hex(d.frame)}: ${d.frame_use}; mapped by ${d.frame_mappings} vmemmap ` +
      `${d.frame_mappings === 1 ? "entry" : "entries"} in ${d.frame_scan.start}-${d.frame_scan.end}` +
      `${d.frame_shared ? " (SHARED)" : ""}`,
  );
  return `${out.join("\n")}\n`;
}
