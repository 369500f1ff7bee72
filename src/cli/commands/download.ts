/**
 * `quantflow download`: fetch closed candles from an exchange through ccxt into
 * a local CSV cache, continuing the cache when it exists. Public data only: no
 * credentials are read.
 *
 * Testing hook: QUANTFLOW_EXCHANGE_URL_OVERRIDE=http://127.0.0.1:PORT points every
 * URL of the exchange's `urls.api` at that address (see redirectExchangeUrls), so
 * the command can run end to end against a local fake exchange. Never set it otherwise.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Exchange } from 'ccxt';
import { type Command, Option } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { createJsonLogger } from '../../core/logger.js';
import { action, dateOption, integerOption } from '../action.js';
import { createProgress } from '../progress.js';

export const URL_OVERRIDE_ENV = 'QUANTFLOW_EXCHANGE_URL_OVERRIDE';

interface DownloadCliOptions {
  exchange: string;
  symbol: string;
  timeframe: string;
  since: number;
  until?: number;
  out?: string;
  limit?: number;
  maxPages?: number;
}

// ccxt takes seconds to import: it is loaded only when this command runs, not for every `quantflow` call.
async function createExchange(id: string): Promise<Exchange> {
  const { default: ccxt } = await import('ccxt');
  const { redirectExchangeUrls } = await import('../../exchange/ccxt-exchange.js');
  const Ctor = (ccxt as unknown as Record<string, unknown>)[id];
  if (!ccxt.exchanges.includes(id) || typeof Ctor !== 'function') {
    throw new ConfigError(`unknown exchange '${id}' (ccxt ids, e.g. binance, kraken, coinbase)`, { field: 'exchange' });
  }
  const exchange = new (Ctor as new (config: object) => Exchange)({ enableRateLimit: true });
  const override = process.env[URL_OVERRIDE_ENV];
  if (override !== undefined && override !== '') redirectExchangeUrls(exchange, override);
  return exchange;
}

const iso = (ts: number | undefined) => (ts === undefined ? '-' : new Date(ts).toISOString().replace(':00.000Z', 'Z'));

async function run(opts: DownloadCliOptions): Promise<void> {
  const { defaultCacheFileName, downloadCandles } = await import('../../exchange/candle-download.js');
  const exchange = await createExchange(opts.exchange);
  const file =
    opts.out ?? path.join('.quantflow', 'data', defaultCacheFileName(exchange.id, opts.symbol, opts.timeframe));
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const log = createJsonLogger(process.env.QUANTFLOW_DEBUG ? 'debug' : 'warn');
  const abort = new AbortController();
  const onSigint = () => {
    process.stderr.write('\ninterrupted: finishing the current request, then stopping (the cache stays consistent)\n');
    abort.abort();
  };
  process.once('SIGINT', onSigint);
  let bar: ReturnType<typeof createProgress> | undefined;
  try {
    const result = await downloadCandles({
      exchange,
      symbol: opts.symbol,
      timeframe: opts.timeframe,
      since: opts.since,
      ...(opts.until === undefined ? {} : { until: opts.until }),
      file,
      ...(opts.limit === undefined ? {} : { pageSize: opts.limit }),
      ...(opts.maxPages === undefined ? {} : { maxPages: opts.maxPages }),
      signal: abort.signal,
      log,
      onProgress: (p) => {
        bar ??= createProgress(`${opts.symbol} ${opts.timeframe}`, Math.max(1, p.expected));
        bar.update(p.written, Math.max(1, p.expected, p.written));
      },
    });
    bar?.stop();
    bar = undefined;
    for (const note of result.notes) process.stderr.write(`note: ${note}\n`);
    const resumed = result.resumedAfter === undefined ? '' : `, resumed after ${iso(result.resumedAfter)}`;
    const range = result.written > 0 ? ` (${iso(result.firstWritten)} .. ${iso(result.lastWritten)})` : '';
    process.stdout.write(
      `${result.exchange} ${result.symbol} ${result.timeframe}: ${result.written} candles appended to ${file}${range}${resumed}; ` +
        `${result.pages} requests, ${result.retries} retries${result.complete ? '' : '; stopped early: run again to resume'}\n`,
    );
  } finally {
    bar?.stop();
    process.removeListener('SIGINT', onSigint);
    await exchange.close();
  }
}

export function register(program: Command): void {
  program
    .command('download')
    .description('download closed candles through ccxt into a local CSV cache (resumes an existing cache)')
    .requiredOption('--exchange <id>', 'ccxt exchange id, e.g. binance')
    .requiredOption('--symbol <symbol>', 'unified symbol, e.g. BTC/USDT')
    .requiredOption('--timeframe <tf>', 'candle timeframe, e.g. 1m, 1h, 1d')
    .requiredOption(
      '--since <date>',
      'first candle wanted: ISO date/datetime (UTC unless zoned) or epoch ms',
      dateOption('since'),
    )
    .option(
      '--until <date>',
      'stop before candles opening at or after this date (default: up to the last closed candle)',
      dateOption('until'),
    )
    .option('--out <file>', 'cache file (default .quantflow/data/<exchange>_<BASE-QUOTE>_<tf>.csv)')
    .option(
      '--limit <n>',
      'candles per request (default 1000; the exchange may return fewer)',
      integerOption('limit', 1),
    )
    .addOption(
      new Option('--max-pages <n>', 'stop after n requests (testing)')
        .argParser(integerOption('max-pages', 1))
        .hideHelp(),
    )
    .addHelpText(
      'after',
      `\nThe cache is append-only: an existing file is continued from its last candle.\nTesting hook: ${URL_OVERRIDE_ENV}=http://127.0.0.1:PORT sends every exchange request to a local fake exchange.`,
    )
    .action(action(run));
}
