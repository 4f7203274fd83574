// Issue 18, item 9: `devcluster observe --open` gave the opener the URL with its token on the command line,
// where every local user reads it in `ps`. The opener now gets a file:// page (0600) that forwards to it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import type { Browser } from "playwright-core";
import type { DevServer } from "../../cli/dev/devServer";
import { stateDir } from "../../cli/project/stateDir";
import { CLI, makeProject, startCluster, type Project } from "../helpers/cluster";
import { counterProject } from "../helpers/fixtures";
import { waitUntil } from "../helpers/probe";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

describe("devcluster observe --open keeps the token out of every command line (issue 18, item 9)", () => {
  let project: Project;
  let server: DevServer;
  let bin: string;
  let browser: Browser | undefined;

  before(async () => {
    project = makeProject(counterProject(), { nodes: 1 });
    ({ server } = await startCluster(project));
    // The desktop's opener, as the test's: it writes down the arguments it was given, as `ps` would show them.
    bin = mkdtempSync(path.join(tmpdir(), "devcluster-opener-"));
    const opener = path.join(bin, process.platform === "darwin" ? "open" : "xdg-open");
    writeFileSync(
      opener,
      `#!/bin/sh\nprintf '%s\\n' "$@" > "${path.join(bin, "argv")}.tmp" && mv "${path.join(bin, "argv")}.tmp" "${path.join(bin, "argv")}"\n`,
    );
    chmodSync(opener, 0o755);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    project?.cleanup();
    rmSync(bin, { recursive: true, force: true });
  });

  test("the opener is given a file:// page only the user can read, and that page takes a browser to the observer with its token", async (t) => {
    const token = new URL(server.observer!.url).hash.slice("#token=".length);
    assert.ok(token.length >= 20);
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [CLI, "observe", "--open"],
        { cwd: project.dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    assert.equal(r.code, 0, r.stderr);
    const argv = await waitUntil(async () => (existsSync(path.join(bin, "argv")) ? readFileSync(path.join(bin, "argv"), "utf8") : undefined));
    assert.ok(!argv.includes(token), `the opener's arguments hold the token: ${argv}`);
    const [arg] = argv.trim().split("\n");
    assert.match(arg!, /^file:\/\//);
    const page = fileURLToPath(arg!);
    assert.equal(path.dirname(page), stateDir(project.dir));
    assert.equal(statSync(page).mode & 0o777, 0o600);
    assert.equal(statSync(stateDir(project.dir)).mode & 0o777, 0o700);

    if (!existsSync(CHROMIUM)) return t.skip(`no chromium at ${CHROMIUM}: the page's forwarding is not driven`);
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const tab = await browser.newPage();
    await tab.goto(arg!);
    await tab.waitForURL(server.observer!.url);
    // The data needs the token: a node row shows only when the page got it.
    await tab.locator('tr[data-node="n1"]').waitFor();
  });
});
