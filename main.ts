/**
 * Starts Beam: reads the configuration, builds the app from the generated
 * manifest of routes and islands, and serves it. Never imports esbuild and
 * never writes a file: the islands are built beforehand by `deno task build`,
 * and Deno Deploy runs this file as it is, on a read-only file system.
 *
 * @module
 */

import { islands, routes } from "./beam.gen.ts";
import { createApp } from "./lib/http/app.ts";
import { serveFront } from "./lib/http/front.ts";
import { deployWarning, loadConfig, processEnv } from "./lib/http/config.ts";
import { redactUrl, RedisBus } from "./lib/signal/redis_bus.ts";

const root = new URL(".", import.meta.url).pathname.replace(/\/$/, "");

const env = processEnv();
let config;
try {
  config = loadConfig(env);
} catch (error) {
  console.error(`Beam cannot start: ${(error as Error).message}`);
  Deno.exit(1);
}
const warning = deployWarning(env, config);
if (warning !== undefined) console.warn(`Warning: ${warning}`);

let bus: RedisBus | undefined;
if (config.redisUrl !== undefined) {
  bus = new RedisBus({ url: config.redisUrl });
  console.log(
    `Beam joins other instances through ${redactUrl(config.redisUrl)}`,
  );
  // Not awaited: until Redis answers, this instance serves its own peers
  // and /healthz says the bus is down; the client keeps trying.
  bus.connect().catch(() => {});
}

const app = await createApp({ config, routes, islands, root, bus });
const onListen = ({ hostname, port }: Deno.NetAddr) => {
  const shown = hostname === "0.0.0.0" ? "localhost" : hostname;
  console.log(`Beam is listening on http://${shown}:${port}/`);
};
// `raw`: signaling WebSockets are Beam's own, on a TCP listener in front of
// Deno.serve, so a frame past the cap is refused at its header instead of
// being assembled first (lib/http/front.ts).
const server = config.signalTransport === "raw"
  ? serveFront({
    hostname: config.hostname,
    port: config.port,
    signal: app.state.signal,
    handler: app.handler,
    onListen,
  })
  : Deno.serve(
    { port: config.port, hostname: config.hostname, onListen },
    app.handler,
  );

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    Promise.all([app.close(), server.shutdown()]).catch((error) =>
      console.error(`Cannot shut down cleanly: ${error}`)
    ).finally(() => Deno.exit(0));
    // Sockets that do not close promptly must not hold the process.
    setTimeout(() => Deno.exit(0), 2000);
  });
}
