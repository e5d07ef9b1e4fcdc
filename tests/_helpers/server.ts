/**
 * Starts the real Beam app in-process on a random loopback port, for
 * end-to-end tests. The app is built from `beam.gen.ts` and the repo's
 * `static/` and `_build/` exactly as `main.ts` builds it, so run
 * `deno task build` first.
 *
 * @module
 */

import { islands, routes } from "../../beam.gen.ts";
import { type App, createApp } from "../../lib/http/app.ts";
import { loadConfig } from "../../lib/http/config.ts";

/** A running test server. */
export interface TestServer {
  /** Base URL, like `"http://127.0.0.1:PORT"`. */
  url: string;
  /** The signaling endpoint, like `"ws://127.0.0.1:PORT/api/signal"`. */
  wsUrl: string;
  /** The port it listens on. */
  port: number;
  /** The app behind it. */
  app: App;
  /** Closes every signaling socket and stops the server. */
  close(): Promise<void>;
}

/** The repo root: it holds `static/` and `_build/`. */
export const ROOT: string = decodeURIComponent(
  new URL("../..", import.meta.url).pathname,
).replace(/\/$/, "");

/**
 * Starts the app on `127.0.0.1` and a free port. `env` overrides the
 * configuration variables; `ICE_SERVERS` defaults to `[]` so that no test
 * ever reaches a public STUN server.
 */
export async function startServer(
  env: Record<string, string> = {},
): Promise<TestServer> {
  const config = loadConfig({ ICE_SERVERS: "[]", ...env });
  const app = await createApp({ config, routes, islands, root: ROOT });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    app.handler,
  );
  const { port } = server.addr;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/api/signal`,
    port,
    app,
    close() {
      closed ??= (async () => {
        await app.close();
        await server.shutdown();
        await server.finished;
      })();
      return closed;
    },
  };
}
