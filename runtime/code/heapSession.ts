/**
 * The in-process `node:inspector` session {@link LiveEdit} patches and searches
 * through, and the heap queries of its search: every request is answered before
 * `post` returns (the in-process session dispatches synchronously), so a patch
 * runs in the same turn as the table's swap.
 */
import * as inspector from "node:inspector";
import type { Logger } from "../../wire/log";

const GROUP = "devcluster-liveedit";

// Run inside this process on the array Runtime.queryObjects returns: the functions whose text is one of `texts`,
// and the classes named `name` (by name: V8's LiveEdit does not move a patched class's end, so its text is cut short).
// A function the module table routes to the current version (classFamily.ts `routedFunctions`) is skipped: its old text is kept, not run.
export const PICK_TEXTS = `function (texts) {
  const want = new Set(texts), toString = Function.prototype.toString, out = [];
  const routed = globalThis[Symbol.for("devcluster.routed")];
  for (const f of this) { if (typeof f !== "function" || (routed && routed.has(f))) continue; let s; try { s = toString.call(f); } catch { continue; } if (want.has(s)) out.push(f); }
  return out;
}`;
// A class is told by its non-writable `prototype`, not by its text: a class of a script patched with a text of
// another layout (moduleScope.ts) may show a stretch of the new text.
const PICK_CLASSES = `function (name) {
  const out = [];
  for (const f of this) {
    if (typeof f !== "function") continue;
    try { if (f.name === name && Object.getOwnPropertyDescriptor(f, "prototype")?.writable === false) out.push(f); } catch { continue; }
  }
  return out;
}`;

export class HeapSession {
  private session?: inspector.Session;
  /** scriptId -> url of every script, filled while the debugger is enabled */
  readonly scripts = new Map<string, string>();
  /** the array of every live object, during one findStale */
  private all: string | undefined;

  constructor(private readonly log: Logger) {}

  /** Live objects made by any version of the class `name` of the module whose scripts' urls start with `prefix`. */
  instances(name: string, prefix: string): number {
    const classes = this.pick(PICK_CLASSES, name).filter(({ objectId }) => {
      const url = this.scripts.get(this.location(objectId) ?? "");
      return url === undefined || url.startsWith(prefix);
    });
    if (classes.length === 0) return 0;
    // In the one heap walk: objects with any version's prototype in their chain, not the prototypes themselves.
    return this.post<{ result: { value: number } }>("Runtime.callFunctionOn", {
      objectId: this.heap(),
      functionDeclaration: `function (...classes) {
        const protos = new Set(classes.map((c) => c.prototype)), own = Object.prototype.hasOwnProperty;
        let n = 0;
        for (const o of this) {
          try {
            if (own.call(o, "constructor")) continue;
            for (let p = Object.getPrototypeOf(o); p !== null; p = Object.getPrototypeOf(p)) if (protos.has(p)) { n++; break; }
          } catch {
            // a revoked proxy
          }
        }
        return n;
      }`,
      arguments: classes.map(({ objectId }) => ({ objectId })),
      returnByValue: true,
    }).result.value;
  }

  /**
   * Every live object (functions included), walked once per findStale: Runtime.queryObjects
   * collects garbage and walks the whole heap, the bulk of the scan's time.
   */
  private heap(): string {
    if (this.all === undefined) {
      const proto = this.post<{ result: { objectId: string } }>("Runtime.evaluate", { expression: "Object.prototype", objectGroup: GROUP }).result.objectId;
      this.all = this.post<{ objects: { objectId: string } }>("Runtime.queryObjects", { prototypeObjectId: proto, objectGroup: GROUP }).objects.objectId;
    }
    return this.all;
  }

  /** Drops the heap walk and the object ids of one findStale. */
  release(): void {
    this.all = undefined;
    this.tryPost("Runtime.releaseObjectGroup", { objectGroup: GROUP });
  }

  /** Every live function `picker` picks (PICK_TEXTS, PICK_CLASSES): its object id and, for texts, which one. */
  pick(picker: string, arg: unknown): { objectId: string; index: number }[] {
    const picked = this.post<{ result: { objectId: string } }>("Runtime.callFunctionOn", {
      objectId: this.heap(),
      functionDeclaration: picker,
      arguments: [{ value: arg }],
      objectGroup: GROUP,
    }).result.objectId;
    const which = this.post<{ result: { value: number[] } }>("Runtime.callFunctionOn", {
      objectId: picked,
      functionDeclaration:
        "function (texts) { const toString = Function.prototype.toString; return this.map((f) => Array.isArray(texts) ? texts.indexOf(toString.call(f)) : -1); }",
      arguments: [{ value: arg }],
      returnByValue: true,
    }).result.value;
    const props = this.post<{ result: { name: string; value?: { objectId?: string } }[] }>("Runtime.getProperties", {
      objectId: picked,
      ownProperties: true,
      objectGroup: GROUP,
    }).result;
    const out: { objectId: string; index: number }[] = [];
    for (const prop of props) {
      const i = Number(prop.name);
      if (!Number.isInteger(i) || !prop.value?.objectId) continue;
      out.push({ objectId: prop.value.objectId, index: which[i]! });
    }
    return out;
  }

  /** The id of the script a function's code is in. */
  location(objectId: string): string | undefined {
    const r = this.post<{ internalProperties?: { name: string; value?: { value?: { scriptId?: string } } }[] }>("Runtime.getProperties", {
      objectId,
      ownProperties: true,
      objectGroup: GROUP,
    });
    return r.internalProperties?.find((p) => p.name === "[[FunctionLocation]]")?.value?.value?.scriptId;
  }

  disable(): void {
    this.tryPost("Debugger.disable", {});
  }

  private tryPost(method: string, params: object): void {
    try {
      this.post(method, params);
    } catch (err) {
      this.log.debug({ err, method }, "inspector request failed");
    }
  }

  /** One inspector request, answered before `post` returns: the in-process session dispatches synchronously. */
  post<T = unknown>(method: string, params: object): T {
    if (!this.session) {
      const s = new inspector.Session();
      s.connect();
      s.on("Debugger.scriptParsed", (e: { params: { scriptId: string; url: string } }) => this.scripts.set(e.params.scriptId, e.params.url));
      this.session = s;
    }
    let answered = false;
    let error: Error | null = null;
    let result: unknown;
    this.session.post(method, params, (err, r) => {
      answered = true;
      error = err;
      result = r;
    });
    if (!answered) throw new Error(`inspector did not answer ${method} synchronously`);
    if (error) throw error;
    return result as T;
  }

  /** Ends the session. Idempotent. */
  close(): void {
    this.session?.disconnect();
    this.session = undefined;
  }
}
