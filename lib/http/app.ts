/**
 * The HTTP application: static files, file routes, server-rendered pages
 * with islands, and the security headers every response carries. Text goes
 * out compressed when the client accepts it (`./compress.ts`). `main.ts`
 * only reads the configuration and hands this to `Deno.serve`.
 *
 * @module
 */

import { type ComponentType, h, type VNode } from "preact";
import type { Config } from "./config.ts";
import { Router } from "./router.ts";
import { StaticFiles } from "./static.ts";
import { compressResponse } from "./compress.ts";
import { SignalServer } from "../signal/server.ts";
import type { SignalBus } from "../signal/bus.ts";
import {
  CODINGS_DIR,
  type IslandAssets,
  type IslandRegistry,
  readAssets,
  renderPage,
} from "../islands/render.ts";
import {
  DEV_CLIENT_URL,
  devClientResponse,
  reloadStream,
} from "../islands/dev.ts";

/** What routes and pages can reach of the running app. */
export interface AppState {
  /** The configuration. */
  config: Config;
  /** The signaling server. */
  signal: SignalServer;
  /** When the server started, in ms since the epoch. */
  startedAt: number;
}

/** What a route handler gets besides the request. */
export interface RouteContext {
  /** Who is asking: the client's address, as `Deno.serve` tells it. */
  info?: Deno.ServeHandlerInfo;
  /** Path parameters. */
  params: Record<string, string>;
  /** The request URL, parsed. */
  url: URL;
  /** The running app. */
  app: AppState;
  /** Renders the route's page with `data`. */
  render(data?: unknown, init?: ResponseInit): Response;
}

/** Props of a page component. */
export interface PageProps<T = unknown> {
  /** Path parameters. */
  params: Record<string, string>;
  /** The request URL. */
  url: URL;
  /** Data from the route's handler, if it had one. */
  data: T;
  /** The running app. */
  app: AppState;
}

/** A route handler. */
export type Handler = (
  request: Request,
  context: RouteContext,
) => Response | Promise<Response>;

/** A module in `routes/`. */
export interface RouteModule {
  /** One handler for every method, or one per method. */
  handler?: Handler | Partial<Record<string, Handler>>;
  /** The page, for routes that render one. */
  // deno-lint-ignore no-explicit-any
  default?: ComponentType<PageProps<any>>;
  /** The page title. */
  title?: string;
}

/** What the app is built from. */
export interface AppOptions {
  /** Configuration. */
  config: Config;
  /**
   * How the signaling server reaches other instances. Default: one
   * instance alone. The app closes it when it closes.
   */
  bus?: SignalBus;
  /** Route modules by file path. */
  routes: Record<string, RouteModule>;
  /** Island components by name. */
  // deno-lint-ignore no-explicit-any
  islands: Record<string, ComponentType<any>>;
  /** The project folder (holds `static/` and `_build/`). */
  root: string;
}

/** A running app. */
export interface App {
  /** Answers one request. */
  handler(request: Request, info?: Deno.ServeHandlerInfo): Promise<Response>;
  /** Its state. */
  state: AppState;
  /** Closes every signaling socket, then the bus. */
  close(): Promise<void>;
}

/**
 * The Content-Security-Policy of every response: only our own scripts, no
 * inline script and no `eval`. `'wasm-unsafe-eval'` lets a page compile
 * WebAssembly (the SHA-256 of lib/transfer/hash.ts, several times faster
 * than JavaScript) and nothing else: it does not allow `eval` or `Function`.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The browser's colour around a page (its title bar, the installed app's
 * window) in the light and the dark scheme: `--bg` of static/styles.css in
 * each, as the manifest's `theme_color` and `background_color` are for
 * light (app_test.ts checks that the three agree).
 */
export const THEME_COLORS = { light: "#f6f7fb", dark: "#101218" } as const;

/** The web app manifest, in `static/`: it makes Beam installable. */
export const MANIFEST_PATH = "/manifest.webmanifest";

/** The home-screen icon of browsers that read no manifest icons (iOS). */
export const TOUCH_ICON_PATH = "/icons/apple-touch-icon.png";

/** Sets the security headers on a response's headers. */
export function setSecurityHeaders(headers: Headers): void {
  headers.set("content-security-policy", CONTENT_SECURITY_POLICY);
  headers.set("x-content-type-options", "nosniff");
  // A share link carries a peer id: it must never leak through Referer.
  headers.set("referrer-policy", "no-referrer");
  headers.set("x-frame-options", "DENY");
}

/** Builds the app. */
export async function createApp(options: AppOptions): Promise<App> {
  const { config, root } = options;
  const state: AppState = {
    config,
    signal: new SignalServer({
      maxFrameBytes: config.maxFrameBytes,
      maxPeers: config.maxPeers,
      maxPeersPerIp: config.maxPeersPerIp,
      ratePerSecond: config.rateLimit,
      rateBurst: config.rateBurst,
      allowedOrigins: config.allowedOrigins,
      bus: options.bus,
      trustProxy: config.trustProxy,
      reclaimSecret: config.signalSecret,
    }),
    startedAt: Date.now(),
  };
  const router = new Router<RouteModule>(options.routes);
  const registry: IslandRegistry = new Map(
    Object.entries(options.islands).map(([name, island]) => [island, name]),
  );
  const buildDir = `${root}/_build`;
  let assets: IslandAssets | null = null;
  let files: StaticFiles;
  let buildStamp = "";

  async function loadFiles(): Promise<void> {
    assets = await readAssets(buildDir);
    files = await StaticFiles.load([
      {
        dir: `${root}/static`,
        prefix: "",
        immutable: false,
        codings: `${buildDir}/${CODINGS_DIR}`,
      },
      // Built files served at the root, like /sw.js (lib/islands/build.ts).
      { dir: `${buildDir}/static`, prefix: "", immutable: false },
      { dir: `${buildDir}/_beam`, prefix: "/_beam", immutable: true },
    ]);
  }
  await loadFiles();

  // In development the build changes under a running server: reload the
  // files whenever the manifest does, checked at most once per request.
  async function refresh(): Promise<string> {
    const stat = await Deno.stat(`${buildDir}/manifest.json`).catch(() => null);
    const stamp = `${state.startedAt}:${stat?.mtime?.getTime() ?? 0}`;
    if (stamp !== buildStamp) {
      buildStamp = stamp;
      await loadFiles();
    }
    return stamp;
  }

  function page(
    route: RouteModule,
    url: URL,
    params: Record<string, string>,
    data: unknown,
    init: ResponseInit = {},
  ): Response {
    if (route.default === undefined) {
      throw new TypeError(
        `Cannot render ${url.pathname}: the route has no page`,
      );
    }
    const props: PageProps = { params, url, data, app: state };
    const html = renderPage({
      title: route.title ?? "Beam",
      body: h(route.default, props) as VNode,
      islands: registry,
      assets,
      icon: files.has("/favicon.svg") ? "/favicon.svg" : undefined,
      manifest: files.has(MANIFEST_PATH) ? MANIFEST_PATH : undefined,
      touchIcon: files.has(TOUCH_ICON_PATH) ? TOUCH_ICON_PATH : undefined,
      themeColors: THEME_COLORS,
      styles: ["/styles.css"],
      scripts: config.dev ? [DEV_CLIENT_URL] : [],
    });
    const headers = new Headers(init.headers);
    headers.set("content-type", "text/html; charset=utf-8");
    headers.set("cache-control", "no-store");
    return new Response(html, { status: init.status ?? 200, headers });
  }

  function notFound(url: URL): Response {
    const route = router.special("_404");
    if (route?.default) return page(route, url, {}, undefined, { status: 404 });
    return new Response("404 Not Found\n", {
      status: 404,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }

  async function respond(
    request: Request,
    info: Deno.ServeHandlerInfo | undefined,
  ): Promise<Response> {
    const url = new URL(request.url);
    if (config.dev) {
      const stamp = await refresh();
      if (url.pathname === DEV_CLIENT_URL) return devClientResponse();
      if (url.pathname === "/_beam/reload") return reloadStream(refresh, stamp);
    }
    const file = files.serve(request, url.pathname);
    if (file !== undefined) return file;
    const match = router.match(url.pathname);
    if (match === undefined) return notFound(url);
    const { route, params } = match;
    const context: RouteContext = {
      info,
      params,
      url,
      app: state,
      render: (data, init) => page(route, url, params, data, init),
    };
    const handler = typeof route.handler === "function"
      ? route.handler
      : route.handler?.[request.method] ??
        (request.method === "HEAD" ? route.handler?.GET : undefined);
    if (handler !== undefined) return await handler(request, context);
    if (
      route.default && (request.method === "GET" || request.method === "HEAD")
    ) {
      return context.render();
    }
    return new Response("405 Method Not Allowed\n", {
      status: 405,
      headers: {
        "content-type": "text/plain; charset=utf-8",
        allow: route.default ? "GET, HEAD" : "",
      },
    });
  }

  async function handler(
    request: Request,
    info?: Deno.ServeHandlerInfo,
  ): Promise<Response> {
    let response: Response;
    try {
      response = await respond(request, info);
    } catch (error) {
      console.error(`Cannot answer ${request.method} ${request.url}:`, error);
      response = new Response("500 Internal Server Error\n", {
        status: 500,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    // A WebSocket upgrade's 101 answer is the runtime's; leave it alone.
    if (response.status === 101) return response;
    // Some responses, such as `Response.redirect()`, have immutable
    // headers: copy those into one we may add to.
    try {
      setSecurityHeaders(response.headers);
    } catch {
      response = new Response(response.body, response);
      setSecurityHeaders(response.headers);
    }
    // Pages and JSON are made per request: gzipped as they stream out.
    // Static files come in the coding they were stored in.
    response = compressResponse(request, response);
    if (request.method === "HEAD" && response.body !== null) {
      // What was made for a GET is not sent: let its source go.
      response.body.cancel().catch(() => {});
      return new Response(null, {
        status: response.status,
        headers: response.headers,
      });
    }
    return response;
  }

  return {
    handler,
    state,
    close() {
      state.signal.closeAll();
      return state.signal.bus.close();
    },
  };
}
