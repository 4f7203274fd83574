/** The server's event stream as one store: ticks (with each node's recent history), trees, reloads, traces. */
import { useEffect, useRef, useState } from "preact/hooks";
import { client, shownTab, token, type Any } from "./api";

const HISTORY = 300;

export interface Store {
  connected: boolean;
  tick: Any;
  history: Record<string, Any[]>;
  trees: Any[];
  timeline: Any[];
  traces: Any[];
  traceEvents: Any[];
}

export function useStream(): [Store, (s: Store) => void] {
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
