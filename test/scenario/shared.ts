// Test helper: the shared scenarios and live recordings (../shared/scenarios from the project
// root), when this checkout has them; and the project's own suite and its live recording.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SHARED_DIR = path.resolve(ROOT, "../shared/scenarios");
export const SUITE = path.join(ROOT, "scenarios/suite.json");
export const SUITE_RECORDING = path.join(ROOT, "scenarios/suite.recording.json");

export const haveShared =
  fs.existsSync(path.join(SHARED_DIR, "recordings.json")) &&
  fs.existsSync(path.join(SHARED_DIR, "scenarios.json"));
if (!haveShared)
  console.warn(`skipping tests on the shared recordings: ${SHARED_DIR} is not there`);

export function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

export const sharedScenariosPath = path.join(SHARED_DIR, "scenarios.json");
export const sharedRecordingsPath = path.join(SHARED_DIR, "recordings.json");
