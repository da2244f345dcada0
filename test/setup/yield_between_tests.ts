// Lets each test worker's event loop turn between tests. A worker reports to the runner over an
// RPC whose calls time out after 60 s (a constant of vitest's, not configurable), and the
// answer is read only when the worker's event loop polls; awaiting promises between tests does
// not poll. The model's tests are synchronous, so a file of several long tests on a loaded
// machine (a shared host, parallel CI) could go past 60 s without a poll: every test passed and
// the run still failed with `Timeout calling "onTaskUpdate"`. A macrotask after each test
// reads the answer in time; a single test would still have to stay under 60 s.
import { afterEach } from "vitest";

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
