import assert from "node:assert/strict";
import {
  contentDisposition,
  MAX_NAME_BYTES,
  MAX_PATH_DEPTH,
  mimeType,
  numberedName,
  safeFileName,
  safeRelativePath,
  uniqueNames,
  uniquePaths,
} from "./names.ts";

const utf8 = (text: string) => new TextEncoder().encode(text).byteLength;

/** [what the test shows, the name from the wire, the name shown and saved]. */
const SAFE_NAMES: [string, string, string][] = [
  ["keeps letters of any script", "résumé 履歴書.txt", "résumé 履歴書.txt"],
  ["keeps emoji sequences", "👩‍👩‍👧 family.jpg", "👩‍👩‍👧 family.jpg"],
  ["drops a joiner outside emoji", "👩\u200d.jpg", "👩.jpg"],
  ["replaces slashes", "../../etc/passwd", "_.._etc_passwd"],
  ["replaces backslashes", "..\\..\\boot.ini", "_.._boot.ini"],
  ["replaces what Windows forbids", 'a:c*d?e"f<g>h|i', "a_c_d_e_f_g_h_i"],
  ["replaces C0 controls", "line\nbreak\u0000.txt", "line_break_.txt"],
  ["replaces DEL and C1 controls", "a\u007fb\u0085c\u009b.txt", "a_b_c_.txt"],
  ["replaces line separators", "a\u2028b\u2029c", "a_b_c"],
  ["replaces a lone surrogate", "a\ud800b.txt", "a_b.txt"],
  [
    "strips bidi overrides",
    "invoice\u202etxt.exe",
    "invoice_txt.exe",
  ],
  [
    "strips bidi isolates and marks",
    "a\u2066b\u2067c\u2068d\u2069e\u200ff\u200eg\u061ch.pdf",
    "a_b_c_d_e_f_g_h.pdf",
  ],
  [
    "drops zero-width and invisible characters",
    "pay\u200bpal\u200c\u200d\u2060\ufeff\u00ad.html",
    "paypal.html",
  ],
  ["drops leading dots", ".bashrc", "bashrc"],
  ["drops leading dots and spaces", " . .hidden.txt", "hidden.txt"],
  ["drops trailing dots and spaces", "  spaced.  ", "spaced"],
  ["names .. file", "..", "file"],
  ["names . file", ".", "file"],
  ["names an empty name file", "", "file"],
  ["names a name of invisible characters file", "\u200b\u202e", "_"],
  ["prefixes CON", "CON", "_CON"],
  ["prefixes nul with an extension", "nul.txt", "_nul.txt"],
  ["prefixes a device name in any case", "CoM1.tar.gz", "_CoM1.tar.gz"],
  ["prefixes LPT9", "lpt9", "_lpt9"],
  ["prefixes COM¹", "COM¹.txt", "_COM¹.txt"],
  ["prefixes a device name before spaces", "aux .log", "_aux .log"],
  ["prefixes a device name after leading dots", "..prn", "_prn"],
  [
    "keeps a longer name that starts like a device",
    "console.txt",
    "console.txt",
  ],
  ["keeps COM10", "COM10.txt", "COM10.txt"],
  ["keeps a 255-byte name", "a".repeat(251) + ".txt", "a".repeat(251) + ".txt"],
  [
    "cuts a 256-byte name before its extension",
    "a".repeat(252) + ".txt",
    "a".repeat(251) + ".txt",
  ],
  [
    "cuts between two-byte characters",
    "é".repeat(200) + ".tar",
    "é".repeat(125) + ".tar",
  ],
  [
    "cuts between emoji, never inside one",
    "😀".repeat(100) + ".png",
    "😀".repeat(62) + ".png",
  ],
  [
    "cuts a long extension with the rest",
    "a." + "b".repeat(300),
    "a." + "b".repeat(253),
  ],
  [
    "leaves no trailing dot after a cut",
    "a".repeat(250) + "." + ".".repeat(10) + "b".repeat(40),
    "a".repeat(250),
  ],
];

for (const [what, name, safe] of SAFE_NAMES) {
  Deno.test(`safeFileName() ${what}`, () => {
    assert.equal(safeFileName(name), safe);
    assert.ok(utf8(safeFileName(name)) <= MAX_NAME_BYTES);
    // What it gives is already safe.
    assert.equal(safeFileName(safe), safe);
  });
}

Deno.test("numberedName() keeps a number within 255 bytes", () => {
  const long = "a".repeat(251) + ".txt";
  assert.equal(numberedName(long, 12), "a".repeat(246) + " (12).txt");
  const longExtension = "a." + "b".repeat(253);
  const numbered = numberedName(longExtension, 3);
  assert.ok(numbered.endsWith(" (3)"));
  assert.equal(utf8(numbered), 255);
});

Deno.test("uniqueNames() gives distinct names to long names alike but for their end", () => {
  const names = uniqueNames([
    "a".repeat(300) + "1.txt",
    "a".repeat(300) + "2.txt",
    "a".repeat(300) + "3.txt",
  ]);
  assert.deepEqual(names, [
    "a".repeat(251) + ".txt",
    "a".repeat(247) + " (1).txt",
    "a".repeat(247) + " (2).txt",
  ]);
});

Deno.test("uniqueNames() sanitizes before it compares", () => {
  assert.deepEqual(uniqueNames(["a\u200b.txt", "a.txt", ".a.txt", "CON"]), [
    "a.txt",
    "a (1).txt",
    "a (2).txt",
    "_CON",
  ]);
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
  // The sanitized name, in both forms.
  assert.equal(
    contentDisposition("..\u202etxt.exe"),
    "attachment; filename=\"_txt.exe\"; filename*=UTF-8''_txt.exe",
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

/** [what the test shows, the path from the wire, the segments saved]. */
const HOSTILE_PATHS: [string, string, string[]][] = [
  ["keeps a plain nested path", "photos/2024/a.jpg", [
    "photos",
    "2024",
    "a.jpg",
  ]],
  ["never climbs out with '..'", "../x", ["x"]],
  ["never climbs out from deeper down", "a/../../../b/c", ["a", "b", "c"]],
  ["makes an absolute path relative", "/etc/passwd", ["etc", "passwd"]],
  ["drops empty segments", "a//b", ["a", "b"]],
  ["drops '.' segments", "a/./b", ["a", "b"]],
  ["keeps a backslash inside one safe name", "a\\..\\b/c", ["a_.._b", "c"]],
  ["keeps a Windows drive inside one safe name", "C:\\Windows/x", [
    "C__Windows",
    "x",
  ]],
  ["replaces NUL", "a\0b/c\0.txt", ["a_b", "c_.txt"]],
  ["hides nothing behind dots", ".../...x/.hidden", ["file", "x", "hidden"]],
  ["guards Windows device names", "con/aux.txt", ["_con", "_aux.txt"]],
  ["replaces bidi overrides", "a\u202e/b", ["a_", "b"]],
  ["falls back to the name for a path of nothing", "/./../", ["n.txt"]],
];

for (const [what, path, saved] of HOSTILE_PATHS) {
  Deno.test(`safeRelativePath() ${what}`, () => {
    assert.deepEqual(safeRelativePath({ name: "n.txt", path }), saved);
  });
}

Deno.test("safeRelativePath() without a path is the safe name alone", () => {
  assert.deepEqual(safeRelativePath({ name: "../a.txt" }), ["_a.txt"]);
});

Deno.test("safeRelativePath() cuts an overlong segment and drops folders past MAX_PATH_DEPTH", () => {
  const long = "x".repeat(1000);
  const deep = Array.from({ length: 100 }, (_, i) => `d${i}`).join("/");
  const saved = safeRelativePath({ name: "n", path: `${long}/${deep}/f.txt` });
  assert.equal(saved.length, MAX_PATH_DEPTH + 1);
  assert.equal(utf8(saved[0]), MAX_NAME_BYTES);
  assert.equal(saved.at(-1), "f.txt");
  assert.ok(saved.every((segment) => utf8(segment) <= MAX_NAME_BYTES));
});

Deno.test("uniquePaths() keeps folders and numbers repeated files within them", () => {
  assert.deepEqual(
    uniquePaths([
      { name: "a.txt", path: "d/a.txt" },
      { name: "a.txt", path: "d/A.txt" },
      { name: "a.txt", path: "e/a.txt" },
      { name: "a.txt" },
      { name: "b", path: "/d//./b" },
    ]),
    ["d/a.txt", "d/A (1).txt", "e/a.txt", "a.txt", "d/b"],
  );
});

Deno.test("uniquePaths() never makes a file and a folder of one path", () => {
  assert.deepEqual(
    uniquePaths([
      { name: "x" },
      { name: "y", path: "x/y" },
      { name: "z", path: "x/z" },
      { name: "w", path: "v/w" },
      { name: "v" },
    ]),
    ["x", "x (1)/y", "x (1)/z", "v/w", "v (1)"],
  );
});
