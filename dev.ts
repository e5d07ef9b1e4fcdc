/**
 * `deno task dev`: builds the islands, serves the app with `BEAM_DEV=1`
 * (live reload, no caching of the build), rebuilds the islands when their
 * sources change, and restarts the server when its code or static files do.
 * The pages reload themselves after either.
 *
 * @module
 */

import { buildIslands } from "./lib/islands/build.ts";

const root = new URL(".", import.meta.url).pathname.replace(/\/$/, "");

async function build(): Promise<void> {
  const started = performance.now();
  try {
    const assets = await buildIslands({ root, dev: true, keepService: true });
    console.log(
      `dev: built ${Object.keys(assets.islands).length} islands in ${
        Math.round(performance.now() - started)
      } ms`,
    );
  } catch (error) {
    // Keep serving the last good build; the message says what to fix.
    console.error(`dev: island build failed: ${(error as Error).message}`);
  }
}

await build();

const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--watch=static/,routes/,lib/,components/",
    "main.ts",
  ],
  cwd: root,
  env: { BEAM_DEV: "1" },
  stdin: "null",
}).spawn();

let timer: ReturnType<typeof setTimeout> | undefined;
const watcher = Deno.watchFs(
  ["islands", "components", "lib"].map((dir) => `${root}/${dir}`),
);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    watcher.close();
    server.kill("SIGTERM");
    Deno.exit(0);
  });
}
for await (const event of watcher) {
  if (!event.paths.some((path) => /\.(tsx?|css)$/.test(path))) continue;
  clearTimeout(timer);
  // Editors write in bursts: build once they settle.
  timer = setTimeout(build, 150);
}
