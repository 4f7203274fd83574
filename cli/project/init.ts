import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The starter project. Resolved from dist/cli/project/init.js to the package's
 * cli/project/templates, which the package ships as-is (tsc does not compile it).
 */
export const TEMPLATES_DIR = path.join(__dirname, "../../../cli/project/templates");

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
  const install = hasDevcluster(root) ? "" : "npm install --save-dev devcluster typescript @types/node, then ";
  log(
    `Next: ${cd ? `cd ${/^[\w./-]+$/.test(cd) ? cd : JSON.stringify(cd)} && ` : ""}${install}npx devcluster up. ` +
      `Edit src/counter.ts while it runs: every node reloads it and the counters keep their counts.`,
  );
  return written;
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
