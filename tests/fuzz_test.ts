/**
 * Fuzzing the signaling server over real sockets: several clients send
 * 100,000 random and mutated frames (bad JSON, deep nesting, huge numbers,
 * wrong types, unicode, binary, oversize) while two honest peers hold a whole
 * conversation. The server must not crash, the conversation must complete
 * exactly, and every connection must be given back (the connection caps are
 * set just above what runs at once). Each run prints its seed; `FUZZ_SEED`
 * replays it. How much memory the server holds is measured by the
 * benchmark, not here: a heap figure is a threshold, not a behaviour.
 */

import assert from "node:assert/strict";
import {
  closeAll,
  expectFrame,
  Peer,
  settle,
  TOPOLOGIES,
} from "./_helpers/ws.ts";
import { newPeerId } from "../lib/signal/protocol.ts";

const FRAMES = 100_000;
const FUZZERS = 4;

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const EVENTS = [
  "request",
  "response",
  "offer",
  "answer",
  "candidate",
  "retry",
  "progress",
];
const STRANGE = [
  "",
  "é",
  "日本語",
  "\u0000",
  "\ud800",
  "\u2028",
  "🦕",
  "</script>",
  "__proto__",
  "constructor",
  "a".repeat(300),
];

function pick<T>(rand: () => number, list: T[]): T {
  return list[Math.floor(rand() * list.length)];
}

function randomValue(rand: () => number, depth = 0): unknown {
  const r = rand();
  if (depth > 3 || r < 0.3) {
    return pick(rand, [
      0,
      -0,
      1e308,
      -1e308,
      2 ** 53 + 1,
      Number.MIN_VALUE,
      true,
      false,
      null,
      pick(rand, STRANGE),
      Math.floor(rand() * 1e9),
    ]);
  }
  if (r < 0.6) {
    return Array.from(
      { length: Math.floor(rand() * 4) },
      () => randomValue(rand, depth + 1),
    );
  }
  const out: Record<string, unknown> = {};
  for (let i = 0; i < rand() * 4; i++) {
    out[pick(rand, STRANGE)] = randomValue(rand, depth + 1);
  }
  return out;
}

/** A frame that is a JSON array of the right shape: answered, never closed. */
function wellFormed(rand: () => number, ids: string[]): string {
  const event = pick(rand, EVENTS);
  const target = pick<unknown>(rand, [
    ...ids,
    newPeerId(),
    "short",
    "!!!!!!!!!!!!!!!!",
    42,
    null,
    [],
    {},
  ]);
  const arity = event === "request" || event === "retry" ? 1 : 2;
  const frame = arity === 1
    ? [event, target]
    : [event, target, randomValue(rand)];
  return JSON.stringify(frame);
}

/** A frame the server must close the socket for. */
function closing(
  rand: () => number,
  ids: string[],
): string | Uint8Array<ArrayBuffer> {
  const kind = Math.floor(rand() * 8);
  switch (kind) {
    case 0:
      return new Uint8Array(Math.floor(rand() * 100)); // binary: 1003
    case 1:
      return `["progress","${ids[0]}","${"x".repeat(70_000)}"]`; // 1009
    case 2:
      return "[".repeat(50_000) + "]".repeat(50_000); // deep nesting, no event
    case 3:
      return JSON.stringify([pick(rand, STRANGE), ids[0], 1]); // unknown event
    case 4:
      return JSON.stringify(["offer"]); // wrong arity
    case 5:
      return pick(rand, [
        "",
        "null",
        "{}",
        "1e999",
        '"request"',
        "[]",
        "[1,2]",
      ]);
    default: {
      // A valid frame, mutated: a byte flipped, cut short, or doubled.
      const text = wellFormed(rand, ids);
      const at = Math.floor(rand() * text.length);
      const mutated = pick(rand, [
        text.slice(0, at),
        text.slice(0, at) + String.fromCharCode(Math.floor(rand() * 0xffff)) +
        text.slice(at + 1),
        text + text,
      ]);
      // A mutation can leave a well-formed frame; make sure it is not JSON.
      return mutated + "}";
    }
  }
}

interface FuzzResult {
  sent: number;
  answers: number;
  closes: Map<number, number>;
}

async function fuzzer(
  url: string,
  seed: number,
  quota: number,
  ids: string[],
): Promise<FuzzResult> {
  const rand = prng(seed);
  const result: FuzzResult = { sent: 0, answers: 0, closes: new Map() };
  let sent = 0;
  while (sent < quota) {
    const socket = new WebSocket(url);
    socket.onmessage = () => result.answers++;
    const closed = new Promise<void>((resolve) =>
      socket.onclose = (event) => {
        result.closes.set(event.code, (result.closes.get(event.code) ?? 0) + 1);
        resolve();
      }
    );
    // A refusal (503) is a failure, not a wait: the server's caps are set so
    // that only a connection it never gave back could fill them.
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () =>
        reject(
          new Error(
            `Cannot connect a fuzzer after ${sent} frames: the server refused it (seed ${seed})`,
          ),
        );
    });
    // A burst of answered frames, then one the server closes for.
    const burst = Math.min(quota - sent, 1 + Math.floor(rand() * 60));
    for (let i = 0; i < burst; i++) socket.send(wellFormed(rand, ids));
    sent += burst;
    if (sent < quota) {
      socket.send(closing(rand, ids));
      sent++;
    } else {
      socket.close();
    }
    await closed;
  }
  result.sent = sent;
  return result;
}

async function honestConversation(sender: Peer, receiver: Peer): Promise<void> {
  const s = sender.id;
  const r = receiver.id;
  // The fuzzers may request from the honest peers too; they only look at
  // their partner's frames.
  const from = async (peer: Peer, id: string) => {
    for (;;) {
      const frame = await peer.next();
      if (frame[1] === id) return frame;
    }
  };
  receiver.send(["request", s]);
  assert.deepEqual(await from(sender, r), ["request", r]);
  const files = {
    files: [{ name: "ü 日本 🦕.bin", size: 1 }],
    pad: "x".repeat(300),
  };
  sender.send(["response", r, files]);
  assert.deepEqual(await from(receiver, s), ["response", s, files]);
  const sdp = { sdp: "v=0\r\n" + "a=x\r\n".repeat(600) };
  receiver.send(["offer", s, sdp]);
  assert.deepEqual(await from(sender, r), ["offer", r, sdp]);
  sender.send(["answer", r, sdp]);
  assert.deepEqual(await from(receiver, s), ["answer", s, sdp]);
  for (let i = 0; i < 10; i++) {
    receiver.send(["candidate", s, {
      candidate: `c${i}`,
      pad: "y".repeat(150),
    }]);
    sender.send(["candidate", r, { candidate: `d${i}` }]);
  }
  for (let i = 0; i < 10; i++) {
    assert.deepEqual(await from(sender, r), ["candidate", r, {
      candidate: `c${i}`,
      pad: "y".repeat(150),
    }]);
    assert.deepEqual(await from(receiver, s), ["candidate", s, {
      candidate: `d${i}`,
    }]);
  }
  for (let i = 0; i <= 100; i++) {
    receiver.send(["progress", s, { bytes: i, total: 100 }]);
    assert.deepEqual(await from(sender, r), ["progress", r, {
      bytes: i,
      total: 100,
    }]);
  }
}

/**
 * The seed of the fuzzers' PRNG: `FUZZ_SEED` replays a run (each run prints
 * its seed first), otherwise the time.
 */
function fuzzSeed(): number {
  const given = Deno.env.get("FUZZ_SEED");
  if (given === undefined || given === "") return Date.now();
  if (!/^\d+$/.test(given.trim())) {
    throw new TypeError(
      `Cannot read FUZZ_SEED: "${given}" is not a whole number`,
    );
  }
  return Number(given);
}

/**
 * Connections at once that the fuzz run needs at most on one instance (the
 * honest pair, a fuzzer socket each, a late peer), doubled: a socket the
 * client sees closed may still be closing on the server for a moment.
 */
const ROOM = 2 * (2 + FUZZERS + 1);

for (const { suffix, start } of TOPOLOGIES) {
  Deno.test(`100,000 fuzzed frames neither crash the server nor disturb an honest conversation${suffix}`, async () => {
    const seed = fuzzSeed();
    console.log(`fuzz seed ${seed}: replay with FUZZ_SEED=${seed}`);
    // The caps leave room for what runs at once and no more: the fuzzers
    // open and close about 3,000 sockets, so a close path that forgot to
    // give back its slot (in the peer count or its address's count) fills
    // them and the next fuzzer is refused.
    const server = await start({
      ratePerSecond: 1e6,
      rateBurst: 1e6,
      maxPeers: ROOM,
      maxPeersPerIp: ROOM,
    });
    try {
      // Where there are two instances, the honest pair is split across them,
      // and so are the fuzzers.
      const [sender, receiver] = await server.connectAll(2);
      const ids = [sender.id, receiver.id];
      const quota = FRAMES / FUZZERS;
      const fuzzing = Promise.all(
        Array.from(
          { length: FUZZERS },
          (_, i) =>
            fuzzer(server.urls[i % server.urls.length], seed + i, quota, ids),
        ),
      );
      // Awaited below, after the honest pair's first conversation: a fuzzer
      // that fails meanwhile is reported there, not as an uncaught error.
      fuzzing.catch(() => {});
      // The honest pair talks while the fuzzers run, twice over.
      await honestConversation(sender, receiver);
      const results = await fuzzing;
      await honestConversation(sender, receiver);
      const total = (key: "sent" | "answers") =>
        results.reduce((n, r) => n + r[key], 0);
      assert.equal(total("sent"), FRAMES, `seed ${seed}`);
      // The well-formed frames were each answered (assign, invalid peer id,
      // peer not exists): the server read them all, it did not just hang up.
      assert.ok(
        total("answers") > FRAMES * 0.9,
        `${total("answers")} answers (seed ${seed})`,
      );
      const codes = new Set(results.flatMap((r) => [...r.closes.keys()]));
      for (const code of [1003, 1008, 1009]) {
        assert.ok(codes.has(code), `no close ${code}`);
      }
      // Still serving, and the honest pair was never closed.
      const late = await server.connect();
      late.send(["request", sender.id]);
      await expectFrame(sender, ["request", late.id]);
      await closeAll(sender, receiver, late);
      await settle(server, 0);
      // Every slot came back: a full room of new clients still gets in.
      const again = await server.connectAll(ROOM);
      await closeAll(...again);
      await settle(server, 0);
    } finally {
      await server.close();
    }
  });
}
