import assert from "node:assert/strict";
import {
  AuthError,
  canonicalJson,
  deriveKeys,
  fingerprints,
  keyIdOf,
  newSenderKeys,
  seal,
  signPayload,
  signSdp,
  unseal,
  UNVERIFIED,
  verifyPayload,
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

const PRINT =
  "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
const EVIL =
  "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";

/**
 * What a relay could add to a signed SDP, each a line (or a line break)
 * that a fingerprint regex anchored at `\r\n` lines skipped but some
 * browser's SDP parser takes.
 */
const INJECTIONS: [string, (sdp: string) => string][] = [
  [
    "a bare \\r line break",
    (sdp) => sdp.replace("a=setup", `a=fingerprint:sha-256 ${EVIL}\ra=setup`),
  ],
  [
    "a bare \\n line break",
    (sdp) => sdp.replace("a=setup", `a=fingerprint:sha-256 ${EVIL}\na=setup`),
  ],
  [
    "a=FINGERPRINT: in capitals",
    (sdp) => `${sdp}a=FINGERPRINT:sha-256 ${EVIL}\r\n`,
  ],
  [
    "a tab after the colon",
    (sdp) => `${sdp}a=fingerprint:\tsha-256 ${EVIL}\r\n`,
  ],
  [
    "two spaces after the colon",
    (sdp) => `${sdp}a=fingerprint:  sha-256 ${EVIL}\r\n`,
  ],
  ["a trailing space", (sdp) => sdp.replace(PRINT, `${PRINT} `)],
];

Deno.test("fingerprints() reads every fingerprint line a browser might take", () => {
  const [print] = fingerprints(SDP);
  assert.equal(print.algorithm, "sha-256");
  assert.equal(print.digest.length, 32);
  assert.equal(print.digest[0], 0xab);
  assert.deepEqual(fingerprints("v=0\r\n"), []);
  // Each injected line is seen as a fingerprint too (the certificate check
  // after connecting takes any of them), which is why the MAC covers the
  // whole SDP and not the fingerprints it finds.
  for (const [what, inject] of INJECTIONS.slice(0, 5)) {
    assert.equal(fingerprints(inject(SDP)).length, 2, what);
  }
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
    verifySdp(keys, "offer", "OTHERSENDERXXXXX", RECEIVER, SDP, mac),
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

Deno.test("verifySdp() refuses every line a relay adds that a regex over fingerprints skipped", async () => {
  const keys = await deriveKeys(newSecret(), SENDER);
  for (const role of ["offer", "answer"] as const) {
    const mac = await signSdp(keys, role, SENDER, RECEIVER, SDP);
    for (const [what, inject] of INJECTIONS) {
      await assert.rejects(
        verifySdp(keys, role, SENDER, RECEIVER, inject(SDP), mac),
        AuthError,
        `${role}: ${what}`,
      );
    }
    // Any change at all, even one no parser reads.
    await assert.rejects(
      verifySdp(keys, role, SENDER, RECEIVER, `${SDP}a=x\r\n`, mac),
      AuthError,
    );
    await assert.rejects(
      verifySdp(keys, role, SENDER, RECEIVER, SDP.replace("v=0", "v=0 "), mac),
      AuthError,
    );
  }
});

Deno.test("signSdp() and verifySdp() refuse an SDP with a bare line break, whatever the MAC", async () => {
  const keys = await deriveKeys(newSecret(), SENDER);
  for (
    const sdp of ["v=0\ra=x\r\n", "v=0\na=x\r\n", "v=0\r\n\n", "v=0\r\r\n"]
  ) {
    await assert.rejects(signSdp(keys, "offer", SENDER, RECEIVER, sdp), {
      name: "AuthError",
      message: `${UNVERIFIED}: the offer's SDP has a bare line break`,
    });
    await assert.rejects(
      verifySdp(keys, "answer", SENDER, RECEIVER, sdp, "AAAA"),
      {
        name: "AuthError",
        message: `${UNVERIFIED}: the answer's SDP has a bare line break`,
      },
    );
  }
});

Deno.test("keyIdOf() is 22 base64url characters: the first 16 bytes of SHA-256", async () => {
  const sender = await newSenderKeys();
  assert.match(sender.keyId, /^[A-Za-z0-9_-]{22}$/);
  const spki = Uint8Array.from(
    atob(sender.publicKey.replaceAll("-", "+").replaceAll("_", "/")),
    (c) => c.charCodeAt(0),
  );
  // A P-256 public key as SPKI is 91 bytes.
  assert.equal(spki.length, 91);
  assert.equal(await keyIdOf(spki), sender.keyId);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", spki));
  const expected = btoa(String.fromCharCode(...hash.subarray(0, 16)))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  assert.equal(sender.keyId, expected);
  assert.notEqual((await newSenderKeys()).keyId, sender.keyId);
});

Deno.test("verifyPayload() accepts the sender's signature and returns the payload without it", async () => {
  const sender = await newSenderKeys();
  const payload = { v: 1, iv: "aXY=", ct: "Y3Q=" };
  const signed = await signPayload(
    sender,
    "response",
    SENDER,
    RECEIVER,
    payload,
  );
  assert.deepEqual(Object.keys(signed).sort(), ["ct", "iv", "key", "sig", "v"]);
  assert.deepEqual(
    await verifyPayload(sender.keyId, "response", SENDER, RECEIVER, signed),
    payload,
  );
  // The fields' order on the wire does not matter.
  const reordered = {
    sig: signed.sig,
    ct: signed.ct,
    key: signed.key,
    v: 1,
    iv: signed.iv,
  };
  assert.deepEqual(
    await verifyPayload(sender.keyId, "response", SENDER, RECEIVER, reordered),
    payload,
  );
});

Deno.test("verifyPayload() refuses another holder of the link posing as the sender", async () => {
  const sender = await newSenderKeys();
  const impostor = await newSenderKeys();
  const payload = { sdp: SDP, mac: "bWFj" };
  const signed = await signPayload(sender, "answer", SENDER, RECEIVER, payload);
  const refuse = (
    keyId: string,
    value: unknown,
    event = "answer",
    to = RECEIVER,
  ) =>
    assert.rejects(
      verifyPayload(keyId, event, SENDER, to, value),
      AuthError,
    );
  // Its own key: not the one whose id is in the link.
  await refuse(
    sender.keyId,
    await signPayload(impostor, "answer", SENDER, RECEIVER, payload),
  );
  // The sender's key with the impostor's signature.
  await refuse(sender.keyId, {
    ...await signPayload(impostor, "answer", SENDER, RECEIVER, payload),
    key: sender.publicKey,
  });
  // The sender's signature on something else.
  await refuse(sender.keyId, { ...signed, sdp: SDP.replace("AB", "00") });
  await refuse(sender.keyId, { ...signed, extra: 1 });
  // Moved to another receiver or another frame.
  await refuse(sender.keyId, signed, "answer", "OTHERRECEIVERXXX");
  await refuse(sender.keyId, signed, "response");
  // Unsigned or malformed.
  await refuse(sender.keyId, payload);
  await refuse(sender.keyId, null);
  await refuse(sender.keyId, "text");
  await refuse(sender.keyId, { ...signed, sig: "%%%" });
  await refuse(sender.keyId, { ...signed, sig: "" });
  await refuse(sender.keyId, { ...signed, key: "AAAA" });
  await refuse(impostor.keyId, signed);
});

Deno.test("signPayload() refuses a payload that has its fields already", async () => {
  const sender = await newSenderKeys();
  await assert.rejects(
    signPayload(sender, "answer", SENDER, RECEIVER, { key: "x" }),
    TypeError,
  );
});

Deno.test("canonicalJson() sorts keys at every depth and keeps array order", () => {
  assert.equal(
    canonicalJson({ b: [2, { d: 1, c: "x" }], a: null, u: undefined }),
    '{"a":null,"b":[2,{"c":"x","d":1}]}',
  );
  assert.equal(canonicalJson("a\r\n"), '"a\\r\\n"');
});
