/**
 * The signaling server under abuse: pair rules, the per-connection rate
 * limit, connection caps (total and per address), and allowed origins.
 */

import assert from "node:assert/strict";
import {
  barrier,
  closeAll,
  expectFrame,
  FRAME_WAIT_MS,
  pair,
  Peer,
  settle,
  startSignal,
  TOPOLOGIES,
  tryUpgrade,
  waitFor,
  within,
} from "./_helpers/ws.ts";
import {
  closePayload,
  type ConnectError,
  connectWebSocket,
  OP,
  type RawWebSocket,
} from "./_helpers/ws_client.ts";
import { connect as tcpConnect } from "node:net";
import { forwardedAddress, MAX_PAIRS } from "../lib/signal/server.ts";
import { startServer } from "./_helpers/server.ts";
import { startBeam } from "./_helpers/beam.ts";
import { sendOversizedFrame } from "../bench/frame_cap.ts";

/** An upgrade made from one local address: its status, held open until closed. */
interface Upgrade {
  status: number;
  text: string;
  close(): void;
}

/**
 * Asks for a WebSocket upgrade from the local address `from` (any of
 * 127.0.0.0/8, which Linux routes to the loopback interface), so a test can
 * be two clients on two addresses. `Deno.connect` cannot choose its source
 * address (a connect to 127.0.0.2 still leaves from 127.0.0.1), Node's
 * `localAddress` can. A 101 leaves the socket open: it holds its slot.
 */
function upgradeFrom(from: string, port: number): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: "127.0.0.1", port, localAddress: from });
    let text = "";
    socket.setEncoding("latin1");
    socket.on("error", reject);
    socket.on("connect", () => {
      assert.equal(socket.localAddress, from);
      const key = btoa(
        String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
      );
      socket.write(
        "GET /api/signal HTTP/1.1\r\n" +
          `Host: 127.0.0.1:${port}\r\n` +
          "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on("data", (chunk: string) => {
      text += chunk;
      const head = text.indexOf("\r\n\r\n");
      if (head === -1) return;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      // A refusal's one-line reason follows its head.
      if (status !== 101 && !text.slice(head + 4).includes("\n")) return;
      socket.removeAllListeners("data");
      if (status !== 101) socket.destroy();
      resolve({ status, text, close: () => socket.destroy() });
    });
  });
}

for (const { suffix, start } of TOPOLOGIES) {
  Deno.test(`pair rules: a sender's events reach only a peer that requested from it${suffix}`, async () => {
    const server = await start({});
    const [sender, receiver, stranger] = await server.connectAll(3);
    try {
      // Nobody requested anything yet: every event but request is refused.
      for (
        const frame of [
          ["response", receiver.id, {}],
          ["answer", receiver.id, {}],
          ["retry", receiver.id],
          ["offer", sender.id, {}],
          ["progress", sender.id, {}],
          ["candidate", sender.id, {}],
          ["candidate", receiver.id, {}],
        ]
      ) {
        const from = frame[0] === "offer" || frame[0] === "progress" ||
            frame[1] === sender.id
          ? receiver
          : sender;
        from.send(frame);
        assert.deepEqual(
          await from.next(),
          ["peer not exists"],
          JSON.stringify(frame),
        );
      }
      await pair(receiver, sender);
      // Now the conversation flows both ways.
      sender.send(["response", receiver.id, { files: 1 }]);
      await expectFrame(receiver, ["response", sender.id, { files: 1 }]);
      receiver.send(["offer", sender.id, { sdp: "o" }]);
      await expectFrame(sender, ["offer", receiver.id, { sdp: "o" }]);
      sender.send(["answer", receiver.id, { sdp: "a" }]);
      await expectFrame(receiver, ["answer", sender.id, { sdp: "a" }]);
      receiver.send(["candidate", sender.id, 1]);
      await expectFrame(sender, ["candidate", receiver.id, 1]);
      sender.send(["candidate", receiver.id, 2]);
      await expectFrame(receiver, ["candidate", sender.id, 2]);
      receiver.send(["progress", sender.id, { bytes: 5 }]);
      await expectFrame(sender, ["progress", receiver.id, { bytes: 5 }]);
      sender.send(["retry", receiver.id]);
      await expectFrame(receiver, ["retry", sender.id]);
      // Direction matters: the requester cannot answer, the requested cannot offer.
      receiver.send(["answer", sender.id, {}]);
      assert.deepEqual(await receiver.next(), ["peer not exists"]);
      sender.send(["offer", receiver.id, {}]);
      assert.deepEqual(await sender.next(), ["peer not exists"]);
      // A third peer that knows both ids cannot steer them.
      stranger.send(["answer", receiver.id, { sdp: "evil" }]);
      assert.deepEqual(await stranger.next(), ["peer not exists"]);
      stranger.send(["candidate", sender.id, {}]);
      assert.deepEqual(await stranger.next(), ["peer not exists"]);
      assert.deepEqual(await barrier(sender), []);
      assert.deepEqual(await barrier(receiver), []);
    } finally {
      await closeAll(sender, receiver, stranger);
      await settle(server, 0);
      await server.close();
    }
  });

  Deno.test(`the rate limit closes a connection past its burst with 1008 and a reason${suffix}`, async () => {
    const server = await start({ ratePerSecond: 1, rateBurst: 5 });
    const [talker, a, b] = await server.connectAll(3);
    try {
      for (let i = 0; i < 5; i++) {
        talker.send(["request", "AAAAAAAAAAAAAAAA"]);
        assert.deepEqual(await talker.next(), ["peer not exists"]);
      }
      talker.send(["request", "AAAAAAAAAAAAAAAA"]);
      const event = await within(talker.closed, 10_000, "the close");
      assert.equal(event.code, 1008);
      assert.match(event.reason, /rate limit of 1 frames per second/);
      await pair(a, b);
      await settle(server, 2);
    } finally {
      await closeAll(talker, a, b);
      await settle(server, 0);
      await server.close();
    }
  });
}

for (const { suffix, start } of TOPOLOGIES) {
  Deno.test(`300 requesters cannot push a receiver out of its sender's pairs: past ${MAX_PAIRS} a request is refused${suffix}`, async () => {
    const attackers = 300;
    const server = await start({ maxPeersPerIp: attackers + 10 });
    const [sender, victim] = await server.connectAll(2);
    const crowd = await server.connectAll(attackers);
    try {
      await pair(victim, sender);
      for (const attacker of crowd) attacker.send(["request", sender.id]);
      // Each attacker's frame has been handled on its own instance (and sent
      // on when its sender is elsewhere) once its barrier is answered.
      const answers = await Promise.all(crowd.map((peer) => barrier(peer)));
      for (const seen of answers) {
        assert.ok(
          seen.length === 0 ||
            (seen.length === 1 && seen[0][0] === "peer not exists"),
          JSON.stringify(seen),
        );
      }
      const refusedHere = answers.filter((seen) => seen.length === 1).length;
      // One instance: every refusal is answered. Across two, a request
      // refused on the sender's instance after the bus took it is dropped
      // there, unanswered.
      if (suffix === "") assert.equal(refusedHere, attackers - MAX_PAIRS + 1);
      // The victim's offer follows every attacker's request to the sender
      // (on the bus too: the attackers' were published first).
      victim.send(["offer", sender.id, { sdp: "o" }]);
      const delivered = new Set<string>();
      for (;;) {
        const frame = await sender.next();
        if (frame[0] === "offer") {
          assert.deepEqual(frame, ["offer", victim.id, { sdp: "o" }]);
          break;
        }
        assert.equal(frame[0], "request");
        delivered.add(frame[1] as string);
      }
      // The sender holds the victim and MAX_PAIRS - 1 attackers, no more.
      assert.equal(delivered.size, MAX_PAIRS - 1);
      // The victim's conversation completes.
      sender.send(["answer", victim.id, { sdp: "a" }]);
      await expectFrame(victim, ["answer", sender.id, { sdp: "a" }]);
      victim.send(["candidate", sender.id, 1]);
      await expectFrame(sender, ["candidate", victim.id, 1]);
      sender.send(["candidate", victim.id, 2]);
      await expectFrame(victim, ["candidate", sender.id, 2]);
      victim.send(["progress", sender.id, { bytes: 5 }]);
      await expectFrame(sender, ["progress", victim.id, { bytes: 5 }]);
      // An attacker let in is paired; one refused is not, either way. Both
      // are on the instance after the sender's where there are two
      // (connectAll takes the instances in turn, the sender first): the
      // place `inside` frees by leaving is freed on the sender's instance by
      // a notice over the bus, which `outside`'s request then follows.
      const odd = crowd.filter((_, i) => i % 2 === 1);
      const inside = odd.find((peer) => delivered.has(peer.id))!;
      const outside = odd.find((peer) => !delivered.has(peer.id))!;
      sender.send(["response", inside.id, {}]);
      await expectFrame(inside, ["response", sender.id, {}]);
      sender.send(["response", outside.id, {}]);
      await expectFrame(sender, ["peer not exists"]);
      outside.send(["offer", sender.id, { sdp: "evil" }]);
      await barrier(outside);
      // A pair given up makes room for the next request.
      await inside.close();
      await settle(server, attackers + 1);
      await pair(outside, sender);
      sender.send(["response", outside.id, {}]);
      await expectFrame(outside, ["response", sender.id, {}]);
      assert.deepEqual(await barrier(sender), []);
    } finally {
      await closeAll(sender, victim, ...crowd);
      await settle(server, 0);
      await server.close();
    }
  });
}

Deno.test("behind TRUST_PROXY an IPv6 client counts by its /64", async () => {
  const server = startSignal({
    maxPeersPerIp: 2,
    trustProxy: (address) => address === "127.0.0.1",
  });
  const held: RawWebSocket[] = [];
  const from = (client: string) => ({ "X-Forwarded-For": client });
  try {
    // Two addresses of one /64: the same client, which is then full.
    for (const client of ["2001:db8:1:2::a", "2001:db8:1:2:ffff::b"]) {
      held.push(
        await connectWebSocket({ port: server.port, headers: from(client) }),
      );
    }
    const refused = await tryUpgrade(server.port, from("2001:db8:1:2::c"));
    assert.equal(refused.status, 503);
    assert.match(refused.text, /too many connections from your address/);
    // The next /64 is another client.
    const other = await tryUpgrade(server.port, from("2001:db8:1:3::a"));
    assert.equal(other.status, 101);
  } finally {
    await Promise.all(held.map((client) => client.close()));
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("a flood of frames is cut off at the rate limit and spares the others", async () => {
  // One token an hour: none comes back while the test runs, so what gets
  // through is the burst exactly, however slow the machine.
  const server = startSignal({ ratePerSecond: 1 / 3600, rateBurst: 50 });
  const [flooder, a, b] = await Promise.all(
    [0, 1, 2].map(() => Peer.connect(server.url)),
  );
  try {
    // A client that keeps sending after its close gets no clean close
    // frame back, only the end of the connection; either way it is gone.
    for (let i = 0; i < 2000; i++) flooder.send(["request", a.id]);
    await within(flooder.closed, 10_000, "the flooder's close");
    await settle(server, 2);
    // The burst got through to its target, and not one frame more.
    const got = await barrier(a);
    assert.equal(got.length, 50, `${got.length} frames reached a`);
    assert.ok(got.every((f) => f[0] === "request" && f[1] === flooder.id));
    await pair(a, b);
    await pair(b, a);
  } finally {
    await closeAll(flooder, a, b);
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("past MAX_PEERS an upgrade gets 503 with a reason, and the server keeps serving", async () => {
  const server = startSignal({ maxPeers: 3 });
  const peers = await Promise.all(
    [0, 1, 2].map(() => Peer.connect(server.url)),
  );
  try {
    const refused = await tryUpgrade(server.port);
    assert.equal(refused.status, 503);
    assert.match(refused.text, /server is full/);
    await pair(peers[0], peers[1]);
    await peers[2].close();
    await settle(server, 2);
    peers[2] = await Peer.connect(server.url);
    await pair(peers[2], peers[0]);
  } finally {
    await closeAll(...peers);
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("past MAX_PEERS_PER_IP an address gets 503", async () => {
  const server = startSignal({ maxPeersPerIp: 2 });
  const peers = await Promise.all([0, 1].map(() => Peer.connect(server.url)));
  try {
    const refused = await tryUpgrade(server.port);
    assert.equal(refused.status, 503);
    assert.match(refused.text, /too many connections from your address/);
  } finally {
    await closeAll(...peers);
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("the app counts each client address apart: 127.0.0.2 gets in while 127.0.0.1 is at MAX_PEERS_PER_IP", async () => {
  // The whole app, so the address goes the way it goes in production:
  // Deno.serve's info, through the route, to the signaling server.
  const server = await startServer({ MAX_PEERS_PER_IP: "2" });
  const held: Upgrade[] = [];
  try {
    for (const from of ["127.0.0.1", "127.0.0.1", "127.0.0.2"]) {
      const upgrade = await upgradeFrom(from, server.port);
      held.push(upgrade);
      assert.equal(upgrade.status, 101, `${from}: ${upgrade.text}`);
    }
    const first = await upgradeFrom("127.0.0.1", server.port);
    assert.equal(first.status, 503);
    assert.match(first.text, /too many connections from your address \(2\)/);
    // 127.0.0.2 has one slot left, then it is full too.
    const second = await upgradeFrom("127.0.0.2", server.port);
    held.push(second);
    assert.equal(second.status, 101, second.text);
    assert.equal((await upgradeFrom("127.0.0.2", server.port)).status, 503);
    // A third address is a stranger to both.
    const third = await upgradeFrom("127.0.0.3", server.port);
    held.push(third);
    assert.equal(third.status, 101, third.text);
    assert.equal(server.app.state.signal.peerCount, 5);
    // A closed connection gives its address's slot back.
    held.shift()!.close();
    await waitFor(
      () => server.app.state.signal.peerCount === 4,
      FRAME_WAIT_MS,
      "the closed connection to be forgotten",
    );
    const again = await upgradeFrom("127.0.0.1", server.port);
    held.push(again);
    assert.equal(again.status, 101, again.text);
  } finally {
    for (const upgrade of held) upgrade.close();
    await server.close();
  }
});

Deno.test("the app hands every signaling limit of its configuration to the signaling server", async () => {
  // Each limit set low, through the environment as main.ts reads it, so
  // that the app's wiring (config -> SignalServer) is what is under test.
  const server = await startServer({
    MAX_PEERS: "3",
    MAX_PEERS_PER_IP: "2",
    TRUST_PROXY: "127.0.0.1",
    RATE_LIMIT: "1",
    RATE_BURST: "2",
    MAX_FRAME_BYTES: "100",
  });
  const held: RawWebSocket[] = [];
  const from = (client: string) =>
    connectWebSocket({
      port: server.port,
      headers: { "X-Forwarded-For": client },
    });
  const refusal = (client: string) =>
    from(client).then(
      () => assert.fail(`${client} was let in`),
      (error: ConnectError) => `${error.status} ${error.body}`,
    );
  try {
    // TRUST_PROXY and MAX_PEERS_PER_IP: two per forwarded client.
    held.push(await from("203.0.113.1"), await from("203.0.113.1"));
    assert.match(
      await refusal("203.0.113.1"),
      /^503 .*too many connections from your address \(2\)/,
    );
    held.push(await from("203.0.113.2"));
    // MAX_PEERS: three in all.
    assert.match(
      await refusal("203.0.113.3"),
      /^503 .*the server is full \(3 peers\)/,
    );
    for (const socket of held) {
      assert.equal((await socket.readJson())[0], "assign");
    }
    // RATE_BURST and RATE_LIMIT: the third frame at once is one too many.
    const [talker, big] = held;
    for (let i = 0; i < 3; i++) talker.sendText('["request",0]');
    assert.deepEqual(await talker.readJson(), ["invalid peer id"]);
    assert.deepEqual(await talker.readJson(), ["invalid peer id"]);
    const limited = await talker.readFrame();
    assert.equal(limited.opcode, OP.CLOSE);
    assert.equal(closePayload(limited.payload).code, 1008);
    assert.match(
      closePayload(limited.payload).reason,
      /rate limit of 1 frames per second/,
    );
    // MAX_FRAME_BYTES: 100 bytes are read, 101 are one too many.
    const frame = (bytes: number) =>
      JSON.stringify(["request", "x".repeat(bytes - 14)]);
    assert.equal(frame(100).length, 100);
    big.sendText(frame(100));
    assert.deepEqual(await big.readJson(), ["invalid peer id"]);
    big.sendText(frame(101));
    const tooBig = await big.readFrame();
    assert.equal(tooBig.opcode, OP.CLOSE);
    assert.equal(closePayload(tooBig.payload).code, 1009);
  } finally {
    await Promise.all(held.map((socket) => socket.close()));
    await server.close();
  }
});

Deno.test("a page from another origin is refused with 403; our own pages and non-browsers connect", async () => {
  const server = await startServer();
  try {
    const foreign = await tryUpgrade(server.port, {
      Origin: "https://evil.example",
    });
    assert.equal(foreign.status, 403);
    assert.match(foreign.text, /evil\.example may not connect/);
    assert.equal(
      (await tryUpgrade(server.port, { Origin: server.url })).status,
      101,
    );
    assert.equal((await tryUpgrade(server.port)).status, 101);
  } finally {
    await server.close();
  }
  const listed = await startServer({
    ALLOWED_ORIGINS: "https://beam.example, https://other.example",
  });
  try {
    const ok = await tryUpgrade(listed.port, {
      Origin: "https://other.example",
    });
    assert.equal(ok.status, 101);
    const no = await tryUpgrade(listed.port, {
      Origin: "https://third.example",
    });
    assert.equal(no.status, 403);
  } finally {
    await listed.close();
  }
});

Deno.test("forwardedAddress() takes the first untrusted hop from the right, and only behind a trusted proxy", () => {
  const trusted = (a: string) => a === "10.0.0.1" || a === "10.0.0.2";
  // The socket is not a proxy of ours: its header could say anything.
  assert.equal(
    forwardedAddress("198.51.100.1", "203.0.113.9", trusted),
    "198.51.100.1",
  );
  assert.equal(forwardedAddress("10.0.0.1", null, trusted), "10.0.0.1");
  assert.equal(
    forwardedAddress("10.0.0.1", "203.0.113.9", trusted),
    "203.0.113.9",
  );
  // A client that writes its own header is found behind it.
  assert.equal(
    forwardedAddress("10.0.0.1", "1.1.1.1, 203.0.113.9", trusted),
    "203.0.113.9",
  );
  // Two proxies of ours in a row.
  assert.equal(
    forwardedAddress("10.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.2", trusted),
    "203.0.113.9",
  );
  assert.equal(
    forwardedAddress("10.0.0.1", " ::ffff:203.0.113.9 ,, ", trusted),
    "203.0.113.9",
  );
  // Every hop trusted: the left-most is as far as anyone knows.
  assert.equal(forwardedAddress("10.0.0.1", "10.0.0.2", trusted), "10.0.0.2");
});

Deno.test("behind TRUST_PROXY the per-address cap counts the forwarded client, not the proxy", async () => {
  const server = startSignal({
    maxPeersPerIp: 2,
    trustProxy: (address) => address === "127.0.0.1",
  });
  const held: RawWebSocket[] = [];
  try {
    const client = { "X-Forwarded-For": "203.0.113.5" };
    for (let i = 0; i < 2; i++) {
      held.push(await connectWebSocket({ port: server.port, headers: client }));
    }
    const refused = await tryUpgrade(server.port, client);
    assert.equal(refused.status, 503);
    assert.match(refused.text, /too many connections from your address/);
    // Other clients behind the same proxy still get in.
    const other = await tryUpgrade(server.port, {
      "X-Forwarded-For": "203.0.113.6",
    });
    assert.equal(other.status, 101);
    // A hop the client wrote itself does not change who it is.
    const spoofed = await tryUpgrade(server.port, {
      "X-Forwarded-For": "198.51.100.77, 203.0.113.5",
    });
    assert.equal(spoofed.status, 503);
  } finally {
    await Promise.all(held.map((client) => client.close()));
    await settle(server, 0);
    await server.close();
  }
});

Deno.test("without TRUST_PROXY a forwarded address is ignored", async () => {
  const server = startSignal({ maxPeersPerIp: 2 });
  const held: RawWebSocket[] = [];
  try {
    for (let i = 0; i < 2; i++) {
      held.push(
        await connectWebSocket({
          port: server.port,
          headers: { "X-Forwarded-For": `203.0.113.${i}` },
        }),
      );
    }
    const refused = await tryUpgrade(server.port, {
      "X-Forwarded-For": "203.0.113.99",
    });
    assert.equal(refused.status, 503);
  } finally {
    await Promise.all(held.map((client) => client.close()));
    await settle(server, 0);
    await server.close();
  }
});

/** A process's resident size and its peak since the last reset, in KiB. */
function memoryOf(pid: number): { rssKiB: number; peakKiB: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return {
    rssKiB: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]),
    peakKiB: Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]),
  };
}

Deno.test("SIGNAL_TRANSPORT=raw refuses ten 48 MiB frames at their headers: the server grows by under 20 MiB and keeps serving", async () => {
  // The attack of issue #12 item 6 on a real `main.ts`. Natively the runtime
  // assembled each frame before the 64 KiB cap was checked: 420 MiB of
  // growth for these ten (bench/README.md); refused at the header it is
  // about 2 MiB. The bound is the goal, far from either.
  const beam = await startBeam({ SIGNAL_TRANSPORT: "raw" });
  try {
    // One conversation first, so what it takes to serve at all is in the
    // figure before the attack.
    const [a, b] = [
      await Peer.connect(beam.wsUrl),
      await Peer.connect(beam.wsUrl),
    ];
    await pair(a, b);
    await closeAll(a, b);
    // VmHWM, the peak, restarts from the resident size now.
    Deno.writeTextFileSync(`/proc/${beam.process.pid}/clear_refs`, "5");
    const before = memoryOf(beam.process.pid);
    const ends = await Promise.all(
      Array.from({ length: 10 }, () => sendOversizedFrame(beam.port, 48 << 20)),
    );
    const grown = memoryOf(beam.process.pid).peakKiB - before.rssKiB;
    assert.ok(grown < 20 * 1024, `the server grew by ${grown} KiB`);
    for (const end of ends) {
      // The server stopped reading at the header: no attacker could write
      // its whole frame (it fills the socket buffers, a few MiB, then fails).
      assert.doesNotMatch(end, /write sent/, end);
    }
    // Still serving, and every attacker's slot is given back.
    const [c, d] = [
      await Peer.connect(beam.wsUrl),
      await Peer.connect(beam.wsUrl),
    ];
    await pair(c, d);
    await closeAll(c, d);
    await waitFor(
      async () => (await beam.health()).body.peers === 0,
      FRAME_WAIT_MS,
      "every connection forgotten",
    );
  } finally {
    await beam.stop();
  }
});

Deno.test("SIGNAL_TRANSPORT=raw serves the pages and signaling, and closes a page's frame past the cap with 1009", async () => {
  const beam = await startBeam({
    SIGNAL_TRANSPORT: "raw",
    MAX_FRAME_BYTES: "1000",
  });
  try {
    const page = await fetch(`${beam.url}/`);
    assert.equal(page.status, 200);
    assert.ok(page.headers.get("content-security-policy"));
    await page.body?.cancel();
    const [sender, receiver, big] = [
      await Peer.connect(beam.wsUrl),
      await Peer.connect(beam.wsUrl),
      await Peer.connect(beam.wsUrl),
    ];
    try {
      await pair(receiver, sender);
      sender.send(["response", receiver.id, { files: 1 }]);
      await expectFrame(receiver, ["response", sender.id, { files: 1 }]);
      receiver.send(["offer", sender.id, { sdp: "o" }]);
      await expectFrame(sender, ["offer", receiver.id, { sdp: "o" }]);
      // A browser's frame just past the cap: it gets the close frame.
      big.send(JSON.stringify(["request", "x".repeat(1000)]));
      const event = await within(big.closed, FRAME_WAIT_MS, "the close");
      assert.equal(event.code, 1009);
      assert.match(event.reason, /larger than 1000 bytes/);
    } finally {
      await closeAll(sender, receiver, big);
    }
  } finally {
    await beam.stop();
  }
});
