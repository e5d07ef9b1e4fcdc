/**
 * What the send page's tab title says of its receivers (components/
 * TabTitle.tsx puts it there). Apart from the component, so that only the
 * send page loads it.
 *
 * @module
 */

/** What {@linkcode sendingStatus} reads of a receiver's row. */
export interface ReceiverProgress {
  /** Bytes are moving to it, or about to. */
  receiving: boolean;
  phase: string;
  bytes: number;
  total: number;
}

/**
 * The send page's title status: the percent of the least advanced receiver
 * in flight, since the tab can close only once the last one is done (a mean
 * would say 90 % while one receiver is at 10 %); "Sent" once nobody is
 * receiving and someone got everything; `null` (the page's own title)
 * otherwise, as when every receiver left.
 */
export function sendingStatus(receivers: ReceiverProgress[]): string | null {
  const active = receivers.filter((r) => r.receiving);
  if (active.length > 0) {
    const percents = active.map((r) =>
      r.total === 0 ? 100 : Math.floor((r.bytes / r.total) * 100)
    );
    return `${Math.min(...percents)} %`;
  }
  return receivers.some((r) => r.phase === "done") ? "Sent" : null;
}
