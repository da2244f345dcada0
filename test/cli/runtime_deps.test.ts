// What hvo imports when it runs must be installed where only its dependencies are
// (`npm ci --omit=dev`, or hvo installed as a package): a package that src/ or bin/ imports by
// value, and not only its types, belongs in package.json's "dependencies". A devDependency
// imported at run time works in a development checkout and fails for a user with
// ERR_MODULE_NOT_FOUND (hvo check once imported fast-check, a devDependency).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (/\.(ts|mjs)$/.test(e.name) && !e.name.endsWith(".d.ts") && !e.name.endsWith(".d.mts"))
      out.push(p);
  }
  return out;
}

/** A bare specifier's package: "zod" of "zod/v4", "@scope/x" of "@scope/x/y". */
function packageOf(spec: string): string {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/** Packages a file imports by value: static imports and exports that are not type-only. */
function valueImports(text: string): string[] {
  const out: string[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?([^;"]*?)\s*from\s*"([^"]+)"/gms;
  for (const m of text.matchAll(re)) {
    const [, , typeOnly, , spec] = m;
    if (typeOnly || spec.startsWith(".") || spec.startsWith("node:")) continue;
    out.push(packageOf(spec));
  }
  for (const m of text.matchAll(/^\s*import\s+"([^".][^"]*)"/gm))
    if (!m[1].startsWith("node:")) out.push(packageOf(m[1]));
  return out;
}

describe("hvo's run-time imports are dependencies, not devDependencies", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };

  it("the scan sees the imports it is about", () => {
    // Without these the test below could pass by finding nothing.
    expect(valueImports('import { z } from "zod";\nimport type { X } from "vite";')).toEqual([
      "zod",
    ]);
    expect(valueImports('import fc from "fast-check/lib";')).toEqual(["fast-check"]);
    const seen = new Set(
      sources(join(ROOT, "src")).flatMap((f) => valueImports(readFileSync(f, "utf8"))),
    );
    expect(seen).toContain("commander");
  });

  it("every package src/ and bin/ import by value is in dependencies", () => {
    const missing: string[] = [];
    for (const f of [...sources(join(ROOT, "src")), ...sources(join(ROOT, "bin"))])
      for (const p of valueImports(readFileSync(f, "utf8")))
        if (!(p in pkg.dependencies)) missing.push(`${f.slice(ROOT.length + 1)}: ${p}`);
    expect(missing).toEqual([]);
  });
});
