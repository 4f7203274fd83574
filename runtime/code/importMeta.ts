import * as path from "node:path";
import { pathToFileURL } from "node:url";

/**
 * The identifier a bundle reads `import.meta` from: the compiler defines
 * `import.meta` as `__devcluster_import_meta.<ext>` (`.ts.url`), the extension
 * of the module's source file, so the extension travels in the bundle's text
 * (and its version). The node makes the rest from its own source folder: a
 * node on another machine, whose folder differs, gets its own path.
 */
export const IMPORT_META = "__devcluster_import_meta";

/** What a module reads as `import.meta`, as in Node's ES modules (`hot` is devcluster's, as Vite's `import.meta.hot`). */
export interface ModuleMeta {
  /** `file:` URL of the module's source file on this node: `new URL("./greeting.txt", import.meta.url)` */
  readonly url: string;
  /** absolute path of the module's source file on this node */
  readonly filename: string;
  /** its folder */
  readonly dirname: string;
  readonly hot: unknown;
}

/**
 * The value of {@link IMPORT_META} for module `name` (`chat/room`): its
 * `import.meta` under each source extension, made on first read, so a module
 * that never reads `import.meta` costs one Proxy.
 */
export function importMetas(srcDir: string, name: string, hot: unknown): Record<string, ModuleMeta> {
  const base = path.join(srcDir, ...name.split("/"));
  const made = new Map<string, ModuleMeta>();
  return new Proxy({} as Record<string, ModuleMeta>, {
    get(_target, ext) {
      if (typeof ext !== "string") return undefined;
      let meta = made.get(ext);
      if (!meta) {
        const filename = `${base}.${ext}`;
        meta = Object.freeze({ url: pathToFileURL(filename).href, filename, dirname: path.dirname(filename), hot });
        made.set(ext, meta);
      }
      return meta;
    },
  });
}
