/**
 * The `raw` signaling transport's listener: a TCP server in front of
 * `Deno.serve` that takes WebSocket upgrades to `/api/signal` itself
 * (lib/signal/raw_socket.ts: a frame past the cap is refused at its header,
 * before the runtime could buffer it) and hands every other connection, byte
 * for byte, to the app's `Deno.serve` on a loopback port of its own.
 *
 * `Deno.serve` cannot give a handler its TCP connection, so this is the only
 * way to see a frame's header before its payload. It needs `Deno.listen`,
 * which Deno Deploy does not offer: there the transport stays `native`.
 *
 * The HTTP parsing here is only what an upgrade needs: the request line and
 * the headers, at most 16 KiB, within 10 s. An upgrade that comes on a
 * connection already handed to `Deno.serve` (a keep-alive after another
 * request; browsers never do this) reaches the app, which refuses it, so
 * every WebSocket is a raw one.
 *
 * @module
 */

import {
  clientAddress,
  notUpgrade,
  type SignalServer,
} from "../signal/server.ts";
import { acceptKey, Heartbeat, RawSocket } from "../signal/raw_socket.ts";

/** Longest request head taken, in bytes. */
const MAX_HEAD_BYTES = 16_384;
/** How long a client may take to send its request head. */
const HEAD_TIMEOUT_MS = 10_000;

/** Options of {@linkcode serveFront}. */
export interface FrontOptions {
  /** Where to listen. */
  hostname: string;
  /** Port to listen on; 0 for any free one. */
  port: number;
  /** The signaling server that takes the WebSockets. */
  signal: SignalServer;
  /** The app's handler, for every other request. */
  handler: (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response>;
  /** Called once listening. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/** A running front. */
export interface Front {
  /** Where it listens. */
  addr: Deno.NetAddr;
  /** Stops taking connections and ends the app's `Deno.serve`. */
  shutdown(): Promise<void>;
}

/** The refusal of an upgrade the app's own route makes on a reused connection. */
const UPGRADE_ON_REUSED_CONNECTION =
  "Bad Request: a WebSocket to /api/signal needs a connection of its own\n";

/** Starts the front and the app's `Deno.serve` behind it. */
export function serveFront(options: FrontOptions): Front {
  const inner = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request, info) => {
      // Only a keep-alive connection handed on brings an upgrade here: it
      // would be a native WebSocket, which buffers whole frames.
      if (request.headers.get("upgrade") !== null) {
        return new Response(UPGRADE_ON_REUSED_CONNECTION, {
          status: 400,
          headers: {
            "content-type": "text/plain; charset=utf-8",
            connection: "close",
          },
        });
      }
      return options.handler(request, info);
    },
  );
  const listener = Deno.listen({
    hostname: options.hostname,
    port: options.port,
    transport: "tcp",
  });
  const heartbeat = new Heartbeat(options.signal.heartbeatSeconds);
  const conns = new Set<Deno.Conn>();
  const accepting = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      take(conn, inner.addr.port, options.signal, heartbeat)
        .catch(() => {})
        .finally(() => {
          conns.delete(conn);
          try {
            conn.close();
          } catch {
            // Closed already.
          }
        });
    }
  })().catch(() => {});
  options.onListen?.(listener.addr);
  return {
    addr: listener.addr,
    async shutdown() {
      listener.close();
      heartbeat.stop();
      await accepting;
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
      await inner.shutdown();
    },
  };
}

/** The parts of a request head an upgrade needs. */
interface Head {
  method: string;
  target: string;
  headers: Headers;
  /** Bytes of the head, as they came. */
  bytes: Uint8Array;
  /** What came after the head in the same reads. */
  rest: Uint8Array;
}

/** Reads a request head; `null` when the connection ends first or it is not HTTP/1.1. */
async function readHead(conn: Deno.Conn): Promise<Head | null> {
  const buffer = new Uint8Array(MAX_HEAD_BYTES);
  let filled = 0;
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }, HEAD_TIMEOUT_MS);
  try {
    for (;;) {
      const n = await conn.read(buffer.subarray(filled));
      if (n === null) return null;
      const from = Math.max(0, filled - 3);
      filled += n;
      const end = indexOfEnd(buffer, from, filled);
      if (end !== -1) {
        const bytes = buffer.slice(0, end + 4);
        return {
          ...parseHead(new TextDecoder("latin1").decode(bytes)),
          bytes,
          rest: buffer.slice(end + 4, filled),
        };
      }
      // Too long for an upgrade: let the app's server answer it as it
      // would (it has the bytes so far, and the rest follows).
      if (filled === buffer.length) {
        return {
          method: "",
          target: "",
          headers: new Headers(),
          bytes: buffer.slice(0, filled),
          rest: new Uint8Array(0),
        };
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

function indexOfEnd(buffer: Uint8Array, from: number, to: number): number {
  for (let i = from; i + 3 < to; i++) {
    if (
      buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 &&
      buffer[i + 3] === 10
    ) return i;
  }
  return -1;
}

function parseHead(text: string): Omit<Head, "bytes" | "rest"> {
  const lines = text.split("\r\n");
  const [method = "", target = "", version = ""] = lines[0].split(" ");
  const headers = new Headers();
  if (version !== "HTTP/1.1") return { method: "", target: "", headers };
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    try {
      headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    } catch {
      // Not a header name or value: such a request is not an upgrade.
      return { method: "", target: "", headers: new Headers() };
    }
  }
  return { method, target, headers };
}

/** Serves one connection: a raw WebSocket, or handed to the app. */
async function take(
  conn: Deno.Conn,
  innerPort: number,
  signal: SignalServer,
  heartbeat: Heartbeat,
): Promise<void> {
  const head = await readHead(conn);
  if (head === null) return;
  const path = head.target.split("?")[0];
  if (
    head.method === "GET" && path === "/api/signal" &&
    head.headers.get("upgrade")?.toLowerCase() === "websocket"
  ) {
    await upgrade(conn, head, signal, heartbeat);
    return;
  }
  const inner = await Deno.connect({ hostname: "127.0.0.1", port: innerPort });
  try {
    await writeAll(inner, head.bytes);
    await writeAll(inner, head.rest);
    // Either side ending ends both.
    await Promise.race([
      conn.readable.pipeTo(inner.writable, { preventClose: false }),
      inner.readable.pipeTo(conn.writable, { preventClose: false }),
    ]).catch(() => {});
  } finally {
    try {
      inner.close();
    } catch {
      // Closed by the pipe.
    }
  }
}

async function upgrade(
  conn: Deno.Conn,
  head: Head,
  signal: SignalServer,
  heartbeat: Heartbeat,
): Promise<void> {
  const host = head.headers.get("host") ?? "localhost";
  let request: Request;
  try {
    request = new Request(`http://${host}${head.target}`, {
      headers: head.headers,
    });
  } catch {
    await respond(conn, new Response("400 Bad Request\n", { status: 400 }));
    return;
  }
  const address = signal.admit(request, clientAddress(conn));
  if (address instanceof Response) {
    await respond(conn, address);
    return;
  }
  const key = head.headers.get("sec-websocket-key");
  if (
    key === null || head.headers.get("sec-websocket-version") !== "13" ||
    !/\bupgrade\b/i.test(head.headers.get("connection") ?? "")
  ) {
    await respond(conn, notUpgrade());
    return;
  }
  await writeAll(
    conn,
    new TextEncoder().encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${await acceptKey(key)}\r\n\r\n`,
    ),
  );
  const socket = new RawSocket(conn, signal.maxFrameBytes);
  signal.adopt(socket, address, head.target);
  heartbeat.watch(socket);
  const closed = new Promise((resolve) =>
    socket.addEventListener("close", resolve, { once: true })
  );
  await socket.start(head.rest);
  await closed;
}

/** Reason phrases of the refusals an upgrade can get here. */
const REASONS: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  426: "Upgrade Required",
  503: "Service Unavailable",
};

/** Writes a whole response and ends the connection (`Connection: close`). */
async function respond(conn: Deno.Conn, response: Response): Promise<void> {
  const body = new Uint8Array(await response.arrayBuffer());
  const reason = response.statusText || REASONS[response.status] || "";
  let text = `HTTP/1.1 ${response.status} ${reason}\r\n`;
  response.headers.set("connection", "close");
  response.headers.set("content-length", String(body.length));
  for (const [name, value] of response.headers) text += `${name}: ${value}\r\n`;
  await writeAll(conn, new TextEncoder().encode(text + "\r\n"));
  await writeAll(conn, body);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    at += await conn.write(bytes.subarray(at));
  }
}
