/**
 * The observer page: Preact + htm for the views, uPlot for the charts, bundled
 * by esbuild at build time (no CDN; works offline). Data comes from the
 * server's event stream (one tick a second, supervision trees, reloads,
 * trace events) and from paged requests for processes. Every value from the
 * cluster is rendered as text, never as HTML.
 */
import { html, render } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, client, showTab, token, type Any } from "./api";
import { Detail } from "./detail";
import { time } from "./format";
import { Logs } from "./logs";
import { Nodes } from "./nodes";
import { Processes } from "./processes";
import { Reloads } from "./reloads";
import { useStream } from "./stream";
import { Traces } from "./traces";
import { Trees } from "./trees";

const TABS = ["nodes", "supervision", "processes", "reloads", "logs", "traces"] as const;

function App() {
  const [refused, setRefused] = useState(token ? "" : "This address has no token.");
  const [store] = useStream();
  const [tab, setTabState] = useState<string>("nodes");
  const setTab = (t: string): void => {
    showTab(t);
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
