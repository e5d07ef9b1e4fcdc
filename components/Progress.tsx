import { formatBytes, formatDuration } from "../lib/transfer/rate.ts";

/** A progress bar with percent, bytes, speed and time left. */
export function Progress(
  { bytes, total, rate, secondsLeft, label }: {
    bytes: number;
    total: number;
    rate: number;
    secondsLeft: number;
    label: string;
  },
) {
  const percent = total === 0 ? 100 : Math.floor((bytes / total) * 100);
  return (
    <div class="progress">
      <progress
        max={Math.max(total, 1)}
        value={total === 0 ? 1 : bytes}
        aria-label={label}
      >
        {percent} %
      </progress>
      <div class="stats row">
        <span class="percent" data-percent={percent}>{percent} %</span>
        <span>{formatBytes(bytes)} of {formatBytes(total)}</span>
        <span>{rate > 0 ? `${formatBytes(rate)}/s` : "—"}</span>
        <span>
          {secondsLeft > 0 && bytes < total
            ? `${formatDuration(secondsLeft)} left`
            : ""}
        </span>
      </div>
    </div>
  );
}
