/**
 * Server rendering of whole pages with islands, Fresh's model on our parts.
 *
 * While a page renders, a Preact hook swaps each island component for a
 * boundary that renders it inside a `<beam-island>` marker and records its
 * serialized props. Islands inside islands render as plain components: the
 * outer island hydrates them. A page where no island rendered ships no
 * script at all.
 *
 * @module
 */

import {
  type ComponentChildren,
  type ComponentType,
  createContext,
  h,
  options,
  type VNode,
} from "preact";
import { useContext } from "preact/hooks";
import { renderToString } from "preact-render-to-string";
import {
  ISLAND_DATA_ID,
  ISLAND_TAG,
  type IslandData,
  type SerializedIsland,
  serializeIsland,
  stringifyIslandData,
} from "./serialize.ts";

/** Island components by name. */
// deno-lint-ignore no-explicit-any
export type IslandRegistry = Map<ComponentType<any>, string>;

/** URLs of the island build, from its manifest. */
export interface IslandAssets {
  /** The boot module. */
  boot: string;
  /** Island name to module URL. */
  islands: Record<string, string>;
  /** Module URL to the chunks it imports, for `modulepreload`. */
  imports: Record<string, string[]>;
}

/** What a page is made of. */
export interface PageOptions {
  /** The document title. */
  title: string;
  /** The body's content. */
  body: VNode;
  /** Components that hydrate in the browser. */
  islands: IslandRegistry;
  /** The island build, or `null` when it is missing. */
  assets: IslandAssets | null;
  /** The icon's URL. */
  icon?: string;
  /** The web app manifest's URL (what makes the site installable). */
  manifest?: string;
  /** The icon a phone puts on its home screen without the manifest (iOS). */
  touchIcon?: string;
  /**
   * The browser's colour around the page (its title bar, once installed),
   * for the light and the dark scheme: the page's background in each.
   */
  themeColors?: { light: string; dark: string };
  /** Stylesheet URLs. */
  styles?: string[];
  /** Extra module scripts (the dev reload client). */
  scripts?: string[];
  /** Document language. */
  lang?: string;
}

interface RenderState {
  registry: IslandRegistry;
  found: SerializedIsland[];
}

let state: RenderState | null = null;
const InsideIsland = createContext(false);
// The island vnodes a boundary renders: the hook must not wrap them again.
const unwrapped = new WeakSet<VNode>();

interface BoundaryProps {
  island: ComponentType<Record<string, unknown>>;
  name: string;
  props: Record<string, unknown>;
}

function IslandBoundary({ island, name, props }: BoundaryProps): VNode {
  const inside = useContext(InsideIsland);
  const inner = h(island, props) as VNode;
  unwrapped.add(inner);
  // A vnode stays swapped after its render (a module constant may render
  // again), so check that this render still counts it as an island.
  if (inside || state?.registry.get(island) !== name) return inner;
  const index = state.found.length;
  state.found.push(serializeIsland(name, props));
  return h(
    ISLAND_TAG,
    { "data-island": name, "data-index": String(index) } as Record<
      string,
      string
    >,
    h(InsideIsland.Provider, { value: true }, inner),
  ) as VNode;
}

/**
 * The name under which Preact calls its `_diff` option hook: `__b`. Preact's
 * source calls the hook `options._diff`, "invoked before a vnode is diffed"
 * (`src/internal.d.ts`; called at the top of `diff()` in
 * `src/diff/index.js`). Its build mangles private names, and its
 * `mangle.json` maps `"$_diff": "__b"`, so the published package calls
 * `options.__b(vnode)`, and so does preact-render-to-string
 * (`src/lib/constants.js`: `DIFF = '__b'`), which calls it on every vnode
 * just before it reads `vnode.type`: a component swapped there is the one
 * that renders. (Preact's own browser `diff()` reads the type first; this
 * module only renders on the server.) Fresh hooks the same option
 * (`options[OptionsType.DIFF]`).
 *
 * No public option serves. `options.vnode` runs when `h()` creates a vnode,
 * not when it renders: it misses vnodes made before the render began (a body
 * given as a ready tree, a vnode kept in a module constant, which renders
 * again on every page).
 * `options.diffed` runs after the vnode rendered, too late to swap its
 * component. Only the diff hook runs per render, before the component is
 * chosen.
 *
 * It is not part of Preact's API and may change in any release:
 * `render_test.ts` checks that rendering still calls a hook set under this
 * name, and says to update this constant when it does not.
 */
export const PREACT_DIFF_HOOK = "__b";

type DiffHook = (vnode: VNode) => void;
const hooks = options as typeof options & {
  [PREACT_DIFF_HOOK]?: DiffHook;
};
const previousDiffHook = hooks[PREACT_DIFF_HOOK];
hooks[PREACT_DIFF_HOOK] = (vnode) => {
  if (
    state !== null && typeof vnode.type === "function" &&
    !unwrapped.has(vnode)
  ) {
    const name = state.registry.get(vnode.type);
    if (name !== undefined) {
      const island = vnode.type;
      const props = vnode.props;
      // deno-lint-ignore no-explicit-any
      (vnode as any).type = IslandBoundary;
      // deno-lint-ignore no-explicit-any
      (vnode as any).props = { island, name, props };
    }
  }
  previousDiffHook?.(vnode);
};

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Renders a body to HTML, returning the islands it rendered. */
export function renderBody(
  body: VNode | ComponentChildren,
  islands: IslandRegistry,
): { html: string; islands: SerializedIsland[] } {
  if (state !== null) {
    throw new TypeError("Cannot render: a page is already rendering");
  }
  state = { registry: islands, found: [] };
  try {
    const html = renderToString(body as VNode);
    return { html, islands: state.found };
  } finally {
    state = null;
  }
}

/** Renders a whole HTML document. */
export function renderPage(page: PageOptions): string {
  const { html, islands } = renderBody(page.body, page.islands);
  const head: string[] = [
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<meta name="color-scheme" content="light dark">`,
    `<title>${escapeHtml(page.title)}</title>`,
    ...(page.icon ? [`<link rel="icon" href="${escapeHtml(page.icon)}">`] : []),
    ...(page.manifest
      ? [`<link rel="manifest" href="${escapeHtml(page.manifest)}">`]
      : []),
    ...(page.touchIcon
      ? [`<link rel="apple-touch-icon" href="${escapeHtml(page.touchIcon)}">`]
      : []),
    ...Object.entries(page.themeColors ?? {}).map(([scheme, color]) =>
      `<meta name="theme-color" media="(prefers-color-scheme: ${scheme})" content="${
        escapeHtml(color)
      }">`
    ),
    ...(page.styles ?? []).map((href) =>
      `<link rel="stylesheet" href="${escapeHtml(href)}">`
    ),
  ];
  const tail: string[] = [];
  if (islands.length > 0) {
    const assets = page.assets;
    if (assets === null) {
      throw new Error(
        `Cannot render island ${
          islands[0].name
        }: the island build is missing, run "deno task build"`,
      );
    }
    const data: IslandData = { modules: {}, islands };
    const preload = new Set<string>([assets.boot]);
    for (const { name } of islands) {
      const url = assets.islands[name];
      if (url === undefined) {
        throw new Error(
          `Cannot render island ${name}: it is not in the island build, run "deno task build"`,
        );
      }
      data.modules[name] = url;
      preload.add(url);
    }
    for (const url of [...preload]) {
      for (const chunk of assets.imports[url] ?? []) preload.add(chunk);
    }
    for (const url of preload) {
      head.push(`<link rel="modulepreload" href="${escapeHtml(url)}">`);
    }
    tail.push(
      `<script type="application/json" id="${ISLAND_DATA_ID}">${
        stringifyIslandData(data)
      }</script>`,
      `<script type="module" src="${escapeHtml(assets.boot)}"></script>`,
    );
  }
  for (const src of page.scripts ?? []) {
    tail.push(`<script type="module" src="${escapeHtml(src)}"></script>`);
  }
  return `<!DOCTYPE html><html lang="${escapeHtml(page.lang ?? "en")}"><head>${
    head.join("")
  }</head><body>${html}${tail.join("")}</body></html>`;
}

/**
 * Where the build puts the codings of the project's `static/` files, which
 * stay in git without them, below its folder (`StaticRoot.codings`).
 */
export const CODINGS_DIR = "codings";

/** Reads a build's manifest, or `null` when there is no build. */
export async function readAssets(outDir: string): Promise<IslandAssets | null> {
  try {
    return JSON.parse(await Deno.readTextFile(`${outDir}/manifest.json`));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
