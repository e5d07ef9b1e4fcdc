import assert from "node:assert/strict";
import { checked, Driver, handles, type Table, Timers } from "./machine.ts";

type Name = "off" | "on";
type Event = { type: "flip" } | { type: "noop" };
const TABLE: Table<Name, Event["type"]> = {
  off: { flip: ["on"] },
  on: { flip: ["off"] },
};

Deno.test("handles() says whether a state's row names an event", () => {
  assert.equal(handles(TABLE, "off", "flip"), true);
  assert.equal(handles(TABLE, "off", "noop"), false);
});

Deno.test("checked() throws for a target the table does not list", () => {
  assert.equal(checked(TABLE, "off", "flip", "on"), "on");
  assert.throws(() => checked(TABLE, "off", "flip", "off"), {
    message:
      'Cannot step from "off" on "flip" to "off": the table does not list it',
  });
  assert.throws(() => checked(TABLE, "off", "noop", "on"));
});

Deno.test("Driver runs each transition's effects in order, then reports the change", () => {
  const log: string[] = [];
  const driver = new Driver<Name, Event, string>(
    "off",
    (state, event) =>
      event.type === "flip"
        ? { state: state === "off" ? "on" : "off", effects: ["a", "b"] }
        : { state, effects: [] },
    (effect) => log.push(`effect ${effect}`),
    (state) => log.push(`now ${state}`),
  );
  driver.dispatch({ type: "flip" });
  driver.dispatch({ type: "noop" });
  assert.equal(driver.state, "on");
  assert.deepEqual(log, ["effect a", "effect b", "now on"]);
});

Deno.test("Driver queues an event dispatched by an effect until the step before is done", () => {
  const seen: [Name, string][] = [];
  const driver: Driver<Name, Event, string> = new Driver<Name, Event, string>(
    "off",
    (state, event) => {
      seen.push([state, event.type]);
      return event.type === "flip"
        ? { state: state === "off" ? "on" : "off", effects: ["again"] }
        : { state, effects: [] };
    },
    // The effect dispatches at once, as a synchronous effect can.
    () => driver.dispatch({ type: "noop" }),
  );
  driver.dispatch({ type: "flip" });
  // The noop saw the state the flip left, not the one before it.
  assert.deepEqual(seen, [["off", "flip"], ["on", "noop"]]);
});

Deno.test("Timers fires a started timer once, and not a stopped or restarted one", async () => {
  const timers = new Timers<"a" | "b">();
  const fired: string[] = [];
  let resolve!: () => void;
  const done = new Promise<void>((r) => resolve = r);
  timers.start("a", 1, () => fired.push("a first"));
  timers.start("a", 1, () => fired.push("a second"));
  timers.start("b", 1, () => fired.push("b"));
  timers.stop("b");
  timers.start("b", 5, () => {
    fired.push("b last");
    resolve();
  });
  await done;
  assert.deepEqual(fired, ["a second", "b last"]);
  timers.start("a", 1, () => fired.push("never"));
  timers.stopAll();
  // A later timer fires after the stopped one would have.
  await new Promise<void>((r) => timers.start("b", 5, r));
  assert.deepEqual(fired, ["a second", "b last"]);
});
