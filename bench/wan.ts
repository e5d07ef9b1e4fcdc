/**
 * `deno task bench:wan`: file transfer speed over an emulated wide-area
 * link. Two network namespaces joined by the userspace relay of
 * bench/wan/relay.c (rate limit with a paced drop-tail queue, fixed delay,
 * random loss: bench/wan_net.ts); Beam's server (`main.ts` of this tree, run
 * as the start task runs it) and one headless Chromium in namespace A, one
 * headless Chromium in namespace B. Per condition, in alternating order:
 * the app (send page in A, receive page in B, saved through the OPFS
 * save-picker stub), and the raw ceilings: N parallel peer connections, one
 * data channel each, carrying disjoint parts (N = 1, 2, 4, 8).
 *
 * Before the transfers of each condition, the link is checked with plain
 * TCP (bench/wan_probe.ts): round-trip times and a bulk transfer, with the
 * relay's counters. One JSON line per measurement on stdout and in
 * bench/results/wan-<date>.jsonl; Markdown tables at the end. See
 * bench/README.md ("WAN benchmark").
 *
 * @module
 */

import { resultsPath, writeJsonLines } from "./stats.ts";
import { chromium } from "playwright-core";
import type { BrowserContext } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../tests/_helpers/browser.ts";
import { ensureSource, runApp, type Source } from "./transfer_app.ts";
import { withTimeout } from "./transfer_raw.ts";
import { chromiumProcesses } from "./transfer_procs.ts";
import { formatSize, machineInfo, parseBytes } from "./transfer_bench.ts";
import { readFlags } from "./flags.ts";
import {
  argWithoutMachinePath,
  machineBusyMs,
  startTask,
  withoutMachinePath,
} from "./servers.ts";
import { median, round as roundTo } from "./transfer_stats.ts";
import { openWan, sh, splitLines, type Wan, WAN_DIR } from "./wan_net.ts";
import { routeWanRawPage, runWanRaw } from "./wan_raw.ts";
import {
  type Condition,
  DEFAULT_CONDITIONS,
  difference,
  linkMBps,
  type LossDirs,
  parseCondition,
  wanMarkdown,
  type WanRecord,
} from "./wan_stats.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");
const KiB = 1024;
const MiB = 1024 * KiB;

const HELP =
  `Usage: deno task bench:wan [flags]   (as root: it makes network namespaces)
  --conditions=80ms-100M,80ms-100M-0.5%,200ms-50M
                       links to measure: <rtt>ms-<rate>M[-<loss>%], or nodelay
  --baseline           add nodelay (no delay, no rate limit) first
  --size=128MiB        bytes per transfer
  --lossy-size=16MiB   bytes per transfer on a link with loss (one loss-
                       limited window moves ~0.25 MB/s at 0.5 %)
  --rounds=2           rounds per condition (each: every row once, rotated)
  --lanes=1,2,4,8      raw rows: parallel peer connections
  --app-lanes=LIST     app rows, each with localStorage beam:lanes=N on both
                       pages (e.g. 1,8); without it one row "app", no setting
  --no-app             raw rows only
  --raw-chunk=256KiB   raw bytes per send() (the app's CHUNK_BYTES)
  --raw-high=1MiB      raw bufferedAmount high-water mark (the app's)
  --raw-low=256KiB     raw bufferedAmountLowThreshold (the app's)
  --sweep=LIST         before the rounds of the first condition, raw x1 with
                       each chunk/high-water pair, e.g.
                       64KiB/256KiB,256KiB/1MiB,256KiB/4MiB,256KiB/16MiB
  --queue-bdp=1        the link's drop-tail queue, in bandwidth-delay products
  --loss-dirs=both     where loss applies: both, ab (data), ba (acks)
  --renice=0           nice value for every thread of both browsers, set
                       before each transfer (e.g. -10 on a shared machine:
                       see bench/README.md, "What limits one association")
  --timeout=300        seconds one transfer may take
  --budget=1500        seconds for the whole run: shared between the
                       conditions; no transfer starts that would not fit
  --quick              --size=32MiB --lossy-size=4MiB --rounds=1 (results
                       file ends in -quick, git-ignored)
  --out=PATH           JSON lines file (default bench/results/wan-<date>.jsonl)`;

/** Command-line settings. */
export interface WanFlags {
  conditions: Condition[];
  size: number;
  lossySize: number;
  rounds: number;
  lanes: number[];
  appLanes: (number | null)[];
  chunk: number;
  high: number;
  low: number;
  sweep: { chunk: number; high: number }[];
  timeoutMs: number;
  budgetMs: number;
  renice: number;
  quick: boolean;
  out: string | null;
}

/** Parses a comma-separated list of whole numbers within 1..8. */
function lanesList(text: string, what: string): number[] {
  return text.split(",").map((t) => {
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1 || n > 8) {
      throw new RangeError(`Cannot use --${what}: "${t}" is not 1 to 8`);
    }
    return n;
  });
}

/** Parses the command line. */
export function parseWanFlags(args: string[]): WanFlags {
  const map = readFlags(args, HELP);
  const quick = map.has("quick");
  const queueBdp = Number(map.get("queue-bdp") ?? 1);
  const lossDirs = (map.get("loss-dirs") ?? "both") as LossDirs;
  if (!["both", "ab", "ba", "none"].includes(lossDirs)) {
    throw new TypeError(
      `Cannot use --loss-dirs=${lossDirs}: not both, ab or ba`,
    );
  }
  const names = (map.get("conditions") ?? DEFAULT_CONDITIONS.join(","))
    .split(",");
  if (map.has("baseline")) names.unshift("nodelay");
  const int = (key: string, fallback: number) => {
    const value = Number(map.get(key) ?? fallback);
    if (!Number.isInteger(value) || value < 0) {
      throw new RangeError(`Cannot use --${key}: not a whole number`);
    }
    return value;
  };
  return {
    conditions: names.map((n) => parseCondition(n, queueBdp, lossDirs)),
    size: parseBytes(map.get("size") ?? (quick ? "32MiB" : "128MiB")),
    lossySize: parseBytes(
      map.get("lossy-size") ?? (quick ? "4MiB" : "16MiB"),
    ),
    rounds: int("rounds", quick ? 1 : 2),
    lanes: lanesList(map.get("lanes") ?? "1,2,4,8", "lanes"),
    appLanes: map.has("no-app")
      ? []
      : map.has("app-lanes")
      ? lanesList(map.get("app-lanes")!, "app-lanes")
      : [null],
    chunk: parseBytes(map.get("raw-chunk") ?? "256KiB"),
    high: parseBytes(map.get("raw-high") ?? "1MiB"),
    low: parseBytes(map.get("raw-low") ?? "256KiB"),
    sweep: (map.get("sweep") ?? "").split(",").filter(Boolean).map((pair) => {
      const [chunk, high] = pair.split("/").map(parseBytes);
      if (!(chunk > 0 && high >= chunk)) {
        throw new RangeError(
          `Cannot use --sweep pair "${pair}": expected CHUNK/HIGH with HIGH at least CHUNK`,
        );
      }
      return { chunk, high };
    }),
    timeoutMs: int("timeout", 300) * 1000,
    renice: (() => {
      const n = Number(map.get("renice") ?? 0);
      if (!Number.isInteger(n) || n < -20 || n > 19) {
        throw new RangeError(
          "Cannot use --renice: not a nice value (-20 to 19)",
        );
      }
      return n;
    })(),
    budgetMs: int("budget", 1500) * 1000,
    quick,
    out: map.get("out") ?? null,
  };
}

/** The name of an app row. */
export function appRowName(lanes: number | null): string {
  if (lanes === null) return "app";
  return lanes === 1 ? "app (1 connection)" : `app (up to ${lanes})`;
}

function emit(record: unknown): void {
  console.log(JSON.stringify(record));
}

function note(text: string): void {
  console.error(`bench:wan: ${text}`);
}

/** A headless Chromium running inside a network namespace. */
interface NsBrowser {
  context: BrowserContext;
  dir: string;
  close(): Promise<void>;
}

async function launchIn(
  ns: string,
  origin: string,
  label: string,
): Promise<NsBrowser> {
  const wrapper = `${WAN_DIR}/chromium-${ns}.sh`;
  await Deno.writeTextFile(
    wrapper,
    `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM_PATH} "$@"\n`,
  );
  await Deno.chmod(wrapper, 0o755);
  const dir = `${WAN_DIR}/profile-${Deno.pid}-${label}`;
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: wrapper,
    headless: true,
    // Ctrl-C is ours: playwright's own handler would exit the process
    // before the namespaces and the relay are removed.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: [
      ...CHROMIUM_ARGS,
      `--unsafely-treat-insecure-origin-as-secure=${origin}`,
    ],
  });
  await context.grantPermissions(["microphone"], { origin });
  let closed: Promise<void> | undefined;
  return {
    context,
    dir,
    close: () =>
      closed ??= (async () => {
        await withTimeout(context.close(), 20_000, "closing a browser")
          .catch((error) => note(String(error)));
        // Anything of this profile still alive, by its pid.
        for (const p of chromiumProcesses(dir)) {
          try {
            Deno.kill(p.pid, "SIGKILL");
          } catch {
            // Gone meanwhile.
          }
        }
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        await Deno.remove(wrapper).catch(() => {});
      })(),
  };
}

/** Starts `main.ts` in namespace A as the start task runs it. */
async function startBeam(wan: Wan): Promise<{ origin: string }> {
  const task = startTask(ROOT);
  const port = 8000 + (Deno.pid % 1000);
  await Deno.mkdir(`${WAN_DIR}/logs`, { recursive: true });
  const child = wan.spawnIn(wan.nsA, Deno.execPath(), [
    "run",
    ...task.flags,
    "main.ts",
  ], {
    cwd: ROOT,
    env: {
      ...task.env,
      PORT: String(port),
      HOSTNAME: wan.addrA,
      ICE_SERVERS: "[]",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
  const log = await Deno.open(`${WAN_DIR}/logs/beam-${Deno.pid}.log`, {
    write: true,
    create: true,
    truncate: true,
  });
  child.stderr.pipeTo(log.writable).catch(() => {});
  const lines = child.stdout.pipeThrough(new TextDecoderStream())
    .pipeThrough(splitLines()).getReader();
  const listening = (async () => {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) {
        throw new Error(
          `Cannot start Beam in ${wan.nsA}: main.ts exited (see ${WAN_DIR}/logs/beam-${Deno.pid}.log)`,
        );
      }
      if (value.includes("listening")) break;
    }
    // Keep reading, so the pipe never fills.
    (async () => {
      while (!(await lines.read()).done) { /* drain */ }
    })().catch(() => {});
  })();
  await withTimeout(listening, 30_000, "starting Beam");
  return { origin: `http://${wan.addrA}:${port}` };
}

/**
 * Starts watching the UDP counters of both namespaces; the function
 * returned gives what changed (`RcvbufErrors`: datagrams a full socket
 * buffer dropped after the relay delivered them).
 */
async function udpWatch(
  wan: Wan,
): Promise<() => Promise<Record<string, Record<string, number>>>> {
  const [a, b] = await Promise.all([wan.udp(wan.nsA), wan.udp(wan.nsB)]);
  return async () => {
    const [a2, b2] = await Promise.all([wan.udp(wan.nsA), wan.udp(wan.nsB)]);
    const pick = (d: Record<string, number>) => ({
      InDatagrams: d.InDatagrams,
      OutDatagrams: d.OutDatagrams,
      RcvbufErrors: d.RcvbufErrors,
      SndbufErrors: d.SndbufErrors,
      InErrors: d.InErrors,
    });
    return { a: pick(difference(a2, a)), b: pick(difference(b2, b)) };
  };
}

/**
 * Sets the nice value of every thread of every process of the browser with
 * profile `dir`, its zygotes included, so renderers forked later inherit
 * it (nice is per thread on Linux).
 */
async function renice(dir: string, value: number): Promise<void> {
  const tids: string[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (!cmdline.split(/[\0 ]/).includes(`--user-data-dir=${dir}`)) continue;
      for (const t of Deno.readDirSync(`/proc/${entry.name}/task`)) {
        tids.push(t.name);
      }
    } catch {
      // Gone meanwhile.
    }
  }
  if (tids.length > 0) {
    await sh("renice", ["-n", String(value), "-p", ...tids]).catch(() => {});
  }
}

/** Cores the whole machine used from now until the function is called. */
function machineWindow(): () => number {
  const before = machineBusyMs();
  const t = performance.now();
  return () => roundTo((machineBusyMs() - before) / (performance.now() - t), 2);
}

/**
 * After `ms`, namespace B's UDP sockets as `ss -uamn` shows them: the
 * receive buffer each has (`rb`, bytes) and the datagrams it dropped for
 * want of room (`d`).
 */
async function socketsLater(
  wan: Wan,
  ms: number,
): Promise<{ local: string; rb: number; drops: number }[]> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  const text = await sh("ip", ["netns", "exec", wan.nsB, "ss", "-uamn"])
    .catch(() => "");
  const found = [];
  for (
    const m of text.matchAll(
      /\S+\s+\d+\s+\d+\s+(\S+)\s+\S+\s*\n?\s*skmem:\(([^)]*)\)/g,
    )
  ) {
    const rb = /rb(\d+)/.exec(m[2]);
    const d = /,d(\d+)/.exec(m[2]);
    if (rb) {
      found.push({
        local: m[1],
        rb: Number(rb[1]),
        drops: Number(d?.[1] ?? 0),
      });
    }
  }
  return found;
}

/** Runs the TCP probe in a namespace, returns its JSON line. */
async function probe(
  wan: Wan,
  ns: string,
  args: string[],
): Promise<Record<string, unknown>> {
  const child = wan.spawnIn(ns, Deno.execPath(), [
    "run",
    "-A",
    `${ROOT}/bench/wan_probe.ts`,
    ...args,
  ], { stdin: "null", stdout: "piped", stderr: "inherit" });
  const out = await withTimeout(child.output(), 120_000, "the TCP probe");
  return JSON.parse(new TextDecoder().decode(out.stdout).trim());
}

/** Runs the benchmark. */
export async function main(args: string[]): Promise<void> {
  const flags = parseWanFlags(args);
  const started = Date.now();
  const date = new Date().toISOString();
  const command = ["deno task bench:wan", ...args.map(argWithoutMachinePath)]
    .join(" ");
  const machine = await machineInfo();
  const build = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "lib/islands/build.ts", "--if-missing"],
    cwd: ROOT,
  }).output();
  if (!build.success) {
    throw new Error("Cannot build the islands: lib/islands/build.ts failed");
  }
  const sources = new Map<number, Source>();
  for (const size of new Set([flags.size, flags.lossySize])) {
    sources.set(size, await ensureSource(`${WAN_DIR}/files`, size));
  }

  const records: (WanRecord | Record<string, unknown>)[] = [];
  const runs: WanRecord[] = [];
  const skipped: string[] = [];
  let wan: Wan | undefined;
  const browsers: NsBrowser[] = [];
  const cleanup = async () => {
    for (const b of browsers) await b.close();
    await wan?.close();
  };
  const onSignal = () => {
    note("interrupted: removing the namespaces, the relay and the browsers");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    wan = await openWan();
    note(`namespaces ${wan.nsA} (${wan.addrA}) and ${wan.nsB} (${wan.addrB})`);
    const { origin } = await startBeam(wan);
    note(`Beam at ${origin} in ${wan.nsA}`);
    // The TCP probe's receiver, in B: data flows A → B like the files.
    const probePort = 5200 + (Deno.pid % 500);
    const sink = wan.spawnIn(wan.nsB, Deno.execPath(), [
      "run",
      "-A",
      `${ROOT}/bench/wan_probe.ts`,
      "serve",
      wan.addrB,
      String(probePort),
    ], { stdin: "null", stdout: "piped", stderr: "inherit" });
    await sink.stdout.getReader().read();

    const a = await launchIn(wan.nsA, origin, "a");
    browsers.push(a);
    const b = await launchIn(wan.nsB, origin, "b");
    browsers.push(b);
    await routeWanRawPage(a.context);
    await routeWanRawPage(b.context);

    for (const [ci, condition] of flags.conditions.entries()) {
      const w = wan;
      await w.set(condition.link);
      const source = sources.get(
        condition.link.loss > 0 ? flags.lossySize : flags.size,
      )!;
      const conditionEnd = Date.now() +
        (started + flags.budgetMs - Date.now()) /
          (flags.conditions.length - ci);

      // The link itself, with TCP.
      await w.stats();
      const ping = await probe(w, w.nsA, [
        "ping",
        w.addrB,
        String(probePort),
        "20",
      ]);
      const pingRelay = await w.stats();
      const tcpBytes = Math.min(source.size, 64 * MiB);
      const bulk = await probe(w, w.nsA, [
        "bulk",
        w.addrB,
        String(probePort),
        String(tcpBytes),
      ]);
      const bulkRelay = await w.stats();
      const rtts = (ping.rttsMs as number[]).slice(2);
      const linkRecord = {
        kind: "link",
        condition: condition.name,
        link: condition.link,
        pingRttMs: {
          median: roundTo(median(rtts), 2),
          min: Math.min(...rtts),
          max: Math.max(...rtts),
        },
        tcp: { ...bulk, bytes: tcpBytes },
        linkMBps: linkMBps(condition.link),
        relayPing: pingRelay,
        relayTcp: bulkRelay,
      };
      records.push(linkRecord);
      emit(linkRecord);

      const expected = (name: string) => {
        const done = runs.filter((r) =>
          r.condition === condition.name && r.name === name
        );
        if (done.length === 0) return 0;
        return (source.size / 1e6 / median(done.map((r) => r.mbps))) * 1000 *
            1.2 + 8_000;
      };
      const fits = (name: string, round: number) => {
        if (Date.now() + expected(name) < conditionEnd) return true;
        skipped.push(`${condition.name} ${name} round ${round}`);
        return false;
      };
      const timeout = () =>
        Math.max(10_000, Math.min(flags.timeoutMs, conditionEnd - Date.now()));

      const raw = async (
        round: number,
        lanes: number,
        chunk: number,
        high: number,
        low: number,
        name: string,
      ) => {
        if (flags.renice !== 0) {
          await renice(a.dir, flags.renice);
          await renice(b.dir, flags.renice);
        }
        await w.stats();
        const udp = await udpWatch(w);
        const busy = machineWindow();
        const sockets = socketsLater(w, 3_000);
        const result = await runWanRaw(a.context, b.context, origin, lanes, {
          total: source.size,
          chunkSize: chunk,
          highWaterMark: high,
          lowWaterMark: low,
          timeoutMs: timeout(),
        });
        const relay = await w.stats();
        const udpDelta = await udp();
        const machineCores = busy();
        const seconds = (result.end - result.sendStart) / 1000;
        const record: WanRecord = {
          kind: "run",
          condition: condition.name,
          name,
          mode: "raw",
          lanes,
          round,
          bytes: source.size,
          seconds: round3(seconds),
          span: "first send() to the last byte counted by the receiver",
          mbps: roundTo(source.size / 1e6 / seconds, 3),
          chunkSize: chunk,
          highWaterMark: high,
          lowWaterMark: low,
          connectMs: result.connectMs,
          waits: result.waits,
          relay,
          udp: udpDelta,
          machineCores,
          socketsB: await sockets,
          sender: result.sender,
          receiver: result.receiver.map((r) => ({
            local: r.local,
            remote: r.remote,
            pairBytesReceived: r.pairBytesReceived,
          })),
          samples: result.samples,
        };
        runs.push(record);
        records.push(record);
        emit(record);
      };

      const app = async (round: number, lanes: number | null) => {
        if (flags.renice !== 0) {
          await renice(a.dir, flags.renice);
          await renice(b.dir, flags.renice);
        }
        await w.stats();
        const udp = await udpWatch(w);
        const result = await runApp({
          context: a.context,
          profileDir: a.dir,
          receiver: { context: b.context, profileDir: b.dir },
          origin,
          source,
          timeoutMs: timeout(),
          verifyOnDisk: true,
          initScript: lanes === null
            ? undefined
            : `try { localStorage.setItem("beam:lanes", "${lanes}"); } catch {}`,
        });
        const relay = await w.stats();
        const udpDelta = await udp();
        const seconds = (result.phases.done - result.phases.receiving) / 1000;
        const record: WanRecord = {
          kind: "run",
          condition: condition.name,
          name: appRowName(lanes),
          mode: "app",
          lanes,
          connections: result.connections,
          round,
          bytes: source.size,
          seconds: round3(seconds),
          span:
            "data channel open (phase-receiving) to saved and verified (phase-done)",
          mbps: roundTo(source.size / 1e6 / seconds, 3),
          clickToDoneSeconds: round3(
            (result.phases.done - result.click) / 1000,
          ),
          cpuMs: result.cpuMs,
          otherCores: roundTo(result.otherCores, 2),
          savedSha256Matches: result.savedSha256 === null
            ? null
            : result.savedSha256 === source.sha256,
          status: result.status,
          relay,
          udp: udpDelta,
        };
        runs.push(record);
        records.push(record);
        emit(record);
        if (record.savedSha256Matches === false) {
          throw new Error(
            "Cannot trust the app run: the saved file's SHA-256 differs from the source's",
          );
        }
      };

      const attempt = async (what: string, fn: () => Promise<void>) => {
        try {
          await fn();
        } catch (error) {
          const record = {
            kind: "error",
            condition: condition.name,
            what,
            message: (error as Error).message.split("\n")[0],
          };
          records.push(record);
          emit(record);
          if (/SHA-256/.test((error as Error).message)) throw error;
        }
      };

      if (ci === 0) {
        for (const s of flags.sweep) {
          const name = `raw ×1 ${formatSize(s.chunk)}/${formatSize(s.high)}`;
          if (!fits(name, 0)) continue;
          await attempt(
            name,
            () => raw(0, 1, s.chunk, s.high, Math.floor(s.high / 4), name),
          );
        }
      }
      type Row = { name: string; run: (round: number) => Promise<void> };
      const rowList: Row[] = [
        ...flags.appLanes.map((lanes) => ({
          name: appRowName(lanes),
          run: (round: number) => app(round, lanes),
        })),
        ...flags.lanes.map((lanes) => ({
          name: `raw ×${lanes}`,
          run: (round: number) =>
            raw(
              round,
              lanes,
              flags.chunk,
              flags.high,
              flags.low,
              `raw ×${lanes}`,
            ),
        })),
      ];
      for (let r = 1; r <= flags.rounds; r++) {
        const k = (r - 1) % rowList.length;
        const order = r % 2 === 1
          ? [...rowList.slice(k), ...rowList.slice(0, k)]
          : [...rowList].reverse();
        for (const row of order) {
          if (!fits(row.name, r)) continue;
          await attempt(row.name, () => row.run(r));
        }
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await cleanup();
  }

  const summary = {
    kind: "summary",
    date,
    command,
    machine,
    flags: { ...flags, out: flags.out && withoutMachinePath(flags.out) },
    skipped,
    elapsedSeconds: Math.round((Date.now() - started) / 1000),
  };
  emit(summary);
  const out = flags.out ??
    resultsPath(ROOT, "wan", date, flags.quick);
  await writeJsonLines(out, [...records, summary]);
  note(`wrote ${out}`);
  note("the results for bench/README.md, with the command:\n");
  console.log(`\`${command}\`\n`);
  console.log(linkMarkdown(records));
  console.log(wanMarkdown(runs, flags.conditions));
}

/** The link checks as a Markdown table. */
function linkMarkdown(records: Record<string, unknown>[]): string {
  const out = [
    "| link | ping RTT median (min–max) | TCP MB/s (2nd half) | link MB/s | relay late mean / max | queue drops (TCP) |",
    "|---|---|---|---|---|---|",
  ];
  for (const r of records.filter((r) => r.kind === "link")) {
    const ping = r.pingRttMs as { median: number; min: number; max: number };
    const tcp = r.tcp as { mbps: number; secondHalfMbps: number };
    const relay = r.relayTcp as {
      ab: { lateMeanUs: number; lateMaxUs: number; dropsQueue: number };
    };
    out.push(
      `| ${r.condition} | ${ping.median} ms (${ping.min}–${ping.max}) | ${
        roundTo(tcp.mbps, 2)
      } (${roundTo(tcp.secondHalfMbps, 2)}) | ${
        Number.isNaN(r.linkMBps) ? "–" : r.linkMBps
      } | ${relay.ab.lateMeanUs} µs / ${
        roundTo(relay.ab.lateMaxUs / 1000, 1)
      } ms | ${relay.ab.dropsQueue} |`,
    );
  }
  return out.join("\n") + "\n";
}

function round3(value: number): number {
  return roundTo(value, 3);
}

if (import.meta.main) {
  await main(Deno.args);
}
