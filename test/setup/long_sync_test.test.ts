// The case test/setup/yield_between_tests.ts exists for: a synchronous test body longer than the
// 60 s of vitest's worker RPC, right after the runner was sent "test started". Without that
// setup the run fails with `Timeout calling "onTaskUpdate"` though both tests pass; with it, it
// passes. It busies a core for 65 s, so it runs only when asked: HVO_LONG_SYNC_TEST=1 npx vitest
// run test/setup/long_sync_test.test.ts (and, to see the failure, with the setup's hooks removed).
import { expect, it } from "vitest";

const asked = process.env.HVO_LONG_SYNC_TEST === "1";
if (!asked)
  console.info(
    "test/setup/long_sync_test: skipped (65 s of CPU): set HVO_LONG_SYNC_TEST=1 to run it",
  );

function busy(ms: number): number {
  const t0 = Date.now();
  let n = 0;
  while (Date.now() - t0 < ms) n++;
  return n;
}

// Over 100 ms, so that the next test's start is sent at once rather than throttled.
it.skipIf(!asked)("a short synchronous test", () => {
  expect(busy(300)).toBeGreaterThan(0);
});

it.skipIf(!asked)(
  "a synchronous test past the worker RPC's 60 s",
  () => {
    expect(busy(65_000)).toBeGreaterThan(0);
  },
  120_000,
);
