import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ConfigError, isLoopbackHost, loadConfig } from "../../cli/project/config";
import { readSchema, schemaPlaces, WORDING } from "../../cli/project/configSchema";

describe("config", () => {
  let dir: string;
  let n = 0;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-config-"));
    fs.mkdirSync(path.join(dir, "src", "chat"), { recursive: true });
    fs.writeFileSync(path.join(dir, "src", "app.ts"), "export async function start() {}\n");
    fs.writeFileSync(path.join(dir, "src", "chat", "app.ts"), "export async function start() {}\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const base = (): Record<string, unknown> => ({ name: "demo", src: "src", entry: "app", nodes: 2 });

  /** Writes `content` (an object, or raw text) as a fresh config file in the project folder. */
  function write(content: unknown): string {
    const file = path.join(dir, `cluster.${++n}.config.json`);
    fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content, null, 2));
    return file;
  }

  function rejects(content: unknown, field: string, message: RegExp): ConfigError {
    const file = write(content);
    try {
      loadConfig(file);
    } catch (err) {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
      assert.equal(err.code, "config_invalid");
      assert.equal(err.field, field, err.message);
      assert.match(err.message, message);
      assert.ok(err.message.includes(path.basename(file)), `message does not name the file: ${err.message}`);
      return err;
    }
    assert.fail(`accepted ${JSON.stringify(content)}`);
  }

  test("a valid config loads with absolute paths and defaults", () => {
    const file = write({ ...base(), nodes: [{ name: "web", env: { PORT: "3001" } }, { name: "n2" }] });
    const c = loadConfig(file);
    assert.deepEqual(c, {
      name: "demo",
      configPath: file,
      projectDir: dir,
      srcDir: path.join(dir, "src"),
      entry: "app",
      nodes: [
        { name: "web", env: { PORT: "3001" } },
        { name: "n2", env: {} },
      ],
      coordinator: { host: "127.0.0.1", port: 0 },
      observer: { host: "127.0.0.1", port: 0 },
      reload: { timeoutMs: 1000, allOrNothing: false },
    });
  });

  test("an entry module written in JavaScript (src/main.js) is a module like a .ts one", () => {
    fs.writeFileSync(path.join(dir, "src", "main.js"), "export async function start() {}\n");
    try {
      assert.equal(loadConfig(write({ ...base(), entry: "main" })).entry, "main");
    } finally {
      fs.rmSync(path.join(dir, "src", "main.js"));
    }
  });

  test("nodes given as a count become n1..nN", () => {
    assert.deepEqual(
      loadConfig(write({ ...base(), nodes: 3 })).nodes.map((x) => x.name),
      ["n1", "n2", "n3"],
    );
    rejects({ ...base(), nodes: 0 }, "nodes", /"nodes" must be a whole number from 1 to 64/);
    rejects({ ...base(), nodes: 65 }, "nodes", /from 1 to 64.*\(got 65\)/);
    rejects({ ...base(), nodes: 1.5 }, "nodes", /\(got 1\.5\)/);
    rejects({ ...base(), nodes: [] }, "nodes", /list of 1 to 64 nodes/);
  });

  test("a missing file says so and suggests devcluster init", () => {
    const file = path.join(dir, "absent", "cluster.config.json");
    assert.throws(
      () => loadConfig(file),
      (err: unknown) =>
        err instanceof ConfigError && err.field === "" && err.message.includes(file) && /no such file\. Run `devcluster init`/.test(err.message),
    );
  });

  test("invalid JSON reports line:col", () => {
    const e = rejects(`{\n  "name": "demo",\n  "src": "src",\n}\n`, "", /:4:1: not valid JSON/);
    assert.match(e.message, /JSON/);
  });

  test("each invalid field is named in the error", () => {
    rejects({ ...base(), name: "" }, "name", /"name" must be a non-empty string/);
    rejects({ ...base(), name: 3 }, "name", /\(got 3\)/);
    rejects({ ...base(), src: 7 }, "src", /"src" must be the source folder/);
    rejects({ ...base(), src: "nope" }, "src", /"src" is "nope", but .*nope does not exist/);
    rejects({ ...base(), entry: "app.ts" }, "entry", /"entry" must be a module name.*\(got "app.ts"\)/);
    rejects({ ...base(), entry: "../app" }, "entry", /"entry" must be a module name/);
    rejects({ ...base(), entry: "missing" }, "entry", /"entry" is "missing", but src\/missing\.ts does not exist/);
    rejects({ ...base(), nodes: "two" }, "nodes", /\(got "two"\)/);
    rejects(
      { ...base(), nodes: [{ name: "n1" }, { name: 5 }] },
      "nodes[1].name",
      /"nodes\[1\]\.name" must be a string of letters, digits, _ or - starting with a letter \(got 5\)$/,
    );
    rejects({ ...base(), nodes: [{ name: "1x" }] }, "nodes[0].name", /\(got "1x"\)/);
    rejects({ ...base(), nodes: [{ name: "a" }, { name: "A" }] }, "nodes[1].name", /already the name of nodes\[0\]/);
    rejects({ ...base(), nodes: ["n1"] }, "nodes[0]", /must be an object/);
    rejects({ ...base(), nodes: [{ name: "n1", env: { PORT: 3001 } }] }, "nodes[0].env.PORT", /must be a string \(got 3001\)/);
    rejects({ ...base(), nodes: [{ name: "n1", env: [] }] }, "nodes[0].env", /must be an object of environment variables/);
    rejects({ ...base(), nodes: [{ name: "n1", port: 1 }] }, "nodes[0].port", /not a known setting/);
    rejects({ ...base(), coordinator: "x" }, "coordinator", /must be an object/);
    rejects({ ...base(), coordinator: { port: 70000 } }, "coordinator.port", /from 0 to 65535/);
    rejects({ ...base(), coordinator: { port: "80" } }, "coordinator.port", /\(got "80"\)/);
    rejects({ ...base(), coordinator: { hots: "127.0.0.1" } }, "coordinator.hots", /did you mean "host"/);
    rejects({ ...base(), observer: { port: 70000 } }, "observer.port", /from 0 to 65535/);
    rejects({ ...base(), observer: "4000" }, "observer", /must be an object/);
    rejects({ ...base(), $schema: 1 }, "$schema", /must be a string/);
    rejects([1], "", /must hold a JSON object/);
  });

  test("an unknown top-level key is refused with a suggestion", () => {
    rejects({ ...base(), node: 2 }, "node", /"node" is not a known setting \(did you mean "nodes"\?\)/);
    rejects({ ...base(), whatever: true }, "whatever", /not a known setting; known settings: \$schema, name, src, entry, nodes, coordinator, observer, reload/);
  });

  test("a coordinator host other machines reach is accepted (several machines); a wildcard is refused, since nodes are told where to connect", () => {
    rejects({ ...base(), coordinator: { host: "0.0.0.0" } }, "coordinator.host", /"coordinator\.host" is 0\.0\.0\.0, which is every address of this machine/);
    const lan = loadConfig(write({ ...base(), coordinator: { host: "192.168.1.4", port: 4400 } }));
    assert.deepEqual(lan.coordinator, { host: "192.168.1.4", port: 4400 });
    const ok = loadConfig(write({ ...base(), coordinator: { host: "::1", port: 4000 } }));
    assert.deepEqual(ok.coordinator, { host: "::1", port: 4000 });
  });

  test("reload settings: a deadline to decide (default 1000 ms) and all-or-nothing (default off)", () => {
    assert.deepEqual(loadConfig(write(base())).reload, { timeoutMs: 1000, allOrNothing: false });
    assert.deepEqual(loadConfig(write({ ...base(), reload: { timeoutMs: 300, allOrNothing: true } })).reload, { timeoutMs: 300, allOrNothing: true });
    rejects({ ...base(), reload: { timeoutMs: "1s" } }, "reload.timeoutMs", /whole number of milliseconds/);
  });

  test("a config with several mistakes names every field at fault at once, one per line in the order the file reads", () => {
    const err = rejects(
      {
        name: "",
        src: "src",
        entry: "app.ts",
        nodes: [{ name: "n1" }, { name: "2x", env: { PORT: 3001 } }, { name: "N1" }],
        coordinator: { port: -1 },
        nodez: 1,
      },
      "name",
      /: 7 problems:\n/,
    );
    assert.deepEqual(
      err.problems.map((p) => p.field),
      ["name", "entry", "nodes[1].name", "nodes[1].env.PORT", "nodes[2].name", "coordinator.port", "nodez"],
    );
    const lines = err.message.split("\n").slice(1);
    assert.equal(lines.length, 7);
    assert.match(lines[0]!, /^ {2}"name" must be a non-empty string/);
    assert.match(lines[4]!, /"nodes\[2\]\.name" is "N1", already the name of nodes\[0\]/);
    assert.match(lines[5]!, /"coordinator\.port" must be a whole number from 0 to 65535/);
    assert.match(lines[6]!, /^ {2}"nodez" is not a known setting \(did you mean "nodes"\?\)/);
  });

  test("a missing source folder is one problem: the entry file is not also reported missing", () => {
    const err = rejects({ ...base(), src: "nowhere" }, "src", /"src" is "nowhere", but .* does not exist/);
    assert.equal(err.problems.length, 1);
  });

  test("loopback hosts are recognised in every spelling, others are not", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"]) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of ["0.0.0.0", "10.0.0.1", "128.0.0.1", "::", "::2", "::ffff:10.0.0.1", "example.com", "localhost.example.com", "", "127.0.0.256"]) {
      assert.equal(isLoopbackHost(h), false, h);
    }
  });

  describe("the JSON schema decides", () => {
    test("is draft-07, and every place in it that can be refused has a hand-written wording", () => {
      const schema = readSchema() as { $schema?: string };
      assert.equal(schema.$schema, "http://json-schema.org/draft-07/schema#");
      assert.deepEqual([...schemaPlaces(readSchema()).keys()].sort(), Object.keys(WORDING).sort());
    });

    test("requires name, src, entry and nodes, and fills the rest from the schema's defaults", () => {
      const valid: Record<string, unknown> = { ...base(), $schema: "./node_modules/devcluster/cluster.config.schema.json" };
      assert.doesNotThrow(() => loadConfig(write(valid)));
      for (const key of ["name", "src", "entry", "nodes"]) {
        const without = { ...valid };
        delete without[key];
        rejects(without, key, /\(got nothing\)$/);
      }
      const c = loadConfig(write({ ...valid, coordinator: { port: 4400 }, observer: {}, reload: { allOrNothing: true } }));
      assert.deepEqual(
        [c.coordinator, c.observer, c.reload],
        [
          { host: "127.0.0.1", port: 4400 },
          { host: "127.0.0.1", port: 0 },
          { timeoutMs: 1000, allOrNothing: true },
        ],
      );
    });

    test("accepts and refuses example configs, naming the field at fault", () => {
      // [config, the field refused ("" when it loads)]
      const examples: [Record<string, unknown>, string][] = [
        [base(), ""],
        [{ ...base(), nodes: 1 }, ""],
        [{ ...base(), nodes: 64 }, ""],
        [{ ...base(), nodes: 0 }, "nodes"],
        [{ ...base(), nodes: 65 }, "nodes"],
        [{ ...base(), nodes: 2.5 }, "nodes"],
        [{ ...base(), nodes: [] }, "nodes"],
        [{ ...base(), nodes: [{ name: "n1" }, { name: "web-2", env: { A: "1" } }] }, ""],
        [{ ...base(), nodes: [{ name: "2n" }] }, "nodes[0].name"],
        [{ ...base(), nodes: [{ name: "n 1" }] }, "nodes[0].name"],
        [{ ...base(), nodes: [{}] }, "nodes[0].name"],
        [{ ...base(), nodes: [{ name: "n1" }, null] }, "nodes[1]"],
        [{ ...base(), nodes: [{ name: "n1", env: { A: 1 } }] }, "nodes[0].env.A"],
        [{ ...base(), nodes: [{ name: "n1", extra: 1 }] }, "nodes[0].extra"],
        [{ ...base(), nodes: "3" }, "nodes"],
        [{ ...base(), entry: "chat/app" }, ""],
        [{ ...base(), entry: "app.ts" }, "entry"],
        [{ ...base(), entry: "./app" }, "entry"],
        [{ ...base(), entry: "" }, "entry"],
        [{ ...base(), name: "" }, "name"],
        [{ ...base(), name: " " }, "name"],
        [{ ...base(), src: "" }, "src"],
        [{ ...base(), $schema: "x" }, ""],
        [{ ...base(), coordinator: {} }, ""],
        [{ ...base(), coordinator: { host: "localhost", port: 65535 } }, ""],
        [{ ...base(), coordinator: { host: "::" } }, "coordinator.host"],
        [{ ...base(), coordinator: { host: "" } }, "coordinator.host"],
        [{ ...base(), coordinator: { port: 1.5 } }, "coordinator.port"],
        [{ ...base(), coordinator: { bind: "x" } }, "coordinator.bind"],
        [{ ...base(), observer: { host: "0.0.0.0", port: 0 } }, ""],
        [{ ...base(), observer: { host: "" } }, "observer.host"],
        [{ ...base(), observer: { open: true } }, "observer.open"],
        [{ ...base(), reload: { timeoutMs: 10 } }, "reload.timeoutMs"],
        [{ ...base(), reload: { allOrNothing: "yes" } }, "reload.allOrNothing"],
        [{ ...base(), reload: { retries: 2 } }, "reload.retries"],
        [{ ...base(), reload: [] }, "reload"],
      ];
      for (const [example, field] of examples) {
        if (field === "") assert.doesNotThrow(() => loadConfig(write(example)), JSON.stringify(example));
        else rejects(example, field, /./);
      }
    });
  });
});
