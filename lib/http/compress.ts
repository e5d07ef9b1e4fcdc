/**
 * Compressed responses: which encoding a request accepts (`Accept-Encoding`,
 * brotli first, then gzip, else none), which content types are worth
 * compressing, brotli and gzip of a whole buffer (the build writes these
 * beside each built file; `static.ts` makes them in memory for `static/`),
 * and gzip on the fly for what the app renders per request (pages, JSON).
 *
 * Pages and islands are text: brotli makes the island build about a third
 * of its size, which is most of what a first visit waits for.
 *
 * @module
 */

import { brotliCompressSync, constants, gzipSync } from "node:zlib";

/** A content coding Beam serves. */
export type Encoding = "br" | "gzip" | "identity";

/** The file suffix of each stored coding. */
export const ENCODING_SUFFIX: Record<"br" | "gzip", string> = {
  br: ".br",
  gzip: ".gz",
};

/**
 * The coding to answer with, from the request's `Accept-Encoding` and the
 * codings on `offer` (best first): the first offered coding the client
 * accepts with a quality above 0, or `"identity"`. Qualities only rule a
 * coding out (q=0); among the rest, the server's order wins, since brotli
 * is smaller for the same text.
 */
export function negotiateEncoding(
  header: string | null,
  offer: readonly Encoding[] = ["br", "gzip"],
): Encoding {
  if (header === null) return "identity";
  const quality = new Map<string, number>();
  for (const part of header.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    if (name === "") continue;
    let q = 1;
    for (const param of params) {
      const match = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(param);
      if (match) q = Number(match[1]);
    }
    quality.set(name.trim(), Number.isNaN(q) ? 0 : q);
  }
  for (const coding of offer) {
    if (coding === "identity") return "identity";
    const q = quality.get(coding) ?? quality.get("*") ?? 0;
    if (q > 0) return coding;
  }
  return "identity";
}

/** Whether a Content-Type is text that compresses (not images or fonts). */
export function isCompressible(type: string | null): boolean {
  if (type === null) return false;
  const mime = type.split(";")[0].trim().toLowerCase();
  // An event stream must reach the client event by event, not in blocks.
  if (mime === "text/event-stream") return false;
  return mime.startsWith("text/") || mime === "application/json" ||
    mime === "application/manifest+json" || mime === "image/svg+xml" ||
    mime.endsWith("+json") || mime === "application/javascript";
}

/** Brotli (quality 11) and gzip (level 9) of `bytes`, for files stored. */
export function precompress(
  bytes: Uint8Array,
): { br: Uint8Array<ArrayBuffer>; gzip: Uint8Array<ArrayBuffer> } {
  const br = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength,
    },
  });
  const gzip = gzipSync(bytes, { level: 9 });
  return { br: new Uint8Array(br), gzip: new Uint8Array(gzip) };
}

/**
 * Zopfli's iterations for {@linkcode precompressAtBest}. On the receive
 * page's scripts 1 gave 23,933 bytes, 5 gave 23,915 and 15 (its default)
 * 23,912, in 1.4, 3.2 and 4.0 s: 5 keeps nearly all, for less time.
 */
const ZOPFLI_ITERATIONS = 5;

/**
 * Like {@linkcode precompress}, with the gzip made by Zopfli: a gzip stream
 * any client reads, 3 % smaller than zlib's best on the island build (700
 * bytes of the receive page, for browsers that take gzip and not brotli),
 * and about a hundred times slower to make, so for the build, which makes
 * it once. Zopfli (WebAssembly) is loaded here, never by the server.
 */
export async function precompressAtBest(
  bytes: Uint8Array,
): Promise<{ br: Uint8Array<ArrayBuffer>; gzip: Uint8Array<ArrayBuffer> }> {
  const { gzipAsync } = await import("@gfx/zopfli");
  const gzip = await gzipAsync(bytes, { numiterations: ZOPFLI_ITERATIONS });
  return { br: precompress(bytes).br, gzip: new Uint8Array(gzip) };
}

/** Adds `Accept-Encoding` to a response's `Vary`, once. */
export function varyOnEncoding(headers: Headers): void {
  const vary = headers.get("vary");
  if (vary === null) headers.set("vary", "Accept-Encoding");
  else if (!/(^|,)\s*(accept-encoding|\*)\s*(,|$)/i.test(vary)) {
    headers.set("vary", `${vary}, Accept-Encoding`);
  }
}

/**
 * `response` gzipped on the fly when `request` accepts gzip and the body is
 * compressible text not already encoded; otherwise `response` as it is.
 * Either way a compressible response says `Vary: Accept-Encoding`, so a
 * cache never hands one coding to a client that asked for another.
 */
export function compressResponse(
  request: Request,
  response: Response,
): Response {
  if (
    response.body === null || response.status === 101 ||
    response.status === 204 || response.status === 206 ||
    response.status === 304 ||
    !isCompressible(response.headers.get("content-type")) ||
    response.headers.has("content-encoding") ||
    /\bno-transform\b/i.test(response.headers.get("cache-control") ?? "") ||
    // Already negotiated (a static file, served in its stored codings).
    /(^|,)\s*accept-encoding\s*(,|$)/i.test(response.headers.get("vary") ?? "")
  ) {
    return response;
  }
  const headers = new Headers(response.headers);
  varyOnEncoding(headers);
  if (
    negotiateEncoding(request.headers.get("accept-encoding"), ["gzip"]) !==
      "gzip"
  ) {
    return new Response(response.body, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  }
  headers.set("content-encoding", "gzip");
  // The length is the compressed stream's, unknown until it ends.
  headers.delete("content-length");
  // A strong ETag names the bytes sent: these are other bytes.
  const etag = headers.get("etag");
  if (etag !== null && !etag.startsWith("W/")) headers.set("etag", `W/${etag}`);
  // A HEAD answer has the headers a GET would, and no body to compress.
  if (request.method === "HEAD") {
    response.body.cancel().catch(() => {});
    return new Response(null, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  }
  return new Response(
    response.body.pipeThrough(new CompressionStream("gzip")),
    { status: response.status, statusText: response.statusText, headers },
  );
}
