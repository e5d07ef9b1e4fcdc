/**
 * Server configuration read from the environment. Every variable has a
 * documented default (README, "Configuration"); a bad value fails at start
 * with a message naming the variable, never later at a request.
 *
 * @module
 */

import { DEFAULT_MAX_FRAME_BYTES } from "../signal/protocol.ts";

/** The server's configuration. */
export interface Config {
  /** TCP port to listen on. */
  port: number;
  /** Interface to listen on. */
  hostname: string;
  /** Largest signaling frame in bytes. */
  maxFrameBytes: number;
  /** ICE servers handed to the pages for RTCPeerConnection. */
  iceServers: RTCIceServer[];
  /** How long a browser-to-browser connection may take before `retry`. */
  connectTimeoutMs: number;
  /** Most signaling connections at once. */
  maxPeers: number;
  /** Most signaling connections from one address. */
  maxPeersPerIp: number;
  /** Sustained signaling frames per second per connection. */
  rateLimit: number;
  /** Frames a connection may send in a burst. */
  rateBurst: number;
  /** Origins whose pages may connect; `[]` means only our own, `["*"]` any. */
  allowedOrigins: string[];
  /** Development mode: no caching of the build, live reload. */
  dev: boolean;
}

/** The public STUN server used when `ICE_SERVERS` is not set. */
export const DEFAULT_ICE_SERVERS: RTCIceServer[] = [
  { urls: "stun:stun.l.google.com:19302" },
];

/** Reads the configuration from `env`; throws a `TypeError` or `RangeError` naming the variable. */
export function loadConfig(
  env: Record<string, string | undefined>,
): Config {
  return {
    port: readInteger(env, "PORT", 8000, 0, 65535),
    hostname: readHostname(env),
    maxFrameBytes: readInteger(
      env,
      "MAX_FRAME_BYTES",
      DEFAULT_MAX_FRAME_BYTES,
      64,
      16 * 1024 * 1024,
    ),
    iceServers: readIceServers(env),
    connectTimeoutMs: readInteger(
      env,
      "CONNECT_TIMEOUT_MS",
      15_000,
      1_000,
      300_000,
    ),
    maxPeers: readInteger(env, "MAX_PEERS", defaultMaxPeers(), 1, 1_000_000),
    maxPeersPerIp: readInteger(env, "MAX_PEERS_PER_IP", 100, 1, 1_000_000),
    rateLimit: readInteger(env, "RATE_LIMIT", 100, 1, 1_000_000),
    rateBurst: readInteger(env, "RATE_BURST", 400, 1, 1_000_000),
    allowedOrigins: readOrigins(env),
    dev: env.BEAM_DEV === "1",
  };
}

/**
 * The default connection cap: under the process's open-file limit (each
 * connection is a descriptor, and some must stay free for files and new
 * connections that are refused), and at most 50,000. Deno lets a program
 * read /proc/self/limits only with `--allow-all` (which `deno task start`
 * gives): without it, or off Linux, the cap is 10,000.
 */
export function defaultMaxPeers(limits = readLimits()): number {
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  if (soft === undefined || soft === "unlimited") return 10_000;
  return Math.max(16, Math.min(50_000, Math.floor(Number(soft) * 0.9) - 64));
}

function readLimits(): string {
  try {
    return Deno.readTextFileSync("/proc/self/limits");
  } catch {
    // Not Linux, or no permission: the fixed default applies.
    return "";
  }
}

function readOrigins(env: Record<string, string | undefined>): string[] {
  const text = env.ALLOWED_ORIGINS?.trim();
  if (text === undefined || text === "") return [];
  const origins = text.split(",").map((o) => o.trim()).filter((o) => o !== "");
  for (const origin of origins) {
    if (origin === "*") continue;
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      // Reported below.
    }
    if (parsed === undefined || parsed.origin !== origin) {
      throw new TypeError(
        `Cannot read ALLOWED_ORIGINS: "${origin}" is not an origin like https://example.com`,
      );
    }
  }
  return origins;
}

/** Reads `Deno.env` as a plain record. */
export function processEnv(): Record<string, string | undefined> {
  return Deno.env.toObject();
}

function readInteger(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  if (!/^\d+$/.test(text.trim())) {
    throw new TypeError(
      `Cannot read ${name}: "${text}" is not a whole number`,
    );
  }
  const value = Number(text.trim());
  if (value < min || value > max) {
    throw new RangeError(
      `Cannot read ${name}: ${value} is outside ${min}..${max}`,
    );
  }
  return value;
}

function readHostname(env: Record<string, string | undefined>): string {
  const text = env.HOSTNAME;
  if (text === undefined || text === "") return "0.0.0.0";
  if (!/^[A-Za-z0-9.:\[\]-]+$/.test(text)) {
    throw new TypeError(
      `Cannot read HOSTNAME: "${text}" is not a host name or address`,
    );
  }
  return text;
}

function readIceServers(
  env: Record<string, string | undefined>,
): RTCIceServer[] {
  const text = env.ICE_SERVERS;
  if (text === undefined || text === "") return DEFAULT_ICE_SERVERS;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TypeError(
      "Cannot read ICE_SERVERS: not valid JSON (expected a list of RTCIceServer)",
    );
  }
  if (!Array.isArray(value)) {
    throw new TypeError(
      "Cannot read ICE_SERVERS: not a JSON list of RTCIceServer",
    );
  }
  value.forEach((server, i) => {
    const urls = server?.urls;
    const ok = typeof urls === "string" ||
      (Array.isArray(urls) && urls.length > 0 &&
        urls.every((u) => typeof u === "string"));
    if (!ok || typeof server !== "object") {
      throw new TypeError(
        `Cannot read ICE_SERVERS: entry ${i} has no "urls" string or list of strings`,
      );
    }
    for (const key of ["username", "credential"]) {
      if (key in server && typeof server[key] !== "string") {
        throw new TypeError(
          `Cannot read ICE_SERVERS: entry ${i} has a "${key}" that is not a string`,
        );
      }
    }
  });
  return value as RTCIceServer[];
}
