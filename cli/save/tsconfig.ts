import * as fs from "node:fs";
import * as path from "node:path";
import type { TsconfigRaw } from "esbuild";
import { ClusterError } from "../../wire/errors";

/**
 * The part of a project's tsconfig.json that changes what a module compiles to,
 * with `extends` followed. Both compile paths (transform and build) get the
 * same `esbuild` options from it, so a file compiles the same whichever path
 * it takes (legacy decorators, JSX settings, class fields).
 */
export interface ProjectTsconfig {
  /** the tsconfig.json read, or undefined when the project has none */
  file: string | undefined;
  /** handed to esbuild's `tsconfigRaw` on both paths */
  esbuild: TsconfigRaw;
  /** `paths` aliases, each target made absolute (relative to `baseUrl`, else to the tsconfig that set them) */
  paths: { pattern: string; targets: string[] }[];
  /** absolute `baseUrl`: a bare specifier may name a file under it, as in tsc */
  baseUrl?: string;
  /**
   * False when tsc emits CommonJS without `esModuleInterop` (`module` is
   * `commonjs`, or unset with an ES5 target, and the option is unset or false:
   * TypeScript's default): `import * as x from "pkg"` is then the package itself,
   * `const x = require("pkg")`, and code that runs under ts-node calls it. True
   * otherwise, and with no tsconfig: esbuild's interop, Node's for ES modules.
   */
  esModuleInterop: boolean;
}

/** The compilerOptions esbuild honours; everything else in a tsconfig is the type checker's business. */
const ESBUILD_OPTIONS = [
  "alwaysStrict",
  "experimentalDecorators",
  "importsNotUsedAsValues",
  "jsx",
  "jsxFactory",
  "jsxFragmentFactory",
  "jsxImportSource",
  "preserveValueImports",
  "strict",
  "target",
  "useDefineForClassFields",
  "verbatimModuleSyntax",
] as const;

/**
 * Reads `<projectDir>/tsconfig.json` (comments and trailing commas allowed, as
 * tsc allows them). Throws ClusterError `config_invalid` for a file that does
 * not parse, naming it: compiling with half a config would be the silent
 * divergence this exists to prevent.
 */
export function readProjectTsconfig(projectDir: string): ProjectTsconfig {
  const file = path.join(projectDir, "tsconfig.json");
  if (!fs.existsSync(file)) return { file: undefined, esbuild: {}, paths: [], esModuleInterop: true };
  const options: Record<string, unknown> = {};
  const emit: { module?: unknown; target?: unknown; esModuleInterop?: unknown } = {};
  let paths: ProjectTsconfig["paths"] = [];
  let baseUrl: string | undefined;
  const seen = new Set<string>();
  const load = (cfgFile: string): void => {
    if (seen.has(cfgFile)) return;
    seen.add(cfgFile);
    const cfg = parseJsonc(cfgFile);
    const dir = path.dirname(cfgFile);
    const parents = cfg.extends === undefined ? [] : Array.isArray(cfg.extends) ? cfg.extends : [cfg.extends];
    for (const p of parents) {
      const parent = typeof p === "string" ? resolveExtends(p, dir) : undefined;
      if (parent) load(parent);
    }
    // ts-node applies its section's compilerOptions over the file's: a project that runs under ts-node
    // (`"module": "esnext"` for its editor, `"ts-node": { "compilerOptions": { "module": "commonjs" } }` to run)
    // runs as that section says, and so it runs here.
    const tsNode = (cfg["ts-node"] as { compilerOptions?: Record<string, unknown> } | undefined)?.compilerOptions;
    const co = { ...((cfg.compilerOptions ?? {}) as Record<string, unknown>), ...(tsNode && typeof tsNode === "object" ? tsNode : {}) };
    for (const k of ESBUILD_OPTIONS) if (co[k] !== undefined) options[k] = co[k];
    for (const k of ["module", "target", "esModuleInterop"] as const) if (co[k] !== undefined) emit[k] = co[k];
    if (typeof co.baseUrl === "string") baseUrl = path.resolve(dir, co.baseUrl);
    if (co.paths && typeof co.paths === "object") {
      // tsc resolves paths against baseUrl when set, else against the tsconfig that declares them.
      const base = typeof co.baseUrl === "string" ? path.resolve(dir, co.baseUrl) : dir;
      paths = Object.entries(co.paths as Record<string, unknown>).map(([pattern, targets]) => ({
        pattern,
        targets: (Array.isArray(targets) ? targets : []).filter((t): t is string => typeof t === "string").map((t) => path.resolve(base, t)),
      }));
    }
  };
  load(file);
  return {
    file,
    esbuild: { compilerOptions: options as TsconfigRaw["compilerOptions"] },
    paths,
    ...(baseUrl ? { baseUrl } : {}),
    esModuleInterop: emitsInterop(emit),
  };
}

/** Whether tsc's emit for these options gives a namespace import of a CommonJS package esModuleInterop's object, as esbuild's does. */
function emitsInterop(o: { module?: unknown; target?: unknown; esModuleInterop?: unknown }): boolean {
  const lower = (v: unknown): string | undefined => (typeof v === "string" ? v.toLowerCase() : undefined);
  const target = lower(o.target);
  // tsc's default module: CommonJS for an ES3/ES5 target (ES5 is the default target), ES2015 otherwise.
  const module = lower(o.module) ?? (target === undefined || target === "es3" || target === "es5" ? "commonjs" : "es2015");
  if (module !== "commonjs") return true; // ES output: Node or a bundler gives the namespace its interop
  return o.esModuleInterop === true;
}

/**
 * Where a bare specifier may point through the tsconfig, as tsc looks: the
 * targets of the `paths` alias with the longest matching prefix, then the
 * specifier under `baseUrl`. The caller takes the first that exists; when
 * none does, the specifier is an npm package after all.
 */
export function aliasCandidates(cfg: ProjectTsconfig, spec: string): string[] {
  if (spec.startsWith(".") || path.isAbsolute(spec) || spec.startsWith("node:")) return [];
  const out = [...(pathsTargets(cfg.paths, spec) ?? [])];
  if (cfg.baseUrl) out.push(path.resolve(cfg.baseUrl, spec));
  return out;
}

function pathsTargets(paths: ProjectTsconfig["paths"], spec: string): string[] | undefined {
  let best: { prefixLen: number; targets: string[] } | undefined;
  for (const { pattern, targets } of paths) {
    const star = pattern.indexOf("*");
    if (star < 0) {
      if (pattern === spec) return targets;
      continue;
    }
    const prefix = pattern.slice(0, star);
    const suffix = pattern.slice(star + 1);
    if (spec.length < prefix.length + suffix.length || !spec.startsWith(prefix) || !spec.endsWith(suffix)) continue;
    if (best && best.prefixLen >= prefix.length) continue;
    const middle = spec.slice(prefix.length, spec.length - suffix.length);
    best = { prefixLen: prefix.length, targets: targets.map((t) => t.replace("*", middle)) };
  }
  return best?.targets;
}

function resolveExtends(spec: string, dir: string): string | undefined {
  if (spec.startsWith(".") || path.isAbsolute(spec)) {
    const f = path.resolve(dir, spec);
    return fs.existsSync(f) ? f : fs.existsSync(f + ".json") ? f + ".json" : undefined;
  }
  for (const s of [spec, spec + ".json", spec + "/tsconfig.json"]) {
    try {
      return require.resolve(s, { paths: [dir] });
    } catch {
      // try the next form
    }
  }
  return undefined; // a shared base that is not installed: tsc would fail too; compile with the rest
}

/** JSON with comments and trailing commas, as tsconfig files are written. */
function parseJsonc(file: string): { extends?: unknown; compilerOptions?: unknown; "ts-node"?: unknown } {
  const text = fs.readFileSync(file, "utf8");
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 1;
    } else {
      out += c;
    }
  }
  out = out.replace(/,(\s*[}\]])/g, "$1");
  try {
    return JSON.parse(out) as { extends?: unknown; compilerOptions?: unknown };
  } catch (err) {
    throw new ClusterError("config_invalid", `${file} does not parse: ${(err as Error).message}. Fix it and save again.`);
  }
}
