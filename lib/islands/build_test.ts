import assert from "node:assert/strict";
import {
  buildIslands,
  checkRuntimeImports,
  listIslands,
  listRoutes,
  manifestSource,
  writeCodings,
} from "./build.ts";
import { readAssets } from "./render.ts";
import { contentHash } from "../http/static.ts";
import { Buffer } from "node:buffer";
import { gunzipSync } from "node:zlib";

const FIXTURE = decodeURIComponent(
  new URL("../../tests/fixtures/islands_app", import.meta.url).pathname,
);

async function withOutDir(fn: (outDir: string) => Promise<void>) {
  const outDir = await Deno.makeTempDir({ prefix: "beam-build-" });
  try {
    await fn(outDir);
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
}

Deno.test("listIslands() lists the PascalCase .tsx files of islands/", async () => {
  assert.deepEqual(await listIslands(FIXTURE), ["Counter"]);
});

Deno.test("listRoutes() lists route files, nested, sorted", async () => {
  assert.deepEqual(await listRoutes(FIXTURE), [
    "routes/index.tsx",
    "routes/plain.tsx",
  ]);
});

Deno.test("manifestSource() lists routes and islands as static imports", async () => {
  const source = manifestSource(
    ["routes/index.tsx", "routes/r/[id].tsx"],
    ["Counter"],
  );
  assert.ok(source.includes('import * as $r1 from "./routes/r/[id].tsx";'));
  assert.ok(source.includes('import $i0 from "./islands/Counter.tsx";'));
  assert.ok(source.includes('  "routes/r/[id].tsx": $r1,'));
  assert.ok(source.includes('  "Counter": $i0,'));
  // The fixture's committed beam.gen.ts is what a build writes.
  assert.equal(
    await Deno.readTextFile(`${FIXTURE}/beam.gen.ts`),
    manifestSource(["routes/index.tsx", "routes/plain.tsx"], ["Counter"]),
  );
});

Deno.test("buildIslands() builds into another folder with hashed, minified files", async () => {
  await withOutDir(async (outDir) => {
    const assets = await buildIslands({ root: FIXTURE, outDir });
    assert.match(assets.boot, /^\/_beam\/boot-[A-Z0-9]{8}\.js$/);
    assert.deepEqual(Object.keys(assets.islands), ["Counter"]);
    assert.match(assets.islands.Counter, /^\/_beam\/Counter-[A-Z0-9]{8}\.js$/);
    // The written manifest is the returned one.
    assert.deepEqual(await readAssets(outDir), assets);

    const written = [...Deno.readDirSync(`${outDir}/_beam`)].map((e) => e.name);
    // Each file has its brotli and gzip copies beside it.
    const names = written.filter((name) => name.endsWith(".js"));
    assert.deepEqual(
      written.sort(),
      names.flatMap((name) => [name, `${name}.br`, `${name}.gz`]).sort(),
    );
    for (const [url, chunks] of Object.entries(assets.imports)) {
      for (const chunk of chunks) {
        assert.ok(chunk in assets.imports, `${chunk} is listed`);
        assert.match(chunk, /^\/_beam\/chunk-[A-Z0-9]{8}\.js$/);
      }
      assert.ok(names.includes(url.slice("/_beam/".length)), `${url} exists`);
    }
    assert.equal(names.length, Object.keys(assets.imports).length);

    // The service worker: one classic script at the root of the site.
    const worker = await Deno.readTextFile(`${outDir}/static/sw.js`);
    assert.doesNotMatch(worker, /^\s*(import|export)\b/m, "not a module");
    assert.doesNotMatch(worker, /\n {2}/, "minified");
    assert.ok(worker.includes('"beam-download"'), "it knows the protocol");
    assert.deepEqual(
      [...Deno.readDirSync(`${outDir}/static`)].map((e) => e.name).sort(),
      ["sw.js", "sw.js.br", "sw.js.gz"],
    );
    assert.ok(names.every((name) => name.endsWith(".js")), "no source maps");

    for (const url of [assets.boot, assets.islands.Counter]) {
      const code = await Deno.readTextFile(`${outDir}${url}`);
      assert.ok(code.length > 0);
      assert.doesNotMatch(code, /\n {2}/, `${url} is minified`);
      assert.doesNotMatch(code, /\/\*\*|\bfunction Counter\b/);
    }
    const boot = await Deno.readTextFile(`${outDir}${assets.boot}`);
    assert.ok(boot.includes("__beam_islands"), "boot reads the data block");
    // Nothing was written into the fixture's own build folder.
    await assert.rejects(Deno.stat(`${FIXTURE}/_build`), Deno.errors.NotFound);
  });
});

Deno.test("buildIslands() gives the same names to the same sources", async () => {
  await withOutDir(async (outDir) => {
    const first = await buildIslands({ root: FIXTURE, outDir });
    await Deno.writeTextFile(`${outDir}/_beam/stale-OLD.js`, "old");
    const second = await buildIslands({ root: FIXTURE, outDir });
    assert.deepEqual(second, first);
    await assert.rejects(
      Deno.stat(`${outDir}/_beam/stale-OLD.js`),
      Deno.errors.NotFound,
      "a rebuild clears the old files",
    );
  });
});

Deno.test("buildIslands() that fails leaves no manifest behind", async () => {
  await withOutDir(async (outDir) => {
    await buildIslands({ root: FIXTURE, outDir });
    const broken = await Deno.makeTempDir({ prefix: "beam-broken-" });
    try {
      await Deno.mkdir(`${broken}/islands`);
      await Deno.mkdir(`${broken}/routes`);
      await Deno.writeTextFile(
        `${broken}/islands/Broken.tsx`,
        'import "./missing.ts";\nexport default function Broken() {}\n',
      );
      await assert.rejects(
        buildIslands({ root: broken, outDir }),
        /Could not resolve "\.\/missing\.ts"/,
      );
      assert.equal(await readAssets(outDir), null);
    } finally {
      await Deno.remove(broken, { recursive: true });
    }
  });
});

Deno.test("buildIslands() in dev mode skips minifying and links source maps", async () => {
  await withOutDir(async (outDir) => {
    const assets = await buildIslands({ root: FIXTURE, outDir, dev: true });
    const code = await Deno.readTextFile(`${outDir}${assets.islands.Counter}`);
    assert.match(code, /function Counter\(/);
    assert.match(code, /\/\/# sourceMappingURL=Counter-[A-Z0-9]{8}\.js\.map/);
    assert.ok(!Object.keys(assets.imports).some((u) => u.endsWith(".map")));
  });
});

Deno.test("writeCodings() writes brotli and gzip of each text file below a folder, named by content hash", async () => {
  const dir = await Deno.makeTempDir({ prefix: "beam-codings-" });
  try {
    await Deno.mkdir(`${dir}/static/icons`, { recursive: true });
    const css = new TextEncoder().encode("body{color:red}".repeat(50));
    const svg = new TextEncoder().encode(`<svg>${"<g/>".repeat(50)}</svg>`);
    await Deno.writeFile(`${dir}/static/styles.css`, css);
    await Deno.writeFile(`${dir}/static/icons/a.svg`, svg);
    await Deno.writeFile(`${dir}/static/icons/a.png`, new Uint8Array(64));
    await writeCodings(`${dir}/static`, `${dir}/out`);
    const names = [...Deno.readDirSync(`${dir}/out`)].map((e) => e.name);
    const expected = [];
    for (const body of [css, svg]) {
      const hash = await contentHash(body);
      expected.push(`${hash}.br`, `${hash}.gz`);
      const gz = await Deno.readFile(`${dir}/out/${hash}.gz`);
      assert.deepEqual(gunzipSync(gz), Buffer.from(body));
    }
    assert.deepEqual(names.sort(), expected.sort(), "no PNG coding");
    // A project without static/ has nothing to write, and that is no error.
    await writeCodings(`${dir}/none`, `${dir}/out2`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkRuntimeImports() accepts what the boot module exports", () => {
  checkRuntimeImports(
    "/_beam/A.js",
    'import{useSignal as c,jsx as d}from"/_beam/boot-AB12CD34.js";',
    ["jsx", "useSignal"],
  );
  // Imports from anything else are not its business.
  checkRuntimeImports("/_beam/A.js", 'import{x}from"./chunk-1.js";', []);
});

Deno.test("checkRuntimeImports() rejects a name the boot module lacks, naming it and what to do", () => {
  assert.throws(
    () =>
      checkRuntimeImports(
        "/_beam/A.js",
        'import{jsx as d,useReducer as e}from"/_beam/boot-AB12CD34.js";',
        ["jsx"],
      ),
    /Cannot build \/_beam\/A\.js: it imports useReducer from the boot module, which does not export it; add it to the exports of lib\/islands\/boot\.ts/,
  );
});

Deno.test("buildIslands() gives each island the boot module's copy of Preact", async () => {
  await withOutDir(async (outDir) => {
    const assets = await buildIslands({ root: FIXTURE, outDir });
    const island = await Deno.readTextFile(
      `${outDir}${assets.islands.Counter}`,
    );
    assert.ok(island.includes(`from"${assets.boot}"`), "imported from boot");
    // Preact's own code (its options object) is in the boot module only.
    const boot = await Deno.readTextFile(`${outDir}${assets.boot}`);
    assert.ok(boot.includes("__b"));
    for (const url of Object.keys(assets.imports)) {
      if (url === assets.boot) continue;
      const code = await Deno.readTextFile(`${outDir}${url}`);
      assert.doesNotMatch(code, /\.__b\b|__H/, `${url} has no Preact`);
    }
  });
});

Deno.test("buildIslands() lists only islands, not the .tsx modules they load with import()", async () => {
  const root = await Deno.makeTempDir({ prefix: "beam-lazy-" });
  try {
    await Deno.mkdir(`${root}/islands`);
    await Deno.mkdir(`${root}/routes`);
    await Deno.mkdir(`${root}/components`);
    await Deno.writeTextFile(
      `${root}/components/Note.tsx`,
      "export function Note() {\n  return <p>later</p>;\n}\n",
    );
    await Deno.writeTextFile(
      `${root}/islands/Lazy.tsx`,
      'import { useEffect } from "preact/hooks";\n' +
        "export default function Lazy() {\n" +
        '  useEffect(() => void import("../components/Note.tsx"), []);\n' +
        "  return <p>now</p>;\n}\n",
    );
    const assets = await buildIslands({ root, outDir: `${root}/_build` });
    assert.deepEqual(Object.keys(assets.islands), ["Lazy"]);
    // The lazy module was built all the same, beside the island.
    assert.ok(Object.keys(assets.imports).length >= 3);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
