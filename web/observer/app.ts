/**
 * The observer page: Preact + htm for the views, uPlot for the charts, bundled
 * by esbuild at build time (no CDN; works offline). Data comes from the
 * server's event stream (one tick a second, supervision trees, reloads,
 * trace events) and from paged requests for processes. Every value from the
 * cluster is rendered as text, never as HTML.
 */
import { html, render } from "htm/preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import uPlot from "uplot";

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
/** this page's id on the event stream: it tells the server which tab it shows, so nodes do only the work that tab needs */
const client = Math.random().toString(36).slice(2);
let shownTab = "nodes";

async function api(path: string, body?: unknown, signal?: AbortSignal): Promise<Any> {
  const res = await fetch(path, {
    ...(signal ? { signal } : {}),
    method: body === undefined ? "GET" : "POST",
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const value = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw Object.assign(new Error(value.error ?? res.statusText), { status: res.status });
  return value;
}

const HISTORY = 300;
const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MB`;
const short = (v: string | undefined): string => (v && v.length > 8 ? v.slice(0, 8) : (v ?? ""));
const time = (t: number): string => new Date(t).toLocaleTimeString([], { hour12: false });
const dur = (s: number): string =>
  s < 60 ? `${Math.floor(s)} s` : s < 3600 ? `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s` : `${(s / 3600).toFixed(1)} h`;

interface Store {
  connected: boolean;
  tick: Any;
  history: Record<string, Any[]>;
  trees: Any[];
  timeline: Any[];
  traces: Any[];
  traceEvents: Any[];
}

function useStream(): [Store, (s: Store) => void] {
  const [store, setStore] = useState<Store>({ connected: false, tick: { nodes: [] }, history: {}, trees: [], timeline: [], traces: [], traceEvents: [] });
  const ref = useRef(store);
  const set = (s: Store): void => {
    ref.current = s;
    setStore(s);
  };
  useEffect(() => {
    const es = new EventSource(`/api/events?token=${encodeURIComponent(token)}&client=${client}&tab=${shownTab}`);
    const on = (name: string, f: (d: Any, s: Store) => Partial<Store>): void =>
      es.addEventListener(name, (e: MessageEvent) => {
        const d = JSON.parse(e.data);
        set({ ...ref.current, ...f(d, ref.current) });
      });
    on("init", (d) => ({
      connected: true,
      tick: d.tick,
      history: d.history,
      trees: d.trees,
      timeline: d.timeline,
      traces: d.traces,
      traceEvents: d.traces.flatMap((t: Any) => t.events),
    }));
    on("tick", (d, s) => {
      const history = { ...s.history };
      for (const n of d.nodes) {
        if (!n.up) continue;
        const h = (history[n.node] ?? []).concat([{ t: d.t, rss: n.rss, heapUsed: n.heapUsed, loopP99: n.loopDelayMs.p99, messagesPerSec: n.messagesPerSec }]);
        history[n.node] = h.length > HISTORY ? h.slice(h.length - HISTORY) : h;
      }
      return { tick: d, history, connected: true };
    });
    on("trees", (d) => ({ trees: d }));
    on("timeline", (d, s) => ({ timeline: s.timeline.concat([d]).slice(-200) }));
    on("trace", (d, s) => ({ traceEvents: s.traceEvents.concat([d]).slice(-1000) }));
    on("traceEnd", (d, s) => ({ traces: s.traces.filter((t: Any) => t.id !== d.id).concat([d]) }));
    es.onerror = () => set({ ...ref.current, connected: false });
    return () => es.close();
  }, []);
  return [store, set];
}

// ---- nodes -------------------------------------------------------------------

const COLORS = ["#3558d4", "#d9480f", "#2b8a3e", "#ae3ec9", "#0c8599", "#e67700", "#c2255c", "#5c940d"];

function Chart({ title, field, history, fmt }: { title: string; field: string; history: Record<string, Any[]>; fmt: (v: number) => string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const nodes = Object.keys(history).sort();
  const key = nodes.join(",");
  const data = useMemo(() => {
    const times = [...new Set(nodes.flatMap((n) => history[n]!.map((s) => Math.round(s.t / 1000))))].sort((a, b) => a - b);
    const series = nodes.map((n) => {
      const by = new Map(history[n]!.map((s) => [Math.round(s.t / 1000), s[field]]));
      return times.map((t) => by.get(t) ?? null);
    });
    return [times, ...series] as uPlot.AlignedData;
  }, [history, key]);
  useEffect(() => {
    if (!el.current) return;
    plot.current?.destroy();
    plot.current = new uPlot(
      {
        width: Math.max(300, el.current.clientWidth || 420),
        height: 160,
        legend: { show: true },
        series: [
          {},
          ...nodes.map((n, i) => ({
            label: n,
            stroke: COLORS[i % COLORS.length],
            width: 1.5,
            value: (_u: unknown, v: number | null) => (v == null ? "-" : fmt(v)),
          })),
        ],
        axes: [{}, { values: (_u: unknown, vs: number[]) => vs.map(fmt), size: 70 }],
      },
      data,
      el.current,
    );
    return () => plot.current?.destroy();
  }, [key]);
  useEffect(() => plot.current?.setData(data), [data]);
  return html`<div class="card">
    <h3>${title}</h3>
    <div ref=${el}></div>
  </div>`;
}

function Nodes({ store }: { store: Store }) {
  const nodes = store.tick.nodes as Any[];
  return html`<section>
    <table data-test="nodes">
      <thead>
        <tr>
          <th>node</th>
          <th>host</th>
          <th class="num">OS pid</th>
          <th>state</th>
          <th class="num">uptime</th>
          <th class="num">restarts</th>
          <th class="num">processes</th>
          <th class="num">RSS</th>
          <th class="num">heap</th>
          <th class="num">loop delay p99</th>
          <th class="num">messages/s</th>
        </tr>
      </thead>
      <tbody>
        ${nodes.map(
          (n) =>
            html`<tr data-node=${n.node}>
              <td><b>${n.node}</b></td>
              <td>${n.host}</td>
              <td class="num">${n.osPid ?? "-"}</td>
              <td class=${n.up ? "ok" : "bad"}>${n.up ? "up" : "down"}</td>
              <td class="num">${dur(n.uptime)}</td>
              <td class="num">${n.restarts}</td>
              <td class="num">${n.processes}</td>
              <td class="num">${mb(n.rss)}</td>
              <td class="num">${mb(n.heapUsed)} / ${mb(n.heapTotal)}</td>
              <td class="num">${n.loopDelayMs.p99.toFixed(2)} ms</td>
              <td class="num">${n.messagesPerSec.toLocaleString()}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <div class="charts">
      <${Chart} title="messages/s" field="messagesPerSec" history=${store.history} fmt=${(v: number) => Math.round(v).toLocaleString()} />
      <${Chart} title="event-loop delay p99 (ms)" field="loopP99" history=${store.history} fmt=${(v: number) => v.toFixed(1)} />
      <${Chart} title="RSS" field="rss" history=${store.history} fmt=${mb} />
      <${Chart} title="heap used" field="heapUsed" history=${store.history} fmt=${mb} />
    </div>
  </section>`;
}

// ---- supervision trees -------------------------------------------------------

function Trees({ store, select }: { store: Store; select: (pid: string) => void }) {
  const byPid = new Map(store.trees.map((t: Any) => [t.pid, t]));
  const roots = store.trees.filter((t: Any) => !t.parent || !byPid.has(t.parent));
  const node = (sup: Any, depth: number): Any =>
    html`<li>
      <span class="sup">supervisor</span> <a href="#" onClick=${(e: Event) => (e.preventDefault(), select(sup.pid))} class="mono">${sup.pid}</a>
      <span class="tag">${sup.strategy}</span>
      <ul>
        ${sup.children.map((c: Any) => {
          const sub = c.pid ? byPid.get(c.pid) : undefined;
          if (sub && depth < 20) return html`<li data-child=${c.id}><b>${c.id}</b> ${node(sub, depth + 1)}</li>`;
          return html`<li data-child=${c.id}>
            <b>${c.id}</b> <a href="#" class="mono" onClick=${(e: Event) => (e.preventDefault(), c.pid && select(c.pid))}>${c.pid ?? "(not running)"}</a>
            <span class="muted"> ${c.module}</span><span class="tag">${c.restart}</span>
          </li>`;
        })}
      </ul>
    </li>`;
  if (roots.length === 0) return html`<p class="muted">No supervisors run in the cluster.</p>`;
  return html`<div class="tree" data-test="trees">
    <ul>
      ${roots.map((r: Any) => node(r, 0))}
    </ul>
  </div>`;
}

// ---- processes ---------------------------------------------------------------

const COLUMNS: [string, string, boolean][] = [
  ["pid", "pid", false],
  ["name", "name", false],
  ["node", "node", false],
  ["module", "module", false],
  ["version", "version", false],
  ["status", "status", false],
  ["mailbox", "mailbox", true],
  ["handled", "handled", true],
  ["memory", "memory", true],
];
const PAGE = 50;

function Processes({ selected, select, active }: { selected: string; select: (pid: string) => void; active: boolean }) {
  const [sort, setSort] = useState("pid");
  const [desc, setDesc] = useState(false);
  const [filter, setFilter] = useState("");
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Any>({ total: 0, rows: [] });
  const [error, setError] = useState("");
  const load = (): void => {
    const q = new URLSearchParams({ sort, desc: desc ? "1" : "0", filter, offset: String(offset), limit: String(PAGE) });
    api(`/api/procs?${q}`).then(
      (p) => (setPage(p), setError("")),
      (e) => setError(e.message),
    );
  };
  useEffect(() => {
    if (!active) return;
    load();
    // Every 2 s while the page is seen: a hidden tab asks the nodes for nothing.
    const t = setInterval(() => document.hidden || load(), 2000);
    return () => clearInterval(t);
  }, [sort, desc, filter, offset, active]);
  const by = (key: string): void => {
    if (key === "node") return;
    if (key === sort) setDesc(!desc);
    else (setSort(key), setDesc(false));
  };
  return html`<div>
    <div class="toolbar">
      <input
        placeholder="filter: name, pid, module, status…"
        value=${filter}
        onInput=${(e: Any) => (setFilter(e.currentTarget.value), setOffset(0))}
        data-test="filter"
        size="36"
      />
      <span class="muted">${page.total.toLocaleString()} processes</span>
      <button class="btn" disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>‹ prev</button>
      <span class="muted">${page.total ? `${offset + 1}–${Math.min(offset + PAGE, page.total)}` : ""}</span>
      <button class="btn" disabled=${offset + PAGE >= page.total} onClick=${() => setOffset(offset + PAGE)}>next ›</button>
    </div>
    ${error && html`<div class="error">${error}</div>`}
    <table data-test="procs">
      <thead>
        <tr>
          ${COLUMNS.map(
            ([k, label, num]) =>
              html`<th class=${`${num ? "num " : ""}${k === "node" ? "" : "sortable"}`} onClick=${() => by(k)}>
                ${label}${sort === k ? (desc ? " ▼" : " ▲") : ""}
              </th>`,
          )}
        </tr>
      </thead>
      <tbody>
        ${page.rows.map(
          (r: Any) =>
            html`<tr class=${`click ${r.pid === selected ? "sel" : ""}`} onClick=${() => select(r.pid)} data-pid=${r.pid}>
              <td class="mono">${r.pid}</td>
              <td>${r.name}</td>
              <td>${r.node}</td>
              <td>${r.module}</td>
              <td class="mono">${short(r.version)}</td>
              <td>${r.status}</td>
              <td class="num">${r.mailbox}</td>
              <td class="num">${r.handled}</td>
              <td class="num">${r.memory}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

function Detail({ pid, select, trace }: { pid: string; select: (pid: string) => void; trace: (target: string) => void }) {
  const [d, setD] = useState<Any>(undefined);
  const [error, setError] = useState("");
  const [msg, setMsg] = useState('{"hello": 1}');
  const [kind, setKind] = useState("send");
  const [note, setNote] = useState("");
  const load = (): void => {
    api(`/api/proc?pid=${encodeURIComponent(pid)}`).then(
      (v) => (setD(v), setError("")),
      (e) => (setError(e.message), setD(undefined)),
    );
  };
  useEffect(() => {
    setNote("");
    load();
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, [pid]);
  const act = async (action: string, extra: Any = {}): Promise<void> => {
    try {
      const r = await api("/api/action", { pid, action, ...extra });
      setNote(`${action}: done`);
      if (action === "restart" && r.pid) select(r.pid);
      else load();
    } catch (e: Any) {
      setNote(`${action}: ${e.message}`);
    }
  };
  const send = (): void => {
    let value: unknown;
    try {
      value = JSON.parse(msg);
    } catch (e: Any) {
      setNote(`not JSON: ${e.message}`);
      return;
    }
    void act(kind, { msg: value });
  };
  const pids = (xs: string[]): Any =>
    xs.length
      ? xs.map((p) => html`<a href="#" class="mono" onClick=${(e: Event) => (e.preventDefault(), select(p))}>${p}</a> `)
      : html`<span class="muted">none</span>`;
  return html`<div class="card" data-test="detail">
    <h3 class="mono">${pid}${d?.names?.length ? ` (${d.names.join(", ")})` : ""}</h3>
    ${error && html`<div class="error">${error}</div>`}
    ${
      d &&
      html`<div>
        <div>${d.module} <span class="tag mono">${short(d.version)}</span> <span class="tag" data-test="status">${d.status}</span></div>
        <div class="muted">mailbox ${d.mailbox} · handled ${d.handled} · state ${d.memory} bytes${d.trapExit ? " · traps exits" : ""}</div>
        <div>links: ${pids(d.links)}</div>
        <div>monitors: ${pids(d.monitors)} · monitored by: ${pids(d.monitoredBy)}</div>
        <div>supervisor: ${d.supervisor ? pids([d.supervisor]) : html`<span class="muted">none</span>`}</div>
        <pre data-test="state">${d.state}</pre>
        ${d.truncated && html`<div class="muted">state truncated</div>`}
      </div>`
    }
    <div class="toolbar">
      <button class="btn" onClick=${() => act("kill")}>kill</button>
      <button class="btn" onClick=${() => act("restart")}>restart</button>
      ${
        d?.status === "suspended"
          ? html`<button class="btn" onClick=${() => act("resume")}>resume</button>`
          : html`<button class="btn" onClick=${() => act("suspend")}>suspend</button>`
      }
      <button class="btn" onClick=${() => trace(pid)}>trace</button>
    </div>
    <textarea rows="3" value=${msg} onInput=${(e: Any) => setMsg(e.currentTarget.value)} data-test="message"></textarea>
    <div class="toolbar">
      <select value=${kind} onChange=${(e: Any) => setKind(e.currentTarget.value)}>
        <option value="send">send (info)</option>
        <option value="cast">cast</option>
      </select>
      <button class="btn" onClick=${send}>send message</button>
      <span class="muted">${note}</span>
    </div>
  </div>`;
}

// ---- reloads -----------------------------------------------------------------

/** Beside a module no node runs: the reload checked it and evaluated nothing (docs/design.md §4.5). */
const KEPT = " (no node runs it: checked, nothing evaluated)";
/** "checked" when no node runs any module of the reload: never "ok" as if it ran. */
const reloadWord = (e: Any): string => (e.ok ? (e.kept?.length === e.modules.length ? "checked" : "ok") : `aborted${e.failedIn ? ` in ${e.failedIn}` : ""}`);

function Timeline({ store }: { store: Store }) {
  const entries = [...store.timeline].reverse();
  if (entries.length === 0) return html`<p class="muted">No reloads yet: save a file under the source folder.</p>`;
  return html`<div class="timeline" data-test="timeline">
    ${entries.map((e: Any) =>
      e.kind === "compile"
        ? html`<div class="entry bad">
            <b>${time(e.at)}</b> <span class="bad">compile error</span>
            <span class="muted"
              >${
                e.sent?.length
                  ? `held back until it compiles; the rest of the save was sent: ${e.sent.join(", ")}`
                  : "nothing was sent; nodes keep the last good version"
              }</span
            >
            ${e.errors.map(
              (x: Any) =>
                html`<div class="mono">${x.file}:${x.line}:${x.column}: ${x.text}</div>
                  ${x.lineText && html`<pre>${x.lineText}</pre>`}`,
            )}
          </div>`
        : html`<div class=${`entry ${e.ok ? "" : "bad"}`} data-test="reload">
            <b>${time(e.at)}</b> <span class=${e.ok ? "ok" : "bad"}>${reloadWord(e)}</span>
            ${e.rolledBack && html`<span class="muted"> every node is back on the previous versions</span>`}
            <span class="muted"> ${e.ms.toFixed(1)} ms</span>
            <div>${e.modules.map((m: Any) => html`<span class="mono">${m.name}@${short(m.version)}${e.kept?.includes(m.name) ? KEPT : ""} </span>`)}</div>
            <div class="muted">
              ${e.nodes.map((n: Any) => html`<span class=${n.ok ? "" : "bad"}>${n.node} ${n.ok ? `${n.ms.toFixed(1)} ms` : `error: ${n.error ?? "?"}`} · </span>`)}
              ${e.skipped?.length ? `skipped: ${e.skipped.join(", ")}` : ""}
            </div>
            ${(e.codeChangeFailures ?? []).map(
              (f: Any) => html`<div class="bad">${f.node} ${f.pid}: codeChange failed, stays on the old version: ${f.error}</div>`,
            )}
            ${(e.stale ?? []).map((line: string) => html`<div class="bad" data-test="stale">${line}</div>`)}
          </div>`,
    )}
  </div>`;
}

/** Each module's versions since `up`, and a line diff of two of them (the TypeScript source when the bundles keep it). */
function Versions({ store }: { store: Store }) {
  const [report, setReport] = useState<Any>({ modules: [] });
  const [module, setModule] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [diff, setDiff] = useState<Any>(undefined);
  const [error, setError] = useState("");
  // Reloaded again whenever the timeline grows: a save is a new version.
  useEffect(() => {
    api("/api/history").then(setReport, (e) => setError(e.message));
  }, [store.timeline.length]);
  const mod = report.modules.find((m: Any) => m.module === module);
  useEffect(() => {
    const vs = mod?.versions ?? [];
    // Default: the last change (the version before the current one, and the current one).
    if (vs.length >= 2 && (!from || !to)) (setFrom(vs[vs.length - 2].version), setTo(vs[vs.length - 1].version));
  }, [module, report]);
  useEffect(() => {
    setDiff(undefined);
    if (!module || !from || !to) return;
    const q = new URLSearchParams({ module, from, to });
    api(`/api/diff?${q}`).then(
      (d) => (setDiff(d), setError("")),
      (e) => setError(e.message),
    );
  }, [module, from, to]);
  const pick = (m: string): void => (setModule(m), setFrom(""), setTo(""));
  return html`<div class="card" data-test="versions">
    <h3>versions since up</h3>
    <div class="toolbar">
      <select value=${module} onChange=${(e: Any) => pick(e.currentTarget.value)} data-test="version-module">
        <option value="">module…</option>
        ${report.modules.map((m: Any) => html`<option value=${m.module}>${m.module} (${m.versions.length})</option>`)}
      </select>
      ${
        mod &&
        html`<select value=${from} onChange=${(e: Any) => setFrom(e.currentTarget.value)} data-test="version-from">
            ${mod.versions.map((v: Any) => html`<option value=${v.version}>${short(v.version)} ${v.source} ${time(Date.parse(v.at))}</option>`)}
          </select>
          →
          <select value=${to} onChange=${(e: Any) => setTo(e.currentTarget.value)} data-test="version-to">
            ${mod.versions.map((v: Any) => html`<option value=${v.version}>${short(v.version)} ${v.source} ${time(Date.parse(v.at))}</option>`)}
          </select>`
      }
    </div>
    ${
      mod &&
      html`<table data-test="version-list">
        <tbody>
          ${[...mod.versions].reverse().map(
            (v: Any) =>
              html`<tr>
                <td class="mono">${v.current ? "* " : ""}${short(v.version)}</td>
                <td>${time(Date.parse(v.at))}</td>
                <td>${v.source}${v.by ? ` (${v.by})` : ""}</td>
                <td class="num">${v.size} B</td>
                <td class="muted">${v.nodes.join(", ")}</td>
              </tr>`,
          )}
        </tbody>
      </table>`
    }
    ${error && html`<div class="error">${error}</div>`}
    ${
      diff &&
      html`<div data-test="diff">
        <div class="muted">
          ${diff.of === "typescript" ? `TypeScript source of ${diff.file} (from the source map)` : `compiled JavaScript (${diff.file}): the bundles keep no source`}${" · "}
          <span class="ok">+${diff.added}</span> <span class="bad">-${diff.removed}</span>
        </div>
        <pre class="diff">
${diff.lines.map(
            (l: Any) =>
              html`<div class=${l.op === "+" ? "add" : l.op === "-" ? "del" : l.op === "…" ? "skip" : ""}>
                ${l.op === "…" ? `… ${l.text}` : `${l.op} ${l.text}`}
              </div>`,
          )}</pre>
      </div>`
    }
  </div>`;
}

function Reloads({ store }: { store: Store }) {
  return html`<div class="split">
    <${Timeline} store=${store} />
    <${Versions} store=${store} />
  </div>`;
}

// ---- logs --------------------------------------------------------------------

const LEVEL_NAMES: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };
const KEEP_LINES = 2000;

/** Each node's recent lines, filtered by node, level and pid on the server, following live while the tab is open. */
function Logs() {
  const [node, setNode] = useState("");
  const [level, setLevel] = useState("");
  const [pid, setPid] = useState("");
  const [names, setNames] = useState<string[]>([]);
  const [lines, setLines] = useState<Any[]>([]);
  const [error, setError] = useState("");
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let stop = false;
    // Leaving the tab or changing a filter ends the waiting request, on the server too.
    const ac = new AbortController();
    const q = (extra: Record<string, string>): string => new URLSearchParams({ node, level, pid: pid.trim(), ...extra }).toString();
    (async () => {
      try {
        const first = await api(`/api/logs?${q({ lines: "500" })}`);
        if (stop) return;
        setNames(first.names);
        let kept: Any[] = first.lines;
        setLines(kept);
        setError("");
        let next = first.next;
        // One request at a time, each waiting on the server for a line: live, with nothing polled.
        while (!stop) {
          const more = await api(`/api/logs?${q({ after: String(next) })}`, undefined, ac.signal);
          if (stop || more.closed) return;
          next = more.next;
          if (more.lines.length) {
            kept = kept.concat(more.lines).slice(-KEEP_LINES);
            setLines(kept);
          }
        }
      } catch (e: Any) {
        if (!stop) setError(e.message);
      }
    })();
    return () => {
      stop = true;
      ac.abort();
    };
  }, [node, level, pid]);
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);
  const extra = (r: Any): string => {
    const rest = Object.entries(r).filter(([k]) => !["level", "time", "node", "msg", "pid", "hostname", "stream", "v"].includes(k));
    return rest.length ? " " + rest.map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ") : "";
  };
  return html`<div>
    <div class="toolbar">
      <select value=${node} onChange=${(e: Any) => setNode(e.currentTarget.value)} data-test="log-node">
        <option value="">all nodes</option>
        ${names.map((n) => html`<option value=${n}>${n}</option>`)}
      </select>
      <select value=${level} onChange=${(e: Any) => setLevel(e.currentTarget.value)} data-test="log-level">
        <option value="">any level</option>
        ${["debug", "info", "warn", "error"].map((l) => html`<option value=${l}>${l} and above</option>`)}
      </select>
      <input placeholder="pid, e.g. <n1.5>" value=${pid} onChange=${(e: Any) => setPid(e.currentTarget.value)} data-test="log-pid" size="14" />
      <label><input type="checkbox" checked=${follow} onChange=${(e: Any) => setFollow(e.currentTarget.checked)} /> follow</label>
      <span class="muted">${lines.length.toLocaleString()} lines</span>
    </div>
    ${error && html`<div class="error">${error}</div>`}
    <div class="logs" ref=${box} data-test="logs">
      ${lines.map(
        (r: Any) =>
          html`<div class=${`line l${r.level}`} data-node=${r.node} data-level=${LEVEL_NAMES[r.level] ?? r.level}>
            <span class="muted">${new Date(r.time).toISOString().slice(11, 23)}</span> <b class="node">${r.node}</b>
            <span class="lvl">${LEVEL_NAMES[r.level] ?? r.level}</span> ${r.msg}<span class="muted">${extra(r)}</span>
          </div>`,
      )}
    </div>
  </div>`;
}

// ---- traces ------------------------------------------------------------------

function Traces({ store, preset }: { store: Store; preset: string }) {
  const [target, setTarget] = useState(preset);
  const [fn, setFn] = useState("");
  const [count, setCount] = useState("100");
  const [note, setNote] = useState("");
  const targetInput = useRef<HTMLInputElement>(null);
  useEffect(() => setTarget(preset), [preset]);
  const start = async (): Promise<void> => {
    // What the field holds now: a click right after typing can come before the re-render that gives `start` the new state.
    const what = targetInput.current?.value ?? target;
    try {
      const body = fn ? { module: what, fn, count: Number(count) } : { target: what, count: Number(count) };
      const s = await api("/api/trace", body);
      setNote(`tracing ${s.what}`);
    } catch (e: Any) {
      setNote(e.message);
    }
  };
  const stop = async (): Promise<void> => {
    await api("/api/untrace", {}).catch(() => undefined);
    setNote("stopped");
  };
  const events = [...store.traceEvents].reverse().slice(0, 500);
  return html`<div>
    <div class="toolbar">
      <input
        placeholder="pid, registered name, or module"
        value=${target}
        onInput=${(e: Any) => setTarget(e.currentTarget.value)}
        data-test="trace-target"
        ref=${targetInput}
        size="28"
      />
      <input placeholder="function (for calls)" value=${fn} onInput=${(e: Any) => setFn(e.currentTarget.value)} size="18" />
      <input value=${count} onInput=${(e: Any) => setCount(e.currentTarget.value)} size="5" title="stop after this many events" />
      <button class="btn" onClick=${start} data-test="trace-start">start trace</button>
      <button class="btn" onClick=${stop}>stop all</button>
      <span class="muted">${note}</span>
    </div>
    <table data-test="trace-events">
      <thead>
        <tr>
          <th>time</th>
          <th>node</th>
          <th>event</th>
        </tr>
      </thead>
      <tbody>
        ${events.map(
          (e: Any) =>
            html`<tr>
              <td class="mono">${new Date(e.at).toISOString().slice(11, 23)}</td>
              <td>${e.node}</td>
              <td class="mono">
                ${
                  e.type === "message"
                    ? `${e.from ?? "(shell)"} → ${e.to} ${e.kind}: ${e.msg}`
                    : `${e.module}.${e.fn}(${e.args}) ${e.error !== undefined ? `threw ${e.error}` : `→ ${e.result}`} (${e.ms} ms)`
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

// ---- the page ----------------------------------------------------------------

const TABS = ["nodes", "supervision", "processes", "reloads", "logs", "traces"] as const;

function App() {
  const [refused, setRefused] = useState(token ? "" : "This address has no token.");
  const [store] = useStream();
  const [tab, setTabState] = useState<string>("nodes");
  const setTab = (t: string): void => {
    shownTab = t;
    setTabState(t);
    api("/api/view", { client, tab: t }).catch(() => undefined);
  };
  const [selected, setSelected] = useState("");
  const [preset, setPreset] = useState("");
  useEffect(() => {
    if (token) api("/api/procs?limit=0").catch((e) => e.status === 401 && setRefused("The token was refused."));
  }, []);
  if (refused)
    return html`<div class="refused" data-test="refused">
      <h2>Not authorized</h2>
      <p>${refused} Open the address <code>devcluster up</code> printed, or run <code>devcluster observe</code> to print it again.</p>
    </div>`;
  const select = (pid: string): void => (setSelected(pid), setTab("processes"));
  const trace = (pid: string): void => (setPreset(pid), setTab("traces"));
  return html`<div>
    <header>
      <h1>devcluster observer</h1>
      <span>${store.tick.nodes.length} nodes · ${store.tick.nodes.reduce((n: number, x: Any) => n + x.processes, 0).toLocaleString()} processes</span>
      <span class="conn">${store.connected ? `live · ${time(store.tick.t ?? Date.now())}` : "connecting…"}</span>
    </header>
    <nav>${TABS.map((t) => html`<button class=${tab === t ? "on" : ""} onClick=${() => setTab(t)} data-tab=${t}>${t}</button>`)}</nav>
    <main>
      ${tab === "nodes" && html`<${Nodes} store=${store} />`} ${tab === "supervision" && html`<${Trees} store=${store} select=${select} />`}
      ${
        tab === "processes" &&
        html`<div class="split">
          <${Processes} selected=${selected} select=${setSelected} active=${true} />
          ${selected ? html`<${Detail} pid=${selected} select=${setSelected} trace=${trace} />` : html`<p class="muted">Select a process to see its state.</p>`}
        </div>`
      }
      ${tab === "reloads" && html`<${Reloads} store=${store} />`} ${tab === "logs" && html`<${Logs} />`}
      ${tab === "traces" && html`<${Traces} store=${store} preset=${preset} />`}
    </main>
  </div>`;
}

// The placeholder goes first: render appends to what the container holds.
const root = document.getElementById("app")!;
root.textContent = "";
render(html`<${App} />`, root);
