import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as esbuild from "esbuild";
import { IMPORT_META } from "../../runtime/code/importMeta";
import { PROJECT_MODULE_PREFIX } from "../../runtime/code/loader";
import { shipShape } from "../../runtime/code/shippedShape";
import type { ShippedShape } from "../../wire/moduleShape";
import { ClusterError } from "../../wire/errors";
import type { Bindings } from "./bindings";
import { CompileError, toDiagnostic, type CompileDiagnostic } from "./diagnostics";
import { isFile, listModuleFiles, moduleFileOf } from "./moduleFiles";
import { projectModulesPlugin, RELATIVE_SPECIFIER, resolveImport, rewriteImports } from "./projectImports";
import { readProjectTsconfig, type ProjectTsconfig } from "./tsconfig";

export { CompileError, formatDiagnostics, formatWarning, type CompileDiagnostic } from "./diagnostics";

/**
 * How a bundle names another project module: `require("devcluster:project/chat/room")`.
 * The loader owns it: its `require` answers such a name with a live view of that
 * module's table entry, so an import is never inlined and every call site reaches
 * the current version (docs/design.md §4.1).
 */
export { PROJECT_MODULE_PREFIX };

/** One module compiled to a self-contained CommonJS bundle, ready to send to the nodes. */
export interface CompiledModule {
  /** Path relative to the source folder, without extension, forward slashes: `chat/room`. */
  name: string;
  /** Content hash of `code`: the first 12 hex digits of its sha256. */
  version: string;
  /** CommonJS source with an inline source map; evaluate it as `path.join(srcDir, name + ".js")`. */
  code: string;
  /** Names of the project modules it requires (as `devcluster:project/<name>`), sorted. */
  imports: string[];
  /** Absolute path of its source file (`.ts`, `.tsx`, `.js`, `.mjs` or `.cjs`). */
  file: string;
  /**
   * Absolute paths of the other files inlined into `code` (a JSON file, a
   * helper outside the source folder), sorted: saving one of them must
   * rebuild this module.
   */
  bundled: string[];
  /** the names it exports and reads from each project import, read from the same syntax tree as the rewrite */
  bindings?: Bindings;
  /** esbuild's warnings (`call-import-namespace` predicts a crash): shown, but the module compiled and is sent */
  warnings?: CompileDiagnostic[];
  /** what a node reads from `code` to check and instrument it, read here once instead of on every node (wire/moduleShape.ts) */
  shape?: ShippedShape;
}

/**
 * `#private` members lowered to WeakMaps and WeakSets, which the loader keeps
 * one per member across versions: a native private name belongs to one class
 * object, so instances made before a save would throw under the new methods,
 * and `this.#x` would not see through the proxy importers hold (docs/design.md §4.2).
 */
const LOWER_PRIVATE = {
  "class-private-field": false,
  "class-private-method": false,
  "class-private-static-field": false,
  "class-private-static-method": false,
  "class-private-accessor": false,
  "class-private-brand-check": false,
};

/**
 * Compiles project modules with esbuild, one bundle per module. Imports of other
 * project modules stay `require("devcluster:project/<name>")`, whether written
 * relative (`./room`) or through a tsconfig alias (`@lib/room`, `baseUrl`); npm
 * packages and Node built-ins stay plain `require`s; anything else a module
 * imports (a JSON file, a helper outside the source folder) is bundled into it.
 * Both compile paths take the project's tsconfig.json (decorators, JSX, class
 * fields), so a file compiles the same whichever path it takes.
 *
 * @example
 *   const c = new Compiler({ projectDir, srcDir: path.join(projectDir, "src") });
 *   const [room] = await c.compile([c.fileOf("chat/room")]);
 */
export class Compiler {
  readonly projectDir: string;
  readonly srcDir: string;
  private cachedTsconfig: { stamp: string; cfg: ProjectTsconfig } | undefined;

  /** @internal A test's way into the moment between reading a file and looking at it again. */
  private readonly afterRead: ((file: string) => void) | undefined;

  constructor(opts: { projectDir: string; srcDir: string; afterRead?: (file: string) => void }) {
    this.projectDir = path.resolve(opts.projectDir);
    this.srcDir = path.resolve(this.projectDir, opts.srcDir);
    this.afterRead = opts.afterRead;
  }

  /**
   * The project's tsconfig, read again when tsconfig.json changed (its mtime
   * and size), so an edit applies from the next save on. A tsconfig that
   * `extends` another is re-read only when the project's own file changes.
   */
  tsconfig(): ProjectTsconfig {
    const file = path.join(this.projectDir, "tsconfig.json");
    let stamp = "none";
    try {
      const st = fs.statSync(file);
      stamp = `${st.mtimeMs}:${st.size}`;
    } catch {
      // no tsconfig: esbuild's defaults
    }
    if (this.cachedTsconfig?.stamp !== stamp) this.cachedTsconfig = { stamp, cfg: readProjectTsconfig(this.projectDir) };
    return this.cachedTsconfig.cfg;
  }

  /** `<srcDir>/chat/room.ts` -> `chat/room`. Throws for a file outside the source folder. */
  moduleName(file: string): string {
    const rel = path.relative(this.srcDir, path.resolve(this.projectDir, file));
    if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) {
      throw new ClusterError("badarg", `${file} is not inside the source folder ${this.srcDir}, so it is not a project module`);
    }
    return rel
      .replace(/\.[^./\\]+$/, "")
      .split(path.sep)
      .join("/");
  }

  /** `<projectDir>/src/chat/room.ts` -> `src/chat/room.ts`, as diagnostics name files. */
  private relative(file: string): string {
    return path.relative(this.projectDir, file).split(path.sep).join("/");
  }

  /** Whether module `name` is CommonJS by its file (`.cjs`): what an ES import of it reads as `default`. */
  private readonly isCommonJs = (name: string): boolean => this.fileOf(name).endsWith(".cjs");

  private ownFile(file: string): string {
    const own = this.fileOf(this.moduleName(file));
    return own !== file && isFile(own) ? own : file;
  }

  /** `chat/room` -> `<srcDir>/chat/room.ts`, or the first of `.tsx`, `.js`, `.mjs`, `.cjs` that exists. */
  fileOf(name: string): string {
    return moduleFileOf(path.join(this.srcDir, ...name.split("/")));
  }

  /** Every module file under the source folder (`.ts`, `.tsx`, `.js`, `.mjs`, `.cjs`, not `.d.ts`, not in node_modules), one per module, absolute, sorted. */
  listModules(): string[] {
    return listModuleFiles(this.srcDir);
  }

  /**
   * Compiles `files` in one esbuild call. The result puts importees before their
   * importers within the set (the order the nodes must evaluate them in); modules
   * of an import cycle come in any order. Throws {@link CompileError} with every
   * error of the set, so a burst of saves fails or succeeds as one.
   */
  async compile(files: string[]): Promise<CompiledModule[]> {
    if (files.length === 0) return [];
    // A file shadowed by its module's own (lib.js beside lib.ts) compiles as that module's file: one file per module name.
    const entries = [...new Set(files.map((f) => this.ownFile(path.resolve(this.projectDir, f))))];
    const diagnostics: CompileDiagnostic[] = [];
    const fast = await Promise.all(
      entries.map((file) =>
        this.transformOne(file).catch((err: unknown) => {
          const failure = err as Partial<esbuild.TransformFailure>;
          if (!Array.isArray(failure.errors)) throw err;
          diagnostics.push(...failure.errors.map((m) => toDiagnostic(m, this.relative(file))));
          return undefined;
        }),
      ),
    );
    if (diagnostics.length) throw new CompileError(diagnostics);
    const slow = entries.filter((_, i) => fast[i] === "bundle");
    const modules = [...fast.filter((m): m is CompiledModule => typeof m === "object"), ...(slow.length ? await this.build(slow) : [])];
    const order = new Map(entries.map((f, i) => [f, i]));
    modules.sort((a, b) => order.get(a.file)! - order.get(b.file)!);
    return importeesFirst(modules);
  }

  /**
   * The fast path, on every save: esbuild's transform of one file (no
   * resolver, no plugin round trips: about a third of a build's time), with
   * each relative require of a project module rewritten to its module name.
   * A module that imports anything else by a relative path (a JSON file, a
   * helper outside the source folder, a path that does not exist) answers
   * "bundle" and goes through {@link build}, which bundles or reports it.
   */
  private async transformOne(file: string): Promise<CompiledModule | "bundle"> {
    // A save starts on the first event, which can come while the writer has truncated the file and not yet
    // written it: the file is read again until it looks the same (size, mtime) after the compile as before the read.
    for (let attempt = 1; ; attempt++) {
      const before = stampOf(file);
      // Sync on purpose: a source file reads in microseconds, where the thread pool's round trip cost 0.5-0.9 ms here.
      const source = fs.readFileSync(file, "utf8");
      this.afterRead?.(file);
      if (source === "" && attempt === 1) {
        // Empty is what a writer leaves between its truncate and its write, and a writer that stalls there outlasts
        // a compile; an empty module would take every export away on the nodes. A file saved empty on purpose waits this once.
        await new Promise((r) => setTimeout(r, EMPTY_FILE_GRACE_MS));
        if (stampOf(file) !== before) continue;
      }
      let out: CompiledModule | "bundle";
      try {
        out = await this.transformSource(file, source);
      } catch (err) {
        // Half-written text seldom parses: an error about text the writer has since finished is not reported.
        if (attempt < MAX_READS && stampOf(file) !== before) continue;
        throw err;
      }
      if (stampOf(file) === before || attempt === MAX_READS) return out;
    }
  }

  private async transformSource(file: string, source: string): Promise<CompiledModule | "bundle"> {
    const cfg = this.tsconfig();
    const result = await esbuild.transform(source, {
      tsconfigRaw: cfg.esbuild,
      loader: file.endsWith(".tsx") ? "tsx" : file.endsWith(".ts") ? "ts" : "js",
      format: "cjs",
      platform: "node",
      target: "node20",
      sourcemap: "inline",
      sourcesContent: true,
      // The loader evaluates the bundle as <srcDir>/<name>.js: the source sits beside it.
      sourcefile: path.basename(file),
      define: defines(file),
      logLevel: "silent",
      supported: LOWER_PRIVATE,
    });
    const dir = path.dirname(file);
    const out = rewriteImports(
      result.code,
      cfg,
      (spec) => {
        const resolved = resolveImport(this.srcDir, spec, dir, cfg);
        if (resolved && "module" in resolved) return this.moduleName(resolved.module);
        // A file to inline, or a relative path that does not exist: the build reports it where it is.
        return resolved || RELATIVE_SPECIFIER.test(spec) ? "bundle" : undefined;
      },
      this.isCommonJs,
    );
    if (out === "bundle") return "bundle";
    const name = this.moduleName(file);
    const warnings = result.warnings.filter((w) => holds(w, cfg)).map((w) => toDiagnostic(w, this.relative(file)));
    const { code, imports, bindings } = out;
    return { name, version: versionOf(code), code, imports, file, bundled: [], bindings, warnings, shape: shipShape(code) };
  }

  /**
   * esbuild builds of `files`, bundling what is not a project module: one per
   * source extension, since `import.meta` names it and a build has one `define`.
   */
  private async build(files: string[]): Promise<CompiledModule[]> {
    const byExtension = new Map<string, string[]>();
    for (const f of files) byExtension.set(path.extname(f), [...(byExtension.get(path.extname(f)) ?? []), f]);
    const built = await Promise.allSettled([...byExtension.values()].map((entries) => this.buildOne(entries)));
    const failed = built.flatMap((b) => (b.status === "rejected" ? [b.reason as unknown] : []));
    if (failed.length > 0) {
      if (!failed.every((e) => e instanceof CompileError)) throw failed.find((e) => !(e instanceof CompileError));
      throw new CompileError((failed as CompileError[]).flatMap((e) => e.diagnostics));
    }
    return built.flatMap((b) => (b.status === "fulfilled" ? b.value : []));
  }

  /** One esbuild build of `entries`, all of one source extension. */
  private async buildOne(entries: string[]): Promise<CompiledModule[]> {
    const names = new Map(entries.map((f) => [f, this.moduleName(f)] as const));
    const cfg = this.tsconfig();
    let result: esbuild.BuildResult<{ write: false; metafile: true }>;
    try {
      result = await esbuild.build({
        // The same options as the transform path, instead of esbuild's own tsconfig discovery.
        tsconfigRaw: cfg.esbuild,
        entryPoints: entries,
        bundle: true,
        format: "cjs",
        platform: "node",
        target: "node20",
        write: false,
        metafile: true,
        sourcemap: "inline",
        sourcesContent: true,
        outdir: this.srcDir,
        outbase: this.srcDir,
        absWorkingDir: this.projectDir,
        packages: "external",
        external: ["devcluster"],
        logLevel: "silent",
        define: defines(entries[0]!),
        plugins: [projectModulesPlugin(this, cfg)],
        supported: LOWER_PRIVATE,
      });
    } catch (err) {
      const failure = err as Partial<esbuild.BuildFailure>;
      if (Array.isArray(failure.errors)) throw new CompileError(failure.errors.map((m) => toDiagnostic(m)));
      throw err;
    }

    // The metafile ties each output to its entry and lists the files bundled into it.
    const byOutput = new Map<string, esbuild.Metafile["outputs"][string]>();
    for (const [out, meta] of Object.entries(result.metafile.outputs)) {
      byOutput.set(path.resolve(this.projectDir, out), meta);
    }
    const modules: CompiledModule[] = [];
    for (const out of result.outputFiles) {
      const meta = byOutput.get(out.path);
      if (!meta?.entryPoint) continue;
      const file = path.resolve(this.projectDir, meta.entryPoint);
      const name = names.get(file) ?? this.moduleName(file);
      const bundled = Object.keys(meta.inputs)
        .map((f) => path.resolve(this.projectDir, f))
        .filter((f) => f !== file)
        .sort();
      // The project modules plugin left each project import as `require("devcluster:project/<name>")`.
      const rewritten = rewriteImports(out.text, cfg, () => undefined, this.isCommonJs);
      if (rewritten === "bundle") continue; // never: nothing resolves to "bundle" here
      const { code, imports, bindings } = rewritten;
      // A warning belongs to the module its file is part of (its own source, or a file bundled into it).
      const inputs = new Set(Object.keys(meta.inputs).map((f) => path.resolve(this.projectDir, f)));
      const warnings = result.warnings
        .filter((w) => w.location && inputs.has(path.resolve(this.projectDir, w.location.file)) && holds(w, cfg))
        .map((w) => toDiagnostic(w));
      modules.push({ name, version: versionOf(code), code, imports, file, bundled, bindings, warnings, shape: shipShape(code) });
    }
    return modules;
  }

  /** Compiles every module of the source folder. */
  compileAll(): Promise<CompiledModule[]> {
    return this.compile(this.listModules());
  }
}

/** False for a warning the project's tsconfig makes untrue: without esModuleInterop a namespace import is the package, and calling it works. */
function holds(w: esbuild.Message, cfg: ProjectTsconfig): boolean {
  return cfg.esModuleInterop || w.id !== "call-import-namespace";
}

/**
 * `import.meta.hot` is the loader's hot context; `import.meta` the loader's
 * `import.meta` of the module under its source file's extension
 * (`runtime/code/importMeta.ts`): the extension travels in the bundle's text,
 * and each node makes the path from its own source folder.
 */
function defines(file: string): Record<string, string> {
  return { "import.meta.hot": "__devcluster_hot", "import.meta": `${IMPORT_META}.${path.extname(file).slice(1)}` };
}

/** reads of one file in one compile while it keeps changing under us; after that the last read goes (the watcher sees the rest) */
const MAX_READS = 5;

/** how long an empty file is given to fill before it is compiled as empty (see transformOne) */
const EMPTY_FILE_GRACE_MS = 30;

/** What tells a rewritten file apart: size and mtime (nanoseconds where the file system keeps them). */
function stampOf(file: string): string {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.size}:${st.mtimeNs}`;
  } catch {
    return "gone";
  }
}

function versionOf(code: string): string {
  return createHash("sha256").update(code).digest("hex").slice(0, 12);
}

/** Depth-first post-order over the set's own import edges; the visited set lets cycles through. */
export function importeesFirst(modules: CompiledModule[]): CompiledModule[] {
  const byName = new Map(modules.map((m) => [m.name, m]));
  const visited = new Set<string>();
  const ordered: CompiledModule[] = [];
  const visit = (m: CompiledModule): void => {
    if (visited.has(m.name)) return;
    visited.add(m.name);
    for (const dep of m.imports) {
      const d = byName.get(dep);
      if (d) visit(d);
    }
    ordered.push(m);
  };
  modules.forEach(visit);
  return ordered;
}
