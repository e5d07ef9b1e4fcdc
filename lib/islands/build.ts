/**
 * The island build: one esbuild entry for the boot module and one per file
 * in `islands/`, bundled as ES modules with shared chunks, minified, with
 * content-hashed names, plus a manifest the server reads at start. It also
 * writes `beam.gen.ts`, the static list of routes and islands that lets the
 * server start without scanning folders (and without esbuild).
 *
 * The "esbuild" import is esbuild-wasm (see deno.json): the same compiler
 * as WebAssembly, so a build needs no native binary that runs on the builder
 * (Deno Deploy's builders failed to run esbuild's). Its service, a child
 * process, starts in about 2 to 3 s where the native one took milliseconds;
 * the dev loop keeps it between builds (`keepService`).
 *
 * It also bundles Beam's download service worker
 * (`lib/transfer/sinks/service_worker.ts`) to `<outDir>/static/sw.js`,
 * served at `/sw.js` like a file of `static/`: a worker's URL must not
 * change between versions, and from the root it may take any scope.
 *
 * Every text file it writes gets a brotli (`.br`) and a gzip (`.gz`) copy
 * beside it, which the server sends to clients that accept them
 * (lib/http/static.ts): compressing at its best (brotli 11, gzip by
 * Zopfli) is done once here, not per request, and the server never writes
 * files.
 *
 * Run as `deno task build`; `--if-missing` skips the work when a build
 * exists, which is how `deno task start` builds on a fresh clone.
 *
 * @module
 */

import { relative, resolve } from "node:path";
import * as esbuild from "esbuild";
import {
  ENCODING_SUFFIX,
  isCompressible,
  precompressAtBest,
} from "../http/compress.ts";
import { contentHash, contentType } from "../http/static.ts";
import { CODINGS_DIR, type IslandAssets, readAssets } from "./render.ts";

/** Where a build reads and writes. */
export interface BuildOptions {
  /** The project folder (holds `islands/`, `routes/`). */
  root: string;
  /** Output folder; the files go to `<outDir>/_beam`. Default `<root>/_build`. */
  outDir?: string;
  /** Skip minifying (the dev loop). */
  dev?: boolean;
  /**
   * Leave esbuild's service running after the build, so that the next one
   * skips its start-up (the dev loop, which rebuilds until it is stopped).
   * By default the service stops: a script or test that builds then ends,
   * and Deno's sanitizers see no child process left behind.
   */
  keepService?: boolean;
}

/** The URL prefix of built files. */
export const BUILD_PREFIX = "/_beam";

// The boot entry lives beside this file, not in the project being built: a
// project (or a test fixture) has its own islands but shares Beam's boot.
const BOOT_ENTRY = decodeURIComponent(
  new URL("./boot.ts", import.meta.url).pathname,
);

/** Where the build puts files served at the site's root, below `outDir`. */
const ROOT_FILES_DIR = "static";

/** The service worker's source, and its file below `ROOT_FILES_DIR`. */
const WORKER_ENTRY = decodeURIComponent(
  new URL("../transfer/sinks/service_worker.ts", import.meta.url).pathname,
);
const WORKER_FILE = "sw.js";

/**
 * How the service worker is bundled: one classic script (an IIFE, as
 * `register()` loads scripts by default), for the same browsers as the
 * islands.
 */
export function workerBuildOptions(minify = true): esbuild.BuildOptions {
  return {
    entryPoints: [WORKER_ENTRY],
    bundle: true,
    format: "iife",
    platform: "browser",
    target: ["chrome110", "firefox110", "safari16"],
    minify,
    logLevel: "warning",
  };
}

/**
 * The modules the boot module gives islands (see boot.ts): Preact, its
 * hooks, its JSX runtime and signals. One copy of each must run on a page,
 * the one that hydrates, so an island's build imports them from there.
 */
export const RUNTIME_MODULES = [
  "preact",
  "preact/hooks",
  "preact/jsx-runtime",
  "@preact/signals",
];

/** Resolves {@linkcode RUNTIME_MODULES} to the built boot module's URL. */
function runtimeFrom(url: string): esbuild.Plugin {
  const filter = new RegExp(
    `^(${RUNTIME_MODULES.map((m) => m.replace(/[/.]/g, "\\$&")).join("|")})$`,
  );
  return {
    name: "beam-runtime",
    setup(build) {
      build.onResolve({ filter }, () => ({ path: url, external: true }));
    },
  };
}

/**
 * Throws when the built module `file` (`code`) imports from the boot module
 * a name it does not export (`given`): the browser would refuse the whole
 * page with a SyntaxError, found only when the page is opened.
 */
export function checkRuntimeImports(
  file: string,
  code: string,
  given: string[],
): void {
  const pattern = /import\s*\{([^}]*)\}\s*from\s*"[^"]*\/boot-[^"/]*\.js"/g;
  for (const [, names] of code.matchAll(pattern)) {
    for (const name of names.split(",")) {
      const imported = name.trim().split(/\s+as\s+/)[0];
      if (imported !== "" && !given.includes(imported)) {
        throw new Error(
          `Cannot build ${file}: it imports ${imported} from the boot module, which does not export it; add it to the exports of lib/islands/boot.ts`,
        );
      }
    }
  }
}

/** Island names: the PascalCase `.tsx` files of `islands/`. */
export async function listIslands(root: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${root}/islands`)) {
    const match = /^([A-Z][A-Za-z0-9]*)\.tsx$/.exec(entry.name);
    if (entry.isFile && match) names.push(match[1]);
  }
  return names.sort();
}

/** Route files below `routes/`, as paths relative to the project. */
export async function listRoutes(
  root: string,
  dir = "routes",
): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(`${root}/${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await listRoutes(root, path));
    else if (/\.tsx?$/.test(entry.name) && !/_test\.tsx?$/.test(entry.name)) {
      files.push(path);
    }
  }
  return files.sort();
}

/** Source of `beam.gen.ts` for these routes and islands. */
export function manifestSource(routes: string[], islands: string[]): string {
  const lines = [
    "// Written by `deno task build` (lib/islands/build.ts). Do not edit.",
    "// It lists routes and islands statically, as Fresh's fresh.gen.ts does.",
    "",
  ];
  routes.forEach((file, i) =>
    lines.push(`import * as $r${i} from "./${file}";`)
  );
  islands.forEach((name, i) =>
    lines.push(`import $i${i} from "./islands/${name}.tsx";`)
  );
  lines.push("", "export const routes = {");
  routes.forEach((file, i) => lines.push(`  "${file}": $r${i},`));
  lines.push("};", "", "export const islands = {");
  islands.forEach((name, i) => lines.push(`  "${name}": $i${i},`));
  lines.push("};", "");
  return lines.join("\n");
}

/** Builds the islands and writes the manifest; returns the assets. */
export async function buildIslands(
  options: BuildOptions,
): Promise<IslandAssets> {
  const root = options.root;
  const outDir = options.outDir ?? `${root}/_build`;
  const islands = await listIslands(root);
  const routes = await listRoutes(root);
  const genPath = `${root}/beam.gen.ts`;
  const gen = manifestSource(routes, islands);
  const old = await Deno.readTextFile(genPath).catch(() => "");
  if (old !== gen) await Deno.writeTextFile(genPath, gen);

  // The manifest goes with the files it names: after a failed build the
  // server reports a missing build instead of pointing at deleted files.
  await Deno.remove(`${outDir}/manifest.json`).catch(() => {});
  for (const dir of [BUILD_PREFIX, `/${ROOT_FILES_DIR}`, `/${CODINGS_DIR}`]) {
    await Deno.remove(`${outDir}${dir}`, { recursive: true }).catch(() => {});
  }
  const shared = {
    absWorkingDir: root,
    outdir: `${outDir}${BUILD_PREFIX}`,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["chrome110", "firefox110", "safari16"],
    minify: !options.dev,
    sourcemap: options.dev ? "linked" : false,
    jsx: "automatic",
    jsxImportSource: "preact",
    entryNames: "[name]-[hash]",
    chunkNames: "chunk-[hash]",
    metafile: true,
    logLevel: "warning",
  } satisfies esbuild.BuildOptions;
  try {
    // The boot module first: it is also the islands' runtime (Preact, its
    // hooks and signals, see boot.ts), whose URL their builds import.
    const booted = await esbuild.build({
      ...shared,
      entryPoints: { boot: BOOT_ENTRY },
    });
    const outBase = resolve(root, `${outDir}${BUILD_PREFIX}`);
    const toUrl = (file: string) =>
      `${BUILD_PREFIX}/${relative(outBase, resolve(root, file))}`;
    const bootFile = Object.keys(booted.metafile.outputs)
      .find((file) => file.endsWith(".js"))!;
    // One build per island, each splitting only for its own `import()`s.
    // Built together, every module two islands (or an island and another's
    // lazy code) share went into a chunk of its own, and a page fetched a
    // dozen small files that compress worse than one (issue #14); apart,
    // a page loads the boot module, its island and the few chunks the
    // island shares with the code it loads later.
    const built = await Promise.all(islands.map((name) =>
      esbuild.build({
        ...shared,
        entryPoints: { [name]: `${root}/islands/${name}.tsx` },
        splitting: true,
        plugins: [runtimeFrom(toUrl(bootFile))],
      })
    ));
    await esbuild.build({
      ...workerBuildOptions(!options.dev),
      absWorkingDir: root,
      outfile: `${outDir}/${ROOT_FILES_DIR}/${WORKER_FILE}`,
    });
    const given = booted.metafile.outputs[bootFile].exports;
    for (const result of built) {
      for (const file of Object.keys(result.metafile.outputs)) {
        if (file.endsWith(".js")) {
          const code = await Deno.readTextFile(resolve(root, file));
          checkRuntimeImports(toUrl(file), code, given);
        }
      }
    }
    const assets: IslandAssets = {
      boot: toUrl(bootFile),
      islands: {},
      imports: {},
    };
    // The metafile names outputs relative to the root, which the output
    // folder need not be inside (a test builds into a temporary folder).
    for (const [index, result] of [booted, ...built].entries()) {
      // The island this build is for (none for the boot module's); its
      // other entries are the modules it loads with `import()`.
      const island = islands[index - 1];
      for (const [file, output] of Object.entries(result.metafile.outputs)) {
        if (!file.endsWith(".js")) continue;
        const url = toUrl(file);
        // Not the runtime: every page with an island loads it already.
        assets.imports[url] = output.imports
          .filter((i) => i.kind === "import-statement" && !i.external)
          .map((i) => toUrl(i.path));
        if (output.entryPoint === `islands/${island}.tsx`) {
          assets.islands[island] = url;
        }
      }
    }
    // Not in the dev loop: it rebuilds on every save, and the server
    // compresses what it finds without copies in memory instead.
    if (!options.dev) {
      for (const dir of [BUILD_PREFIX, `/${ROOT_FILES_DIR}`]) {
        await writeCompressed(`${outDir}${dir}`);
      }
      await writeCodings(`${root}/static`, `${outDir}/${CODINGS_DIR}`);
    }
    await Deno.writeTextFile(
      `${outDir}/manifest.json`,
      JSON.stringify(assets, null, 2) + "\n",
    );
    return assets;
  } finally {
    if (!options.keepService) await esbuild.stop();
  }
}

/**
 * Writes `name.br` and `name.gz` beside each text file of `dir` (not into
 * its subfolders: the build writes none).
 */
export async function writeCompressed(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !isCompressible(contentType(entry.name))) continue;
    const path = `${dir}/${entry.name}`;
    const coded = await precompressAtBest(await Deno.readFile(path));
    for (const coding of ["br", "gzip"] as const) {
      await Deno.writeFile(`${path}${ENCODING_SUFFIX[coding]}`, coded[coding]);
    }
  }
}

/**
 * Writes the brotli and gzip codings of each text file below `dir`, at any
 * depth, into `outDir`, named by the file's content hash: brotli at its best
 * takes about 100 ms for styles.css, which a cold start should not pay.
 */
export async function writeCodings(dir: string, outDir: string): Promise<void> {
  await Deno.mkdir(outDir, { recursive: true });
  const walk = async (at: string): Promise<void> => {
    for await (const entry of Deno.readDir(at)) {
      const path = `${at}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      if (!entry.isFile || !isCompressible(contentType(entry.name))) continue;
      const body = await Deno.readFile(path);
      const hash = await contentHash(body);
      const coded = await precompressAtBest(body);
      for (const coding of ["br", "gzip"] as const) {
        await Deno.writeFile(
          `${outDir}/${hash}${ENCODING_SUFFIX[coding]}`,
          coded[coding],
        );
      }
    }
  };
  // A project without `static/` (a test fixture) has nothing to code.
  if (await Deno.stat(dir).then((s) => s.isDirectory, () => false)) {
    await walk(dir);
  }
}

if (import.meta.main) {
  const root = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
  // A build from before the worker was built has no sw.js: build again.
  const worker = `${root}/_build/${ROOT_FILES_DIR}/${WORKER_FILE}`;
  if (
    Deno.args.includes("--if-missing") && await readAssets(`${root}/_build`) &&
    await Deno.stat(worker).then(() => true, () => false)
  ) {
    Deno.exit(0);
  }
  const started = performance.now();
  const assets = await buildIslands({ root, dev: Deno.args.includes("--dev") });
  console.log(
    `Built ${Object.keys(assets.islands).length} islands in ${
      Math.round(performance.now() - started)
    } ms`,
  );
}
