/**
 * What the sending page does for one receiver, as a table: a share serves
 * many receivers at once, each with a machine of its own. `stepSend` is
 * pure; `SendSession` (send_session.ts) runs the effects and turns frames,
 * the connection and the transfer into events. A receiver whose machine
 * reaches `done` or `failed` is dropped from the session's live map (its
 * row stays on the page). `send_machine_test.ts` has a test per row.
 *
 * ```
 * (request) → waiting ─offer→ connecting ─channelOpen→ sending ─sent→ done
 *                ↑              │ connectFailed,          │ channelClosed, iceLost,
 *                │              ↓ connectTimeout          ↓ stalled with ICE down
 *                └─ request ─ retrying               resuming ─offer→ connecting
 *                                                    (the row: "Left at 3 %")
 *        retrying, resuming ─goneTimeout→ failed ("The receiver left")
 * any state but done ─replaced (the same receiver, under a new id)→ failed, row handed over
 * any state but done ─stop, refused offer, receiver's error→ failed
 * any state but done ─cancelled (by the receiver), stopReceiver (by the person here)→ failed
 * any state but done, failed ─listGrew (files added to the share)→ itself, the list sent again
 * ```
 *
 * @module
 */

import { checked, handles, type Table, type Transition } from "./machine.ts";
import { KEY_MISSING, UNVERIFIED } from "./auth.ts";
import { SENDER_STOPPED } from "./wire.ts";
import {
  describeError,
  RETRYING_ADVICE,
  UNVERIFIED_TEXT,
} from "./error_text.ts";

/** Where one receiver stands, as the sender sees it. */
export type SendState =
  /** The file list was sent; waiting for the receiver's `offer`. */
  | "waiting"
  /** Answered an offer; waiting for the data channel. */
  | "connecting"
  /** Sending bytes. */
  | "sending"
  /** The connection could not be made; the receiver was told to `retry`. */
  | "retrying"
  /** The channel broke mid-transfer; waiting for the receiver to resume. */
  | "resuming"
  /** Every file sent and verified by the receiver. */
  | "done"
  /** Given up; `message` says why. */
  | "failed";

/** Events for one receiver. */
export type SendEvent =
  /** The receiver sent `request`: it wants the file list. */
  | { type: "request" }
  /** An `offer` whose MAC verified. */
  | { type: "offer"; sdp: string }
  /** An `offer` refused: no key in the receiver's link, or a bad MAC. */
  | { type: "offerRefused"; reason: string }
  /** The data channel opened. */
  | { type: "channelOpen" }
  /** The connection could not be made. */
  | { type: "connectFailed"; message: string }
  /** The connection took longer than the connect timeout. */
  | { type: "connectTimeout" }
  /** Every file sent and verified. */
  | { type: "sent" }
  /** The channel closed mid-transfer: the receiver may resume. */
  | { type: "channelClosed"; message: string }
  /** The transfer failed for good (a file unreadable, a checksum refused). */
  | { type: "sendFailed"; message: string }
  /** The receiver reported bytes written. */
  | { type: "progress"; bytes: number }
  /** The receiver reported that it refused the connection, and why. */
  | { type: "receiverError"; message: string }
  /** The receiver did not come back in time. */
  | { type: "goneTimeout" }
  /**
   * Nothing moved for `STALL_MS` while the sender waits on the receiver:
   * no acknowledgement, no drain of the channel's buffer (tuning.ts).
   */
  | { type: "stalled" }
  /** ICE lost touch with the receiver's browser (`disconnected`). */
  | { type: "iceDisconnected" }
  /** ICE is back in touch after `iceDisconnected`. */
  | { type: "iceRecovered" }
  /** ICE stayed out of touch for `ICE_GRACE_MS`, or `failed`. */
  | { type: "iceLost" }
  /**
   * The same receiver (by its sealed session id) offered again under
   * another peer id, `by`: it gave this connection up and resumes there.
   */
  | { type: "replaced"; by: string }
  /** The person stopped sharing. */
  | { type: "stop" }
  /**
   * The receiver cancelled: a `cancel` on the data channel, or its sealed
   * report (`RECEIVER_CANCELLED`) through signaling.
   */
  | { type: "cancelled" }
  /** The person pressed Stop on this receiver's row: this one only. */
  | { type: "stopReceiver" }
  /**
   * The person added files to the share: it now holds `total` bytes. The
   * receiver is sent the longer list (docs/protocol.md, "Adding files").
   */
  | { type: "listGrew"; total: number };

/** The timers of one receiver. */
export type SendTimer = "connect" | "gone" | "ice";

/** Effects, run by the session. */
export type SendEffect =
  /** Send the sealed file list in `response`. */
  | { type: "sendManifest" }
  /**
   * Send the share's longer list in `response`, unasked, at a pace the
   * server's rate limit allows (every receiver gets it at once).
   */
  | { type: "resendManifest" }
  /** Make a new peer connection for the offer and send a signed `answer`. */
  | { type: "answer"; sdp: string }
  /** Answer with `refused` and the reason. */
  | { type: "refuse"; reason: string }
  /** Close this receiver's peer connection. */
  | { type: "closeLink" }
  /** Tell the receiver to start again from `request`. */
  | { type: "sendRetry" }
  /** Send the files over the open channel. */
  | { type: "send" }
  /** Tell the receiver over the channel why the transfer failed. */
  | { type: "sendError"; message: string }
  /**
   * Tell the receiver that this page stopped sending to it: a `cancel` on
   * the channel when it is open, else `refused` (`SENDER_STOPPED`) through
   * signaling.
   */
  | { type: "tellStopped" }
  /** Start (or restart) a timer. */
  | { type: "startTimer"; timer: SendTimer }
  /** Stop a timer. */
  | { type: "stopTimer"; timer: SendTimer }
  /**
   * Give this receiver's row to its new peer id `to`, in the same place:
   * one row per receiver, however many ids it came under.
   */
  | { type: "handOver"; to: string }
  /**
   * Drop this receiver from the live map (its row stays); a connection
   * still open closes after a moment, once the last messages have left.
   */
  | { type: "forget" };

/** One receiver's state and the numbers its row shows. */
export interface SendMachine {
  name: SendState;
  /** Connection attempt, from 1. */
  attempt: number;
  /** Bytes the receiver reports written. */
  bytes: number;
  /** Bytes in the share. */
  total: number;
  /** What went wrong, for people. */
  message?: string;
  /** Sending, but nothing has moved for `STALL_MS`: no speed, no time left. */
  stalled?: boolean;
  /** ICE says `disconnected`: the receiver's browser stopped answering. */
  iceDown?: boolean;
  /**
   * Why a `failed` receiver ended, when no one failed: it cancelled, or
   * the person here stopped it. Its row says so instead of "failed".
   */
  ended?: "cancelled" | "stopped";
}

/**
 * Whether bytes are moving to a receiver in this state, or about to: what
 * keeps the sender's screen awake and asks before its page closes. A
 * receiver that left (`resuming`) is not, until it comes back.
 */
export function isReceiving(name: SendState): boolean {
  return name === "connecting" || name === "sending";
}

/**
 * Why the sender gave up a connection whose other end stopped answering: a
 * whole sentence, shown as it is.
 */
export const RECEIVER_SILENT =
  "The receiver's browser stopped answering: its tab closed, or its device slept or lost the network. If it wakes up, the transfer goes on from there; if not, send them the link again.";

/** What the sender's page says of a receiver that never came back. */
export const RECEIVER_LEFT =
  "The receiver left before the transfer finished. Send them the link again if they still want the files.";
/** What the sender's page says of receivers when sharing stops. */
export const STOPPED =
  "Stopped: you stopped sharing. Share the files again for a new link.";
/** What a receiver is told on the data channel when the sender stops. */
export const STOPPED_TO_RECEIVER =
  "sharing ended on their page. Ask them to share the files again.";
/** What the sender's page says of a receiver it stopped sending to. */
export const STOPPED_ONE =
  "Stopped: you stopped sending to this receiver. They can open the link again to start over.";

/** What the sender's page says of a receiver that cancelled, at `percent`. */
export function cancelledText(percent: number): string {
  return `Cancelled by the receiver at ${percent} %. They can open the link again to download.`;
}

/** Why the machine of a receiver that came back under a new id ended. */
export const REPLACED = "The receiver came back on a new connection.";
/** When the connection cannot be made in time. */
export const NO_ROUTE = "Cannot connect: no route between the browsers in time";

/** What the page says for a receiver's report it has no text for. */
export const RECEIVER_ERROR =
  "The receiver refused the connection. Send them the link again if they still want the files.";

/** A receiver whose link has no key, or a wrong one, as the sender reads it. */
export const RECEIVER_KEY_MISSING =
  "The receiver's link is missing its key (the part after #), or the key is wrong. Send them the whole link.";

/**
 * The text shown for a receiver's error report. The report comes through
 * the signaling server, so only the codes this code sends are shown (as
 * sentences); any other text is never put on the page.
 */
export function receiverErrorText(code: string): string {
  return code === UNVERIFIED
    ? UNVERIFIED_TEXT
    : code === KEY_MISSING
    ? RECEIVER_KEY_MISSING
    : RECEIVER_ERROR;
}

/** The text shown when this page refuses a receiver's offer for `reason`. */
export function refusedText(reason: string): string {
  // A receiver this page stopped, back with another offer.
  if (reason === SENDER_STOPPED) return STOPPED_ONE;
  if (reason !== KEY_MISSING && reason !== UNVERIFIED) {
    return "Refused: this receiver's connection could not be checked. Send them the link again if they still want the files.";
  }
  const text = receiverErrorText(reason);
  return `Refused: ${text.charAt(0).toLowerCase()}${text.slice(1)}`;
}

type EventType = SendEvent["type"];

const FAILED = ["failed"] as const;
const ENDS = {
  offerRefused: FAILED,
  receiverError: FAILED,
  replaced: FAILED,
  stop: FAILED,
  cancelled: FAILED,
  stopReceiver: FAILED,
} as const;

/**
 * The table: for each state, the events it handles and where they lead.
 * Anything else is ignored in that state.
 */
export const SEND_TABLE: Table<SendState, EventType> = {
  waiting: {
    request: ["waiting"],
    offer: ["connecting"],
    goneTimeout: FAILED,
    listGrew: ["waiting"],
    ...ENDS,
  },
  connecting: {
    request: ["waiting"],
    offer: ["connecting"],
    channelOpen: ["sending"],
    connectFailed: ["retrying"],
    connectTimeout: ["retrying"],
    progress: ["connecting"],
    listGrew: ["connecting"],
    ...ENDS,
  },
  sending: {
    sent: ["done"],
    channelClosed: ["resuming"],
    sendFailed: FAILED,
    progress: ["sending"],
    stalled: ["sending", "resuming"],
    iceDisconnected: ["sending", "resuming"],
    iceRecovered: ["sending"],
    iceLost: ["resuming"],
    listGrew: ["sending"],
    ...ENDS,
  },
  retrying: {
    request: ["waiting"],
    offer: ["connecting"],
    goneTimeout: FAILED,
    listGrew: ["retrying"],
    ...ENDS,
  },
  resuming: {
    request: ["waiting"],
    offer: ["connecting"],
    progress: ["resuming"],
    goneTimeout: FAILED,
    listGrew: ["resuming"],
    ...ENDS,
  },
  done: {},
  failed: {},
};

/** `t`, its receiver marked as ended by a person, not a failure. */
function endedBy(
  t: Transition<SendMachine, SendEffect>,
  ended: "cancelled" | "stopped",
): Transition<SendMachine, SendEffect> {
  return { ...t, state: { ...t.state, ended } };
}

/** A receiver that just asked for the file list. */
export function initialSend(total: number): SendMachine {
  return { name: "waiting", attempt: 0, bytes: 0, total };
}

/** The one transition function of a receiver, as the sender sees it. Pure. */
export function stepSend(
  m: SendMachine,
  event: SendEvent,
): Transition<SendMachine, SendEffect> {
  if (!handles(SEND_TABLE, m.name, event.type)) {
    return { state: m, effects: [] };
  }
  const go = (
    name: SendState,
    change: Partial<SendMachine>,
    effects: SendEffect[],
  ): Transition<SendMachine, SendEffect> => ({
    state: {
      ...m,
      ...change,
      // Every text a row shows is a sentence that says what to do: a
      // connection being tried again waits for the receiver's page.
      ...(change.message !== undefined && {
        message: describeError(
          change.message,
          name === "failed" ? undefined : RETRYING_ADVICE,
        ),
      }),
      name: checked(SEND_TABLE, m.name, event.type, name),
    },
    effects,
  });
  // `forget` closes a connection still open a moment later, so a message
  // just sent on it (the reason for a failed transfer) still arrives.
  const fail = (message: string, first: SendEffect[] = [], close = true) =>
    go("failed", { message }, [
      ...first,
      { type: "stopTimer", timer: "connect" },
      { type: "stopTimer", timer: "gone" },
      { type: "stopTimer", timer: "ice" },
      ...(close ? [{ type: "closeLink" } as const] : []),
      { type: "forget" },
    ]);

  // A receiver that went silent: its connection is given up (a channel
  // still open would hold the transfer forever) and the row waits for it
  // to come back, as after a closed channel.
  const left = () =>
    go("resuming", {
      message: RECEIVER_SILENT,
      stalled: false,
      iceDown: false,
    }, [
      { type: "stopTimer", timer: "ice" },
      { type: "closeLink" },
      { type: "startTimer", timer: "gone" },
    ]);

  switch (event.type) {
    case "request":
      // A receiver asking again (its attempt timed out on its side) starts
      // afresh: whatever connection it had is of no more use.
      return go("waiting", { message: undefined }, [
        { type: "stopTimer", timer: "connect" },
        { type: "stopTimer", timer: "gone" },
        ...(m.name === "connecting" ? [{ type: "closeLink" } as const] : []),
        { type: "sendManifest" },
        // One that asks and never offers is dropped in time, so a flood of
        // requests cannot hold the sender's live map.
        { type: "startTimer", timer: "gone" },
      ]);
    case "offer":
      return go("connecting", { attempt: m.attempt + 1, message: undefined }, [
        { type: "stopTimer", timer: "gone" },
        { type: "closeLink" },
        { type: "answer", sdp: event.sdp },
        { type: "startTimer", timer: "connect" },
      ]);
    case "offerRefused": {
      const refused = fail(refusedText(event.reason), [{
        type: "refuse",
        reason: event.reason,
      }]);
      return event.reason === SENDER_STOPPED
        ? endedBy(refused, "stopped")
        : refused;
    }
    case "channelOpen":
      return go("sending", { stalled: false, iceDown: false }, [
        { type: "stopTimer", timer: "connect" },
        { type: "send" },
      ]);
    case "connectFailed":
    case "connectTimeout":
      return go("retrying", {
        message: event.type === "connectFailed" ? event.message : NO_ROUTE,
      }, [
        { type: "stopTimer", timer: "connect" },
        { type: "closeLink" },
        { type: "sendRetry" },
        { type: "startTimer", timer: "gone" },
      ]);
    case "sent":
      return go("done", { bytes: m.total, message: undefined }, [
        { type: "forget" },
      ]);
    case "channelClosed":
      return go("resuming", {
        message: event.message,
        stalled: false,
        iceDown: false,
      }, [
        { type: "stopTimer", timer: "ice" },
        { type: "startTimer", timer: "gone" },
      ]);
    case "stalled":
      // Stalled with ICE in touch is a receiver that is alive but slow (a
      // held disk, a busy page): it is waited for. Out of touch as well,
      // its browser is gone: no need to wait out ICE's grace.
      return m.iceDown ? left() : go("sending", { stalled: true }, []);
    case "iceDisconnected":
      return m.stalled ? left() : go("sending", { iceDown: true }, [
        { type: "startTimer", timer: "ice" },
      ]);
    case "iceRecovered":
      return go("sending", { iceDown: false }, [
        { type: "stopTimer", timer: "ice" },
      ]);
    case "iceLost":
      return left();
    case "sendFailed":
      return fail(
        event.message,
        [{ type: "sendError", message: describeError(event.message) }],
        false,
      );
    case "progress":
      return go(m.name, {
        bytes: Math.min(Math.max(event.bytes, 0), m.total),
        stalled: false,
      }, []);
    case "receiverError":
      return fail(receiverErrorText(event.message));
    case "goneTimeout":
      return fail(RECEIVER_LEFT);
    case "replaced":
      // The receiver closed its side already; its new id takes the row.
      return fail(REPLACED, [{ type: "handOver", to: event.by }]);
    case "listGrew":
      // A receiver that has only the list (on its ready screen) takes the
      // longer one, and then all of it: its row counts every byte. One
      // that started receiving keeps its own list on this connection and
      // is told of the added files, which it fetches once done.
      return go(
        m.name,
        m.name === "waiting" ? { total: event.total } : {},
        [{ type: "resendManifest" }],
      );
    case "stop":
      // The session closes every connection itself once it has left
      // signaling (see SendSession.stop), so no `closeLink` here. A
      // receiver with an open channel is told first: it must not take the
      // closed channel for a network break and wait for a sender that may
      // be reconnecting (docs/protocol.md, "Reclaiming an id").
      return go("failed", { message: STOPPED }, [
        { type: "sendError", message: STOPPED_TO_RECEIVER },
        { type: "stopTimer", timer: "connect" },
        { type: "stopTimer", timer: "gone" },
        { type: "stopTimer", timer: "ice" },
        { type: "forget" },
      ]);
    case "cancelled": {
      // The receiver closes its side; `forget` closes this one after it.
      const percent = m.total > 0 ? Math.floor(m.bytes / m.total * 100) : 0;
      return endedBy(fail(cancelledText(percent), [], false), "cancelled");
    }
    case "stopReceiver":
      // Told first; `forget` closes the connection a moment later, once
      // the `cancel` has left.
      return endedBy(
        fail(STOPPED_ONE, [{ type: "tellStopped" }], false),
        "stopped",
      );
  }
}
