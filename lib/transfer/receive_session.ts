/**
 * The receiving page's session: runs the effects of the receive machine
 * (receive_machine.ts) and turns what happens into its events. Signaling
 * (`request`, `response`, `offer`, `answer`, `candidate`, `retry`,
 * `progress`), the peer connection, the transfer into a sink and the
 * timers all live here; every decision is the machine's. The island turns
 * status reports into signals; nothing here touches the DOM.
 *
 * Files may be added to the share while this page has its list: the
 * sender sends the longer list (docs/protocol.md, "Adding files"). A page
 * still choosing where to save takes it; one saving or done holds it
 * (`status.added`), and `downloadMore()` fetches only the added files.
 *
 * @module
 */

import { EVENT, isPeerId, type ServerFrame } from "../signal/protocol.ts";
import {
  connectReconnecting,
  type SignalConnector,
  type SignalPort,
} from "../signal/client.ts";
import type { Link, LinkFactory } from "./rtc.ts";
import type { FileReceiver } from "./receiver.ts";
import type { LaneGrowthOptions, ReceiveLanes } from "./lanes.ts";
import { parseLinkKey } from "./secret.ts";
import {
  CancelledError,
  ChannelClosedError,
  type DataChannelLike,
} from "./channel.ts";
import { encodeControl, type Manifest, RECEIVER_CANCELLED } from "./wire.ts";
import { decodeManifest, ManifestAssembler, sealProgress } from "./manifest.ts";
import type { FileMeta, Sink } from "./sink.ts";
import { RateMeter, throttle } from "./rate.ts";
import {
  AuthError,
  deriveKeys,
  KEY_MISSING,
  type ShareKeys,
  signSdp,
  unseal,
  verifyPayload,
  verifySdp,
} from "./auth.ts";
import { Driver, Timers } from "./machine.ts";
import { causeOf, describeError } from "./error_text.ts";
import { newSessionId, sealSessionId } from "./session_id.ts";
import {
  initialReceive,
  type ReceiveEffect,
  type ReceiveEvent,
  type ReceiveMachine,
  type ReceiveState,
  type ReceiveTimer,
  stepReceive,
} from "./receive_machine.ts";
import {
  ASK_AGAIN_MS,
  CONNECT_GRACE_MS,
  CONNECT_TIMEOUT_MS,
  ICE_GRACE_MS,
  LINGER_MS,
  MAX_ATTEMPTS,
  PROGRESS_INTERVAL_MS,
  REQUEST_TIMEOUT_MS,
  SENDER_AWAY_MS,
} from "./tuning.ts";

export {
  CANCELLED,
  DOWNLOAD_CANCELLED,
  LINK_DAMAGED,
  LINK_INACTIVE,
  LINK_MALFORMED,
  NO_ANSWER,
  SENDER_AWAY,
  STOPPED_BY_SENDER,
} from "./receive_machine.ts";

/** A snapshot for the page. */
export interface ReceiveStatus {
  phase: ReceiveState;
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
  /**
   * Files added to the share since this page's list, held for
   * `downloadMore()`: 0 when none.
   */
  added: number;
}

/** Options of a {@linkcode ReceiveSession}. */
export interface ReceiveSessionOptions {
  /** `ws(s)://…/api/signal`; or give `connectSignal`. */
  signalUrl?: string;
  /**
   * Opens signaling (default: a `ReconnectingSignal` to `signalUrl`, which
   * outlives a server restart with its id).
   */
  connectSignal?: SignalConnector;
  /** The sender's peer id, from the link. */
  senderId: string;
  /**
   * The link's key: its fragment without `#` (`<secret>.<keyId>`, see
   * secret.ts), `""` when cut off.
   */
  linkKey: string;
  /** ICE servers for the peer connection (with the default links). */
  iceServers?: RTCIceServer[];
  /** Makes peer connections (default: the browser's, with `iceServers`). */
  createLink?: LinkFactory;
  /**
   * Gives the link factory when a download starts, when `createLink` is not
   * given: a page loads its WebRTC code then, not with the page.
   */
  loadLinks?: () => Promise<LinkFactory>;
  /** The sender's connect timeout. Default `CONNECT_TIMEOUT_MS`. */
  connectTimeoutMs?: number;
  /**
   * How much longer than the sender this side waits for a connection, so
   * the sender's `retry` comes first. Default `CONNECT_GRACE_MS`.
   */
  connectGraceMs?: number;
  /** How long to wait for `response`. Default `REQUEST_TIMEOUT_MS`. */
  requestTimeoutMs?: number;
  /** Attempts in a row without progress before giving up. Default `MAX_ATTEMPTS`. */
  maxAttempts?: number;
  /** How long ICE may stay `disconnected`. Default `ICE_GRACE_MS`. */
  iceGraceMs?: number;
  /**
   * How long `peer not exists` is taken for a sender on its way back
   * before the link is called inactive. Default `SENDER_AWAY_MS`.
   */
  senderAwayMs?: number;
  /** Status reports, for the page. */
  onStatus?: (status: ReceiveStatus) => void;
  /**
   * The name shown on the sender's page. Default: a fresh `newNickname()`,
   * picked when the first download starts.
   */
  name?: string;
  /**
   * The session id (session_id.ts) this tab had before a reload, so the
   * sender takes this receive for the same receiver. Default: a fresh one.
   */
  sessionId?: string;
  /**
   * Called when this page's list changes after `open()`: the sender added
   * files (or text) before a download started.
   */
  onList?: (manifest: Manifest) => void;
  /**
   * The `beam:lanes` setting as stored (`null` when unset): the most
   * connections this receive may use, the first included (lanes.ts's
   * `lanesAllowed()`, loaded with the receiving code); "1" turns parallel
   * connections off. The sender's list may say fewer.
   */
  lanesSetting?: string | null;
  /** When to add connections (lanes.ts); for tests. */
  laneGrowth?: Partial<LaneGrowthOptions>;
}

type Waiter<T> = { resolve(value: T): void; reject(error: Error): void };

/** What each timer means when it fires. */
const TIMER_EVENTS: Record<ReceiveTimer, ReceiveEvent> = {
  answer: { type: "noAnswer" },
  ask: { type: "askAgain" },
  connect: { type: "connectTimeout" },
  ice: { type: "iceLost" },
};

/** One receive, from opening the link to the saved, verified files. */
export class ReceiveSession {
  #options: ReceiveSessionOptions;
  #driver: Driver<ReceiveMachine, ReceiveEvent, ReceiveEffect>;
  #timers = new Timers<ReceiveTimer>();
  #connectSignal: SignalConnector;
  /** Set by the time a download starts (`#linksFor()`). */
  #createLink: LinkFactory | null;
  #signal: SignalPort | null = null;
  #signalPending: Promise<SignalPort | null> | null = null;
  #keys: ShareKeys | null = null;
  // The id of the sender's signing key, from the link: what it signs
  // (the file list, each answer) must be signed by that key.
  #keyId = "";
  // The same for every offer of this receive, whatever peer id signaling
  // gives it: the sender tells by it that a receiver resuming under a new
  // id is this one, and drops this one's old row (session_id.ts).
  #sessionId: string;
  // What the sender's page calls this receiver, sent sealed with the
  // session id: one name for the whole receive, however many offers.
  // Picked when the first download starts: the sender sees a receiver
  // only once it offers, and a page that only shows the file list never
  // loads the word lists.
  #name: string | null;
  #manifest: Manifest | null = null;
  // A longer list than this page's, held while it saves or once it is
  // done (files were added to the share); `null` when there is none.
  #latest: Manifest | null = null;
  #pages = new ManifestAssembler();
  // Reports are sealed one after another and sent in order: the last one
  // (the whole share) must arrive last, and before signaling is left.
  #reports: Promise<void> = Promise.resolve();
  #receiver: FileReceiver | null = null;
  // Loaded with the receiving code: a page that only shows the list
  // never needs it.
  #Lanes: typeof ReceiveLanes | null = null;
  #lanes: ReceiveLanes | null = null;
  #maxLanes = 1;
  #eager = false;
  // The peer id this page's offer was signed for: parallel connections
  // are signed for it too.
  #offeredAs = "";
  #link: Link | null = null;
  #channel: DataChannelLike | null = null;
  // Bumped whenever a connection is given up, so that late events from it
  // (an answer, an open channel, a close) are dropped instead of acted on.
  #generation = 0;
  #meter = new RateMeter();
  #status: ReceiveStatus;
  #opening: Waiter<Manifest> | null = null;
  // When the server first said the sender is not connected, since the
  // sender was last heard from.
  #awaySince: number | null = null;
  #downloading: Waiter<void> | null = null;

  constructor(options: ReceiveSessionOptions) {
    this.#options = options;
    this.#name = options.name ?? null;
    this.#sessionId = options.sessionId ?? newSessionId();
    const url = options.signalUrl;
    // Reconnects by itself and keeps its id, so that a server restart
    // neither ends a transfer nor loses the sender's pair records for long.
    this.#connectSignal = options.connectSignal ??
      (() => connectReconnecting(url!));
    this.#createLink = options.createLink ?? null;
    const initial = initialReceive(options.maxAttempts ?? MAX_ATTEMPTS);
    this.#status = statusOf(initial, 0, Infinity, 0);
    this.#driver = new Driver(
      initial,
      stepReceive,
      (effect) => this.#run(effect),
      (machine) => this.#changed(machine),
    );
  }

  /**
   * The name this receiver goes by on the sender's page (nickname.ts), or
   * `null` before the first download, when it is picked.
   */
  get name(): string | null {
    return this.#name;
  }

  /** This receive's session id (session_id.ts), to keep across a reload. */
  get sessionId(): string {
    return this.#sessionId;
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
    if (this.#driver.state.name !== "idle") {
      throw new TypeError("Cannot open: the session was opened before");
    }
    const opened = new Promise<Manifest>((resolve, reject) => {
      this.#opening = { resolve, reject };
    });
    if (!isPeerId(this.#options.senderId)) {
      this.#driver.dispatch({ type: "badLink" });
      return opened;
    }
    // No key at all (the link was cut at #): ask anyway, so that the
    // sender hears it too and says why it refuses. A key that is there but
    // not one (cut short, mangled, a `%` escape, an old link) is damaged:
    // say so at once, rather than ask with a key that opens nothing.
    const key = parseLinkKey(this.#options.linkKey);
    if (key === null && this.#options.linkKey !== "") {
      this.#driver.dispatch({ type: "damagedLink" });
      return opened;
    }
    if (key !== null) {
      this.#keys = await deriveKeys(key.secret, this.#options.senderId);
      this.#keyId = key.keyId;
    }
    this.#driver.dispatch({ type: "open" });
    return opened;
  }

  /**
   * Receives every file into `sink`. Resolves when all are saved and
   * verified; rejects (status `failed`, with a message) otherwise.
   */
  async download(sink: Sink): Promise<void> {
    const manifest = this.#manifest;
    if (manifest === null || this.#driver.state.name !== "ready") {
      throw new TypeError("Cannot download: the file list is not ready");
    }
    // Loaded now, not with the page: a page that only shows the file list
    // never needs the receiving code (nor the hasher it loads).
    const [
      { FileReceiver, ReceiveLanes, lanesAllowed, lanesEager },
      createLink,
      {
        newNickname,
      },
    ] = await Promise.all([
      import("./receiving.ts"),
      this.#linkFactory(),
      import("./nickname.ts"),
    ]);
    this.#createLink = createLink;
    this.#Lanes = ReceiveLanes;
    const setting = this.#options.lanesSetting ?? null;
    this.#maxLanes = lanesAllowed(setting);
    this.#eager = lanesEager(setting);
    this.#name ??= newNickname();
    if (this.#driver.state.name !== "ready" || this.#downloading !== null) {
      throw new TypeError(
        "Cannot download: the transfer already started or was closed",
      );
    }
    return this.#begin(
      new FileReceiver(manifest, sink, {
        onProgress: this.#shower(manifest),
        onLane: (message) => this.#lanes?.onMessage(message),
      }),
      { type: "download" },
    );
  }

  /** The files added to the share since this page's list (`status.added`). */
  get addedFiles(): FileMeta[] {
    const held = this.#manifest;
    return held === null || this.#latest === null
      ? []
      : this.#latest.files.slice(held.files.length);
  }

  /**
   * Receives the files added to the share since this page's list into
   * `sink`, once every file of that list is saved (`status.added` says
   * how many). Resolves when they are saved and verified.
   */
  async downloadMore(sink: Sink): Promise<void> {
    const { FileReceiver } = await import("./receiver.ts");
    const held = this.#manifest;
    const latest = this.#latest;
    if (
      held === null || latest === null || this.#driver.state.name !== "done"
    ) {
      throw new TypeError("Cannot download more: no files were added");
    }
    // Only the added files: those of this page's list are saved already.
    return this.#begin(
      new FileReceiver(latest, sink, {
        from: held.files.length,
        onProgress: this.#shower(latest),
        onLane: (message) => this.#lanes?.onMessage(message),
      }),
      { type: "getMore", total: sumOf(latest) },
    );
  }

  /** Receives with `receiver` from `event` on; resolves when it is done. */
  #begin(receiver: FileReceiver, event: ReceiveEvent): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.#downloading = { resolve, reject };
    });
    this.#receiver = receiver;
    this.#driver.dispatch(event);
    return done;
  }

  /** Shows bytes written of `manifest`, a few times a second. */
  #shower(manifest: Manifest): (bytes: number) => void {
    const show = throttle(
      (bytes: number) => this.#driver.dispatch({ type: "progress", bytes }),
      PROGRESS_INTERVAL_MS,
    );
    const total = sumOf(manifest);
    return (bytes) => {
      this.#lanes?.sample(bytes);
      show(bytes);
      // The last byte moves the page to "verifying" at once.
      if (bytes >= total) show.flush();
    };
  }

  /** Stops everything: the page is closing. */
  close(): void {
    this.#driver.dispatch({ type: "cancel" });
  }

  /**
   * The person's Cancel during a transfer: what was saved is removed, the
   * sender is told, and the session is back to `ready`, where
   * {@linkcode download} can start again. The running `download()`
   * rejects. Does nothing when no transfer is under way.
   */
  cancel(): void {
    this.#driver.dispatch({ type: "cancelDownload" });
  }

  #dispatch(generation: number, event: ReceiveEvent): void {
    if (generation === this.#generation) this.#driver.dispatch(event);
  }

  #run(effect: ReceiveEffect): void {
    const senderId = this.#options.senderId;
    switch (effect.type) {
      case "request":
        this.#withSignal((signal) => signal.send(EVENT.request, senderId));
        return;
      case "startTimer":
        this.#timers.start(
          effect.timer,
          this.#timeout(effect.timer),
          () => {
            // A link that knows why it is not up (the relay refused) says
            // so instead of the timeout's "no route in time".
            const failure = effect.timer === "connect"
              ? this.#link?.failure
              : undefined;
            this.#driver.dispatch(
              failure !== undefined
                ? { type: "linkFailed", message: failure }
                : TIMER_EVENTS[effect.timer],
            );
          },
        );
        return;
      case "stopTimer":
        this.#timers.stop(effect.timer);
        return;
      case "connect":
        this.#connect();
        return;
      case "closeLink":
        this.#generation++;
        this.#closeLanes();
        this.#link?.close();
        this.#link = null;
        this.#channel = null;
        return;
      case "receive":
        this.#receive();
        return;
      case "report":
      case "tellSender": {
        // Sealed (manifest.ts): the server learns neither the share's size
        // nor the error, and cannot forge either.
        const keys = this.#keys;
        const signal = this.#signal;
        if (keys === null || signal === null) return;
        const report = effect.type === "report"
          ? { bytes: effect.bytes }
          : { error: effect.error };
        this.#reports = this.#reports
          .then(() => sealProgress(keys, senderId, signal.id, report))
          .then((sealed) => signal.send(EVENT.progress, senderId, sealed))
          // A report that cannot be sealed is only a report: the sender's
          // row then lags, and the transfer is unaffected.
          .catch(() => {});
        return;
      }
      case "tellCancel": {
        // On the data channel, which needs no server; the link closes a
        // moment later so that the `cancel` leaves first.
        const link = this.#link;
        if (this.#channel?.readyState === "open") {
          try {
            this.#channel.send(encodeControl({ t: "cancel" }));
          } catch {
            // Closing already: the sealed report below says it too.
          }
          this.#link = null;
          this.#channel = null;
          setTimeout(() => link?.close(), LINGER_MS);
        }
        // And through signaling: for a connection not open yet, or a
        // channel that closes before its last message leaves.
        this.#run({ type: "tellSender", error: RECEIVER_CANCELLED });
        return;
      }
      case "sayNoKey":
        // Without the key nothing here can be read or signed. Say so to the
        // sender, which refuses and shows why.
        this.#signal?.send(EVENT.offer, senderId, { sdp: null, mac: null });
        return;
      case "abort":
        // Removing partial files is best effort: the failure is already
        // shown, and a sink that cannot clean up has nothing more to say.
        this.#receiver?.abort(new Error(effect.message)).catch(() => {});
        return;
      case "finish": {
        this.#leave();
        // Give the last data-channel messages a moment before closing.
        const link = this.#link;
        this.#link = null;
        this.#generation++;
        setTimeout(() => link?.close(), LINGER_MS);
        return;
      }
      case "leave":
        this.#leave();
        return;
      case "adoptList":
        if (this.#latest !== null) {
          this.#manifest = this.#latest;
          this.#latest = null;
          this.#options.onList?.(this.#manifest);
        }
        return;
      case "holdList":
        // Kept in #latest, where #onResponse put it: the status says so.
        return;
    }
  }

  #timeout(timer: ReceiveTimer): number {
    const o = this.#options;
    if (timer === "answer") return o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    if (timer === "ask") return ASK_AGAIN_MS;
    if (timer === "connect") {
      return (o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS) +
        (o.connectGraceMs ?? CONNECT_GRACE_MS);
    }
    return o.iceGraceMs ?? ICE_GRACE_MS;
  }

  /** Runs `use` on an open signaling connection, connecting if needed. */
  #withSignal(use: (signal: SignalPort) => void): void {
    // Coming back by itself (ReconnectingSignal): what would be sent now
    // is dropped, and the timers that sent it send it again.
    if (this.#signal?.reconnecting) return;
    if (this.#signal?.open) {
      use(this.#signal);
      return;
    }
    this.#signalPending ??= this.#connectSignal().then(
      (signal) => {
        this.#signalPending = null;
        if (terminal(this.#driver.state.name)) {
          signal.close();
          return null;
        }
        this.#signal = signal;
        signal.listen((frame) => {
          if (this.#signal === signal) this.#onFrame(frame);
        });
        signal.onClose(() => {
          if (this.#signal !== signal) return;
          this.#signal = null;
          this.#driver.dispatch({ type: "signalLost" });
        });
        return signal;
      },
      (error: Error) => {
        this.#signalPending = null;
        this.#driver.dispatch({
          type: "signalFailed",
          message: describeError(error),
        });
        return null;
      },
    );
    this.#signalPending.then((signal) => signal && use(signal)).catch(
      (error: Error) =>
        this.#driver.dispatch({
          type: "signalFailed",
          message: describeError(error),
        }),
    );
  }

  #leave(): void {
    this.#timers.stopAll();
    const signal = this.#signal;
    this.#signal = null;
    this.#reports.then(() => signal?.close());
  }

  /** The link factory: given, loaded by the page, or the browser's. */
  async #linkFactory(): Promise<LinkFactory> {
    if (this.#createLink !== null) return this.#createLink;
    if (this.#options.loadLinks) return await this.#options.loadLinks();
    const { rtcLinks } = await import("./receiving.ts");
    return rtcLinks(this.#options.iceServers ?? []);
  }

  #connect(): void {
    this.#generation++;
    const generation = this.#generation;
    const senderId = this.#options.senderId;
    const link = this.#createLink!((candidate) =>
      this.#signal?.send(EVENT.candidate, senderId, candidate)
    );
    this.#link = link;
    link.opened.then(async (channel) => {
      if (generation !== this.#generation) return;
      // The browser may have taken more from the answer than was signed:
      // the certificate it connected to must be the signed one.
      try {
        await link.verifyRemote();
      } catch {
        this.#dispatch(generation, { type: "answerUnverified" });
        return;
      }
      if (generation !== this.#generation) return;
      this.#channel = channel;
      link.onIce((health) =>
        this.#dispatch(generation, {
          type: health === "connected"
            ? "iceRecovered"
            : health === "disconnected"
            ? "iceDisconnected"
            : "iceLost",
        })
      );
      this.#driver.dispatch({ type: "linkOpen" });
    }, (error: Error) =>
      this.#dispatch(generation, {
        type: "linkFailed",
        message: causeOf(error),
      }));
    link.offer().then((sdp) =>
      this.#withSignal((signal) => {
        if (generation !== this.#generation) return;
        Promise.all([
          signSdp(this.#keys!, "offer", senderId, signal.id, sdp),
          sealSessionId(
            this.#keys!,
            senderId,
            signal.id,
            this.#sessionId,
            this.#name ?? undefined,
          ),
        ]).then(([mac, session]) => {
          if (generation === this.#generation) {
            this.#offeredAs = signal.id;
            signal.send(EVENT.offer, senderId, { sdp, mac, session });
          }
        }, (error: Error) =>
          this.#dispatch(generation, {
            type: "linkFailed",
            message: `Cannot connect: ${causeOf(error)}`,
          }));
      })
    ).catch((error: Error) =>
      this.#dispatch(generation, {
        type: "linkFailed",
        message: `Cannot connect: ${causeOf(error)}`,
      })
    );
  }

  #receive(): void {
    const generation = this.#generation;
    const channel = this.#channel!;
    const receiver = this.#receiver!;
    const link = this.#link;
    const received = receiver.receive(channel);
    this.#closeLanes();
    const max = Math.min(
      this.#manifest?.lanes ?? 1,
      this.#maxLanes,
    );
    if (max > 1 && this.#Lanes !== null && this.#keys !== null) {
      this.#lanes = new this.#Lanes({
        createLink: this.#createLink!,
        keys: this.#keys,
        keyId: this.#keyId,
        senderId: this.#options.senderId,
        receiverId: this.#offeredAs,
        channel,
        receiver,
        max,
        total: receiver.total,
        growth: { eager: this.#eager, ...this.#options.laneGrowth },
        roundTrip: () => link?.roundTrip?.() ?? Promise.resolve(null),
      });
    }
    received.finally(() => {
      if (generation === this.#generation) this.#closeLanes();
    }).then(
      () => this.#dispatch(generation, { type: "received" }),
      (error: Error) =>
        this.#dispatch(
          generation,
          error instanceof ChannelClosedError
            ? { type: "channelClosed", message: causeOf(error) }
            : error instanceof CancelledError
            ? { type: "stopped" }
            : { type: "receiveFailed", message: describeError(error) },
        ),
    );
  }

  #closeLanes(): void {
    this.#lanes?.close();
    this.#lanes = null;
  }

  #onFrame(frame: ServerFrame): void {
    const sender = this.#options.senderId;
    switch (frame.event) {
      case EVENT.invalidPeerId:
        this.#driver.dispatch({ type: "badLink" });
        return;
      case EVENT.peerNotExists: {
        // The sender may be reconnecting (a server restart, a network
        // change): for a while this only means "not yet". Mid-transfer it
        // answers a `progress` after a restart lost the pair, which says
        // nothing of the sender: the data channel does.
        const name = this.#driver.state.name;
        if (name === "receiving" || name === "verifying") return;
        const now = Date.now();
        this.#awaySince ??= now;
        const grace = this.#options.senderAwayMs ?? SENDER_AWAY_MS;
        this.#driver.dispatch({
          type: now - this.#awaySince < grace ? "senderAway" : "peerGone",
        });
        return;
      }
    }
    if (!("from" in frame) || frame.from !== sender) return;
    this.#awaySince = null;
    switch (frame.event) {
      case EVENT.response:
        this.#onResponse(frame.payload);
        return;
      case EVENT.answer:
        this.#onAnswer(frame.payload);
        return;
      case EVENT.candidate:
        if (typeof frame.payload === "object" && frame.payload !== null) {
          this.#link?.addCandidate(frame.payload as RTCIceCandidateInit);
        }
        return;
      case EVENT.retry:
        this.#driver.dispatch({ type: "retry" });
        return;
    }
  }

  #onResponse(sealed: unknown): void {
    const signal = this.#signal;
    if (signal === null) return;
    const keys = this.#keys;
    // Signed by the sender's own key first: any holder of the link can
    // seal a list, only the sender can sign one.
    const opened = keys === null
      ? Promise.reject(new AuthError(KEY_MISSING))
      : verifyPayload(
        this.#keyId,
        EVENT.response,
        this.#options.senderId,
        signal.id,
        sealed,
      ).then(
        (payload) => unseal(keys, signal.id, payload),
        (error: Error) => Promise.reject(new UnsignedError(error.message)),
      );
    // The list comes in pages (manifest.ts), read once all are in.
    opened.then((page) => {
      const pages = this.#pages.add(page);
      return pages && decodeManifest(pages);
    }).then(async (manifest) => {
      if (manifest === null) return;
      const held = this.#latest ?? this.#manifest;
      // A list again (a retry, or files added): compared by the receiving
      // code, loaded by then, or now for a page on its ready screen.
      if (
        held !== null &&
        await import("./receiver.ts").then(
          ({ addsTo }) => addsTo(held, manifest),
          () => false,
        )
      ) {
        this.#latest = manifest;
        this.#driver.dispatch({ type: "listGrew", total: sumOf(manifest) });
      }
      this.#manifest ??= manifest;
      this.#driver.dispatch({ type: "manifest", total: sumOf(this.#manifest) });
    }, (error: Error) =>
      this.#driver.dispatch({
        type: "unreadable",
        reason: describeError(error),
        // A list the sender did not sign did not come from the sender:
        // there is nothing to tell it.
        tell: error instanceof AuthError && !(error instanceof UnsignedError),
      }));
  }

  #onAnswer(payload: unknown): void {
    const { sdp, mac, refused } = (payload ?? {}) as {
      sdp?: unknown;
      mac?: unknown;
      refused?: unknown;
    };
    if (typeof refused === "string") {
      this.#driver.dispatch({ type: "refused", reason: refused });
      return;
    }
    const link = this.#link;
    const signal = this.#signal;
    const generation = this.#generation;
    if (link === null || signal === null || this.#keys === null) return;
    const sender = this.#options.senderId;
    const keys = this.#keys;
    // The MAC shows the answer is from a holder of the link, the signature
    // that it is from the sender, not another receiver posing as it.
    verifyPayload(this.#keyId, EVENT.answer, sender, signal.id, payload).then(
      () => verifySdp(keys, "answer", sender, signal.id, sdp, mac),
    ).then(
      () =>
        link.accept(sdp as string).catch(() =>
          this.#dispatch(generation, {
            type: "linkFailed",
            message: "The sender's connection details were unusable",
          })
        ),
      // Someone between the browsers changed the answer or made it up:
      // refuse, and tell the sender so both pages say it.
      () => this.#dispatch(generation, { type: "answerUnverified" }),
    );
  }

  #changed(machine: ReceiveMachine): void {
    if (machine.bytes !== this.#status.bytes) {
      this.#meter.sample(machine.bytes, Date.now());
    }
    this.#status = statusOf(
      machine,
      machine.name === "receiving" ? this.#meter.rate : 0,
      machine.name === "done" ? 0 : this.#meter.secondsLeft(machine.total),
      this.#latest !== null && this.#manifest !== null
        ? this.#latest.files.length - this.#manifest.files.length
        : 0,
    );
    this.#options.onStatus?.(this.#status);
    if (machine.name === "ready") {
      this.#opening?.resolve(this.#manifest!);
      this.#opening = null;
      // Back from a cancelled download: that download is over.
      this.#downloading?.reject(new Error(machine.message));
      this.#downloading = null;
    } else if (machine.name === "done") {
      this.#downloading?.resolve();
      this.#downloading = null;
    } else if (machine.name === "failed") {
      const error = new Error(machine.message);
      this.#opening?.reject(error);
      this.#downloading?.reject(error);
      this.#opening = this.#downloading = null;
    }
  }
}

/** The file list was not signed by the sender's key. */
class UnsignedError extends AuthError {
  constructor(message: string) {
    super(message);
    this.name = "UnsignedError";
  }
}

function terminal(name: ReceiveState): boolean {
  return name === "done" || name === "failed";
}

function statusOf(
  machine: ReceiveMachine,
  rate: number,
  secondsLeft: number,
  added: number,
): ReceiveStatus {
  return {
    phase: machine.name,
    attempt: machine.attempt,
    maxAttempts: machine.maxAttempts,
    bytes: machine.bytes,
    total: machine.total,
    rate,
    secondsLeft,
    message: machine.message,
    added,
  };
}

function sumOf(manifest: Manifest): number {
  return manifest.files.reduce((n, f) => n + f.size, 0);
}
