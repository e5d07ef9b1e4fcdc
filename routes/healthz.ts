import type { Handler } from "../lib/http/app.ts";

/** Liveness for load balancers and people: status, uptime, peers. */
export const handler: Record<string, Handler> = {
  GET: (_request, { app }) =>
    Response.json(
      {
        status: "ok",
        uptime: Math.round((Date.now() - app.startedAt) / 1000),
        peers: app.signal.peerCount,
      },
      { headers: { "cache-control": "no-store" } },
    ),
};
