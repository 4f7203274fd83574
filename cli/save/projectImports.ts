import * as fs from "node:fs";
import * as path from "node:path";
import type * as acorn from "acorn";
import type * as esbuild from "esbuild";
import { PROJECT_MODULE_PREFIX } from "../../runtime/code/loader";
import { bindingsOfTree, type Bindings } from "./bindings";
import { CompileError } from "./diagnostics";
import { displayCandidates, isFile, isInside, resolveModuleFile } from "./moduleFiles";
import { applyEdits, importSites, parseOutput, type Edit } from "./outputTree";
import { aliasCandidates, type ProjectTsconfig } from "./tsconfig";

/**
 * How a module's imports of other project modules are found and written in the
 * loader's words, `require("devcluster:project/<name>")`, on both compile
 * paths: read off the transform's output (`rewriteImports`), or marked
 * external during a build (`projectModulesPlugin`). Never inlined, so a reload
 * of the importee reaches every importer (docs/design.md §4.1).
 */

export const RELATIVE_SPECIFIER = /^\.\.?(\/|$)/;

/**
 * A CommonJS module's namespace as an ES import sees it: its names, read live
 * off the facade through the prototype, and `default`, the facade itself (the
 * loader's `__toESM` hands a facade on as it is, with no `default`).
 */
const COMMONJS_DEFAULT = "((m) => Object.create(m, { default: { value: m, enumerable: true } }))";

/** Where the project's modules live, and how a file is named as one (the Compiler). */
export interface ProjectFolder {
  readonly projectDir: string;
  readonly srcDir: string;
  moduleName(file: string): string;
}

/** esbuild's output in the loader's words, with what it imports. */
export interface Rewritten {
  code: string;
  imports: string[];
  bindings: Bindings;
}

/**
 * What an import names, as a project module file; "file" when it names
 * another existing file (bundled); undefined when it is no project file at
 * all (an npm package, a built-in, a path that does not exist).
 */
export function resolveImport(srcDir: string, spec: string, fromDir: string, cfg: ProjectTsconfig): { module: string } | { file: string } | undefined {
  const targets = RELATIVE_SPECIFIER.test(spec) ? [path.resolve(fromDir, spec)] : aliasCandidates(cfg, spec);
  for (const target of targets) {
    const module = isInside(srcDir, target) ? resolveModuleFile(target) : undefined;
    if (module) return { module };
    if (isFile(target)) return { file: target };
  }
  return undefined;
}

/**
 * esbuild's output with each import of a project module in the loader's
 * words (`require("./lib")` -> `require("devcluster:project/lib")`, and
 * `import("./lib")` a promise of the same require), read from its syntax
 * tree so that only real calls change. `resolve` names the project module a
 * specifier means, "bundle" when the module must be built instead (it
 * imports another file by a relative path), undefined for an npm package or
 * a built-in.
 */
export function rewriteImports(
  code: string,
  cfg: ProjectTsconfig,
  resolve: (spec: string) => string | "bundle" | undefined,
  isCommonJs: (module: string) => boolean,
): Rewritten | "bundle" {
  let tree: acorn.Program;
  try {
    tree = parseOutput(code);
  } catch (err) {
    throw new CompileError([
      {
        file: "",
        line: 0,
        column: 0,
        lineText: "",
        text: `esbuild's output did not parse (${(err as Error).message}); this is a devcluster bug, please report it`,
      },
    ]);
  }
  const modules = new Map<string, string>();
  // A script's `#!` line (esbuild keeps it first) would be a syntax error inside the loader's wrapper: it becomes a comment, same length.
  const edits: Edit[] = code.startsWith("#!") ? [{ start: 0, end: 2, text: "//" }] : [];
  for (const site of importSites(tree)) {
    const name = site.spec.startsWith(PROJECT_MODULE_PREFIX) ? site.spec.slice(PROJECT_MODULE_PREFIX.length) : resolve(site.spec);
    if (name === "bundle") return "bundle";
    if (name === undefined) {
      // tsc without esModuleInterop: the namespace (and a default import's `.default`) is read off the package itself.
      if (site.interop && !cfg.esModuleInterop) edits.push({ start: site.interop.start, end: site.interop.end, text: `require(${JSON.stringify(site.spec)})` });
      continue; // an npm package's import() stays Node's own, so an ES-only package still loads
    }
    modules.set(site.spec, name);
    const target = JSON.stringify(PROJECT_MODULE_PREFIX + name);
    // A CommonJS module (`.cjs`) imported as ES: its `default` is its module.exports, as Node and esbuild give it.
    const withDefault = cfg.esModuleInterop && isCommonJs(name);
    if (site.kind === "import") {
      // The loader's require gives the live facade, current version included, as a static import does (a
      // native import() looked for the module's file on disk). A dynamically imported module is an import like
      // any other: the set carries it and the nodes load it first, or the import() would fail after "reloaded".
      const required = withDefault ? `${COMMONJS_DEFAULT}(require(${target}))` : `require(${target})`;
      edits.push({ start: site.start, end: site.end, text: `Promise.resolve().then(() => ${required})` });
    } else if (site.interop && withDefault) {
      edits.push({ start: site.interop.start, end: site.interop.end, text: `${COMMONJS_DEFAULT}(require(${target}))` });
    } else if (site.spec !== PROJECT_MODULE_PREFIX + name) {
      edits.push({ start: site.start, end: site.end, text: `require(${target})` });
    }
  }
  return {
    code: applyEdits(code, edits),
    imports: [...new Set(modules.values())].sort(),
    // From the same tree: the pending-saves check reads them for every new version, and a parse is most of their cost.
    bindings: bindingsOfTree(tree, (spec) => modules.get(spec)),
  };
}

/**
 * Marks an import of a project module external, as
 * `devcluster:project/<name>`, whether relative or through a tsconfig alias.
 * esbuild does not call onResolve for the entry points, so each module's own
 * source is still bundled.
 */
export function projectModulesPlugin(folder: ProjectFolder, cfg: ProjectTsconfig): esbuild.Plugin {
  return {
    name: "devcluster-project-modules",
    setup: (build) => {
      if (cfg.paths.length > 0 || cfg.baseUrl) {
        // Bare specifiers only; relative ones are handled below.
        build.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.kind === "entry-point") return undefined;
          const resolved = resolveImport(folder.srcDir, args.path, args.resolveDir, cfg);
          if (!resolved) return undefined; // an npm package or a built-in
          if ("module" in resolved) return { path: PROJECT_MODULE_PREFIX + folder.moduleName(resolved.module), external: true };
          return { path: resolved.file }; // an aliased JSON file and the like: bundled
        });
      }
      build.onResolve({ filter: RELATIVE_SPECIFIER }, (args) => {
        const target = path.resolve(args.resolveDir, args.path);
        if (!isInside(folder.srcDir, target)) return undefined; // outside the project's modules: bundle it
        const file = resolveModuleFile(target);
        if (file !== undefined) return { path: PROJECT_MODULE_PREFIX + folder.moduleName(file), external: true };
        if (fs.existsSync(target) && fs.statSync(target).isFile()) return undefined; // ./data.json and the like
        // esbuild puts the import statement's location on this error.
        return {
          errors: [
            {
              text: `Could not resolve "${args.path}": no ${displayCandidates(args.path)} under ${path.relative(folder.projectDir, folder.srcDir) || "."}`,
            },
          ],
        };
      });
    },
  };
}
