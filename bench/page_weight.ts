/**
 * What each page's HTML makes the browser fetch in JavaScript, at any
 * revision: the revision is checked out in a temporary worktree and built
 * with its own `lib/islands/build.ts`, then, per island, the boot script,
 * the island and every chunk they import statically (from the build's
 * manifest.json) are summed raw, gzip -9 and brotli 11. Code loaded later
 * with `import()` is not counted: that is what the page needs before it can
 * be used. `tests/page_weight_test.ts` measures the same in Chromium, from
 * the bytes that crossed the wire.
 *
 *   deno run -A bench/page_weight.ts --rev=d4ff649
 *
 * @module
 */

import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { readFlags } from "./flags.ts";

const HELP = `deno run -A bench/page_weight.ts [--rev=REV]
  --rev=REV  the git revision to build and weigh (default HEAD)`;

interface BuildManifest {
  boot: string;
  islands: Record<string, string>;
  imports: Record<string, string[]>;
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const { code, stderr } = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `Cannot run ${cmd} ${args.join(" ")}: exit ${code}\n${
        new TextDecoder().decode(stderr)
      }`,
    );
  }
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

const flags = readFlags(Deno.args, HELP);
const rev = flags.get("rev") ?? "HEAD";
const repo = new URL("..", import.meta.url).pathname;
const tree = await Deno.makeTempDir({ prefix: "beam-weight-" });
await Deno.remove(tree);
await run("git", ["worktree", "add", "--detach", tree, rev], repo);
try {
  await run(Deno.execPath(), ["install"], tree);
  await run(Deno.execPath(), ["run", "-A", "lib/islands/build.ts"], tree);
  const manifest: BuildManifest = JSON.parse(
    await Deno.readTextFile(`${tree}/_build/manifest.json`),
  );
  console.log(`revision ${rev}: JavaScript a page's HTML loads`);
  console.log("| page | files | raw | gzip -9 | brotli 11 |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const [island, entry] of Object.entries(manifest.islands)) {
    const seen = new Set<string>();
    const stack = [manifest.boot, entry];
    while (stack.length > 0) {
      const url = stack.pop()!;
      if (seen.has(url)) continue;
      seen.add(url);
      stack.push(...(manifest.imports[url] ?? []));
    }
    let raw = 0, gzip = 0, brotli = 0;
    for (const url of seen) {
      const bytes = await Deno.readFile(`${tree}/_build${url}`);
      raw += bytes.length;
      gzip += gzipSync(bytes, { level: 9 }).length;
      brotli += brotliCompressSync(bytes, {
        params: { [constants.BROTLI_PARAM_QUALITY]: 11 },
      }).length;
    }
    console.log(
      `| ${island} | ${seen.size} | ${kb(raw)} | ${kb(gzip)} | ${kb(brotli)} |`,
    );
  }
} finally {
  await run("git", ["worktree", "remove", "--force", tree], repo);
}
