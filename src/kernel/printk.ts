// kernel/printk/printk.c: the kernel log. printk() stores one record per message in a ring
// (the log buffer, CONFIG_LOG_BUF_SHIFT=17 on x86_64 defconfigs and Debian's: 128 KiB), each
// with a sequence number, a timestamp and a level; /dev/kmsg reads the records one at a time
// as "level,seq,usec,flags;text" (devkmsg_read(), info_print_ext_header()), dmesg prints
// "[seconds.micros] text". The ring belongs to one Kernel: no module state.
//
// The model has no clock. A record's timestamp is a pseudo-time, deterministic: the log's own
// clock advances one microsecond per record (so the timestamps are strictly increasing, as
// the kernel's local_clock() is within one CPU), and callers can move it on (advance()).
//
// Invariants: sequence numbers are consecutive from 0 in the order printk() was called; the
// ring holds the newest records whose text fits in LOG_BUF_LEN bytes; an overwritten record is
// gone for readers (a reader that asks for it finds the oldest one left, as /dev/kmsg's EPIPE).

/** The KERN_* levels, by their number (include/linux/kern_levels.h). */
export const LOG_LEVELS = [
  "emerg",
  "alert",
  "crit",
  "err",
  "warn",
  "notice",
  "info",
  "debug",
] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A line of the kernel log as printk() is called with it. */
export interface LogLine {
  level: LogLevel;
  text: string;
}

/** A stored record: the line, its sequence number and its (pseudo) timestamp. */
export interface LogRecord extends LogLine {
  seq: number;
  usec: number;
}

/** 1 << CONFIG_LOG_BUF_SHIFT: the ring's size in bytes (text bytes here; headers not counted). */
export const LOG_BUF_LEN = 1 << 17;

/** The number of a level: 0 (emerg) .. 7 (debug). */
export function logLevelNumber(level: LogLevel): number {
  return LOG_LEVELS.indexOf(level);
}

/**
 * The kernel log of one kernel (the printk ring buffer).
 * Invariant: `records` is sorted by seq, consecutive, and its text bytes are <= LOG_BUF_LEN.
 */
export class Printk {
  private readonly ring: LogRecord[] = [];
  /** Index of the oldest live record in `ring` (records before it were overwritten). */
  private head = 0;
  private bytes = 0;
  private nextSeq = 0;
  private clockUsec = 0;

  /**
   * printk() at a level. A text with newlines becomes one record per line (the kernel keeps a
   * multi-line message in one record; every message of the model is one line, and dump_page()
   * style reports print each line with its own printk()).
   */
  printk(level: LogLevel, text: string): void {
    for (const line of text.split("\n")) {
      this.clockUsec++;
      const r: LogRecord = { level, text: line, seq: this.nextSeq++, usec: this.clockUsec };
      this.ring.push(r);
      this.bytes += line.length;
      while (this.bytes > LOG_BUF_LEN && this.head < this.ring.length - 1) {
        this.bytes -= this.ring[this.head].text.length;
        this.head++;
      }
      if (this.head > 4096 && this.head * 2 > this.ring.length) {
        this.ring.splice(0, this.head);
        this.head = 0;
      }
    }
  }

  /** printk() of a line as other modules hand it over ({level, text}). */
  push(l: LogLine): void {
    this.printk(l.level, l.text);
  }

  /** Moves the pseudo-clock on (time passing between records: one model step, say). */
  advance(usec: number): void {
    if (usec > 0) this.clockUsec += Math.floor(usec);
  }

  /** The pseudo-clock: the timestamp of the last record, plus what advance() added since. */
  get nowUsec(): number {
    return this.clockUsec;
  }

  /** The sequence number the next record will get (read it before a step, since() after). */
  get seq(): number {
    return this.nextSeq;
  }

  /** The records still in the ring, oldest first. */
  records(): readonly LogRecord[] {
    return this.ring.slice(this.head);
  }

  /** The records from sequence number `seq` on (those still in the ring). */
  since(seq: number): LogRecord[] {
    const first = this.ring[this.head];
    if (!first) return [];
    const start = this.head + Math.max(0, seq - first.seq);
    return this.ring.slice(start);
  }
}

/**
 * The text of a record as /dev/kmsg escapes it (msg_add_ext_text()): bytes below 0x20 and
 * from 0x7f, and the backslash, as \xNN.
 */
function kmsgEscape(text: string): string {
  let out = "";
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x20 || c >= 0x7f || ch === "\\") {
      const bytes = c < 0x80 ? [c] : [...new TextEncoder().encode(ch)];
      for (const b of bytes) out += `\\x${b.toString(16).padStart(2, "0")}`;
    } else out += ch;
  }
  return out;
}

/**
 * A record as read(2) of /dev/kmsg returns it, without the newline: "prefix,seq,usec,flags;text"
 * with prefix = facility << 3 | level (facility 0: the kernel) and flags "-" (a record that is
 * not a continuation).
 */
export function kmsgLine(r: LogRecord): string {
  return `${logLevelNumber(r.level)},${r.seq},${r.usec},-;${kmsgEscape(r.text)}`;
}

/** A record as dmesg prints it: "[    7.461699] text" (print_time(): %5lu.%06lu). */
export function dmesgLine(r: LogRecord): string {
  const sec = Math.floor(r.usec / 1e6);
  const us = r.usec % 1e6;
  return `[${String(sec).padStart(5)}.${String(us).padStart(6, "0")}] ${r.text}`;
}

/** A /dev/kmsg line split into its fields; null when it is not one ("prefix,seq,usec,...;text"). */
export function parseKmsgLine(
  line: string,
): { level: number; seq: number; usec: number; text: string } | null {
  const m = /^(\d+),(\d+),(\d+),[^;]*;(.*)$/s.exec(line);
  if (!m) return null;
  return { level: Number(m[1]) & 7, seq: Number(m[2]), usec: Number(m[3]), text: m[4] };
}
