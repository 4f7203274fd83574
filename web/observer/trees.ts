/**
 * The supervision tab: each node's supervision trees, as the shell's tree()
 * draws them. One line per process: a child's id, then what it is (a worker,
 * or a supervisor with its strategy), its pid and its registered names, so a
 * nested supervisor reads as the child it is, not as a sibling of its id.
 * Pids link to the processes tab.
 */
import { html } from "htm/preact";
import type { Any } from "./api";
import type { Store } from "./stream";

/** `<n1.5>` -> `n1`: a supervisor's children live on its node, so a tree belongs to one node. */
const nodeOf = (pid: string): string => pid.slice(1, pid.lastIndexOf("."));

export function Trees({ store, select }: { store: Store; select: (pid: string) => void }) {
  const byPid = new Map(store.trees.map((t: Any) => [t.pid, t]));
  const roots = store.trees.filter((t: Any) => !t.parent || !byPid.has(t.parent));
  const link = (pid: string | undefined): Any =>
    pid ? html`<a href="#" class="mono" onClick=${(e: Event) => (e.preventDefault(), select(pid))}>${pid}</a>` : html`<span class="muted">(not running)</span>`;
  const names = (ns: string[] | undefined): Any =>
    ns?.length ? html` <span class="muted">registered as</span> <b class="mono" data-test="names">${ns.join(", ")}</b>` : "";
  const supervisor = (sup: Any, id: string | undefined, depth: number): Any =>
    html`<li data-child=${id} data-pid=${sup.pid}>
      <div class="row">
        ${id && html`<b>${id}</b> `}<span class="sup">supervisor</span> ${link(sup.pid)} <span class="tag">${sup.strategy}</span>${names(sup.names)}
      </div>
      <ul>
        ${sup.children.map((c: Any) => {
          const sub = c.pid ? byPid.get(c.pid) : undefined;
          if (sub && depth < 20) return supervisor(sub, c.id, depth + 1);
          return html`<li data-child=${c.id} data-pid=${c.pid}>
            <div class="row"><b>${c.id}</b> ${link(c.pid)} <span class="muted">${c.module}</span> <span class="tag">${c.restart}</span>${names(c.names)}</div>
          </li>`;
        })}
      </ul>
    </li>`;
  // Every node, in the nodes tab's order, so one without supervisors says so instead of vanishing.
  const nodes: string[] = [...new Set([...store.tick.nodes.map((n: Any) => n.node), ...roots.map((r: Any) => nodeOf(r.pid))])];
  if (roots.length === 0) return html`<p class="muted">No supervisors run in the cluster.</p>`;
  return html`<div class="tree" data-test="trees">
    ${nodes.map((n) => {
      const mine = roots.filter((r: Any) => nodeOf(r.pid) === n);
      return html`<section data-node=${n}>
        <h3>${n}${mine.length === 0 ? html` <span class="muted">(no supervisors)</span>` : ""}</h3>
        ${
          mine.length > 0 &&
          html`<ul>
            ${mine.map((r: Any) => supervisor(r, undefined, 0))}
          </ul>`
        }
      </section>`;
    })}
  </div>`;
}
