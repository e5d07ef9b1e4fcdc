import assert from "node:assert/strict";
import { drained, flushed } from "./channel.ts";
import { HELD_MESSAGES, holdMessages } from "./held_channel.ts";
import { channelPair } from "./memory_channel.ts";

/** A timer tick: a MemoryChannel's messages cross on one. */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

Deno.test("holdMessages() keeps what arrives before anyone listens for the first listener, in order, before later messages", async () => {
  const [a, b] = channelPair();
  const held = holdMessages(b);
  a.send("start");
  a.send("second");
  await tick();
  // A bare channel would have dropped both by now.
  const read: unknown[] = [];
  held.addEventListener("message", (e) => read.push((e as MessageEvent).data));
  // Not from inside addEventListener: the code that listens runs on first.
  assert.deepEqual(read, []);
  a.send("later");
  await tick();
  assert.deepEqual(read, ["start", "second", "later"]);
});

Deno.test("holdMessages() passes messages straight on once someone listens, to each listener until it is removed", async () => {
  const [a, b] = channelPair();
  const held = holdMessages(b);
  const first: unknown[] = [];
  const second: unknown[] = [];
  const onFirst = (e: Event) => first.push((e as MessageEvent).data);
  held.addEventListener("message", onFirst);
  held.addEventListener(
    "message",
    (e) => second.push((e as MessageEvent).data),
  );
  a.send("one");
  await tick();
  held.removeEventListener("message", onFirst);
  a.send("two");
  await tick();
  assert.deepEqual(first, ["one"]);
  assert.deepEqual(second, ["one", "two"]);
});

Deno.test("holdMessages() reports a listener's error and still tells the others", async () => {
  const [a, b] = channelPair();
  const held = holdMessages(b);
  const reported: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    reported.push(e.error);
  };
  globalThis.addEventListener("error", onError);
  try {
    const read: unknown[] = [];
    held.addEventListener("message", () => {
      throw new Error("listener failed");
    });
    held.addEventListener(
      "message",
      (e) => read.push((e as MessageEvent).data),
    );
    a.send("x");
    await tick();
    assert.deepEqual(read, ["x"]);
    assert.equal((reported[0] as Error).message, "listener failed");
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});

Deno.test("holdMessages() closes a channel that floods before anyone listens", async () => {
  const [a, b] = channelPair();
  const held = holdMessages(b);
  for (let i = 0; i <= HELD_MESSAGES; i++) a.send(`m${i}`);
  await tick();
  assert.equal(held.readyState, "closed");
  assert.equal(a.readyState, "closed");
});

Deno.test("holdMessages() passes the rest through: state, buffer, threshold, binary type, sending, closing and other events", async () => {
  const [a, b] = channelPair(1024);
  const held = holdMessages(a);
  held.binaryType = "blob";
  held.bufferedAmountLowThreshold = 100;
  assert.equal(a.binaryType, "blob");
  assert.equal(a.bufferedAmountLowThreshold, 100);
  assert.equal(held.binaryType, "blob");
  assert.equal(held.bufferedAmountLowThreshold, 100);
  const read: unknown[] = [];
  b.addEventListener("message", (e) => read.push((e as MessageEvent).data));
  held.send(new Uint8Array(4096));
  assert.equal(held.bufferedAmount, a.bufferedAmount);
  assert.ok(held.bufferedAmount > 0);
  await drained(held);
  await flushed(held, 10_000, 1);
  assert.equal(read.length, 1);
  let closed = false;
  held.addEventListener("close", () => closed = true);
  held.close();
  assert.equal(held.readyState, "closed");
  await tick();
  assert.ok(closed);
});
