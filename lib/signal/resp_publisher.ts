/**
 * The publishing half of the Redis bus: one TCP (or TLS) connection that
 * speaks just enough RESP for `AUTH`, `PUBLISH` and `PING`, on Deno's own
 * sockets.
 *
 * Why not node-redis, which the bus keeps for subscribing: every relayed
 * frame between instances is one PUBLISH, and through Deno's Node layer
 * node-redis spent more per PUBLISH (a command object, a promise, a stream
 * write per command) than Beam spends to relay a frame to a local socket
 * (bench/README.md, "Several instances over Redis"). Here commands written
 * while the previous write is in flight are joined into one write, replies
 * are read in order from one buffer, and each command costs one string
 * append and one callback.
 *
 * @module
 */

/** A reply: an integer, a simple string, or the error Redis answered. */
export type Reply = number | string | Error;

/** What a command's sender is called with, once, in the order sent. */
export type ReplyCallback = (reply: Reply) => void;

const CR = 13;
const LF = 10;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const NON_ASCII = /[\u0080-\uffff]/;

/** The parts of a `redis://` or `rediss://` URL a connection needs. */
export interface RedisAddress {
  hostname: string;
  port: number;
  tls: boolean;
  username: string;
  password: string;
}

/** Reads a Redis URL; throws a `TypeError` naming what is wrong. */
export function parseRedisUrl(url: string): RedisAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError("Cannot read the Redis URL: not a URL");
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new TypeError("Cannot read the Redis URL: not redis:// or rediss://");
  }
  return {
    // An IPv6 host comes in brackets, which connect() does not take.
    hostname: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? 6379 : Number(parsed.port),
    tls: parsed.protocol === "rediss:",
    username: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}

/** Encodes one command as RESP: an array of bulk strings. */
export function encodeCommand(args: string[]): string {
  let text = `*${args.length}\r\n`;
  for (const arg of args) {
    // Bulk lengths count bytes: most frames are ASCII, where that is the
    // string's length, and only the others are encoded to count them.
    const bytes = NON_ASCII.test(arg) ? ENCODER.encode(arg).length : arg.length;
    text += `$${bytes}\r\n${arg}\r\n`;
  }
  return text;
}

/**
 * Parses the replies at the start of `buffer` that are complete. Returns
 * them and how many bytes they took. Only the types AUTH, PUBLISH and PING
 * answer are known; any other throws, since the stream can no longer be
 * followed.
 */
export function parseReplies(
  buffer: Uint8Array,
): { replies: Reply[]; used: number } {
  const replies: Reply[] = [];
  let at = 0;
  for (;;) {
    const end = buffer.indexOf(LF, at);
    if (end === -1 || end === at || buffer[end - 1] !== CR) break;
    const line = DECODER.decode(buffer.subarray(at + 1, end - 1));
    const type = buffer[at];
    if (type === 0x3a) { // ':'
      const value = Number(line);
      if (!/^-?\d+$/.test(line)) {
        throw new TypeError(`Cannot read Redis reply: bad integer "${line}"`);
      }
      replies.push(value);
    } else if (type === 0x2b) { // '+'
      replies.push(line);
    } else if (type === 0x2d) { // '-'
      replies.push(new Error(`Redis answered: ${line}`));
    } else {
      throw new TypeError(
        `Cannot read Redis reply: unexpected type ${
          JSON.stringify(String.fromCharCode(type))
        }`,
      );
    }
    at = end + 1;
  }
  return { replies, used: at };
}

/** One publishing connection to Redis. */
export class RespPublisher {
  #address: RedisAddress;
  #conn: Deno.Conn | null = null;
  #ready = false;
  #closed = false;
  /** Callbacks of commands sent and not yet answered, oldest first. */
  #waiting: ReplyCallback[] = [];
  #head = 0;
  /** Commands not yet handed to the socket. */
  #out = "";
  #writing = false;
  #onState: (ready: boolean, error?: Error) => void;

  /**
   * `onState` hears every change: ready, or not (with why). Nothing
   * connects until {@linkcode RespPublisher.connect}.
   */
  constructor(
    url: string,
    onState: (ready: boolean, error?: Error) => void = () => {},
  ) {
    this.#address = parseRedisUrl(url);
    this.#onState = onState;
  }

  /** Whether commands can be sent now. */
  get isReady(): boolean {
    return this.#ready;
  }

  /**
   * Connects, and keeps connecting after every loss, waiting
   * `delay(attempt)` between tries, until closed. Resolves once connected
   * the first time (or closed).
   */
  connect(delay: (attempt: number) => number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const loop = async () => {
      for (let attempt = 0; !this.#closed;) {
        let conn: Deno.Conn | undefined;
        try {
          conn = await this.#open();
          this.#conn = conn;
          this.#ready = true;
          attempt = 0;
          this.#onState(true);
          resolve();
          await this.#read(conn);
          throw new Error("Redis closed the connection");
        } catch (error) {
          this.#lose(conn, error as Error);
        }
        if (this.#closed) break;
        await new Promise((wake) => setTimeout(wake, delay(attempt++)));
      }
      resolve();
    };
    loop();
    return promise;
  }

  /** Sends a command; `callback` gets its reply, or an error if none comes. */
  send(args: string[], callback: ReplyCallback): boolean {
    if (!this.#ready) return false;
    this.#waiting.push(callback);
    this.#out += encodeCommand(args);
    if (!this.#writing) this.#flush();
    return true;
  }

  /** Closes the connection for good; commands waiting get an error. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#lose(this.#conn ?? undefined, new Error("The publisher closed"));
  }

  async #open(): Promise<Deno.Conn> {
    const { hostname, port, tls, username, password } = this.#address;
    const conn = tls
      ? await Deno.connectTls({ hostname, port })
      : await Deno.connect({ hostname, port });
    if (this.#closed) {
      conn.close();
      throw new Error("The publisher closed");
    }
    if (password !== "" || username !== "") {
      // The reply is read before any other command may go out.
      const auth = username === ""
        ? ["AUTH", password]
        : ["AUTH", username, password];
      await writeAll(conn, ENCODER.encode(encodeCommand(auth)));
      const reply = await readOne(conn);
      if (reply !== "OK") {
        conn.close();
        throw reply instanceof Error
          ? reply
          : new Error(`Redis answered AUTH with ${String(reply)}`);
      }
    }
    return conn;
  }

  /** Writes what was queued, joining what comes meanwhile into one write. */
  async #flush(): Promise<void> {
    const conn = this.#conn;
    if (conn === null) return;
    this.#writing = true;
    try {
      while (this.#out !== "" && this.#conn === conn) {
        const bytes = ENCODER.encode(this.#out);
        this.#out = "";
        await writeAll(conn, bytes);
      }
    } catch (error) {
      this.#lose(conn, error as Error);
    } finally {
      this.#writing = false;
    }
  }

  /** Reads replies and hands each to its command, until the stream ends. */
  async #read(conn: Deno.Conn): Promise<void> {
    let buffer = new Uint8Array(0);
    const chunk = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await conn.read(chunk);
      if (n === null) return;
      const joined = append(buffer, chunk.subarray(0, n));
      const { replies, used } = parseReplies(joined);
      buffer = joined.slice(used);
      for (const reply of replies) {
        const callback = this.#waiting[this.#head];
        if (callback === undefined) {
          throw new TypeError("Cannot read Redis reply: none was asked for");
        }
        this.#waiting[this.#head++] = undefined as unknown as ReplyCallback;
        // Compact now and then, not on every reply.
        if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
          this.#waiting = this.#waiting.slice(this.#head);
          this.#head = 0;
        }
        callback(reply);
      }
    }
  }

  /** The connection is gone: every command waiting gets `error`. */
  #lose(conn: Deno.Conn | undefined, error: Error): void {
    if (conn !== undefined) {
      if (conn === this.#conn) this.#conn = null;
      try {
        conn.close();
      } catch {
        // Already closed: a write and the read both saw it end.
      }
    }
    const waiting = this.#waiting.slice(this.#head);
    this.#waiting = [];
    this.#head = 0;
    this.#out = "";
    this.#ready = false;
    for (const callback of waiting) callback(error);
    if (!this.#closed) this.#onState(false, error);
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Reads exactly one reply from a connection nothing else reads yet. */
async function readOne(conn: Deno.Conn): Promise<Reply> {
  let buffer = new Uint8Array(0);
  const chunk = new Uint8Array(1024);
  for (;;) {
    const n = await conn.read(chunk);
    if (n === null) throw new Error("Redis closed the connection");
    buffer = append(buffer, chunk.subarray(0, n));
    const { replies } = parseReplies(buffer);
    if (replies.length > 0) return replies[0];
  }
}

/** `head` followed by `tail`, in a new array. */
function append(head: Uint8Array, tail: Uint8Array): Uint8Array<ArrayBuffer> {
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head);
  joined.set(tail, head.length);
  return joined;
}
