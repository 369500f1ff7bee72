import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/core/events.js';
import type { OrderRequest } from '../../src/core/types.js';
import { EventClock } from '../../src/engine/clock.js';
import { Portfolio } from '../../src/engine/portfolio.js';
import { replay } from '../../src/engine/replay.js';
import { SimulatedBroker } from '../../src/engine/simulated-broker.js';
import { bar, bars, buy, scripted, sell, sim } from './helpers.js';

/** Five candles whose opens, highs, lows and closes are all different numbers. */
const FIVE = bars([
  [100, 101, 99, 100.5],
  [102, 104, 101, 103],
  [105, 106, 104, 104.5],
  [110, 112, 109, 111],
  [108, 109, 107, 108.5],
]);

describe('SimulatedBroker: market order timing', () => {
  it("fills at the NEXT candle's open plus slippage, never at the signal candle's prices", async () => {
    const s = sim(scripted({ 0: [buy(1)], 2: [sell(1)] }), { slippageBps: 5 });
    await replay(s.engine, FIVE);
    expect(s.fills).toHaveLength(2);
    const [entry, exit] = s.fills;
    expect(entry?.price).toBe(102 * (1 + 5 / 10_000)); // candle 1 open, not candle 0's 100.5 close
    expect(entry?.timestamp).toBe(FIVE[1]?.timestamp);
    expect(exit?.price).toBe(110 * (1 - 5 / 10_000)); // candle 3 open, not candle 2's close
    expect(exit?.timestamp).toBe(FIVE[3]?.timestamp);
    for (const [fill, signalBar] of [
      [entry, FIVE[0]],
      [exit, FIVE[2]],
    ] as const) {
      const prices = [signalBar?.open, signalBar?.high, signalBar?.low, signalBar?.close];
      expect(prices).not.toContain(fill?.price);
    }
  });

  it("an order for another symbol waits for that symbol's next candle, not its candle at the same time", async () => {
    // A is processed before B at each timestamp; an order for B placed on A's candle 0
    // must not fill at B's candle 0 open (that price is from before the decision).
    const a = bars(
      [
        [10, 10, 10, 10],
        [11, 11, 11, 11],
        [12, 12, 12, 12],
      ],
      'A',
    );
    const b = bars(
      [
        [50, 50, 50, 50],
        [60, 60, 60, 60],
        [70, 70, 70, 70],
      ],
      'B',
    );
    const strategy = scripted({}, (candle, ctx, i) => {
      if (candle.symbol === 'A' && i === 0) {
        void ctx.broker.submit({ symbol: 'B', side: 'buy', type: 'market', size: { kind: 'quantity', quantity: 1 } });
      }
    });
    const s = sim(strategy);
    await replay(s.engine, [a, b]);
    expect(s.fills.map((f) => [f.symbol, f.price])).toEqual([['B', 60]]);
  });

  it('fills market orders before limit orders, each in submission order', async () => {
    const s = sim(
      scripted({
        0: [
          { symbol: 'TEST/USDT', side: 'buy', type: 'limit', limitPrice: 103, size: { kind: 'quantity', quantity: 1 } },
          buy(2),
        ],
      }),
    );
    await replay(s.engine, FIVE);
    expect(s.fills.map((f) => [f.quantity, f.price])).toEqual([
      [2, 102],
      [1, 102],
    ]);
  });
});

describe('SimulatedBroker: limit orders', () => {
  const limit = (side: 'buy' | 'sell', limitPrice: number, quantity = 1): OrderRequest => ({
    symbol: 'TEST/USDT',
    side,
    type: 'limit',
    limitPrice,
    size: { kind: 'quantity', quantity },
  });

  it('a buy limit fills at the limit once a later candle trades down to it, without slippage', async () => {
    // Placed on candle 2: candle 3 (low 109) does not reach 107.5, candle 4 (open 108, low 107) does -> 107.5.
    const s = sim(scripted({ 2: [limit('buy', 107.5)] }), { slippageBps: 50 });
    await replay(s.engine, FIVE);
    expect(s.fills.map((f) => [f.price, f.timestamp])).toEqual([[107.5, FIVE[4]?.timestamp]]);
  });

  it('a buy limit the open gaps through fills at the open (the better price)', async () => {
    // Limit 109 placed on candle 3 (o 110); candle 4 opens at 108 < 109 -> fills at 108.
    const s = sim(scripted({ 3: [limit('buy', 109)] }));
    await replay(s.engine, FIVE);
    expect(s.fills.map((f) => f.price)).toEqual([108]);
  });

  it('a sell limit fills at max(open, limit) once high >= limit', async () => {
    const s = sim(scripted({ 0: [buy(2)], 1: [limit('sell', 105.5)], 2: [limit('sell', 109.5)] }));
    await replay(s.engine, FIVE);
    // 105.5: candle 2 opens at 105 and reaches 106 -> 105.5. 109.5 (placed on candle 2): candle 3 opens at 110 -> 110.
    expect(s.fills.map((f) => [f.side, f.price, f.timestamp])).toEqual([
      ['buy', 102, FIVE[1]?.timestamp],
      ['sell', 105.5, FIVE[2]?.timestamp],
      ['sell', 110, FIVE[3]?.timestamp],
    ]);
  });

  it('stays open across candles that do not reach it, until cancelled', async () => {
    const cancelled: boolean[] = [];
    const strategy = scripted({ 0: [limit('buy', 50)] }, (_c, ctx, i) => {
      if (i === 3) {
        const open = ctx.broker.openOrders('TEST/USDT');
        expect(open.map((o) => [o.id, o.status])).toEqual([['sim-1', 'open']]);
        void ctx.broker.cancel('sim-1').then((ok) => cancelled.push(ok));
      }
    });
    const s = sim(strategy);
    await replay(s.engine, FIVE);
    expect(cancelled).toEqual([true]);
    expect(s.fills).toEqual([]);
    expect(s.broker.order('sim-1')?.status).toBe('cancelled');
    expect(s.broker.openOrders()).toEqual([]);
    expect(await s.broker.cancel('sim-1')).toBe(false);
  });

  it('never fills on the candle it was placed on', async () => {
    // Placed on candle 1 (low 101): a limit of 101.5 would be "hit" by candle 1 itself, but must wait.
    const s = sim(scripted({ 1: [limit('buy', 101.5)] }));
    await replay(s.engine, FIVE);
    expect(s.fills).toEqual([]);
  });

  it('rounds the limit price to the market price step', () => {
    const s = sim(scripted({}), { markets: { 'TEST/USDT': { priceStep: 0.5 } } });
    const o = s.broker.submitOrder(limit('buy', 100.3));
    expect(o.limitPrice).toBe(100.5);
  });
});

describe('SimulatedBroker: rejections', () => {
  it('rejects a buy the cash cannot cover after fees, with a reason and an error event', async () => {
    // 10,000 cash; 98 units at 102 = 9,996 + 0.1% fee 9.996 = 10,005.996 > 10,000.
    const s = sim(scripted({ 0: [buy(98)] }), { feeRate: 0.001 });
    await replay(s.engine, FIVE);
    const [order] = s.broker.orders();
    expect(order?.status).toBe('rejected');
    expect(order?.rejectReason).toMatch(/^insufficient cash for TEST\/USDT buy: need 10005\.996/);
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]).toMatch(/^order: symbol TEST\/USDT: insufficient cash/);
    expect(s.fills).toEqual([]);
    expect(s.portfolio.cash).toBe(10_000);
  });

  it('accepts the same buy when it fits: 97 units', async () => {
    const s = sim(scripted({ 0: [buy(97)] }), { feeRate: 0.001 });
    await replay(s.engine, FIVE);
    expect(s.broker.orders()[0]?.status).toBe('filled');
  });

  it('rejects a sell without a position when shorts are off', async () => {
    const s = sim(scripted({ 0: [sell(1)], 1: [{ ...sell(1), size: { kind: 'all' } }] }));
    await replay(s.engine, FIVE);
    expect(s.broker.orders().map((o) => o.rejectReason)).toEqual([
      'no long TEST/USDT position to sell and shorts are disabled',
      "no long TEST/USDT position to sell (size 'all') and shorts are disabled",
    ]);
    expect(s.errors).toHaveLength(2);
  });

  it('rejects a sell larger than the long position when shorts are off', async () => {
    const s = sim(scripted({ 0: [buy(2)], 1: [sell(3)] }));
    await replay(s.engine, FIVE);
    expect(s.broker.orders()[1]?.rejectReason).toBe(
      'sell of 3 exceeds the long TEST/USDT position of 2 and shorts are disabled',
    );
    expect(s.portfolio.quantity('TEST/USDT')).toBe(2);
  });

  it('rejects below minAmount and minCost, and quantities that round to zero', async () => {
    const markets = { 'TEST/USDT': { amountStep: 0.01, minAmount: 0.05, minCost: 10 } };
    const s = sim(scripted({ 0: [buy(0.04), buy(0.06), buy(0.004)] }), { markets });
    await replay(s.engine, FIVE);
    expect(s.broker.orders().map((o) => o.rejectReason)).toEqual([
      'quantity 0.04 is below the market minimum amount 0.05',
      'order value 6.12 is below the market minimum cost 10',
      'order quantity rounds to 0 at price 102 (amount step 0.01, fractional)',
    ]);
  });

  it('rejects malformed requests at submission', () => {
    const s = sim(scripted({}));
    const broker = s.broker;
    expect(broker.submitOrder({ ...buy(1), type: 'limit' }).rejectReason).toBe(
      'limit order needs a positive limitPrice, got undefined',
    );
    expect(broker.submitOrder({ ...buy(1), size: { kind: 'equity-fraction', fraction: 1.5 } }).rejectReason).toBe(
      'equity fraction must be in (0, 1], got 1.5',
    );
    expect(broker.submitOrder(buy(-1)).rejectReason).toBe('order quantity must be a positive number, got -1');
    expect(broker.openOrders()).toEqual([]);
    expect(s.errors).toHaveLength(3);
  });

  it('reduce-only orders never open or increase a position and are capped at it', async () => {
    const s = sim(scripted({ 0: [buy(1, { reduceOnly: true }), buy(3)], 1: [sell(5, { reduceOnly: true })] }));
    await replay(s.engine, FIVE);
    const [first, second, third] = s.broker.orders();
    expect(first?.rejectReason).toBe('reduce-only buy would open or increase a TEST/USDT position');
    expect(second?.status).toBe('filled');
    expect(third?.status).toBe('filled');
    expect(third?.filledQuantity).toBe(3);
    expect(s.portfolio.position('TEST/USDT')).toBeUndefined();
  });
});

describe('SimulatedBroker: sizes', () => {
  it('whole units: floors every quantity to an integer', async () => {
    // all cash at 102: 10,000 / 102 = 98.04 -> 98 units.
    const s = sim(scripted({ 0: [{ ...buy(0), size: { kind: 'all' } }] }), { fractional: false });
    await replay(s.engine, FIVE);
    expect(s.fills[0]?.quantity).toBe(98);
    expect(s.portfolio.cash).toBe(10_000 - 98 * 102);
  });

  it('fractional units are floored to the market amount step', async () => {
    const s = sim(scripted({ 0: [{ ...buy(0), size: { kind: 'equity-fraction', fraction: 0.5 } }] }), {
      markets: { 'TEST/USDT': { amountStep: 0.001 } },
    });
    await replay(s.engine, FIVE);
    // 0.5 * 10,000 / 102 = 49.0196... -> 49.019
    expect(s.fills[0]?.quantity).toBe(49.019);
  });

  it("'all' with fees spends all the cash and never goes below zero", async () => {
    const s = sim(scripted({ 0: [{ ...buy(0), size: { kind: 'all' } }] }), { feeRate: 0.001, slippageBps: 5 });
    await replay(s.engine, FIVE);
    const f = s.fills[0];
    expect(f).toBeDefined();
    expect(s.portfolio.cash).toBeGreaterThanOrEqual(0);
    expect(s.portfolio.cash).toBeLessThan(1e-6);
    expect(f!.quantity * f!.price + f!.fee).toBeCloseTo(10_000, 6);
  });
});

describe('SimulatedBroker: shorts', () => {
  it('opens a short with shorts allowed, covers it, and books the short P&L', async () => {
    // Short 10 at candle 1 open 102, cover at candle 3 open 110: P&L (102 - 110) * 10 = -80.
    const s = sim(scripted({ 0: [sell(10)], 2: [{ ...buy(0), size: { kind: 'all' } }] }), { allowShort: true });
    await replay(s.engine, FIVE);
    expect(s.fills.map((f) => [f.side, f.quantity, f.price])).toEqual([
      ['sell', 10, 102],
      ['buy', 10, 110],
    ]);
    expect(s.portfolio.trades).toHaveLength(1);
    expect(s.portfolio.trades[0]).toMatchObject({ direction: 'short', entryPrice: 102, exitPrice: 110, pnl: -80 });
    expect(s.portfolio.cash).toBe(9_920);
  });

  it('flips long to short in one order and records the closed long as a trade', async () => {
    const s = sim(scripted({ 0: [buy(5)], 1: [sell(8)] }), { allowShort: true });
    await replay(s.engine, FIVE);
    expect(s.portfolio.trades).toEqual([
      expect.objectContaining({ direction: 'long', quantity: 5, entryPrice: 102, exitPrice: 105, pnl: 15 }),
    ]);
    expect(s.portfolio.position('TEST/USDT')).toMatchObject({ quantity: -3, entryPrice: 105 });
  });

  it('refuses a short larger than equity (no leverage)', async () => {
    const s = sim(scripted({ 0: [sell(200)] }), { allowShort: true });
    await replay(s.engine, FIVE);
    expect(s.broker.orders()[0]?.rejectReason).toMatch(
      /^insufficient margin for TEST\/USDT short: 20400 exceeds equity 10000/,
    );
  });
});

describe('SimulatedBroker: idempotency and state', () => {
  it('returns the existing order for a repeated clientOrderId', async () => {
    const s = sim(scripted({}));
    const a = await s.broker.submit(buy(1, { clientOrderId: 'abc' }));
    const b = await s.broker.submit(buy(2, { clientOrderId: 'abc' }));
    expect(b).toBe(a);
    expect(s.broker.orders()).toHaveLength(1);
    expect(s.broker.openOrders()).toHaveLength(1);
    expect(a.clientOrderId).toBe('abc');
  });

  it('saves and restores open orders; the restored broker fills them like the original', async () => {
    const candles = FIVE;
    const run = async (restoreAfter?: number) => {
      const plan = {
        0: [buy(1)],
        2: [
          {
            symbol: 'TEST/USDT',
            side: 'buy',
            type: 'limit',
            limitPrice: 107.5,
            size: { kind: 'quantity', quantity: 2 },
          },
        ] as OrderRequest[],
      };
      const s = sim(scripted(plan));
      await s.engine.start();
      for (const c of candles.slice(0, restoreAfter ?? candles.length)) s.engine.processCandle(c);
      if (restoreAfter === undefined) return s.fills.map((f) => [f.quantity, f.price, f.timestamp]);
      const saved = JSON.parse(JSON.stringify({ b: s.broker.toJSON(), p: s.portfolio.toJSON() }));
      const portfolio = Portfolio.fromJSON(saved.p);
      const clock = new EventClock(s.clock.now());
      const events = new EventBus();
      const fills: unknown[] = s.fills.map((f) => [f.quantity, f.price, f.timestamp]);
      events.on('fill', (f) => fills.push([f.quantity, f.price, f.timestamp]));
      const broker = SimulatedBroker.fromJSON(saved.b, {
        portfolio,
        events,
        clock,
        feeRate: 0,
        slippageBps: 0,
        allowShort: false,
        fractional: true,
      });
      expect(broker.openOrders().map((o) => o.limitPrice)).toEqual([107.5]);
      for (const c of candles.slice(restoreAfter)) {
        clock.time = c.timestamp + 3_600_000;
        broker.onCandle(c);
        portfolio.mark(c.symbol, c.close);
      }
      // The next generated id continues the sequence.
      expect(broker.submitOrder(buy(1)).id).toBe('sim-3');
      return fills;
    };
    const straight = await run();
    expect(straight).toEqual([
      [1, 102, FIVE[1]?.timestamp],
      [2, 107.5, FIVE[4]?.timestamp],
    ]);
    expect(await run(3)).toEqual(straight);
  });
});

describe('SimulatedBroker: events', () => {
  it('publishes order status changes and fills', async () => {
    const s = sim(scripted({ 0: [buy(1)] }));
    await replay(s.engine, [bar(0, 1, 1, 1, 1), bar(1, 2, 2, 2, 2)]);
    expect(s.orderEvents).toEqual(['sim-1:open', 'sim-1:filled']);
    expect(s.fills).toHaveLength(1);
  });
});
