import assert from "node:assert/strict";
import { parseControl } from "./control.ts";
import {
  type ControlMessage,
  encodeControl,
  MAX_CONTROL_CHARS,
} from "./wire.ts";
import type { FileMeta } from "./sink.ts";

const META: FileMeta = {
  name: "photo.jpg",
  size: 1234,
  type: "image/jpeg",
  lastModified: 1_700_000_000_000,
};
const SHA = "0123456789abcdef".repeat(4);

/** Asserts `parseControl(text)` throws a TypeError matching `message`. */
function rejects(text: string, message: RegExp): void {
  assert.throws(() => parseControl(text), (error: unknown) => {
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, message);
    return true;
  }, text);
}

/** Asserts a message of type `t` built from `fields` is malformed. */
function malformed(t: string, fields: Record<string, unknown>): void {
  rejects(
    JSON.stringify({ t, ...fields }),
    new RegExp(`^Cannot parse control message: malformed "${t}" message$`),
  );
}

Deno.test("parseControl() accepts every message type", () => {
  const messages: ControlMessage[] = [
    { t: "file", index: 0, offset: 0, meta: META },
    { t: "file", index: 3, offset: 65536, meta: { ...META, size: 0 } },
    { t: "end", index: 2, sha256: SHA },
    { t: "done" },
    { t: "start", index: 1, offset: 42 },
    { t: "start", index: 2, offset: 0, end: 3 },
    { t: "ack", bytes: 0 },
    { t: "ack", bytes: Number.MAX_SAFE_INTEGER },
    { t: "verified", index: 0, ok: true },
    { t: "verified", index: 1, ok: false },
    { t: "error", message: "Disk full" },
    { t: "error", message: "" },
  ];
  for (const message of messages) {
    assert.deepEqual(parseControl(encodeControl(message)), message);
  }
});

Deno.test("parseControl() drops fields a peer added, in every message type", () => {
  const extra = { x: 1, __proto__: null, constructor: "y" };
  const cases: [Record<string, unknown>, ControlMessage][] = [
    [
      { t: "file", index: 0, offset: 0, meta: { ...META, path: "/etc" }, x: 1 },
      { t: "file", index: 0, offset: 0, meta: META },
    ],
    [{ t: "end", index: 2, sha256: SHA, ...extra }, {
      t: "end",
      index: 2,
      sha256: SHA,
    }],
    [{ t: "done", ...extra }, { t: "done" }],
    [{ t: "start", index: 1, offset: 2, ...extra }, {
      t: "start",
      index: 1,
      offset: 2,
    }],
    [{ t: "ack", bytes: 5, ...extra }, { t: "ack", bytes: 5 }],
    [{ t: "verified", index: 0, ok: true, ...extra }, {
      t: "verified",
      index: 0,
      ok: true,
    }],
    [{ t: "error", message: "m", ...extra }, { t: "error", message: "m" }],
  ];
  for (const [sent, parsed] of cases) {
    assert.deepEqual(parseControl(JSON.stringify(sent)), parsed);
  }
});

Deno.test("encodeControl() writes JSON text", () => {
  assert.equal(encodeControl({ t: "done" }), '{"t":"done"}');
  assert.deepEqual(JSON.parse(encodeControl({ t: "ack", bytes: 7 })), {
    t: "ack",
    bytes: 7,
  });
});

Deno.test("parseControl() rejects text that is not JSON", () => {
  for (const text of ["", "{", "done", "{t:'done'}", '{"t":"done"'] as const) {
    rejects(text, /^Cannot parse control message: not valid JSON$/);
  }
});

Deno.test("parseControl() rejects JSON that is not an object", () => {
  for (const text of ["null", "1", '"done"', "true"]) {
    rejects(text, /^Cannot parse control message: not an object$/);
  }
});

Deno.test("parseControl() rejects unknown or missing types", () => {
  rejects("{}", /malformed "undefined" message/);
  rejects("[]", /malformed "undefined" message/);
  rejects('["done"]', /malformed "undefined" message/);
  malformed("hello", {});
  malformed("DONE", {});
  rejects('{"t":1}', /malformed "1" message/);
  rejects('{"t":null}', /malformed "null" message/);
});

Deno.test("parseControl() rejects wrong field types", () => {
  malformed("file", { index: "0", offset: 0, meta: META });
  malformed("file", { index: 0, offset: null, meta: META });
  malformed("file", { index: 0, offset: 0 });
  malformed("file", { index: 0, offset: 0, meta: "photo.jpg" });
  malformed("end", { index: 0 });
  malformed("end", { index: 0, sha256: 1 });
  malformed("end", { sha256: SHA });
  malformed("start", { index: 0 });
  malformed("start", { index: true, offset: 0 });
  malformed("start", { index: 0, offset: 0, end: "2" });
  malformed("ack", {});
  malformed("ack", { bytes: "10" });
  malformed("verified", { index: 0 });
  malformed("verified", { index: 0, ok: "true" });
  malformed("verified", { index: 0, ok: 1 });
  malformed("error", {});
  malformed("error", { message: 42 });
  malformed("error", { message: null });
});

Deno.test("parseControl() rejects negative and non-integer numbers", () => {
  for (const bad of [-1, 0.5, 1e300, Number.MAX_SAFE_INTEGER + 1]) {
    malformed("file", { index: bad, offset: 0, meta: META });
    malformed("file", { index: 0, offset: bad, meta: META });
    malformed("end", { index: bad, sha256: SHA });
    malformed("start", { index: bad, offset: 0 });
    malformed("start", { index: 0, offset: bad });
    malformed("start", { index: 0, offset: 0, end: bad });
    malformed("ack", { bytes: bad });
    malformed("verified", { index: bad, ok: true });
  }
});

Deno.test("parseControl() rejects a bad sha256", () => {
  for (
    const sha256 of [
      "",
      SHA.slice(1),
      SHA + "0",
      SHA.toUpperCase(),
      "g" + SHA.slice(1),
      ` ${SHA.slice(1)}`,
      `${SHA}\n`,
    ]
  ) {
    malformed("end", { index: 0, sha256 });
  }
});

Deno.test("parseControl() truncates error messages to 500 characters", () => {
  const message = parseControl(
    encodeControl({ t: "error", message: "x".repeat(2000) }),
  );
  assert.deepEqual(message, { t: "error", message: "x".repeat(500) });
});

Deno.test("parseControl() refuses a text longer than MAX_CONTROL_CHARS before parsing it", () => {
  const padded = (n: number) =>
    JSON.stringify({ t: "error", message: "x".repeat(n) });
  const fits = padded(MAX_CONTROL_CHARS - padded(0).length);
  assert.equal(fits.length, MAX_CONTROL_CHARS);
  assert.equal(parseControl(fits).t, "error");
  rejects(
    padded(MAX_CONTROL_CHARS),
    /^Cannot parse control message: longer than 16384 characters$/,
  );
});

Deno.test("parseControl() accepts a file header with the longest escaped name", () => {
  const name = "\u0001".repeat(1024);
  const header = encodeControl({
    t: "file",
    index: 0,
    offset: 0,
    meta: { ...META, name },
  });
  assert.ok(header.length > 6 * 1024);
  assert.equal((parseControl(header) as { meta: FileMeta }).meta.name, name);
});

Deno.test("parseControl() shows at most 20 characters of an unknown type", () => {
  rejects(
    JSON.stringify({ t: "a".repeat(100) }),
    new RegExp(
      `^Cannot parse control message: malformed "${"a".repeat(20)}" message$`,
    ),
  );
});

Deno.test("parseControl() drops a path from a file header: the manifest's is the one used", () => {
  const message = parseControl(
    JSON.stringify({
      t: "file",
      index: 0,
      offset: 0,
      meta: { ...META, path: "../../x" },
    }),
  );
  assert.deepEqual(message, { t: "file", index: 0, offset: 0, meta: META });
});

Deno.test("parseControl() reads a cancel, and drops any text a peer puts in it", () => {
  assert.deepEqual(parseControl('{"t":"cancel"}'), { t: "cancel" });
  assert.deepEqual(
    parseControl('{"t":"cancel","message":"<b>Click here</b>"}'),
    { t: "cancel" },
  );
  assert.equal(encodeControl({ t: "cancel" }), '{"t":"cancel"}');
});

Deno.test("parseControl() reads `at` and `lane` messages, their known fields only", () => {
  const messages: ControlMessage[] = [
    { t: "at", position: 0 },
    { t: "at", position: 1 << 40 },
    { t: "lane", lane: 1, sdp: "v=0\r\n", mac: "bWFj" },
    { t: "lane", lane: 7, sdp: "v=0", mac: "m", key: "k", sig: "s" },
    {
      t: "lane",
      lane: 2,
      candidate: {
        candidate: "candidate:1 1 udp 1 10.0.0.1 5000 typ host",
        sdpMid: "0",
        sdpMLineIndex: 0,
      },
    },
    { t: "lane", lane: 3, ready: true },
    { t: "lane", lane: 3, ready: false },
  ];
  for (const message of messages) {
    assert.deepEqual(parseControl(encodeControl(message)), message);
  }
  assert.deepEqual(
    parseControl(JSON.stringify({ t: "lane", lane: 1, ready: true, x: 1 })),
    { t: "lane", lane: 1, ready: true },
  );
});

Deno.test("parseControl() rejects a malformed `at` or `lane`", () => {
  malformed("at", { position: -1 });
  malformed("at", { position: 1.5 });
  malformed("at", {});
  malformed("lane", { lane: 0 });
  malformed("lane", { lane: 8 });
  malformed("lane", { lane: 1, sdp: 5 });
  malformed("lane", { lane: 1, ready: "no" });
  malformed("lane", { lane: 1, candidate: "candidate:1" });
  malformed("lane", { lane: 1, candidate: { candidate: 1 } });
  malformed("lane", {
    lane: 1,
    candidate: { candidate: "c", sdpMLineIndex: -1 },
  });
});
