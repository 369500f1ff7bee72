/**
 * Fees and slippage on a 5-candle fixture, every number computed by hand below.
 *
 * Candles (open, high, low, close), 1h apart:
 *   0: 100 101  99 100      <- strategy buys 10 units (market)
 *   1: 102 105 101 104      <- buy fills at this open
 *   2: 105 106 102 103      <- strategy sells 10 units (market)
 *   3: 110 112 109 111      <- sell fills at this open
 *   4: 108 109 107 109
 *
 * Costs: fee 0.2% of notional per fill, slippage 10 bps against the trader.
 *   buy price  = 102 * (1 + 0.001) = 102.102
 *   buy fee    = 10 * 102.102 * 0.002 = 2.04204
 *   cash after = 10,000 - 1,021.02 - 2.04204 = 8,976.93796
 *   sell price = 110 * (1 - 0.001) = 109.89
 *   sell fee   = 10 * 109.89 * 0.002 = 2.1978
 *   cash after = 8,976.93796 + 1,098.9 - 2.1978 = 10,073.64016
 *   trade P&L  = (109.89 - 102.102) * 10 - (2.04204 + 2.1978) = 77.88 - 4.23984 = 73.64016
 *   return     = 73.64016 / 1,021.02 = 0.0721241...
 * Without costs the same trades make (110 - 102) * 10 = 80, final cash 10,080;
 * the difference 6.35984 = slippage 1.02 + 1.10 plus fees 4.23984.
 *
 * Equity curve (one point per candle, marked at the close):
 *   0: 10,000 (order pending)
 *   1: 8,976.93796 + 10 * 104 = 10,016.93796 (new peak)
 *   2: 8,976.93796 + 10 * 103 = 10,006.93796, drawdown 10,006.93796 / 10,016.93796 - 1 = -0.000998309...
 *   3: 10,073.64016 (flat, new peak)
 *   4: 10,073.64016
 */
import { describe, expect, it } from 'vitest';
import { replay } from '../../src/engine/replay.js';
import { bars, buy, scripted, sell, sim } from './helpers.js';

const FIXTURE = bars([
  [100, 101, 99, 100],
  [102, 105, 101, 104],
  [105, 106, 102, 103],
  [110, 112, 109, 111],
  [108, 109, 107, 109],
]);

async function run(feeRate: number, slippageBps: number) {
  const s = sim(scripted({ 0: [buy(10)], 2: [sell(10)] }), { feeRate, slippageBps });
  await replay(s.engine, FIXTURE);
  return s;
}

describe('fees and slippage on a 5-candle fixture', () => {
  it('match the hand computation', async () => {
    const s = await run(0.002, 10);
    const [b, x] = s.fills;
    expect(b?.price).toBeCloseTo(102.102, 12);
    expect(b?.fee).toBeCloseTo(2.04204, 12);
    expect(x?.price).toBeCloseTo(109.89, 12);
    expect(x?.fee).toBeCloseTo(2.1978, 12);
    expect(s.portfolio.cash).toBeCloseTo(10_073.64016, 9);
    expect(s.portfolio.totalFees).toBeCloseTo(4.23984, 12);
    const [t] = s.portfolio.trades;
    expect(t).toMatchObject({ direction: 'long', quantity: 10, entryTime: FIXTURE[1]?.timestamp });
    expect(t?.exitTime).toBe(FIXTURE[3]?.timestamp);
    expect(t?.fees).toBeCloseTo(4.23984, 12);
    expect(t?.pnl).toBeCloseTo(73.64016, 9);
    expect(t?.returnPct).toBeCloseTo(73.64016 / 1021.02, 12);
  });

  it('without costs the same trades make exactly 80; the costs explain the difference', async () => {
    const free = await run(0, 0);
    expect(free.portfolio.cash).toBe(10_080);
    expect(free.portfolio.trades[0]?.pnl).toBe(80);
    const costly = await run(0.002, 10);
    expect(free.portfolio.cash - costly.portfolio.cash).toBeCloseTo(1.02 + 1.1 + 4.23984, 9);
  });

  it('records one equity point per candle with the hand-computed equity and drawdown', async () => {
    const s = await run(0.002, 10);
    const points = s.engine.equityCurve.toPoints(10_000);
    expect(points.map((p) => p.timestamp)).toEqual(FIXTURE.map((c) => c.timestamp));
    const expected = [10_000, 10_016.93796, 10_006.93796, 10_073.64016, 10_073.64016];
    for (const [i, p] of points.entries()) expect(p.equity).toBeCloseTo(expected[i] as number, 9);
    expect(points.map((p) => p.drawdown)).toEqual([0, 0, expect.any(Number), 0, 0]);
    expect(points[2]?.drawdown).toBeCloseTo(10_006.93796 / 10_016.93796 - 1, 12);
    expect(points[1]?.exposure).toBeCloseTo(1040 / 10_016.93796, 12);
    expect(points[3]?.exposure).toBe(0);
    expect(points[1]?.cash).toBeCloseTo(8_976.93796, 9);
  });
});
