/**
 * The warning that a file read only at start (cluster.config.json, the
 * dependencies of package.json) changed and needs a restart of `up`. Said
 * once: an editor's save arrives as several fs events (truncate, write,
 * rename), and every later edit leaves the same advice standing, so
 * repeating it only buries the log. Editing the file back to what `up`
 * started with withdraws it, and a later change warns again.
 */
export class RestartNotice {
  private warned = false;

  /** `atStart`: the file's content as `up` read it, in the form `seen` is given. */
  constructor(
    private readonly atStart: string,
    private readonly warn: () => void,
  ) {}

  /** The file's content now, or undefined when it says nothing yet (empty: an editor between truncate and write). */
  seen(now: string | undefined): void {
    if (now === undefined) return;
    if (now === this.atStart) {
      this.warned = false;
      return;
    }
    if (this.warned) return;
    this.warned = true;
    this.warn();
  }
}

/** A JSON file's content for comparison: what it says (formatting aside), or its raw text when it does not parse. */
export function jsonContent(text: string | undefined): string | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text;
  }
}
