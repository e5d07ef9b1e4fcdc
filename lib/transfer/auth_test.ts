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
