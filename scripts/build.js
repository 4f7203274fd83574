#!/usr/bin/env node
// @ts-check
/**
 * Builds dist/ (tsc, then the observer page), never under a program that runs from it.
 *
 *   node scripts/build.js             `npm run build`: dist/ from scratch; refused while a process runs from it
 *   node scripts/build.js --if-stale  `prepare` and `npm start`: nothing when dist/ is newer than every source
 *
 * Why: `npx devcluster status` in the checkout and `npm install ../devcluster` in a project both install this
 * folder as a link, which runs `prepare`. When that was `rm -rf dist && tsc`, every such command spent 6-18 s
 * rebuilding, and for about 11 s dist/runtime/node/main.js did not exist under the running cluster: a node killed
 * then could not restart ("Cannot find module"). Plain JavaScript: it runs before anything is compiled.
 */
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
const dist = path.join(root, "dist");
/** Written last by a build that succeeded: dist/ is complete and as new as this file's time. */
const stamp = path.join(dist, ".built");
/** What dist/ is made from: tsc's inputs (tsconfig.json `include`) and the observer page's. */
const SOURCES = ["cli", "runtime", "wire", "test", "bench", "web", "tsconfig.json"];

/** The newest change under `p`: a file's mtime, or a folder's (which moves when a file in it is added or removed). */
function newest(p) {
  let st;
  try {
    st = fs.statSync(p);
  } catch {
    return 0;
  }
  let t = st.mtimeMs;
  if (st.isDirectory()) for (const e of fs.readdirSync(p)) t = Math.max(t, newest(path.join(p, e)));
  return t;
}

function stale() {
  let built;
  try {
    built = fs.statSync(stamp).mtimeMs;
  } catch {
    return true;
  }
  return SOURCES.some((s) => newest(path.join(root, s)) > built);
}

/**
 * The processes whose command line names a file in dist/ (a cluster's `up` and nodes, a `logs -f`, a test run),
 * read from /proc; none where there is no /proc. A path is taken relative to the process's own folder and through
 * links, so `node dist/cli/main.js up` and npx's node_modules/devcluster link are found too.
 */
function runningFromDist() {
  let real;
  try {
    real = fs.realpathSync(dist);
  } catch {
    return [];
  }
  let pids;
  try {
    pids = fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid);
  } catch {
    return [];
  }
  const found = [];
  for (const pid of pids) {
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      const inDist = args.slice(1).some((a) => {
        if (a.startsWith("-")) return false;
        let p = path.resolve(cwd, a);
        try {
          p = fs.realpathSync(p);
        } catch {
          // not a file: compared as written
        }
        return p.startsWith(real + path.sep);
      });
      if (inDist) found.push(`pid ${pid} (${[path.basename(args[0] ?? "?"), ...args.slice(1).map((a) => shortPath(cwd, a))].join(" ")})`);
    } catch {
      // gone meanwhile, or another user's
    }
  }
  return found;
}

/** A path in the checkout as seen from it (dist/cli/main.js), any other as written. */
function shortPath(cwd, arg) {
  const abs = path.resolve(cwd, arg);
  return abs.startsWith(root + path.sep) ? path.relative(root, abs) : arg;
}

function build() {
  // The stamp carries the time the build began: a source saved while tsc ran is newer, so the next check rebuilds.
  const began = new Date();
  fs.rmSync(dist, { recursive: true, force: true });
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: root, stdio: "inherit" });
  execFileSync(process.execPath, [path.join(dist, "cli", "observer", "buildPage.js")], { cwd: root, stdio: "inherit" });
  fs.writeFileSync(stamp, began.toISOString() + "\n");
  fs.utimesSync(stamp, began, began);
}

function main() {
  const ifStale = process.argv.includes("--if-stale");
  if (ifStale && !stale()) return 0;
  const users = runningFromDist();
  if (users.length > 0) {
    const who = users.slice(0, 5).join(", ") + (users.length > 5 ? `, and ${users.length - 5} more` : "") + (users.length === 1 ? " runs" : " run");
    if (ifStale) {
      // An install must not fail for this: the dist/ that runs stays, and says why it is not the newest.
      process.stderr.write(`devcluster: dist/ is older than its sources but not rebuilt: ${who} from it. Stop them, then \`npm run build\`.\n`);
      return 0;
    }
    process.stderr.write(
      `devcluster: dist/ not rebuilt: ${who} from it, and a node restarted while it is rebuilt would not start. Stop them (a cluster: \`npx devcluster stop\`), then build again.\n`,
    );
    return 1;
  }
  build();
  return 0;
}

try {
  process.exitCode = main();
} catch (err) {
  // A failed tsc or page build has printed its errors: exit with its status, without repeating its command line.
  const status = /** @type {{ status?: unknown }} */ (err).status;
  if (typeof status !== "number") process.stderr.write(`devcluster: build failed: ${String(err)}\n`);
  process.exitCode = typeof status === "number" ? status : 1;
}
