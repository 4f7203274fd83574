/**
 * The observer page in a real browser (Debian's chromium, headless, driven by
 * playwright-core) against a real 3-node cluster: what a person sees.
 * Without chromium the tests report themselves skipped, with the reason.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import type { DevServer } from "../../cli/dev/devServer";
import { cli, makeProject, nextSave, startCluster, type Project } from "../helpers/cluster";
import { SUM, observerProject } from "../helpers/observerFixtures";
import { parsePid } from "../../wire/pid";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? false : `no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`;

describe("the observer page", { skip }, () => {
  let project: Project;
  let server: DevServer;
  let browser: Browser;
  let page: Page;
  let shots: string;
  let workerPid = "";

  before(async () => {
    project = makeProject(observerProject(), { nodes: 3 });
    ({ server } = await startCluster(project, { quietMs: 50 }));
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    shots = mkdtempSync(path.join(tmpdir(), "devcluster-shots-"));
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    project?.cleanup();
    if (shots) rmSync(shots, { recursive: true, force: true });
  });

  const url = (): string => server.observer!.url;
  const tab = (name: string) => page.locator(`nav button[data-tab="${name}"]`).click();

  test("up prints the page's address once, on loopback, with its token, and devcluster observe prints it again", async () => {
    assert.match(url(), /^http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]{20,}$/);
    const r = await cli(["observe"], project.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `observer: ${url()}`);
  });

  test("shows every node with its OS pid, up, and live figures", async (t) => {
    await page.goto(url());
    await page.locator('tr[data-node="n1"]').waitFor();
    // A figure for the report, not an assertion: when the first node row was drawn.
    const ms = await page.evaluate(() => Math.round(performance.now()));
    t.diagnostic(`first render with data: ${ms} ms after navigation`);
    for (const n of ["n1", "n2", "n3"]) {
      const row = page.locator(`tr[data-node="${n}"]`);
      await row.getByText("up", { exact: true }).waitFor();
      const pid = server.launcher ? await row.locator("td").nth(2).textContent() : "";
      assert.match(pid ?? "", /^\d+$/);
    }
    await page.locator(".uplot").first().waitFor();
  });

  test("the nodes gather supervision trees only while a page shows them", async () => {
    const c = server.coordinator;
    const original = c.nodeRequest.bind(c);
    const asked: boolean[] = [];
    let wake = (): void => undefined;
    c.nodeRequest = ((node: string, op: Parameters<typeof original>[1], ...rest: unknown[]) => {
      if (op.op === "observer" && op.req.op === "snapshot") (asked.push(op.req.trees !== false), wake());
      return (original as (...a: unknown[]) => Promise<unknown>)(node, op, ...rest);
    }) as typeof c.nodeRequest;
    const until = (ok: () => boolean, what: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 15_000);
        wake = () => ok() && (clearTimeout(t), resolve());
        wake();
      });
    try {
      await tab("nodes");
      const from = asked.length;
      await until(() => asked.length >= from + 6, "two samples of three nodes");
      assert.deepEqual(asked.slice(from), Array(asked.length - from).fill(false), "no trees for a page on the nodes tab");
      await tab("supervision");
      await until(() => asked.slice(from).includes(true), "a sample with trees");
    } finally {
      c.nodeRequest = original;
      wake = () => undefined;
    }
  });

  test("draws the supervision tree with its child, and follows a restart of the child live", async () => {
    await tab("supervision");
    const child = page.locator('.tree li[data-child="worker"]');
    await child.waitFor();
    const text = (await child.textContent()) ?? "";
    assert.match(text, /worker\s*<n1\.\d+>\s*worker\s*permanent/);
    const pid = /<n1\.\d+>/.exec(text)![0];
    await server.coordinator.nodeRequest("n1", { op: "kill", pid: parsePid(pid)!, reason: "kill" });
    // The child's line shows a new pid once the supervisor has restarted it: the page was not reloaded.
    await page
      .locator('.tree li[data-child="worker"]')
      .filter({ hasText: /<n1\.\d+>/ })
      .filter({ hasNotText: pid })
      .waitFor({ timeout: 15_000 });
  });

  test("the supervision tab heads each node's trees, names registered processes, and puts a nested supervisor on its id's line (issue 22 item 6)", async () => {
    await tab("supervision");
    const n1 = page.locator('[data-test="trees"] section[data-node="n1"]');
    await n1.locator("h3", { hasText: "n1" }).waitFor();
    // n3 runs no supervisor: its heading says so instead of the node vanishing from the tab
    await page.locator('[data-test="trees"] section[data-node="n3"] h3', { hasText: "n3 (no supervisors)" }).waitFor();
    const root = n1.locator("> ul > li");
    assert.match((await root.locator("> .row").textContent()) ?? "", /^\s*supervisor\s*<n1\.\d+>\s*one_for_one\s*registered as\s*jobs\s*$/);
    // the child's id, what it is and its pid read as one line, and its own child sits under it
    const pool = root.locator('> ul > li[data-child="pool"]');
    assert.match((await pool.locator("> .row").textContent()) ?? "", /^\s*pool\s*supervisor\s*<n1\.\d+>\s*one_for_all\s*$/);
    assert.match((await pool.locator('> ul > li[data-child="helper"] > .row').textContent()) ?? "", /^\s*helper\s*<n1\.\d+>\s*worker\s*permanent\s*$/);
  });

  test("finds a process by its registered name and shows its state", async () => {
    await tab("processes");
    await page.locator('[data-test="filter"]').fill("sum");
    const row = page.locator('table[data-test="procs"] tbody tr', { hasText: "sum" }).first();
    await row.waitFor();
    await row.click();
    const state = page.locator('[data-test="state"]');
    await state.getByText(/total: 0/).waitFor();
    assert.match((await state.textContent()) ?? "", /step: 'v1'/);
    await page.screenshot({ path: path.join(shots, "observer.png") });
    if (process.env.UPDATE_SCREENSHOT) copyFileSync(path.join(shots, "observer.png"), path.join(__dirname, "..", "..", "..", "docs", "observer.png"));
  });

  test("memory reads as devcluster ps writes it, in the list and in the detail (issue 22 item 6)", async () => {
    const ps = await cli(["ps"], project.dir);
    assert.equal(ps.code, 0, ps.stderr);
    const line = ps.stdout.split("\n").find((l) => /^<n1\.\d+>\s+sum\s/.test(l));
    assert.ok(line, ps.stdout);
    const memory = line.trim().split(/\s+/)[6]!;
    assert.match(memory, /^\d+(\.\d)?(B|KB|MB)$/);
    await tab("processes");
    await page.locator('[data-test="filter"]').fill("sum");
    const row = page.locator('table[data-test="procs"] tbody tr', { hasText: "sum" }).first();
    await row.locator("td").last().getByText(memory, { exact: true }).waitFor();
    await row.click();
    await page
      .locator('[data-test="detail"]')
      .getByText(new RegExp(`state ${memory.replace(".", "\\.")}$`))
      .waitFor();
  });

  test("the messages/s axis labels whole numbers only, even at one message a second (issue 22 item 6)", async () => {
    await tab("nodes");
    const r = await cli(["shell", "--eval", 'cast("sum", 1)'], project.dir);
    assert.equal(r.code, 0, r.stderr);
    // uPlot draws on a canvas: the chart keeps what its axis says in data-y-labels. Wait for a draw whose top is that one message.
    // A function, not a string: the page's CSP forbids eval. `globalThis`, as this file is compiled without the DOM's types.
    const small = await page.waitForFunction(
      () => {
        const el = (globalThis as any).document.querySelector('[data-chart="messagesPerSec"] [data-y-labels]'); // eslint-disable-line @typescript-eslint/no-explicit-any
        const labels: string[] = (el?.getAttribute("data-y-labels") ?? "").split("|");
        const top = Math.max(...labels.map((l) => Number(l.replace(/,/g, ""))));
        return top > 0 && top <= 10 ? labels : false;
      },
      undefined,
      { timeout: 15_000 },
    );
    const labels = (await small.jsonValue()) as string[];
    for (const l of labels) assert.match(l, /^\d+$/, `axis labels: ${labels.join(", ")}`);
    assert.equal(new Set(labels).size, labels.length, `axis labels: ${labels.join(", ")}`);
  });

  test("the detail panel's buttons: a cast changes the state, suspend holds messages until resume, kill ends the process", async () => {
    const pid = String(await server.coordinator.nodeRequest("n2", { op: "spawn", module: "worker", args: null }));
    await tab("processes");
    await page.locator('[data-test="filter"]').fill(pid);
    await page.locator(`table[data-test="procs"] tbody tr[data-pid="${pid}"]`).click();
    const detail = page.locator('[data-test="detail"]');
    const state = detail.locator('[data-test="state"]');
    const status = detail.locator('[data-test="status"]');
    await state.getByText("jobs: 0").waitFor();
    // send a message: a cast, as a person picks it in the list
    await detail.locator("select").selectOption("cast");
    await detail.locator('[data-test="message"]').fill('{"job": 1}');
    await detail.getByRole("button", { name: "send message" }).click();
    await state.getByText("jobs: 1").waitFor();
    // suspend: the status says so, and a cast waits in the mailbox, unhandled
    await detail.getByRole("button", { name: "suspend" }).click();
    await status.getByText("suspended").waitFor();
    const info = (await server.coordinator.nodeRequest("n2", { op: "processInfo", pid: parsePid(pid)! })) as { status: string };
    assert.equal(info.status, "suspended", "the shell's processInfo sees the suspension the page made");
    await detail.getByRole("button", { name: "send message" }).click();
    await detail.getByText(/mailbox 1 ·/).waitFor();
    assert.match((await state.textContent()) ?? "", /jobs: 1/);
    // resume: the waiting message is handled
    await detail.getByRole("button", { name: "resume" }).click();
    await state.getByText("jobs: 2").waitFor();
    assert.notEqual(await status.textContent(), "suspended");
    // an info message the worker has no handleInfo for: logged as a warning on n2 (the logs test reads it)
    await detail.locator("select").selectOption("send");
    await detail.locator('[data-test="message"]').fill('"stray"');
    await detail.getByRole("button", { name: "send message" }).click();
    await detail.getByText("send: done").waitFor();
    // kill: the panel says the process is gone, and the table no longer lists it
    await detail.getByRole("button", { name: "kill" }).click();
    await detail.locator(".error", { hasText: `process ${pid} is not alive` }).waitFor({ timeout: 15_000 });
    await page.locator(`table[data-test="procs"] tbody tr[data-pid="${pid}"]`).waitFor({ state: "detached", timeout: 15_000 });
    await page.locator('[data-test="filter"]').fill("");
    workerPid = pid;
  });

  test("the logs tab shows each node's lines, filtered by node, level and pid, and follows new lines live", async () => {
    await tab("logs");
    const lines = page.locator('[data-test="logs"] .line');
    await lines.first().waitFor();
    await page.locator('[data-test="log-node"]').selectOption("n2");
    await page.locator('[data-test="logs"] .line[data-node="n2"]').first().waitFor();
    await page.locator('[data-test="logs"] .line:not([data-node="n2"])').first().waitFor({ state: "detached" });
    await page.locator('[data-test="log-level"]').selectOption("warn");
    const stray = page.locator('[data-test="logs"] .line', { hasText: "unhandled message" });
    await stray.filter({ hasText: workerPid }).first().waitFor();
    await page.locator('[data-test="logs"] .line[data-level="info"]').first().waitFor({ state: "detached" });
    for (const l of await lines.all()) {
      assert.equal(await l.getAttribute("data-node"), "n2");
      assert.ok(["warn", "error", "fatal"].includes((await l.getAttribute("data-level")) ?? ""), "warn and above only");
    }
    // live: a new warning on n2 appears without touching the page
    const other = String(await server.coordinator.nodeRequest("n2", { op: "spawn", module: "worker", args: null }));
    await server.coordinator.nodeRequest("n2", { op: "send", pid: parsePid(other)!, msg: "live" });
    await stray.filter({ hasText: other }).waitFor({ timeout: 15_000 });
    // pid: only the lines about that process
    await page.locator('[data-test="log-pid"]').fill(other);
    await page.locator('[data-test="log-pid"]').press("Enter");
    await stray.filter({ hasText: workerPid }).first().waitFor({ state: "detached" });
    assert.equal(await stray.filter({ hasText: other }).count(), 1);
    await page.locator('[data-test="log-pid"]').fill("");
    await page.locator('[data-test="log-pid"]').press("Enter");
  });

  test("a save appears on the reload timeline with its new version, without reloading the page", async () => {
    await tab("reloads");
    const saved = nextSave(server);
    project.write("src/sum.ts", SUM("v2"));
    const save = await saved;
    assert.ok(save.report?.ok, "the reload succeeded");
    const version = save.report!.modules.find((m) => m.name === "sum")!.version;
    const entry = page.locator('[data-test="reload"]', { hasText: `sum@${version.slice(0, 8)}` });
    await entry.waitFor({ timeout: 15_000 });
    assert.equal(await entry.locator('[data-test="source"]').textContent(), "save");
  });

  test("a compile error shows on the timeline as file:line:col with its source line", async () => {
    const saved = nextSave(server);
    project.write("src/sum.ts", "export function init() { return {; }\n");
    await saved;
    const entry = page.locator(".timeline .entry.bad", { hasText: "compile error" }).first();
    await entry.waitFor({ timeout: 15_000 });
    assert.match((await entry.textContent()) ?? "", /src\/sum\.ts:1:\d+/);
    assert.match((await entry.textContent()) ?? "", /return \{; \}/);
    const fixed = nextSave(server);
    project.write("src/sum.ts", SUM("v3"));
    await fixed;
  });

  test("a broken file saved back to the running version shows on the timeline as back, after its compile error (issue 22 item 4)", async () => {
    const running = server.coordinator.store.get("sum")!.version;
    const broken = nextSave(server);
    project.write("src/sum.ts", "export function init() { return {; }\n");
    await broken;
    project.write("src/sum.ts", SUM("v3"));
    const back = page.locator('[data-test="back"]').first();
    await back.waitFor({ timeout: 15_000 });
    assert.match((await back.textContent()) ?? "", new RegExp(`src/sum\\.ts is back to the running version sum@${running.slice(0, 8)}`));
    assert.equal(await back.locator('[data-test="source"]').textContent(), "save");
    // newest first: the entry above the compile error
    const first = page.locator(".timeline .entry").first();
    assert.equal(await first.getAttribute("data-test"), "back");
  });

  test("an aborted reload shows on the timeline with each node's error", async () => {
    await tab("reloads");
    const saved = nextSave(server);
    // n1 runs sum and evaluates the new version; n2 has not loaded it, so it only checks it and is ready (docs/design.md §4.5).
    project.write("src/sum.ts", SUM("v4") + `if (process.env.DEVCLUSTER_NODE === "n1") throw new Error("n1 refuses this version");\n`);
    const save = await saved;
    assert.equal(save.report?.ok, false, "the reload was aborted");
    const entry = page.locator('[data-test="reload"].bad', { hasText: "aborted in prepare" }).first();
    await entry.waitFor({ timeout: 15_000 });
    const text = (await entry.textContent()) ?? "";
    assert.match(text, /n1 error: .*n1 refuses this version/);
    assert.match(text, /n2 \d+\.\d ms/, "n2 was ready: its time, no error");
    const fixed = nextSave(server);
    project.write("src/sum.ts", SUM("v5"));
    assert.ok((await fixed).report?.ok);
  });

  test("a reload whose codeChange throws shows each process left on the old version", async () => {
    const saved = nextSave(server);
    project.write(
      "src/worker.ts",
      `export function init() { return { jobs: 0 }; }
export function handleCast(_m: unknown, s: { jobs: number }) { return { jobs: s.jobs + 1 }; }
export function codeChange(_old: string, _s: unknown) { throw new Error("cannot migrate the jobs"); }
`,
    );
    const save = await saved;
    assert.ok(save.report?.ok, "the reload itself commits");
    const entry = page.locator('[data-test="reload"]', { hasText: "codeChange failed" }).first();
    await entry.waitFor({ timeout: 15_000 });
    assert.match((await entry.textContent()) ?? "", /n1 <n1\.\d+>: codeChange failed, stays on the old version: .*cannot migrate the jobs/);
  });

  test("a save of a module no node runs shows as checked, never as a reload that ran (issue 17 item 13)", async () => {
    const saved = nextSave(server);
    project.write("src/tools/seed.ts", `process.exit(3);\nexport {};\n`);
    const save = await saved;
    assert.deepEqual(save.report?.kept, ["tools/seed"]);
    const entry = page.locator('[data-test="reload"]', { hasText: "tools/seed@" }).first();
    await entry.waitFor({ timeout: 15_000 });
    const text = (await entry.textContent()) ?? "";
    assert.match(text, /checked/);
    assert.match(text, /tools\/seed@\w+ \(no node runs it: checked, nothing evaluated\)/);
    assert.doesNotMatch(text, /\bok\b/);
  });

  test("the versions panel lists a module's versions and diffs two of them as TypeScript", async () => {
    await tab("reloads");
    await page.locator('[data-test="version-module"]').selectOption("sum");
    const list = page.locator('[data-test="version-list"] tr');
    // up (v1), saves v2, v3, v5: the compile error and the aborted v4 never ran
    await list.nth(3).waitFor();
    assert.equal(await list.count(), 4);
    const diff = page.locator('[data-test="diff"]');
    await diff.getByText("TypeScript source of src/sum.ts").waitFor();
    assert.equal(await diff.locator(".del").count(), 1);
    assert.match((await diff.locator(".del").textContent()) ?? "", /^- .*step: "v3"/);
    assert.match((await diff.locator(".add").textContent()) ?? "", /^\+ .*step: "v5"/);
    // the first version against the current one
    const first = await page.locator('[data-test="version-from"] option').first().getAttribute("value");
    await page.locator('[data-test="version-from"]').selectOption(first!);
    await diff.locator(".del", { hasText: '"v1"' }).waitFor();
  });

  test("the timeline says who started each reload, as the coordinator recorded it: devcluster reload, devcluster rollback (issue 22 item 6)", async () => {
    await tab("reloads");
    const reload = await cli(["reload", "util"], project.dir);
    assert.equal(reload.code, 0, reload.stderr);
    const util = page.locator('[data-test="reload"]', { hasText: "util@" }).first();
    await util.waitFor({ timeout: 15_000 });
    assert.equal(await util.locator('[data-test="source"]').textContent(), "devcluster reload");
    const back = await cli(["rollback", "sum"], project.dir);
    assert.equal(back.code, 0, back.stderr);
    const rolled = page.locator('[data-test="reload"]', { has: page.locator('[data-test="source"]', { hasText: "devcluster rollback" }) });
    await rolled.first().waitFor({ timeout: 15_000 });
    assert.match((await rolled.first().textContent()) ?? "", /sum@\w{8}/);
    const compile = page.locator(".timeline .entry.bad", { hasText: "compile error" }).first();
    assert.equal(await compile.locator('[data-test="source"]').textContent(), "save");
  });

  test("serves the page's icon at /favicon.ico, not a 404", async () => {
    const base = url().replace(/#.*$/, "");
    const res = await fetch(`${base}favicon.ico`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/x-icon");
    const head = Buffer.from(await res.arrayBuffer()).subarray(0, 4);
    assert.deepEqual([...head], [0, 0, 1, 0], "an ICO file's header");
  });

  test("a trace started on the page shows a message sent from the shell", async () => {
    await tab("traces");
    await page.locator('[data-test="trace-target"]').fill("sum");
    await page.locator('[data-test="trace-start"]').click();
    await page.getByText(/tracing messages of <n1\.\d+> \(sum\)/).waitFor();
    const r = await cli(["shell", "--eval", 'cast("sum", 41)'], project.dir);
    assert.equal(r.code, 0, r.stderr);
    await page.locator('table[data-test="trace-events"]', { hasText: /\(shell\) → <n1\.\d+> cast: 41/ }).waitFor({ timeout: 15_000 });
    await server.coordinator.traces.stop();
  });

  test("refuses data without the token, and the page says so", async () => {
    const base = url().replace(/#.*$/, "");
    const bare = await fetch(`${base}api/procs`);
    assert.equal(bare.status, 401);
    const wrong = await fetch(`${base}api/procs`, { headers: { Authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    for (const data of ["api/logs", "api/history", "api/diff?module=sum&from=0&to=1"]) assert.equal((await fetch(`${base}${data}`)).status, 401, data);
    const right = await fetch(`${base}api/procs?limit=1`, { headers: { Authorization: `Bearer ${server.observer!.token}` } });
    assert.equal(right.status, 200);
    const p = await browser.newPage();
    try {
      await p.goto(base);
      await p.locator('[data-test="refused"]').getByText("Not authorized").waitFor();
      await p.goto(`${base}#token=wrong`);
      await p.reload();
      await p.locator('[data-test="refused"]').getByText("The token was refused").waitFor();
    } finally {
      await p.close();
    }
  });
});
