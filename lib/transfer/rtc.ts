/**
 * The peer connection of one transfer attempt, behind a small interface
 * ({@linkcode Link}) that both sessions use: the receiver makes the data
 * channel and the offer, the sender answers, candidates trickle both ways
 * (remote ones held until the remote description is set), and the open
 * channel arrives as a promise. {@linkcode rtcLinks} makes them from the
 * browser's `RTCPeerConnection`, configured by an {@linkcode IceSource}
 * (which may fetch short-lived TURN credentials from the server for each
 * connection); `fakes.ts` makes them in memory, so the sessions are tested
 * without a browser.
 *
 * A relay that refuses the page's credentials is told apart from other
 * failures by the connection's `icecandidateerror` events (Chromium and
 * Firefox both fire them; see docs/turn.md), so the page can say what to
 * do instead of "no path found".
 *
 * Timeouts are not here: the session machines own them.
 *
 * @module
 */

import type { DataChannelLike } from "./channel.ts";
import { holdMessages } from "./held_channel.ts";
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
  /**
   * Why the connection is not up yet, when the link knows more than a
   * timeout can say (the relay refused this page's credentials); the
   * sessions show it when their connect timeout fires. `undefined` when it
   * knows nothing more.
   */
  readonly failure?: string;
  /** Calls `listener` as ICE's health changes after the channel opened. */
  onIce(listener: (health: IceHealth) => void): void;
  /**
   * The round-trip time of the connection's selected candidate pair in
   * ms, once it is up, or `null` when the browser does not say.
   */
  roundTrip?(): Promise<number | null>;
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

/**
 * The message when the TURN relay refused this page's credentials (a
 * wrong `TURN_SECRET`, or a credential that expired): the one thing a
 * visitor can do is reload for new ones.
 */
export const RELAY_REFUSED =
  "The relay server refused this page's credentials. Reload the page and try again; if it keeps happening, the site's TURN settings are wrong.";

/** The message when no TURN relay answered and no other path worked. */
export const RELAY_UNREACHABLE =
  "The relay server could not be reached. Check your network connection and try again; if it keeps happening, the site's TURN settings are wrong.";

/** The message when ICE found no path between the browsers. */
export const ICE_FAILED = "Cannot connect: no network path found (ICE failed)";

/** The message when this browser gathered no candidate at all. */
export const NO_CANDIDATES =
  "Cannot connect: this browser found no network address to offer (no ICE candidates)";

/**
 * What the relay's answer to one `icecandidateerror` means, or `undefined`
 * for an error about a STUN server, or one that does not end the relay's
 * part. Codes: STUN's 401 (Unauthorized) and 403 (Forbidden), TURN's 441
 * (Wrong Credentials), and the WebRTC spec's 701 (server not reached).
 */
export function relayProblem(
  url: string,
  errorCode: number,
): "refused" | "unreachable" | undefined {
  if (!/^turns?:/i.test(url)) return undefined;
  if (errorCode === 401 || errorCode === 403 || errorCode === 441) {
    return "refused";
  }
  if (errorCode === 701) return "unreachable";
  return undefined;
}

/** What the server answers at the ICE endpoint (`GET /api/ice`). */
interface IceAnswer {
  iceServers: RTCIceServer[];
  ttl?: number;
}

/** Options of {@linkcode IceSource}. */
export interface IceSourceOptions {
  /**
   * The page's static servers (`ICE_SERVERS`): all of them without `url`,
   * and the fallback when fetching from `url` fails.
   */
  iceServers: RTCIceServer[];
  /**
   * Where fresh servers come from (`/api/ice`, which mints short-lived TURN
   * credentials), or `undefined` when the site has no relay and nothing is
   * fetched.
   */
  url?: string;
  /** `relay` forces every connection through the relay (tests). */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** Give up a fetch after this long and use `iceServers`. Default 5 s. */
  timeoutMs?: number;
  /** Where warnings go. Default `console.warn`. */
  warn?: (message: string) => void;
}

/**
 * Share of a credential's lifetime for which an answer is reused: a
 * connection made with it has most of the lifetime left, and TURN
 * allocations are refreshed with the credential they began with.
 */
const REUSE_FRACTION = 0.25;

/**
 * The ICE configuration of each new peer connection. With a `url` it is
 * fetched when a connection is made (not when the page loads, so a page
 * left open for a day still gets a valid credential), and reused for a
 * quarter of the credential's lifetime.
 */
export class IceSource {
  #options: IceSourceOptions;
  #cached: Promise<RTCIceServer[]> | null = null;
  #until = 0;

  constructor(options: IceSourceOptions) {
    this.#options = options;
  }

  /** The configuration for a new `RTCPeerConnection`. */
  async configuration(): Promise<RTCConfiguration> {
    const configuration: RTCConfiguration = {
      iceServers: await this.servers(),
    };
    const policy = this.#options.iceTransportPolicy;
    if (policy !== undefined) configuration.iceTransportPolicy = policy;
    return configuration;
  }

  /** The ICE servers for a new connection. */
  servers(): Promise<RTCIceServer[]> {
    const { url, iceServers } = this.#options;
    if (url === undefined) return Promise.resolve(iceServers);
    if (this.#cached === null || Date.now() >= this.#until) {
      this.#until = Infinity;
      this.#cached = this.#fetch(url);
    }
    return this.#cached;
  }

  /** Drops the kept answer: the relay refused its credential. */
  forget(): void {
    this.#cached = null;
  }

  async #fetch(url: string): Promise<RTCIceServer[]> {
    const { iceServers, timeoutMs = 5_000 } = this.#options;
    const warn = this.#options.warn ?? ((text) => console.warn(text));
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const response = await fetch(url, {
        signal: abort.signal,
        cache: "no-store",
        credentials: "same-origin",
      });
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`the server answered ${response.status}`);
      }
      const answer = await response.json() as IceAnswer;
      if (!Array.isArray(answer?.iceServers)) {
        throw new Error("the answer has no iceServers list");
      }
      this.#until = typeof answer.ttl === "number"
        ? Date.now() + answer.ttl * 1000 * REUSE_FRACTION
        : Infinity;
      return answer.iceServers;
    } catch (error) {
      // Not kept: the next connection asks again.
      this.#cached = null;
      warn(
        `Cannot fetch ICE servers from ${url}: ${
          (error as Error).message
        }. Connecting with the page's own list, without the relay.`,
      );
      return iceServers;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Links over the browser's `RTCPeerConnection`, configured from a list of
 * ICE servers or an {@linkcode IceSource}.
 */
export function rtcLinks(ice: RTCIceServer[] | IceSource): LinkFactory {
  const source = Array.isArray(ice) ? new IceSource({ iceServers: ice }) : ice;
  return (onCandidate) => new RtcLink(source, onCandidate);
}

/** How many early remote candidates to hold: a sane peer sends a few dozen. */
const MAX_PENDING_CANDIDATES = 200;

/** The parts of `icecandidateerror` read here (not in every DOM typing). */
interface IceErrorEvent extends Event {
  readonly url: string;
  readonly errorCode: number;
}

class RtcLink implements Link {
  readonly opened: Promise<DataChannelLike>;
  // Made once the configuration is in: it may be fetched.
  #pc: RTCPeerConnection | null = null;
  #ready: Promise<RTCPeerConnection>;
  #source: IceSource;
  #relayOnly = false;
  #relay: "refused" | "unreachable" | undefined;
  #candidates = 0;
  #pending: RTCIceCandidateInit[] = [];
  #remoteSet = false;
  #closed = false;
  #channel: RTCDataChannel | null = null;
  // The remote SDP as signed and given to the browser (its
  // remoteDescription is the browser's rewrite of it).
  #remoteSdp = "";
  #settle!: (channel: DataChannelLike | Error) => void;

  constructor(
    source: IceSource,
    onCandidate: (candidate: RTCIceCandidateInit) => void,
  ) {
    this.#source = source;
    [this.opened, this.#settle] = openedOnce<DataChannelLike>();
    this.#ready = source.configuration().then((configuration) => {
      if (this.#closed) {
        throw new ConnectError("Cannot connect: the connection closed");
      }
      this.#relayOnly = configuration.iceTransportPolicy === "relay";
      const pc = new RTCPeerConnection(configuration);
      this.#pc = pc;
      this.#listen(pc, onCandidate);
      return pc;
    });
    // A link closed before its connection was made has nothing to report.
    this.#ready.catch(() => {});
  }

  #listen(
    pc: RTCPeerConnection,
    onCandidate: (candidate: RTCIceCandidateInit) => void,
  ): void {
    pc.onicecandidate = (event) => {
      if (event.candidate && !this.#closed) {
        // Firefox ends gathering with an empty candidate before the null.
        if (event.candidate.candidate !== "") this.#candidates++;
        onCandidate(event.candidate.toJSON());
      }
    };
    pc.addEventListener("icecandidateerror", (event) => {
      const { url, errorCode } = event as IceErrorEvent;
      const problem = relayProblem(url ?? "", errorCode);
      if (problem === undefined) return;
      if (problem === "refused") {
        // Said once per connection in the console too: when another path
        // works the page shows nothing, and whoever runs the site should
        // still learn that its relay refuses.
        if (this.#relay !== "refused") {
          console.warn(`${url}: ${RELAY_REFUSED} (${errorCode})`);
        }
        this.#relay = "refused";
        // The next connection must not reuse the refused credential.
        this.#source.forget();
        // Forced through the relay, nothing else can work: say so now.
        if (this.#relayOnly) this.#settle(new ConnectError(RELAY_REFUSED));
      } else {
        this.#relay ??= "unreachable";
      }
    });
    pc.addEventListener("icegatheringstatechange", () => {
      // Without a single local candidate no pair can ever form.
      if (pc.iceGatheringState === "complete" && this.#candidates === 0) {
        this.#settle(new ConnectError(this.#failure(NO_CANDIDATES)));
      }
    });
    const onState = () => {
      if (
        pc.iceConnectionState === "failed" || pc.connectionState === "failed"
      ) {
        this.#settle(new ConnectError(this.#failure(ICE_FAILED)));
      }
    };
    pc.addEventListener("iceconnectionstatechange", onState);
    pc.addEventListener("connectionstatechange", onState);
    // The sender's channel is the one the receiver made.
    pc.ondatachannel = (event) => this.#watch(event.channel);
  }

  get failure(): string | undefined {
    return this.#relay === undefined ? undefined : this.#failure("");
  }

  /** Why the connection failed: the relay's refusal first, if any. */
  #failure(otherwise: string): string {
    if (this.#relay === "refused") return RELAY_REFUSED;
    if (this.#relay === "unreachable") return RELAY_UNREACHABLE;
    return otherwise;
  }

  get maxMessageSize(): number {
    return this.#pc?.sctp?.maxMessageSize ?? 0;
  }

  async offer(): Promise<string> {
    const pc = await this.#ready;
    this.#watch(pc.createDataChannel("beam", { ordered: true }));
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    return offer.sdp!;
  }

  async answer(offerSdp: string): Promise<string> {
    const pc = await this.#ready;
    await this.#setRemote({ type: "offer", sdp: offerSdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
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
    this.#pc?.addIceCandidate(candidate).catch(() => {});
  }

  async verifyRemote(): Promise<void> {
    const transport = this.#pc?.sctp?.transport as
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

  async roundTrip(): Promise<number | null> {
    const pc = this.#pc;
    if (pc === null) return null;
    let rtt: number | null = null;
    (await pc.getStats()).forEach((report) => {
      if (
        report.type === "candidate-pair" && report.nominated &&
        report.state === "succeeded" &&
        typeof report.currentRoundTripTime === "number"
      ) rtt = report.currentRoundTripTime * 1000;
    });
    return rtt;
  }

  onIce(listener: (health: IceHealth) => void): void {
    // Called once the channel is open, so the connection exists.
    const pc = this.#pc;
    pc?.addEventListener("connectionstatechange", () => {
      const state = pc.connectionState;
      if (state === "connected") listener("connected");
      else if (state === "disconnected") listener("disconnected");
      else if (state === "failed") listener("failed");
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#settle(new ConnectError("Cannot connect: the connection closed"));
    this.#channel?.close();
    if (this.#pc !== null) {
      this.#pc.onicecandidate = null;
      this.#pc.close();
    }
  }

  async #setRemote(description: RTCSessionDescriptionInit): Promise<void> {
    this.#remoteSdp = description.sdp ?? "";
    const pc = await this.#ready;
    await pc.setRemoteDescription(description);
    this.#remoteSet = true;
    const pending = this.#pending;
    this.#pending = [];
    for (const candidate of pending) this.addCandidate(candidate);
  }

  #watch(channel: RTCDataChannel): void {
    this.#channel = channel;
    // What the transfer reads, set before anything can arrive: a message
    // held for a listener (below) keeps the type it arrived as.
    channel.binaryType = "arraybuffer";
    // Each side listens only after verifyRemote(); what the other side
    // says meanwhile waits for it instead of being dropped.
    const held = holdMessages(channel);
    if (channel.readyState === "open") this.#settle(held);
    channel.addEventListener("open", () => this.#settle(held));
    channel.addEventListener(
      "close",
      () =>
        this.#settle(new ConnectError("Cannot connect: the channel closed")),
    );
  }
}
