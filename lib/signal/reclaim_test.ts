import assert from "node:assert/strict";
import { ReclaimKeys, TOKEN_TTL_SECONDS } from "./reclaim.ts";
import { newPeerId } from "./protocol.ts";

const NOW = Date.UTC(2026, 11, 1, 12);

Deno.test("ReclaimKeys.verify() gives back the id of a token it issued", () => {
  const keys = new ReclaimKeys("s3cret");
  const id = newPeerId();
  const token = keys.issue(id, NOW);
  assert.match(token, /^[A-Za-z0-9_-]{16}\.\d+\.[A-Za-z0-9_-]{43}$/);
  assert.equal(keys.verify(token, NOW), id);
});

Deno.test("ReclaimKeys.verify() accepts a token of another process with the same secret", () => {
  const id = newPeerId();
  const token = new ReclaimKeys("shared").issue(id, NOW);
  assert.equal(new ReclaimKeys("shared").verify(token, NOW + 1000), id);
});

Deno.test("ReclaimKeys.verify() refuses a token under another key", () => {
  const token = new ReclaimKeys("one").issue(newPeerId(), NOW);
  assert.equal(new ReclaimKeys("two").verify(token, NOW), null);
  // Without a secret each object draws its own key.
  assert.equal(
    new ReclaimKeys().verify(new ReclaimKeys().issue(newPeerId(), NOW), NOW),
    null,
  );
});

Deno.test("ReclaimKeys.verify() refuses an expired token", () => {
  const keys = new ReclaimKeys("s3cret");
  const token = keys.issue(newPeerId(), NOW);
  assert.equal(keys.verify(token, NOW + TOKEN_TTL_SECONDS * 1000), null);
});

Deno.test("ReclaimKeys.verify() refuses a token whose id or expiry was changed", () => {
  const keys = new ReclaimKeys("s3cret");
  const [id, expiry, mac] = keys.issue(newPeerId(), NOW).split(".");
  assert.equal(keys.verify(`${newPeerId()}.${expiry}.${mac}`, NOW), null);
  assert.equal(keys.verify(`${id}.${Number(expiry) + 1000}.${mac}`, NOW), null);
});

Deno.test("ReclaimKeys.verify() refuses malformed tokens", () => {
  const keys = new ReclaimKeys("s3cret");
  for (const token of ["", "x", "a.b.c", `${newPeerId()}..`, "1".repeat(500)]) {
    assert.equal(keys.verify(token, NOW), null);
  }
});
