/**
 * The page's session with the server: its token, its client id on the event
 * stream, the tab it shows, and api(), every request with the token.
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Any = any;

export const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
/** this page's id on the event stream: it tells the server which tab it shows, so nodes do only the work that tab needs */
export const client = Math.random().toString(36).slice(2);
export let shownTab = "nodes";
/** Sets the tab the page shows, for the event stream to name when it (re)connects. */
export function showTab(tab: string): void {
  shownTab = tab;
}

export async function api(path: string, body?: unknown, signal?: AbortSignal): Promise<Any> {
  const res = await fetch(path, {
    ...(signal ? { signal } : {}),
    method: body === undefined ? "GET" : "POST",
    headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const value = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw Object.assign(new Error(value.error ?? res.statusText), { status: res.status });
  return value;
}
