import { DevServer } from "../dev/devServer";
import type { LogFormat } from "../dev/logs";

/** `devcluster up`: runs until Ctrl-C, `devcluster stop`, or SIGTERM; every node ends with it. */
export async function up(configPath: string, opts: { logFormat: LogFormat; typecheck?: boolean | "strict" }): Promise<number> {
  const server = await DevServer.start({ configPath, logFormat: opts.logFormat, ...(opts.typecheck ? { typecheck: opts.typecheck } : {}) });
  await new Promise<void>((resolve) => {
    const stop = (why: string): void => {
      server.log.info({ why }, `stopping the cluster (${why})`);
      resolve();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGHUP", () => stop("SIGHUP"));
    server.once("stop", () => stop("devcluster stop"));
  });
  await server.close();
  server.log.info("cluster stopped");
  return 0;
}
