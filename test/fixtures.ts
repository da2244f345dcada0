// The live kernel's kpageflags words (test/fixtures/live-kpageflags.json, recorded on 6.18).
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
