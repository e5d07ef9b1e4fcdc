import assert from "node:assert/strict";
import { rowsOf } from "./machine.ts";
import { SENDER_STOPPED } from "./wire.ts";
import { KEY_MISSING, UNVERIFIED } from "./auth.ts";
import {
  GENERIC_ADVICE,
  RETRYING_ADVICE,
  UNVERIFIED_TEXT,
} from "./error_text.ts";
import {
  cancelledText,
  initialSend,
  isReceiving,
  NO_ROUTE,
  RECEIVER_ERROR,
  RECEIVER_KEY_MISSING,
  RECEIVER_LEFT,
  RECEIVER_SILENT,
  refusedText,
  SEND_TABLE,
  type SendEffect,
  type SendEvent,
  type SendMachine,
  type SendState,
  stepSend,
  STOPPED,
  STOPPED_ONE,
} from "./send_machine.ts";

/** One row of the table, as a test. */
interface Row {
  from: SendState;
  event: SendEvent;
  given?: Partial<SendMachine>;
  to: SendState;
  /** The effects, in order, by type (and timer). */
  effects: string[];
  then?: Partial<SendMachine>;
  note?: string;
}

const FAIL = [
  "stopTimer:connect",
  "stopTimer:gone",
  "stopTimer:ice",
  "closeLink",
  "forget",
];
const STOP = [
  "sendError",
  "stopTimer:connect",
  "stopTimer:gone",
  "stopTimer:ice",
  "forget",
];
/** A receiver that went silent: its connection given up, its row waits. */
const LEFT = ["stopTimer:ice", "closeLink", "startTimer:gone"];
const ANSWER = [
  "stopTimer:gone",
  "closeLink",
  "answer",
  "startTimer:connect",
];
const RETRY = [
  "stopTimer:connect",
  "closeLink",
  "sendRetry",
  "startTimer:gone",
];
const REQUEST = [
  "stopTimer:connect",
  "stopTimer:gone",
  "sendManifest",
  "startTimer:gone",
];

/** Rows every live state has: refusals, the receiver's error, stop. */
function ends(from: SendState): Row[] {
  return [
    {
      from,
      event: { type: "offerRefused", reason: "No key" },
      to: "failed",
      effects: ["refuse", ...FAIL],
      then: {
        message:
          "Refused: this receiver's connection could not be checked. Send them the link again if they still want the files.",
      },
    },
    {
      from,
      event: { type: "receiverError", message: UNVERIFIED },
      to: "failed",
      effects: FAIL,
      then: { message: UNVERIFIED_TEXT },
    },
    {
      from,
      event: { type: "replaced", by: "BBBBBBBBBBBBBBBB" },
      to: "failed",
      effects: ["handOver", ...FAIL],
      note: "the same receiver offered again under a new peer id",
    },
    {
      from,
      event: { type: "stop" },
      to: "failed",
      effects: STOP,
      then: { message: STOPPED },
    },
    {
      from,
      event: { type: "cancelled" },
      given: { bytes: 40 * 1024 + 7, total: 100 * 1024 },
      to: "failed",
      effects: [
        "stopTimer:connect",
        "stopTimer:gone",
        "stopTimer:ice",
        "forget",
      ],
      then: {
        message: cancelledText(40),
        bytes: 40 * 1024 + 7,
        ended: "cancelled",
      },
      note: "the receiver cancelled",
    },
    {
      from,
      event: { type: "stopReceiver" },
      to: "failed",
      effects: [
        "tellStopped",
        "stopTimer:connect",
        "stopTimer:gone",
        "stopTimer:ice",
        "forget",
      ],
      then: { message: STOPPED_ONE, ended: "stopped" },
      note: "the person stopped this receiver only",
    },
  ];
}

const ROWS: Row[] = [
  // waiting
  {
    from: "waiting",
    event: { type: "request" },
    to: "waiting",
    effects: REQUEST,
  },
  {
    from: "waiting",
    event: { type: "offer", sdp: "v=0" },
    to: "connecting",
    effects: ANSWER,
    then: { attempt: 1 },
  },
  {
    from: "waiting",
    event: { type: "goneTimeout" },
    to: "failed",
    effects: FAIL,
    then: { message: RECEIVER_LEFT },
    note: "asked and never offered",
  },
  ...ends("waiting"),
  // connecting
  {
    from: "connecting",
    event: { type: "request" },
    to: "waiting",
    effects: [
      "stopTimer:connect",
      "stopTimer:gone",
      "closeLink",
      "sendManifest",
      "startTimer:gone",
    ],
    note: "the receiver gave up its attempt and asks again",
  },
  {
    from: "connecting",
    event: { type: "offer", sdp: "v=0" },
    given: { attempt: 1 },
    to: "connecting",
    effects: ANSWER,
    then: { attempt: 2 },
  },
  {
    from: "connecting",
    event: { type: "channelOpen" },
    to: "sending",
    effects: ["stopTimer:connect", "send"],
  },
  {
    from: "connecting",
    event: { type: "connectFailed", message: "ICE failed" },
    to: "retrying",
    effects: RETRY,
    then: { message: `ICE failed. ${RETRYING_ADVICE}` },
  },
  {
    from: "connecting",
    event: { type: "connectTimeout" },
    to: "retrying",
    effects: RETRY,
    then: { message: `${NO_ROUTE}. ${RETRYING_ADVICE}` },
  },
  {
    from: "connecting",
    event: { type: "progress", bytes: 10 },
    given: { total: 100 },
    to: "connecting",
    effects: [],
    then: { bytes: 10 },
  },
  ...ends("connecting"),
  // sending
  {
    from: "sending",
    event: { type: "sent" },
    given: { total: 100 },
    to: "done",
    effects: ["forget"],
    then: { bytes: 100 },
  },
  {
    from: "sending",
    event: { type: "channelClosed", message: "closed" },
    given: { stalled: true, iceDown: true },
    to: "resuming",
    effects: ["stopTimer:ice", "startTimer:gone"],
    then: { stalled: false, iceDown: false },
  },
  {
    from: "sending",
    event: { type: "stalled" },
    to: "sending",
    effects: [],
    then: { stalled: true },
    note: "ICE still in touch: alive but slow, waited for",
  },
  {
    from: "sending",
    event: { type: "stalled" },
    given: { iceDown: true, bytes: 3 },
    to: "resuming",
    effects: LEFT,
    then: {
      bytes: 3,
      stalled: false,
      message: RECEIVER_SILENT,
    },
    note: "and ICE out of touch: the receiver's browser is gone",
  },
  {
    from: "sending",
    event: { type: "iceDisconnected" },
    to: "sending",
    effects: ["startTimer:ice"],
    then: { iceDown: true },
    note: "bytes still moving: ICE is given its grace",
  },
  {
    from: "sending",
    event: { type: "iceDisconnected" },
    given: { stalled: true },
    to: "resuming",
    effects: LEFT,
    then: { iceDown: false },
    note: "nothing moving either: left at once",
  },
  {
    from: "sending",
    event: { type: "iceRecovered" },
    given: { iceDown: true },
    to: "sending",
    effects: ["stopTimer:ice"],
    then: { iceDown: false },
  },
  {
    from: "sending",
    event: { type: "iceLost" },
    to: "resuming",
    effects: LEFT,
    then: { message: RECEIVER_SILENT },
  },
  {
    from: "sending",
    event: { type: "sendFailed", message: "Cannot read a file" },
    to: "failed",
    effects: [
      "sendError",
      "stopTimer:connect",
      "stopTimer:gone",
      "stopTimer:ice",
      "forget",
    ],
    then: { message: `Cannot read a file. ${GENERIC_ADVICE}` },
    note: "the reason goes out before the connection closes",
  },
  {
    from: "sending",
    event: { type: "progress", bytes: 500 },
    given: { total: 100, stalled: true },
    to: "sending",
    effects: [],
    then: { bytes: 100, stalled: false },
  },
  ...ends("sending"),
  // retrying and resuming wait for the receiver to come back
  ...(["retrying", "resuming"] as const).flatMap((from): Row[] => [
    { from, event: { type: "request" }, to: "waiting", effects: REQUEST },
    {
      from,
      event: { type: "offer", sdp: "v=0" },
      to: "connecting",
      effects: ANSWER,
    },
    {
      from,
      event: { type: "goneTimeout" },
      to: "failed",
      effects: FAIL,
      then: { message: RECEIVER_LEFT },
    },
    ...ends(from),
  ]),
  {
    from: "resuming",
    event: { type: "progress", bytes: 60 },
    given: { total: 100 },
    to: "resuming",
    effects: [],
    then: { bytes: 60 },
  },
];

// Files added to the share: a receiver that has only the list takes the
// longer one (its row counts every byte); the others keep theirs and are
// told of the added files.
ROWS.push(
  {
    from: "waiting",
    event: { type: "listGrew", total: 300 },
    given: { total: 100 },
    to: "waiting",
    effects: ["resendManifest"],
    then: { total: 300 },
    note: "on its ready screen: it takes the longer list",
  },
  ...(["connecting", "sending", "retrying", "resuming"] as const).map((
    from,
  ): Row => ({
    from,
    event: { type: "listGrew", total: 300 },
    given: { total: 100, bytes: 40 },
    to: from,
    effects: ["resendManifest"],
    then: { total: 100, bytes: 40 },
    note: "it keeps its list and is told of the added files",
  })),
);

function describe(effect: SendEffect): string {
  return "timer" in effect ? `${effect.type}:${effect.timer}` : effect.type;
}

for (const row of ROWS) {
  const name = `stepSend() ${row.from} --${row.event.type}--> ${row.to}${
    row.note ? ` (${row.note})` : ""
  }`;
  Deno.test(name, () => {
    const machine: SendMachine = {
      ...initialSend(0),
      ...row.given,
      name: row.from,
    };
    const { state, effects } = stepSend(machine, row.event);
    assert.equal(state.name, row.to);
    assert.deepEqual(effects.map(describe), row.effects);
    for (const [key, value] of Object.entries(row.then ?? {})) {
      assert.deepEqual(state[key as keyof SendMachine], value, key);
    }
  });
}

Deno.test("stepSend() hands a replaced receiver's row to its new peer id", () => {
  const machine = { ...initialSend(10), name: "resuming" as const };
  const { effects } = stepSend(machine, { type: "replaced", by: "B" });
  assert.deepEqual(effects[0], { type: "handOver", to: "B" });
});

Deno.test("SEND_TABLE: every row and every target has a test above", () => {
  const tested = new Set(
    ROWS.map((r) => `${r.from} --${r.event.type}--> ${r.to}`),
  );
  const missing = rowsOf(SEND_TABLE).filter((row) => !tested.has(row));
  assert.deepEqual(missing, []);
});

Deno.test("stepSend() shows only the codes it knows from a receiver's report, never other text", () => {
  const machine = { ...initialSend(10), name: "sending" as const };
  for (
    const [code, text] of [
      [UNVERIFIED, UNVERIFIED_TEXT],
      [KEY_MISSING, RECEIVER_KEY_MISSING],
    ]
  ) {
    assert.equal(
      stepSend(machine, { type: "receiverError", message: code }).state.message,
      text,
    );
  }
  const spoofed = stepSend(machine, {
    type: "receiverError",
    message: "Your files were stolen: call +1 555 0100",
  });
  assert.equal(spoofed.state.message, RECEIVER_ERROR);
});

Deno.test("stepSend() ignores events a finished receiver's state does not handle", () => {
  for (const name of ["done", "failed"] as const) {
    const machine = { ...initialSend(10), name };
    for (
      const event of [
        { type: "request" },
        { type: "channelOpen" },
        { type: "stop" },
      ] as SendEvent[]
    ) {
      const step = stepSend(machine, event);
      assert.equal(step.state, machine);
      assert.deepEqual(step.effects, []);
    }
  }
});

Deno.test("isReceiving() holds while connecting and sending, not for a receiver that left or finished", () => {
  const receiving = (Object.keys(SEND_TABLE) as SendState[]).filter(
    isReceiving,
  );
  assert.deepEqual(receiving, ["connecting", "sending"]);
});

Deno.test("cancelledText() says at what percent the receiver cancelled, and what they can do", () => {
  assert.equal(
    cancelledText(40),
    "Cancelled by the receiver at 40 %. They can open the link again to download.",
  );
  const machine = { ...initialSend(0), name: "connecting" as const };
  assert.equal(
    stepSend(machine, { type: "cancelled" }).state.message,
    cancelledText(0),
    "an empty share",
  );
});

Deno.test("refusedText() says a receiver back after a stop was stopped", () => {
  assert.equal(refusedText(SENDER_STOPPED), STOPPED_ONE);
  const machine = { ...initialSend(10), name: "waiting" as const };
  const { state } = stepSend(machine, {
    type: "offerRefused",
    reason: SENDER_STOPPED,
  });
  assert.deepEqual([state.name, state.message, state.ended], [
    "failed",
    STOPPED_ONE,
    "stopped",
  ]);
  const other = stepSend(machine, { type: "offerRefused", reason: "x" });
  assert.equal(other.state.ended, undefined);
});
