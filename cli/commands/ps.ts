import { ShellContext } from "../shell/helpers";
import { Connection } from "../shell/repl";
import { toJson } from "../views/tables";

/** `devcluster ps [node]`: the shell's ps(), as a table or JSON. */
export async function ps(projectDir: string, node: string | undefined, opts: { json?: boolean }): Promise<number> {
  const conn = new Connection(projectDir);
  try {
    const processes = await new ShellContext(() => conn.get()).ps(node);
    process.stdout.write((opts.json ? toJson(processes) : processes.render()) + "\n");
    return 0;
  } finally {
    conn.drop();
  }
}
