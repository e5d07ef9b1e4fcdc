import assert from "node:assert/strict";
import { ChannelClosedError, drained, flushed } from "./channel.ts";
import { channelPair } from "./memory_channel.ts";

Deno.test("drained() resolves at once when nothing waits, and once the buffer falls to the low threshold", async () => {
  const [a] = channelPair(1024);
  await drained(a);
  a.bufferedAmountLowThreshold = 1024;
  a.send(new Uint8Array(8 * 1024));
  assert.ok(a.bufferedAmount > 1024);
  await drained(a);
  assert.ok(a.bufferedAmount <= 1024);
});

Deno.test("drained() rejects with ChannelClosedError when the channel closes first", async () => {
  const [a] = channelPair(1);
  a.send(new Uint8Array(64 * 1024));
  const waiting = drained(a);
  a.close();
  await assert.rejects(waiting, ChannelClosedError);
});

Deno.test("flushed() resolves once everything queued left, and the last message is read", async () => {
  const [a, b] = channelPair(4 * 1024);
  const read: unknown[] = [];
  b.addEventListener("message", (e) => read.push((e as MessageEvent).data));
  a.send(new Uint8Array(64 * 1024));
  a.send("last");
  await flushed(a, 10_000, 1);
  assert.equal(a.bufferedAmount, 0);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(read.at(-1), "last");
});

Deno.test("flushed() gives up after its cap on a channel that never drains, and never rejects", async () => {
  const [a] = channelPair(0);
  a.send(new Uint8Array(1024));
  const started = Date.now();
  await flushed(a, 30, 5);
  assert.ok(Date.now() - started >= 30);
  assert.ok(a.bufferedAmount > 0);
});

Deno.test("flushed() resolves at once for a closed channel", async () => {
  const [a] = channelPair(0);
  a.send(new Uint8Array(1024));
  a.close();
  await flushed(a, 60_000);
});
