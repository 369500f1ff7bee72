/**
 * The order gate in front of every broker: deterministic client ids, the
 * risk rules (the kill switch in a backtest, a rule written here as issue-14
 * style limits would be), orders held back on replayed candles and the
 * catch-up at the newest one, all through the one session loop.
 */
import { describe, expect, it } from 'vitest';
import { positionChange } from '../../src/core/signal.js';
import type { Strategy } from '../../src/core/strategy.js';
import type { Candle } from '../../src/core/types.js';
import { type CandlePhase, ReplayedDecisionsError, type RiskRule } from '../../src/engine/order-gate.js';
import { isQuantflowClientOrderId } from '../../src/engine/orders.js';
import { replay } from '../../src/engine/replay.js';
import { runSession, type SessionEvent } from '../../src/engine/session.js';
import { createSimulation } from '../../src/engine/simulation.js';
import { bars, buy, HOUR, NO_COSTS, scripted, sim, T0 } from './helpers.js';

// 100 up to 110, down to 88, back up: an entry at 1, a loss of 20 % by 5
const CANDLES = bars([
  [100, 101, 99, 100],
  [100, 111, 99, 110],
  [110, 111, 99, 100],
  [100, 101, 94, 95],
  [95, 96, 89, 90],
  [90, 91, 87, 88],
  [88, 96, 87, 95],
  [95, 101, 94, 100],
]);

describe('client order ids', () => {
  it('are deterministic in a backtest too: the same decision gets the same id in every run', async () => {
    const run = async () => {
      const s = sim(scripted({ 1: [buy(1)], 4: [buy(1), buy(2)] }));
      await replay(s.engine, CANDLES);
      return s.broker.orders().map((o) => o.clientOrderId);
    };
    const ids = await run();
    expect(ids).toHaveLength(3);
    expect(ids.every(isQuantflowClientOrderId)).toBe(true);
    expect(new Set(ids).size).toBe(3); // the two orders of one candle differ by their sequence
    expect(await run()).toEqual(ids);
  });
});

describe('risk rules run in every mode, backtest included', () => {
  it('the kill switch trips in a backtest: entries refused with the reason, exits pass', async () => {
    const s = sim(scripted({ 0: [buy(50)], 6: [buy(10), { ...buy(50), side: 'sell', reduceOnly: true }] }), {
      killSwitch: { maxDrawdown: 0.1 },
    });
    await replay(s.engine, CANDLES);
    const orders = s.broker.orders();
    expect(orders.map((o) => [o.side, o.status])).toEqual([
      ['buy', 'filled'],
      ['buy', 'rejected'],
      ['sell', 'filled'],
    ]);
    expect(orders[1]!.rejectReason).toMatch(
      /^kill switch: drawdown .* reached the limit 10.00 %.*new entries refused, exits allowed$/,
    );
    expect(s.errors.filter((e) => e.startsWith('kill-switch: '))).toHaveLength(1);
    expect(s.engine.gate.refusedBy('kill-switch')).toBe(1);
  });

  it('a rule of its own admits orders and submits exits through the same path', async () => {
    const exposureCap: RiskRule = {
      name: 'exposure-cap',
      admit: (r, ctx) =>
        r.side === 'buy' && r.size.kind === 'quantity' && r.size.quantity * 100 > 0.5 * ctx.portfolio.equity
          ? 'exposure cap: more than 50 % of equity in one order'
          : undefined,
    };
    const stop: RiskRule = {
      name: 'stop-loss',
      afterCandle(candle, ctx) {
        const p = ctx.portfolio.position(candle.symbol);
        if (p !== undefined && candle.close < p.entryPrice * 0.9 && ctx.broker.openOrders(candle.symbol).length === 0) {
          void ctx.broker.submit({
            symbol: candle.symbol,
            side: 'sell',
            type: 'market',
            size: { kind: 'all' },
            reduceOnly: true,
            tag: 'stop',
          });
        }
      },
    };
    const s = createSimulation(NO_COSTS, scripted({ 0: [buy(60), buy(30)] }), { rules: [exposureCap, stop] });
    const errors: string[] = [];
    s.events.on('error', (e) => errors.push(e.error.message));
    await replay(s.engine, CANDLES);
    const orders = s.broker.orders();
    expect(orders.map((o) => [o.side, o.status, o.tag])).toEqual([
      ['buy', 'rejected', undefined],
      ['buy', 'filled', undefined],
      ['sell', 'filled', 'stop'],
    ]);
    expect(orders[0]!.rejectReason).toBe('exposure cap: more than 50 % of equity in one order');
    expect(isQuantflowClientOrderId(orders[2]!.clientOrderId)).toBe(true);
    expect(s.portfolio.trades[0]).toMatchObject({ exitReason: 'stop', exitTime: CANDLES[6]!.timestamp }); // 88 < 90 at 5
    expect(errors).toEqual([expect.stringMatching(/exposure cap/)]);
  });
});

/** Buys on candle `buyAt`, sells on `sellAt` (by candle index), publishing each decision with its target. */
function crossing(buyAt: number, sellAt: number): Strategy {
  let i = 0;
  let side = 0;
  return {
    name: 'crossing',
    onCandle(c, ctx) {
      const want = i === buyAt ? 1 : i === sellAt ? 0 : side;
      i++;
      if (want === side) return;
      ctx.events.emit('signal', {
        symbol: c.symbol,
        action: want > side ? 'BUY' : 'SELL',
        confidence: 1,
        timestamp: c.timestamp,
        price: c.close,
        ...positionChange(side, want, { kind: 'equity-fraction', fraction: 0.5 }),
      });
      void ctx.broker.submit(
        want > side
          ? {
              symbol: c.symbol,
              side: 'buy',
              type: 'market',
              size: { kind: 'equity-fraction', fraction: 0.5 },
              tag: 'in',
            }
          : { symbol: c.symbol, side: 'sell', type: 'market', size: { kind: 'all' }, reduceOnly: true, tag: 'out' },
      );
      side = want;
    },
  };
}

const phased = (phases: readonly CandlePhase[], candles: readonly Candle[] = CANDLES): SessionEvent[] => [
  ...phases.map((phase, i) => ({ kind: 'candle' as const, candle: candles[i] as Candle, phase })),
  { kind: 'synced' },
];

describe('replayed candles', () => {
  it('hold their orders back; at the newest candle the position the strategy wants is taken', async () => {
    const s = createSimulation(NO_COSTS, crossing(1, 99));
    const counts = await runSession(s.engine, phased(['warmup', 'warmup', 'warmup', 'backfill', 'live']));
    expect(counts).toEqual({ warmup: 3, backfill: 1, live: 1, ticks: 0 });
    // the BUY of candle 1 is placed at the close of candle 4, with the strategy's own size and tag
    expect(s.broker.orders().map((o) => [o.side, o.tag, o.size, o.createdAt])).toEqual([
      ['buy', 'in', { kind: 'equity-fraction', fraction: 0.5 }, T0 + 5 * HOUR],
    ]);
    expect(s.engine.gate.heldBack).toBe(1);
    expect(s.engine.gate.caughtUp).toBe(1);
  });

  it('leave nothing to do when the replayed decisions cancel out', async () => {
    const s = createSimulation(NO_COSTS, crossing(1, 3));
    await runSession(s.engine, phased(['warmup', 'backfill', 'backfill', 'backfill', 'live']));
    expect(s.broker.orders()).toEqual([]);
    expect(s.engine.gate.heldBack).toBe(2);
  });

  it('hold back the newest candle of a symbol with decisions pending: its decision is part of the comparison', async () => {
    // the strategy sells on the newest candle as if its replayed BUY had been placed: nothing is held, nothing sold
    const s = createSimulation(NO_COSTS, crossing(1, 4));
    await runSession(s.engine, phased(['warmup', 'backfill', 'backfill', 'backfill', 'live']));
    expect(s.broker.orders()).toEqual([]);
    expect(s.portfolio.positions()).toEqual([]);
  });

  it('with halt, throw naming the decision instead of acting', async () => {
    const s = createSimulation(NO_COSTS, crossing(1, 99));
    const err = await runSession(
      s.engine,
      phased(['warmup', 'backfill', 'live']),
      {},
      { replayedDecisions: 'halt' },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplayedDecisionsError);
    expect((err as Error).message).toMatch(
      /TEST\/USDT: the strategy wants long, the account holds flat \(open-long decided on the candle of 2024-01-01T01:00:00\.000Z\)/,
    );
    expect(s.broker.orders()).toEqual([]);
  });
});
