/**
 * The signaling benchmark's results as Markdown, printed for pasting into
 * bench/README.md by hand: what was run and on what, the goals, medians per
 * N and server, Beam's ratios, the paced phase, and the bus phase.
 *
 * Nothing here writes the README: a table pasted with the command that
 * made it stays true as a record, where a regenerated one would silently
 * replace the run its findings were written from.
 *
 * @module
 */

import { median, round } from "./stats.ts";

/** One measurement, as the benchmark stores it. */
export type Rec = Record<string, unknown> & { type: string; server: string };

/** What the benchmark writes to bench/results/<date>.json. */
export interface Results {
  date: string;
  command: string;
  flags: { rate: number; pacedN: number };
  machine: Record<string, unknown>;
  beamEntry: string;
  beamEnv?: Record<string, string>;
  beamFlags?: string[];
  beamSource: string;
  redis?: { version: string; args: string; pinned: string };
  skipped?: string[];
  totalSeconds: number;
  records: Rec[];
}

const LOAD_KEYS = [
  "msgsPerSec",
  "p50Ms",
  "p99Ms",
  "cpuUsPerMsg",
  "memPerIdleConnKB",
  "serverCpuUtil",
  "clientCpuUtil",
] as const;
const PACED_KEYS = [
  "offeredRate",
  "p50Ms",
  "p99Ms",
  "maxMs",
  "lost",
  "cpuUsPerMsg",
  "serverCpuUtil",
] as const;
const BUS_KEYS = [
  ...LOAD_KEYS,
  "cpuUsPerMsgI1",
  "cpuUsPerMsgI2",
  "cpuUsPerMsgRedis",
  "memPerIdleConnKBI1",
  "memPerIdleConnKBI2",
  "redisRssPerPeerKB",
  "redisUsedMemoryPerPeerB",
] as const;

/** Other processes used more than this many cores during a busy run. */
const BUSY_CORES = 0.25;

/** Minimum bus / single-instance msgs/s ratio (issue "Scale out"). */
const BUS_RATIO_GOAL = 0.5;

type Medians = Record<string, number> & { runs: number };

/**
 * Medians of `keys`. Runs during which other processes were busy are left
 * out while at least two quiet runs remain: on a shared machine a busy run
 * measures the neighbours more than the server.
 */
function mediansOf(records: Rec[], keys: readonly string[]): Medians {
  const quiet = records.filter((r) => !(Number(r.otherCpuUtil) > BUSY_CORES));
  const used = quiet.length >= 2 ? quiet : records;
  const out = { runs: records.length } as Medians;
  out.used = used.length;
  out.busyRuns = records.length - quiet.length;
  out.incomplete = used.filter((r) => r.complete === false).length;
  for (const key of keys) {
    out[key] = round(median(used.map((r) => Number(r[key]))));
  }
  return out;
}

/** "3", "2 of 3 (1 busy left out)", "3 (1 busy)" or "3 (1 not complete)". */
function runsCell(x: Medians): string {
  const cut = x.incomplete ? `, ${x.incomplete} not complete` : "";
  if (x.used < x.runs) {
    return `${x.used} of ${x.runs} (${x.runs - x.used} busy left out${cut})`;
  }
  if (x.busyRuns) return `${x.runs} (${x.busyRuns} busy${cut})`;
  return cut ? `${x.runs} (${cut.slice(2)})` : String(x.runs);
}

function ratio(a: number | undefined, b: number | undefined): number {
  return a === undefined || b === undefined || !b ? NaN : round(a / b);
}

/** Medians per N (as a string key) and server of the records of `type`. */
function byNAndServer(
  recs: Rec[],
  type: string,
  keys: readonly string[],
): Record<string, Record<string, Medians>> {
  const out: Record<string, Record<string, Medians>> = {};
  const mine = recs.filter((r) => r.type === type);
  const ns = [...new Set(mine.map((r) => Number(r.n)))].sort((a, b) => a - b);
  for (const n of ns) {
    out[n] = {};
    for (const s of new Set(mine.map((r) => r.server))) {
      const rs = mine.filter((r) => r.n === n && r.server === s);
      if (rs.length) out[n][s] = mediansOf(rs, keys);
    }
  }
  return out;
}

function md(head: string[], rows: (string | number | undefined)[][]): string {
  const cell = (v: string | number | undefined) =>
    v === undefined || Number.isNaN(v) ? "–" : String(v);
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => " --- ").join("|")}|`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

/** A goal, what was measured, and whether it was met. */
type Goal = [goal: string, measured: string, met: boolean];

function goalsTable(goals: Goal[]): string {
  return md(
    ["goal", "measured", "verdict"],
    goals.map((
      [goal, measured, met],
    ) => [goal, measured, met ? "met" : "missed"]),
  );
}

function ratiosTable(ratios: [string, Medians, Medians][]): string {
  return md(
    ["", "msgs/s", "p50", "p99", "CPU/msg", "mem/conn"],
    ratios.map(([name, a, b]) => [
      name,
      ...LOAD_KEYS.slice(0, 5).map((k) => ratio(a[k], b[k])),
    ]),
  );
}

/** Who measured what, where: the paragraph above each pasted table. */
function heading(results: Results): string {
  const m = results.machine;
  const env = Object.entries(results.beamEnv ?? {}).map(([k, v]) =>
    `${k}=${v} `
  ).join("");
  const dirty = (m.uncommittedServerFiles ?? []) as string[];
  const source = results.beamSource !== "work tree"
    ? results.beamSource
    : `the work tree at commit ${m.commit}${
      dirty.length ? ` with uncommitted changes (${dirty.join(", ")})` : ""
    }`;
  const flags = results.beamFlags
    ? ` (\`${env}deno run ${results.beamFlags.join(" ")}\`)`
    : "";
  return [
    `Measured ${results.date.slice(0, 16).replace("T", " ")} UTC with`,
    `\`${results.command}\` (${results.totalSeconds} s in all) on ${m.cpu},`,
    `${m.cores} cores, Linux ${m.kernel}; Deno ${m.deno}, Node ${m.node}.`,
    `Beam: \`${results.beamEntry}\`${flags} from ${source};`,
    `lib/signal as of ${String(m.signalCommit).split(" ")[0]}.`,
    `Pinning: ${results.redis?.pinned ?? m.pinned}.`,
    ...(results.redis ? [`${results.redis.version}.`] : []),
    ...(results.skipped?.length
      ? [`Skipped (over the time budget): ${results.skipped.join("; ")}.`]
      : []),
  ].join(" ");
}

/** The load and paced phases: goals, medians, ratios. */
function loadMarkdown(results: Results, recs: Rec[]): string[] {
  const load = byNAndServer(recs, "load", LOAD_KEYS);
  if (Object.keys(load).length === 0) return [];
  const paced = byNAndServer(recs, "paced", PACED_KEYS)[results.flags.pacedN] ??
    {};
  const goals: Goal[] = [];
  for (const n of ["1000", "10000"]) {
    const { beam, peerjs, bare } = load[n] ?? {};
    if (!beam) continue;
    if (peerjs) {
      const r = ratio(beam.msgsPerSec, peerjs.msgsPerSec);
      goals.push([`msgs/s at N=${n} >= 1.2x PeerJS`, `${r}x`, r >= 1.2]);
    }
    if (bare) {
      const r = ratio(beam.msgsPerSec, bare.msgsPerSec);
      goals.push([`msgs/s at N=${n} >= 0.9x bare relay`, `${r}x`, r >= 0.9]);
    }
  }
  if (paced.beam && paced.peerjs) {
    goals.push([
      `p99 at a fixed ${results.flags.rate} msgs/s (N=${results.flags.pacedN}) <= PeerJS`,
      `${paced.beam.p99Ms} ms vs ${paced.peerjs.p99Ms} ms`,
      paced.beam.p99Ms <= paced.peerjs.p99Ms,
    ]);
  }
  const top = load[Object.keys(load).at(-1)!];
  if (top.beam && top.peerjs) {
    const r = ratio(top.beam.p99Ms, top.peerjs.p99Ms);
    goals.push([
      `p99 under saturation (N=${Object.keys(load).at(-1)}) <= 2x PeerJS`,
      `${top.beam.p99Ms} ms vs ${top.peerjs.p99Ms} ms (${r}x)`,
      r <= 2,
    ]);
  }
  if (load["10000"]?.beam) {
    const kb = load["10000"].beam.memPerIdleConnKB;
    goals.push([
      "memory per idle peer at N=10,000 <= 15 KB",
      `${kb} KB`,
      kb <= 15,
    ]);
  }
  const ratios: [string, Medians, Medians][] = [];
  for (const [n, byServer] of Object.entries(load)) {
    for (const other of ["peerjs", "bare", "beam-base"]) {
      if (byServer.beam && byServer[other]) {
        ratios.push([`N=${n} beam/${other}`, byServer.beam, byServer[other]]);
      }
    }
  }
  const out = [
    ...(goals.length ? ["### Goals", "", goalsTable(goals), ""] : []),
    "### Throughput, latency, CPU and memory (medians)",
    "",
    md(
      [
        "N",
        "server",
        "runs",
        "msgs/s",
        "p50 ms",
        "p99 ms",
        "server CPU µs/msg",
        "KB per idle conn",
        "server CPU (cores)",
        "load CPU (cores)",
      ],
      Object.entries(load).flatMap(([n, byServer]) =>
        Object.entries(byServer).map(([s, x]) => [
          n,
          s,
          runsCell(x),
          x.msgsPerSec,
          x.p50Ms,
          x.p99Ms,
          x.cpuUsPerMsg,
          x.memPerIdleConnKB,
          x.serverCpuUtil,
          x.clientCpuUtil,
        ])
      ),
    ),
  ];
  if (ratios.length) {
    out.push(
      "",
      "### Ratios, Beam / other (medians; > 1 is better for msgs/s, < 1 for the rest)",
      "",
      ratiosTable(ratios),
    );
  }
  if (Object.keys(paced).length) {
    out.push(
      "",
      `### Fixed offered rate: ${results.flags.rate} msgs/s at N=${results.flags.pacedN}, open loop (medians)`,
      "",
      md(
        [
          "server",
          "runs",
          "offered msgs/s",
          "p50 ms",
          "p99 ms",
          "max ms",
          "lost",
          "server CPU µs/msg",
          "server CPU (cores)",
        ],
        Object.entries(paced).map(([s, x]) => [
          s,
          runsCell(x),
          ...PACED_KEYS.map((k) => x[k]),
        ]),
      ),
    );
  }
  return out;
}

/** The bus phase: one instance against two over Redis. */
function busMarkdown(recs: Rec[]): string[] {
  const bus = byNAndServer(recs, "bus", BUS_KEYS);
  if (Object.keys(bus).length === 0) return [];
  const goals: Goal[] = [];
  const ratios: [string, Medians, Medians][] = [];
  for (const [n, { beam: one, "beam-redis": two }] of Object.entries(bus)) {
    if (!one || !two) continue;
    ratios.push([`N=${n} redis/one`, two, one]);
    const r = ratio(two.msgsPerSec, one.msgsPerSec);
    // A conversation that did not end has no rate of its own: msgs/s is
    // then what was relayed within the timeout, and the goal is not met.
    const cut = two.incomplete + one.incomplete;
    goals.push([
      `msgs/s at N=${n}, every pair split over Redis, >= ${BUS_RATIO_GOAL}x one instance`,
      `${r}x (${two.msgsPerSec} vs ${one.msgsPerSec})${
        cut
          ? `; not complete in ${two.incomplete} of ${two.used} Redis runs and ${one.incomplete} of ${one.used} single runs`
          : ""
      }`,
      !cut && r >= BUS_RATIO_GOAL,
    ]);
  }
  const big = bus["10000"]?.["beam-redis"];
  if (big) {
    goals.push([
      "Beam memory per idle peer with the Redis bus at N=10,000 <= 15 KB",
      `${big.memPerIdleConnKBI1} and ${big.memPerIdleConnKBI2} KB; redis-server ${big.redisRssPerPeerKB} KB RSS, ${big.redisUsedMemoryPerPeerB} B used_memory`,
      Math.max(big.memPerIdleConnKBI1, big.memPerIdleConnKBI2) <= 15,
    ]);
  }
  return [
    "### Several instances over Redis",
    "",
    goalsTable(goals),
    "",
    "Medians. CPU is utime + stime of each process over the conversation, " +
    "per message relayed end to end; instance 1 holds the requesters, " +
    "instance 2 the senders. Memory: RSS growth per peer held, 1 s after " +
    "N peers opened.",
    "",
    md(
      [
        "N",
        "setup",
        "runs",
        "msgs/s",
        "p50 ms",
        "p99 ms",
        "CPU µs/msg, all",
        "instance 1",
        "instance 2",
        "redis-server",
        "Beam KB/idle peer",
        "redis KB/peer (RSS)",
        "redis B/peer (used_memory)",
      ],
      Object.entries(bus).flatMap(([n, byKind]) =>
        Object.entries(byKind).map(([s, x]) => [
          n,
          s === "beam" ? "one instance" : "two over Redis",
          runsCell(x),
          x.msgsPerSec,
          x.p50Ms,
          x.p99Ms,
          x.cpuUsPerMsg,
          x.cpuUsPerMsgI1,
          x.cpuUsPerMsgI2,
          x.cpuUsPerMsgRedis,
          s === "beam"
            ? x.memPerIdleConnKBI1
            : `${x.memPerIdleConnKBI1}, ${x.memPerIdleConnKBI2}`,
          x.redisRssPerPeerKB,
          x.redisUsedMemoryPerPeerB,
        ])
      ),
    ),
    "",
    "Ratios, two over Redis / one instance (medians):",
    "",
    ratiosTable(ratios),
  ];
}

/** The Markdown for bench/README.md: heading, then each phase measured. */
export function summaryMarkdown(results: Results): string {
  // A run measured again keeps the quieter one; the other is marked.
  const recs = results.records.filter((r) => !r.discarded);
  return [
    [heading(results)],
    loadMarkdown(results, recs),
    busMarkdown(recs),
  ].filter((part) => part.length > 0).map((part) => part.join("\n")).join(
    "\n\n",
  );
}
