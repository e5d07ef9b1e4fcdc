/**
 * The receiving page's whole flow, without the page: signaling (`request`,
 * `response`), the WebRTC connection (`offer`, `answer`, trickled
 * `candidate`s), the transfer into a sink, `progress` reports to the
 * sender, `retry` and reconnects that resume from the last written byte.
 * The island turns its status reports into signals; nothing here touches
 * the DOM.
 *
 * @module
 */

import { EVENT, isPeerId, type ServerFrame } from "../signal/protocol.ts";
import { SignalClient } from "../signal/client.ts";
import { ConnectError, type PeerConnectionFactory, PeerLink } from "./rtc.ts";
import { FileReceiver } from "./receiver.ts";
import { ChannelClosedError } from "./channel.ts";
import { type Manifest, parseManifest } from "./wire.ts";
import type { Sink } from "./sink.ts";
import { RateMeter, throttle } from "./rate.ts";
import {
  AuthError,
  deriveKeys,
  KEY_MISSING,
  type ShareKeys,
  signSdp,
  unseal,
  UNVERIFIED,
  verifySdp,
} from "./auth.ts";

/** Where a receive stands. */
export type ReceivePhase =
  | "connecting"
  | "ready"
  | "connecting-peer"
  | "receiving"
  | "retrying"
  | "reconnecting"
  | "done"
  | "failed";

/** A snapshot for the page. */
export interface ReceiveStatus {
  phase: ReceivePhase;
  /** Connection attempt, from 1. */
  attempt: number;
  /** Most attempts before giving up. */
  maxAttempts: number;
  /** Bytes written. */
  bytes: number;
  /** Bytes in the share. */
  total: number;
  /** Bytes per second, smoothed. */
  rate: number;
  /** Seconds left, `Infinity` when unknown. */
  secondsLeft: number;
  /** What went wrong, for people. */
  message?: string;
}

/** Options of a {@linkcode ReceiveSession}. */
export interface ReceiveSessionOptions {
  /** `ws(s)://…/api/signal`. */
  signalUrl: string;
  /** The sender's peer id, from the link. */
  senderId: string;
  /** The share secret, from the link's fragment (`""` when cut off). */
  secret: string;
  /** ICE servers for the peer connection. */
  iceServers: RTCIceServer[];
  /** How long one attempt may take to connect. Default 15 s. */
  connectTimeoutMs?: number;
  /** Attempts in a row without progress before giving up. Default 4. */
  maxAttempts?: number;
  /** Makes peer connections (tests wrap it). */
  createPeerConnection?: PeerConnectionFactory;
  /** Status reports, for the page. */
  onStatus?: (status: ReceiveStatus) => void;
}

/** Messages people see for the protocol's two errors. */
export const LINK_MALFORMED =
  "This link is malformed: check that it was copied whole.";
export const LINK_INACTIVE =
  "This link is no longer active: the sender closed the page or stopped sharing.";

class Interrupt extends Error {
  constructor(message: string, readonly fatal: boolean) {
    super(message);
    this.name = "Interrupt";
  }
}

/** One receive, from opening the link to the saved, verified files. */
export class ReceiveSession {
  #options: ReceiveSessionOptions;
  #signal: SignalClient | null = null;
  #offer: Manifest | null = null;
  #keys: ShareKeys | null = null;
  #link: PeerLink | null = null;
  #waiting:
    | { resolve(sealed: unknown): void; reject(error: Error): void }
    | null = null;
  #interrupt: ((error: Interrupt) => void) | null = null;
  #meter = new RateMeter();
  #status: ReceiveStatus;
  #closed = false;

  constructor(options: ReceiveSessionOptions) {
    this.#options = options;
    this.#status = {
      phase: "connecting",
      attempt: 0,
      maxAttempts: options.maxAttempts ?? 4,
      bytes: 0,
      total: 0,
      rate: 0,
      secondsLeft: Infinity,
    };
  }

  /** The latest status. */
  get status(): ReceiveStatus {
    return this.#status;
  }

  /**
   * Connects to signaling and asks the sender for its file list. Rejects
   * with a message for people: malformed link, inactive link, no server.
   */
  async open(): Promise<Manifest> {
    if (!isPeerId(this.#options.senderId)) {
      throw this.#fail(LINK_MALFORMED);
    }
    if (this.#options.secret !== "") {
      this.#keys = await deriveKeys(
        this.#options.secret,
        this.#options.senderId,
      );
    }
    try {
      this.#offer = await this.#request();
    } catch (error) {
      throw this.#fail((error as Error).message);
    }
    this.#update({ phase: "ready", total: sum(this.#offer) });
    return this.#offer;
  }

  /**
   * Receives every file into `sink`. Resolves when all are saved and
   * verified; rejects (status `failed`, with a message) otherwise.
   */
  async download(sink: Sink): Promise<void> {
    const offer = this.#offer;
    if (offer === null) {
      throw new TypeError("Cannot download: call open() first");
    }
    const max = this.#status.maxAttempts;
    const report = throttle((bytes: number) => {
      this.#signal?.send(EVENT.progress, this.#options.senderId, {
        bytes,
        total: sum(offer),
      });
    }, 250);
    // The page re-renders on each status (a render, a layout and a frame):
    // four times a second, like the sender's rows, not once per chunk.
    const show = throttle((bytes: number) => {
      this.#meter.sample(bytes, Date.now());
      this.#update({
        bytes,
        rate: this.#meter.rate,
        secondsLeft: this.#meter.secondsLeft(sum(offer)),
      });
    }, 250);
    const receiver = new FileReceiver(offer, sink, {
      onProgress: (bytes) => {
        report(bytes);
        show(bytes);
      },
    });
    let attempt = 0;
    for (;;) {
      attempt++;
      const before = receiver.position;
      this.#update({ phase: "connecting-peer", attempt });
      try {
        await this.#attempt(receiver);
        break;
      } catch (error) {
        this.#link?.close();
        this.#link = null;
        const err = error as Error;
        const retryable = err instanceof ConnectError ||
          err instanceof ChannelClosedError ||
          (err instanceof Interrupt && !err.fatal);
        if (!retryable) {
          await receiver.abort(err);
          throw this.#fail(err.message);
        }
        // Progress in the last attempt means the path works: count anew.
        if (receiver.position > before) attempt = 1;
        if (attempt >= max) {
          await receiver.abort(err);
          throw this.#fail(
            `Cannot connect to the sender after ${max} attempts: ${err.message}`,
          );
        }
        this.#update({
          phase: receiver.position > 0 ? "reconnecting" : "retrying",
          attempt: attempt + 1,
          message: err.message,
        });
        try {
          await this.#request();
        } catch (requestError) {
          await receiver.abort(requestError);
          throw this.#fail((requestError as Error).message);
        }
      }
    }
    report.flush();
    show.flush();
    this.#update({
      phase: "done",
      bytes: sum(offer),
      secondsLeft: 0,
      message: undefined,
    });
    // As the protocol says: done, so leave signaling. Give the last
    // data-channel messages a moment to go out before closing the peer.
    this.#signal?.close();
    this.#signal = null;
    const link = this.#link;
    this.#link = null;
    setTimeout(() => link?.close(), 1000);
  }

  /** Stops everything (the page is closing, or the person cancelled). */
  close(): void {
    this.#closed = true;
    this.#interrupt?.(new Interrupt("Cancelled", true));
    this.#link?.close();
    this.#signal?.close();
  }

  async #attempt(receiver: FileReceiver): Promise<void> {
    const { senderId, iceServers } = this.#options;
    const timeout = this.#options.connectTimeoutMs ?? 15_000;
    const interrupted = new Promise<never>((_, reject) => {
      this.#interrupt = reject;
    });
    interrupted.catch(() => {});
    const link = new PeerLink(
      iceServers,
      (candidate) => this.#signal?.send(EVENT.candidate, senderId, candidate),
      this.#options.createPeerConnection,
    );
    this.#link = link;
    const channel = link.pc.createDataChannel("beam", { ordered: true });
    const offer = await link.pc.createOffer();
    await link.pc.setLocalDescription(offer);
    const signal = this.#signal;
    if (signal === null || this.#keys === null) {
      throw new Interrupt(KEY_MISSING, true);
    }
    const mac = await signSdp(
      this.#keys,
      "offer",
      senderId,
      signal.id,
      offer.sdp!,
    );
    signal.send(EVENT.offer, senderId, { sdp: offer.sdp, mac });
    // The sender answers; #onFrame applies the answer and candidates.
    await Promise.race([link.waitOpen(channel, timeout + 5_000), interrupted]);
    this.#update({ phase: "receiving", message: undefined });
    // A network that vanished leaves the channel open for a long while;
    // close it when ICE gives up so the transfer resumes sooner.
    let lost: ReturnType<typeof setTimeout> | undefined;
    link.pc.onconnectionstatechange = () => {
      const state = link.pc.connectionState;
      clearTimeout(lost);
      if (state === "failed" || state === "closed") channel.close();
      else if (state === "disconnected") {
        lost = setTimeout(() => channel.close(), 4_000);
      }
    };
    try {
      await Promise.race([receiver.receive(channel), interrupted]);
    } finally {
      clearTimeout(lost);
      link.pc.onconnectionstatechange = null;
    }
  }

  /** Ensures signaling is up, sends `request` and waits for `response`. */
  async #request(): Promise<Manifest> {
    if (this.#closed) throw new Error("Cancelled");
    if (this.#signal === null || !this.#signal.open) {
      this.#signal = await SignalClient.connect(this.#options.signalUrl);
      this.#signal.listen((frame) => this.#onFrame(frame));
      this.#signal.onClose(() => {
        this.#interrupt?.(
          new Interrupt(
            "The connection to the signaling server dropped",
            false,
          ),
        );
      });
    }
    const response = new Promise<unknown>((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
    const timer = setTimeout(
      () =>
        this.#waiting?.reject(
          new Error("The sender did not answer: try the link again"),
        ),
      15_000,
    );
    this.#signal.send(EVENT.request, this.#options.senderId);
    let sealed: unknown;
    try {
      sealed = await response;
    } finally {
      clearTimeout(timer);
      this.#waiting = null;
    }
    try {
      if (this.#keys === null) throw new AuthError(KEY_MISSING);
      return parseManifest(await unseal(this.#keys, this.#signal.id, sealed));
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      // Without the key nothing here can be read or signed. Say so to the
      // sender too, which refuses and gives its reason in an `answer`.
      this.#signal.send(EVENT.offer, this.#options.senderId, {
        sdp: null,
        mac: null,
      });
      throw error;
    }
  }

  #onFrame(frame: ServerFrame): void {
    const sender = this.#options.senderId;
    switch (frame.event) {
      case EVENT.response:
        if (frame.from !== sender) return;
        this.#waiting?.resolve(frame.payload);
        return;
      case EVENT.invalidPeerId:
        this.#waiting?.reject(new Error(LINK_MALFORMED));
        this.#interrupt?.(new Interrupt(LINK_MALFORMED, true));
        return;
      case EVENT.peerNotExists:
        this.#waiting?.reject(new Error(LINK_INACTIVE));
        this.#interrupt?.(new Interrupt(LINK_INACTIVE, true));
        return;
      case EVENT.answer: {
        if (frame.from !== sender) return;
        const { sdp, mac, refused } = (frame.payload ?? {}) as {
          sdp?: unknown;
          mac?: unknown;
          refused?: unknown;
        };
        if (typeof refused === "string") {
          const message = `The sender refused: ${refused.slice(0, 200)}`;
          this.#interrupt?.(new Interrupt(message, true));
          return;
        }
        const link = this.#link;
        if (link === null || this.#keys === null || this.#signal === null) {
          return;
        }
        verifySdp(this.#keys, "answer", sender, this.#signal.id, sdp, mac).then(
          () =>
            link.setRemote({ type: "answer", sdp: sdp as string }).catch(() => {
              this.#interrupt?.(
                new Interrupt(
                  "The sender's connection details were unusable",
                  false,
                ),
              );
            }),
          () => {
            // Someone between the browsers changed the answer: refuse, and
            // tell the sender so both pages say it.
            this.#signal?.send(EVENT.progress, sender, { error: UNVERIFIED });
            this.#interrupt?.(new Interrupt(UNVERIFIED, true));
          },
        );
        return;
      }
      case EVENT.candidate:
        if (
          frame.from !== sender || typeof frame.payload !== "object" ||
          frame.payload === null
        ) {
          return;
        }
        this.#link?.addCandidate(frame.payload as RTCIceCandidateInit);
        return;
      case EVENT.retry:
        if (frame.from !== sender) return;
        this.#interrupt?.(
          new Interrupt(
            "The sender could not reach this browser; trying again",
            false,
          ),
        );
        return;
    }
  }

  #fail(message: string): Error {
    this.#update({ phase: "failed", message });
    this.#signal?.close();
    this.#signal = null;
    return new Error(message);
  }

  #update(change: Partial<ReceiveStatus>): void {
    this.#status = { ...this.#status, ...change };
    this.#options.onStatus?.(this.#status);
  }
}

function sum(offer: Manifest): number {
  return offer.files.reduce((n, f) => n + f.size, 0);
}
