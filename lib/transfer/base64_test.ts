import assert from "node:assert/strict";
import { fromBase64, fromBase64Url, toBase64, toBase64Url } from "./base64.ts";

Deno.test("toBase64() and fromBase64() round-trip every byte value, past one slice", () => {
  const bytes = new Uint8Array(0x8000 * 2 + 7).map((_, i) => i % 256);
  assert.deepEqual(fromBase64(toBase64(bytes)), bytes);
  assert.equal(toBase64(new Uint8Array([0xfb, 0xff])), "+/8=");
});

Deno.test("toBase64Url() uses - and _ and drops the padding", () => {
  assert.equal(toBase64Url(new Uint8Array([0xfb, 0xff])), "-_8");
  assert.deepEqual(fromBase64Url("-_8"), new Uint8Array([0xfb, 0xff]));
});

Deno.test("fromBase64Url() refuses a character outside its alphabet", () => {
  assert.throws(() => fromBase64Url("+/8="), {
    message: "Cannot decode base64url: a character is not in its alphabet",
  });
});
