/**
 * The sending page's session: a signaling connection whose id makes the
 * share link, and one send machine (send_machine.ts) per receiver, several
 * at once. This file runs the machines' effects (the sealed file list, the
 * signed answer, the peer connection, the transfer, `retry`) and turns
 * frames, connections and transfers into their events; every decision is
 * the machine's. A receiver that is done, failed or gone leaves the live
 * map; its row stays on the page (the last `FINISHED_ROWS`).
 *
 * Files may be added while sharing (`add()`): the link and its keys stay,
 * the list grows, and every receiver that has the list is sent the longer
 * one (docs/protocol.md, "Adding files").
 *
 * @module
 */

import { ShareDigests } from "./hash.ts";
import { EVENT, type ServerFrame } from "../signal/protocol.ts";
import {
  connectReconnecting,
  type SignalConnector,
  type SignalPort,
} from "../signal/client.ts";
import { type Link, type LinkFactory, rtcLinks } from "./rtc.ts";
import type { LinkKey } from "./secret.ts";
import {
  FileSender,
  listedMetaOf,
  type SendOptions,
  type SourceFile,
} from "./sender.ts";
import {
  CancelledError,
  ChannelClosedError,
  type DataChannelLike,
  flushed,
} from "./channel.ts";
import { encodeControl, RECEIVER_CANCELLED, SENDER_STOPPED } from "./wire.ts";
import {
  encodeManifest,
  type ManifestPage,
  openProgress,
  sealManifest,
} from "./manifest.ts";
import {
  RateMeter,
  StallWatch,
  TokenBucket,
  type TransferSample,
} from "./rate.ts";
import {
  AuthError,
  deriveKeys,
  KEY_MISSING,
  newSenderKeys,
  type Sealed,
  type SenderKeys,
  type ShareKeys,
  signPayload,
  signSdp,
  UNVERIFIED,
  verifySdp,
} from "./auth.ts";
import { Driver, Timers } from "./machine.ts";
import { SendLanes } from "./lanes.ts";
import { causeOf, describeError, failureText } from "./error_text.ts";
import { openSession } from "./session_id.ts";
import {
  initialSend,
  isReceiving,
  RECEIVER_LEFT,
  type SendEffect,
  type SendEvent,
  type SendMachine,
  type SendState,
  type SendTimer,
  stepSend,
} from "./send_machine.ts";
import {
  ACK_BYTES,
  ANSWER_BURST,
  ANSWERS_PER_SECOND,
  CHUNK_BYTES,
  CONNECT_TIMEOUT_MS,
  FALLBACK_CHUNK_BYTES,
  FINISHED_ROWS,
  ICE_GRACE_MS,
  LINGER_MS,
  MAX_LANES,
  MAX_WAITING,
  RECEIVER_GONE_MS,
  STALL_MS,
  STOP_NOTICE_MS,
} from "./tuning.ts";

export { RECEIVER_LEFT, STOPPED } from "./send_machine.ts";

/** One receiver, for the page. */
export interface ReceiverView {
  /** The receiver's peer id. */
  id: string;
  /**
   * The name the receiver goes by (nickname.ts), checked; absent for a
   * receiver that sent none (an older page) or a malformed one.
   */
  name?: string;
  phase: SendState;
  /** Bytes the receiver reports written. */
  bytes: number;
  /** Bytes in the share. */
  total: number;
  /** Bytes per second. */
  rate: number;
  /** Seconds left. */
  secondsLeft: number;
  /**
   * Peer connections carrying its files now, the first included (more
   * than one with parallel connections, lanes.ts); 1 when not sending.
   */
  connections: number;
  /** Connection attempt, from 1. */
  attempt: number;
  /** What went wrong. */
  message?: string;
  /**
   * Bytes are moving to it, or about to (`isReceiving`, send_machine.ts):
   * what keeps the screen awake and asks before the page closes.
   */
  receiving: boolean;
  /** Sending, but nothing moved for `STALL_MS` (speed and time left are 0). */
  stalled: boolean;
  /**
   * It stopped answering mid-transfer, or its connection closed: waiting
   * for it to come back (`resuming`), or given up on (`RECEIVER_LEFT`).
   */
  left: boolean;
  /** Why a failed receiver ended, when no one failed (send_machine.ts). */
  ended?: "cancelled" | "stopped";
}

/** Options of a {@linkcode SendSession}. */
export interface SendSessionOptions {
  /** `ws(s)://…/api/signal`; or give `connectSignal`. */
  signalUrl?: string;
  /**
   * Opens signaling (default: a `ReconnectingSignal` to
   * `signalUrl`, which comes back under the same id after a drop, so the
   * link keeps working).
   */
  connectSignal?: SignalConnector;
  /** The files to share (none when `text` is shared alone). */
  files: SourceFile[];
  /**
   * Text to share, shown on the receiving page (sealed in the manifest,
   * at most `MAX_TEXT_BYTES` in UTF-8, wire.ts).
   */
  text?: string;
  /** The share secret (secret.ts's `newSecret`); keys derive from it. */
  secret: string;
  /** ICE servers (with the default links). */
  iceServers?: RTCIceServer[];
  /** Makes peer connections (default: the browser's, with `iceServers`). */
  createLink?: LinkFactory;
  /** How long a connection may take before `retry`. Default `CONNECT_TIMEOUT_MS`. */
  connectTimeoutMs?: number;
  /** How long a broken receiver may take to come back. Default `RECEIVER_GONE_MS`. */
  goneTimeoutMs?: number;
  /** How long nothing may move before a transfer is stalled. Default `STALL_MS`. */
  stallMs?: number;
  /** How long ICE may stay `disconnected`. Default `ICE_GRACE_MS`. */
  iceGraceMs?: number;
  /** Transfer tuning. */
  sendOptions?: SendOptions;
  /**
   * Most connections one receiver may use, the first included (lanes.ts):
   * the `beam:lanes` setting. 1 turns parallel connections off. Default
   * `MAX_LANES`.
   */
  maxLanes?: number;
  /** Called whenever any receiver changes. */
  onReceivers?: (receivers: ReceiverView[]) => void;
  /**
   * Called when signaling is lost for good (a reconnect could not take the
   * id back): the link stops working.
   */
  onDisconnect?: (message: string) => void;
  /**
   * Called when signaling drops and is being brought back (`true`), and
   * when it is back under the same id (`false`): the link works again.
   */
  onReconnecting?: (reconnecting: boolean) => void;
}

/** A receiver being served. */
interface Live {
  driver: Driver<SendMachine, SendEvent, SendEffect>;
  timers: Timers<SendTimer>;
  link: Link | null;
  channel: DataChannelLike | null;
  // Bumped when a connection is given up: late events from it are dropped.
  generation: number;
  meter: RateMeter;
  /** Whether it has a row: only once it offered. */
  shown: boolean;
  /** What sends the files on the open channel, while it does. */
  sender: FileSender | null;
  /** Its parallel connections, while the files are sent. */
  lanes: SendLanes | null;
  /** Samples the transfer for stalls while it runs (see `#watch`). */
  watch: ReturnType<typeof setInterval> | undefined;
  /**
   * How many files the first list sent to it had: what a page that
   * predates adding files is sent, since its `start` names no `end`.
   */
  listed: number | null;
}

/** One share: serves its files to everyone who opens the link. */
export class SendSession {
  #options: SendSessionOptions;
  #createLink: LinkFactory;
  #signal: SignalPort | null = null;
  #keys: ShareKeys | null = null;
  // Signs what this page sends, so that receivers (who all hold the
  // secret) can tell the sender from one of them.
  #signer: SenderKeys | null = null;
  #live = new Map<string, Live>();
  // Every receiver's row for the page, live or finished, in arrival order.
  #rows = new Map<string, ReceiverView>();
  // Each receiver's session id (session_id.ts), by its peer id: a receiver
  // that comes back under a new peer id, after its signaling socket
  // dropped, is known by it, and keeps one row.
  #sessionIds = new Map<string, string>();
  // Each receiver's name (checked by openSession), by its peer id.
  #names = new Map<string, string>();
  // Receivers the person stopped (stopReceiver), by peer id and by session
  // id: one that comes back, under either, is refused, not served again.
  #stoppedPeers = new Set<string>();
  #stoppedSessions = new Set<string>();
  #total: number;
  // The share's files and text: they grow when files are added.
  #files: SourceFile[];
  #text: string;
  #stopped = false;
  /** Most connections per receiver, the first included. */
  #maxLanes: number;
  #digests: ShareDigests | null = null;
  // The file list, paged once per share, and sealed once per receiver for
  // as long as it is served: a flood of requests costs no encryption each.
  #pages: Promise<ManifestPage[]> | null = null;
  // How many frames one answer takes: known once the list is paged.
  #pageCount = 1;
  #sealed = new WeakMap<Live, Promise<Sealed[]>>();
  #answers = new TokenBucket(ANSWERS_PER_SECOND, ANSWER_BURST);
  // Lists sent again unasked once files are added, one receiver at a time
  // as the bucket allows: every receiver at once could pass the server's
  // rate limit, which closes this page's socket.
  #resends: (() => void)[] = [];
  #resending: ReturnType<typeof setTimeout> | null = null;

  constructor(options: SendSessionOptions) {
    this.#options = options;
    this.#maxLanes = Math.max(
      1,
      Math.min(options.maxLanes ?? MAX_LANES, MAX_LANES),
    );
    this.#createLink = options.createLink ??
      rtcLinks(options.iceServers ?? []);
    this.#files = options.files;
    this.#text = options.text ?? "";
    this.#total = sizeOf(options.files);
  }

  /** Connects to signaling; resolves with this sender's peer id. */
  async start(): Promise<string> {
    // A list too long to send is refused now, with what to do, not when
    // the first receiver asks; and before hashing files never to be sent.
    this.#pages ??= listOf(this.#files, this.#text, this.#maxLanes);
    this.#pageCount = (await this.#pages).length;
    // Hash every file once now, while the link is being passed on, instead
    // of once per receiver while sending.
    this.#digests ??= new ShareDigests(this.#files);
    const url = this.#options.signalUrl;
    const connect = this.#options.connectSignal ??
      (() => connectReconnecting(url!));
    this.#signer ??= await newSenderKeys();
    const signal = await connect();
    this.#keys = await deriveKeys(this.#options.secret, signal.id);
    this.#signal = signal;
    signal.listen((frame) => this.#onFrame(frame));
    signal.onState?.((state) => {
      if (!this.#stopped) {
        this.#options.onReconnecting?.(state === "reconnecting");
      }
    });
    signal.onClose((code, reason) => {
      if (this.#stopped) return;
      this.#options.onDisconnect?.(
        `The connection to the server dropped (${code}${
          reason ? `: ${reason}` : ""
        }); this link no longer works. Transfers under way go on; share again for a new link.`,
      );
    });
    return signal.id;
  }

  /** The link's key (secret.ts's `shareLink`), once started. */
  get linkKey(): LinkKey {
    if (this.#signer === null) {
      throw new TypeError("Cannot make the link: the session has not started");
    }
    return { secret: this.#options.secret, keyId: this.#signer.keyId };
  }

  /**
   * Whether a receiver is mid-transfer (warn before the page closes): not
   * one that left and may come back, which has nothing to lose meanwhile.
   */
  get busy(): boolean {
    for (const live of this.#live.values()) {
      if (isReceiving(live.driver.state.name)) return true;
    }
    return false;
  }

  /** Receivers being served now (done, failed and gone ones are dropped). */
  get liveCount(): number {
    return this.#live.size;
  }

  /**
   * Stops sending to receiver `id` only (its Stop button): it is told, its
   * connection closes, and it is refused if it comes back; the others go
   * on. Does nothing for a receiver that is not being served.
   */
  stopReceiver(id: string): void {
    const live = this.#live.get(id);
    if (live === undefined) return;
    this.#stoppedPeers.add(id);
    const session = this.#sessionIds.get(id);
    if (session !== undefined) this.#stoppedSessions.add(session);
    live.driver.dispatch({ type: "stopReceiver" });
  }

  /** Whether the share carries text (text can be added only once). */
  get hasText(): boolean {
    return this.#text !== "";
  }

  /**
   * Adds `files` (and `text`, when the share has none) to the share: the
   * link stays the same. A receiver opening it from now on gets every
   * file; one that has the list is sent the longer one, and fetches the
   * added files (a page that predates adding files keeps its list).
   * Rejects, changing nothing, with a message for people when the longer
   * list cannot be sent or the share already carries text.
   */
  async add(files: SourceFile[], text = ""): Promise<void> {
    if (this.#stopped || this.#pages === null) {
      throw new TypeError(
        "Cannot add files: the share has stopped or has not started",
      );
    }
    if (text !== "" && this.#text !== "") {
      throw new TypeError(TEXT_SHARED);
    }
    const all = [...this.#files, ...files];
    const shared = this.#text || text;
    // Checked before anything changes: a list too long to send leaves the
    // share as it was.
    const pages = await listOf(all, shared, this.#maxLanes);
    if (this.#stopped) return;
    // A new array: transfers under way keep the one they were given.
    this.#files = all;
    this.#text = shared;
    this.#total = sizeOf(all);
    this.#pages = Promise.resolve(pages);
    this.#pageCount = pages.length;
    this.#sealed = new WeakMap();
    this.#digests?.add(files);
    for (const live of [...this.#live.values()]) {
      live.driver.dispatch({ type: "listGrew", total: this.#total });
    }
  }

  /** Stops sharing: every connection closes and the link stops working. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#digests?.stop();
    clearTimeout(this.#resending ?? undefined);
    this.#resends = [];
    const lives = [...this.#live.values()];
    const links = lives.map((live) => live.link);
    const channels = lives.flatMap((live) => live.channel ?? []);
    for (const live of lives) {
      // No more file data: the notice that sharing ended (sent by the
      // machine's `stop`) is then the next thing each receiver reads.
      live.sender?.halt(new Error("Cannot send: sharing stopped"));
      // This method closes the connections, after the notice has left;
      // `forget` must not close them before.
      live.link = null;
      live.driver.dispatch({ type: "stop" });
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
      // A moment after the notice was handed on: the transport may still
      // hold it, and closing the connection drops what it holds.
      Promise.all(channels.map((c) => flushed(c, STOP_NOTICE_MS))).then(
        () =>
          setTimeout(
            () => links.forEach((link) => link?.close()),
            channels.length > 0 ? LINGER_MS : 0,
          ),
      );
    };
    const fallback = setTimeout(cutLinks, signal?.open ? LINGER_MS : 0);
    if (signal?.open) {
      signal.onClose(cutLinks);
      signal.close();
    } else {
      signal?.close();
      cutLinks();
    }
  }

  #onFrame(frame: ServerFrame): void {
    if (this.#stopped || !("from" in frame)) return;
    const from = frame.from;
    switch (frame.event) {
      case EVENT.request: {
        // Anyone who knows the sender's id can ask, without the key. So the
        // answers are paced (each is a frame against this page's own rate
        // limit at the server, which closes a page that floods), and at
        // most MAX_WAITING receivers that asked but have not offered are
        // held: past it the oldest is forgotten. A real receiver is not
        // hurt by that: its offer carries the key and is served anyway.
        if (!this.#answers.take(Date.now(), this.#pageCount)) return;
        let live = this.#live.get(from);
        if (live === undefined) {
          this.#forgetOldestWaiting();
          live = this.#serve(from);
        }
        live.driver.dispatch({ type: "request" });
        return;
      }
      case EVENT.offer:
        this.#onOffer(from, frame.payload);
        return;
      case EVENT.candidate:
        if (typeof frame.payload === "object" && frame.payload !== null) {
          this.#live.get(from)?.link?.addCandidate(
            frame.payload as RTCIceCandidateInit,
          );
        }
        return;
      case EVENT.progress: {
        const live = this.#live.get(from);
        const signal = this.#signal;
        if (live === undefined || signal === null) return;
        // Sealed by the receiver for this pair (manifest.ts); one that does
        // not open was not sent by this receiver, and is ignored.
        openProgress(this.#keys!, signal.id, from, frame.payload).then(
          (report) => {
            // The receiver refused this connection (say, an answer whose
            // MAC failed): show its reason here too (a fixed text, see
            // receiverErrorText). Its byte counts are not used: the row
            // shows what the receiver acknowledged over the data channel,
            // which no one between the browsers can forge.
            if ("error" in report && this.#live.get(from) === live) {
              live.driver.dispatch(
                report.error === RECEIVER_CANCELLED
                  ? { type: "cancelled" }
                  : { type: "receiverError", message: report.error },
              );
            }
          },
          () => {},
        );
        return;
      }
    }
  }

  /**
   * Checks an offer's MAC over its DTLS fingerprints. A receiver that
   * cannot sign (no key in its link) or signs wrongly is refused and told
   * why in the `answer`, and no connection is made.
   */
  #onOffer(from: string, payload: unknown): void {
    const { sdp, mac } = (payload ?? {}) as { sdp?: unknown; mac?: unknown };
    const signal = this.#signal;
    if (signal === null) return;
    const checked = sdp === null && mac === null
      ? Promise.reject(new AuthError(KEY_MISSING))
      : verifySdp(this.#keys!, "offer", signal.id, from, sdp, mac);
    checked.then(async () => {
      const session = await openSession(
        this.#keys!,
        signal.id,
        from,
        (payload as { session?: unknown }).session,
      );
      if (this.#stopped) return;
      if (session?.name) this.#names.set(from, session.name);
      if (session !== null) this.#replace(session.id, from);
      const live = this.#live.get(from) ?? this.#serve(from);
      // A receiver the person stopped, asking again (its channel broke
      // before it heard, or it resumed under a new peer id): refused, and
      // told why.
      if (
        this.#stoppedPeers.has(from) ||
        (session !== null && this.#stoppedSessions.has(session.id))
      ) {
        this.#stoppedPeers.add(from);
        live.driver.dispatch({ type: "offerRefused", reason: SENDER_STOPPED });
        return;
      }
      live.driver.dispatch({ type: "offer", sdp: sdp as string });
    }, (error: Error) => {
      if (this.#stopped) return;
      const reason = error instanceof AuthError && error.message === KEY_MISSING
        ? KEY_MISSING
        : UNVERIFIED;
      const live = this.#live.get(from) ?? this.#serve(from);
      live.driver.dispatch({ type: "offerRefused", reason });
    });
  }

  /**
   * Receiver `id` offered with `session`: if that receiver was here
   * before under another peer id, it gave that connection up (its
   * signaling socket dropped, and so did its id): the old one ends and
   * hands its row over to `id`, instead of showing "resuming" until it
   * counts as gone.
   */
  #replace(session: string, id: string): void {
    for (const [old, known] of [...this.#sessionIds]) {
      if (known !== session || old === id) continue;
      this.#sessionIds.delete(old);
      const live = this.#live.get(old);
      if (live !== undefined) {
        live.driver.dispatch({ type: "replaced", by: id });
      } else {
        // Its machine has ended (say, shown as gone): only the row is left.
        this.#handOver(old, id);
      }
    }
    this.#sessionIds.set(id, session);
  }

  /** Gives receiver `from`'s row, in its place, to peer id `to`. */
  #handOver(from: string, to: string): void {
    const row = this.#rows.get(from);
    this.#names.delete(from);
    if (row === undefined) return;
    // Rebuilt to keep the order: `to`'s own state fills the row as soon
    // as it shows (its offer is handled right after).
    this.#rows = new Map(
      [...this.#rows].map(([id, view]) =>
        id === from ? [to, { ...view, id: to }] : [id, view]
      ),
    );
  }

  /** Starts serving receiver `id`: a machine, its timers, its row. */
  #serve(id: string): Live {
    const live: Live = {
      driver: new Driver(
        initialSend(this.#total),
        stepSend,
        (effect) => this.#run(id, live, effect),
        (machine) => this.#show(id, live, machine),
      ),
      timers: new Timers(),
      link: null,
      channel: null,
      generation: 0,
      meter: new RateMeter(),
      shown: false,
      sender: null,
      lanes: null,
      watch: undefined,
      listed: null,
    };
    this.#live.set(id, live);
    return live;
  }

  /** Makes room for one more receiver that only asked. */
  #forgetOldestWaiting(): void {
    const waiting = [...this.#live].filter(([, live]) =>
      live.driver.state.name === "waiting" && !live.shown
    );
    if (waiting.length < MAX_WAITING) return;
    // The map keeps arrival order: the first is the oldest.
    const [id, live] = waiting[0];
    live.timers.stopAll();
    this.#live.delete(id);
  }

  #run(id: string, live: Live, effect: SendEffect): void {
    switch (effect.type) {
      case "sendManifest":
        live.listed ??= this.#files.length;
        this.#sendList(id, live);
        return;
      case "resendManifest":
        this.#resend(id, live);
        return;
      case "answer":
        // A row appears once a receiver offers (its MAC checked), not when
        // it merely asks: asking takes no key.
        live.shown = true;
        this.#answer(id, live, effect.sdp);
        return;
      case "refuse":
        // Refused rows are finished ones, kept to the last FINISHED_ROWS.
        live.shown = true;
        this.#signal?.send(EVENT.answer, id, { refused: effect.reason });
        return;
      case "closeLink":
        clearInterval(live.watch);
        live.lanes?.close();
        live.lanes = null;
        live.generation++;
        live.link?.close();
        live.link = null;
        live.channel = null;
        return;
      case "sendRetry":
        // The sender could not select a candidate pair: tell the receiver
        // to start again from `request` with a fresh connection.
        this.#signal?.send(EVENT.retry, id);
        return;
      case "send":
        this.#send(id, live);
        return;
      case "sendError":
        if (live.channel?.readyState === "open") {
          live.channel.send(
            encodeControl({ t: "error", message: effect.message }),
          );
        }
        return;
      case "tellStopped":
        // On the channel when it is open (it needs no server); else the
        // receiver is connecting, and hears it as the answer to its offer.
        if (live.channel?.readyState === "open") {
          // No more file data ahead of it: the `cancel` is the next thing
          // the receiver reads, well before `forget` closes the connection.
          live.sender?.halt(new CancelledError("Cannot send: stopped"));
          live.channel.send(encodeControl({ t: "cancel" }));
        } else {
          this.#signal?.send(EVENT.answer, id, { refused: SENDER_STOPPED });
        }
        return;
      case "startTimer":
        live.timers.start(
          effect.timer,
          effect.timer === "connect"
            ? this.#options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS
            : effect.timer === "ice"
            ? this.#options.iceGraceMs ?? ICE_GRACE_MS
            : this.#options.goneTimeoutMs ?? RECEIVER_GONE_MS,
          () => {
            // A link that knows why it is not up (the relay refused) says
            // so instead of the timeout's "no route in time".
            const failure = effect.timer === "connect"
              ? live.link?.failure
              : undefined;
            live.driver.dispatch(
              failure !== undefined
                ? { type: "connectFailed", message: failure }
                : effect.timer === "connect"
                ? { type: "connectTimeout" }
                : effect.timer === "ice"
                ? { type: "iceLost" }
                : { type: "goneTimeout" },
            );
          },
        );
        return;
      case "stopTimer":
        live.timers.stop(effect.timer);
        return;
      case "handOver":
        // This machine's last state is not shown: the row is the new id's.
        live.shown = false;
        this.#handOver(id, effect.to);
        return;
      case "forget": {
        clearInterval(live.watch);
        live.timers.stopAll();
        if (this.#live.get(id) === live) this.#live.delete(id);
        // The receiver closes a finished connection itself; this side
        // closes it a moment later in case it does not.
        const link = live.link;
        const lanes = live.lanes;
        live.link = null;
        live.lanes = null;
        live.generation++;
        if (link !== null) setTimeout(() => link.close(), LINGER_MS);
        if (lanes !== null) setTimeout(() => lanes.close(), LINGER_MS);
        return;
      }
    }
  }

  /** Sends receiver `id` the sealed list, sealed once per receiver. */
  #sendList(id: string, live: Live): void {
    // Only the link's holders can read the file list: the server
    // relays ciphertext, padded, in pages under its frame cap.
    let sealed = this.#sealed.get(live);
    if (!sealed) {
      const keys = this.#keys!;
      const signer = this.#signer!;
      const me = this.#signal?.id ?? "";
      // Signed too: every receiver can seal a list, only this page
      // can sign one.
      sealed = this.#pages!.then((pages) => sealManifest(keys, id, pages))
        .then((pages) =>
          Promise.all(
            pages.map((page) =>
              signPayload(signer, EVENT.response, me, id, page)
            ),
          )
        );
      this.#sealed.set(live, sealed);
    }
    sealed.then(
      (pages) => {
        for (const page of pages) {
          this.#signal?.send(EVENT.response, id, page);
        }
      },
      (error: Error) =>
        live.driver.dispatch({
          type: "sendFailed",
          message: failureText("send the file list", error),
        }),
    );
  }

  /** Sends receiver `id` the longer list, at the pace the bucket allows. */
  #resend(id: string, live: Live): void {
    this.#resends.push(() => {
      // Not if it is gone meanwhile.
      if (this.#live.get(id) === live) this.#sendList(id, live);
    });
    this.#drainResends();
  }

  #drainResends(): void {
    if (this.#resending !== null) return;
    while (this.#resends.length > 0) {
      if (!this.#answers.take(Date.now(), this.#pageCount)) {
        this.#resending = setTimeout(() => {
          this.#resending = null;
          this.#drainResends();
        }, 1000 / ANSWERS_PER_SECOND * this.#pageCount);
        return;
      }
      this.#resends.shift()!();
    }
  }

  #answer(id: string, live: Live, offerSdp: string): void {
    const generation = ++live.generation;
    const link = this.#createLink((candidate) =>
      this.#signal?.send(EVENT.candidate, id, candidate)
    );
    live.link = link;
    const current = () => live.generation === generation;
    link.opened.then(async (channel) => {
      if (!current()) return;
      // The browser may have taken more from the offer than was signed:
      // the certificate it connected to must be the signed one.
      try {
        await link.verifyRemote();
      } catch {
        if (current()) {
          live.driver.dispatch({ type: "offerRefused", reason: UNVERIFIED });
        }
        return;
      }
      if (!current()) return;
      live.channel = channel;
      // A closed tab or a dead browser does not close the channel: ICE is
      // what notices (send_machine.ts).
      link.onIce((health) => {
        if (!current()) return;
        live.driver.dispatch({
          type: health === "connected"
            ? "iceRecovered"
            : health === "disconnected"
            ? "iceDisconnected"
            : "iceLost",
        });
      });
      live.driver.dispatch({ type: "channelOpen" });
    }, (error: Error) => {
      if (current()) {
        live.driver.dispatch({
          type: "connectFailed",
          message: causeOf(error),
        });
      }
    });
    link.answer(offerSdp).then(async (sdp) => {
      const signal = this.#signal;
      if (signal === null || !current()) return;
      const mac = await signSdp(this.#keys!, "answer", signal.id, id, sdp);
      // The MAC says a holder of the link made it; the signature that
      // this page did, and covers the exact SDP, the role and both ids.
      const signed = await signPayload(
        this.#signer!,
        EVENT.answer,
        signal.id,
        id,
        { sdp, mac },
      );
      if (current()) signal.send(EVENT.answer, id, signed);
    }).catch((error: Error) => {
      if (current()) {
        live.driver.dispatch({
          type: "connectFailed",
          message: `Cannot connect: ${causeOf(error)}`,
        });
      }
    });
  }

  #send(id: string, live: Live): void {
    const generation = live.generation;
    const channel = live.channel!;
    const me = this.#signal?.id;
    // Parallel connections are set up over this channel (lanes.ts).
    const lanes = this.#maxLanes > 1 && me !== undefined
      ? new SendLanes({
        createLink: this.#createLink,
        keys: this.#keys!,
        signer: this.#signer!,
        senderId: me,
        receiverId: id,
        channel,
        max: this.#maxLanes,
      })
      : null;
    live.lanes?.close();
    live.lanes = lanes;
    // The largest message the peer takes (Chromium: 256 KiB) moves the
    // most per unit of per-message work (tuning.ts).
    const maxMessage = live.link?.maxMessageSize || FALLBACK_CHUNK_BYTES;
    const options = this.#options.sendOptions;
    let acked = 0;
    const sender = new FileSender(channel, this.#files, {
      chunkSize: Math.min(CHUNK_BYTES, maxMessage),
      digest: (index) => this.#digests!.get(index),
      listed: live.listed ?? undefined,
      ...(lanes !== null && { onLane: (message) => lanes.onMessage(message) }),
      ...options,
      // What the receiver acknowledged as written, over the data channel.
      onProgress: (bytes) => {
        acked = bytes;
        options?.onProgress?.(bytes);
        if (live.generation === generation) {
          live.driver.dispatch({ type: "progress", bytes });
        }
      },
    });
    live.sender = sender;
    if (lanes !== null) lanes.sender = sender;
    this.#watch(live, () => ({
      acked,
      buffered: sender.buffered,
      // Bytes owed past one acknowledgement's worth, or still buffered.
      waiting: sender.buffered > 0 || sender.owed > ACK_BYTES,
    }));
    const settled = () => {
      if (live.generation === generation) clearInterval(live.watch);
      // Done with them either way: a resume sets up its own.
      lanes?.close();
    };
    sender.run().finally(settled).then(() => {
      if (live.generation === generation) {
        live.driver.dispatch({ type: "sent" });
      }
    }, (error: Error) => {
      if (live.generation !== generation) return;
      live.driver.dispatch(
        error instanceof ChannelClosedError
          ? { type: "channelClosed", message: causeOf(error) }
          : error instanceof CancelledError
          ? { type: "cancelled" }
          : { type: "sendFailed", message: describeError(error) },
      );
    });
  }

  /**
   * Samples a running transfer every fifth of `STALL_MS` and reports
   * `stalled` once when nothing has moved for that long (rate.ts): a
   * receiver whose tab closed leaves the channel open and frozen.
   */
  #watch(live: Live, sample: () => TransferSample): void {
    clearInterval(live.watch);
    const ms = this.#options.stallMs ?? STALL_MS;
    const watch = new StallWatch(ms);
    let stalled = false;
    live.watch = setInterval(() => {
      const now = watch.sample(Date.now(), sample());
      if (now && !stalled) live.driver.dispatch({ type: "stalled" });
      stalled = now;
    }, ms / 5);
  }

  #show(id: string, live: Live, machine: SendMachine): void {
    if (!live.shown) return;
    live.meter.sample(machine.bytes, Date.now());
    // Speed and time left only while bytes move: a stalled or departed
    // receiver's last speed would be a lie.
    const moving = machine.name === "sending" && !machine.stalled;
    const name = this.#names.get(id);
    this.#rows.set(id, {
      id,
      ...(name !== undefined && { name }),
      phase: machine.name,
      bytes: machine.bytes,
      total: machine.total,
      rate: moving ? live.meter.rate : 0,
      secondsLeft: moving ? live.meter.secondsLeft(machine.total) : 0,
      connections: machine.name === "sending" ? live.sender?.channels ?? 1 : 1,
      attempt: machine.attempt,
      message: machine.message,
      receiving: isReceiving(machine.name),
      stalled: moving ? false : machine.stalled === true,
      left: machine.name === "resuming" || machine.message === RECEIVER_LEFT,
      ...(machine.ended !== undefined && { ended: machine.ended }),
    });
    this.#trimRows();
    this.#options.onReceivers?.([...this.#rows.values()]);
  }

  /** Keeps every live row and the last `FINISHED_ROWS` finished ones. */
  #trimRows(): void {
    let finished = 0;
    for (const row of this.#rows.values()) {
      if (!this.#live.has(row.id)) finished++;
    }
    for (const row of this.#rows.values()) {
      if (finished <= FINISHED_ROWS) break;
      if (this.#live.has(row.id)) continue;
      this.#rows.delete(row.id);
      this.#sessionIds.delete(row.id);
      this.#names.delete(row.id);
      finished--;
    }
  }
}

/** What the page says when text is added to a share that has some. */
export const TEXT_SHARED =
  "This share already carries text: start a new share to send other text.";

function sizeOf(files: SourceFile[]): number {
  return files.reduce((n, f) => n + f.size, 0);
}

/**
 * The share's list, paged (throws when it is too long to send), saying how
 * many connections a receiver may use when more than one.
 */
function listOf(
  files: SourceFile[],
  text: string,
  lanes: number,
): Promise<ManifestPage[]> {
  return encodeManifest({
    files: files.map(listedMetaOf),
    ...(text ? { text } : {}),
    ...(lanes > 1 ? { lanes } : {}),
  });
}
