/**
 * Where an idle signaling connection's memory goes: starts one server (Beam
 * as `deno task start` runs it, or the bare relay), warms it up as the
 * benchmark does, opens N idle peers, waits a second and prints one JSON
 * line: resident memory per peer (what `deno task bench` reports), and how
 * much of it is V8's heap (per space) and how much is native, from
 * `Deno.memoryUsage()` and `v8.getHeapSpaceStatistics()` sampled inside the
 * server by a preloaded module, and from /proc/PID/smaps by mapping.
 *
 * ```sh
 * deno run -A bench/memory_probe.ts --kind=beam --n=10000
 * BENCH_SERVER_FLAGS="--v8-flags=--max-semi-space-size=2" \
 *   BENCH_SERVER_ENV="MALLOC_ARENA_MAX=2" deno run -A bench/memory_probe.ts
 * ```
 *
 * The figures of bench/EXPERIMENTS-signal.md's memory section come from this
 * probe (and from `deno task bench` where it says "bench").
 *
 * @module
 */

import { readFlags } from "./flags.ts";
import { LoadClient, procStat, startServer, WORK_DIR } from "./servers.ts";

const HELP = `Usage: deno run -A bench/memory_probe.ts [flags]
  --kind=beam   beam (as \`deno task start\` runs it) or bare
  --n=10000     idle peers to open (even)
Extra server flags and environment: BENCH_SERVER_FLAGS, BENCH_SERVER_ENV.`;

/** What the preloaded module writes: the server's own view of its memory. */
interface MemorySample {
  heapTotal: number;
  heapUsed: number;
  external: number;
  spaces: Record<string, number>;
}

// Preloaded into the server: writes its memory every 200 ms to a file named
// after its pid, which this probe reads before and after the peers open.
const PRELOAD = `
import v8 from "node:v8";
const file = ${
  JSON.stringify(`${WORK_DIR}/memory-probe`)
} + "/mem-" + Deno.pid + ".json";
const timer = setInterval(() => {
  const spaces = {};
  for (const s of v8.getHeapSpaceStatistics()) spaces[s.space_name] = s.space_size;
  Deno.writeTextFileSync(file, JSON.stringify({ ...Deno.memoryUsage(), spaces }));
}, 200);
Deno.unrefTimer(timer);
`;

/** Resident KiB of a process by mapping name (anonymous ones as "anon"). */
function smaps(pid: number): Map<string, number> {
  const sizes = new Map<string, number>();
  let name = "anon";
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps`).split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) name = head[1] || "anon";
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (rss) sizes.set(name, (sizes.get(name) ?? 0) + Number(rss[1]));
  }
  return sizes;
}

async function sample(pid: number): Promise<MemorySample> {
  // Wait for a sample written after this call, so it is current.
  await new Promise((resolve) => setTimeout(resolve, 450));
  const file = `${WORK_DIR}/memory-probe/mem-${pid}.json`;
  return JSON.parse(await Deno.readTextFile(file));
}

async function main(): Promise<void> {
  const flags = readFlags(Deno.args, HELP);
  for (const name of flags.keys()) {
    if (name !== "kind" && name !== "n") {
      throw new TypeError(`Cannot read flag --${name}: unknown (see --help)`);
    }
  }
  const kind = flags.get("kind") ?? "beam";
  if (kind !== "beam" && kind !== "bare") {
    throw new TypeError(`Cannot probe "${kind}": --kind is beam or bare`);
  }
  const n = Number(flags.get("n") ?? "10000");
  if (!Number.isInteger(n) || n < 2 || n % 2 !== 0) {
    throw new RangeError(`Cannot open ${n} peers: --n must be an even count`);
  }
  await Deno.mkdir(`${WORK_DIR}/memory-probe`, { recursive: true });
  const preload = `${WORK_DIR}/memory-probe/preload.ts`;
  await Deno.writeTextFile(preload, PRELOAD);
  Deno.env.set(
    "BENCH_SERVER_FLAGS",
    `--preload=${preload} ${Deno.env.get("BENCH_SERVER_FLAGS") ?? ""}`,
  );
  const server = await startServer(kind, {
    nofile: 16384,
    peerCli: "",
    label: `memory-probe-${kind}`,
    cpus: "0",
    env: { MAX_PEERS_PER_IP: "1000000" },
  });
  const clients = [0, 1].map((i) => new LoadClient(i, 20000, "1"));
  try {
    await Promise.all(
      clients.map((c, i) =>
        c.call("setup", { kind, port: server.port, tag: `c${i}` })
      ),
    );
    // The benchmark's warm-up: 20 pairs through the conversation.
    await clients[0].call("connect", { n: 40 });
    await clients[0].call("converse", { window: 4, timeoutMs: 20_000 });
    await clients[0].call("close");
    await new Promise((resolve) => setTimeout(resolve, 1000));

    const maps0 = smaps(server.pid);
    const rss0 = procStat(server.pid).rssKiB;
    const mem0 = await sample(server.pid);
    await Promise.all(
      clients.map((c) =>
        c.call("connect", { n: n / 2, concurrency: 200, deadlineMs: 60_000 })
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rss1 = procStat(server.pid).rssKiB;
    const maps1 = smaps(server.pid);
    const mem1 = await sample(server.pid);

    // KB = 1000 B, per peer, as the benchmark reports.
    const kb = (bytes: number) => Math.round(bytes / n / 10) / 100;
    const spaces: Record<string, number> = {};
    for (const [space, size] of Object.entries(mem1.spaces)) {
      spaces[space] = kb(size - (mem0.spaces[space] ?? 0));
    }
    const mappings: Record<string, number> = {};
    for (const name of new Set([...maps0.keys(), ...maps1.keys()])) {
      const kib = (maps1.get(name) ?? 0) - (maps0.get(name) ?? 0);
      if (Math.abs(kib) > 100) mappings[name] = kb(kib * 1024);
    }
    const rssKB = kb((rss1 - rss0) * 1024);
    console.log(JSON.stringify({
      kind,
      n,
      flags: Deno.env.get("BENCH_SERVER_FLAGS"),
      env: Deno.env.get("BENCH_SERVER_ENV") ?? "",
      kbPerPeer: rssKB,
      heapTotalKB: kb(mem1.heapTotal - mem0.heapTotal),
      heapUsedKB: kb(mem1.heapUsed - mem0.heapUsed),
      nativeKB:
        Math.round((rssKB - kb(mem1.heapTotal - mem0.heapTotal)) * 100) /
        100,
      spacesKB: spaces,
      smapsKB: mappings,
      mappingsAtIdle: Deno.readTextFileSync(`/proc/${server.pid}/maps`)
        .split("\n").length,
    }));
    await Promise.all(clients.map((c) => c.call("close")));
  } finally {
    await server.stop();
    await Promise.all(clients.map((c) => c.exit()));
  }
}

if (import.meta.main) await main();
