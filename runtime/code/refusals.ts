/**
 * What a load refuses, and the words it refuses with: each refusal names the
 * module, says why, and ends with what to do next (docs/design.md §8). The
 * loader raises them; nothing here evaluates code.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { ClusterError, type ErrorCode } from "../../wire/errors";
import type { BundleShape } from "./bundleShape";
import type { Instance, ModuleEntry } from "./moduleTable";

export type LoadErrorCode = Extract<ErrorCode, "eval_failed" | "timeout" | "bad_shape" | "not_purged" | "missing_import">;

/** The loader's own failures: one raised while a nested require ran is passed on as it is, not wrapped as eval_failed. */
const loadErrors = new WeakSet<ClusterError>();

export function loadError(code: LoadErrorCode, module: string, message: string, options: { cause?: unknown; pids?: string[] } = {}): ClusterError {
  const err = new ClusterError(code, message, { ...options, module });
  loadErrors.add(err);
  return err;
}

/** Whether `err` is one of the loader's own refusals (passed on unwrapped). */
export function isLoadError(err: unknown): err is ClusterError {
  return err instanceof ClusterError && loadErrors.has(err);
}

// A source-mapped frame of a module's own file; a bundle's unmapped frame (`room.js?v=...`) has no `:` after `.js`.
const SOURCE_FRAME = /([^\s()]+\.(?:ts|tsx|mts|cts|js|mjs|cjs)):(\d+):(\d+)/g;

export function checkShape(entry: ModuleEntry, instance: Instance): void {
  const exp: unknown = instance.exports;
  if (exp === null || typeof exp !== "object") {
    throw loadError(
      "bad_shape",
      instance.name,
      `${instance.name} must export an object of named exports, but module.exports is ${exp === null ? "null" : typeof exp}. Use named exports (export function ...).`,
    );
  }
  const prev = entry.current;
  if (prev && typeof prev.exports.init === "function" && typeof instance.exports.init !== "function") {
    throw loadError(
      "bad_shape",
      instance.name,
      `${instance.name} no longer exports init as a function, but version ${prev.version} did and processes may run it: a behaviour must stay a behaviour. Export init again, or restart those processes.`,
    );
  }
}

/** {@link checkShape} from the bundle's text alone, for a module whose top level waits for COMMIT. */
export function checkStaticShape(entry: ModuleEntry, name: string, shape: BundleShape): void {
  const prev = entry.current;
  if (prev && typeof prev.exports.init === "function" && shape.exports && !shape.exports.has("init")) {
    throw loadError(
      "bad_shape",
      name,
      `${name} no longer exports init as a function, but version ${prev.version} did and processes may run it: a behaviour must stay a behaviour. Export init again, or restart those processes.`,
    );
  }
}

export function missingImport(module: string, imported: string): ClusterError {
  return loadError(
    "missing_import",
    module,
    `${module} imports ${imported}, which is not loaded on this node and not in this reload. Reload ${imported} together with ${module}.`,
  );
}

/**
 * Exports another module still imports would disappear (docs/design.md §6). `removed`: importee -> the importers
 * that read the names, each as "importer (a, b)"; importers the node only keeps are named as such.
 */
export function removedExports(removed: ReadonlyMap<string, string[]>): ClusterError {
  const [first] = removed.keys();
  const parts = [...removed].map(
    ([importee, users]) => `${importee} would no longer export names that ${users.join(" and ")} still import${users.length === 1 ? "s" : ""}`,
  );
  return loadError("missing_import", first!, `${parts.join("; ")}. Nothing was loaded. Keep those exports, or change the importers in the same save.`);
}

export function notPurged(module: string, pids: string[]): ClusterError {
  const n = pids.length;
  return loadError(
    "not_purged",
    module,
    `cannot load a third version of ${module}: ${n} process${n === 1 ? "" : "es"} still run${n === 1 ? "s" : ""} the oldest (${pids.join(", ")}). Wait for them, or run \`devcluster reload ${module} --force\`.`,
    { pids },
  );
}

export function evalFailed(module: string, err: unknown, srcDir: string): ClusterError {
  const cause = err instanceof Error ? err : new Error(String(err));
  // The first frame in the project's sources: frames above it may be Node's or the loader's own.
  let where = "";
  for (const at of (cause.stack ?? "").matchAll(SOURCE_FRAME)) {
    const rel = relativeFile(srcDir, at[1]!);
    if (rel.startsWith("..") || path.isAbsolute(rel)) continue;
    where = ` at ${rel}:${at[2]}:${at[3]}`;
    break;
  }
  return loadError("eval_failed", module, `${module} failed to evaluate (${cause.name}${where}): ${cause.message}. Fix the file and save again.`, {
    cause: err,
  });
}

function relativeFile(srcDir: string, file: string): string {
  const abs = file.startsWith("file://") ? fileURLToPath(file) : file;
  return path.relative(srcDir, abs).split(path.sep).join("/");
}
