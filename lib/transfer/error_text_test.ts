import assert from "node:assert/strict";
import {
  causeOf,
  describeError,
  DOM_EXCEPTION_TEXT,
  failureText,
  GENERIC_ADVICE,
  isSentence,
  KEY_MISSING_TEXT,
  retryHelps,
  RETRYING_ADVICE,
  saysWhatToDo,
  UNVERIFIED_TEXT,
} from "./error_text.ts";
import { AuthError, KEY_MISSING, UNVERIFIED } from "./auth.ts";
import { LIST_DAMAGED, LIST_TOO_LONG } from "./manifest.ts";
import { DOWNLOAD_ERRORS } from "./sinks/sw_sink.ts";
import * as receiveMachine from "./receive_machine.ts";
import {
  initialReceive,
  RECEIVE_TABLE,
  type ReceiveEvent,
  type ReceiveState,
  refusalText,
  stepReceive,
} from "./receive_machine.ts";
import * as sendMachine from "./send_machine.ts";
import {
  initialSend,
  NO_ROUTE,
  receiverErrorText,
  refusedText,
  SEND_TABLE,
  type SendEvent,
  type SendState,
  stepSend,
} from "./send_machine.ts";

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

Deno.test("describeError() adds what to do to a sentence that lacks it", () => {
  assert.equal(
    describeError("The receiver left."),
    `The receiver left. ${GENERIC_ADVICE}`,
  );
  assert.equal(
    describeError(new Error("The connection was lost."), RETRYING_ADVICE),
    `The connection was lost. ${RETRYING_ADVICE}`,
  );
});

Deno.test("causeOf() gives only the why, as a clause", () => {
  assert.equal(
    causeOf(new Error("The connection closed")),
    "the connection closed",
  );
  assert.equal(causeOf(new Error("ICE failed.")), "ICE failed");
  assert.equal(
    causeOf(new DOMException("raw", "NetworkError")),
    DOM_EXCEPTION_TEXT.NetworkError.cause,
  );
  assert.equal(causeOf(undefined), "the browser gave no reason");
  assert.equal(
    causeOf({ toString: () => "[object Object]" }),
    "the browser gave no reason",
  );
  // Our own whole sentences stay whole.
  assert.equal(causeOf(LIST_DAMAGED), LIST_DAMAGED);
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

Deno.test("describeError() shows the link-key and verification codes as sentences", () => {
  assertShown(KEY_MISSING_TEXT);
  assertShown(UNVERIFIED_TEXT);
  assert.equal(describeError(new AuthError(KEY_MISSING)), KEY_MISSING_TEXT);
  assert.equal(
    describeError(`${KEY_MISSING}: the file list is not sealed`),
    KEY_MISSING_TEXT,
  );
  assert.equal(describeError(UNVERIFIED), UNVERIFIED_TEXT);
  assert.equal(
    describeError(new AuthError(`${UNVERIFIED}: the answer is not signed`)),
    UNVERIFIED_TEXT,
  );
});

/** Payloads the sessions may pass: junk, raw clauses, codes, sentences. */
const PAYLOADS = [
  "",
  "undefined",
  "[object Object]",
  "null",
  "ICE failed",
  "Cannot write to the download: undefined",
  "Cannot connect: the connection closed",
  "Cannot continue: the connection closed",
  "The sender stopped: Cannot read a.bin: NotReadableError",
  KEY_MISSING,
  `${KEY_MISSING}: the file list is not sealed`,
  UNVERIFIED,
  LIST_DAMAGED,
  DOWNLOAD_ERRORS.cancelled,
];

/** Every event of `types`, with every payload in each text field. */
function eventsOf<E>(types: Iterable<string>): E[] {
  return [...types].flatMap((type) =>
    PAYLOADS.map((text) =>
      ({
        type,
        message: text,
        reason: text,
        tell: true,
        total: 100,
        bytes: 100,
        sdp: "v=0",
      }) as E
    )
  );
}

function assertShownText(text: string | undefined, where: string): void {
  if (text === undefined) return;
  assert.ok(isSentence(text), `${where}: not a sentence: ${text}`);
  assert.ok(saysWhatToDo(text), `${where}: says nothing to do: ${text}`);
}

Deno.test("every text the receive machine can show is a sentence that says what to do", () => {
  let checked = 0;
  for (const [state, events] of Object.entries(RECEIVE_TABLE)) {
    for (const event of eventsOf<ReceiveEvent>(Object.keys(events))) {
      for (
        const given of [{}, { bytes: 50, total: 100 }, { attempt: 4 }]
      ) {
        const machine = {
          ...initialReceive(4),
          ...given,
          name: state as ReceiveState,
        };
        const { state: next, effects } = stepReceive(machine, event);
        const where = `${state} --${event.type}(${
          JSON.stringify((event as { message?: string }).message)
        })--> ${next.name}`;
        assertShownText(next.message, where);
        for (const effect of effects) {
          if (effect.type === "abort") assertShownText(effect.message, where);
        }
        if (next.message !== undefined) checked++;
      }
    }
  }
  assert.ok(checked > 100);
});

Deno.test("every text the send machine can show is a sentence that says what to do", () => {
  let checked = 0;
  for (const [state, events] of Object.entries(SEND_TABLE)) {
    for (const event of eventsOf<SendEvent>(Object.keys(events))) {
      const machine = {
        ...initialSend(100),
        name: state as SendState,
      };
      const { state: next, effects } = stepSend(machine, event);
      // A row handed to the receiver's new peer id is never shown.
      if (effects.some((effect) => effect.type === "handOver")) continue;
      assertShownText(next.message, `${state} --${event.type}--> ${next.name}`);
      if (next.message !== undefined) checked++;
    }
  }
  assert.ok(checked > 50);
});

Deno.test("every fixed text the pages show is a sentence that says what to do", () => {
  // NO_ROUTE is a cause, shown only through describeError().
  // REPLACED is the last state of a row handed over to the receiver's new
  // peer id, which is never shown (send_session.ts). STOPPED_TO_RECEIVER
  // is shown after "The sender stopped: " (receiver.ts), checked so below.
  const clauses = new Set<unknown>([
    NO_ROUTE,
    sendMachine.REPLACED,
    sendMachine.STOPPED_TO_RECEIVER,
  ]);
  const texts = [
    ...Object.values(receiveMachine),
    ...Object.values(sendMachine),
    ...Object.values(DOWNLOAD_ERRORS),
    LIST_DAMAGED,
    LIST_TOO_LONG,
    KEY_MISSING_TEXT,
    UNVERIFIED_TEXT,
    refusalText(KEY_MISSING),
    refusalText(UNVERIFIED),
    refusalText("anything else"),
    refusedText(KEY_MISSING),
    refusedText(UNVERIFIED),
    refusedText("anything else"),
    receiverErrorText(KEY_MISSING),
    receiverErrorText(UNVERIFIED),
    receiverErrorText("anything else"),
    `The sender stopped: ${sendMachine.STOPPED_TO_RECEIVER}`,
  ].filter((value): value is string =>
    typeof value === "string" && !clauses.has(value)
  );
  assert.ok(texts.length > 20);
  for (const text of texts) assertShownText(text, "fixed text");
});

Deno.test("retryHelps() is false for a link that can never work and true otherwise", () => {
  for (
    const final of [
      receiveMachine.LINK_INACTIVE,
      receiveMachine.LINK_MALFORMED,
      receiveMachine.LINK_DAMAGED,
      receiveMachine.REFUSED,
      refusalText(KEY_MISSING),
      refusalText(UNVERIFIED),
      describeError(new AuthError(KEY_MISSING)),
      describeError(new AuthError(UNVERIFIED)),
      `The sender stopped: ${sendMachine.STOPPED_TO_RECEIVER}`,
    ]
  ) {
    assert.equal(retryHelps(final), false, final);
  }
  for (
    const passing of [
      receiveMachine.NO_ANSWER,
      receiveMachine.CANCELLED,
      receiveMachine.SIGNAL_LOST,
      describeError(new DOMException("Permission denied", "NotAllowedError")),
      describeError(undefined),
    ]
  ) {
    assert.equal(retryHelps(passing), true, passing);
  }
});

Deno.test('describeError() rewrites a browser\'s "Permission denied" as what to do', () => {
  const text = describeError(
    new DOMException("Permission denied", "NotAllowedError"),
  );
  assert.doesNotMatch(text, /Permission denied/);
  assertShown(text);
});
