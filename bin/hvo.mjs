#!/usr/bin/env node
// The hvo command: registers tsx so that the TypeScript sources run as they are, then hands
// over to the CLI shell in src/cli/main.ts.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
const { quietOnClosedPipe } = await import("../src/cli/io.ts");
quietOnClosedPipe();
process.exitCode = await main(process.argv.slice(2));
