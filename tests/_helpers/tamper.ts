/**
 * A tampering relay, for tests only: a server in front of a real Beam
 * server that serves its pages unchanged but passes every signaling frame
 * through a rewrite function, as a hostile or compromised signaling server
 * could.
 *
 * @module
 */

import { startServer, type TestServer } from "./server.ts";

/** Rewrites one frame; `"down"` is server to browser. Return it unchanged to pass. */
export type Rewrite = (direction: "up" | "down", text: string) => string;

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
      browser.onmessage = (event) => {
        const text = rewrite("up", String(event.data));
        if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
        else early.push(text);
      };
      upstream.onmessage = (event) => {
        if (browser.readyState === WebSocket.OPEN) {
          browser.send(rewrite("down", String(event.data)));
        }
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
