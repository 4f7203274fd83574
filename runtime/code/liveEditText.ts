/**
 * What LiveEdit (`liveEdit.ts`) reads off a compiled module text, without the
 * inspector: which functions of a version would run old code if kept, whether a
 * version drops a name old closures may call, the script url of a version, and a
 * function's place in the `.ts` source through the version's inline source map.
 */
import { SourceMap } from "node:module";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { readBundle } from "./bundleShape";
import { memberReads, readFunctions, type FunctionLiteral } from "./functionLiterals";
import { changedConsts, withoutTail } from "./moduleScope";

/**
 * Whether `after` drops a name an earlier version's closure may call: a method of a
 * class (`this.heartbeat()` renamed `sendHeartbeat`; the table takes it off the old
 * instances' prototypes at the swap) or an export (its trampoline then throws).
 */
export function removesNames(before: string, after: string): boolean {
  const methods = (text: string): Set<string> =>
    new Set(readFunctions(text).flatMap((f) => (f.kind === "method" && f.className !== undefined ? [`${f.className}.${f.key}`] : [])));
  const now = methods(after);
  for (const m of methods(before)) if (!now.has(m)) return true;
  const exportsNow = shapeOfCompiled(after).exports;
  for (const name of shapeOfCompiled(before).exports?.keys() ?? []) if (exportsNow && !exportsNow.has(name)) return true;
  return false;
}

/** The url V8 gives the script a version was compiled under; `version` "" gives the prefix of every version's. */
export function urlOf(filename: string, version: string): string {
  const base = filename.replace(/\?v=[^?]*$/, "");
  return pathToFileURL(`${base}?v=`).href + version;
}

/**
 * The shape of a version as the loader compiled it: the bundle inside the loader's
 * wrapper (evaluate.ts WRAP_HEAD, one line, the scope's tail line, moduleScope.ts, and WRAP_TAIL). The reader looks for
 * esbuild's exports among the top-level statements, which the wrapper would hide:
 * every exported function would then count as a closure to patch, and each save
 * would patch and search the heap for nothing.
 */
function shapeOfCompiled(text: string): ReturnType<typeof readBundle> {
  const head = WRAPPER_HEAD.exec(text);
  const code = withoutTail(text);
  const body = head ? code.slice(head[0].length, code === text && text.endsWith(WRAPPER_TAIL) ? -WRAPPER_TAIL.length : undefined) : text;
  return readBundle(body);
}
const WRAPPER_HEAD = /^module\.exports = \(function \([^)]*\) \{/;
const WRAPPER_TAIL = "\n});";

/**
 * The literals of `text` a live function made from which would run old code: not the
 * module's wrapper, not classes or constructors (an instance's code is its methods), not
 * the methods of exported classes or exported functions, whose every use goes through the
 * module table's trampolines to the current version (docs/design.md §4.2). One the old
 * top level handed out itself (`bus.on("x", handler)` of an exported `handler`) is missed.
 */
export function eligible(text: string): FunctionLiteral[] {
  const shape = shapeOfCompiled(text);
  const classes = new Set(shape.classes.values());
  // An exported function (`export function f`, `export const f = () =>`) is held by the old version's exports,
  // which the table keeps for processes still on it; importers and the module itself reach the current one.
  const exported = new Set([...shape.functions.values(), ...(shape.exports?.values() ?? [])]);
  return readFunctions(text).filter((f) => {
    if (f.kind === "wrapper" || f.kind === "class" || f.kind === "constructor") return false;
    // The loader's own instrumentation (a field initializer's callback, instrument.ts) is not the user's code.
    if (f.name.includes("__devcluster")) return false;
    if (f.kind === "method" && f.className !== undefined && classes.has(f.className)) return false;
    return !((f.kind === "function" || f.kind === "arrow") && exported.has(f.name));
  });
}

/**
 * Whether patching an earlier version's script whose text is `before` with `after`
 * could change what runs: some function of it that the module table does not already
 * route to the current version (see {@link eligible}; the constructors and classes of
 * classes it does not patch count too) has a text `after` does not have. A module of
 * exported functions only, saved with a new body, needs no patch: each
 * `setScriptSource` walks the heap.
 */
export function changesClosures(before: string, after: string): boolean {
  const now = new Set(readFunctions(after).map((f) => f.text));
  const classes = new Set(shapeOfCompiled(before).classes.values());
  const own = readFunctions(before).filter((f) => (f.kind === "class" || f.kind === "constructor") && !classes.has(f.className ?? f.name));
  return [...eligible(before), ...own].some((f) => !now.has(f.text));
}

/**
 * Whether a script whose text is `before` needs the patch `after`: a closure's code changed, or a changed `const`
 * that one of its closures reads. Only a closure's: a save that changes an exported `const` only read by exported
 * functions (which the table routes) must not enable the debugger, which announces every script of the node.
 */
export function needsPatch(before: string, after: string): boolean {
  if (changesClosures(before, after)) return true;
  const consts = changedConsts(before, after);
  if (consts.length === 0) return false;
  const closures = eligible(before);
  return consts.some((name) => {
    const read = new RegExp(`(?<![\\w$.])${name.replace(/\$/g, "\\$")}(?![\\w$])`);
    return closures.some((f) => read.test(f.text));
  });
}

/** A function esbuild's runtime defines at a module's top level (`__export`), or one inside it (`get in __copyProps`). */
export const ESBUILD_HELPER = /(?:^| in )__\w+$/;

/** The version in a script's url (`file:///.../chat/room.js%3Fv=1a2b3c`). */
export function versionOf(url: string | undefined): string | undefined {
  return url === undefined ? undefined : /(?:\?|%3F)v=([^/?]*)$/i.exec(url)?.[1];
}

/** The literal a position is directly in (not in one nested in it). */
export function innermost(lits: FunctionLiteral[], at: number): FunctionLiteral | undefined {
  let best: FunctionLiteral | undefined;
  for (const f of lits) if (f.start <= at && at < f.start + f.text.length && (!best || f.start >= best.start)) best = f;
  return best;
}

const MAP_COMMENT = "\n//# sourceMappingURL=";

/** code (a compiled text up to its source map comment) -> the map comment of the version it came from */
const mapOf = new Map<string, string>();
const parsedMaps = new Map<string, SourceMap | null>();

function splitMap(text: string): [code: string, map: string] {
  const at = text.lastIndexOf(MAP_COMMENT);
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at)];
}

export function rememberMap(compiled: string): void {
  const [code, map] = splitMap(compiled);
  if (mapOf.size > 500) mapOf.clear();
  mapOf.set(code, map);
}

/**
 * `compiled`'s code with the source map comment `before` ends with: LiveEdit diffs the
 * two texts character by character where lines differ, and two versions' inline maps
 * (one base64 line of several KB) differ throughout, which cost hundreds of ms.
 * The comment is never part of a function's text.
 */
export function withMapOf(compiled: string, before: string): string {
  const [code, rest] = splitMap(compiled);
  if (rest === "") return compiled;
  const line = (text: string): string => {
    const end = text.indexOf("\n", 1);
    return end < 0 ? text : text.slice(0, end);
  };
  // Only the comment's line: what follows it (the scope's tail, moduleScope.ts) is the new text's.
  return code + line(splitMap(before)[1]) + rest.slice(line(rest).length);
}

/** `cluster/raft.ts:42` for an offset of a compiled text, through the source map of the version its code came from. */
export function locate(text: string, offset: number, module: string): string | undefined {
  const [code, own] = splitMap(text);
  const comment = mapOf.get(code) ?? own;
  let map = parsedMaps.get(comment);
  if (map === undefined) {
    const m = /^\n\/\/# sourceMappingURL=data:application\/json;(?:charset=utf-8;)?base64,([A-Za-z0-9+/=]+)/.exec(comment);
    try {
      map = m ? new SourceMap(JSON.parse(Buffer.from(m[1]!, "base64").toString("utf8"))) : null;
    } catch {
      map = null;
    }
    if (parsedMaps.size > 100) parsedMaps.clear();
    parsedMaps.set(comment, map);
  }
  if (!map) return undefined;
  const upto = text.slice(0, offset);
  const line = upto.split("\n").length - 1;
  const column = offset - (upto.lastIndexOf("\n") + 1);
  const e = map.findEntry(line, column) as { originalSource?: string; originalLine?: number };
  if (e.originalSource === undefined || e.originalLine === undefined) return undefined;
  const source = e.originalSource.replace(/^file:\/\//, "");
  const file = source.includes("/") ? source : path.posix.join(path.posix.dirname(module), source);
  return `${file}:${e.originalLine + 1}`;
}

/**
 * Per class of `after`: its constructor, and the methods only the constructor runs
 * (`this.setupRoutes()`, read nowhere else), whose own code differs from `before`'s
 * (a callback they register is not their own code: LiveEdit patches it). Instances
 * made earlier ran the old code, and nothing runs it again.
 */
/** A field as esbuild writes it in a constructor when it lowers class fields: `__publicField(this, "n", 0);`, `__privateAdd(this, _x, 0);`. */
const FIELD_STATEMENT = /\s*\b(?:__publicField|__privateAdd)\(this, [^;]*\);/g;

export function constructorOnlyChanges(before: string, after: string): { className: string; changed: FunctionLiteral[] }[] {
  const now = readFunctions(after);
  const old = readFunctions(before);
  const reads = memberReads(after);
  const out: { className: string; changed: FunctionLiteral[] }[] = [];
  for (const cls of now.filter((f) => f.kind === "class")) {
    const members = now.filter((f) => f.className === cls.name && (f.kind === "method" || f.kind === "constructor"));
    const ctor = members.find((f) => f.kind === "constructor");
    if (!ctor) continue;
    const only = new Set(ctor.thisCalls.filter((n) => members.some((f) => f.key === n && f.kind === "method")));
    // Keep only the methods read nowhere but in the own code of the constructor or of another such method.
    for (let dropped = true; dropped;) {
      dropped = false;
      for (const name of only) {
        const runners = [ctor, ...members.filter((f) => f.key !== name && only.has(f.key!))];
        if (reads.some((r) => r.name === name && !runners.some((f) => innermost(now, r.at) === f))) {
          only.delete(name);
          dropped = true;
        }
      }
    }
    // An exported class's fields reach the instances made before (classFields.ts migrates them at commit), so a
    // constructor that differs only in them (esbuild writes lowered fields there) is no code that will not run again.
    // The loader's instrumentation marks such a class: it tracks its instances (instrument.ts).
    const migrated = cls.own.includes("__devcluster_live.track(");
    const own = (f: FunctionLiteral): string => (migrated && f.kind === "constructor" ? f.own.replace(FIELD_STATEMENT, "") : f.own);
    const changed = [ctor, ...members.filter((f) => only.has(f.key!))].filter((f) => {
      const was = old.find((o) => o.className === cls.name && o.key === f.key);
      return was ? own(was) !== own(f) : f.kind === "method";
    });
    if (changed.length > 0) out.push({ className: cls.name, changed });
  }
  return out;
}
