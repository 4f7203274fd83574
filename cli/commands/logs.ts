import { ClusterClient } from "../dev/client";
import { levelNumber, type LogAnswer, type LogQuery } from "../dev/logs";
import { isAlive } from "../project/stateDir";
import { LogFormatter } from "../views/logLines";

export interface LogsOptions {
  follow?: boolean;
  level?: string;
  lines?: number;
  json?: boolean;
}

/** How long one follow request waits for a line before asking again: well inside the request's own deadline. */
const FOLLOW_WAIT_MS = 10_000;
/** How often a follower looks whether the coordinator's process still runs. */
const GONE_CHECK_MS = 200;

/**
 * `devcluster logs [node] [-f] [--level <level>]`: the last lines `up` kept
 * of a node (or of every node), as `up` shows them or as JSON lines; with
 * `-f` it then follows new lines until Ctrl-C or until the cluster stops.
 */
export async function logs(projectDir: string, node: string | undefined, opts: LogsOptions): Promise<number> {
  levelNumber(opts.level); // an unknown level is refused before anything is asked
  const client = ClusterClient.connect(projectDir);
  let formatter: LogFormatter | undefined;
  const print = (a: LogAnswer): void => {
    formatter ??= new LogFormatter(a.names, Boolean(process.stdout.isTTY));
    const f = formatter;
    const text = a.lines.map((r) => (opts.json ? JSON.stringify(r) : f.format(r))).join("\n");
    if (text) process.stdout.write(text + "\n");
  };
  const base: LogQuery = { ...(node !== undefined ? { node } : {}), ...(opts.level !== undefined ? { level: opts.level } : {}) };
  let interrupted = false;
  let gone = false;
  const onSigint = (): void => {
    interrupted = true;
    client.close();
  };
  // A stopping coordinator answers a waiting follower with `closed`, but a request sent in the last moments, after its
  // endpoint closed, is never answered: without this the follower waited out its deadline and failed (issue 22).
  const { pid, procStart } = client.running;
  const watch = setInterval(() => {
    if (isAlive(pid, procStart)) return;
    gone = true;
    client.close();
  }, GONE_CHECK_MS);
  watch.unref();
  try {
    let answer = await client.request<LogAnswer>({ type: "logs", ...base, lines: opts.lines ?? 50 });
    print(answer);
    if (!opts.follow) return 0;
    process.once("SIGINT", onSigint);
    while (!answer.closed) {
      try {
        answer = await client.request<LogAnswer>({ type: "logs", ...base, after: answer.next, waitMs: FOLLOW_WAIT_MS }, FOLLOW_WAIT_MS + 5000);
      } catch (err) {
        if (interrupted) return 0;
        if (gone) break;
        throw err;
      }
      print(answer);
    }
    process.stderr.write("the cluster stopped\n");
    return 0;
  } finally {
    clearInterval(watch);
    process.off("SIGINT", onSigint);
    client.close();
  }
}
