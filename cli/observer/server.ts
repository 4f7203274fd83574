/**
 * The observer page's HTTP server, in `up`'s process. The page itself (HTML,
 * script, styles) holds no data and is served to anyone who can reach the
 * port; every request for data or action needs the secret token, which the
 * printed address carries after `#` (so it never reaches logs or a Referer)
 * and the page sends back as a header, or as `?token=` for the event stream,
 * which cannot set headers. Binds to loopback unless the config names
 * another host, and on loopback refuses a Host header other than a loopback
 * one (a DNS-rebinding page cannot borrow the browser's access).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { ClusterError, isClusterError } from "../../wire/errors";
import { parsePid, type Pid } from "../../wire/pid";
import type { ProcSortKey } from "../../wire/observer";
import type { Coordinator } from "../dev/coordinator";
import type { LogAnswer, LogQuery, LogRecord } from "../dev/logs";
import { versionDiff } from "./diff";
import { isLoopbackHost } from "../project/config";
import { Observer } from "./observer";

/** where `npm run build` puts the bundled page (scripts: build:page) */
export const PAGE_DIR = path.join(__dirname, "..", "..", "observer");

const SORT_KEYS: ProcSortKey[] = ["pid", "name", "module", "version", "status", "mailbox", "handled", "memory"];
const MAX_PAGE = 500;
const STATE_LIMIT = 20_000;
const BODY_LIMIT = 256 * 1024;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

export interface ObserverServerOptions {
  coordinator: Coordinator;
  host: string;
  port: number;
  /** tests pass one to know it in advance; otherwise 32 random bytes */
  token?: string;
  /** the nodes' recent log lines (up's LogStore), for the logs tab */
  logs?: { query(q: LogQuery): Promise<LogAnswer> };
  /** the project's folder: the version diff names files relative to it */
  projectDir?: string;
}

/** The tabs of the page (web/observer/app.ts); a page says which one it shows. */
const TABS = ["nodes", "supervision", "processes", "reloads", "logs", "traces"];
/** lines the logs tab gets at most in one answer */
const LOG_PAGE = 2000;
/** how long a follower's request for later lines waits for one */
const LOG_WAIT_MS = 20_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class ObserverServer {
  readonly observer: Observer;
  readonly token: string;
  private readonly server: Server;
  /** open event streams, with the tab each page says it shows */
  private readonly streams = new Map<ServerResponse, { client: string; tab: string }>();
  private readonly files = new Map<string, Buffer>();
  private keepAlive?: NodeJS.Timeout;
  url = "";

  private constructor(private readonly opts: ObserverServerOptions) {
    this.token = opts.token ?? randomBytes(32).toString("base64url");
    this.observer = new Observer(opts.coordinator);
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  static async start(opts: ObserverServerOptions): Promise<ObserverServer> {
    const s = new ObserverServer(opts);
    await new Promise<void>((resolve, reject) => {
      s.server.once("error", (err) =>
        reject(
          new ClusterError(
            "bad_port",
            `the observer page cannot listen on ${opts.host}:${opts.port} ("observer" in cluster.config.json): ${err.message}. Pick another port, or 0 for any free one.`,
            { cause: err },
          ),
        ),
      );
      s.server.listen(opts.port, opts.host, () => resolve());
    });
    const port = (s.server.address() as AddressInfo).port;
    const shown = opts.host === "0.0.0.0" || opts.host === "::" ? "127.0.0.1" : opts.host.includes(":") ? `[${opts.host}]` : opts.host;
    s.url = `http://${shown}:${port}/#token=${s.token}`;
    s.observer.wantTrees = false;
    s.observer.start();
    s.wire();
    return s;
  }

  private wire(): void {
    const { observer } = this;
    const traces = this.opts.coordinator.traces;
    observer.on("tick", (tick) => this.broadcast("tick", tick));
    observer.on("trees", (trees) => this.broadcast("trees", trees));
    observer.on("timeline", (entry) => this.broadcast("timeline", entry));
    traces.on("event", (e) => this.broadcast("trace", e));
    traces.on("end", (s) => this.broadcast("traceEnd", { ...s, events: [] }));
    this.keepAlive = setInterval(() => {
      for (const res of this.streams.keys()) res.write(": keep-alive\n\n");
    }, 15_000);
    this.keepAlive.unref();
  }

  private broadcast(event: string, data: unknown): void {
    if (this.streams.size === 0) return;
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of this.streams.keys()) res.write(frame);
  }

  /** Samples the trees only while some page shows them; asks for them at once when a page turns to them. */
  private views(): void {
    const want = [...this.streams.values()].some((v) => v.tab === "supervision");
    const was = this.observer.wantTrees;
    this.observer.wantTrees = want;
    if (want && !was) this.observer.refresh();
  }

  private file(name: string): Buffer | undefined {
    let buf = this.files.get(name);
    if (!buf) {
      try {
        buf = readFileSync(path.join(PAGE_DIR, name));
      } catch {
        return undefined;
      }
      this.files.set(name, buf);
    }
    return buf;
  }

  private authorized(req: IncomingMessage, url: URL): boolean {
    const header = req.headers.authorization;
    const given = header?.startsWith("Bearer ") ? header.slice(7) : (url.searchParams.get("token") ?? "");
    const a = Buffer.from(given);
    const b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private hostAllowed(req: IncomingMessage): boolean {
    if (!isLoopbackHost(this.opts.host)) return true;
    const host = req.headers.host ?? "";
    const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0]!;
    return isLoopbackHost(name);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://observer");
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    try {
      if (!this.hostAllowed(req)) throw new HttpError(403, "this page answers on its loopback address only");
      if (!url.pathname.startsWith("/api/")) return this.serveFile(url.pathname, res);
      if (!this.authorized(req, url))
        throw new HttpError(401, "missing or wrong token: open the address `devcluster up` printed (devcluster observe prints it again)");
      const value = await this.api(req, url, res);
      if (value === undefined) return; // a stream
      res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-store" });
      res.end(JSON.stringify(value));
    } catch (err) {
      const status = err instanceof HttpError ? err.status : isClusterError(err, "noproc") ? 404 : isClusterError(err) ? 400 : 500;
      if (res.headersSent) return void res.end();
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: (err as Error).message, ...(isClusterError(err) ? { code: err.code } : {}) }));
    }
  }

  private serveFile(pathname: string, res: ServerResponse): void {
    const name = pathname === "/" ? "index.html" : pathname.slice(1);
    const buf = /^[\w.-]+$/.test(name) ? this.file(name) : undefined;
    if (!buf) throw new HttpError(404, `no ${pathname}`);
    res.writeHead(200, {
      "Content-Type": TYPES[path.extname(name)] ?? "application/octet-stream",
      "Cache-Control": "no-cache",
      "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    });
    res.end(buf);
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > BODY_LIMIT) throw new HttpError(413, "request body too large");
      chunks.push(c as Buffer);
    }
    try {
      const v = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as unknown;
      if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
      return v as Record<string, unknown>;
    } catch (err) {
      throw new HttpError(400, `the body is not a JSON object: ${(err as Error).message}`);
    }
  }

  private pid(text: unknown): Pid {
    const pid = typeof text === "string" ? parsePid(text) : undefined;
    if (!pid) throw new HttpError(400, `not a pid: ${JSON.stringify(text)} (expected <n1.42>)`);
    return pid;
  }

  private async api(req: IncomingMessage, url: URL, res: ServerResponse): Promise<unknown> {
    const c = this.opts.coordinator;
    const route = `${req.method} ${url.pathname}`;
    const q = url.searchParams;
    switch (route) {
      case "GET /api/events": {
        res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store", Connection: "keep-alive" });
        res.write(`event: init\ndata: ${JSON.stringify({ ...this.observer.initial(), traces: c.traces.list() })}\n\n`);
        const tab = q.get("tab") ?? "nodes";
        this.streams.set(res, { client: (q.get("client") ?? "").slice(0, 64), tab: TABS.includes(tab) ? tab : "nodes" });
        this.views();
        req.on("close", () => (this.streams.delete(res), this.views()));
        return undefined;
      }
      case "POST /api/view": {
        const b = await this.body(req);
        if (typeof b.tab !== "string" || !TABS.includes(b.tab)) throw new HttpError(400, `tab is one of ${TABS.join(", ")}`);
        for (const v of this.streams.values()) if (v.client !== "" && v.client === b.client) v.tab = b.tab;
        this.views();
        return { ok: true };
      }
      case "GET /api/logs":
        return this.logs(q, () => req.destroyed || res.destroyed);
      case "GET /api/history":
        return c.historyReport();
      case "GET /api/diff": {
        const module = q.get("module") ?? "";
        const from = c.history.find(module, q.get("from") ?? "");
        const to = c.history.find(module, q.get("to") ?? "");
        return versionDiff(from, to, this.opts.projectDir ?? process.cwd());
      }
      case "GET /api/procs": {
        const sort = (q.get("sort") ?? "pid") as ProcSortKey;
        if (!SORT_KEYS.includes(sort)) throw new HttpError(400, `sort is one of ${SORT_KEYS.join(", ")}`);
        const num = (k: string, d: number): number => {
          const v = Number(q.get(k) ?? d);
          return Number.isFinite(v) && v >= 0 ? Math.floor(v) : d;
        };
        return this.observer.procs({
          sort,
          desc: q.get("desc") === "1",
          filter: (q.get("filter") ?? "").slice(0, 200),
          offset: num("offset", 0),
          limit: Math.min(MAX_PAGE, num("limit", 100)),
        });
      }
      case "GET /api/proc": {
        const pid = this.pid(q.get("pid"));
        return c.nodeRequest(pid.node, { op: "observer", req: { op: "detail", pid, stateLimit: STATE_LIMIT } }, 5000);
      }
      case "POST /api/action": {
        const b = await this.body(req);
        const pid = this.pid(b.pid);
        switch (b.action) {
          case "kill":
            return c.nodeRequest(pid.node, { op: "kill", pid, reason: "kill" });
          case "restart":
            return { pid: String(await c.nodeRequest(pid.node, { op: "restart", pid })) };
          case "suspend":
          case "resume":
            return c.nodeRequest(pid.node, { op: "observer", req: { op: b.action, pid } });
          case "send":
          case "cast":
            if (!("msg" in b)) throw new HttpError(400, "send: give the message as `msg` (JSON)");
            return c.nodeRequest(pid.node, { op: b.action, pid, msg: b.msg });
          default:
            throw new HttpError(400, `action is kill, restart, suspend, resume, send or cast (got ${JSON.stringify(b.action)})`);
        }
      }
      case "POST /api/trace": {
        const b = await this.body(req);
        const str = (k: string): string | undefined => (typeof b[k] === "string" && b[k] !== "" ? (b[k] as string) : undefined);
        const num = (k: string): number | undefined => (typeof b[k] === "number" ? (b[k] as number) : undefined);
        const module = str("module");
        const target = module !== undefined ? { module, fn: str("fn") ?? "" } : { name: str("target") ?? "" };
        return c.traces.request({ op: "start", target, limits: { ...(num("count") ? { count: num("count") } : {}), ...(num("ms") ? { ms: num("ms") } : {}) } });
      }
      case "POST /api/untrace": {
        const b = await this.body(req);
        return c.traces.request({ op: "stop", ...(typeof b.id === "number" ? { id: b.id } : {}) });
      }
      default:
        throw new HttpError(404, `no ${route}`);
    }
  }

  /**
   * The logs tab: the last lines (node, level at least, pid), or with `after`
   * the lines after it, waiting for one (the page follows live with one
   * request at a time, and only while its logs tab is open). A pid matches a
   * line that names it anywhere: a runtime line's `proc`, its text, an error.
   */
  private async logs(q: URLSearchParams, gone: () => boolean): Promise<{ lines: LogRecord[]; next: number; names: string[]; closed?: boolean }> {
    const store = this.opts.logs;
    if (!store) throw new HttpError(404, "this cluster keeps no logs");
    const node = q.get("node") || undefined;
    const level = q.get("level") || undefined;
    const pid = (q.get("pid") ?? "").trim().slice(0, 64);
    const afterText = q.get("after");
    const after = afterText !== null && afterText !== "" ? Number(afterText) : undefined;
    if (after !== undefined && !Number.isFinite(after)) throw new HttpError(400, "after is the `next` of an earlier answer");
    const lines = Math.min(LOG_PAGE, Math.max(1, Number(q.get("lines") ?? 500) || 500));
    const matches = (r: LogRecord): boolean => !pid || r.proc === pid || JSON.stringify(r).includes(pid);
    const base: LogQuery = { ...(node ? { node } : {}), ...(level ? { level } : {}) };
    if (after === undefined) {
      // Every kept line, filtered here (the store filters node and level, not pid), then the last `lines`.
      const a = await store.query({ ...base, lines: 1_000_000 });
      return { ...a, lines: a.lines.filter(matches).slice(-lines) };
    }
    let from = after;
    const deadline = Date.now() + LOG_WAIT_MS;
    for (;;) {
      const a = await store.query({ ...base, after: from, waitMs: Math.max(1, deadline - Date.now()) });
      const got = a.lines.filter(matches);
      if (got.length > 0 || a.closed || Date.now() >= deadline || this.closing || gone()) return { ...a, lines: got.slice(-LOG_PAGE) };
      from = a.next;
    }
  }

  private closing = false;

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.keepAlive);
    this.observer.close();
    for (const res of this.streams.keys()) res.end();
    this.streams.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
