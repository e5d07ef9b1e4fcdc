/**
 * The peer connection of one transfer attempt, behind a small interface
 * ({@linkcode Link}) that both sessions use: the receiver makes the data
 * channel and the offer, the sender answers, candidates trickle both ways
 * (remote ones held until the remote description is set), and the open
 * channel arrives as a promise. {@linkcode rtcLinks} makes them from the
 * browser's `RTCPeerConnection`; `fakes.ts` makes them in memory, so the
 * sessions are tested without a browser.
 *
 * Timeouts are not here: the session machines own them.
 *
 * @module
 */

import type { DataChannelLike } from "./channel.ts";
import { AuthError, fingerprints, UNVERIFIED } from "./auth.ts";

/** ICE's health once the channel is open, as the sessions act on it. */
export type IceHealth = "connected" | "disconnected" | "failed";

/** One peer connection for one attempt. */
export interface Link {
  /** Receiver: makes the data channel and the offer; returns the offer's SDP. */
  offer(): Promise<string>;
  /** Sender: takes the receiver's offer; returns the answer's SDP. */
  answer(offerSdp: string): Promise<string>;
  /** Receiver: applies the sender's answer. */
  accept(answerSdp: string): Promise<void>;
  /** Adds a remote candidate (held until the remote description is set). */
  addCandidate(candidate: RTCIceCandidateInit): void;
  /**
   * Resolves with the data channel once it is open; rejects with a
   * {@linkcode ConnectError} when the connection fails or closes first.
   */
  readonly opened: Promise<DataChannelLike>;
  /** The largest message the other side takes (0 when it does not say). */
  readonly maxMessageSize: number;
  /**
   * Once the channel is open: checks that the other side's DTLS certificate
   * is one the remote SDP (the signed one) names. Rejects with an
   * {@linkcode AuthError} when it is not; resolves when it is, or when the
   * browser cannot tell (no `RTCDtlsTransport.getRemoteCertificates()`).
   */
  verifyRemote(): Promise<void>;
  /** Calls `listener` as ICE's health changes after the channel opened. */
  onIce(listener: (health: IceHealth) => void): void;
  /** Closes the connection. */
  close(): void;
}

/** Makes a link; `onCandidate` sends a local candidate to the other side. */
export type LinkFactory = (
  onCandidate: (candidate: RTCIceCandidateInit) => void,
) => Link;

/** The connection did not come up; a new attempt may do better. */
export class ConnectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConnectError";
  }
}

/**
 * A link's `opened` promise and the function that settles it, once: the
 * first of "open", "failed" and "closed" wins. Its rejection is marked
 * handled, since a session that gives up before the channel opens never
 * awaits it.
 */
export function openedOnce<T extends DataChannelLike>(): [
  Promise<DataChannelLike>,
  (result: T | Error) => void,
] {
  let settle!: (result: T | Error) => void;
  const opened = new Promise<DataChannelLike>((resolve, reject) => {
    let settled = false;
    settle = (result) => {
      if (settled) return;
      settled = true;
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
  });
  opened.catch(() => {});
  return [opened, settle];
}

/** WebCrypto's names for the fingerprint hashes it can compute. */
const HASHES: Record<string, string> = {
  "sha-1": "SHA-1",
  "sha-256": "SHA-256",
  "sha-384": "SHA-384",
  "sha-512": "SHA-512",
};

/**
 * Whether a certificate (DER) is one that `sdp`'s fingerprint lines name.
 * A browser applied the SDP and made the connection, so this checks what
 * it did against what was signed, whatever its parser took from the text.
 */
export async function certificateMatches(
  certificate: ArrayBuffer,
  sdp: string,
): Promise<boolean> {
  for (const { algorithm, digest } of fingerprints(sdp)) {
    const hash = HASHES[algorithm];
    if (hash === undefined) continue;
    const actual = new Uint8Array(
      await crypto.subtle.digest(hash, certificate),
    );
    if (
      actual.length === digest.length &&
      actual.every((byte, i) => byte === digest[i])
    ) return true;
  }
  return false;
}

/** The message when the connection's certificate is not the signed one. */
export const CERTIFICATE_MISMATCH =
  `${UNVERIFIED}: the other browser's certificate is not the one its signed description names`;

/** Links over the browser's `RTCPeerConnection`. */
export function rtcLinks(iceServers: RTCIceServer[]): LinkFactory {
  return (onCandidate) => new RtcLink(iceServers, onCandidate);
}

/** How many early remote candidates to hold: a sane peer sends a few dozen. */
const MAX_PENDING_CANDIDATES = 200;

class RtcLink implements Link {
  readonly opened: Promise<DataChannelLike>;
  #pc: RTCPeerConnection;
  #pending: RTCIceCandidateInit[] = [];
  #remoteSet = false;
  #closed = false;
  #channel: RTCDataChannel | null = null;
  // The remote SDP as signed and given to the browser (its
  // remoteDescription is the browser's rewrite of it).
  #remoteSdp = "";
  #settle!: (channel: RTCDataChannel | Error) => void;

  constructor(
    iceServers: RTCIceServer[],
    onCandidate: (candidate: RTCIceCandidateInit) => void,
  ) {
    this.#pc = new RTCPeerConnection({ iceServers });
    this.#pc.onicecandidate = (event) => {
      if (event.candidate && !this.#closed) {
        onCandidate(event.candidate.toJSON());
      }
    };
    [this.opened, this.#settle] = openedOnce<RTCDataChannel>();
    const onState = () => {
      if (
        this.#pc.iceConnectionState === "failed" ||
        this.#pc.connectionState === "failed"
      ) {
        this.#settle(
          new ConnectError(
            "Cannot connect: no network path found (ICE failed)",
          ),
        );
      }
    };
    this.#pc.addEventListener("iceconnectionstatechange", onState);
    this.#pc.addEventListener("connectionstatechange", onState);
    // The sender's channel is the one the receiver made.
    this.#pc.ondatachannel = (event) => this.#watch(event.channel);
  }

  get maxMessageSize(): number {
    return this.#pc.sctp?.maxMessageSize ?? 0;
  }

  async offer(): Promise<string> {
    this.#watch(this.#pc.createDataChannel("beam", { ordered: true }));
    const offer = await this.#pc.createOffer();
    await this.#pc.setLocalDescription(offer);
    return offer.sdp!;
  }

  async answer(offerSdp: string): Promise<string> {
    await this.#setRemote({ type: "offer", sdp: offerSdp });
    const answer = await this.#pc.createAnswer();
    await this.#pc.setLocalDescription(answer);
    return answer.sdp!;
  }

  accept(answerSdp: string): Promise<void> {
    return this.#setRemote({ type: "answer", sdp: answerSdp });
  }

  addCandidate(candidate: RTCIceCandidateInit): void {
    if (this.#closed) return;
    if (!this.#remoteSet) {
      if (this.#pending.length < MAX_PENDING_CANDIDATES) {
        this.#pending.push(candidate);
      }
      return;
    }
    // A malformed or stale candidate only loses that path; ICE goes on.
    this.#pc.addIceCandidate(candidate).catch(() => {});
  }

  async verifyRemote(): Promise<void> {
    const transport = this.#pc.sctp?.transport as
      | (RTCDtlsTransport & { getRemoteCertificates?: () => ArrayBuffer[] })
      | undefined;
    // Chromium has it; a browser without it leaves the MAC over the whole
    // SDP as the only check, which it was before.
    if (typeof transport?.getRemoteCertificates !== "function") return;
    const [leaf] = transport.getRemoteCertificates();
    if (leaf === undefined) return;
    if (!await certificateMatches(leaf, this.#remoteSdp)) {
      throw new AuthError(CERTIFICATE_MISMATCH);
    }
  }

  onIce(listener: (health: IceHealth) => void): void {
    this.#pc.addEventListener("connectionstatechange", () => {
      const state = this.#pc.connectionState;
      if (state === "connected") listener("connected");
      else if (state === "disconnected") listener("disconnected");
      else if (state === "failed") listener("failed");
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pc.onicecandidate = null;
    this.#settle(new ConnectError("Cannot connect: the connection closed"));
    this.#channel?.close();
    this.#pc.close();
  }

  async #setRemote(description: RTCSessionDescriptionInit): Promise<void> {
    this.#remoteSdp = description.sdp ?? "";
    await this.#pc.setRemoteDescription(description);
    this.#remoteSet = true;
    const pending = this.#pending;
    this.#pending = [];
    for (const candidate of pending) this.addCandidate(candidate);
  }

  #watch(channel: RTCDataChannel): void {
    this.#channel = channel;
    if (channel.readyState === "open") this.#settle(channel);
    channel.addEventListener("open", () => this.#settle(channel));
    channel.addEventListener(
      "close",
      () =>
        this.#settle(new ConnectError("Cannot connect: the channel closed")),
    );
  }
}
