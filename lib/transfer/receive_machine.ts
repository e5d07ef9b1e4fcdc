/**
 * What the receiving page does, as a table: the states of one receive, the
 * events that move it, and the effects each move asks for. `stepReceive` is
 * pure; `ReceiveSession` (receive_session.ts) runs its effects and turns
 * what the network and the disk do into events. The table below is the
 * documentation, and `receive_machine_test.ts` has a test per row.
 *
 * ```
 * idle ─open→ requesting ─manifest→ ready ─download→ connecting ─linkOpen→ receiving
 *                                                        ↑ │                   │ last byte
 *                                 retrying / resuming ───┘ │ linkFailed,        ↓
 *                                   ↑  (manifest again)    │ retry, timeout   verifying ─received→ done
 *                                   └──────────────────────┘                    │
 *                       channelClosed (receiving, verifying) ───────────────────┘
 * any state but done ─cancel, peerGone, fatal errors→ failed
 * connecting … resuming ─cancelDownload (the person's Cancel)→ ready (download again)
 * receiving, verifying ─stopped (the sender stopped sending here)→ failed
 * any state but idle, requesting, failed ─listGrew (files added)→ itself:
 *   ready takes the longer list, the others hold it for later
 * done ─getMore→ resuming (asks again, then fetches only the added files)
 * done ─cancel→ done (leaves signaling)
 * ```
 *
 * @module
 */

import { checked, handles, type Table, type Transition } from "./machine.ts";
import { KEY_MISSING, UNVERIFIED } from "./auth.ts";
import { SENDER_STOPPED } from "./wire.ts";
import {
  describeError,
  failureText,
  KEY_MISSING_TEXT,
  RETRYING_ADVICE,
  UNVERIFIED_TEXT,
} from "./error_text.ts";

/** Where one receive stands. */
export type ReceiveState =
  /** Nothing done yet. */
  | "idle"
  /** Asked the sender for its file list; waiting for `response`. */
  | "requesting"
  /** The file list is shown; waiting for the person to choose where to save. */
  | "ready"
  /** Making a peer connection: offer sent, waiting for the data channel. */
  | "connecting"
  /** Bytes are arriving and being written. */
  | "receiving"
  /** Every byte is written; the last file's checksum and the save finish. */
  | "verifying"
  /** A connection attempt failed before any byte: asking again. */
  | "retrying"
  /** The connection broke after some bytes: asking again, to resume. */
  | "resuming"
  /** Every file saved and verified. */
  | "done"
  /** Given up; `message` says why. */
  | "failed";

/** Events, from the page, the signaling server, the connection or the disk. */
export type ReceiveEvent =
  /** The page opened the link. */
  | { type: "open" }
  /** The sender's file list, opened with the link's key. */
  | { type: "manifest"; total: number }
  /**
   * The file list could not be read: no key in the link or a wrong one
   * (`tell`: say so to the sender, which then refuses too), or malformed.
   */
  | { type: "unreadable"; reason: string; tell: boolean }
  /** The sender did not answer `request` in time. */
  | { type: "noAnswer" }
  /** No answer yet: ask again (a sender under a flood paces its answers). */
  | { type: "askAgain" }
  /** The signaling server could not be reached. */
  | { type: "signalFailed"; message: string }
  /** The signaling connection dropped. */
  | { type: "signalLost" }
  /** The server answered `peer not exists`: the sender is gone. */
  | { type: "peerGone" }
  /**
   * The server answered `peer not exists`, but not for long yet: the
   * sender's page may be reconnecting (a server restart), so keep asking.
   */
  | { type: "senderAway" }
  /** The server answered `invalid peer id`: the link is malformed. */
  | { type: "badLink" }
  /** The link's key (after #) is there but cut short or changed. */
  | { type: "damagedLink" }
  /** The person chose where to save. */
  | { type: "download" }
  /** The data channel opened. */
  | { type: "linkOpen" }
  /** The connection could not be made (ICE failed, channel closed, bad answer). */
  | { type: "linkFailed"; message: string }
  /** The connection took longer than the connect timeout. */
  | { type: "connectTimeout" }
  /** The sender sent `retry`: it could not reach this browser. */
  | { type: "retry" }
  /** The sender refused this connection, saying why. */
  | { type: "refused"; reason: string }
  /** The sender's answer failed its MAC: someone between changed it. */
  | { type: "answerUnverified" }
  /** ICE reported `disconnected`: the network may be gone. */
  | { type: "iceDisconnected" }
  /** ICE is connected again. */
  | { type: "iceRecovered" }
  /** ICE failed, or stayed disconnected for the grace period. */
  | { type: "iceLost" }
  /** Bytes of the share written so far. */
  | { type: "progress"; bytes: number }
  /** Every file is saved and verified. */
  | { type: "received" }
  /** The data channel closed mid-transfer: resumable. */
  | { type: "channelClosed"; message: string }
  /** The transfer failed for good (checksum, disk, the sender's error). */
  | { type: "receiveFailed"; message: string }
  /** The page is closing (or the session is closed). */
  | { type: "cancel" }
  /**
   * The person pressed Cancel during the transfer: give it up, remove
   * what was saved, tell the sender, and show the file list again.
   */
  | { type: "cancelDownload" }
  /** The sender stopped sending to this receiver (a `cancel` on the channel). */
  | { type: "stopped" }
  /**
   * The sender sent a longer list than this page holds: files were added
   * to the share, which now holds `total` bytes.
   */
  | { type: "listGrew"; total: number }
  /** The person asked for the files added since; the share holds `total`. */
  | { type: "getMore"; total: number };

/** The timers a receive runs. */
export type ReceiveTimer = "answer" | "ask" | "connect" | "ice";

/** Effects, run by the session. */
export type ReceiveEffect =
  /** Connect signaling if it is down, then send `request`. */
  | { type: "request" }
  /** Start (or restart) a timer. */
  | { type: "startTimer"; timer: ReceiveTimer }
  /** Stop a timer. */
  | { type: "stopTimer"; timer: ReceiveTimer }
  /** Make a new peer connection and send a signed `offer`. */
  | { type: "connect" }
  /** Close the current peer connection. */
  | { type: "closeLink" }
  /** Receive on the open data channel into the chosen sink. */
  | { type: "receive" }
  /** Send `progress` with the bytes written. */
  | { type: "report"; bytes: number }
  /** Tell the sender why this side refused (`progress` with `error`). */
  | { type: "tellSender"; error: string }
  /**
   * Tell the sender this receiver cancelled: a `cancel` on the channel
   * when it is open (then closed a moment later, once it left), and a
   * sealed report (`RECEIVER_CANCELLED`) through signaling.
   */
  | { type: "tellCancel" }
  /** Tell the sender that this link carries no key (an empty `offer`). */
  | { type: "sayNoKey" }
  /** Stop writing and remove what was partly saved. */
  | { type: "abort"; message: string }
  /** Done: leave signaling, close the connection once the last acks left. */
  | { type: "finish" }
  /** Leave signaling. */
  | { type: "leave" }
  /** Take the longer list as this page's own (show it, receive it). */
  | { type: "adoptList" }
  /** Keep the longer list aside: this page tells the person of it. */
  | { type: "holdList" };

/** One receive's state and the numbers the page shows. */
export interface ReceiveMachine {
  name: ReceiveState;
  /** Connection attempt, from 1 once connecting. */
  attempt: number;
  /** Attempts in a row without progress before giving up. */
  maxAttempts: number;
  /** Bytes written. */
  bytes: number;
  /** Bytes in the share (0 until the file list arrives). */
  total: number;
  /** Bytes written when the current attempt began. */
  attemptStart: number;
  /** What went wrong, for people. */
  message?: string;
}

/** Messages people see for the protocol's two errors. */
export const LINK_MALFORMED =
  "This link is malformed: check that it was copied whole.";
/**
 * The link's fragment (the key after `#`) is not one: cut short, mangled
 * by a mail program, or a `%` escape that does not decode. Shown at once,
 * before anything is asked of the sender.
 */
export const LINK_DAMAGED =
  "This link is damaged: the part after # is cut short or changed. Copy the whole link again, or ask the sender for it.";
export const LINK_INACTIVE =
  "This link is no longer active: the sender closed the page or stopped sharing. Ask the sender to share the files again.";
/** While the server says the sender is not connected, for a while. */
export const SENDER_AWAY =
  "The sender's page is not connected right now. Keep this page open: it goes on by itself if the sender comes back soon.";
/** When `response` does not come. */
export const NO_ANSWER =
  "The sender did not answer: check that the sender's page is still open, then try the link again.";
/** When the page closes the session. */
export const CANCELLED =
  "Cancelled: nothing more is saved. Press Try again to start over.";
/** When the person pressed Cancel: the file list is shown again. */
export const DOWNLOAD_CANCELLED =
  "Cancelled: what was partly saved is removed. Press Download to start again.";
/** When the sender stopped sending to this receiver. */
export const STOPPED_BY_SENDER =
  "The sender stopped sending to you. Ask the sender if you still need the files.";
/** When signaling drops before the file list came. */
export const SIGNAL_LOST =
  "The connection to the server dropped: check your network, then try the link again.";

/** After the last attempt: what to check before trying again. */
export const CONNECT_ADVICE =
  "Check that both devices are online and the sender's page is still open, then try again.";

/** The sender's refusal of any reason but its two known codes. */
export const REFUSED =
  "The sender refused this connection: ask the sender for the link again.";

/**
 * The text shown for the sender's refusal. It comes through the signaling
 * server, so only the reasons the sender's code gives are shown; any other
 * text is never put on the page.
 */
export function refusalText(reason: string): string {
  return reason === SENDER_STOPPED
    ? STOPPED_BY_SENDER
    : reason === KEY_MISSING
    ? `The sender refused: ${KEY_MISSING_TEXT.charAt(0).toLowerCase()}${
      KEY_MISSING_TEXT.slice(1)
    }`
    : reason === UNVERIFIED
    ? `The sender refused: ${UNVERIFIED_TEXT.charAt(0).toLowerCase()}${
      UNVERIFIED_TEXT.slice(1)
    }`
    : REFUSED;
}

type EventType = ReceiveEvent["type"];

const FAILED = ["failed"] as const;
/** Where a failed attempt leads: again (fresh or resuming), or give up. */
const AGAIN = ["retrying", "resuming", "failed"] as const;
const ENDS = {
  cancel: FAILED,
  peerGone: FAILED,
  badLink: FAILED,
} as const;

/** The person's Cancel, in any state with a transfer under way. */
const CANCEL_DOWNLOAD = { cancelDownload: ["ready"] } as const;

/** Retrying and resuming both wait for the file list again, then connect. */
const ASKING_AGAIN = {
  ...CANCEL_DOWNLOAD,
  manifest: ["connecting"],
  unreadable: FAILED,
  noAnswer: FAILED,
  signalFailed: FAILED,
  signalLost: AGAIN,
  ...ENDS,
} as const;

/**
 * The table: for each state, the events it handles and where they lead.
 * Anything else is ignored in that state.
 */
export const RECEIVE_TABLE: Table<ReceiveState, EventType> = {
  idle: {
    open: ["requesting"],
    badLink: FAILED,
    damagedLink: FAILED,
    cancel: FAILED,
  },
  requesting: {
    manifest: ["ready"],
    askAgain: ["requesting"],
    senderAway: ["requesting"],
    unreadable: FAILED,
    noAnswer: FAILED,
    signalFailed: FAILED,
    signalLost: FAILED,
    ...ENDS,
  },
  ready: { download: ["connecting"], listGrew: ["ready"], ...ENDS },
  connecting: {
    listGrew: ["connecting"],
    linkOpen: ["receiving"],
    linkFailed: AGAIN,
    connectTimeout: AGAIN,
    retry: AGAIN,
    signalLost: AGAIN,
    refused: FAILED,
    answerUnverified: FAILED,
    ...CANCEL_DOWNLOAD,
    ...ENDS,
  },
  receiving: {
    progress: ["receiving", "verifying"],
    received: ["done"],
    channelClosed: AGAIN,
    receiveFailed: FAILED,
    iceDisconnected: ["receiving"],
    iceRecovered: ["receiving"],
    iceLost: AGAIN,
    listGrew: ["receiving"],
    cancel: FAILED,
    stopped: FAILED,
    ...CANCEL_DOWNLOAD,
  },
  verifying: {
    received: ["done"],
    channelClosed: AGAIN,
    receiveFailed: FAILED,
    listGrew: ["verifying"],
    cancel: FAILED,
    stopped: FAILED,
    ...CANCEL_DOWNLOAD,
  },
  retrying: {
    ...ASKING_AGAIN,
    askAgain: ["retrying"],
    senderAway: ["retrying"],
    listGrew: ["retrying"],
  },
  resuming: {
    ...ASKING_AGAIN,
    askAgain: ["resuming"],
    senderAway: ["resuming"],
    listGrew: ["resuming"],
  },
  done: { listGrew: ["done"], getMore: ["resuming"], cancel: ["done"] },
  failed: {},
};

/** A receive that has not started. */
export function initialReceive(maxAttempts: number): ReceiveMachine {
  return {
    name: "idle",
    attempt: 0,
    maxAttempts,
    bytes: 0,
    total: 0,
    attemptStart: 0,
  };
}

/** Whether the session has chosen a sink (so a failure removes partial files). */
function saving(name: ReceiveState): boolean {
  return name !== "idle" && name !== "requesting" && name !== "ready";
}

/** The one transition function of a receive. Pure. */
export function stepReceive(
  m: ReceiveMachine,
  event: ReceiveEvent,
): Transition<ReceiveMachine, ReceiveEffect> {
  if (!handles(RECEIVE_TABLE, m.name, event.type)) {
    return { state: m, effects: [] };
  }
  const go = (
    name: ReceiveState,
    change: Partial<ReceiveMachine>,
    effects: ReceiveEffect[],
  ): Transition<ReceiveMachine, ReceiveEffect> => ({
    state: {
      ...m,
      ...change,
      name: checked(RECEIVE_TABLE, m.name, event.type, name),
    },
    effects,
  });
  // Every text a failure shows passes through describeError(): a sentence
  // that says what to do, whatever the session passed in.
  const fail = (why: string, extra: ReceiveEffect[] = []) => {
    const message = describeError(why);
    return go("failed", { message }, [
      ...extra,
      { type: "stopTimer", timer: "answer" },
      { type: "stopTimer", timer: "ask" },
      { type: "stopTimer", timer: "connect" },
      { type: "stopTimer", timer: "ice" },
      { type: "closeLink" },
      ...(saving(m.name) ? [{ type: "abort", message } as const] : []),
      { type: "leave" },
    ]);
  };
  // A failed attempt: ask again (resuming if some bytes are saved), unless
  // the attempts ran out. Progress in the attempt means the path works, so
  // the count starts anew.
  const again = (message: string) => {
    const attempt = m.bytes > m.attemptStart ? 1 : m.attempt;
    if (attempt >= m.maxAttempts) {
      // The attempts' own texts start "Cannot connect: …" or "Cannot
      // continue: …": only the why is worth repeating after this one.
      return fail(failureText(
        `connect to the sender after ${m.maxAttempts} attempts`,
        message.replace(/^Cannot (connect|continue): /, ""),
        CONNECT_ADVICE,
      ));
    }
    return go(m.bytes > 0 ? "resuming" : "retrying", {
      attempt: attempt + 1,
      message: describeError(message, RETRYING_ADVICE),
    }, [
      { type: "stopTimer", timer: "connect" },
      { type: "stopTimer", timer: "ice" },
      { type: "closeLink" },
      { type: "request" },
      { type: "startTimer", timer: "answer" },
      { type: "startTimer", timer: "ask" },
    ]);
  };
  const connect = (change: Partial<ReceiveMachine>) =>
    go("connecting", { ...change, attemptStart: m.bytes, message: undefined }, [
      { type: "stopTimer", timer: "answer" },
      { type: "stopTimer", timer: "ask" },
      { type: "connect" },
      { type: "startTimer", timer: "connect" },
    ]);

  switch (event.type) {
    case "open":
      return go("requesting", {}, [
        { type: "request" },
        { type: "startTimer", timer: "answer" },
        { type: "startTimer", timer: "ask" },
      ]);
    case "askAgain":
      return go(m.name, {}, [
        { type: "request" },
        { type: "startTimer", timer: "ask" },
      ]);
    case "manifest":
      if (m.name === "requesting") {
        return go("ready", { total: event.total }, [
          { type: "stopTimer", timer: "answer" },
          { type: "stopTimer", timer: "ask" },
        ]);
      }
      return connect({});
    case "download":
      return connect({ attempt: 1 });
    case "unreadable":
      return fail(event.reason, event.tell ? [{ type: "sayNoKey" }] : []);
    case "noAnswer":
      return fail(NO_ANSWER);
    case "signalFailed":
      return fail(event.message);
    case "signalLost":
      if (m.name === "requesting") return fail(SIGNAL_LOST);
      return again("The connection to the signaling server dropped");
    case "peerGone":
      return fail(LINK_INACTIVE);
    case "senderAway":
      // The ask timer keeps asking; the answer timer starts again, so that
      // only a sender that is back and still silent ends in noAnswer.
      return go(m.name, { message: SENDER_AWAY }, [
        { type: "startTimer", timer: "answer" },
      ]);
    case "badLink":
      return fail(LINK_MALFORMED);
    case "damagedLink":
      return fail(LINK_DAMAGED);
    case "cancel":
      // Done stays done: the page only stops listening for added files.
      if (m.name === "done") return go("done", {}, [{ type: "leave" }]);
      return fail(CANCELLED);
    case "cancelDownload":
      // Back to the file list, still on signaling, so the person can
      // download again: a fresh attempt, from the first byte.
      return go("ready", {
        attempt: 0,
        bytes: 0,
        attemptStart: 0,
        message: DOWNLOAD_CANCELLED,
      }, [
        { type: "tellCancel" },
        { type: "stopTimer", timer: "answer" },
        { type: "stopTimer", timer: "ask" },
        { type: "stopTimer", timer: "connect" },
        { type: "stopTimer", timer: "ice" },
        { type: "closeLink" },
        { type: "abort", message: DOWNLOAD_CANCELLED },
      ]);
    case "stopped":
      return fail(STOPPED_BY_SENDER);
    case "listGrew":
      // Only a page still choosing where to save takes the longer list:
      // one that started saving has its sink and its list, and fetches
      // the added files once it is done, into a sink of their own.
      return m.name === "ready"
        ? go("ready", { total: event.total }, [{ type: "adoptList" }])
        : go(m.name, {}, [{ type: "holdList" }]);
    case "getMore":
      // Asks again (the list, then a connection) from where this page
      // stands: every byte of its list is saved.
      return go("resuming", {
        total: event.total,
        attempt: 1,
        attemptStart: m.bytes,
        message: undefined,
      }, [
        { type: "adoptList" },
        { type: "request" },
        { type: "startTimer", timer: "answer" },
        { type: "startTimer", timer: "ask" },
      ]);
    case "linkOpen":
      return go("receiving", {}, [
        { type: "stopTimer", timer: "connect" },
        { type: "receive" },
      ]);
    case "linkFailed":
      return again(event.message);
    case "connectTimeout":
      return again("Cannot connect: no route between the browsers in time");
    case "retry":
      return again("The sender could not reach this browser; trying again");
    case "refused":
      return fail(refusalText(event.reason));
    case "answerUnverified":
      return fail(UNVERIFIED_TEXT, [{
        type: "tellSender",
        error: UNVERIFIED,
      }]);
    case "iceDisconnected":
      return go(m.name, {}, [{ type: "startTimer", timer: "ice" }]);
    case "iceRecovered":
      return go(m.name, {}, [{ type: "stopTimer", timer: "ice" }]);
    case "iceLost":
      // A network that vanished leaves the channel open for a long while
      // (SCTP's own timeout): give this connection up now and resume.
      return again("The connection was lost");
    case "progress": {
      const bytes = Math.min(Math.max(event.bytes, m.bytes), m.total);
      return go(
        bytes === m.total && m.total > 0 ? "verifying" : m.name,
        { bytes },
        [{ type: "report", bytes }],
      );
    }
    case "received":
      return go("done", { bytes: m.total, message: undefined }, [
        { type: "report", bytes: m.total },
        { type: "stopTimer", timer: "ice" },
        { type: "finish" },
      ]);
    case "channelClosed":
      return again(event.message);
    case "receiveFailed":
      return fail(event.message);
  }
}
