import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ControlMessage } from "../../wire/protocol";
import { HELD_LINES, LogShip } from "../../runtime/node/logShip";

type Logs = Extract<ControlMessage, { type: "logs" }>;

/** Issue 18 item 4: a joined node's lines go to its coordinator; while none takes them the newest are held, and the loss is said. */
describe("a joined node's log shipping", () => {
  const link = (): { connected: boolean; sent: Logs[]; send(msg: ControlMessage): void } => {
    const l = { connected: true, sent: [] as Logs[], send: (msg: ControlMessage) => void l.sent.push(msg as Logs) };
    return l;
  };

  test("lines written before the welcome go with the first batch after it, in order", () => {
    const l = link();
    const ship = new LogShip("n4", l);
    ship.line("one", "stdout");
    ship.line("two", "stderr");
    ship.flush();
    assert.equal(l.sent.length, 0, "nothing goes before the coordinator welcomed the node");
    ship.start();
    assert.deepEqual(l.sent, [
      {
        type: "logs",
        node: "n4",
        lines: [
          { line: "one", stream: "stdout" },
          { line: "two", stream: "stderr" },
        ],
      },
    ]);
    ship.close();
  });

  test("without a coordinator the newest lines are held, and one line says how many earlier ones were let go", () => {
    const l = link();
    const ship = new LogShip("n4", l);
    ship.start();
    l.connected = false;
    for (let i = 1; i <= HELD_LINES + 25; i++) ship.line(`line ${i}`, "stdout");
    assert.equal(l.sent.length, 0);
    l.connected = true;
    ship.flush();
    const lines = l.sent.flatMap((m) => m.lines);
    assert.equal(lines.length, HELD_LINES + 1);
    assert.match(JSON.parse(lines[0]!.line).msg, /^25 earlier lines of this node were not kept while no coordinator took them$/);
    assert.equal(lines[1]!.line, "line 26");
    assert.equal(lines.at(-1)!.line, `line ${HELD_LINES + 25}`);
    ship.close();
  });
});
