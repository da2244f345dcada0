// What the VM tests need before they boot anything: QEMU, busybox, zstd, gcc, the Debian 7.2
// kernel and our initramfs. As root they are installed or downloaded. When this host cannot
// have them (not root and missing, no apt, the archive unreachable) the reason is returned and
// the tests skip with it; when getting them broke (a checksum that does not match, a kernel
// that cannot be unpacked, a build that fails) the error is thrown and the tests fail.
import { buildInitramfs } from "../../src/live/vm/initramfs.ts";
import { ensureHostTools, resolveKernel, VmSetupError } from "../../src/live/vm/pieces.ts";
import {
  type Recording,
  RESULT_FORMAT,
  type Result,
  type ResultScenario,
} from "../../src/scenario/format.ts";

export async function vmPiecesUnavailable(who: string): Promise<string | null> {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  try {
    await ensureHostTools(["qemu", "busybox", "zstd", "gcc"], { install: isRoot });
    await resolveKernel("debian-7.2", { install: isRoot });
    await buildInitramfs({ install: isRoot });
    return null;
  } catch (e) {
    if (!(e instanceof VmSetupError && e.unavailable)) throw e;
    const why = `QEMU or the Debian 7.2 kernel cannot be had here: ${e.message}`;
    console.warn(`${who}: skipped: ${why}`);
    return why;
  }
}

/**
 * What Linux 7.2 prints when boot-time 1 GiB folios optimised at boot (hugetlb_free_vmemmap=on,
 * the vmemmap_populate_hvo path) are freed: "BUG: Bad page state in process hvoexec pfn:X" for
 * subpages X whose struct pages were in the shared page of tails (offset 64 and up in the 1 GiB
 * folio: the second vmemmap page onwards), with "page dumped because: nonzero _refcount" (seen
 * with loglevel=8: the restored tails have refcount 1). Measured, not wished away: the tests
 * that free such folios assert these lines, and any other BUG still fails them.
 */
export function isBootTime1GFreeBadPage(line: string): boolean {
  const m = /BUG: Bad page state in process hvoexec\s+pfn:([0-9a-f]+)$/.exec(line.trim());
  if (!m) return false;
  const offset = Number.parseInt(m[1], 16) % 262144; // 2^18 subpages per 1 GiB folio
  return offset >= 64;
}

/** The guest console's "Bad page state" lines. */
export function badPageLines(console: string): string[] {
  return console
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /BUG: Bad page state/.test(l));
}

/** `hvo inspect`'s raw hex (the struct page's bytes in memory order) as little-endian 64-bit words. */
export function rawWords(hex: string): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < hex.length; i += 16) {
    const bytes = hex.slice(i, i + 16).match(/../g) ?? [];
    out.push(BigInt(`0x${bytes.reverse().join("")}`));
  }
  return out;
}

/** A recording's round as the result `hvo vm --json` printed for it (what the replays compare). */
export function recordedRound(rec: Recording, round = 0): Result {
  const scenarios: Record<string, ResultScenario> = {};
  for (const [id, s] of Object.entries(rec.scenarios))
    scenarios[id] = { ...s.runs[round], vm: s.vm } as ResultScenario;
  return { format: RESULT_FORMAT, machine: String(rec.machine.vm), design: "live", scenarios };
}
