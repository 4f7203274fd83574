import assert from "node:assert/strict";
import { networkInterfaces } from "node:os";
import { describe, test } from "node:test";
import { joinAddress } from "../../cli/commands/keys";

/** Issue 18 item 6: `keys export` prints a join command another machine can run as it is, or says what to change. */
describe("keys export: the join command's coordinator address", () => {
  const mine = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && !(a.family === "IPv6" && a.address.startsWith("fe80")))
    .map((a) => a!.address);

  test("a running up's endpoint is used as it is, with the port it really took", () => {
    assert.deepEqual(joinAddress({ host: "10.0.0.1", port: 0 }, "tcp://10.0.0.1:41234"), { endpoint: "tcp://10.0.0.1:41234" });
  });

  test("a configured address and port, with up not running", () => {
    assert.deepEqual(joinAddress({ host: "10.0.0.1", port: 4400 }), { endpoint: "tcp://10.0.0.1:4400" });
  });

  test("a loopback coordinator is named as unreachable from elsewhere, with the setting that fixes it", () => {
    const r = joinAddress({ host: "127.0.0.1", port: 0 }, "tcp://127.0.0.1:39001");
    assert.equal(r.endpoint, "tcp://127.0.0.1:39001");
    assert.match(r.note ?? "", /listens on 127\.0\.0\.1, which no other machine reaches: set "coordinator": \{ "host": ".+" \} in cluster\.config\.json/);
    if (mine[0]) assert.ok(r.note!.includes(`join with tcp://${mine[0].includes(":") ? `[${mine[0]}]` : mine[0]}:39001`), r.note);
  });

  test("port 0 without a running up says the port is not known yet", () => {
    const r = joinAddress({ host: "10.0.0.1", port: 0 });
    assert.equal(r.endpoint, "tcp://10.0.0.1:<port>");
    assert.match(r.note ?? "", /takes any free port .* start it, or set "port"/);
  });

  test("a coordinator on every interface is joined on one of this machine's addresses", { skip: mine.length === 0 && "no network address here" }, () => {
    const r = joinAddress({ host: "0.0.0.0", port: 4400 });
    assert.equal(r.endpoint, `tcp://${mine[0]!.includes(":") ? `[${mine[0]}]` : mine[0]}:4400`);
  });
});
