/**
 * Short-lived TURN credentials, the scheme coturn calls `use-auth-secret`
 * (the "TURN REST API", draft-uberti-behave-turn-rest): the server and the
 * relay share a secret; the server hands each page a username
 * `EXPIRY:RANDOM` (EXPIRY in Unix seconds) and a password
 * `base64(HMAC-SHA1(secret, username))`, which the relay recomputes and
 * refuses once EXPIRY has passed. A visitor learns one credential that
 * expires, never the secret.
 *
 * {@linkcode iceResponse} answers `GET /api/ice` (docs/protocol.md): the
 * static `ICE_SERVERS` plus a fresh TURN entry.
 *
 * @module
 */

import { type Config, originAllowed, type TurnConfig } from "./config.ts";
import { toBase64, toBase64Url } from "../transfer/base64.ts";

/** One TURN credential, as an `RTCIceServer`'s username and credential. */
export interface TurnCredential {
  /** `EXPIRY:RANDOM`. */
  username: string;
  /** `base64(HMAC-SHA1(secret, username))`. */
  credential: string;
  /** When it expires, in Unix seconds (the username's first part). */
  expiresAt: number;
}

/** What `GET /api/ice` answers. */
export interface IceAnswer {
  /** For `RTCPeerConnection`: `ICE_SERVERS`, then the TURN entry. */
  iceServers: RTCIceServer[];
  /** Seconds the TURN credential stays valid; absent without TURN. */
  ttl?: number;
}

/** Bytes of randomness in a username: it only makes each one different. */
const RANDOM_BYTES = 9;

/**
 * Mints a credential valid for `ttlSeconds` from `now` (ms since the
 * epoch), with WebCrypto's HMAC-SHA1.
 */
export async function mintCredential(
  secret: string,
  ttlSeconds: number,
  now: number = Date.now(),
): Promise<TurnCredential> {
  const expiresAt = Math.floor(now / 1000) + ttlSeconds;
  const random = crypto.getRandomValues(new Uint8Array(RANDOM_BYTES));
  // base64url holds no ":", which coturn takes as the separator.
  const username = `${expiresAt}:${toBase64Url(random)}`;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-1" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(username)),
  );
  return { username, credential: toBase64(mac), expiresAt };
}

/** The ICE servers for one page: `static`, then TURN with a fresh credential. */
export async function iceServersFor(
  iceServers: RTCIceServer[],
  turn: TurnConfig | undefined,
  now: number = Date.now(),
): Promise<IceAnswer> {
  if (turn === undefined) return { iceServers };
  const { username, credential } = await mintCredential(
    turn.secret,
    turn.ttlSeconds,
    now + turn.clockOffsetSeconds * 1000,
  );
  return {
    iceServers: [...iceServers, { urls: turn.urls, username, credential }],
    ttl: turn.ttlSeconds,
  };
}

/**
 * Answers `GET /api/ice`. Pages of another origin are refused as the
 * signaling endpoint refuses them (`ALLOWED_ORIGINS`): a credential is cheap
 * to mint, but the relay's bandwidth is not, and only Beam's own pages (and
 * those it lets signal) should be handed a way onto it. A request with no
 * `Origin` (a same-origin GET, or not a browser) passes, as at
 * `/api/signal`: anyone who can load the page can get a credential anyway.
 */
export async function iceResponse(
  request: Request,
  config: Pick<Config, "iceServers" | "turn" | "allowedOrigins">,
  now: number = Date.now(),
): Promise<Response> {
  const origin = request.headers.get("origin");
  const headers = new Headers({ "cache-control": "no-store", vary: "origin" });
  if (origin !== null) {
    if (!originAllowed(origin, request, config.allowedOrigins)) {
      headers.set("content-type", "text/plain; charset=utf-8");
      return new Response(
        `Forbidden: pages from ${
          origin.slice(0, 100)
        } may not use this relay\n`,
        { status: 403, headers },
      );
    }
    headers.set("access-control-allow-origin", origin);
  }
  const answer = await iceServersFor(config.iceServers, config.turn, now);
  return Response.json(answer, { headers });
}
