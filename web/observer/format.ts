/** How the page writes sizes, versions, times and durations. */

// Sizes as the CLI writes them (`ps`, `history`): one formatter, so the page and the terminal agree.
export { bytes } from "../../cli/views/units";
export const short = (v: string | undefined): string => (v && v.length > 8 ? v.slice(0, 8) : (v ?? ""));
export const time = (t: number): string => new Date(t).toLocaleTimeString([], { hour12: false });
export const dur = (s: number): string =>
  s < 60 ? `${Math.floor(s)} s` : s < 3600 ? `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s` : `${(s / 3600).toFixed(1)} h`;
