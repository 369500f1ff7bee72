/**
 * A REAL ccxt (pro) binance client pointed at a fake exchange. Nothing in ccxt
 * is mocked: only its URLs are rewritten.
 */
import ccxt from 'ccxt';
import { redirectExchangeUrls } from '../../src/exchange/ccxt-exchange.js';
import type { FakeExchange } from './server.js';

export type BinanceClient = InstanceType<typeof ccxt.pro.binance>;

/**
 * Options that make ccxt's binance load markets with the single GET /api/v3/exchangeInfo
 * the fake serves (no margin, futures, options or currency endpoints).
 */
export const FAKE_BINANCE_OPTIONS = {
  fetchMarkets: { types: ['spot'] },
  fetchMargins: false,
  fetchCurrencies: false,
} as const;

/**
 * `new ccxt.pro.binance(...)` with every `urls.api` string pointed at the fake,
 * dummy credentials (the fake checks they are sent, not what they are),
 * `enableRateLimit` on with a small `rateLimit`, and a short timeout.
 * `overrides` are merged into the constructor config (`options` merged one level deep).
 */
export async function createCcxtClient(
  fake: Pick<FakeExchange, 'url'>,
  overrides: Record<string, unknown> = {},
): Promise<BinanceClient> {
  const { options: overrideOptions, ...rest } = overrides as { options?: Record<string, unknown> };
  const exchange = new ccxt.pro.binance({
    apiKey: 'fake-api-key',
    secret: 'fake-api-secret',
    enableRateLimit: true,
    rateLimit: 5,
    timeout: 2_000,
    ...rest,
    options: { ...FAKE_BINANCE_OPTIONS, ...overrideOptions },
  });
  redirectExchangeUrls(exchange, fake.url);
  // ccxt refuses plain ws:// urls until its http agent is loaded
  await exchange.loadHttpProxyAgent();
  return exchange;
}
