import assert from "node:assert/strict";
import { SignalServer, type SignalServerOptions } from "./server.ts";
import { serveFront } from "../http/front.ts";
import { acceptKey } from "./raw_socket.ts";
import {
  closePayload,
  connectWebSocket,
  encodeClientFrame,
  OP,
  type RawWebSocket,
} from "../../tests/_helpers/ws_client.ts";

/** A signaling server behind the raw front, on a free loopback port. */
function serve(options: SignalServerOptions = {}) {
  const signal = new SignalServer(options);
  const front = serveFront({
    hostname: "127.0.0.1",
    port: 0,
    signal,
    handler: () => Promise.resolve(new Response("page\n")),
  });
  return {
    signal,
    port: front.addr.port,
    async connect(): Promise<{ socket: RawWebSocket; id: string }> {
      const socket = await connectWebSocket({ port: front.addr.port });
      const [event, id] = await socket.readJson();
      assert.equal(event, "assign");
      return { socket, id: id as string };
    },
    close: () => front.shutdown(),
  };
}

/** Reads frames until a close frame, answering nothing; its code and reason. */
async function closeOf(socket: RawWebSocket) {
  for (;;) {
    const frame = await socket.readFrame();
    if (frame.opcode === OP.CLOSE) return closePayload(frame.payload);
  }
}

Deno.test("acceptKey() answers RFC 6455's own example key as the RFC does", async () => {
  // RFC 6455 section 1.3: checked against the RFC, not against a GUID of our
  // own, which a browser alone would catch ("Incorrect 'Sec-WebSocket-Accept'
  // header value").
  assert.equal(
    await acceptKey("dGhlIHNhbXBsZSBub25jZQ=="),
    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
  );
});

Deno.test("RawSocket takes a fragmented message whole and answers a ping with its payload", async () => {
  const server = serve();
  const { socket } = await server.connect();
  try {
    const text = new TextEncoder().encode('["request",0]');
    const first = encodeClientFrame(OP.TEXT, text.subarray(0, 5));
    first[0] &= 0x7f; // not FIN: more follows
    socket.sendRaw(first);
    socket.sendRaw(encodeClientFrame(OP.CONTINUATION, text.subarray(5)));
    assert.deepEqual(await socket.readJson(), ["invalid peer id"]);
    await socket.sendFrame(OP.PING, new Uint8Array([1, 2, 3]));
    const pong = await socket.readFrame();
    assert.equal(pong.opcode, OP.PONG);
    assert.deepEqual([...pong.payload], [1, 2, 3]);
  } finally {
    await socket.close();
    await server.close();
  }
});

Deno.test("RawSocket closes a frame past the cap with 1009 before its payload, after the answers it owes", async () => {
  const server = serve({ maxFrameBytes: 100 });
  const { socket } = await server.connect();
  try {
    socket.sendText('["request",0]');
    // Only the header of a 1 GiB frame: the server must not wait for more.
    const head = new Uint8Array(14);
    head[0] = 0x80 | OP.TEXT;
    head[1] = 0x80 | 127;
    new DataView(head.buffer).setBigUint64(2, 1n << 30n);
    socket.sendRaw(head);
    assert.deepEqual(await socket.readJson(), ["invalid peer id"]);
    const close = await closeOf(socket);
    assert.equal(close.code, 1009);
    assert.match(close.reason, /larger than 100 bytes/);
    await socket.readToEnd();
    assert.equal(server.signal.peerCount, 0);
  } finally {
    await socket.close();
    await server.close();
  }
});

Deno.test("RawSocket closes an unmasked frame with 1002 and text that is not UTF-8 with 1007", async () => {
  const server = serve();
  const a = await server.connect();
  const b = await server.connect();
  try {
    const unmasked = encodeClientFrame(OP.TEXT, new Uint8Array([0x5b, 0x5d]));
    // The same bytes without the mask bit and key.
    a.socket.sendRaw(
      new Uint8Array([unmasked[0], unmasked[1] & 0x7f, 0x5b, 0x5d]),
    );
    assert.equal((await closeOf(a.socket)).code, 1002);
    await b.socket.sendFrame(OP.TEXT, new Uint8Array([0x22, 0xff, 0x22]));
    assert.equal((await closeOf(b.socket)).code, 1007);
  } finally {
    await a.socket.close();
    await b.socket.close();
    await server.close();
  }
});

Deno.test("RawSocket: a client that answers no ping is closed with 1001 within the heartbeat", async () => {
  const server = serve({ heartbeatSeconds: 0.4 });
  const { socket } = await server.connect();
  try {
    // The raw client answers nothing by itself: a dead browser.
    let pings = 0;
    for (;;) {
      const frame = await socket.readFrame();
      if (frame.opcode === OP.PING) pings++;
      if (frame.opcode === OP.CLOSE) {
        assert.equal(closePayload(frame.payload).code, 1001);
        break;
      }
    }
    assert.equal(pings, 1);
  } finally {
    await socket.close();
    await server.close();
  }
});

Deno.test("The raw front hands other requests to the app, and refuses an upgrade on a connection it handed on", async () => {
  const server = serve();
  try {
    const page = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(await page.text(), "page\n");
    // A request, then an upgrade on the same connection: the second reaches
    // the app's Deno.serve, which must not make it a native WebSocket.
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    const host = `Host: 127.0.0.1:${server.port}\r\n`;
    await conn.write(new TextEncoder().encode(
      `GET / HTTP/1.1\r\n${host}\r\n` +
        `GET /api/signal HTTP/1.1\r\n${host}Upgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ));
    // Read up to the refusal's body (the app's server keeps the connection).
    let text = "";
    const buffer = new Uint8Array(4096);
    try {
      while (!text.includes("its own\n")) {
        const n = await conn.read(buffer);
        if (n === null) break;
        text += new TextDecoder().decode(buffer.subarray(0, n));
      }
    } finally {
      conn.close();
    }
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, /HTTP\/1\.1 400[^]*needs a connection of its own/);
    assert.doesNotMatch(text, /101 Switching/);
  } finally {
    await server.close();
  }
});

Deno.test("The raw front answers an upgrade without a key 426, as the native route does", async () => {
  const server = serve();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(new TextEncoder().encode(
      `GET /api/signal HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n` +
        "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Version: 13\r\n\r\n",
    ));
    let text = "";
    const buffer = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    assert.match(text, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
    assert.match(text, /\r\nsec-websocket-version: 13\r\n/);
    assert.match(text, /\r\ncontent-type: text\/plain; charset=utf-8\r\n/);
    assert.match(text, /\r\n\r\n426 Upgrade Required: [^\n]+\n$/);
  } finally {
    conn.close();
    await server.close();
  }
});
