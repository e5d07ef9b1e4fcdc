// RtcLink itself needs a browser's RTCPeerConnection: the end-to-end tests in
// tests/transfer_test.ts and tests/resume_test.ts drive it in Chromium.
import assert from "node:assert/strict";
import { ConnectError, openedOnce } from "./rtc.ts";
import { channelPair, type MemoryChannel } from "./memory_channel.ts";

Deno.test("openedOnce() settles with the first result only", async () => {
  const [opened, settle] = openedOnce<MemoryChannel>();
  const [channel] = channelPair();
  settle(channel);
  settle(new ConnectError("Cannot connect: the channel closed"));
  assert.equal(await opened, channel);
});

Deno.test("openedOnce() rejects with the first error, and nobody has to await it", async () => {
  const [opened, settle] = openedOnce<MemoryChannel>();
  settle(
    new ConnectError("Cannot connect: no network path found (ICE failed)"),
  );
  // An unawaited rejection would fail this test as an uncaught error; the
  // promise still rejects for whoever awaits it.
  await new Promise((resolve) => setTimeout(resolve, 0));
  await assert.rejects(opened, { name: "ConnectError" });
});
