/**
 * The checks a candle must pass before it may change feature state. Both
 * extractors run them, so bad data fails the same way in training and live.
 */
import { DataError } from '../core/errors.js';
import type { Candle } from '../core/types.js';

const PRICE_FIELDS = ['open', 'high', 'low', 'close'] as const;

function isoOrRaw(ts: number): string {
  return Number.isFinite(ts) && Math.abs(ts) < 8.64e15 ? `${ts} (${new Date(ts).toISOString()})` : String(ts);
}

/**
 * Throws DataError unless every OHLCV field is finite, close > 0 (returns take
 * its logarithm), volume >= 0 and the timestamp is after `previousTimestamp`.
 * `index` is the candle's position in its series, reported in the error.
 */
export function checkCandle(candle: Candle, previousTimestamp: number, index: number): void {
  const symbol = candle.symbol;
  if (!Number.isFinite(candle.timestamp)) {
    throw new DataError(`timestamp is not a finite number: ${candle.timestamp}`, { symbol, index, field: 'timestamp' });
  }
  if (candle.timestamp <= previousTimestamp) {
    throw new DataError(
      `candle timestamp ${isoOrRaw(candle.timestamp)} is not after the previous candle's ${isoOrRaw(previousTimestamp)}`,
      { symbol, index, field: 'timestamp' },
    );
  }
  const pricesFinite =
    Number.isFinite(candle.open) &&
    Number.isFinite(candle.high) &&
    Number.isFinite(candle.low) &&
    Number.isFinite(candle.close);
  // Named only on failure, so the per-candle path allocates nothing.
  if (!pricesFinite) {
    const field = PRICE_FIELDS.find((f) => !Number.isFinite(candle[f]))!;
    throw new DataError(`${field} is not a finite number: ${candle[field]} at ${isoOrRaw(candle.timestamp)}`, {
      symbol,
      index,
      field,
    });
  }
  if (!(candle.close > 0)) {
    throw new DataError(`close must be > 0, got ${candle.close} at ${isoOrRaw(candle.timestamp)}`, {
      symbol,
      index,
      field: 'close',
    });
  }
  if (!Number.isFinite(candle.volume) || candle.volume < 0) {
    throw new DataError(`volume must be a finite number >= 0, got ${candle.volume} at ${isoOrRaw(candle.timestamp)}`, {
      symbol,
      index,
      field: 'volume',
    });
  }
}

/** Throws DataError naming the first candle whose symbol differs from the first one's: a series is one market. */
export function assertSingleSymbol(candles: readonly Candle[]): void {
  const first = candles[0]?.symbol;
  for (let i = 1; i < candles.length; i++) {
    const symbol = candles[i]!.symbol;
    if (symbol !== first) {
      throw new DataError(`series mixes symbols ${first} and ${symbol}`, { symbol, index: i, field: 'symbol' });
    }
  }
}
