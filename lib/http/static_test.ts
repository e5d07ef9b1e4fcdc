import assert from "node:assert/strict";
import { contentHash, contentType, StaticFiles } from "./static.ts";
import { Buffer } from "node:buffer";
import { brotliCompressSync, brotliDecompressSync, gzipSync } from "node:zlib";

/**
 * A project folder with `static/`, `_build/_beam/`, and a secret file beside
 * them that no URL may reach.
 */
async function withFiles(
  fn: (files: StaticFiles, root: string) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "beam-static-" });
  try {
    await Deno.mkdir(`${root}/static/img`, { recursive: true });
    await Deno.mkdir(`${root}/_build/_beam`, { recursive: true });
    await Deno.writeTextFile(`${root}/secret.txt`, "secret");
    await Deno.writeTextFile(`${root}/static/styles.css`, "body{}");
    await Deno.writeTextFile(`${root}/static/robots.txt`, "User-agent: *\n");
    await Deno.writeFile(
      `${root}/static/img/logo.svg`,
      new TextEncoder().encode("<svg/>"),
    );
    await Deno.writeTextFile(
      `${root}/_build/_beam/boot-ABC123.js`,
      "export{};",
    );
    const files = await StaticFiles.load([
      { dir: `${root}/static`, prefix: "", immutable: false },
      { dir: `${root}/_build/_beam`, prefix: "/_beam", immutable: true },
    ]);
    await fn(files, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function get(path: string, headers: HeadersInit = {}): Request {
  return new Request(`http://127.0.0.1${path}`, { headers });
}

Deno.test("contentType() names the type by extension", () => {
  assert.equal(contentType("/a/styles.css"), "text/css; charset=utf-8");
  assert.equal(contentType("/boot-X.js"), "text/javascript; charset=utf-8");
  assert.equal(contentType("/logo.SVG"), "image/svg+xml");
  assert.equal(contentType("/data.json"), "application/json");
  assert.equal(contentType("/favicon.ico"), "image/x-icon");
  assert.equal(contentType("/blob.bin"), "application/octet-stream");
  assert.equal(contentType("/LICENSE"), "application/octet-stream");
});

Deno.test("StaticFiles.serve() answers a file with its type and body", async () => {
  await withFiles(async (files) => {
    const response = files.serve(get("/styles.css"), "/styles.css");
    assert.ok(response);
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/css; charset=utf-8",
    );
    assert.equal(response.headers.get("content-length"), "6");
    assert.match(response.headers.get("etag") ?? "", /^"[0-9a-f]{32}"$/);
    assert.equal(
      response.headers.get("cache-control"),
      "public, max-age=0, must-revalidate",
    );
    assert.equal(await response.text(), "body{}");

    const svg = files.serve(get("/img/logo.svg"), "/img/logo.svg");
    assert.equal(svg?.headers.get("content-type"), "image/svg+xml");
    await svg?.body?.cancel();
  });
});

Deno.test("StaticFiles.serve() returns undefined for a missing file", async () => {
  await withFiles((files) => {
    assert.equal(files.serve(get("/nope.css"), "/nope.css"), undefined);
    assert.equal(files.serve(get("/"), "/"), undefined);
    assert.equal(files.serve(get("/img"), "/img"), undefined);
    assert.equal(files.serve(get("/img/"), "/img/"), undefined);
    assert.equal(files.has("/styles.css"), true);
    assert.equal(files.has("/nope.css"), false);
    return Promise.resolve();
  });
});

Deno.test("StaticFiles.serve() gives each file a strong ETag from its content", async () => {
  await withFiles(async (files, root) => {
    const a = files.serve(get("/styles.css"), "/styles.css");
    const b = files.serve(get("/robots.txt"), "/robots.txt");
    await a?.body?.cancel();
    await b?.body?.cancel();
    assert.notEqual(a?.headers.get("etag"), b?.headers.get("etag"));
    // The same content in a fresh load gives the same tag.
    const again = await StaticFiles.load([
      { dir: `${root}/static`, prefix: "", immutable: false },
    ]);
    const c = again.serve(get("/styles.css"), "/styles.css");
    await c?.body?.cancel();
    assert.equal(c?.headers.get("etag"), a?.headers.get("etag"));
  });
});

Deno.test("StaticFiles.serve() answers If-None-Match with 304", async () => {
  await withFiles(async (files) => {
    const first = files.serve(get("/styles.css"), "/styles.css");
    await first?.body?.cancel();
    const etag = first?.headers.get("etag") ?? "";
    for (
      const header of [etag, `W/${etag}`, `"other", ${etag}`, "*"]
    ) {
      const response = files.serve(
        get("/styles.css", { "if-none-match": header }),
        "/styles.css",
      );
      assert.equal(response?.status, 304, `If-None-Match: ${header}`);
      assert.equal(response?.body, null);
      assert.equal(response?.headers.get("etag"), etag);
    }
    const stale = files.serve(
      get("/styles.css", { "if-none-match": '"0000"' }),
      "/styles.css",
    );
    assert.equal(stale?.status, 200);
    assert.equal(await stale?.text(), "body{}");
  });
});

Deno.test("StaticFiles.serve() answers HEAD with headers and no body", async () => {
  await withFiles((files) => {
    const response = files.serve(
      new Request("http://127.0.0.1/styles.css", { method: "HEAD" }),
      "/styles.css",
    );
    assert.equal(response?.status, 200);
    assert.equal(response?.body, null);
    assert.equal(response?.headers.get("content-length"), "6");
    assert.equal(
      response?.headers.get("content-type"),
      "text/css; charset=utf-8",
    );
    return Promise.resolve();
  });
});

Deno.test("StaticFiles.serve() answers other methods with 405", async () => {
  await withFiles(async (files) => {
    const response = files.serve(
      new Request("http://127.0.0.1/styles.css", { method: "POST" }),
      "/styles.css",
    );
    assert.equal(response?.status, 405);
    assert.equal(response?.headers.get("allow"), "GET, HEAD");
    await response?.body?.cancel();
  });
});

Deno.test("StaticFiles.serve() caches /_beam files as immutable", async () => {
  await withFiles(async (files) => {
    const response = files.serve(
      get("/_beam/boot-ABC123.js"),
      "/_beam/boot-ABC123.js",
    );
    assert.equal(response?.status, 200);
    assert.equal(
      response?.headers.get("cache-control"),
      "public, max-age=31536000, immutable",
    );
    assert.equal(
      response?.headers.get("content-type"),
      "text/javascript; charset=utf-8",
    );
    assert.equal(await response?.text(), "export{};");
  });
});

Deno.test("StaticFiles.serve() decodes percent-encoded names", async () => {
  await withFiles(async (files) => {
    const response = files.serve(get("/styles%2Ecss"), "/styles%2Ecss");
    assert.equal(await response?.text(), "body{}");
  });
});

Deno.test("StaticFiles.load() skips symlinks, which could point outside", async () => {
  await withFiles(async (_files, root) => {
    await Deno.symlink(`${root}/secret.txt`, `${root}/static/link.txt`);
    await Deno.symlink(root, `${root}/static/up`);
    const files = await StaticFiles.load([
      { dir: `${root}/static`, prefix: "", immutable: false },
    ]);
    assert.equal(files.has("/styles.css"), true);
    assert.equal(files.serve(get("/link.txt"), "/link.txt"), undefined);
    assert.equal(
      files.serve(get("/up/secret.txt"), "/up/secret.txt"),
      undefined,
    );
  });
});

Deno.test("StaticFiles.serve() never reaches a file outside its folders", async () => {
  await withFiles((files, root) => {
    const paths = [
      "/../secret.txt",
      "/../../secret.txt",
      "/img/../../secret.txt",
      "/%2e%2e/secret.txt",
      "/%2E%2E/secret.txt",
      "/.%2e/secret.txt",
      "/..%2Fsecret.txt",
      "/%2e%2e%2fsecret.txt",
      "/img%2F..%2F..%2Fsecret.txt",
      "/%252e%252e/secret.txt",
      "/%252e%252e%252fsecret.txt",
      "/..%255csecret.txt",
      "/..\\secret.txt",
      "/%5c..%5csecret.txt",
      "/_beam/../../secret.txt",
      "/_beam/%2e%2e/%2e%2e/secret.txt",
      `${root}/secret.txt`,
      `/${root}/secret.txt`,
      encodeURIComponent(`${root}/secret.txt`),
      `/%2F${root.slice(1)}/secret.txt`,
      "//etc/passwd",
      "/etc/passwd",
      "/%2fetc%2fpasswd",
      "/styles.css%00",
      "/styles.css%00.txt",
      "/%00",
      "/styles.css\0",
      "/%E0%A4%A",
      "/%",
    ];
    for (const path of paths) {
      assert.equal(
        files.serve(get("/"), path),
        undefined,
        `${path} must not name a file`,
      );
    }
    return Promise.resolve();
  });
});

Deno.test("StaticFiles.load() takes a file's codings from the build's folder by content hash, and ignores those of another content", async () => {
  const root = await Deno.makeTempDir({ prefix: "beam-static-" });
  try {
    await Deno.mkdir(`${root}/static`);
    await Deno.mkdir(`${root}/codings`);
    const css = new TextEncoder().encode("body{margin:0}\n".repeat(40));
    const old = new TextEncoder().encode("p{margin:0}\n".repeat(40));
    await Deno.writeFile(`${root}/static/styles.css`, css);
    // Made ahead for this content: served as they are (marked to tell).
    const made = gzipSync(css);
    await Deno.writeFile(`${root}/codings/${await contentHash(css)}.gz`, made);
    // Made for the file before an edit: never served for the new content.
    await Deno.writeFile(
      `${root}/codings/${await contentHash(old)}.br`,
      brotliCompressSync(old),
    );
    const files = await StaticFiles.load([
      {
        dir: `${root}/static`,
        prefix: "",
        immutable: false,
        codings: `${root}/codings`,
      },
    ]);
    const gz = files.serve(
      get("/styles.css", { "accept-encoding": "gzip" }),
      "/styles.css",
    )!;
    assert.deepEqual(
      new Uint8Array(await gz.arrayBuffer()),
      new Uint8Array(made),
    );
    const br = files.serve(
      get("/styles.css", { "accept-encoding": "br" }),
      "/styles.css",
    )!;
    assert.equal(br.headers.get("content-encoding"), "br");
    assert.deepEqual(
      brotliDecompressSync(new Uint8Array(await br.arrayBuffer())),
      Buffer.from(css),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
