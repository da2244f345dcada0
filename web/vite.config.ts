// Builds the web view (web/index.html, web/src) into web/dist with relative paths, so the
// files work from any static host or folder. The model core comes from ../src unchanged.
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

/**
 * The built page as one classic script: Chromium refuses module scripts on file:// pages, so
 * web/dist/index.html opened from a folder works only without type="module".
 */
function classicScript(): Plugin {
  return {
    name: "hvo-classic-script",
    apply: "build",
    enforce: "post",
    transformIndexHtml: (html) =>
      html
        .replace(/<script type="module" crossorigin src=/g, "<script defer src=")
        .replace(/ crossorigin/g, ""),
  };
}

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  base: "./",
  logLevel: "warn",
  plugins: [classicScript()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // One script: file:// refuses module imports across files in Chromium anyway.
    modulePreload: false,
    rollupOptions: { output: { format: "iife" } },
  },
});
