import assert from "node:assert/strict";
import { channelPair } from "./memory_channel.ts";

/** Resolves with the next event of `type` on `target`. */
function next<T extends Event = Event>(
  target: EventTarget,
  type: string,
): Promise<T> {
  return new Promise((resolve) =>
    target.addEventListener(type, (event) => resolve(event as T), {
      once: true,
    })
  );
}

/** Resolves once `n` messages arrived at `target`, with their data. */
function receive(target: EventTarget, n: number): Promise<unknown[]> {
  const got: unknown[] = [];
  return new Promise((resolve) => {
    const listener = (event: Event) => {
      got.push((event as MessageEvent).data);
      if (got.length === n) {
        target.removeEventListener("message", listener);
        resolve(got);
      }
    };
    target.addEventListener("message", listener);
  });
}

Deno.test("channelPair() carries messages across in order", async () => {
  const [a, b] = channelPair();
  assert.equal(a.readyState, "open");
  assert.equal(b.readyState, "open");
  const got = receive(b, 4);
  a.send("one");
  a.send(new Uint8Array([1, 2, 3]));
  a.send(new Uint8Array([4, 5]).buffer);
  a.send("four");
  const [first, second, third, fourth] = await got;
  assert.equal(first, "one");
  assert.deepEqual(
    new Uint8Array(second as ArrayBuffer),
    Uint8Array.of(1, 2, 3),
  );
  assert.deepEqual(new Uint8Array(third as ArrayBuffer), Uint8Array.of(4, 5));
  assert.equal(fourth, "four");
  assert.equal(a.bytesSent, 5);
  a.close();
  await next(b, "close");
});

Deno.test("channelPair() carries messages both ways", async () => {
  const [a, b] = channelPair();
  const atB = receive(b, 1);
  const atA = receive(a, 1);
  a.send("ping");
  b.send("pong");
  assert.deepEqual(await atB, ["ping"]);
  assert.deepEqual(await atA, ["pong"]);
  a.close();
  await Promise.all([next(a, "close"), next(b, "close")]);
});

Deno.test("MemoryChannel sends a copy of the bytes, only the view's part", async () => {
  const [a, b] = channelPair();
  const got = receive(b, 1);
  const bytes = Uint8Array.of(9, 1, 2, 3, 9);
  a.send(bytes.subarray(1, 4));
  bytes.fill(0);
  const [data] = await got;
  assert.ok(data instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(data), Uint8Array.of(1, 2, 3));
  a.close();
  await next(b, "close");
});

Deno.test("MemoryChannel bufferedAmount rises and falls, firing bufferedamountlow", async () => {
  const [a, b] = channelPair(1000);
  a.bufferedAmountLowThreshold = 500;
  let lows = 0;
  a.addEventListener("bufferedamountlow", () => lows++);
  const got = receive(b, 4);
  for (let i = 0; i < 4; i++) a.send(new Uint8Array(400));
  assert.equal(a.bufferedAmount, 1600);
  const low = next(a, "bufferedamountlow");
  // 1000 bytes per tick: three messages cross in the first tick.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(a.bufferedAmount, 400);
  await low;
  await got;
  assert.equal(a.bufferedAmount, 0);
  assert.equal(lows, 1);
  assert.equal(a.bytesSent, 1600);
  a.close();
  await next(b, "close");
});

Deno.test("MemoryChannel counts text in bufferedAmount but not in bytesSent", async () => {
  const [a, b] = channelPair();
  const got = receive(b, 1);
  a.send("hello");
  assert.equal(a.bufferedAmount, 5);
  await got;
  assert.equal(a.bufferedAmount, 0);
  assert.equal(a.bytesSent, 0);
  a.close();
  await next(b, "close");
});

Deno.test("MemoryChannel close() closes both ends", async () => {
  const [a, b] = channelPair();
  const closes = Promise.all([next(a, "close"), next(b, "close")]);
  a.send(new Uint8Array(10));
  let delivered = 0;
  b.addEventListener("message", () => delivered++);
  a.close();
  assert.equal(a.readyState, "closed");
  assert.equal(b.readyState, "closed");
  assert.equal(a.bufferedAmount, 0);
  await closes;
  // What waited was dropped.
  assert.equal(delivered, 0);
  a.close(); // a second close does nothing
});

Deno.test("MemoryChannel send() throws once closed", async () => {
  const [a, b] = channelPair();
  const closes = Promise.all([next(a, "close"), next(b, "close")]);
  b.close();
  assert.throws(
    () => a.send("late"),
    (error: unknown) =>
      error instanceof DOMException && error.name === "InvalidStateError",
  );
  assert.throws(() => b.send("late"), DOMException);
  await closes;
});

Deno.test("MemoryChannel vanish() silences both ends: nothing crosses, nothing closes, the buffer stays", async () => {
  const [a, b] = channelPair();
  const got: unknown[] = [];
  b.addEventListener(
    "message",
    (event) => got.push((event as MessageEvent).data),
  );
  a.vanish();
  a.send(new Uint8Array(100));
  b.send("ack");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(got, []);
  assert.equal(a.bufferedAmount, 100);
  assert.equal(a.readyState, "open");
  assert.equal(b.readyState, "open");
  a.close();
});
