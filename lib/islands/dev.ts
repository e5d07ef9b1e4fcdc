/**
 * Live reload for `deno task dev`: a tiny client script and a server-sent
 * event stream. The stream names the current build (and server start); the
 * client reloads the page when that name changes, which happens after an
 * island rebuild or a server restart.
 *
 * @module
 */

/** URL of the reload client script. */
export const DEV_CLIENT_URL = "/_beam/dev.js";

const DEV_CLIENT = `// Beam live reload (deno task dev only).
let first = null;
function connect() {
  const events = new EventSource("/_beam/reload");
  events.onmessage = (event) => {
    if (first === null) first = event.data;
    else if (event.data !== first) location.reload();
  };
  events.onerror = () => {
    events.close();
    setTimeout(connect, 500);
  };
}
connect();
`;

/** Answers a request for the reload client. */
export function devClientResponse(): Response {
  return new Response(DEV_CLIENT, {
    headers: {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

/**
 * A stream that sends the build stamp now and whenever it changes; `stamp`
 * re-reads it. It polls twice a second and stops when the client goes.
 */
export function reloadStream(
  stamp: () => Promise<string>,
  first: string,
): Response {
  let timer: ReturnType<typeof setInterval> | undefined;
  let last = first;
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(`data: ${first}\n\n`));
      timer = setInterval(async () => {
        const now = await stamp();
        if (now === last) return;
        last = now;
        try {
          controller.enqueue(encoder.encode(`data: ${now}\n\n`));
        } catch {
          clearInterval(timer);
        }
      }, 500);
    },
    cancel() {
      clearInterval(timer);
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
    },
  });
}
