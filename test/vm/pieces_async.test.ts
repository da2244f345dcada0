// Getting the VM and browser tiers' tools (apt-get, dpkg-deb, zstd, gcc) must not block the test
// worker: on a fresh host an install takes minutes, and a vitest worker whose event loop stays
// blocked for 60 s misses its runner's answers, so the run fails ("Timeout calling
// onTaskUpdate") with every test passed. A fake apt-get on a private PATH stands in for the real
// one; what is asserted is that timers fired while it ran (none can under a synchronous spawn)
// and that the tool it "installed" is found.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { ensureHostTools, extractVmlinux, runChild } from "../../src/live/vm/pieces.ts";
import { aptGet } from "../../web/chromium.mjs";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const savedPath = process.env.PATH;
const dirs: string[] = [];

afterEach(() => {
  process.env.PATH = savedPath;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A directory holding only a fake apt-get that takes a while and "installs" zstd into it. */
function fakeAptDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hvo-fake-apt-"));
  dirs.push(dir);
  writeFileSync(
    join(dir, "apt-get"),
    `#!/bin/sh
/bin/sleep 0.3
echo "$*" >> ${dir}/calls
if [ "$1" = install ]; then
  for p in "$@"; do
    if [ "$p" = zstd ]; then printf '#!/bin/sh\\n' > ${dir}/zstd; /bin/chmod +x ${dir}/zstd; fi
  done
fi
exit 0
`,
  );
  chmodSync(join(dir, "apt-get"), 0o755);
  return dir;
}

/** Runs fn while a 5 ms interval counts how often this event loop turned. */
async function ticksDuring<T>(fn: () => Promise<T>): Promise<{ value: T; ticks: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  try {
    const value = await fn();
    return { value, ticks };
  } finally {
    clearInterval(timer);
  }
}

describe("the tiers' installs leave the test worker's event loop running", () => {
  it.skipIf(!isRoot)("ensureHostTools: a missing tool installed by apt-get, awaited", async () => {
    const dir = fakeAptDir();
    process.env.PATH = dir;
    const { value, ticks } = await ticksDuring(() => ensureHostTools(["zstd"], { install: true }));
    expect(value.zstd).toBe(join(dir, "zstd"));
    expect(readFileSync(join(dir, "calls"), "utf8")).toContain(
      "install -y -q --no-install-recommends zstd",
    );
    expect(ticks).toBeGreaterThan(0);
  });

  it("the browser tier's apt-get (web/chromium.mjs), awaited", async () => {
    const dir = fakeAptDir();
    const env = { ...process.env, PATH: dir };
    const { value, ticks } = await ticksDuring(() => aptGet(["install", "-y", "zstd"], env));
    expect(value).toBeNull();
    expect(existsSync(join(dir, "zstd"))).toBe(true);
    expect(ticks).toBeGreaterThan(0);
  });

  it("a failing child is reported with its status and its last stderr line", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hvo-fake-apt-"));
    dirs.push(dir);
    writeFileSync(
      join(dir, "apt-get"),
      "#!/bin/sh\necho 'E: Unable to locate package nope' >&2\nexit 100\n",
    );
    chmodSync(join(dir, "apt-get"), 0o755);
    expect(await aptGet(["install", "nope"], { ...process.env, PATH: dir })).toBe(
      "apt-get install nope exited 100: E: Unable to locate package nope",
    );
    const r = await runChild(join(dir, "apt-get"), []);
    expect([r.status, r.stderr.trim()]).toEqual([100, "E: Unable to locate package nope"]);
  });

  it("extractVmlinux: a gzip payload fed to gzip -d through the child's stdin", async () => {
    // A bzImage as arch/x86/boot/header.S lays it out: setup_sects at 0x1f1, "HdrS" at 0x202,
    // payload_offset at 0x248 and payload_length at 0x24c, the payload after (setup_sects+1)*512.
    const elf = new Uint8Array(4096);
    elf.set([0x7f, 0x45, 0x4c, 0x46]);
    for (let i = 4; i < elf.length; i++) elf[i] = (i * 7) & 0xff;
    const payload = gzipSync(elf);
    const setupSects = 4;
    const start = (setupSects + 1) * 512;
    const bz = new Uint8Array(start + payload.length);
    const dv = new DataView(bz.buffer);
    bz[0x1f1] = setupSects;
    dv.setUint32(0x202, 0x53726448, true);
    dv.setUint32(0x248, 0, true);
    dv.setUint32(0x24c, payload.length, true);
    bz.set(payload, start);
    const dir = mkdtempSync(join(tmpdir(), "hvo-vmlinux-"));
    dirs.push(dir);
    const out = join(dir, "vmlinux");
    await extractVmlinux(bz, out);
    expect(new Uint8Array(readFileSync(out))).toEqual(elf);
  });
});
