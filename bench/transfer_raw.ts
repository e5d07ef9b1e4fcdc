/**
 * The ceiling: two bare pages of the app's origin (so the origin's
 * microphone permission gives them loopback candidates, as the app's pages
 * get) that do nothing but push bytes over one ordered, reliable
 * RTCDataChannel. The sender sends one reused buffer of `chunkSize` bytes
 * while `bufferedAmount` is at most `highWaterMark` and then waits for
 * `bufferedamountlow` (threshold `lowWaterMark`); the receiver only counts
 * bytes. No file is read, no byte hashed, nothing written.
 *
 * @module
 */

import type { BrowserContext, Page } from "playwright-core";

/** The path the bare page is served at (by a route, not by the app). */
export const RAW_PATH = "/__bench/raw";

/** Settings of one raw run. */
export interface RawOptions {
  /** Bytes to push. */
  total: number;
  /** Bytes per `send()`. */
  chunkSize: number;
  /** Stop sending above this `bufferedAmount`. */
  highWaterMark: number;
  /** `bufferedAmountLowThreshold`: resume at or below this. */
  lowWaterMark: number;
  /** Give up after this long. */
  timeoutMs: number;
}

/** When things happened, in ms since the epoch (pages share the clock). */
export interface RawTimes {
  /** The offer was created. */
  connectStart: number;
  /** The channel was open on both sides. */
  open: number;
  /** The first `send()`. */
  sendStart: number;
  /** The receiver counted the last byte. */
  end: number;
  /** Bytes the receiver counted. */
  received: number;
  /** Times the sender waited for `bufferedamountlow`. */
  waits: number;
}

// Runs in the pages. Plain JavaScript: it is served as is.
/**
 * What both raw pages' scripts (here and bench/wan_raw.ts) start with: the
 * clock, and waits for ICE gathering and for a channel to open. Plain
 * JavaScript, served as is.
 */
export const PAGE_HELPERS = `
const now = () => performance.timeOrigin + performance.now();
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}
function opened(dc) {
  if (dc.readyState === "open") return Promise.resolve();
  return new Promise((resolve, reject) => {
    dc.addEventListener("open", () => resolve(), { once: true });
    dc.addEventListener("close", () => reject(new Error("closed")), { once: true });
  });
}
`;

const PAGE_SCRIPT = `${PAGE_HELPERS}
let pc = null;
let channel = null;
globalThis.bench = {
  async offer() {
    pc = new RTCPeerConnection({ iceServers: [] });
    channel = pc.createDataChannel("raw", { ordered: true });
    channel.binaryType = "arraybuffer";
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    return pc.localDescription.toJSON();
  },
  async answer(offer) {
    pc = new RTCPeerConnection({ iceServers: [] });
    const incoming = new Promise((resolve) => {
      pc.ondatachannel = (event) => resolve(event.channel);
    });
    await pc.setRemoteDescription(offer);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    globalThis.bench.incoming = incoming.then(async (dc) => {
      dc.binaryType = "arraybuffer";
      channel = dc;
      await opened(dc);
    });
    return pc.localDescription.toJSON();
  },
  async accept(answer) {
    await pc.setRemoteDescription(answer);
    await opened(channel);
  },
  opened() {
    return globalThis.bench.incoming;
  },
  arm(total) {
    let received = 0;
    globalThis.bench.result = new Promise((resolve) => {
      channel.onmessage = (event) => {
        received += event.data.byteLength;
        if (received >= total) {
          channel.onmessage = null;
          resolve({ end: now(), received });
        }
      };
    });
  },
  async pump(total, chunkSize, high, low) {
    const buffer = new Uint8Array(chunkSize);
    for (let i = 0; i < chunkSize; i += 65536) {
      crypto.getRandomValues(buffer.subarray(i, Math.min(chunkSize, i + 65536)));
    }
    channel.bufferedAmountLowThreshold = low;
    const start = now();
    let sent = 0;
    let waits = 0;
    while (sent < total) {
      while (sent < total && channel.bufferedAmount <= high) {
        const n = Math.min(chunkSize, total - sent);
        channel.send(n === chunkSize ? buffer : buffer.subarray(0, n));
        sent += n;
      }
      if (sent < total) {
        waits++;
        await new Promise((resolve, reject) => {
          channel.addEventListener("bufferedamountlow", resolve, { once: true });
          channel.addEventListener("close", () => reject(new Error("closed")), { once: true });
        });
      }
    }
    return { sendStart: start, waits };
  },
  close() {
    pc?.close();
  },
};
`;

const PAGE_HTML = `<!doctype html>
<meta charset="utf-8">
<title>raw data channel</title>
<script>${PAGE_SCRIPT}</script>
`;

/** Serves the bare page at {@linkcode RAW_PATH} in every page of `context`. */
export async function routeRawPage(context: BrowserContext): Promise<void> {
  await context.route(`**${RAW_PATH}`, (route) =>
    route.fulfill({
      status: 200,
      contentType: "text/html; charset=utf-8",
      body: PAGE_HTML,
    }));
}

/** What the bare page puts on `globalThis` (as `bench`). */
interface BenchGlobal {
  bench: {
    offer(): Promise<RTCSessionDescriptionInit>;
    answer(
      offer: RTCSessionDescriptionInit,
    ): Promise<RTCSessionDescriptionInit>;
    accept(answer: RTCSessionDescriptionInit): Promise<void>;
    opened(): Promise<void>;
    arm(total: number): void;
    result: Promise<{ end: number; received: number }>;
    pump(
      total: number,
      chunkSize: number,
      high: number,
      low: number,
    ): Promise<{ sendStart: number; waits: number }>;
    close(): void;
  };
}

// Functions passed to page.evaluate() run in the page: each names
// `globalThis.bench` itself (nothing of this module is there).
type G = typeof globalThis & BenchGlobal;

/** Two bare pages, connected. */
export interface RawPair {
  sender: Page;
  receiver: Page;
  /** When connecting began (ms since the epoch). */
  connectStart: number;
  /** When both ends were open. */
  open: number;
  close(): Promise<void>;
}

/** Opens two bare pages at `origin` and connects them. */
export async function connectRawPair(
  context: BrowserContext,
  origin: string,
): Promise<RawPair> {
  const sender = await context.newPage();
  const receiver = await context.newPage();
  const close = async () => {
    for (const p of [sender, receiver]) {
      await p.evaluate(() => (globalThis as G).bench.close()).catch(() => {});
      await p.close().catch(() => {});
    }
  };
  try {
    await sender.goto(origin + RAW_PATH);
    await receiver.goto(origin + RAW_PATH);
    const connectStart = Date.now();
    const offer = await sender.evaluate(() => (globalThis as G).bench.offer());
    const answer = await receiver.evaluate(
      (o) => (globalThis as G).bench.answer(o),
      offer,
    );
    await Promise.all([
      sender.evaluate((a) => (globalThis as G).bench.accept(a), answer),
      receiver.evaluate(() => (globalThis as G).bench.opened()),
    ]);
    return { sender, receiver, connectStart, open: Date.now(), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Pushes `options.total` bytes from the pair's sender to its receiver. */
export async function pushRaw(
  pair: RawPair,
  options: RawOptions,
): Promise<RawTimes> {
  const { total, chunkSize, highWaterMark, lowWaterMark, timeoutMs } = options;
  await pair.receiver.evaluate(
    (n) => (globalThis as G).bench.arm(n),
    total,
  );
  const work = (async () => {
    const sent = await pair.sender.evaluate(
      ([n, c, h, l]) => (globalThis as G).bench.pump(n, c, h, l),
      [total, chunkSize, highWaterMark, lowWaterMark] as const,
    );
    const got = await pair.receiver.evaluate(() =>
      (globalThis as G).bench.result
    );
    return { ...sent, ...got };
  })();
  const result = await withTimeout(work, timeoutMs, "the raw transfer");
  return {
    connectStart: pair.connectStart,
    open: pair.open,
    sendStart: result.sendStart,
    end: result.end,
    received: result.received,
    waits: result.waits,
  };
}

/** `promise`, or a rejection after `ms`. */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`Cannot finish ${what}: still running after ${ms} ms`),
        ),
      ms,
    );
  });
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
