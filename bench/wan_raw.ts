/**
 * The raw ceilings of `deno task bench:wan`, between two browsers (one per
 * network namespace): bare pages of the app's origin (so the origin's
 * microphone permission gives them host candidates) that push bytes over N
 * parallel RTCPeerConnections, one ordered reliable RTCDataChannel each,
 * each connection carrying a disjoint part of the total. N = 1 is the raw
 * single channel of bench/transfer_raw.ts. The sender of each channel sends
 * one reused buffer of `chunkSize` bytes while `bufferedAmount` is at most
 * `highWaterMark`, then waits for `bufferedamountlow` (`lowWaterMark`).
 *
 * Meanwhile the sending page samples, every 500 ms, the first connection's
 * selected candidate pair (`currentRoundTripTime`, bytes sent) and its
 * channel's `bufferedAmount`; at the end both pages report their stats
 * (`data-channel`, `transport`, `candidate-pair`, and any SCTP stats the
 * browser has).
 *
 * @module
 */

import type { BrowserContext, Page } from "playwright-core";
import { PAGE_HELPERS, withTimeout } from "./transfer_raw.ts";

/** The path the bare page is served at (by a route, not by the app). */
export const WAN_RAW_PATH = "/__bench/wan-raw";

// Runs in the pages. Plain JavaScript: it is served as is.
const PAGE_SCRIPT = `${PAGE_HELPERS}
const pcs = [];
const channels = [];
let incoming = null;
async function pairStats(pc) {
  const report = await pc.getStats();
  const out = { pair: null, transport: null, channel: null, sctp: null, local: null, remote: null };
  let selectedId = null;
  report.forEach((s) => {
    if (s.type === "transport") { out.transport = s; selectedId = s.selectedCandidatePairId; }
    if (s.type === "data-channel") out.channel = s;
    if (s.type === "sctp-transport") out.sctp = s;
  });
  report.forEach((s) => {
    if (s.type === "candidate-pair" && (s.id === selectedId || (!selectedId && s.nominated && s.state === "succeeded"))) out.pair = s;
  });
  if (out.pair) {
    const l = report.get(out.pair.localCandidateId);
    const r = report.get(out.pair.remoteCandidateId);
    out.local = l && { address: l.address, port: l.port, type: l.candidateType, protocol: l.protocol };
    out.remote = r && { address: r.address, port: r.port, type: r.candidateType, protocol: r.protocol };
  }
  return out;
}
globalThis.bench = {
  async offer(n) {
    const offers = [];
    for (let i = 0; i < n; i++) {
      const pc = new RTCPeerConnection({ iceServers: [] });
      const dc = pc.createDataChannel("raw", { ordered: true });
      dc.binaryType = "arraybuffer";
      pcs.push(pc);
      channels.push(dc);
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      offers.push(pc.localDescription.toJSON());
    }
    return offers;
  },
  async answer(offers) {
    const answers = [];
    const waits = [];
    for (const offer of offers) {
      const pc = new RTCPeerConnection({ iceServers: [] });
      pcs.push(pc);
      const index = pcs.length - 1;
      waits.push(new Promise((resolve) => {
        pc.ondatachannel = (event) => resolve(event.channel);
      }).then(async (dc) => {
        dc.binaryType = "arraybuffer";
        channels[index] = dc;
        await opened(dc);
      }));
      await pc.setRemoteDescription(offer);
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      answers.push(pc.localDescription.toJSON());
    }
    incoming = Promise.all(waits);
    return answers;
  },
  async accept(answers) {
    await Promise.all(answers.map((a, i) => pcs[i].setRemoteDescription(a)));
    await Promise.all(channels.map(opened));
  },
  opened() {
    return incoming;
  },
  arm(total) {
    let received = 0;
    globalThis.bench.result = new Promise((resolve) => {
      for (const dc of channels) {
        dc.onmessage = (event) => {
          received += event.data.byteLength;
          if (received >= total) {
            for (const c of channels) c.onmessage = null;
            resolve({ end: now(), received });
          }
        };
      }
    });
  },
  async pump(total, chunkSize, high, low) {
    const buffer = new Uint8Array(chunkSize);
    for (let i = 0; i < chunkSize; i += 65536) {
      crypto.getRandomValues(buffer.subarray(i, Math.min(chunkSize, i + 65536)));
    }
    const samples = [];
    const t0 = now();
    let sampling = true;
    const sample = async () => {
      while (sampling) {
        try {
          const s = await pairStats(pcs[0]);
          samples.push({
            t: Math.round(now() - t0),
            rttMs: s.pair ? Math.round(s.pair.currentRoundTripTime * 1000) : null,
            bytesSent: s.pair?.bytesSent ?? null,
            buffered: channels[0].bufferedAmount,
            cwnd: s.sctp?.congestionWindow ?? null,
            rwnd: s.sctp?.receiverWindow ?? null,
            srtt: s.sctp?.smoothedRoundTripTime ?? null,
          });
        } catch {}
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    };
    const sampler = sample();
    const n = channels.length;
    const part = Math.ceil(total / n / chunkSize) * chunkSize;
    let waits = 0;
    const start = now();
    await Promise.all(channels.map(async (channel, i) => {
      const mine = Math.max(0, Math.min(part, total - i * part));
      channel.bufferedAmountLowThreshold = low;
      let sent = 0;
      while (sent < mine) {
        while (sent < mine && channel.bufferedAmount <= high) {
          const k = Math.min(chunkSize, mine - sent);
          channel.send(k === chunkSize ? buffer : buffer.subarray(0, k));
          sent += k;
        }
        if (sent < mine) {
          waits++;
          await new Promise((resolve, reject) => {
            channel.addEventListener("bufferedamountlow", resolve, { once: true });
            channel.addEventListener("close", () => reject(new Error("closed")), { once: true });
          });
        }
      }
    }));
    const sendEnd = now();
    // Keep sampling until the receiver is done (stopped by stats()).
    globalThis.bench.stopSampling = async () => {
      sampling = false;
      await sampler;
      return samples;
    };
    return { sendStart: start, sendEnd, waits };
  },
  async stats() {
    const all = [];
    for (const pc of pcs) all.push(await pairStats(pc));
    const samples = globalThis.bench.stopSampling ? await globalThis.bench.stopSampling() : [];
    const pick = (s) => ({
      local: s.local,
      remote: s.remote,
      pairRttMs: s.pair ? s.pair.currentRoundTripTime * 1000 : null,
      pairTotalRttMs: s.pair && s.pair.responsesReceived ? (s.pair.totalRoundTripTime / s.pair.responsesReceived) * 1000 : null,
      pairBytesSent: s.pair?.bytesSent ?? null,
      pairBytesReceived: s.pair?.bytesReceived ?? null,
      availableOutgoingBitrate: s.pair?.availableOutgoingBitrate ?? null,
      transportPacketsSent: s.transport?.packetsSent ?? null,
      transportPacketsReceived: s.transport?.packetsReceived ?? null,
      channelBytesSent: s.channel?.bytesSent ?? null,
      channelMessagesSent: s.channel?.messagesSent ?? null,
      sctp: s.sctp,
    });
    return { connections: all.map(pick), samples };
  },
  close() {
    for (const pc of pcs) pc.close();
  },
};
`;

const PAGE_HTML = `<!doctype html>
<meta charset="utf-8">
<title>raw data channels</title>
<script>${PAGE_SCRIPT}</script>
`;

/** Serves the bare page at {@linkcode WAN_RAW_PATH} in `context`. */
export async function routeWanRawPage(context: BrowserContext): Promise<void> {
  await context.route(`**${WAN_RAW_PATH}`, (route) =>
    route.fulfill({
      status: 200,
      contentType: "text/html; charset=utf-8",
      body: PAGE_HTML,
    }));
}

/** One connection's stats at the end of a run (see the page script). */
export interface ConnectionStats {
  local: { address: string; port: number; type: string } | null;
  remote: { address: string; port: number; type: string } | null;
  pairRttMs: number | null;
  pairTotalRttMs: number | null;
  pairBytesSent: number | null;
  pairBytesReceived: number | null;
  availableOutgoingBitrate: number | null;
  transportPacketsSent: number | null;
  transportPacketsReceived: number | null;
  channelBytesSent: number | null;
  channelMessagesSent: number | null;
  sctp: Record<string, unknown> | null;
}

/** A sample of the sender's first connection during a run. */
export interface Sample {
  /** Ms since the pump started. */
  t: number;
  rttMs: number | null;
  bytesSent: number | null;
  buffered: number;
  cwnd: number | null;
  rwnd: number | null;
  srtt: number | null;
}

/** Settings of one raw run. */
export interface WanRawOptions {
  /** Bytes to push, split over the connections. */
  total: number;
  chunkSize: number;
  highWaterMark: number;
  lowWaterMark: number;
  timeoutMs: number;
}

/** What one raw run measured. */
export interface WanRawResult {
  connectMs: number;
  sendStart: number;
  sendEnd: number;
  end: number;
  received: number;
  waits: number;
  sender: ConnectionStats[];
  receiver: ConnectionStats[];
  samples: Sample[];
}

interface BenchGlobal {
  bench: {
    offer(n: number): Promise<RTCSessionDescriptionInit[]>;
    answer(
      offers: RTCSessionDescriptionInit[],
    ): Promise<RTCSessionDescriptionInit[]>;
    accept(answers: RTCSessionDescriptionInit[]): Promise<void>;
    opened(): Promise<void>;
    arm(total: number): void;
    result: Promise<{ end: number; received: number }>;
    pump(
      total: number,
      chunkSize: number,
      high: number,
      low: number,
    ): Promise<{ sendStart: number; sendEnd: number; waits: number }>;
    stats(): Promise<{ connections: ConnectionStats[]; samples: Sample[] }>;
    close(): void;
  };
}

// Functions passed to page.evaluate() run in the page.
type G = typeof globalThis & BenchGlobal;

/**
 * Opens the bare page at `origin` in `senderContext` and in
 * `receiverContext`, connects them with `n` peer connections, pushes
 * `options.total` bytes, and closes the pages.
 */
export async function runWanRaw(
  senderContext: BrowserContext,
  receiverContext: BrowserContext,
  origin: string,
  n: number,
  options: WanRawOptions,
): Promise<WanRawResult> {
  const pages: Page[] = [];
  try {
    const sender = await senderContext.newPage();
    pages.push(sender);
    const receiver = await receiverContext.newPage();
    pages.push(receiver);
    await sender.goto(origin + WAN_RAW_PATH);
    await receiver.goto(origin + WAN_RAW_PATH);
    const connectStart = Date.now();
    const work = (async () => {
      const offers = await sender.evaluate(
        (k) => (globalThis as G).bench.offer(k),
        n,
      );
      const answers = await receiver.evaluate(
        (o) => (globalThis as G).bench.answer(o),
        offers,
      );
      await Promise.all([
        sender.evaluate((a) => (globalThis as G).bench.accept(a), answers),
        receiver.evaluate(() => (globalThis as G).bench.opened()),
      ]);
      const connectMs = Date.now() - connectStart;
      await receiver.evaluate(
        (total) => (globalThis as G).bench.arm(total),
        options.total,
      );
      const sent = await sender.evaluate(
        ([t, c, h, l]) => (globalThis as G).bench.pump(t, c, h, l),
        [
          options.total,
          options.chunkSize,
          options.highWaterMark,
          options.lowWaterMark,
        ] as const,
      );
      const got = await receiver.evaluate(() => (globalThis as G).bench.result);
      const [s, r] = await Promise.all([
        sender.evaluate(() => (globalThis as G).bench.stats()),
        receiver.evaluate(() => (globalThis as G).bench.stats()),
      ]);
      return {
        connectMs,
        ...sent,
        ...got,
        sender: s.connections,
        receiver: r.connections,
        samples: s.samples,
      };
    })();
    return await withTimeout(work, options.timeoutMs, "the raw transfer");
  } finally {
    for (const page of pages) {
      await page.evaluate(() => (globalThis as G).bench.close()).catch(
        () => {},
      );
      await page.close().catch(() => {});
    }
  }
}
