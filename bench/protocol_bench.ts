/**
 * Micro-benchmarks of the signaling hot path in lib/signal/protocol.ts, on
 * the frames of the benchmark's conversation: what each step of relaying one
 * frame costs in JavaScript, apart from the runtime's WebSocket work.
 *
 * Run: `deno bench bench/protocol_bench.ts`.
 *
 * @module
 */

import {
  isPeerId,
  newPeerId,
  parseFrame,
  relayFrame,
} from "../lib/signal/protocol.ts";
import {
  adapterFor,
  ANSWER,
  FIRST_PROGRESS,
  OFFER,
  SCRIPT,
} from "./conversation.ts";

const beam = adapterFor("beam");
const to = newPeerId();
const from = newPeerId();
const MAX = 64 * 1024;

function frame(step: number): string {
  return beam.encode(SCRIPT[step], step, to, 1_234_567_890);
}

/** Every frame of one conversation, in order: the real mix of sizes. */
const conversation = SCRIPT.map((_, i) => frame(i));
const offer = frame(OFFER);
const candidate = frame(ANSWER + 1);
const progress = frame(FIRST_PROGRESS);

const peers = new Map<string, number>();
for (let i = 0; i < 10_000; i++) peers.set(newPeerId(), i);
peers.set(to, -1);

let sink = 0;

Deno.bench("parseFrame: 3 KB offer", { group: "parse" }, () => {
  sink += parseFrame(offer, MAX).raw.length;
});
Deno.bench(
  "JSON.parse alone: 3 KB offer",
  { group: "parse", baseline: true },
  () => {
    sink += (JSON.parse(offer) as unknown[]).length;
  },
);
Deno.bench("parseFrame: 200 B candidate", { group: "parse" }, () => {
  sink += parseFrame(candidate, MAX).raw.length;
});
Deno.bench("parseFrame: 100 B progress", { group: "parse" }, () => {
  sink += parseFrame(progress, MAX).raw.length;
});

const parsedOffer = parseFrame(offer, MAX);
const parsedProgress = parseFrame(progress, MAX);
Deno.bench("relayFrame: offer", { group: "relay" }, () => {
  sink += relayFrame(parsedOffer, from).length;
});
Deno.bench("relayFrame: progress", { group: "relay" }, () => {
  sink += relayFrame(parsedProgress, from).length;
});
Deno.bench("isPeerId", { group: "relay" }, () => {
  sink += isPeerId(parsedProgress.target) ? 1 : 0;
});
Deno.bench("Map.get of a target fresh from JSON.parse (10,001 peers)", {
  group: "relay",
}, () => {
  sink += peers.get((JSON.parse(progress) as string[])[1]) ?? 0;
});

/** The whole JavaScript path of relaying one frame, per frame of the mix. */
Deno.bench("parse + check + look up + relay, the conversation's 124 frames", {
  group: "path",
  n: 2000,
}, () => {
  for (const text of conversation) {
    const f = parseFrame(text, MAX);
    // As SignalServer does: the look-up first, the id check only on a miss.
    if (peers.get(f.target as string) === undefined) {
      throw new TypeError(
        isPeerId(f.target) ? "Cannot relay: no peer" : "Cannot relay: bad id",
      );
    }
    sink += relayFrame(f, from).length;
  }
});

addEventListener("unload", () => {
  if (sink === 42) console.log(sink);
});
