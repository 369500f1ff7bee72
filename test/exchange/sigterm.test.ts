/**
 * SIGTERM ends `quantflow live` with websockets in every run, within a
 * bounded time, state saved: right after the warm-up, while the websockets
 * reconnect, while a candle is being traded, and with a request that never
 * ends (a socket no close can free: the process exits at its stop deadline).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JournalState } from '../../src/exchange/index.js';
import { type FakeExchange, startFakeExchange } from '../fake-exchange/index.js';
import { startCli } from './cli-process.js';
import { MIN, SYMBOL, T0, wavyCandles } from './helpers.js';

/** The stop deadline for these runs (the CLI's default is 10 s). */
const GRACE_MS = 3_000;

describe('quantflow live with websockets, SIGTERM', () => {
  let fake: FakeExchange;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'qf-sigterm-'));
    fake = await startFakeExchange({ balances: { USDT: 10_000 } });
    fake.setCandles(SYMBOL, wavyCandles(60));
  });
  afterAll(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const scenarios: readonly [string, (fake: FakeExchange) => Promise<void>][] = [
    ['right after the warm-up', async () => {}],
    [
      'while the websockets reconnect',
      async (f) => {
        f.dropWebsockets();
        await new Promise((r) => setTimeout(r, 700)); // ccxt is in its reconnect backoff
      },
    ],
    [
      'while a candle closes and ticks arrive',
      async (f) => {
        f.setPrice(SYMBOL, 104);
        f.setNow(T0 + 19 * MIN); // candle 18 closes: the BUY
        await new Promise((r) => setTimeout(r, 30));
      },
    ],
    [
      'with a request that never ends',
      async (f) => {
        f.inject({ kind: 'hang', endpoint: 'ticker/24hr', count: Number.POSITIVE_INFINITY });
        f.dropWebsockets(); // the ticks fall back to REST, which hangs
        await new Promise((r) => setTimeout(r, 600));
      },
    ],
  ];

  for (const [i, [when, perturb]] of scenarios.entries()) {
    it(`exits with the state saved: ${when}`, { timeout: 25_000 }, async () => {
      fake.clearFaults();
      fake.setNow(T0 + 18 * MIN);
      const journal = path.join(dir, `live-${i}.json`);
      const child = startCli(
        [
          'live',
          ...['--exchange', 'binance', '--symbol', SYMBOL, '--timeframe', '1m'],
          ...['--strategy', 'sma', '--fast', '3', '--slow', '8', '--warmup', '8', '--poll-ms', '50'],
          ...['--timeout-ms', '20000', '--journal', journal],
          ...['--exchange-options', '{"fetchMarkets":{"types":["spot"]},"fetchCurrencies":false,"fetchMargins":false}'],
          '--i-understand-this-trades-real-money',
        ],
        {
          QUANTFLOW_EXCHANGE_URL_OVERRIDE: fake.url,
          QUANTFLOW_API_KEY: 'k',
          QUANTFLOW_API_SECRET: 's',
          QUANTFLOW_STOP_GRACE_MS: String(GRACE_MS),
        },
      );
      try {
        await child.waitFor(/warm-up: 8 candles; trading/, 15_000);
        await fake.waitForWsSubscription('btcusdt@kline_1m');
        await perturb(fake);
        const sent = Date.now();
        child.proc.kill('SIGTERM');
        const code = await Promise.race([
          child.exited(),
          new Promise((r) => setTimeout(() => r('alive'), GRACE_MS + 4_000)),
        ]);
        expect(code, child.output()).toBe(0);
        expect(Date.now() - sent).toBeLessThan(GRACE_MS + 4_000);
        expect(child.output()).toMatch(/SIGTERM: stopping/);
        expect(child.output()).toMatch(/stopped: .* state saved to /);
        expect((JSON.parse(readFileSync(journal, 'utf8')) as JournalState).status).toBe('stopped');
      } finally {
        child.proc.kill('SIGKILL');
      }
    });
  }
});
