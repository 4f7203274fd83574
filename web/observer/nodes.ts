/** The nodes tab: one row per node, and charts of their recent samples. */
import { html } from "htm/preact";
import { useEffect, useMemo, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { Any } from "./api";
import { bytes, dur } from "./format";
import type { Store } from "./stream";

const COLORS = ["#3558d4", "#d9480f", "#2b8a3e", "#ae3ec9", "#0c8599", "#e67700", "#c2255c", "#5c940d"];

/** Steps between gridlines for a count: whole numbers only, so an axis never labels 0, 0.5, 1 as `0, 1, 1`. */
const WHOLE = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7].map((p) => m * p)).sort((a, b) => a - b);
/** Steps for sizes: round figures in the unit the label is written in (0.5MB, 2.0MB), not every 2,000,000 bytes. */
const SIZES = [1, 1024, 1024 ** 2, 1024 ** 3].flatMap((u) => [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500].map((m) => m * u)).filter((x) => x >= 1);

interface ChartProps {
  title: string;
  field: string;
  history: Record<string, Any[]>;
  fmt: (v: number) => string;
  /** the axis' allowed steps between gridlines; uPlot's own (decimals included) when absent */
  steps?: number[];
}

function Chart({ title, field, history, fmt, steps }: ChartProps) {
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
        axes: [
          {},
          {
            ...(steps ? { incrs: steps } : {}),
            size: 70,
            values: (_u: unknown, vs: number[]) => {
              const labels = vs.map(fmt);
              // What the axis says, for a reader that cannot see the canvas (a test, a screen reader's inspector).
              el.current?.setAttribute("data-y-labels", labels.join("|"));
              return labels;
            },
          },
        ],
      },
      data,
      el.current,
    );
    return () => plot.current?.destroy();
  }, [key]);
  useEffect(() => plot.current?.setData(data), [data]);
  return html`<div class="card" data-chart=${field}>
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
              <td class="num">${bytes(n.rss)}</td>
              <td class="num">${bytes(n.heapUsed)} / ${bytes(n.heapTotal)}</td>
              <td class="num">${n.loopDelayMs.p99.toFixed(2)} ms</td>
              <td class="num">${n.messagesPerSec.toLocaleString()}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <div class="charts">
      <${Chart} title="messages/s" field="messagesPerSec" history=${store.history} fmt=${(v: number) => v.toLocaleString()} steps=${WHOLE} />
      <${Chart} title="event-loop delay p99 (ms)" field="loopP99" history=${store.history} fmt=${(v: number) => v.toFixed(1)} />
      <${Chart} title="RSS" field="rss" history=${store.history} fmt=${bytes} steps=${SIZES} />
      <${Chart} title="heap used" field="heapUsed" history=${store.history} fmt=${bytes} steps=${SIZES} />
    </div>
  </section>`;
}
