/**
 * The redis-server of the benchmark's bus phase: the tests' own
 * (`startRedis` of tests/_helpers/services.ts: a free loopback port,
 * persistence off, its own process group, stopped by the group's id),
 * pinned to the bus phase's CPUs once it runs, and asked for its figures
 * with `INFO`.
 *
 * @module
 */

import { startRedis, type TestRedis } from "../tests/_helpers/services.ts";
import { procStat, run, sleep } from "./servers.ts";

/** A running redis-server and its process id (its group's too). */
export interface BenchRedis extends TestRedis {
  pid: number;
  /** Kills its group at once (the benchmark's watchdog). */
  kill(): void;
}

/** `INFO <section>` as numbers where they are numbers. */
async function redisInfo(
  redis: TestRedis,
  section: string,
): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  for (const line of (await redis.cli("INFO", section)).split(/\r?\n/)) {
    const at = line.indexOf(":");
    if (at <= 0 || line.startsWith("#")) continue;
    const value = line.slice(at + 1);
    out[line.slice(0, at)] = value !== "" && Number.isFinite(Number(value))
      ? Number(value)
      : value;
  }
  return out;
}

/**
 * Starts redis-server as the tests do and, given `cpus` (taskset's list),
 * pins all its threads there, as the Beam instances are pinned.
 */
export async function startBenchRedis(cpus?: string): Promise<BenchRedis> {
  const redis = await startRedis();
  try {
    const pid = Number((await redisInfo(redis, "server")).process_id);
    if (!(pid > 0)) {
      throw new Error("Cannot pin redis-server: INFO gave no process_id");
    }
    if (cpus) await run("taskset", ["-a", "-p", "-c", cpus, String(pid)]);
    return {
      ...redis,
      pid,
      kill() {
        try {
          Deno.kill(-pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      },
    };
  } catch (error) {
    await redis.stop();
    throw error;
  }
}

/** What the benchmark reads of redis-server around a measurement. */
export interface RedisSample {
  /** utime + stime (ms) and RSS (KiB) from /proc. */
  cpuMs: number;
  rssKiB: number;
  /** INFO memory's used_memory, bytes. */
  usedMemory: number;
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
export async function redisSample(redis: BenchRedis): Promise<RedisSample> {
  const [memory, stats, commands] = await Promise.all([
    redisInfo(redis, "memory"),
    redisInfo(redis, "stats"),
    redisInfo(redis, "commandstats"),
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
