import { ConfigError } from './errors.js';
import type { Timeframe } from './types.js';

const UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  // A calendar month varies; 30 days is used only for gap detection and annualisation.
  M: 2_592_000_000,
  y: 31_536_000_000,
};

/** Duration of a timeframe in milliseconds ('1h' -> 3,600,000). */
export function timeframeToMs(timeframe: Timeframe): number {
  const match = /^(\d+)([smhdwMy])$/.exec(timeframe);
  const unit = match?.[2];
  if (match === null || unit === undefined) {
    throw new ConfigError(`unknown timeframe '${timeframe}' (expected e.g. 1m, 5m, 1h, 4h, 1d, 1w, 1M)`, {
      field: 'timeframe',
    });
  }
  const count = Number(match[1]);
  if (count <= 0) throw new ConfigError(`timeframe '${timeframe}' must be positive`, { field: 'timeframe' });
  return count * (UNIT_MS[unit] as number);
}

/** Best-effort name for a bar spacing in ms (used when a file does not say its timeframe). */
export function msToTimeframe(ms: number): Timeframe {
  for (const unit of ['M', 'w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] as number;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}
