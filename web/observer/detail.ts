/** One process beside the list: its state, links and monitors, and the actions on it. */
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, type Any } from "./api";
import { bytes, short } from "./format";

export function Detail({ pid, select, trace }: { pid: string; select: (pid: string) => void; trace: (target: string) => void }) {
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
        <div class="muted">mailbox ${d.mailbox} · handled ${d.handled} · state ${bytes(d.memory)}${d.trapExit ? " · traps exits" : ""}</div>
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
