import assert from "node:assert/strict";
import {
  contentDisposition,
  mimeType,
  numberedName,
  safeFileName,
  uniqueNames,
} from "./names.ts";

Deno.test("safeFileName() keeps letters and removes path tricks", () => {
  assert.equal(safeFileName("résumé 履歴書.txt"), "résumé 履歴書.txt");
  assert.equal(safeFileName("../../etc/passwd"), ".._.._etc_passwd");
  assert.equal(safeFileName('a\\b:c*d?e"f<g>h|i'), "a_b_c_d_e_f_g_h_i");
  assert.equal(safeFileName("line\nbreak\u0000.txt"), "line_break_.txt");
  assert.equal(safeFileName("  spaced.  "), "spaced");
  assert.equal(safeFileName(".."), "file");
  assert.equal(safeFileName(""), "file");
  assert.equal(safeFileName(".hidden"), ".hidden");
  const long = safeFileName("é".repeat(300) + ".tar");
  assert.equal(Array.from(long).length, 200);
  assert.ok(long.endsWith("é.tar"));
});

Deno.test("uniqueNames() numbers repeated names before the extension", () => {
  assert.equal(numberedName("a.txt", 2), "a (2).txt");
  assert.equal(numberedName("README", 1), "README (1)");
  assert.equal(numberedName(".env", 1), ".env (1)");
  assert.deepEqual(
    uniqueNames(["a.txt", "A.txt", "a.txt", "a (1).txt", "b", "b"]),
    ["a.txt", "A (1).txt", "a (2).txt", "a (1) (1).txt", "b", "b (1)"],
  );
});

Deno.test("contentDisposition() gives an ASCII fallback and the UTF-8 name", () => {
  assert.equal(
    contentDisposition("résumé 履歴書.txt"),
    'attachment; filename="r_sum_ ___.txt"; ' +
      "filename*=UTF-8''r%C3%A9sum%C3%A9%20%E5%B1%A5%E6%AD%B4%E6%9B%B8.txt",
  );
  assert.equal(
    contentDisposition("it's (1) 100%*.txt"),
    'attachment; filename="it\'s (1) 100__.txt"; ' +
      "filename*=UTF-8''it%27s%20%281%29%20100%25_.txt",
  );
  assert.equal(
    contentDisposition('a"b\\c.txt'),
    "attachment; filename=\"a_b_c.txt\"; filename*=UTF-8''a_b_c.txt",
  );
});

Deno.test("mimeType() passes only a plain type/subtype", () => {
  assert.equal(mimeType("application/pdf"), "application/pdf");
  assert.equal(
    mimeType("text/html; charset=utf-8"),
    "application/octet-stream",
  );
  assert.equal(
    mimeType("text/plain\r\nset-cookie: a=b"),
    "application/octet-stream",
  );
  assert.equal(mimeType(""), "application/octet-stream");
  assert.equal(mimeType("Image/PNG"), "image/png");
});
