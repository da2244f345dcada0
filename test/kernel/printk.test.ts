// The kernel log (src/kernel/printk.ts): records, /dev/kmsg's format, dmesg's, the ring.
// Formats from Documentation/ABI/testing/dev-kmsg ("prefix,seq,usec,flags;text", the prefix
// being facility << 3 | level, flags "-" for a record that is not a continuation, and
// non-printable bytes and the backslash escaped as \xNN) and from the live 6.18 kernel's
// `dmesg` ("[    0.303530] HugeTLB: registered 1.00 GiB page size, pre-allocated 0 pages").
import { describe, expect, it } from "vitest";
import {
  dmesgLine,
  kmsgLine,
  LOG_BUF_LEN,
  parseKmsgLine,
  Printk,
} from "../../src/kernel/printk.ts";
import { machinePreset } from "../../src/arch/index.ts";
import { bootModel } from "../../src/model.ts";

describe("printk records as /dev/kmsg and dmesg show them", () => {
  it("gives consecutive sequence numbers from 0 and the KERN_* level numbers", () => {
    const log = new Printk();
    log.printk("err", "hugetlbfs: Unsupported page size 4 MB");
    log.printk("warn", "a warning");
    log.printk("info", "HugeTLB: registered 2.00 MiB page size, pre-allocated 0 pages");
    log.printk("alert", "BUG: Bad page state in process hvoexec  pfn:100040");
    const lines = log.records().map(kmsgLine);
    // KERN_ERR 3, KERN_WARNING 4, KERN_INFO 6, KERN_ALERT 1 (include/linux/kern_levels.h).
    expect(lines.map((l) => l.split(",")[0])).toEqual(["3", "4", "6", "1"]);
    expect(lines.map((l) => Number(l.split(",")[1]))).toEqual([0, 1, 2, 3]);
    expect(lines[0]).toMatch(/^3,0,\d+,-;hugetlbfs: Unsupported page size 4 MB$/);
    const usecs = lines.map((l) => parseKmsgLine(l)?.usec ?? -1);
    expect(usecs).toEqual([...usecs].sort((a, b) => a - b));
    expect(new Set(usecs).size).toBe(4);
  });

  it("escapes the backslash and control bytes as \\xNN", () => {
    const log = new Printk();
    log.printk("info", "a\\b\tc");
    expect(kmsgLine(log.records()[0])).toMatch(/;a\\x5cb\\x09c$/);
  });

  it("prints dmesg's [seconds.micros] prefix, seconds right-aligned in 5", () => {
    const line = dmesgLine({ level: "info", text: "x", seq: 0, usec: 7_461_699 });
    expect(line).toBe("[    7.461699] x");
  });

  it("keeps the newest records when the text outgrows the 128 KiB ring", () => {
    const log = new Printk();
    const text = "y".repeat(1000);
    const n = Math.ceil(LOG_BUF_LEN / 1000) + 50;
    for (let i = 0; i < n; i++) log.printk("info", text);
    const recs = log.records();
    expect(recs.length).toBeLessThan(n);
    expect(recs.length * 1000).toBeLessThanOrEqual(LOG_BUF_LEN);
    expect(recs.at(-1)?.seq).toBe(n - 1);
    // A reader that asks for an overwritten record gets the oldest one left (EPIPE, then on).
    expect(log.since(0)[0].seq).toBe(recs[0].seq);
    expect(log.since(n - 2).map((r) => r.seq)).toEqual([n - 2, n - 1]);
  });
});

describe("the model's kernel log", () => {
  it("cat /dev/kmsg lists the boot messages, one record per line", () => {
    const m = bootModel(machinePreset("x86_64", { memoryBytes: 4 * 2 ** 30 }), "legacy");
    const lines = m.read("/dev/kmsg").trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(parseKmsgLine(l)).not.toBeNull();
    expect(lines.some((l) => /;HugeTLB: registered 2\.00 MiB page size/.test(l))).toBe(true);
    expect(m.read("/proc/sys/kernel/tainted")).toBe("0\n");
  });

  it("logs hugetlbfs' refusal of a page size as the live 6.18 kernel does", () => {
    // The live host's dmesg: "hugetlbfs: Unsupported page size 4 MB" (pr_err, KERN_ERR 3).
    const m = bootModel(machinePreset("x86_64", { memoryBytes: 4 * 2 ** 30 }), "legacy");
    const seq = m.k.printk.seq;
    expect(() => m.hugetlbfs.mount("/mnt/h", "pagesize=4M")).toThrow();
    expect(m.k.printk.since(seq).map(kmsgLine)).toEqual([
      expect.stringMatching(/^3,\d+,\d+,-;hugetlbfs: Unsupported page size 4 MB$/),
    ]);
  });
});
