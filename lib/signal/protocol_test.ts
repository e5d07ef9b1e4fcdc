import assert from "node:assert/strict";
import {
  CLIENT_EVENT_ARITY,
  type ClientFrame,
  CLOSE,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  EVENT,
  FrameError,
  isPeerId,
  newPeerId,
  parseFrame,
  parseServerFrame,
  PEER_ID_LENGTH,
  relayFrame,
  utf8LengthUpTo,
} from "./protocol.ts";

const LIMIT = DEFAULT_MAX_FRAME_BYTES;
const ALPHABET =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const TO = "AAAAAAAAAAAAAAAA";
const FROM = "Zz09-_Zz09-_Zz09";
const encoder = new TextEncoder();

/** Asserts that `parseFrame(data)` throws a FrameError with `code`. */
function assertRejects(data: unknown, code: number, limit = LIMIT): FrameError {
  let caught: unknown;
  try {
    parseFrame(data, limit);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof FrameError, `expected a FrameError for ${data}`);
  assert.equal(caught.code, code);
  assert.equal(caught.name, "FrameError");
  // The message is the close reason: short, human, and within the 123 bytes
  // a close frame can carry.
  assert.ok(caught.message.length > 0);
  assert.ok(
    encoder.encode(caught.message).byteLength <= 123,
    `reason too long: ${caught.message}`,
  );
  return caught;
}

/** Parses `raw` and relays it as coming from `from`. */
function relay(raw: string, from = FROM): string {
  return relayFrame(parseFrame(raw, LIMIT), from);
}

// utf8LengthUpTo

Deno.test("utf8LengthUpTo() counts ASCII as one byte a character", () => {
  assert.equal(utf8LengthUpTo("", 10), 0);
  assert.equal(utf8LengthUpTo("abc", 10), 3);
  assert.equal(utf8LengthUpTo("a".repeat(10), 10), 10);
});

Deno.test("utf8LengthUpTo() counts multibyte characters as UTF-8 does", () => {
  for (
    const text of [
      "é",
      "日本語",
      "😀",
      "a😀b",
      "é日😀",
      "\u0080\u07ff\u0800\uffff",
      "\u{10000}\u{10ffff}",
    ]
  ) {
    const bytes = encoder.encode(text).byteLength;
    assert.equal(utf8LengthUpTo(text, 1000), bytes, text);
    assert.equal(utf8LengthUpTo(text, bytes), bytes, text);
  }
});

Deno.test("utf8LengthUpTo() counts a lone surrogate as its 3-byte replacement", () => {
  assert.equal(utf8LengthUpTo("\ud800", 10), 3);
  assert.equal(utf8LengthUpTo("\udc00x", 10), 4);
  assert.equal(utf8LengthUpTo("\ud800\ud800", 10), 6);
  assert.equal(utf8LengthUpTo("\ud800", 10), encoder.encode("\ud800").length);
});

Deno.test("utf8LengthUpTo() returns limit + 1 past the limit", () => {
  assert.equal(utf8LengthUpTo("a".repeat(11), 10), 11);
  assert.equal(utf8LengthUpTo("a".repeat(1000), 10), 11);
  // Fewer UTF-16 units than the limit, more bytes.
  assert.equal(utf8LengthUpTo("é".repeat(6), 10), 11);
  assert.equal(utf8LengthUpTo("日".repeat(4), 10), 11);
  assert.equal(utf8LengthUpTo("😀".repeat(3), 10), 11);
  // Exactly at the limit is not past it.
  assert.equal(utf8LengthUpTo("é".repeat(5), 10), 10);
  assert.equal(utf8LengthUpTo("a😀日", 8), 8);
});

// parseFrame: accepted frames

Deno.test("parseFrame() accepts every client event with its arity", () => {
  const payload = { name: "a.txt", size: 3 };
  for (const [event, arity] of Object.entries(CLIENT_EVENT_ARITY)) {
    const raw = arity === 1
      ? JSON.stringify([event, TO])
      : JSON.stringify([event, TO, payload]);
    const frame = parseFrame(raw, LIMIT);
    assert.equal(frame.event, event);
    assert.equal(frame.target, TO);
    assert.deepEqual(frame.payload, arity === 2 ? payload : undefined);
    assert.equal(frame.raw, raw);
  }
});

Deno.test("parseFrame() covers exactly the client events of the table", () => {
  assert.deepEqual(
    Object.keys(CLIENT_EVENT_ARITY).sort(),
    [
      "answer",
      "candidate",
      "offer",
      "progress",
      "request",
      "response",
      "retry",
    ],
  );
  assert.equal(CLIENT_EVENT_ARITY.request, 1);
  assert.equal(CLIENT_EVENT_ARITY.retry, 1);
  for (
    const event of ["response", "offer", "answer", "candidate", "progress"]
  ) {
    assert.equal(CLIENT_EVENT_ARITY[event], 2, event);
  }
});

Deno.test("parseFrame() leaves the target unchecked", () => {
  for (const target of [42, null, "short", TO + "A", { id: TO }, [TO]]) {
    const frame = parseFrame(JSON.stringify(["request", target]), LIMIT);
    assert.deepEqual(frame.target, target);
  }
});

Deno.test("parseFrame() accepts any JSON value as payload", () => {
  for (
    const payload of [null, false, 0, -1.5e-7, "", "日本😀", [], {}, [{
      a: [1, { b: null }],
    }]]
  ) {
    const frame = parseFrame(JSON.stringify(["offer", TO, payload]), LIMIT);
    assert.deepEqual(frame.payload, payload);
  }
});

Deno.test("parseFrame() accepts a frame of exactly the limit in UTF-8 bytes", () => {
  const head = `["progress","${TO}","`;
  const tail = `"]`;
  // Two-byte characters: far fewer UTF-16 units than bytes.
  const room = LIMIT - head.length - tail.length;
  const raw = head + "é".repeat(room / 2) + tail;
  assert.equal(encoder.encode(raw).byteLength, LIMIT);
  assert.equal(parseFrame(raw, LIMIT).raw, raw);
});

// parseFrame: rejected frames

Deno.test("parseFrame() rejects a binary frame", () => {
  const error = assertRejects(new Uint8Array([91, 93]), CLOSE.unsupportedData);
  assert.equal(error.code, 1003);
  assertRejects(new ArrayBuffer(2), 1003);
  assertRejects(new Blob(["[]"]), 1003);
  assertRejects(undefined, 1003);
});

Deno.test("parseFrame() rejects a frame over the limit", () => {
  const raw = JSON.stringify(["progress", TO, "a".repeat(LIMIT)]);
  const error = assertRejects(raw, CLOSE.tooBig);
  assert.equal(error.code, 1009);
  assertRejects("a".repeat(LIMIT + 1), 1009);
  assertRejects("x".repeat(11), 1009, 10);
});

Deno.test("parseFrame() rejects multibyte text one byte over the limit", () => {
  const head = `["progress","${TO}","`;
  const tail = `"]`;
  const room = LIMIT - head.length - tail.length;
  // One byte over in UTF-8, while still far under the limit in UTF-16 units.
  const twoByte = head + "é".repeat(room / 2) + "a" + tail;
  assert.equal(encoder.encode(twoByte).byteLength, LIMIT + 1);
  assert.ok(twoByte.length < LIMIT);
  assertRejects(twoByte, 1009);
  const fourByte = head + "😀".repeat(Math.floor(room / 4)) +
    "a".repeat(room % 4 + 1) + tail;
  assert.equal(encoder.encode(fourByte).byteLength, LIMIT + 1);
  assertRejects(fourByte, 1009);
  const threeByte = "日".repeat(Math.floor(LIMIT / 3) + 1);
  assert.ok(threeByte.length * 3 > LIMIT && threeByte.length < LIMIT);
  assertRejects(threeByte, 1009);
});

Deno.test("parseFrame() rejects text that is not JSON", () => {
  for (const raw of ["", "[", "request", "['request']", "[1,]", "\ufeff[]"]) {
    const error = assertRejects(raw, CLOSE.policyViolation);
    assert.equal(error.code, 1008);
  }
});

Deno.test("parseFrame() rejects JSON that is not an array", () => {
  for (
    const raw of [
      "{}",
      `{"0":"request","1":"${TO}","length":2}`,
      '"request"',
      "42",
      "null",
      "true",
    ]
  ) {
    assertRejects(raw, 1008);
  }
});

Deno.test("parseFrame() rejects an event name that is not a string", () => {
  for (const raw of ["[]", "[null]", `[1,"${TO}"]`, `[["request"],"${TO}"]`]) {
    assertRejects(raw, 1008);
  }
});

Deno.test("parseFrame() rejects an unknown event", () => {
  for (
    const event of ["", "Request", "REQUEST", " request", "request ", "ping"]
  ) {
    assertRejects(JSON.stringify([event, TO]), 1008);
    assertRejects(JSON.stringify([event, TO, {}]), 1008);
  }
});

Deno.test("parseFrame() rejects the server-only events from a client", () => {
  for (
    const frame of [
      [EVENT.assign, TO],
      [EVENT.assign],
      [EVENT.invalidPeerId],
      [EVENT.invalidPeerId, TO],
      [EVENT.peerNotExists],
      [EVENT.peerNotExists, TO, {}],
    ]
  ) {
    assertRejects(JSON.stringify(frame), 1008);
  }
});

Deno.test("parseFrame() rejects names of Object.prototype", () => {
  for (
    const event of [
      "__proto__",
      "toString",
      "constructor",
      "hasOwnProperty",
      "valueOf",
      "__defineGetter__",
    ]
  ) {
    assertRejects(JSON.stringify([event, TO]), 1008);
    assertRejects(JSON.stringify([event, TO, {}]), 1008);
  }
});

Deno.test("parseFrame() keeps the close reason within 123 bytes for any name", () => {
  // The event name is echoed in the reason; a long name of multibyte or
  // control characters must not push it past what a close frame can carry.
  for (
    const event of [
      "x".repeat(1000),
      "日".repeat(100),
      "😀".repeat(100),
      "\u0001".repeat(100),
      '"'.repeat(100),
      "\\".repeat(100),
      "\u2028".repeat(100),
    ]
  ) {
    assertRejects(JSON.stringify([event, TO]), 1008);
  }
});

Deno.test("parseFrame() rejects the wrong number of arguments for each event", () => {
  for (const [event, arity] of Object.entries(CLIENT_EVENT_ARITY)) {
    for (const count of [0, 1, 2, 3, 5]) {
      if (count === arity) continue;
      const args = Array.from({ length: count }, (_, i) => i === 0 ? TO : {});
      assertRejects(JSON.stringify([event, ...args]), 1008);
    }
  }
});

// relayFrame

Deno.test("relayFrame() replaces the target id with the sender's id", () => {
  assert.equal(relay(`["request","${TO}"]`), `["request","${FROM}"]`);
  assert.equal(relay(`["retry","${TO}"]`), `["retry","${FROM}"]`);
  assert.equal(
    relay(`["offer","${TO}",{"sdp":"v=0"}]`),
    `["offer","${FROM}",{"sdp":"v=0"}]`,
  );
});

Deno.test("relayFrame() keeps the payload's text exactly as sent", () => {
  // A splice, not a second serialization: number forms, key order, escapes
  // and unicode survive byte for byte.
  const payload =
    `{"z":1.0,"a":1e2,"n":-0,"big":12345678901234567890,"s":"\\u00e9\\n\\"","u":"日本😀","nested":[{"x":[]}]}`;
  for (
    const event of ["response", "offer", "answer", "candidate", "progress"]
  ) {
    assert.equal(
      relay(`["${event}","${TO}",${payload}]`),
      `["${event}","${FROM}",${payload}]`,
    );
  }
});

Deno.test("relayFrame() splices through JSON whitespace", () => {
  for (
    const [raw, expected] of [
      [` [ "request" , "${TO}" ] `, ` [ "request" , "${FROM}" ] `],
      [
        `\n[\t"offer",\r\n  "${TO}",\n{"a": 1}\n]\n`,
        `\n[\t"offer",\r\n  "${FROM}",\n{"a": 1}\n]\n`,
      ],
      [`["answer","${TO}" , null]`, `["answer","${FROM}" , null]`],
    ]
  ) {
    assert.equal(relay(raw), expected);
  }
});

Deno.test("relayFrame() never rewrites a copy of the target id in the payload", () => {
  assert.equal(
    relay(`["offer","${TO}",{"to":"${TO}","list":["${TO}"]}]`),
    `["offer","${FROM}",{"to":"${TO}","list":["${TO}"]}]`,
  );
  assert.equal(
    relay(`["progress","${TO}","${TO}"]`),
    `["progress","${FROM}","${TO}"]`,
  );
});

Deno.test("relayFrame() re-serializes a frame whose target has escapes", () => {
  // The target's text is not the id, so the first `"id"` in the text is the
  // copy in the payload: splicing there would be wrong.
  const escapedTarget = "\\u0041" + TO.slice(1);
  const raw = `["offer","${escapedTarget}",{"to":"${TO}"}]`;
  assert.equal(parseFrame(raw, LIMIT).target, TO);
  const relayed = relay(raw);
  assert.deepEqual(JSON.parse(relayed), ["offer", FROM, { to: TO }]);
  assert.equal(relayed, `["offer","${FROM}",{"to":"${TO}"}]`);

  const unicodeTarget = TO.split("").map((c) =>
    "\\u00" + c.charCodeAt(0).toString(16)
  ).join("");
  assert.equal(
    relay(`["request","${unicodeTarget}"]`),
    `["request","${FROM}"]`,
  );
  assert.equal(
    relay(`["progress","${escapedTarget}","${TO}"]`),
    `["progress","${FROM}","${TO}"]`,
  );
});

Deno.test("relayFrame() re-serializes a frame whose event name has escapes", () => {
  const raw = `["\\u006fffer","${TO}",{"to":"${TO}"}]`;
  assert.deepEqual(JSON.parse(relay(raw)), ["offer", FROM, { to: TO }]);
  assert.deepEqual(JSON.parse(relay(`["r\\u0065try","${TO}"]`)), [
    "retry",
    FROM,
  ]);
});

Deno.test("relayFrame() re-serializes past a long run of whitespace", () => {
  const raw = `[${" ".repeat(100)}"candidate",${
    " ".repeat(100)
  }"${TO}",{"c":"${TO}"}]`;
  assert.deepEqual(JSON.parse(relay(raw)), ["candidate", FROM, { c: TO }]);
});

Deno.test("relayFrame() output always parses as the same frame from the sender", () => {
  const frames: unknown[][] = [
    ["request", TO],
    ["response", TO, { name: "日本.txt", size: 2 ** 53 - 1 }],
    ["candidate", TO, null],
    ["progress", TO, [0, 0.5, 1]],
  ];
  for (const frame of frames) {
    const relayed = relay(JSON.stringify(frame));
    assert.deepEqual(JSON.parse(relayed), [frame[0], FROM, ...frame.slice(2)]);
    const parsed = parseServerFrame(relayed);
    assert.equal(parsed.event, frame[0]);
    assert.equal("from" in parsed && parsed.from, FROM);
  }
});

// isPeerId and newPeerId

Deno.test("isPeerId() accepts 16 characters of the URL-safe alphabet", () => {
  assert.equal(PEER_ID_LENGTH, 16);
  assert.ok(isPeerId(TO));
  assert.ok(isPeerId(FROM));
  assert.ok(isPeerId("abcdefghijklmnop"));
  assert.ok(isPeerId("0123456789-_-_-_"));
  for (let i = 0; i < ALPHABET.length; i += 16) {
    assert.ok(isPeerId(ALPHABET.slice(i, i + 16)));
  }
});

Deno.test("isPeerId() rejects a value that is not a string", () => {
  for (
    const value of [
      undefined,
      null,
      42,
      1234567890123456,
      true,
      {},
      [TO],
      { toString: () => TO },
      new String(TO),
    ]
  ) {
    assert.equal(isPeerId(value), false, String(value));
  }
});

Deno.test("isPeerId() rejects the wrong length", () => {
  for (const value of ["", "A", TO.slice(1), TO + "A", TO + TO]) {
    assert.equal(isPeerId(value), false, value);
  }
});

Deno.test("isPeerId() rejects characters outside the URL-safe alphabet", () => {
  for (
    const c of [
      "+",
      "/",
      "=",
      ".",
      " ",
      "~",
      "%",
      "\n",
      "\0",
      "é",
      "А", // Cyrillic A
      "😀",
    ]
  ) {
    const value = c + TO.slice(c.length);
    assert.equal(isPeerId(value), false, JSON.stringify(value));
  }
  assert.equal(isPeerId(TO + "\n"), false);
  assert.equal(isPeerId("\n" + TO), false);
});

Deno.test("newPeerId() makes well-formed ids", () => {
  for (let i = 0; i < 1000; i++) {
    const id = newPeerId();
    assert.equal(id.length, PEER_ID_LENGTH);
    assert.ok(isPeerId(id), id);
  }
});

Deno.test("newPeerId() draws 96 random bits", () => {
  // Decoded as URL-safe base64, an id is 12 bytes. Over many ids every bit
  // takes both values and every position takes all 64 characters: no bit
  // is fixed and no character of the alphabet is left out.
  const ids = Array.from({ length: 10_000 }, () => newPeerId());
  const seenOne = new Uint8Array(12);
  const seenZero = new Uint8Array(12);
  const positions = Array.from({ length: 16 }, () => new Set<string>());
  for (const id of ids) {
    const bytes = Uint8Array.from(
      atob(id.replaceAll("-", "+").replaceAll("_", "/")),
      (c) => c.charCodeAt(0),
    );
    assert.equal(bytes.length, 12);
    for (let i = 0; i < 12; i++) {
      seenOne[i] |= bytes[i];
      seenZero[i] |= ~bytes[i];
    }
    for (let i = 0; i < 16; i++) positions[i].add(id[i]);
  }
  assert.deepEqual([...seenOne], new Array(12).fill(255));
  assert.deepEqual([...seenZero], new Array(12).fill(255));
  for (const seen of positions) assert.equal(seen.size, 64);
});

Deno.test("newPeerId() does not repeat over many ids", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 100_000; i++) ids.add(newPeerId());
  assert.equal(ids.size, 100_000);
});

// encodeFrame and parseServerFrame

Deno.test("encodeFrame() writes one JSON array", () => {
  assert.equal(encodeFrame(EVENT.assign, TO), `["assign","${TO}"]`);
  assert.equal(encodeFrame(EVENT.invalidPeerId), `["invalid peer id"]`);
  assert.equal(encodeFrame(EVENT.peerNotExists), `["peer not exists"]`);
  assert.equal(
    encodeFrame(EVENT.offer, TO, { sdp: "x" }),
    `["offer","${TO}",{"sdp":"x"}]`,
  );
});

Deno.test("parseServerFrame() reads assign", () => {
  assert.deepEqual(parseServerFrame(`["assign","${TO}"]`), {
    event: "assign",
    id: TO,
  });
});

Deno.test("parseServerFrame() reads the two server answers", () => {
  assert.deepEqual(parseServerFrame(`["invalid peer id"]`), {
    event: "invalid peer id",
  });
  assert.deepEqual(parseServerFrame(`["peer not exists"]`), {
    event: "peer not exists",
  });
});

Deno.test("parseServerFrame() reads every relayed event", () => {
  for (const [event, arity] of Object.entries(CLIENT_EVENT_ARITY)) {
    if (arity === 1) {
      assert.deepEqual(parseServerFrame(JSON.stringify([event, FROM])), {
        event,
        from: FROM,
      });
    } else {
      const payload = { n: [1, "日"] };
      assert.deepEqual(
        parseServerFrame(JSON.stringify([event, FROM, payload])),
        { event, from: FROM, payload },
      );
      assert.deepEqual(
        parseServerFrame(JSON.stringify([event, FROM, null])),
        { event, from: FROM, payload: null },
      );
    }
  }
});

Deno.test("parseServerFrame() rejects a frame off the protocol", () => {
  const bad: unknown[] = [
    new Uint8Array([1]),
    undefined,
    "",
    "not json",
    "{}",
    "[]",
    "[1]",
    `["assign"]`,
    `["assign","short"]`,
    `["assign","${TO}","extra"]`,
    `["assign",42]`,
    `["invalid peer id","${TO}"]`,
    `["peer not exists",null]`,
    `["request"]`,
    `["request","${TO}",{}]`,
    `["request","bad id"]`,
    `["offer","${TO}"]`,
    `["offer","${TO}",1,2]`,
    `["offer",42,{}]`,
    `["hello","${TO}"]`,
    `["__proto__","${TO}"]`,
    `["toString","${TO}",{}]`,
  ];
  for (const data of bad) {
    assert.throws(
      () => parseServerFrame(data),
      (error: unknown) =>
        error instanceof TypeError &&
        error.message.startsWith("Cannot parse server frame: "),
      String(data),
    );
  }
});

Deno.test("FrameError carries its close code", () => {
  const error = new FrameError(CLOSE.tooBig, "Cannot accept frame: too big");
  assert.ok(error instanceof Error);
  assert.equal(error.code, 1009);
  assert.equal(error.message, "Cannot accept frame: too big");
  const frame: ClientFrame = parseFrame(`["retry","${TO}"]`, LIMIT);
  assert.equal(frame.payload, undefined);
});
