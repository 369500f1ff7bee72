/**
 * The one strict intake of OHLCV rows as exchanges (ccxt's fetchOHLCV) and
 * host bots give them, `[open time ms, open, high, low, close, volume]`: the
 * live feed, the candle download and the embedded adapter all turn rows into
 * candles here, with the same checks the file loader applies to a file's rows
 * (row-validation.ts): finite values, prices > 0, volume >= 0, high >= low,
 * high >= max(open, close), low <= min(open, close).
 */
import { DataError } from '../core/errors.js';
import type { Candle, Timeframe } from '../core/types.js';
import { CANDLE_FIELDS, candleValueProblem } from './row-validation.js';

/** A row as ccxt returns it; `volume` may be missing (taken as 0). */
export type OhlcvRow = readonly (number | null | undefined)[];

/** A row that cannot be a candle. `malformed`: not a row with an integer time at all (a garbled answer). */
export class OhlcvRowError extends DataError {
  readonly malformed: boolean;
  constructor(message: string, where: { symbol: string; field?: string }, malformed: boolean) {
    super(message, where);
    this.malformed = malformed;
  }
}

const MAX_TIME_MS = 8.64e15;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A checked candle from an OHLCV row, or an OhlcvRowError naming the source
 * (e.g. 'binance'), the symbol, the candle's time and the field.
 */
export function candleFromOhlcv(row: OhlcvRow, symbol: string, timeframe: Timeframe, source = 'ohlcv'): Candle {
  if (!Array.isArray(row) || row.length < 5) {
    throw new OhlcvRowError(`${source} returned an unusable OHLCV row: ${show(row)}`, { symbol }, true);
  }
  const timestamp = row[0];
  if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || Math.abs(timestamp) > MAX_TIME_MS) {
    throw new OhlcvRowError(
      `${source} returned an OHLCV row without an integer ms open time: ${show(row)}`,
      { symbol, field: 'timestamp' },
      true,
    );
  }
  const volume = row[5] ?? 0;
  const values = [row[1], row[2], row[3], row[4], volume];
  for (let f = 0; f < 5; f++) {
    const v = values[f];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      const field = CANDLE_FIELDS[f + 1] as string;
      throw new OhlcvRowError(
        `${source} candle ${iso(timestamp)}: ${field} is not a finite number (${String(v)})`,
        { symbol, field },
        false,
      );
    }
  }
  const [open, high, low, close] = values as [number, number, number, number, number];
  const bad = candleValueProblem(open, high, low, close, volume as number);
  if (bad !== undefined) {
    throw new OhlcvRowError(
      `${source} candle ${iso(timestamp)}: ${bad.message}`,
      { symbol, field: CANDLE_FIELDS[bad.field] as string },
      false,
    );
  }
  return { timestamp, open, high, low, close, volume: volume as number, symbol, timeframe };
}

function show(row: unknown): string {
  const text = JSON.stringify(row) ?? String(row);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
