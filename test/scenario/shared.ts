// Test helper: where the acceptance data lives. The shared scenarios and their live 6.18
// recordings are held by the project itself (scenarios/shared/, copied from ../shared/scenarios),
// so a clone with nothing beside it replays every recording. ../shared/scenarios stays an extra
// source: when it is there and its files differ from ours, we say so (the copy is stale, or the
// shared data moved on) and go on with ours.
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The project's copy of the shared scenarios and recordings. */
export const SHARED_DIR = path.join(ROOT, "scenarios/shared");
/** The team's shared folder beside the checkout, when there is one (never needed). */
export const EXTERNAL_SHARED_DIR = path.resolve(ROOT, "../shared/scenarios");
export const SUITE = path.join(ROOT, "scenarios/suite.json");
export const SUITE_RECORDING = path.join(ROOT, "scenarios/suite.recording.json");
export const VM72_RECORDING = path.join(ROOT, "scenarios/vm-7.2.recording.json");
/** The machine the live 6.18 recordings were made on (24 GiB, one node, 1 GiB pages). */
export const RECORDING_HOST = path.join(ROOT, "scenarios/machines/recording-host.yaml");

export const sharedScenariosPath = path.join(SHARED_DIR, "scenarios.json");
export const sharedRecordingsPath = path.join(SHARED_DIR, "recordings.json");

/** Always true: the data is in the repository. Kept for the tests that ask. */
export const haveShared = fs.existsSync(sharedScenariosPath) && fs.existsSync(sharedRecordingsPath);
if (!haveShared)
  throw new Error(
    `${SHARED_DIR} is missing its scenarios.json or recordings.json: a broken checkout`,
  );

/** Files of ../shared/scenarios that differ from the project's copy (empty when it is absent). */
export function externalSharedDifferences(): string[] {
  const out: string[] = [];
  for (const name of ["scenarios.json", "recordings.json"]) {
    const ext = path.join(EXTERNAL_SHARED_DIR, name);
    if (!fs.existsSync(ext)) continue;
    if (!fs.readFileSync(ext).equals(fs.readFileSync(path.join(SHARED_DIR, name)))) out.push(ext);
  }
  return out;
}
const differing = externalSharedDifferences();
if (differing.length)
  console.warn(
    `note: ${differing.join(", ")} differ from the project's copy in scenarios/shared/; ` +
      "the tests use the project's copy",
  );

export function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}
