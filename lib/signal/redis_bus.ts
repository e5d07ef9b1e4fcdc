/**
 * A {@linkcode SignalBus} over Redis pub/sub, so that any number of Beam
 * instances act as one signaling server.
 *
 * Each instance subscribes one channel per peer it holds (`beam:peer:<id>`)
 * and drops it when the peer leaves. A frame for a peer on another instance
 * is published to that peer's channel; `PUBLISH` answers how many
 * subscribers took it, so 0 is `peer not exists`, exactly as for a local
 * miss. Frames from one instance go out on one connection and so keep their
 * order, and a peer is subscribed before it is told its id, so no frame sent
 * to an id someone has learnt can miss it.
 *
 * Faults:
 * - Redis down: `state` is `"down"`, frames to other instances get `peer not
 *   exists` at once (peers on this instance still reach each other), and the
 *   client reconnects with backoff and jitter. On every reconnect the
 *   instance subscribes every peer it still holds.
 * - Redis slow: at most `maxPendingBytes` of frames wait for Redis, and when
 *   Redis has answered nothing for `sendTimeoutMs` while frames wait, they
 *   are all given up; past either a frame gets `peer not exists`
 *   and the bus reports `"down"` until Redis answers in time again. Memory
 *   never grows without bound, as for a socket that stops reading.
 * - Frames on our channels that are not Beam's (not JSON, the wrong shape,
 *   too large) are dropped and counted, never delivered.
 *
 * Subscribing is `@redis/client` (node-redis): Redis's own, maintained,
 * no dependencies, and it resubscribes and reconnects by itself. Publishing,
 * the one command on every cross-instance frame's path, is a small RESP
 * writer on Deno's sockets (resp_publisher.ts), measured cheaper.
 *
 * @module
 */

import { createClient } from "@redis/client";
import { RespPublisher } from "./resp_publisher.ts";
import { type BusReceiver, type BusState, type SignalBus } from "./bus.ts";
import { parseServerFrame } from "./protocol.ts";

/** Options of a {@linkcode RedisBus}. */
export interface RedisBusOptions {
  /** `redis://[:password@]host:port[/db]`, or `rediss://` for TLS. */
  url: string;
  /** Prefix of the per-peer channels. Default `beam:peer:`. */
  prefix?: string;
  /**
   * Longest message taken from Redis, in bytes of text. Default 512 KiB:
   * eight 64 KiB frames, since a frame the server re-encodes (numbers
   * written out in full) can be longer than the one it received.
   */
  maxMessageBytes?: number;
  /**
   * Most bytes of frames waiting for Redis to answer. Default 64 MiB: 10,000
   * peers that all start at once send some 15 MB of offers in a second
   * (measured in the bus benchmark, where 8 MiB refused frames).
   */
  maxPendingBytes?: number;
  /**
   * How long Redis may answer nothing while frames wait, in ms, before they
   * are given up. Default 5,000. It is the silence that counts, not a
   * frame's age: under load an instance reads answers late, though Redis
   * gave them in time.
   */
  sendTimeoutMs?: number;
  /** Where state changes are reported. Default `console.warn`. */
  log?: (message: string) => void;
}

/** A frame waiting for Redis's answer. */
interface Pending {
  bytes: number;
  at: number;
  resolve(took: boolean): void;
}

/** How long to wait before reconnect attempt `retries`: backoff with jitter. */
export function reconnectDelay(retries: number, random = Math.random): number {
  // Jitter spreads the instances of a deployment, so a restarted Redis is
  // not met by all of them in the same millisecond.
  return Math.min(100 * 2 ** retries, 3000) + Math.floor(random() * 250);
}

/** The URL with its password hidden, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.href;
  } catch {
    return "(unreadable URL)";
  }
}

/** Signaling frames between instances, over Redis pub/sub. */
export class RedisBus implements SignalBus {
  #publisher;
  #subscriber;
  #prefix: string;
  #maxMessageBytes: number;
  #maxPendingBytes: number;
  #sendTimeoutMs: number;
  #log: (message: string) => void;
  #receiver: BusReceiver = () => {};
  /** Peers this instance holds, to subscribe again after a reconnect. */
  #joined = new Set<string>();
  /** Subscriptions not yet confirmed, by peer id. */
  #joining = new Map<string, Promise<void>>();
  /** Frames waiting for Redis, oldest first (a Set keeps insertion order). */
  #pending = new Set<Pending>();
  #pendingBytes = 0;
  /** A frame waited past the deadline, and none has been taken in time since. */
  #stalled = false;
  /** A PING that asks a stalled Redis whether it answers again. */
  #probing = false;
  /** When Redis last answered a frame. */
  #answeredAt = 0;
  #dropped = 0;
  #reported: BusState | undefined;
  #timer: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(options: RedisBusOptions) {
    this.#prefix = options.prefix ?? "beam:peer:";
    this.#maxMessageBytes = options.maxMessageBytes ?? 512 * 1024;
    this.#maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.#sendTimeoutMs = options.sendTimeoutMs ?? 5000;
    this.#log = options.log ?? ((message) => console.warn(message));
    // Frames go out on a publisher of our own (resp_publisher.ts says
    // why); node-redis subscribes, and renews subscriptions by itself.
    this.#publisher = new RespPublisher(options.url, (ready, error) => {
      // A new connection: whatever stalled the old one is gone.
      if (ready) this.#stalled = false;
      this.#report(error);
    });
    this.#subscriber = createClient({
      url: options.url,
      // Subscriptions made while Redis is away wait for the reconnect.
      disableOfflineQueue: false,
      // node-redis gives each command a timer of its own by default; the
      // bus keeps one deadline for all (#expire).
      commandOptions: { timeout: 0 },
      socket: { reconnectStrategy: (retries) => reconnectDelay(retries) },
    });
    this.#subscriber.on("error", (error: Error) => this.#report(error));
    this.#subscriber.on("ready", () => this.#report());
    this.#subscriber.on("ready", () => this.#rejoin());
    this.#timer = setInterval(() => this.#expire(), 250);
  }

  /**
   * Connects both clients. Resolves once Redis answers; meanwhile (and if it
   * never does) the bus is `"down"` and keeps trying.
   */
  async connect(): Promise<void> {
    await Promise.all([
      this.#publisher.connect(reconnectDelay),
      this.#subscriber.connect(),
    ]);
  }

  get state(): BusState {
    return this.#publisher.isReady && this.#subscriber.isReady &&
        !this.#stalled
      ? "up"
      : "down";
  }

  get dropped(): number {
    return this.#dropped;
  }

  listen(receiver: BusReceiver): void {
    this.#receiver = receiver;
  }

  join(id: string): Promise<void> | undefined {
    this.#joined.add(id);
    const subscribed = this.#subscribe([id]);
    // While the bus is down no other instance can reach the peer anyway:
    // it is told its id at once, and #rejoin subscribes it on return.
    if (this.state !== "up") return undefined;
    this.#joining.set(id, subscribed);
    subscribed.finally(() => {
      if (this.#joining.get(id) === subscribed) this.#joining.delete(id);
    });
    // A Redis that does not answer must not keep a peer from its id: past
    // the deadline it is told anyway, and reachable on this instance.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#sendTimeoutMs);
    });
    return Promise.race([subscribed, deadline]).finally(() =>
      clearTimeout(timer)
    );
  }

  leave(id: string): void {
    this.#joined.delete(id);
    const unsubscribe = () => {
      // A peer that came back under the same id in the meantime keeps it.
      if (this.#joined.has(id) || this.#closed) return;
      this.#subscriber.unsubscribe(this.#prefix + id, this.#onMessage).catch(
        () => {
          // Redis is away: the subscription went with the connection, and
          // the reconnect subscribes only peers still held.
        },
      );
    };
    // Unsubscribing before the subscription is confirmed would leave it in
    // place once it is: wait for it first.
    const joining = this.#joining.get(id);
    if (joining === undefined) unsubscribe();
    else joining.then(unsubscribe);
  }

  send(to: string, frame: string): Promise<boolean> | boolean {
    if (this.state !== "up") return false;
    const bytes = frame.length;
    if (this.#pendingBytes + bytes > this.#maxPendingBytes) return false;
    const { promise, resolve } = Promise.withResolvers<boolean>();
    const pending: Pending = { bytes, at: Date.now(), resolve };
    this.#pending.add(pending);
    this.#pendingBytes += bytes;
    const sent = this.#publisher.send(
      ["PUBLISH", this.#prefix + to, frame],
      (reply) => {
        if (typeof reply === "number") {
          this.#stalled = false;
          this.#answeredAt = Date.now();
        }
        this.#settle(pending, typeof reply === "number" && reply > 0);
      },
    );
    if (!sent) this.#settle(pending, false);
    return promise;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearInterval(this.#timer);
    for (const pending of this.#pending) this.#settle(pending, false);
    this.#publisher.close();
    // Not node-redis's close(): while it reconnects, that promise can wait
    // on nothing at all. Subscriptions end with the connection anyway.
    this.#subscriber.destroy();
    return Promise.resolve();
  }

  #settle(pending: Pending, took: boolean): void {
    if (!this.#pending.delete(pending)) return;
    this.#pendingBytes -= pending.bytes;
    pending.resolve(took);
  }

  /**
   * Gives up the waiting frames (`peer not exists`) once Redis has answered
   * nothing for `sendTimeoutMs` while they wait, and probes a stalled Redis.
   */
  #expire(): void {
    const now = Date.now();
    const oldest = this.#pending.values().next().value;
    if (
      oldest !== undefined &&
      now - Math.max(oldest.at, this.#answeredAt) >= this.#sendTimeoutMs
    ) {
      this.#stalled = true;
      for (const pending of this.#pending) this.#settle(pending, false);
    }
    // While stalled no frame is sent, so none can show that Redis answers
    // again: a PING does.
    if (this.#stalled && !this.#probing && this.#publisher.isReady) {
      this.#probing = true;
      const asked = Date.now();
      const sent = this.#publisher.send(["PING"], (reply) => {
        if (reply === "PONG" && Date.now() - asked < this.#sendTimeoutMs) {
          this.#stalled = false;
        }
        this.#probing = false;
        this.#report();
      });
      if (!sent) this.#probing = false;
    }
    this.#report();
  }

  #subscribe(ids: string[]): Promise<void> {
    return this.#subscriber.subscribe(
      ids.map((id) => this.#prefix + id),
      this.#onMessage,
    ).then(
      () => {},
      (error: Error) => {
        // Lost with the connection: the reconnect subscribes again.
        if (!this.#closed) this.#report(error);
      },
    );
  }

  /** Subscribes every peer still held, after a (re)connect. */
  #rejoin(): void {
    // Subscriptions node-redis already renewed cost nothing here: it sends
    // a command only for channels it does not know.
    const ids = [...this.#joined];
    for (let i = 0; i < ids.length; i += 1000) {
      this.#subscribe(ids.slice(i, i + 1000));
    }
  }

  #onMessage = (message: string, channel: string): void => {
    const to = channel.slice(this.#prefix.length);
    if (message.length > this.#maxMessageBytes) {
      this.#dropped++;
      return;
    }
    let frame;
    try {
      frame = parseServerFrame(message);
    } catch {
      this.#dropped++;
      return;
    }
    // Only relayed client events (those with a sender) travel on the bus,
    // never a server's own.
    if (!("from" in frame)) {
      this.#dropped++;
      return;
    }
    this.#receiver(to, message, frame.event, frame.from);
  };

  /** Logs the state when it changed: once per outage, not per retry. */
  #report(error?: Error): void {
    if (this.#closed) return;
    const state = this.state;
    if (state === this.#reported) return;
    // While the two connections come up one after the other there is
    // nothing to report yet.
    if (
      state === "down" && this.#reported === undefined && !error &&
      !this.#stalled
    ) return;
    this.#reported = state;
    if (state === "up") this.#log("Beam's Redis bus is up.");
    else {
      const why = error?.message ??
        (this.#stalled
          ? "Redis did not take frames in time"
          : "not connected yet");
      this.#log(`Beam's Redis bus is down (${why}); retrying.`);
    }
  }
}
