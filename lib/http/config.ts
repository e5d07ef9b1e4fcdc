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
    dev: env.BEAM_DEV === "1",
  };
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
