/** The reloads tab: the timeline of saves and reloads, and each module's versions with their diffs. */
import { html } from "htm/preact";
import { useEffect, useState } from "preact/hooks";
import { api, type Any } from "./api";
import { short, time } from "./format";
import type { Store } from "./stream";

/** Beside a module no node runs: the reload checked it and evaluated nothing (docs/design.md §4.5). */
const KEPT = " (no node runs it: checked, nothing evaluated)";
/** "checked" when no node runs any module of the reload: never "ok" as if it ran. */
const reloadWord = (e: Any): string => (e.ok ? (e.kept?.length === e.modules.length ? "checked" : "ok") : `aborted${e.failedIn ? ` in ${e.failedIn}` : ""}`);

/**
 * Who started an entry, from the coordinator's record of the transaction (the
 * "reloaded" event's source), never guessed from what changed.
 */
export function sourceWord(e: Any): string {
  if (e.kind === "compile" || e.kind === "back") return "save";
  const what = e.rollback ? "rollback" : "reload";
  switch (e.source) {
    case "save":
      return "save";
    case "cli":
      return `devcluster ${what}`;
    case "shell":
      return `${what}() in the shell`;
    case "catch-up":
      return `catch-up of ${e.member ?? "a node"}`;
    default:
      return what;
  }
}

function Timeline({ store }: { store: Store }) {
  const entries = [...store.timeline].reverse();
  if (entries.length === 0) return html`<p class="muted">No reloads yet: save a file under the source folder.</p>`;
  return html`<div class="timeline" data-test="timeline">
    ${entries.map((e: Any) =>
      e.kind === "back"
        ? html`<div class="entry" data-test="back">
            <b>${time(e.at)}</b> <span class="source" data-test="source">${sourceWord(e)}</span> <span class="ok">back to the running version</span>
            <div class="mono">${e.text}</div>
            <div class="muted">the nodes already run it: the error before no longer stands</div>
          </div>`
        : e.kind === "compile"
          ? html`<div class="entry bad">
              <b>${time(e.at)}</b> <span class="source" data-test="source">${sourceWord(e)}</span> <span class="bad">compile error</span>${" "}
              <span class="muted">
                ${
                  e.sent?.length
                    ? `held back until it compiles; the rest of the save was sent: ${e.sent.join(", ")}`
                    : "nothing was sent; nodes keep the last good version"
                }</span
              >
              ${e.errors.map(
                (x: Any) =>
                  html`<div class="mono">${x.file}:${x.line}:${x.column}: ${x.text}</div>
                    ${x.lineText && html`<pre>${x.lineText}</pre>`}`,
              )}
            </div>`
          : html`<div class=${`entry ${e.ok ? "" : "bad"}`} data-test="reload">
              <b>${time(e.at)}</b> <span class="source" data-test="source">${sourceWord(e)}</span>${" "}
              <span class=${e.ok ? "ok" : "bad"}>${reloadWord(e)}</span>
              ${e.rolledBack && html`<span class="muted"> every node is back on the previous versions</span>`}
              <span class="muted"> ${e.ms.toFixed(1)} ms</span>
              <div>${e.modules.map((m: Any) => html`<span class="mono">${m.name}@${short(m.version)}${e.kept?.includes(m.name) ? KEPT : ""} </span>`)}</div>
              <div class="muted">
                ${[
                  ...e.nodes.map(
                    (n: Any) => html`<span class=${n.ok ? "" : "bad"}>${n.node} ${n.ok ? `${n.ms.toFixed(1)} ms` : `error: ${n.error ?? "?"}`}</span>`,
                  ),
                  ...(e.skipped?.length ? [`skipped: ${e.skipped.join(", ")}`] : []),
                ].flatMap((part, i) => (i ? [" · ", part] : [part]))}
              </div>
              ${(e.codeChangeFailures ?? []).map(
                (f: Any) => html`<div class="bad">${f.node} ${f.pid}: codeChange failed, stays on the old version: ${f.error}</div>`,
              )}
              ${(e.stale ?? []).map((line: string) => html`<div class="bad" data-test="stale">${line}</div>`)}
            </div>`,
    )}
  </div>`;
}

/** Each module's versions since `up`, and a line diff of two of them (the TypeScript source when the bundles keep it). */
function Versions({ store }: { store: Store }) {
  const [report, setReport] = useState<Any>({ modules: [] });
  const [module, setModule] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [diff, setDiff] = useState<Any>(undefined);
  const [error, setError] = useState("");
  // Reloaded again whenever the timeline grows: a save is a new version.
  useEffect(() => {
    api("/api/history").then(setReport, (e) => setError(e.message));
  }, [store.timeline.length]);
  const mod = report.modules.find((m: Any) => m.module === module);
  useEffect(() => {
    const vs = mod?.versions ?? [];
    // Default: the last change (the version before the current one, and the current one).
    if (vs.length >= 2 && (!from || !to)) (setFrom(vs[vs.length - 2].version), setTo(vs[vs.length - 1].version));
  }, [module, report]);
  useEffect(() => {
    setDiff(undefined);
    if (!module || !from || !to) return;
    const q = new URLSearchParams({ module, from, to });
    api(`/api/diff?${q}`).then(
      (d) => (setDiff(d), setError("")),
      (e) => setError(e.message),
    );
  }, [module, from, to]);
  const pick = (m: string): void => (setModule(m), setFrom(""), setTo(""));
  return html`<div class="card" data-test="versions">
    <h3>versions since up</h3>
    <div class="toolbar">
      <select value=${module} onChange=${(e: Any) => pick(e.currentTarget.value)} data-test="version-module">
        <option value="">module…</option>
        ${report.modules.map((m: Any) => html`<option value=${m.module}>${m.module} (${m.versions.length})</option>`)}
      </select>
      ${
        mod &&
        html`<select value=${from} onChange=${(e: Any) => setFrom(e.currentTarget.value)} data-test="version-from">
            ${mod.versions.map((v: Any) => html`<option value=${v.version}>${short(v.version)} ${v.source} ${time(Date.parse(v.at))}</option>`)}
          </select>
          →
          <select value=${to} onChange=${(e: Any) => setTo(e.currentTarget.value)} data-test="version-to">
            ${mod.versions.map((v: Any) => html`<option value=${v.version}>${short(v.version)} ${v.source} ${time(Date.parse(v.at))}</option>`)}
          </select>`
      }
    </div>
    ${
      mod &&
      html`<table data-test="version-list">
        <tbody>
          ${[...mod.versions].reverse().map(
            (v: Any) =>
              html`<tr>
                <td class="mono">${v.current ? "* " : ""}${short(v.version)}</td>
                <td>${time(Date.parse(v.at))}</td>
                <td>${v.source}${v.by ? ` (${v.by})` : ""}</td>
                <td class="num">${v.size} B</td>
                <td class="muted">${v.nodes.join(", ")}</td>
              </tr>`,
          )}
        </tbody>
      </table>`
    }
    ${error && html`<div class="error">${error}</div>`}
    ${
      diff &&
      html`<div data-test="diff">
        <div class="muted">
          ${diff.of === "typescript" ? `TypeScript source of ${diff.file} (from the source map)` : `compiled JavaScript (${diff.file}): the bundles keep no source`}${" · "}
          <span class="ok">+${diff.added}</span> <span class="bad">-${diff.removed}</span>
        </div>
        <pre class="diff">
${diff.lines.map(
            (l: Any) =>
              html`<div class=${l.op === "+" ? "add" : l.op === "-" ? "del" : l.op === "…" ? "skip" : ""}>
                ${l.op === "…" ? `… ${l.text}` : `${l.op} ${l.text}`}
              </div>`,
          )}</pre>
      </div>`
    }
  </div>`;
}

export function Reloads({ store }: { store: Store }) {
  return html`<div class="split">
    <${Timeline} store=${store} />
    <${Versions} store=${store} />
  </div>`;
}
