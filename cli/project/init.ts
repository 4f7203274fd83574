import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The starter project. Resolved from dist/cli/project/init.js to the package's
 * cli/project/templates, which the package ships as-is (tsc does not compile it).
 */
export const TEMPLATES_DIR = path.join(__dirname, "../../../cli/project/templates");

/** The devcluster package this init runs from: a checkout, or a copy installed in some node_modules. */
export const PACKAGE_DIR = path.join(__dirname, "../../..");

/**
 * What the starter's `tsc --noEmit` needs besides devcluster, pinned to the
 * majors devcluster is built and tested with (Node 20's types, TypeScript 5):
 * the registry's latest may be a major ahead that the starter's tsconfig was
 * never checked against. Both names are on the npm registry.
 */
export const TYPE_CHECK_DEPS = ["typescript@5", "@types/node@20"] as const;

/**
 * Template file -> file in the new project. `.gitignore` is stored as
 * `gitignore` because npm leaves `.gitignore` files out of published packages.
 */
const FILES: ReadonlyArray<{ template: string; target: string }> = [
  { template: "cluster.config.json", target: "cluster.config.json" },
  { template: "tsconfig.json", target: "tsconfig.json" },
  { template: "src/app.ts", target: "src/app.ts" },
  { template: "src/counter.ts", target: "src/counter.ts" },
  { template: "gitignore", target: ".gitignore" },
];

/**
 * `devcluster init [dir]`: writes a two-node starter project into `dir`
 * (created if needed): cluster.config.json named after the folder, a tsconfig,
 * an entry module `src/app.ts` and a counter behaviour `src/counter.ts`.
 * An existing file is never overwritten; it is skipped and the log says so.
 * A folder that already has a cluster.config.json was initialized before, so
 * init writes nothing there: a sample file the user deleted stays deleted.
 * Resolves to the absolute paths of the files it wrote.
 *
 * @example
 *   await init("my-cluster", { log: console.log });
 */
export async function init(dir: string, opts: { log?: (line: string) => void } = {}): Promise<string[]> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const root = path.resolve(dir);
  const name = path.basename(root);
  const written: string[] = [];

  if (fs.existsSync(path.join(root, "cluster.config.json"))) {
    log(`cluster.config.json exists: ${root} was initialized before, so init writes nothing (files you deleted stay deleted)`);
    return written;
  }

  for (const { template, target } of FILES) {
    const dest = path.join(root, target);
    let text = await fs.promises.readFile(path.join(TEMPLATES_DIR, template), "utf8");
    if (target === "cluster.config.json") text = text.replace('"{{name}}"', JSON.stringify(name));
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    try {
      // "wx" fails if the file exists, even if it appeared after we looked.
      await fs.promises.writeFile(dest, text, { flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      log(`skipped ${target}: it already exists`);
      continue;
    }
    written.push(dest);
    log(`created ${target}`);
  }

  const cd = path.relative(process.cwd(), root);
  log(
    `Next: ${cd ? `cd ${shellWord(cd)} && ` : ""}npm install --save-dev ${installArgs(root).join(" ")}, then npx devcluster up. ` +
      `Edit src/counter.ts while it runs: every node reloads it and the counters keep their counts. ` +
      `\`npx tsc --noEmit\` type-checks the project.`,
  );
  return written;
}

/**
 * What the project installs to run and type-check: devcluster itself, unless
 * it already depends on it, then TypeScript and Node's types. devcluster is not
 * on the npm registry, so it comes from the folder init runs from (npm links a
 * folder dependency: node_modules/devcluster points at the checkout, whose
 * package.json gives the types of `from "devcluster"`, the bin and the config
 * schema). Run from an installed copy, the project already has it.
 */
export function installArgs(root: string): string[] {
  const installed = path.relative(path.resolve(root, "node_modules"), PACKAGE_DIR);
  const fromFolder = hasDevcluster(root) || (!installed.startsWith("..") && !path.isAbsolute(installed)) ? [] : [shellWord(folderSpec(root))];
  return [...fromFolder, ...TYPE_CHECK_DEPS];
}

/** The checkout as npm's folder spec, relative to the project (`../devcluster`), so it survives moving both together. */
function folderSpec(root: string): string {
  const rel = path.relative(root, PACKAGE_DIR) || ".";
  // Beside the project (../devcluster) reads best; from far away the absolute path does.
  if (rel.split(path.sep).filter((p) => p === "..").length > 2) return PACKAGE_DIR;
  return rel.startsWith(".") || path.isAbsolute(rel) ? rel : `./${rel}`;
}

function shellWord(text: string): string {
  return /^[\w./@-]+$/.test(text) ? text : JSON.stringify(text);
}

/** Whether the project already depends on devcluster (then init need not tell the user to install it). */
function hasDevcluster(root: string): boolean {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as Record<string, Record<string, string> | undefined>;
    return Boolean(pkg.dependencies?.devcluster ?? pkg.devDependencies?.devcluster);
  } catch {
    return false;
  }
}
