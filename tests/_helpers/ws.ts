/**
 * Signaling servers for tests (one instance, the whole app, or a cluster
 * over Redis) and a browser-like client that queues what it receives.
 * Clients that misbehave or come in numbers use the raw client of
 * `ws_client.ts` instead, which the benchmark's load shares.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startServer } from "./server.ts";
import { isPeerId } from "../../lib/signal/protocol.ts";
import {
  SignalServer,
  type SignalServerOptions,
} from "../../lib/signal/server.ts";
import { RedisBus } from "../../lib/signal/redis_bus.ts";
import { startRedis, type TestRedis } from "./services.ts";
import { ConnectError, connectWebSocket } from "./ws_client.ts";

export const HOST = "127.0.0.1";
/** How long a test waits for a frame before it fails instead of hanging. */
export const FRAME_WAIT_MS = 10_000;

// Servers

/**
 * A running signaling service, seen from the signaling side: one instance,
 * or several that act as one over a bus.
 */
export interface Harness {
  /** The first instance's `ws://127.0.0.1:port/api/signal`. */
  url: string;
  /** Every instance's signaling URL. */
  urls: string[];
  /** The first instance's port. */
  port: number;
  /** The first instance's server. */
  signal: SignalServer;
  /** Peers connected to every instance together. */
  peerCount(): number;
  /**
   * Connects a client to the next instance in turn, so consecutive
   * clients land on different instances where there are several.
   */
  connect(): Promise<Peer>;
  /** Connects `n` clients, in turn across the instances. */
  connectAll(n: number): Promise<Peer[]>;
  /** Stops the service; every client must be closed first. */
  close(): Promise<void>;
}

/** A harness over some instances; `connect()` takes them in turn. */
function harness(
  instances: { url: string; port: number; signal: SignalServer }[],
  close: () => Promise<void>,
): Harness {
  let turn = 0;
  const connect = () => Peer.connect(instances[turn++ % instances.length].url);
  return {
    url: instances[0].url,
    urls: instances.map((i) => i.url),
    port: instances[0].port,
    signal: instances[0].signal,
    peerCount: () => instances.reduce((n, i) => n + i.signal.peerCount, 0),
    connect,
    // One at a time, so that the turns are the clients' order.
    async connectAll(n) {
      const peers: Peer[] = [];
      for (let i = 0; i < n; i++) peers.push(await connect());
      return peers;
    },
    close,
  };
}

/** The whole app, as `main.ts` builds it from `beam.gen.ts`. */
export async function startApp(): Promise<Harness> {
  const server = await startServer();
  return harness(
    [{ url: server.wsUrl, port: server.port, signal: server.app.state.signal }],
    () => server.close(),
  );
}

/** Serves a signaling server on a free loopback port. */
function serveSignal(signal: SignalServer) {
  const server = Deno.serve(
    { port: 0, hostname: HOST, onListen() {} },
    (request, info) => signal.handle(request, info),
  );
  return {
    url: `ws://${HOST}:${server.addr.port}/api/signal`,
    port: server.addr.port,
    signal,
    server,
  };
}

/** A bare signaling server with its own options, on a free port. */
export function startSignal(options: SignalServerOptions = {}): Harness {
  const instance = serveSignal(new SignalServer(options));
  return harness([instance], async () => {
    await instance.server.shutdown();
    await instance.server.finished;
  });
}

/** A cluster of signaling instances over one real Redis. */
export interface Cluster extends Harness {
  /** The Redis they share. */
  redis: TestRedis;
  /** Each instance's bus. */
  buses: RedisBus[];
}

/**
 * Starts a real `redis-server` and `instances` signaling servers (default
 * two), each with its own Redis bus and port: what several processes of a
 * deployment are, in one test process. They share nothing but Redis.
 */
export async function startCluster(
  options: SignalServerOptions = {},
  instances = 2,
): Promise<Cluster> {
  const redis = await startRedis();
  const buses = Array.from(
    { length: instances },
    () => new RedisBus({ url: redis.url, log: () => {} }),
  );
  try {
    await Promise.all(buses.map((bus) => bus.connect()));
  } catch (error) {
    await Promise.all(buses.map((bus) => bus.close()));
    await redis.stop();
    throw error;
  }
  const served = buses.map((bus) =>
    serveSignal(new SignalServer({ ...options, bus }))
  );
  const base = harness(served, async () => {
    for (const { server } of served) {
      await server.shutdown();
      await server.finished;
    }
    await Promise.all(buses.map((bus) => bus.close()));
    await redis.stop();
  });
  return { ...base, redis, buses };
}

/** A way to start the signaling service, and its name in test names. */
export interface Topology {
  /** Added to a test's name: empty for one instance. */
  suffix: string;
  /** Starts the service with these options. */
  start(options?: SignalServerOptions): Promise<Harness>;
}

/**
 * Every test written against a {@linkcode Topology} runs twice: against one
 * instance (the whole app, or a bare server when options are given), and
 * with consecutive clients split across two instances over Redis, where
 * every rule must hold just the same.
 */
export const TOPOLOGIES: Topology[] = [
  {
    suffix: "",
    start: (options) =>
      options === undefined
        ? startApp()
        : Promise.resolve(startSignal(options)),
  },
  {
    suffix: " (split across two instances over Redis)",
    start: (options) => startCluster(options),
  },
];

// A browser-like client

/** A WebSocket client that queues what it receives. */
export class Peer {
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

/** Closes peers and waits for every close. */
export async function closeAll(...peers: Peer[]): Promise<void> {
  await Promise.all(peers.map((peer) => peer.close()));
}

/** Waits for `promise`; fails after `ms` instead of hanging the test. */
export async function within<T>(promise: Promise<T>, ms: number, what: string) {
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
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until the server has forgotten every closed socket. */
export async function settle(server: Harness, peers: number): Promise<void> {
  await waitFor(
    () => server.peerCount() === peers,
    FRAME_WAIT_MS,
    `${peers} peers on the server`,
  );
}

/**
 * Sends a frame the server answers at once (`invalid peer id`) and reads up
 * to that answer: every frame sent before it has then been handled. Returns
 * the frames read on the way.
 */
export async function barrier(peer: Peer): Promise<unknown[][]> {
  peer.send(["request", 0]);
  const seen: unknown[][] = [];
  for (;;) {
    const frame = await peer.next();
    if (frame.length === 1 && frame[0] === "invalid peer id") return seen;
    seen.push(frame);
  }
}

/**
 * Makes `from` a requester of `to`, as the pair rules ask before anything
 * else may pass between them, and takes the request off `to`'s queue.
 */
export async function pair(from: Peer, to: Peer): Promise<void> {
  from.send(["request", to.id]);
  await expectFrame(to, ["request", from.id]);
}

/** Asserts that `peer` gets `frame` next. */
export async function expectFrame(peer: Peer, frame: unknown[]): Promise<void> {
  assert.deepEqual(await peer.next(), frame);
}

/** Asserts that the two peers still talk both ways. */
export async function assertTalking(a: Peer, b: Peer): Promise<void> {
  a.send(["request", b.id]);
  await expectFrame(b, ["request", a.id]);
  b.send(["response", a.id, { ok: true }]);
  await expectFrame(a, ["response", b.id, { ok: true }]);
}

/**
 * Sends a WebSocket upgrade with extra headers (an `Origin`, say) and
 * returns the status code and, for a refusal, the body that says why; the
 * connection is closed either way.
 */
export async function tryUpgrade(
  port: number,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  try {
    const socket = await connectWebSocket({ port, headers });
    await socket.close();
    return { status: 101, text: "" };
  } catch (error) {
    if (error instanceof ConnectError && error.status !== undefined) {
      return { status: error.status, text: error.body };
    }
    throw error;
  }
}
