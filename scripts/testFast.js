// @ts-check
/**
 * The inner loop: `npm run test:fast -- test/unit/config.test.ts` runs one test file about
 * a second after a save, where `npm test` first rebuilds everything with tsc (17 s idle).
 *
 * It transpiles every file tsconfig.json names with esbuild (no type check: ~0.5 s for
 * ~240 files) into the same dist/ layout tsc writes, because much of the code finds its
 * siblings from `__dirname` (nodes run dist/runtime/node/main.js, the observer serves
 * dist/observer), so running the .ts files in place would test a mix of new and stale code.
 * tsconfig.json sets isolatedModules, so tsc refuses what a file-by-file transpile would get
 * wrong; `npm test` and CI still type-check everything.
 *
 * Arguments: test files (.ts paths, or dist .js paths; none means test/unit/), then any
 * `--flag` for `node --test` (e.g. --test-name-pattern=schema).
 */
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
process.chdir(root);

const ts = require("typescript");
const { config } = ts.readConfigFile("tsconfig.json", ts.sys.readFile);
const { fileNames, options } = ts.parseJsonConfigFileContent(config, ts.sys, root);
const outDir = options.outDir ?? path.join(root, "dist");

// Declarations come only from tsc: the tests that type-check the shipped .d.ts (hotTypes, init,
// package) read those of the last full build, so there must be one.
if (!fs.existsSync(path.join(outDir, "runtime", "index.d.ts"))) {
  process.stdout.write("no declarations in dist/ yet: one full build first (npm run build)\n");
  run("npm", ["run", "build", "--silent"]);
} else {
  require("esbuild").buildSync({
    entryPoints: fileNames,
    outdir: outDir,
    outbase: root,
    format: "cjs",
    platform: "node",
    target: "node20",
    sourcemap: true,
    logLevel: "warning",
  });
  removeStale(new Set(fileNames.map((f) => path.relative(root, f).replace(/\.ts$/, ""))));
  run(process.execPath, [path.join(outDir, "cli", "observer", "buildPage.js")]);
}

const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith("--"));
const files = args.filter((a) => !a.startsWith("--")).map((f) => (f.endsWith(".ts") ? path.join(outDir, f.replace(/\.ts$/, ".js")) : f));
// Cluster tests share the machine's two cores with the nodes they start: one file at a time, as `npm test` runs them.
const serial = files.some((f) => f.includes(`${path.sep}cluster${path.sep}`)) && !flags.some((f) => f.startsWith("--test-concurrency"));
run(process.execPath, ["--test", ...(serial ? ["--test-concurrency=1"] : []), ...flags, ...(files.length > 0 ? files : [path.join(outDir, "test", "unit")])]);

/**
 * A test file deleted or renamed since the last build would still run from dist/: drop
 * outputs whose source is gone (tsc's own build starts from an empty dist/ instead).
 * @param {Set<string>} sources source paths without extension, relative to the root
 */
function removeStale(sources) {
  for (const top of ["cli", "runtime", "wire", "test", "bench"]) {
    const dir = path.join(outDir, top);
    if (!fs.existsSync(dir)) continue;
    for (const entry of fs.readdirSync(dir, { recursive: true })) {
      const file = path.join(dir, String(entry));
      const stem = path.relative(outDir, file).replace(/(\.d\.ts|\.js|\.js\.map|\.d\.ts\.map)$/, "");
      if (stem !== path.relative(outDir, file) && !sources.has(stem)) fs.rmSync(file);
    }
  }
}

/**
 * @param {string} command
 * @param {string[]} argv
 */
function run(command, argv) {
  const r = spawnSync(command, argv, { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
