/**
 * The `quantflow live` CLI as a child process against the fake exchange run
 * by this test: SIGKILL in the middle of an order (the exchange executed it,
 * the answer never came), restart, reconciliation applies the fill that
 * happened while the process was down, no order is placed twice; SIGTERM
 * stops gracefully with the state saved; credentials never show in the
 * output; without the confirmation flag live trading is refused.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JournalState } from '../../src/exchange/index.js';
import { type FakeExchange, startFakeExchange } from '../fake-exchange/index.js';
import { startCli } from './cli-process.js';
import { MIN, SYMBOL, T0, wavyCandles } from './helpers.js';

const API_KEY = 'QF-CHILD-KEY-7f3a9c1e55d2';
const API_SECRET = 'QF-CHILD-SECRET-0b8e4d6a2c91';

const minute = (i: number) => new Date(T0 + i * MIN).toISOString().replace(':00.000Z', 'Z');

describe('quantflow live as a process', () => {
  let fake: FakeExchange;
  let dir: string;
  const outputs: string[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'qf-live-'));
    fake = await startFakeExchange({ balances: { USDT: 10_000 } });
    fake.setCandles(SYMBOL, wavyCandles(60));
    env = {
      QUANTFLOW_EXCHANGE_URL_OVERRIDE: fake.url,
      QUANTFLOW_API_KEY: API_KEY,
      QUANTFLOW_API_SECRET: API_SECRET,
    };
  });
  afterAll(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const journal = () => path.join(dir, 'live.json');
  const args = () => [
    'live',
    '--exchange',
    'binance',
    '--symbol',
    SYMBOL,
    '--timeframe',
    '1m',
    '--strategy',
    'sma',
    '--fast',
    '3',
    '--slow',
    '8',
    '--warmup',
    '8',
    '--poll-ms',
    '20',
    '--no-ticks',
    '--timeout-ms',
    '600',
    '--journal',
    journal(),
    '--exchange-options',
    // a short recvWindow: the restart right after the kill waits out the acceptance window of the order in flight
    '{"fetchMarkets":{"types":["spot"]},"fetchCurrencies":false,"fetchMargins":false,"recvWindow":1000}',
    '--i-understand-this-trades-real-money',
  ];

  it('SIGKILL mid-order, restart: the fill that happened while down is applied, nothing is placed twice; SIGTERM saves state', {
    timeout: 40_000,
  }, async () => {
    fake.setNow(T0 + 9 * MIN);
    const first = startCli(args(), env);
    try {
      await first.waitFor(/warm-up: 8 candles; trading/);
      for (let i = 9; i <= 26; i++) {
        fake.setNow(T0 + (i + 1) * MIN);
        await first.waitFor(new RegExp(`${minute(i)} ${SYMBOL}`));
      }
      expect(first.output()).toMatch(new RegExp(`${minute(18)} ${SYMBOL} close=\\S+ signal=BUY`));
      expect(fake.orders().map((o) => [o.side, o.status])).toEqual([['BUY', 'FILLED']]);

      // candle 27 signals SELL: the exchange executes it but its answer never arrives; the process dies waiting
      fake.inject({ kind: 'lost-response', endpoint: '/api/v3/order', method: 'POST' });
      fake.setNow(T0 + 28 * MIN);
      for (let t = 0; t < 100 && fake.orders().length < 2; t++) await new Promise((r) => setTimeout(r, 20));
      expect(fake.orders().map((o) => [o.side, o.status])).toEqual([
        ['BUY', 'FILLED'],
        ['SELL', 'FILLED'],
      ]);
      first.proc.kill('SIGKILL');
      expect(await first.exited()).toBeNull();
    } finally {
      first.proc.kill('SIGKILL');
      outputs.push(first.output());
    }
    const crashed = JSON.parse(readFileSync(journal(), 'utf8')) as JournalState;
    expect(crashed.status).toBe('running');
    expect(crashed.lastCandle[SYMBOL]).toBe(T0 + 26 * MIN);
    const pending = crashed.broker.kind === 'ccxt' ? crashed.broker.state.orders.filter((o) => o.unknownOutcome) : [];
    expect(pending.map((o) => [o.side, o.status])).toEqual([['sell', 'pending']]); // journaled before it was sent
    expect(crashed.portfolio.positions[0]!.quantity).toBeGreaterThan(0); // still long as far as the journal knows

    fake.setNow(T0 + 31 * MIN); // three more candles close while the bot is down
    const second = startCli(args(), env);
    try {
      await second.waitFor(/reconciliation: 1 order\(s\) filled while down \(applied\)/);
      await second.waitFor(new RegExp(`filled while down: ${pending[0]!.clientOrderId} sell`));
      await second.waitFor(new RegExp(`${minute(30)} ${SYMBOL} close=\\S+ signal=- pos=0 `));
      expect(second.output()).toMatch(new RegExp(`${minute(27)} ${SYMBOL} .*\\[backfill\\]`));
      await second.waitFor(/warm-up: 8 candles, backfilled 4; trading/);
      fake.setNow(T0 + 32 * MIN);
      await second.waitFor(new RegExp(`${minute(31)} ${SYMBOL}`));
      second.proc.kill('SIGTERM');
      expect(await second.exited()).toBe(0);
      expect(second.output()).toMatch(/SIGTERM: stopping/);
      expect(second.output()).toMatch(/stopped: .* state saved to /);
    } finally {
      second.proc.kill('SIGKILL');
      outputs.push(second.output());
    }
    const saved = JSON.parse(readFileSync(journal(), 'utf8')) as JournalState;
    expect(saved.status).toBe('stopped');
    expect(saved.lastCandle[SYMBOL]).toBe(T0 + 31 * MIN);
    expect(saved.portfolio.positions).toEqual([]);
    expect(saved.lastReconciliation?.filledWhileDown).toHaveLength(1);
    // exactly one BUY and one SELL ever reached the exchange
    expect(fake.orders()).toHaveLength(2);
    expect(fake.requests({ endpoint: '/api/v3/order', method: 'POST' })).toHaveLength(2);
    // the cash the exchange holds, plus the untradable BTC remainder (fee dust) written off at the sell price
    const dust = fake.balance('BTC').free;
    expect(dust).toBeLessThan(0.00001);
    expect(saved.portfolio.cash).toBeCloseTo(fake.balance('USDT').free + dust * 102.97, 6);
  });

  it('refuses live trading without the confirmation flag, before touching the network', {
    timeout: 15_000,
  }, async () => {
    fake.clearRequests();
    const child = startCli(
      args().filter((a) => a !== '--i-understand-this-trades-real-money'),
      env,
    );
    expect(await child.exited()).toBe(1);
    outputs.push(child.output());
    expect(child.output().trim().split('\n')).toEqual([
      expect.stringMatching(
        /^error: live trading places real orders with real money: add --i-understand-this-trades-real-money/,
      ),
    ]);
    expect(fake.requests()).toHaveLength(0);
  });

  it('never prints the API key or secret', () => {
    const all = outputs.join('\n');
    expect(all.length).toBeGreaterThan(500);
    expect(all).not.toContain(API_KEY);
    expect(all).not.toContain(API_SECRET);
  });
});
