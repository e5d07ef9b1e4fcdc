/**
 * The redis-server of the benchmark's bus phase: started on a free loopback
 * port with persistence off, in its own process group (stopped by the
 * group's id, never by name), and asked for its figures over a plain TCP
 * connection (RESP), so the benchmark needs no Redis client of its own.
 *
 * @module
 */

import {
  freePort,
  pinned,
  procStat,
  shellQuote,
  sleep,
  WORK_DIR,
} from "./servers.ts";

/** A running redis-server. */
export interface RunningRedis {
  port: number;
  /** Its pid, which is also its process group's id. */
  pid: number;
  log: string;
  /** `redis-server --version`. */
  version: string;
  /** The command it runs with. */
  argv: string[];
  /** Whether it still runs. */
  alive(): boolean;
  /** SIGTERM to its group, SIGKILL after 3 s; waits for it. */
  stop(): Promise<void>;
  /** Kills its group at once (the watchdog). */
  kill(): void;
}

/** The redis-server binary: `$REDIS_SERVER` or the one on PATH. */
export function redisBinary(): string {
  return Deno.env.get("REDIS_SERVER") ?? "redis-server";
}

/**
 * Starts redis-server on 127.0.0.1 (no snapshots, no append-only file),
 * pinned to `cpus` if given, in a new session (so its pid is its process
 * group's id), and waits until it answers PING.
 */
export async function startRedis(
  options: { label: string; cpus?: string },
): Promise<RunningRedis> {
  const port = freePort();
  await Deno.mkdir(`${WORK_DIR}/logs`, { recursive: true });
  const dir = `${WORK_DIR}/redis-${port}`;
  await Deno.mkdir(dir, { recursive: true });
  const log = `${WORK_DIR}/logs/${options.label}.log`;
  const version = await new Deno.Command(redisBinary(), {
    args: ["--version"],
    stdout: "piped",
    stderr: "null",
  }).output().then((o) => new TextDecoder().decode(o.stdout).trim())
    .catch(() => "?");
  const argv = [
    redisBinary(),
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--logfile",
    log,
  ];
  const pin = pinned(options.cpus);
  // setsid: redis-server leads a group of its own, which is what is stopped.
  const child = new Deno.Command("setsid", {
    args: [
      "bash",
      "-c",
      `exec ${pin}${argv.map(shellQuote).join(" ")}`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const pid = child.pid;
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const signalGroup = (signal: Deno.Signal) => {
    try {
      Deno.kill(-pid, signal);
    } catch {
      // Already gone.
    }
  };
  const deadline = performance.now() + 10_000;
  while (true) {
    if (exited) {
      const text = await Deno.readTextFile(log).catch(() => "");
      throw new Error(
        `Cannot start redis-server: it exited (${text.slice(-400)})`,
      );
    }
    try {
      if ((await redisCommand(port, "PING")).startsWith("+PONG")) break;
    } catch {
      // Not listening yet.
    }
    if (performance.now() > deadline) {
      signalGroup("SIGKILL");
      throw new Error(`Cannot start redis-server: port ${port} never answered`);
    }
    await sleep(50);
  }
  return {
    port,
    pid,
    log,
    version,
    argv,
    alive: () => !exited && procStat(pid).alive,
    async stop() {
      if (exited) return;
      signalGroup("SIGTERM");
      const killer = setTimeout(() => signalGroup("SIGKILL"), 3000);
      await status;
      clearTimeout(killer);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
    kill: () => signalGroup("SIGKILL"),
  };
}

/**
 * Sends one inline command and returns the raw reply (one line, or a whole
 * bulk string), within 5 s.
 */
export async function redisCommand(
  port: number,
  command: string,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    await conn.write(new TextEncoder().encode(command + "\r\n"));
    const decoder = new TextDecoder();
    const buf = new Uint8Array(64 * 1024);
    let text = "";
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
      const nl = text.indexOf("\r\n");
      if (nl === -1) continue;
      if (text[0] !== "$") return text.slice(0, nl);
      const length = Number(text.slice(1, nl));
      if (length < 0) return "";
      // Bytes and characters agree: INFO is ASCII.
      if (text.length >= nl + 2 + length) {
        return text.slice(nl + 2, nl + 2 + length);
      }
    }
    throw new Error(`Cannot read redis-server's answer to ${command}`);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
}

/** `INFO <section>` as numbers where they are numbers. */
export async function redisInfo(
  port: number,
  section: string,
): Promise<Record<string, number | string>> {
  const text = await redisCommand(port, `INFO ${section}`);
  const out: Record<string, number | string> = {};
  for (const line of text.split("\r\n")) {
    const at = line.indexOf(":");
    if (at <= 0 || line.startsWith("#")) continue;
    const value = line.slice(at + 1);
    out[line.slice(0, at)] = value !== "" && Number.isFinite(Number(value))
      ? Number(value)
      : value;
  }
  return out;
}

/** What the benchmark reads of redis-server around a measurement. */
export interface RedisSample {
  /** utime + stime (ms) and RSS (KiB) from /proc. */
  cpuMs: number;
  rssKiB: number;
  /** INFO memory's used_memory, bytes. */
  usedMemory: number;
  /** INFO stats: commands processed so far. */
  commands: number;
  /** INFO commandstats: PUBLISH and SUBSCRIBE calls so far. */
  publish: number;
  subscribe: number;
  /** INFO stats: channels with a subscriber now. */
  channels: number;
  /**
   * INFO stats: read and write events Redis processed (about one read or
   * write call each): PUBLISHes per read say how well commands are batched.
   */
  reads: number;
  writes: number;
}

/** Reads redis-server's CPU, memory and command counts. */
export async function redisSample(redis: RunningRedis): Promise<RedisSample> {
  const [memory, stats, commands] = await Promise.all([
    redisInfo(redis.port, "memory"),
    redisInfo(redis.port, "stats"),
    redisInfo(redis.port, "commandstats"),
  ]);
  const calls = (name: string) =>
    Number(
      /calls=(\d+)/.exec(String(commands[`cmdstat_${name}`] ?? ""))?.[1] ?? 0,
    );
  const proc = procStat(redis.pid);
  return {
    cpuMs: proc.cpuMs,
    rssKiB: proc.rssKiB,
    usedMemory: Number(memory.used_memory),
    commands: Number(stats.total_commands_processed),
    publish: calls("publish"),
    subscribe: calls("subscribe"),
    channels: Number(stats.pubsub_channels),
    reads: Number(stats.total_reads_processed),
    writes: Number(stats.total_writes_processed),
  };
}

/**
 * Waits until a Beam instance's /healthz says its bus is up (at most
 * `timeoutMs`); returns what it said last.
 */
export async function waitBusUp(
  port: number,
  timeoutMs = 10_000,
): Promise<Record<string, unknown>> {
  const deadline = performance.now() + timeoutMs;
  let last: Record<string, unknown> = {};
  while (performance.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      last = await response.json();
      if (last.bus === "up") return last;
    } catch (error) {
      last = { error: (error as Error).message };
    }
    await sleep(100);
  }
  throw new Error(
    `Cannot use the Redis bus: instance on port ${port} says ${
      JSON.stringify(last)
    }`,
  );
}
