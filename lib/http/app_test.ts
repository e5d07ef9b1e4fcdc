import assert from "node:assert/strict";
import { h } from "preact";
import {
  type App,
  CONTENT_SECURITY_POLICY,
  createApp,
  MANIFEST_PATH,
  type PageProps,
  type RouteModule,
  setSecurityHeaders,
  THEME_COLORS,
  TOUCH_ICON_PATH,
} from "./app.ts";
import { loadConfig } from "./config.ts";

function Island({ n }: { n: number }) {
  return h("b", null, String(n));
}

const routes: Record<string, RouteModule> = {
  "routes/index.tsx": {
    title: "Home & <away>",
    default: ({ url }: PageProps) => h("p", null, `home ${url.pathname}`),
  },
  "routes/items/[id].tsx": {
    handler: {
      GET: (_request, { params, render }) =>
        render(params.id, { status: 201, headers: { "x-item": params.id } }),
    },
    default: ({ data }: PageProps<string>) => h("p", null, `item ${data}`),
  },
  "routes/api/echo.ts": {
    handler: {
      POST: async (request) => new Response(await request.text()),
      GET: () => new Response("got"),
    },
  },
  "routes/old.ts": {
    handler: () => Response.redirect("http://127.0.0.1/", 308),
  },
  "routes/boom.ts": {
    handler: () => {
      throw new Error("boom");
    },
  },
  "routes/island.tsx": { default: () => h(Island, { n: 7 }) },
};

/** An app on a project folder with `static/`, a built sw.js and no island build. */
async function withApp(
  fn: (app: App) => Promise<void>,
  extraRoutes: Record<string, RouteModule> = {},
  extraStatic: Record<string, string> = {},
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "beam-app-" });
  await Deno.mkdir(`${root}/static`);
  await Deno.writeTextFile(`${root}/static/styles.css`, "p{}");
  for (const [path, text] of Object.entries(extraStatic)) {
    await Deno.mkdir(`${root}/static${path.replace(/\/[^/]*$/, "")}`, {
      recursive: true,
    });
    await Deno.writeTextFile(`${root}/static${path}`, text);
  }
  // What `deno task build` puts at the site's root.
  await Deno.mkdir(`${root}/_build/static`, { recursive: true });
  await Deno.writeTextFile(`${root}/_build/static/sw.js`, "self.worker=1");
  const app = await createApp({
    config: loadConfig({ ICE_SERVERS: "[]" }),
    routes: { ...routes, ...extraRoutes },
    islands: { Island },
    root,
  });
  try {
    await fn(app);
  } finally {
    app.close();
    await Deno.remove(root, { recursive: true });
  }
}

function request(path: string, init?: RequestInit): Request {
  return new Request(`http://127.0.0.1${path}`, init);
}

/** Runs `fn` with `console.error` captured, returning what it printed. */
async function captureErrors(fn: () => Promise<void>): Promise<string[]> {
  const original = console.error;
  const printed: string[] = [];
  console.error = (...args: unknown[]) => printed.push(args.join(" "));
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return printed;
}

function assertSecured(response: Response): void {
  assert.equal(
    response.headers.get("content-security-policy"),
    CONTENT_SECURITY_POLICY,
  );
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
  assert.equal(response.headers.get("referrer-policy"), "no-referrer");
  assert.equal(response.headers.get("x-frame-options"), "DENY");
}

Deno.test("setSecurityHeaders() sets the CSP and the three other headers", () => {
  const headers = new Headers();
  setSecurityHeaders(headers);
  assert.deepEqual([...headers.keys()].sort(), [
    "content-security-policy",
    "referrer-policy",
    "x-content-type-options",
    "x-frame-options",
  ]);
  assert.match(
    CONTENT_SECURITY_POLICY,
    /(^|; )script-src 'self' 'wasm-unsafe-eval'(;|$)/,
  );
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /'unsafe-(eval|inline)'/);
});

Deno.test("App.handler() renders a page route with an escaped title", async () => {
  await withApp(async (app) => {
    const response = await app.handler(request("/"));
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "text/html; charset=utf-8",
    );
    assertSecured(response);
    const html = await response.text();
    assert.ok(html.includes("<title>Home &#38; &#60;away&#62;</title>"));
    assert.ok(html.includes("<p>home /</p>"));
  });
});

Deno.test("App.handler() passes params and render() data to the page", async () => {
  await withApp(async (app) => {
    const response = await app.handler(request("/items/42"));
    assert.equal(response.status, 201);
    assert.equal(response.headers.get("x-item"), "42");
    assertSecured(response);
    assert.ok((await response.text()).includes("<p>item 42</p>"));
  });
});

Deno.test("App.handler() picks the handler for the method", async () => {
  await withApp(async (app) => {
    const post = await app.handler(
      request("/api/echo", { method: "POST", body: "hi" }),
    );
    assert.equal(await post.text(), "hi");
    const head = await app.handler(request("/api/echo", { method: "HEAD" }));
    assert.equal(head.status, 200);
    assert.equal(head.body, null);
    assertSecured(head);
    const put = await app.handler(request("/api/echo", { method: "PUT" }));
    assert.equal(put.status, 405);
    assertSecured(put);
    await put.body?.cancel();
  });
});

Deno.test("App.handler() answers 405 with Allow on a page for other methods", async () => {
  await withApp(async (app) => {
    const response = await app.handler(request("/", { method: "DELETE" }));
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET, HEAD");
    await response.body?.cancel();
  });
});

Deno.test("App.handler() answers a plain 404 when there is no _404 page", async () => {
  await withApp(async (app) => {
    const response = await app.handler(request("/nowhere"));
    assert.equal(response.status, 404);
    assertSecured(response);
    assert.equal(await response.text(), "404 Not Found\n");
  });
});

Deno.test("App.handler() renders the _404 page with status 404", async () => {
  await withApp(async (app) => {
    const response = await app.handler(request("/nowhere"));
    assert.equal(response.status, 404);
    assert.ok((await response.text()).includes("<h1>Lost: /nowhere</h1>"));
  }, {
    "routes/_404.tsx": {
      default: ({ url }: PageProps) => h("h1", null, `Lost: ${url.pathname}`),
    },
  });
});

Deno.test("App.handler() serves static files before routes", async () => {
  await withApp(async (app) => {
    const response = await app.handler(request("/styles.css"));
    assert.equal(response.status, 200);
    assertSecured(response);
    assert.equal(await response.text(), "p{}");
  });
});

Deno.test("App.handler() serves the built service worker at /sw.js, revalidated", async () => {
  await withApp(async (app) => {
    const response = await app.handler(request("/sw.js"));
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "self.worker=1");
    assert.match(response.headers.get("content-type")!, /^text\/javascript/);
    // Its URL never changes, so a browser must ask whether it did.
    assert.equal(
      response.headers.get("cache-control"),
      "public, max-age=0, must-revalidate",
    );
  });
});

Deno.test("App.handler() adds security headers to a redirect", async () => {
  await withApp(async (app) => {
    const response = await app.handler(request("/old"));
    assert.equal(response.status, 308);
    assert.equal(response.headers.get("location"), "http://127.0.0.1/");
    assertSecured(response);
  });
});

Deno.test("App.handler() answers 500 when a handler throws, and logs why", async () => {
  await withApp(async (app) => {
    let response: Response | undefined;
    const printed = await captureErrors(async () => {
      response = await app.handler(request("/boom"));
    });
    assert.equal(response?.status, 500);
    assertSecured(response!);
    assert.equal(await response?.text(), "500 Internal Server Error\n");
    assert.equal(printed.length, 1);
    assert.match(printed[0], /^Cannot answer GET http:\/\/127\.0\.0\.1\/boom:/);
  });
});

Deno.test("App.handler() answers 500 naming the missing build for an island page", async () => {
  await withApp(async (app) => {
    let response: Response | undefined;
    const printed = await captureErrors(async () => {
      response = await app.handler(request("/island"));
    });
    assert.equal(response?.status, 500);
    await response?.body?.cancel();
    assert.match(printed.join("\n"), /the island build is missing/);
  });
});

Deno.test("App.handler() links the web app manifest and touch icon from every page when static/ has them", async () => {
  await withApp(
    async (app) => {
      for (const path of ["/", "/items/7"]) {
        const html = await (await app.handler(request(path))).text();
        assert.ok(
          html.includes(`<link rel="manifest" href="${MANIFEST_PATH}">`),
          path,
        );
        assert.ok(
          html.includes(
            `<link rel="apple-touch-icon" href="${TOUCH_ICON_PATH}">`,
          ),
          path,
        );
      }
      const manifest = await app.handler(request(MANIFEST_PATH));
      assert.equal(manifest.status, 200);
      assert.equal(
        manifest.headers.get("content-type"),
        "application/manifest+json",
      );
      assert.deepEqual(await manifest.json(), { name: "Beam" });
    },
    {},
    { [MANIFEST_PATH]: '{"name":"Beam"}', [TOUCH_ICON_PATH]: "png" },
  );
});

Deno.test("App.handler() links no manifest when static/ has none", async () => {
  await withApp(async (app) => {
    const html = await (await app.handler(request("/"))).text();
    assert.doesNotMatch(html, /rel="manifest"|apple-touch-icon/);
  });
});

Deno.test("App.handler() gives every page a theme colour for the light and the dark scheme", async () => {
  await withApp(async (app) => {
    const html = await (await app.handler(request("/"))).text();
    for (const [scheme, color] of Object.entries(THEME_COLORS)) {
      assert.ok(
        html.includes(
          `<meta name="theme-color" media="(prefers-color-scheme: ${scheme})" content="${color}">`,
        ),
        scheme,
      );
    }
  });
});

Deno.test("THEME_COLORS are the stylesheet's backgrounds, as the manifest's colours are for light", async () => {
  const root = new URL("../../static/", import.meta.url);
  const css = await Deno.readTextFile(new URL("styles.css", root));
  const backgrounds = [...css.matchAll(/--bg:\s*(#[0-9a-f]{6})/gi)].map((m) =>
    m[1].toLowerCase()
  );
  // The first is :root's (light), the second the dark scheme's.
  assert.deepEqual(backgrounds, [THEME_COLORS.light, THEME_COLORS.dark]);
  const manifest = JSON.parse(
    await Deno.readTextFile(new URL(MANIFEST_PATH.slice(1), root)),
  );
  assert.equal(manifest.theme_color, THEME_COLORS.light);
  assert.equal(manifest.background_color, THEME_COLORS.light);
});
