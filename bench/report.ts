/**
 * Turns the benchmark's records into medians, ratios and goal verdicts, as
 * a plain-text summary for the terminal and as the Markdown tables between
 * the markers in bench/README.md.
 *
 * @module
 */

import { median, round } from "./stats.ts";

type Rec = Record<string, unknown> & { type: string; server: string };

/** What the benchmark writes to bench/results/<date>.json (less the summary). */
export interface Results {
  date: string;
  command: string;
  flags: { rate: number; pacedN: number };
  machine: Record<string, unknown>;
  beamEntry: string;
  beamEntryNote?: string;
  /** The environment the start task sets (results before 2026-11-26 lack it). */
  beamEnv?: Record<string, string>;
  /** The `deno run` flags Beam ran with (results before 2026-11-26 lack them). */
  beamFlags?: string[];
  beamSource: string;
  /** Beam at `--beam-base`, when measured. */
  beamBaseSource?: string;
  /** The bus phase's redis-server, when it ran. */
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

type Medians = Record<string, number> & { runs: number };

/** Other processes used more than this many cores during a busy run. */
export const BUSY_CORES = 0.25;

/**
 * Medians of `keys`. Runs during which other processes were busy are left
 * out while at least two quiet runs remain: on a shared machine a busy run
 * measures the neighbours more than the server.
 */
function mediansOf(records: Rec[], keys: readonly string[]): Medians {
  const quiet = records.filter((r) => !(Number(r.otherCpuUtil) > BUSY_CORES));
  const used = quiet.length >= 2 ? quiet : records;
  const out: Medians = { runs: records.length } as Medians;
  out.used = used.length;
  out.busyRuns = records.length - quiet.length;
  out.incomplete = used.filter((r) => r.complete === false).length;
  for (const key of keys) {
    out[key] = round(median(used.map((r) => Number(r[key]))));
  }
  return out;
}

/** "3", "2 of 3 (1 busy left out)" or "3 (1 busy)". */
/** The cells both load tables share: N, server, runs and the medians. */
function loadCells(n: string, server: string, x: Medians): (string | number)[] {
  return [
    n,
    server,
    runsCell(x),
    x.msgsPerSec,
    x.p50Ms,
    x.p99Ms,
    x.cpuUsPerMsg,
    x.memPerIdleConnKB,
    x.serverCpuUtil,
  ];
}

function runsCell(x: Medians): string {
  const cut = x.incomplete ? `, ${x.incomplete} not complete` : "";
  if (x.used < x.runs) {
    return `${x.used} of ${x.runs} (${x.runs - x.used} busy left out${cut})`;
  }
  if (x.busyRuns) return `${x.runs} (${x.busyRuns} busy${cut})`;
  return cut ? `${x.runs} (${cut.slice(2)})` : String(x.runs);
}

/** A goal and whether this run met it. */
export interface Goal {
  goal: string;
  measured: string;
  met: boolean | null;
}

/** The summary: medians, ratios and goals, as data and as text. */
export interface Summary {
  data: {
    load: Record<string, Record<string, Medians>>;
    paced: Record<string, Medians>;
    ratios: Record<string, Record<string, number>>;
    goals: Goal[];
    bus?: BusSummary;
  };
  text: string;
}

/** The bus phase: medians per N and setup, the ratios, the goals. */
export interface BusSummary {
  load: Record<string, Record<string, Medians>>;
  ratios: Record<string, Record<string, number>>;
  goals: Goal[];
}

function ratio(a: number | undefined, b: number | undefined): number {
  return a === undefined || b === undefined || !b ? NaN : round(a / b);
}

/** Medians per N and server, Beam's ratios, and the goals. */
export function summarize(results: Results): Summary {
  const recs = results.records.filter((r) => !r.discarded);
  const load: Record<string, Record<string, Medians>> = {};
  const ns = [
    ...new Set(recs.filter((r) => r.type === "load").map((r) => Number(r.n))),
  ].sort((a, b) => a - b);
  const servers = [
    ...new Set(
      recs.filter((r) => r.type === "load" || r.type === "paced").map((r) =>
        r.server
      ),
    ),
  ];
  for (const n of ns) {
    load[n] = {};
    for (const s of servers) {
      const rs = recs.filter((r) =>
        r.type === "load" && r.n === n && r.server === s
      );
      if (rs.length) load[n][s] = mediansOf(rs, LOAD_KEYS);
    }
  }
  const paced: Record<string, Medians> = {};
  for (const s of servers) {
    const rs = recs.filter((r) => r.type === "paced" && r.server === s);
    if (rs.length) paced[s] = mediansOf(rs, PACED_KEYS);
  }
  const ratios: Record<string, Record<string, number>> = {};
  for (const n of ns) {
    const b = load[n].beam;
    for (const other of ["peerjs", "bare", "beam-base"]) {
      const o = load[n][other];
      if (!b || !o) continue;
      ratios[`N=${n} beam/${other}`] = Object.fromEntries(
        LOAD_KEYS.slice(0, 5).map((k) => [k, ratio(b[k], o[k])]),
      );
    }
  }
  for (const other of ["peerjs", "bare", "beam-base"]) {
    if (paced.beam && paced[other]) {
      ratios[`paced beam/${other}`] = {
        p50Ms: ratio(paced.beam.p50Ms, paced[other].p50Ms),
        p99Ms: ratio(paced.beam.p99Ms, paced[other].p99Ms),
      };
    }
  }
  const goals = goalsOf(load, paced, recs, results);
  const bus = recs.some((r) => r.type === "bus") ? busSummary(recs) : undefined;
  return {
    data: { load, paced, ratios, goals, bus },
    text: textSummary(load, paced, ratios, goals) +
      (bus ? busText(bus) : ""),
  };
}

const BUS_KEYS = [
  ...LOAD_KEYS,
  "cpuUsPerMsgI1",
  "cpuUsPerMsgI2",
  "cpuUsPerMsgRedis",
  "memPerIdleConnKBI1",
  "memPerIdleConnKBI2",
  "redisRssPerPeerKB",
  "redisUsedMemoryPerPeerB",
  "redisCpuUtil",
  "connectMs",
  "publishesPerMsg",
] as const;

/** Minimum bus / single-instance msgs/s ratio (issue "Scale out"). */
export const BUS_RATIO_GOAL = 0.5;

/** Medians of the bus phase: one instance, and two over Redis. */
function busSummary(recs: Rec[]): BusSummary {
  const bus = recs.filter((r) => r.type === "bus");
  const ns = [...new Set(bus.map((r) => Number(r.n)))].sort((a, b) => a - b);
  const load: Record<string, Record<string, Medians>> = {};
  const ratios: Record<string, Record<string, number>> = {};
  const goals: Goal[] = [];
  for (const n of ns) {
    load[n] = {};
    for (const s of ["beam", "beam-redis"]) {
      const rs = bus.filter((r) => r.n === n && r.server === s);
      if (rs.length) load[n][s] = mediansOf(rs, BUS_KEYS);
    }
    const one = load[n].beam;
    const two = load[n]["beam-redis"];
    if (!one || !two) continue;
    ratios[`N=${n} redis/one`] = Object.fromEntries(
      LOAD_KEYS.slice(0, 5).map((k) => [k, ratio(two[k], one[k])]),
    );
    const r = ratio(two.msgsPerSec, one.msgsPerSec);
    // A conversation that did not end has no rate of its own: msgs/s is
    // then what was relayed within the timeout, and the goal is not met.
    const cut = two.incomplete + one.incomplete;
    const closes = bus.filter((x) =>
      x.n === n && x.server === "beam-redis" && x.complete === false
    ).map((x) =>
      Object.entries(x.closes as Record<string, number>).map(([k, v]) =>
        `${v} × ${k}`
      ).join(", ") || "none closed"
    );
    goals.push({
      goal:
        `msgs/s at N=${n}, every pair split over Redis, >= ${BUS_RATIO_GOAL}x one instance`,
      measured: `${r}x (${two.msgsPerSec} vs ${one.msgsPerSec})${
        cut
          ? `; not complete in ${two.incomplete} of ${two.used} Redis runs` +
            ` and ${one.incomplete} of ${one.used} single runs` +
            (closes.length ? ` (peers closed: ${closes.join("; ")})` : "")
          : ""
      }`,
      met: !cut && r >= BUS_RATIO_GOAL,
    });
  }
  const big = load[10_000]?.["beam-redis"];
  if (big) {
    const kb = Math.max(big.memPerIdleConnKBI1, big.memPerIdleConnKBI2);
    goals.push({
      goal: "Beam memory per idle peer with the Redis bus at N=10,000 <= 15 KB",
      measured: `${big.memPerIdleConnKBI1} and ${big.memPerIdleConnKBI2} KB ` +
        `(one instance, local bus: ${
          load[10_000].beam?.memPerIdleConnKB
        } KB); ` +
        `redis-server ${big.redisRssPerPeerKB} KB RSS, ` +
        `${big.redisUsedMemoryPerPeerB} B used_memory`,
      met: kb <= 15,
    });
  }
  return { load, ratios, goals };
}

/** Cells of a bus row: the medians, each process's CPU and memory. */
function busCells(n: string, s: string, x: Medians): (string | number)[] {
  return [
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
    x.serverCpuUtil,
    x.clientCpuUtil,
  ];
}

const BUS_HEAD = [
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
  "server cores",
  "load cores",
];

function busText(bus: BusSummary): string {
  const out = ["", "Bus phase: one instance, and two over Redis (medians)"];
  const rows: (string | number)[][] = [];
  for (const [n, byKind] of Object.entries(bus.load)) {
    for (const [s, x] of Object.entries(byKind)) rows.push(busCells(n, s, x));
  }
  out.push(...table(BUS_HEAD, rows), "");
  for (const g of bus.goals) {
    out.push(
      `${
        g.met === null ? "N/A" : g.met ? "MET" : "MISSED"
      }  ${g.goal}: ${g.measured}`,
    );
  }
  return "\n" + out.join("\n");
}

function goalsOf(
  load: Record<string, Record<string, Medians>>,
  paced: Record<string, Medians>,
  recs: Rec[],
  results: Results,
): Goal[] {
  const goals: Goal[] = [];
  for (const n of [1000, 10_000]) {
    const l = load[n];
    if (!l?.beam) continue;
    if (l.peerjs) {
      const r = ratio(l.beam.msgsPerSec, l.peerjs.msgsPerSec);
      goals.push({
        goal: `msgs/s at N=${n} >= 1.2x PeerJS`,
        measured: `${r}x`,
        met: r >= 1.2,
      });
    }
    if (l.bare) {
      const r = ratio(l.beam.msgsPerSec, l.bare.msgsPerSec);
      goals.push({
        goal: `msgs/s at N=${n} >= 0.9x bare relay`,
        measured: `${r}x`,
        met: r >= 0.9,
      });
    }
  }
  if (paced.beam && paced.peerjs) {
    const rate = results.flags.rate;
    goals.push({
      goal:
        `p99 at a fixed ${rate} msgs/s (N=${results.flags.pacedN}) <= PeerJS`,
      measured: `${paced.beam.p99Ms} ms vs ${paced.peerjs.p99Ms} ms`,
      met: paced.beam.p99Ms <= paced.peerjs.p99Ms,
    });
  }
  const satN = load[10_000] ? 10_000 : Number(Object.keys(load).at(-1));
  if (load[satN]?.beam && load[satN]?.peerjs) {
    const r = ratio(load[satN].beam.p99Ms, load[satN].peerjs.p99Ms);
    goals.push({
      goal: `p99 under saturation (N=${satN}) <= 2x PeerJS`,
      measured: `${load[satN].beam.p99Ms} ms vs ${
        load[satN].peerjs.p99Ms
      } ms (${r}x)`,
      met: r <= 2,
    });
  }
  if (load[10_000]?.beam) {
    const kb = load[10_000].beam.memPerIdleConnKB;
    goals.push({
      goal: "memory per idle peer at N=10,000 <= 15 KB",
      measured: `${kb} KB`,
      met: kb <= 15,
    });
  }
  const storm = recs.find((r) => r.type === "storm" && r.server === "beam");
  if (storm) {
    const errors = storm.errors as Record<string, number>;
    const log = storm.log as { lines: number; top: Record<string, number> };
    const emfile = Object.keys(log.top).some((l) =>
      /too many open files|os error 24/i.test(l)
    );
    const clean = Object.keys(errors).every((k) =>
      /^(http |refused: |closed 10(08|13))/.test(k)
    );
    const during = storm.probeDuring as {
      connected: boolean;
      received?: number;
      sent?: number;
    };
    const after = storm.probeAfter as {
      connected: boolean;
      received?: number;
      sent?: number;
    };
    const serving = during.connected && during.received === during.sent;
    const recovers = after.connected && after.received === after.sent;
    const refused = Object.values(errors).reduce((a, b) => a + b, 0);
    goals.push({
      goal:
        `${storm.attempted} attempted connections refused cleanly below the fd limit`,
      measured:
        `${storm.opened} opened, ${refused} failed (${
          Object.entries(errors).map(([k, v]) => `${k}: ${v}`).join(", ") ||
          "none"
        }); fds peak ${storm.serverFdsPeak}/${storm.serverNofile}; ${
          emfile ? "EMFILE in log; " : ""
        }` +
        `serves during: ${serving ? "yes" : "no"}, after: ${
          recovers ? "yes" : "no"
        }`,
      // Fewer attempts than the server has descriptors (--quick) cannot
      // tell whether it would refuse in time.
      met: Number(storm.attempted) < Number(storm.serverNofile)
        ? null
        : refused > 0 && clean && !emfile && serving &&
          recovers && Number(storm.serverFdsPeak) < Number(storm.serverNofile),
    });
  }
  return goals;
}

function table(head: string[], rows: (string | number)[][]): string[] {
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => String(r[i]).length))
  );
  const line = (cells: (string | number)[]) =>
    cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
  return [
    line(head),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map(line),
  ];
}

function textSummary(
  load: Record<string, Record<string, Medians>>,
  paced: Record<string, Medians>,
  ratios: Record<string, Record<string, number>>,
  goals: Goal[],
): string {
  const out: string[] = [
    "",
    "Medians over runs (load: every pair's whole conversation at once)",
  ];
  const rows: (string | number)[][] = [];
  for (const [n, byServer] of Object.entries(load)) {
    for (const [s, m] of Object.entries(byServer)) {
      rows.push(loadCells(n, s, m));
    }
  }
  out.push(
    ...table([
      "N",
      "server",
      "runs",
      "msgs/s",
      "p50 ms",
      "p99 ms",
      "cpu us/msg",
      "KB/idle conn",
      "srv cpu",
    ], rows),
  );
  if (Object.keys(paced).length) {
    out.push("", "Paced (open loop)");
    out.push(
      ...table(
        [
          "server",
          "runs",
          "offered/s",
          "p50 ms",
          "p99 ms",
          "max ms",
          "lost",
          "cpu us/msg",
        ],
        Object.entries(paced).map((
          [s, m],
        ) => [
          s,
          runsCell(m),
          m.offeredRate,
          m.p50Ms,
          m.p99Ms,
          m.maxMs,
          m.lost,
          m.cpuUsPerMsg,
        ]),
      ),
    );
  }
  out.push("", "Ratios (Beam / other)");
  out.push(
    ...table(
      ["", "msgs/s", "p50", "p99", "cpu/msg", "mem/conn"],
      Object.entries(ratios).map((
        [k, r],
      ) => [
        k,
        r.msgsPerSec ?? "",
        r.p50Ms,
        r.p99Ms,
        r.cpuUsPerMsg ?? "",
        r.memPerIdleConnKB ?? "",
      ]),
    ),
  );
  out.push("", "Goals");
  for (const g of goals) {
    out.push(
      `${
        g.met === null ? "N/A" : g.met ? "MET" : "MISSED"
      }  ${g.goal}: ${g.measured}`,
    );
  }
  return out.join("\n");
}

function md(head: string[], rows: (string | number | undefined)[][]): string {
  const cell = (
    v: string | number | undefined,
  ) => (v === undefined || Number.isNaN(v) ? "–" : String(v));
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

function compact(value: unknown): string {
  if (value === undefined) return "–";
  if (typeof value !== "object" || value === null) return String(value);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return "none";
  return entries.map(([k, v]) =>
    `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`
  ).join("; ")
    .replaceAll("|", "\\|");
}

/** The Markdown that goes between the README's result markers. */
export function resultsMarkdown(results: Results, summary: Summary): string {
  const { load, paced, ratios, goals } = summary.data;
  const m = results.machine;
  const out: string[] = [];
  const dirty = m.uncommittedServerFiles as string[];
  const source = results.beamSource === "work tree"
    ? `the work tree at commit ${m.commit}${
      dirty.length ? ` plus uncommitted changes (${dirty.join(", ")})` : ""
    }`
    : results.beamSource;
  out.push(
    `Measured ${
      results.date.slice(0, 16).replace("T", " ")
    } UTC with \`${results.command}\` ` +
      `(${results.totalSeconds} s in all) on ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ` +
      `Linux ${m.kernel}; Deno ${m.deno}, Node ${m.node}, peer ${m.peer}. ` +
      `Beam: \`${results.beamEntry}\`${
        results.beamFlags
          ? ` (\`${
            Object.entries(results.beamEnv ?? {}).map(([k, v]) => `${k}=${v} `)
              .join("")
          }deno run ${results.beamFlags.join(" ")}\`)`
          : ""
      } from ${source}${
        m.signalCommit
          ? `; lib/signal as of ${String(m.signalCommit).split(" ")[0]}`
          : ""
      }. ` +
      `Load average at start ${
        (m.loadavgAtStart as number[]).join(", ")
      }; pinning: ${m.pinned}.`,
  );
  if (results.beamEntryNote) out.push("", `Note: ${results.beamEntryNote}`);
  if (results.skipped?.length) {
    out.push(
      "",
      `Skipped, the run being over its time budget: ${
        results.skipped.join("; ")
      }.`,
    );
  }
  out.push(
    "",
    "### Goals",
    "",
    md(
      ["goal", "measured", "verdict"],
      goals.map((
        g,
      ) => [
        g.goal,
        g.measured,
        g.met === null ? "not tested" : g.met ? "met" : "missed",
      ]),
    ),
  );
  out.push("", "### Throughput, latency, CPU and memory (medians)", "");
  const rows: (string | number)[][] = [];
  for (const [n, byServer] of Object.entries(load)) {
    for (const [s, x] of Object.entries(byServer)) {
      rows.push([
        ...loadCells(n, s, x),
        x.clientCpuUtil,
      ]);
    }
  }
  out.push(
    md([
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
    ], rows),
  );
  out.push(
    "",
    "### Ratios, Beam / other (medians; > 1 is better for msgs/s, < 1 for the rest)",
    "",
  );
  out.push(md(
    ["", "msgs/s", "p50", "p99", "CPU/msg", "mem/conn"],
    Object.entries(ratios).map((
      [k, r],
    ) => [
      k,
      r.msgsPerSec,
      r.p50Ms,
      r.p99Ms,
      r.cpuUsPerMsg,
      r.memPerIdleConnKB,
    ]),
  ));
  if (Object.keys(paced).length) {
    out.push(
      "",
      `### Fixed offered rate: ${results.flags.rate} msgs/s at N=${results.flags.pacedN}, open loop (medians)`,
      "",
    );
    out.push(md(
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
      Object.entries(paced).map((
        [s, x],
      ) => [
        s,
        runsCell(x),
        x.offeredRate,
        x.p50Ms,
        x.p99Ms,
        x.maxMs,
        x.lost,
        x.cpuUsPerMsg,
        x.serverCpuUtil,
      ]),
    ));
  }
  const abuse = results.records.filter((r) =>
    ["slow", "flood", "storm"].includes(r.type)
  );
  if (abuse.length) {
    out.push("", "### Abuse", "");
    const slow = abuse.filter((r) => r.type === "slow");
    if (slow.length) {
      out.push(
        "Slow consumer (A never reads; B sends A 60 KB offers at 90 a second until told A is gone, 64 MiB, or 10 s):",
        "",
      );
      out.push(md(
        [
          "server",
          "sent to A",
          "notice to B",
          "after",
          "RSS before",
          "RSS peak",
          "growth",
          "RSS after release",
          "alive",
        ],
        slow.map((r) => [
          r.server,
          `${round(Number(r.bytesSent) / 2 ** 20)} MiB in ${
            round(Number(r.ms) / 1000)
          } s`,
          r.notice ? `\`${r.notice}\`` : "none",
          Number(r.noticeAfterBytes) >= 0
            ? `${round(Number(r.noticeAfterBytes) / 2 ** 20)} MiB`
            : "–",
          `${round(Number(r.rssBeforeKiB) / 1024)} MiB`,
          `${round(Number(r.rssPeakKiB) / 1024)} MiB`,
          `${round(Number(r.growthKiB) / 1024)} MiB`,
          `${round(Number(r.rssAfterReleaseKiB) / 1024)} MiB`,
          String(r.alive),
        ]),
      ));
    }
    const flood = abuse.filter((r) => r.type === "flood");
    if (flood.length) {
      out.push(
        "",
        "Flood of invalid frames (50 connections, reconnecting when closed; a probe pair sends 50 msgs/s meanwhile):",
        "",
      );
      out.push(md(
        [
          "server",
          "invalid frames written",
          "connects",
          "closed by server",
          "server CPU",
          "RSS peak growth",
          "probe during",
          "probe after",
          "alive",
          "log lines",
        ],
        flood.map((r) => {
          const a = r.attack as Record<string, unknown>;
          const p = r.probeDuring as Record<string, unknown>;
          const q = r.probeAfter as Record<string, unknown>;
          const probe = (x: Record<string, unknown>) =>
            x.connected
              ? `${x.received}/${x.sent}, p99 ${round(Number(x.p99Ms))} ms`
              : `no connection (${x.failure})`;
          return [
            r.server,
            a.framesWritten as number,
            a.connects as number,
            compact(a.closedBy),
            `${r.serverCpuMs} ms`,
            `${round(Number(r.growthKiB) / 1024)} MiB`,
            probe(p),
            probe(q),
            String(r.alive),
            (r.log as Record<string, unknown>).lines as number,
          ];
        }),
      ));
    }
    const storm = abuse.filter((r) => r.type === "storm");
    if (storm.length) {
      out.push(
        "",
        `Connection storm (server open-file limit ${
          storm[0].serverNofile
        }; PeerJS with its default concurrent_limit 5000):`,
        "",
      );
      out.push(md(
        [
          "server",
          "attempted",
          "opened",
          "failures",
          "still open at release",
          "fds peak",
          "RSS peak",
          "admitted pair, while held",
          "new pair, while held",
          "new pair, after release",
          "alive",
          "log",
        ],
        storm.map((r) => {
          const probe = (x: Record<string, unknown>) =>
            x.connected
              ? `${x.received}/${x.sent} relayed`
              : `no (${x.failure})`;
          return [
            r.server,
            r.attempted as number,
            r.opened as number,
            compact(r.errors),
            r.stillOpenAtRelease as number,
            r.serverFdsPeak as number,
            `${round(Number(r.rssPeakKiB) / 1024)} MiB`,
            probe(r.probeDuring as Record<string, unknown>),
            probe(r.probeNew as Record<string, unknown>),
            probe(r.probeAfter as Record<string, unknown>),
            String(r.alive),
            compact((r.log as Record<string, unknown>).top),
          ];
        }),
      ));
    }
  }
  out.push("", "### Every run", "");
  out.push(md(
    [
      "type",
      "N",
      "run",
      "server",
      "msgs/s",
      "p50 ms",
      "p99 ms",
      "max ms",
      "CPU µs/msg",
      "KB/idle conn",
      "server CPU",
      "load CPU",
      "connect s",
      "other CPU",
      "pairs done p1/p50/p99 s",
      "complete",
      "note",
    ],
    results.records.filter((r) => r.type === "load" || r.type === "paced").map((
      r,
    ) => [
      r.type,
      r.n as number,
      r.run as number,
      r.server,
      (r.type === "load" ? r.msgsPerSec : r.offeredRate) as number,
      r.p50Ms as number,
      r.p99Ms as number,
      r.maxMs as number,
      r.cpuUsPerMsg as number,
      r.memPerIdleConnKB as number | undefined,
      r.serverCpuUtil as number,
      r.clientCpuUtil as number | undefined,
      r.connectMs === undefined ? undefined : round(Number(r.connectMs) / 1000),
      r.otherCpuUtil as number,
      r.pairDoneS
        ? Object.values(r.pairDoneS as Record<string, number>).join(" / ")
        : undefined,
      r.type === "load" ? String(r.complete) : `lost ${r.lost}`,
      r.discarded ? `not counted: ${r.discarded}` : "",
    ]),
  ));
  return out.join("\n");
}

/** The Markdown that goes between the README's bus markers. */
export function busMarkdown(results: Results, summary: Summary): string {
  const bus = summary.data.bus;
  if (!bus) return "";
  const m = results.machine;
  const dirty = m.uncommittedServerFiles as string[];
  const source = results.beamSource === "work tree"
    ? `the work tree at commit ${m.commit}${
      dirty.length ? ` plus uncommitted changes (${dirty.join(", ")})` : ""
    }`
    : results.beamSource;
  const out: string[] = [];
  out.push(
    `Measured ${
      results.date.slice(0, 16).replace("T", " ")
    } UTC with \`${results.command}\` (${results.totalSeconds} s in all) on ${m.cpu}, ` +
      `${m.cores} cores, Linux ${m.kernel}; Deno ${m.deno}; ${results.redis?.version}. ` +
      `Beam: \`${results.beamEntry}\` from ${source}${
        m.signalCommit
          ? `; lib/signal as of ${String(m.signalCommit).split(" ")[0]}`
          : ""
      }, each instance started as \`beam\` is, the Redis ones with \`REDIS_URL\`. ` +
      `redis-server ${results.redis?.args}. Pinning: ${results.redis?.pinned}. ` +
      `Load average at start ${(m.loadavgAtStart as number[]).join(", ")}.`,
  );
  if (results.skipped?.length) {
    out.push(
      "",
      `Skipped, the run being over its time budget: ${
        results.skipped.join("; ")
      }.`,
    );
  }
  out.push(
    "",
    md(
      ["goal", "measured", "verdict"],
      bus.goals.map((g) => [
        g.goal,
        g.measured,
        g.met === null ? "not tested" : g.met ? "met" : "missed",
      ]),
    ),
    "",
    "Medians. CPU is utime + stime of each process over the conversation, " +
      "per message relayed end to end; instance 1 holds the requesters " +
      "(112 of a pair's 124 messages start there), instance 2 the senders. " +
      "Memory: RSS growth per peer held, 1 s after N peers opened.",
    "",
    md(
      BUS_HEAD,
      Object.entries(bus.load).flatMap(([n, byKind]) =>
        Object.entries(byKind).map(([s, x]) => busCells(n, s, x))
      ),
    ),
    "",
    "Ratios, two over Redis / one instance (medians):",
    "",
    md(
      ["", "msgs/s", "p50", "p99", "CPU/msg", "mem/peer"],
      Object.entries(bus.ratios).map(([k, r]) => [
        k,
        r.msgsPerSec,
        r.p50Ms,
        r.p99Ms,
        r.cpuUsPerMsg,
        r.memPerIdleConnKB,
      ]),
    ),
    "",
    "Every run:",
    "",
    md(
      [
        "N",
        "run",
        "setup",
        "msgs/s",
        "p50 ms",
        "p99 ms",
        "CPU µs/msg: all = i1 + i2 + redis",
        "KB/idle peer (i1, i2)",
        "redis KB, B/peer",
        "PUBLISH/msg",
        "connect s",
        "other CPU",
        "complete",
        "note",
      ],
      results.records.filter((r) => r.type === "bus").map((r) => [
        r.n as number,
        r.run as number,
        r.server === "beam" ? "one instance" : "two over Redis",
        r.msgsPerSec as number,
        r.p50Ms as number,
        r.p99Ms as number,
        r.server === "beam"
          ? String(r.cpuUsPerMsg)
          : `${r.cpuUsPerMsg} = ${r.cpuUsPerMsgI1} + ${r.cpuUsPerMsgI2} + ${r.cpuUsPerMsgRedis}`,
        r.server === "beam"
          ? String(r.memPerIdleConnKBI1)
          : `${r.memPerIdleConnKBI1}, ${r.memPerIdleConnKBI2}`,
        r.server === "beam"
          ? undefined
          : `${r.redisRssPerPeerKB}, ${r.redisUsedMemoryPerPeerB}`,
        r.publishesPerMsg as number | undefined,
        round(Number(r.connectMs) / 1000),
        r.otherCpuUtil as number,
        String(r.complete),
        r.discarded ? `not counted: ${r.discarded}` : "",
      ]),
    ),
  );
  return out.join("\n");
}

const START = "<!-- bench:results:start -->";
const END = "<!-- bench:results:end -->";

const BUS_START = "<!-- bench:bus:start -->";
const BUS_END = "<!-- bench:bus:end -->";

function replaceBlock(
  readme: string,
  start: string,
  end: string,
  text: string,
): string {
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a === -1 || b === -1 || b < a) {
    throw new RangeError(
      `Cannot regenerate bench/README.md: markers ${start} and ${end} not found`,
    );
  }
  return readme.slice(0, a + start.length) + "\n\n" + text + "\n\n" +
    readme.slice(b);
}

/**
 * The README with the blocks this run measured replaced: the results block
 * when it measured the load or abuse phases, the bus block when it ran the
 * bus phase. A run of one leaves the other's block as it was.
 */
export function renderReadme(
  readme: string,
  results: Results,
  summary: Summary,
): string {
  let out = readme;
  if (results.records.some((r) => r.type !== "bus")) {
    out = replaceBlock(out, START, END, resultsMarkdown(results, summary));
  }
  if (summary.data.bus) {
    out = replaceBlock(out, BUS_START, BUS_END, busMarkdown(results, summary));
  }
  return out;
}
