/**
 * Speed and time left for progress displays, smoothed so the numbers do not
 * jitter with every chunk; and a throttle for progress reports that cross
 * the network.
 *
 * @module
 */

/** Measures a transfer's rate from (time, bytes) samples. */
export class RateMeter {
  // No sample yet: null, not 0, since 0 is a valid time (a test's clock).
  #lastTime: number | null = null;
  #lastBytes = 0;
  #rate = 0;
  #halfLifeMs: number;

  /** `halfLifeMs`: how fast old samples fade. */
  constructor(halfLifeMs = 2000) {
    this.#halfLifeMs = halfLifeMs;
  }

  /** Adds a sample: `bytes` done in all at time `now` (ms). */
  sample(bytes: number, now: number): void {
    if (this.#lastTime === null || bytes < this.#lastBytes) {
      this.#lastTime = now;
      this.#lastBytes = bytes;
      return;
    }
    const dt = now - this.#lastTime;
    if (dt < 100) return;
    const instant = ((bytes - this.#lastBytes) * 1000) / dt;
    const weight = Math.pow(0.5, dt / this.#halfLifeMs);
    this.#rate = this.#rate === 0
      ? instant
      : this.#rate * weight + instant * (1 - weight);
    this.#lastTime = now;
    this.#lastBytes = bytes;
  }

  /** Bytes per second. */
  get rate(): number {
    return this.#rate;
  }

  /** Seconds left to reach `total`, or `Infinity` when not moving. */
  secondsLeft(total: number): number {
    if (this.#rate <= 0) return Infinity;
    return Math.max(0, (total - this.#lastBytes) / this.#rate);
  }
}

/** What a {@linkcode StallWatch} looks at, at one moment. */
export interface TransferSample {
  /** Bytes the receiver has acknowledged. */
  acked: number;
  /** The channel's `bufferedAmount`. */
  buffered: number;
  /**
   * Whether the sender waits on the receiver (bytes in the buffer, or sent
   * and owed an acknowledgement): a sender busy reading or hashing its own
   * file is not stalled.
   */
  waiting: boolean;
}

/**
 * Tells a transfer that stopped from one that is slow: stalled once, for
 * `ms`, the sender has waited on the receiver and neither an
 * acknowledgement came nor the channel's buffer drained.
 */
export class StallWatch {
  #ms: number;
  #since: number | null = null;
  #acked = -1;
  #buffered = Infinity;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /** Takes a sample at time `now` (ms); returns whether it is stalled. */
  sample(now: number, { acked, buffered, waiting }: TransferSample): boolean {
    const moved = !waiting || acked > this.#acked || buffered < this.#buffered;
    this.#acked = Math.max(this.#acked, acked);
    this.#buffered = buffered;
    if (moved || this.#since === null) this.#since = now;
    return now - this.#since >= this.#ms;
  }
}

/** Formats a byte count for people: `1.5 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  // Pick the unit and the decimals after rounding, so 999,999 B reads
  // "1.00 MB", not "1000 kB".
  while (value >= 999.5 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  const digits = value < 9.995 ? 2 : value < 99.95 ? 1 : 0;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** Formats seconds for people: `1 min 5 s`, `—` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * Calls `fn` at most once per `intervalMs`, always with the latest value,
 * and `flush()` delivers a pending value at once (the final 100 %).
 */
export function throttle<T>(
  fn: (value: T) => void,
  intervalMs: number,
): { (value: T): void; flush(): void } {
  let last = 0;
  let pending: { value: T } | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fire = () => {
    timer = undefined;
    if (pending === null) return;
    const { value } = pending;
    pending = null;
    last = Date.now();
    fn(value);
  };
  const call = (value: T) => {
    pending = { value };
    const wait = intervalMs - (Date.now() - last);
    if (wait <= 0) fire();
    else timer ??= setTimeout(fire, wait);
  };
  call.flush = () => {
    clearTimeout(timer);
    fire();
  };
  return call;
}

/**
 * A token bucket: at most `burst` at once, refilled at `perSecond`. The
 * clock is a parameter, so tests need no waiting.
 */
export class TokenBucket {
  #perMs: number;
  #burst: number;
  #tokens: number;
  #last: number | null = null;

  constructor(perSecond: number, burst: number) {
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
  }

  /** Takes `count` tokens at time `now` (ms); false when there are not as many. */
  take(now: number, count = 1): boolean {
    if (this.#last !== null) {
      this.#tokens = Math.min(
        this.#burst,
        this.#tokens + (now - this.#last) * this.#perMs,
      );
    }
    this.#last = now;
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }
}
