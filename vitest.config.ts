import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Live-kernel tests serialise themselves on a lock file; files still run in parallel.
    pool: "forks",
    setupFiles: ["test/setup/yield_between_tests.ts"],
  },
});
