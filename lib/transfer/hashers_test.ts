import assert from "node:assert/strict";
import { createCRC32, createSHA256 } from "./hashers.ts";

Deno.test("createSHA256() hashes like sha256sum", async () => {
  const hasher = await createSHA256();
  hasher.init();
  hasher.update(new TextEncoder().encode("abc"));
  assert.equal(
    hasher.digest("hex"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

Deno.test("createCRC32() gives the CRC-32 of zip files", async () => {
  const hasher = await createCRC32();
  hasher.init();
  hasher.update(new TextEncoder().encode("123456789"));
  assert.equal(hasher.digest("hex"), "cbf43926");
});
