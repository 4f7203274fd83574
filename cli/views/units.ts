/**
 * How sizes read wherever devcluster shows one: `ps`, `status`, `history` and
 * the observer page (web/observer/format.ts bundles this file), so a process
 * whose state the CLI calls 1.4KB is 1.4KB on the page too. No Node imports:
 * the page runs it in the browser.
 */

const UNITS = ["KB", "MB", "GB", "TB"];

/** 512B, 1.4KB, 62.8MB: bytes below 1024, then one decimal in the largest unit that keeps the figure at 1 or more. */
export function bytes(n: number | undefined): string {
  if (typeof n !== "number" || !Number.isFinite(n)) return "-";
  if (Math.abs(n) < 1024) return `${Math.round(n)}B`;
  let v = n / 1024;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) ((v /= 1024), i++);
  return `${v.toFixed(1)}${UNITS[i]}`;
}
