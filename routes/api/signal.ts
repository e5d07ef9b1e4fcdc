import type { Handler } from "../../lib/http/app.ts";

/** The signaling WebSocket endpoint (PROTOCOL.md). */
export const handler: Handler = (request, { app, info }) =>
  app.signal.handle(request, info);
