import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeSync,
  type Stats,
} from "node:fs";
import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { ClusterError } from "./errors";

/**
 * Files that must be the user's own: the state folder (`.devcluster/`), the
 * key files, and what `up` writes there (docs/design.md §7). Another local
 * user who can write the project folder could otherwise plant the folder
 * first: their keys would let them push code that runs as us, and their
 * symlinks would route our writes (the observer's token, the logs) wherever
 * they point. So, as ssh does with ~/.ssh: a folder or file that another user
 * owns, or that others may write, is refused with what to do; a file is read
 * through a descriptor opened without following a symlink and checked there
 * (no gap between the check and the read); a file is written as a new file
 * (O_EXCL, never through a link) renamed into place, so a planted link is
 * replaced, not followed. Where getuid does not exist (Windows) the owner is
 * not checked.
 */

/** O_NOFOLLOW where the platform has it (not on Windows, where the flag is 0 and links are rare). */
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;

const myUid = (): number | undefined => process.geteuid?.();

/** Ours, or root's (as ssh allows: root can change anything of ours anyway). */
function trustedOwner(uid: number): boolean {
  const me = myUid();
  return me === undefined || uid === me || uid === 0;
}

function ownerFault(p: string, what: string, st: Stats, fix: string): ClusterError {
  return new ClusterError(
    "bad_owner",
    `${what} ${p} belongs to uid ${st.uid}, not to you (uid ${myUid()}): another user made it or changed it, and what it holds could ` +
      `let them run code as you or read what devcluster writes there, so devcluster refuses it. ${fix}`,
  );
}

/**
 * Refuses a folder that is a symlink, not ours, or writable by others
 * (group or world), which are the ways someone else gets a file into it.
 */
export function checkOwnedDir(dir: string, what = "the folder"): void {
  const st = lstatSync(dir);
  const look = `Look at it (\`ls -lan ${dir}\`), remove it (\`rm -rf ${dir}\`, as its owner or root), and make its parent writable only by you (\`chmod go-w ${path.dirname(dir)}\`).`;
  if (st.isSymbolicLink()) {
    throw new ClusterError(
      "bad_owner",
      `${what} ${dir} is a symbolic link (to ${readlinkSync(dir)}): devcluster keeps keys and tokens there and follows no link to a place someone else may choose. ` +
        `Remove the link (\`rm ${dir}\`) and run the command again.`,
    );
  }
  if (!st.isDirectory()) throw new ClusterError("bad_owner", `${what} ${dir} is not a folder; move it away and run the command again`);
  if (!trustedOwner(st.uid)) throw ownerFault(dir, what, st, look);
  const mode = st.mode & 0o777;
  if (myUid() !== undefined && mode & 0o022) {
    throw new ClusterError(
      "bad_owner",
      `${what} ${dir} is writable by others (mode ${mode.toString(8).padStart(4, "0")}): anyone who can write it can plant keys or links there, so devcluster refuses it. ` +
        `Run \`chmod 700 ${dir}\`; if others could write it for a while, check what is in it (\`ls -lan ${dir}\`).`,
    );
  }
}

/** Makes the folder (mode 0700) if it does not exist, then checks it as {@link checkOwnedDir} does. */
export function ensureOwnedDir(dir: string, what?: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") mkdirSync(dir, { recursive: true, mode: 0o700 });
    else if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  checkOwnedDir(dir, what);
}

/**
 * Opens a file for reading without following a link, checks the open file's
 * owner (and that it is a plain file), and hands over the descriptor and its
 * stats; the caller closes it. `follow` allows a link the user made to a key
 * kept elsewhere: the file reached is checked all the same.
 */
export function openOwned(file: string, what = "the file", follow = false): { fd: number; stats: Stats } {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | (follow ? 0 : NOFOLLOW));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") {
      throw new ClusterError(
        "bad_owner",
        `${what} ${file} is a symbolic link, which devcluster does not follow here: remove it (\`rm ${file}\`) and run the command again`,
      );
    }
    throw err;
  }
  const stats = fstatSync(fd);
  try {
    if (!stats.isFile()) throw new ClusterError("bad_owner", `${what} ${file} is not a plain file; remove it and run the command again`);
    if (!trustedOwner(stats.uid)) throw ownerFault(file, what, stats, `Look at it (\`ls -ln ${file}\`), and remove it if you did not make it.`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return { fd, stats };
}

/** The text of a file of ours (see {@link openOwned}). */
export function readOwned(file: string, what?: string, follow = false): string {
  const { fd } = openOwned(file, what, follow);
  try {
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

/**
 * A new file of mode 0600 beside `file`, opened for writing: O_EXCL, so it is
 * made here and now by us, never an existing file or a link's target.
 */
function createExclusive(file: string): { fd: number; tmp: string } {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
  return { fd, tmp };
}

/**
 * Writes `text` to `file` (mode 0600) as a whole: a new file renamed over
 * whatever was there, so a reader never sees half of it and a link planted at
 * `file` is replaced, never written through.
 */
export function writeOwned(file: string, text: string | Uint8Array): void {
  const { fd, tmp } = createExclusive(file);
  try {
    if (typeof text === "string") writeSync(fd, text);
    else writeSync(fd, text);
    closeSync(fd);
    renameSync(tmp, file);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // closed already
    }
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * A descriptor for writing a fresh, empty `file` (mode 0600) that replaces
 * whatever was at that name (a log from an earlier run, or a link): the
 * stream a log writes to, where {@link writeOwned} is for a whole content.
 */
export function createOwned(file: string): number {
  const { fd, tmp } = createExclusive(file);
  try {
    renameSync(tmp, file);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  return fd;
}

/** Writes `text` to a new file (mode 0600) at exactly `file`: fails with EEXIST if anything, a link included, is there. */
export function writeNewOwned(file: string, text: string): void {
  const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
