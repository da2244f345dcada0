// The guest's root file system, built by the project itself: a static busybox, hvoexec
// (native/hvoexec.c) and hvokcore (native/initramfs/hvokcore.c) compiled with `gcc -O2 -static`,
// and native/initramfs/init. Cached by the hash of its inputs. x86_64: the machine's own
// busybox-static and gcc; arm64: Debian's busybox-static:arm64 (pieces.ts fetchArm64Busybox) and
// the cross compiler aarch64-linux-gnu-gcc.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { buildCpio, type CpioEntry } from "./cpio.ts";
import {
  ensureHostTools,
  fetchArm64Busybox,
  GUEST_TOOLS,
  type GuestArch,
  PROJECT_ROOT,
  runChild,
  VmSetupError,
  vmCacheDir,
} from "./pieces.ts";

const NATIVE = path.join(PROJECT_ROOT, "native");

/** The C helpers that go into the guest: name -> source. */
export function helperSources(): Record<string, string> {
  const out: Record<string, string> = { hvoexec: path.join(NATIVE, "hvoexec.c") };
  const kcore = path.join(NATIVE, "initramfs", "hvokcore.c");
  if (fs.existsSync(kcore)) out.hvokcore = kcore;
  return out;
}

async function compileStatic(gcc: string, src: string, out: string): Promise<void> {
  if (!fs.existsSync(src)) throw new VmSetupError(`${src} is missing: the guest needs it`);
  const tmp = `${out}.tmp${process.pid}`;
  const r = await runChild(gcc, ["-O2", "-static", "-std=gnu11", "-o", tmp, src]);
  if (r.status !== 0)
    throw new VmSetupError(
      `${path.basename(gcc)} -static ${src} failed: ${r.error?.message ?? r.stderr}`,
    );
  fs.renameSync(tmp, out);
}

/** Builds (or finds in the cache) the initramfs; returns its path. */
export async function buildInitramfs(
  opts: { install?: boolean; log?: (s: string) => void; arch?: GuestArch } = {},
): Promise<string> {
  const arch = opts.arch ?? "x86_64";
  const gccTool = GUEST_TOOLS[arch].gcc;
  let busybox: string;
  let gcc: string;
  if (arch === "x86_64") {
    const tools = await ensureHostTools(["busybox", gccTool], opts);
    busybox = fs.realpathSync(tools.busybox);
    gcc = tools[gccTool];
  } else {
    gcc = (await ensureHostTools([gccTool], opts))[gccTool];
    busybox = await fetchArm64Busybox(opts);
  }
  const bb = fs.readFileSync(busybox);
  // Debian's /bin/busybox comes from busybox-static only when that package is installed;
  // a dynamic busybox cannot run in a guest without a libc.
  if (
    bb.includes(Buffer.from("/lib64/ld-linux-x86-64.so.2")) ||
    bb.includes(Buffer.from("/lib/ld-linux-aarch64.so.1"))
  ) {
    throw new VmSetupError(
      `${busybox} is dynamically linked: install \`apt-get install -y busybox-static\``,
      true,
    );
  }
  const init = fs.readFileSync(path.join(NATIVE, "initramfs", "init"));
  const sources = helperSources();
  const h = createHash("sha256");
  if (arch !== "x86_64") h.update(arch);
  h.update(bb).update(init);
  for (const [name, src] of Object.entries(sources)) h.update(name).update(fs.readFileSync(src));
  const key = h.digest("hex").slice(0, 16);
  const dir = path.join(vmCacheDir(), "initramfs");
  const out = path.join(dir, `initramfs-${key}.cpio`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(dir, { recursive: true });
  const entries: CpioEntry[] = [
    ...["bin", "sbin", "usr", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "mnt"].map(
      (p): CpioEntry => ({ kind: "dir", path: p }),
    ),
    { kind: "chardev", path: "dev/console", major: 5, minor: 1 },
    { kind: "chardev", path: "dev/null", major: 1, minor: 3, mode: 0o666 },
    { kind: "file", path: "bin/busybox", data: bb, mode: 0o755 },
    { kind: "file", path: "init", data: init, mode: 0o755 },
  ];
  for (const [name, src] of Object.entries(sources)) {
    const bin = path.join(dir, `${name}-${key}`);
    opts.log?.(`${path.basename(gcc)} -O2 -static ${src}\n`);
    await compileStatic(gcc, src, bin);
    entries.push({ kind: "file", path: `bin/${name}`, data: fs.readFileSync(bin), mode: 0o755 });
    fs.rmSync(bin);
  }
  const tmp = `${out}.tmp${process.pid}`;
  fs.writeFileSync(tmp, buildCpio(entries));
  fs.renameSync(tmp, out);
  return out;
}
