// Beam's download service worker. A page that receives files without the
// File System Access API hands it a ReadableStream (by postMessage, as a
// transferable stream) plus the response headers; the page then makes the
// browser fetch /_beam_download/<id>/<name>, and this worker answers that
// one request with the stream, which the browser saves as a download while
// bytes still arrive. Backpressure flows all the way: the download reads the
// stream only as fast as it writes to disk, and the page waits for that.
//
// It answers nothing else: every other request goes to the network as if no
// worker were there. Registered by lib/transfer/sinks.ts with the scope
// /_beam_download/, so no other page is even routed through it.

const PREFIX = "/_beam_download/";
// A download the page announced but the browser has not fetched yet is
// dropped after this long (the page gives up sooner).
const UNCLAIMED_MS = 60_000;

/** id -> { stream, headers, port, claimed() } */
const waiting = new Map();

// Take over from an older version at once; nothing here keeps state that an
// update would need to carry over.
self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("message", (event) => {
  const data = event.data;
  if (data?.type === "beam-download") {
    const port = event.ports[0];
    const { id, headers } = data;
    let claimed;
    // Keep the worker alive until the browser asks for the download (an
    // extendable event may last minutes; this wait is seconds).
    event.waitUntil(
      new Promise((resolve) => {
        claimed = resolve;
        setTimeout(() => {
          if (waiting.get(id)?.claimed === claimed) {
            waiting.delete(id);
            data.stream.cancel("Download never requested").catch(() => {});
            port.postMessage({ type: "beam-expired" });
          }
          resolve();
        }, UNCLAIMED_MS);
      }),
    );
    waiting.set(id, { stream: data.stream, headers, port, claimed });
    port.postMessage({ type: "beam-ready" });
  }
  // "beam-keepalive" needs no answer: a message event alone restarts the
  // browser's idle timer (~30 s). Chromium already keeps a worker alive
  // while its streamed response is read; the page's messages during a
  // download are for engines that do not.
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith(PREFIX)) return;
  if (event.request.method !== "GET") return;
  const id = url.pathname.slice(PREFIX.length).split("/")[0];
  const download = waiting.get(id);
  if (download === undefined) {
    event.respondWith(
      new Response("This download is over or was never started.\n", {
        status: 404,
        headers: { "content-type": "text/plain; charset=utf-8" },
      }),
    );
    return;
  }
  // One fetch per download: a second one (a retry) gets the 404 above.
  waiting.delete(id);
  download.claimed();
  const { port } = download;
  port.postMessage({ type: "beam-started" });
  // Pass the bytes through, to tell the page when the browser has read the
  // last of them, or gave up (the person cancelled the download).
  const reader = download.stream.getReader();
  const body = new ReadableStream({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        port.postMessage({ type: "beam-done" });
      } else {
        controller.enqueue(value);
      }
    },
    cancel(reason) {
      port.postMessage({ type: "beam-cancelled" });
      return reader.cancel(reason);
    },
  });
  event.respondWith(
    new Response(body, { headers: download.headers }),
  );
});
