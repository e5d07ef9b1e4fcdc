/**
 * The raw WebSocket client (ws_client.ts) against a real SignalServer:
 * what the benchmark's load and the tests' misbehaving clients rely on.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  closePayload,
  ConnectError,
  connectWebSocket,
  decodeText,
  encodeClientFrame,
  encodeTextFrame,
  OP,
  type RawWebSocket,
} from "./ws_client.ts";
import { settle, startSignal, waitFor } from "./ws.ts";
import { isPeerId } from "../../lib/signal/protocol.ts";

/** A pushed socket that keeps every message as text, and its id once assigned. */
async function pushed(port: number, readBufferBytes?: number) {
  const ws = await connectWebSocket({ port, readBufferBytes });
  const texts: string[] = [];
  const closed = Promise.withResolvers<{ code: number; reason: string }>();
  ws.handlers = {
    onMessage: (bytes, start, end, binary) =>
      texts.push(binary ? "<binary>" : decodeText(bytes, start, end)),
    onClose: (code, reason) => closed.resolve({ code, reason }),
  };
  ws.start();
  await waitFor(() => texts.length > 0, 5000, "the assign frame");
  const [event, id] = JSON.parse(texts.shift()!);
  assert.equal(event, "assign");
  assert.ok(isPeerId(id));
  return { ws, id: id as string, texts, closed: closed.promise };
}

Deno.test("encodeTextFrame() masks with a zero key and sizes the head", () => {
  for (const n of [0, 125, 126, 65535, 65536]) {
    const frame = encodeTextFrame("a".repeat(n));
    const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
    assert.equal(frame.length, head + 4 + n);
    assert.equal(frame[0], 0x81);
    assert.equal(frame[1] & 0x80, 0x80);
    assert.deepEqual([...frame.subarray(head, head + 4)], [0, 0, 0, 0]);
  }
  // Non-ASCII text is encoded as UTF-8, not cut short.
  const utf8 = encodeTextFrame("é");
  assert.deepEqual([...utf8.subarray(6)], [0xc3, 0xa9]);
  const close = encodeClientFrame(OP.CLOSE, new Uint8Array([3, 232]));
  assert.equal(close[1], 0x82);
  assert.deepEqual(closePayload(close.subarray(6)), { code: 1000, reason: "" });
});

Deno.test("pushed sockets get their ids, relay to each other, and close cleanly", async () => {
  const server = startSignal();
  // A read buffer smaller than one frame: it must grow, not cut the frame.
  const a = await pushed(server.port, 1024);
  const b = await pushed(server.port, 1024);
  try {
    await settle(server, 2);
    a.ws.sendText(JSON.stringify(["request", b.id]));
    await waitFor(() => b.texts.length > 0, 5000, "the request");
    assert.deepEqual(JSON.parse(b.texts.shift()!), ["request", a.id]);
    const pad = "x".repeat(60_000);
    b.ws.sendText(JSON.stringify(["response", a.id, { pad }]));
    await waitFor(() => a.texts.length > 0, 5000, "the response");
    assert.deepEqual(JSON.parse(a.texts.shift()!), [
      "response",
      b.id,
      { pad },
    ]);
  } finally {
    await a.ws.close();
    await b.ws.close();
  }
  assert.deepEqual(await a.closed, { code: 1000, reason: "closed by client" });
  assert.equal(b.ws.closedCode, 1000);
  await settle(server, 0);
  await server.close();
});

Deno.test("a pushed socket reports the server's close code and reason", async () => {
  const server = startSignal();
  const a = await pushed(server.port);
  try {
    // A binary frame is not part of the protocol: the server closes with 1003.
    a.ws.sendRaw(encodeClientFrame(OP.BINARY, new Uint8Array([1, 2, 3])));
    const { code, reason } = await a.closed;
    assert.equal(code, 1003);
    assert.ok(reason.length > 0, "a reason");
    assert.ok(a.ws.closed);
  } finally {
    await a.ws.close();
  }
  await settle(server, 0);
  await server.close();
});

Deno.test("a pushed socket answers pings, so the heartbeat keeps it", async () => {
  const server = startSignal({ heartbeatSeconds: 1 });
  const a = await pushed(server.port);
  try {
    // The server drops a peer that misses one pong: two pings answered
    // means the first pong was taken.
    await waitFor(() => a.ws.pings >= 2, 5000, "two pings");
    assert.equal(server.peerCount(), 1);
    assert.ok(!a.ws.closed);
  } finally {
    await a.ws.close();
  }
  await settle(server, 0);
  await server.close();
});

Deno.test("a pulled socket reads frames only when asked, control frames too", async () => {
  const server = startSignal({ heartbeatSeconds: 1 });
  const pulled = await connectWebSocket({ port: server.port });
  try {
    const [event, id] = await pulled.readJson();
    assert.equal(event, "assign");
    assert.ok(isPeerId(id));
    // Nothing answers the ping: the server gives up on this peer.
    const ping = await pulled.readFrame();
    assert.equal(ping.opcode, OP.PING);
    const close = await pulled.readFrame();
    assert.equal(close.opcode, OP.CLOSE);
    assert.equal(closePayload(close.payload).code, 1001);
    await pulled.sendFrame(OP.CLOSE, close.payload.subarray(0, 2));
    await pulled.readToEnd();
    await assert.rejects(() => pulled.readFrame(), /stream ended/);
    assert.throws(() => pulled.start(), /already pulled/);
  } finally {
    await pulled.close();
  }
  await settle(server, 0);
  await server.close();
});

Deno.test("a refused upgrade is a ConnectError with the status and the server's reason", async () => {
  const server = startSignal({ maxPeers: 1 });
  const first = await connectWebSocket({ port: server.port });
  try {
    const error = await connectWebSocket({ port: server.port }).then(
      () => assert.fail("a second peer was let in"),
      (error) => error,
    );
    assert.ok(error instanceof ConnectError);
    assert.equal(error.kind, "http 503");
    assert.equal(error.status, 503);
    assert.match(error.body, /server is full/);
  } finally {
    await first.close();
  }
  await settle(server, 0);
  await server.close();
  // Nothing listens on a stopped server's port.
  const refused = await connectWebSocket({ port: server.port }).then(
    () => assert.fail("connected to a stopped server"),
    (error) => error,
  );
  assert.ok(refused instanceof ConnectError);
  assert.equal(refused.kind, "refused");
});

Deno.test("the headers given reach the server (X-Forwarded-For behind a trusted proxy)", async () => {
  const server = startSignal({
    maxPeersPerIp: 1,
    trustProxy: (address) => address === "127.0.0.1",
  });
  const held: RawWebSocket[] = [];
  try {
    for (const client of ["203.0.113.1", "203.0.113.2"]) {
      held.push(
        await connectWebSocket({
          port: server.port,
          headers: { "X-Forwarded-For": client },
        }),
      );
    }
    await assert.rejects(
      () =>
        connectWebSocket({
          port: server.port,
          headers: { "X-Forwarded-For": "203.0.113.1" },
        }),
      (error) => error instanceof ConnectError && error.status === 503,
    );
  } finally {
    await Promise.all(held.map((ws) => ws.close()));
  }
  await settle(server, 0);
  await server.close();
});

Deno.test("200 pushed sockets at once all get ids and all close", async () => {
  const server = startSignal({ maxPeersPerIp: 1000 });
  const peers = await Promise.all(
    // 200: 400 descriptors in this process, well under a default limit of 1024.
    Array.from({ length: 200 }, () => pushed(server.port)),
  );
  try {
    assert.equal(new Set(peers.map((p) => p.id)).size, 200);
    await settle(server, 200);
  } finally {
    await Promise.all(peers.map((p) => p.ws.close()));
  }
  await settle(server, 0);
  await server.close();
});
