/**
 * The single-process floor of save-to-live: what any single-process hot
 * reload must pay for the same save. The same chokidar event (same options as
 * cli/save/watcher.ts, no quiet window), the same compile (cli/save/compiler.ts
 * on the same file), and evaluating the module in this one process the way
 * Node's require does (Module#_compile), then the first answer by the new code
 * (a call of its formatMessage). Nothing is sent anywhere.
 */
import { writeFileSync } from "node:fs";
import Module from "node:module";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { watch, type FSWatcher } from "chokidar";
import { Compiler } from "../cli/save/compiler";
import { chatFiles, formatSource, makeProject, type Project } from "./lib";

export interface FloorSample {
  /** write -> first answer rendered by the new code */
  total: number;
  /** write -> chokidar's change event */
  fsEvent: number;
  compile: number;
  /** Module#_compile of the new code and the first call of it */
  evaluate: number;
}

type CompilableModule = Module & { _compile(code: string, filename: string): unknown };

/** A project of its own (the chat fixture), watched and compiled in this process. */
export class SingleProcessFloor {
  private readonly project: Project;
  private readonly compiler: Compiler;
  private readonly file: string;
  private fsw?: FSWatcher;
  private onChange?: (at: number) => void;
  private n = 0;

  constructor() {
    this.project = makeProject(chatFiles("v0"), { name: "floor", nodes: 1 });
    this.compiler = new Compiler({ projectDir: this.project.dir, srcDir: path.join(this.project.dir, "src") });
    this.file = path.join(this.project.dir, "src", "format.ts");
  }

  async start(): Promise<void> {
    const fsw = watch(path.join(this.project.dir, "src"), { ignoreInitial: true, atomic: true });
    this.fsw = fsw;
    fsw.on("change", (p) => {
      if (path.resolve(p) === this.file) this.onChange?.(performance.now());
    });
    await new Promise<void>((resolve) => fsw.once("ready", () => resolve()));
  }

  /** One save of format.ts with `tag`, timed phase by phase. */
  async save(tag: string): Promise<FloorSample> {
    const changed = new Promise<number>((resolve) => (this.onChange = resolve));
    const writeAt = performance.now();
    writeFileSync(this.file, formatSource(tag));
    const eventAt = await changed;
    this.onChange = undefined;
    const [mod] = await this.compiler.compile([this.file]);
    const compiledAt = performance.now();
    const filename = path.join(this.project.dir, "src", `format.js`);
    const m = new Module(filename) as CompilableModule;
    m.filename = filename;
    m.require = ((spec: string) => (spec === "devcluster" ? {} : require(spec))) as NodeRequire;
    m._compile(mod!.code, `${filename}?v=${++this.n}`);
    const line = (m.exports as { formatMessage(x: unknown): string }).formatMessage({ from: "bench", text: "hi", at: 0, room: "r" });
    const doneAt = performance.now();
    if (!line.startsWith(tag + " ")) throw new Error(`floor: the new code answered ${line}`);
    return { total: doneAt - writeAt, fsEvent: eventAt - writeAt, compile: compiledAt - eventAt, evaluate: doneAt - compiledAt };
  }

  async close(): Promise<void> {
    await this.fsw?.close();
    this.project.cleanup();
  }
}
