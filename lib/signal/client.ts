/**
 * The browser's side of the signaling protocol: one WebSocket, the `assign`
 * handshake, and typed frames in both directions. It uses the same protocol
 * module as the server, so names and arities cannot drift.
 *
 * @module
 */

import {
  type ClientEvent,
  CLOSE_REPLACED,
  encodeFrame,
  EVENT,
  parseServerFrame,
  RECLAIM_EVENT,
  type ServerFrame,
} from "./protocol.ts";

/** Receives every frame after `assign`. */
export type FrameListener = (frame: ServerFrame) => void;

/** The socket closed; `code` and `reason` as the server gave them. */
export type CloseListener = (code: number, reason: string) => void;

/**
 * What the transfer sessions need of a signaling connection: the
 * {@linkcode SignalClient} in a page, an in-memory one in tests
 * (`lib/transfer/fakes.ts`).
 */
export interface SignalPort {
  /** The id the server assigned. */
  readonly id: string;
  /** Whether the connection is open. */
  readonly open: boolean;
  /**
   * Whether a dropped socket is being replaced under the same id
   * ({@linkcode ReconnectingSignal}); absent or false for the others.
   */
  readonly reconnecting?: boolean;
  /** Sends `[event, to]` or `[event, to, payload]`; nothing once closed. */
  send(event: ClientEvent, to: string, ...payload: [] | [unknown]): void;
  /** Adds a frame listener; returns a function that removes it. */
  listen(listener: FrameListener): () => void;
  /** Adds a close listener; returns a function that removes it. */
  onClose(listener: CloseListener): () => void;
  /**
   * Adds a listener of drops it recovers from and of the recoveries
   * ({@linkcode ReconnectingSignal} only).
   */
  onState?(listener: (state: SignalState) => void): () => void;
  /** Closes the connection. */
  close(): void;
}

/** Opens a signaling connection and waits for its id. */
export type SignalConnector = () => Promise<SignalPort>;

/** A connected signaling client with its assigned id. */
export class SignalClient implements SignalPort {
  /** The id the server assigned. */
  readonly id: string;
  #socket: WebSocket;
  #listeners = new Set<FrameListener>();
  #closeListeners = new Set<CloseListener>();

  private constructor(socket: WebSocket, id: string) {
    this.#socket = socket;
    this.id = id;
    socket.onmessage = (event) => {
      let frame: ServerFrame;
      try {
        frame = parseServerFrame(event.data);
      } catch {
        // The server only sends valid frames; ignore anything else rather
        // than act on it.
        return;
      }
      for (const listener of this.#listeners) listener(frame);
    };
    socket.onclose = (event) => {
      for (const listener of this.#closeListeners) {
        listener(event.code, event.reason);
      }
    };
  }

  /**
   * Connects to `url` and waits for `assign`. Rejects with a clear error
   * when the server cannot be reached or closes first.
   */
  static connect(url: string, timeoutMs = 10_000): Promise<SignalClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      const timer = setTimeout(() => {
        socket.close();
        reject(
          new Error(
            "Cannot reach the signaling server: no answer in time. Check your network, then reload the page.",
          ),
        );
      }, timeoutMs);
      socket.onmessage = (event) => {
        clearTimeout(timer);
        try {
          const frame = parseServerFrame(event.data);
          if (frame.event !== EVENT.assign) throw new TypeError("no assign");
          resolve(new SignalClient(socket, frame.id));
        } catch {
          socket.close();
          reject(
            new TypeError(
              "Cannot start signaling: the server did not assign an id. Reload the page; if it keeps failing, try again later.",
            ),
          );
        }
      };
      socket.onclose = (event) => {
        clearTimeout(timer);
        reject(
          new Error(
            `Cannot reach the signaling server: closed (${event.code}${
              event.reason ? `, ${event.reason}` : ""
            }). Check your network, then reload the page.`,
          ),
        );
      };
    });
  }

  /** Whether the socket is open. */
  get open(): boolean {
    return this.#socket.readyState === WebSocket.OPEN;
  }

  /** Sends `[event, to]` or `[event, to, payload]`. */
  send(event: ClientEvent, to: string, ...payload: [] | [unknown]): void {
    if (!this.open) return;
    this.#socket.send(encodeFrame(event, to, ...payload));
  }

  /** Adds a frame listener; returns a function that removes it. */
  listen(listener: FrameListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Adds a close listener; returns a function that removes it. */
  onClose(listener: CloseListener): () => void {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /** Closes the socket. */
  close(): void {
    this.#socket.close(1000, "Done");
  }
}

/** The signaling URL for a page at `origin` (http → ws, https → wss). */
export function signalUrl(origin: string): string {
  return `${origin.replace(/^http/, "ws")}/api/signal`;
}

/**
 * Opens one signaling connection: with `reclaim` `""` opting in to reclaim
 * tokens, or with a token to take an id back (docs/protocol.md,
 * "Reclaiming an id").
 */
export type SignalOpener = (reclaim: string) => Promise<SignalPort>;

/** How a {@linkcode ReconnectingSignal} waits between attempts. */
export interface ReconnectOptions {
  /** The first wait after a drop. Default 500 ms. */
  firstDelayMs?: number;
  /** The longest wait; each attempt doubles the last. Default 10 s. */
  maxDelayMs?: number;
  /**
   * How long after a drop it keeps trying. Default 90 s, the life of the
   * newest token: past it no server would give the id back.
   */
  giveUpMs?: number;
  /** A number in [0, 1) for the jitter (tests pin it). */
  random?: () => number;
}

/** Whether the connection is up, or down and being brought back. */
export type SignalState = "open" | "reconnecting";

/**
 * The wait before attempt `attempt` (0 first): `firstMs` doubled each time
 * up to `maxMs`, then spread by ±50 %, so that the pages a restarted server
 * lost do not all come back in the same moment.
 */
export function backoffDelay(
  attempt: number,
  firstMs: number,
  maxMs: number,
  random: number,
): number {
  const base = Math.min(maxMs, firstMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.5 + random));
}

/**
 * A signaling connection that outlives its sockets: when one drops (a
 * network change, a deploy, a server restart), it opens another and takes
 * its id back with the newest token the server gave it, so a share link
 * keeps working. Its id never changes; while it is reconnecting `open` is
 * false and what is sent is dropped, as on any closed socket. Its close
 * listeners hear only the end: {@linkcode close}, or a reconnect that could
 * not get the id back (the server refused the token, another connection
 * took the id, or `giveUpMs` passed).
 */
export class ReconnectingSignal implements SignalPort {
  readonly id: string;
  #port: SignalPort;
  #opener: SignalOpener;
  #token = "";
  #ended = false;
  #reconnecting = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #unlisten: (() => void)[] = [];
  #listeners = new Set<FrameListener>();
  #closeListeners = new Set<CloseListener>();
  #stateListeners = new Set<(state: SignalState) => void>();
  #first: number;
  #max: number;
  #giveUp: number;
  #random: () => number;

  private constructor(
    port: SignalPort,
    opener: SignalOpener,
    options: ReconnectOptions,
  ) {
    this.id = port.id;
    this.#port = port;
    this.#opener = opener;
    this.#first = options.firstDelayMs ?? 500;
    this.#max = options.maxDelayMs ?? 10_000;
    this.#giveUp = options.giveUpMs ?? 90_000;
    this.#random = options.random ?? Math.random;
    this.#adopt(port);
  }

  /** Opens the first connection, opted in to tokens; rejects as it does. */
  static async connect(
    opener: SignalOpener,
    options: ReconnectOptions = {},
  ): Promise<ReconnectingSignal> {
    return new ReconnectingSignal(await opener(""), opener, options);
  }

  /** Whether a socket is open now. */
  get open(): boolean {
    return !this.#ended && !this.#reconnecting && this.#port.open;
  }

  /** Whether a dropped socket is being replaced. */
  get reconnecting(): boolean {
    return this.#reconnecting;
  }

  /** Sends on the current socket; nothing while reconnecting or closed. */
  send(event: ClientEvent, to: string, ...payload: [] | [unknown]): void {
    if (this.open) this.#port.send(event, to, ...payload);
  }

  /** Adds a frame listener (tokens are kept here, never passed on). */
  listen(listener: FrameListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Adds a listener of the end (not of a drop it recovers from). */
  onClose(listener: CloseListener): () => void {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /** Adds a listener of drops and recoveries. */
  onState(listener: (state: SignalState) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** Closes for good. */
  close(): void {
    if (this.#ended) return;
    clearTimeout(this.#timer);
    if (this.#reconnecting) {
      this.#end(1000, "Done");
      return;
    }
    // The socket's own close reports the end, with its code.
    this.#ended = true;
    this.#port.close();
  }

  #adopt(port: SignalPort): void {
    for (const stop of this.#unlisten) stop();
    this.#port = port;
    this.#unlisten = [
      port.listen((frame) => {
        if (frame.event === RECLAIM_EVENT) {
          this.#token = frame.token;
          return;
        }
        for (const listener of this.#listeners) listener(frame);
      }),
      port.onClose((code, reason) => this.#dropped(code, reason)),
    ];
  }

  #dropped(code: number, reason: string): void {
    if (this.#ended || code === CLOSE_REPLACED || this.#token === "") {
      this.#end(code, reason);
      return;
    }
    this.#reconnecting = true;
    for (const listener of this.#stateListeners) listener("reconnecting");
    this.#attempt(0, Date.now(), code, reason);
  }

  #attempt(n: number, since: number, code: number, reason: string): void {
    const delay = backoffDelay(n, this.#first, this.#max, this.#random());
    if (Date.now() + delay - since > this.#giveUp) {
      this.#end(code, reason);
      return;
    }
    this.#timer = setTimeout(() => {
      this.#opener(this.#token).then((port) => {
        if (this.#ended) {
          port.close();
        } else if (port.id !== this.id) {
          // The token was refused (expired, or a server with another key):
          // this id is gone, and a new one is no use to whoever shared it.
          port.close();
          this.#end(code, reason);
        } else {
          this.#adopt(port);
          this.#reconnecting = false;
          for (const listener of this.#stateListeners) listener("open");
        }
      }, () => {
        if (!this.#ended) this.#attempt(n + 1, since, code, reason);
      });
    }, delay);
  }

  #end(code: number, reason: string): void {
    this.#ended = true;
    this.#reconnecting = false;
    const listeners = [...this.#closeListeners];
    this.#closeListeners.clear();
    for (const listener of listeners) listener(code, reason);
  }
}

/** The signaling URL with the reclaim query (`""`: opt in only). */
export function reclaimUrl(url: string, reclaim: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}reclaim=${
    encodeURIComponent(reclaim)
  }`;
}

/** A reconnecting signaling connection to `url`, as the pages open it. */
export function connectReconnecting(
  url: string,
  options: ReconnectOptions = {},
): Promise<ReconnectingSignal> {
  return ReconnectingSignal.connect(
    (reclaim) => SignalClient.connect(reclaimUrl(url, reclaim)),
    options,
  );
}
