import assert from "node:assert/strict";
import { newSessionId, openSessionId, sealSessionId } from "./session_id.ts";
import { deriveKeys, seal } from "./auth.ts";
import { newSecret } from "./secret.ts";
import { newPeerId } from "../signal/protocol.ts";

const sender = newPeerId();
const receiver = newPeerId();
const keys = await deriveKeys(newSecret(), sender);

Deno.test("newSessionId() makes a fresh 22-character base64url id each time", () => {
  const a = newSessionId();
  assert.match(a, /^[A-Za-z0-9_-]{22}$/);
  assert.notEqual(a, newSessionId());
});

Deno.test("openSessionId() opens what sealSessionId() sealed for the same pair", async () => {
  const id = newSessionId();
  const sealed = await sealSessionId(keys, sender, receiver, id);
  assert.equal(await openSessionId(keys, sender, receiver, sealed), id);
  // The id itself never crosses in the clear.
  assert.ok(!JSON.stringify(sealed).includes(id));
});

Deno.test("openSessionId() gives null for an id sealed as another receiver's, or under another key", async () => {
  const sealed = await sealSessionId(keys, sender, receiver, newSessionId());
  assert.equal(await openSessionId(keys, sender, newPeerId(), sealed), null);
  assert.equal(await openSessionId(keys, newPeerId(), receiver, sealed), null);
  const other = await deriveKeys(newSecret(), sender);
  assert.equal(await openSessionId(other, sender, receiver, sealed), null);
});

Deno.test("openSessionId() gives null for no id, a malformed one, or one that is not an id", async () => {
  assert.equal(await openSessionId(keys, sender, receiver, undefined), null);
  assert.equal(await openSessionId(keys, sender, receiver, null), null);
  assert.equal(await openSessionId(keys, sender, receiver, { v: 1 }), null);
  assert.equal(await openSessionId(keys, sender, receiver, "x"), null);
  // Sealed as a manifest page is (bound to the receiver id alone).
  const page = await seal(keys, receiver, { session: newSessionId() });
  assert.equal(await openSessionId(keys, sender, receiver, page), null);
  const notAnId = await sealSessionId(keys, sender, receiver, "short");
  assert.equal(await openSessionId(keys, sender, receiver, notAnId), null);
});
