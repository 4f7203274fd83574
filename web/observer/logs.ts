/** The logs tab. */
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Any } from "./api";

const LEVEL_NAMES: Record<number, string> = { 10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal" };
const KEEP_LINES = 2000;

/** Each node's recent lines, filtered by node, level and pid on the server, following live while the tab is open. */
export function Logs() {
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
