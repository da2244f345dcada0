// Getting what a VM run needs: QEMU and busybox from this machine's Debian release, and a
// newer Debian kernel downloaded (never installed) into the project's cache, .cache/vm/.
// x86_64: the kernel is cut out of Debian's bzImage (arch/x86/boot/header.S: payload_offset and
// payload_length in the setup header) and decompressed to the ELF vmlinux, which QEMU boots
// through its PVH note: no decompressor (whose BMI2 code the paravirtual KVM here cannot run)
// and no KASLR.
// arm64 (`debian-7.2:arm64`, `debian-7.2:arm64-16k`): Debian ships the uncompressed arm64 Image
// (Documentation/arch/arm64/booting.rst: "ARM\x64" at 0x38, the page size in the flags at 0x18)
// as vmlinuz, which qemu-system-aarch64 loads as it is; the packages come from the same archive
// through a private apt configuration for the arm64 architecture, busybox-static:arm64 too.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The VM machinery could not be had or broke. `unavailable`: this host cannot have it (a tool
 * missing and no way to install it, not root, no Debian archive, the archive unreachable); the
 * message names the command that installs it. Otherwise it broke (a download whose checksum is
 * wrong, a kernel image that cannot be unpacked, a guest that crashed): never a reason to skip.
 */
export class VmSetupError extends Error {
  constructor(
    message: string,
    readonly unavailable = false,
  ) {
    super(message);
    this.name = "VmSetupError";
  }
}

/** What a child printed and how it ended (spawnSync's answer, awaited). */
export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  error?: Error;
}

/**
 * Runs a child to its end without blocking this process's event loop. Every tool the VM tier
 * gets (apt-get update, install and download, dpkg-deb, zstd, gcc) runs through it: these take
 * minutes on a fresh host, and a vitest worker blocked for 60 s misses its runner's RPC answers
 * (`Timeout calling "onTaskUpdate"`), which fails the whole run though every test passed.
 */
export function runChild(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: Uint8Array } = {},
): Promise<ChildResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: [opts.input ? "pipe" : "ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    let stderr = "";
    let error: Error | undefined;
    child.stdout?.on("data", (d: Buffer) => out.push(d));
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", (e) => {
      error = e;
    });
    if (opts.input && child.stdin) {
      // A child that exits before reading all of its input is judged by its status, not EPIPE.
      child.stdin.on("error", () => {});
      child.stdin.end(opts.input);
    }
    child.on("close", (status, signal) =>
      resolve({ status, signal, stdout: Buffer.concat(out), stderr, error }),
    );
  });
}

/**
 * Whether apt's complaint means "cannot reach or find it" (unavailable) rather than "got it
 * and it is wrong": a hash mismatch, a bad signature or a corrupt archive is the latter.
 */
export function aptUnreachable(stderr: string): boolean {
  if (/hash sum mismatch|hashes|checksum|signature|NO_PUBKEY|corrupt/i.test(stderr)) return false;
  return /could not resolve|temporary failure|failed to fetch|unable to connect|connection (refused|timed out)|network is unreachable|unable to locate package|no installation candidate|has no installation candidate|could not connect/i.test(
    stderr,
  );
}

/** sha256 of a file, hex. */
export function fileSha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export function vmCacheDir(): string {
  return process.env.HVO_VM_CACHE ?? path.join(PROJECT_ROOT, ".cache", "vm");
}

/** The Debian packages each host tool comes from. */
const HOST_TOOLS = {
  qemu: { bin: "qemu-system-x86_64", pkg: "qemu-system-x86" },
  qemuArm64: { bin: "qemu-system-aarch64", pkg: "qemu-system-arm" },
  busybox: { bin: "busybox", pkg: "busybox-static" },
  zstd: { bin: "zstd", pkg: "zstd" },
  gcc: { bin: "gcc", pkg: "gcc libc6-dev" },
  /** Static aarch64 binaries for the arm64 guest's initramfs. */
  gccArm64: { bin: "aarch64-linux-gnu-gcc", pkg: "gcc-aarch64-linux-gnu libc6-dev-arm64-cross" },
} as const;
export type HostTool = keyof typeof HOST_TOOLS;

/** The static libc a tool needs besides its binary (gcc -static links it). */
const STATIC_LIBC: Partial<Record<HostTool, string>> = {
  gcc: "/usr/lib/x86_64-linux-gnu/libc.a",
  gccArm64: "/usr/aarch64-linux-gnu/lib/libc.a",
};

/** The architectures a guest can have, and what each needs from the host. */
export type GuestArch = "x86_64" | "arm64";
export const GUEST_TOOLS: Record<GuestArch, { qemu: HostTool; gcc: HostTool }> = {
  x86_64: { qemu: "qemu", gcc: "gcc" },
  arm64: { qemu: "qemuArm64", gcc: "gccArm64" },
};

/**
 * The Debian kernel flavours `--kernel debian-X.Y[:FLAVOUR]` names: the image package's suffix,
 * the guest's architecture and base page size.
 */
export const KERNEL_FLAVOURS = {
  amd64: { arch: "x86_64", debArch: "amd64", pageSize: 4096 },
  arm64: { arch: "arm64", debArch: "arm64", pageSize: 4096 },
  "arm64-16k": { arch: "arm64", debArch: "arm64", pageSize: 16384 },
} as const;
export type KernelFlavour = keyof typeof KERNEL_FLAVOURS;

/** `debian-7.2`, `debian-7.2:arm64`, `debian-7.2:arm64-16k`: series and flavour, else null. */
export function parseDebianKernelSpec(
  spec: string,
): { series: string; flavour: KernelFlavour } | null {
  const m = /^debian-(\d+\.\d+)(?::([a-z0-9-]+))?$/.exec(spec);
  if (!m) return null;
  const flavour = m[2] ?? "amd64";
  if (!Object.hasOwn(KERNEL_FLAVOURS, flavour))
    throw new VmSetupError(
      `--kernel ${spec}: no flavour ${JSON.stringify(flavour)} (known: ${Object.keys(KERNEL_FLAVOURS).join(", ")})`,
    );
  return { series: m[1], flavour: flavour as KernelFlavour };
}

export function which(bin: string): string | null {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const p = path.join(dir, bin);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  return null;
}

function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}

let aptUpdated = false;

async function aptGet(args: string[], log: (s: string) => void): Promise<void> {
  if (!aptUpdated) {
    log("apt-get update\n");
    await runChild("apt-get", ["update", "-q"]);
    aptUpdated = true;
  }
  log(`apt-get ${args.join(" ")}\n`);
  const r = await runChild("apt-get", args, {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (r.status !== 0) {
    const stderr = (r.error?.message ?? r.stderr).trim();
    throw new VmSetupError(`apt-get ${args.join(" ")} failed: ${stderr}`, aptUnreachable(stderr));
  }
}

/**
 * Finds the host tools; with install, installs what is missing with apt-get (root only).
 * Without it, a missing tool is a VmSetupError naming the apt command.
 */
export async function ensureHostTools(
  tools: HostTool[],
  opts: { install?: boolean; log?: (s: string) => void } = {},
): Promise<Record<HostTool, string>> {
  const log = opts.log ?? (() => {});
  const found: Partial<Record<HostTool, string>> = {};
  const missing: HostTool[] = [];
  for (const t of tools) {
    const p = which(HOST_TOOLS[t].bin);
    const libc = STATIC_LIBC[t];
    if (p && (!libc || fs.existsSync(libc))) found[t] = p;
    else missing.push(t);
  }
  if (missing.length > 0) {
    const pkgs = missing.flatMap((t) => HOST_TOOLS[t].pkg.split(" "));
    const cmd = `apt-get install -y --no-install-recommends ${pkgs.join(" ")}`;
    if (!opts.install) {
      throw new VmSetupError(
        `missing ${missing.map((t) => HOST_TOOLS[t].bin).join(", ")}: install with \`${cmd}\` (or pass --install)`,
        true,
      );
    }
    if (!isRoot()) throw new VmSetupError(`missing tools and not root: run \`sudo ${cmd}\``, true);
    if (!which("apt-get"))
      throw new VmSetupError(`missing tools and no apt-get to install them: ${cmd}`, true);
    await aptGet(["install", "-y", "-q", "--no-install-recommends", ...pkgs], log);
    for (const t of missing) {
      const p = which(HOST_TOOLS[t].bin);
      if (!p) throw new VmSetupError(`${HOST_TOOLS[t].bin} still missing after \`${cmd}\``);
      found[t] = p;
    }
  }
  return found as Record<HostTool, string>;
}

// ---------------------------------------------------------------------------------------------
// The archive the machine's own apt sources name

export interface AptSource {
  uri: string;
  signedBy: string | null;
}

/** The codename of this machine's Debian release (os-release). */
export function hostCodename(osRelease = "/etc/os-release"): string | null {
  try {
    const m = /^VERSION_CODENAME=("?)([^"\n]+)\1$/m.exec(fs.readFileSync(osRelease, "utf8"));
    return m ? m[2] : null;
  } catch {
    return null;
  }
}

/**
 * Finds the Debian archive among apt source texts: the entry that carries the release's own
 * suite (not -security, not a third-party repository). Handles deb822 `.sources` stanzas and
 * one-line `deb [opts] URI suite comps` lists.
 */
export function findDebianSource(
  files: { name: string; text: string }[],
  codename: string,
): AptSource | null {
  for (const f of files) {
    if (f.name.endsWith(".sources")) {
      for (const stanza of f.text.split(/\n\s*\n/)) {
        const field = (k: string): string | null => {
          const m = new RegExp(`^${k}:[ \\t]*(.*)$`, "mi").exec(stanza);
          return m ? m[1].trim() : null;
        };
        if (field("Enabled")?.toLowerCase() === "no") continue;
        if (!(field("Types") ?? "").split(/\s+/).includes("deb")) continue;
        const suites = (field("Suites") ?? "").split(/\s+/);
        if (!suites.includes(codename)) continue;
        const uri = (field("URIs") ?? "").split(/\s+/)[0];
        if (uri) return { uri, signedBy: field("Signed-By") };
      }
    } else if (f.name.endsWith(".list")) {
      for (const raw of f.text.split("\n")) {
        const line = raw.replace(/#.*/, "").trim();
        const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (!m || m[3] !== codename) continue;
        const signed = /signed-by=(\S+)/.exec(m[1] ?? "");
        return { uri: m[2], signedBy: signed ? signed[1] : null };
      }
    }
  }
  return null;
}

export function hostDebianSource(): AptSource {
  const codename = hostCodename();
  if (!codename)
    throw new VmSetupError("cannot tell this machine's Debian release (/etc/os-release)", true);
  const files: { name: string; text: string }[] = [];
  const add = (p: string) => {
    try {
      files.push({ name: p, text: fs.readFileSync(p, "utf8") });
    } catch {
      // unreadable or absent
    }
  };
  add("/etc/apt/sources.list");
  const dir = "/etc/apt/sources.list.d";
  if (fs.existsSync(dir)) for (const n of fs.readdirSync(dir).sort()) add(path.join(dir, n));
  const src = findDebianSource(files, codename);
  if (!src) {
    throw new VmSetupError(
      `no apt source in /etc/apt names the Debian suite ${codename}: cannot tell where the archive is`,
      true,
    );
  }
  return src;
}

// ---------------------------------------------------------------------------------------------
// The kernel

export interface KernelPieces {
  /** Short name, e.g. "debian-7.2", "debian-7.2:arm64-16k". */
  name: string;
  /** x86_64: the ELF vmlinux QEMU boots through PVH (or the user's image); arm64: the Image. */
  image: string;
  /** The guest's architecture (absent in caches written before arm64: x86_64). */
  arch: GuestArch;
  /** Its base page size, bytes. */
  pageSize: number;
  /** Debian binary package and version, when the kernel came from Debian. */
  package: string | null;
  packageVersion: string | null;
  /** `uname -r` of the kernel, e.g. 7.2.13+deb14-amd64. */
  release: string | null;
  config: string | null;
}

/** A simple cross-process lock (mkdir is atomic), so parallel tests fetch the kernel once. */
export async function withDirLock<T>(lockDir: string, fn: () => Promise<T> | T): Promise<T> {
  fs.mkdirSync(path.dirname(lockDir), { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      try {
        // A lock older than 15 minutes belongs to a process that died.
        if (Date.now() - fs.statSync(lockDir).mtimeMs > 15 * 60_000) fs.rmdirSync(lockDir);
      } catch {
        // raced with its owner
      }
      if (Date.now() > deadline) throw new VmSetupError(`timed out waiting for ${lockDir}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmdirSync(lockDir);
  }
}

/** The compressed payload of an x86 bzImage, from its setup header. */
export function bzImagePayload(bzImage: Uint8Array): Uint8Array {
  const dv = new DataView(bzImage.buffer, bzImage.byteOffset, bzImage.byteLength);
  if (dv.getUint32(0x202, true) !== 0x53726448) throw new VmSetupError("not a bzImage (no HdrS)");
  const setupSects = bzImage[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + dv.getUint32(0x248, true);
  const len = dv.getUint32(0x24c, true);
  return bzImage.subarray(start, start + len);
}

/** Turns a bzImage into the ELF vmlinux inside it (zstd payloads; gzip too). */
export async function extractVmlinux(
  bzImage: Uint8Array,
  outPath: string,
  zstdBin: string = "zstd",
): Promise<void> {
  const payload = bzImagePayload(bzImage);
  const tmp = `${outPath}.tmp${process.pid}`;
  if (payload[0] === 0x28 && payload[1] === 0xb5 && payload[2] === 0x2f && payload[3] === 0xfd) {
    // The kernel build appends the uncompressed size (4 bytes) after the zstd frame.
    const frame = payload.subarray(0, payload.length - 4);
    const r = await runChild(zstdBin, ["-d", "-q", "-c", "--long=31"], { input: frame });
    if (r.status !== 0) throw new VmSetupError(`zstd -d failed: ${r.error?.message ?? r.stderr}`);
    fs.writeFileSync(tmp, r.stdout);
  } else if (payload[0] === 0x1f && payload[1] === 0x8b) {
    const r = await runChild("gzip", ["-d", "-c"], { input: payload });
    if (r.status !== 0) throw new VmSetupError(`gzip -d failed: ${r.error?.message ?? r.stderr}`);
    fs.writeFileSync(tmp, r.stdout);
  } else {
    throw new VmSetupError("bzImage payload is neither zstd nor gzip");
  }
  const elf = fs.readFileSync(tmp).subarray(0, 4);
  if (elf[0] !== 0x7f || elf[1] !== 0x45) throw new VmSetupError("payload is not an ELF vmlinux");
  fs.renameSync(tmp, outPath);
}

function aptOpts(aptDir: string, debArch: "amd64" | "arm64" = "amd64"): string[] {
  // The amd64 directory keeps the host's own architecture (its lists predate arm64 support).
  const arch =
    debArch === "amd64"
      ? []
      : ["-o", `APT::Architecture=${debArch}`, "-o", `APT::Architectures::=${debArch}`];
  return [
    ...arch,
    "-o",
    `Dir::Etc::sourcelist=${path.join(aptDir, "sources.list")}`,
    "-o",
    "Dir::Etc::sourceparts=-",
    "-o",
    `Dir::State::Lists=${path.join(aptDir, "lists")}`,
    "-o",
    `Dir::Cache=${path.join(aptDir, "cache")}`,
    "-o",
    "APT::Get::List-Cleanup=0",
    "-o",
    "APT::Sandbox::User=root",
  ];
}

/**
 * Picks the unsigned image package of a series and flavour (amd64, arm64, arm64-16k) among the
 * archive's package names.
 */
export function pickKernelPackage(
  names: string[],
  series: string,
  flavour: KernelFlavour = "amd64",
): string | null {
  const esc = series.replace(/\./g, "\\.");
  const fl = flavour.replace(/-/g, "\\-");
  const patterns = [
    // Debian since 6.x splits the image out of linux-image-* into linux-binary-unsigned-*.
    new RegExp(`^linux-binary-unsigned-(${esc}(?:\\.\\d+)?)(\\+[^-]+)?-${fl}$`),
    new RegExp(`^linux-image-(${esc}(?:\\.\\d+)?)(\\+[^-]+)?-${fl}-unsigned$`),
    new RegExp(`^linux-image-(${esc}(?:\\.\\d+)?(?:-\\d+)?)(\\+[^-]+)?-${fl}-unsigned$`),
  ];
  for (const re of patterns) {
    const hits = names.filter((n) => re.test(n));
    if (hits.length > 0) {
      const sublevel = (n: string) =>
        Number(/\.(\d+)(?:[+-]|$)/.exec(n.slice(n.indexOf(series) + series.length))?.[1] ?? 0);
      hits.sort((a, b) => sublevel(b) - sublevel(a) || b.localeCompare(a));
      return hits[0];
    }
  }
  return null;
}

/**
 * The private apt configuration of the cache (never the system's): sid and experimental from
 * the archive this machine's own sources name, for one Debian architecture, its own lists and
 * cache; `apt-get update` once per process and architecture. Returns apt's options.
 */
const aptUpdatedDirs = new Set<string>();
async function privateApt(
  debArch: "amd64" | "arm64",
  log: (s: string) => void,
): Promise<{ o: string[]; archives: string }> {
  const cache = vmCacheDir();
  const src = hostDebianSource();
  const aptDir = path.join(cache, debArch === "amd64" ? "apt" : `apt-${debArch}`);
  for (const d of ["lists/partial", "cache/archives/partial", "archives"]) {
    fs.mkdirSync(path.join(aptDir, d), { recursive: true });
  }
  const signed = src.signedBy ? `[signed-by=${src.signedBy}] ` : "";
  fs.writeFileSync(
    path.join(aptDir, "sources.list"),
    ["sid", "experimental"].map((s) => `deb ${signed}${src.uri} ${s} main\n`).join(""),
  );
  const o = aptOpts(aptDir, debArch);
  if (!aptUpdatedDirs.has(aptDir)) {
    log(`apt-get update (sid, experimental, ${debArch} from ${src.uri}) into ${aptDir}\n`);
    const up = await runChild("apt-get", [...o, "update", "-q"]);
    if (up.status !== 0) {
      const why = up.error?.message ?? up.stderr;
      throw new VmSetupError(`apt-get update failed: ${why}`, aptUnreachable(why));
    }
    aptUpdatedDirs.add(aptDir);
  }
  return { o, archives: path.join(aptDir, "archives") };
}

/**
 * `apt-get download PKG` through the private configuration (apt checks the .deb against the
 * SHA256 of the signed index: a mismatch is an error) and `dpkg-deb -x` into `unpack`.
 * Returns the package's version.
 */
async function downloadAndUnpack(
  apt: { o: string[]; archives: string },
  pkg: string,
  unpack: string,
  log: (s: string) => void,
  required = true,
): Promise<string | null> {
  const show = await runChild("apt-cache", [...apt.o, "show", pkg]);
  const version = /^Version: (.+)$/m.exec(show.stdout.toString("utf8"))?.[1] ?? null;
  log(`apt-get download ${pkg} (${version})\n`);
  const dl = await runChild("apt-get", [...apt.o, "download", "-q", pkg], { cwd: apt.archives });
  if (dl.status !== 0) {
    if (!required) return null;
    const why = dl.error?.message ?? dl.stderr;
    throw new VmSetupError(`apt-get download ${pkg} failed: ${why}`, aptUnreachable(why));
  }
  // The file name carries the version with its epoch's colon escaped (1%3a1.38.0-3).
  const base = pkg.replace(/:.*$/, "");
  const deb = fs
    .readdirSync(apt.archives)
    .filter((f) => f.startsWith(`${base}_`) && f.endsWith(".deb"))
    .sort()
    .pop();
  if (!deb) throw new VmSetupError(`apt-get download left no ${base}_*.deb`);
  fs.mkdirSync(unpack, { recursive: true });
  const x = await runChild("dpkg-deb", ["-x", path.join(apt.archives, deb), unpack]);
  if (x.status !== 0)
    throw new VmSetupError(`dpkg-deb -x ${deb} failed: ${x.error?.message ?? x.stderr}`);
  return version;
}

/**
 * Whether the bytes are an arm64 Image (booting.rst: magic "ARM\x64" at 0x38) and its page size
 * (flags at 0x18, bits 1-2: 1 = 4K, 2 = 16K, 3 = 64K), else null.
 */
export function arm64ImagePageSize(image: Uint8Array): number | null {
  if (image.length < 64) return null;
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (dv.getUint32(0x38, true) !== 0x644d5241) return null;
  const code = Number((dv.getBigUint64(0x18, true) >> 1n) & 3n);
  return [null, 4096, 16384, 65536][code] ?? null;
}

/**
 * Gets Debian's kernel of a series (e.g. "7.2") and flavour (amd64, arm64, arm64-16k) into the
 * cache: the private apt configuration (privateApt), `apt-get download`, `dpkg-deb -x`.
 * The system's apt config is not touched.
 */
export async function fetchDebianKernel(
  series: string,
  opts: { install?: boolean; log?: (s: string) => void; flavour?: KernelFlavour } = {},
): Promise<KernelPieces> {
  const log = opts.log ?? (() => {});
  const flavour = opts.flavour ?? "amd64";
  const fl = KERNEL_FLAVOURS[flavour];
  const cache = vmCacheDir();
  const name = flavour === "amd64" ? `debian-${series}` : `debian-${series}:${flavour}`;
  const kdir = path.join(cache, "kernels", name.replace(":", "-"));
  const metaPath = path.join(kdir, "meta.json");
  const imageFile = fl.arch === "x86_64" ? "vmlinux" : "Image";
  // Paths are re-derived from the cache folder: the project may have moved since.
  const readMeta = (): KernelPieces => {
    const meta = JSON.parse(fs.readFileSync(metaPath, "utf8")) as Partial<KernelPieces> & {
      imageSha256?: string;
    };
    const config = path.join(kdir, "config");
    const image = path.join(kdir, imageFile);
    // The cached image is the one unpacked from the verified package, or the cache is broken.
    if (meta.imageSha256 !== undefined) {
      const sum = fs.existsSync(image) ? fileSha256(image) : "(missing)";
      if (sum !== meta.imageSha256)
        throw new VmSetupError(
          `${image}: sha256 ${sum}, but ${metaPath} recorded ${meta.imageSha256}: the cache is corrupt (remove ${kdir} to fetch it again)`,
        );
    }
    return {
      name,
      package: meta.package ?? null,
      packageVersion: meta.packageVersion ?? null,
      release: meta.release ?? null,
      arch: meta.arch ?? fl.arch,
      pageSize: meta.pageSize ?? fl.pageSize,
      image,
      config: fs.existsSync(config) ? config : null,
    };
  };
  if (fs.existsSync(metaPath)) return readMeta();
  if (!opts.install) {
    throw new VmSetupError(
      `kernel ${name} is not in ${kdir}: fetch it with \`hvo vm --fetch-kernel --kernel ${name}\` (or pass --install)`,
      true,
    );
  }
  const tools = fl.arch === "x86_64" ? await ensureHostTools(["zstd"], opts) : null;
  // One lock per apt directory: the arm64 and arm64-16k kernels share apt-arm64's lists.
  const lock = fl.debArch === "amd64" ? `kernel-${name}` : `apt-${fl.debArch}`;
  return withDirLock(path.join(cache, "locks", lock), async () => {
    if (fs.existsSync(metaPath)) return readMeta();
    const apt = await privateApt(fl.debArch, log);
    // The arm64 guest's busybox comes from the same apt configuration: fetched under this lock
    // too, so that building the initramfs later finds it in the cache.
    if (fl.arch === "arm64") await fetchArm64Busybox({ ...opts, install: true });
    const listed = await runChild("apt-cache", [...apt.o, "pkgnames", "linux-"]);
    if (listed.status !== 0)
      throw new VmSetupError(
        `apt-cache pkgnames failed: ${listed.error?.message ?? listed.stderr}`,
      );
    const names = listed.stdout.toString("utf8").split("\n");
    const pkg = pickKernelPackage(names, series, flavour);
    if (!pkg)
      throw new VmSetupError(
        `no unsigned ${flavour} kernel image of Linux ${series} in sid or experimental`,
        true,
      );
    const unpack = path.join(cache, "deb", pkg);
    fs.rmSync(unpack, { recursive: true, force: true });
    const version = await downloadAndUnpack(apt, pkg, unpack, log);
    // The config is in the base package of the split layout; best effort.
    const basePkg = pkg.replace("linux-binary-unsigned-", "linux-base-");
    let config: string | null = null;
    if (basePkg !== pkg) await downloadAndUnpack(apt, basePkg, unpack, log, false);
    const modDir = path.join(unpack, "usr", "lib", "modules");
    const bootDir = path.join(unpack, "boot");
    let vmlinuz: string | null = null;
    let release: string | null = null;
    if (fs.existsSync(modDir)) {
      for (const rel of fs.readdirSync(modDir)) {
        for (const f of ["vmlinuz.unsigned", "vmlinuz"]) {
          const p = path.join(modDir, rel, f);
          if (!vmlinuz && fs.existsSync(p)) {
            vmlinuz = p;
            release = rel;
          }
        }
        const c = path.join(modDir, rel, "config");
        if (fs.existsSync(c)) config = c;
      }
    }
    if (!vmlinuz && fs.existsSync(bootDir)) {
      const f = fs.readdirSync(bootDir).find((n) => n.startsWith("vmlinuz-"));
      if (f) {
        vmlinuz = path.join(bootDir, f);
        release = f.slice("vmlinuz-".length);
      }
    }
    if (!vmlinuz) throw new VmSetupError(`${pkg} holds no vmlinuz`);
    fs.mkdirSync(kdir, { recursive: true });
    const image = path.join(kdir, imageFile);
    if (fl.arch === "x86_64") {
      await extractVmlinux(fs.readFileSync(vmlinuz), image, tools?.zstd);
    } else {
      const bytes = fs.readFileSync(vmlinuz);
      const page = arm64ImagePageSize(bytes);
      if (page === null)
        throw new VmSetupError(
          `${vmlinuz} is not an uncompressed arm64 Image (no ARM\\x64 magic): cannot boot it`,
        );
      if (page !== fl.pageSize)
        throw new VmSetupError(`${vmlinuz}: an Image for ${page}-byte pages, not ${fl.pageSize}`);
      fs.copyFileSync(vmlinuz, image);
    }
    if (config) fs.copyFileSync(config, path.join(kdir, "config"));
    const pieces: KernelPieces & { imageSha256: string } = {
      name,
      image,
      arch: fl.arch,
      pageSize: fl.pageSize,
      package: pkg,
      packageVersion: version,
      release,
      config: config ? path.join(kdir, "config") : null,
      imageSha256: fileSha256(image),
    };
    fs.writeFileSync(metaPath, `${JSON.stringify(pieces, null, 2)}\n`);
    log(`kernel ${release} -> ${image}\n`);
    return pieces;
  });
}

/**
 * Debian's static busybox for arm64 (busybox-static:arm64 from sid through the private apt
 * configuration), unpacked into the cache; its path.
 */
export async function fetchArm64Busybox(
  opts: { install?: boolean; log?: (s: string) => void } = {},
): Promise<string> {
  const dir = path.join(vmCacheDir(), "busybox-arm64");
  const bin = path.join(dir, "usr", "bin", "busybox");
  if (fs.existsSync(bin)) return bin;
  if (!opts.install)
    throw new VmSetupError(
      `no arm64 busybox in ${dir}: fetch it with \`hvo vm --fetch-kernel --kernel debian-7.2:arm64\` (or pass --install)`,
      true,
    );
  const apt = await privateApt("arm64", opts.log ?? (() => {}));
  const tmp = `${dir}.tmp${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await downloadAndUnpack(apt, "busybox-static", tmp, opts.log ?? (() => {}));
  const got = path.join(tmp, "usr", "bin", "busybox");
  const elf = fs.existsSync(got) ? fs.readFileSync(got).subarray(0, 20) : null;
  // e_machine 183 = EM_AARCH64.
  if (elf?.[0] !== 0x7f || elf[1] !== 0x45 || elf[18] !== 183)
    throw new VmSetupError("busybox-static:arm64 holds no aarch64 /usr/bin/busybox");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return bin;
}

/**
 * Whether an ELF vmlinux carries the PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, type 18, owner
 * "Xen": arch/x86/platform/pvh/head.S), without which QEMU cannot boot it directly.
 */
export function hasPvhNote(elf: Uint8Array): boolean {
  const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.length < 64 || dv.getUint32(0, false) !== 0x7f454c46 || elf[4] !== 2) return false;
  const phoff = Number(dv.getBigUint64(32, true));
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (dv.getUint32(ph, true) !== 4) continue; // PT_NOTE
    const off = Number(dv.getBigUint64(ph + 8, true));
    const size = Number(dv.getBigUint64(ph + 32, true));
    let p = off;
    while (p + 12 <= off + size) {
      const namesz = dv.getUint32(p, true);
      const descsz = dv.getUint32(p + 4, true);
      const type = dv.getUint32(p + 8, true);
      const name = new TextDecoder()
        .decode(elf.subarray(p + 12, p + 12 + namesz))
        .replace(/\0+$/, "");
      if (type === 18 && name === "Xen") return true;
      p += 12 + (((namesz + 3) >>> 2) << 2) + (((descsz + 3) >>> 2) << 2);
    }
  }
  return false;
}

/**
 * Resolves `--kernel`: `debian-X.Y` is fetched into the cache; anything else is a path to a
 * bzImage or to an ELF vmlinux. A bzImage is turned into its vmlinux when that has a PVH note
 * (fast: no decompressor, no KASLR); otherwise it is booted as it is (QEMU's bzImage loader,
 * whose decompressor TCG runs fine).
 */
export async function resolveKernel(
  spec: string,
  opts: { install?: boolean; log?: (s: string) => void } = {},
): Promise<KernelPieces> {
  const deb = parseDebianKernelSpec(spec);
  if (deb) return fetchDebianKernel(deb.series, { ...opts, flavour: deb.flavour });
  if (!fs.existsSync(spec)) {
    throw new VmSetupError(
      `--kernel ${spec}: neither debian-X.Y[:amd64|arm64|arm64-16k] nor an existing file`,
    );
  }
  const user = (image: string, arch: GuestArch = "x86_64", pageSize = 4096): KernelPieces => ({
    name: path.basename(spec),
    image,
    arch,
    pageSize,
    package: null,
    packageVersion: null,
    release: null,
    config: null,
  });
  const bytes = fs.readFileSync(spec);
  // An arm64 Image (uncompressed): booted as it is on the virt machine.
  const armPage = arm64ImagePageSize(bytes);
  if (armPage !== null) return user(path.resolve(spec), "arm64", armPage);
  if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    if (!hasPvhNote(bytes)) {
      throw new VmSetupError(
        `${spec} is an ELF vmlinux without a PVH note (CONFIG_PVH=y): pass its bzImage instead`,
      );
    }
    return user(path.resolve(spec));
  }
  bzImagePayload(bytes); // a clear error when it is not a bzImage
  const st = fs.statSync(spec);
  const out = path.join(
    vmCacheDir(),
    "kernels",
    "user",
    `${path.basename(spec)}-${st.size}-${Math.trunc(st.mtimeMs)}.vmlinux`,
  );
  if (!fs.existsSync(out)) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const tools = await ensureHostTools(["zstd"], opts);
    try {
      await extractVmlinux(bytes, out, tools.zstd);
    } catch (e) {
      opts.log?.(`cannot extract vmlinux (${(e as Error).message}): booting the bzImage\n`);
      return user(path.resolve(spec));
    }
  }
  return hasPvhNote(fs.readFileSync(out)) ? user(out) : user(path.resolve(spec));
}
