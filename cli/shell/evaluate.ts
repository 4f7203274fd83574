import * as vm from "node:vm";

/**
 * Evaluates an expression with the shell's helpers in scope. Top-level await
 * works: the text is tried as an async expression first, then as a body.
 */
export async function evaluate(code: string, scope: Record<string, unknown>): Promise<unknown> {
  const context = vm.createContext({ ...scope, console });
  let script: vm.Script;
  try {
    script = new vm.Script(`(async () => (${code}\n))()`, { filename: "shell" });
  } catch {
    script = new vm.Script(`(async () => {${code}\n})()`, { filename: "shell" });
  }
  return script.runInContext(context) as Promise<unknown>;
}
