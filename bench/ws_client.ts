/**
 * A small WebSocket client over a raw TCP connection, for the benchmark's
 * load generator and its abuse scenarios.
 *
 * Why not the runtime's `WebSocket`: the load generator must cost less than
 * the server it measures, and the abuse scenarios need what a browser never
 * does (stop reading, pipeline garbage). This client reads into one buffer
 * per connection, hands each text frame to a callback as a byte range
 * without decoding it, and masks with a zero key so that a frame's payload
 * bytes are written as they are (RFC 6455 lets the server accept any key).
 *
 * @module
 */

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Why a connection attempt failed, in a few stable words. */
export class ConnectError extends Error {
  /** A short category for counting: `refused`, `reset`, `http 503`, ... */
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.name = "ConnectError";
    this.kind = kind;
  }
}

/** Options of {@linkcode connectWebSocket}. */
export interface ConnectOptions {
  /** Always 127.0.0.1 in the benchmark. */
  hostname: string;
  /** The server's port. */
  port: number;
  /** The request target, with its query. */
  path: string;
  /** Gives up on the handshake after this many ms. */
  timeoutMs?: number;
  /** Bytes of the read buffer; it grows for larger frames. Default 16 KiB. */
  readBufferBytes?: number;
}

/**
 * Encodes one client frame (FIN set, mask bit set, zero mask key) around
 * `payload`.
 */
export function encodeClientFrame(
  opcode: number,
  payload: Uint8Array,
): Uint8Array {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = new Uint8Array(head + 4 + n);
  writeHeader(frame, opcode, n);
  // The four mask bytes stay zero, so the payload is copied unmasked.
  frame.set(payload, head + 4);
  return frame;
}

/** Writes a masked client frame's head (FIN, opcode, length; zero mask). */
function writeHeader(frame: Uint8Array, opcode: number, n: number): void {
  frame[0] = 0x80 | opcode;
  if (n < 126) {
    frame[1] = 0x80 | n;
  } else if (n < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = n >>> 8;
    frame[3] = n & 0xff;
  } else {
    frame[1] = 0x80 | 127;
    new DataView(frame.buffer).setUint32(6, n);
  }
}

/** Encodes a text frame; ASCII text (every frame the benchmark sends) is encoded once. */
export function encodeTextFrame(text: string): Uint8Array {
  const n = text.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = new Uint8Array(head + 4 + n);
  const { read, written } = encoder.encodeInto(text, frame.subarray(head + 4));
  // One byte for each UTF-16 unit read means the text was all ASCII.
  if (read !== n || written !== n) {
    return encodeClientFrame(OP_TEXT, encoder.encode(text));
  }
  writeHeader(frame, OP_TEXT, n);
  return frame;
}

/** Handlers of a {@linkcode RawWebSocket}. */
export interface RawHandlers {
  /**
   * A text or binary message, as a byte range of a buffer that is reused
   * right after the call: read it now or copy it.
   */
  onMessage?(
    bytes: Uint8Array,
    start: number,
    end: number,
    binary: boolean,
  ): void;
  /** The connection ended: a close frame's code, or 1006 for none. */
  onClose?(code: number, reason: string): void;
}

/** A client WebSocket over a raw TCP connection. */
export class RawWebSocket {
  readonly conn: Deno.TcpConn;
  handlers: RawHandlers = {};
  /** Text and binary messages received. */
  received = 0;
  /** Bytes written to the socket so far. */
  written = 0;
  /** The close code once closed, else 0. */
  closedCode = 0;
  closedReason = "";
  #buf: Uint8Array;
  #len = 0;
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #writing = false;
  #scheduled = false;
  #reading = true;
  #fragments: Uint8Array[] | null = null;
  #fragmentBinary = false;
  #drainWaiters: (() => void)[] = [];

  constructor(conn: Deno.TcpConn, buffer: Uint8Array, length: number) {
    this.conn = conn;
    this.#buf = buffer;
    this.#len = length;
  }

  /** Whether the connection has ended. */
  get closed(): boolean {
    return this.closedCode !== 0;
  }

  /** Bytes queued and not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.#outBytes;
  }

  /** Starts delivering frames: those read with the handshake first. */
  start(): void {
    this.#parse();
    this.#readLoop();
  }

  /**
   * Stops reading after the read in progress: the slow consumer. The kernel
   * buffers fill, then the server's.
   */
  stopReading(): void {
    this.#reading = false;
  }

  /** Sends a text frame. */
  sendText(text: string): void {
    this.sendRaw(encodeTextFrame(text));
  }

  /** Queues bytes that are already one or more whole frames. */
  sendRaw(bytes: Uint8Array): void {
    if (this.closedCode !== 0) return;
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    this.#schedule();
  }

  /**
   * Writes at the end of the current task, so that frames sent together
   * (an offer and its candidates) go out in one write.
   */
  #schedule(): void {
    if (this.#writing || this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      if (!this.#writing) this.#flush();
    });
  }

  /** Resolves once every queued byte is written (or the socket is gone). */
  drained(): Promise<void> {
    if (this.#outBytes === 0 || this.closedCode !== 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Sends a close frame and closes the TCP connection. */
  close(code = 1000): void {
    if (this.closedCode !== 0) return;
    const body = new Uint8Array([code >>> 8, code & 0xff]);
    const frame = encodeClientFrame(OP_CLOSE, body);
    this.#finish(code, "closed by client");
    // Best effort: the close frame, then the socket, without waiting.
    this.conn.write(frame).catch(() => {}).finally(() => {
      try {
        this.conn.close();
      } catch {
        // Already closed.
      }
    });
  }

  /** Closes the TCP connection at once, with no close frame. */
  abort(): void {
    this.#finish(1006, "aborted by client");
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  #finish(code: number, reason: string): void {
    if (this.closedCode !== 0) return;
    this.closedCode = code;
    this.closedReason = reason;
    this.#out = [];
    this.#outBytes = 0;
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
    this.handlers.onClose?.(code, reason);
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#out.length > 0 && this.closedCode === 0) {
        let chunk: Uint8Array;
        if (this.#out.length === 1) {
          chunk = this.#out[0];
        } else {
          chunk = new Uint8Array(this.#outBytes);
          let at = 0;
          for (const part of this.#out) {
            chunk.set(part, at);
            at += part.length;
          }
        }
        this.#out = [];
        this.#outBytes = 0;
        let at = 0;
        while (at < chunk.length) {
          at += await this.conn.write(chunk.subarray(at));
        }
        this.written += chunk.length;
      }
    } catch {
      this.#finish(1006, "write failed");
      try {
        this.conn.close();
      } catch {
        // Already closed.
      }
    } finally {
      this.#writing = false;
      if (this.#outBytes === 0) {
        for (const resolve of this.#drainWaiters.splice(0)) resolve();
      }
    }
  }

  async #readLoop(): Promise<void> {
    try {
      while (this.#reading && this.closedCode === 0) {
        if (this.#len === this.#buf.length) this.#grow(this.#buf.length * 2);
        const n = await this.conn.read(this.#buf.subarray(this.#len));
        if (n === null) break;
        this.#len += n;
        this.#parse();
      }
    } catch {
      // Reset or closed under us: reported as 1006 below.
    }
    if (this.#reading) {
      this.#finish(1006, "connection lost");
      try {
        this.conn.close();
      } catch {
        // Already closed.
      }
    }
  }

  #grow(size: number): void {
    const bigger = new Uint8Array(size);
    bigger.set(this.#buf.subarray(0, this.#len));
    this.#buf = bigger;
  }

  #parse(): void {
    const buf = this.#buf;
    let at = 0;
    while (this.#len - at >= 2 && this.closedCode === 0) {
      const b0 = buf[at];
      const b1 = buf[at + 1];
      let size = b1 & 0x7f;
      let head = 2;
      if (size === 126) {
        if (this.#len - at < 4) break;
        size = (buf[at + 2] << 8) | buf[at + 3];
        head = 4;
      } else if (size === 127) {
        if (this.#len - at < 10) break;
        size = buf[at + 6] * 0x1000000 +
          ((buf[at + 7] << 16) | (buf[at + 8] << 8) | buf[at + 9]);
        head = 10;
      }
      if (b1 & 0x80) head += 4; // A server must not mask; tolerate it unread.
      if (this.#len - at < head + size) {
        if (head + size > buf.length) {
          // The frame does not fit: move it to the front of a larger buffer.
          const bigger = new Uint8Array(Math.max(head + size, buf.length * 2));
          bigger.set(buf.subarray(at, this.#len));
          this.#buf = bigger;
          this.#len -= at;
          return;
        }
        break;
      }
      const start = at + head;
      const end = start + size;
      this.#frame(b0, buf, start, end);
      at = end;
    }
    if (at > 0) {
      buf.copyWithin(0, at, this.#len);
      this.#len -= at;
    }
  }

  #frame(b0: number, buf: Uint8Array, start: number, end: number): void {
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if (opcode === OP_TEXT || opcode === OP_BINARY) {
      if (fin) {
        this.received++;
        this.handlers.onMessage?.(buf, start, end, opcode === OP_BINARY);
      } else {
        this.#fragments = [buf.slice(start, end)];
        this.#fragmentBinary = opcode === OP_BINARY;
      }
    } else if (opcode === OP_CONTINUATION && this.#fragments) {
      this.#fragments.push(buf.slice(start, end));
      if (fin) {
        const whole = concat(this.#fragments);
        this.#fragments = null;
        this.received++;
        this.handlers.onMessage?.(whole, 0, whole.length, this.#fragmentBinary);
      }
    } else if (opcode === OP_CLOSE) {
      const code = end - start >= 2 ? (buf[start] << 8) | buf[start + 1] : 1005;
      const reason = end - start > 2
        ? decoder.decode(buf.subarray(start + 2, end))
        : "";
      const reply = encodeClientFrame(
        OP_CLOSE,
        buf.slice(start, Math.min(end, start + 2)),
      );
      this.#finish(code, reason);
      this.conn.write(reply).catch(() => {}).finally(() => {
        try {
          this.conn.close();
        } catch {
          // Already closed.
        }
      });
    } else if (opcode === OP_PING) {
      // Deno's server pings every idleTimeout seconds: answer as a browser does.
      this.#out.push(encodeClientFrame(0xa, buf.slice(start, end)));
      this.#outBytes += end - start + 6;
      this.#schedule();
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const part of parts) n += part.length;
  const whole = new Uint8Array(n);
  let at = 0;
  for (const part of parts) {
    whole.set(part, at);
    at += part.length;
  }
  return whole;
}

const HANDSHAKE_END = [13, 10, 13, 10];

function headerEnd(buf: Uint8Array, length: number): number {
  outer: for (let i = 0; i + 4 <= length; i++) {
    for (let j = 0; j < 4; j++) {
      if (buf[i + j] !== HANDSHAKE_END[j]) continue outer;
    }
    return i + 4;
  }
  return -1;
}

function connectErrorKind(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "refused";
  if (error instanceof Deno.errors.ConnectionReset) return "reset";
  if (error instanceof Deno.errors.ConnectionAborted) return "aborted";
  if (error instanceof Deno.errors.TimedOut) return "timeout";
  const text = String((error as Error)?.message ?? error);
  if (/too many open files|os error 24/i.test(text)) return "client-emfile";
  if (/address not available|os error 99/i.test(text)) return "client-no-port";
  return "error";
}

/**
 * Opens a WebSocket: TCP connect, upgrade request, `101` answer. Throws a
 * {@linkcode ConnectError} whose `kind` says what went wrong.
 */
export async function connectWebSocket(
  options: ConnectOptions,
): Promise<RawWebSocket> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  let conn: Deno.TcpConn | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }, timeoutMs);
  try {
    try {
      conn = await Deno.connect({
        hostname: options.hostname,
        port: options.port,
      });
    } catch (error) {
      throw new ConnectError(
        timedOut ? "timeout" : connectErrorKind(error),
        String(error),
      );
    }
    if (timedOut) {
      conn.close();
      throw new ConnectError("timeout", "Cannot connect: timed out");
    }
    conn.setNoDelay(true);
    const request = `GET ${options.path} HTTP/1.1\r\n` +
      `Host: ${options.hostname}:${options.port}\r\n` +
      "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: YmVhbS1iZW5jaC1rZXktMQ==\r\n" +
      "Sec-WebSocket-Version: 13\r\n\r\n";
    const buf = new Uint8Array(options.readBufferBytes ?? 16 * 1024);
    let len = 0;
    try {
      await conn.write(encoder.encode(request));
      while (true) {
        const n = await conn.read(buf.subarray(len));
        if (n === null) {
          throw new ConnectError(
            "reset",
            "Cannot upgrade: connection closed before an answer",
          );
        }
        len += n;
        const end = headerEnd(buf, len);
        if (end === -1) {
          if (len === buf.length) {
            throw new ConnectError(
              "error",
              "Cannot upgrade: answer headers too long",
            );
          }
          continue;
        }
        const head = decoder.decode(buf.subarray(0, end));
        const status = Number(head.slice(9, 12));
        if (status !== 101) {
          throw new ConnectError(
            `http ${status}`,
            `Cannot upgrade: ${head.split("\r\n")[0]}`,
          );
        }
        buf.copyWithin(0, end, len);
        len -= end;
        break;
      }
    } catch (error) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
      if (error instanceof ConnectError) throw error;
      throw new ConnectError(
        timedOut ? "timeout" : connectErrorKind(error),
        String(error),
      );
    }
    if (timedOut) {
      throw new ConnectError("timeout", "Cannot upgrade: timed out");
    }
    return new RawWebSocket(conn, buf, len);
  } finally {
    clearTimeout(timer);
  }
}

/** Decodes a byte range as text (for the rare frames the load does not expect). */
export function decodeText(
  bytes: Uint8Array,
  start: number,
  end: number,
): string {
  return decoder.decode(bytes.subarray(start, end));
}
