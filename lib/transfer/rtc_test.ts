// RtcLink itself needs a browser's RTCPeerConnection: the end-to-end tests in
// tests/transfer_test.ts, tests/resume_test.ts and tests/security_test.ts
// drive it in Chromium.
import assert from "node:assert/strict";
import { certificateMatches, ConnectError, openedOnce } from "./rtc.ts";
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

Deno.test("certificateMatches() takes a certificate only if a fingerprint of the SDP names it", async () => {
  const certificate = new TextEncoder().encode("a DER certificate").buffer;
  const hex = async (hash: string) =>
    [...new Uint8Array(await crypto.subtle.digest(hash, certificate))]
      .map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
  const sha256 = await hex("SHA-256");
  const sdp = (line: string) => `v=0\r\n${line}\r\na=setup:active\r\n`;
  assert.equal(
    await certificateMatches(
      certificate,
      sdp(`a=fingerprint:sha-256 ${sha256}`),
    ),
    true,
  );
  assert.equal(
    await certificateMatches(
      certificate,
      sdp(`a=fingerprint:sha-384 ${await hex("SHA-384")}`),
    ),
    true,
  );
  // Another certificate, another hash named with this digest, no fingerprint.
  const other = sha256.replace(/^../, (b) => b === "00" ? "01" : "00");
  assert.equal(
    await certificateMatches(
      certificate,
      sdp(`a=fingerprint:sha-256 ${other}`),
    ),
    false,
  );
  assert.equal(
    await certificateMatches(certificate, sdp(`a=fingerprint:sha-1 ${sha256}`)),
    false,
  );
  assert.equal(
    await certificateMatches(certificate, sdp(`a=fingerprint:md5 ${sha256}`)),
    false,
  );
  assert.equal(await certificateMatches(certificate, "v=0\r\n"), false);
});
