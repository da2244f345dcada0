// Keeps each test worker's answers from its runner read in time. A worker reports to the runner
// over an RPC whose calls time out after 60 s (a constant of vitest 3's, not configurable), and
// an answer is read only when the worker's event loop polls; Node runs expired timers before it
// polls. The model's tests are synchronous: a test body that runs past 60 s (a slow or loaded
// machine) right after the runner sent "test started" saw the answer arrive, unread, and then
// the timeout fire first, so a run with every test passed failed with `Timeout calling
// "onTaskUpdate"`. So before each test (and each file's first hook) this waits until every call
// in flight is answered, and after each test it lets the event loop turn once; then no call is
// in flight while a test body runs, however long it takes.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeAll, beforeEach } from "vitest";

/**
 * vitest's own "every call answered" (rpcDone(), what its worker awaits before it exits), from
 * the chunk its worker imports it from: the same module instance, so the same calls in flight.
 * Found through dist/worker.js's import line, so that a vitest whose chunk names change still
 * works; one whose worker no longer has it makes this setup fail loudly, never pass silently.
 */
async function vitestRpcDone(): Promise<() => Promise<unknown>> {
  const dist = dirname(createRequire(import.meta.url).resolve("vitest/package.json"));
  const worker = readFileSync(join(dist, "dist", "worker.js"), "utf8");
  const m = /import \{[^}]*\b(\w+) as rpcDone\b[^}]*\} from '(\.\/chunks\/rpc\.[^']+\.js)'/.exec(
    worker,
  );
  if (!m)
    throw new Error(
      "test/setup/yield_between_tests.ts: vitest's dist/worker.js no longer imports rpcDone from its rpc chunk; update this setup for the installed vitest",
    );
  const chunk = await import(pathToFileURL(join(dist, "dist", m[2])).href);
  const done = chunk[m[1]];
  if (typeof done !== "function")
    throw new Error(`test/setup/yield_between_tests.ts: ${m[2]} exports no ${m[1]} (rpcDone)`);
  return done;
}

const rpcDone = await vitestRpcDone();
const answered = () => rpcDone().catch(() => {});

beforeAll(answered);
beforeEach(answered);
afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
