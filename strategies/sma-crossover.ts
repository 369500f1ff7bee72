/**
 * SMA crossover baseline, written only against src/core as any user strategy
 * would be: long (or short, in long-short mode) while the fast simple moving
 * average of closes is above (below) the slow one.
 *
 * - `long-only`: buy when fast > slow, sell everything when fast < slow.
 * - `long-short`: always in the market once both averages exist; a cross
 *   closes the position and opens the opposite one.
 * A decision is taken on the first candle where both averages exist and at
 * every cross after it; equal averages keep the current side. Each decision is
 * published as a `signal` event with its transition (`open-long`,
 * `close-long`, ...) and reason; orders are market orders (they fill at the
 * next candle's open), sized as a fraction of equity.
 *
 * The averages are incremental: one ring buffer of the last `slow` closes per
 * symbol and two running sums (O(1) per candle). The sums are recomputed from
 * the buffer each time it wraps (every `slow` candles, amortised O(1)) so
 * rounding error cannot build up over millions of candles.
 */
import { ConfigError } from '../src/core/errors.js';
import { sideOf, transitionOf } from '../src/core/signal.js';
import type { Strategy, StrategyContext } from '../src/core/strategy.js';
import type { Candle, OrderSize } from '../src/core/types.js';

export type SmaCrossoverMode = 'long-only' | 'long-short';

export interface SmaCrossoverOptions {
  /** Fast period in candles (default 10). */
  readonly fast?: number;
  /** Slow period in candles (default 30), greater than `fast`. */
  readonly slow?: number;
  /** Default 'long-only'. */
  readonly mode?: SmaCrossoverMode;
  /** Position size as a fraction of equity per symbol, in (0, 1] (default 1 = all in). */
  readonly fraction?: number;
}

export const SMA_CROSSOVER_DEFAULTS = { fast: 10, slow: 30, mode: 'long-only', fraction: 1 } as const;

/** Per-symbol state: ring buffer of the last `slow` closes, running sums, the side held. */
interface SymbolState {
  readonly closes: Float64Array;
  /** Closes seen so far. */
  count: number;
  /** Next write position in `closes`. */
  head: number;
  sumFast: number;
  sumSlow: number;
  /** -1 short, 0 flat, 1 long: the side the strategy has ordered. */
  side: number;
}

function checkPeriod(name: 'fast' | 'slow', value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`SMA ${name} period must be an integer >= ${min}, got ${value}`, { field: name });
  }
}

export class SmaCrossover implements Strategy {
  readonly name: string;
  readonly fast: number;
  readonly slow: number;
  readonly mode: SmaCrossoverMode;
  readonly fraction: number;
  readonly allowShort: boolean;
  /** The slow average needs `slow` closes. */
  readonly warmupCandles: number;
  /** The size of every entry. */
  private readonly size: OrderSize;
  private readonly states = new Map<string, SymbolState>();
  private lastSymbol: string | undefined;
  private lastState: SymbolState | undefined;

  constructor(options: SmaCrossoverOptions = {}) {
    const fast = options.fast ?? SMA_CROSSOVER_DEFAULTS.fast;
    const slow = options.slow ?? SMA_CROSSOVER_DEFAULTS.slow;
    const mode = options.mode ?? SMA_CROSSOVER_DEFAULTS.mode;
    const fraction = options.fraction ?? SMA_CROSSOVER_DEFAULTS.fraction;
    checkPeriod('fast', fast, 1);
    checkPeriod('slow', slow, 2);
    if (fast >= slow) {
      throw new ConfigError(`SMA fast period (${fast}) must be smaller than the slow period (${slow})`, {
        field: 'fast',
      });
    }
    if (mode !== 'long-only' && mode !== 'long-short') {
      throw new ConfigError(`SMA mode must be 'long-only' or 'long-short', got '${String(mode)}'`, { field: 'mode' });
    }
    if (!(Number.isFinite(fraction) && fraction > 0 && fraction <= 1)) {
      throw new ConfigError(`position size must be a fraction of equity in (0, 1], got ${fraction}`, {
        field: 'fraction',
      });
    }
    this.fast = fast;
    this.slow = slow;
    this.mode = mode;
    this.fraction = fraction;
    this.allowShort = mode === 'long-short';
    this.warmupCandles = slow;
    this.size = { kind: 'equity-fraction', fraction };
    this.name = `sma-crossover(${fast},${slow},${mode})`;
  }

  onCandle(candle: Candle, ctx: StrategyContext): void {
    let s: SymbolState;
    if (candle.symbol === this.lastSymbol) s = this.lastState as SymbolState;
    else {
      s = this.stateOf(candle.symbol);
      this.lastSymbol = candle.symbol;
      this.lastState = s;
    }
    const fast = this.fast;
    const slow = this.slow;
    const closes = s.closes;
    const head = s.head;
    const x = candle.close;
    // Drop the close leaving each window, then add the new one.
    if (s.count >= fast) {
      const out = head - fast;
      s.sumFast -= closes[out < 0 ? out + slow : out] as number;
    }
    if (s.count >= slow) s.sumSlow -= closes[head] as number;
    closes[head] = x;
    s.sumFast += x;
    s.sumSlow += x;
    s.count++;
    if (head + 1 === slow) {
      s.head = 0;
      resum(s, fast, slow);
    } else s.head = head + 1;
    if (s.count < slow) return;

    const fastMa = s.sumFast / fast;
    const slowMa = s.sumSlow / slow;
    let want = s.side;
    if (fastMa > slowMa) want = 1;
    else if (fastMa < slowMa) want = this.mode === 'long-short' ? -1 : 0;
    if (want !== s.side) this.decide(candle, ctx, s, want, fastMa, slowMa);
  }

  private decide(
    candle: Candle,
    ctx: StrategyContext,
    s: SymbolState,
    want: number,
    fastMa: number,
    slowMa: number,
  ): void {
    const from = s.side;
    s.side = want;
    const up = want > from;
    const symbol = candle.symbol;
    const tag = up ? 'sma cross up' : 'sma cross down';
    const size = this.size;
    ctx.events.emit('signal', {
      symbol,
      action: up ? 'BUY' : 'SELL',
      confidence: 1,
      timestamp: candle.timestamp,
      price: candle.close,
      target: sideOf(want),
      transition: transitionOf(from, want),
      size: want !== 0 ? size : undefined,
      reason:
        `SMA(${this.fast}) ${fastMa.toPrecision(6)} ${up ? 'above' : 'below'} SMA(${this.slow}) ${slowMa.toPrecision(6)}: ` +
        `${sideName(from)} -> ${sideName(want)}`,
    });
    if (from !== 0) {
      void ctx.broker.submit({
        symbol,
        side: from > 0 ? 'sell' : 'buy',
        type: 'market',
        size: { kind: 'all' },
        reduceOnly: true,
        tag,
      });
    }
    if (want !== 0) {
      void ctx.broker.submit({
        symbol,
        side: want > 0 ? 'buy' : 'sell',
        type: 'market',
        size,
        tag,
      });
    }
  }

  private stateOf(symbol: string): SymbolState {
    let s = this.states.get(symbol);
    if (s === undefined) {
      s = { closes: new Float64Array(this.slow), count: 0, head: 0, sumFast: 0, sumSlow: 0, side: 0 };
      this.states.set(symbol, s);
    }
    return s;
  }
}

function sideName(side: number): string {
  return side > 0 ? 'long' : side < 0 ? 'short' : 'flat';
}

/** Exact window sums from the buffer; called when the ring buffer wraps (head back at 0, so it is full). */
function resum(s: SymbolState, fast: number, slow: number): void {
  const closes = s.closes;
  let sumSlow = 0;
  let sumFast = 0;
  for (let i = 0; i < slow; i++) {
    const v = closes[i] as number;
    sumSlow += v;
    if (i >= slow - fast) sumFast += v;
  }
  s.sumSlow = sumSlow;
  s.sumFast = sumFast;
}
