import assert from "node:assert/strict";
import {
  bucketOf,
  decodeManifest,
  encodeManifest,
  LIST_DAMAGED,
  LIST_TOO_LONG,
  ManifestAssembler,
  type ManifestPage,
  openProgress,
  sealManifest,
  sealProgress,
  TEXT_TOO_LONG,
} from "./manifest.ts";
import { AuthError, deriveKeys, unseal } from "./auth.ts";
import { newPeerId } from "../signal/protocol.ts";
import { newSecret } from "./secret.ts";
import { type Manifest, MAX_TEXT_BYTES } from "./wire.ts";
import {
  MANIFEST_MAX_PAGES,
  MANIFEST_MIN_BYTES,
  MANIFEST_PAGE_BYTES,
  MAX_SHARED_FILES,
  PROGRESS_PAD_BYTES,
} from "./tuning.ts";
import { DEFAULT_MAX_FRAME_BYTES, EVENT } from "../signal/protocol.ts";

/** `count` files; random names do not compress, as real ones may not. */
function listOf(count: number, random = false): Manifest {
  return {
    files: Array.from({ length: count }, (_, i) => ({
      name: random
        ? `${crypto.randomUUID().slice(0, 20)}.bin`
        : `file-${String(i).padStart(5, "0")}.bin`,
      size: i,
      type: "application/octet-stream",
      lastModified: 1764590400000,
    })),
  };
}

/** The frame a sender's page sends for a sealed page, as the server reads it. */
function frameBytes(receiverId: string, payload: unknown): number {
  return new TextEncoder().encode(
    JSON.stringify([EVENT.response, receiverId, payload]),
  ).byteLength;
}

async function roundTrip(manifest: Manifest): Promise<Manifest> {
  const assembler = new ManifestAssembler();
  let whole: ManifestPage[] | null = null;
  for (const page of await encodeManifest(manifest)) {
    assert.equal(whole, null, "the list was whole before its last page");
    whole = assembler.add(structuredClone(page));
  }
  assert.ok(whole);
  return decodeManifest(whole);
}

Deno.test("bucketOf() pads to the next power of two, at least 1 KiB", () => {
  assert.equal(bucketOf(0), MANIFEST_MIN_BYTES);
  assert.equal(bucketOf(1), 1024);
  assert.equal(bucketOf(1024), 1024);
  assert.equal(bucketOf(1025), 2048);
  assert.equal(bucketOf(40_000), 65536);
});

Deno.test("encodeManifest() pages round-trip through decodeManifest()", async () => {
  for (const count of [1, 10, 100, 5000]) {
    const manifest = listOf(count, true);
    assert.deepEqual(await roundTrip(manifest), manifest);
  }
});

Deno.test("encodeManifest() hides the number of files: 1, 10 and 100 files seal to the same length", async () => {
  const keys = await deriveKeys(newSecret(), newPeerId());
  const receiverId = newPeerId();
  const lengths = new Set<number>();
  for (const count of [1, 10, 100]) {
    const sealed = await sealManifest(
      keys,
      receiverId,
      await encodeManifest(listOf(count)),
    );
    assert.equal(sealed.length, 1);
    lengths.add(frameBytes(receiverId, sealed[0]));
  }
  assert.equal(lengths.size, 1, [...lengths].join(", "));
});

Deno.test("encodeManifest() pages 5,000 files into same-size frames under the server's cap", async () => {
  const keys = await deriveKeys(newSecret(), newPeerId());
  const receiverId = newPeerId();
  const pages = await encodeManifest(listOf(5000, true));
  assert.ok(pages.length > 1, `${pages.length} page(s)`);
  // A power of two: the count tells the server only the bucket.
  assert.equal(pages.length & (pages.length - 1), 0);
  const sealed = await sealManifest(keys, receiverId, pages);
  const sizes = new Set(sealed.map((s) => frameBytes(receiverId, s)));
  for (const size of sizes) {
    assert.ok(size < 48 * 1024, `${size} bytes`);
    assert.ok(size < DEFAULT_MAX_FRAME_BYTES);
  }
  // Every page sealed for this receiver, and only for it.
  for (const [i, s] of sealed.entries()) {
    assert.deepEqual(await unseal(keys, receiverId, s), pages[i]);
    await assert.rejects(unseal(keys, newPeerId(), s), AuthError);
  }
});

Deno.test("encodeManifest() refuses a list too long to send, saying what to do", async () => {
  const tooLong = (error: Error) =>
    error instanceof RangeError && error.message === LIST_TOO_LONG;
  await assert.rejects(encodeManifest(listOf(MAX_SHARED_FILES + 1)), tooLong);
  // Names that do not compress: past MANIFEST_MAX_PAGES pages.
  const long: Manifest = {
    files: Array.from({ length: 8000 }, () => ({
      name: Array.from(
        crypto.getRandomValues(new Uint8Array(100)),
        (b) => b.toString(16).padStart(2, "0"),
      ).join(""),
      size: 1,
      type: "",
      lastModified: 0,
    })),
  };
  // Hex compresses to half: still past the most pages.
  assert.ok(
    JSON.stringify(long).length / 2 > MANIFEST_MAX_PAGES * MANIFEST_PAGE_BYTES,
  );
  await assert.rejects(encodeManifest(long), tooLong);
});

Deno.test("ManifestAssembler takes pages in any order, skips repeats, and starts over for the next copy", async () => {
  const manifest = listOf(3000, true);
  const pages = await encodeManifest(manifest);
  assert.ok(pages.length >= 4);
  const assembler = new ManifestAssembler();
  const shuffled = [...pages].reverse();
  // A server replaying a frame: the same page twice.
  assert.equal(assembler.add(shuffled[0]), null);
  assert.equal(assembler.add(shuffled[0]), null);
  let whole: ManifestPage[] | null = null;
  for (const page of shuffled.slice(1)) whole = assembler.add(page);
  assert.ok(whole);
  assert.deepEqual(await decodeManifest(whole), manifest);
  // The sender sends the whole list again for the next `request`.
  for (const page of pages.slice(0, -1)) {
    assert.equal(assembler.add(page), null);
  }
  assert.ok(assembler.add(pages.at(-1)));
});

Deno.test("ManifestAssembler refuses garbage and contradicting pages with a clear message", async () => {
  const pages = await encodeManifest(listOf(3000, true));
  const other = await encodeManifest(listOf(3000, true));
  const garbage: unknown[] = [
    null,
    "page",
    {},
    { i: 0, n: 0, data: "" },
    { i: 1, n: 1, data: "" },
    { i: -1, n: 2, data: "" },
    { i: 0.5, n: 2, data: "" },
    { i: 0, n: MANIFEST_MAX_PAGES + 1, data: "" },
    { i: 0, n: 1, data: 7 },
    { i: 0, n: 1, data: "A".repeat(MANIFEST_PAGE_BYTES * 2) },
  ];
  for (const value of garbage) {
    assert.throws(
      () => new ManifestAssembler().add(value),
      (error: Error) =>
        error instanceof TypeError && error.message === LIST_DAMAGED,
      JSON.stringify(value)?.slice(0, 80),
    );
  }
  // The same index with other bytes, or another page count.
  const assembler = new ManifestAssembler();
  const damaged = (error: Error) =>
    error instanceof TypeError && error.message === LIST_DAMAGED;
  assembler.add(pages[0]);
  assert.throws(() => assembler.add(other[0]), damaged);
  assembler.add(pages[0]);
  assert.throws(
    () => assembler.add({ ...pages[1], n: pages.length * 2 }),
    damaged,
  );
});

Deno.test("decodeManifest() refuses pages that do not make a list", async () => {
  const [page] = await encodeManifest(listOf(1));
  const bytes = Uint8Array.from(atob(page.data), (c) => c.charCodeAt(0));
  const encode = (b: Uint8Array) => btoa(String.fromCharCode(...b));
  const lengthPast = bytes.slice();
  new DataView(lengthPast.buffer).setUint32(0, bytes.byteLength);
  const notDeflate = bytes.slice();
  notDeflate.fill(0xff, 4, 40);
  const cases: ManifestPage[][] = [
    [],
    [{ i: 0, n: 1, data: "not base64!" }],
    [{ i: 0, n: 1, data: encode(bytes.subarray(0, 100)) }],
    [{ i: 0, n: 1, data: encode(lengthPast) }],
    [{ i: 0, n: 1, data: encode(notDeflate) }],
  ];
  for (const pages of cases) {
    await assert.rejects(
      decodeManifest(pages),
      (error: Error) =>
        error instanceof TypeError && error.message === LIST_DAMAGED,
    );
  }
});

Deno.test("sealProgress() hides the count and the error, and opens only as this receiver's report to this sender", async () => {
  const senderId = newPeerId();
  const keys = await deriveKeys(newSecret(), senderId);
  const receiverId = newPeerId();
  const lengths = new Set<number>();
  for (
    const report of [
      { bytes: 0 },
      { bytes: 1 },
      { bytes: Number.MAX_SAFE_INTEGER },
      { error: "This connection could not be verified" },
    ]
  ) {
    const sealed = await sealProgress(keys, senderId, receiverId, report);
    lengths.add(JSON.stringify(sealed).length);
    assert.deepEqual(
      await openProgress(keys, senderId, receiverId, sealed),
      report,
    );
    // Another receiver's report, or a file list page, does not open.
    await assert.rejects(
      openProgress(keys, senderId, newPeerId(), sealed),
      AuthError,
    );
    await assert.rejects(unseal(keys, receiverId, sealed), AuthError);
  }
  assert.equal(lengths.size, 1, [...lengths].join(", "));
  // A file list page sealed for the receiver is no report.
  const [page] = await sealManifest(
    keys,
    receiverId,
    await encodeManifest(listOf(1)),
  );
  await assert.rejects(
    openProgress(keys, senderId, receiverId, page),
    AuthError,
  );
  // The clear report of the old protocol is refused.
  await assert.rejects(
    openProgress(keys, senderId, receiverId, { bytes: 5, total: 10 }),
    AuthError,
  );
  assert.ok(PROGRESS_PAD_BYTES >= 64);
});

Deno.test("encodeManifest() carries paths and text through decodeManifest()", async () => {
  const manifest: Manifest = {
    files: [
      { ...listOf(1).files[0], path: "dossier/été/file-00000.bin" },
      listOf(2).files[1],
    ],
    text: "Bonjour 👋 — 你好\nline two",
  };
  assert.deepEqual(await roundTrip(manifest), manifest);
  const textOnly: Manifest = { files: [], text: "x".repeat(MAX_TEXT_BYTES) };
  assert.deepEqual(await roundTrip(textOnly), textOnly);
});

Deno.test("encodeManifest() refuses text over MAX_TEXT_BYTES, saying what to do", async () => {
  await assert.rejects(
    encodeManifest({ files: [], text: "é".repeat(MAX_TEXT_BYTES / 2 + 1) }),
    new RangeError(TEXT_TOO_LONG),
  );
  assert.match(TEXT_TOO_LONG, /64 KiB/);
});
