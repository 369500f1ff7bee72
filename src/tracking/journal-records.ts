/**
 * The lines of a tracker file. One JSON object per line, one line per event:
 * - `prediction`: a recorded prediction with its id;
 * - `outcome`: the outcome of prediction `id`;
 * - `candle`: a closed candle that advanced pending predictions of its symbol.
 *   Only written while the symbol has pending predictions, so after a restart
 *   they still resolve on exactly the `horizon`-th candle after their own.
 * When one candle resolves predictions, their outcome lines are written before
 * the candle line in the same write: a file cut anywhere stays consistent.
 */
import { DataError, type ErrorLocation } from '../core/errors.js';
import {
  requireBinaryOutcome,
  requireFinite,
  requirePositive,
  requirePositiveInteger,
  requireProbability,
  requireString,
} from './field-checks.js';
import type { ForecastInput, Outcome, ResolutionSource } from './types.js';

export interface PredictionRecord {
  readonly type: 'prediction';
  readonly id: number;
  readonly symbol: string;
  readonly modelVersion: string;
  readonly timestamp: number;
  readonly prediction: number | null;
  readonly horizon: number;
  readonly price: number | null;
  readonly threshold: number;
  readonly previousPrice?: number | null;
  readonly forecast?: ForecastInput | null;
}

export interface OutcomeRecord {
  readonly type: 'outcome';
  readonly id: number;
  readonly outcome: Outcome;
  readonly source: ResolutionSource;
  readonly resolvedAt: number | null;
  readonly closePrice: number | null;
  /** A forecast's outcome (log return or realised volatility). */
  readonly actual?: number | null;
}

export interface CandleRecord {
  readonly type: 'candle';
  readonly symbol: string;
  readonly timestamp: number;
  readonly close: number;
}

export type JournalRecord = PredictionRecord | OutcomeRecord | CandleRecord;

export function serializeRecord(record: JournalRecord): string {
  return JSON.stringify(record);
}

/** Checks a forecast (as given or as read back); DataError naming the field. */
export function parseForecast(value: unknown, where: ErrorLocation): ForecastInput {
  if (typeof value !== 'object' || value === null)
    throw new DataError('expected a forecast object', { ...where, field: 'forecast' });
  const f = value as Record<string, unknown>;
  if (f.target !== 'return' && f.target !== 'volatility') {
    throw new DataError(`forecast target must be 'return' or 'volatility', got ${String(f.target)}`, {
      ...where,
      field: 'forecast.target',
    });
  }
  const v = requireFinite(f.value, 'forecast.value', where);
  const naive = requireFinite(f.naive, 'forecast.naive', where);
  if (f.target === 'volatility' && (v < 0 || naive < 0)) {
    throw new DataError('a volatility forecast must be >= 0', { ...where, field: 'forecast.value' });
  }
  return { target: f.target, value: v, naive };
}

/** Checks one parsed line; `where` names the file and line for the error. */
export function parseRecord(value: unknown, where: ErrorLocation): JournalRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DataError('expected a JSON object', where);
  }
  const v = value as Record<string, unknown>;
  switch (v.type) {
    case 'prediction':
      return {
        type: 'prediction',
        id: requirePositiveInteger(v.id, 'id', where),
        symbol: requireString(v.symbol, 'symbol', where),
        modelVersion: requireString(v.modelVersion, 'modelVersion', where),
        timestamp: requireFinite(v.timestamp, 'timestamp', where),
        prediction:
          v.prediction === null && v.forecast != null ? null : requireProbability(v.prediction, 'prediction', where),
        horizon: requirePositiveInteger(v.horizon, 'horizon', where),
        price: v.price === null ? null : requirePositive(v.price, 'price', where),
        threshold: requireProbability(v.threshold, 'threshold', where),
        previousPrice: v.previousPrice == null ? null : requirePositive(v.previousPrice, 'previousPrice', where),
        forecast: v.forecast == null ? null : parseForecast(v.forecast, where),
      };
    case 'outcome': {
      const source = v.source;
      if (source !== 'candle' && source !== 'explicit') {
        throw new DataError(`expected 'candle' or 'explicit', got ${String(source)}`, { ...where, field: 'source' });
      }
      return {
        type: 'outcome',
        id: requirePositiveInteger(v.id, 'id', where),
        outcome: v.outcome === 'flat' ? 'flat' : requireBinaryOutcome(v.outcome, 'outcome', where),
        source,
        resolvedAt: v.resolvedAt === null ? null : requireFinite(v.resolvedAt, 'resolvedAt', where),
        closePrice: v.closePrice === null ? null : requirePositive(v.closePrice, 'closePrice', where),
        actual: v.actual == null ? null : requireFinite(v.actual, 'actual', where),
      };
    }
    case 'candle':
      return {
        type: 'candle',
        symbol: requireString(v.symbol, 'symbol', where),
        timestamp: requireFinite(v.timestamp, 'timestamp', where),
        close: requirePositive(v.close, 'close', where),
      };
    default:
      throw new DataError(`unknown record type ${JSON.stringify(v.type)}`, { ...where, field: 'type' });
  }
}
