#!/usr/bin/env node
import { Command, Option } from "commander";
import { ClusterError, isClusterError } from "../wire/errors";
import { history } from "./commands/history";
import { init } from "./commands/init";
import { exportKeys, rotateKeys } from "./commands/keys";
import { logs } from "./commands/logs";
import { observe } from "./commands/observe";
import { node } from "./commands/node";
import { ps } from "./commands/ps";
import { reload } from "./commands/reload";
import { restart } from "./commands/restart";
import { shell } from "./commands/shell";
import { status } from "./commands/status";
import { stop } from "./commands/stop";
import { up } from "./commands/up";
import { findConfig, projectDirOf } from "./project/project";

const program = new Command();
program
  .name("devcluster")
  .description("Hot code reload for clustered Node.js: save a file, every node runs the new code, state intact.")
  .version((require("../../package.json") as { version: string }).version);

const projectDir = (config: string | undefined): string => projectDirOf(findConfig(config));

const configOption = new Option("-c, --config <path>", "cluster config file (default: nearest cluster.config.json)");

/** Errors carry a code; people get the message, scripts get a non-zero exit. */
function run(action: () => Promise<number>): Promise<void> {
  return action().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const e = err as Error;
      process.stderr.write(`devcluster: ${e.message}\n`);
      if (process.env.DEVCLUSTER_DEBUG && e.stack) process.stderr.write(e.stack + "\n");
      process.exitCode = isClusterError(err, "config_invalid") ? 2 : 1;
    },
  );
}

program
  .command("init [dir]")
  .description("write cluster.config.json, tsconfig.json and a src/ with an entry module")
  .action((dir: string | undefined) => run(() => init(dir)));

program
  .command("up")
  .description("start the cluster, watch the sources, reload every node on save")
  .addOption(configOption)
  .addOption(new Option("--log-format <format>", "how node logs are shown").choices(["pretty", "json"]).default("pretty"))
  .option("--typecheck [mode]", "run the project's tsc --watch beside the watcher and print type errors; =strict holds back saves while there are any")
  .action((opts: { config?: string; logFormat: "pretty" | "json"; typecheck?: boolean | string }) =>
    run(async () => {
      if (opts.typecheck !== undefined && opts.typecheck !== true && opts.typecheck !== "strict") {
        throw new ClusterError("badarg", `--typecheck=${String(opts.typecheck)}: give --typecheck, or --typecheck=strict`);
      }
      return up(findConfig(opts.config), { logFormat: opts.logFormat, ...(opts.typecheck ? { typecheck: opts.typecheck as true | "strict" } : {}) });
    }),
  );

program
  .command("reload <module...>")
  .description("load the current source of modules into every node (Erlang's c:l on all nodes)")
  .addOption(configOption)
  .option("--force", "load even when processes still run the oldest version (they are killed)")
  .option("--all-or-nothing", "abort when a node does not answer in time, instead of leaving it out to catch up later")
  .option("--json", "print the report as one JSON line")
  .action((modules: string[], opts: { config?: string; json?: boolean; force?: boolean; allOrNothing?: boolean }) =>
    run(() => reload(projectDirOf(findConfig(opts.config)), modules, opts)),
  );

program
  .command("rollback <module...>")
  .description("load the version each module had before its last reload (or --to one it ran since up), on every node")
  .addOption(configOption)
  .option("--to <version>", "a version of the module as `devcluster history` shows it (a prefix); one module only")
  .option("--force", "load even when processes still run the oldest version (they are killed)")
  .option("--json", "print the report as one JSON line")
  .action((modules: string[], opts: { config?: string; json?: boolean; force?: boolean; to?: string }) =>
    run(() => reload(projectDirOf(findConfig(opts.config)), modules, { ...opts, rollback: true })),
  );

program
  .command("history [module]")
  .description("every version of each module since up: time, source (up, save, reload, rollback), size, the nodes that run it")
  .addOption(configOption)
  .option("--json", "print as one JSON line")
  .action((module: string | undefined, opts: { config?: string; json?: boolean }) => run(() => history(projectDir(opts.config), module, opts)));

program
  .command("restart [node...]")
  .description("restart nodes one at a time (every node without names), each back with the current code; their processes come back with their state and pids")
  .addOption(configOption)
  .option("--json", "print each node's old and new OS pid as one JSON line")
  .option("--fresh", "do not keep the processes: each node starts afresh from its entry, as after a crash")
  .action((nodes: string[], opts: { config?: string; json?: boolean; fresh?: boolean }) => run(() => restart(projectDir(opts.config), nodes, opts)));

program
  .command("status")
  .description("nodes, their OS pids and the module versions they run")
  .addOption(configOption)
  .option("--json", "print as one JSON line")
  .action((opts: { config?: string; json?: boolean }) => run(() => status(projectDirOf(findConfig(opts.config)), opts)));

program
  .command("ps [node]")
  .description("processes of every node (or one): pid, name, module, version, mailbox, handled, status")
  .addOption(configOption)
  .option("--json", "print as one JSON line")
  .action((node: string | undefined, opts: { config?: string; json?: boolean }) => run(() => ps(projectDirOf(findConfig(opts.config)), node, opts)));

program
  .command("logs [node]")
  .description("the last lines a node logged (every node's without one), kept by `up`; -f follows new lines until Ctrl-C")
  .addOption(configOption)
  .option("-f, --follow", "keep printing lines as they are logged, until Ctrl-C")
  .option("-n, --lines <n>", "how many of the last lines", (v) => Number.parseInt(v, 10), 50)
  .option("--level <level>", "only lines at this level or above: trace, debug, info, warn, error, fatal")
  .option("--json", "print each line as the JSON record `up` keeps")
  .action((node: string | undefined, opts: { config?: string; follow?: boolean; lines: number; level?: string; json?: boolean }) =>
    run(() => logs(projectDirOf(findConfig(opts.config)), node, opts)),
  );

program
  .command("stop")
  .description("stop the running cluster: every node and the coordinator")
  .addOption(configOption)
  .option("--keep-state", "every node writes its processes first; the next `devcluster up` restores them, same pids")
  .action((opts: { config?: string; keepState?: boolean }) => run(() => stop(projectDirOf(findConfig(opts.config)), { keepState: opts.keepState === true })));

program
  .command("observe")
  .description("print the running cluster's observer page address (with its token); --open opens it in a browser")
  .addOption(configOption)
  .option("--open", "open the page in the default browser")
  .action((opts: { config?: string; open?: boolean }) => run(() => observe(projectDirOf(findConfig(opts.config)), opts)));

program
  .command("shell")
  .description("attach to the running cluster; --eval runs one expression and exits")
  .addOption(configOption)
  .option("-e, --eval <expr>", "evaluate one expression (await allowed) and print the result")
  .option("--json", "with --eval: print the result as JSON")
  .option("--node <name>", "default node for spawn and evalOn")
  .action((opts: { config?: string; eval?: string; json?: boolean; node?: string }) => run(() => shell(projectDirOf(findConfig(opts.config)), opts)));

program
  .command("node")
  .description("run one node of a cluster whose `up` runs elsewhere (another machine): it joins, meshes, takes reloads, outlives its coordinator")
  .requiredOption("--join <endpoint>", "the coordinator, e.g. tcp://10.0.0.1:4400")
  .requiredOption("--name <name>", "this node's name, unique in the cluster")
  .requiredOption("--keys <file>", "the file `devcluster keys export` wrote (mode 0600)")
  .option("--host <address>", "the address other machines reach this node on (default: this machine's address toward the coordinator)")
  .option("--timeout <seconds>", "exit when the coordinator has not welcomed this node within this time (default: keep trying)", Number)
  .addOption(new Option("--log-format <format>", "how the node's lines are shown, as with up").choices(["pretty", "json"]).default("pretty"))
  .addOption(configOption)
  .action((opts: { join: string; name: string; keys: string; host?: string; config?: string; timeout?: number; logFormat: "pretty" | "json" }) =>
    run(() => node({ ...opts, config: findConfig(opts.config) })),
  );

const keys = program.command("keys").description("the cluster's CurveZMQ keys: export them to another machine, or make new ones");
keys
  .command("export <file>")
  .description("write what another machine needs to join (cluster name and keys) to <file>, mode 0600")
  .addOption(configOption)
  .action((file: string, opts: { config?: string }) => run(async () => exportKeys(findConfig(opts.config), file)));
keys
  .command("rotate")
  .description("make new keys for this project; `up` must restart and every other machine needs a new export")
  .addOption(configOption)
  .action((opts: { config?: string }) => run(async () => rotateKeys(findConfig(opts.config))));

void program.parseAsync(process.argv);
