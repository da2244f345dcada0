// The hvoexec protocol (native/PROTOCOL.md) on operations that need neither root nor HugeTLB,
// and the lock helper on a private lock file.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHvoexec } from "../../src/live/build.ts";
import { encodeRequest, type HvoexecChannel, spawnHvoexec } from "../../src/live/hvoexec.ts";
import { acquireLiveLock } from "../../src/live/lock.ts";

const haveGcc = !spawnSync("gcc", ["--version"]).error;
if (!haveGcc)
  console.warn("skipping hvoexec protocol tests: no gcc (apt-get install gcc libc6-dev)");

describe.skipIf(!haveGcc)("hvoexec protocol", () => {
  let ch: HvoexecChannel;
  let dir: string;
  beforeAll(() => {
    ch = spawnHvoexec(buildHvoexec());
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "hvoexec-test-"));
  });
  afterAll(async () => {
    await ch.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("says hello with the hstates of this machine", async () => {
    const r = await ch.request("hello");
    expect(r.ok).toBe(true);
    expect(r.proto).toBe("hvoexec/1");
    expect(r.page_size).toBe(4096);
    const expected = fs.existsSync("/sys/kernel/mm/hugepages")
      ? fs
          .readdirSync("/sys/kernel/mm/hugepages")
          .map((d) => Number(/^hugepages-(\d+)kB$/.exec(d)?.[1]))
          .sort((a, b) => a - b)
      : [];
    expect((r.hstates as { kB: number }[]).map((h) => h.kB)).toEqual(expected);
  });

  it("writes exactly the bytes it was sent, once", async () => {
    const f = path.join(dir, "w");
    fs.writeFileSync(f, "");
    const r = await ch.request("write", { path: f, value: " 5\n%\u00e9" });
    expect(r).toMatchObject({ ok: true, rc: 0, errno: 0, code: null, written: 6 });
    expect(fs.readFileSync(f)).toEqual(Buffer.from(" 5\n%\u00e9", "utf8"));
    expect(encodeRequest("write", { path: f, value: " 5\n" })).toBe(
      `write path=${encodeURIComponent(f)} value=%205%0A`,
    );
  });

  it("reports open errors with errno and stage", async () => {
    const r = await ch.request("write", { path: path.join(dir, "no/such"), value: "1" });
    expect(r).toMatchObject({ ok: true, rc: -1, errno: 2, code: "ENOENT", stage: "open" });
    const full = await ch.request("write", { path: "/dev/full", value: "1" });
    expect(full).toMatchObject({ rc: -1, errno: 28, code: "ENOSPC", stage: "write" });
  });

  it("escapes what it reads into valid JSON", async () => {
    const f = path.join(dir, "r");
    const bytes = Buffer.from([0x22, 0x5c, 0x0a, 0x09, 0x01, 0x7f, 0xc3, 0xa9, 0x41]);
    fs.writeFileSync(f, bytes);
    const r = await ch.request("read", { path: f });
    expect(r.text).toBe(bytes.toString("latin1"));
  });

  it("refuses bad requests without dying", async () => {
    expect(await ch.request("frobnicate")).toMatchObject({
      ok: false,
      error: "unknown op frobnicate",
    });
    expect((await ch.request("map", { id: "A", size: "3M", n: 1 })).ok).toBe(false);
    expect((await ch.request("touch", { id: "nope" })).ok).toBe(false);
    expect((await ch.request("sleep", { ms: 1 })).ok).toBe(true);
  });
});

describe("the live lock", () => {
  it("serialises holders and is released when asked", async () => {
    const lockPath = path.join(os.tmpdir(), `hvo-lock-test-${process.pid}`);
    const a = await acquireLiveLock({ path: lockPath });
    let bHeld = false;
    const b = acquireLiveLock({ path: lockPath }).then((l) => {
      bHeld = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(bHeld).toBe(false);
    await a.release();
    const lb = await b;
    expect(bHeld).toBe(true);
    await lb.release();
    fs.rmSync(lockPath, { force: true });
  });

  it("gives up with a clear message after its timeout", async () => {
    const lockPath = path.join(os.tmpdir(), `hvo-lock-test2-${process.pid}`);
    const a = await acquireLiveLock({ path: lockPath });
    await expect(acquireLiveLock({ path: lockPath, timeoutMs: 1000 })).rejects.toThrow(/timed out/);
    await a.release();
    fs.rmSync(lockPath, { force: true });
  });
});
