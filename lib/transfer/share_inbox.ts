/**
 * Where a share from another app waits between the service worker and the
 * send page (see `share_target.ts` for the whole way): the worker reads the
 * POSTed form, keeps each file and a small JSON record in Cache Storage
 * under a fresh id, and answers with a 303 to `/?shared=<id>`; the page
 * takes them out again, which removes them. Cache Storage, not memory:
 * the browser may stop an idle worker between its answer and the page's
 * start, and a shared video may be larger than memory should hold. A taken
 * file stays readable after its entry is removed (the `Blob` keeps its
 * bytes), so nothing shared lingers on the phone once a page has it.
 *
 * Only the latest share is kept: a new one clears the inbox first, so a
 * share no page ever took does not stay on disk.
 *
 * @module
 */

import {
  type CacheStorageLike,
  SHARE_ACTION,
  type Shared,
  sharedPath,
} from "./share_target.ts";

/** What `?shared=` says when no share was kept, and what the page says. */
export const SHARE_NOTES = {
  missed:
    "Beam was not ready for what you shared, and now it is: share it again from the other app.",
  failed:
    "Beam could not keep what you shared (the browser may be out of space): share it again, or choose the files here.",
  empty:
    "Nothing came with what was shared: share a file, a link or some text.",
} as const;

/** What the page says when the share named in its address is not there. */
export const SHARE_GONE =
  "What was shared is no longer here (another tab may have taken it): share it again from the other app.";

/** One of {@linkcode SHARE_NOTES}' names. */
export type ShareNote = keyof typeof SHARE_NOTES;

/** Whether `value` is a share id, as the worker makes them (a UUID). */
export function isShareId(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
    .test(value);
}

/** The Cache Storage cache that holds kept shares. */
export const INBOX_CACHE = "beam-share-inbox";

/** The form fields the manifest's `share_target` names. */
export const SHARE_FIELDS = {
  title: "title",
  text: "text",
  url: "url",
  files: "files",
} as const;

/** What a share holds, read from its form. */
export interface ShareForm {
  title: string;
  text: string;
  url: string;
  files: File[];
}

/** The record kept beside a share's files. */
interface KeptRecord {
  text: string;
  files: { name: string; type: string; lastModified: number }[];
}

/** Reads a share target's form: its text fields and its (non-empty-named) files. */
export function readShareForm(form: FormData): ShareForm {
  const field = (name: string) => {
    const value = form.get(name);
    return typeof value === "string" ? value.trim() : "";
  };
  return {
    title: field(SHARE_FIELDS.title),
    text: field(SHARE_FIELDS.text),
    url: field(SHARE_FIELDS.url),
    // A form submitted with no file chosen still sends one empty part
    // with no name: that is not a file shared.
    files: form.getAll(SHARE_FIELDS.files).filter((value): value is File =>
      typeof value !== "string" && (value.name !== "" || value.size > 0)
    ),
  };
}

/**
 * The text to share from a share's fields, one a line, each said once (apps
 * often repeat the link inside the text). With files, the title is left
 * out: it names the share (often the file's own name), it is not a message.
 */
export function sharedText(form: ShareForm): string {
  const parts = [
    ...(form.files.length > 0 ? [] : [form.title]),
    form.text,
    form.url,
  ].filter((part) => part !== "");
  return parts
    .filter((part, i) =>
      !parts.some((other, j) =>
        j !== i && other.includes(part) && (other !== part || j < i)
      )
    )
    .join("\n");
}

function recordKey(origin: string, id: string): string {
  return new URL(`${SHARE_ACTION}/${id}`, origin).href;
}

function fileKey(origin: string, id: string, index: number): string {
  return `${recordKey(origin, id)}/${index}`;
}

/**
 * Keeps `form` under `id`, after clearing the inbox of any earlier share:
 * the files first, the record last, so that a record found means every
 * file is there. Returns `false` when the share holds nothing.
 */
export async function keepShare(
  caches: CacheStorageLike,
  origin: string,
  id: string,
  form: ShareForm,
): Promise<boolean> {
  const text = sharedText(form);
  if (form.files.length === 0 && text === "") return false;
  await caches.delete(INBOX_CACHE);
  const cache = await caches.open(INBOX_CACHE);
  const record: KeptRecord = { text, files: [] };
  for (const [index, file] of form.files.entries()) {
    await cache.put(
      fileKey(origin, id, index),
      new Response(file, {
        headers: { "content-type": "application/octet-stream" },
      }),
    );
    record.files.push({
      name: file.name,
      type: file.type,
      lastModified: file.lastModified,
    });
  }
  await cache.put(recordKey(origin, id), Response.json(record));
  return true;
}

/**
 * Takes share `id` out of the inbox: its files (with their names, types
 * and dates) and its text, the entries removed. `null` when it is not
 * there (never kept, or already taken).
 */
export async function takeShare(
  caches: CacheStorageLike,
  origin: string,
  id: string,
): Promise<Shared | null> {
  if (!isShareId(id)) return null;
  const cache = await caches.open(INBOX_CACHE);
  const found = await cache.match(recordKey(origin, id));
  if (found === undefined) return null;
  const record = await found.json() as KeptRecord;
  const files: File[] = [];
  for (const [index, meta] of record.files.entries()) {
    const entry = await cache.match(fileKey(origin, id, index));
    if (entry === undefined) return null;
    files.push(
      new File([await entry.blob()], meta.name, {
        type: meta.type,
        lastModified: meta.lastModified,
      }),
    );
  }
  // Only this share's entries: another tab may have kept a newer one.
  await cache.delete(recordKey(origin, id));
  for (const index of record.files.keys()) {
    await cache.delete(fileKey(origin, id, index));
  }
  return { files, text: record.text };
}

/** Whether the worker should answer `request`: a share target POST. */
export function isShareRequest(request: Request, origin: string): boolean {
  const url = new URL(request.url);
  return request.method === "POST" && url.origin === origin &&
    url.pathname === SHARE_ACTION;
}

function seeOther(location: string): Response {
  return new Response(null, { status: 303, headers: { location } });
}

/**
 * The worker's answer to a share target POST: keeps what was shared and
 * sends the browser to the send page that takes it (303, so the page is
 * fetched with GET), or to one that says why nothing was kept.
 */
export async function answerShare(
  request: Request,
  caches: CacheStorageLike,
  id: string = crypto.randomUUID(),
): Promise<Response> {
  const origin = new URL(request.url).origin;
  try {
    const form = readShareForm(await request.formData());
    const kept = await keepShare(caches, origin, id, form);
    return seeOther(new URL(sharedPath(kept ? id : "empty"), origin).href);
  } catch {
    // Not a form, or no room left to keep it.
    return seeOther(new URL(sharedPath("failed"), origin).href);
  }
}

/** The parts of a `ServiceWorkerGlobalScope` {@linkcode serveShares} uses. */
export interface ShareWorkerScope {
  location: { origin: string };
  caches: CacheStorageLike;
  addEventListener(
    type: "fetch",
    listener: (event: {
      request: Request;
      respondWith(response: Promise<Response>): void;
    }) => void,
  ): void;
}

/** Makes the worker answer share target POSTs. */
export function serveShares(scope: ShareWorkerScope): void {
  scope.addEventListener("fetch", (event) => {
    if (!isShareRequest(event.request, scope.location.origin)) return;
    event.respondWith(answerShare(event.request, scope.caches));
  });
}

/**
 * What the send page makes of `?shared=<value>`: the share it names, taken
 * out of the inbox, or what to say instead (a note from the worker or the
 * server, or that the share is gone). `caches` is missing outside secure
 * contexts.
 */
export async function openShare(
  value: string,
  caches: CacheStorageLike | undefined,
  origin: string,
): Promise<{ shared: Shared } | { message: string }> {
  if (Object.hasOwn(SHARE_NOTES, value)) {
    return { message: SHARE_NOTES[value as ShareNote] };
  }
  const shared = caches === undefined
    ? null
    : await takeShare(caches, origin, value);
  return shared === null ? { message: SHARE_GONE } : { shared };
}
