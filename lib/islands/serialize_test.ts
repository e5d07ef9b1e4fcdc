import assert from "node:assert/strict";
import { signal } from "@preact/signals";
import {
  type IslandData,
  reviveIsland,
  serializeIsland,
  stringifyIslandData,
} from "./serialize.ts";

Deno.test("serializeIsland() keeps JSON props as they are", () => {
  const props = {
    text: "hi",
    count: 3,
    ratio: -0.5,
    ok: false,
    none: null,
    list: [1, "two", [3], { four: 4 }],
    nested: { a: { b: { c: "d" } } },
    bare: Object.assign(Object.create(null), { x: 1 }),
  };
  assert.deepEqual(serializeIsland("Counter", props), {
    name: "Counter",
    props,
    signals: [],
  });
});

Deno.test("serializeIsland() allows a value shared but not circular", () => {
  const shared = { a: 1 };
  const island = serializeIsland("Counter", { x: shared, y: [shared, shared] });
  assert.deepEqual(island.props, { x: shared, y: [shared, shared] });
});

Deno.test("serializeIsland() sends a top-level signal as its value and names it", () => {
  const count = signal(5);
  const items = signal([{ name: "a.txt" }]);
  const island = serializeIsland("Counter", { count, items, label: "n" });
  assert.deepEqual(island, {
    name: "Counter",
    props: { count: 5, items: [{ name: "a.txt" }], label: "n" },
    signals: ["count", "items"],
  });
});

Deno.test("serializeIsland() skips children when they are undefined", () => {
  const island = serializeIsland("Counter", { children: undefined, a: 1 });
  assert.deepEqual(island.props, { a: 1 });
});

class Point {
  x = 1;
}
const circular: Record<string, unknown> = { a: 1 };
circular.self = circular;
const circularList: unknown[] = [];
circularList.push({ back: circularList });

const NOT_JSON: [string, unknown, RegExp][] = [
  ["a function", () => {}, /"value" is a function/],
  ["a class instance", new Point(), /"value" is an instance of Point/],
  ["a Map", new Map([["a", 1]]), /"value" is an instance of Map/],
  ["a Set", new Set([1]), /"value" is an instance of Set/],
  ["a Date", new Date(0), /"value" is an instance of Date/],
  ["NaN", NaN, /"value" is NaN/],
  ["Infinity", -Infinity, /"value" is -Infinity/],
  ["undefined", undefined, /"value" is undefined/],
  ["a bigint", 1n, /"value" is a bigint/],
  ["a symbol", Symbol("s"), /"value" is a symbol/],
  ["circular", circular, /"value\.self" is a circular reference/],
  ["a circular list", circularList, /"value\[0\]\.back" is a circular/],
  ["a nested function", { deep: [{ f: () => {} }] }, /"value\.deep\[0\]\.f"/],
  ["a nested undefined", { a: undefined }, /"value\.a" is undefined/],
  ["a nested signal", { s: signal(1) }, /"value\.s" is an instance of/],
  [
    "a signal holding a Map",
    signal(new Map()),
    /"value" is an instance of Map/,
  ],
];

for (const [what, value, message] of NOT_JSON) {
  Deno.test(`serializeIsland() rejects ${what} with a TypeError naming the island`, () => {
    assert.throws(
      () => serializeIsland("Counter", { value }),
      (error: unknown) => {
        assert.ok(error instanceof TypeError, `got ${error}`);
        assert.match(
          error.message,
          /^Cannot serialize props of island Counter: /,
        );
        assert.match(error.message, message);
        return true;
      },
    );
  });
}

Deno.test("serializeIsland() rejects children with a TypeError naming the island", () => {
  for (const children of ["text", null, [], { type: "div" }]) {
    assert.throws(
      () => serializeIsland("Counter", { children }),
      (error: unknown) => {
        assert.ok(error instanceof TypeError);
        assert.match(error.message, /island Counter: islands take no children/);
        return true;
      },
    );
  }
});

function islandData(props: Record<string, unknown>): IslandData {
  return {
    modules: { Counter: "/_beam/Counter-ABC.js" },
    islands: [serializeIsland("Counter", props)],
  };
}

Deno.test("stringifyIslandData() round-trips through JSON.parse", () => {
  const data = islandData({
    text: "</script><!-- <script>alert(1)</script> & \u2028\u2029 ]]> -->",
    unicode: "日本語 🙂",
    quote: '"\\',
  });
  assert.deepEqual(JSON.parse(stringifyIslandData(data)), data);
});

Deno.test("stringifyIslandData() leaves no <, > or & that could end the script", () => {
  const text = stringifyIslandData(islandData({
    a: "</script>",
    b: "</SCRIPT >",
    c: "<!--",
    d: "-->",
    e: "<script>",
    f: "&lt;",
    "</script>": "in a key",
  }));
  assert.doesNotMatch(text, /[<>&\u2028\u2029]/);
  assert.ok(text.includes("\\u003c/script\\u003e"));
});

Deno.test("reviveIsland() makes each named prop a signal again", () => {
  const island = serializeIsland("Counter", { count: signal(2), label: "x" });
  const wire = JSON.parse(
    stringifyIslandData({ modules: {}, islands: [island] }),
  );
  const props = reviveIsland(wire.islands[0], (value) => signal(value));
  assert.deepEqual(Object.keys(props).sort(), ["count", "label"]);
  assert.equal(props.label, "x");
  const count = props.count as ReturnType<typeof signal<number>>;
  assert.equal(count.value, 2);
  count.value++;
  assert.equal(count.value, 3);
  // The wire copy stays as it was.
  assert.equal(wire.islands[0].props.count, 2);
});
