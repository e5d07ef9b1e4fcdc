/**
 * Starts Beam: reads the configuration, builds the app from the generated
 * manifest of routes and islands, and serves it. Never imports esbuild: the
 * islands are built beforehand by `deno task build`.
 *
 * @module
 */

import { islands, routes } from "./beam.gen.ts";
import { createApp } from "./lib/http/app.ts";
import { loadConfig, processEnv } from "./lib/http/config.ts";

const root = new URL(".", import.meta.url).pathname.replace(/\/$/, "");

let config;
try {
  config = loadConfig(processEnv());
} catch (error) {
  console.error(`Beam cannot start: ${(error as Error).message}`);
  Deno.exit(1);
}

const app = await createApp({ config, routes, islands, root });
const server = Deno.serve({
  port: config.port,
  hostname: config.hostname,
  onListen({ hostname, port }) {
    const shown = hostname === "0.0.0.0" ? "localhost" : hostname;
    console.log(`Beam is listening on http://${shown}:${port}/`);
  },
}, app.handler);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    app.close();
    server.shutdown().then(() => Deno.exit(0));
    // Sockets that do not close promptly must not hold the process.
    setTimeout(() => Deno.exit(0), 2000);
  });
}
