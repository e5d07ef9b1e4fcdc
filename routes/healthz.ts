import type { Handler } from "../lib/http/app.ts";

/**
 * Liveness for load balancers and people: status, uptime, this instance's
 * peers, and its bus to other instances. While the bus is down the answer is
 * `503`, so a load balancer sends new visitors to an instance whose links
 * reach the whole deployment (peers already here keep working).
 */
export const handler: Record<string, Handler> = {
  GET: (_request, { app }) => {
    const bus = app.signal.bus;
    const down = bus.state === "down";
    return Response.json(
      {
        status: down ? "degraded" : "ok",
        uptime: Math.round((Date.now() - app.startedAt) / 1000),
        peers: app.signal.peerCount,
        bus: bus.state,
        busDropped: bus.dropped,
      },
      { status: down ? 503 : 200, headers: { "cache-control": "no-store" } },
    );
  },
};
