/**
 * The transfer benchmark's records (one JSON line each), the figures drawn
 * from them (throughput, CPU per megabyte, medians), and the summary as
 * Markdown, printed for pasting into bench/README.md.
 *
 * Units: MB is 10^6 bytes, MiB 2^20; throughput in MB/s.
 *
 * @module
 */

import type { Flags } from "./transfer_bench.ts";

/** A transfer's memory figures, in bytes. */
export interface Memory {
  baseline: number;
  peak: number;
  after: number;
  samples: number;
}

/** One measured transfer, as printed. */
export interface RunRecord {
  kind: "run";
  /** `app`: through the pages; `raw`: bare data channel. */
  mode: "app" | "raw";
  /**
   * For `raw`, e.g. `raw-64KiB`; for `app`, `app`, `app-lanes-N` (another
   * `beam:lanes` setting) or `app-base` (the app at `--base=REF`).
   */
  name: string;
  round: number;
  bytes: number;
  /** The app: the most peer connections its send page said carried the file. */
  connections?: number;
  /** Seconds of the measured span (see `span`). */
  seconds: number;
  /** What `seconds` covers. */
  span: string;
  mbps: number;
  /** App only: from pressing Download to `phase-done`. */
  clickToDoneSeconds?: number;
  /** Raw only: sender settings. */
  chunkSize?: number;
  highWaterMark?: number;
  lowWaterMark?: number;
  /** CPU ms by process role during the transfer. */
  cpuMs: Record<string, number>;
  /** CPU ms per MB by role, and `total` for our Chromium processes. */
  cpuMsPerMB: Record<string, number>;
  /** Cores used meanwhile by everything that is not this browser. */
  otherCores: number;
  /** The busiest threads by role, in cores. */
  threads: Record<string, Record<string, number>>;
  /** App only: receiver renderer memory. */
  heap?: Memory;
  rss?: Memory;
  senderRss?: Memory;
  /** App only: whether the saved file's SHA-256 (read from disk) matched. */
  savedSha256Matches?: boolean | null;
  /** The receive page's last status line (app). */
  status?: string;
}

/** The median of numbers (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** `cpuMs` per MB moved, by role, plus `total`. */
export function perMB(
  cpuMs: Record<string, number>,
  bytes: number,
): Record<string, number> {
  const mb = bytes / 1e6;
  const out: Record<string, number> = {};
  let total = 0;
  for (const [role, ms] of Object.entries(cpuMs)) {
    if (ms === 0) continue;
    out[role] = round(ms / mb, 2);
    total += ms;
  }
  out.total = round(total / mb, 2);
  return out;
}

/** Medians of a set of runs of one name. */
export interface Group {
  name: string;
  mode: RunRecord["mode"];
  runs: number;
  mbps: number[];
  medianMbps: number;
  /** Median CPU ms per MB by role. */
  cpuMsPerMB: Record<string, number>;
  medianOtherCores: number;
}

/** Groups runs by name, in order of first appearance. */
export function groups(runs: RunRecord[]): Group[] {
  const byName = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const list = byName.get(run.name) ?? [];
    list.push(run);
    byName.set(run.name, list);
  }
  return [...byName.entries()].map(([name, list]) => {
    const roles = new Set(list.flatMap((r) => Object.keys(r.cpuMsPerMB)));
    const cpu: Record<string, number> = {};
    for (const role of roles) {
      cpu[role] = round(median(list.map((r) => r.cpuMsPerMB[role] ?? 0)), 1);
    }
    return {
      name,
      mode: list[0].mode,
      runs: list.length,
      mbps: list.map((r) => r.mbps),
      medianMbps: round(median(list.map((r) => r.mbps)), 1),
      cpuMsPerMB: cpu,
      medianOtherCores: round(median(list.map((r) => r.otherCores)), 2),
    };
  });
}

/** The row of the app at the `--base` commit. */
export const BASE_NAME = "app-base";

/** The app against the app at the `--base` commit, in the same run. */
export interface BaseComparison {
  /** As given to `--base`. */
  ref: string;
  /** The commit it resolved to (short). */
  commit: string;
  /** Runs of `app` and of `app-base` (rounds > 0). */
  appRuns: number;
  runs: number;
  /** Median MB/s of `app-base`. */
  medianMbps: number;
  /** Median CPU ms per MB of `app-base`, all the browser's processes. */
  cpuMsPerMB: number;
  /** app / app-base of the median MB/s (≥ 0.95: within 5 %). */
  mbpsRatio: number;
  /** app / app-base of the median CPU ms per MB (≤ 1.05: within 5 %). */
  cpuRatio: number;
  /**
   * The same ratios as the median of each round's own (rounds with both):
   * runs next to each other in time share the machine's load.
   */
  pairedMbpsRatio: number;
  pairedCpuRatio: number;
}

/**
 * Compares the `app` runs with the `app-base` runs of the measured rounds
 * (round 0 apart); `null` without `app-base` runs.
 */
export function compareBase(
  runs: RunRecord[],
  source: { ref: string; commit: string },
): BaseComparison | null {
  const measured = runs.filter((r) => r.round > 0);
  const app = measured.filter((r) => r.name === "app");
  const base = measured.filter((r) => r.name === BASE_NAME);
  if (base.length === 0) return null;
  const mbps = (list: RunRecord[]) => median(list.map((r) => r.mbps));
  const cpu = (list: RunRecord[]) =>
    median(list.map((r) => r.cpuMsPerMB.total));
  const paired = (of: (list: RunRecord[]) => number) => {
    const ratios: number[] = [];
    for (const n of new Set(base.map((r) => r.round))) {
      const a = app.filter((r) => r.round === n);
      const b = base.filter((r) => r.round === n);
      if (a.length > 0) ratios.push(of(a) / of(b));
    }
    return round(median(ratios), 2);
  };
  return {
    ref: source.ref,
    commit: source.commit,
    appRuns: app.length,
    runs: base.length,
    medianMbps: round(mbps(base), 1),
    cpuMsPerMB: round(cpu(base), 1),
    mbpsRatio: round(mbps(app) / mbps(base), 2),
    cpuRatio: round(cpu(app) / cpu(base), 2),
    pairedMbpsRatio: paired(mbps),
    pairedCpuRatio: paired(cpu),
  };
}

/** The summary line of a run. */
export interface Summary {
  kind: "summary";
  date: string;
  command: string;
  machine: Record<string, string>;
  flags: Flags;
  /** The raw chunk size kept as the ceiling. */
  rawChunk: number;
  /** Whether the time budget cut the run short. */
  truncated: boolean;
  elapsedSeconds: number;
  groups: Group[];
  app: {
    runs: number;
    medianMbps: number;
    medianClickToDoneSeconds: number;
    allVerified: boolean;
  };
  raw: { name: string; runs: number; medianMbps: number };
  /** app / raw, of the medians. */
  ratio: number;
  /**
   * raw / app of the median CPU ms per MB (all the browser's processes):
   * what the throughput ratio tends to when the machine's cores are the
   * limit, less sensitive to other load than `ratio`.
   */
  cpuRatio: number;
  /** With `--base`: the app against the app at that commit. */
  base: BaseComparison | null;
  memory: {
    heapGrowthMB: { median: number; max: number };
    rssGrowthMB: { median: number; max: number };
    senderRssGrowthMB: { median: number; max: number };
    /** The raw runs' receiving renderer, for comparison. */
    rawReceiverRssGrowthMB: { median: number; max: number };
  };
}

const ROLES = [
  "sendRenderer",
  "receiveRenderer",
  "network",
  "browser",
  "storage",
  "gpu-process",
  "total",
];

function machineLines(s: Summary): string[] {
  const m = s.machine;
  return [
    `- When: ${
      s.date.slice(0, 16).replace("T", " ")
    } UTC; took ${s.elapsedSeconds} s${
      s.truncated ? " (**cut short by the time budget**)" : ""
    }.`,
    `- Machine: ${m.cpu}, ${m.memory} RAM, Linux ${m.kernel}; ${m.chromium}; Deno ${m.deno}; commit ${m.commit}.`,
    `- Command: \`${s.command}\`.`,
    ...(s.base
      ? [
        `- Base (\`${BASE_NAME}\`): the app at commit ${s.base.commit} (\`--base=${s.base.ref}\`), its own tree and island build, served by its own \`main.ts\` on another loopback port, in the same browser, alternating with the others in each round.`,
      ]
      : []),
  ];
}

function cpuTable(groups: Group[]): string[] {
  const lines = [
    "| run | n | MB/s (median) | each run | " +
    ROLES.map((r) => r === "total" ? "**total**" : r).join(" | ") +
    " | other load (cores) |",
    "| --- | --: | --: | --- | " + ROLES.map(() => "--:").join(" | ") +
    " | --: |",
  ];
  for (const g of groups) {
    lines.push(
      `| ${g.name} | ${g.runs} | ${g.medianMbps} | ${g.mbps.join(", ")} | ` +
        ROLES.map((r) => g.cpuMsPerMB[r] ?? "–").join(" | ") +
        ` | ${g.medianOtherCores} |`,
    );
  }
  return lines;
}

/** The results of a run as Markdown, for pasting into bench/README.md. */
export function resultsMarkdown(s: Summary): string {
  const mem = s.memory;
  return [
    ...machineLines(s),
    "",
    `| figure | median | goal |`,
    `| --- | --: | --- |`,
    `| app, 1 file of ${
      sizeText(s.flags.size)
    } through the pages (${s.app.runs} runs) | **${s.app.medianMbps} MB/s** | |`,
    ...baseRows(s),
    `| raw data channel, ${
      s.raw.name.slice(4)
    } chunks (${s.raw.runs} runs) | **${s.raw.medianMbps} MB/s** | |`,
    `| ratio app / raw | **${s.ratio}** | ≥ 0.9 ${
      s.ratio >= 0.9 ? "(met)" : "(**not met**)"
    } |`,
    `| CPU per MB, raw / app (what the ratio tends to when the cores are the limit) | ${s.cpuRatio} | |`,
    `| receiver renderer RSS growth, peak − baseline | **${mem.rssGrowthMB.median} MB** (max ${mem.rssGrowthMB.max}) | < 100 MB ${
      mem.rssGrowthMB.max < 100 ? "(met)" : "(**not met**)"
    } |`,
    `| receiver V8 heap growth, peak − baseline | **${mem.heapGrowthMB.median} MB** (max ${mem.heapGrowthMB.max}) | < 100 MB ${
      mem.heapGrowthMB.max < 100 ? "(met)" : "(**not met**)"
    } |`,
    `| raw run's receiver renderer RSS growth, for comparison | ${mem.rawReceiverRssGrowthMB.median} MB (max ${mem.rawReceiverRssGrowthMB.max}) | |`,
    `| sender renderer RSS growth | ${mem.senderRssGrowthMB.median} MB (max ${mem.senderRssGrowthMB.max}) | |`,
    `| app, Download pressed to verified | ${s.app.medianClickToDoneSeconds} s | |`,
    `| saved file's SHA-256 (read back from the profile) equals the source's | ${
      s.app.allVerified ? "yes, every run" : "**no**"
    } | |`,
    "",
    "CPU per MB moved (ms of CPU time per 10^6 bytes, medians; round 0 is the",
    "chunk-size comparison on a smaller transfer):",
    "",
    ...cpuTable(s.groups),
  ].join("\n");
}

/** The figure rows comparing the app with `app-base`, if measured. */
function baseRows(s: Summary): string[] {
  const b = s.base;
  if (!b) return [];
  return [
    `| app at the base commit ${b.commit} (\`${BASE_NAME}\`, ${b.runs} runs) | **${b.medianMbps} MB/s** | |`,
    `| MB/s, app / app-base (paired: the median of each round's ratio) | **${b.mbpsRatio}** (paired ${b.pairedMbpsRatio}) | ≥ 0.95 ${
      b.mbpsRatio >= 0.95 ? "(met)" : "(**not met**)"
    } |`,
    `| CPU ms per MB (all the browser's processes), app / app-base | **${b.cpuRatio}** (paired ${b.pairedCpuRatio}; app-base ${b.cpuMsPerMB}) | ≤ 1.05 ${
      b.cpuRatio <= 1.05 ? "(met)" : "(**not met**)"
    } |`,
  ];
}

function sizeText(bytes: number): string {
  if (bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30} GiB`;
  if (bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  return `${bytes} bytes`;
}
