// Data the tests share. The live kernel's kpageflags words (test/fixtures/live-kpageflags.json, recorded on 6.18).
import { readFileSync } from "node:fs";

export interface LiveKpageflagsCase {
  size: string;
  hvo: number;
  head_word: number;
  tail_word: number;
  subpages_reporting_head: { count: number; every: number | null };
  kpagecount_rle: [number, number][];
  kpageflags_rle?: [number, number][];
}

export const liveKpageflags = JSON.parse(
  readFileSync(new URL("./fixtures/live-kpageflags.json", import.meta.url), "utf8"),
) as { cases: LiveKpageflagsCase[] };

/**
 * Map ids a scenario cannot use, for the model's and the live runner's tests alike: a touch and
 * release of an id never mapped, a touch of an id whose map failed (empty pool), a map of an id
 * in use, a release of one already released.
 */
export const MAP_IDS_SCENARIO = {
  format: "hvo-scenario/1",
  scenarios: [
    {
      id: "IDS",
      steps: [
        { op: "touch", id: "never" },
        { op: "release", id: "never" },
        { op: "map", id: "m", size: "2M", n: 1 },
        { op: "touch", id: "m" },
        { op: "nr", size: "2M", value: 2 },
        { op: "map", id: "m", size: "2M", n: 1 },
        { op: "map", id: "m", size: "2M", n: 1 },
        { op: "release", id: "m" },
        { op: "release", id: "m" },
      ],
    },
  ],
};
