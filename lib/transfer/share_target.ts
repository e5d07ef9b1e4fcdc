/**
 * "Share → Beam" from another app: the manifest's `share_target`
 * (static/manifest.webmanifest) makes the phone POST what was shared (files,
 * a title, a text, a link) as multipart/form-data to
 * {@linkcode SHARE_ACTION}. That POST never reaches the server while Beam's
 * service worker is installed: the worker (`share_inbox.ts`, run by
 * `sinks/service_worker.ts`) keeps the files in the browser's Cache Storage
 * and redirects to the send page with `?shared=<id>`, where
 * {@linkcode receiveShared} takes them out and the page shares them. Before
 * the worker is installed (the very first visit) the server answers the
 * POST itself, without reading the files (`routes/share/target.ts`), with a
 * redirect to `?shared=missed`, and the page says to share again.
 *
 * This is the part the send page loads with itself, kept small
 * (tests/page_weight_test.ts): the inbox, and all that the page may say
 * about a share, is loaded with `import()` only when a share came in.
 *
 * @module
 */

import { WORKER_URL } from "./sinks/sw_protocol.ts";

/** Where the manifest's `share_target` POSTs what was shared. */
export const SHARE_ACTION = "/share/target";

/**
 * The scope `/sw.js` is registered under for shares: it covers
 * {@linkcode SHARE_ACTION} and no page, so the worker never stands between
 * a page and the network (downloads have a scope of their own).
 */
export const SHARE_SCOPE = "/share/";

/** The send page's query parameter that names a share to take. */
export const SHARED_PARAM = "shared";

/** What the page says when it could not open the share (nor load the inbox). */
export const SHARE_NOT_OPENED =
  "Beam could not open what was shared: check your connection, then reload this page.";

/** The send page's path that takes share `id` (or tells a note). */
export function sharedPath(idOrNote: string): string {
  return `/?${new URLSearchParams({ [SHARED_PARAM]: idOrNote })}`;
}

/** What came in a share, taken from the inbox. */
export interface Shared {
  /** The files shared, none for a link or a text. */
  files: File[];
  /** The text to share with them: the title, text and link, or `""`. */
  text: string;
}

/** The parts of `CacheStorage` the inbox uses. */
export interface CacheStorageLike {
  open(name: string): Promise<Cache>;
  delete(name: string): Promise<boolean>;
}

/** What {@linkcode receiveShared} reads and calls of the page. */
export interface ShareTargetPage {
  location: { origin: string; pathname: string; search: string };
  history: { replaceState(data: unknown, unused: string, url: string): void };
  /** `navigator.serviceWorker`, where the browser has one. */
  serviceWorker?: {
    register(url: string, options: { scope: string }): Promise<unknown>;
  };
  /** `caches`, where the browser has it (secure contexts). */
  caches?: CacheStorageLike;
}

/** Options of {@linkcode receiveShared}. */
export interface ReceiveSharedOptions {
  /** Shares what came in. */
  onShared(shared: Shared): void;
  /** Says something to the person (a whole sentence). */
  onMessage(text: string): void;
  /** The page. Default: this one. */
  page?: ShareTargetPage;
  /** Loads the inbox. Default `import("./share_inbox.ts")`. */
  loadInbox?: () => Promise<
    { openShare: typeof import("./share_inbox.ts").openShare }
  >;
}

function thisPage(): ShareTargetPage {
  return {
    location,
    history,
    serviceWorker: globalThis.navigator?.serviceWorker,
    caches: globalThis.caches,
  };
}

/**
 * Runs once when the send page starts: registers the worker that catches
 * shares (on every visit, so that the first one makes "Share → Beam" work
 * and later ones pick up a new `/sw.js`), then, when the address names a
 * share, takes it (once: the parameter then leaves the address, so a
 * reload shares nothing) and hands it to `onShared`, or says why it cannot.
 */
export async function receiveShared(
  options: ReceiveSharedOptions,
): Promise<void> {
  const page = options.page ?? thisPage();
  // A browser that refuses workers (a private window in some) simply has
  // no share target; nothing else on the page depends on it.
  page.serviceWorker?.register(WORKER_URL, { scope: SHARE_SCOPE })
    .catch(() => {});
  const value = new URLSearchParams(page.location.search).get(SHARED_PARAM);
  if (value === null) return;
  let opened;
  try {
    const inbox = await (options.loadInbox ?? (() =>
      import("./share_inbox.ts")))();
    opened = await inbox.openShare(value, page.caches, page.location.origin);
  } catch {
    // The share is still kept: the address still names it, to reload.
    options.onMessage(SHARE_NOT_OPENED);
    return;
  }
  page.history.replaceState(null, "", page.location.pathname);
  if ("shared" in opened) options.onShared(opened.shared);
  else options.onMessage(opened.message);
}
