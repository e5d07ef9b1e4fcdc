/**
 * The transfer benchmark's summary and its Markdown for bench/README.md:
 * only the blocks between `<!-- bench:transfer:<block>:start -->` and
 * `<!-- bench:transfer:<block>:end -->` are rewritten; the rest of the file
 * belongs to others.
 *
 * @module
 */

import type { Group } from "./transfer_stats.ts";
import type { Flags } from "./transfer_bench.ts";

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
  /** MB/s of the app's SHA-256 in a page (lab runs). */
  hashMbps: number | null;
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
  memory: {
    heapGrowthMB: { median: number; max: number };
    rssGrowthMB: { median: number; max: number };
    senderRssGrowthMB: { median: number; max: number };
    /** The raw runs' receiving renderer, for comparison. */
    rawReceiverRssGrowthMB: { median: number; max: number };
  };
}

/** `readme` with one transfer block replaced, or `null` without its markers. */
export function replaceBlock(
  readme: string,
  block: string,
  markdown: string,
): string | null {
  const start = `<!-- bench:transfer:${block}:start -->`;
  const end = `<!-- bench:transfer:${block}:end -->`;
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a === -1 || b === -1 || b < a) return null;
  return readme.slice(0, a + start.length) + "\n\n" + markdown.trim() +
    "\n\n" + readme.slice(b);
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

/** The results block of a full run. */
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

/** The lab block. */
export function labMarkdown(s: Summary): string {
  return [
    ...machineLines(s),
    `- The app's SHA-256 (hash-wasm) in a page: ${s.hashMbps} MB/s on one core.`,
    "",
    ...cpuTable(s.groups),
  ].join("\n");
}

function sizeText(bytes: number): string {
  if (bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30} GiB`;
  if (bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  return `${bytes} bytes`;
}
