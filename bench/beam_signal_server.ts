/**
 * Beam's signaling server alone: `SignalServer` from lib/signal on
 * `Deno.serve`, without the pages. The benchmark runs `main.ts` (the real
 * app) and falls back to this only when the app does not start, as when the
 * work tree is mid-edit; the results say which one ran.
 *
 * Run: `PORT=9000 HOSTNAME=127.0.0.1 deno run -A bench/beam_signal_server.ts`.
 *
 * @module
 */

import { SignalServer } from "../lib/signal/server.ts";

const maxFrameBytes = Deno.env.get("MAX_FRAME_BYTES");
const signal = new SignalServer(
  maxFrameBytes ? { maxFrameBytes: Number(maxFrameBytes) } : {},
);

Deno.serve(
  {
    port: Number(Deno.env.get("PORT") ?? 8000),
    hostname: Deno.env.get("HOSTNAME") ?? "127.0.0.1",
    onListen: ({ port }) => console.log(`Beam signaling on ${port}`),
  },
  (request) =>
    new URL(request.url).pathname === "/api/signal"
      ? signal.handle(request)
      : new Response("404 Not Found\n", { status: 404 }),
);
