/**
 * Buy-and-hold benchmark: buys each symbol on its first candle (so the order
 * fills at the second candle's open, with the same fees and slippage as any
 * strategy) and holds it. With several symbols the starting equity is split
 * equally: each of the first n-1 symbols seen buys 1/n of equity, the last one
 * buys with all remaining cash (when all symbols start together this is an
 * equal split of the starting cash net of costs).
 */
import { ConfigError } from '../src/core/errors.js';
import { positionChange } from '../src/core/signal.js';
import type { Strategy, StrategyContext } from '../src/core/strategy.js';
import type { Candle, OrderSize } from '../src/core/types.js';

export interface BuyAndHoldOptions {
  /** How many symbols share the equity (default 1). */
  readonly symbols?: number;
}

export class BuyAndHold implements Strategy {
  readonly name = 'buy-and-hold';
  private readonly count: number;
  private readonly bought = new Set<string>();

  constructor(options: BuyAndHoldOptions = {}) {
    const n = options.symbols ?? 1;
    if (!Number.isInteger(n) || n < 1) {
      throw new ConfigError(`buy-and-hold needs a whole number of symbols >= 1, got ${n}`, { field: 'symbols' });
    }
    this.count = n;
  }

  onCandle(candle: Candle, ctx: StrategyContext): void {
    if (this.bought.size >= this.count || this.bought.has(candle.symbol)) return;
    this.bought.add(candle.symbol);
    const last = this.bought.size === this.count;
    const size: OrderSize = last ? { kind: 'all' } : { kind: 'equity-fraction', fraction: 1 / this.count };
    ctx.events.emit('signal', {
      symbol: candle.symbol,
      action: 'BUY',
      confidence: 1,
      timestamp: candle.timestamp,
      price: candle.close,
      ...positionChange(0, 1, size),
      reason: 'buy and hold: first candle',
    });
    void ctx.broker.submit({ symbol: candle.symbol, side: 'buy', type: 'market', size, tag: 'buy and hold' });
  }
}
