/**
 * The volatility estimate every feature stream keeps, whatever its feature
 * set: sigma_t = sqrt(EMA of squared one-candle log returns), the EMA seeded
 * with the mean of its first `span` values (like SeededEma). It scales
 * features to the current regime, sizes a direction model's predicted move,
 * and is the naive forecast a volatility model has to beat.
 */
import { SeededEma } from './incremental-indicators.js';

/** RiskMetrics' daily decay 0.94 is an EMA span of about 32 candles. */
export const DEFAULT_VOLATILITY_SPAN = 32;

export class EwmaVolatility {
  readonly span: number;
  private ema: SeededEma;
  private lastClose = Number.NaN;

  constructor(span = DEFAULT_VOLATILITY_SPAN) {
    this.span = span;
    this.ema = new SeededEma(span);
  }

  /** Consumes a close (> 0); returns the volatility per candle after it, NaN until `span` returns were seen. */
  update(close: number): number {
    const prev = this.lastClose;
    this.lastClose = close;
    if (!Number.isNaN(prev)) {
      const r = Math.log(close / prev);
      this.ema.push(r * r);
    }
    return this.value();
  }

  value(): number {
    return Math.sqrt(this.ema.value());
  }

  /** Candles consumed before the first defined value. */
  get warmup(): number {
    return this.span;
  }

  reset(): void {
    this.ema.reset();
    this.lastClose = Number.NaN;
  }

  clone(): EwmaVolatility {
    const c = new EwmaVolatility(this.span);
    c.ema = this.ema.clone();
    c.lastClose = this.lastClose;
    return c;
  }
}

/** The same estimate over a whole series, computed independently of the class (for parity tests and batch paths). */
export function ewmaVolatilitySeries(closes: ArrayLike<number>, span = DEFAULT_VOLATILITY_SPAN): Float64Array {
  const n = closes.length;
  const out = new Float64Array(n).fill(Number.NaN);
  const k = 2 / (span + 1);
  let seed = 0;
  let count = 0;
  let ema = Number.NaN;
  for (let i = 1; i < n; i++) {
    const r = Math.log(closes[i]! / closes[i - 1]!);
    const sq = r * r;
    if (count < span) {
      seed += sq;
      if (++count === span) ema = seed / span;
    } else {
      ema = (sq - ema) * k + ema;
    }
    out[i] = Math.sqrt(ema);
  }
  return out;
}
