import assert from "node:assert/strict";
import { crc32 } from "./crc32.ts";
import { pseudoRandomBytes } from "../../tests/_helpers/bytes.ts";

const encoder = new TextEncoder();

/** The textbook bit-at-a-time CRC-32, to check the tables against. */
function slowCrc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) {
      crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
    }
  }
  return (crc ^ 0xffffffff) >>> 0;
}

Deno.test("crc32() matches the standard check values", () => {
  assert.equal(crc32(new Uint8Array()), 0);
  assert.equal(crc32(encoder.encode("a")), 0xe8b7be43);
  assert.equal(crc32(encoder.encode("abc")), 0x352441c2);
  assert.equal(crc32(encoder.encode("123456789")), 0xcbf43926);
  assert.equal(
    crc32(encoder.encode("The quick brown fox jumps over the lazy dog")),
    0x414fa339,
  );
  assert.equal(crc32(new Uint8Array(32)), 0x190a55ad);
  assert.equal(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b);
});

Deno.test("crc32() agrees with the bitwise algorithm at every length", () => {
  const bytes = pseudoRandomBytes(300, 12345);
  for (let length = 0; length <= bytes.length; length++) {
    const part = bytes.subarray(0, length);
    assert.equal(crc32(part), slowCrc32(part), `length ${length}`);
  }
});

Deno.test("crc32() continues from a previous value across any split", () => {
  const bytes = pseudoRandomBytes(4099, 777);
  const whole = crc32(bytes);
  for (const step of [1, 3, 7, 8, 9, 64, 1000, 4098]) {
    let crc = 0;
    for (let i = 0; i < bytes.length; i += step) {
      crc = crc32(bytes.subarray(i, i + step), crc);
    }
    assert.equal(crc, whole, `step ${step}`);
  }
  // A view at an odd offset reads the right bytes.
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  assert.equal(crc32(shifted.subarray(3)), whole);
});

Deno.test("crc32() matches Python's zlib.crc32 on a megabyte", async () => {
  const bytes = pseudoRandomBytes(1 << 20, 99);
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeFile(path, bytes);
    const output = await new Deno.Command("python3", {
      args: [
        "-c",
        "import sys, zlib; print(zlib.crc32(open(sys.argv[1], 'rb').read()))",
        path,
      ],
    }).output();
    assert.equal(
      new TextDecoder().decode(output.stdout).trim(),
      String(crc32(bytes)),
    );
  } finally {
    await Deno.remove(path);
  }
});
