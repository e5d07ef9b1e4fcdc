/**
 * The HTTP layer end to end: the real app from `beam.gen.ts` on a loopback
 * port, spoken to by `fetch` and, where a client would tidy the path, by raw
 * HTTP/1.1 over TCP. Run `deno task build` first.
 */

import assert from "node:assert/strict";
import { ROOT, startServer, type TestServer } from "./_helpers/server.ts";
import { readAssets } from "../lib/islands/render.ts";

async function withServer(fn: (server: TestServer) => Promise<void>) {
  const server = await startServer();
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

/** Asserts the headers every response carries. */
function assertSecurityHeaders(response: Response, what: string): void {
  const csp = response.headers.get("content-security-policy") ?? "";
  const scriptSrc = csp.split(";").map((d) => d.trim()).find((d) =>
    d.startsWith("script-src ")
  );
  assert.equal(
    scriptSrc,
    "script-src 'self' 'wasm-unsafe-eval'",
    `${what}: CSP script-src`,
  );
  assert.doesNotMatch(csp, /'unsafe-(inline|eval)'/, `${what}: CSP`);
  assert.match(csp, /default-src 'self'/, `${what}: CSP default-src`);
  assert.match(csp, /frame-ancestors 'none'/, `${what}: CSP frame-ancestors`);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff", what);
  assert.equal(response.headers.get("referrer-policy"), "no-referrer", what);
  assert.equal(response.headers.get("x-frame-options"), "DENY", what);
}

/** Every `<script>` tag of a page. */
function scriptTags(html: string): string[] {
  return html.match(/<script\b[^>]*>/gi) ?? [];
}

/** Asserts that a page runs no inline script: each one is JSON or has a src. */
function assertNoInlineScript(html: string, what: string): void {
  for (const tag of scriptTags(html)) {
    assert.ok(
      /\ssrc="\/[^"]+"/.test(tag) ||
        /\stype="application\/json"/.test(tag),
      `${what}: inline script ${tag}`,
    );
  }
  assert.doesNotMatch(html, /\son[a-z]+=/i, `${what}: inline event handler`);
}

async function bootUrl(): Promise<string> {
  const assets = await readAssets(`${ROOT}/_build`);
  assert.ok(assets, 'the island build exists: run "deno task build"');
  return assets.boot;
}

Deno.test("GET / answers 200 HTML with the SendPanel island", async () => {
  await withServer(async ({ url }) => {
    const response = await fetch(`${url}/`);
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    assert.equal(response.headers.get("cache-control"), "no-store");
    const html = await response.text();
    assert.ok(html.startsWith("<!DOCTYPE html>"));
    const islands = [...html.matchAll(/<beam-island data-island="(\w+)"/g)];
    assert.deepEqual(islands.map((m) => m[1]), ["SendPanel"]);
    assert.ok(html.includes('id="__beam_islands"'));
    assert.ok(html.includes(`<script type="module" src="${await bootUrl()}">`));
  });
});

Deno.test("GET /r/<id> answers 200 HTML with the ReceivePanel island", async () => {
  await withServer(async ({ url }) => {
    const response = await fetch(`${url}/r/k3Xf9a`);
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    const html = await response.text();
    const islands = [...html.matchAll(/<beam-island data-island="(\w+)"/g)];
    assert.deepEqual(islands.map((m) => m[1]), ["ReceivePanel"]);
    const data = JSON.parse(
      /<script type="application\/json" id="__beam_islands">(.*?)<\/script>/s
        .exec(html)?.[1] ?? "null",
    );
    const props = JSON.stringify(data.islands[0].props);
    assert.ok(
      props.includes('"k3Xf9a"'),
      `the id reaches the island: ${props}`,
    );
    // ICE servers come from the configuration, which the helper empties.
    assert.ok(!props.includes("stun.l.google.com"), props);
  });
});

Deno.test("GET /healthz answers JSON with status, uptime, peers and the bus", async () => {
  await withServer(async ({ url }) => {
    const response = await fetch(`${url}/healthz`);
    assert.equal(response.status, 200);
    assert.match(
      response.headers.get("content-type") ?? "",
      /^application\/json/,
    );
    assert.equal(response.headers.get("cache-control"), "no-store");
    const body = await response.json();
    assert.deepEqual(Object.keys(body).sort(), [
      "bus",
      "busDropped",
      "peers",
      "status",
      "uptime",
    ]);
    assert.equal(body.status, "ok");
    // One instance alone: the bus is the in-process one.
    assert.equal(body.bus, "local");
    assert.equal(body.busDropped, 0);
    assert.ok(Number.isInteger(body.uptime) && body.uptime >= 0);
    assert.equal(body.peers, 0);
  });
});

Deno.test("GET /healthz counts connected peers", async () => {
  await withServer(async ({ url, wsUrl }) => {
    const socket = new WebSocket(wsUrl);
    const closed = new Promise((resolve) => socket.onclose = resolve);
    await new Promise((resolve, reject) => {
      socket.onmessage = resolve;
      socket.onerror = reject;
    });
    const body = await (await fetch(`${url}/healthz`)).json();
    assert.equal(body.peers, 1);
    socket.close();
    await closed;
  });
});

Deno.test("an unknown path answers the 404 HTML page", async () => {
  await withServer(async ({ url }) => {
    for (const path of ["/nope", "/r", "/r/a/b", "/healthz/x", "/_beam/x.js"]) {
      const response = await fetch(`${url}${path}`);
      assert.equal(response.status, 404, path);
      assert.equal(
        response.headers.get("content-type"),
        "text/html; charset=utf-8",
      );
      const html = await response.text();
      assert.match(html, /<h1>Page not found<\/h1>/);
      assert.doesNotMatch(html, /<script/i, "the 404 page has no islands");
    }
  });
});

Deno.test("a page route answers other methods with 405", async () => {
  await withServer(async ({ url }) => {
    const response = await fetch(`${url}/`, { method: "POST", body: "x" });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
    assertSecurityHeaders(response, "405");
    await response.body?.cancel();
  });
});

Deno.test("HEAD on a page answers its headers with no body", async () => {
  await withServer(async ({ url }) => {
    const response = await fetch(`${url}/`, { method: "HEAD" });
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    assertSecurityHeaders(response, "HEAD /");
    assert.equal(await response.text(), "");
  });
});

Deno.test("every kind of response carries the security headers", async () => {
  await withServer(async ({ url }) => {
    const boot = await bootUrl();
    const etag = (await fetch(`${url}/styles.css`).then(async (r) => {
      await r.body?.cancel();
      return r.headers.get("etag");
    })) ?? "";
    const cases: [string, string, RequestInit, number][] = [
      ["page /", "/", {}, 200],
      ["page /r/<id>", "/r/abc", {}, 200],
      ["static file", "/styles.css", {}, 200],
      [
        "static 304",
        "/styles.css",
        { headers: { "if-none-match": etag } },
        304,
      ],
      ["build file", boot, {}, 200],
      ["404 page", "/missing", {}, 404],
      ["healthz", "/healthz", {}, 200],
      ["426 on the signal endpoint", "/api/signal", {}, 426],
      ["static 405", "/styles.css", { method: "DELETE" }, 405],
    ];
    for (const [what, path, init, status] of cases) {
      const response = await fetch(`${url}${path}`, init);
      assert.equal(response.status, status, what);
      assertSecurityHeaders(response, what);
      await response.body?.cancel();
    }
  });
});

Deno.test("pages run no inline script", async () => {
  await withServer(async ({ url }) => {
    for (const path of ["/", "/r/abc", "/missing"]) {
      const html = await (await fetch(`${url}${path}`)).text();
      assertNoInlineScript(html, path);
    }
    // A page with islands has exactly its data block and the boot module.
    const html = await (await fetch(`${url}/`)).text();
    assert.deepEqual(
      scriptTags(html).map((tag) => /type="([^"]+)"/.exec(tag)?.[1]),
      ["application/json", "module"],
    );
  });
});

/**
 * Asks for files as they are: Deno's fetch asks for brotli or gzip by
 * itself, and the codings have ETags and lengths of their own
 * (tests/page_weight_test.ts tests those).
 */
const IDENTITY = { "accept-encoding": "identity" };

Deno.test("GET /_beam/<file> answers immutable JavaScript with an ETag", async () => {
  await withServer(async ({ url }) => {
    const boot = await bootUrl();
    const response = await fetch(`${url}${boot}`, { headers: IDENTITY });
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/javascript; charset=utf-8",
    );
    assert.equal(
      response.headers.get("cache-control"),
      "public, max-age=31536000, immutable",
    );
    assert.match(response.headers.get("etag") ?? "", /^"[0-9a-f]{32}"$/);
    const body = await response.text();
    assert.equal(
      body,
      await Deno.readTextFile(`${ROOT}/_build${boot}`),
    );
  });
});

Deno.test("a static file answers If-None-Match with 304 and HEAD with no body", async () => {
  await withServer(async ({ url }) => {
    for (const path of ["/styles.css", await bootUrl()]) {
      const first = await fetch(`${url}${path}`, { headers: IDENTITY });
      const size = (await first.arrayBuffer()).byteLength;
      const etag = first.headers.get("etag");
      assert.ok(etag, `${path} has an ETag`);
      if (path === "/styles.css") {
        assert.equal(
          first.headers.get("cache-control"),
          "public, max-age=0, must-revalidate",
        );
      }

      const again = await fetch(`${url}${path}`, {
        headers: { ...IDENTITY, "if-none-match": etag },
      });
      assert.equal(again.status, 304, path);
      assert.equal(again.headers.get("etag"), etag);
      assert.equal(await again.text(), "");

      const changed = await fetch(`${url}${path}`, {
        headers: {
          ...IDENTITY,
          "if-none-match": '"00000000000000000000000000000000"',
        },
      });
      assert.equal(changed.status, 200);
      assert.equal((await changed.arrayBuffer()).byteLength, size);

      const head = await fetch(`${url}${path}`, {
        method: "HEAD",
        headers: IDENTITY,
      });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("etag"), etag);
      assert.equal(head.headers.get("content-length"), String(size));
      assert.equal(await head.text(), "");
    }
  });
});

/** Sends one raw HTTP/1.1 request; returns the status and the body text. */
async function rawRequest(
  port: number,
  target: string,
): Promise<{ status: number; text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    ));
    const bytes = new Uint8Array(
      await new Response(conn.readable).arrayBuffer(),
    );
    const text = new TextDecoder().decode(bytes);
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1]);
    return { status, text };
  } catch (error) {
    conn.close();
    throw error;
  }
}

Deno.test("raw HTTP requests cannot reach a file outside static/", async () => {
  await withServer(async ({ port }) => {
    // Files that exist outside the served folders, and a line of each.
    const secrets: [string, string][] = [
      ["/etc/passwd", "root:"],
      [`${ROOT}/deno.json`, '"imports"'],
      [`${ROOT}/main.ts`, "Deno.serve"],
      [`${ROOT}/_build/manifest.json`, '"boot"'],
      [`${ROOT}/lib/http/static.ts`, "StaticFiles"],
    ];
    const targets = [
      "/../../../../../../etc/passwd",
      "/static/../deno.json",
      "/../deno.json",
      "/../main.ts",
      "/_beam/../manifest.json",
      "/_beam/../../deno.json",
      "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
      "/%2E%2E/deno.json",
      "/.%2e/main.ts",
      "/..%2f..%2f..%2f..%2fetc%2fpasswd",
      "/..%2Fdeno.json",
      "/_beam%2F..%2Fmanifest.json",
      "/_beam/..%2fmanifest.json",
      "/%252e%252e/deno.json",
      "/%252e%252e%252fdeno.json",
      "/_beam/%252e%252e/manifest.json",
      "/..\\deno.json",
      "/..%5cdeno.json",
      "/%5c..%5cdeno.json",
      "//etc/passwd",
      "/etc/passwd",
      "/%2fetc%2fpasswd",
      `/${ROOT}/deno.json`,
      `${ROOT}/main.ts`,
      `/${encodeURIComponent(`${ROOT}/deno.json`)}`,
      "/lib/http/static.ts",
      "/static/styles.css",
      "/deno.json%00",
      "/styles.css%00.txt",
      "/%00",
      "/%",
      `http://127.0.0.1/../deno.json`,
    ];
    for (const target of targets) {
      const { status, text } = await rawRequest(port, target);
      assert.ok(
        status === 404 || status === 400,
        `${target} answered ${status}`,
      );
      for (const [file, line] of secrets) {
        assert.ok(!text.includes(line), `${target} leaked ${file}`);
      }
    }
  });
});

Deno.test("raw HTTP requests with a NUL byte or bad target get no file", async () => {
  await withServer(async ({ port }) => {
    for (
      const target of ["/styles.css\0", "/\0../deno.json", "..", "deno.json"]
    ) {
      const { status, text } = await rawRequest(port, target);
      assert.ok(
        status === 400 || status === 404 || Number.isNaN(status),
        `${JSON.stringify(target)} answered ${status}`,
      );
      assert.ok(!text.includes('"imports"'));
      assert.ok(!text.includes("body {"), "no static file either");
    }
  });
});

Deno.test("raw HTTP still serves a static file by its plain path", async () => {
  await withServer(async ({ port }) => {
    const { status, text } = await rawRequest(port, "/styles.css");
    assert.equal(status, 200);
    assert.ok(
      text.endsWith(await Deno.readTextFile(`${ROOT}/static/styles.css`)),
    );
  });
});

Deno.test("main.ts exits non-zero naming PORT when PORT is not a number", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts"],
    cwd: ROOT,
    env: { PORT: "abc", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.notEqual(output.code, 0);
  assert.match(stderr, /Beam cannot start: Cannot read PORT: "abc"/);
  assert.equal(new TextDecoder().decode(output.stdout), "");
});
