/**
 * Closures made by earlier versions run the new body (docs/design.md §4.2): after a
 * commit, every still-loaded script of a changed module's earlier versions is patched
 * in place with the new version's compiled text through V8's LiveEdit
 * (`Debugger.setScriptSource` on an in-process `node:inspector` Session, what
 * DevTools' edit-and-continue uses); captured state is kept. Then the heap is
 * searched for what still runs old code, which the reload's report names.
 *
 * Why at the commit itself, synchronously, and not after `committed`: the table has
 * just given old instances the new class methods; an old timer callback that calls
 * `this.heartbeat()` after a rename to `sendHeartbeat` would throw in any gap between
 * the two. The debugger is on only for the patch: while it is enabled every `await`
 * costs about 6.6x.
 *
 * What LiveEdit cannot do, measured on Node 20: a function whose enclosing scopes
 * gained, lost or renamed a captured variable keeps its old body, and setScriptSource
 * still answers "Ok" (for the module's own scope, moduleScope.ts keeps the shape:
 * a new top-level `const` a closure reads is no such change); a suspended
 * async function or generator whose body changed makes V8 refuse the whole script.
 * A patched function's `toString` shows the new text, a kept one the old: that tells
 * them apart in the heap.
 */
import type { Logger } from "../../wire/log";
import type { StaleCode } from "../../wire/protocol";
import { readFunctions, type FunctionLiteral } from "./functionLiterals";
import { HeapSession, PICK_TEXTS } from "./heapSession";
import { ESBUILD_HELPER, constructorOnlyChanges, eligible, locate, needsPatch, rememberMap, urlOf, versionOf, withMapOf } from "./liveEditText";
import { emptyGone, fitLayout, layoutOf } from "./moduleScope";

export { removesNames } from "./liveEditText";

/** One module a commit moved to a new version, with the text the loader compiled for it. */
export interface CommittedModule {
  name: string;
  /** absent: loaded for the first time, nothing earlier to patch */
  from?: string;
  to: string;
  /** exactly what the loader passed to Module#_compile for `to` */
  compiled: string;
  /** the script name the loader compiled it under (`<srcDir>/<name>.js?v=<to>`) */
  filename: string;
  /** what the loader compiled `from` from, when it still has it */
  previous?: string;
}

/** An earlier version's script, patched (or not) with a new version's text. */
interface Target {
  module: string;
  scriptId: string;
  /** its source before the patch */
  before: string;
  /** the text it was patched with */
  text: string;
  /** V8's answer: "Ok", or why it refused */
  status: string;
}

/** What {@link LiveEdit.patch} did, for {@link LiveEdit.findStale}. */
export interface Patched {
  modules: CommittedModule[];
  targets: Target[];
  /** per module, the text of the version the commit replaced, for the constructor check */
  replaced: Map<string, string>;
  ms: number;
}

/** Two patches of one commit as one, for one search. */
export function mergePatched(a: Patched, b: Patched): Patched {
  return { modules: [...a.modules, ...b.modules], targets: [...a.targets, ...b.targets], replaced: new Map([...a.replaced, ...b.replaced]), ms: a.ms + b.ms };
}

/** The status of an earlier script only searched, not patched (see `known`). */
const NOT_PATCHED = "NotPatched";

export class LiveEdit {
  /** the inspector session; `v8.scripts` maps scriptId -> url of every script, filled while the debugger is enabled */
  private readonly v8: HeapSession;
  /**
   * Earlier versions' scripts that hold live functions: those patched before (V8 patches
   * a script in place) and the copies V8 made of what it would not patch (it moves
   * those functions to a copy with the old text, and announces the copy at the next
   * enable only). Every patch leaves such a copy, mostly of dead functions: patching
   * every script with the module's url would double them at each save.
   */
  private readonly known = new Map<string, { mode: "patch" | "scan"; module: string }>();
  /** module -> what its last reload found still running old code here: `status` names it until the module's next reload */
  private readonly findings = new Map<string, StaleCode[]>();
  /** urls of earlier versions' scripts a save did not need to patch (the debugger stayed off): looked up at the next enable */
  private readonly unresolved = new Map<string, string>();

  constructor(private readonly opts: { log: Logger }) {
    this.v8 = new HeapSession(opts.log);
  }

  /**
   * Enables and disables the debugger once, off any reload's path: the first enable
   * announces every script of the process (a few hundred, 15-70 ms measured), later
   * ones cost a few ms.
   */
  warm(): void {
    try {
      this.v8.post("Debugger.enable", {});
    } catch (err) {
      this.opts.log.debug({ err }, "inspector unavailable: closures made by earlier versions will not be patched");
    } finally {
      this.v8.disable();
    }
  }

  /**
   * Patches the earlier versions of each module of `modules` that had one. Synchronous
   * (the in-process session answers at once), so nothing runs between the table's swap
   * and the patch. Never throws: a failure is logged and the findings say what was not patched.
   */
  patch(modules: CommittedModule[]): Patched {
    const t0 = performance.now();
    const out: Patched = { modules, targets: [], replaced: new Map(), ms: 0 };
    const modulesWithScripts = new Set([...this.known.values()].map((k) => k.module));
    // A module loaded again at the same version (`devcluster reload m` of an unchanged file) is looked at again when
    // earlier scripts of it hold closures: the report of that reload must name what still runs old code too.
    const changed = modules.filter((m) => m.from !== undefined && (m.from !== m.to || modulesWithScripts.has(m.name)));
    for (const m of changed) if (m.previous !== undefined && m.from !== m.to) out.replaced.set(m.name, m.previous);
    // Without a script known to hold a closure, and with nothing but routed functions changed, there is nothing to patch:
    // the debugger is not even enabled (enable, read and disable cost several ms, on the node's only thread).
    if (!changed.some((m) => modulesWithScripts.has(m.name) || m.previous === undefined || needsPatch(m.previous, m.compiled))) {
      // Its closures were not patched this time, but a later save may change them: its script is looked up by url then.
      for (const m of changed) this.unresolved.set(urlOf(m.filename, m.from!), m.name);
      out.ms = performance.now() - t0;
      return out;
    }
    try {
      this.v8.scripts.clear();
      this.v8.post("Debugger.enable", {});
      // A `debugger;` statement must not pause the only thread, which also runs this session.
      this.v8.post("Debugger.setSkipAllPauses", { skip: true });
      for (const id of this.known.keys()) if (!this.v8.scripts.has(id)) this.known.delete(id);
      for (const [id, url] of this.v8.scripts) {
        const module = this.unresolved.get(url);
        if (module !== undefined && !this.known.has(id)) this.known.set(id, { mode: "patch", module });
      }
      this.unresolved.clear();
      for (const m of changed) {
        const prefix = urlOf(m.filename, "");
        const now = urlOf(m.filename, m.to);
        const replacedUrl = urlOf(m.filename, m.from!);
        rememberMap(m.compiled);
        const ids = [...this.v8.scripts]
          .filter(([id, url]) => url.startsWith(prefix) && url !== now && (url === replacedUrl || this.known.has(id)))
          .map(([id]) => id);
        for (const scriptId of ids) {
          const before = this.v8.post<{ scriptSource: string }>("Debugger.getScriptSource", { scriptId }).scriptSource;
          if (this.v8.scripts.get(scriptId) === replacedUrl && !out.replaced.has(m.name)) out.replaced.set(m.name, before);
          // Rewritten to the script's own scope layout when the save added, removed or moved a top-level binding.
          const text = withMapOf(fitLayout(m.compiled, before) ?? m.compiled, before);
          if (before === text) continue;
          if (!needsPatch(before, m.compiled)) {
            // Nothing to patch in it now; it may hold closures a later save changes.
            if (!this.known.has(scriptId)) this.known.set(scriptId, { mode: "patch", module: m.name });
            continue;
          }
          // What it holds is gone from the source: no patch can reach it, but it is still named.
          if (this.known.get(scriptId)?.mode === "scan") {
            out.targets.push({ module: m.name, scriptId, before, text: before, status: NOT_PATCHED });
            continue;
          }
          let status: string;
          try {
            const r = this.v8.post<{ status?: string; exceptionDetails?: { text: string } }>("Debugger.setScriptSource", { scriptId, scriptSource: text });
            status = r.exceptionDetails ? `CompileError: ${r.exceptionDetails.text}` : (r.status ?? "Ok");
          } catch (err) {
            status = (err as Error).message;
          }
          this.known.set(scriptId, { mode: "patch", module: m.name });
          out.targets.push({ module: m.name, scriptId, before, text, status });
        }
      }
    } catch (err) {
      this.opts.log.error({ err }, "patching earlier versions' closures failed");
    } finally {
      this.v8.disable();
    }
    out.ms = performance.now() - t0;
    return out;
  }

  /**
   * What still runs old code after {@link patch}: live functions whose text is an
   * earlier version's changed function (kept by V8, removed from the source, or in a
   * script V8 refused to patch), and methods that ran only in the constructor of live
   * instances. Walks the heap (Runtime.queryObjects): run it off the commit's path.
   */
  findStale(p: Patched): StaleCode[] {
    const found = this.search(p);
    // The same version loaded again (`devcluster reload m` of an unchanged file) has no earlier text to compare: what
    // ran only in a constructor still did not run again.
    for (const m of p.modules) {
      if (m.from !== m.to) continue;
      for (const f of this.findings.get(m.name) ?? []) if (f.kind === "constructor" && !found.some((g) => g.kind === f.kind && g.fn === f.fn)) found.push(f);
    }
    for (const m of p.modules) {
      const mine = found.filter((f) => f.module === m.name);
      if (mine.length > 0) this.findings.set(m.name, mine);
      else this.findings.delete(m.name);
    }
    return found;
  }

  /** What the last reload of each module found still running its old code (see {@link findStale}). */
  stillOld(): StaleCode[] {
    return [...this.findings.values()].flat();
  }

  private search(p: Patched): StaleCode[] {
    const found: StaleCode[] = [];
    if (p.targets.length === 0 && p.replaced.size === 0) return found;
    try {
      // V8 keeps a removed top-level function alive after its slot is emptied (measured on 3 nodes: one per earlier
      // version, in the copies of the scripts it makes): such a function is named only through the top-level check
      // (an interval or listener an old top level started, topLevelHandles.ts), never as still running here.
      const goneBy = new Map<string, Set<string>>();
      const gone = (module: string): Set<string> => {
        let names = goneBy.get(module);
        if (!names) {
          const now = new Set(layoutOf(p.modules.find((x) => x.name === module)?.compiled ?? "") ?? []);
          names = new Set(p.targets.filter((t) => t.module === module).flatMap((t) => (layoutOf(t.before) ?? []).filter((n) => !now.has(n))));
          goneBy.set(module, names);
        }
        return names;
      };
      found.push(...this.keptClosures(p).filter((f) => f.kind !== "removed" || !gone(f.module).has(f.fn)));
      // A helper the save removed is still in the old scope; once nothing old reads that scope, empty it and look again.
      const emptied = this.emptyGone(p, found);
      if (emptied.size > 0) {
        const isEmptied = (f: StaleCode): boolean => f.kind === "removed" && emptied.has(f.module);
        // The first search's handles hold what it found.
        this.v8.release();
        const still = this.keptClosures(p).filter((f) => isEmptied(f) && !gone(f.module).has(f.fn));
        found.splice(0, found.length, ...found.filter((f) => !isEmptied(f)), ...still);
      }
      for (const m of p.modules) {
        const before = p.replaced.get(m.name);
        if (before !== undefined) found.push(...this.constructorOnly(m, before));
      }
      this.forgetDead(p);
    } catch (err) {
      this.opts.log.error({ err }, "looking for closures that still run old code failed");
    } finally {
      this.v8.release();
    }
    return found;
  }

  /**
   * Keeps in {@link known} only the patched scripts that hold a live function: each
   * setScriptSource walks the heap (15-40 ms measured), and V8 frees an earlier
   * version's script long after its last function died (its compilation cache ages
   * out over several collections), so without this every save would patch every
   * version since the last such collection.
   */
  private forgetDead(p: Patched): void {
    const patched = p.targets.filter((t) => t.status === "Ok");
    if (patched.length === 0) return;
    // A patch rewritten to an earlier layout gives its functions texts of their own. Only what a later save could need
    // to patch keeps a script: not the loader's own functions (a version's scope reader), nor esbuild's helpers
    // (`__export`, `__copyProps`: the same text in every version), which live as long as the version's scope, nor what
    // the table routes.
    const texts = [
      ...new Set(
        [...p.modules.map((m) => m.compiled), ...patched.map((t) => t.text)].flatMap((c) =>
          eligible(c).flatMap((f) => (ESBUILD_HELPER.test(f.name) ? [] : [f.text])),
        ),
      ),
    ];
    const hits = this.v8.pick(PICK_TEXTS, texts);
    // Locating each live function costs an inspector call: past this many, keep every script rather than spend more.
    if (hits.length > 5000) return;
    const live = new Set<string>();
    const pending = new Set(patched.map((t) => t.scriptId));
    for (const { objectId } of hits) {
      const loc = this.v8.location(objectId);
      if (loc === undefined) return;
      live.add(loc);
      pending.delete(loc);
      if (pending.size === 0) return;
    }
    for (const t of patched) if (!live.has(t.scriptId)) this.known.delete(t.scriptId);
  }

  /**
   * Empties the removed top-level bindings of each patched earlier script of a module
   * none of whose closures kept or could not get its new body (moduleScope.ts
   * `emptyGone`). Returns the modules where it did.
   */
  private emptyGone(p: Patched, found: StaleCode[]): Set<string> {
    const out = new Set<string>();
    for (const t of p.targets) {
      if (t.status !== "Ok" || found.some((f) => f.module === t.module && f.kind !== "removed")) continue;
      const m = p.modules.find((x) => x.name === t.module)!;
      const now = new Set(layoutOf(m.compiled) ?? []);
      if (!(layoutOf(t.before) ?? []).some((n) => !now.has(n))) continue;
      const version = versionOf(this.v8.scripts.get(t.scriptId));
      if (version !== undefined && emptyGone(t.module, version)) out.add(t.module);
    }
    return out;
  }

  /** Ends the session. Idempotent. */
  close(): void {
    this.v8.close();
  }

  private keptClosures(p: Patched): StaleCode[] {
    // Old text -> what it is, for the texts of earlier versions' functions that the new version does not have.
    const wanted = new Map<string, { target: Target; lit: FunctionLiteral; kind: StaleCode["kind"]; at?: string }>();
    for (const t of p.targets) {
      const m = p.modules.find((x) => x.name === t.module)!;
      const now = readFunctions(m.compiled);
      // What a function V8 patched now shows: the text it was patched with, which may be rewritten (moduleScope.ts).
      const texts = new Set([...now, ...(t.status === "Ok" ? readFunctions(t.text) : [])].map((f) => f.text));
      for (const lit of eligible(t.before)) {
        if (texts.has(lit.text) || wanted.has(lit.text)) continue;
        const same = now.find((f) => f.name === lit.name);
        const kind: StaleCode["kind"] = t.status !== "Ok" && t.status !== NOT_PATCHED ? "refused" : same ? "kept" : "removed";
        const at = same ? locate(m.compiled, same.start, m.name) : locate(t.before, lit.start, m.name);
        wanted.set(lit.text, { target: t, lit, kind, ...(at ? { at } : {}) });
      }
    }
    if (wanted.size === 0) return [];
    const texts = [...wanted.keys()];
    const targets = new Set(p.targets.map((t) => t.scriptId));
    const hits = this.v8.pick(PICK_TEXTS, texts);
    const counts = new Map<string, StaleCode>();
    for (const { objectId, index } of hits) {
      const w = wanted.get(texts[index]!)!;
      const loc = this.v8.location(objectId);
      // The same text in another module's script is not this module's old code (a copy V8 just made has no url here yet).
      const url = loc === undefined ? undefined : this.v8.scripts.get(loc);
      const prefix = urlOf(p.modules.find((m) => m.name === w.target.module)!.filename, "");
      if (url !== undefined && !url.startsWith(prefix)) continue;
      // A removed helper also lives on in the scope of each earlier version that defined it, which nothing patched
      // runs: only one found in a script this save looked at (or in a copy V8 made of one, which has no url yet) counts.
      if (w.kind === "removed" && url !== undefined && !targets.has(loc!)) continue;
      // Patch it again at the next save of the module (the scope may match by then), or only look at it if its function is gone.
      if (loc !== undefined) this.known.set(loc, { mode: w.kind === "removed" ? "scan" : "patch", module: w.target.module });
      const key = `${w.target.module}\u0000${w.lit.name}\u0000${w.kind}`;
      const entry = counts.get(key);
      if (entry) entry.count++;
      else
        counts.set(key, {
          kind: w.kind,
          module: w.target.module,
          fn: w.lit.name,
          ...(w.at ? { at: w.at } : {}),
          count: 1,
          ...(w.kind === "refused" ? { status: w.target.status } : {}),
        });
    }
    return [...counts.values()];
  }

  /**
   * A method that only the constructor calls (`this.setupRoutes()`), or the constructor
   * itself, whose own code changed: live instances ran the earlier code and nothing runs
   * it again. A change inside a callback it registered is not this (LiveEdit patched it).
   */
  private constructorOnly(m: CommittedModule, before: string): StaleCode[] {
    const out: StaleCode[] = [];
    for (const { className, changed } of constructorOnlyChanges(before, m.compiled)) {
      const count = this.v8.instances(className, urlOf(m.filename, ""));
      if (count === 0) continue;
      for (const f of changed) {
        const at = locate(m.compiled, f.start, m.name);
        out.push({
          kind: "constructor",
          module: m.name,
          fn: f.kind === "constructor" ? `${className}.constructor` : f.name,
          ...(at ? { at } : {}),
          count,
          ...(f.suspends ? { suspends: true } : {}),
        });
      }
    }
    return out;
  }
}
