/**
 * Latency histograms and the small statistics the benchmark reports.
 *
 * Latencies go into log-spaced buckets (2 % wide) so that each client
 * process can record millions of them in a fixed array and the parent can
 * add the arrays up; percentiles are then exact to about 1 %.
 *
 * @module
 */

/** Growth factor between bucket edges. */
const STEP = 1.02;
const LOG_STEP = Math.log(STEP);
/** Buckets up to about 2 minutes in microseconds. */
export const BUCKETS = 1024;

/** A latency histogram in microseconds. */
export class Histogram {
  readonly counts: Float64Array;
  count = 0;
  max = 0;
  sum = 0;

  constructor(counts?: ArrayLike<number>) {
    this.counts = new Float64Array(BUCKETS);
    if (counts) {
      this.counts.set(counts);
      for (const c of this.counts) this.count += c;
    }
  }

  /** Records one latency in microseconds. */
  record(us: number): void {
    const v = us < 0 ? 0 : us;
    let i = Math.floor(Math.log1p(v) / LOG_STEP);
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.counts[i]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Adds another histogram's counts to this one. */
  add(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  /** The `q` quantile (0..1) in microseconds: the middle of its bucket. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const low = Math.pow(STEP, i) - 1;
        const high = Math.pow(STEP, i + 1) - 1;
        return Math.min((low + high) / 2, this.max);
      }
    }
    return this.max;
  }

  /** The counts as a compact list of `[bucket, count]` pairs, for JSON. */
  toSparse(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) {
      if (this.counts[i] > 0) out.push([i, this.counts[i]]);
    }
    return out;
  }

  /** Rebuilds a histogram from {@linkcode Histogram.toSparse} output. */
  static fromSparse(pairs: [number, number][], max = 0, sum = 0): Histogram {
    const h = new Histogram();
    for (const [i, c] of pairs) {
      h.counts[i] += c;
      h.count += c;
    }
    h.max = max;
    h.sum = sum;
    return h;
  }
}

/** The median of the finite numbers in `values`, or NaN if there are none. */
export function median(values: number[]): number {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** Rounds to `digits` significant digits, keeping integers whole. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  if (Math.abs(value) >= 10 ** digits) return Math.round(value);
  const scale = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(value))));
  return Math.round(value * scale) / scale;
}

/**
 * Where a driver's results go by default: `bench/results/<kind>-<date>.jsonl`
 * under `root`, `-quick` added for a quick run (git-ignored).
 */
export function resultsPath(
  root: string,
  kind: string,
  date: string,
  quick: boolean,
): string {
  const stamp = date.slice(0, 19).replaceAll(":", "-");
  return `${root}/bench/results/${kind}-${stamp}${quick ? "-quick" : ""}.jsonl`;
}

/** Writes one JSON line per value to `path`, making its folder. */
export async function writeJsonLines(
  path: string,
  values: unknown[],
): Promise<void> {
  await Deno.mkdir(path.replace(/\/[^/]*$/, ""), { recursive: true });
  await Deno.writeTextFile(
    path,
    values.map((value) => JSON.stringify(value)).join("\n") + "\n",
  );
}
