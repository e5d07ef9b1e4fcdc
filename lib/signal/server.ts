/**
 * The signaling server: accepts WebSocket upgrades on `/api/signal`, assigns
 * each socket an id, and relays frames between peers exactly as PROTOCOL.md
 * says. It never looks inside a payload.
 *
 * Memory stays bounded per peer: frames are capped in size on the way in,
 * and a peer whose outgoing queue passes a limit (it stopped reading) is
 * closed rather than buffered for. Dead sockets are found by the runtime's
 * ping/pong heartbeat (`idleTimeout`).
 *
 * @module
 */

import {
  CLOSE,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  EVENT,
  FrameError,
  isPeerId,
  parseFrame,
  relayFrame,
} from "./protocol.ts";
import { PeerMap, type PeerSocket } from "./peer_map.ts";

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
}

const INVALID_PEER_ID = encodeFrame(EVENT.invalidPeerId);
const PEER_NOT_EXISTS = encodeFrame(EVENT.peerNotExists);
const OPEN = 1;

/** The signaling server's state and its WebSocket handling. */
export class SignalServer {
  #peers = new PeerMap<WebSocket>();
  #sockets = new Set<WebSocket>();
  /** Sockets over `maxBufferedBytes`, to be looked at again next turn. */
  #checking = new Set<WebSocket>();
  #maxFrameBytes: number;
  #maxBufferedBytes: number;
  #heartbeatSeconds: number;

  constructor(options: SignalServerOptions = {}) {
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.#heartbeatSeconds = options.heartbeatSeconds ?? 25;
  }

  /** How many peers are connected. */
  get peerCount(): number {
    return this.#peers.size;
  }

  /**
   * Answers a request to the signaling endpoint: upgrades it to a WebSocket,
   * or answers `426 Upgrade Required` when it is not an upgrade.
   */
  handle(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      try {
        const { socket, response } = Deno.upgradeWebSocket(request, {
          idleTimeout: this.#heartbeatSeconds,
        });
        this.#attach(socket);
        return response;
      } catch {
        // Not a whole handshake (no key, no `Connection: Upgrade`): it is
        // not an upgrade, so it gets the 426 below, not a 500.
      }
    }
    return new Response(
      "426 Upgrade Required: /api/signal speaks WebSocket only\n",
      {
        status: 426,
        headers: {
          "content-type": "text/plain; charset=utf-8",
          upgrade: "websocket",
          connection: "Upgrade",
        },
      },
    );
  }

  /** Closes every socket, as when the server stops. */
  closeAll(reason = "Server is shutting down"): void {
    for (const socket of this.#sockets) {
      try {
        socket.close(CLOSE.goingAway, reason);
      } catch {
        // Already closing: nothing left to do for it.
      }
    }
  }

  #attach(socket: WebSocket): void {
    let id = "";
    this.#sockets.add(socket);
    socket.onopen = () => {
      id = this.#peers.add(socket);
      socket.send(encodeFrame(EVENT.assign, id));
    };
    socket.onmessage = (event) => this.#receive(socket, id, event.data);
    socket.onclose = () => {
      this.#sockets.delete(socket);
      if (id) this.#peers.delete(id, socket);
    };
    // A close event always follows an error; the close handler cleans up.
    socket.onerror = () => {};
  }

  #receive(socket: WebSocket, id: string, data: unknown): void {
    let frame;
    try {
      frame = parseFrame(data, this.#maxFrameBytes);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.#drop(socket, id, error.code, error.message);
      return;
    }
    const target = frame.target;
    if (!isPeerId(target) || target === id) {
      this.#deliver(socket, id, INVALID_PEER_ID);
      return;
    }
    const peer = this.#peers.get(target);
    if (peer === undefined) {
      this.#deliver(socket, id, PEER_NOT_EXISTS);
      return;
    }
    this.#deliver(peer, target, relayFrame(frame, id));
  }

  #deliver(socket: PeerSocket & WebSocket, id: string, text: string): void {
    if (socket.readyState !== OPEN) return;
    socket.send(text);
    // `bufferedAmount` also counts what this turn of the event loop queued,
    // which the runtime writes out only on the next: a burst to a peer that
    // reads looks like a backlog for a moment. A backlog still there a turn
    // later is a peer that does not read.
    if (
      socket.bufferedAmount > this.#maxBufferedBytes &&
      !this.#checking.has(socket)
    ) {
      this.#checking.add(socket);
      setTimeout(() => {
        this.#checking.delete(socket);
        if (socket.bufferedAmount <= this.#maxBufferedBytes) return;
        this.#drop(
          socket,
          id,
          CLOSE.policyViolation,
          `Closing: peer is not reading, over ${this.#maxBufferedBytes} bytes wait for it`,
        );
      }, 0);
    }
  }

  /** Closes a peer and forgets it at once, without waiting for its close. */
  #drop(socket: WebSocket, id: string, code: number, reason: string): void {
    if (id) this.#peers.delete(id, socket);
    try {
      socket.close(code, reason);
    } catch {
      // Already closing: it is forgotten, which is all that matters.
    }
  }
}
