/**
 * The candles of a command that takes `--data` or `--synthetic`: one reading
 * of the two flags (both is an error; neither is the synthetic market or an
 * error, as the command says), loaded by loadBacktestData, with each file's
 * load report on stderr.
 */
import { loadBacktestData } from '../../backtest/run-backtest.js';
import { ConfigError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import { type CandleLoadReport, DEFAULT_SYNTHETIC, describeLoadReport, type SyntheticOptions } from '../data/index.js';

/** The command's flags as commander parses them: `--data <file>` gives a string, `--data <files...>` an array. */
export interface CandleInputFlags {
  readonly data?: string | readonly string[];
  readonly synthetic?: boolean;
  readonly repair?: boolean;
  readonly symbol?: string;
  readonly timeframe?: string;
}

export interface CandleInputSettings {
  /** Without --data and --synthetic: the synthetic market, or the error `no <missing>: give --data FILE or --synthetic`. */
  readonly neither: 'synthetic' | { readonly missing: string };
  /** The synthetic market (merged over DEFAULT_SYNTHETIC). */
  readonly synthetic?: SyntheticOptions;
  /** Write each file's load report to stderr (default true). */
  readonly printLoadReports?: boolean;
}

export interface CandleInput {
  /** One series per data file (one for `--data <file>` and the synthetic market). */
  readonly series: Candle[][];
  readonly reports: CandleLoadReport[];
  readonly synthetic: boolean;
  /** For messages: the file names, or `synthetic <mode> market (seed <seed>)`. */
  readonly source: string;
}

export async function loadCandleInput(flags: CandleInputFlags, settings: CandleInputSettings): Promise<CandleInput> {
  const files = flags.data === undefined ? [] : typeof flags.data === 'string' ? [flags.data] : flags.data;
  const arg = typeof flags.data === 'string' ? 'FILE' : 'files';
  if (flags.synthetic === true && files.length > 0) {
    throw new ConfigError(`give either --data ${arg} or --synthetic, not both`, { field: 'data' });
  }
  if (files.length === 0 && flags.synthetic !== true && settings.neither !== 'synthetic') {
    throw new ConfigError(`no ${settings.neither.missing}: give --data FILE or --synthetic`, { field: 'data' });
  }
  const data = await loadBacktestData({
    files,
    ...(settings.synthetic !== undefined ? { synthetic: settings.synthetic } : {}),
    ...(flags.symbol !== undefined ? { symbol: flags.symbol } : {}),
    ...(flags.timeframe !== undefined ? { timeframe: flags.timeframe } : {}),
    ...(flags.repair === true ? { repair: true } : {}),
  });
  if (settings.printLoadReports !== false) {
    for (const report of data.reports) for (const line of describeLoadReport(report)) process.stderr.write(`${line}\n`);
  }
  const market = { ...DEFAULT_SYNTHETIC, ...settings.synthetic };
  const source = data.synthetic ? `synthetic ${market.mode} market (seed ${market.seed})` : files.join(', ');
  return { ...data, source };
}
