/** JSON for scripts: pids as "<n1.42>", Maps as objects, Sets as arrays, BigInts as strings. */
export function toJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Map) return Object.fromEntries(v);
      if (v instanceof Set) return [...v];
      if (v === undefined) return null;
      return v;
    }) ?? "null"
  );
}

/** A plain text table: columns padded to their widest cell. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
}

/** A version as people read it (the first 8 hex digits); `--json` keeps the whole one. */
export const shortVersion = (v: string | undefined): string => (v ? v.slice(0, 8) : "-");
