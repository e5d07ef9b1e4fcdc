/**
 * A WebSocket client written by hand over `Deno.connect`: the load of the
 * signaling benchmark (`bench/load_client.ts`) and the tests' clients that
 * do what a browser never does (stop reading, leave pings unanswered, send
 * their own close frame, hold many sockets).
 *
 * Why not the runtime's `WebSocket`: the load must cost less than the
 * server it measures, and the tests need control a browser's API does not
 * give. A socket is used in one of two ways:
 *
 * - pushed ({@linkcode RawWebSocket.start}): a read loop hands each message
 *   to a callback as a byte range of one reused buffer, without decoding
 *   it, and answers pings and close frames as a browser does;
 * - pulled ({@linkcode RawWebSocket.readFrame}): every frame, control frames
 *   too, is read only when asked for and nothing is answered, so a test
 *   that stops asking is a peer that stopped reading.
 *
 * Frames are masked with a zero key, so a payload is written as it is (RFC
 * 6455 lets the server accept any key; the benchmark saves the XOR).
 *
 * @module
 */

/** WebSocket opcodes (RFC 6455, 5.2). */
export const OP = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Why a connection attempt failed, in a few stable words. */
export class ConnectError extends Error {
  /** A short category for counting: `refused`, `reset`, `http 503`, ... */
  readonly kind: string;
  /** The HTTP status, when the server answered the upgrade with another. */
  readonly status: number | undefined;
  /** The body of that answer (a refusal's reason). */
  readonly body: string;

  constructor(kind: string, message: string, status?: number, body = "") {
    super(message);
    this.name = "ConnectError";
    this.kind = kind;
    this.status = status;
    this.body = body;
  }
}

/** Options of {@linkcode connectWebSocket}. */
export interface ConnectOptions {
  /** The server's port. */
  port: number;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** The request target, with its query. Default `/api/signal`. */
  path?: string;
  /** More headers for the upgrade request (`Origin`, `X-Forwarded-For`). */
  headers?: Record<string, string>;
  /** Gives up on the handshake after this many ms. Default 10 s. */
  timeoutMs?: number;
  /** Bytes of the read buffer; it grows for larger frames. Default 16 KiB. */
  readBufferBytes?: number;
}

/** One frame as read in pull mode. */
export interface Frame {
  opcode: number;
  fin: boolean;
  payload: Uint8Array;
}

/** Handlers of a pushed {@linkcode RawWebSocket}. */
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

/** Writes a masked client frame's head (FIN, opcode, length; zero mask). */
function writeHead(frame: Uint8Array, opcode: number, n: number): number {
  frame[0] = 0x80 | opcode;
  if (n < 126) {
    frame[1] = 0x80 | n;
    return 2 + 4;
  }
  if (n < 65536) {
    frame[1] = 0x80 | 126;
    frame[2] = n >>> 8;
    frame[3] = n & 0xff;
    return 4 + 4;
  }
  frame[1] = 0x80 | 127;
  new DataView(frame.buffer).setBigUint64(2, BigInt(n));
  return 10 + 4;
}

function headBytes(n: number): number {
  return (n < 126 ? 2 : n < 65536 ? 4 : 10) + 4;
}

/** One client frame (FIN set, zero mask key) around `payload`. */
export function encodeClientFrame(
  opcode: number,
  payload: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const frame = new Uint8Array(headBytes(payload.length) + payload.length);
  // The four mask bytes stay zero, so the payload is copied unmasked.
  frame.set(payload, writeHead(frame, opcode, payload.length));
  return frame;
}

/** A text frame; ASCII text (all the benchmark sends) is encoded once. */
export function encodeTextFrame(text: string): Uint8Array<ArrayBuffer> {
  const n = text.length;
  const frame = new Uint8Array(headBytes(n) + n);
  const at = frame.length - n;
  const { read, written } = encoder.encodeInto(text, frame.subarray(at));
  // One byte for each UTF-16 unit read means the text was all ASCII.
  if (read !== n || written !== n) {
    return encodeClientFrame(OP.TEXT, encoder.encode(text));
  }
  writeHead(frame, OP.TEXT, n);
  return frame;
}

/** The code and reason of a close frame's payload (1005: none given). */
export function closePayload(
  payload: Uint8Array,
): { code: number; reason: string } {
  if (payload.length < 2) return { code: 1005, reason: "" };
  return {
    code: (payload[0] << 8) | payload[1],
    reason: decoder.decode(payload.subarray(2)),
  };
}

/** A byte range as text (for the frames the load does not expect). */
export function decodeText(
  bytes: Uint8Array,
  start: number,
  end: number,
): string {
  return decoder.decode(bytes.subarray(start, end));
}

/**
 * Where the frame at `at` lies in `buf[0, len)`: its first byte, payload
 * start and end; `null` until all of it has been read.
 */
function frameAt(
  buf: Uint8Array,
  at: number,
  len: number,
): { b0: number; start: number; end: number } | null {
  if (len - at < 2) return null;
  const b1 = buf[at + 1];
  let size = b1 & 0x7f;
  let head = 2;
  if (size === 126) {
    if (len - at < 4) return null;
    size = (buf[at + 2] << 8) | buf[at + 3];
    head = 4;
  } else if (size === 127) {
    if (len - at < 10) return null;
    size = Number(
      new DataView(buf.buffer, buf.byteOffset).getBigUint64(at + 2),
    );
    head = 10;
  }
  // A server must not mask (RFC 6455, 5.1); skip the key rather than fail.
  if (b1 & 0x80) head += 4;
  const start = at + head;
  const end = start + size;
  return end <= len ? { b0: buf[at], start, end } : null;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    at += await conn.write(bytes.subarray(at));
  }
}

/** A client WebSocket over a raw TCP connection. */
export class RawWebSocket {
  readonly conn: Deno.TcpConn;
  /** What a pushed socket calls; set before {@linkcode start}. */
  handlers: RawHandlers = {};
  /** The close code once closed (a pushed socket's view), else 0. */
  closedCode = 0;
  closedReason = "";
  /** Pings a pushed socket has answered. */
  pings = 0;
  #buf: Uint8Array;
  #len: number;
  #mode: "new" | "pushed" | "pulled" = "new";
  #eof = false;
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #scheduled = false;
  #writing = false;
  #flushed: Promise<void> = Promise.resolve();
  #drainWaiters: (() => void)[] = [];
  #reading: Promise<void> | undefined;
  #shutting: Promise<void> | undefined;
  #fragments: Uint8Array[] | null = null;
  #fragmentBinary = false;

  /** Made by {@linkcode connectWebSocket}, with what the handshake read past its end. */
  constructor(conn: Deno.TcpConn, buffer: Uint8Array, length: number) {
    this.conn = conn;
    this.#buf = buffer;
    this.#len = length;
  }

  /** Whether the connection has ended. */
  get closed(): boolean {
    return this.closedCode !== 0;
  }

  #use(mode: "pushed" | "pulled"): void {
    if (this.#mode === "new") this.#mode = mode;
    if (this.#mode !== mode) {
      throw new Error(
        `Cannot use this socket as ${mode}: it is already ${this.#mode}`,
      );
    }
  }

  // Pushed

  /** Starts delivering messages to the handlers, from the bytes read so far. */
  start(): void {
    this.#use("pushed");
    this.#reading = this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    try {
      this.#deliver();
      while (this.closedCode === 0) {
        if (this.#len === this.#buf.length) this.#grow();
        const n = await this.conn.read(this.#buf.subarray(this.#len));
        if (n === null) break;
        this.#len += n;
        this.#deliver();
      }
    } catch {
      // Reset, or closed under us: reported as 1006 below.
    }
    if (this.closedCode === 0) {
      this.#finish(1006, "connection lost");
      void this.#shut();
    }
  }

  #grow(): void {
    const bigger = new Uint8Array(this.#buf.length * 2);
    bigger.set(this.#buf.subarray(0, this.#len));
    this.#buf = bigger;
  }

  /** Hands over every whole frame in the buffer, then moves the rest to its front. */
  #deliver(): void {
    let at = 0;
    while (this.closedCode === 0) {
      const frame = frameAt(this.#buf, at, this.#len);
      if (frame === null) break;
      this.#onFrame(frame.b0, frame.start, frame.end);
      at = frame.end;
    }
    if (at > 0) {
      this.#buf.copyWithin(0, at, this.#len);
      this.#len -= at;
    }
  }

  #onFrame(b0: number, start: number, end: number): void {
    const buf = this.#buf;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if (opcode === OP.TEXT || opcode === OP.BINARY) {
      if (fin) {
        this.handlers.onMessage?.(buf, start, end, opcode === OP.BINARY);
      } else {
        this.#fragments = [buf.slice(start, end)];
        this.#fragmentBinary = opcode === OP.BINARY;
      }
    } else if (opcode === OP.CONTINUATION && this.#fragments) {
      this.#fragments.push(buf.slice(start, end));
      if (fin) {
        const whole = concat(this.#fragments);
        this.#fragments = null;
        this.handlers.onMessage?.(whole, 0, whole.length, this.#fragmentBinary);
      }
    } else if (opcode === OP.CLOSE) {
      const { code, reason } = closePayload(buf.subarray(start, end));
      // Echo the code, as a browser does, then end the connection.
      const echo = encodeClientFrame(OP.CLOSE, buf.slice(start, start + 2));
      this.#finish(code, reason);
      void this.#shut(echo);
    } else if (opcode === OP.PING) {
      // The server pings every idleTimeout seconds: answer as a browser does.
      this.pings++;
      this.sendRaw(encodeClientFrame(OP.PONG, buf.slice(start, end)));
    }
  }

  // Pulled

  /**
   * The next frame, whatever it is; reads from the socket only when the
   * buffer holds no whole frame. Throws when the stream ends first.
   */
  async readFrame(): Promise<Frame> {
    this.#use("pulled");
    for (;;) {
      const frame = frameAt(this.#buf, 0, this.#len);
      if (frame !== null) {
        const payload = this.#buf.slice(frame.start, frame.end);
        this.#buf.copyWithin(0, frame.end, this.#len);
        this.#len -= frame.end;
        return {
          opcode: frame.b0 & 0x0f,
          fin: (frame.b0 & 0x80) !== 0,
          payload,
        };
      }
      if (!await this.#fill()) {
        throw new Error("Cannot read a frame: the stream ended mid-frame");
      }
    }
  }

  /** The next frame, which must be text, parsed as JSON. */
  async readJson(): Promise<unknown[]> {
    const { opcode, payload } = await this.readFrame();
    if (opcode !== OP.TEXT) {
      throw new Error(`Cannot read JSON: got a frame of opcode ${opcode}`);
    }
    return JSON.parse(decoder.decode(payload));
  }

  /** Reads and drops everything until the server ends the TCP stream. */
  async readToEnd(): Promise<void> {
    this.#use("pulled");
    this.#len = 0;
    while (await this.#fill()) this.#len = 0;
  }

  /** Reads more bytes into the buffer; false at the end of the stream. */
  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#len === this.#buf.length) this.#grow();
    const n = await this.conn.read(this.#buf.subarray(this.#len));
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#len += n;
    return true;
  }

  // Writing

  /** Sends a text frame. */
  sendText(text: string): void {
    this.sendRaw(encodeTextFrame(text));
  }

  /** Sends any frame; resolves once it is written. */
  sendFrame(opcode: number, payload: Uint8Array): Promise<void> {
    this.sendRaw(encodeClientFrame(opcode, payload));
    return this.drained();
  }

  /**
   * Queues bytes that are already whole frames. They are written at the
   * end of the current task, so frames sent together (an offer and its
   * candidates) go out in one write.
   */
  sendRaw(bytes: Uint8Array): void {
    if (this.#shutting) return;
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (this.#writing || this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      if (!this.#writing) this.#flushed = this.#flush();
    });
  }

  /** Resolves once every queued byte is written (or the socket is gone). */
  drained(): Promise<void> {
    if ((this.#outBytes === 0 && !this.#writing) || this.#shutting) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#out.length > 0 && !this.#shutting) {
        const chunk = this.#out.length === 1 ? this.#out[0] : concat(this.#out);
        this.#out = [];
        this.#outBytes = 0;
        await writeAll(this.conn, chunk);
      }
    } catch {
      this.#finish(1006, "write failed");
      void this.#shut();
    } finally {
      // At once, in the same turn as the loop's end: a frame queued from
      // now on starts a new flush.
      this.#writing = false;
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
  }

  // Ending

  /**
   * Sends a close frame and closes the TCP connection at once, without
   * waiting for the server's; resolves when both are done and nothing of
   * this socket is pending.
   */
  close(code = 1000): Promise<void> {
    this.#finish(code, "closed by client");
    const body = new Uint8Array([code >>> 8, code & 0xff]);
    return this.#shut(encodeClientFrame(OP.CLOSE, body));
  }

  /** Closes the TCP connection with no close frame. */
  abort(): Promise<void> {
    this.#finish(1006, "aborted by client");
    return this.#shut();
  }

  /** Records the end once and tells the handler. */
  #finish(code: number, reason: string): void {
    if (this.closedCode !== 0) return;
    this.closedCode = code;
    this.closedReason = reason;
    this.handlers.onClose?.(code, reason);
  }

  /**
   * Writes `last` (best effort, and not past a write that is stuck),
   * closes the connection, and waits until nothing of this socket runs.
   */
  #shut(last?: Uint8Array): Promise<void> {
    this.#shutting ??= (async () => {
      this.#out = [];
      this.#outBytes = 0;
      if (last && !this.#eof && !this.#writing) {
        await within(writeAll(this.conn, last), 1000).catch(() => {});
      }
      try {
        this.conn.close();
      } catch {
        // Already closed.
      }
      await this.#flushed;
      await this.#reading;
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    })();
    return this.#shutting;
  }
}

/** `promise`, or a rejection after `ms` (its timer cleared either way). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
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

/** The end of an HTTP head (`\r\n\r\n`) in `buf[0, len)`, past it; -1 if not yet. */
function headEnd(buf: Uint8Array, len: number): number {
  for (let i = 3; i < len; i++) {
    if (
      buf[i] === 10 && buf[i - 1] === 13 && buf[i - 2] === 10 &&
      buf[i - 3] === 13
    ) return i + 1;
  }
  return -1;
}

function errorKind(error: unknown): string {
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
 * {@linkcode ConnectError} whose `kind` says what went wrong; for another
 * answer than 101 it holds the status and the body.
 */
export async function connectWebSocket(
  options: ConnectOptions,
): Promise<RawWebSocket> {
  const hostname = options.hostname ?? "127.0.0.1";
  const where = `${hostname}:${options.port}`;
  let conn: Deno.TcpConn | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }, options.timeoutMs ?? 10_000);
  const fail = (error: unknown): never => {
    if (error instanceof ConnectError) throw error;
    throw new ConnectError(
      timedOut ? "timeout" : errorKind(error),
      `Cannot open a WebSocket to ${where}: ${
        timedOut ? "timed out" : (error as Error)?.message ?? error
      }`,
    );
  };
  try {
    try {
      conn = await Deno.connect({ hostname, port: options.port });
    } catch (error) {
      fail(error);
    }
    if (timedOut) {
      conn!.close();
      fail(new Error("timed out"));
    }
    conn!.setNoDelay(true);
    const key = btoa(
      String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
    );
    const extra = Object.entries(options.headers ?? {})
      .map(([name, value]) => `${name}: ${value}\r\n`).join("");
    const request = `GET ${options.path ?? "/api/signal"} HTTP/1.1\r\n` +
      `Host: ${where}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
      `${extra}\r\n`;
    let buf = new Uint8Array(options.readBufferBytes ?? 16 * 1024);
    let len = 0;
    const fill = async () => {
      if (len === buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = await conn!.read(buf.subarray(len));
      if (n !== null) len += n;
      return n !== null;
    };
    try {
      await writeAll(conn!, encoder.encode(request));
      let end;
      while ((end = headEnd(buf, len)) === -1) {
        if (!await fill()) {
          throw new ConnectError(
            "reset",
            `Cannot open a WebSocket to ${where}: the connection closed before an answer`,
          );
        }
      }
      const head = decoder.decode(buf.subarray(0, end));
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      if (status !== 101) {
        // Read the body too: a refusal says why in it.
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1]);
        while (len - end < (length || 0) && await fill());
        const body = decoder.decode(buf.subarray(end, len));
        conn!.close();
        throw new ConnectError(
          `http ${status}`,
          `Cannot open a WebSocket to ${where}: the server answered ${
            head.split("\r\n")[0]
          }`,
          status,
          body,
        );
      }
      buf.copyWithin(0, end, len);
      len -= end;
    } catch (error) {
      try {
        conn!.close();
      } catch {
        // Already closed.
      }
      fail(error);
    }
    if (timedOut) fail(new Error("timed out"));
    return new RawWebSocket(conn!, buf, len);
  } finally {
    clearTimeout(timer);
  }
}
