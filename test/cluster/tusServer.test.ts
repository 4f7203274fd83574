/**
 * Issue 17's real open-source server: the tus resumable-upload server (@tus/server, MIT, see
 * test/fixtures/tus-server/README.md), its TypeScript sources copied unchanged from node_modules into a
 * temporary project, runs on 3 real nodes under `up` and is edited the way its developers edit it. After
 * each save the test reads the save's report, then asks every node over the tus protocol whether it runs
 * the saved code and kept its state: every upload made so far answers HEAD with its offset and GET with
 * its bytes (upload records live in the node's memory, so a restart loses them), and an upload left half
 * done before the first edit finishes after them.
 *
 * An edit that needs a fix still under way on issue 17 keeps the assertion it should pass and is marked
 * `todo` with the item it waits for; drop the todo once that item is merged.
 */
import assert from "node:assert/strict";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { makeProject, startCluster, type LogCapture, type Project } from "../helpers/cluster";
import { projectEdits } from "../helpers/edits";
import { freePortRun } from "../helpers/ports";

const ROOT = path.join(__dirname, "..", "..", "..");
const PACKAGE = path.join(ROOT, "node_modules", "@tus", "server");
const NODES = ["n1", "n2", "n3"];
/** where the package's sources go in the project: its src folder becomes src/tus */
const TUS = "src/tus";
/** the package's own dependencies, and the datastore the entry uses, linked from this repository */
const DEPENDENCIES = ["@tus/utils", "@tus/file-store", "debug", "lodash.throttle", "srvx"];

/** Every .ts file the package ships under src/, as `src/tus/...` -> text, unchanged. */
function packageSources(dir = path.join(PACKAGE, "src"), out: Record<string, string> = {}): Record<string, string> {
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) packageSources(p, out);
    else if (e.endsWith(".ts")) out[TUS + "/" + path.relative(path.join(PACKAGE, "src"), p).split(path.sep).join("/")] = readFileSync(p, "utf8");
  }
  return out;
}

/** Ours, not tus's: what a project using tus writes, as a devcluster entry with the port the test chose. */
function entryModule(ports: number[], dataDir: string): string {
  return `import type { StartContext } from "devcluster";
import type { Server as HttpServer } from "node:http";
import debug from "debug";
import { FileStore, MemoryConfigstore } from "@tus/file-store";
// through the package's own index, a barrel (export * from './server.js'), as its users import it (issue 17 item 6)
import { Server } from "./tus/index";

const PORTS = ${JSON.stringify(ports)};

export let tus: Server | undefined;
export let http: HttpServer | undefined;

export function start(ctx: StartContext): void {
  // tus logs through debug: on, so its log lines reach up's log
  debug.enable("tus-node-server*");
  const datastore = new FileStore({ directory: ${JSON.stringify(dataDir)} + "/" + ctx.node, configstore: new MemoryConfigstore() });
  // how long a request holding a lock another request waits for may go on (tus's default is 3 s): long
  // enough for a save to land while one waits
  tus = new Server({ path: "/files", datastore, relativeLocation: true, lockDrainTimeout: ${LOCK_DRAIN_MS} });
  http = tus.listen(PORTS[ctx.nodes.indexOf(ctx.node)], "127.0.0.1");
}
`;
}

interface Reply {
  status: number;
  headers: Headers;
  body: string;
}

const TUS_HEADERS = { "tus-resumable": "1.0.0" };
const LOCK_DRAIN_MS = 5000;

async function request(method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  const res = await fetch(url, { method, headers: { ...TUS_HEADERS, ...headers }, body, signal: AbortSignal.timeout(LOCK_DRAIN_MS + 5000) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const failed = (err: Error): Reply => ({ status: 0, headers: new Headers(), body: err.message });
const show = (r: Reply): string => JSON.stringify({ status: r.status, headers: Object.fromEntries(r.headers), body: r.body });
const b64 = (s: string): string => Buffer.from(s).toString("base64");

/** An upload the test made on one node: its URL, the bytes the node holds, and its length. */
interface Upload {
  url: string;
  sent: string;
  length: number;
}

/** POSTs an upload of `length` bytes named `filename`, then PATCHes `content` into it; resolves with its URL. */
async function upload(base: string, filename: string, content: string, length = content.length): Promise<Upload> {
  const created = await request("POST", base + "/files", {
    "upload-length": String(length),
    "upload-metadata": `filename ${b64(filename)},filetype ${b64("text/plain")}`,
  });
  assert.equal(created.status, 201, `create ${filename} on ${base}: ${show(created)}`);
  const url = base + created.headers.get("location");
  const patched = await request("PATCH", url, { "upload-offset": "0", "content-type": "application/offset+octet-stream" }, content);
  assert.equal(patched.status, 204, `write ${filename} on ${base}: ${show(patched)}`);
  assert.equal(patched.headers.get("upload-offset"), String(content.length));
  return { url, sent: content, length };
}

/**
 * A PATCH that writes 4 bytes ("held") and never ends its body: it holds the upload's lock until another
 * request asks for it and tus, after its drain time, ends the PATCH. Resolves once that happened.
 */
function holdLock(url: string): Promise<unknown> {
  const body = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode("held")) });
  return fetch(url, {
    method: "PATCH",
    headers: { ...TUS_HEADERS, "upload-offset": "0", "content-type": "application/offset+octet-stream" },
    body,
    duplex: "half",
    signal: AbortSignal.timeout(LOCK_DRAIN_MS + 5000),
  } as RequestInit).catch(failed);
}

describe("the tus upload server (@tus/server, its own sources) on 3 nodes, edited as its developers do, keeps every upload (issue 17)", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;
  let bases: string[];
  /** every upload made so far, per node: each must stay there with its bytes */
  const uploads: Upload[][] = [[], [], []];
  /** per node, an upload half written before the first edit, finished by the last test */
  const halfDone: Upload[] = [];

  /** Asks each node `ask` until `ok` holds for every answer; fails at the deadline with the last answers. */
  async function untilEvery(
    ask: (base: string, i: number) => Promise<Reply>,
    ok: (r: Reply, i: number) => boolean,
    what: string,
    timeoutMs = 15_000,
  ): Promise<Reply[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const last = await Promise.all(bases.map((b, i) => ask(b, i).catch(failed)));
      if (last.every(ok)) return last;
      if (Date.now() > deadline) assert.fail(`${what}: not every node answered so within ${timeoutMs} ms: ${last.map(show).join("\n")}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Every upload made so far is still on its node: HEAD gives its offset and length, GET (when complete) its bytes. */
  async function assertKept(): Promise<void> {
    for (const [i, list] of uploads.entries()) {
      for (const u of [...list, halfDone[i]!]) {
        const head = await request("HEAD", u.url);
        assert.equal(head.status, 200, `n${i + 1} lost ${u.url}: ${show(head)}`);
        assert.deepEqual([head.headers.get("upload-offset"), head.headers.get("upload-length")], [String(u.sent.length), String(u.length)], u.url);
        if (u.sent.length < u.length) continue;
        const got = await request("GET", u.url);
        assert.deepEqual([got.status, got.body], [200, u.sent], `n${i + 1} GET ${u.url}`);
      }
    }
  }

  /** Makes one more upload on every node and remembers it. */
  async function uploadEverywhere(filename: string): Promise<void> {
    const made = await Promise.all(bases.map((b, i) => upload(b, filename, `${filename} on n${i + 1}`)));
    for (const [i, u] of made.entries()) uploads[i]!.push(u);
  }

  const { loggedSince, edited, renamed, save, saveReloaded } = projectEdits({
    server: () => server,
    project: () => project,
    logs: () => logs,
    nodes: NODES,
  });

  before(async () => {
    const base = await freePortRun(3);
    const ports = [base, base + 1, base + 2];
    bases = ports.map((p) => `http://127.0.0.1:${p}`);
    project = makeProject(packageSources(), { nodes: 3 });
    // the entry names a folder of the project, known once it exists
    project.write("src/app.ts", entryModule(ports, path.join(project.dir, "uploads")));
    // the licence travels with the sources, as the package ships it
    cpSync(path.join(PACKAGE, "LICENSE"), path.join(project.dir, TUS, "LICENSE"));
    for (const dep of DEPENDENCIES) {
      mkdirSync(path.dirname(path.join(project.dir, "node_modules", dep)), { recursive: true });
      symlinkSync(path.join(ROOT, "node_modules", dep), path.join(project.dir, "node_modules", dep), "dir");
    }
    ({ server, logs } = await startCluster(project));
    await uploadEverywhere("first.txt");
    await uploadEverywhere("reports/q3.txt");
    for (const b of bases) halfDone.push(await upload(b, "half.txt", "first half|", 22));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("a handler's response changes (HEAD's Cache-Control) on every node", async () => {
    const probe = uploads.map((l) => l[0]!.url);
    await saveReloaded({
      [`${TUS}/handlers/HeadHandler.ts`]: edited(`${TUS}/handlers/HeadHandler.ts`, [
        "res.headers.set('Cache-Control', 'no-store')",
        "res.headers.set('Cache-Control', 'no-store, max-age=0')",
      ]),
    });
    await untilEvery(
      (_, i) => request("HEAD", probe[i]!),
      (r) => r.status === 200 && r.headers.get("cache-control") === "no-store, max-age=0",
      "the new Cache-Control",
    );
    await assertKept();
  });

  test("a changed log line is what every node logs for the next bad request", async () => {
    await saveReloaded({
      [`${TUS}/server.ts`]: edited(`${TUS}/server.ts`, ["log(`Invalid ${name} header: ${value}`)", "log(`refused header ${name}=${JSON.stringify(value)}`)"]),
    });
    const probe = uploads.map((l) => l[0]!.url);
    await untilEvery(
      (_, i) => request("HEAD", probe[i]!, { "upload-offset": "-1" }),
      (r) => r.status === 400,
      "a bad Upload-Offset refused",
    );
    for (const n of NODES) await logs.waitFor(new RegExp(`"node":"${n}".*tus-node-server refused header upload-offset=\\\\"-1\\\\"`), 10_000);
    await assertKept();
  });

  test("a module constant changes (the id pattern ignores a query string): HEAD with ?query finds the upload on every node", async () => {
    const probe = uploads.map((l) => l[0]!.url + "?v=2");
    const before = await Promise.all(probe.map((u) => request("HEAD", u)));
    assert.deepEqual(
      before.map((r) => r.status),
      [404, 404, 404],
      "a query string already worked",
    );
    await saveReloaded({
      [`${TUS}/handlers/BaseHandler.ts`]: edited(`${TUS}/handlers/BaseHandler.ts`, [
        "const reExtractFileID = /([^/]+)\\/?$/",
        "const reExtractFileID = /([^/?]+)\\/?(?:\\?.*)?$/",
      ]),
    });
    await untilEvery(
      (_, i) => request("HEAD", probe[i]!),
      (r, i) => r.status === 200 && r.headers.get("upload-offset") === String(uploads[i]![0]!.sent.length),
      "HEAD with a query string",
    );
    await assertKept();
  });

  test("a new field in HEAD's answer (Upload-Complete) on every node", async () => {
    await saveReloaded({
      [`${TUS}/handlers/HeadHandler.ts`]: edited(`${TUS}/handlers/HeadHandler.ts`, [
        "    res.headers.set('Upload-Offset', file.offset.toString())\n",
        "    res.headers.set('Upload-Offset', file.offset.toString())\n    res.headers.set('Upload-Complete', file.offset === file.size ? '?1' : '?0')\n",
      ]),
    });
    await untilEvery(
      (_, i) => request("HEAD", uploads[i]![0]!.url),
      (r) => r.headers.get("upload-complete") === "?1",
      "a complete upload",
    );
    await untilEvery(
      (_, i) => request("HEAD", halfDone[i]!.url),
      (r) => r.headers.get("upload-complete") === "?0",
      "a half-done upload",
    );
    await assertKept();
  });

  test("a new helper module (the download's file name loses its folders) is used by GET on every node", async () => {
    const helper = `/** A file name a browser may save under: no folders, no quotes. */\nexport function downloadName(filename: string): string {\n  return filename.split(/[\\\\/]/).pop()!.replace(/"/g, '')\n}\n`;
    const get = edited(
      `${TUS}/handlers/GetHandler.ts`,
      ["import type {RouteHandler} from '../types.js'\n", "import type {RouteHandler} from '../types.js'\nimport {downloadName} from './downloadName.js'\n"],
      ["contentDisposition += `; filename=${this.quote(filename)}`", "contentDisposition += `; filename=${this.quote(downloadName(filename))}`"],
    );
    const url = uploads.map((l) => l[1]!.url);
    const before = await Promise.all(url.map((u) => request("GET", u)));
    assert.deepEqual(
      before.map((r) => r.headers.get("content-disposition")),
      NODES.map(() => 'inline; filename="reports/q3.txt"'),
    );
    await saveReloaded({ [`${TUS}/handlers/downloadName.ts`]: helper, [`${TUS}/handlers/GetHandler.ts`]: get });
    await untilEvery(
      (_, i) => request("GET", url[i]!),
      (r) => r.status === 200 && r.headers.get("content-disposition") === 'inline; filename="q3.txt"',
      "the download name",
    );
    await assertKept();
  });

  test("a typo is refused with its file and line while every node keeps running; its fix then runs everywhere", async () => {
    const method = (base: string): Promise<Reply> => request("PUT", base + "/files");
    const typo = edited(`${TUS}/server.ts`, [
      "return this.write(context, headers, 404, 'Not found\\n')",
      "return this.write(context, headers, 404, `No ${req.method} route\\n)",
    ]);
    const [refused] = await save({ [`${TUS}/server.ts`]: typo });
    assert.equal(refused!.report, undefined, "nothing may be sent");
    assert.match(refused!.error?.message ?? "", /src\/tus\/server\.ts:\d+:\d+: error: /);
    await untilEvery(method, (r) => r.status === 404 && r.body === "Not found\n", "the last good version");
    await saveReloaded({ [`${TUS}/server.ts`]: edited(`${TUS}/server.ts`, ["`No ${req.method} route\\n)", "`No ${req.method} route\\n`)"]) });
    await untilEvery(method, (r) => r.status === 404 && r.body === "No PUT route\n", "the fixed answer");
    await assertKept();
  });

  test("a method every handler calls through this. is renamed across five files (getFileIdFromRequest -> fileIdOf): every method still answers", async () => {
    // the method, not the option of the same name (options.getFileIdFromRequest) that it calls
    const changes: Record<string, string> = {
      [`${TUS}/handlers/BaseHandler.ts`]: edited(`${TUS}/handlers/BaseHandler.ts`, ["  getFileIdFromRequest(req: Request) {", "  fileIdOf(req: Request) {"]),
    };
    for (const h of ["Delete", "Get", "Head", "Patch"]) {
      const rel = `${TUS}/handlers/${h}Handler.ts`;
      changes[rel] = renamed(rel, "this.getFileIdFromRequest(", "this.fileIdOf(");
    }
    await saveReloaded(changes);
    // DELETE, HEAD, GET and PATCH all find the upload by its id
    const scratch = await Promise.all(bases.map((b) => upload(b, "scratch.txt", "abc", 6)));
    await untilEvery(
      (_, i) => request("PATCH", scratch[i]!.url, { "upload-offset": "3", "content-type": "application/offset+octet-stream" }, "def"),
      (r) => r.status === 204 && r.headers.get("upload-offset") === "6",
      "PATCH",
    );
    await untilEvery(
      (_, i) => request("GET", scratch[i]!.url),
      (r) => r.status === 200 && r.body === "abcdef",
      "GET",
    );
    await untilEvery(
      (_, i) => request("DELETE", scratch[i]!.url),
      (r) => r.status === 204,
      "DELETE",
    );
    await untilEvery(
      (_, i) => request("HEAD", scratch[i]!.url),
      (r) => r.status === 404,
      "HEAD of the deleted upload",
    );
    await assertKept();
  });

  test("a method the lock's setImmediate loop calls is renamed (acquireLock -> tryAcquire): a HEAD waiting on a PATCH's lock still answers", async () => {
    await saveReloaded({ [`${TUS}/lockers/MemoryLocker.ts`]: renamed(`${TUS}/lockers/MemoryLocker.ts`, "acquireLock(", "tryAcquire(") });
    await Promise.all(
      bases.map(async (b, i) => {
        const u = await upload(b, "contended.txt", "", 20);
        const patch = holdLock(u.url);
        // the body never ends, so its 4 bytes count only once a HEAD waiting on the PATCH's lock had tus drain
        // it: that wait loops through setImmediate into the renamed method (a HEAD before the PATCH locks sees 0)
        const deadline = Date.now() + 10_000;
        let head: Reply;
        for (;;) {
          head = await request("HEAD", u.url).catch(failed);
          if (head.headers.get("upload-offset") === "4") break;
          assert.ok(Date.now() < deadline, `n${i + 1}: HEAD while a PATCH holds the lock: ${show(head)}`);
          await new Promise((r) => setTimeout(r, 25));
        }
        assert.equal(head.status, 200, show(head));
        await patch;
      }),
    );
    await assertKept();
  });

  test("the method renamed back (tryAcquire -> acquireLock) while a HEAD waits on a lock: the wait loop the old code made still gets the lock", async () => {
    const locker = `${TUS}/lockers/MemoryLocker.ts`;
    const waiting = await Promise.all(
      bases.map(async (b, i) => {
        const u = await upload(b, "waiting.txt", "", 20);
        const patch = holdLock(u.url);
        // the PATCH writes under the lock: once its 4 bytes are in the node's upload file, it holds it
        const file = path.join(project.dir, "uploads", NODES[i]!, u.url.split("/").pop()!);
        const deadline = Date.now() + 10_000;
        while (!(existsSync(file) && statSync(file).size === 4)) {
          assert.ok(Date.now() < deadline, `n${i + 1}: the PATCH wrote nothing to ${file}`);
          await new Promise((r) => setTimeout(r, 25));
        }
        // so this HEAD waits, in tus's setImmediate loop, until the drain ends the PATCH
        let answered = false;
        const head = request("HEAD", u.url)
          .catch(failed)
          .finally(() => (answered = true));
        return { head, patch, answered: () => answered };
      }),
    );
    // MemoryLock is not exported, so a waiting lock keeps the class it was made with and its loop finishes on
    // that code, as an Erlang process finishes on old code; what must hold is that the wait ends with the lock
    await saveReloaded({ [locker]: renamed(locker, "tryAcquire(", "acquireLock(") });
    // only a wait that outlived the commit tests the loop the old code made
    assert.deepEqual(
      waiting.map((w) => w.answered()),
      [false, false, false],
      `a HEAD answered before the save committed: the save took longer than the ${LOCK_DRAIN_MS} ms drain`,
    );
    for (const [i, w] of waiting.entries()) {
      const head = await w.head;
      assert.deepEqual([head.status, head.headers.get("upload-offset")], [200, "4"], `n${i + 1}: ${show(head)}`);
      await w.patch;
    }
    await assertKept();
  });

  test("a new class field with an initializer (GetHandler counts downloads) counts on the handler made before the save", async () => {
    const get = edited(
      `${TUS}/handlers/GetHandler.ts`,
      ["  paths: Map<string, RouteHandler> = new Map()\n", "  paths: Map<string, RouteHandler> = new Map()\n  downloads = 0\n"],
      [
        "      headers.set('Content-Length', stats.offset.toString())\n",
        "      headers.set('Content-Length', stats.offset.toString())\n      headers.set('Upload-Downloads', String(++this.downloads))\n",
      ],
    );
    await saveReloaded({ [`${TUS}/handlers/GetHandler.ts`]: get });
    const first = await untilEvery(
      (_, i) => request("GET", uploads[i]![0]!.url),
      (r) => r.status === 200 && /^[1-9]\d*$/.test(r.headers.get("upload-downloads") ?? ""),
      "a download count",
    );
    await untilEvery(
      (_, i) => request("GET", uploads[i]![0]!.url),
      (r, i) => Number(r.headers.get("upload-downloads")) > Number(first[i]!.headers.get("upload-downloads")),
      "the count going up",
    );
    await assertKept();
  });

  test("the request entry point that listen() bound when the node started gains a header: every node sends it", async () => {
    await saveReloaded({
      [`${TUS}/server.ts`]: edited(`${TUS}/server.ts`, [
        "    const request = new NodeRequest({req, res})\n",
        "    res.setHeader('Server', 'tus-node-server')\n    const request = new NodeRequest({req, res})\n",
      ]),
    });
    // http.createServer got this.handle.bind(this) from the code that ran at boot: the bound function must run the new body
    await untilEvery(
      (b) => request("OPTIONS", b + "/files"),
      (r) => r.status === 204 && r.headers.get("server") === "tus-node-server",
      "the Server header",
    );
    await assertKept();
  });

  test("a route registered in the Server constructor cannot reach the live server, and the save's report says so", async () => {
    const mark = logs.lines.length;
    await saveReloaded({
      [`${TUS}/server.ts`]: edited(`${TUS}/server.ts`, [
        "    // Any handlers assigned to this object",
        "    this.get(`${this.options.path}/health`, () => new Response('ok\\n'))\n\n    // Any handlers assigned to this object",
      ]),
    });
    const health = await Promise.all(bases.map((b) => request("GET", b + "/files/health")));
    if (!health.every((r) => r.status === 200 && r.body === "ok\n")) await loggedSince(mark, /Server\b.*constructor.*restart/);
    await assertKept();
  });

  test("the upload left half done before the first edit finishes after the edits, on every node", async () => {
    await untilEvery(
      (_, i) => request("PATCH", halfDone[i]!.url, { "upload-offset": "11", "content-type": "application/offset+octet-stream" }, "second half"),
      (r) => r.status === 204 && r.headers.get("upload-offset") === "22",
      "the rest written",
    );
    for (const u of halfDone) u.sent += "second half";
    await untilEvery(
      (_, i) => request("GET", halfDone[i]!.url),
      (r) => r.status === 200 && r.body === "first half|second half",
      "the whole upload",
    );
    await assertKept();
  });

  // last: were it to fail, every request's lock would throw, and each edit after it would fail for that alone
  test("a field made #private (MemoryLocker's timeout): the locker made before the save still hands out locks", async () => {
    const locker = edited(
      `${TUS}/lockers/MemoryLocker.ts`,
      ["  timeout: number\n", "  #timeout: number\n"],
      ["    this.timeout = options?.acquireLockTimeout ?? 1000 * 30\n", "    this.#timeout = options?.acquireLockTimeout ?? 1000 * 30\n"],
      ["    return new MemoryLock(id, this, this.timeout)\n", "    return new MemoryLock(id, this, this.#timeout)\n"],
    );
    await saveReloaded({ [`${TUS}/lockers/MemoryLocker.ts`]: locker });
    // every HEAD takes a lock from the server's one locker
    await untilEvery(
      (_, i) => request("HEAD", uploads[i]![0]!.url),
      (r) => r.status === 200,
      "HEAD through the locker",
    );
    await assertKept();
  });
});
