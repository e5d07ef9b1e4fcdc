import assert from "node:assert/strict";
import {
  AuthError,
  deriveKeys,
  fingerprints,
  seal,
  signSdp,
  unseal,
  verifySdp,
} from "./auth.ts";
import { newSecret } from "./secret.ts";

const SENDER = "SENDERSENDERSEND";
const RECEIVER = "RECEIVERRECEIVER";
const SDP = [
  "v=0",
  "a=group:BUNDLE 0",
  "a=fingerprint:sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
  "a=setup:actpass",
  "",
].join("\r\n");

Deno.test("seal() and unseal() round-trip the file list for one receiver", async () => {
  const keys = await deriveKeys(newSecret(), SENDER);
  const list = {
    files: [{ name: "a b ü.txt", size: 3, type: "", lastModified: 1 }],
  };
  assert.deepEqual(
    await unseal(keys, RECEIVER, await seal(keys, RECEIVER, list)),
    list,
  );
});

Deno.test("seal() leaves nothing of the value readable in what crosses the server", async () => {
  const keys = await deriveKeys(newSecret(), SENDER);
  const list = {
    files: [{ name: "secret plans.bin", size: 3, type: "", lastModified: 1 }],
  };
  const plain = new TextEncoder().encode(JSON.stringify(list));
  const sealed = await seal(keys, RECEIVER, list);
  assert.deepEqual(Object.keys(sealed).sort(), ["ct", "iv", "v"]);
  const ct = Uint8Array.from(atob(sealed.ct), (c) => c.charCodeAt(0));
  // AES-GCM: as long as the text plus a 16-byte tag, and not the text.
  assert.equal(ct.length, plain.length + 16);
  assert.notDeepEqual(ct.subarray(0, plain.length), plain);
  assert.ok(!new TextDecoder().decode(ct).includes("secret plans"));
  assert.ok(!JSON.stringify(sealed).includes("secret plans"));
  // A fresh nonce each time: the same list never looks the same twice.
  const again = await seal(keys, RECEIVER, list);
  assert.notEqual(again.iv, sealed.iv);
  assert.notEqual(again.ct, sealed.ct);
});

Deno.test("unseal() refuses a wrong secret, another receiver, and a flipped byte", async () => {
  const secret = newSecret();
  const keys = await deriveKeys(secret, SENDER);
  const sealed = await seal(keys, RECEIVER, { files: [] });
  const other = await deriveKeys(newSecret(), SENDER);
  await assert.rejects(unseal(other, RECEIVER, sealed), AuthError);
  await assert.rejects(unseal(keys, "SOMEONEELSEXXXXX", sealed), AuthError);
  const bytes = atob(sealed.ct);
  const flipped = btoa(
    String.fromCharCode(bytes.charCodeAt(0) ^ 1) + bytes.slice(1),
  );
  await assert.rejects(
    unseal(keys, RECEIVER, { ...sealed, ct: flipped }),
    AuthError,
  );
  await assert.rejects(unseal(keys, RECEIVER, { files: [] }), AuthError);
  // The same secret with another sender id gives other keys.
  await assert.rejects(
    unseal(await deriveKeys(secret, "XXXXXXXXXXXXXXXX"), RECEIVER, sealed),
  );
});

Deno.test("fingerprints() normalizes and sorts the DTLS fingerprints", () => {
  assert.deepEqual(fingerprints(SDP), [
    "sha-256 ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89",
  ]);
  assert.deepEqual(fingerprints("v=0\r\n"), []);
});

Deno.test("verifySdp() accepts its own MAC and refuses a rewritten fingerprint", async () => {
  const keys = await deriveKeys(newSecret(), SENDER);
  const mac = await signSdp(keys, "offer", SENDER, RECEIVER, SDP);
  await verifySdp(keys, "offer", SENDER, RECEIVER, SDP, mac);
  const tampered = SDP.replace("AB:CD:EF:01", "AB:CD:EF:02");
  await assert.rejects(
    verifySdp(keys, "offer", SENDER, RECEIVER, tampered, mac),
    AuthError,
  );
  // Bound to role and ids: an offer's MAC is no answer's.
  await assert.rejects(
    verifySdp(keys, "answer", SENDER, RECEIVER, SDP, mac),
    AuthError,
  );
  await assert.rejects(
    verifySdp(keys, "offer", SENDER, "OTHERRECEIVERXXX", SDP, mac),
    AuthError,
  );
  await assert.rejects(
    verifySdp(keys, "offer", SENDER, RECEIVER, SDP, null),
    AuthError,
  );
  await assert.rejects(
    verifySdp(keys, "offer", SENDER, RECEIVER, SDP, "%%%"),
    AuthError,
  );
  await assert.rejects(
    verifySdp(keys, "offer", SENDER, RECEIVER, "v=0\r\n", mac),
    AuthError,
  );
});
