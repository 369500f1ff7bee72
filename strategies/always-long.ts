/**
 * Always-long baseline: buys `fraction` of equity in each symbol on its first
 * candle (filled at the next open, with the same fees and slippage as any
 * strategy) and holds it. At the ML strategy's position size it shows what
 * being long that much all the time would have earned, without any model.
 */
import { ConfigError } from '../src/core/errors.js';
import { positionChange } from '../src/core/signal.js';
import type { Strategy, StrategyContext } from '../src/core/strategy.js';
import type { Candle, OrderSize } from '../src/core/types.js';

export interface AlwaysLongOptions {
  /** Position size per symbol as a fraction of equity, in (0, 1] (default 0.1). */
  readonly fraction?: number;
}

export class AlwaysLong implements Strategy {
  readonly name: string;
  readonly fraction: number;
  private readonly bought = new Set<string>();

  constructor(options: AlwaysLongOptions = {}) {
    const fraction = options.fraction ?? 0.1;
    if (!(Number.isFinite(fraction) && fraction > 0 && fraction <= 1)) {
      throw new ConfigError(`position size must be a fraction of equity in (0, 1], got ${fraction}`, {
        field: 'fraction',
      });
    }
    this.fraction = fraction;
    this.name = `always-long(${fraction})`;
  }

  onStart(): void {
    this.bought.clear();
  }

  onCandle(candle: Candle, ctx: StrategyContext): void {
    if (this.bought.has(candle.symbol)) return;
    this.bought.add(candle.symbol);
    const size: OrderSize = { kind: 'equity-fraction', fraction: this.fraction };
    ctx.events.emit('signal', {
      symbol: candle.symbol,
      action: 'BUY',
      confidence: 1,
      timestamp: candle.timestamp,
      price: candle.close,
      ...positionChange(0, 1, size),
      reason: `always long: ${this.fraction} of equity from the first candle`,
    });
    void ctx.broker.submit({ symbol: candle.symbol, side: 'buy', type: 'market', size, tag: 'always long' });
  }
}
