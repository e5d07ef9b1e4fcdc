/**
 * `deno task bench:transfer`: how fast the app moves a large file between
 * two Chromium pages, against the raw RTCDataChannel ceiling measured in the
 * same browser in the same run, and how much the receiving page's memory
 * grows meanwhile.
 *
 * One server (the real app, in-process, 127.0.0.1), one headless Chromium
 * with a persistent profile on disk (so the OPFS file the receive page saves
 * is on disk, not in RAM). First the raw chunk sizes are compared on a
 * smaller transfer and the best kept; then, for each round, one app transfer
 * and one raw transfer of `--size` bytes, in alternating order (with
 * `--base=REF`, also one through the app as it was at commit REF, served by
 * that commit's own tree on a second port: `transfer_base.ts`). Prints one
 * JSON line per transfer and a summary line, writes them to
 * bench/results/transfer-<date>.jsonl, and prints the results as Markdown
 * for pasting into bench/README.md's Transfer section with the command.
 * See bench/README.md ("Transfer") for the method and the flags.
 *
 * @module
 */

import { resultsPath, writeJsonLines } from "./stats.ts";
import { startServer } from "../tests/_helpers/server.ts";
import { launchBrowser } from "../tests/_helpers/browser.ts";
import { ensureSource, runApp, type Source } from "./transfer_app.ts";
import { type BaseServer, startBaseServer } from "./transfer_base.ts";
import {
  connectRawPair,
  pushRaw,
  routeRawPage,
  withTimeout,
} from "./transfer_raw.ts";
import {
  cpuWindow,
  rendererOfPage,
  type RssFigures,
  watchRss,
} from "./transfer_procs.ts";
import {
  BASE_NAME,
  compareBase,
  groups,
  median,
  perMB,
  resultsMarkdown,
  round as roundTo,
  type RunRecord,
  type Summary,
} from "./transfer_stats.ts";
import { readFlags } from "./flags.ts";
import { argWithoutMachinePath, withoutMachinePath } from "./servers.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const WORK_DIR = `${Deno.env.get("TMPDIR") ?? "/tmp"}/beam-bench/transfer`;
const KiB = 1024;
const MiB = 1024 * KiB;

/** Command-line settings. */
export interface Flags {
  size: number;
  rounds: number;
  rawChunks: number[];
  pickSize: number;
  pickRounds: number;
  timeoutMs: number;
  budgetMs: number;
  verifyOnDisk: boolean;
  profile: boolean;
  quick: boolean;
  out: string | null;
  /** `beam:lanes` settings to measure the app with ("default": unset). */
  appLanes: string[];
  /** A commit to measure the app at too, as the row `app-base`; or null. */
  base: string | null;
}

const HELP = `Usage: deno task bench:transfer [flags]
  --size=1GiB          bytes per app and raw transfer (suffixes KiB, MiB, GiB)
  --rounds=3           rounds of one app and one raw transfer, alternating
  --raw-chunks=64KiB,256KiB  raw chunk sizes to compare (the best is kept)
  --pick-size=128MiB   bytes per transfer of that comparison
  --pick-rounds=2      rounds of that comparison
  --timeout=180        seconds one transfer may take
  --budget=570         seconds for the whole run: no new transfer starts
                       that would not fit (the summary says so)
  --no-verify          do not read the saved file back from the profile
  --quick              --size=256MiB --rounds=1 --pick-rounds=1 (its results
                       file ends in -quick and is git-ignored)
  --profile            CPU-profile the pages of one app run, apart from the
                       rounds
  --out=PATH           JSON lines file (default bench/results/transfer-<date>.jsonl)
  --app-lanes=default  the app's beam:lanes settings to measure, each as its
                       own row in each round ("default": unset, named app;
                       e.g. default,1 adds app-lanes-1, one connection)
  --base=REF           the app as it was at git commit REF too, as the row
                       app-base in each round (its tree extracted and built
                       once in $TMPDIR/beam-bench/src-<commit>, served by its
                       own main.ts on another port); the summary gives
                       app / app-base for MB/s and CPU per MB`;

/** Parses `1GiB`, `256MiB`, `64KiB` or plain bytes. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text.trim());
  if (!m) throw new TypeError(`Cannot parse "${text}": not a byte count`);
  const unit = (m[2] ?? "B").toLowerCase();
  const scale = { b: 1, kib: KiB, mib: MiB, gib: 1024 * MiB }[unit]!;
  return Math.round(Number(m[1]) * scale);
}

/** `65536` as `64KiB`. */
export function formatSize(bytes: number): string {
  if (bytes % (1024 * MiB) === 0) return `${bytes / (1024 * MiB)}GiB`;
  if (bytes % MiB === 0) return `${bytes / MiB}MiB`;
  if (bytes % KiB === 0) return `${bytes / KiB}KiB`;
  return `${bytes}B`;
}

/** Parses the command line. */
export function parseFlags(args: string[]): Flags {
  const map = readFlags(args, HELP);
  const quick = map.has("quick");
  const int = (key: string, fallback: number) => {
    const value = Number(map.get(key) ?? fallback);
    if (!Number.isInteger(value) || value < 0) {
      throw new RangeError(`Cannot use --${key}: not a whole number`);
    }
    return value;
  };
  return {
    size: parseBytes(map.get("size") ?? (quick ? "256MiB" : "1GiB")),
    rounds: int("rounds", quick ? 1 : 3),
    rawChunks: (map.get("raw-chunks") ?? "64KiB,256KiB").split(",").map(
      parseBytes,
    ),
    pickSize: parseBytes(map.get("pick-size") ?? "128MiB"),
    pickRounds: int("pick-rounds", quick ? 1 : 2),
    timeoutMs: int("timeout", 180) * 1000,
    budgetMs: int("budget", 570) * 1000,
    verifyOnDisk: !map.has("no-verify"),
    profile: map.has("profile"),
    quick,
    out: map.get("out") ?? null,
    appLanes: (map.get("app-lanes") ?? "default").split(","),
    base: baseRef(map.get("base")),
  };
}

/** `--base`'s value: a git revision, or null when not given. */
function baseRef(value: string | undefined): string | null {
  if (value === undefined) return null;
  // `--base` alone, or a value git would read as an option.
  if (value === "" || value === "true" || value.startsWith("-")) {
    throw new TypeError(
      "Cannot use --base: it needs a git commit, like --base=HEAD~1",
    );
  }
  return value;
}

/** The raw sender's settings for a chunk size: the app's ratios (16x, 4x). */
function rawSettings(chunkSize: number) {
  return {
    chunkSize,
    highWaterMark: 16 * chunkSize,
    lowWaterMark: 4 * chunkSize,
  };
}

/** Where and on what the run happened. */
export async function machineInfo(): Promise<Record<string, string>> {
  const cpu = /model name\s*:\s*(.*)/.exec(
    await Deno.readTextFile("/proc/cpuinfo"),
  )?.[1] ?? "unknown CPU";
  const mem = /MemTotal:\s+(\d+) kB/.exec(
    await Deno.readTextFile("/proc/meminfo"),
  )?.[1];
  const text = async (cmd: string, args: string[]) => {
    try {
      const out = await new Deno.Command(cmd, {
        args,
        cwd: ROOT,
        stdout: "piped",
        stderr: "null",
      }).output();
      return new TextDecoder().decode(out.stdout).trim();
    } catch {
      return "";
    }
  };
  const dirty = await text("git", [
    "status",
    "--porcelain",
    "--",
    "lib",
    "islands",
    "routes",
    "components",
    "static",
  ]);
  return {
    cpu: `${navigator.hardwareConcurrency} x ${cpu}`,
    memory: mem ? `${Math.round(Number(mem) / 1024 / 1024)} GiB` : "unknown",
    kernel: (await text("uname", ["-r"])) || "unknown",
    chromium: (await text("/usr/bin/chromium", ["--version"])).split("\n")
      .at(-1) ?? "",
    deno: Deno.version.deno,
    commit: (await text("git", ["rev-parse", "--short", "HEAD"])) +
      (dirty ? " (app files modified in the work tree)" : ""),
  };
}

/** Builds the islands if there is no build yet. */
async function ensureBuild(): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/islands/build.ts", "--if-missing"],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) {
    throw new Error("Cannot build the islands: lib/islands/build.ts failed");
  }
}

function emit(record: unknown): void {
  console.log(JSON.stringify(record));
}

function note(text: string): void {
  console.error(`bench:transfer: ${text}`);
}

/** Runs the benchmark. */
export async function main(args: string[]): Promise<void> {
  const flags = parseFlags(args);
  const started = Date.now();
  const deadline = started + flags.budgetMs;
  const date = new Date().toISOString();
  const machine = await machineInfo();
  const command = [
    "deno task bench:transfer",
    ...args.map(argWithoutMachinePath),
  ]
    .join(" ");
  await ensureBuild();
  const sizes = [
    flags.size,
    ...(flags.rawChunks.length > 1 ? [flags.pickSize] : []),
  ];
  const sources = new Map<number, Source>();
  for (const size of new Set(sizes)) {
    note(`source file of ${formatSize(size)} in ${WORK_DIR}`);
    sources.set(size, await ensureSource(WORK_DIR, size));
  }

  // Before anything runs: the first time, extracting and building the base
  // takes a minute or two.
  let base: BaseServer | null = null;
  if (flags.base !== null) {
    note(`the app at ${flags.base}: extracting, building and starting it`);
    base = await startBaseServer(flags.base);
    note(
      `the app at ${flags.base} (${base.commit.slice(0, 7)}) at ${base.url}`,
    );
  }
  // Whatever started is stopped if the rest of the setup fails.
  const undo: (() => Promise<void>)[] = [];
  if (base) undo.push(base.stop);
  const setup = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      for (const stop of undo.reverse()) await stop().catch(() => {});
      throw error;
    }
  };
  const server = await setup(startServer);
  undo.push(server.close);
  const browser = await setup(() => launchBrowser({ origin: server.url }));
  undo.push(browser.close);
  // The base's pages need loopback candidates too (one profile, both
  // origins).
  if (base) {
    await setup(() =>
      browser.context.grantPermissions(["microphone"], { origin: base.url })
    );
  }
  const records: RunRecord[] = [];
  let truncated = false;
  const context = browser.context;
  const left = () => deadline - Date.now();
  /** Whether a transfer expected to take `ms` still fits the budget. */
  const fits = (ms: number) => {
    if (ms < left()) return true;
    truncated = true;
    return false;
  };
  const expected = (name: string, bytes: number) => {
    const done = records.filter((r) => r.name === name);
    if (done.length === 0) return 0;
    const mbps = median(done.map((r) => r.mbps));
    return (bytes / 1e6 / mbps) * 1000 * 1.3 + 5_000;
  };

  const raw = async (round: number, chunkSize: number, source: Source) => {
    const settings = rawSettings(chunkSize);
    let rssDone: Promise<RssFigures> | undefined;
    const pair = await connectRawPair(context, server.url);
    try {
      const senderPid = await rendererOfPage(browser.dir, pair.sender);
      const receiverPid = await rendererOfPage(browser.dir, pair.receiver);
      const cpu = cpuWindow(browser.dir, senderPid, receiverPid);
      const watch = watchRss(receiverPid);
      const times = await pushRaw(pair, {
        total: source.size,
        ...settings,
        timeoutMs: Math.min(flags.timeoutMs, left()),
      }).finally(() => rssDone = watch.stop());
      const { cpuMs, otherCores, threads } = cpu.stop();
      const rss = await rssDone!;
      const seconds = (times.end - times.sendStart) / 1000;
      const record: RunRecord = {
        kind: "run",
        mode: "raw",
        name: `raw-${formatSize(chunkSize)}`,
        round,
        bytes: source.size,
        seconds: round3(seconds),
        span: "first send() to the last byte counted by the receiver",
        mbps: roundTo(source.size / 1e6 / seconds, 1),
        ...settings,
        cpuMs,
        cpuMsPerMB: perMB(cpuMs, source.size),
        otherCores: roundTo(otherCores, 2),
        threads,
        rss: { ...rss, after: NaN },
      };
      records.push(record);
      emit(record);
    } finally {
      await pair.close();
    }
  };

  const app = async (
    round: number,
    source: Source,
    profile = false,
    lanes = "default",
    atBase = false,
  ) => {
    const result = await runApp({
      profile,
      lanes: lanes === "default" ? undefined : lanes,
      context,
      profileDir: browser.dir,
      origin: atBase ? base!.url : server.url,
      source,
      timeoutMs: Math.min(flags.timeoutMs, left()),
      verifyOnDisk: flags.verifyOnDisk,
    });
    const seconds = (result.phases.done - result.phases.receiving) / 1000;
    const record: RunRecord & { profile?: unknown } = {
      kind: "run",
      mode: "app",
      name: profile ? "app-profiled" : atBase ? BASE_NAME : appName(lanes),
      round,
      bytes: source.size,
      seconds: round3(seconds),
      span:
        "data channel open (phase-receiving) to saved and verified (phase-done)",
      mbps: roundTo(source.size / 1e6 / seconds, 1),
      clickToDoneSeconds: round3((result.phases.done - result.click) / 1000),
      connections: result.connections.max,
      cpuMs: result.cpuMs,
      cpuMsPerMB: perMB(result.cpuMs, source.size),
      otherCores: roundTo(result.otherCores, 2),
      threads: result.threads,
      heap: result.heap,
      rss: result.rss,
      senderRss: result.senderRss,
      savedSha256Matches: result.savedSha256 === null
        ? null
        : result.savedSha256 === source.sha256,
      status: result.status,
    };
    if (result.profile) record.profile = result.profile;
    records.push(record);
    emit(record);
    if (record.savedSha256Matches === false) {
      throw new Error(
        "Cannot trust the app run: the saved file's SHA-256 differs from the source's",
      );
    }
  };

  let rawChunk = flags.rawChunks[0];
  try {
    await routeRawPage(context);
    // Which raw chunk size is the ceiling: compare them on a smaller
    // transfer, alternating, and keep the best median.
    if (flags.rawChunks.length > 1) {
      const source = sources.get(flags.pickSize)!;
      for (let round = 1; round <= flags.pickRounds; round++) {
        for (const chunk of rotate(flags.rawChunks, round - 1)) {
          if (!fits(expected(`raw-${formatSize(chunk)}`, source.size))) {
            break;
          }
          await raw(0, chunk, source);
        }
      }
      const pick = groups(records.filter((r) => r.round === 0));
      pick.sort((a, b) => b.medianMbps - a.medianMbps);
      rawChunk = flags.rawChunks.find((c) =>
        `raw-${formatSize(c)}` === pick[0]?.name
      ) ?? rawChunk;
      note(`raw chunk size kept: ${formatSize(rawChunk)}`);
    }
    const source = sources.get(flags.size)!;
    // Apart from the rounds: the profiler slows the pages down.
    if (flags.profile) await app(0, source, true);
    for (let round = 1; round <= flags.rounds; round++) {
      const modes: Mode[] = [
        ...flags.appLanes.map((lanes): Mode => ({ kind: "app", lanes })),
        ...(base ? [{ kind: "base" } as const] : []),
        { kind: "raw" },
      ];
      for (const mode of rotate(modes, round - 1)) {
        const name = mode.kind === "raw"
          ? `raw-${formatSize(rawChunk)}`
          : mode.kind === "base"
          ? BASE_NAME
          : appName(mode.lanes);
        if (!fits(expected(name, source.size))) break;
        if (mode.kind === "raw") await raw(round, rawChunk, source);
        else if (mode.kind === "base") {
          await app(round, source, false, "default", true);
        } else await app(round, source, false, mode.lanes);
      }
    }
  } finally {
    await withTimeout(browser.close(), 30_000, "closing the browser").catch(
      (error) => note(String(error)),
    );
    await server.close();
    await base?.stop();
  }

  const baseSource = base &&
    { ref: base.ref, commit: base.commit.slice(0, 7) };
  const summary = summarize(records, {
    date,
    command,
    machine,
    // The results name no path of this machine: they are committed.
    flags: { ...flags, out: flags.out && withoutMachinePath(flags.out) },
    rawChunk,
    truncated,
    elapsedSeconds: roundTo((Date.now() - started) / 1000, 0),
  }, baseSource);
  emit(summary);

  const out = flags.out ??
    resultsPath(ROOT, "transfer", date, flags.quick);
  await writeJsonLines(out, [...records, summary]);
  note(`wrote ${out}`);

  note("the results for bench/README.md, with the command:\n");
  console.log(await formatMarkdown(resultsMarkdown(summary)));
}

/** `markdown` as `deno fmt` writes it (so `deno fmt --check` stays clean). */
async function formatMarkdown(markdown: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(markdown));
  await writer.close();
  const out = await child.output();
  return out.success ? new TextDecoder().decode(out.stdout) : markdown;
}

/** What one transfer of a round runs through. */
type Mode =
  | { kind: "app"; lanes: string }
  | { kind: "base" }
  | { kind: "raw" };

/** The row of the app with `beam:lanes` at `lanes`. */
function appName(lanes: string): string {
  return lanes === "default" ? "app" : `app-lanes-${lanes}`;
}

function round3(value: number): number {
  return roundTo(value, 3);
}

function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** The summary line: medians, the ratio, memory. */
export function summarize(
  records: RunRecord[],
  info: Omit<
    Summary,
    | "kind"
    | "groups"
    | "app"
    | "raw"
    | "ratio"
    | "cpuRatio"
    | "base"
    | "memory"
  >,
  baseSource: { ref: string; commit: string } | null = null,
): Summary {
  const measured = records.filter((r) => r.round > 0);
  const all = groups(measured);
  // The app as it comes (other `beam:lanes` settings are rows of their own).
  const plain = measured.filter((r) => r.name === "app");
  const appRuns = plain.length > 0
    ? plain
    : measured.filter((r) => r.mode === "app" && r.name !== BASE_NAME);
  const rawName = `raw-${formatSize(info.rawChunk)}`;
  const rawRuns = measured.filter((r) => r.name === rawName);
  const appMbps = median(appRuns.map((r) => r.mbps));
  const rawMbps = median(rawRuns.map((r) => r.mbps));
  const growth = (pick: (r: RunRecord) => RunRecord["rss"]) =>
    appRuns.map((r) => pick(r)!).filter(Boolean).map((m) =>
      (m.peak - m.baseline) / 1e6
    );
  const heap = growth((r) => r.heap);
  const rss = growth((r) => r.rss);
  const senderRss = growth((r) => r.senderRss);
  const rawRss = rawRuns.filter((r) => r.rss).map((r) =>
    (r.rss!.peak - r.rss!.baseline) / 1e6
  );
  return {
    kind: "summary",
    ...info,
    // Round 0: the chunk-size comparison (or the profiled run), apart.
    groups: [
      ...groups(records.filter((r) => r.round === 0)).map((g) => ({
        ...g,
        name: `${g.name} (round 0, ${
          formatSize(records.find((r) => r.round === 0)!.bytes)
        })`,
      })),
      ...all,
    ],
    app: {
      runs: appRuns.length,
      medianMbps: roundTo(appMbps, 1),
      medianClickToDoneSeconds: roundTo(
        median(appRuns.map((r) => r.clickToDoneSeconds!)),
        2,
      ),
      allVerified: appRuns.every((r) => r.savedSha256Matches !== false),
    },
    raw: {
      name: rawName,
      runs: rawRuns.length,
      medianMbps: roundTo(rawMbps, 1),
    },
    ratio: roundTo(appMbps / rawMbps, 2),
    cpuRatio: roundTo(
      median(rawRuns.map((r) => r.cpuMsPerMB.total)) /
        median(appRuns.map((r) => r.cpuMsPerMB.total)),
      2,
    ),
    base: baseSource && compareBase(records, baseSource),
    memory: {
      heapGrowthMB: {
        median: roundTo(median(heap), 1),
        max: roundTo(Math.max(...heap), 1),
      },
      rssGrowthMB: {
        median: roundTo(median(rss), 1),
        max: roundTo(Math.max(...rss), 1),
      },
      senderRssGrowthMB: {
        median: roundTo(median(senderRss), 1),
        max: roundTo(Math.max(...senderRss), 1),
      },
      rawReceiverRssGrowthMB: {
        median: roundTo(median(rawRss), 1),
        max: roundTo(Math.max(...rawRss), 1),
      },
    },
  };
}

if (import.meta.main) {
  await main(Deno.args);
}
