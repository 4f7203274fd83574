import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HotInstance } from "../../runtime/code/hot";
import { ModuleEntry, type Instance } from "../../runtime/code/moduleTable";

/**
 * An evaluated version without evaluating anything: the entry only reads name, version, exports and,
 * when given, the module's code (a class whose source is not in it is not the module's own).
 */
function instance(entry: ModuleEntry, version: string, exports: Record<string, unknown>, code?: string): Instance {
  return { name: entry.name, version, exports, hot: new HotInstance(entry.name, version, entry.data), module: {}, ...(code === undefined ? {} : { code }) };
}

describe("module entry: the facade importers hold", () => {
  test("a function captured from a staged first version that is then unstaged explains the load order when called", () => {
    const entry = new ModuleEntry("chat/room");
    assert.deepEqual(Object.keys(entry.facade), []);
    entry.stage(instance(entry, "v1", { join: () => "joined" }));
    const join = entry.facade.join as () => string;
    assert.equal(join(), "joined");
    entry.unstage();
    assert.equal("join" in entry.facade, false);
    assert.throws(() => join(), { name: "TypeError", message: /chat\/room\.join was called before chat\/room was loaded/ });
    entry.install(instance(entry, "v1", { join: () => "joined" }));
    assert.equal(join(), "joined", "the same function works once the module is loaded");
  });

  test("install returns the version that fell out (the one before old), and keeps old and current", () => {
    const entry = new ModuleEntry("m");
    const v1 = instance(entry, "v1", {});
    const v2 = instance(entry, "v2", {});
    const v3 = instance(entry, "v3", {});
    assert.equal(entry.install(v1), undefined);
    assert.equal(entry.install(v2), undefined);
    assert.equal(entry.install(v3), v1);
    assert.equal(entry.current, v3);
    assert.equal(entry.old, v2);
  });

  test("stage points the facade at a prepared version and unstage points it back at the current one", () => {
    const entry = new ModuleEntry("m");
    entry.install(instance(entry, "v1", { which: () => "v1", v: 1 }));
    const which = entry.facade.which as () => string;
    entry.stage(instance(entry, "v2", { which: () => "v2", v: 2, added: () => "new" }));
    assert.equal(which(), "v2");
    assert.equal(entry.facade.v, 2);
    assert.equal(typeof entry.facade.added, "function");
    entry.unstage();
    assert.equal(which(), "v1");
    assert.equal(entry.facade.v, 1);
    assert.equal("added" in entry.facade, false);
  });

  test("an export that changes kind (function, value, class) is replaced on the facade, and a held old reference says why it fails", () => {
    const entry = new ModuleEntry("m");
    entry.install(instance(entry, "v1", { x: () => "fn" }));
    const heldFn = entry.facade.x as () => string;
    entry.install(instance(entry, "v2", { x: 42 }));
    assert.equal(entry.facade.x, 42);
    assert.throws(() => heldFn(), { name: "TypeError", message: /m\.x is no longer a plain function in version v2/ });
    class K {
      hi(): string {
        return "class";
      }
    }
    entry.install(instance(entry, "v3", { x: K }));
    assert.equal(new (entry.facade.x as unknown as new () => K)().hi(), "class");
    entry.install(instance(entry, "v4", { x: () => "fn again" }));
    assert.equal((entry.facade.x as unknown as () => string)(), "fn again");
    assert.equal(heldFn(), "fn again", "the trampoline of a name is kept for the life of the entry");
  });

  test("a facade function keeps this, arguments, new.target and its name and length", () => {
    const entry = new ModuleEntry("m");
    function Point(this: { x: number; y: number }, x: number, y: number): void {
      this.x = x;
      this.y = y;
    }
    entry.install(
      instance(entry, "v1", {
        Point,
        sum: (a: number, b: number) => a + b,
        self: function (this: unknown) {
          return this;
        },
      }),
    );
    const f = entry.facade;
    const p = new (f.Point as unknown as new (x: number, y: number) => { x: number; y: number })(1, 2);
    assert.deepEqual({ ...p }, { x: 1, y: 2 });
    assert.equal((f.sum as (a: number, b: number) => number)(2, 3), 5);
    assert.equal((f.sum as Function).length, 2);
    assert.equal((f.Point as Function).name, "Point");
    const receiver = { tag: 1 };
    assert.equal((f.self as Function).call(receiver), receiver);
  });

  test("a class the module did not define (re-exported from npm) is left alone when a later version exports its own class under that name", () => {
    class FromNpm {
      hello(): string {
        return "npm";
      }
    }
    const entry = new ModuleEntry("m");
    // version 1 is `export { Thing } from "some-package"`: its code does not contain the class
    entry.install(instance(entry, "v1", { Thing: FromNpm }, `export { Thing } from "some-package";`));
    const npmInstance = new FromNpm();
    class Mine {
      hello(): string {
        return "mine";
      }
    }
    entry.install(instance(entry, "v2", { Thing: Mine }, `export ${String(Mine)}`));
    // every other user of the package in this node still gets the package's class
    assert.equal(new FromNpm().hello(), "npm");
    assert.equal(npmInstance.hello(), "npm");
    assert.equal(Object.prototype.hasOwnProperty.call(FromNpm, Symbol.hasInstance), false, "the npm class is not made part of the family");
    assert.equal(new (entry.facade.Thing as new () => Mine)().hello(), "mine", "the facade constructs the module's own class now");
    assert.ok(new Mine() instanceof (entry.facade.Thing as Function));
  });

  test("instances of any version are instanceof the facade class and every version's class", () => {
    const entry = new ModuleEntry("m");
    class A1 {
      v(): number {
        return 1;
      }
    }
    class A2 {
      v(): number {
        return 2;
      }
    }
    entry.install(instance(entry, "v1", { A: A1 }));
    const A = entry.facade.A as new () => { v(): number };
    const old = new A();
    entry.install(instance(entry, "v2", { A: A2 }));
    const fresh = new A();
    assert.equal(old.v(), 2, "the old instance runs the new method");
    for (const cls of [A, A1, A2]) {
      assert.ok(old instanceof cls);
      assert.ok(fresh instanceof cls);
    }
    assert.equal({} instanceof A, false);
  });
});
