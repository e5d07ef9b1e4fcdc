/**
 * The transports `bench/frame_cap.ts` compares under the oversized-frame
 * attack of issue #12 item 6, each as a minimal signaling endpoint on
 * `PORT`: it upgrades `/api/signal`, says `assign`, echoes nothing, and
 * closes a connection whose frame is over 64 KiB with 1009. Only what a
 * transport does with the bytes of a large frame is under test here; Beam
 * itself (`main.ts`) is measured as the `native` option.
 *
 * - `ws`: `node:http` and `npm:ws`'s `WebSocketServer` with `maxPayload`,
 *   which refuses at the frame header but keeps reading (and dropping) what
 *   follows until the close handshake ends.
 * - `raw`: a `Deno.listen` TCP server that reads the HTTP upgrade and each
 *   frame header itself, and on a length past the cap writes the 1009 close
 *   and closes the TCP connection before reading a byte of the payload.
 *
 * Usage: `PORT=8000 deno run -A bench/frame_cap_servers.ts ws|raw`
 *
 * @module
 */

import { createServer } from "node:http";

/**
 * `ws` is loaded by a specifier in a variable, so that `deno check` and the
 * lock file of the project never take it in: it is measured here, not used.
 * Run with `--no-lock`.
 */
const WS = "npm:ws@8.18.3";

const CAP = 65_536;
const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const encoder = new TextEncoder();
const port = Number(Deno.env.get("PORT") ?? "8000");
const kind = Deno.args[0];

const assign = () =>
  JSON.stringify([
    "assign",
    btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(12))))
      .replaceAll("+", "-").replaceAll("/", "_"),
  ]);

if (kind === "ws") {
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/plain" });
    response.end("ok\n");
  });
  const { WebSocketServer } = await import(WS);
  const wss = new WebSocketServer({ server, maxPayload: CAP });
  wss.on("connection", (socket: {
    on(event: string, listener: () => void): void;
    send(text: string): void;
  }) => {
    socket.on("error", () => {});
    socket.on("message", () => {});
    socket.send(assign());
  });
  server.listen(port, "127.0.0.1", () => console.log(`ws on ${port}`));
} else if (kind === "raw") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  console.log(`raw on ${port}`);
  for await (const conn of listener) serveRaw(conn).catch(() => {});
} else {
  console.error("Usage: frame_cap_servers.ts ws|raw");
  Deno.exit(2);
}

/** One raw connection: the HTTP head, then frame headers. */
async function serveRaw(conn: Deno.TcpConn): Promise<void> {
  let buffer = new Uint8Array(16_384);
  let filled = 0;
  const fill = async (need: number): Promise<boolean> => {
    while (filled < need) {
      if (need > buffer.length) {
        const grown = new Uint8Array(Math.max(need, buffer.length * 2));
        grown.set(buffer.subarray(0, filled));
        buffer = grown;
      }
      const n = await conn.read(buffer.subarray(filled));
      if (n === null) return false;
      filled += n;
    }
    return true;
  };
  const take = (n: number) => {
    const bytes = buffer.slice(0, n);
    buffer.copyWithin(0, n, filled);
    filled -= n;
    return bytes;
  };
  try {
    // The head: at most 8 KiB.
    let end = -1;
    while (end === -1) {
      if (filled >= 8192 || !await fill(filled + 1)) return;
      end = new TextDecoder().decode(buffer.subarray(0, filled)).indexOf(
        "\r\n\r\n",
      );
    }
    const head = new TextDecoder().decode(take(end + 4));
    const key = /^sec-websocket-key:\s*(\S+)\s*$/im.exec(head)?.[1];
    if (key === undefined) return;
    const digest = await crypto.subtle.digest(
      "SHA-1",
      encoder.encode(key + GUID),
    );
    const accept = btoa(String.fromCharCode(...new Uint8Array(digest)));
    await conn.write(encoder.encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
        `Connection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    ));
    await conn.write(textFrame(assign()));
    for (;;) {
      if (!await fill(2)) return;
      let length = buffer[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (!await fill(4)) return;
        length = (buffer[2] << 8) | buffer[3];
        offset = 4;
      } else if (length === 127) {
        if (!await fill(10)) return;
        const view = new DataView(buffer.buffer, 2, 8);
        length = view.getUint32(0) * 2 ** 32 + view.getUint32(4);
        offset = 10;
      }
      if (length > CAP) {
        // Refused at the header: not one byte of the payload is read.
        await conn.write(closeFrame(1009, `larger than ${CAP} bytes`));
        return;
      }
      if (!await fill(offset + 4 + length)) return;
      take(offset + 4 + length);
    }
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

function textFrame(text: string): Uint8Array {
  const payload = encoder.encode(text);
  return new Uint8Array([0x81, payload.length, ...payload]);
}

function closeFrame(code: number, reason: string): Uint8Array {
  const text = encoder.encode(reason);
  return new Uint8Array([
    0x88,
    2 + text.length,
    code >> 8,
    code & 0xff,
    ...text,
  ]);
}
