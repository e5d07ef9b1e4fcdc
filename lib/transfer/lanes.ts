/**
 * Parallel connections ("lanes") between a sender and one receiver.
 *
 * One SCTP association has one congestion window; on a long path that
 * window, not the link, sets the speed (bench/README.md, "WAN benchmark").
 * Several peer connections between the same two pages carry disjoint
 * chunks of the same transfer: the sender puts each chunk on the channel
 * with the least buffered and says where it goes (`at`, wire.ts), the
 * receiver puts the chunks back in order (receiver.ts). Here:
 *
 * - {@linkcode LaneGrowth}: when to add connections. Start with one;
 *   measure; double while the rate grows by `gain`; at most `max`.
 * - {@linkcode ReceiveLanes} and {@linkcode SendLanes}: setting up each
 *   extra connection over the first one's channel (`lane` messages),
 *   authenticated as the first one is: the receiver's offer carries the
 *   share key's MAC, the sender's answer the MAC and the sender's
 *   signature, and both sides check the certificate they connected to
 *   against the signed SDP. Signaling is not involved: the server sees
 *   none of it.
 *
 * docs/protocol.md, "Parallel connections", has the messages.
 *
 * @module
 */

import {
  type SenderKeys,
  type ShareKeys,
  signPayload,
  signSdp,
  verifyPayload,
  verifySdp,
} from "./auth.ts";
import type { DataChannelLike } from "./channel.ts";
import type { Link, LinkFactory } from "./rtc.ts";
import type { FileReceiver } from "./receiver.ts";
import type { FileSender } from "./sender.ts";
import { encodeControl, type Lane, MAX_LANE } from "./wire.ts";
import {
  CONNECT_TIMEOUT_MS,
  LANE_GAIN,
  LANE_MEASURE_MS,
  LANE_MIN_BYTES_LEFT,
  LANE_MIN_RTT_MS,
  LANE_SETTLE_MS,
  LINGER_MS,
  MAX_LANES,
} from "./tuning.ts";

/** The `localStorage` key of the setting that caps connections (README). */
export const LANES_SETTING = "beam:lanes";

/**
 * How many connections the `beam:lanes` setting allows: its number within
 * 1 to `MAX_LANES`, `MAX_LANES` when unset, and 1 (parallel connections
 * off) for anything that is not a number. `=N` allows N too, and
 * {@linkcode lanesEager} says to open them at once.
 */
export function lanesAllowed(setting: string | null): number {
  if (setting === null || setting.trim() === "") return MAX_LANES;
  const value = Number(setting.trim().replace(/^=/, ""));
  if (!Number.isInteger(value) || value < 1) return 1;
  return Math.min(value, MAX_LANES);
}

/**
 * Whether the `beam:lanes` setting is `=N`: open every connection it
 * allows as soon as the transfer starts, without measuring whether they
 * pay (for tests and benchmarks that compare fixed counts).
 */
export function lanesEager(setting: string | null): boolean {
  return setting?.trim().startsWith("=") ?? false;
}

/** The settings of a {@linkcode LaneGrowth}. */
export interface LaneGrowthOptions {
  /** Most connections, the first included. */
  max: number;
  /** After connections open, how long before the rate counts. */
  settleMs: number;
  /** How long each rate is measured. */
  measureMs: number;
  /** The rate must grow this much (a factor) for more to be added. */
  gain: number;
  /** Nothing is added with fewer bytes than this left. */
  minBytesLeft: number;
  /** Nothing is added over a shorter round trip than this (ms), when known. */
  minRttMs?: number;
  /** Open `max` at once, measuring nothing (`lanesEager()`). */
  eager?: boolean;
}

/** The defaults (tuning.ts). */
export const LANE_GROWTH: LaneGrowthOptions = {
  max: MAX_LANES,
  settleMs: LANE_SETTLE_MS,
  measureMs: LANE_MEASURE_MS,
  gain: LANE_GAIN,
  minBytesLeft: LANE_MIN_BYTES_LEFT,
  minRttMs: LANE_MIN_RTT_MS,
};

type Phase = "settling" | "measuring" | "opening" | "done";

/**
 * Round trips a new association needs to ramp up (slow start from 10
 * packets to a 100 Mbit/s path's window takes about seven), and a rate
 * needs to be measured over: `settleMs` and `measureMs` are at least this
 * many round trips.
 */
const RTTS_TO_SETTLE = 8;

/**
 * When to add connections, as a pure policy over samples of the bytes
 * received: settle, measure the rate, then double the connections if this
 * is the first measurement or the rate grew by `gain` since the last one;
 * stop at `max`, when a connection failed to open, or when too little is
 * left to pay for it. Connections added that did not pay are closed again
 * (`sample()` returns how many, negative): more connections cost CPU, and
 * take more than their share of a link others use. Nothing is tried over
 * a round trip under `minRttMs`, where one window is not the limit.
 */
export class LaneGrowth {
  #options: LaneGrowthOptions;
  #phase: Phase = "settling";
  #lanes = 1;
  #asked = 0;
  #since = NaN;
  #bytesAt = 0;
  #lastRate = 0;
  /** Connections before the last doubling. */
  #before = 1;

  constructor(options: LaneGrowthOptions = LANE_GROWTH) {
    this.#options = options;
    if (options.max < 2) this.#phase = "done";
  }

  /** Connections open now, the first included. */
  get lanes(): number {
    return this.#lanes;
  }

  /** Whether no more will be added. */
  get done(): boolean {
    return this.#phase === "done";
  }

  /**
   * Takes a sample (bytes received so far, the time in ms, bytes left, the
   * round trip in ms when known); returns how many connections to open now
   * (0 for none), or to close (negative: the last ones opened).
   */
  sample(
    bytes: number,
    now: number,
    bytesLeft: number,
    rttMs: number | null = null,
  ): number {
    const { gain, max, minBytesLeft } = this.#options;
    // Over a long round trip a new association takes longer to fill its
    // window, and a rate needs more round trips to mean anything.
    const settleMs = Math.max(
      this.#options.settleMs,
      RTTS_TO_SETTLE * (rttMs ?? 0),
    );
    const measureMs = Math.max(
      this.#options.measureMs,
      RTTS_TO_SETTLE * (rttMs ?? 0),
    );
    if (this.#options.eager && this.#phase === "settling") {
      this.#asked = max - 1;
      this.#phase = "opening";
      return this.#asked;
    }
    if (this.#phase === "settling") {
      if (Number.isNaN(this.#since)) this.#since = now;
      if (now - this.#since < settleMs) return 0;
      this.#phase = "measuring";
      this.#since = now;
      this.#bytesAt = bytes;
      return 0;
    }
    if (this.#phase !== "measuring" || now - this.#since < measureMs) return 0;
    const rate = (bytes - this.#bytesAt) * 1000 / (now - this.#since);
    const first = this.#lastRate === 0;
    if (first && rttMs !== null && rttMs < (this.#options.minRttMs ?? 0)) {
      this.#phase = "done";
      return 0;
    }
    const paid = first || rate >= this.#lastRate * gain;
    this.#lastRate = rate;
    if (!paid) {
      // Back to what it was before the last doubling.
      const added = this.#lanes - this.#before;
      this.#lanes = this.#before;
      this.#phase = "done";
      return -added;
    }
    // Worth it only if the transfer lasts long enough for the new
    // connections to settle and be measured.
    const lasts = bytesLeft >= minBytesLeft &&
      bytesLeft >= rate * (settleMs + measureMs) / 1000;
    if (!lasts || this.#lanes >= max) {
      this.#phase = "done";
      return 0;
    }
    this.#asked = Math.min(this.#lanes, max - this.#lanes);
    this.#before = this.#lanes;
    this.#phase = "opening";
    return this.#asked;
  }

  /** `count` of the connections asked for are open. */
  opened(count: number): void {
    if (this.#phase !== "opening") return;
    this.#lanes += count;
    this.#asked -= count;
    if (this.#asked > 0) return;
    this.#phase = this.#options.eager ? "done" : "settling";
    this.#since = NaN;
  }

  /** `count` of the connections asked for did not open: no more are tried. */
  failed(count: number): void {
    this.#asked -= count;
    this.#phase = "done";
  }
}

/** What {@linkcode ReceiveLanes} works with. */
export interface ReceiveLanesOptions {
  /** Makes each extra connection, as the first was made. */
  createLink: LinkFactory;
  keys: ShareKeys;
  /** The id of the sender's signing key, from the link. */
  keyId: string;
  senderId: string;
  /** The receiver's peer id its first connection's offer was signed for. */
  receiverId: string;
  /** The first connection's channel: `lane` messages go on it. */
  channel: DataChannelLike;
  receiver: FileReceiver;
  /** Most connections, the first included: the sender's and this page's cap. */
  max: number;
  /** Bytes of the share, to know what is left. */
  total: number;
  growth?: Partial<LaneGrowthOptions>;
  connectTimeoutMs?: number;
  /** The first connection's round trip in ms (its `Link.roundTrip`). */
  roundTrip?: () => Promise<number | null>;
}

/** The receiver's side: decides, offers, checks the answer, joins the channel. */
export class ReceiveLanes {
  #options: ReceiveLanesOptions;
  #growth: LaneGrowth;
  #links = new Map<number, Link>();
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;
  /** Links closed: failed, or dropped as not paying. */
  #dead = new Set<Link>();
  /** The first connection's round trip (ms), once known. */
  #rtt: number | null = null;

  constructor(options: ReceiveLanesOptions) {
    this.#options = options;
    // Asked now, as the transfer starts: the last connectivity check was
    // made on an idle path. Once the file's bytes fill the path's queues
    // (on loopback, the browsers' own), the checks wait behind them: 1 ms
    // then reads 10 ms or more, and loopback would take a second connection.
    options.roundTrip?.().then((rtt) => this.#rtt = rtt, () => {});
    this.#growth = new LaneGrowth({
      ...LANE_GROWTH,
      ...options.growth,
      max: Math.min(options.max, MAX_LANE + 1),
    });
  }

  /** Bytes written so far: may open (or close) connections. */
  sample(bytes: number, now = Date.now()): void {
    if (this.#closed || this.#growth.done) return;
    const more = this.#growth.sample(
      bytes,
      now,
      this.#options.total - bytes,
      this.#rtt,
    );
    for (let i = 0; i < more; i++) this.#open(this.#links.size + 1);
    if (more < 0) {
      // The last ones opened, which did not pay.
      const open = [...this.#links.values()].filter((link) =>
        !this.#dead.has(link)
      );
      for (const link of open.slice(more)) this.#drop(link);
    }
  }

  /** A `lane` message from the sender. */
  onMessage(message: Lane): void {
    const link = this.#links.get(message.lane);
    if (this.#closed || link === undefined) return;
    if (message.candidate !== undefined) link.addCandidate(message.candidate);
    if (message.sdp === undefined) return;
    const { keys, keyId, senderId, receiverId } = this.#options;
    const { sdp, mac, key, sig } = message;
    // As the first connection's answer: the MAC shows a holder of the
    // link made it, the signature that the sender did.
    verifyPayload(keyId, "lane", senderId, receiverId, { sdp, mac, key, sig })
      .then(() =>
        verifySdp(keys, "lane answer", senderId, receiverId, sdp, mac)
      )
      .then(() => link.accept(sdp))
      .catch(() => this.#fail(message.lane));
  }

  /** Closes every extra connection. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    for (const link of this.#links.values()) link.close();
    this.#links.clear();
  }

  #open(lane: number): void {
    const { createLink, channel, keys, senderId, receiverId, receiver } =
      this.#options;
    const send = (message: Lane) => {
      if (channel.readyState === "open") channel.send(encodeControl(message));
    };
    // Candidates wait for the offer: the sender drops a candidate of a
    // connection it has not heard of.
    let early: RTCIceCandidateInit[] | null = [];
    const link = createLink((candidate) => {
      if (early !== null) early.push(candidate);
      else send({ t: "lane", lane, candidate });
    });
    this.#links.set(lane, link);
    const timer = setTimeout(
      () => this.#fail(lane),
      this.#options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
    );
    this.#timers.add(timer);
    link.opened.then(async (opened) => {
      // The certificate connected to must be the one the signed answer names.
      await link.verifyRemote();
      clearTimeout(timer);
      if (this.#closed || this.#links.get(lane) !== link) return;
      if (!receiver.addLane(opened)) return this.#fail(lane);
      send({ t: "lane", lane, ready: true });
      this.#growth.opened(1);
    }).catch(() => this.#fail(lane));
    link.offer().then(async (sdp) => {
      const mac = await signSdp(keys, "lane offer", senderId, receiverId, sdp);
      send({ t: "lane", lane, sdp, mac });
      for (const candidate of early ?? []) send({ t: "lane", lane, candidate });
      early = null;
    }).catch(() => this.#fail(lane));
  }

  #fail(lane: number): void {
    const link = this.#links.get(lane);
    if (link === undefined || this.#dead.has(link)) return;
    this.#drop(link);
    if (!this.#closed) this.#growth.failed(1);
  }

  /**
   * Gives an extra connection up: the sender is told (and sends what it
   * held again on the others), and it closes a moment later, once that
   * message is ahead of it.
   */
  #drop(link: Link): void {
    // Kept in the map (closed) so its number is not used again.
    this.#dead.add(link);
    const lane = [...this.#links].find(([, known]) => known === link)?.[0];
    const channel = this.#options.channel;
    if (lane !== undefined && channel.readyState === "open" && !this.#closed) {
      channel.send(encodeControl({ t: "lane", lane, ready: false }));
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      link.close();
    }, LINGER_MS);
    this.#timers.add(timer);
  }
}

/** What {@linkcode SendLanes} works with. */
export interface SendLanesOptions {
  createLink: LinkFactory;
  keys: ShareKeys;
  signer: SenderKeys;
  senderId: string;
  /** The receiver's peer id, as its first connection's offer was signed. */
  receiverId: string;
  /** The first connection's channel: `lane` messages go on it. */
  channel: DataChannelLike;
  /** Most connections this sender takes from one receiver, the first included. */
  max: number;
}

/** One extra connection on the sender's side. */
interface Entry {
  link: Link;
  channel: DataChannelLike | null;
  /** The receiver reads the channel. */
  ready: boolean;
  joined: boolean;
}

/** The sender's side: checks each offer, answers, adds the channel once ready. */
export class SendLanes {
  #options: SendLanesOptions;
  #sender: FileSender | null = null;
  #lanes = new Map<
    number,
    Entry
  >();
  #closed = false;

  constructor(options: SendLanesOptions) {
    this.#options = options;
  }

  /** The sender the channels join, once it runs. */
  set sender(sender: FileSender) {
    this.#sender = sender;
  }

  /** A `lane` message from the receiver. */
  onMessage(message: Lane): void {
    if (this.#closed) return;
    const known = this.#lanes.get(message.lane);
    if (message.sdp !== undefined) {
      if (known !== undefined || message.lane >= this.#options.max) return;
      this.#answer(message.lane, message.sdp, message.mac);
      return;
    }
    if (known === undefined) return;
    if (message.candidate !== undefined) {
      known.link.addCandidate(message.candidate);
    }
    if (message.ready === true) {
      known.ready = true;
      this.#join(known);
    } else if (message.ready === false) {
      // Given up by the receiver: what it held goes on the others now,
      // not once this side notices the connection closed.
      this.#drop(known);
    }
  }

  /** Closes every extra connection. */
  close(): void {
    this.#closed = true;
    for (const { link, channel } of this.#lanes.values()) {
      if (channel !== null) this.#sender?.removeLane(channel);
      link.close();
    }
    this.#lanes.clear();
  }

  #answer(lane: number, offer: string, mac: unknown): void {
    const { createLink, channel, keys, signer, senderId, receiverId } =
      this.#options;
    const send = (message: Lane) => {
      if (channel.readyState === "open") channel.send(encodeControl(message));
    };
    const link = createLink((candidate) =>
      send({ t: "lane", lane, candidate })
    );
    const entry: Entry = { link, channel: null, ready: false, joined: false };
    this.#lanes.set(lane, entry);
    const drop = () => this.#drop(entry);
    verifySdp(keys, "lane offer", senderId, receiverId, offer, mac)
      .then(() => link.answer(offer))
      .then(async (sdp) => {
        const mac = await signSdp(
          keys,
          "lane answer",
          senderId,
          receiverId,
          sdp,
        );
        const signed = await signPayload(signer, "lane", senderId, receiverId, {
          sdp,
          mac,
        });
        send({ t: "lane", lane, ...signed });
      })
      .catch(drop);
    link.opened.then(async (opened) => {
      await link.verifyRemote();
      if (this.#closed) return;
      entry.channel = opened;
      // A connection that breaks gives its unacknowledged bytes back.
      link.onIce((health) => {
        if (health !== "connected") drop();
      });
      this.#join(entry);
    }).catch(drop);
  }

  #drop(entry: Entry): void {
    if (entry.channel !== null) this.#sender?.removeLane(entry.channel);
    entry.link.close();
  }

  #join(entry: Entry): void {
    if (
      entry.channel === null || !entry.ready || entry.joined || this.#closed ||
      this.#sender === null
    ) return;
    entry.joined = true;
    this.#sender.addLane(entry.channel);
  }
}
