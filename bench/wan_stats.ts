/**
 * The pure parts of `deno task bench:wan`: link conditions and their names,
 * the relay's counter lines, and the Markdown tables of a run.
 *
 * @module
 */

import { median, round } from "./transfer_stats.ts";

/** Which directions lose packets: A→B (the data), B→A (the acks), both. */
export type LossDirs = "ab" | "ba" | "both" | "none";

/** What the relay emulates, per direction. */
export interface LinkSettings {
  /** Bit/s; 0 = no rate limit (and no queue). */
  rateBps: number;
  /** Round-trip time added (half each way), ms. */
  rttMs: number;
  /** Probability a packet is lost, 0..1. */
  loss: number;
  lossDirs: LossDirs;
  /** Drop-tail queue of the link, bytes. */
  queueBytes: number;
  /** Seed of the loss draws. */
  seed?: number;
}

/** A named condition: `80ms-100M`, `80ms-100M-0.5%`, `nodelay`. */
export interface Condition {
  name: string;
  link: LinkSettings;
}

/** The conditions of a run by default (issue #15). */
export const DEFAULT_CONDITIONS = ["80ms-100M", "80ms-100M-0.5%", "200ms-50M"];

/**
 * Reads a condition name: `<rtt>ms-<rate>M[-<loss>%]` (rate in Mbit/s), or
 * `nodelay` (no delay, no rate limit, no loss). The queue is `queueBdp`
 * times the bandwidth-delay product (at least 64 KiB).
 */
export function parseCondition(
  name: string,
  queueBdp = 1,
  lossDirs: LossDirs = "both",
): Condition {
  if (name === "nodelay") {
    return {
      name,
      link: { rateBps: 0, rttMs: 0, loss: 0, lossDirs, queueBytes: 0 },
    };
  }
  const m = /^(\d+(?:\.\d+)?)ms-(\d+(?:\.\d+)?)M(?:-(\d+(?:\.\d+)?)%)?$/.exec(
    name,
  );
  if (!m) {
    throw new TypeError(
      `Cannot read condition "${name}": expected like 80ms-100M, 80ms-100M-0.5% or nodelay`,
    );
  }
  const rttMs = Number(m[1]);
  const rateBps = Number(m[2]) * 1e6;
  const loss = m[3] === undefined ? 0 : Number(m[3]) / 100;
  if (rateBps <= 0 || loss >= 1) {
    throw new RangeError(
      `Cannot use condition "${name}": the rate must be positive and the loss under 100 %`,
    );
  }
  const bdp = (rateBps / 8) * (rttMs / 1000);
  return {
    name,
    link: {
      rateBps,
      rttMs,
      loss,
      lossDirs,
      queueBytes: Math.max(64 * 1024, Math.round(bdp * queueBdp)),
    },
  };
}

/** The link rate in MB/s (1e6 bytes), or `NaN` without a limit. */
export function linkMBps(link: LinkSettings): number {
  return link.rateBps > 0 ? link.rateBps / 8 / 1e6 : NaN;
}

/** One direction's counters from the relay. */
export interface DirectionCounters {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  dropsLoss: number;
  dropsQueue: number;
  dropsSlots: number;
  maxQueueBytes: number;
  maxInFlight: number;
  lateMeanUs: number;
  lateMaxUs: number;
  lateOver1ms: number;
}

/** The relay's counters since its last report: `ab` is A→B, `ba` B→A. */
export interface RelayCounters {
  event: string;
  ab: DirectionCounters;
  ba: DirectionCounters;
}

/** Parses one counter line of the relay. */
export function parseRelayLine(line: string): RelayCounters {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new SyntaxError(
      `Cannot read the relay's counters: not JSON: ${line.slice(0, 80)}`,
    );
  }
  const v = value as Partial<RelayCounters>;
  if (
    typeof v.ab?.packetsIn !== "number" || typeof v.ba?.packetsIn !== "number"
  ) {
    throw new TypeError(
      `Cannot read the relay's counters: no ab and ba counters in ${
        line.slice(0, 80)
      }`,
    );
  }
  return v as RelayCounters;
}

/**
 * The `Udp:` counters of a /proc/net/snmp text (`InDatagrams`,
 * `RcvbufErrors`, ...): a datagram the relay delivered but the browser's
 * socket had no room for counts in `RcvbufErrors`.
 */
export function parseUdpSnmp(text: string): Record<string, number> {
  const lines = text.split("\n").filter((l) => l.startsWith("Udp:"));
  if (lines.length < 2) {
    throw new SyntaxError("Cannot read /proc/net/snmp: no Udp: lines");
  }
  const keys = lines[0].split(/\s+/).slice(1);
  const values = lines[1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((k, i) => [k, values[i]]));
}

/** `after - before`, key by key. */
export function difference(
  after: Record<string, number>,
  before: Record<string, number>,
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]),
  );
}

/** One transfer of the run. */
export interface WanRecord {
  kind: "run";
  condition: string;
  /** The row it counts in, like `raw ×4` or `app (1 connection)`. */
  name: string;
  mode: "app" | "raw";
  /** Peer connections the raw run used, or the app's `beam:lanes`. */
  lanes: number | null;
  /**
   * The app: the peer connections its send page said carried the file,
   * the most at once and each change (`[ms after Download, count]`).
   */
  connections?: { max: number; changes: [number, number][] };
  round: number;
  bytes: number;
  seconds: number;
  mbps: number;
  [key: string]: unknown;
}

/** Median MB/s of each row of a condition, in first-seen order. */
export function rows(
  records: WanRecord[],
  condition: string,
): { name: string; runs: number; mbps: number; min: number; max: number }[] {
  const names: string[] = [];
  for (const r of records) {
    if (r.condition === condition && r.round > 0 && !names.includes(r.name)) {
      names.push(r.name);
    }
  }
  return names.map((name) => {
    const speeds = records.filter((r) =>
      r.condition === condition && r.round > 0 && r.name === name
    ).map((r) => r.mbps);
    return {
      name,
      runs: speeds.length,
      mbps: median(speeds),
      min: Math.min(...speeds),
      max: Math.max(...speeds),
    };
  });
}

/**
 * One Markdown table per condition: MB/s (median, min–max), the ratio to
 * the raw single channel, and to the link rate.
 */
export function wanMarkdown(
  records: WanRecord[],
  conditions: Condition[],
): string {
  const out: string[] = [];
  for (const c of conditions) {
    const table = rows(records, c.name);
    if (table.length === 0) continue;
    const single = table.find((r) => r.name === "raw ×1")?.mbps ?? NaN;
    const link = linkMBps(c.link);
    out.push(
      `**${c.name}** (link ${
        Number.isNaN(link) ? "unlimited" : `${round(link, 1)} MB/s`
      }, queue ${Math.round(c.link.queueBytes / 1024)} KiB)`,
      "",
      "| | runs | MB/s (median) | min–max | / raw ×1 | / link |",
      "|---|---|---|---|---|---|",
    );
    for (const r of table) {
      const ratio = (x: number) => Number.isFinite(x) ? round(x, 2) : "–";
      out.push(
        `| ${r.name} | ${r.runs} | ${round(r.mbps, 2)} | ${round(r.min, 2)}–${
          round(r.max, 2)
        } | ${ratio(r.mbps / single)} | ${ratio(r.mbps / link)} |`,
      );
    }
    out.push("");
  }
  return out.join("\n");
}
