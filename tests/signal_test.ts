/**
 * End-to-end tests of the signaling server: real WebSocket clients (and raw
 * TCP clients where a browser would be too polite) against a real server on
 * 127.0.0.1, speaking the frames of PROTOCOL.md.
 */

import assert from "node:assert/strict";
import { startServer } from "./_helpers/server.ts";
import {
  DEFAULT_MAX_FRAME_BYTES,
  isPeerId,
  newPeerId,
} from "../lib/signal/protocol.ts";
import {
  SignalServer,
  type SignalServerOptions,
} from "../lib/signal/server.ts";

const HOST = "127.0.0.1";
/** How long a test waits for a frame before it fails instead of hanging. */
const FRAME_WAIT_MS = 10_000;

// Servers

/** A running server, seen from the signaling side. */
interface Harness {
  /** `ws://127.0.0.1:port/api/signal`. */
  url: string;
  port: number;
  signal: SignalServer;
  /** Stops the server; every client must be closed first. */
  close(): Promise<void>;
}

/** The whole app, as `main.ts` builds it from `beam.gen.ts`. */
async function startApp(): Promise<Harness> {
  const server = await startServer();
  return {
    url: server.wsUrl,
    port: server.port,
    signal: server.app.state.signal,
    close: () => server.close(),
  };
}

/** A bare signaling server with its own options, on a free port. */
function startSignal(options: SignalServerOptions): Harness {
  const signal = new SignalServer(options);
  const server = Deno.serve(
    { port: 0, hostname: HOST, onListen() {} },
    (request) => signal.handle(request),
  );
  return {
    url: `ws://${HOST}:${server.addr.port}/api/signal`,
    port: server.addr.port,
    signal,
    close: async () => {
      await server.shutdown();
      await server.finished;
    },
  };
}

// A browser-like client

/** A WebSocket client that queues what it receives. */
class Peer {
  readonly socket: WebSocket;
  /** The id the server assigned. */
  id = "";
  /** Resolves with the close event. */
  readonly closed: Promise<CloseEvent>;
  #frames: string[] = [];
  #wake: (() => void) | undefined;
  #closeEvent: CloseEvent | undefined;

  private constructor(url: string) {
    this.socket = new WebSocket(url);
    const closed = Promise.withResolvers<CloseEvent>();
    this.closed = closed.promise;
    this.socket.onmessage = (event) => {
      this.#frames.push(event.data);
      this.#wake?.();
    };
    this.socket.onclose = (event) => {
      this.#closeEvent = event;
      closed.resolve(event);
      this.#wake?.();
    };
  }

  /** Connects and reads the `assign` frame, which must come first. */
  static async connect(url: string): Promise<Peer> {
    const peer = new Peer(url);
    const first = await peer.next();
    assert.equal(first.length, 2, `first frame: ${JSON.stringify(first)}`);
    assert.equal(first[0], "assign");
    assert.ok(isPeerId(first[1]), `assigned id: ${first[1]}`);
    peer.id = first[1] as string;
    return peer;
  }

  /** Sends a frame given as a value (JSON-encoded) or as raw data. */
  send(frame: unknown[] | string | Uint8Array<ArrayBuffer>): void {
    this.socket.send(Array.isArray(frame) ? JSON.stringify(frame) : frame);
  }

  /** The next frame's text, as received. */
  async nextRaw(): Promise<string> {
    if (this.#frames.length === 0) {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        this.#wake?.();
      }, FRAME_WAIT_MS);
      try {
        while (this.#frames.length === 0) {
          if (this.#closeEvent !== undefined) {
            const { code, reason } = this.#closeEvent;
            throw new Error(
              `Peer ${this.id} closed (${code} ${reason}) while waiting for a frame`,
            );
          }
          if (timedOut) throw new Error(`Peer ${this.id} got no frame in time`);
          const woken = Promise.withResolvers<void>();
          this.#wake = woken.resolve;
          await woken.promise;
        }
      } finally {
        clearTimeout(timer);
        this.#wake = undefined;
      }
    }
    return this.#frames.shift()!;
  }

  /** The next frame, parsed. */
  async next(): Promise<unknown[]> {
    const value = JSON.parse(await this.nextRaw());
    assert.ok(Array.isArray(value));
    return value;
  }

  /** Frames received and not yet read. */
  get pending(): number {
    return this.#frames.length;
  }

  /** Closes (if still open) and waits for the close event. */
  async close(): Promise<CloseEvent> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close();
    return await this.closed;
  }
}

/** Connects `n` peers. */
function connectAll(url: string, n: number): Promise<Peer[]> {
  return Promise.all(Array.from({ length: n }, () => Peer.connect(url)));
}

/** Closes peers and waits for every close. */
async function closeAll(...peers: Peer[]): Promise<void> {
  await Promise.all(peers.map((peer) => peer.close()));
}

/** Waits for `promise`; fails after `ms` instead of hanging the test. */
async function within<T>(promise: Promise<T>, ms: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `condition()` holds, polling; fails after `ms`. */
async function waitFor(
  condition: () => boolean,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until the server has forgotten every closed socket. */
async function settle(server: Harness, peers: number): Promise<void> {
  await waitFor(
    () => server.signal.peerCount === peers,
    FRAME_WAIT_MS,
    `${peers} peers on the server`,
  );
}

/**
 * Sends a frame the server answers at once (`invalid peer id`) and reads up
 * to that answer: every frame sent before it has then been handled. Returns
 * the frames read on the way.
 */
async function barrier(peer: Peer): Promise<unknown[][]> {
  peer.send(["request", 0]);
  const seen: unknown[][] = [];
  for (;;) {
    const frame = await peer.next();
    if (frame.length === 1 && frame[0] === "invalid peer id") return seen;
    seen.push(frame);
  }
}

/** Asserts that `peer` gets `frame` next. */
async function expectFrame(peer: Peer, frame: unknown[]): Promise<void> {
  assert.deepEqual(await peer.next(), frame);
}

/** Asserts that the two peers still talk both ways. */
async function assertTalking(a: Peer, b: Peer): Promise<void> {
  a.send(["request", b.id]);
  await expectFrame(b, ["request", a.id]);
  b.send(["response", a.id, { ok: true }]);
  await expectFrame(a, ["response", b.id, { ok: true }]);
}

// A raw WebSocket client over TCP, for clients that misbehave

/** A WebSocket client written by hand over `Deno.connect`. */
class RawClient {
  readonly conn: Deno.TcpConn;
  #buffer = new Uint8Array(0);
  #eof = false;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connects and does the opening handshake. */
  static async connect(port: number): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: HOST, port });
    const client = new RawClient(conn);
    const key = btoa(
      String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
    );
    await client.#write(
      new TextEncoder().encode(
        "GET /api/signal HTTP/1.1\r\n" +
          `Host: ${HOST}:${port}\r\n` +
          "Upgrade: websocket\r\n" +
          "Connection: Upgrade\r\n" +
          `Sec-WebSocket-Key: ${key}\r\n` +
          "Sec-WebSocket-Version: 13\r\n\r\n",
      ),
    );
    const head = await client.#readHead();
    assert.match(head, /^HTTP\/1\.1 101 /);
    return client;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      written += await this.conn.write(bytes.subarray(written));
    }
  }

  /** Reads more bytes into the buffer; false at end of stream. */
  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const joined = new Uint8Array(this.#buffer.length + n);
    joined.set(this.#buffer);
    joined.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = joined;
    return true;
  }

  async #readHead(): Promise<string> {
    for (;;) {
      const text = new TextDecoder().decode(this.#buffer);
      const end = text.indexOf("\r\n\r\n");
      if (end !== -1) {
        this.#buffer = this.#buffer.subarray(end + 4);
        return text.slice(0, end);
      }
      if (!await this.#fill()) throw new Error("Handshake cut short");
    }
  }

  /** Reads one frame (unfragmented, as the server sends them). */
  async readFrame(): Promise<{ opcode: number; payload: Uint8Array }> {
    for (;;) {
      const b = this.#buffer;
      if (b.length >= 2) {
        assert.equal(b[1] & 0x80, 0, "a server frame is never masked");
        let length = b[1] & 0x7f;
        let offset = 2;
        if (length === 126 && b.length >= 4) {
          length = (b[2] << 8) | b[3];
          offset = 4;
        } else if (length === 127 && b.length >= 10) {
          length = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(2));
          offset = 10;
        }
        if (length < 126 || offset > 2) {
          if (b.length >= offset + length) {
            this.#buffer = b.subarray(offset + length);
            return {
              opcode: b[0] & 0x0f,
              payload: b.subarray(offset, offset + length),
            };
          }
        }
      }
      if (!await this.#fill()) throw new Error("Stream ended mid-frame");
    }
  }

  /** Reads a text frame and parses it. */
  async readJson(): Promise<unknown[]> {
    const { opcode, payload } = await this.readFrame();
    assert.equal(opcode, 1, "a text frame");
    return JSON.parse(new TextDecoder().decode(payload));
  }

  /** Sends a masked frame. */
  async sendFrame(opcode: number, payload: Uint8Array): Promise<void> {
    assert.ok(payload.length < 126);
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const frame = new Uint8Array(6 + payload.length);
    frame[0] = 0x80 | opcode;
    frame[1] = 0x80 | payload.length;
    frame.set(mask, 2);
    for (let i = 0; i < payload.length; i++) {
      frame[6 + i] = payload[i] ^ mask[i % 4];
    }
    await this.#write(frame);
  }

  /** Reads until the server ends the TCP stream. */
  async readToEnd(): Promise<void> {
    while (await this.#fill()) this.#buffer = new Uint8Array(0);
  }

  close(): void {
    this.conn.close();
  }
}

/** The code and reason of a close frame's payload. */
function closePayload(payload: Uint8Array): { code: number; reason: string } {
  return {
    code: (payload[0] << 8) | payload[1],
    reason: new TextDecoder().decode(payload.subarray(2)),
  };
}

// The endpoint

Deno.test("GET /api/signal without an upgrade answers 426", async () => {
  const server = await startApp();
  try {
    const base = `http://${HOST}:${server.port}/api/signal`;
    for (const method of ["GET", "POST", "HEAD"]) {
      const response = await fetch(base, { method });
      const body = await response.text();
      assert.equal(response.status, 426, method);
      if (method !== "HEAD") {
        assert.match(body, /^426 Upgrade Required: .+\n$/);
      }
      assert.equal(response.headers.get("upgrade"), "websocket");
    }
  } finally {
    await server.close();
  }
});

Deno.test("GET /api/signal with a broken upgrade answers 426", async () => {
  const server = await startApp();
  try {
    // Upgrade asked for, but without the handshake's other headers.
    const response = await fetch(`http://${HOST}:${server.port}/api/signal`, {
      headers: { upgrade: "websocket" },
    });
    await response.body?.cancel();
    assert.equal(response.status, 426);
  } finally {
    await server.close();
  }
});

// Assign

Deno.test("the server assigns each client a well-formed id first", async () => {
  const server = await startApp();
  const peers = await connectAll(server.url, 10);
  try {
    const ids = new Set(peers.map((peer) => peer.id));
    assert.equal(ids.size, 10);
    for (const peer of peers) assert.equal(peer.pending, 0);
    assert.equal(server.signal.peerCount, 10);
  } finally {
    await closeAll(...peers);
    await settle(server, 0);
    await server.close();
  }
});

// Relay

/** Payloads of every kind; the server must pass their text on untouched. */
const PAYLOADS: string[] = [
  `{"name":"report.pdf","size":1048576,"type":"application/pdf"}`,
  `{"type":"offer","sdp":"v=0\\r\\no=- 4611731400430051336 2 IN IP4 127.0.0.1\\r\\ns=-\\r\\n"}`,
  `{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 54321 typ host","sdpMid":"0","sdpMLineIndex":0}`,
  `{"a":{"b":{"c":[1,[2,[3,{"d":null}]]]}},"e":[],"f":{}}`,
  `"日本語のファイル名 😀 \\u00e9 \\u2028 \\"quoted\\" \\\\ /"`,
  `{"ünï":"cödé","emoji":"👩‍👩‍👧","rtl":"שלום"}`,
  `[0,-0,1.0,1e2,1E-7,-3.14159,12345678901234567890,9007199254740993]`,
  `null`,
  `true`,
  `false`,
  `0`,
  `""`,
  `{"to":"AAAAAAAAAAAAAAAA","from":"BBBBBBBBBBBBBBBB"}`,
  `{ "spaced" : [ 1 , 2 ] ,\n "tab":\t"x" }`,
];

Deno.test("the server relays every event with the sender's id", async () => {
  const server = await startApp();
  const [receiver, sender] = await connectAll(server.url, 2);
  try {
    // The table's rows, each in its direction.
    const rows: [string, Peer, Peer, boolean][] = [
      ["request", receiver, sender, false],
      ["response", sender, receiver, true],
      ["offer", receiver, sender, true],
      ["answer", sender, receiver, true],
      ["candidate", receiver, sender, true],
      ["candidate", sender, receiver, true],
      ["retry", sender, receiver, false],
      ["progress", receiver, sender, true],
    ];
    for (const [event, from, to, hasPayload] of rows) {
      const payloads = hasPayload ? PAYLOADS : [""];
      for (const payload of payloads) {
        const tail = hasPayload ? `,${payload}` : "";
        from.send(`["${event}","${to.id}"${tail}]`);
        assert.equal(
          await to.nextRaw(),
          `["${event}","${from.id}"${tail}]`,
          `${event} ${payload}`,
        );
      }
    }
    assert.equal(receiver.pending + sender.pending, 0);
  } finally {
    await closeAll(receiver, sender);
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("the server relays a payload's value even when it re-encodes it", async () => {
  const server = await startApp();
  const [a, b] = await connectAll(server.url, 2);
  try {
    // A target with JSON escapes is not spliced; the value still arrives.
    const escaped = b.id.split("").map((c) =>
      "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")
    ).join("");
    for (const payload of PAYLOADS) {
      // Re-encoded: the same value, in JSON.stringify's spelling.
      a.send(`["offer","${escaped}",${payload}]`);
      assert.equal(
        await b.nextRaw(),
        JSON.stringify(["offer", a.id, JSON.parse(payload)]),
      );
    }
    a.send(`["request","${escaped}"]`);
    await expectFrame(b, ["request", a.id]);
  } finally {
    await closeAll(a, b);
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("the server never lets a client claim another's id", async () => {
  const server = await startApp();
  const [a, b, c] = await connectAll(server.url, 3);
  try {
    a.send(["offer", b.id, { from: c.id, to: b.id }]);
    await expectFrame(b, ["offer", a.id, { from: c.id, to: b.id }]);
    a.send(`["answer","${b.id}","${c.id}"]`);
    await expectFrame(b, ["answer", a.id, c.id]);
    assert.equal(c.pending, 0);
  } finally {
    await closeAll(a, b, c);
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("the server relays a multibyte frame of exactly the limit", async () => {
  const server = await startApp();
  const [a, b] = await connectAll(server.url, 2);
  try {
    const head = `["progress","${b.id}","`;
    const tail = `"]`;
    const room = DEFAULT_MAX_FRAME_BYTES - head.length - tail.length;
    const frame = head + "é".repeat(room / 2) + tail;
    assert.equal(new TextEncoder().encode(frame).length, 65536);
    a.send(frame);
    assert.equal(await b.nextRaw(), frame.replace(b.id, a.id));
  } finally {
    await closeAll(a, b);
    await settle(server, 0);
    await server.close();
  }
});

// Invalid peer id and peer not exists

/** Sends each frame and expects only `["invalid peer id"]` back. */
async function expectInvalid(
  server: Harness,
  frames: (self: Peer, other: Peer) => unknown[][],
): Promise<void> {
  const [self, other] = await connectAll(server.url, 2);
  try {
    for (const frame of frames(self, other)) {
      self.send(frame);
      assert.deepEqual(
        await self.next(),
        ["invalid peer id"],
        JSON.stringify(frame),
      );
    }
    // Answered, not closed; and nothing reached the other peer.
    await assertTalking(self, other);
    assert.equal(self.pending + other.pending, 0);
    assert.equal(server.signal.peerCount, 2);
  } finally {
    await closeAll(self, other);
    await settle(server, 0);
  }
}

Deno.test("the server answers invalid peer id for a target that is not a string", async () => {
  const server = await startApp();
  try {
    await expectInvalid(
      server,
      (_, other) =>
        [42, null, true, {}, { id: other.id }, [other.id], 1e16].flatMap((
          target,
        ) => [["request", target], ["offer", target, {}]]),
    );
  } finally {
    await server.close();
  }
});

Deno.test("the server answers invalid peer id for a target of the wrong length", async () => {
  const server = await startApp();
  try {
    await expectInvalid(server, (_, other) =>
      [
        "",
        "A",
        other.id.slice(1),
        other.id + "A",
        other.id + other.id,
        " " + other.id,
      ].flatMap((target) => [["retry", target], ["candidate", target, null]]));
  } finally {
    await server.close();
  }
});

Deno.test("the server answers invalid peer id for a target outside the alphabet", async () => {
  const server = await startApp();
  try {
    await expectInvalid(
      server,
      (_, other) =>
        ["+", "/", "=", ".", " ", "%", "é", "\n"].flatMap((c) => {
          const target = c + other.id.slice(1);
          return [["request", target], ["progress", target, 1]];
        }),
    );
  } finally {
    await server.close();
  }
});

Deno.test("the server answers invalid peer id for the sender's own id", async () => {
  const server = await startApp();
  try {
    await expectInvalid(server, (self) => [
      ["request", self.id],
      ["response", self.id, {}],
      ["offer", self.id, {}],
      ["answer", self.id, {}],
      ["candidate", self.id, {}],
      ["retry", self.id],
      ["progress", self.id, 0.5],
    ]);
  } finally {
    await server.close();
  }
});

Deno.test("the server answers peer not exists for an unknown id", async () => {
  const server = await startApp();
  const [a, b] = await connectAll(server.url, 2);
  try {
    for (let i = 0; i < 5; i++) {
      const unknown = newPeerId();
      a.send(["request", unknown]);
      await expectFrame(a, ["peer not exists"]);
      a.send(["offer", unknown, { sdp: "x" }]);
      await expectFrame(a, ["peer not exists"]);
    }
    await assertTalking(a, b);
    assert.equal(a.pending + b.pending, 0);
  } finally {
    await closeAll(a, b);
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("the server answers peer not exists for a peer that has left", async () => {
  const server = await startApp();
  const [a, b] = await connectAll(server.url, 2);
  try {
    const gone = b.id;
    await b.close();
    await settle(server, 1);
    a.send(["request", gone]);
    await expectFrame(a, ["peer not exists"]);
    a.send(["progress", gone, { bytes: 1 }]);
    await expectFrame(a, ["peer not exists"]);
  } finally {
    await closeAll(a, b);
    await settle(server, 0);
    await server.close();
  }
});

// Closes

/**
 * Connects a client, has it send `frame`, and expects the server to close it
 * with `code` and a reason, while two bystanders keep talking.
 */
async function expectClose(
  server: Harness,
  frames: (string | Uint8Array<ArrayBuffer>)[],
  code: number,
): Promise<void> {
  const [x, y] = await connectAll(server.url, 2);
  try {
    for (const frame of frames) {
      const bad = await Peer.connect(server.url);
      bad.send(frame);
      const shown = typeof frame === "string" ? frame.slice(0, 60) : "binary";
      const event = await within(bad.closed, FRAME_WAIT_MS, `close ${shown}`)
        .finally(() => bad.close());
      assert.equal(event.code, code, shown);
      assert.ok(event.reason.length > 0, `a reason for ${shown}`);
      assert.equal(bad.pending, 0);
      await settle(server, 2);
    }
    await assertTalking(x, y);
    assert.equal(x.pending + y.pending, 0);
  } finally {
    await closeAll(x, y);
    await settle(server, 0);
  }
}

Deno.test("the server closes a binary frame with 1003", async () => {
  const server = await startApp();
  try {
    await expectClose(server, [
      new Uint8Array([0x5b, 0x5d]),
      new TextEncoder().encode(`["request","AAAAAAAAAAAAAAAA"]`),
      new Uint8Array(0),
    ], 1003);
  } finally {
    await server.close();
  }
});

Deno.test("the server closes an oversize frame with 1009", async () => {
  const server = await startApp();
  try {
    const head = `["progress","AAAAAAAAAAAAAAAA","`;
    const tail = `"]`;
    const room = DEFAULT_MAX_FRAME_BYTES - head.length - tail.length;
    await expectClose(server, [
      head + "a".repeat(room + 1) + tail,
      "x".repeat(DEFAULT_MAX_FRAME_BYTES * 4),
      // One byte over in UTF-8 while under the limit in UTF-16 units.
      head + "é".repeat(room / 2) + "a" + tail,
      head + "日".repeat(Math.ceil(room / 3) + 1) + tail,
    ], 1009);
  } finally {
    await server.close();
  }
});

Deno.test("the server closes a malformed frame with 1008", async () => {
  const server = await startApp();
  const id = "AAAAAAAAAAAAAAAA";
  try {
    await expectClose(server, [
      "",
      "not json",
      "[",
      `["request","${id}"`,
      "{}",
      `{"event":"request","to":"${id}"}`,
      `"request"`,
      "42",
      "null",
      "[]",
      `[42,"${id}"]`,
      `[null,"${id}"]`,
      `[["request"],"${id}"]`,
    ], 1008);
  } finally {
    await server.close();
  }
});

Deno.test("the server closes an unknown event with 1008", async () => {
  const server = await startApp();
  const id = "AAAAAAAAAAAAAAAA";
  try {
    await expectClose(server, [
      `["hello","${id}"]`,
      `["Request","${id}"]`,
      `["assign","${id}"]`,
      `["assign"]`,
      `["invalid peer id"]`,
      `["peer not exists"]`,
      `["__proto__","${id}"]`,
      `["toString","${id}",{}]`,
      `["constructor","${id}"]`,
      // A long name in multibyte or control characters: its close reason
      // must still fit in a close frame.
      JSON.stringify(["日".repeat(200), id]),
      JSON.stringify(["\u0001".repeat(200), id]),
    ], 1008);
  } finally {
    await server.close();
  }
});

Deno.test("the server closes the wrong number of arguments with 1008", async () => {
  const server = await startApp();
  const id = "AAAAAAAAAAAAAAAA";
  try {
    await expectClose(server, [
      `["request"]`,
      `["request","${id}",{}]`,
      `["retry"]`,
      `["retry","${id}",1]`,
      `["response","${id}"]`,
      `["response","${id}",1,2]`,
      `["offer"]`,
      `["offer","${id}"]`,
      `["answer","${id}"]`,
      `["answer","${id}",{},{}]`,
      `["candidate","${id}"]`,
      `["progress","${id}"]`,
      `["progress","${id}",1,2,3]`,
    ], 1008);
  } finally {
    await server.close();
  }
});

// Conversations

Deno.test("one sender serves several receivers at once", async () => {
  const server = await startApp();
  const sender = await Peer.connect(server.url);
  const receivers = await connectAll(server.url, 5);
  try {
    // Every receiver asks at once; the sender answers each with its own
    // file info; then each pair trades offer, answer and candidates.
    for (const r of receivers) r.send(["request", sender.id]);
    const asked = new Set<string>();
    for (let i = 0; i < receivers.length; i++) {
      const [event, from] = await sender.next();
      assert.equal(event, "request");
      asked.add(from as string);
    }
    assert.deepEqual(asked, new Set(receivers.map((r) => r.id)));
    for (const [i, r] of receivers.entries()) {
      sender.send(["response", r.id, { name: `file-${i}.bin`, size: i }]);
    }
    await Promise.all(receivers.map(async (r, i) => {
      await expectFrame(r, [
        "response",
        sender.id,
        { name: `file-${i}.bin`, size: i },
      ]);
      r.send(["offer", sender.id, { sdp: `offer-${i}` }]);
      r.send(["candidate", sender.id, { c: `r-${i}` }]);
    }));
    const offers = new Map<string, unknown[]>();
    for (let i = 0; i < receivers.length * 2; i++) {
      const frame = await sender.next();
      const list = offers.get(frame[1] as string) ?? [];
      list.push([frame[0], frame[2]]);
      offers.set(frame[1] as string, list);
    }
    for (const [i, r] of receivers.entries()) {
      // One sender's frames keep their order.
      assert.deepEqual(offers.get(r.id), [
        ["offer", { sdp: `offer-${i}` }],
        ["candidate", { c: `r-${i}` }],
      ]);
      sender.send(["answer", r.id, { sdp: `answer-${i}` }]);
      sender.send(["candidate", r.id, { c: `s-${i}` }]);
    }
    await Promise.all(receivers.map(async (r, i) => {
      await expectFrame(r, ["answer", sender.id, { sdp: `answer-${i}` }]);
      await expectFrame(r, ["candidate", sender.id, { c: `s-${i}` }]);
      for (let p = 1; p <= 3; p++) r.send(["progress", sender.id, p / 3]);
    }));
    const progress = new Map<string, number[]>();
    for (let i = 0; i < receivers.length * 3; i++) {
      const [event, from, value] = await sender.next();
      assert.equal(event, "progress");
      progress.set(from as string, [
        ...progress.get(from as string) ?? [],
        value as number,
      ]);
    }
    for (const r of receivers) {
      assert.deepEqual(progress.get(r.id), [1 / 3, 2 / 3, 1]);
      assert.equal(r.pending, 0);
    }
    // Done receivers leave; the sender stays and serves a new one.
    await closeAll(...receivers);
    await settle(server, 1);
    const late = await Peer.connect(server.url);
    late.send(["request", sender.id]);
    await expectFrame(sender, ["request", late.id]);
    sender.send(["response", late.id, { name: "again" }]);
    await expectFrame(late, ["response", sender.id, { name: "again" }]);
    await late.close();
  } finally {
    await closeAll(sender, ...receivers);
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("a peer leaving mid-conversation gets peer not exists afterwards", async () => {
  const server = await startApp();
  const [sender, receiver] = await connectAll(server.url, 2);
  try {
    receiver.send(["request", sender.id]);
    await expectFrame(sender, ["request", receiver.id]);
    sender.send(["response", receiver.id, { name: "a.txt" }]);
    await expectFrame(receiver, ["response", sender.id, { name: "a.txt" }]);
    receiver.send(["offer", sender.id, { sdp: "o" }]);
    await expectFrame(sender, ["offer", receiver.id, { sdp: "o" }]);
    // The receiver goes away before the answer.
    const gone = receiver.id;
    await receiver.close();
    sender.send(["answer", gone, { sdp: "a" }]);
    await expectFrame(sender, ["peer not exists"]);
    sender.send(["candidate", gone, { c: 1 }]);
    await expectFrame(sender, ["peer not exists"]);
    sender.send(["retry", gone]);
    await expectFrame(sender, ["peer not exists"]);
    assert.equal(server.signal.peerCount, 1);
  } finally {
    await closeAll(sender, receiver);
    await settle(server, 0);
    await server.close();
  }
});

// Misbehaving clients

Deno.test("the server keeps a reading peer through a burst past maxBufferedBytes", async () => {
  const maxBufferedBytes = 64 * 1024;
  const server = startSignal({ maxBufferedBytes });
  const [sender, reader] = await connectAll(server.url, 2);
  try {
    // Fifteen times the limit at once: it waits in the server only until
    // the runtime writes it out, which is no sign of a slow reader.
    const pad = "x".repeat(60_000);
    const count = 16;
    for (let seq = 0; seq < count; seq++) {
      sender.send(["progress", reader.id, { seq, pad }]);
    }
    assert.deepEqual(await barrier(sender), []);
    for (let seq = 0; seq < count; seq++) {
      await expectFrame(reader, ["progress", sender.id, { seq, pad }]);
    }
    await assertTalking(sender, reader);
    assert.equal(server.signal.peerCount, 2);
  } finally {
    await closeAll(sender, reader);
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("the server closes a slow consumer past maxBufferedBytes", async () => {
  const maxBufferedBytes = 64 * 1024;
  const server = startSignal({ maxBufferedBytes });
  const feeder = await Peer.connect(server.url);
  const slow = await RawClient.connect(server.port);
  let newcomer: Peer | undefined;
  try {
    const [event, slowId] = await slow.readJson();
    assert.equal(event, "assign");
    assert.ok(isPeerId(slowId));
    await settle(server, 2);

    // Feed the peer that never reads, in batches, until the server gives up
    // on it. The kernel's socket buffers take some megabytes first.
    const pad = "x".repeat(60_000);
    const frame = (seq: number) =>
      JSON.stringify(["progress", slowId, { seq, pad }]);
    let sent = 0;
    let refused = 0;
    const limit = 64 * 1024 * 1024;
    while (refused === 0) {
      assert.ok(
        sent * pad.length < limit,
        "the server kept queueing for a peer that does not read",
      );
      for (let i = 0; i < 16; i++) feeder.send(frame(sent++));
      const answers = await barrier(feeder);
      for (const answer of answers) {
        assert.deepEqual(answer, ["peer not exists"]);
      }
      refused = answers.length;
    }
    // It is forgotten at once, and nothing more is queued for it.
    assert.equal(server.signal.peerCount, 1);
    for (let i = 0; i < 16; i++) feeder.send(frame(sent++));
    const after = await barrier(feeder);
    assert.deepEqual(after, new Array(16).fill(["peer not exists"]));

    // Now read what was held for it: frames in order, then a close frame.
    // Every frame was either queued for it or answered with peer not
    // exists; none went missing.
    let delivered = 0;
    for (;;) {
      const { opcode, payload } = await slow.readFrame();
      if (opcode === 8) {
        const { code, reason } = closePayload(payload);
        assert.equal(code, 1008);
        assert.ok(reason.length > 0);
        break;
      }
      assert.equal(opcode, 1);
      const [e, from, value] = JSON.parse(new TextDecoder().decode(payload));
      assert.equal(e, "progress");
      assert.equal(from, feeder.id);
      assert.equal((value as { seq: number }).seq, delivered++);
    }
    assert.equal(delivered + refused + 16, sent);
    await slow.sendFrame(8, new Uint8Array([0x03, 0xe8]));
    await slow.readToEnd();
    // The feeder was never disturbed.
    newcomer = await Peer.connect(server.url);
    await assertTalking(feeder, newcomer);
  } finally {
    slow.close();
    await closeAll(feeder, ...(newcomer ? [newcomer] : []));
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("the server drops a peer that never answers pings", async () => {
  const heartbeatSeconds = 1;
  const server = startSignal({ heartbeatSeconds });
  const live = await Peer.connect(server.url);
  const dead = await RawClient.connect(server.port);
  try {
    const [event, deadId] = await dead.readJson();
    assert.equal(event, "assign");
    await settle(server, 2);
    await waitFor(
      () => server.signal.peerCount === 1,
      2 * heartbeatSeconds * 1000,
      "the silent peer to be dropped within twice heartbeatSeconds",
    );
    live.send(["request", deadId]);
    await expectFrame(live, ["peer not exists"]);

    // The silent client was pinged, then closed.
    const ping = await dead.readFrame();
    assert.equal(ping.opcode, 9);
    const close = await dead.readFrame();
    assert.equal(close.opcode, 8);
    const { code, reason } = closePayload(close.payload);
    assert.equal(code, 1001);
    assert.ok(reason.length > 0);
    await dead.readToEnd();

    // A client that answers pings is kept, though it sent nothing since.
    await new Promise((resolve) =>
      setTimeout(resolve, heartbeatSeconds * 1000 * 1.5)
    );
    assert.equal(live.socket.readyState, WebSocket.OPEN);
    assert.equal(server.signal.peerCount, 1);
  } finally {
    dead.close();
    await live.close();
    await settle(server, 0);
    await server.close();
  }
});
