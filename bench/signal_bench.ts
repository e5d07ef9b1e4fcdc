/**
 * `deno task bench`: Beam's signaling server side by side with the PeerJS
 * server (npm `peer`, pinned) and a bare Deno relay, under the same load.
 *
 * For each N, each run starts each server afresh on 127.0.0.1, in an order
 * that rotates from run to run, and measures: memory per idle connection,
 * then every pair's whole conversation at once (closed loop: saturation),
 * then, at the paced N, a fixed offered rate (open loop). The bus phase
 * (`--only=bus`) measures the same conversation with every pair split
 * across two Beam instances over one redis-server, against one instance,
 * side by side. Prints one JSON line per measurement, writes
 * bench/results/<date>.json, and prints the Markdown tables to paste into
 * bench/README.md with the command. How the server behaves under abuse
 * (slow consumers, floods, connection storms) is tested, not benchmarked:
 * tests/signal_test.ts and tests/hardening_test.ts. See bench/README.md for
 * the method and the flags.
 *
 * @module
 */

import { Histogram, round } from "./stats.ts";
import type { ServerKind } from "./conversation.ts";
import {
  argWithoutMachinePath,
  beamSnapshot,
  ensurePeerJs,
  hardFileLimit,
  LoadClient,
  machineBusyMs,
  PEER_VERSION,
  procStat,
  ROOT,
  run,
  type RunningServer,
  serverFlags,
  sleep,
  startServer,
  startTask,
  withoutMachinePath,
  WORK_DIR,
} from "./servers.ts";
import { type Results, summaryMarkdown } from "./signal_summary.ts";
import { readFlags } from "./flags.ts";
import {
  type BenchRedis,
  type RedisSample,
  redisSample,
  startBenchRedis,
  waitBusUp,
} from "./redis.ts";

/** Command-line settings. */
export interface Flags {
  quick: boolean;
  runs: number;
  ns: number[];
  servers: ServerKind[];
  clients: number;
  rate: number;
  pacedN: number;
  pacedMs: number;
  window: number;
  serverNofile: number;
  pin: boolean;
  out: string;
  beamRef: string;
  beamDir: string;
  /** Environment for Beam but not for beam-base (`--beam-env`). */
  beamEnv: Record<string, string>;
  beamBase: string;
  busNs: number[];
  busRuns: number;
  busSetups: ServerKind[];
  busTimeoutS: number;
  redisCpus: string;
  only: string[];
  report: string;
  retryBusy: number;
  retryUntilS: number;
  maxMinutes: number;
  quietWaitS: number;
  budgetMinutes: number;
}

const HELP = `Usage: deno task bench [flags]
  --quick            N = 100 and 1,000, one run, short paced phase
  --runs=3           runs per server and N (alternating servers)
  --n=100,1000,10000 peer counts
  --servers=beam,peerjs,bare  (and beam-base, with --beam-base)
  --clients=2        load-generating processes
  --rate=20000       offered msgs/s of the paced phase
  --paced-n=10000    N at which the paced phase runs (0: never)
  --paced-ms=10000   length of the paced phase
  --window=4         progress frames in flight per pair
  --only=load        the phases to run: \`load\` (default), \`bus\` (one Beam
                     instance against two over one redis-server with every
                     pair split between them), or both: --only=load,bus
  --bus-n=1000,10000 peer counts of the bus phase (all instances together)
  --bus-runs=3       runs per setup and N of the bus phase
  --bus-setups=beam,beam-redis  the bus phase's setups (one instance; two
                     over Redis)
  --bus-timeout=40   seconds a bus conversation may take; one that takes
                     longer is reported as not complete (not measured again)
  --redis-cpus=0     CPUs of the bus phase's redis-server (taskset's list;
                     the Beam instances get CPU 0, as any server)
  --server-nofile=16384  open-file limit of each server
  --no-pin           do not pin the server to CPU 0 and the load to the rest
  --beam-ref=REF     run Beam from commit REF (git archive into a temp folder)
                     instead of the work tree, e.g. --beam-ref=HEAD
  --beam-dir=DIR     run Beam from the tree in DIR (e.g. a patched copy made
                     outside the repository) instead of the work tree
  --beam-base=REF    also measure Beam at commit REF in the load phase, as
                     server beam-base, side by side with beam
  --beam-env=NAME=value,...  environment for beam (and the bus phase's
                     instances) but not beam-base, e.g. SIGNAL_TRANSPORT=raw
  --retry-busy=0.25  measure a load run again, at the end, when other processes
                     used more than this many cores meanwhile (the machine is
                     shared); the quieter of the two counts
  --retry-until=570  and only in the first this many seconds
  --quiet-wait=60    before each load run, wait (at most 10 s each, this many
                     seconds in all) until other processes use < --retry-busy cores
  --budget-minutes=12.5  start no measurement after this long: what is left
                     is listed as skipped (a busy machine is slower)
  --max-minutes=20   watchdog: kill everything and exit 2 after this long
  --report=FILE      measure nothing: print the Markdown tables of a results file
  --out=PATH         results file (default bench/results/<date>[-quick].json;
                     -quick files are git-ignored)`;

/** Parses the command line. */
export function parseFlags(args: string[]): Flags {
  const map = readFlags(args, HELP);
  const quick = map.get("quick") === "true";
  const num = (name: string, fallback: number) => {
    const text = map.get(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(
        `Cannot read --${name}: ${JSON.stringify(text)} is not a number >= 0`,
      );
    }
    return value;
  };
  const ns = (map.get("n") ?? (quick ? "100,1000" : "100,1000,10000")).split(
    ",",
  ).map(Number);
  const servers = (map.get("servers") ?? "beam,peerjs,bare").split(
    ",",
  ) as ServerKind[];
  const beamBase = map.get("beam-base") ?? "";
  if (beamBase && !servers.includes("beam-base")) servers.push("beam-base");
  for (const s of servers) {
    if (!["beam", "peerjs", "bare", "beam-base"].includes(s)) {
      throw new TypeError(
        `Cannot read --servers: unknown server ${JSON.stringify(s)}`,
      );
    }
    if (s === "beam-base" && !beamBase) {
      throw new TypeError(
        "Cannot read --servers: beam-base needs --beam-base=REF",
      );
    }
  }
  const only = (map.get("only") ?? "load").split(",");
  for (const phase of only) {
    if (phase !== "load" && phase !== "bus") {
      throw new TypeError(
        `Cannot read --only: unknown phase ${JSON.stringify(phase)}`,
      );
    }
  }
  for (const s of (map.get("bus-setups") ?? "").split(",").filter(Boolean)) {
    if (s !== "beam" && s !== "beam-redis") {
      throw new TypeError(
        `Cannot read --bus-setups: unknown setup ${JSON.stringify(s)}`,
      );
    }
  }
  const date = new Date().toISOString().slice(0, 10);
  // A run of the bus phase alone must not overwrite the day's full results.
  const suffix = `${quick ? "-quick" : ""}${
    only.length === 1 && only[0] === "bus" ? "-bus" : ""
  }`;
  return {
    quick,
    runs: num("runs", quick ? 1 : 3),
    ns,
    servers,
    clients: Math.max(1, num("clients", 2)),
    rate: num("rate", 20_000),
    pacedN: num("paced-n", quick ? 1000 : 10_000),
    pacedMs: num("paced-ms", quick ? 3000 : 10_000),
    window: Math.max(1, num("window", 4)),
    serverNofile: num("server-nofile", 16_384),
    pin: map.get("no-pin") !== "true" && navigator.hardwareConcurrency >= 2,
    out: map.get("out") ?? `${ROOT}/bench/results/${date}${suffix}.json`,
    beamRef: map.get("beam-ref") ?? "",
    beamDir: map.get("beam-dir") ?? "",
    beamEnv: Object.fromEntries(
      (map.get("beam-env") ?? "").split(",").filter(Boolean).map((word) => {
        const at = word.indexOf("=");
        if (at < 1) {
          throw new TypeError(
            `Cannot read --beam-env: ${word} is not NAME=value`,
          );
        }
        return [word.slice(0, at), word.slice(at + 1)];
      }),
    ),
    beamBase,
    busNs: (map.get("bus-n") ?? (quick ? "1000" : "1000,10000")).split(",")
      .map(Number),
    busRuns: num("bus-runs", quick ? 1 : 3),
    busTimeoutS: num("bus-timeout", 40),
    busSetups: (map.get("bus-setups") ?? "beam,beam-redis").split(
      ",",
    ) as ServerKind[],
    redisCpus: map.get("redis-cpus") ?? "0",
    only,
    report: map.get("report") ?? "",
    retryBusy: num("retry-busy", 0.25),
    retryUntilS: num("retry-until", quick ? 150 : 570),
    maxMinutes: num("max-minutes", 20),
    quietWaitS: num("quiet-wait", quick ? 20 : 60),
    budgetMinutes: num("budget-minutes", quick ? 5 : 12.5),
  };
}

/** One measurement, as printed and stored. */
type Record_ = Record<string, unknown> & {
  type: string;
  server: ServerKind;
};

const records: Record_[] = [];

const startedAt = performance.now();

function emit(record: Record_): void {
  record.atS = round((performance.now() - startedAt) / 1000);
  records.push(record);
  console.log(JSON.stringify(record));
}

function mergeHists(replies: Record<string, unknown>[]): Histogram {
  const h = new Histogram();
  for (const r of replies) {
    h.add(
      Histogram.fromSparse(
        r.hist as [number, number][],
        r.histMax as number,
        r.histSum as number,
      ),
    );
  }
  return h;
}

function sumOf(replies: Record<string, unknown>[], key: string): number {
  return replies.reduce((s, r) => s + Number(r[key] ?? 0), 0);
}

function mergeCounts(
  replies: Record<string, unknown>[],
  key: string,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of replies) {
    for (
      const [k, v] of Object.entries((r[key] ?? {}) as Record<string, number>)
    ) {
      out[k] = (out[k] ?? 0) + v;
    }
  }
  return out;
}

function pairSpread(
  replies: Record<string, unknown>[],
  startAt: number,
): Record<string, number> {
  const done = replies.flatMap((r) => (r.doneAt ?? []) as number[]).sort((
    a,
    b,
  ) => a - b);
  const at = (q: number) =>
    done.length
      ? round(
        (done[Math.min(done.length - 1, Math.floor(q * done.length))] -
          startAt) / 1000,
      )
      : NaN;
  return { p1: at(0.01), p50: at(0.5), p99: at(0.99) };
}

/** Shares of `n` for `k` clients, each even so that peers pair up. */
function shares(n: number, k: number): number[] {
  const pairs = Math.floor(n / 2);
  return Array.from(
    { length: k },
    (_, i) => 2 * (Math.floor(pairs / k) + (i < pairs % k ? 1 : 0)),
  );
}

/** An instance's /healthz, or what went wrong asking for it. */
async function healthOf(port: number): Promise<Record<string, unknown>> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    return await response.json();
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/**
 * redis-server's figures in a bus measurement: its CPU per relayed message,
 * its memory per idle peer (RSS and INFO's used_memory, each peer being one
 * subscribed channel), and how many PUBLISHes a relayed message took.
 */
function redisFigures(
  before: RedisSample,
  idle: RedisSample,
  after: RedisSample,
  cpuMs: number,
  peers: number,
  relayed: number,
  seconds: number,
): Record<string, unknown> {
  return {
    redisCpuMs: cpuMs,
    cpuUsPerMsgRedis: round(cpuMs * 1000 / relayed),
    redisCpuUtil: round(cpuMs / 1000 / seconds),
    redisRssBeforeKiB: before.rssKiB,
    redisRssIdleKiB: idle.rssKiB,
    redisRssAfterKiB: after.rssKiB,
    redisRssPerPeerKB: round(
      (idle.rssKiB - before.rssKiB) * 1024 / 1000 / peers,
    ),
    redisUsedMemoryBefore: before.usedMemory,
    redisUsedMemoryIdle: idle.usedMemory,
    redisUsedMemoryAfter: after.usedMemory,
    redisUsedMemoryPerPeerB: round(
      (idle.usedMemory - before.usedMemory) / peers,
    ),
    redisChannelsIdle: idle.channels,
    redisSubscribes: idle.subscribe - before.subscribe,
    redisPublishes: after.publish - idle.publish,
    publishesPerMsg: round((after.publish - idle.publish) / relayed),
    // How many PUBLISHes came in each read Redis made, and how many
    // messages went out in each write: 1 means a system call per frame.
    publishesPerRead: round(
      (after.publish - idle.publish) / Math.max(1, after.reads - idle.reads),
    ),
    msgsPerRedisWrite: round(relayed / Math.max(1, after.writes - idle.writes)),
  };
}

class Bench {
  flags: Flags;
  clients: LoadClient[] = [];
  peerCli = "";
  beamDir: string | undefined;
  /** Where Beam at `--beam-base` was extracted. */
  baseDir: string | undefined;
  /** The servers running now, for the watchdog. */
  current: RunningServer[] = [];
  /** The redis-server running now, for the watchdog. */
  redis: BenchRedis | undefined;
  #label = 0;

  constructor(flags: Flags) {
    this.flags = flags;
  }

  start(): void {
    const nofile = Math.min(hardFileLimit(), 20_000);
    const cpus = navigator.hardwareConcurrency;
    for (let i = 0; i < this.flags.clients; i++) {
      this.clients.push(
        new LoadClient(i, nofile, this.flags.pin ? `1-${cpus - 1}` : undefined),
      );
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.exit()));
  }

  /**
   * Starts one server. `beam-base` is Beam from `--beam-base`'s commit;
   * `env` adds to a Beam's environment (the bus phase's REDIS_URL).
   */
  async server(
    kind: ServerKind,
    what: string,
    peerLimit?: number,
    env: Record<string, string> = {},
  ): Promise<RunningServer> {
    const label = `${String(++this.#label).padStart(3, "0")}-${kind}-${what}`;
    const isBeam = kind === "beam" || kind === "beam-base" ||
      kind === "beam-redis";
    const options = {
      nofile: this.flags.serverNofile,
      peerCli: this.peerCli,
      peerLimit,
      label,
      beamDir: kind === "beam-base" ? this.baseDir : this.beamDir,
      cpus: this.flags.pin ? "0" : undefined,
      // Every peer of the benchmark comes from 127.0.0.1, where browsers
      // would come from many addresses: Beam's per-address cap is lifted
      // (its total cap, rate limit and the rest stay as configured).
      env: isBeam
        ? {
          MAX_PEERS_PER_IP: "1000000",
          ...(kind === "beam-base" ? {} : this.flags.beamEnv),
          ...env,
        }
        : undefined,
    };
    let server: RunningServer;
    try {
      server = await startServer(isBeam ? "beam" : kind, options);
    } catch (error) {
      if (!isBeam || options.beamDir) throw error;
      throw new Error(
        `${
          (error as Error).message
        }; if the work tree is mid-edit, measure a commit with --beam-ref=HEAD`,
        { cause: error },
      );
    }
    server.kind = kind;
    this.current.push(server);
    return server;
  }

  /** Stops a server and forgets it. */
  async stopServer(server: RunningServer): Promise<void> {
    await server.stop();
    this.current = this.current.filter((s) => s !== server);
  }

  /**
   * The servers of one measurement: one server, or for `beam-redis` a
   * redis-server and two Beam instances joined through it (each started as
   * `beam` is, plus REDIS_URL), once both say their bus is up.
   */
  async cluster(
    kind: ServerKind,
    what: string,
    peerLimit?: number,
  ): Promise<{ servers: RunningServer[]; redis?: BenchRedis }> {
    if (kind !== "beam-redis") {
      return { servers: [await this.server(kind, what, peerLimit)] };
    }
    this.redis = await startBenchRedis(
      this.flags.pin ? this.flags.redisCpus : undefined,
    );
    const env = { REDIS_URL: this.redis.url };
    const servers: RunningServer[] = [];
    try {
      for (const i of [1, 2]) {
        servers.push(await this.server(kind, `${what}-i${i}`, undefined, env));
      }
      await Promise.all(servers.map((s) => waitBusUp(s.port)));
    } catch (error) {
      await this.stopCluster({ servers, redis: this.redis });
      throw error;
    }
    return { servers, redis: this.redis };
  }

  async stopCluster(
    cluster: { servers: RunningServer[]; redis?: BenchRedis },
  ): Promise<void> {
    await Promise.all(cluster.servers.map((s) => this.stopServer(s)));
    if (cluster.redis) {
      await cluster.redis.stop();
      if (this.redis === cluster.redis) this.redis = undefined;
    }
  }

  async setup(kind: ServerKind, ports: number | number[]): Promise<void> {
    const list = typeof ports === "number" ? [ports] : ports;
    await Promise.all(
      this.clients.map((c, i) =>
        c.call("setup", {
          kind,
          port: list[0],
          ports: list.length > 1 ? list : undefined,
          tag: `c${i}`,
        })
      ),
    );
  }

  /** When (performance.now()) the run must be over, with a margin. */
  endBy = Infinity;

  /** What is left of the time the benchmark may spend waiting for others. */
  quietBudgetMs = 0;

  /**
   * The machine is shared: waits, up to 10 s and within the run's budget,
   * until the processes that are not ours use less than `--retry-busy` cores
   * over 0.7 s. Returns how long it waited and what others used last.
   */
  async waitQuiet(
    pids: number[],
  ): Promise<{ quietWaitS: number; otherCpuBefore: number }> {
    const t0 = performance.now();
    const deadline = t0 + Math.min(10_000, this.quietBudgetMs);
    const ours = () =>
      procStat(Deno.pid).cpuMs +
      pids.reduce((sum, pid) => sum + procStat(pid).cpuMs, 0) +
      this.clients.reduce((sum, c) => sum + procStat(c.pid).cpuMs, 0);
    let other = 0;
    while (true) {
      const m0 = machineBusyMs() - ours();
      await sleep(700);
      other = Math.max(0, machineBusyMs() - ours() - m0) / 700;
      if (other <= this.flags.retryBusy || performance.now() >= deadline) break;
    }
    const waited = performance.now() - t0;
    this.quietBudgetMs = Math.max(
      0,
      this.quietBudgetMs - Math.max(0, waited - 700),
    );
    return { quietWaitS: round(waited / 1000), otherCpuBefore: round(other) };
  }

  /** A few pairs through their conversation, so the JIT has seen the paths. */
  async warmUp(): Promise<void> {
    await this.clients[0].call("connect", { n: 40 });
    await this.clients[0].call("converse", {
      window: this.flags.window,
      timeoutMs: 20_000,
    });
    await this.clients[0].call("close");
    await sleep(300);
  }

  /**
   * One load measurement: memory per idle peer, then every pair's whole
   * conversation at once. `type` "bus" is the bus phase's: the same
   * measurement, with each process's share (Beam instances, redis-server)
   * recorded apart, and no paced phase.
   */
  async load(
    kind: ServerKind,
    n: number,
    runIndex: number,
    type: "load" | "bus" = "load",
  ): Promise<void> {
    const f = this.flags;
    const cluster = await this.cluster(
      kind,
      `${type === "bus" ? "bus-" : ""}n${n}-run${runIndex}`,
      kind === "peerjs" ? 1_000_000 : undefined,
    );
    const { servers, redis } = cluster;
    const server = servers[0];
    const pids = [...servers.map((s) => s.pid), ...(redis ? [redis.pid] : [])];
    try {
      await this.setup(kind, servers.map((s) => s.port));
      await this.warmUp();
      const quiet = await this.waitQuiet(pids);
      const before = servers.map((s) => procStat(s.pid));
      const redisBefore = redis ? await redisSample(redis) : undefined;
      const parts = shares(n, this.clients.length);
      const t0 = performance.now();
      const connects = await Promise.all(
        this.clients.map((c, i) =>
          c.call("connect", {
            n: parts[i],
            concurrency: 200,
            deadlineMs: 60_000,
          })
        ),
      );
      const connectMs = performance.now() - t0;
      await sleep(1000);
      const idle = servers.map((s) => procStat(s.pid));
      const redisIdle = redis ? await redisSample(redis) : undefined;
      const connected = sumOf(connects, "connected");
      // Peers each instance holds (split pairs: half each).
      const held = servers.map((_, i) =>
        connects.reduce(
          (sum, r) =>
            sum + Number((r.byPort as number[] | undefined)?.[i] ?? 0),
          0,
        )
      );
      const base = {
        server: kind,
        n,
        run: runIndex,
        entry: kind.startsWith("beam") ? "main.ts" : undefined,
      };
      const s0 = servers.map((s) => procStat(s.pid));
      const r0 = redis ? procStat(redis.pid) : undefined;
      const c0 = this.clients.map((c) => procStat(c.pid).cpuMs);
      const m0 = machineBusyMs() - procStat(Deno.pid).cpuMs;
      const replies = await Promise.all(
        this.clients.map((c) =>
          c.call("converse", {
            window: f.window,
            // A busy machine must not hold the run past its time limit. On
            // a quiet one N = 10,000 takes about 10 s: a conversation still
            // going after 60 s is someone else's burst, and is measured
            // again later. In the bus phase a conversation that does not
            // end is a result (see --bus-timeout), not a burst.
            timeoutMs: Math.max(
              20_000,
              Math.min(
                type === "bus" ? f.busTimeoutS * 1000 : 60_000,
                this.endBy - performance.now(),
              ),
            ),
          })
        ),
      );
      const s1 = servers.map((s) => procStat(s.pid));
      const r1 = redis ? procStat(redis.pid) : undefined;
      const c1 = this.clients.map((c) => procStat(c.pid).cpuMs);
      const m1 = machineBusyMs() - procStat(Deno.pid).cpuMs;
      const redisAfter = redis ? await redisSample(redis) : undefined;
      // What each instance says of its bus after the conversation: still
      // up, and how many frames from Redis it dropped as not Beam's.
      const health = redis
        ? await Promise.all(servers.map((s) => healthOf(s.port)))
        : undefined;
      const h = mergeHists(replies);
      const relayed = sumOf(replies, "relayed");
      const startAt = Math.min(...replies.map((r) => r.startAt as number));
      const endAt = Math.max(...replies.map((r) => r.endAt as number));
      const seconds = (endAt - startAt) / 1000;
      const instanceCpu = s1.map((x, i) => x.cpuMs - s0[i].cpuMs);
      const redisCpu = r1 && r0 ? r1.cpuMs - r0.cpuMs : 0;
      const serverCpu = instanceCpu.reduce((a, b) => a + b, 0) + redisCpu;
      const clientCpu = c1.reduce((s, v, i) => s + v - c0[i], 0);
      const memKB = (i: number) =>
        round((idle[i].rssKiB - before[i].rssKiB) * 1024 / 1000 / held[i]);
      const perMsg = (ms: number) => round(ms * 1000 / relayed);
      const cores = (ms: number) => round(ms / 1000 / seconds);
      emit({
        type,
        ...base,
        connected,
        connectErrors: mergeCounts(connects, "errors"),
        connectMs: round(connectMs),
        complete: replies.every((r) => r.complete),
        // When pairs finished, from the start: a fair server finishes them
        // together near the end, an unfair one early and late.
        pairDoneS: pairSpread(replies, startAt),
        relayed,
        seconds: round(seconds, 4),
        msgsPerSec: round(relayed / seconds),
        p50Ms: round(h.quantile(0.5) / 1000),
        p99Ms: round(h.quantile(0.99) / 1000),
        maxMs: round(h.max / 1000),
        serverCpuMs: serverCpu,
        cpuUsPerMsg: perMsg(serverCpu),
        serverCpuUtil: cores(serverCpu),
        clientCpuUtil: cores(clientCpu),
        // Cores busy with anything but the server and the load (and this process).
        otherCpuUtil: round(
          Math.max(0, m1 - m0 - serverCpu - clientCpu) / 1000 / seconds,
        ),
        loadavg: round(Deno.loadavg()[0]),
        ...quiet,
        rssBeforeKiB: before.reduce((a, x) => a + x.rssKiB, 0),
        rssIdleKiB: idle.reduce((a, x) => a + x.rssKiB, 0),
        // Beam's memory per peer it holds: over all instances.
        memPerIdleConnKB: round(
          (idle.reduce((a, x) => a + x.rssKiB, 0) -
            before.reduce((a, x) => a + x.rssKiB, 0)) *
            1024 / 1000 /
            connected,
        ),
        rssAfterKiB: s1.reduce((a, x) => a + x.rssKiB, 0),
        serverFdsIdle: idle.reduce((a, x) => a + x.fds, 0),
        ...(type === "bus"
          ? {
            // Each process's share: per message relayed by the whole.
            instances: servers.map((s, i) => ({
              port: s.port,
              pid: s.pid,
              health: health?.[i],
              peers: held[i],
              cpuMs: instanceCpu[i],
              cpuUsPerMsg: perMsg(instanceCpu[i]),
              cpuUtil: cores(instanceCpu[i]),
              rssBeforeKiB: before[i].rssKiB,
              rssIdleKiB: idle[i].rssKiB,
              memPerIdleConnKB: memKB(i),
            })),
            cpuUsPerMsgI1: perMsg(instanceCpu[0]),
            cpuUsPerMsgI2: instanceCpu.length > 1
              ? perMsg(instanceCpu[1])
              : undefined,
            memPerIdleConnKBI1: memKB(0),
            memPerIdleConnKBI2: servers.length > 1 ? memKB(1) : undefined,
            ...(redis && redisBefore && redisIdle && redisAfter
              ? redisFigures(
                redisBefore,
                redisIdle,
                redisAfter,
                redisCpu,
                connected,
                relayed,
                seconds,
              )
              : {}),
          }
          : {}),
        heartbeats: sumOf(replies, "heartbeats"),
        unexpected: mergeCounts(replies, "unexpected"),
        closes: mergeCounts(replies, "closes"),
        stuck: mergeCounts(replies, "stuck"),
      });
      if (
        type === "load" && n === f.pacedN && f.rate > 0 && f.pacedMs > 0 &&
        this.endBy - performance.now() > f.pacedMs + 10_000
      ) {
        await this.paced(kind, server, base);
      }
      await Promise.all(this.clients.map((c) => c.call("close")));
    } finally {
      await this.stopCluster(cluster);
    }
  }

  async paced(
    kind: ServerKind,
    server: RunningServer,
    base: Record<string, unknown>,
  ): Promise<void> {
    const f = this.flags;
    const s0 = procStat(server.pid);
    const c0 = this.clients.map((c) => procStat(c.pid).cpuMs);
    const m0 = machineBusyMs() - procStat(Deno.pid).cpuMs;
    const replies = await Promise.all(
      this.clients.map((c) =>
        c.call("paced", {
          rate: f.rate / this.clients.length,
          ms: f.pacedMs,
          drainMs: 5000,
        })
      ),
    );
    const s1 = procStat(server.pid);
    const c1 = this.clients.map((c) => procStat(c.pid).cpuMs);
    const m1 = machineBusyMs() - procStat(Deno.pid).cpuMs;
    const clientCpu = c1.reduce((s, v, i) => s + v - c0[i], 0);
    const h = mergeHists(replies);
    const relayed = sumOf(replies, "relayed");
    const seconds = (Math.max(...replies.map((r) => r.endAt as number)) -
      Math.min(...replies.map((r) => r.startAt as number))) / 1000;
    const serverCpu = s1.cpuMs - s0.cpuMs;
    emit({
      type: "paced",
      ...base,
      server: kind,
      targetRate: f.rate,
      offeredRate: round(sumOf(replies, "offeredRate")),
      sent: sumOf(replies, "sent"),
      relayed,
      lost: sumOf(replies, "lost"),
      p50Ms: round(h.quantile(0.5) / 1000),
      p99Ms: round(h.quantile(0.99) / 1000),
      maxMs: round(h.max / 1000),
      maxSendLagMs: round(
        Math.max(...replies.map((r) => r.maxLagMs as number)),
      ),
      cpuUsPerMsg: round(serverCpu * 1000 / relayed),
      serverCpuUtil: round(serverCpu / 1000 / seconds),
      clientCpuUtil: round(clientCpu / 1000 / seconds),
      otherCpuUtil: round(
        Math.max(0, m1 - m0 - serverCpu - clientCpu) / 1000 / seconds,
      ),
      loadavg: round(Deno.loadavg()[0]),
      unexpected: mergeCounts(replies, "unexpected"),
    });
  }
}

function rotate<T>(xs: T[], by: number): T[] {
  return xs.map((_, i) => xs[(i + by) % xs.length]);
}

async function machine(flags: Flags): Promise<Record<string, unknown>> {
  const cpu =
    /model name\s*:\s*(.*)/.exec(await Deno.readTextFile("/proc/cpuinfo"))
      ?.[1] ?? "?";
  const node = (await run("node", ["--version"]).catch(() => "?")).trim();
  const head =
    (await run("git", ["rev-parse", "--short", "HEAD"]).catch(() => "?"))
      .trim();
  const dirty = (await run("git", [
    "status",
    "--porcelain",
    "--",
    "lib/signal",
    "lib/http",
    "main.ts",
  ])
    .catch(() => "")).trim();
  // The last commit that changed the signaling server, at what is measured.
  const signalCommit = (await run("git", [
    "log",
    "-1",
    "--format=%h %s",
    flags.beamRef || "HEAD",
    "--",
    "lib/signal",
  ]).catch(() => "?")).trim();
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    signalCommit,
    memoryGiB: round(Deno.systemMemoryInfo().total / 2 ** 30),
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    node,
    peer: PEER_VERSION,
    commit: head,
    uncommittedServerFiles: dirty ? dirty.split("\n").map((l) => l.trim()) : [],
    loadavgAtStart: Deno.loadavg().map((v) => round(v)),
    pinned: flags.pin
      ? "server on CPU 0, load on the other CPUs (taskset)"
      : "no",
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(Deno.args);
  if (flags.report) {
    const results: Results = JSON.parse(await Deno.readTextFile(flags.report));
    console.log(summaryMarkdown(results));
    return;
  }
  const started = performance.now();
  const elapsedS = () => (performance.now() - started) / 1000;
  const date = new Date().toISOString();
  const bench = new Bench(flags);
  bench.quietBudgetMs = flags.quietWaitS * 1000;
  bench.endBy = performance.now() + (flags.budgetMinutes + 1.5) * 60_000;
  const skipped: string[] = [];
  // The results name no path of this machine: they are committed.
  const stored = {
    ...flags,
    out: withoutMachinePath(flags.out),
    beamDir: flags.beamDir && "<a tree outside the repository>",
  };
  let meta: Record<string, unknown> = { date, flags: stored };
  const resultsNow = (aborted?: string) => {
    const beamTask = startTask(bench.beamDir);
    return {
      ...meta,
      beamEntry: "main.ts",
      // How Beam ran: the start task's environment and flags, and any added
      // for the run.
      beamEnv: beamTask.env,
      beamFlags: [...beamTask.flags, ...serverFlags()],
      serverEnv: Deno.env.get("BENCH_SERVER_ENV") || undefined,
      totalSeconds: round(elapsedS()),
      aborted,
      skipped: skipped.length ? skipped : undefined,
      records,
    };
  };
  const abort = (why: string, code: number) => {
    console.error(`bench: ${why}: stopping the servers and the load`);
    for (const c of bench.clients) c.kill();
    for (const server of bench.current) {
      try {
        Deno.kill(server.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    bench.redis?.kill();
    // Keep what was measured, marked as cut short.
    try {
      Deno.mkdirSync(`${ROOT}/bench/results`, { recursive: true });
      Deno.writeTextFileSync(
        flags.out,
        JSON.stringify(resultsNow(why), null, 2) + "\n",
      );
      console.error(`bench: wrote what was measured to ${flags.out}`);
    } catch (error) {
      console.error(
        `bench: cannot write ${flags.out}: ${(error as Error).message}`,
      );
    }
    Deno.exit(code);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => abort(signal, 130));
  }
  // However the machine behaves, the benchmark ends by itself.
  const watchdog = setTimeout(
    () => abort(`still running after ${flags.maxMinutes} min`, 2),
    flags.maxMinutes * 60_000,
  );
  /** Whether there is time left for `what`; if not, notes it as skipped. */
  const inBudget = (what: string) => {
    if (elapsedS() <= flags.budgetMinutes * 60) return true;
    skipped.push(`${what} (over the ${flags.budgetMinutes} min budget)`);
    console.error(
      `bench: skipping ${what}: over the ${flags.budgetMinutes} min budget`,
    );
    return false;
  };
  const serverPhases = flags.only.some((p) => p !== "bus");
  if (serverPhases && flags.servers.includes("peerjs")) {
    bench.peerCli = await ensurePeerJs();
  }
  let beamSource = "work tree";
  if (flags.beamRef) {
    const snap = await beamSnapshot(flags.beamRef);
    bench.beamDir = snap.dir;
    beamSource = `commit ${snap.commit.slice(0, 7)} (${flags.beamRef})`;
  }
  if (flags.beamDir) {
    if (flags.beamRef) {
      throw new TypeError("Cannot use both --beam-ref and --beam-dir");
    }
    bench.beamDir = flags.beamDir;
    beamSource = "a tree outside the repository (--beam-dir)";
  }
  let beamBaseSource: string | undefined;
  if (flags.beamBase) {
    const snap = await beamSnapshot(flags.beamBase);
    bench.baseDir = snap.dir;
    beamBaseSource = `commit ${snap.commit.slice(0, 7)} (${flags.beamBase})`;
  }
  const bus = flags.only.includes("bus");
  meta = {
    date,
    command: ["deno task bench", ...Deno.args.map(argWithoutMachinePath)]
      .join(" "),
    flags: stored,
    machine: await machine(flags),
    beamSource,
    beamBaseSource,
    redis: bus
      ? {
        version: redisVersion(
          await run("redis-server", ["--version"]).catch(() => "?"),
        ),
        args: "--bind 127.0.0.1 --save '' --appendonly no",
        pinned: flags.pin
          ? `Beam instances on CPU 0, redis-server on CPU ${flags.redisCpus}, load on the other CPUs (taskset)`
          : "no",
      }
      : undefined,
  };
  bench.start();
  try {
    // A run during which other processes were busy is measured again at
    // the end, when the burst has likely passed (measuring again at once
    // would mostly meet the same burst).
    const redo: {
      kind: ServerKind;
      n: number;
      run: number;
      type: "load" | "bus";
      records: Record_[];
    }[] = [];
    const busyOf = (rs: Record_[]) =>
      Math.max(0, ...rs.map((x) => Number(x.otherCpuUtil ?? 0)));
    const measure = async (
      kind: ServerKind,
      n: number,
      run: number,
      type: "load" | "bus",
    ) => {
      const first = records.length;
      await bench.load(kind, n, run, type);
      return records.slice(first);
    };
    const measureOrRedo = async (
      kind: ServerKind,
      n: number,
      run: number,
      type: "load" | "bus",
    ) => {
      const mine = await measure(kind, n, run, type);
      const busy = busyOf(mine);
      // A bus conversation that does not end within --bus-timeout is
      // what the setup does under that load: reported, not measured again.
      const cut = type === "load" && mine.some((x) => x.complete === false);
      if (busy > flags.retryBusy || cut) {
        redo.push({ kind, n, run, type, records: mine });
        console.error(
          `bench: ${kind} N=${n} run ${run}: ${
            cut ? "not complete" : `other processes used ${busy} cores`
          }; will measure again`,
        );
      }
    };
    for (let r = 0; r < (flags.only.includes("load") ? flags.runs : 0); r++) {
      for (const n of flags.ns) {
        for (const kind of rotate(flags.servers, r + flags.ns.indexOf(n))) {
          if (!inBudget(`${kind} N=${n} run ${r + 1}`)) continue;
          await measureOrRedo(kind, n, r + 1, "load");
        }
      }
    }
    // The bus phase: one Beam instance against two over Redis, every pair
    // split between them, alternating as the load phase does.
    const busKinds = flags.busSetups;
    for (let r = 0; r < (bus ? flags.busRuns : 0); r++) {
      for (const n of flags.busNs) {
        for (const kind of rotate(busKinds, r + flags.busNs.indexOf(n))) {
          if (!inBudget(`bus ${kind} N=${n} run ${r + 1}`)) continue;
          await measureOrRedo(kind, n, r + 1, "bus");
        }
      }
    }
    const redoLoads = async () => {
      for (const item of redo.splice(0)) {
        if (
          elapsedS() > flags.retryUntilS ||
          !inBudget(`again: ${item.kind} N=${item.n} run ${item.run}`)
        ) continue;
        const again = await measure(item.kind, item.n, item.run, item.type);
        // Keep the quieter of the two; the other stays in the file, marked.
        const [keep, drop] = busyOf(again) < busyOf(item.records)
          ? [again, item.records]
          : [item.records, again];
        for (const x of drop) {
          x.discarded = `other processes used ${
            busyOf(drop)
          } cores; the measurement with ${busyOf(keep)} counts`;
        }
      }
    };
    await redoLoads();
  } finally {
    await bench.stop();
  }
  const results = resultsNow() as unknown as Results;
  await Deno.mkdir(`${ROOT}/bench/results`, { recursive: true });
  await Deno.writeTextFile(flags.out, JSON.stringify(results, null, 2) + "\n");
  await formatted(flags.out);
  console.error(
    `bench: wrote ${
      withoutMachinePath(flags.out)
    } (server logs in ${WORK_DIR}/logs)`,
  );
  console.error("bench: the tables for bench/README.md, with the command:\n");
  console.log(summaryMarkdown(results));
  clearTimeout(watchdog);
}

/** `Redis server v=7.0.15 sha=… malloc=jemalloc-5.3.0 …` as `redis-server 7.0.15 (jemalloc-5.3.0)`. */
function redisVersion(text: string): string {
  const v = /v=(\S+)/.exec(text)?.[1];
  const malloc = /malloc=(\S+)/.exec(text)?.[1];
  return v ? `redis-server ${v}${malloc ? ` (${malloc})` : ""}` : text.trim();
}

/** Runs `deno fmt` on a file the benchmark wrote, so `deno task ok` stays clean. */
async function formatted(path: string): Promise<void> {
  if (!path.startsWith(ROOT + "/")) return;
  await run(Deno.execPath(), ["fmt", "--quiet", path]).catch((error) =>
    console.error(`bench: cannot format ${path}: ${error.message}`)
  );
}

if (import.meta.main) await main();
