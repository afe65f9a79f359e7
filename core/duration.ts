// Durations in config use the same strings Temporal accepts ('30s', '10m', '48h', '3d', '2 days'),
// parsed by the same library (ms), so a value valid in gantry.yaml is valid for a Temporal timer.
import ms from 'ms';

/** Milliseconds for a duration string or a number of ms; undefined when it is not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const trimmed = value.trim();
  if (trimmed === '0' || trimmed === '0s') return 0;
  // ms() accepts bare numbers ('10', '.5', '-0') as milliseconds; config durations must carry a unit.
  if (/^[-+]?\d*\.?\d+$/.test(trimmed)) return undefined;
  let n: number;
  try {
    n = ms(trimmed); // throws (rather than returning NaN) on '' and on strings over 100 characters
  } catch {
    return undefined;
  }
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Like parseDuration but throws; for values already validated by the config schema. */
export function durationMs(value: string | number): number {
  const n = parseDuration(value);
  if (n === undefined) throw new Error(`invalid duration ${JSON.stringify(value)}`);
  return n;
}

/** Short human form: 3d, 48h, 10m, 30s, 250ms. */
export function formatDuration(msValue: number): string {
  if (msValue < 1000) return `${Math.round(msValue)}ms`;
  return ms(Math.round(msValue));
}

/**
 * The longest duration a workflow timer takes: Temporal's server holds durations as Go
 * time.Duration (int64 nanoseconds, about 292 years); 100 years is far inside that, and far past any
 * real pause or approval timeout.
 */
export const MAX_DURATION_MS = 100 * 365.25 * 24 * 3_600_000;
/** The longest duration a worker process waits out itself (Node timers hold at most 24.8 days). */
export const MAX_TOOL_DURATION_MS = 24 * 3_600_000;
