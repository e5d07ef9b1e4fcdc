import assert from "node:assert/strict";
import { routePattern, Router } from "./router.ts";

Deno.test("routePattern() maps index files to their folder", () => {
  assert.deepEqual(routePattern("routes/index.tsx"), "/");
  assert.deepEqual(routePattern("routes/r/index.tsx"), "/r");
});

Deno.test("routePattern() maps plain files and brackets", () => {
  assert.deepEqual(routePattern("routes/healthz.ts"), "/healthz");
  assert.deepEqual(routePattern("routes/api/signal.ts"), "/api/signal");
  assert.deepEqual(routePattern("routes/r/[id].tsx"), "/r/:id");
  assert.deepEqual(routePattern("routes/files/[...path].ts"), "/files/:path*");
});

const routes = {
  "routes/_404.tsx": "not found",
  "routes/healthz.ts": "healthz",
  "routes/index.tsx": "index",
  "routes/r/[id].tsx": "receive",
  "routes/r/new.tsx": "new",
};

Deno.test("Router.match() finds the index route at /", () => {
  const router = new Router(routes);
  assert.deepEqual(router.match("/"), { route: "index", params: {} });
});

Deno.test("Router.match() takes [id] from the path", () => {
  const router = new Router(routes);
  assert.deepEqual(router.match("/r/abc123"), {
    route: "receive",
    params: { id: "abc123" },
  });
});

Deno.test("Router.match() prefers an exact route over a parameter", () => {
  const router = new Router(routes);
  assert.deepEqual(router.match("/r/new"), { route: "new", params: {} });
});

Deno.test("Router.match() returns undefined for unknown paths", () => {
  const router = new Router(routes);
  assert.deepEqual(router.match("/nope"), undefined);
  assert.deepEqual(router.match("/r"), undefined);
  assert.deepEqual(router.match("/r/"), undefined);
  assert.deepEqual(router.match("/r/a/b"), undefined);
  assert.deepEqual(router.match("/healthz/x"), undefined);
});

Deno.test("Router.special() holds _404 apart from the routes", () => {
  const router = new Router(routes);
  assert.deepEqual(router.special("_404"), "not found");
  assert.deepEqual(router.match("/_404"), undefined);
  assert.deepEqual(router.special("_500"), undefined);
});
