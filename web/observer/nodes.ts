/** The nodes tab: one row per node, and charts of their recent samples. */
import { html } from "htm/preact";
import { useEffect, useMemo, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { Any } from "./api";
import { dur, mb } from "./format";
import type { Store } from "./stream";

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

export function Nodes({ store }: { store: Store }) {
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
