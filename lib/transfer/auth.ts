/**
 * End-to-end authentication from the share secret, with WebCrypto only.
 *
 * The secret travels in the link's fragment, which never reaches a server.
 * From it (and the sender's id, so keys differ per share) HKDF derives two
 * keys: AES-GCM seals the file list sent in `response`, and HMAC-SHA-256
 * signs the DTLS fingerprints of `offer` and `answer`. WebRTC's DTLS then
 * proves that the data channel ends at whoever holds the certificate behind
 * a signed fingerprint, so neither the signaling server nor anyone who
 * learned a peer id can read the file list or sit in the middle of the
 * transfer.
 *
 * @module
 */

/** The message both pages show when a MAC does not check out. */
export const UNVERIFIED = "This connection could not be verified";

/** The message for a link whose key (the part after `#`) is missing or wrong. */
export const KEY_MISSING =
  "This link is missing its key (the part after #), or the key is wrong: ask the sender for the whole link";

/** The keys of one share. */
export interface ShareKeys {
  /** Seals the file list. */
  seal: CryptoKey;
  /** Signs SDP fingerprints. */
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
      params("sdp fingerprints"),
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

/**
 * The DTLS fingerprints of an SDP, normalized (lowercase, sorted), which is
 * what a MAC covers: they pin the certificates the data channel will use.
 */
export function fingerprints(sdp: string): string[] {
  const found = new Set<string>();
  for (
    const match of sdp.matchAll(/^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$/gm)
  ) {
    found.add(`${match[1].toLowerCase()} ${match[2].toLowerCase()}`);
  }
  return [...found].sort();
}

function macInput(
  role: "offer" | "answer",
  senderId: string,
  receiverId: string,
  sdp: string,
): Uint8Array<ArrayBuffer> {
  const prints = fingerprints(sdp);
  if (prints.length === 0) {
    throw new AuthError(`${UNVERIFIED}: the ${role} has no DTLS fingerprint`);
  }
  return encoder.encode(
    JSON.stringify(["beam/v1", role, senderId, receiverId, prints]),
  );
}

/** Signs an SDP's fingerprints for its role and the two peers' ids. */
export async function signSdp(
  keys: ShareKeys,
  role: "offer" | "answer",
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
  role: "offer" | "answer",
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

function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return btoa(text);
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}
