/**
 * Sizes read the same wherever devcluster shows one: `ps`, `history` and the
 * observer page share cli/views/units.ts (issue 22 item 6: the page said 1433
 * where the CLI said 1.4KB).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { bytes } from "../../cli/views/units";
import { ProcessTable } from "../../cli/views/processes";
import { Pid } from "../../wire/pid";

test("a size reads as bytes below 1KB, then with one decimal in KB, MB or GB", () => {
  assert.equal(bytes(0), "0B");
  assert.equal(bytes(1023), "1023B");
  assert.equal(bytes(1433), "1.4KB");
  assert.equal(bytes(62.8 * 1024 * 1024), "62.8MB");
  assert.equal(bytes(3 * 1024 ** 3), "3.0GB");
  assert.equal(bytes(undefined), "-");
});

test("ps writes a process's memory with the same formatter the page uses", () => {
  const row = { pid: new Pid("n1", 7), names: [], module: "m", version: "0123456789", mailbox: 0, handled: 0, status: "waiting", memory: 1433 };
  const out = new ProcessTable([row as unknown as ConstructorParameters<typeof ProcessTable>[0][number]]).render();
  assert.match(out, /\s1\.4KB\s+waiting$/m);
});
