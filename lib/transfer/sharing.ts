/**
 * Everything the send page needs to share, in one module that the page
 * loads with `import()` once files are chosen: before that it only shows
 * the picker. One module, not one `import()` per file, because each
 * module loaded on its own is a chunk boundary for the bundler, and every
 * chunk is one more request and compresses apart from the rest.
 *
 * @module
 */

export { SendSession } from "./send_session.ts";
export { newSecret, shareLink } from "./secret.ts";
export { signalUrl } from "../signal/client.ts";
export { IceSource, rtcLinks } from "./rtc.ts";
export { describeError } from "./error_text.ts";
