/**
 * A server-side WebSocket (RFC 6455) on a TCP connection of our own, for the
 * one thing `Deno.upgradeWebSocket` cannot do: refuse a frame past the cap
 * at its header. The runtime assembles a whole message (up to its own 64 MiB
 * limit) before JavaScript sees it, and has no option to lower that
 * (denoland/deno #15809): ten connections that each sent one 48 MiB frame
 * grew the server by 420 MiB before the 64 KiB cap could close them. Here
 * the length field is read first, and a frame past the cap gets its `1009`
 * close and the end of the TCP connection without one byte of its payload
 * being read (bench/frame_cap.ts: under 1 MiB of growth).
 *
 * {@linkcode RawSocket} is what {@linkcode SignalServer} needs of a
 * WebSocket (`open`, `message`, `close`, `send`, `close()`,
 * `bufferedAmount`), so the signaling rules are the same over either.
 * {@linkcode Heartbeat} drops sockets that went silent, as the runtime's
 * `idleTimeout` does. The HTTP side (reading the upgrade, answering it) is
 * lib/http/front.ts's.
 *
 * @module
 */

import { toBase64 } from "../transfer/base64.ts";
import { CLOSE } from "./protocol.ts";
import type { SignalSocket } from "./server.ts";

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** Close codes of RFC 6455 that only the transport sends. */
const PROTOCOL_ERROR = 1002;
/** No close frame came: the connection ended (never sent on the wire). */
const ABNORMAL = 1006;
const INVALID_PAYLOAD = 1007;

/** How long a closing socket waits for the other side's close frame. */
const CLOSE_WAIT_MS = 1_000;
/**
 * Largest frame whose payload is still read (and dropped) after it was
 * refused, so the other side gets the close frame; a larger one has the
 * connection cut at once.
 */
const DRAIN_BYTES = 1024 * 1024;
/**
 * A socket's read buffer between frames: thousands of idle sockets each
 * hold one, so it is small; it grows for a larger frame (never past the cap)
 * and shrinks back once that frame is read.
 */
const READ_BYTES = 4_096;

const encoder = new TextEncoder();

/** The `Sec-WebSocket-Accept` answer to a `Sec-WebSocket-Key`. */
export async function acceptKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-1",
    encoder.encode(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"),
  );
  return toBase64(new Uint8Array(digest));
}

/** Bytes of a server frame's header for a payload of `length` bytes. */
function headBytes(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}

/** Writes an unmasked FIN frame's header of `head` bytes at `at`. */
function writeHead(
  frame: Uint8Array,
  at: number,
  head: number,
  opcode: number,
  length: number,
): void {
  frame[at] = 0x80 | opcode;
  if (head === 2) {
    frame[at + 1] = length;
  } else if (head === 4) {
    frame[at + 1] = 126;
    frame[at + 2] = length >> 8;
    frame[at + 3] = length & 0xff;
  } else {
    frame[at + 1] = 127;
    new DataView(frame.buffer).setBigUint64(at + 2, BigInt(length));
  }
}

/** One unmasked server frame: FIN, `opcode`, `payload`. */
function encodeServerFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const head = headBytes(payload.length);
  const frame = new Uint8Array(head + payload.length);
  writeHead(frame, 0, head, opcode, payload.length);
  frame.set(payload, head);
  return frame;
}

/**
 * A text frame, encoded in place: the text is written once, straight into
 * the frame, behind room for the longest header.
 */
function encodeTextFrame(text: string): Uint8Array {
  const frame = new Uint8Array(10 + text.length * 3);
  const { written } = encoder.encodeInto(text, frame.subarray(10));
  const head = headBytes(written);
  writeHead(frame, 10 - head, head, OP_TEXT, written);
  return frame.subarray(10 - head, 10 + written);
}

/** Unmasks a payload in place (it starts a buffer of its own), four bytes at a time. */
function unmask(payload: Uint8Array, mask: Uint8Array): void {
  const words = payload.length >> 2;
  if (words > 0) {
    const view = new Uint32Array(payload.buffer, payload.byteOffset, words);
    const key = new Uint32Array(mask.slice(0, 4).buffer)[0];
    for (let i = 0; i < words; i++) view[i] ^= key;
  }
  for (let i = words << 2; i < payload.length; i++) payload[i] ^= mask[i & 3];
}

function closePayload(code: number, reason: string): Uint8Array {
  // A control frame's payload is at most 125 bytes: the reason is cut.
  const text = encoder.encode(reason).subarray(0, 123);
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return payload;
}

/** A WebSocket the server speaks itself over a TCP connection. */
export class RawSocket extends EventTarget implements SignalSocket {
  #conn: Deno.Conn;
  #maxMessageBytes: number;
  #state = CONNECTING;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #flushing = false;
  #endAfterFlush = false;
  /** Reading only to drop what comes, until the end (see #fail). */
  #draining = false;
  /** A frame past the cap came: nothing more is taken. */
  #refused = false;
  /** Not reading any more (a frame far past the cap): no close answer can come. */
  #paused = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #finished = false;
  #closeCode: number = ABNORMAL;
  #closeReason = "";
  /** Whether anything came in since the heartbeat last looked. */
  heard = true;
  /** Whether the heartbeat pinged it and waits for a sign of life. */
  pinged = false;

  /**
   * A socket on `conn`, whose handshake has been answered; `maxMessageBytes`
   * is the largest message taken (a frame, or a fragmented message whole).
   */
  constructor(conn: Deno.Conn, maxMessageBytes: number) {
    super();
    this.#conn = conn;
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** The one `message` listener, called directly (see addEventListener). */
  #onMessage: ((event: Event) => void) | null = null;

  /**
   * As EventTarget's; a single `message` listener given as a function is
   * kept apart and called with `{target, data}` instead of a dispatched
   * `MessageEvent`, which is all SignalServer reads of it.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (
      type === "message" && typeof listener === "function" &&
      this.#onMessage === null && options === undefined
    ) {
      this.#onMessage = listener;
      return;
    }
    super.addEventListener(type, listener, options);
  }

  get readyState(): number {
    return this.#state;
  }

  get bufferedAmount(): number {
    return this.#queued;
  }

  /**
   * Opens it (the `open` event) and reads frames until the connection ends;
   * `leftover` is what came after the HTTP head in the same read.
   */
  start(leftover: Uint8Array = new Uint8Array(0)): Promise<void> {
    this.#state = OPEN;
    this.dispatchEvent(new Event("open"));
    return this.#read(leftover).catch(() => this.#finish());
  }

  send(text: string): void {
    if (this.#state !== OPEN) return;
    this.#enqueue(encodeTextFrame(text));
  }

  close(code: number = CLOSE.normal, reason = ""): void {
    if (this.#state >= CLOSING) return;
    this.#state = CLOSING;
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#enqueue(encodeServerFrame(OP_CLOSE, closePayload(code, reason)));
    if (this.#paused) {
      // Nothing is read, so no answer could be seen.
      this.#endAfterFlush = true;
      return;
    }
    // The other side answers with its close frame, which ends it; one that
    // does not is not waited for long.
    this.#closeTimer = setTimeout(() => this.#finish(), CLOSE_WAIT_MS);
  }

  /** Pings it, as the heartbeat does for a socket gone silent. */
  ping(): void {
    if (this.#state === OPEN) {
      this.#enqueue(encodeServerFrame(OP_PING, new Uint8Array(0)));
    }
  }

  /**
   * Closes with `code` after a frame that breaks the protocol: what follows
   * cannot be read as frames, so it is read and dropped until the other side
   * ends the connection or the close wait passes. Closing on unread bytes
   * would send a reset, which can lose the close frame and the answers
   * before it on the other side.
   */
  #fail(code: number, reason: string): void {
    this.#draining = true;
    this.close(code, reason);
  }

  #enqueue(frame: Uint8Array): void {
    this.#queue.push(frame);
    this.#queued += frame.length;
    if (!this.#flushing) {
      this.#flushing = true;
      // Frames sent in the same task go out in one write.
      queueMicrotask(() => this.#flush());
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#finished) {
        const frames = this.#queue;
        this.#queue = [];
        const bytes = frames.length === 1
          ? frames[0]
          : concat(frames, frames.reduce((n, f) => n + f.length, 0));
        for (let at = 0; at < bytes.length;) {
          const n = await this.#conn.write(bytes.subarray(at));
          at += n;
          this.#queued -= n;
        }
      }
    } catch {
      this.#finish();
    } finally {
      this.#flushing = false;
    }
    if (this.#endAfterFlush) this.#finish();
  }

  async #read(first: Uint8Array): Promise<void> {
    // Holds at most one frame's header and payload: the cap bounds it.
    let buffer = new Uint8Array(Math.max(READ_BYTES, first.length));
    buffer.set(first);
    let filled = first.length;
    /** A fragmented message's parts so far. */
    let parts: Uint8Array[] | null = null;
    let partsOpcode = 0;
    let partsBytes = 0;
    /** Bytes of a refused frame still to be read and dropped. */
    let skip = 0;
    const decoder = new TextDecoder("utf-8", { fatal: true });
    for (;;) {
      // Every whole frame in the buffer.
      let at = 0;
      for (;;) {
        if (this.#finished || this.#endAfterFlush) return;
        if (this.#draining) {
          at = filled;
          break;
        }
        if (skip > 0) {
          const n = Math.min(skip, filled - at);
          at += n;
          skip -= n;
          if (skip > 0) break;
        }
        if (filled - at < 2) break;
        const b0 = buffer[at];
        const b1 = buffer[at + 1];
        const fin = (b0 & 0x80) !== 0;
        const opcode = b0 & 0x0f;
        let length = b1 & 0x7f;
        let head = 2;
        if (length === 126) {
          if (filled - at < 4) break;
          length = (buffer[at + 2] << 8) | buffer[at + 3];
          head = 4;
        } else if (length === 127) {
          if (filled - at < 10) break;
          const view = new DataView(buffer.buffer, at + 2, 8);
          length = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
          head = 10;
        }
        if ((b0 & 0x70) !== 0) {
          this.#fail(PROTOCOL_ERROR, "Reserved bits are set");
          continue;
        }
        if ((b1 & 0x80) === 0) {
          this.#fail(PROTOCOL_ERROR, "A client frame must be masked");
          continue;
        }
        const control = opcode >= 0x8;
        if (control && (!fin || length > 125)) {
          this.#fail(PROTOCOL_ERROR, "Invalid control frame");
          continue;
        }
        if (
          !control && opcode !== OP_CONTINUATION && opcode !== OP_TEXT &&
            opcode !== OP_BINARY ||
          control && opcode !== OP_CLOSE && opcode !== OP_PING &&
            opcode !== OP_PONG
        ) {
          this.#fail(PROTOCOL_ERROR, "Unknown opcode");
          continue;
        }
        if (
          !control && partsBytes + length > this.#maxMessageBytes &&
          !this.#refused
        ) {
          // The point of this class: refused at the header, not one byte of
          // the payload kept. Who owns the socket closes it (a `toobig`
          // event), after the answers it still owes: the server's answers to
          // earlier frames can wait on another instance.
          this.#refused = true;
          parts = null;
          partsBytes = 0;
          if (length > DRAIN_BYTES) {
            // Not read at all: the connection is cut once the close is out.
            this.#paused = true;
            this.dispatchEvent(new Event("toobig"));
            return;
          }
          // A frame a little too large (a page's) is read and dropped, so
          // the close frame reaches the page instead of being lost to the
          // reset that closing on unread bytes sends.
          skip = head + 4 + length;
          this.dispatchEvent(new Event("toobig"));
          continue;
        }
        if (!control && this.#refused) {
          // Nothing more is taken from a socket that sent too much.
          skip = head + 4 + length;
          continue;
        }
        const total = head + 4 + length;
        if (filled - at < total) {
          if (total > buffer.length) {
            const grown = new Uint8Array(total);
            grown.set(buffer.subarray(at, filled));
            buffer = grown;
            filled -= at;
            at = 0;
          }
          break;
        }
        this.heard = true;
        this.pinged = false;
        const mask = buffer.subarray(at + head, at + head + 4);
        const payload = buffer.slice(at + head + 4, at + total);
        unmask(payload, mask);
        at += total;
        if (opcode === OP_PING) {
          if (this.#state === OPEN) {
            this.#enqueue(encodeServerFrame(OP_PONG, payload));
          }
          continue;
        }
        if (opcode === OP_PONG) continue;
        if (opcode === OP_CLOSE) {
          this.#onCloseFrame(payload);
          return;
        }
        if (opcode === OP_CONTINUATION) {
          if (parts === null) {
            this.#fail(PROTOCOL_ERROR, "Nothing to continue");
            continue;
          }
        } else {
          if (parts !== null) {
            this.#fail(PROTOCOL_ERROR, "A message is unfinished");
            continue;
          }
          parts = [];
          partsOpcode = opcode;
        }
        parts.push(payload);
        partsBytes += payload.length;
        if (!fin) continue;
        const whole = parts.length === 1 ? parts[0] : concat(parts, partsBytes);
        parts = null;
        partsBytes = 0;
        // What arrives after a close is not for us any more.
        if (this.#state !== OPEN) continue;
        let data: string | ArrayBuffer;
        if (partsOpcode === OP_TEXT) {
          try {
            data = decoder.decode(whole);
          } catch {
            // The frames themselves are sound: read on, for the answer to
            // the close.
            this.close(INVALID_PAYLOAD, "Cannot accept frame: not UTF-8");
            continue;
          }
        } else {
          data = whole.buffer as ArrayBuffer;
        }
        if (this.#onMessage !== null) {
          // The hot path: one call, without an event's dispatch (which
          // measured a large part of the cost of a message here).
          this.#onMessage({ target: this, data } as unknown as Event);
        } else {
          this.dispatchEvent(new MessageEvent("message", { data }));
        }
      }
      if (at > 0) {
        buffer.copyWithin(0, at, filled);
        filled -= at;
      }
      if (buffer.length > READ_BYTES && filled <= READ_BYTES / 2) {
        buffer = buffer.slice(0, READ_BYTES);
      }
      if (filled === buffer.length) {
        const grown = new Uint8Array(buffer.length * 2);
        grown.set(buffer);
        buffer = grown;
      }
      const n = await this.#conn.read(buffer.subarray(filled));
      if (n === null) {
        this.#finish();
        return;
      }
      filled += n;
    }
  }

  #onCloseFrame(payload: Uint8Array): void {
    const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
    let reason = "";
    try {
      reason = new TextDecoder("utf-8", { fatal: true }).decode(
        payload.subarray(2),
      );
    } catch {
      // A reason that is not UTF-8 is not worth a protocol error here.
    }
    if (this.#state === OPEN) {
      // The other side closes first: answer with its code, then end.
      this.#state = CLOSING;
      this.#closeCode = code;
      this.#closeReason = reason;
      this.#enqueue(
        encodeServerFrame(
          OP_CLOSE,
          code === 1005 ? new Uint8Array(0) : payload.subarray(0, 2),
        ),
      );
      this.#endAfterFlush = true;
      return;
    }
    // The answer to our close.
    this.#finish();
  }

  /** Ends the connection and says so, once. */
  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#closeTimer);
    this.#state = CLOSED;
    this.#queue = [];
    this.#queued = 0;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
    this.dispatchEvent(
      new CloseEvent("close", {
        code: this.#closeCode,
        reason: this.#closeReason,
        wasClean: this.#closeCode !== ABNORMAL,
      }),
    );
  }
}

function concat(parts: Uint8Array[], bytes: number): Uint8Array {
  const whole = new Uint8Array(bytes);
  let at = 0;
  for (const part of parts) {
    whole.set(part, at);
    at += part.length;
  }
  return whole;
}

/**
 * Finds sockets that went silent, as the runtime's `idleTimeout` does: one
 * timer for all of them, every half heartbeat; a socket that sent nothing
 * since the last look is pinged, and one that stays silent until the next
 * is closed with `1001`.
 */
export class Heartbeat {
  #sockets = new Set<RawSocket>();
  #timer: ReturnType<typeof setInterval>;

  constructor(seconds: number) {
    this.#timer = setInterval(() => this.#look(), seconds * 500);
    // It must not keep the process alive on its own.
    Deno.unrefTimer(Number(this.#timer));
  }

  /** Watches a socket until it closes. */
  watch(socket: RawSocket): void {
    this.#sockets.add(socket);
    socket.addEventListener(
      "close",
      () => this.#sockets.delete(socket),
      { once: true },
    );
  }

  /** Stops watching every socket. */
  stop(): void {
    clearInterval(this.#timer);
  }

  #look(): void {
    for (const socket of this.#sockets) {
      if (socket.heard) {
        socket.heard = false;
      } else if (!socket.pinged) {
        socket.pinged = true;
        socket.ping();
      } else {
        socket.close(CLOSE.goingAway, "No response from ping frame.");
      }
    }
  }
}
