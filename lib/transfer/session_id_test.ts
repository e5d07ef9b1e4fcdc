import assert from "node:assert/strict";
import {
  newSessionId,
  openSession,
  openSessionId,
  readKept,
  sealSessionId,
} from "./session_id.ts";
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

Deno.test("openSession() opens the name sealed with the session id", async () => {
  const id = newSessionId();
  const sealed = await sealSessionId(keys, sender, receiver, id, "Amber Otter");
  assert.deepEqual(await openSession(keys, sender, receiver, sealed), {
    id,
    name: "Amber Otter",
  });
  assert.ok(!JSON.stringify(sealed).includes("Otter"));
  // The id alone, as before names, still opens.
  assert.equal(await openSessionId(keys, sender, receiver, sealed), id);
});

Deno.test("openSession() gives a null name when none was sent, or one that is not a name", async () => {
  const id = newSessionId();
  const bare = await sealSessionId(keys, sender, receiver, id);
  assert.deepEqual(await openSession(keys, sender, receiver, bare), {
    id,
    name: null,
  });
  for (const name of ["<img src=x>", "x".repeat(200), "amber otter", ""]) {
    const sealed = await sealSessionId(keys, sender, receiver, id, name);
    assert.deepEqual(await openSession(keys, sender, receiver, sealed), {
      id,
      name: null,
    });
  }
  const notText = await seal(
    keys,
    JSON.stringify(["beam/v1", "session", sender, receiver]),
    { session: id, name: { html: "<b>" } },
  );
  assert.deepEqual(await openSession(keys, sender, receiver, notText), {
    id,
    name: null,
  });
});

Deno.test("readKept() reads a kept session id and name, and nothing that is not both", () => {
  const session = newSessionId();
  const kept = JSON.stringify({ session, name: "Amber Otter" });
  assert.deepEqual(readKept(kept), { session, name: "Amber Otter" });
  for (
    const text of [
      null,
      "",
      "not json",
      "null",
      "[]",
      JSON.stringify({ session }),
      JSON.stringify({ name: "Amber Otter" }),
      JSON.stringify({ session: "short", name: "Amber Otter" }),
      JSON.stringify({ session, name: "<b>Amber</b>" }),
      JSON.stringify({ session: 7, name: "Amber Otter" }),
    ]
  ) {
    assert.equal(readKept(text), null, String(text));
  }
});
