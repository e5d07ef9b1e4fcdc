/**
 * The transfer benchmark's records (one JSON line each) and the figures
 * drawn from them: throughput, CPU per megabyte, medians.
 *
 * Units: MB is 10^6 bytes, MiB 2^20; throughput in MB/s.
 *
 * @module
 */

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
  /** `app`: through the pages; `raw`: bare data channel; `lab`: the transfer code alone. */
  mode: "app" | "raw" | "lab";
  /** For `raw`, e.g. `raw-64KiB`; for `lab`, the variant; for `app`, `app`. */
  name: string;
  round: number;
  bytes: number;
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
  /** Lab only: its options. */
  options?: Record<string, unknown>;
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
