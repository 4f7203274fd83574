/** The processes tab's list: paged, sorted and filtered on the server. */
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, type Any } from "./api";
import { bytes, short } from "./format";

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

export function Processes({ selected, select, active }: { selected: string; select: (pid: string) => void; active: boolean }) {
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
              <td class="num">${bytes(r.memory)}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}
