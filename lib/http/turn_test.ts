import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { iceResponse, iceServersFor, mintCredential } from "./turn.ts";
import type { TurnConfig } from "./config.ts";

const SECRET = "a-secret-shared-with-coturn";

/** What coturn computes for a username: base64(HMAC-SHA1(secret, user)). */
function coturnPassword(secret: string, username: string): string {
  return createHmac("sha1", secret).update(username).digest("base64");
}

const TURN: TurnConfig = {
  secret: SECRET,
  urls: ["turn:127.0.0.1:3478?transport=udp", "turns:relay.example:443"],
  ttlSeconds: 3600,
  clockOffsetSeconds: 0,
};

Deno.test("mintCredential() makes a username EXPIRY:RANDOM and its HMAC-SHA1 as node:crypto computes it", async () => {
  const now = Date.UTC(2026, 11, 1, 12, 0, 0);
  const { username, credential, expiresAt } = await mintCredential(
    SECRET,
    600,
    now,
  );
  assert.match(username, /^\d+:[A-Za-z0-9_-]{12}$/);
  assert.equal(expiresAt, now / 1000 + 600);
  assert.equal(username.split(":")[0], String(expiresAt));
  assert.equal(credential, coturnPassword(SECRET, username));
  assert.notEqual(
    credential,
    coturnPassword("another-secret-entirely", username),
  );
});

Deno.test("mintCredential() gives a different username each time", async () => {
  const now = Date.now();
  const names = new Set<string>();
  for (let i = 0; i < 50; i++) {
    names.add((await mintCredential(SECRET, 60, now)).username);
  }
  assert.equal(names.size, 50);
});

Deno.test("mintCredential() expires TTL seconds from now, rounded down to a second", async () => {
  const now = 1_800_000_000_999;
  for (const ttl of [60, 3600, 86400]) {
    const { expiresAt } = await mintCredential(SECRET, ttl, now);
    assert.equal(expiresAt, 1_800_000_000 + ttl);
  }
});

Deno.test("iceServersFor() adds one TURN entry with every URL after the static servers", async () => {
  const now = Date.now();
  const answer = await iceServersFor(
    [{ urls: "stun:stun.example:3478" }],
    TURN,
    now,
  );
  assert.equal(answer.ttl, 3600);
  assert.equal(answer.iceServers.length, 2);
  assert.deepEqual(answer.iceServers[0], { urls: "stun:stun.example:3478" });
  const turn = answer.iceServers[1];
  assert.deepEqual(turn.urls, TURN.urls);
  assert.equal(turn.credential, coturnPassword(SECRET, turn.username!));
  assert.equal(
    Number(turn.username!.split(":")[0]),
    Math.floor(now / 1000) + 3600,
  );
});

Deno.test("iceServersFor() hands out the static servers alone without TURN", async () => {
  const servers = [{ urls: "stun:stun.example:3478" }];
  assert.deepEqual(await iceServersFor(servers, undefined), {
    iceServers: servers,
  });
});

Deno.test("iceServersFor() shifts the expiry by the test clock offset", async () => {
  const now = 1_800_000_000_000;
  const answer = await iceServersFor([], {
    ...TURN,
    clockOffsetSeconds: -7200,
  }, now);
  assert.equal(
    Number(answer.iceServers[0].username!.split(":")[0]),
    1_800_000_000 - 7200 + 3600,
  );
});

const CONFIG = { iceServers: [], turn: TURN, allowedOrigins: [] };

Deno.test("iceResponse() answers fresh credentials, never cached", async () => {
  const request = () =>
    new Request("http://beam.test/api/ice", {
      headers: { host: "beam.test" },
    });
  const first = await iceResponse(request(), CONFIG);
  const second = await iceResponse(request(), CONFIG);
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("cache-control"), "no-store");
  assert.match(first.headers.get("content-type")!, /^application\/json/);
  const a = (await first.json()).iceServers[0];
  const b = (await second.json()).iceServers[0];
  assert.notEqual(a.username, b.username);
  assert.equal(a.credential, coturnPassword(SECRET, a.username));
  assert.equal(b.credential, coturnPassword(SECRET, b.username));
  assert.ok(!JSON.stringify(a).includes(SECRET));
});

Deno.test("iceResponse() refuses a page of a foreign origin with 403", async () => {
  const response = await iceResponse(
    new Request("http://beam.test/api/ice", {
      headers: { host: "beam.test", origin: "https://evil.example" },
    }),
    CONFIG,
  );
  assert.equal(response.status, 403);
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.match(await response.text(), /https:\/\/evil\.example/);
});

Deno.test("iceResponse() answers its own origin, and a listed one with CORS", async () => {
  const own = await iceResponse(
    new Request("http://beam.test/api/ice", {
      headers: { host: "beam.test", origin: "https://beam.test" },
    }),
    CONFIG,
  );
  assert.equal(own.status, 200);
  await own.body?.cancel();
  const listed = await iceResponse(
    new Request("http://beam.test/api/ice", {
      headers: { host: "beam.test", origin: "https://app.example" },
    }),
    { ...CONFIG, allowedOrigins: ["https://app.example"] },
  );
  assert.equal(listed.status, 200);
  assert.equal(
    listed.headers.get("access-control-allow-origin"),
    "https://app.example",
  );
  await listed.body?.cancel();
});
