import type { Handler } from "../../lib/http/app.ts";
import { sharedPath } from "../../lib/transfer/share_target.ts";

/**
 * The manifest's share target, as the server sees it: only when Beam's
 * service worker is not installed yet (it answers this POST in the
 * browser, lib/transfer/share_inbox.ts). The server never takes files:
 * the body is dropped unread, and the browser goes to the send page, which
 * says to share again (its visit installs the worker).
 */
export const handler: Record<string, Handler> = {
  POST: async (request) => {
    await request.body?.cancel().catch(() => {});
    return seeOther(sharedPath("missed"));
  },
  // Nothing to share by GET: a bookmark or a reload lands on the send page.
  GET: () => seeOther("/"),
};

// Relative: behind a proxy that ends TLS, this server's own idea of its
// origin may not be the one the browser sees.

function seeOther(location: string): Response {
  return new Response(null, {
    status: 303,
    headers: { location, "cache-control": "no-store" },
  });
}
