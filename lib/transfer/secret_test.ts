import assert from "node:assert/strict";
import {
  formatLinkKey,
  isSecret,
  newSecret,
  parseLinkKey,
  shareLink,
} from "./secret.ts";
import { newSenderKeys } from "./auth.ts";

/** Decodes URL-safe base64 without padding. */
function decode(text: string): Uint8Array {
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

Deno.test("newSecret() makes 22 URL-safe characters", () => {
  for (let i = 0; i < 100; i++) {
    const secret = newSecret();
    assert.equal(secret.length, 22);
    assert.match(secret, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(encodeURIComponent(secret), secret);
  }
});

Deno.test("newSecret() carries 128 bits", () => {
  for (let i = 0; i < 100; i++) {
    const secret = newSecret();
    assert.equal(decode(secret).length, 16);
    // 22 × 6 = 132 bits: the last character's 4 spare bits are zero.
    assert.match(secret.at(-1)!, /^[AQgw]$/);
  }
});

Deno.test("newSecret() uses every character of the alphabet", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    for (const c of newSecret().slice(0, 21)) seen.add(c);
  }
  assert.equal(seen.size, 64);
});

Deno.test("newSecret() is unique over many", () => {
  const secrets = new Set<string>();
  for (let i = 0; i < 10_000; i++) secrets.add(newSecret());
  assert.equal(secrets.size, 10_000);
});

Deno.test("isSecret() accepts what newSecret() makes", () => {
  for (let i = 0; i < 100; i++) assert.equal(isSecret(newSecret()), true);
  assert.equal(isSecret("ABCDEFGHIJKLMNOPQRSTU-"), true);
  assert.equal(isSecret("abcdefghijklmnopqrstu_"), true);
});

Deno.test("isSecret() rejects other text", () => {
  assert.equal(isSecret(""), false);
  assert.equal(isSecret("A".repeat(21)), false);
  assert.equal(isSecret("A".repeat(23)), false);
  assert.equal(isSecret("A".repeat(21) + "="), false);
  assert.equal(isSecret("A".repeat(21) + "+"), false);
  assert.equal(isSecret("A".repeat(21) + "/"), false);
  assert.equal(isSecret("A".repeat(21) + " "), false);
  assert.equal(isSecret("A".repeat(21) + "é"), false);
  assert.equal(isSecret(newSecret() + "\n"), false);
  assert.equal(isSecret("#" + newSecret().slice(1)), false);
});

Deno.test("shareLink() puts the id in the path and the link key in the fragment", async () => {
  const key = { secret: newSecret(), keyId: (await newSenderKeys()).keyId };
  const link = shareLink("https://beam.example", "AbCdEfGhIjKlMnOp", key);
  assert.equal(
    link,
    `https://beam.example/r/AbCdEfGhIjKlMnOp#${key.secret}.${key.keyId}`,
  );
  const url = new URL(link);
  assert.equal(url.origin, "https://beam.example");
  assert.equal(url.pathname, "/r/AbCdEfGhIjKlMnOp");
  assert.equal(url.hash, `#${key.secret}.${key.keyId}`);
  assert.equal(url.search, "");
  // 45 characters after #: nothing to escape, the page reads them as they are.
  assert.equal(url.hash.length, 1 + 45);
  assert.deepEqual(parseLinkKey(url.hash.slice(1)), key);
});

Deno.test("shareLink() keeps a port in the origin", () => {
  const key = { secret: "S".repeat(22), keyId: "K".repeat(22) };
  assert.equal(
    shareLink("http://127.0.0.1:8000", "id", key),
    `http://127.0.0.1:8000/r/id#${"S".repeat(22)}.${"K".repeat(22)}`,
  );
});

Deno.test("parseLinkKey() reads what formatLinkKey() writes, and nothing else", async () => {
  const key = { secret: newSecret(), keyId: (await newSenderKeys()).keyId };
  const fragment = formatLinkKey(key);
  assert.deepEqual(parseLinkKey(fragment), key);
  for (
    const text of [
      "",
      key.secret, // A link of the old format: the secret alone.
      `${key.secret}.`,
      `.${key.keyId}`,
      `${key.secret}${key.keyId}`,
      `${key.secret}.${key.keyId.slice(1)}`,
      `${key.secret.slice(1)}.${key.keyId}`,
      `${fragment}x`,
      `${fragment}%E0`,
      `${fragment}\n`,
      `${key.secret}:${key.keyId}`,
      `${key.secret}.${key.keyId.slice(1)}=`,
      fragment.slice(0, 30),
    ]
  ) {
    assert.equal(parseLinkKey(text), null, JSON.stringify(text));
  }
});
