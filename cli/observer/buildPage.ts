/**
 * `npm run build`'s last step: bundles the observer page (web/observer) with
 * esbuild into dist/observer, Preact, htm and uPlot included, so the page
 * needs no network. Run from the package root: `node dist/cli/observer/buildPage.js`.
 */
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";

const root = path.join(__dirname, "..", "..", "..");
const src = path.join(root, "web", "observer");
const out = path.join(root, "dist", "observer");

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [path.join(src, "app.ts")],
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    outfile: path.join(out, "app.js"),
    legalComments: "none",
    logLevel: "warning",
  });
  const uplotCss = readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8");
  writeFileSync(path.join(out, "app.css"), uplotCss + "\n" + readFileSync(path.join(src, "style.css"), "utf8"));
  copyFileSync(path.join(src, "index.html"), path.join(out, "index.html"));
  // Browsers ask for /favicon.ico whatever the page links: served, it is not a 404 in every console.
  copyFileSync(path.join(src, "favicon.ico"), path.join(out, "favicon.ico"));
  const size = ["index.html", "app.js", "app.css", "favicon.ico"].reduce((n, f) => n + statSync(path.join(out, f)).size, 0);
  if (process.env.DEVCLUSTER_PAGE_SIZE) process.stdout.write(`observer page: ${(size / 1024).toFixed(1)} KiB\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`observer page build failed: ${(err as Error).message}\n`);
  process.exit(1);
});
