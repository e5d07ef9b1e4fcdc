// RtcLink itself needs a browser's RTCPeerConnection: the end-to-end tests in
// tests/transfer_test.ts, tests/resume_test.ts, tests/security_test.ts and
// tests/turn_test.ts (through a coturn relay) drive it in Chromium.
import assert from "node:assert/strict";
import {
  certificateMatches,
  ConnectError,
  IceSource,
  type Link,
  openedOnce,
  RELAY_REFUSED,
  RELAY_UNREACHABLE,
  relayProblem,
} from "./rtc.ts";
import { channelPair, type MemoryChannel } from "./memory_channel.ts";
import type { MemoryLinks } from "./fakes.ts";
import { startShare, until } from "../../tests/_helpers/sessions.ts";

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

Deno.test("relayProblem() reads a TURN server's refusals and silence, and leaves STUN alone", () => {
  assert.equal(
    relayProblem("turn:relay.example:3478?transport=udp", 401),
    "refused",
  );
  assert.equal(
    relayProblem("turns:relay.example:443?transport=tcp", 403),
    "refused",
  );
  assert.equal(relayProblem("turn:relay.example", 441), "refused");
  assert.equal(relayProblem("turn:relay.example", 701), "unreachable");
  assert.equal(relayProblem("turn:relay.example", 486), undefined);
  assert.equal(relayProblem("stun:stun.example:3478", 401), undefined);
  assert.equal(relayProblem("stun:stun.example:3478", 701), undefined);
});

Deno.test("the relay messages are whole sentences saying what to do", () => {
  for (const text of [RELAY_REFUSED, RELAY_UNREACHABLE]) {
    assert.match(text, /^The relay server .*\. .*try again.*\.$/);
  }
});

/**
 * A real HTTP server answering the ICE endpoint: `answers` are handed out
 * in turn (a number is a status with no body); `hits` counts requests.
 */
function iceServer(answers: (object | number)[]) {
  let hits = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => {
      const answer = answers[Math.min(hits++, answers.length - 1)];
      return typeof answer === "number"
        ? new Response(null, { status: answer })
        : Response.json(answer, { headers: { "cache-control": "no-store" } });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/api/ice`,
    get hits() {
      return hits;
    },
    close: () => server.shutdown(),
  };
}

const STATIC: RTCIceServer[] = [{ urls: "stun:stun.example:3478" }];
const TURN_ENTRY = (n: number): RTCIceServer => ({
  urls: "turn:relay.example:3478",
  username: `${n}:x`,
  credential: `c${n}`,
});

Deno.test("IceSource uses the static servers alone, fetching nothing, without a URL", async () => {
  const source = new IceSource({ iceServers: STATIC });
  assert.deepEqual(await source.configuration(), { iceServers: STATIC });
  const relay = new IceSource({
    iceServers: STATIC,
    iceTransportPolicy: "relay",
  });
  assert.deepEqual(await relay.configuration(), {
    iceServers: STATIC,
    iceTransportPolicy: "relay",
  });
});

Deno.test("IceSource fetches servers once for a quarter of the TTL, and again after forget()", async () => {
  const server = iceServer([
    { iceServers: [...STATIC, TURN_ENTRY(1)], ttl: 3600 },
    { iceServers: [...STATIC, TURN_ENTRY(2)], ttl: 3600 },
  ]);
  try {
    const source = new IceSource({ iceServers: [], url: server.url });
    const [a, b] = await Promise.all([source.servers(), source.servers()]);
    assert.deepEqual(a, [...STATIC, TURN_ENTRY(1)]);
    assert.equal(b, a);
    assert.equal(server.hits, 1);
    source.forget();
    assert.deepEqual(await source.servers(), [...STATIC, TURN_ENTRY(2)]);
    assert.equal(server.hits, 2);
  } finally {
    await server.close();
  }
});

Deno.test("IceSource asks again once the reuse time of a short TTL is over", async () => {
  // A TTL of 0.2 s is reused for 50 ms.
  const server = iceServer([
    { iceServers: [TURN_ENTRY(1)], ttl: 0.2 },
    { iceServers: [TURN_ENTRY(2)], ttl: 0.2 },
  ]);
  try {
    const source = new IceSource({ iceServers: [], url: server.url });
    assert.deepEqual(await source.servers(), [TURN_ENTRY(1)]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await source.servers(), [TURN_ENTRY(2)]);
  } finally {
    await server.close();
  }
});

Deno.test("IceSource falls back to the static servers with a warning when the fetch fails, and asks again next time", async () => {
  const server = iceServer([503, { iceServers: [TURN_ENTRY(1)], ttl: 3600 }]);
  const warnings: string[] = [];
  try {
    const source = new IceSource({
      iceServers: STATIC,
      url: server.url,
      warn: (text) => warnings.push(text),
    });
    assert.deepEqual(await source.servers(), STATIC);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /^Cannot fetch ICE servers from http:\/\/127\.0\.0\.1:\d+\/api\/ice: the server answered 503\. Connecting with the page's own list, without the relay\.$/,
    );
    assert.deepEqual(await source.servers(), [TURN_ENTRY(1)]);
  } finally {
    await server.close();
  }
});

Deno.test("IceSource falls back when nothing answers at the URL", async () => {
  const server = iceServer([200]);
  const url = server.url;
  await server.close();
  const warnings: string[] = [];
  const source = new IceSource({
    iceServers: STATIC,
    url,
    warn: (text) => warnings.push(text),
  });
  assert.deepEqual(await source.servers(), STATIC);
  assert.match(warnings[0], /^Cannot fetch ICE servers from /);
});

/** `link` as a link whose relay refused: its `failure` says so. */
function refusedLink(link: Link): Link {
  return Object.defineProperty(link, "failure", { value: RELAY_REFUSED });
}

Deno.test("a receiving session shows a link's failure, not the timeout's words, when its connect timeout fires", async () => {
  const share = await startShare(1024, { connectTimeoutMs: 60_000 });
  share.links.fates.push("stall");
  const r = share.receiver({
    connectTimeoutMs: 50,
    connectGraceMs: 0,
    maxAttempts: 1,
    createLink: (onCandidate) =>
      refusedLink(share.links.factory()(onCandidate)),
  });
  await r.session.open();
  await r.session.download(r.sink).catch(() => {});
  const last = r.statuses.at(-1)!;
  assert.equal(last.phase, "failed");
  assert.ok(last.message?.includes(RELAY_REFUSED), last.message);
  share.sender.stop();
});

Deno.test("a sending session shows a link's failure on the receiver's row when its connect timeout fires", async () => {
  // The sender's links come from the share, which exists once it started.
  const made: { links?: MemoryLinks } = {};
  const share = await startShare(1024, {
    connectTimeoutMs: 50,
    createLink: (onCandidate) =>
      refusedLink(made.links!.factory()(onCandidate)),
  });
  made.links = share.links;
  share.links.fates.push("stall");
  const r = share.receiver({ connectTimeoutMs: 60_000 });
  await r.session.open();
  const done = r.session.download(r.sink);
  await until(
    () => share.rows.some((rows) => rows[0]?.message?.includes(RELAY_REFUSED)),
    "the row to say the relay refused",
  );
  r.session.close();
  await done.catch(() => {});
  share.sender.stop();
});
