import type { Handler } from "../../lib/http/app.ts";
import { iceResponse } from "../../lib/http/turn.ts";

/**
 * ICE servers for one peer connection, with a fresh short-lived TURN
 * credential when a relay is configured (docs/protocol.md, docs/turn.md).
 */
export const handler: Record<string, Handler> = {
  GET: (request, { app }) => iceResponse(request, app.config),
};
