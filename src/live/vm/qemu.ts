// One guest: QEMU (TCG, one thread: the paravirtual /dev/kvm of these machines cannot run an
// unmodified guest, and multi-threaded TCG oopses during boot) booting an ELF vmlinux through
// PVH with the project's initramfs. The guest's /init runs hvoexec (native/PROTOCOL.md) on a
// virtio console, /dev/hvc0, which QEMU connects to a Unix socket: the host then speaks
// hvoexec/1 to the guest line by line, exactly as src/live/ does to the host kernel. The
// kernel's own console (ttyS0) goes to a log file, so printk can never mix into the answers.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { encodeRequest, type HvoexecChannel, HvoexecError, type HvoexecReply } from "../hvoexec.ts";
import { type GuestArch, VmSetupError, which } from "./pieces.ts";

/** The shape of the machine: what a scenario (or the command line) may ask for. */
export interface VmShape {
  /** RAM, QEMU syntax: "6G", "4096M". */
  memory: string;
  /** NUMA nodes; memory is split evenly, one vCPU each. */
  nodes: number;
  /** Extra kernel command line (hugepagesz=, hugepages=, hugetlb_free_vmemmap=, ...). */
  cmdline: string;
}

export const DEFAULT_SHAPE: VmShape = { memory: "6G", nodes: 1, cmdline: "" };

/** What every boot gets on its command line, before the shape's own parameters. */
export const BASE_CMDLINE = "console=ttyS0 quiet panic=-1 rdinit=/init";
/**
 * The same on arm64's virt machine: its PL011 UART is ttyAMA0; nokaslr because QEMU hands the
 * guest a kaslr-seed in the device tree, and a randomised linear map or kernel image would
 * move every address the raw struct pages hold.
 */
export const BASE_CMDLINE_ARM64 = "console=ttyAMA0 quiet panic=-1 rdinit=/init nokaslr";

export function baseCmdline(arch: GuestArch = "x86_64"): string {
  return arch === "arm64" ? BASE_CMDLINE_ARM64 : BASE_CMDLINE;
}

/**
 * The arm64 CPU: QEMU's `max` (it has the 4K and 16K granules, TGran4 and TGran16) without
 * FEAT_LPA2, so the kernel (built for 52-bit VAs) runs with 48-bit VAs as the arm64 presets
 * assume; pauth-impdef: QEMU's cheap pointer-authentication hash instead of QARMA, which TCG
 * spends most of its time on otherwise.
 */
export const ARM64_CPU = "max,lpa2=off,pauth-impdef=on";

/** Parses "6G", "6144M", "6g", "512m" to MiB. */
export function parseMemoryMiB(text: string): number {
  const m = /^(\d+)\s*([MmGg])?i?[Bb]?$/.exec(text.trim());
  if (!m) throw new VmSetupError(`memory size ${JSON.stringify(text)}: expected like 6G or 4096M`);
  const n = Number(m[1]);
  return (m[2] ?? "M").toUpperCase() === "G" ? n * 1024 : n;
}

export function shapeKey(shape: VmShape): string {
  return `${parseMemoryMiB(shape.memory)}M/${shape.nodes}n/${shape.cmdline.trim()}`;
}

/** The QEMU command line for a shape (pure, so tests can check it without QEMU). */
export function qemuArgs(opts: {
  kernel: string;
  initrd: string;
  shape: VmShape;
  socket: string;
  consoleLog: string;
  /** The guest's architecture (default x86_64: the `pc` machine). */
  arch?: GuestArch;
}): string[] {
  const { shape } = opts;
  const arch = opts.arch ?? "x86_64";
  const mib = parseMemoryMiB(shape.memory);
  if (!Number.isInteger(shape.nodes) || shape.nodes < 1 || shape.nodes > 8) {
    throw new VmSetupError(`--nodes ${shape.nodes}: 1 to 8`);
  }
  if (mib % shape.nodes !== 0) {
    throw new VmSetupError(
      `--memory ${shape.memory} does not split evenly over ${shape.nodes} nodes`,
    );
  }
  const machine =
    arch === "arm64"
      ? // virt: RAM from 1 GiB (hw/arm/virt.c VIRT_MEM), a PL011 UART, PCIe for virtio.
        ["-M", "virt", "-cpu", ARM64_CPU]
      : // pdpe1gb gives the guest its 1 GiB hstate; qemu64 keeps 4-level paging (vmemmap_base
        // as on the host's kind of machine) where -cpu max would turn on LA57.
        ["-cpu", "qemu64,+pdpe1gb"];
  const args = [
    "-accel",
    "tcg,thread=single",
    ...machine,
    "-m",
    `${mib}M`,
    "-smp",
    String(shape.nodes),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-serial",
    `file:${opts.consoleLog}`,
    "-kernel",
    opts.kernel,
    "-initrd",
    opts.initrd,
    "-append",
    [baseCmdline(arch), shape.cmdline.trim()].filter(Boolean).join(" "),
    "-chardev",
    `socket,id=hvo,path=${opts.socket},server=on,wait=on`,
    "-device",
    "virtio-serial-pci,id=vser",
    "-device",
    "virtconsole,chardev=hvo,bus=vser.0",
  ];
  if (shape.nodes > 1) {
    const per = mib / shape.nodes;
    for (let n = 0; n < shape.nodes; n++) {
      args.push("-object", `memory-backend-ram,id=mem${n},size=${per}M`);
      args.push("-numa", `node,nodeid=${n},cpus=${n},memdev=mem${n}`);
    }
  }
  return args;
}

export interface BootOptions {
  qemu: string;
  kernel: string;
  initrd: string;
  shape: VmShape;
  arch?: GuestArch;
  /** Whole-run limit for the boot (to the guest's ready line). */
  bootTimeoutMs?: number;
  log?: (s: string) => void;
}

const liveChildren = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of liveChildren) c.kill("SIGKILL");
});

/** A booted guest with hvoexec answering on its virtio console. */
export class VmGuest {
  private buf = "";
  private waiters: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  private lines: string[] = [];
  private exited: Error | null = null;
  /** Milliseconds from spawning QEMU to the guest's ready line. */
  bootMs = 0;

  private constructor(
    private readonly child: ChildProcess,
    private readonly sock: net.Socket,
    private readonly dir: string,
    readonly consoleLogPath: string,
  ) {
    sock.setEncoding("latin1");
    sock.on("data", (chunk: string) => {
      this.buf += chunk;
      for (;;) {
        const nl = this.buf.indexOf("\n");
        if (nl < 0) break;
        const line = this.buf.slice(0, nl).replace(/\r$/, "");
        this.buf = this.buf.slice(nl + 1);
        const w = this.waiters.shift();
        if (w) w.resolve(line);
        else this.lines.push(line);
      }
    });
    const fail = (e: Error) => {
      this.exited ??= e;
      for (const w of this.waiters.splice(0)) w.reject(this.exited);
    };
    sock.on("close", () => fail(new VmSetupError(`guest closed its console${this.consoleTail()}`)));
    sock.on("error", (e) => fail(e));
    child.on("exit", (code, sig) =>
      fail(new VmSetupError(`qemu exited (${sig ?? code})${this.consoleTail()}`)),
    );
  }

  static async boot(opts: BootOptions): Promise<VmGuest> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hvo-vm-"));
    const socket = path.join(dir, "hvo.sock");
    const consoleLog = path.join(dir, "console.log");
    const args = qemuArgs({
      kernel: opts.kernel,
      initrd: opts.initrd,
      shape: opts.shape,
      socket,
      consoleLog,
      arch: opts.arch,
    });
    opts.log?.(
      `${opts.qemu} ${args.map((a) => (/[\s,"]/.test(a) ? JSON.stringify(a) : a)).join(" ")}\n`,
    );
    const t0 = performance.now();
    // A guest must not outlive us: its hvoexec never sees our socket close as an end of input
    // (a tty does not hang up), so QEMU gets SIGKILL when this process dies (setpriv sets the
    // parent-death signal; util-linux, present on Debian), and on a normal exit, see below.
    const setpriv = which("setpriv");
    const child = setpriv
      ? spawn(setpriv, ["--pdeathsig", "KILL", "--", opts.qemu, ...args], {
          stdio: ["ignore", "ignore", "pipe"],
        })
      : spawn(opts.qemu, args, { stdio: ["ignore", "ignore", "pipe"] });
    liveChildren.add(child);
    child.once("exit", () => liveChildren.delete(child));
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += d.toString();
    });
    const spawnFailed = new Promise<never>((_, reject) => {
      child.on("error", (e) => reject(new VmSetupError(`cannot start ${opts.qemu}: ${e.message}`)));
      child.on("exit", (code) =>
        reject(
          new VmSetupError(`qemu exited with ${code} before the guest was ready: ${stderr.trim()}`),
        ),
      );
    });
    spawnFailed.catch(() => {});
    // QEMU listens (wait=on: the guest does not start until we are connected).
    const sock = await Promise.race([connectWithRetry(socket, 20_000), spawnFailed]).catch(
      (e: Error) => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
      },
    );
    const guest = new VmGuest(child, sock, dir, consoleLog);
    // TCG emulating an arm64 CPU on this x86 host is several times slower than x86 on x86.
    const timeout = opts.bootTimeoutMs ?? (opts.arch === "arm64" ? 400_000 : 120_000);
    const ready = await Promise.race([guest.readLine(timeout), spawnFailed]).catch((e: Error) => {
      guest.kill();
      throw new VmSetupError(`guest did not become ready: ${e.message}`);
    });
    if (ready !== "HVO-READY") {
      guest.kill();
      throw new VmSetupError(`guest said ${JSON.stringify(ready)} instead of HVO-READY`);
    }
    guest.bootMs = performance.now() - t0;
    return guest;
  }

  private consoleTail(): string {
    try {
      const text = fs.readFileSync(this.consoleLogPath, "latin1");
      return `; console:\n${text.split("\n").slice(-25).join("\n")}`;
    } catch {
      return "";
    }
  }

  /**
   * The first line of the guest kernel's console that says the kernel broke (an Oops, a BUG,
   * a panic, a general protection fault), or null. A run whose guest printed one is a broken
   * oracle, whatever hvoexec answered.
   */
  kernelTrouble(allow?: (line: string) => boolean): string | null {
    return consoleTrouble(this.consoleLog(), allow);
  }

  /** The kernel's console so far. */
  consoleLog(): string {
    try {
      return fs.readFileSync(this.consoleLogPath, "latin1");
    } catch {
      return "";
    }
  }

  readLine(timeoutMs = 600_000): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(
          new VmSetupError(`no answer from the guest within ${timeoutMs} ms${this.consoleTail()}`),
        );
      }, timeoutMs);
      const w = {
        resolve: (l: string) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(w);
    });
  }

  /** Sends one hvoexec request line and returns its JSON answer. */
  async request(line: string, timeoutMs = 600_000): Promise<Record<string, unknown>> {
    if (this.exited) throw this.exited;
    this.sock.write(`${line}\n`);
    const answer = await this.readLine(timeoutMs);
    try {
      return JSON.parse(answer) as Record<string, unknown>;
    } catch {
      throw new VmSetupError(`guest answered ${JSON.stringify(answer.slice(0, 200))} to ${line}`);
    }
  }

  /** Ends hvoexec; the guest's /init then powers off and QEMU exits. */
  async close(timeoutMs = 20_000): Promise<void> {
    if (!this.exited) {
      try {
        this.sock.write("quit\n");
        this.sock.end();
      } catch {
        // already gone
      }
    }
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once("exit", () => resolve());
    });
    const t = setTimeout(() => this.kill(), timeoutMs);
    await exited;
    clearTimeout(t);
    this.sock.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  get running(): boolean {
    return this.exited === null;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid) {
      this.child.kill("SIGKILL");
    }
    this.sock.destroy();
  }
}

/**
 * The first console line reporting that the kernel broke, or null (see kernelTrouble()).
 * `allow` passes lines a caller expects (a kernel's known report, asserted by the caller).
 */
export function consoleTrouble(
  console: string,
  allow: (line: string) => boolean = () => false,
): string | null {
  const re =
    /^.*(?:\bOops\b|\bBUG: |kernel BUG at|Kernel panic|general protection fault|Unable to handle kernel).*$/gm;
  for (const m of console.matchAll(re)) {
    const line = m[0].trim();
    if (!allow(line)) return line;
  }
  return null;
}

async function connectWithRetry(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(socketPath);
        s.once("connect", () => resolve(s));
        s.once("error", reject);
      });
    } catch (e) {
      if (Date.now() > deadline)
        throw new VmSetupError(`cannot connect to ${socketPath}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** The guest as an hvoexec channel (src/live/hvoexec.ts), for the live driver. */
export function guestChannel(guest: VmGuest): HvoexecChannel {
  let alive = true;
  return {
    get alive() {
      return alive && guest.running;
    },
    request(op, args) {
      if (!alive) return Promise.reject(new HvoexecError("the guest's hvoexec is closed"));
      return guest.request(encodeRequest(op, args)) as Promise<HvoexecReply>;
    },
    async close() {
      alive = false;
      await guest.close();
    },
    kill() {
      alive = false;
      guest.kill();
    },
  };
}
