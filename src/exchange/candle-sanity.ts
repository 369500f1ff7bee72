/**
 * Finite but absurd prices on a live feed. A candle passes the file loader's
 * checks with a close of 1e300 as long as its high is as absurd; this catches
 * it: a candle is absurd when one of its prices lies further from the
 * previous accepted close than `maxJumpRanges` times the recent average range
 * (high - low over the last 20 accepted candles, at least 0.1 % of that
 * close). It is skipped, except when it confirms the level of the candle
 * skipped just before it: two candles in a row at a new level are a real move
 * (a crash, a listing), and the feed must not stall on it.
 */
import type { Candle } from '../core/types.js';

const WINDOW = 20;
/** The smallest range a jump is measured against, as a fraction of the price (quiet markets, zero-volume candles). */
const MIN_RANGE = 1e-3;

interface SymbolState {
  lastClose: number;
  readonly ranges: Float64Array;
  count: number;
  sum: number;
  /** Close of the candle skipped last (NaN when the last one was accepted). */
  skippedClose: number;
}

export interface AbsurdPrice {
  readonly field: 'open' | 'high' | 'low' | 'close';
  readonly message: string;
}

const FIELDS = ['close', 'open', 'high', 'low'] as const;

export class CandleSanity {
  readonly maxJumpRanges: number;
  private readonly states = new Map<string, SymbolState>();

  constructor(maxJumpRanges = 50) {
    this.maxJumpRanges = maxJumpRanges;
  }

  /** Why `candle` is absurd (it is then not taken as the reference), or undefined (it becomes the reference). */
  checkCandle(candle: Candle): AbsurdPrice | undefined {
    const s = this.stateOf(candle.symbol);
    if (Number.isNaN(s.lastClose)) {
      this.accept(s, candle);
      return undefined;
    }
    const limit = this.maxJumpRanges * this.range(s, s.lastClose);
    const [field, distance] = furthest(candle, s.lastClose);
    if (distance <= limit) {
      this.accept(s, candle);
      return undefined;
    }
    if (!Number.isNaN(s.skippedClose)) {
      const confirm = this.maxJumpRanges * this.range(s, s.skippedClose);
      if (furthest(candle, s.skippedClose)[1] <= confirm) {
        this.accept(s, candle);
        return undefined;
      }
    }
    s.skippedClose = candle.close;
    return {
      field,
      message:
        `${field} ${candle[field]} lies ${num(distance)} from the previous close ${s.lastClose}, more than ` +
        `${this.maxJumpRanges} times the recent range ${num(limit / this.maxJumpRanges)}: skipped ` +
        '(a next candle at that level is taken as a real move)',
    };
  }

  /** Why a tick's price is absurd against the last accepted close, or undefined. Changes nothing. */
  checkPrice(symbol: string, price: number): string | undefined {
    const s = this.states.get(symbol);
    if (s === undefined || Number.isNaN(s.lastClose)) return undefined;
    const limit = this.maxJumpRanges * this.range(s, s.lastClose);
    const distance = Math.abs(price - s.lastClose);
    return distance > limit
      ? `${price} lies ${num(distance)} from the last close ${s.lastClose}, more than ${this.maxJumpRanges} times the recent range`
      : undefined;
  }

  private range(s: SymbolState, price: number): number {
    const mean = s.count > 0 ? s.sum / Math.min(s.count, WINDOW) : 0;
    return Math.max(mean, price * MIN_RANGE);
  }

  private accept(s: SymbolState, candle: Candle): void {
    const range = candle.high - candle.low;
    const i = s.count % WINDOW;
    if (s.count >= WINDOW) s.sum -= s.ranges[i] as number;
    s.ranges[i] = range;
    s.sum += range;
    s.count++;
    if (s.count % WINDOW === 0) s.sum = s.ranges.reduce((a, b) => a + b, 0); // no drift over long runs
    s.lastClose = candle.close;
    s.skippedClose = Number.NaN;
  }

  private stateOf(symbol: string): SymbolState {
    let s = this.states.get(symbol);
    if (s === undefined) {
      s = {
        lastClose: Number.NaN,
        ranges: new Float64Array(WINDOW),
        count: 0,
        sum: 0,
        skippedClose: Number.NaN,
      };
      this.states.set(symbol, s);
    }
    return s;
  }
}

/** The candle's price furthest from `reference` (close first on ties) and its distance. */
function furthest(candle: Candle, reference: number): [AbsurdPrice['field'], number] {
  let field: AbsurdPrice['field'] = 'close';
  let distance = -1;
  for (const f of FIELDS) {
    const d = Math.abs(candle[f] - reference);
    if (d > distance) {
      distance = d;
      field = f;
    }
  }
  return [field, distance];
}

function num(x: number): string {
  return Number(x.toPrecision(6)).toString();
}
