import { init as writeProject } from "../project/init";

/** `devcluster init [dir]`: the starter project, each file it writes or skips on its own line. */
export async function init(dir: string | undefined): Promise<number> {
  await writeProject(dir ?? ".", { log: (line) => process.stdout.write(line + "\n") });
  return 0;
}
