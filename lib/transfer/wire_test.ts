import assert from "node:assert/strict";
import {
  isFileMeta,
  MAX_PATH_CHARS,
  MAX_TEXT_BYTES,
  parseManifest,
} from "./wire.ts";
import type { FileMeta } from "./sink.ts";

const META: FileMeta = {
  name: "photo.jpg",
  size: 1234,
  type: "image/jpeg",
  lastModified: 1_700_000_000_000,
};

Deno.test("isFileMeta() accepts well-formed metadata", () => {
  assert.equal(isFileMeta(META), true);
  assert.equal(isFileMeta({ ...META, size: 0, type: "" }), true);
  assert.equal(isFileMeta({ ...META, name: "n".repeat(1024) }), true);
  assert.equal(isFileMeta({ ...META, lastModified: 0 }), true);
  assert.equal(isFileMeta({ ...META, lastModified: 1.5 }), true);
});

Deno.test("isFileMeta() rejects malformed metadata", () => {
  assert.equal(isFileMeta(null), false);
  assert.equal(isFileMeta(undefined), false);
  assert.equal(isFileMeta("photo.jpg"), false);
  assert.equal(isFileMeta(42), false);
  assert.equal(isFileMeta({}), false);
  assert.equal(isFileMeta({ ...META, name: "" }), false);
  assert.equal(isFileMeta({ ...META, name: "n".repeat(1025) }), false);
  assert.equal(isFileMeta({ ...META, name: 1 }), false);
  assert.equal(isFileMeta({ ...META, size: -1 }), false);
  assert.equal(isFileMeta({ ...META, size: 1.5 }), false);
  assert.equal(isFileMeta({ ...META, size: "1" }), false);
  assert.equal(isFileMeta({ ...META, size: Infinity }), false);
  assert.equal(isFileMeta({ ...META, type: null }), false);
  assert.equal(isFileMeta({ ...META, lastModified: "yesterday" }), false);
  const { type: _, ...noType } = META;
  assert.equal(isFileMeta(noType), false);
});

Deno.test("parseManifest() accepts a list of files", () => {
  const files = [META, { ...META, name: "b.txt", type: "text/plain" }];
  assert.deepEqual(parseManifest({ files }), { files });
  assert.deepEqual(parseManifest({ files: [META], extra: 1 }), {
    files: [META],
  });
});

Deno.test("parseManifest() rejects a malformed file list", () => {
  for (
    const value of [
      undefined,
      null,
      "files",
      [],
      {},
      { files: [] },
      { files: META },
      { files: "photo.jpg" },
      { files: [META, null] },
      { files: [META, { ...META, size: -1 }] },
    ]
  ) {
    assert.throws(
      () => parseManifest(value),
      new TypeError("Cannot read the file list: it is malformed"),
    );
  }
});

Deno.test("parseManifest() keeps a file's path and the shared text", () => {
  const files = [{ ...META, path: "photos/2024/a.jpg" }, META];
  assert.deepEqual(parseManifest({ files, text: "hé 👋" }), {
    files,
    text: "hé 👋",
  });
});

Deno.test("parseManifest() reads an old sender's manifest, with neither path nor text", () => {
  const manifest = parseManifest({ files: [META] });
  assert.deepEqual(manifest, { files: [META] });
  assert.equal("text" in manifest, false);
  assert.equal("path" in manifest.files[0], false);
});

Deno.test("parseManifest() accepts text with no file, and drops empty text", () => {
  assert.deepEqual(parseManifest({ files: [], text: "hi" }), {
    files: [],
    text: "hi",
  });
  assert.deepEqual(parseManifest({ files: [META], text: "" }), {
    files: [META],
  });
});

Deno.test("parseManifest() drops fields a sender added to a file", () => {
  const manifest = parseManifest({ files: [{ ...META, evil: "<script>" }] });
  assert.deepEqual(manifest, { files: [META] });
});

Deno.test("parseManifest() accepts text of MAX_TEXT_BYTES and refuses a byte more", () => {
  // Three bytes a character: the count is in UTF-8 bytes, not characters.
  const most = "€".repeat(MAX_TEXT_BYTES / 4) + "a".repeat(MAX_TEXT_BYTES / 4);
  assert.equal(new TextEncoder().encode(most).byteLength, MAX_TEXT_BYTES);
  assert.equal(parseManifest({ files: [], text: most }).text, most);
  assert.throws(
    () => parseManifest({ files: [], text: most + "a" }),
    new TypeError("Cannot read the file list: it is malformed"),
  );
});

Deno.test("parseManifest() rejects a malformed path or text", () => {
  for (
    const value of [
      { files: [] },
      { files: [], text: "" },
      { files: [], text: 1 },
      { files: [META], text: null },
      { files: [{ ...META, path: 1 }] },
      { files: [{ ...META, path: null }] },
      { files: [{ ...META, path: "a/".repeat(MAX_PATH_CHARS / 2) + "b" }] },
    ]
  ) {
    assert.throws(
      () => parseManifest(value),
      new TypeError("Cannot read the file list: it is malformed"),
    );
  }
});
