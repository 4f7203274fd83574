/**
 * The compiler's share of a save: `Compiler.compile()` of one module, a small one
 * (30 output lines) and a large one (about 600), median of 400 runs after 100 of warm-up.
 *
 *   node dist/bench/compile.js                   this build
 *   node dist/bench/compile.js /path/to/other    this build and another checkout's build
 *                                                (its dist/), alternated run by run in one
 *                                                process, so machine load hits both alike
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { Compiler } from "../cli/save/compiler";

type CompilerClass = typeof Compiler;

function project(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-bench-compile-"));
  const write = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };
  write("src/lib.ts", "export const VERSION = 1;\nexport function f(x: number) { return x + 1; }\n");
  write("src/small.ts", `import { VERSION } from "./lib";\nexport const greet = (s: string): string => "hi " + s + VERSION;\n`);
  let large = `import { VERSION, f } from "./lib";\nimport * as os from "node:os";\nimport { EventEmitter } from "node:events";\n`;
  for (let i = 0; i < 40; i++) {
    large +=
      `export class C${i} extends EventEmitter {\n  n = ${i};\n  m(x: number): number {\n    const s = "require(\\"./lib\\")" + os.EOL;\n` +
      `    return f(x) + VERSION + this.n + s.length;\n  }\n}\nexport function g${i}(a: number) { return new C${i}().m(a); }\n\n`;
  }
  write("src/large.ts", large);
  return dir;
}

async function main(): Promise<void> {
  const builds: { label: string; Compiler: CompilerClass }[] = [{ label: "this build", Compiler }];
  const other = process.argv[2];
  if (other) {
    const mod = require(path.resolve(other, "dist", "cli", "save", "compiler.js")) as { Compiler: CompilerClass };
    builds.push({ label: other, Compiler: mod.Compiler });
  }
  const dir = project();
  try {
    for (const name of ["small", "large"]) {
      const compilers = builds.map((b) => new b.Compiler({ projectDir: dir, srcDir: "src" }));
      const file = compilers[0]!.fileOf(name);
      const times: number[][] = compilers.map(() => []);
      for (let i = 0; i < 100; i++) for (const c of compilers) await c.compile([file]);
      for (let i = 0; i < 400; i++) {
        for (const [k, c] of compilers.entries()) {
          const t0 = performance.now();
          await c.compile([file]);
          times[k]!.push(performance.now() - t0);
        }
      }
      const lines = (await compilers[0]!.compile([file]))[0]!.code.split("\n").length;
      const figures = times.map((t, k) => {
        t.sort((a, b) => a - b);
        return `${builds[k]!.label}: median ${t[200]!.toFixed(2)} ms, p90 ${t[360]!.toFixed(2)} ms`;
      });
      console.log(`compile() of ${name} (${lines} output lines)  ${figures.join("  |  ")}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
