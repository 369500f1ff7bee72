/**
 * The synthetic default market: seeded candles, identical for a seed on any
 * machine (see src/core/random.ts), generated straight into an array.
 *
 * Every mode draws a per-bar log return r, then builds the bar from it:
 * open = previous close, close = open * e^r, high and low = open * e^(max)
 * and open * e^(min) of a Brownian bridge from 0 to r with the bar's variance
 * (sampled exactly: max = (r + sqrt(r^2 + 2 s^2 E)) / 2, E ~ Exp(1)), so
 * high >= max(open, close) and low <= min(open, close) always. Volume is
 * base * (s / volatility) * (0.3 + |z|) * e^(0.25 z'), with z the bar's
 * standardized shock: it rises with |return| and with volatility, and says
 * nothing about the sign of the next return.
 *
 * Modes (r per bar; s = `volatility`, the per-bar log-return scale):
 * - `regime` (default): r = mu(regime) + e, e = sqrt(h) z with GARCH(1,1)
 *   variance h = w + 0.08 e_prev^2 + 0.90 h_prev (long-run variance s^2), so
 *   calm and wild stretches cluster. A hidden Markov regime (sideways, bull,
 *   bear) stays put with probability 0.995 per bar (about 200 bars on average)
 *   and otherwise switches to one of the other two; mu is 0 or +/-0.05 s.
 *   The only directional predictability is that drift: even a model that knew
 *   the regime exactly would call the next bar's direction right about
 *   Phi(0.05) ~ 52% of the time in trending regimes (less when volatility
 *   runs high), 50% sideways; it has to guess the regime from past returns.
 *   Shocks are independent of the past, so past returns, ranges and volumes
 *   predict the size of moves (volatility clustering), not their sign.
 * - `random-walk`: r = s z, zero drift, constant variance. Nothing about the
 *   next direction can be predicted: any model must score ~50% here (a leak check).
 * - `planted`: r_t = s (strength * sign(r_(t-1)) + z_t), AR(1)-style sign
 *   momentum of known strength (negative strength: mean reversion). The best
 *   possible next-direction accuracy, predicting sign(r_(t-1)), is exactly
 *   Phi(|strength|): see plantedBestAccuracy. The `relative` feature set's
 *   log_return_1 carries sign(r_(t-1)), so a model can find it.
 *   strength 0.1 -> 53.98%, 0.25 -> 59.87%, 0.5 -> 69.15%, 1 -> 84.13%.
 */
import { ConfigError } from '../core/errors.js';
import { Mulberry32, normalCdf } from '../core/random.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, Timeframe } from '../core/types.js';

export type SyntheticMode = 'regime' | 'random-walk' | 'planted';

export interface SyntheticOptions {
  readonly mode?: SyntheticMode;
  readonly seed?: number;
  readonly count?: number;
  readonly symbol?: string;
  readonly timeframe?: Timeframe;
  /** Open time of the first candle, ms UTC. */
  readonly start?: number;
  readonly startPrice?: number;
  /** Per-bar log-return scale (long-run standard deviation in regime mode). */
  readonly volatility?: number;
  /** Planted mode only: the momentum component, in units of `volatility`. */
  readonly strength?: number;
}

/** The embedded default market the README quick start trains and backtests on. */
export const DEFAULT_SYNTHETIC: Readonly<Required<SyntheticOptions>> = Object.freeze({
  mode: 'regime',
  seed: 42,
  count: 20_000,
  symbol: 'SYN/USDT',
  timeframe: '1h',
  start: Date.UTC(2020, 0, 1),
  startPrice: 100,
  volatility: 0.01,
  strength: 0.25,
});

/** Parameters of `regime` mode, as documented above. */
export const REGIME_MODEL = Object.freeze({
  /** Probability of staying in the current regime each bar. */
  stay: 0.995,
  /** Drift of sideways, bull, bear, in units of `volatility`. */
  drift: Object.freeze([0, 0.05, -0.05]),
  garchAlpha: 0.08,
  garchBeta: 0.9,
  /** Conditional volatility is capped at this multiple of `volatility`. */
  maxVolatilityMultiple: 8,
});

const BASE_VOLUME = 1000;

/** Best achievable next-candle direction accuracy in `planted` mode: Phi(|strength|). */
export function plantedBestAccuracy(strength: number): number {
  return normalCdf(Math.abs(strength));
}

function resolve(options: SyntheticOptions): Required<SyntheticOptions> {
  const o = { ...DEFAULT_SYNTHETIC, ...withoutUndefined(options) };
  const bad = (field: string, message: string) => new ConfigError(message, { field });
  if (o.mode !== 'regime' && o.mode !== 'random-walk' && o.mode !== 'planted') {
    throw bad('mode', `unknown synthetic mode '${o.mode}' (expected regime, random-walk or planted)`);
  }
  if (!Number.isInteger(o.count) || o.count < 0) throw bad('count', `count must be an integer >= 0, got ${o.count}`);
  if (!Number.isFinite(o.seed)) throw bad('seed', `seed must be a number, got ${o.seed}`);
  if (!(o.startPrice > 0) || !Number.isFinite(o.startPrice)) {
    throw bad('startPrice', `startPrice must be > 0, got ${o.startPrice}`);
  }
  if (!(o.volatility > 0 && o.volatility <= 0.5)) {
    throw bad('volatility', `volatility must be in (0, 0.5], got ${o.volatility}`);
  }
  if (!Number.isFinite(o.strength)) throw bad('strength', `strength must be a finite number, got ${o.strength}`);
  if (!Number.isFinite(o.start)) throw bad('start', `start must be a ms timestamp, got ${o.start}`);
  timeframeToMs(o.timeframe);
  return o;
}

function withoutUndefined(options: SyntheticOptions): SyntheticOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as SyntheticOptions;
}

/** Open times: a fixed step, or calendar months/years (same day of month) for 'M' and 'y' timeframes. */
function timestamps(start: number, timeframe: Timeframe, count: number): Float64Array {
  const out = new Float64Array(count);
  const unit = timeframe.slice(-1);
  if (unit === 'M' || unit === 'y') {
    const months = Number(timeframe.slice(0, -1)) * (unit === 'y' ? 12 : 1);
    const d = new Date(start);
    const timeOfDay = start - Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    for (let i = 0; i < count; i++) {
      const month = d.getUTCMonth() + i * months;
      // The start's day of month, clamped to the month's length (Jan 31 -> Feb 28/29 -> Mar 31).
      const lastDay = new Date(Date.UTC(d.getUTCFullYear(), month + 1, 0)).getUTCDate();
      out[i] = Date.UTC(d.getUTCFullYear(), month, Math.min(d.getUTCDate(), lastDay)) + timeOfDay;
    }
  } else {
    const step = timeframeToMs(timeframe);
    for (let i = 0; i < count; i++) out[i] = start + i * step;
  }
  return out;
}

/** Seeded synthetic candles; see the module comment for the modes. */
export function generateSyntheticCandles(options: SyntheticOptions = {}): Candle[] {
  const o = resolve(options);
  const { count, symbol, timeframe, volatility: s } = o;
  const mode = o.mode === 'regime' ? 0 : o.mode === 'random-walk' ? 1 : 2;
  const times = timestamps(o.start, timeframe, count);
  const rng = new Mulberry32(o.seed);

  const { stay, drift, garchAlpha: alpha, garchBeta: beta, maxVolatilityMultiple } = REGIME_MODEL;
  const omega = s * s * (1 - alpha - beta);
  const maxVariance = (maxVolatilityMultiple * s) ** 2;
  const drifts = [(drift[0] as number) * s, (drift[1] as number) * s, (drift[2] as number) * s];
  const planted = o.strength * s;
  let regime = 0;
  let variance = s * s;
  let previousSign = 0;

  const out: Candle[] = [];
  let close = o.startPrice;
  for (let i = 0; i < count; i++) {
    // One Box-Muller pair per bar: z drives the return, zv the volume noise.
    const radius = Math.sqrt(-2 * Math.log(1 - rng.next()));
    const angle = 2 * Math.PI * rng.next();
    const z = radius * Math.cos(angle);
    const zv = radius * Math.sin(angle);

    let r: number;
    let sigma: number;
    if (mode === 0) {
      if (rng.next() >= stay) regime = (regime + 1 + (rng.next() < 0.5 ? 0 : 1)) % 3;
      sigma = Math.sqrt(variance);
      const shock = sigma * z;
      r = (drifts[regime] as number) + shock;
      variance = omega + alpha * shock * shock + beta * variance;
      if (variance > maxVariance) variance = maxVariance;
    } else if (mode === 1) {
      sigma = s;
      r = s * z;
    } else {
      sigma = s;
      r = planted * previousSign + s * z;
      previousSign = r > 0 ? 1 : r < 0 ? -1 : 0;
    }

    const open = close;
    close = open * Math.exp(r);
    const twoVar = 2 * sigma * sigma;
    const up = 0.5 * (r + Math.sqrt(r * r + twoVar * rng.exponential()));
    const down = 0.5 * (r - Math.sqrt(r * r + twoVar * rng.exponential()));
    let high = open * Math.exp(up);
    let low = open * Math.exp(down);
    if (high < open) high = open;
    if (high < close) high = close;
    if (low > open) low = open;
    if (low > close) low = close;
    const volume = BASE_VOLUME * (sigma / s) * (0.3 + Math.abs(z)) * Math.exp(0.25 * zv);

    out.push({ timestamp: times[i] as number, open, high, low, close, volume, symbol, timeframe });
  }
  return out;
}
