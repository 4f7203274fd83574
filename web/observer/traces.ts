/** The traces tab: starts and stops traces, and shows their events. */
import { html } from "htm/preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Any } from "./api";
import type { Store } from "./stream";

export function Traces({ store, preset }: { store: Store; preset: string }) {
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
