/**
 * Server configuration read from the environment. Every variable has a
 * documented default (README, "Configuration"); a bad value fails at start
 * with a message naming the variable, never later at a request.
 *
 * @module
 */

import { DEFAULT_MAX_FRAME_BYTES } from "../signal/protocol.ts";
import { CONNECT_TIMEOUT_MS, SENDER_AWAY_MS } from "../transfer/tuning.ts";

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
  /**
   * How long a receiver waits for a sender that is not connected to
   * signaling (it may be reconnecting) before the link is called inactive.
   */
  senderAwayMs?: number;
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
  /**
   * Redis that joins several instances into one signaling server, or
   * `undefined` for a single instance.
   */
  redisUrl: string | undefined;
  /**
   * Proxies whose `X-Forwarded-For` is believed (addresses and CIDR
   * ranges), or `undefined` when none is.
   */
  trustProxy: ((address: string) => boolean) | undefined;
  /**
   * How signaling WebSockets are served: `native` (`Deno.upgradeWebSocket`,
   * which assembles a whole frame before the cap is checked) or `raw` (a
   * TCP listener of our own in front of `Deno.serve` that refuses a frame
   * past the cap at its header; needs `Deno.listen`, so not on Deno Deploy).
   */
  signalTransport: "native" | "raw";
  /**
   * The key of reclaim tokens (`SIGNAL_SECRET`), shared by every instance
   * and kept across restarts; `undefined` for a random key per process.
   */
  signalSecret?: string;
  /**
   * The TURN relay that pages get short-lived credentials for (`GET
   * /api/ice`, docs/turn.md), or `undefined` when there is none.
   */
  turn: TurnConfig | undefined;
  /**
   * Test only: the ICE transport policy the pages are forced to
   * (`BEAM_TEST_ICE_POLICY=relay`), or `undefined` for the browser's own.
   */
  testIcePolicy: "relay" | undefined;
}

/** A TURN relay shared with coturn through `use-auth-secret`. */
export interface TurnConfig {
  /** coturn's `static-auth-secret`: never leaves the server. */
  secret: string;
  /** The relay's `turn:` and `turns:` URLs. */
  urls: string[];
  /** How long a credential is valid, in seconds. */
  ttlSeconds: number;
  /**
   * Test only: seconds added to the clock when minting
   * (`BEAM_TEST_TURN_CLOCK_OFFSET`), so a test can hand out credentials that
   * have already expired and watch the relay refuse them. 0 otherwise.
   */
  clockOffsetSeconds: number;
}

/** How long a TURN credential is valid when `TURN_TTL` is not set. */
export const DEFAULT_TURN_TTL_SECONDS = 3600;

/**
 * The shortest `TURN_SECRET` taken: anyone who learns the secret can mint
 * credentials for the relay, so it must not be guessable.
 */
export const MIN_TURN_SECRET_LENGTH = 16;

/**
 * Connections at once when the open-file limit cannot be read (see
 * {@linkcode defaultMaxPeers}). At 11 KB per idle peer (bench/README.md,
 * "Several instances") that is ~110 MB: fits the smallest instances.
 */
export const FALLBACK_MAX_PEERS = 10_000;

/**
 * Connections from one client address. A judgement: a household or office
 * behind one NAT with many tabs open stays far below it, and one machine
 * cannot take a server's whole capacity.
 */
export const MAX_PEERS_PER_IP = 100;

/**
 * Sustained frames per second per connection. A whole transfer's signaling
 * is ~124 frames (bench/README.md, the conversation), spread over seconds,
 * so a page never comes near it; a flood is cut at once.
 */
export const RATE_PER_SECOND = 100;

/**
 * Frames a connection may send in a burst: a sender answering several
 * receivers at once trickles dozens of candidates to each.
 */
export const RATE_BURST = 400;

/**
 * Seconds of silence after which the server pings, and closes a socket that
 * does not answer within as long again. Under the 30 s and 60 s idle
 * timeouts of common proxies (nginx's default is 60 s), so a quiet share
 * keeps its socket through them.
 */
export const HEARTBEAT_SECONDS = 25;

/**
 * Bytes waiting to be written to one socket before it is closed as a slow
 * consumer: dozens of whole conversations, so only a client that stopped
 * reading reaches it.
 */
export const MAX_BUFFERED_BYTES = 1024 * 1024;

/** The public STUN server used when `ICE_SERVERS` is not set. */
export const DEFAULT_ICE_SERVERS: RTCIceServer[] = [
  { urls: "stun:stun.l.google.com:19302" },
];

/**
 * Reads the configuration from `env`; throws a `TypeError` or `RangeError`
 * naming the variable. `limits` is the text of `/proc/self/limits`, which
 * sets the default `MAX_PEERS`: read from this process unless given, so a
 * test can pin it instead of depending on the machine it runs on.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  limits: string = readLimits(),
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
      CONNECT_TIMEOUT_MS,
      1_000,
      300_000,
    ),
    senderAwayMs: readInteger(
      env,
      "SENDER_AWAY_MS",
      SENDER_AWAY_MS,
      0,
      600_000,
    ),
    maxPeers: readInteger(
      env,
      "MAX_PEERS",
      defaultMaxPeers(limits),
      1,
      1_000_000,
    ),
    maxPeersPerIp: readInteger(
      env,
      "MAX_PEERS_PER_IP",
      MAX_PEERS_PER_IP,
      1,
      1_000_000,
    ),
    rateLimit: readInteger(env, "RATE_LIMIT", RATE_PER_SECOND, 1, 1_000_000),
    rateBurst: readInteger(env, "RATE_BURST", RATE_BURST, 1, 1_000_000),
    allowedOrigins: readOrigins(env),
    dev: env.BEAM_DEV === "1",
    redisUrl: readRedisUrl(env),
    trustProxy: readTrustProxy(env),
    signalTransport: readSignalTransport(env),
    signalSecret: env.SIGNAL_SECRET?.trim() || undefined,
    turn: readTurn(env),
    testIcePolicy: readTestIcePolicy(env),
  };
}

/**
 * Reads `TURN_SECRET`, `TURN_URLS` and `TURN_TTL`: the first two together
 * or neither. The secret is never echoed in an error.
 */
function readTurn(
  env: Record<string, string | undefined>,
): TurnConfig | undefined {
  const secret = env.TURN_SECRET?.trim() ?? "";
  const list = env.TURN_URLS?.trim() ?? "";
  if (secret === "" && list === "") {
    if (env.TURN_TTL !== undefined && env.TURN_TTL !== "") {
      throw new TypeError(
        "Cannot read TURN_TTL: it is set, but TURN_SECRET and TURN_URLS are not",
      );
    }
    return undefined;
  }
  if (secret === "") {
    throw new TypeError(
      "Cannot read TURN_SECRET: it is empty, but TURN_URLS is set (set both, or neither)",
    );
  }
  if (list === "") {
    throw new TypeError(
      "Cannot read TURN_URLS: it is empty, but TURN_SECRET is set (set both, or neither)",
    );
  }
  if (secret.length < MIN_TURN_SECRET_LENGTH) {
    throw new RangeError(
      `Cannot read TURN_SECRET: it has ${secret.length} characters, fewer than ${MIN_TURN_SECRET_LENGTH} (make a long random one, like \`openssl rand -hex 32\`)`,
    );
  }
  const urls = list.split(",").map((u) => u.trim()).filter((u) => u !== "");
  for (const url of urls) {
    if (!isTurnUrl(url)) {
      throw new TypeError(
        `Cannot read TURN_URLS: "${url}" is not a TURN URL like turn:turn.example.com:3478?transport=udp or turns:turn.example.com:443?transport=tcp`,
      );
    }
  }
  return {
    secret,
    urls,
    ttlSeconds: readInteger(
      env,
      "TURN_TTL",
      DEFAULT_TURN_TTL_SECONDS,
      60,
      7 * 24 * 3600,
    ),
    clockOffsetSeconds: readSignedInteger(env, "BEAM_TEST_TURN_CLOCK_OFFSET"),
  };
}

/**
 * Whether `text` is a TURN URL (RFC 7065): `turn:` or `turns:`, a host name
 * or address (IPv6 in brackets), an optional port, an optional
 * `?transport=udp|tcp`.
 */
export function isTurnUrl(text: string): boolean {
  const match =
    /^turns?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?(?:\?transport=(?:udp|tcp))?$/
      .exec(text);
  if (match === null) return false;
  if (
    match[1].startsWith("[") &&
    parseAddress(match[1].slice(1, -1)) === undefined
  ) {
    return false;
  }
  const port = match[2] === undefined ? 1 : Number(match[2]);
  return port >= 1 && port <= 65535;
}

function readTestIcePolicy(
  env: Record<string, string | undefined>,
): "relay" | undefined {
  const text = env.BEAM_TEST_ICE_POLICY;
  if (text === undefined || text === "" || text === "all") return undefined;
  if (text === "relay") return "relay";
  throw new TypeError(
    `Cannot read BEAM_TEST_ICE_POLICY: "${text}" is not relay or all`,
  );
}

function readSignedInteger(
  env: Record<string, string | undefined>,
  name: string,
): number {
  const text = env[name]?.trim();
  if (text === undefined || text === "") return 0;
  if (!/^-?\d{1,9}$/.test(text)) {
    throw new TypeError(`Cannot read ${name}: "${text}" is not a whole number`);
  }
  return Number(text);
}

/**
 * The signaling transport. `raw` (a listener of Beam's own in front of the
 * app, which refuses an oversized frame from its header, before reading it)
 * wherever the process may open its own listener; `native`
 * (Deno.upgradeWebSocket, which assembles a whole frame before any check:
 * denoland/deno#15809) on Deno Deploy, which allows no second listener.
 */
function readSignalTransport(
  env: Record<string, string | undefined>,
): "native" | "raw" {
  const text = env.SIGNAL_TRANSPORT;
  if (text === undefined || text === "") {
    return env.DENO_DEPLOYMENT_ID ? "native" : "raw";
  }
  if (text === "native") return "native";
  if (text === "raw") return "raw";
  throw new TypeError(
    `Cannot read SIGNAL_TRANSPORT: "${text}" is not native or raw`,
  );
}

/**
 * A warning for a configuration that breaks share links: Deno Deploy runs
 * several instances of one deployment and sends each request to any of
 * them, so without a bus a sender and a receiver often never meet.
 */
export function deployWarning(
  env: Record<string, string | undefined>,
  config: Config,
): string | undefined {
  if (!env.DENO_DEPLOYMENT_ID || config.redisUrl !== undefined) return;
  return "Beam runs on Deno Deploy without REDIS_URL: Deploy starts several " +
    "instances, and a sender and a receiver on two of them never meet, so " +
    "share links will fail at random. Set REDIS_URL to a hosted Redis " +
    "(see docs/deploy.md).";
}

function readRedisUrl(
  env: Record<string, string | undefined>,
): string | undefined {
  const text = env.REDIS_URL?.trim();
  if (text === undefined || text === "") return undefined;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // Reported below.
  }
  if (
    url === undefined ||
    (url.protocol !== "redis:" && url.protocol !== "rediss:") ||
    url.hostname === ""
  ) {
    // The value may hold a password: it is not echoed.
    throw new TypeError(
      "Cannot read REDIS_URL: not a URL like redis://[:password@]host:port[/db] (or rediss:// for TLS)",
    );
  }
  if (
    url.pathname !== "" && url.pathname !== "/" && !/^\/\d+$/.test(url.pathname)
  ) {
    throw new TypeError(
      "Cannot read REDIS_URL: the path must be a database number, like /0",
    );
  }
  return text;
}

/**
 * Reads `TRUST_PROXY`: a comma-separated list of proxy addresses and CIDR
 * ranges (IPv4 or IPv6), or `loopback` for 127.0.0.0/8 and ::1.
 */
function readTrustProxy(
  env: Record<string, string | undefined>,
): ((address: string) => boolean) | undefined {
  const text = env.TRUST_PROXY?.trim();
  if (text === undefined || text === "") return undefined;
  const ranges: Range[] = [];
  for (let item of text.split(",").map((part) => part.trim())) {
    if (item === "") continue;
    if (item === "loopback") {
      ranges.push(parseRange("127.0.0.0/8")!, parseRange("::1/128")!);
      continue;
    }
    if (!item.includes("/")) item += item.includes(":") ? "/128" : "/32";
    const range = parseRange(item);
    if (range === undefined) {
      throw new TypeError(
        `Cannot read TRUST_PROXY: "${item}" is not an address or CIDR range like 10.0.0.0/8`,
      );
    }
    ranges.push(range);
  }
  return (address) => {
    const bytes = parseAddress(address.replace(/^::ffff:/, ""));
    return bytes !== undefined && ranges.some((range) => inRange(bytes, range));
  };
}

/** An address range: its first address's bytes and the prefix length. */
interface Range {
  bytes: Uint8Array;
  bits: number;
}

function parseRange(text: string): Range | undefined {
  const [address, prefix] = text.split("/");
  const bytes = parseAddress(address);
  if (bytes === undefined || !/^\d{1,3}$/.test(prefix)) return undefined;
  const bits = Number(prefix);
  if (bits > bytes.length * 8) return undefined;
  return { bytes, bits };
}

function inRange(bytes: Uint8Array, range: Range): boolean {
  if (bytes.length !== range.bytes.length) return false;
  for (let bit = 0; bit < range.bits; bit += 8) {
    const left = Math.min(8, range.bits - bit);
    const mask = (0xff << (8 - left)) & 0xff;
    const i = bit / 8;
    if ((bytes[i] & mask) !== (range.bytes[i] & mask)) return false;
  }
  return true;
}

/** The bytes of an IPv4 (4) or IPv6 (16) address, or `undefined`. */
export function parseAddress(text: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    return parts.every((n) => n <= 255) ? new Uint8Array(parts) : undefined;
  }
  if (!/^[0-9a-fA-F:]+$/.test(text) || !text.includes(":")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => half === "" ? [] : half.split(":");
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [
    ...head,
    ...Array(halves.length === 2 ? missing : 0).fill("0"),
    ...tail,
  ];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(all[i])) return undefined;
    const n = parseInt(all[i], 16);
    bytes[2 * i] = n >> 8;
    bytes[2 * i + 1] = n & 0xff;
  }
  return bytes;
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
  if (soft === undefined || soft === "unlimited") return FALLBACK_MAX_PEERS;
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

/**
 * Whether a page of `origin` may use this server, by `ALLOWED_ORIGINS`
 * (`allowed`): a listed origin, any with `*`, and always the server's own,
 * the one whose host is the request's. The scheme is not compared, since a
 * TLS proxy in front makes `https:` pages reach us as `http:`.
 */
export function originAllowed(
  origin: string,
  request: Request,
  allowed: string[],
): boolean {
  if (allowed.includes("*") || allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === request.headers.get("host");
  } catch {
    return false;
  }
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
