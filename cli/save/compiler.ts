import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as esbuild from "esbuild";
import { PROJECT_MODULE_PREFIX } from "../../runtime/code/loader";
import { ClusterError } from "../../wire/errors";
import { aliasCandidates, readProjectTsconfig, type ProjectTsconfig } from "./tsconfig";

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
  /** Absolute path of the `.ts`/`.tsx` file. */
  file: string;
  /**
   * Absolute paths of the other files inlined into `code` (a JSON file, a
   * helper outside the source folder), sorted: saving one of them must
   * rebuild this module.
   */
  bundled: string[];
}

/** One error esbuild found, located for humans. */
export interface CompileDiagnostic {
  /** Path relative to the project folder, forward slashes (`src/chat/room.ts`); "" when esbuild gave none. */
  file: string;
  /** 1-based; 0 when there is no location. */
  line: number;
  /** 1-based; 0 when there is no location. */
  column: number;
  /** The offending source line, "" when there is no location. */
  lineText: string;
  /** esbuild's message: `Expected ";" but found "}"`, `Could not resolve "./nope"`. */
  text: string;
}

/**
 * The set did not compile. Nothing of it may be sent: a reload is all or nothing,
 * and the cluster keeps running the last good version.
 */
export class CompileError extends ClusterError {
  /** each with file:line:col, for editors and the save report; ClusterError has no slot for them */
  readonly diagnostics: CompileDiagnostic[];

  constructor(diagnostics: CompileDiagnostic[]) {
    super("compile_failed", formatDiagnostics(diagnostics));
    this.name = "CompileError";
    this.diagnostics = diagnostics;
  }
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
const MODULE_FILE = /\.(ts|tsx)$/;
const DECLARATION_FILE = /\.d\.(ts|tsx|mts|cts)$/;
const RELATIVE_SPECIFIER = /^\.\.?(\/|$)/;

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

  /**
   * What an import names, as a project module file; "file" when it names
   * another existing file (bundled); undefined when it is no project file at
   * all (an npm package, a built-in, a path that does not exist).
   */
  private resolveImport(spec: string, fromDir: string, cfg: ProjectTsconfig): { module: string } | { file: string } | undefined {
    const targets = RELATIVE_SPECIFIER.test(spec) ? [path.resolve(fromDir, spec)] : aliasCandidates(cfg, spec);
    for (const target of targets) {
      const module = isInside(this.srcDir, target) ? resolveModuleFile(target) : undefined;
      if (module) return { module };
      if (isFile(target)) return { file: target };
    }
    return undefined;
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

  /** `chat/room` -> `<srcDir>/chat/room.ts`, or `.tsx` when only that exists. */
  fileOf(name: string): string {
    const base = path.join(this.srcDir, ...name.split("/"));
    if (!fs.existsSync(base + ".ts") && fs.existsSync(base + ".tsx")) return base + ".tsx";
    return base + ".ts";
  }

  /** Every module file under the source folder (`.ts`/`.tsx`, not `.d.ts`, not in node_modules), absolute, sorted. */
  listModules(): string[] {
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== "node_modules" && !entry.name.startsWith(".")) walk(full);
        } else if (entry.isFile() && isModuleFile(entry.name)) {
          found.push(full);
        }
      }
    };
    walk(this.srcDir);
    return found.sort();
  }

  /**
   * Compiles `files` in one esbuild call. The result puts importees before their
   * importers within the set (the order the nodes must evaluate them in); modules
   * of an import cycle come in any order. Throws {@link CompileError} with every
   * error of the set, so a burst of saves fails or succeeds as one.
   */
  async compile(files: string[]): Promise<CompiledModule[]> {
    if (files.length === 0) return [];
    const entries = [...new Set(files.map((f) => path.resolve(this.projectDir, f)))];
    const diagnostics: CompileDiagnostic[] = [];
    const fast = await Promise.all(
      entries.map((file) =>
        this.transformOne(file).catch((err: unknown) => {
          const failure = err as Partial<esbuild.TransformFailure>;
          if (!Array.isArray(failure.errors)) throw err;
          diagnostics.push(...failure.errors.map((m) => toDiagnostic(m, path.relative(this.projectDir, file))));
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
      loader: file.endsWith(".tsx") ? "tsx" : "ts",
      format: "cjs",
      platform: "node",
      target: "node20",
      sourcemap: "inline",
      sourcesContent: true,
      // The loader evaluates the bundle as <srcDir>/<name>.js: the source sits beside it.
      sourcefile: path.basename(file),
      define: { "import.meta.hot": "__devcluster_hot" },
      logLevel: "silent",
      supported: LOWER_PRIVATE,
    });
    const imports = new Set<string>();
    let bundle = false;
    const code = result.code.replace(REQUIRE_LITERAL, (call, spec: string) => {
      const resolved = this.resolveImport(spec, path.dirname(file), cfg);
      if (resolved && "module" in resolved) {
        const name = this.moduleName(resolved.module);
        imports.add(name);
        return `require(${JSON.stringify(PROJECT_MODULE_PREFIX + name)})`;
      }
      // A file to inline, or a relative path that does not exist: the build reports it where it is.
      if (resolved || RELATIVE_SPECIFIER.test(spec)) bundle = true;
      return call;
    });
    if (bundle) return "bundle";
    const name = this.moduleName(file);
    return { name, version: versionOf(code), code, imports: [...imports].sort(), file, bundled: [] };
  }

  /** One esbuild build of `files`, bundling what is not a project module. */
  private async build(entries: string[]): Promise<CompiledModule[]> {
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
        define: { "import.meta.hot": "__devcluster_hot" },
        plugins: [this.projectModulesPlugin(cfg)],
        supported: LOWER_PRIVATE,
      });
    } catch (err) {
      const failure = err as Partial<esbuild.BuildFailure>;
      if (Array.isArray(failure.errors)) throw new CompileError(failure.errors.map((m) => toDiagnostic(m)));
      throw err;
    }

    // The metafile ties each output to its entry and lists its external requires,
    // including those of non-project files bundled into it.
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
      const imports = new Set<string>();
      for (const imp of meta.imports) {
        if (imp.external && imp.path.startsWith(PROJECT_MODULE_PREFIX)) imports.add(imp.path.slice(PROJECT_MODULE_PREFIX.length));
      }
      const bundled = Object.keys(meta.inputs)
        .map((f) => path.resolve(this.projectDir, f))
        .filter((f) => f !== file)
        .sort();
      const code = out.text;
      modules.push({ name, version: versionOf(code), code, imports: [...imports].sort(), file, bundled });
    }
    return modules;
  }

  /** Compiles every module of the source folder. */
  compileAll(): Promise<CompiledModule[]> {
    return this.compile(this.listModules());
  }

  /**
   * Marks an import of a project module external, as
   * `devcluster:project/<name>`, whether relative or through a tsconfig alias.
   * esbuild does not call onResolve for the entry points, so each module's own
   * source is still bundled.
   */
  private projectModulesPlugin(cfg: ProjectTsconfig): esbuild.Plugin {
    return {
      name: "devcluster-project-modules",
      setup: (build) => {
        if (cfg.paths.length > 0 || cfg.baseUrl) {
          // Bare specifiers only; relative ones are handled below.
          build.onResolve({ filter: /^[^./]/ }, (args) => {
            if (args.kind === "entry-point") return undefined;
            const resolved = this.resolveImport(args.path, args.resolveDir, cfg);
            if (!resolved) return undefined; // an npm package or a built-in
            if ("module" in resolved) return { path: PROJECT_MODULE_PREFIX + this.moduleName(resolved.module), external: true };
            return { path: resolved.file }; // an aliased JSON file and the like: bundled
          });
        }
        build.onResolve({ filter: RELATIVE_SPECIFIER }, (args) => {
          const target = path.resolve(args.resolveDir, args.path);
          if (!isInside(this.srcDir, target)) return undefined; // outside the project's modules: bundle it
          const file = resolveModuleFile(target);
          if (file !== undefined) return { path: PROJECT_MODULE_PREFIX + this.moduleName(file), external: true };
          if (fs.existsSync(target) && fs.statSync(target).isFile()) return undefined; // ./data.json and the like
          // esbuild puts the import statement's location on this error.
          return {
            errors: [
              {
                text: `Could not resolve "${args.path}": no ${displayCandidates(args.path)} under ${path.relative(this.projectDir, this.srcDir) || "."}`,
              },
            ],
          };
        });
      },
    };
  }
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

function isModuleFile(file: string): boolean {
  return MODULE_FILE.test(file) && !DECLARATION_FILE.test(file);
}

function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The module file an import names, tried as TypeScript users write imports:
 * as given, with `.ts`/`.tsx`, as a folder's index, and with `.js` meaning `.ts`.
 */
function resolveModuleFile(target: string): string | undefined {
  const candidates = [target, target + ".ts", target + ".tsx", path.join(target, "index.ts"), path.join(target, "index.tsx")];
  const js = /\.(js|jsx|mjs|cjs)$/.exec(target);
  if (js) {
    const stem = target.slice(0, -js[0].length);
    candidates.push(stem + ".ts", stem + ".tsx");
  }
  return candidates.find((c) => isModuleFile(c) && isFile(c));
}

function displayCandidates(spec: string): string {
  const stem = spec.replace(/\.(js|jsx|mjs|cjs|ts|tsx)$/, "");
  return `${stem}.ts, ${stem}.tsx or ${stem}/index.ts`;
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

/** esbuild's CommonJS output names every import as `require("<literal>")`. */
const REQUIRE_LITERAL = /\brequire\("([^"]+)"\)/g;

function toDiagnostic(msg: esbuild.Message, file?: string): CompileDiagnostic {
  const loc = msg.location;
  // esbuild counts columns in UTF-8 bytes; people count characters.
  const column = loc ? Buffer.from(loc.lineText).subarray(0, loc.column).toString().length + 1 : 0;
  return {
    file: file ?? loc?.file ?? "",
    line: loc?.line ?? 0,
    column,
    lineText: loc?.lineText ?? "",
    text: msg.text,
  };
}

/**
 * `src/chat/room.ts:14:3: error: <text>` with the line and a caret under the
 * column, for each error, then what it means for the running cluster.
 */
export function formatDiagnostics(diagnostics: CompileDiagnostic[]): string {
  const parts = diagnostics.map((d) => {
    if (!d.file) return `error: ${d.text}`;
    if (d.line === 0) return `${d.file}: error: ${d.text}`;
    const gutter = Math.max(5, String(d.line).length);
    return (
      `${d.file}:${d.line}:${d.column}: error: ${d.text}\n` +
      `${String(d.line).padStart(gutter)} | ${d.lineText}\n` +
      // Keep tabs so the caret lines up under the column in a terminal.
      `${" ".repeat(gutter)} | ${d.lineText.slice(0, Math.max(0, d.column - 1)).replace(/[^\t]/g, " ")}^`
    );
  });
  parts.push("Nothing was sent; the cluster keeps running the last good version.");
  return parts.join("\n");
}
