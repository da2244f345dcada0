// Number formatting shared by the report and inspect views. Pure: no I/O.

/** 0x-prefixed lowercase hex of a number or bigint. */
export function hex(v: number | bigint): string {
  return `0x${v.toString(16)}`;
}

/** A 64-bit word as 16 hex digits (how crash and drgn print struct page words). */
export function hex64(v: bigint): string {
  return `0x${v.toString(16).padStart(16, "0")}`;
}

/** Bytes as hex, no separators (the JSON `raw` field). */
export function bytesHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** A byte count in binary units: 4096 -> "4 KiB", 1.5 MiB -> "1.5 MiB". */
export function sizeText(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const s = Number.isInteger(v) ? String(v) : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2);
  return `${s} ${units[i]}`;
}

/** The kernel's short hstate name from a size in kB: 2048 -> "2M", 1048576 -> "1G", 64 -> "64K". */
export function hstateName(sizeKb: number): string {
  if (sizeKb % (1024 * 1024) === 0) return `${sizeKb / (1024 * 1024)}G`;
  if (sizeKb % 1024 === 0) return `${sizeKb / 1024}M`;
  return `${sizeKb}K`;
}

/** 12345678 -> "12,345,678" (report tables). */
export function grouped(n: number): string {
  // toLocaleString() is slow enough to show in a report's run time.
  const [int, frac] = String(n).split(".");
  const sign = int.startsWith("-") ? "-" : "";
  const digits = sign ? int.slice(1) : int;
  const withCommas = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}${withCommas}${frac ? `.${frac}` : ""}`;
}
