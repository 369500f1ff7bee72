/**
 * Symbol and timeframe read from a candle file's name, for files that do not
 * say so inside. Two conventions are understood:
 * - `<source>_<BASE>-<QUOTE>_<timeframe>.csv`, e.g. `binance_BTC-USDT_1h.csv` -> BTC/USDT, 1h
 *   (and `<source>_<TICKER>_<timeframe>`, e.g. `yahoo_GOOG_1d.csv` -> GOOG, 1d);
 * - freqtrade's `<BASE>_<QUOTE>-<timeframe>.json`, e.g. `BTC_USDT-1h.json` -> BTC/USDT, 1h.
 */
import path from 'node:path';
import type { Timeframe } from '../core/types.js';

export interface FileNameMeta {
  /** The name without directory and extension. */
  readonly baseName: string;
  readonly symbol?: string;
  readonly timeframe?: Timeframe;
}

const TIMEFRAME_SUFFIX = /^(.+?)([_-])(\d+[smhdwMy])$/;
const ASSET = /^[A-Za-z0-9.]+$/;

export function parseCandleFileName(file: string): FileNameMeta {
  const baseName = path.basename(file).replace(/\.(csv|json|txt|tsv)$/i, '');
  const m = TIMEFRAME_SUFFIX.exec(baseName);
  if (m === null) return { baseName };
  const rest = m[1] as string;
  const separator = m[2] as string;
  const timeframe = m[3] as string;
  let symbol: string | undefined;
  if (separator === '-') {
    // freqtrade: BASE_QUOTE-tf
    const parts = rest.split('_');
    if (parts.length === 2 && parts.every((p) => ASSET.test(p))) symbol = `${parts[0]}/${parts[1]}`;
  } else {
    const last = rest.slice(rest.lastIndexOf('_') + 1);
    const parts = last.split('-');
    if (parts.every((p) => ASSET.test(p)) && parts.length <= 2) symbol = parts.join('/');
  }
  return symbol === undefined ? { baseName, timeframe } : { baseName, symbol, timeframe };
}
