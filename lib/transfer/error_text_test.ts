import assert from "node:assert/strict";
import {
  describeError,
  DOM_EXCEPTION_TEXT,
  failureText,
  GENERIC_ADVICE,
  isSentence,
  saysWhatToDo,
} from "./error_text.ts";

function assertShown(text: string): void {
  assert.ok(isSentence(text), `not a sentence: ${JSON.stringify(text)}`);
  assert.ok(saysWhatToDo(text), `says nothing to do: ${JSON.stringify(text)}`);
  assert.doesNotMatch(text, /undefined|\[object|\bnull\b|Error\b/);
}

Deno.test("isSentence() wants a capital, a final stop, and no junk", () => {
  assert.equal(isSentence("The sender left. Ask for the link again."), true);
  assert.equal(isSentence("Is it there?"), true);
  assert.equal(isSentence("the sender left."), false);
  assert.equal(isSentence("Cannot connect: no route"), false);
  assert.equal(isSentence("Cannot write to the download: undefined."), false);
  assert.equal(isSentence("Failed: [object Object]."), false);
  assert.equal(isSentence("Got null."), false);
  assert.equal(isSentence(""), false);
});

Deno.test("describeError() names each DOMException by what it means", () => {
  for (const [name, { cause, advice }] of Object.entries(DOM_EXCEPTION_TEXT)) {
    const text = describeError(new DOMException("raw browser words", name));
    assertShown(text);
    assert.ok(text.includes(advice), name);
    assert.ok(text.toLowerCase().startsWith(cause.toLowerCase()), name);
    assert.doesNotMatch(text, /raw browser words/);
    assert.doesNotMatch(text, new RegExp(name));
  }
});

Deno.test("describeError() says a refused save was not allowed", () => {
  assert.equal(
    describeError(
      new DOMException("The user aborted a request.", "NotAllowedError"),
    ),
    "The browser did not allow it. Allow downloads and file access for this site in the browser's settings, then try again.",
  );
});

Deno.test("describeError() takes an error-like object by its name", () => {
  assertShown(describeError({ name: "QuotaExceededError", message: "" }));
  assert.match(
    describeError({ name: "QuotaExceededError" }),
    /not enough space/,
  );
});

Deno.test("describeError() keeps an Error whose message is a sentence", () => {
  const text =
    "This link is no longer active: the sender closed the page. Ask the sender to share again.";
  assert.equal(describeError(new Error(text)), text);
  assert.equal(describeError(text), text);
});

Deno.test("describeError() makes a sentence of a std-style message", () => {
  assert.equal(
    describeError(new RangeError("Cannot receive: unexpected end of file 2")),
    `Cannot receive: unexpected end of file 2. ${GENERIC_ADVICE}`,
  );
  assert.equal(
    describeError("the connection closed"),
    `The connection closed. ${GENERIC_ADVICE}`,
  );
});

Deno.test("describeError() never shows undefined, null or an object", () => {
  for (
    const thrown of [
      undefined,
      null,
      {},
      { message: 42 },
      [],
      42,
      NaN,
      true,
      "",
      "   ",
      "undefined",
      new Error(),
      new Error("undefined"),
      new Error(String({})),
      new TypeError("Cannot read properties of null"),
      Symbol("x"),
    ]
  ) {
    const text = describeError(thrown);
    assertShown(text);
    assert.equal(text, `The browser gave no reason. ${GENERIC_ADVICE}`);
  }
});

Deno.test("failureText() says what failed, why, then what to do", () => {
  assert.equal(
    failureText("write to the download", undefined),
    `Cannot write to the download: the browser gave no reason. ${GENERIC_ADVICE}`,
  );
  assert.equal(
    failureText("connect", new Error("ICE failed")),
    `Cannot connect: ICE failed. ${GENERIC_ADVICE}`,
  );
  assert.equal(
    failureText("save", new DOMException("x", "NotAllowedError")),
    `Cannot save: the browser did not allow it. ${DOM_EXCEPTION_TEXT.NotAllowedError.advice}`,
  );
  for (
    const thrown of [undefined, {}, 1, "x", new DOMException("", "AbortError")]
  ) {
    assertShown(failureText("save", thrown));
  }
});

Deno.test("failureText() takes the caller's advice over the generic one", () => {
  assert.equal(
    failureText("connect", "the connection closed", "Check your network."),
    "Cannot connect: the connection closed. Check your network.",
  );
  // A DOMException's own advice is the more precise.
  assert.match(
    failureText("save", new DOMException("", "QuotaExceededError"), "X."),
    /Free some space/,
  );
});

Deno.test("failureText() shows a cause that is a whole sentence alone", () => {
  const inner =
    "Cannot finish the download: the browser cancelled it. Allow downloads from this site, then start again.";
  assert.equal(failureText("write to the download", new Error(inner)), inner);
});
