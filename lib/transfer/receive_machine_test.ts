import assert from "node:assert/strict";
import { rowsOf } from "./machine.ts";
import {
  CANCELLED,
  CONNECT_ADVICE,
  DOWNLOAD_CANCELLED,
  initialReceive,
  LINK_DAMAGED,
  LINK_INACTIVE,
  LINK_MALFORMED,
  NO_ANSWER,
  RECEIVE_TABLE,
  type ReceiveEffect,
  type ReceiveEvent,
  type ReceiveMachine,
  type ReceiveState,
  SENDER_AWAY,
  SIGNAL_LOST,
  stepReceive,
  STOPPED_BY_SENDER,
} from "./receive_machine.ts";
import { KEY_MISSING } from "./auth.ts";
import { SENDER_STOPPED } from "./wire.ts";
import {
  GENERIC_ADVICE,
  KEY_MISSING_TEXT,
  retryHelps,
  RETRYING_ADVICE,
  UNVERIFIED_TEXT,
} from "./error_text.ts";

/** One row of the table, as a test: from a state, on an event, to a state. */
interface Row {
  from: ReceiveState;
  event: ReceiveEvent;
  /** The machine's numbers before the event, when they matter. */
  given?: Partial<ReceiveMachine>;
  to: ReceiveState;
  /** The effects, in order, by type (and timer). */
  effects: string[];
  /** What else the next state must hold. */
  then?: Partial<ReceiveMachine>;
  /** Distinguishes rows with the same from, event and to. */
  note?: string;
}

const STOP_ALL = [
  "stopTimer:answer",
  "stopTimer:ask",
  "stopTimer:connect",
  "stopTimer:ice",
];
/** A failure before the person chose where to save: nothing to remove. */
const FAIL_EARLY = [...STOP_ALL, "closeLink", "leave"];
/** A failure after: partial files are removed. */
const FAIL_SAVING = [...STOP_ALL, "closeLink", "abort", "leave"];
const AGAIN = [
  "stopTimer:connect",
  "stopTimer:ice",
  "closeLink",
  "request",
  "startTimer:answer",
  "startTimer:ask",
];
const CONNECT = [
  "stopTimer:answer",
  "stopTimer:ask",
  "connect",
  "startTimer:connect",
];
const ASK = ["request", "startTimer:ask"];
/** The person's Cancel: the sender told, the link closed, the files removed. */
const CANCEL_DOWNLOAD = ["tellCancel", ...STOP_ALL, "closeLink", "abort"];

/** The person's Cancel from `from`: back to the file list, from byte 0. */
function cancelDownload(from: ReceiveState): Row {
  return {
    from,
    event: { type: "cancelDownload" },
    given: { attempt: 2, bytes: 40, attemptStart: 30, total: 100 },
    to: "ready",
    effects: CANCEL_DOWNLOAD,
    then: {
      attempt: 0,
      bytes: 0,
      attemptStart: 0,
      total: 100,
      message: DOWNLOAD_CANCELLED,
    },
    note: "the person cancelled; the file list is shown again",
  };
}

/** The sender stopped sending to this receiver, from `from`. */
function stopped(from: ReceiveState): Row {
  return {
    from,
    event: { type: "stopped" },
    to: "failed",
    effects: FAIL_SAVING,
    then: { message: STOPPED_BY_SENDER },
  };
}

const ROWS: Row[] = [
  // idle
  {
    from: "idle",
    event: { type: "open" },
    to: "requesting",
    effects: ["request", "startTimer:answer", "startTimer:ask"],
  },
  {
    from: "idle",
    event: { type: "badLink" },
    to: "failed",
    effects: FAIL_EARLY,
    then: { message: LINK_MALFORMED },
  },
  {
    from: "idle",
    event: { type: "damagedLink" },
    to: "failed",
    effects: FAIL_EARLY,
    then: { message: LINK_DAMAGED },
  },
  {
    from: "idle",
    event: { type: "cancel" },
    to: "failed",
    effects: FAIL_EARLY,
    then: { message: CANCELLED },
  },
  // requesting
  {
    from: "requesting",
    event: { type: "askAgain" },
    to: "requesting",
    effects: ASK,
  },
  {
    from: "requesting",
    event: { type: "senderAway" },
    to: "requesting",
    effects: ["startTimer:answer"],
    then: { message: SENDER_AWAY },
  },
  {
    from: "requesting",
    event: { type: "manifest", total: 100 },
    to: "ready",
    effects: ["stopTimer:answer", "stopTimer:ask"],
    then: { total: 100 },
  },
  {
    from: "requesting",
    event: { type: "unreadable", reason: "No key", tell: true },
    to: "failed",
    effects: ["sayNoKey", ...FAIL_EARLY],
    then: { message: `No key. ${GENERIC_ADVICE}` },
  },
  {
    from: "requesting",
    event: { type: "unreadable", reason: "Malformed", tell: false },
    to: "failed",
    effects: FAIL_EARLY,
    note: "a malformed list is not blamed on the key",
  },
  {
    from: "requesting",
    event: { type: "noAnswer" },
    to: "failed",
    effects: FAIL_EARLY,
    then: { message: NO_ANSWER },
  },
  {
    from: "requesting",
    event: { type: "signalFailed", message: "Cannot reach the server" },
    to: "failed",
    effects: FAIL_EARLY,
    then: { message: `Cannot reach the server. ${GENERIC_ADVICE}` },
  },
  {
    from: "requesting",
    event: { type: "signalLost" },
    to: "failed",
    effects: FAIL_EARLY,
    then: { message: SIGNAL_LOST },
  },
  {
    from: "requesting",
    event: { type: "peerGone" },
    to: "failed",
    effects: FAIL_EARLY,
    then: { message: LINK_INACTIVE },
  },
  {
    from: "requesting",
    event: { type: "badLink" },
    to: "failed",
    effects: FAIL_EARLY,
    then: { message: LINK_MALFORMED },
  },
  {
    from: "requesting",
    event: { type: "cancel" },
    to: "failed",
    effects: FAIL_EARLY,
  },
  // ready
  {
    from: "ready",
    event: { type: "download" },
    to: "connecting",
    effects: CONNECT,
    then: { attempt: 1 },
  },
  {
    from: "ready",
    event: { type: "peerGone" },
    to: "failed",
    effects: FAIL_EARLY,
    then: { message: LINK_INACTIVE },
  },
  {
    from: "ready",
    event: { type: "badLink" },
    to: "failed",
    effects: FAIL_EARLY,
  },
  {
    from: "ready",
    event: { type: "cancel" },
    to: "failed",
    effects: FAIL_EARLY,
  },
  // connecting
  {
    from: "connecting",
    event: { type: "linkOpen" },
    to: "receiving",
    effects: ["stopTimer:connect", "receive"],
  },
  {
    from: "connecting",
    event: { type: "linkFailed", message: "ICE failed" },
    given: { attempt: 1 },
    to: "retrying",
    effects: AGAIN,
    then: { attempt: 2, message: `ICE failed. ${RETRYING_ADVICE}` },
  },
  {
    from: "connecting",
    event: { type: "linkFailed", message: "ICE failed" },
    given: { attempt: 2, bytes: 10, attemptStart: 10 },
    to: "resuming",
    effects: AGAIN,
    then: { attempt: 3 },
    note: "with bytes saved it resumes",
  },
  {
    from: "connecting",
    event: { type: "linkFailed", message: "ICE failed" },
    given: { attempt: 4 },
    to: "failed",
    effects: FAIL_SAVING,
    then: {
      message:
        `Cannot connect to the sender after 4 attempts: ICE failed. ${CONNECT_ADVICE}`,
    },
    note: "retry exhausted",
  },
  {
    from: "connecting",
    event: { type: "connectTimeout" },
    given: { attempt: 1 },
    to: "retrying",
    effects: AGAIN,
  },
  {
    from: "connecting",
    event: { type: "connectTimeout" },
    given: { attempt: 4, bytes: 10, attemptStart: 10 },
    to: "failed",
    effects: FAIL_SAVING,
    note: "retry exhausted",
  },
  {
    from: "connecting",
    event: { type: "connectTimeout" },
    given: { attempt: 1, bytes: 10 },
    to: "resuming",
    effects: AGAIN,
    note: "with bytes saved it resumes",
  },
  {
    from: "connecting",
    event: { type: "retry" },
    given: { attempt: 1 },
    to: "retrying",
    effects: AGAIN,
  },
  {
    from: "connecting",
    event: { type: "retry" },
    given: { attempt: 1, bytes: 5 },
    to: "resuming",
    effects: AGAIN,
    note: "with bytes saved it resumes",
  },
  {
    from: "connecting",
    event: { type: "retry" },
    given: { attempt: 4 },
    to: "failed",
    effects: FAIL_SAVING,
    note: "retry exhausted",
  },
  {
    from: "connecting",
    event: { type: "signalLost" },
    given: { attempt: 1 },
    to: "retrying",
    effects: AGAIN,
  },
  {
    from: "connecting",
    event: { type: "signalLost" },
    given: { attempt: 1, bytes: 5 },
    to: "resuming",
    effects: AGAIN,
    note: "with bytes saved it resumes",
  },
  {
    from: "connecting",
    event: { type: "signalLost" },
    given: { attempt: 4 },
    to: "failed",
    effects: FAIL_SAVING,
    note: "retry exhausted",
  },
  {
    from: "connecting",
    event: { type: "refused", reason: KEY_MISSING },
    to: "failed",
    effects: FAIL_SAVING,
    then: { message: `The sender refused: t${KEY_MISSING_TEXT.slice(1)}` },
  },
  {
    from: "connecting",
    event: { type: "answerUnverified" },
    to: "failed",
    effects: ["tellSender", ...FAIL_SAVING],
    then: { message: UNVERIFIED_TEXT },
  },
  {
    from: "connecting",
    event: { type: "peerGone" },
    to: "failed",
    effects: FAIL_SAVING,
    then: { message: LINK_INACTIVE },
  },
  {
    from: "connecting",
    event: { type: "badLink" },
    to: "failed",
    effects: FAIL_SAVING,
  },
  {
    from: "connecting",
    event: { type: "cancel" },
    to: "failed",
    effects: FAIL_SAVING,
    then: { message: CANCELLED },
  },
  // receiving
  {
    from: "receiving",
    event: { type: "progress", bytes: 40 },
    given: { total: 100 },
    to: "receiving",
    effects: ["report"],
    then: { bytes: 40 },
  },
  {
    from: "receiving",
    event: { type: "progress", bytes: 100 },
    given: { total: 100 },
    to: "verifying",
    effects: ["report"],
    then: { bytes: 100 },
    note: "the last byte",
  },
  {
    from: "receiving",
    event: { type: "received" },
    given: { total: 0 },
    to: "done",
    effects: ["report", "stopTimer:ice", "finish"],
    note: "a share of empty files has no last byte",
  },
  {
    from: "receiving",
    event: { type: "channelClosed", message: "closed" },
    given: { attempt: 3, bytes: 50, attemptStart: 10, total: 100 },
    to: "resuming",
    effects: AGAIN,
    then: { attempt: 2 },
    note: "progress in the attempt starts the count anew",
  },
  {
    from: "receiving",
    event: { type: "channelClosed", message: "closed" },
    given: { attempt: 4, bytes: 10, attemptStart: 10, total: 100 },
    to: "failed",
    effects: FAIL_SAVING,
    note: "retry exhausted",
  },
  {
    from: "receiving",
    event: { type: "channelClosed", message: "closed" },
    given: { attempt: 1, bytes: 0, total: 100 },
    to: "retrying",
    effects: AGAIN,
    note: "before any byte",
  },
  {
    from: "receiving",
    event: { type: "receiveFailed", message: "Checksum mismatch" },
    to: "failed",
    effects: FAIL_SAVING,
    then: { message: `Checksum mismatch. ${GENERIC_ADVICE}` },
  },
  {
    from: "receiving",
    event: { type: "iceDisconnected" },
    to: "receiving",
    effects: ["startTimer:ice"],
  },
  {
    from: "receiving",
    event: { type: "iceRecovered" },
    to: "receiving",
    effects: ["stopTimer:ice"],
  },
  {
    from: "receiving",
    event: { type: "iceLost" },
    given: { attempt: 1, bytes: 10, total: 100 },
    to: "resuming",
    effects: AGAIN,
    then: { message: `The connection was lost. ${RETRYING_ADVICE}` },
  },
  {
    from: "receiving",
    event: { type: "iceLost" },
    given: { attempt: 1, bytes: 0, total: 100 },
    to: "retrying",
    effects: AGAIN,
    note: "before any byte",
  },
  {
    from: "receiving",
    event: { type: "iceLost" },
    given: { attempt: 4, bytes: 10, attemptStart: 10, total: 100 },
    to: "failed",
    effects: FAIL_SAVING,
    note: "retry exhausted",
  },
  {
    from: "receiving",
    event: { type: "cancel" },
    to: "failed",
    effects: FAIL_SAVING,
  },
  cancelDownload("receiving"),
  stopped("receiving"),
  // verifying
  {
    from: "verifying",
    event: { type: "received" },
    given: { total: 100, bytes: 100 },
    to: "done",
    effects: ["report", "stopTimer:ice", "finish"],
    then: { bytes: 100 },
  },
  {
    from: "verifying",
    event: { type: "channelClosed", message: "closed" },
    given: { attempt: 1, total: 100, bytes: 100, attemptStart: 0 },
    to: "resuming",
    effects: AGAIN,
  },
  {
    from: "verifying",
    event: { type: "channelClosed", message: "closed" },
    given: { attempt: 4, total: 100, bytes: 100, attemptStart: 100 },
    to: "failed",
    effects: FAIL_SAVING,
    note: "retry exhausted",
  },
  {
    from: "verifying",
    event: { type: "channelClosed", message: "closed" },
    given: { total: 0 },
    to: "retrying",
    effects: AGAIN,
    note: "an empty share",
  },
  {
    from: "verifying",
    event: { type: "receiveFailed", message: "Checksum mismatch" },
    to: "failed",
    effects: FAIL_SAVING,
  },
  {
    from: "verifying",
    event: { type: "cancel" },
    to: "failed",
    effects: FAIL_SAVING,
  },
  cancelDownload("verifying"),
  stopped("verifying"),
  cancelDownload("connecting"),
  // retrying and resuming ask again; both rows are the same
  ...(["retrying", "resuming"] as const).flatMap((from): Row[] => [
    { from, event: { type: "askAgain" }, to: from, effects: ASK },
    {
      from,
      event: { type: "senderAway" },
      given: { attempt: 2, bytes: 30, total: 100 },
      to: from,
      effects: ["startTimer:answer"],
      // Waiting for a sender is no failed attempt.
      then: { attempt: 2, message: SENDER_AWAY },
    },
    {
      from,
      event: { type: "manifest", total: 100 },
      given: { bytes: 30, total: 100 },
      to: "connecting",
      effects: CONNECT,
      then: { attemptStart: 30 },
    },
    {
      from,
      event: { type: "unreadable", reason: "No key", tell: true },
      to: "failed",
      effects: ["sayNoKey", ...FAIL_SAVING],
    },
    {
      from,
      event: { type: "noAnswer" },
      to: "failed",
      effects: FAIL_SAVING,
      then: { message: NO_ANSWER },
    },
    {
      from,
      event: { type: "signalFailed", message: "Cannot reach the server" },
      to: "failed",
      effects: FAIL_SAVING,
    },
    {
      from,
      event: { type: "signalLost" },
      given: { attempt: 2 },
      to: "retrying",
      effects: AGAIN,
      then: { attempt: 3 },
    },
    {
      from,
      event: { type: "signalLost" },
      given: { attempt: 2, bytes: 5 },
      to: "resuming",
      effects: AGAIN,
      note: "with bytes saved it resumes",
    },
    {
      from,
      event: { type: "signalLost" },
      given: { attempt: 4 },
      to: "failed",
      effects: FAIL_SAVING,
      note: "retry exhausted",
    },
    {
      from,
      event: { type: "peerGone" },
      to: "failed",
      effects: FAIL_SAVING,
      then: { message: LINK_INACTIVE },
    },
    { from, event: { type: "badLink" }, to: "failed", effects: FAIL_SAVING },
    { from, event: { type: "cancel" }, to: "failed", effects: FAIL_SAVING },
    cancelDownload(from),
  ]),
];

// Files added to the share while this page has the list.
ROWS.push(
  {
    from: "ready",
    event: { type: "listGrew", total: 300 },
    given: { total: 100 },
    to: "ready",
    effects: ["adoptList"],
    then: { total: 300 },
    note: "still choosing where to save: it takes the longer list",
  },
  ...([
    "connecting",
    "receiving",
    "verifying",
    "retrying",
    "resuming",
    "done",
  ] as const).map((from): Row => ({
    from,
    event: { type: "listGrew", total: 300 },
    given: { total: 100, bytes: 40 },
    to: from,
    effects: ["holdList"],
    then: { total: 100, bytes: 40 },
    note: "saving or saved: it holds the longer list for later",
  })),
  {
    from: "done",
    event: { type: "getMore", total: 300 },
    given: { total: 100, bytes: 100, attempt: 2 },
    to: "resuming",
    effects: ["adoptList", "request", "startTimer:answer", "startTimer:ask"],
    then: { total: 300, bytes: 100, attempt: 1, attemptStart: 100 },
    note: "the person asked for the added files",
  },
  {
    from: "done",
    event: { type: "cancel" },
    given: { total: 100, bytes: 100 },
    to: "done",
    effects: ["leave"],
    then: { bytes: 100, message: undefined },
    note: "the page stops listening for added files",
  },
);

function describe(effect: ReceiveEffect): string {
  return "timer" in effect ? `${effect.type}:${effect.timer}` : effect.type;
}

for (const row of ROWS) {
  const name = `stepReceive() ${row.from} --${row.event.type}--> ${row.to}${
    row.note ? ` (${row.note})` : ""
  }`;
  Deno.test(name, () => {
    const machine: ReceiveMachine = {
      ...initialReceive(4),
      ...row.given,
      name: row.from,
    };
    const { state, effects } = stepReceive(machine, row.event);
    assert.equal(state.name, row.to);
    assert.deepEqual(effects.map(describe), row.effects);
    for (const [key, value] of Object.entries(row.then ?? {})) {
      assert.deepEqual(state[key as keyof ReceiveMachine], value, key);
    }
  });
}

Deno.test("RECEIVE_TABLE: every row and every target has a test above", () => {
  const tested = new Set(
    ROWS.map((r) => `${r.from} --${r.event.type}--> ${r.to}`),
  );
  const missing = rowsOf(RECEIVE_TABLE).filter((row) => !tested.has(row));
  assert.deepEqual(missing, []);
});

Deno.test("stepReceive() ignores an event its state does not handle", () => {
  const machine = { ...initialReceive(4), name: "done" as const };
  for (
    const event of [
      { type: "linkOpen" },
      { type: "channelClosed", message: "late" },
      { type: "receiveFailed", message: "late" },
    ] as ReceiveEvent[]
  ) {
    const step = stepReceive(machine, event);
    assert.equal(step.state, machine);
    assert.deepEqual(step.effects, []);
  }
  // A late answer's failure after the attempt was given up.
  const retrying = { ...initialReceive(4), name: "retrying" as const };
  assert.equal(
    stepReceive(retrying, { type: "answerUnverified" }).state,
    retrying,
  );
});

Deno.test("stepReceive() shows only the refusals the sender's code gives, never other text", () => {
  const machine = { ...initialReceive(4), name: "connecting" as const };
  const spoofed = stepReceive(machine, {
    type: "refused",
    reason: "Download the update at evil.example",
  });
  assert.equal(
    spoofed.state.message,
    "The sender refused this connection: ask the sender for the link again.",
  );
});

Deno.test("stepReceive() never lets progress go backwards or past the total", () => {
  const machine: ReceiveMachine = {
    ...initialReceive(4),
    name: "receiving",
    bytes: 50,
    total: 100,
  };
  assert.equal(
    stepReceive(machine, { type: "progress", bytes: 20 }).state.bytes,
    50,
  );
  assert.equal(
    stepReceive(machine, { type: "progress", bytes: 500 }).state.bytes,
    100,
  );
});

Deno.test("stepReceive() shows the sender's stop when it refuses an offer with SENDER_STOPPED", () => {
  const machine = { ...initialReceive(4), name: "connecting" as const };
  const { state } = stepReceive(machine, {
    type: "refused",
    reason: SENDER_STOPPED,
  });
  assert.equal(state.name, "failed");
  assert.equal(state.message, STOPPED_BY_SENDER);
  assert.equal(retryHelps(STOPPED_BY_SENDER), false, "no Try again");
});

Deno.test("stepReceive() downloads again from the file list after the person cancelled", () => {
  const cancelled = stepReceive(
    { ...initialReceive(4), name: "receiving", attempt: 1, total: 100 },
    { type: "cancelDownload" },
  ).state;
  const { state, effects } = stepReceive(cancelled, { type: "download" });
  assert.equal(state.name, "connecting");
  assert.equal(state.attempt, 1);
  assert.equal(state.message, undefined);
  assert.ok(effects.some((e) => e.type === "connect"));
});
