/**
 * The browser's side of the signaling protocol: one WebSocket, the `assign`
 * handshake, and typed frames in both directions. It uses the same protocol
 * module as the server, so names and arities cannot drift.
 *
 * @module
 */

import {
  type ClientEvent,
  encodeFrame,
  EVENT,
  parseServerFrame,
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
  /** Sends `[event, to]` or `[event, to, payload]`; nothing once closed. */
  send(event: ClientEvent, to: string, ...payload: [] | [unknown]): void;
  /** Adds a frame listener; returns a function that removes it. */
  listen(listener: FrameListener): () => void;
  /** Adds a close listener; returns a function that removes it. */
  onClose(listener: CloseListener): () => void;
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
