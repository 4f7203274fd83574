import { spawn } from "node:child_process";
import { pathToFileURL } from "node:url";
import { writeOwned } from "../../wire/ownedFiles";
import { notRunning } from "../dev/client";
import { openPageFile, readObserverAddress } from "../observer/address";
import { ensureStateDir } from "../project/stateDir";

/** The command that opens a URL in the desktop's browser, per platform. */
function opener(): [string, string[]] {
  if (process.platform === "darwin") return ["open", []];
  if (process.platform === "win32") return ["cmd", ["/c", "start", ""]];
  return ["xdg-open", []];
}

const html = (s: string): string => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * The page `--open` hands the browser: it forwards to the observer's address
 * with its token. A command line is public (every local user reads it in
 * `ps`), so the opener and the browser get only this file's path; the token
 * stays in files only the user can read (0600 in the 0700 state folder, as
 * observer.json). A one-time local URL would not do: whoever reads `ps`
 * before the browser starts could use it first.
 */
function forwardingPage(projectDir: string, url: string): string {
  ensureStateDir(projectDir);
  const file = openPageFile(projectDir);
  writeOwned(
    file,
    `<!doctype html>\n<meta charset="utf-8">\n<meta name="referrer" content="no-referrer">\n` +
      `<meta http-equiv="refresh" content="0;url=${html(url)}">\n<title>devcluster observer</title>\n` +
      `<script>location.replace(${JSON.stringify(url).replace(/</g, "\\u003c")})</script>\n`,
  );
  return pathToFileURL(file).href;
}

/** `devcluster observe`: prints the running cluster's observer address (with its token); --open opens it. */
export async function observe(projectDir: string, opts: { open?: boolean }): Promise<number> {
  const a = readObserverAddress(projectDir);
  if (!a) throw notRunning(projectDir);
  process.stdout.write(`observer: ${a.url}\n`);
  if (opts.open) {
    const [cmd, args] = opener();
    const child = spawn(cmd, [...args, forwardingPage(projectDir, a.url)], { detached: true, stdio: "ignore" });
    child.on("error", (err) => process.stderr.write(`devcluster: could not open a browser (${err.message}); open the address above\n`));
    child.unref();
  }
  return 0;
}
