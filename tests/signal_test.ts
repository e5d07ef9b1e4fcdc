/**
 * End-to-end tests of the signaling server: real WebSocket clients (and raw
 * TCP clients where a browser would be too polite) against a real server on
 * 127.0.0.1, speaking the frames of PROTOCOL.md.
 */

import assert from "node:assert/strict";
import {
  DEFAULT_MAX_FRAME_BYTES,
  isPeerId,
  newPeerId,
} from "../lib/signal/protocol.ts";
import {
  assertTalking,
  barrier,
  closeAll,
  expectFrame,
  FRAME_WAIT_MS,
  type Harness,
  HOST,
  pair,
  Peer,
  settle,
  startApp,
  startSignal,
  TOPOLOGIES,
  waitFor,
  within,
} from "./_helpers/ws.ts";
import {
  closePayload,
  connectWebSocket,
  OP,
  type RawWebSocket,
} from "./_helpers/ws_client.ts";
import type { SignalServerOptions } from "../lib/signal/server.ts";

/**
 * A test of the protocol's semantics, run against one instance and again
 * with consecutive clients on two instances over Redis.
 */
function testEach(
  name: string,
  fn: (
    start: (options?: SignalServerOptions) => Promise<Harness>,
  ) => Promise<void>,
): void {
  for (const topology of TOPOLOGIES) {
    Deno.test(name + topology.suffix, () => fn(topology.start));
  }
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

testEach(
  "the server assigns each client a well-formed id first",
  async (start) => {
    const server = await start();
    const peers = await server.connectAll(10);
    try {
      const ids = new Set(peers.map((peer) => peer.id));
      assert.equal(ids.size, 10);
      for (const peer of peers) assert.equal(peer.pending, 0);
      assert.equal(server.peerCount(), 10);
    } finally {
      await closeAll(...peers);
      await settle(server, 0);
      await server.close();
    }
  },
);

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

testEach(
  "the server relays every event with the sender's id",
  async (start) => {
    const server = await start();
    const [receiver, sender] = await server.connectAll(2);
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
  },
);

testEach(
  "the server relays a payload's value even when it re-encodes it",
  async (start) => {
    const server = await start();
    const [a, b] = await server.connectAll(2);
    try {
      // A target with JSON escapes is not spliced; the value still arrives.
      const escaped = b.id.split("").map((c) =>
        "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")
      ).join("");
      a.send(`["request","${escaped}"]`);
      await expectFrame(b, ["request", a.id]);
      for (const payload of PAYLOADS) {
        // Re-encoded: the same value, in JSON.stringify's spelling.
        a.send(`["offer","${escaped}",${payload}]`);
        assert.equal(
          await b.nextRaw(),
          JSON.stringify(["offer", a.id, JSON.parse(payload)]),
        );
      }
    } finally {
      await closeAll(a, b);
      await settle(server, 0);
      await server.close();
    }
  },
);

testEach("the server never lets a client claim another's id", async (start) => {
  const server = await start();
  const [a, b, c] = await server.connectAll(3);
  try {
    await pair(a, b);
    await pair(b, a);
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

testEach(
  "the server relays a multibyte frame of exactly the limit",
  async (start) => {
    const server = await start();
    const [a, b] = await server.connectAll(2);
    try {
      await pair(a, b);
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
  },
);

// Invalid peer id and peer not exists

/** Sends each frame and expects only `["invalid peer id"]` back. */
async function expectInvalid(
  server: Harness,
  frames: (self: Peer, other: Peer) => unknown[][],
): Promise<void> {
  const [self, other] = await server.connectAll(2);
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
    assert.equal(server.peerCount(), 2);
  } finally {
    await closeAll(self, other);
    await settle(server, 0);
  }
}

testEach(
  "the server answers invalid peer id for a target that is not a string",
  async (start) => {
    const server = await start();
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
  },
);

testEach(
  "the server answers invalid peer id for a target of the wrong length",
  async (start) => {
    const server = await start();
    try {
      await expectInvalid(server, (_, other) =>
        [
          "",
          "A",
          other.id.slice(1),
          other.id + "A",
          other.id + other.id,
          " " + other.id,
        ].flatMap((
          target,
        ) => [["retry", target], ["candidate", target, null]]));
    } finally {
      await server.close();
    }
  },
);

testEach(
  "the server answers invalid peer id for a target outside the alphabet",
  async (start) => {
    const server = await start();
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
  },
);

testEach(
  "the server answers invalid peer id for the sender's own id",
  async (start) => {
    const server = await start();
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
  },
);

testEach(
  "the server answers peer not exists for an unknown id",
  async (start) => {
    const server = await start();
    const [a, b] = await server.connectAll(2);
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
  },
);

testEach(
  "the server answers peer not exists for a peer that has left",
  async (start) => {
    const server = await start();
    const [a, b] = await server.connectAll(2);
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
  },
);

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
  const [x, y] = await server.connectAll(2);
  try {
    for (const frame of frames) {
      const bad = await server.connect();
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

testEach("the server closes a binary frame with 1003", async (start) => {
  const server = await start();
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

testEach("the server closes an oversize frame with 1009", async (start) => {
  const server = await start();
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

testEach("the server closes a malformed frame with 1008", async (start) => {
  const server = await start();
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

testEach("the server closes an unknown event with 1008", async (start) => {
  const server = await start();
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

testEach(
  "the server closes the wrong number of arguments with 1008",
  async (start) => {
    const server = await start();
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
  },
);

// Conversations

testEach("one sender serves several receivers at once", async (start) => {
  const server = await start();
  const sender = await server.connect();
  const receivers = await server.connectAll(5);
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
    const late = await server.connect();
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

testEach(
  "a peer leaving mid-conversation gets peer not exists afterwards",
  async (start) => {
    const server = await start();
    const [sender, receiver] = await server.connectAll(2);
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
      assert.equal(server.peerCount(), 1);
    } finally {
      await closeAll(sender, receiver);
      await settle(server, 0);
      await server.close();
    }
  },
);

// Misbehaving clients

testEach(
  "the server keeps a reading peer through a burst past maxBufferedBytes",
  async (start) => {
    const maxBufferedBytes = 64 * 1024;
    const server = await start({ maxBufferedBytes });
    const [sender, reader] = await server.connectAll(2);
    try {
      await pair(sender, reader);
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
      assert.equal(server.peerCount(), 2);
    } finally {
      await closeAll(sender, reader);
      await settle(server, 0);
      await server.close();
    }
  },
);

Deno.test("the server closes a slow consumer past maxBufferedBytes", async () => {
  const maxBufferedBytes = 64 * 1024;
  // The feeder sends far past the default rate limit on purpose.
  const server = startSignal({
    maxBufferedBytes,
    ratePerSecond: 1e6,
    rateBurst: 1e6,
  });
  const feeder = await server.connect();
  const slow = await connectWebSocket({ port: server.port });
  let newcomer: Peer | undefined;
  try {
    const [event, slowId] = await slow.readJson();
    assert.equal(event, "assign");
    assert.ok(isPeerId(slowId));
    await settle(server, 2);
    // The pair rules: the feeder requests from the slow peer first.
    feeder.send(["request", slowId]);
    assert.deepEqual(await barrier(feeder), []);
    assert.deepEqual(await slow.readJson(), ["request", feeder.id]);

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
    assert.equal(server.peerCount(), 1);
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
    newcomer = await server.connect();
    await assertTalking(feeder, newcomer);
  } finally {
    await slow.close();
    await closeAll(feeder, ...(newcomer ? [newcomer] : []));
    await settle(server, 0);
    await server.close();
  }
});

/**
 * Reads `socket` in the background: answers each ping with its pong, as a
 * browser does, and queues text frames. `pongs(n)` resolves once `n` pings
 * were answered, so a test waits on the server's heartbeat, not a clock.
 */
function answerPings(socket: RawWebSocket) {
  let answered = 0;
  const waiting: { n: number; resolve: () => void }[] = [];
  const texts: unknown[][] = [];
  const reading = (async () => {
    for (;;) {
      const frame = await socket.readFrame().catch(() => null);
      if (frame === null || frame.opcode === OP.CLOSE) return;
      if (frame.opcode === OP.PING) {
        await socket.sendFrame(OP.PONG, frame.payload);
        answered++;
        for (const w of waiting.filter((w) => answered >= w.n)) w.resolve();
      } else if (frame.opcode === OP.TEXT) {
        texts.push(JSON.parse(new TextDecoder().decode(frame.payload)));
      }
    }
  })();
  return {
    get answered() {
      return answered;
    },
    texts,
    reading,
    pongs(n: number): Promise<void> {
      if (answered >= n) return Promise.resolve();
      const { promise, resolve } = Promise.withResolvers<void>();
      waiting.push({ n, resolve });
      return within(promise, FRAME_WAIT_MS, `${n} pings answered`);
    },
  };
}

Deno.test("the server drops a peer that never answers pings and keeps one that does", async () => {
  const server = startSignal({ heartbeatSeconds: 1 });
  const dead = await connectWebSocket({ port: server.port });
  const live = await connectWebSocket({ port: server.port });
  const [, deadId] = await dead.readJson();
  assert.deepEqual((await live.readJson())[0], "assign");
  const heart = answerPings(live);
  try {
    await settle(server, 2);
    // The silent client is pinged, then closed with 1001 and a reason.
    const ping = await within(dead.readFrame(), FRAME_WAIT_MS, "a ping");
    assert.equal(ping.opcode, OP.PING);
    const close = await within(dead.readFrame(), FRAME_WAIT_MS, "the close");
    assert.equal(close.opcode, OP.CLOSE);
    const { code, reason } = closePayload(close.payload);
    assert.equal(code, 1001);
    assert.ok(reason.length > 0);
    // ...within two heartbeats, counted in the pings the live one answered
    // meanwhile (one every half heartbeat), not by a clock.
    assert.ok(
      heart.answered <= 4,
      `the silent peer was closed after ${heart.answered} pings to the live one`,
    );
    await dead.readToEnd();
    await settle(server, 1);

    // The one that answers is pinged as often (every half heartbeat), yet
    // it is still here three heartbeats after the silent one went, with
    // nothing sent but pongs: counted in pings, not by a clock.
    await heart.pongs(heart.answered + 6);
    assert.equal(server.peerCount(), 1);
    live.sendText(JSON.stringify(["request", deadId]));
    await waitFor(
      () => heart.texts.length > 0,
      FRAME_WAIT_MS,
      "an answer to the live client",
    );
    assert.deepEqual(heart.texts, [["peer not exists"]]);
  } finally {
    await dead.close();
    await live.close();
    await heart.reading;
    await settle(server, 0);
    await server.close();
  }
});

testEach(
  "answers come in the order of the frames they answer, before a close",
  async (start) => {
    const server = await start();
    const [a, b] = await server.connectAll(2);
    try {
      // Unknown ids go to the bus where there is one; a bad target and a
      // known peer do not. The answers still keep the frames' order.
      a.send(["request", newPeerId()]);
      a.send(["request", 7]);
      a.send(["request", newPeerId()]);
      a.send(["request", b.id]);
      a.send(["offer", newPeerId(), {}]);
      a.send("not json");
      assert.deepEqual(await a.next(), ["peer not exists"]);
      assert.deepEqual(await a.next(), ["invalid peer id"]);
      assert.deepEqual(await a.next(), ["peer not exists"]);
      assert.deepEqual(await a.next(), ["peer not exists"]);
      const event = await within(a.closed, FRAME_WAIT_MS, "the close");
      assert.equal(event.code, 1008);
      await expectFrame(b, ["request", a.id]);
    } finally {
      await closeAll(a, b);
      await settle(server, 0);
      await server.close();
    }
  },
);
