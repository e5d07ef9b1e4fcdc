import assert from "node:assert/strict";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import {
  compressResponse,
  isCompressible,
  negotiateEncoding,
  precompress,
  precompressAtBest,
  varyOnEncoding,
} from "./compress.ts";

Deno.test("negotiateEncoding() prefers brotli, then gzip, else none", () => {
  const cases: [string | null, string][] = [
    ["gzip, deflate, br", "br"],
    ["gzip;q=1.0, br;q=0.1", "br"],
    ["gzip", "gzip"],
    ["br;q=0, gzip", "gzip"],
    ["br;q=0, *", "gzip"],
    ["*", "br"],
    ["*;q=0", "identity"],
    ["identity", "identity"],
    ["deflate", "identity"],
    ["", "identity"],
    [null, "identity"],
  ];
  for (const [header, coding] of cases) {
    assert.equal(negotiateEncoding(header), coding, String(header));
  }
  assert.equal(negotiateEncoding("br, gzip", ["gzip"]), "gzip");
});

Deno.test("isCompressible() takes text and JSON, not images or event streams", () => {
  for (
    const type of [
      "text/html; charset=utf-8",
      "application/json",
      "image/svg+xml",
      "text/javascript",
    ]
  ) {
    assert.ok(isCompressible(type), type);
  }
  for (const type of ["image/png", "text/event-stream", "font/woff2", null]) {
    assert.ok(!isCompressible(type), String(type));
  }
});

Deno.test("precompress() gives brotli and gzip that decode to the input", () => {
  const text = new TextEncoder().encode("beam ".repeat(1000));
  const { br, gzip } = precompress(text);
  assert.ok(br.byteLength < text.byteLength);
  assert.deepEqual(new Uint8Array(gunzipSync(gzip)), text);
});

Deno.test("precompressAtBest() gives brotli and a smaller gzip that decode to the input", async () => {
  const text = new TextEncoder().encode(
    Array.from({ length: 2000 }, (_, i) => `beam ${i * 7919 % 1000} `).join(""),
  );
  const { br, gzip } = await precompressAtBest(text);
  assert.deepEqual(new Uint8Array(brotliDecompressSync(br)), text);
  assert.deepEqual(new Uint8Array(gunzipSync(gzip)), text);
  assert.ok(gzip.byteLength < precompress(text).gzip.byteLength);
});

Deno.test("varyOnEncoding() adds Accept-Encoding to Vary once", () => {
  const headers = new Headers({ vary: "Origin" });
  varyOnEncoding(headers);
  varyOnEncoding(headers);
  assert.equal(headers.get("vary"), "Origin, Accept-Encoding");
});

Deno.test("compressResponse() gzips text for a client that takes gzip", async () => {
  const request = new Request("http://x/", {
    headers: { "accept-encoding": "gzip" },
  });
  const html = "<p>hello</p>".repeat(100);
  const response = compressResponse(
    request,
    new Response(html, {
      headers: { "content-type": "text/html", "content-length": "1200" },
    }),
  );
  assert.equal(response.headers.get("content-encoding"), "gzip");
  assert.equal(response.headers.get("vary"), "Accept-Encoding");
  assert.equal(response.headers.get("content-length"), null);
  const body = new Uint8Array(await response.arrayBuffer());
  assert.equal(new TextDecoder().decode(gunzipSync(body)), html);
});

Deno.test("compressResponse() answers HEAD with a GET's headers, no body, and lets the made body go unread", async () => {
  const request = new Request("http://x/", {
    method: "HEAD",
    headers: { "accept-encoding": "gzip" },
  });
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new TextEncoder().encode("<p>hello</p>"));
    },
    cancel() {
      cancelled = true;
    },
  });
  const response = compressResponse(
    request,
    new Response(body, { headers: { "content-type": "text/html" } }),
  );
  assert.equal(response.headers.get("content-encoding"), "gzip");
  assert.equal(response.headers.get("vary"), "Accept-Encoding");
  assert.equal(response.body, null);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(cancelled, true);
});

Deno.test("compressResponse() leaves alone what it must not encode", async () => {
  const gzip = new Request("http://x/", {
    headers: { "accept-encoding": "gzip" },
  });
  const plain = compressResponse(
    new Request("http://x/"),
    new Response("text", { headers: { "content-type": "text/plain" } }),
  );
  assert.equal(plain.headers.get("content-encoding"), null);
  assert.equal(plain.headers.get("vary"), "Accept-Encoding");
  assert.equal(await plain.text(), "text");
  for (
    const headers of [
      { "content-type": "image/png" },
      { "content-type": "text/event-stream" },
      { "content-type": "text/plain", "cache-control": "no-transform" },
      { "content-type": "text/plain", vary: "Accept-Encoding" },
    ] as Record<string, string>[]
  ) {
    const response = compressResponse(gzip, new Response("x", { headers }));
    assert.equal(response.headers.get("content-encoding"), null);
    await response.body?.cancel();
  }
});
