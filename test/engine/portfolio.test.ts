import { describe, expect, it } from 'vitest';
import type { Fill } from '../../src/core/types.js';
import { Portfolio } from '../../src/engine/portfolio.js';

let seq = 0;
function fill(side: 'buy' | 'sell', quantity: number, price: number, fee = 0, timestamp = 0, tag?: string): Fill {
  seq++;
  return {
    orderId: `o${seq}`,
    clientOrderId: `o${seq}`,
    symbol: 'X',
    side,
    quantity,
    price,
    fee,
    timestamp,
    ...(tag !== undefined ? { tag } : {}),
  };
}

describe('Portfolio', () => {
  it('averages the entry price when adding to a position', () => {
    const p = new Portfolio(10_000);
    p.applyFill(fill('buy', 2, 100, 0, 1));
    p.applyFill(fill('buy', 2, 110, 0, 2));
    expect(p.position('X')).toMatchObject({ quantity: 4, entryPrice: 105, openedAt: 1 });
    expect(p.cash).toBe(10_000 - 420);
    p.mark('X', 120);
    expect(p.equity).toBe(10_000 - 420 + 480);
  });

  it('books partial closes as separate trades and attributes entry fees pro rata', () => {
    const p = new Portfolio(10_000);
    // Entry fee 4 on 4 units: 1 per unit.
    p.applyFill(fill('buy', 4, 100, 4, 10));
    // Close 1 unit at 110 with exit fee 0.5: pnl = 10 - 1 - 0.5 = 8.5.
    p.applyFill(fill('sell', 1, 110, 0.5, 20, 'take profit'));
    // Close the remaining 3 at 90 with exit fee 1.5: pnl = -30 - 3 - 1.5 = -34.5.
    p.applyFill(fill('sell', 3, 90, 1.5, 30));
    expect(p.trades).toEqual([
      {
        symbol: 'X',
        direction: 'long',
        entryTime: 10,
        entryPrice: 100,
        exitTime: 20,
        exitPrice: 110,
        quantity: 1,
        fees: 1.5,
        pnl: 8.5,
        returnPct: 0.085,
        exitReason: 'take profit',
      },
      {
        symbol: 'X',
        direction: 'long',
        entryTime: 10,
        entryPrice: 100,
        exitTime: 30,
        exitPrice: 90,
        quantity: 3,
        fees: 4.5,
        pnl: -34.5,
        returnPct: -0.115,
      },
    ]);
    expect(p.position('X')).toBeUndefined();
    expect(p.realizedPnl).toBe(-26);
    expect(p.totalFees).toBe(6);
    // Cash identity: start + realised P&L (fees included).
    expect(p.cash).toBe(10_000 - 26);
  });

  it('flips long -> short: closes the long as a trade, opens the rest short with its share of the fee', () => {
    const p = new Portfolio(10_000);
    p.applyFill(fill('buy', 2, 100, 0, 1));
    p.applyFill(fill('sell', 5, 120, 5, 2));
    // Closed 2 of 5: exit fee share 2; long pnl (120 - 100) * 2 - 2 = 38.
    expect(p.trades).toHaveLength(1);
    expect(p.trades[0]).toMatchObject({ direction: 'long', quantity: 2, pnl: 38, fees: 2 });
    expect(p.position('X')).toMatchObject({ quantity: -3, entryPrice: 120, openedAt: 2 });
    // Cover the short at 100, no fee: (120 - 100) * 3 - 3 (entry fee share) = 57.
    p.applyFill(fill('buy', 3, 100, 0, 3));
    expect(p.trades[1]).toMatchObject({ direction: 'short', quantity: 3, pnl: 57, fees: 3, entryTime: 2 });
    expect(p.cash).toBe(10_000 + 38 + 57);
  });

  it('values shorts negatively and reports gross exposure', () => {
    const p = new Portfolio(1_000);
    p.applyFill(fill('sell', 2, 100));
    expect(p.cash).toBe(1_200);
    p.mark('X', 110);
    expect(p.equity).toBe(980);
    expect(p.grossExposure).toBe(220);
  });

  it('restores exactly from JSON', () => {
    const p = new Portfolio(10_000);
    p.applyFill(fill('buy', 0.1, 101.37, 0.0101, 5));
    p.applyFill(fill('sell', 0.03, 99.1, 0.003, 6));
    p.mark('X', 100.123456789);
    const copy = Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())));
    expect(copy.toJSON()).toEqual(p.toJSON());
    expect(copy.equity).toBe(p.equity);
    copy.applyFill(fill('sell', 0.07, 103, 0.007, 7));
    p.applyFill(fill('sell', 0.07, 103, 0.007, 7));
    expect(copy.toJSON()).toEqual(p.toJSON());
  });
});
