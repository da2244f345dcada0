// A writer for the "newc" cpio archive the kernel unpacks as its initramfs
// (init/initramfs.c, Documentation/driver-api/early-userspace/buffer-format.rst).
// The project builds its guest's root file system itself: no prebuilt image is downloaded.

export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Uint8Array; mode?: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "chardev"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const enc = new TextEncoder();

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** Builds a newc archive (uncompressed: the kernel takes it as it is). */
export function buildCpio(entries: CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  const push = (u: Uint8Array): void => {
    parts.push(u);
    total += u.length;
  };
  const zeros = new Uint8Array(4);
  let ino = 1;
  const record = (name: string, mode: number, data: Uint8Array, rdevMajor = 0, rdevMinor = 0) => {
    const nameBytes = enc.encode(`${name}\0`);
    const header =
      "070701" +
      hex8(ino++) +
      hex8(mode) +
      hex8(0) + // uid
      hex8(0) + // gid
      hex8(mode & S_IFDIR ? 2 : 1) + // nlink
      hex8(0) + // mtime: fixed, so the same inputs give the same archive
      hex8(data.length) +
      hex8(0) + // devmajor
      hex8(0) + // devminor
      hex8(rdevMajor) +
      hex8(rdevMinor) +
      hex8(nameBytes.length) +
      hex8(0); // check
    const h = enc.encode(header);
    push(h);
    push(nameBytes);
    push(zeros.subarray(0, pad4(h.length + nameBytes.length)));
    push(data);
    push(zeros.subarray(0, pad4(data.length)));
  };
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, "");
    switch (e.kind) {
      case "dir":
        record(name, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0));
        break;
      case "file":
        record(name, S_IFREG | (e.mode ?? 0o644), e.data);
        break;
      case "symlink":
        record(name, S_IFLNK | 0o777, enc.encode(e.target));
        break;
      case "chardev":
        record(name, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(0), e.major, e.minor);
        break;
    }
  }
  ino = 0;
  record("TRAILER!!!", 0, new Uint8Array(0));
  const out = new Uint8Array(total + pad4(total) + ((512 - ((total + pad4(total)) % 512)) % 512));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Reads a newc archive back (for tests, and to list what an initramfs holds). */
export function readCpio(
  bytes: Uint8Array,
): { name: string; mode: number; data: Uint8Array; rdevMajor: number; rdevMinor: number }[] {
  const dec = new TextDecoder();
  const out: {
    name: string;
    mode: number;
    data: Uint8Array;
    rdevMajor: number;
    rdevMinor: number;
  }[] = [];
  let off = 0;
  for (;;) {
    const magic = dec.decode(bytes.subarray(off, off + 6));
    if (magic !== "070701") throw new Error(`cpio: bad magic at ${off}`);
    const field = (i: number) =>
      Number.parseInt(dec.decode(bytes.subarray(off + 6 + i * 8, off + 14 + i * 8)), 16);
    const mode = field(1);
    const fileSize = field(6);
    const rdevMajor = field(9);
    const rdevMinor = field(10);
    const nameSize = field(11);
    const nameStart = off + 110;
    const name = dec.decode(bytes.subarray(nameStart, nameStart + nameSize - 1));
    let dataStart = nameStart + nameSize;
    dataStart += pad4(dataStart);
    if (name === "TRAILER!!!") break;
    out.push({
      name,
      mode,
      data: bytes.subarray(dataStart, dataStart + fileSize),
      rdevMajor,
      rdevMinor,
    });
    off = dataStart + fileSize;
    off += pad4(off);
  }
  return out;
}
