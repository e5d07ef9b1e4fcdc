/**
 * The signaling server: accepts WebSocket upgrades on `/api/signal`, assigns
 * each socket an id, and relays frames between peers exactly as PROTOCOL.md
 * says. It never looks inside a payload.
 *
 * It is built to face the open internet:
 * - frames are capped in size, and each connection has a token-bucket rate
 *   limit (past it: close 1008);
 * - pair rules: `response`, `answer` and `retry` reach only a peer that sent
 *   the sender a `request`, `offer` and `progress` only a peer that was
 *   requested, `candidate` only a requested pair; anything else is answered
 *   `peer not exists`, so knowing an id is not enough to steer a transfer;
 * - upgrades are refused (503) past a total and a per-address cap set below
 *   the process's file-descriptor limit, and (403) from foreign origins;
 * - a peer whose outgoing queue passes a limit (it stopped reading) is
 *   dropped rather than buffered for, and dead sockets are found by the
 *   runtime's ping/pong heartbeat (`idleTimeout`).
 *
 * Several instances act as one server through a {@linkcode SignalBus}: a
 * frame whose target is not held here goes to the bus, which delivers it on
 * the instance that holds the target or says that none does. Every rule
 * holds across instances, because each is checked where the sender is
 * connected (its id, size, rate and pairs are all known there) and pair
 * records are kept by the instance of the peer they belong to.
 *
 * @module
 */

import {
  CLOSE,
  CLOSE_REPLACED,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  EVENT,
  FrameError,
  isPeerId,
  parseFrame,
  RECLAIM_EVENT,
  relayFrame,
} from "./protocol.ts";
import { PeerMap, type PeerSocket } from "./peer_map.ts";
import { LocalBus, type SignalBus } from "./bus.ts";
import { ReclaimKeys, TOKEN_REFRESH_SECONDS } from "./reclaim.ts";
import {
  FALLBACK_MAX_PEERS,
  HEARTBEAT_SECONDS,
  MAX_BUFFERED_BYTES,
  MAX_PEERS_PER_IP,
  originAllowed,
  RATE_BURST,
  RATE_PER_SECOND,
} from "../http/config.ts";

/** Options of a {@linkcode SignalServer}. */
export interface SignalServerOptions {
  /** Largest accepted frame in bytes. Default 64 KiB. */
  maxFrameBytes?: number;
  /**
   * Bytes that may still wait to be sent to one peer a turn of the event
   * loop after they were queued, before it is closed as a slow consumer.
   * Default 1 MiB: dozens of whole conversations.
   */
  maxBufferedBytes?: number;
  /**
   * The runtime's `idleTimeout`: a socket silent for half of this is pinged,
   * and closed if the other half passes with no pong, so a dead one goes
   * within this time. Default 25 s.
   */
  heartbeatSeconds?: number;
  /** Most connections at once; past it upgrades get 503. Default 10,000. */
  maxPeers?: number;
  /** Most connections from one client address. Default 100. */
  maxPeersPerIp?: number;
  /** Sustained frames per second per connection. Default 100. */
  ratePerSecond?: number;
  /** Frames a connection may send in a burst. Default 400. */
  rateBurst?: number;
  /**
   * Origins whose pages may connect (`Origin` header), or `["*"]`. Default:
   * only the server's own (same host as the request). Clients that send no
   * `Origin` (not browsers) are not limited by it.
   */
  allowedOrigins?: string[];
  /**
   * How to reach peers on other instances. Default: a {@linkcode LocalBus}
   * (a single instance).
   */
  bus?: SignalBus;
  /**
   * Whether a socket's address is a proxy of ours, whose
   * `X-Forwarded-For` is believed. Default: none is (the header is
   * ignored).
   */
  trustProxy?: (address: string) => boolean;
  /**
   * The key of reclaim tokens (`SIGNAL_SECRET`, reclaim.ts): the same on
   * every instance and across restarts, so an id outlives the process that
   * assigned it. Default: a random key of this server's own.
   */
  reclaimSecret?: string;
  /** How often opted-in clients get a fresh token, in ms. Default 30 s. */
  tokenRefreshMs?: number;
}

/**
 * What the server needs of a WebSocket: the runtime's (`Deno.upgradeWebSocket`)
 * or raw_socket.ts's, which refuses an oversized frame at its header and
 * says so with a `toobig` event, for the server to close it in its turn.
 */
export interface SignalSocket extends EventTarget {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Bytes queued for sending and not yet written out. */
  readonly bufferedAmount: number;
  /** Sends one text frame. */
  send(text: string): void;
  /** Closes with a code and a short reason. */
  close(code?: number, reason?: string): void;
}

/** Who asks for an upgrade, as `Deno.serve` tells it. */
export interface ClientInfo {
  remoteAddr?: { hostname?: string } | Deno.Addr;
}

const INVALID_PEER_ID = encodeFrame(EVENT.invalidPeerId);
const PEER_NOT_EXISTS = encodeFrame(EVENT.peerNotExists);

const OPEN = 1;
/**
 * Most pairs one peer keeps in each direction. Past it a new `request` is
 * refused, never an old pair forgotten: forgetting the oldest let 300
 * connections that each sent one `request` push a real receiver out of its
 * sender's pairs, so that the sender's `answer` to it was refused.
 */
export const MAX_PAIRS = 256;

/** Events a sender sends to a peer that requested from it. */
const TO_REQUESTER = new Set<string>([
  EVENT.response,
  EVENT.answer,
  EVENT.retry,
]);
/** Events a receiver sends to a peer it requested from. */
const TO_REQUESTED = new Set<string>([EVENT.offer, EVENT.progress]);
/**
 * For a frame that arrives from another instance, the event the receiving
 * peer would have to be allowed to send back along the same pair: a
 * `response` to it means it requested the sender, so may `offer` to it.
 */
const PAIRED_BACK: Record<string, string> = {
  [EVENT.response]: EVENT.offer,
  [EVENT.answer]: EVENT.offer,
  [EVENT.retry]: EVENT.offer,
  [EVENT.offer]: EVENT.response,
  [EVENT.progress]: EVENT.response,
};

/** One connection: its socket, id, rate bucket and pairs. */
class Peer implements PeerSocket {
  id = "";
  readonly socket: SignalSocket;
  readonly address: string;
  tokens: number;
  stamp: number;
  /** Peers this one sent `request` to (null until it does: most never do). */
  requested: Set<string> | null = null;
  /** Peers that sent `request` to this one. */
  requestedBy: Set<string> | null = null;
  /** Dropped: frames still arriving from it are ignored. */
  gone = false;
  /**
   * Answers to this peer that wait behind frames still on the bus, so it
   * hears them in the order it sent the frames they answer.
   */
  queue: Promise<void> | null = null;
  /** How many answers wait in `queue`. */
  queued = 0;
  /** Opted in to reclaim tokens (`?reclaim` on the upgrade). */
  reclaims = false;
  /** The id a valid token asked for, given at `open` instead of a new one. */
  claimed: string | null = null;

  constructor(socket: SignalSocket, address: string, burst: number) {
    this.socket = socket;
    this.address = address;
    this.tokens = burst;
    this.stamp = Date.now();
  }

  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  send(text: string): void {
    this.socket.send(text);
  }

  close(code: number, reason: string): void {
    this.socket.close(code, reason);
  }
}

/** Whether `id` can be added to `set` without passing {@linkcode MAX_PAIRS}. */
function hasRoom(set: Set<string> | null, id: string): boolean {
  return set === null || set.size < MAX_PAIRS || set.has(id);
}

/** Adds `id` to a pair set; the caller has checked {@linkcode hasRoom}. */
function addPair(set: Set<string> | null, id: string): Set<string> {
  return (set ?? new Set<string>()).add(id);
}

/** The client's address, without the IPv4-in-IPv6 prefix. */
export function clientAddress(info: ClientInfo | undefined): string {
  const addr = info?.remoteAddr as { hostname?: string } | undefined;
  return (addr?.hostname ?? "unknown").replace(/^::ffff:/, "");
}

/**
 * The bucket an address counts in for the per-address cap: an IPv4 address
 * as it is, an IPv6 address by its /64 prefix (written `a:b:c:d::/64`). One
 * IPv6 client is commonly given a whole /64, so counting its addresses one by
 * one would give it 2^64 caps. An IPv4 client on a dual-stack socket arrives
 * IPv4-mapped (`::ffff:1.2.3.4`): it counts as its IPv4 address, never as
 * the one /64 every such client shares. Anything that is not an address (say
 * `unknown`) is its own bucket.
 */
export function addressBucket(address: string): string {
  let text = address.trim();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  // A zone (`fe80::1%eth0`) names the local interface, not the client.
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  if (!text.includes(":")) return address;
  const groups = ipv6Groups(text.toLowerCase());
  if (groups === null) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6], groups[7]];
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** An IPv6 address's eight groups, or null when it is not one. */
function ipv6Groups(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parts = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const list = half.split(":");
    for (const [i, group] of list.entries()) {
      // An embedded IPv4 tail (`::ffff:1.2.3.4`) is the last two groups.
      if (group.includes(".") && i === list.length - 1) {
        const bytes = group.split(".");
        if (
          bytes.length !== 4 ||
          bytes.some((b) => !/^\d{1,3}$/.test(b) || Number(b) > 255)
        ) return null;
        const [a, b, c, d] = bytes.map(Number);
        out.push(a << 8 | b, c << 8 | d);
      } else if (/^[0-9a-f]{1,4}$/.test(group)) {
        out.push(parseInt(group, 16));
      } else return null;
    }
    return out;
  };
  const head = parts(halves[0]);
  const tail = halves.length === 2 ? parts(halves[1]) : [];
  if (head === null || tail === null) return null;
  // An IPv4 tail is only valid at the very end.
  if (halves.length === 2 && halves[0].includes(".")) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  return [...head, ...Array<number>(missing).fill(0), ...tail];
}

/**
 * The address a request came from, behind proxies: when the socket's own
 * address is a trusted proxy, `X-Forwarded-For` is read from the right (the
 * hop our proxy added) leftwards, past every trusted hop, and the first
 * untrusted one is the client. Hops further left were written by the client
 * itself and could say anything, so they are never taken.
 */
export function forwardedAddress(
  socketAddress: string,
  forwardedFor: string | null,
  trusted: (address: string) => boolean,
): string {
  if (forwardedFor === null || !trusted(socketAddress)) return socketAddress;
  const hops = forwardedFor.split(",").map((hop) =>
    hop.trim().replace(/^::ffff:/, "")
  ).filter((hop) => hop !== "");
  let address = socketAddress;
  for (let i = hops.length - 1; i >= 0; i--) {
    address = hops[i];
    if (!trusted(address)) break;
  }
  return address;
}

/** The signaling server's state and its WebSocket handling. */
export class SignalServer {
  #peers = new PeerMap<Peer>();
  /** Every socket accepted and not yet closed, with its peer. */
  #sockets = new Map<SignalSocket, Peer>();
  #perAddress = new Map<string, number>();
  /** Peers over `maxBufferedBytes`, to be looked at again next turn. */
  #checking = new Set<Peer>();
  #maxFrameBytes: number;
  #maxBufferedBytes: number;
  #heartbeatSeconds: number;
  #maxPeers: number;
  #maxPeersPerIp: number;
  #rate: number;
  #burst: number;
  #allowedOrigins: string[];
  #bus: SignalBus;
  #trustProxy: ((address: string) => boolean) | undefined;
  #keys: ReclaimKeys;
  /** Peers that opted in to tokens, refreshed on one timer for all. */
  #reclaiming = new Set<Peer>();
  #refreshTimer: ReturnType<typeof setInterval> | undefined;
  #refreshMs: number;

  constructor(options: SignalServerOptions = {}) {
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
    this.#heartbeatSeconds = options.heartbeatSeconds ?? HEARTBEAT_SECONDS;
    this.#maxPeers = options.maxPeers ?? FALLBACK_MAX_PEERS;
    this.#maxPeersPerIp = options.maxPeersPerIp ?? MAX_PEERS_PER_IP;
    this.#rate = (options.ratePerSecond ?? RATE_PER_SECOND) / 1000;
    this.#burst = options.rateBurst ?? RATE_BURST;
    this.#allowedOrigins = options.allowedOrigins ?? [];
    this.#keys = new ReclaimKeys(options.reclaimSecret);
    this.#refreshMs = options.tokenRefreshMs ?? TOKEN_REFRESH_SECONDS * 1000;
    this.#bus = options.bus ?? new LocalBus();
    this.#bus.listen(this.#fromBus);
    this.#trustProxy = options.trustProxy;
  }

  /** How many peers are connected to this instance. */
  get peerCount(): number {
    return this.#peers.size;
  }

  /** The bus to other instances. */
  get bus(): SignalBus {
    return this.#bus;
  }

  /**
   * Answers a request to the signaling endpoint: upgrades it to a WebSocket;
   * or `426` when it is not an upgrade, `403` from a foreign origin, `503`
   * past a connection cap, each with a one-line reason.
   */
  handle(request: Request, info?: ClientInfo): Response {
    const address = this.admit(request, clientAddress(info));
    if (address instanceof Response) return address;
    let upgraded;
    try {
      upgraded = Deno.upgradeWebSocket(request, {
        idleTimeout: this.#heartbeatSeconds,
      });
    } catch {
      // Not a whole handshake (no key, no `Connection: Upgrade`): it is not
      // an upgrade, so a 426, not a 500.
      return notUpgrade();
    }
    this.adopt(upgraded.socket, address, request.url);
    return upgraded.response;
  }

  /**
   * The checks of an upgrade before the handshake, for a transport that
   * makes the handshake itself (raw_socket.ts): the refusal (`426`, `403`,
   * `503`), or the bucket of the client's address to hand to
   * {@linkcode adopt}. `socketAddress` is the TCP peer's address.
   */
  admit(request: Request, socketAddress: string): Response | string {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return notUpgrade();
    }
    const origin = request.headers.get("origin");
    if (
      origin !== null && !originAllowed(origin, request, this.#allowedOrigins)
    ) {
      return refuse(
        403,
        `Forbidden: pages from ${origin.slice(0, 100)} may not connect`,
      );
    }
    if (this.#sockets.size >= this.#maxPeers) {
      return refuse(
        503,
        `Service Unavailable: the server is full (${this.#maxPeers} peers); try again later`,
        { "retry-after": "10" },
      );
    }
    const address = addressBucket(
      this.#trustProxy === undefined ? socketAddress : forwardedAddress(
        socketAddress,
        request.headers.get("x-forwarded-for"),
        this.#trustProxy,
      ),
    );
    if ((this.#perAddress.get(address) ?? 0) >= this.#maxPeersPerIp) {
      return refuse(
        503,
        `Service Unavailable: too many connections from your address (${this.#maxPeersPerIp})`,
        { "retry-after": "10" },
      );
    }
    return address;
  }

  /**
   * Takes a socket that {@linkcode admit} let in and that is upgraded (or
   * about to be: its `open` event makes it a peer), counting it against its
   * address until it closes. `url`, the upgrade's, may opt in to reclaim
   * tokens (`?reclaim`) or reclaim an id (`?reclaim=<token>`).
   */
  adopt(socket: SignalSocket, address: string, url?: string): void {
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1);
    const peer = new Peer(socket, address, this.#burst);
    const token = reclaimParam(url);
    if (token !== null) {
      peer.reclaims = true;
      // A token that does not verify (expired, another key) is no error:
      // the client gets a new id, and sees that it is not the old one.
      if (token !== "") peer.claimed = this.#keys.verify(token);
    }
    this.#attach(peer);
  }

  /** The largest frame accepted, in bytes. */
  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  /** The heartbeat, in seconds: a socket silent this long is closed. */
  get heartbeatSeconds(): number {
    return this.#heartbeatSeconds;
  }

  /** Closes every socket, as when the server stops. */
  closeAll(reason = "Server is shutting down"): void {
    for (const socket of this.#sockets.keys()) {
      try {
        socket.close(CLOSE.goingAway, reason);
      } catch {
        // Already closing: nothing left to do for it.
      }
    }
  }

  #attach(peer: Peer): void {
    const socket = peer.socket;
    this.#sockets.set(socket, peer);
    // The same listeners for every socket, which find their peer by
    // its socket: a closure or an `on...` handler per socket would cost
    // memory for each of thousands of idle peers. No error listener: an
    // error is always followed by a close, which cleans up.
    socket.addEventListener("open", this.#onOpen, { once: true });
    socket.addEventListener("message", this.#onMessage);
    socket.addEventListener("close", this.#onClose);
    // Only raw_socket.ts's sockets say this: a frame past the cap, refused
    // at its header.
    socket.addEventListener("toobig", this.#onTooBig);
  }

  #onTooBig = (event: Event): void => {
    const peer = this.#sockets.get(event.target as SignalSocket);
    if (peer === undefined || peer.gone) return;
    this.#drop(
      peer,
      CLOSE.tooBig,
      `Cannot accept frame: larger than ${this.#maxFrameBytes} bytes`,
    );
  };

  #onOpen = (event: Event): void => {
    const peer = this.#sockets.get(event.target as SignalSocket);
    if (peer === undefined) return;
    if (peer.claimed !== null) {
      // The token proves this client held the id: whoever holds it now is
      // the same page's old socket that has not closed yet (a half-open
      // TCP connection after a network change), so the new one wins.
      const stale = this.#peers.get(peer.claimed);
      if (stale !== undefined) {
        this.#drop(stale, CLOSE_REPLACED, "Replaced by a newer connection");
      }
      peer.id = this.#peers.claim(peer.claimed, peer) ? peer.claimed : "";
    }
    if (peer.id === "") peer.id = this.#peers.add(peer);
    const joined = this.#bus.join(peer.id);
    if (joined === undefined) this.#assign(peer);
    else joined.then(() => this.#assign(peer));
  };

  /**
   * Tells a peer its id, once other instances can reach it: an id someone
   * learns must never be answered `peer not exists` for lack of a
   * subscription. Frames the peer sends before this are handled as usual.
   */
  #assign(peer: Peer): void {
    if (peer.gone) return;
    this.#deliver(peer, encodeFrame(EVENT.assign, peer.id));
    if (peer.reclaims) {
      this.#sendToken(peer);
      this.#reclaiming.add(peer);
      this.#refreshTimer ??= setInterval(() => {
        for (const each of this.#reclaiming) this.#sendToken(each);
      }, this.#refreshMs);
    }
  }

  #sendToken(peer: Peer): void {
    this.#deliver(peer, encodeFrame(RECLAIM_EVENT, this.#keys.issue(peer.id)));
  }

  #onMessage = (event: Event): void => {
    const peer = this.#sockets.get(event.target as SignalSocket);
    if (peer !== undefined) this.#receive(peer, (event as MessageEvent).data);
  };

  #onClose = (event: Event): void => {
    const socket = event.target as SignalSocket;
    const peer = this.#sockets.get(socket);
    // A close can be reported twice (a close, then a broken pipe): the
    // first one took the socket out.
    if (peer === undefined) return;
    this.#sockets.delete(socket);
    const left = (this.#perAddress.get(peer.address) ?? 1) - 1;
    if (left > 0) this.#perAddress.set(peer.address, left);
    else this.#perAddress.delete(peer.address);
    this.#forget(peer);
  };

  #receive(peer: Peer, data: unknown): void {
    if (peer.gone || !this.#take(peer)) return;
    let frame;
    try {
      frame = parseFrame(data, this.#maxFrameBytes);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.#drop(peer, error.code, error.message);
      return;
    }
    const target = frame.target;
    // Looked up first: a peer found is a well-formed id, since ids are the
    // server's, so the id check runs only to tell a miss's two answers apart.
    const other = typeof target === "string"
      ? this.#peers.get(target)
      : undefined;
    if (other === peer || (other === undefined && !isPeerId(target))) {
      this.#answer(peer, INVALID_PEER_ID);
      return;
    }
    const to = target as string;
    const request = frame.event === EVENT.request;
    // A peer with all its pairs taken is refused a new one, as if the other
    // were not there: what it already has is never given up for it. The
    // target's side of a pair on another instance is checked there.
    if (
      request
        ? !hasRoom(peer.requested, to) ||
          (other !== undefined && !hasRoom(other.requestedBy, peer.id))
        : !this.#paired(peer, frame.event, to)
    ) {
      this.#answer(peer, PEER_NOT_EXISTS);
      return;
    }
    if (other !== undefined) {
      if (request) {
        peer.requested = addPair(peer.requested, to);
        other.requestedBy = addPair(other.requestedBy, peer.id);
      }
      this.#deliver(other, relayFrame(frame, peer.id));
      return;
    }
    // Not here: another instance may hold it. The request is recorded now,
    // so that frames the pair rules allow after it pass before the bus has
    // answered; the instance that holds the target records its side.
    if (request) peer.requested = addPair(peer.requested, to);
    const sent = this.#bus.send(to, relayFrame(frame, peer.id));
    if (sent === true) return;
    if (sent === false) {
      this.#unpair(peer, to);
      this.#answer(peer, PEER_NOT_EXISTS);
      return;
    }
    peer.queued++;
    peer.queue = (peer.queue ?? Promise.resolve()).then(async () => {
      if (!await sent) {
        this.#unpair(peer, to);
        // In its place in the queue: this is the queue's turn.
        this.#deliver(peer, PEER_NOT_EXISTS);
      }
      if (--peer.queued === 0) peer.queue = null;
    });
  }

  /** Ends a peer's pair with `to`, which no instance holds any more. */
  #unpair(peer: Peer, to: string): void {
    peer.requested?.delete(to);
    peer.requestedBy?.delete(to);
  }

  /**
   * Answers a peer's own frame: at once, or after the answers to its frames
   * still on the bus, so that answers keep the order of their frames.
   */
  #answer(peer: Peer, text: string): void {
    if (peer.queue === null) {
      this.#deliver(peer, text);
      return;
    }
    peer.queued++;
    peer.queue = peer.queue.then(() => {
      this.#deliver(peer, text);
      if (--peer.queued === 0) peer.queue = null;
    });
  }

  /** A frame another instance sent to one of this instance's peers. */
  #fromBus = (to: string, text: string, event: string, from: string): void => {
    const peer = this.#peers.get(to);
    // Left in the moment the frame was on its way: as for a local peer
    // that closed just after a frame was delivered to it.
    if (peer === undefined || peer.gone) return;
    if (from === to) {
      // Not a relayed frame, which never comes from its target: another
      // instance says that a pair of this peer has left (#tellLeft).
      const left = (JSON.parse(text) as unknown[])[2];
      if (typeof left === "string") {
        peer.requested?.delete(left);
        peer.requestedBy?.delete(left);
      }
      return;
    }
    if (event === EVENT.request) {
      // The bus has already told the sender's instance that the request was
      // taken, so a refusal here cannot come back as `peer not exists`: the
      // request is dropped, and the rule below keeps the pair it would have
      // made closed on this side.
      if (!hasRoom(peer.requestedBy, from)) return;
      peer.requestedBy = addPair(peer.requestedBy, from);
    } else if (!this.#paired(peer, PAIRED_BACK[event] ?? event, from)) {
      // The pair rules are checked where the sender is connected; they are
      // checked again here, against this side's records, so a pair this
      // side refused or forgot stays closed.
      return;
    }
    this.#deliver(peer, text);
  };

  /** Whether the pair rules let `peer` send `event` to `target`. */
  #paired(peer: Peer, event: string, target: string): boolean {
    if (event === EVENT.request) return true;
    if (TO_REQUESTER.has(event)) return peer.requestedBy?.has(target) ?? false;
    if (TO_REQUESTED.has(event)) return peer.requested?.has(target) ?? false;
    // candidate: either way within a requested pair.
    return (peer.requested?.has(target) || peer.requestedBy?.has(target)) ??
      false;
  }

  /** Takes a token from the peer's bucket; closes it when there is none. */
  #take(peer: Peer): boolean {
    const now = Date.now();
    peer.tokens = Math.min(
      this.#burst,
      peer.tokens + (now - peer.stamp) * this.#rate,
    );
    peer.stamp = now;
    if (peer.tokens >= 1) {
      peer.tokens -= 1;
      return true;
    }
    this.#drop(
      peer,
      CLOSE.policyViolation,
      `Closing: rate limit of ${
        Math.round(this.#rate * 1000)
      } frames per second exceeded`,
    );
    return false;
  }

  #deliver(peer: Peer, text: string): void {
    if (peer.socket.readyState !== OPEN) return;
    peer.send(text);
    // `bufferedAmount` also counts what this turn of the event loop queued,
    // which the runtime writes out only on the next: a burst to a peer that
    // reads looks like a backlog for a moment. A backlog still there a turn
    // later is a peer that does not read.
    if (
      peer.bufferedAmount > this.#maxBufferedBytes && !this.#checking.has(peer)
    ) {
      this.#checking.add(peer);
      setTimeout(() => {
        this.#checking.delete(peer);
        if (peer.bufferedAmount <= this.#maxBufferedBytes) return;
        this.#drop(
          peer,
          CLOSE.policyViolation,
          `Closing: peer is not reading, over ${this.#maxBufferedBytes} bytes wait for it`,
        );
      }, 0);
    }
  }

  /** Removes a peer from the map and from its pairs' records. */
  #forget(peer: Peer): void {
    peer.gone = true;
    if (this.#reclaiming.delete(peer) && this.#reclaiming.size === 0) {
      clearInterval(this.#refreshTimer);
      this.#refreshTimer = undefined;
    }
    if (!peer.id || !this.#peers.delete(peer.id, peer)) return;
    this.#bus.leave(peer.id);
    for (const id of peer.requested ?? []) {
      const other = this.#peers.get(id);
      if (other !== undefined) other.requestedBy?.delete(peer.id);
      else this.#tellLeft(id, peer.id);
    }
    for (const id of peer.requestedBy ?? []) {
      const other = this.#peers.get(id);
      if (other !== undefined) other.requested?.delete(peer.id);
      else if (!peer.requested?.has(id)) this.#tellLeft(id, peer.id);
    }
    peer.requested = peer.requestedBy = null;
  }

  /**
   * Tells the instance that holds `to` that `left`, one of its pairs, has
   * left, so that it frees the pair's place at once: pairs are never given
   * up for a new one, so a place held by a peer long gone would be lost.
   * Sent as a frame that relaying never makes, `candidate` from `to` to
   * itself (no client can send a frame to its own id), with the id that
   * left as its payload. A notice lost (the bus down) leaves the place
   * taken until `to` writes to the pair and no instance holds it.
   */
  #tellLeft(to: string, left: string): void {
    if (this.#bus.state === "local") return;
    const sent = this.#bus.send(
      to,
      JSON.stringify([EVENT.candidate, to, left]),
    );
    if (sent instanceof Promise) sent.catch(() => {});
  }

  /**
   * Closes a peer and forgets it at once, without waiting for its close.
   * Answers to its earlier frames that wait on the bus go out first, as
   * they would have on a single instance.
   */
  #drop(peer: Peer, code: number, reason: string): void {
    this.#forget(peer);
    const close = () => {
      try {
        peer.close(code, reason);
      } catch {
        // Already closing: it is forgotten, which is all that matters.
      }
    };
    if (peer.queue === null) close();
    else peer.queue = peer.queue.then(close);
  }
}

/**
 * The `reclaim` query parameter of an upgrade URL: `""` when present with no
 * token (opt in only), the token, or `null` when absent (the seed protocol).
 */
export function reclaimParam(url: string | undefined): string | null {
  if (url === undefined) return null;
  try {
    return new URL(url, "http://localhost").searchParams.get("reclaim");
  } catch {
    return null;
  }
}

/**
 * The `426` to a request that is no whole WebSocket handshake, with the
 * version spoken (RFC 6455 section 4.2.2); the raw front answers it too.
 */
export function notUpgrade(): Response {
  return refuse(426, "Upgrade Required: /api/signal speaks WebSocket only", {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-version": "13",
  });
}

function refuse(
  status: number,
  reason: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(`${status} ${reason}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}
