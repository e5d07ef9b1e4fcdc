import { useEffect, useRef } from "preact/hooks";

/**
 * Puts how a transfer stands in the tab's title ("42 % · Beam"), so a tab
 * in the background still says it; `null` gives the page its own title
 * back. Renders nothing; both pages use it inside their islands.
 */
export function TabTitle({ status }: { status: string | null }) {
  // The page's own title, as the server rendered it.
  const own = useRef<string | null>(null);
  useEffect(() => {
    own.current ??= document.title;
    document.title = status === null ? own.current : `${status} · Beam`;
  }, [status]);
  useEffect(() => () => {
    if (own.current !== null) document.title = own.current;
  }, []);
  return null;
}

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
