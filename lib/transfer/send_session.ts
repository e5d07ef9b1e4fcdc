/**
 * The sending page's whole flow, without the page: a signaling connection
 * whose id makes the share link, the file list for each `request`, one
 * peer connection per receiver (several at once), the transfer, the
 * receivers' `progress`, and `retry` when a connection cannot be made.
 *
 * @module
 */

import { ShareDigests } from "./hash.ts";
import { EVENT, type ServerFrame } from "../signal/protocol.ts";
import { SignalClient } from "../signal/client.ts";
import { ConnectError, type PeerConnectionFactory, PeerLink } from "./rtc.ts";
import {
  FileSender,
  metaOf,
  type SendOptions,
  type SourceFile,
} from "./sender.ts";
import { ChannelClosedError } from "./channel.ts";
import { encodeControl, type Manifest } from "./wire.ts";
import { RateMeter } from "./rate.ts";
import {
  AuthError,
  deriveKeys,
  KEY_MISSING,
  seal,
  type ShareKeys,
  signSdp,
  UNVERIFIED,
  verifySdp,
} from "./auth.ts";

/** Where one receiver stands, as the sender sees it. */
export type ReceiverPhase =
  | "waiting"
  | "connecting"
  | "sending"
  | "retrying"
  | "reconnecting"
  | "done"
  | "failed";

/** One receiver, for the page. */
export interface ReceiverView {
  /** The receiver's peer id. */
  id: string;
  phase: ReceiverPhase;
  /** Bytes the receiver reports written. */
  bytes: number;
  /** Bytes in the share. */
  total: number;
  /** Bytes per second. */
  rate: number;
  /** Seconds left. */
  secondsLeft: number;
  /** Connection attempt, from 1. */
  attempt: number;
  /** What went wrong. */
  message?: string;
}

/** Options of a {@linkcode SendSession}. */
export interface SendSessionOptions {
  /** `ws(s)://…/api/signal`. */
  signalUrl: string;
  /** The files to share. */
  files: SourceFile[];
  /** The share secret (the link's fragment); keys derive from it. */
  secret: string;
  /** ICE servers. */
  iceServers: RTCIceServer[];
  /** How long a connection may take before `retry`. Default 15 s. */
  connectTimeoutMs?: number;
  /** Transfer tuning. */
  sendOptions?: SendOptions;
  /** Makes peer connections (tests wrap it). */
  createPeerConnection?: PeerConnectionFactory;
  /** Called whenever any receiver changes. */
  onReceivers?: (receivers: ReceiverView[]) => void;
  /** Called when signaling drops: the link stops working. */
  onDisconnect?: (message: string) => void;
}

interface Peer {
  view: ReceiverView;
  link: PeerLink | null;
  meter: RateMeter;
  forget?: ReturnType<typeof setTimeout>;
}

/** One share: serves its files to everyone who opens the link. */
export class SendSession {
  #options: SendSessionOptions;
  #signal: SignalClient | null = null;
  #keys: ShareKeys | null = null;
  #peers = new Map<string, Peer>();
  #total: number;
  #stopped = false;
  #digests: ShareDigests | null = null;

  constructor(options: SendSessionOptions) {
    this.#options = options;
    this.#total = options.files.reduce((n, f) => n + f.size, 0);
  }

  /** Connects to signaling; resolves with this sender's peer id. */
  async start(): Promise<string> {
    // Hash every file once now, while the link is being passed on, instead
    // of once per receiver while sending.
    this.#digests ??= new ShareDigests(this.#options.files);
    const signal = await SignalClient.connect(this.#options.signalUrl);
    this.#keys = await deriveKeys(this.#options.secret, signal.id);
    this.#signal = signal;
    signal.listen((frame) => this.#onFrame(frame));
    signal.onClose((code, reason) => {
      if (this.#stopped) return;
      this.#options.onDisconnect?.(
        `The connection to the server dropped (${code}${
          reason ? `: ${reason}` : ""
        }); this link no longer works.`,
      );
    });
    return signal.id;
  }

  /** Whether a receiver is mid-transfer (warn before the page closes). */
  get busy(): boolean {
    for (const peer of this.#peers.values()) {
      if (["connecting", "sending", "reconnecting"].includes(peer.view.phase)) {
        return true;
      }
    }
    return false;
  }

  /** Stops sharing: every connection closes and the link stops working. */
  stop(): void {
    this.#stopped = true;
    this.#digests?.stop();
    const links = [...this.#peers.values()].map((peer) => peer.link);
    for (const peer of this.#peers.values()) {
      clearTimeout(peer.forget);
      if (peer.view.phase !== "done") {
        peer.view = { ...peer.view, phase: "failed", message: "Stopped" };
      }
    }
    // Leave signaling first and cut the connections once the server has
    // let the id go (or after a second): a receiver whose channel closes
    // asks again at once, and must hear `peer not exists` ("no longer
    // active"), not send its request into a page that stopped listening
    // and wait for an answer that never comes.
    const signal = this.#signal;
    this.#signal = null;
    let cut = false;
    const cutLinks = () => {
      if (cut) return;
      cut = true;
      clearTimeout(fallback);
      for (const link of links) link?.close();
    };
    const fallback = setTimeout(cutLinks, signal?.open ? 1000 : 0);
    if (signal?.open) {
      signal.onClose(cutLinks);
      signal.close();
    } else {
      signal?.close();
      cutLinks();
    }
    this.#publish();
  }

  #onFrame(frame: ServerFrame): void {
    if (this.#stopped || !("from" in frame)) return;
    const from = frame.from;
    switch (frame.event) {
      case EVENT.request: {
        const peer = this.#peer(from);
        const offer: Manifest = { files: this.#options.files.map(metaOf) };
        // Only the link's holders can read the file list: the server
        // relays ciphertext.
        seal(this.#keys!, from, offer).then((sealed) => {
          this.#signal?.send(EVENT.response, from, sealed);
        });
        if (peer.view.phase !== "done") this.#set(peer, { phase: "waiting" });
        return;
      }
      case EVENT.offer: {
        const { sdp, mac } = (frame.payload ?? {}) as {
          sdp?: unknown;
          mac?: unknown;
        };
        this.#verified(from, sdp, mac).then((ok) => {
          if (ok) return this.#connect(this.#peer(from), sdp as string);
        }).catch(() => {});
        return;
      }
      case EVENT.candidate: {
        if (typeof frame.payload !== "object" || frame.payload === null) return;
        this.#peers.get(from)?.link?.addCandidate(
          frame.payload as RTCIceCandidateInit,
        );
        return;
      }
      case EVENT.progress: {
        const peer = this.#peers.get(from);
        const report = (frame.payload ?? {}) as {
          bytes?: unknown;
          error?: unknown;
        };
        if (peer !== undefined && typeof report.error === "string") {
          // The receiver refused this connection (say, an answer whose MAC
          // failed): show its reason here too.
          peer.link?.close();
          peer.link = null;
          this.#set(peer, {
            phase: "failed",
            message: report.error.slice(0, 200),
          });
          return;
        }
        const bytes = report.bytes;
        if (peer === undefined || typeof bytes !== "number" || !(bytes >= 0)) {
          return;
        }
        const clamped = Math.min(bytes, this.#total);
        peer.meter.sample(clamped, Date.now());
        this.#set(peer, {
          bytes: clamped,
          rate: peer.meter.rate,
          secondsLeft: peer.meter.secondsLeft(this.#total),
        });
        return;
      }
    }
  }

  /**
   * Checks an offer's MAC over its DTLS fingerprints. A receiver that
   * cannot sign (no key in its link) or signs wrongly is refused and told
   * why in the `answer`, and no connection is made.
   */
  async #verified(from: string, sdp: unknown, mac: unknown): Promise<boolean> {
    const keys = this.#keys!;
    try {
      if (sdp === null && mac === null) throw new AuthError(KEY_MISSING);
      await verifySdp(keys, "offer", this.#signal!.id, from, sdp, mac);
      return true;
    } catch (error) {
      const reason = error instanceof AuthError && error.message === KEY_MISSING
        ? KEY_MISSING
        : UNVERIFIED;
      this.#signal?.send(EVENT.answer, from, { refused: reason });
      const peer = this.#peer(from);
      peer.link?.close();
      peer.link = null;
      this.#set(peer, { phase: "failed", message: `Refused: ${reason}` });
      return false;
    }
  }

  #peer(id: string): Peer {
    let peer = this.#peers.get(id);
    if (peer === undefined) {
      peer = {
        view: {
          id,
          phase: "waiting",
          bytes: 0,
          total: this.#total,
          rate: 0,
          secondsLeft: Infinity,
          attempt: 0,
        },
        link: null,
        meter: new RateMeter(),
      };
      this.#peers.set(id, peer);
    }
    clearTimeout(peer.forget);
    return peer;
  }

  async #connect(peer: Peer, sdp: string): Promise<void> {
    const id = peer.view.id;
    peer.link?.close();
    const link = new PeerLink(
      this.#options.iceServers,
      (candidate) => this.#signal?.send(EVENT.candidate, id, candidate),
      this.#options.createPeerConnection,
    );
    peer.link = link;
    this.#set(peer, {
      phase: "connecting",
      attempt: peer.view.attempt + 1,
      message: undefined,
    });
    const channelReady = new Promise<RTCDataChannel>((resolve) => {
      link.pc.ondatachannel = (event) => resolve(event.channel);
    });
    let channel: RTCDataChannel;
    try {
      await link.setRemote({ type: "offer", sdp });
      const answer = await link.pc.createAnswer();
      await link.pc.setLocalDescription(answer);
      const mac = await signSdp(
        this.#keys!,
        "answer",
        this.#signal!.id,
        id,
        answer.sdp!,
      );
      this.#signal?.send(EVENT.answer, id, { sdp: answer.sdp, mac });
      const timeout = this.#options.connectTimeoutMs ?? 15_000;
      channel = await withTimeout(channelReady, timeout);
      await link.waitOpen(channel, timeout);
    } catch (error) {
      if (peer.link !== link) return;
      link.close();
      peer.link = null;
      // The sender could not select a candidate pair: tell the receiver to
      // start again from `request` with a fresh connection.
      this.#set(peer, {
        phase: "retrying",
        message: error instanceof ConnectError
          ? error.message
          : "Cannot connect",
      });
      this.#signal?.send(EVENT.retry, id);
      this.#forgetLater(peer);
      return;
    }
    this.#set(peer, { phase: "sending" });
    // The largest message the peer takes (Chromium: 256 KiB) moves the
    // most per unit of per-message work (bench/README.md, Transfer).
    const maxMessage = link.pc.sctp?.maxMessageSize || 64 * 1024;
    const sender = new FileSender(
      channel,
      this.#options.files,
      {
        chunkSize: Math.min(256 * 1024, maxMessage),
        digest: (index) => this.#digests!.get(index),
        ...this.#options.sendOptions,
      },
    );
    try {
      await sender.run();
      this.#set(peer, { phase: "done", bytes: this.#total, secondsLeft: 0 });
    } catch (error) {
      if (peer.link !== link) return;
      if (error instanceof ChannelClosedError) {
        // The receiver resumes through `request` if it can.
        this.#set(peer, { phase: "reconnecting", message: error.message });
        this.#forgetLater(peer);
      } else {
        const message = (error as Error).message;
        if (channel.readyState === "open") {
          channel.send(encodeControl({ t: "error", message }));
        }
        this.#set(peer, { phase: "failed", message });
      }
    }
  }

  /** A receiver that does not come back within a minute has gone. */
  #forgetLater(peer: Peer): void {
    clearTimeout(peer.forget);
    peer.forget = setTimeout(() => {
      if (
        peer.view.phase === "reconnecting" || peer.view.phase === "retrying"
      ) {
        peer.link?.close();
        this.#set(peer, { phase: "failed", message: "The receiver left" });
      }
    }, 60_000);
  }

  #set(peer: Peer, change: Partial<ReceiverView>): void {
    peer.view = { ...peer.view, ...change };
    this.#publish();
  }

  #publish(): void {
    this.#options.onReceivers?.([...this.#peers.values()].map((p) => p.view));
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new ConnectError(
            "Cannot connect: no route between the browsers in time",
          ),
        ),
      ms,
    );
    promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    }, (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
