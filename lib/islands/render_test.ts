import assert from "node:assert/strict";
import {
  type ComponentChildren,
  type FunctionComponent,
  h,
  options,
  type VNode,
} from "preact";
import { renderToString } from "preact-render-to-string";
import preactPackage from "preact/package.json" with { type: "json" };
import { type Signal, signal } from "@preact/signals";
import {
  escapeHtml,
  type IslandAssets,
  type IslandRegistry,
  PREACT_DIFF_HOOK,
  readAssets,
  renderBody,
  renderPage,
} from "./render.ts";
import { ISLAND_DATA_ID, type IslandData } from "./serialize.ts";

function Counter(props: { count: Signal<number>; label: string }) {
  return h("button", { class: "counter" }, `${props.label}: ${props.count}`);
}

function Badge({ text }: { text: string }) {
  return h("span", { class: "badge" }, text);
}

function Card({ title, onPick }: { title: string; onPick?: () => void }) {
  // An island inside an island: its props need not be JSON (a function
  // here), because the outer island renders it in the browser.
  return h(
    "section",
    null,
    h(Badge, { text: title }),
    h(Tag, { name: title, onPick: onPick ?? (() => {}) }),
  );
}

function Tag({ name }: { name: string; onPick: () => void }) {
  return h("em", null, name);
}

function Layout({ children }: { children: ComponentChildren }) {
  return h("main", null, children);
}

type IslandComponent = IslandRegistry extends Map<infer K, string> ? K
  : never;

const islands: IslandRegistry = new Map([
  [Counter, "Counter"],
  [Badge, "Badge"],
  [Card, "Card"],
  [Tag, "Tag"],
] as [IslandComponent, string][]);

const assets: IslandAssets = {
  boot: "/_beam/boot-B00T.js",
  islands: {
    Counter: "/_beam/Counter-C0UN.js",
    Badge: "/_beam/Badge-BADG.js",
    Card: "/_beam/Card-CARD.js",
    Tag: "/_beam/Tag-TAG0.js",
  },
  imports: {
    "/_beam/boot-B00T.js": ["/_beam/chunk-SHRD.js"],
    "/_beam/Counter-C0UN.js": ["/_beam/chunk-SHRD.js"],
  },
};

/** Renders a page whose body component is made at render time, as routes are. */
function page(body: FunctionComponent, options: { title?: string } = {}) {
  return renderPage({
    title: options.title ?? "Test",
    body: h(body, null) as VNode,
    islands,
    assets,
    styles: ["/styles.css"],
  });
}

/** The island data block of a page, parsed. */
function islandData(html: string): IslandData {
  const match = new RegExp(
    `<script type="application/json" id="${ISLAND_DATA_ID}">(.*?)</script>`,
    "s",
  ).exec(html);
  assert.ok(match, "the page has an island data block");
  return JSON.parse(match[1]);
}

function scripts(html: string): string[] {
  return html.match(/<script\b[^>]*>/gi) ?? [];
}

Deno.test("renderPage() wraps an island in a marker and lists its props", () => {
  const html = page(() =>
    h(Layout, null, h(Counter, { count: signal(3), label: "Clicks" }))
  );
  assert.ok(
    html.includes(
      '<main><beam-island data-island="Counter" data-index="0">' +
        '<button class="counter">Clicks: 3</button></beam-island></main>',
    ),
    html,
  );
  assert.deepEqual(islandData(html), {
    modules: { Counter: "/_beam/Counter-C0UN.js" },
    islands: [{
      name: "Counter",
      props: { count: 3, label: "Clicks" },
      signals: ["count"],
    }],
  });
  assert.deepEqual(scripts(html), [
    `<script type="application/json" id="${ISLAND_DATA_ID}">`,
    '<script type="module" src="/_beam/boot-B00T.js">',
  ]);
  // The data block comes before boot, which reads it.
  assert.ok(
    html.indexOf(ISLAND_DATA_ID) <
      html.indexOf('<script type="module" src="/_beam/boot-B00T.js">'),
  );
});

Deno.test("renderPage() links the manifest and touch icon and sets a theme colour per scheme, escaped", () => {
  const html = renderPage({
    title: "T",
    body: h("p", null, "x") as VNode,
    islands,
    assets: null,
    manifest: "/app.webmanifest",
    touchIcon: "/icons/a&b.png",
    themeColors: { light: "#ffffff", dark: '#000"' },
  });
  const head = html.slice(0, html.indexOf("</head>"));
  assert.ok(head.includes('<link rel="manifest" href="/app.webmanifest">'));
  assert.ok(
    head.includes('<link rel="apple-touch-icon" href="/icons/a&#38;b.png">'),
  );
  assert.ok(
    head.includes(
      '<meta name="theme-color" media="(prefers-color-scheme: light)" content="#ffffff">',
    ),
  );
  assert.ok(
    head.includes(
      '<meta name="theme-color" media="(prefers-color-scheme: dark)" content="#000&#34;">',
    ),
  );
});

Deno.test("renderPage() links no manifest and sets no theme colour unless given", () => {
  const html = renderPage({
    title: "T",
    body: h("p", null, "x") as VNode,
    islands,
    assets: null,
  });
  assert.doesNotMatch(html, /manifest|apple-touch-icon|theme-color/);
});

Deno.test("renderPage() preloads boot, the islands and their chunks once each", () => {
  const html = page(() =>
    h("div", null, [
      h(Counter, { count: signal(1), label: "a" }),
      h(Counter, { count: signal(2), label: "b" }),
    ])
  );
  const preloads = [
    ...html.matchAll(/<link rel="modulepreload" href="([^"]+)">/g),
  ]
    .map((m) => m[1]);
  assert.deepEqual(preloads.sort(), [
    "/_beam/Counter-C0UN.js",
    "/_beam/boot-B00T.js",
    "/_beam/chunk-SHRD.js",
  ]);
  assert.ok(html.includes('<link rel="stylesheet" href="/styles.css">'));
});

Deno.test("renderPage() numbers islands in document order", () => {
  const html = page(() =>
    h("div", null, [
      h(Badge, { text: "first" }),
      h("p", null, h(Counter, { count: signal(0), label: "second" })),
      h(Badge, { text: "third" }),
    ])
  );
  const markers = [
    ...html.matchAll(/<beam-island data-island="(\w+)" data-index="(\d)">/g),
  ]
    .map((m) => `${m[1]}#${m[2]}`);
  assert.deepEqual(markers, ["Badge#0", "Counter#1", "Badge#2"]);
  assert.deepEqual(
    islandData(html).islands.map((i) => i.props),
    [{ text: "first" }, { count: 0, label: "second" }, { text: "third" }],
  );
});

Deno.test("renderPage() renders an island inside an island as plain HTML", () => {
  const html = page(() => h(Card, { title: "Outer" }));
  assert.equal(html.match(/<beam-island/g)?.length, 1, html);
  assert.ok(html.includes(
    '<beam-island data-island="Card" data-index="0"><section>' +
      '<span class="badge">Outer</span><em>Outer</em></section></beam-island>',
  ));
  const data = islandData(html);
  assert.deepEqual(data.islands.map((i) => i.name), ["Card"]);
  assert.deepEqual(data.modules, { Card: "/_beam/Card-CARD.js" });
});

Deno.test("renderPage() ships no script at all for a page without islands", () => {
  const html = page(() => h(Layout, null, h("h1", null, "Plain")));
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /modulepreload/);
  assert.doesNotMatch(html, /beam-island/);
  assert.ok(html.startsWith('<!DOCTYPE html><html lang="en"><head>'));
  assert.ok(html.includes("<main><h1>Plain</h1></main>"));
});

Deno.test("renderPage() keeps a prop holding </script> or <!-- inside the data block", () => {
  const tricky = "</script><!--<script>alert(1)</script>--> & \u2028";
  const html = page(() => h(Badge, { text: tricky }));
  // Exactly the two scripts the page means, nothing a prop opened.
  assert.equal(scripts(html).length, 2);
  assert.equal(html.match(/<\/script>/g)?.length, 2);
  assert.doesNotMatch(html, /<!--/);
  assert.equal(islandData(html).islands[0].props.text, tricky);
  // The server-rendered text is escaped too.
  assert.ok(html.includes("&lt;/script>&lt;!--"), html);
});

Deno.test("renderPage() escapes the title", () => {
  const html = page(() => null, { title: "</title><script>x</script>" });
  assert.ok(
    html.includes(
      "<title>&#60;/title&#62;&#60;script&#62;x&#60;/script&#62;</title>",
    ),
  );
  assert.doesNotMatch(html, /<script/);
});

Deno.test("renderPage() adds extra module scripts by src only", () => {
  const html = renderPage({
    title: "T",
    body: h("p", null) as VNode,
    islands,
    assets: null,
    scripts: ["/_beam/dev.js"],
  });
  assert.deepEqual(scripts(html), [
    '<script type="module" src="/_beam/dev.js">',
  ]);
});

Deno.test("renderPage() throws a clear error when the island build is missing", () => {
  assert.throws(
    () =>
      renderPage({
        title: "T",
        body: h(() => h(Badge, { text: "x" }), null) as VNode,
        islands,
        assets: null,
      }),
    {
      name: "Error",
      message:
        'Cannot render island Badge: the island build is missing, run "deno task build"',
    },
  );
});

Deno.test("renderPage() throws a clear error when an island is not in the build", () => {
  assert.throws(
    () =>
      renderPage({
        title: "T",
        body: h(() => h(Badge, { text: "x" }), null) as VNode,
        islands,
        assets: { boot: "/_beam/boot.js", islands: {}, imports: {} },
      }),
    {
      message:
        'Cannot render island Badge: it is not in the island build, run "deno task build"',
    },
  );
});

Deno.test("renderPage() fails on a prop that is not JSON, naming the island", () => {
  assert.throws(
    () => page(() => h(Badge, { text: (() => "no") as unknown as string })),
    (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /island Badge: "text" is a function/);
      return true;
    },
  );
  // A failed render leaves nothing behind: the next one works.
  assert.match(page(() => h(Badge, { text: "ok" })), /data-island="Badge"/);
});

Deno.test("renderBody() marks an island given directly as the body", () => {
  const { html, islands: found } = renderBody(
    h(Badge, { text: "top" }),
    islands,
  );
  assert.equal(
    html,
    '<beam-island data-island="Badge" data-index="0"><span class="badge">top</span></beam-island>',
  );
  assert.deepEqual(found, [{
    name: "Badge",
    props: { text: "top" },
    signals: [],
  }]);
});

Deno.test("renderBody() marks islands made before the render began", () => {
  const tree = h(Layout, null, h(Badge, { text: "early" }));
  const { html, islands: found } = renderBody(tree, islands);
  assert.match(html, /<main><beam-island data-island="Badge" data-index="0">/);
  assert.equal(found.length, 1);
});

const kept = h(Badge, { text: "kept" });

Deno.test("renderBody() marks an island kept in a constant on every render", () => {
  for (let i = 0; i < 2; i++) {
    const { html, islands: found } = renderBody(
      h(() => h("div", null, kept, kept), null),
      islands,
    );
    assert.equal(html.match(/<beam-island data-island="Badge"/g)?.length, 2);
    assert.deepEqual(found.map((f) => f.props), [{ text: "kept" }, {
      text: "kept",
    }]);
  }
  // Outside a render it is the plain component again.
  assert.equal(
    renderBody(kept, new Map()).html,
    '<span class="badge">kept</span>',
  );
});

Deno.test("renderBody() renders islands plainly outside a registry", () => {
  const { html, islands: found } = renderBody(
    h(() => h(Badge, { text: "plain" }), null),
    new Map(),
  );
  assert.equal(html, '<span class="badge">plain</span>');
  assert.deepEqual(found, []);
});

Deno.test(`Preact still calls its diff hook as options.${PREACT_DIFF_HOOK}, before it reads a vnode's component`, () => {
  // The islands hook a Preact internal by its mangled name (render.ts says
  // why). This checks the technique itself against the installed Preact and
  // preact-render-to-string, outside renderBody: a hook set under that name
  // sees every vnode, and a component swapped there is the one rendered.
  const hooks = options as unknown as Record<string, unknown>;
  const previous = hooks[PREACT_DIFF_HOOK] as
    | ((vnode: VNode) => void)
    | undefined;
  assert.equal(
    typeof previous,
    "function",
    `render.ts installs its hook as options.${PREACT_DIFF_HOOK}`,
  );
  const Before = () => h("b", null, "before");
  const After = () => h("i", null, "after");
  const seen: unknown[] = [];
  hooks[PREACT_DIFF_HOOK] = (vnode: VNode) => {
    seen.push(vnode.type);
    // deno-lint-ignore no-explicit-any
    if (vnode.type === Before) (vnode as any).type = After;
    previous?.(vnode);
  };
  let html: string;
  try {
    html = renderToString(h("div", null, h(Before, null)));
  } finally {
    hooks[PREACT_DIFF_HOOK] = previous;
  }
  const update =
    `Preact ${preactPackage.version} no longer calls options.${PREACT_DIFF_HOOK} ` +
    `before it renders a vnode, so islands would render without their markers: ` +
    `find the new mangled name of \`_diff\` (preact's mangle.json, or DIFF in ` +
    `preact-render-to-string's src/lib/constants.js) and update ` +
    `PREACT_DIFF_HOOK in lib/islands/render.ts`;
  assert.ok(seen.includes(Before), update);
  assert.ok(seen.includes("div"), update);
  assert.equal(html, "<div><i>after</i></div>", update);
});

Deno.test("escapeHtml() escapes the five HTML characters", () => {
  assert.equal(
    escapeHtml(`<a href="x" title='y'>&</a>`),
    "&#60;a href=&#34;x&#34; title=&#39;y&#39;&#62;&#38;&#60;/a&#62;",
  );
});

Deno.test("readAssets() returns null when there is no build", async () => {
  const dir = await Deno.makeTempDir({ prefix: "beam-assets-" });
  try {
    assert.equal(await readAssets(dir), null);
    await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(assets));
    assert.deepEqual(await readAssets(dir), assets);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
