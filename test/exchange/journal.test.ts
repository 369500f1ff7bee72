/**
 * The journal is checked field by field when read: each corruption the probe
 * wrote into a journal is refused with an error naming the file and the
 * field, and nothing is rewritten before the journal has passed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataError } from '../../src/core/errors.js';
import { type JournalState, TradingJournal } from '../../src/exchange/index.js';
import { SmaCrossover } from '../../strategies/sma-crossover.js';
import { startFakeExchange } from '../fake-exchange/index.js';
import { client, drive, MIN, SYMBOL, T0, wavyCandles } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'qf-journal-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A journal as a paper run writes it: long 1 BTC, one resting limit order, a kill switch day. */
function validJournal(): JournalState {
  return {
    version: 1,
    mode: 'paper',
    exchange: 'binance',
    symbols: [SYMBOL],
    timeframe: '1m',
    strategy: 'sma-crossover(3,8,long-only)',
    status: 'stopped',
    savedAt: Date.UTC(2024, 0, 2),
    engineTime: T0 + 20 * MIN,
    lastCandle: { [SYMBOL]: T0 + 19 * MIN },
    portfolio: {
      initialCash: 10_000,
      cash: 9_899.9,
      totalFees: 0.1,
      realizedPnl: 0,
      positions: [
        { symbol: SYMBOL, quantity: 1, entryPrice: 100, openedAt: T0 + 10 * MIN, markPrice: 101, entryFees: 0.1 },
      ],
      trades: [],
    },
    broker: {
      kind: 'simulated',
      state: {
        nextId: 3,
        openOrders: [
          {
            symbol: SYMBOL,
            side: 'sell',
            type: 'limit',
            size: { kind: 'all' },
            limitPrice: 110,
            clientOrderId: 'qf12345678abc-0',
            id: 'paper-2',
            status: 'open',
            createdAt: T0 + 15 * MIN,
            filledQuantity: 0,
            averageFillPrice: 0,
          },
        ],
      },
    },
    killSwitch: { day: '2024-01-01', dayStartEquity: 10_000, peakEquity: 10_001, tripped: undefined },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: a corruption writes anything anywhere
type Loose = Record<string, any>;
type Mutation = (j: Loose) => void;

const CORRUPTIONS: readonly (readonly [string, Mutation, string, RegExp])[] = [
  ['cash of 1e308', (j) => (j.portfolio.cash = 1e308), 'portfolio.cash', /must be <= 1000000000000000, got 1e\+308/],
  ['cash of -1e308', (j) => (j.portfolio.cash = -1e308), 'portfolio.cash', /must be >= -1000000000000000/],
  ['a negative cash', (j) => (j.portfolio.cash = -50), 'portfolio.cash', /cash -50 is negative/],
  [
    'a negative quantity (long-only)',
    (j) => (j.portfolio.positions[0].quantity = -1),
    'portfolio.positions.0.quantity',
    /not a long position/,
  ],
  [
    'a position in an unknown symbol',
    (j) => (j.portfolio.positions[0].symbol = 'DOGE/USDT'),
    'portfolio.positions.0.symbol',
    /DOGE\/USDT, which the run does not trade/,
  ],
  [
    'a malformed kill-switch state',
    (j) => (j.killSwitch = { day: 'yesterday', peakEquity: 'high' }),
    'killSwitch.day',
    /must match pattern/,
  ],
  [
    'a kill-switch trip without a reason',
    (j) => (j.killSwitch.tripped = { at: 1, day: '2024-01-01', equity: 9000 }),
    'killSwitch.tripped.reason',
    /missing/,
  ],
  ['null', (j) => (j.portfolio = null), 'portfolio', /must be object, got null/],
  ['a string cash', (j) => (j.portfolio.cash = '9899.9'), 'portfolio.cash', /must be number, got "9899.9"/],
  [
    'a string quantity',
    (j) => (j.portfolio.positions[0].quantity = '1'),
    'portfolio.positions.0.quantity',
    /must be number/,
  ],
  [
    'a garbage broker state',
    (j) => (j.broker = { kind: 'simulated', state: 'garbage' }),
    'broker.state',
    /must be object/,
  ],
  ['an unknown broker kind', (j) => (j.broker.kind = 'magic'), 'broker', /value of tag "kind" must be in oneOf/],
  [
    'a broker of the other mode',
    (j) => (j.broker = { kind: 'ccxt', state: { orders: [], balances: {} } }),
    'broker.kind',
    /ccxt broker state in a paper journal/,
  ],
  [
    'an order of an unknown size kind',
    (j) => (j.broker.state.openOrders[0].size = { kind: 'lots', lots: 3 }),
    'broker.state.openOrders.0.size',
    /oneOf/,
  ],
  [
    'a last candle of another symbol',
    (j) => (j.lastCandle = { 'ETH/USDT': T0 }),
    'lastCandle.ETH/USDT',
    /does not trade/,
  ],
  ['a field no journal has', (j) => (j.portfolio.bonus = 1), 'portfolio.bonus', /not a journal field/],
];

describe('reading a journal', () => {
  it('takes a valid one', async () => {
    const file = path.join(dir, 'valid.json');
    writeFileSync(file, JSON.stringify(validJournal()));
    expect(await new TradingJournal(file).load()).toEqual(JSON.parse(JSON.stringify(validJournal())));
  });

  for (const [what, mutate, field, message] of CORRUPTIONS) {
    it(`refuses ${what}, naming the file and the field`, async () => {
      const file = path.join(dir, `${what.replaceAll(/\W+/g, '-')}.json`);
      const j = validJournal() as unknown as Loose;
      mutate(j);
      writeFileSync(file, JSON.stringify(j));
      const err = await new TradingJournal(file).load().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as DataError).where).toEqual({ file, field });
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message.startsWith(`${file}, field '${field}': `)).toBe(true);
    });
  }
});

describe('a run resuming a corrupt journal', () => {
  it('refuses it before writing anything: a schema error, a last candle later than the exchange clock', {
    timeout: 10_000,
  }, async () => {
    const fake = await startFakeExchange();
    fake.setCandles(SYMBOL, wavyCandles(40));
    fake.setNow(T0 + 30 * MIN);
    const ex = await client(fake);
    const cases: [Mutation, string, RegExp][] = [
      [(j) => (j.portfolio.positions[0].quantity = null), 'portfolio.positions.0.quantity', /must be number/],
      [
        (j) => (j.lastCandle[SYMBOL] = Date.UTC(2100, 0, 1)),
        `lastCandle.${SYMBOL}`,
        /the last processed BTC\/USDT candle, 2100-01-01T00:00:00.000Z, is later than the exchange's clock 2024-01-01T00:30:00.000Z/,
      ],
    ];
    try {
      for (const [mutate, field, message] of cases) {
        const file = path.join(dir, `run-${field.replaceAll(/\W+/g, '-')}.json`);
        const j = validJournal() as unknown as Loose;
        mutate(j);
        const text = JSON.stringify(j, null, 1);
        writeFileSync(file, text);
        const run = drive({
          mode: 'paper',
          exchange: ex,
          symbols: [SYMBOL],
          timeframe: '1m',
          strategy: new SmaCrossover({ fast: 3, slow: 8 }),
          journalFile: file,
          warmupCandles: 8,
          feed: { pollIntervalMs: 20, websocket: false, ticks: false },
        });
        const err = await run.session.done.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DataError);
        expect((err as DataError).where).toEqual({ file, field });
        expect((err as Error).message).toMatch(message);
        expect(readFileSync(file, 'utf8')).toBe(text); // not rewritten
        expect(run.rec.candles).toHaveLength(0);
      }
    } finally {
      await ex.close();
      await fake.close();
    }
  });
});
