/**
 * Building a ccxt exchange for paper and live trading: any ccxt id, the pro
 * (websocket) class when ccxt has one, `enableRateLimit` always on,
 * credentials only from the caller (read from the environment, see
 * credentials.ts), the exchange's testnet with `sandbox`, and the testing hook
 * `QUANTFLOW_EXCHANGE_URL_OVERRIDE` that points every URL at a local fake.
 *
 * Also: market rules (precision, minimums, fees) as the simulated broker wants
 * them, and checks that the symbols and timeframe can be traded together.
 */
import ccxt, { type Exchange, type Market } from 'ccxt';
import { ConfigError } from '../core/errors.js';
import type { MarketRules, Timeframe } from '../core/types.js';
import type { ExchangeCredentials } from './credentials.js';
import { lastAnswerUnparsable, UnparsableAnswerError } from './retry.js';

/** Environment variable of the testing hook: a base URL (http://127.0.0.1:PORT) every exchange URL is rewritten to. */
export const URL_OVERRIDE_ENV = 'QUANTFLOW_EXCHANGE_URL_OVERRIDE';

export interface CreateExchangeOptions {
  /** ccxt exchange id: 'binance', 'kraken', 'okx', ... */
  readonly id: string;
  readonly credentials?: ExchangeCredentials;
  /** Use the exchange's testnet (`setSandboxMode(true)`); a ConfigError when it has none. */
  readonly sandbox?: boolean;
  /** Rewrite every URL to this base (testing against a fake exchange). */
  readonly urlOverride?: string;
  /** Request timeout in ms (ccxt default 10 s). */
  readonly timeoutMs?: number;
  /** Merged into the exchange's `options` (e.g. { fetchMarkets: { types: ['spot'] } } for binance). */
  readonly options?: Record<string, unknown>;
  /** Use the websocket-capable ccxt.pro class when there is one (default true). */
  readonly pro?: boolean;
}

type ExchangeCtor = new (config: Record<string, unknown>) => Exchange;

/**
 * Testing hook: points every URL in `exchange.urls.api` (walked recursively)
 * at `baseUrl`, keeping each URL's path. http(s) URLs become `<baseUrl><path>`;
 * ws(s) URLs become `ws://<host of baseUrl>/<first label of the original host><path>`
 * (e.g. wss://stream.binance.com:9443/ws -> ws://127.0.0.1:PORT/stream/ws), which keeps
 * ccxt's URL-based stream detection working. For a local fake exchange only.
 */
export function redirectExchangeUrls(exchange: { urls: Record<string, unknown> }, baseUrl: string): void {
  const base = new URL(baseUrl);
  const httpBase = `${base.protocol}//${base.host}`;
  const wsBase = `${base.protocol === 'https:' ? 'wss:' : 'ws:'}//${base.host}`;
  const rewrite = (value: unknown): unknown => {
    if (typeof value === 'string') {
      const m = /^(https?|wss?):\/\/([^/?#]+)(.*)$/.exec(value);
      if (m === null) return value;
      const [, scheme, host, rest] = m as unknown as [string, string, string, string];
      if (scheme.startsWith('ws')) return `${wsBase}/${host.split(/[.:]/)[0]}${rest}`;
      return `${httpBase}${rest}`;
    }
    if (Array.isArray(value)) return value.map(rewrite);
    if (value !== null && typeof value === 'object') {
      const obj = value as Record<string, unknown>;
      for (const key of Object.keys(obj)) obj[key] = rewrite(obj[key]);
      return obj;
    }
    return value;
  };
  exchange.urls.api = rewrite(exchange.urls.api);
}

/** A configured (not yet connected) ccxt exchange. */
export async function createCcxtExchange(options: CreateExchangeOptions): Promise<Exchange> {
  const { id } = options;
  const plain = (ccxt as unknown as Record<string, unknown>)[id];
  if (!ccxt.exchanges.includes(id) || typeof plain !== 'function') {
    throw new ConfigError(`unknown exchange '${id}' (a ccxt id, e.g. binance, kraken, okx)`, { field: 'exchange' });
  }
  const pro = (ccxt.pro as unknown as Record<string, unknown>)[id];
  const Ctor = (options.pro !== false && typeof pro === 'function' ? pro : plain) as ExchangeCtor;
  const creds = options.credentials;
  const exchange = new Ctor({
    enableRateLimit: true,
    ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}),
    ...(creds !== undefined
      ? {
          apiKey: creds.apiKey,
          secret: creds.secret,
          ...(creds.password !== undefined ? { password: creds.password } : {}),
        }
      : {}),
    ...(options.options !== undefined ? { options: options.options } : {}),
  });
  exchange.enableRateLimit = true;
  if (options.sandbox === true) {
    try {
      exchange.setSandboxMode(true);
    } catch (err) {
      throw new ConfigError(
        `${id} has no sandbox/testnet in ccxt: ${err instanceof Error ? err.message : String(err)}`,
        { field: 'sandbox' },
        { cause: err },
      );
    }
  }
  if (options.urlOverride !== undefined && options.urlOverride !== '') {
    redirectExchangeUrls(exchange as unknown as { urls: Record<string, unknown> }, options.urlOverride);
    // ccxt refuses plain ws:// URLs until its http agent is loaded
    const loader = (exchange as unknown as { loadHttpProxyAgent?: () => Promise<unknown> }).loadHttpProxyAgent;
    if (typeof loader === 'function') await loader.call(exchange);
  }
  return exchange;
}

/** The ccxt market of `symbol`, or a ConfigError listing a few that exist. */
export function marketOf(exchange: Exchange, symbol: string): NonNullable<Market> {
  const market = exchange.markets?.[symbol];
  if (market === undefined) {
    const some = Object.keys(exchange.markets ?? {})
      .slice(0, 5)
      .join(', ');
    throw new ConfigError(`${exchange.id} has no market '${symbol}'${some ? ` (e.g. ${some})` : ''}`, {
      symbol,
      field: 'symbol',
    });
  }
  return market;
}

/**
 * Checks symbols and timeframe against loaded markets: every symbol exists,
 * is a spot market, is active, and all share one quote currency (the
 * portfolio keeps cash in one currency). Returns that quote currency.
 */
export function checkTradingMarkets(exchange: Exchange, symbols: readonly string[], timeframe: Timeframe): string {
  if (symbols.length === 0) throw new ConfigError('no symbol given', { field: 'symbol' });
  if (new Set(symbols).size !== symbols.length) throw new ConfigError('a symbol is given twice', { field: 'symbol' });
  let quote: string | undefined;
  for (const symbol of symbols) {
    const m = marketOf(exchange, symbol);
    if (m.spot === false) {
      throw new ConfigError(`${symbol} is a ${m.type ?? 'derivative'} market: only spot markets are supported`, {
        symbol,
      });
    }
    if (m.active === false) throw new ConfigError(`${symbol} is not active on ${exchange.id}`, { symbol });
    if (quote !== undefined && m.quote !== quote) {
      throw new ConfigError(`all symbols must share one quote currency: ${quote} and ${m.quote} given`, { symbol });
    }
    quote = m.quote;
  }
  checkCandleTimeframe(exchange, timeframe);
  return quote as string;
}

/** Checks the exchange can fetch candles (fetchOHLCV, native or emulated) of `timeframe`; a ConfigError if not. */
export function checkCandleTimeframe(exchange: Exchange, timeframe: Timeframe): void {
  if (exchange.has.fetchOHLCV !== true && exchange.has.fetchOHLCV !== 'emulated') {
    throw new ConfigError(`${exchange.id} cannot fetch candles (no fetchOHLCV)`, { field: 'exchange' });
  }
  const timeframes = Object.keys(exchange.timeframes ?? {});
  if (timeframes.length > 0 && !timeframes.includes(timeframe)) {
    throw new ConfigError(`${exchange.id} has no '${timeframe}' candles (it has ${timeframes.join(', ')})`, {
      field: 'timeframe',
    });
  }
}

/** Amount / price step as a number, whatever the exchange's precision mode. */
function stepOf(exchange: Exchange, precision: number | undefined): number | undefined {
  if (precision === undefined || precision === null || !Number.isFinite(precision)) return undefined;
  if (exchange.precisionMode === ccxt.TICK_SIZE) return precision;
  if (exchange.precisionMode === ccxt.DECIMAL_PLACES) return 10 ** -precision;
  return undefined; // significant digits: no fixed step
}

/** The market's precision and minimums as the simulated broker takes them. */
export function marketRules(exchange: Exchange, symbol: string): MarketRules {
  const m = marketOf(exchange, symbol);
  const amountStep = stepOf(exchange, m.precision?.amount);
  const priceStep = stepOf(exchange, m.precision?.price);
  const minAmount = m.limits?.amount?.min;
  const minCost = m.limits?.cost?.min;
  return {
    ...(amountStep !== undefined ? { amountStep } : {}),
    ...(priceStep !== undefined ? { priceStep } : {}),
    ...(minAmount !== undefined && minAmount !== null ? { minAmount } : {}),
    ...(minCost !== undefined && minCost !== null ? { minCost } : {}),
  };
}

/** The taker fee rate ccxt knows for the market, else `fallback`. */
export function takerFee(exchange: Exchange, symbol: string, fallback = 0.001): number {
  const fee = exchange.markets?.[symbol]?.taker;
  return typeof fee === 'number' && Number.isFinite(fee) && fee >= 0 ? fee : fallback;
}

/**
 * The exchange's clock: its fetchTime when it has one (through `call`, which
 * adds retries), else ccxt's local clock.
 */
export async function exchangeClock(
  exchange: Exchange,
  call: <T>(what: string, fn: () => Promise<T>) => Promise<T>,
): Promise<number> {
  if (exchange.has.fetchTime === true) {
    const t = await call('fetchTime', async () => {
      const v = await exchange.fetchTime();
      if (lastAnswerUnparsable(exchange)) throw new UnparsableAnswerError('fetchTime');
      return v;
    });
    if (typeof t === 'number' && Number.isFinite(t)) return t;
  }
  return exchange.milliseconds();
}
