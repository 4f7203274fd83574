import { whereis, whichChildren, type Pid } from "devcluster";

/**
 * Each node's supervision tree (built by app.ts):
 *
 *   chat:sup:<node>      rest_for_one, registered cluster-wide
 *   ├── rooms            supervisor of the rooms whose home is this node (temporary children)
 *   ├── sessions         supervisor of this node's client sessions (temporary children)
 *   └── listener         chat/listener: the TCP server; its connections become sessions
 *
 * rest_for_one: if the sessions supervisor has to be restarted, the listener
 * is restarted after it, so no connection is accepted into a dead supervisor.
 */
export function treeName(node: string): string {
  return `chat:sup:${node}`;
}

/** The pid of one branch (rooms, sessions) of `node`'s tree, looked up at use so a restarted branch is found. */
export async function branch(node: string, id: "rooms" | "sessions"): Promise<Pid> {
  const top = await whereis(treeName(node));
  if (!top) throw Object.assign(new Error(`node ${node} has no chat supervision tree yet (it is starting); try again`), { code: "not_ready" });
  const pid = (await whichChildren(top)).find((c) => c.id === id)?.pid;
  if (!pid) throw Object.assign(new Error(`the ${id} supervisor of node ${node} is restarting; try again`), { code: "not_ready" });
  return pid;
}
