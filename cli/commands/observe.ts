import { spawn } from "node:child_process";
import { notRunning } from "../dev/client";
import { readObserverAddress } from "../observer/address";

/** The command that opens a URL in the desktop's browser, per platform. */
function opener(): [string, string[]] {
  if (process.platform === "darwin") return ["open", []];
  if (process.platform === "win32") return ["cmd", ["/c", "start", ""]];
  return ["xdg-open", []];
}

/** `devcluster observe`: prints the running cluster's observer address (with its token); --open opens it. */
export async function observe(projectDir: string, opts: { open?: boolean }): Promise<number> {
  const a = readObserverAddress(projectDir);
  if (!a) throw notRunning(projectDir);
  process.stdout.write(`observer: ${a.url}\n`);
  if (opts.open) {
    const [cmd, args] = opener();
    const child = spawn(cmd, [...args, a.url], { detached: true, stdio: "ignore" });
    child.on("error", (err) => process.stderr.write(`devcluster: could not open a browser (${err.message}); open the address above\n`));
    child.unref();
  }
  return 0;
}
