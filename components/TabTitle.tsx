import { useEffect, useRef } from "preact/hooks";

/**
 * Puts how a transfer stands in the tab's title ("42 % · Beam"), so a tab
 * in the background still says it; `null` gives the page its own title
 * back. Renders nothing; both pages use it inside their islands.
 */
export function TabTitle({ status }: { status: string | null }) {
  // The page's own title, as the server rendered it.
  const own = useRef("");
  useEffect(() => {
    own.current ||= document.title;
    document.title = status === null ? own.current : `${status} · Beam`;
  }, [status]);
  return null;
}
