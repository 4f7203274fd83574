/** The supervision tab: every supervisor's tree, its pids links to the processes tab. */
import { html } from "htm/preact";
import type { Any } from "./api";
import type { Store } from "./stream";

export function Trees({ store, select }: { store: Store; select: (pid: string) => void }) {
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
