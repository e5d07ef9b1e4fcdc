/**
 * Everything the receive page needs once a download starts, in one module
 * that it loads with `import()` then: the receiver, the WebRTC links and
 * every sink. Before that the page only shows the file list. One module,
 * not one `import()` per file (as `sharing.ts` on the send page), because
 * each module loaded on its own is an entry for the bundler: every module
 * both the page and a lazy entry need went into a chunk per set of entries
 * needing it (names, auth, error texts, wire format: four files the page
 * fetched before it could show anything, each compressed apart). With one
 * entry they are one chunk.
 *
 * @module
 */

export { FileReceiver } from "./receiver.ts";
export { IceSource, rtcLinks } from "./rtc.ts";
export { directorySink } from "./sinks/folder_sink.ts";
export { fileHandleSink } from "./sinks/file_sink.ts";
export { serviceWorkerSink } from "./sinks/sw_sink.ts";
export { memorySink } from "./sinks/memory_sink.ts";
export { zipSink } from "./sinks/zip_sink.ts";
export { lanesAllowed, lanesEager, ReceiveLanes } from "./lanes.ts";
