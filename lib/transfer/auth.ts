/**
 * End-to-end authentication from the share link, with WebCrypto only.
 *
 * The link's fragment, which never reaches a server, carries a secret and
 * the hash of the sender's public signing key. From the secret (and the
 * sender's id, so keys differ per share) HKDF derives two keys: AES-GCM
 * seals the file list sent in `response`, and HMAC-SHA-256 signs each whole
 * SDP of `offer` and `answer`. Every receiver holds the secret, so the
 * sender also signs what it sends (the sealed file list, each answer) with
 * an ECDSA P-256 key that only its page has; receivers check the public
 * key against the hash in their link. WebRTC's DTLS then proves that the
 * data channel ends at whoever holds the certificate behind a signed
 * fingerprint, so neither the signaling server nor anyone else who holds
 * the link can read the file list, pose as the sender or sit in the middle
 * of the transfer.
 *
 * @module
 */

import { fromBase64, fromBase64Url, toBase64, toBase64Url } from "./base64.ts";

/** The message both pages show when a MAC does not check out. */
export const UNVERIFIED = "This connection could not be verified";

/** The message for a link whose key (the part after `#`) is missing or wrong. */
export const KEY_MISSING =
  "This link is missing its key (the part after #), or the key is wrong: ask the sender for the whole link";

/** The keys of one share. */
export interface ShareKeys {
  /** Seals the file list. */
  seal: CryptoKey;
  /** Signs each SDP. */
  mac: CryptoKey;
}

/** A sealed value as it crosses the server. */
export interface Sealed {
  /** Format version. */
  v: 1;
  /** AES-GCM nonce, base64. */
  iv: string;
  /** Ciphertext with tag, base64. */
  ct: string;
}

/** Authentication failed: a wrong key, or tampering on the way. */
export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthError";
  }
}

const encoder = new TextEncoder();

/** Derives a share's keys from its secret and the sender's peer id. */
export async function deriveKeys(
  secret: string,
  senderId: string,
): Promise<ShareKeys> {
  if (secret.length === 0) {
    throw new TypeError("Cannot derive keys: the secret is empty");
  }
  const base = await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    "HKDF",
    false,
    ["deriveKey"],
  );
  const params = (info: string) => ({
    name: "HKDF",
    hash: "SHA-256",
    salt: encoder.encode(`beam/v1/${senderId}`),
    info: encoder.encode(info),
  });
  const [seal, mac] = await Promise.all([
    crypto.subtle.deriveKey(
      params("file list"),
      base,
      { name: "AES-GCM", length: 256 },
      false,
      ["encrypt", "decrypt"],
    ),
    crypto.subtle.deriveKey(
      params("sdp"),
      base,
      { name: "HMAC", hash: "SHA-256", length: 256 },
      false,
      ["sign", "verify"],
    ),
  ]);
  return { seal, mac };
}

/**
 * Seals a JSON value for one receiver: the receiver's id is bound in as
 * associated data, so a sealed list cannot be replayed to someone else.
 */
export async function seal(
  keys: ShareKeys,
  receiverId: string,
  value: unknown,
): Promise<Sealed> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(receiverId) },
    keys.seal,
    encoder.encode(JSON.stringify(value)),
  );
  return { v: 1, iv: toBase64(iv), ct: toBase64(new Uint8Array(ct)) };
}

/** Opens a sealed value; throws an {@linkcode AuthError} if it was not sealed with these keys for this receiver. */
export async function unseal(
  keys: ShareKeys,
  receiverId: string,
  sealed: unknown,
): Promise<unknown> {
  const s = sealed as Partial<Sealed> | null;
  if (s?.v !== 1 || typeof s.iv !== "string" || typeof s.ct !== "string") {
    throw new AuthError(`${KEY_MISSING}: the file list is not sealed`);
  }
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: fromBase64(s.iv),
        additionalData: encoder.encode(receiverId),
      },
      keys.seal,
      fromBase64(s.ct),
    );
  } catch {
    throw new AuthError(KEY_MISSING);
  }
  return JSON.parse(new TextDecoder().decode(plain));
}

/** A DTLS fingerprint line of an SDP: `a=fingerprint:<algorithm> <hex>`. */
export interface Fingerprint {
  /** The hash, lowercased (`sha-256`). */
  algorithm: string;
  /** The digest as bytes. */
  digest: Uint8Array<ArrayBuffer>;
}

/**
 * The DTLS fingerprints of an SDP, read as leniently as a browser's parser
 * might (any case, any run of spaces or tabs): they name the certificates
 * the other side may use, which the connection's certificate is checked
 * against once open. The MAC covers the whole SDP, not these.
 */
export function fingerprints(sdp: string): Fingerprint[] {
  const found: Fingerprint[] = [];
  for (const line of sdp.split(/\r\n|\r|\n/)) {
    const match = /^a=fingerprint:[ \t]*(\S+)[ \t]+([0-9A-Fa-f:]+)[ \t]*$/i
      .exec(line);
    if (match === null) continue;
    const hex = match[2].replaceAll(":", "");
    if (hex.length === 0 || hex.length % 2 !== 0) continue;
    const digest = new Uint8Array(hex.length / 2);
    for (let i = 0; i < digest.length; i++) {
      digest[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
    }
    found.push({ algorithm: match[1].toLowerCase(), digest });
  }
  return found;
}

/**
 * Refuses an SDP that a browser could split into lines other than the ones
 * its sender meant: a `\r` or `\n` that is not part of `\r\n`. Browsers
 * write `\r\n` only, and parsers differ on the others.
 */
export function checkLineBreaks(role: SdpRole, sdp: string): void {
  if (/\r(?!\n)|(?<!\r)\n/.test(sdp)) {
    throw new AuthError(
      `${UNVERIFIED}: the ${role}'s SDP has a bare line break`,
    );
  }
}

/**
 * What an SDP is for: the first connection's `offer` and `answer` (through
 * signaling), or a parallel connection's (over the first connection's
 * channel; docs/protocol.md, "Parallel connections"). Part of what the MAC
 * covers, so one cannot be passed off as the other.
 */
export type SdpRole = "offer" | "answer" | "lane offer" | "lane answer";

function macInput(
  role: SdpRole,
  senderId: string,
  receiverId: string,
  sdp: string,
): Uint8Array<ArrayBuffer> {
  checkLineBreaks(role, sdp);
  // The whole SDP as sent: a MAC over parts of it (its fingerprint lines,
  // found by a regex) let a relay add lines the regex skipped but a
  // browser took.
  return encoder.encode(
    JSON.stringify(["beam/v2", role, senderId, receiverId, sdp]),
  );
}

/** Signs a whole SDP for its role and the two peers' ids. */
export async function signSdp(
  keys: ShareKeys,
  role: SdpRole,
  senderId: string,
  receiverId: string,
  sdp: string,
): Promise<string> {
  const mac = await crypto.subtle.sign(
    "HMAC",
    keys.mac,
    macInput(role, senderId, receiverId, sdp),
  );
  return toBase64(new Uint8Array(mac));
}

/** Checks an SDP's MAC; throws an {@linkcode AuthError} when it does not match. */
export async function verifySdp(
  keys: ShareKeys,
  role: SdpRole,
  senderId: string,
  receiverId: string,
  sdp: unknown,
  mac: unknown,
): Promise<void> {
  if (typeof sdp !== "string" || typeof mac !== "string") {
    throw new AuthError(UNVERIFIED);
  }
  let signature: Uint8Array<ArrayBuffer>;
  try {
    signature = fromBase64(mac);
  } catch {
    throw new AuthError(UNVERIFIED);
  }
  const ok = await crypto.subtle.verify(
    "HMAC",
    keys.mac,
    signature,
    macInput(role, senderId, receiverId, sdp),
  );
  if (!ok) throw new AuthError(UNVERIFIED);
}

/** The sender's signing key pair, made by its page for one share. */
export interface SenderKeys {
  /** Signs; never leaves the page. */
  privateKey: CryptoKey;
  /** The public key as SPKI, base64url: sent with each signed payload. */
  publicKey: string;
  /** {@linkcode keyIdOf} the public key: goes in the link. */
  keyId: string;
}

const ECDSA_KEY = { name: "ECDSA", namedCurve: "P-256" } as const;
const ECDSA_SIGN = { name: "ECDSA", hash: "SHA-256" } as const;

/**
 * Makes a sender's signing keys: ECDSA P-256, which every browser's
 * WebCrypto has (Ed25519 came to some only lately).
 */
export async function newSenderKeys(): Promise<SenderKeys> {
  const pair = await crypto.subtle.generateKey(ECDSA_KEY, true, [
    "sign",
    "verify",
  ]);
  const spki = new Uint8Array(
    await crypto.subtle.exportKey("spki", pair.publicKey),
  );
  return {
    privateKey: pair.privateKey,
    publicKey: toBase64Url(spki),
    keyId: await keyIdOf(spki),
  };
}

/**
 * A public key's id in links: the first 16 bytes of SHA-256 over its SPKI,
 * base64url (22 characters). 128 bits keep a second key with the same id
 * out of reach while the link stays short.
 */
export async function keyIdOf(spki: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", spki));
  return toBase64Url(hash.subarray(0, 16));
}

/** The payload fields a signature adds. */
export interface Signature {
  /** The sender's public key, SPKI base64url. */
  key: string;
  /** ECDSA P-256 / SHA-256 (IEEE P1363, 64 bytes), base64url. */
  sig: string;
}

function signedInput(
  event: string,
  senderId: string,
  receiverId: string,
  payload: Record<string, unknown>,
): Uint8Array<ArrayBuffer> {
  return encoder.encode(
    JSON.stringify(["beam/v2 signed", event, senderId, receiverId]) +
      canonicalJson(payload),
  );
}

/**
 * Signs a payload the sender sends to one receiver (the sealed file list,
 * an answer): returns it with {@linkcode Signature} fields added. The
 * signature covers the event, both ids and every field, so it cannot be
 * moved to another receiver or another frame.
 */
export async function signPayload<T extends object>(
  sender: SenderKeys,
  event: string,
  senderId: string,
  receiverId: string,
  payload: T,
): Promise<T & Signature> {
  if ("key" in payload || "sig" in payload) {
    throw new TypeError(
      "Cannot sign the payload: it has a field named key or sig already",
    );
  }
  const sig = await crypto.subtle.sign(
    ECDSA_SIGN,
    sender.privateKey,
    signedInput(
      event,
      senderId,
      receiverId,
      payload as Record<string, unknown>,
    ),
  );
  return {
    ...payload,
    key: sender.publicKey,
    sig: toBase64Url(new Uint8Array(sig)),
  };
}

/**
 * Checks a payload signed by {@linkcode signPayload}: its key must be the
 * one whose id is in the link, and its signature must hold. Returns the
 * payload without the signature fields; throws an {@linkcode AuthError}
 * otherwise (someone other than the sender, such as another holder of the
 * link, made or changed it).
 */
export async function verifyPayload(
  keyId: string,
  event: string,
  senderId: string,
  receiverId: string,
  payload: unknown,
): Promise<Record<string, unknown>> {
  if (typeof payload !== "object" || payload === null) {
    throw new AuthError(`${UNVERIFIED}: the ${event} is not signed`);
  }
  const { key, sig, ...rest } = payload as Record<string, unknown>;
  if (typeof key !== "string" || typeof sig !== "string") {
    throw new AuthError(`${UNVERIFIED}: the ${event} is not signed`);
  }
  let spki: Uint8Array<ArrayBuffer>;
  let signature: Uint8Array<ArrayBuffer>;
  try {
    spki = fromBase64Url(key);
    signature = fromBase64Url(sig);
  } catch {
    throw new AuthError(`${UNVERIFIED}: the ${event}'s signature is malformed`);
  }
  if (await keyIdOf(spki) !== keyId) {
    throw new AuthError(
      `${UNVERIFIED}: the ${event} is signed by a key other than the link's`,
    );
  }
  let ok = false;
  try {
    const publicKey = await crypto.subtle.importKey(
      "spki",
      spki,
      ECDSA_KEY,
      false,
      ["verify"],
    );
    ok = await crypto.subtle.verify(
      ECDSA_SIGN,
      publicKey,
      signature,
      signedInput(event, senderId, receiverId, rest),
    );
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new AuthError(`${UNVERIFIED}: the ${event}'s signature is wrong`);
  }
  return rest;
}

/**
 * JSON with every object's keys sorted: the same bytes on both sides
 * whatever order the fields crossed the server in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(",")}]`;
  }
  if (typeof value === "object" && value !== null) {
    const object = value as Record<string, unknown>;
    return `{${
      Object.keys(object).filter((k) => object[k] !== undefined).sort().map(
        (k) => `${JSON.stringify(k)}:${canonicalJson(object[k])}`,
      ).join(",")
    }}`;
  }
  return JSON.stringify(value) ?? "null";
}
