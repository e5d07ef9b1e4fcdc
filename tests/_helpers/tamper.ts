/**
 * A tampering relay, for tests only: a server in front of a real Beam
 * server that serves its pages unchanged but passes every signaling frame
 * through a rewrite function, as a hostile or compromised signaling server
 * could.
 *
 * @module
 */

import { startServer, type TestServer } from "./server.ts";

/**
 * Rewrites one frame; `"down"` is server to browser. Return it unchanged to
 * pass. It may take its time (a promise): frames on one socket still go in
 * order.
 */
export type Rewrite = (
  direction: "up" | "down",
  text: string,
) => string | Promise<string>;

/** The relay and the real server behind it. */
export interface TamperingServer {
  /** The relay's base URL: open pages here. */
  url: string;
  /** The real server. */
  real: TestServer;
  /** Stops both. */
  close(): Promise<void>;
}

/** Starts a real server and a tampering relay in front of it. */
export async function startTamperingServer(
  rewrite: Rewrite,
): Promise<TamperingServer> {
  const real = await startServer();
  const sockets = new Set<WebSocket>();
  const relay = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (request) => {
      const url = new URL(request.url);
      if (
        url.pathname !== "/api/signal" ||
        request.headers.get("upgrade") !== "websocket"
      ) {
        return real.app.handler(request);
      }
      const { socket: browser, response } = Deno.upgradeWebSocket(request);
      const upstream = new WebSocket(real.wsUrl);
      sockets.add(browser);
      sockets.add(upstream);
      const early: string[] = [];
      upstream.onopen = () => {
        for (const text of early.splice(0)) upstream.send(text);
      };
      // One chain per direction keeps each socket's frames in order while
      // a rewrite waits (on WebCrypto, say).
      let up = Promise.resolve();
      let down = Promise.resolve();
      browser.onmessage = (event) => {
        const data = String(event.data);
        up = up.then(async () => {
          const text = await rewrite("up", data);
          if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
          else early.push(text);
        });
      };
      upstream.onmessage = (event) => {
        const data = String(event.data);
        down = down.then(async () => {
          const text = await rewrite("down", data);
          if (browser.readyState === WebSocket.OPEN) browser.send(text);
        });
      };
      const closeBoth = () => {
        for (const s of [browser, upstream]) {
          sockets.delete(s);
          if (s.readyState <= WebSocket.OPEN) s.close();
        }
      };
      browser.onclose = closeBoth;
      upstream.onclose = closeBoth;
      return response;
    },
  );
  return {
    url: `http://127.0.0.1:${relay.addr.port}`,
    real,
    async close() {
      for (const s of sockets) s.close();
      await relay.shutdown();
      await real.close();
    },
  };
}

/** Changes one hex digit of every DTLS fingerprint in an SDP. */
export function breakFingerprint(sdp: string): string {
  return sdp.replace(
    /(a=fingerprint:\S+ )([0-9A-Fa-f])/g,
    (_, head, digit) => head + (digit === "A" ? "B" : "A"),
  );
}

/**
 * A fingerprint line for another certificate, in each form that a regex over
 * `a=fingerprint:<alg> <hex>` lines (the MAC's input before issue #12)
 * skipped but some browser's SDP parser may take, with the line break that
 * comes before it.
 */
export const FINGERPRINT_INJECTIONS: readonly [string, string][] = (() => {
  const evil =
    "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
  return [
    ["a bare \\r line break", `\ra=fingerprint:sha-256 ${evil}`],
    ["a bare \\n line break", `\na=fingerprint:sha-256 ${evil}`],
    ["a=FINGERPRINT: in capitals", `\r\na=FINGERPRINT:sha-256 ${evil}`],
    ["a tab after the colon", `\r\na=fingerprint:\tsha-256 ${evil}`],
    ["two spaces after the colon", `\r\na=fingerprint:  sha-256 ${evil}`],
  ];
})();

/** Adds `text` to an SDP just after its first line (`v=0`). */
export function afterFirstLine(sdp: string, text: string): string {
  const end = sdp.indexOf("\r\n");
  return end < 0 ? sdp + text : sdp.slice(0, end) + text + sdp.slice(end);
}

/** Applies `change` to the payload of frames of `event`, leaving others alone. */
export function rewritePayload(
  event: string,
  change: (payload: Record<string, unknown>) => Record<string, unknown>,
): (text: string) => string {
  return (text) => {
    const frame = JSON.parse(text);
    if (
      frame[0] !== event || typeof frame[2] !== "object" || frame[2] === null
    ) return text;
    frame[2] = change(frame[2]);
    return JSON.stringify(frame);
  };
}
