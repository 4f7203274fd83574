import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";

/**
 * The warning that a file read only at start (cluster.config.json, the
 * dependencies: package.json, the lock file, node_modules) changed and needs a restart of `up`. Said
 * once: an editor's save arrives as several fs events (truncate, write,
 * rename), and every later edit leaves the same advice standing, so
 * repeating it only buries the log. Editing the file back to what `up`
 * started with withdraws it, and a later change warns again.
 */
export class RestartNotice {
  private warned = false;

  /** `atStart`: the file's content as `up` read it, in the form `seen` is given. */
  constructor(
    private readonly atStart: string,
    private readonly warn: () => void,
    /** told when a warned change is undone, so the advice can be withdrawn in words */
    private readonly withdraw?: () => void,
  ) {}

  /** The file's content now, or undefined when it says nothing yet (empty: an editor between truncate and write). */
  seen(now: string | undefined): void {
    if (now === undefined) return;
    if (now === this.atStart) {
      if (this.warned) this.withdraw?.();
      this.warned = false;
      return;
    }
    if (this.warned) return;
    this.warned = true;
    this.warn();
  }
}

/** A JSON file's content for comparison: what it says (formatting aside), or its raw text when it does not parse. */
export function jsonContent(text: string | undefined): string | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text;
  }
}

/** Lock files of the package managers, in the project folder: a change of one changes what `require` loads. */
export const LOCK_FILES = ["package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock"];

/** What the nodes' npm packages depend on, each part as comparable text: "" for a part that is absent. */
export interface DependencyState {
  /** package.json's dependency fields (formatting, scripts and the rest aside) */
  "package.json": string;
  /** each lock file that exists, with its content's hash */
  lock: string;
  /** node_modules' top-level entries (a scope's packages too): a package added, removed or relinked */
  node_modules: string;
}

/**
 * Reads the dependency state of a project, or undefined while a file says
 * nothing yet (package.json empty: an editor between truncate and write).
 */
export function dependencyState(projectDir: string): DependencyState | undefined {
  let pkg = "";
  const pkgFile = path.join(projectDir, "package.json");
  if (existsSync(pkgFile)) {
    const text = readText(pkgFile);
    if (text !== undefined && text.trim() === "") return undefined;
    try {
      const p = JSON.parse(text ?? "") as Record<string, unknown>;
      pkg = JSON.stringify([p.dependencies, p.devDependencies, p.optionalDependencies]);
    } catch {
      pkg = "unreadable";
    }
  }
  const lock = LOCK_FILES.flatMap((f) => {
    const text = readText(path.join(projectDir, f));
    return text === undefined ? [] : [`${f}:${createHash("sha1").update(text).digest("hex")}`];
  }).join(" ");
  return { "package.json": pkg, lock, node_modules: topLevelModules(path.join(projectDir, "node_modules")).join(" ") };
}

/** Which parts differ, named as people know them: `package.json`, the lock file's name, `node_modules`. */
export function changedParts(start: DependencyState, now: DependencyState): string[] {
  const out: string[] = [];
  if (start["package.json"] !== now["package.json"]) out.push("package.json");
  if (start.lock !== now.lock) {
    const names = (s: string): string[] => s.split(" ").filter(Boolean);
    const files = new Set([...names(start.lock), ...names(now.lock)].filter((e) => !(names(start.lock).includes(e) && names(now.lock).includes(e))));
    out.push(...new Set([...files].map((e) => e.slice(0, e.lastIndexOf(":")))));
  }
  if (start.node_modules !== now.node_modules) out.push("node_modules");
  return out;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** Top-level package folders (and links), `@scope/name` for scoped ones; npm's own dotfiles aside. */
function topLevelModules(dir: string): string[] {
  const list = (d: string): string[] => {
    try {
      return readdirSync(d).filter((n) => !n.startsWith("."));
    } catch {
      return [];
    }
  };
  return list(dir)
    .flatMap((n) => (n.startsWith("@") ? list(path.join(dir, n)).map((s) => `${n}/${s}`) : [n]))
    .sort();
}
