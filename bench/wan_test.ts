import assert from "node:assert/strict";
import { appRowName, parseWanFlags } from "./wan.ts";

Deno.test("parseWanFlags() gives issue #15's conditions by default", () => {
  const flags = parseWanFlags([]);
  assert.deepEqual(flags.conditions.map((c) => c.name), [
    "80ms-100M",
    "80ms-100M-0.5%",
    "200ms-50M",
  ]);
  assert.equal(flags.size, 128 * 1024 * 1024);
  assert.deepEqual(flags.lanes, [1, 2, 4, 8]);
  assert.deepEqual(flags.appLanes, [null]);
});

Deno.test("parseWanFlags() adds the baseline first and reads app lanes", () => {
  const flags = parseWanFlags(["--baseline", "--app-lanes=1,8", "--quick"]);
  assert.equal(flags.conditions[0].name, "nodelay");
  assert.deepEqual(flags.appLanes, [1, 8]);
  assert.equal(flags.rounds, 1);
  assert.equal(flags.size, 32 * 1024 * 1024);
});

Deno.test("parseWanFlags() rejects lanes outside 1 to 8", () => {
  assert.throws(() => parseWanFlags(["--lanes=0,2"]), RangeError);
  assert.throws(() => parseWanFlags(["--app-lanes=9"]), RangeError);
});

Deno.test("parseWanFlags() rejects a sweep pair with the mark under the chunk", () => {
  assert.throws(() => parseWanFlags(["--sweep=1MiB/256KiB"]), RangeError);
  assert.deepEqual(parseWanFlags(["--sweep=64KiB/256KiB"]).sweep, [
    { chunk: 65536, high: 262144 },
  ]);
});

Deno.test("appRowName() names the app rows by their lanes", () => {
  assert.equal(appRowName(null), "app");
  assert.equal(appRowName(1), "app (1 connection)");
  assert.equal(appRowName(8), "app (up to 8)");
});
