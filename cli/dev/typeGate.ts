/**
 * `up --typecheck`: the project's tsc in watch mode beside the save path. It prints
 * what it finds, one line per error as `file:line:col`; a reload never waits for
 * it, except in strict mode, where a save waits for its check and is held back
 * while the project has type errors, then sent once it has none.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { Logger } from "../../wire/log";
import type { PendingSaves } from "../save/pendingSaves";
import { TypeChecker, formatTypeDiagnostic, type TypeDiagnostic } from "../save/typeChecker";
import type { ChangeBatch } from "../save/watcher";

export interface TypeGateOptions {
  projectDir: string;
  log: Logger;
  strict: boolean;
  pending: PendingSaves;
  /** strict: the saves held back, once the project has no type errors */
  release(held: ChangeBatch): void;
}

export class TypeGate {
  private readonly checker: TypeChecker;
  /** strict: saved files held back while the project has type errors */
  private held?: ChangeBatch;

  constructor(private readonly opts: TypeGateOptions) {
    const { projectDir, log, strict } = opts;
    const checker = new TypeChecker(projectDir);
    this.checker = checker;
    let reported = -1;
    checker.on("checked", (errors: TypeDiagnostic[]) => {
      for (const d of errors) log.error({ typecheck: true, file: d.file, line: d.line, column: d.column, code: d.code }, formatTypeDiagnostic(d));
      if (errors.length || reported !== 0) {
        log.info(
          { typecheck: true, errors: errors.length },
          errors.length ? `type check: ${errors.length} error${errors.length > 1 ? "s" : ""}` : "type check: no errors",
        );
      }
      reported = errors.length;
      const held = this.held;
      if (strict && errors.length === 0 && held) {
        this.held = undefined;
        const files = held.changed.map((f) => path.relative(projectDir, f));
        log.info({ files }, `type errors fixed: reloading what was held back (${files.join(", ")})`);
        opts.release(held);
      }
    });
    checker.on("output", (line: string) => log.info({ typecheck: true }, `tsc: ${line}`));
    checker.on("exit", (code: number | null) =>
      log.error({ typecheck: true, code }, "the type checker (tsc --watch) exited; restart `devcluster up --typecheck` to check again"),
    );
    checker.start();
    const ts = require.resolve("typescript/package.json", { paths: [projectDir] });
    const version = (JSON.parse(readFileSync(ts, "utf8")) as { version?: string }).version ?? "(version unknown)";
    log.info(
      { typecheck: strict ? "strict" : true, typescript: version },
      `type checking with TypeScript ${version} (${path.relative(projectDir, path.dirname(ts))})${strict ? "; strict: saves with type errors are held back" : ""}`,
    );
  }

  /** Strict mode: whether the project has type errors once tsc has seen this batch; holds the batch back if so. */
  async holds(batch: ChangeBatch): Promise<boolean> {
    const errors = await this.checker.settled(batch.firstEventAt);
    if (errors.length === 0) return false;
    const prev = this.held;
    const uniq = (a: string[], b: string[] = []): string[] => [...new Set([...b, ...a])];
    this.held = {
      changed: uniq(batch.changed, prev?.changed),
      removed: uniq(batch.removed, prev?.removed),
      assets: uniq(batch.assets, prev?.assets),
      firstEventAt: Math.min(batch.firstEventAt, prev?.firstEventAt ?? Infinity),
    };
    this.opts.pending.hold(batch.changed, "the project has type errors (--typecheck=strict)");
    const files = [...batch.changed, ...batch.assets].map((f) => path.relative(this.opts.projectDir, f));
    const where = [...new Set(errors.map((d) => d.file))].join(", ");
    this.opts.log.warn(
      { files, errors: errors.length, typecheck: "strict" },
      `held back: ${files.join(", ")} not reloaded while the project has ${errors.length} type error${errors.length > 1 ? "s" : ""} (in ${where}; --typecheck=strict); it reloads once they are fixed`,
    );
    return true;
  }

  close(): void {
    this.checker.close();
  }
}
