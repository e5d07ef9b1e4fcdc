/**
 * A sender and receivers wired together in memory (lib/transfer/fakes.ts)
 * for the session tests: no browser, no server, real MACs and real
 * transfer code.
 *
 * @module
 */

import {
  memoryFile,
  MemoryFiles,
  MemoryLinks,
  MemorySignal,
} from "../../lib/transfer/fakes.ts";
import {
  type ReceiverView,
  SendSession,
  type SendSessionOptions,
} from "../../lib/transfer/send_session.ts";
import {
  ReceiveSession,
  type ReceiveSessionOptions,
  type ReceiveStatus,
} from "../../lib/transfer/receive_session.ts";
import { formatLinkKey, newSecret } from "../../lib/transfer/secret.ts";
import { pseudoRandomBytes } from "./bytes.ts";
import { waitFor } from "./ws.ts";

/** A running share in memory. */
export interface MemoryShare {
  signal: MemorySignal;
  links: MemoryLinks;
  sender: SendSession;
  senderId: string;
  secret: string;
  /** The link's fragment, which receivers are given. */
  linkKey: string;
  bytes: Uint8Array<ArrayBuffer>;
  /** Every list of rows the sender published, last one last. */
  rows: ReceiverView[][];
  /** The latest row of receiver `id`. */
  row(id: string): ReceiverView | undefined;
  /** A receiver of this share (not yet opened). */
  receiver(options?: Partial<ReceiveSessionOptions>): MemoryReceiver;
}

/** A receive session with what it reported. */
export interface MemoryReceiver {
  session: ReceiveSession;
  sink: MemoryFiles;
  /** Every phase it went through, in order, repeats removed. */
  phases: string[];
  statuses: ReceiveStatus[];
}

/** Starts a sender sharing one file of `size` pseudo-random bytes. */
export async function startShare(
  size = 3 * 1024 * 1024,
  options: Partial<SendSessionOptions> & {
    failAt?: number;
    /** Every page reconnects to signaling by itself, as in a browser. */
    reconnecting?: boolean;
  } = {},
): Promise<MemoryShare> {
  const signal = new MemorySignal();
  const connect = options.reconnecting
    ? signal.connectReconnecting
    : signal.connect;
  const links = new MemoryLinks();
  const bytes = pseudoRandomBytes(size, 7);
  const secret = newSecret();
  const rows: ReceiverView[][] = [];
  const sender = new SendSession({
    connectSignal: connect,
    createLink: links.factory(),
    files: [memoryFile("a.bin", bytes, options.failAt)],
    secret,
    onReceivers: (list) => rows.push(list),
    ...options,
  });
  const senderId = await sender.start();
  const linkKey = formatLinkKey(sender.linkKey);
  return {
    signal,
    links,
    sender,
    senderId,
    secret,
    linkKey,
    bytes,
    rows,
    row: (id) => rows.at(-1)?.find((r) => r.id === id),
    receiver: (extra = {}) => {
      const sink = new MemoryFiles();
      const phases: string[] = [];
      const statuses: ReceiveStatus[] = [];
      const session = new ReceiveSession({
        connectSignal: connect,
        createLink: links.factory(),
        senderId,
        linkKey,
        onStatus: (status) => {
          statuses.push(status);
          if (phases.at(-1) !== status.phase) phases.push(status.phase);
        },
        ...extra,
      });
      return { session, sink, phases, statuses };
    },
  };
}

/**
 * Resolves once `check` holds; rejects after `ms`. The sessions' tests'
 * spelling of {@linkcode waitFor}, with their usual deadline.
 */
export function until(
  check: () => boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  return waitFor(check, ms, what);
}
