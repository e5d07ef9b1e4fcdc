/**
 * In-memory stand-ins for the two things a transfer session talks to, so
 * the sessions run in tests without a browser or a server:
 *
 * - {@linkcode MemorySignal}: a signaling server with PROTOCOL.md's relay
 *   rules (ids, `from`, `invalid peer id`, `peer not exists`) that records
 *   every relayed frame and can drop a client or refuse connections;
 * - {@linkcode MemoryLinks}: peer connections whose data channels are
 *   {@linkcode MemoryChannel}s, whose SDP carries a DTLS fingerprint (so
 *   the MACs are real), and which can be told to fail or to never open;
 * - {@linkcode memoryFile} and {@linkcode MemoryFiles}: a file to send and
 *   a sink that keeps what it receives, with hooks to fail.
 *
 * @module
 */

import {
  type ClientEvent,
  EVENT,
  isPeerId,
  newPeerId,
  RECLAIM_EVENT,
  type ServerFrame,
} from "../signal/protocol.ts";
import {
  type CloseListener,
  type FrameListener,
  ReconnectingSignal,
  type SignalConnector,
  type SignalOpener,
  type SignalPort,
} from "../signal/client.ts";
import { channelPair, type MemoryChannel } from "./memory_channel.ts";
import {
  CERTIFICATE_MISMATCH,
  ConnectError,
  type IceHealth,
  type Link,
  openedOnce,
} from "./rtc.ts";
import { AuthError, fingerprints } from "./auth.ts";
import type { DataChannelLike } from "./channel.ts";
import type { SourceFile } from "./sender.ts";
import type { FileMeta, FileWriter, Sink } from "./sink.ts";

/** A frame the fake server relayed, as the server saw it. */
export interface RelayedFrame {
  event: ClientEvent;
  from: string;
  to: string;
  payload?: unknown;
}

/** An in-memory signaling server. */
export class MemorySignal {
  /** Every frame relayed to a connected peer, in order. */
  readonly relayed: RelayedFrame[] = [];
  /** When set, new connections are refused with this message. */
  refuse: string | null = null;
  /**
   * When set, rewrites each frame on its way (a meddling server): its
   * payload, and also whom it goes to and whom it says it is from.
   */
  tamper: ((frame: RelayedFrame) => RelayedFrame) | null = null;
  #clients = new Map<string, MemorySignalClient>();

  /** Connects a new client (what `SignalClient.connect` does in a page). */
  readonly connect: SignalConnector = () => {
    if (this.refuse !== null) {
      return Promise.reject(new Error(this.refuse));
    }
    const client = new MemorySignalClient(newPeerId(), this);
    this.#clients.set(client.id, client);
    return Promise.resolve(client);
  };

  /**
   * When set, reclaims (reconnects that take an id back) are refused with
   * this message, as by a server still down; new connections still pass.
   */
  refuseReclaims: string | null = null;

  /**
   * Opens a client that takes part in reclaim (docs/protocol.md,
   * "Reclaiming an id"): `""` gives a new id and a token after it; a token
   * of this fake (`token:<id>`) gives that id again when nobody holds it.
   */
  readonly open: SignalOpener = (reclaim) => {
    const refusal = this.refuse ??
      (reclaim === "" ? null : this.refuseReclaims);
    if (refusal !== null) return Promise.reject(new Error(refusal));
    const wanted = reclaim.startsWith("token:") ? reclaim.slice(6) : "";
    const id = isPeerId(wanted) && !this.#clients.has(wanted)
      ? wanted
      : newPeerId();
    const client = new MemorySignalClient(id, this);
    this.#clients.set(id, client);
    setTimeout(
      () => client.deliver({ event: RECLAIM_EVENT, token: `token:${id}` }),
      0,
    );
    return Promise.resolve(client);
  };

  /** Connects as the pages do: reconnecting by itself, with short waits. */
  readonly connectReconnecting: SignalConnector = () =>
    ReconnectingSignal.connect(this.open, { firstDelayMs: 5, maxDelayMs: 40 });

  /** Ids connected now. */
  get ids(): string[] {
    return [...this.#clients.keys()];
  }

  /** Drops a client as a broken network would (close code 1006). */
  drop(id: string): void {
    this.#clients.get(id)?.closed(1006, "");
  }

  /** Waits until a frame matching `match` has been relayed. */
  async waitFor(
    match: (frame: RelayedFrame) => boolean,
    what = "a frame",
  ): Promise<RelayedFrame> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = this.relayed.find(match);
      if (found) return found;
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for ${what}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** @internal A client left. */
  remove(id: string): void {
    this.#clients.delete(id);
  }

  /** @internal Relays as the server does, one task later. */
  relay(
    from: MemorySignalClient,
    event: ClientEvent,
    to: string,
    payload: unknown[],
  ): void {
    // A copy through JSON, as the wire makes one.
    const copied = payload.length === 0
      ? undefined
      : JSON.parse(JSON.stringify(payload[0]));
    setTimeout(() => {
      if (!isPeerId(to)) {
        from.deliver({ event: EVENT.invalidPeerId });
        return;
      }
      if (!this.#clients.has(to)) {
        from.deliver({ event: EVENT.peerNotExists });
        return;
      }
      let frame: RelayedFrame = { event, from: from.id, to, payload: copied };
      // A meddling server may also send a frame elsewhere, or say it came
      // from someone else.
      if (this.tamper !== null) frame = this.tamper(frame);
      const target = this.#clients.get(frame.to);
      if (target === undefined) return;
      this.relayed.push(frame);
      target.deliver(
        payload.length === 0
          ? { event: frame.event, from: frame.from }
          : { event: frame.event, from: frame.from, payload: frame.payload },
      );
    }, 0);
  }
}

class MemorySignalClient implements SignalPort {
  readonly id: string;
  #server: MemorySignal;
  #open = true;
  #listeners = new Set<FrameListener>();
  #closeListeners = new Set<CloseListener>();

  constructor(id: string, server: MemorySignal) {
    this.id = id;
    this.#server = server;
  }

  get open(): boolean {
    return this.#open;
  }

  send(event: ClientEvent, to: string, ...payload: [] | [unknown]): void {
    if (!this.#open) return;
    this.#server.relay(this, event, to, payload);
  }

  listen(listener: FrameListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onClose(listener: CloseListener): () => void {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  close(): void {
    this.closed(1000, "Done");
  }

  deliver(frame: ServerFrame): void {
    if (!this.#open) return;
    for (const listener of this.#listeners) listener(frame);
  }

  closed(code: number, reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    this.#server.remove(this.id);
    // A socket's close event comes a task later.
    setTimeout(() => {
      for (const listener of this.#closeListeners) listener(code, reason);
    }, 0);
  }
}

/** How a {@linkcode MemoryLinks} connection behaves. */
export type LinkFate = "open" | "fail" | "stall";

/** In-memory peer connections. */
export class MemoryLinks {
  /** Every link made, in order. */
  readonly links: MemoryLink[] = [];
  /** Fates for the next connections, used up in order; then `"open"`. */
  readonly fates: LinkFate[] = [];
  /** Bytes that cross a channel per timer tick. */
  bytesPerTick = 4 * 1024 * 1024;
  /**
   * When set, new links connect with a certificate other than the one
   * their SDP names (as if someone between had slipped in its own), which
   * `verifyRemote()` on the other side catches.
   */
  wrongCertificates = false;
  /** The same, for the links made once this many were made before them. */
  wrongCertificatesFrom = Infinity;
  /**
   * What every link says its round trip takes, in ms (`null`: unknown).
   * Short, as on loopback: the sessions add no parallel connection unless
   * a test asks for them.
   */
  roundTripMs: number | null = 1;

  /** A link factory for one side. */
  factory(): (onCandidate: (c: RTCIceCandidateInit) => void) => Link {
    return (onCandidate) => {
      const link = new MemoryLink(this, onCandidate);
      this.links.push(link);
      return link;
    };
  }

  /** @internal */
  find(token: string): MemoryLink | undefined {
    return this.links.find((link) => link.token === token);
  }
}

/** One in-memory peer connection. */
export class MemoryLink implements Link {
  readonly opened: Promise<DataChannelLike>;
  readonly maxMessageSize = 256 * 1024;
  /** Identifies this link in its SDP, so the other side finds it. */
  readonly token = crypto.randomUUID();
  /** Remote candidates added. */
  readonly candidates: RTCIceCandidateInit[] = [];
  /** This side's channel once made. */
  channel: MemoryChannel | null = null;
  closed = false;
  #links: MemoryLinks;
  #peer: MemoryLink | null = null;
  #ice = new Set<(health: IceHealth) => void>();
  #settle!: (result: MemoryChannel | Error) => void;
  #print = [...crypto.getRandomValues(new Uint8Array(32))]
    .map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
  /** The certificate's SHA-256 this side connects with. */
  #certificate: string;
  #remoteSdp = "";

  constructor(
    links: MemoryLinks,
    onCandidate: (candidate: RTCIceCandidateInit) => void,
  ) {
    this.#links = links;
    this.#certificate = links.wrongCertificates ||
        links.links.length >= links.wrongCertificatesFrom
      ? this.#print.replace(/^../, (b) => b === "00" ? "01" : "00")
      : this.#print;
    [this.opened, this.#settle] = openedOnce<MemoryChannel>();
    // One local candidate, as trickle ICE would send.
    setTimeout(() => {
      if (!this.closed) {
        onCandidate({ candidate: `candidate:${this.token}`, sdpMid: "0" });
      }
    }, 0);
  }

  /** The SDP this side would send. */
  get sdp(): string {
    return `v=0\r\na=fingerprint:sha-256 ${this.#print}\r\na=beam-link:${this.token}\r\n`;
  }

  offer(): Promise<string> {
    return Promise.resolve(this.sdp);
  }

  answer(offerSdp: string): Promise<string> {
    const peer = this.#links.find(tokenOf(offerSdp));
    if (peer === undefined) {
      return Promise.reject(new TypeError("Cannot answer: unknown offer"));
    }
    this.#peer = peer;
    this.#remoteSdp = offerSdp;
    return Promise.resolve(this.sdp);
  }

  accept(answerSdp: string): Promise<void> {
    const peer = this.#links.find(tokenOf(answerSdp));
    if (peer === undefined || peer.#peer !== this) {
      return Promise.reject(new TypeError("Cannot accept: unknown answer"));
    }
    this.#peer = peer;
    this.#remoteSdp = answerSdp;
    const fate = this.#links.fates.shift() ?? "open";
    setTimeout(() => {
      if (fate === "stall" || this.closed || peer.closed) return;
      if (fate === "fail") {
        const error = new ConnectError(
          "Cannot connect: no network path found (ICE failed)",
        );
        this.#settle(error);
        peer.#settle(error);
        return;
      }
      const [mine, theirs] = channelPair(this.#links.bytesPerTick);
      this.channel = mine;
      peer.channel = theirs;
      this.#settle(mine);
      peer.#settle(theirs);
    }, 0);
    return Promise.resolve();
  }

  addCandidate(candidate: RTCIceCandidateInit): void {
    this.candidates.push(candidate);
  }

  verifyRemote(): Promise<void> {
    const peer = this.#peer;
    const certificate = peer === null
      ? ""
      : peer.#certificate.replaceAll(":", "").toLowerCase();
    const named = fingerprints(this.#remoteSdp).some((print) =>
      print.algorithm === "sha-256" &&
      [...print.digest].map((b) => b.toString(16).padStart(2, "0")).join(
          "",
        ) === certificate
    );
    return named
      ? Promise.resolve()
      : Promise.reject(new AuthError(CERTIFICATE_MISMATCH));
  }

  onIce(listener: (health: IceHealth) => void): void {
    this.#ice.add(listener);
  }

  roundTrip(): Promise<number | null> {
    return Promise.resolve(this.#links.roundTripMs);
  }

  /** Reports ICE health to this side, as a network change would. */
  ice(health: IceHealth): void {
    for (const listener of this.#ice) listener(health);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#settle(new ConnectError("Cannot connect: the connection closed"));
    this.channel?.close();
  }
}

function tokenOf(sdp: string): string {
  return /a=beam-link:(\S+)/.exec(sdp)?.[1] ?? "";
}

/** A file to send, from bytes; `failAt` makes reads past that offset fail. */
export function memoryFile(
  name: string,
  bytes: Uint8Array<ArrayBuffer>,
  failAt = Infinity,
): SourceFile {
  return {
    name,
    size: bytes.byteLength,
    type: "application/octet-stream",
    lastModified: 0,
    slice: (start, end) => ({
      arrayBuffer: () =>
        end > failAt
          ? Promise.reject(new Error(`Cannot read ${name}: the file changed`))
          : Promise.resolve(bytes.slice(start, end).buffer),
    }),
  };
}

/** A sink that keeps every file's bytes, and says whether it was aborted. */
export class MemoryFiles implements Sink {
  readonly kind = "memory";
  readonly inMemory = true;
  /** Each file's bytes, by name. */
  readonly files = new Map<string, Uint8Array[]>();
  finished = false;
  aborted = false;
  /** Waits this long in each write (a slow disk). */
  writeDelayMs = 0;
  /** Bytes written, all files together. */
  written = 0;
  /** Called after each write with `written` (tests cut connections here). */
  onWrite: ((written: number) => void) | null = null;

  open(meta: FileMeta): Promise<FileWriter> {
    const parts: Uint8Array[] = [];
    this.files.set(meta.name, parts);
    return Promise.resolve({
      write: async (chunk) => {
        if (this.writeDelayMs > 0) {
          await new Promise((resolve) =>
            setTimeout(resolve, this.writeDelayMs)
          );
        }
        parts.push(chunk.slice());
        this.written += chunk.byteLength;
        this.onWrite?.(this.written);
      },
      close: () => Promise.resolve(),
      abort: () => {
        this.files.delete(meta.name);
        return Promise.resolve();
      },
    });
  }

  finish(): Promise<void> {
    this.finished = true;
    return Promise.resolve();
  }

  abort(): Promise<void> {
    this.aborted = true;
    return Promise.resolve();
  }

  /** File `name`'s bytes, joined. */
  bytes(name: string): Uint8Array {
    const parts = this.files.get(name) ?? [];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }
}
