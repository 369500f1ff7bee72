import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, DataError } from '../../src/core/errors.js';
import type { Candle } from '../../src/core/types.js';
import { FeatureStream, StreamingFeatureExtractor } from '../../src/features/index.js';
import { utcDayOfWeek, utcHour, utcMonth } from '../../src/features/utc-calendar.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';

const candles = randomWalkCandles({ count: 120, seed: 11 });

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

function feed(stream: FeatureStream, cs: readonly Candle[]): Array<number[] | undefined> {
  return cs.map((c) => {
    const row = stream.update(c);
    return row === undefined ? undefined : Array.from(row);
  });
}

describe('FeatureStream', () => {
  it('returns nothing for exactly the warm-up candles, then finite rows', () => {
    for (const set of ['seed', 'relative'] as const) {
      const stream = new FeatureStream(set);
      expect(stream.warmup).toBe(33);
      candles.forEach((c, i) => {
        const row = stream.update(c);
        expect(stream.ready).toBe(i >= 33);
        if (i < 33) expect(row).toBeUndefined();
        else expect(Array.from(row!).every(Number.isFinite), `row ${i}`).toBe(true);
      });
    }
  });

  it('computes the documented formulas (checked by hand at one candle)', () => {
    const stream = new FeatureStream('relative');
    const t = 60;
    let row: Float64Array | undefined;
    for (let i = 0; i <= t; i++) row = stream.update(candles[i]!);
    const at = (name: string) => row![stream.featureNames.indexOf(name)]!;
    const closes = candles.slice(0, t + 1).map((c) => c.close);
    const volumes = candles.slice(0, t + 1).map((c) => c.volume);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const close = closes[t]!;
    const sma20 = mean(closes.slice(-20));
    const sd20 = Math.sqrt(mean(closes.slice(-20).map((x) => (x - sma20) ** 2)));
    const volSma10 = mean(volumes.slice(-10));

    expect(at('log_return_5')).toBeCloseTo(Math.log(close / closes[t - 5]!), 12);
    expect(at('close_vs_sma_10')).toBeCloseTo(close / mean(closes.slice(-10)) - 1, 12);
    expect(at('bb_width')).toBeCloseTo((4 * sd20) / sma20, 12);
    expect(at('bb_percent_b')).toBeCloseTo((close - (sma20 - 2 * sd20)) / (4 * sd20), 10);
    expect(at('volume_ratio_10')).toBeCloseTo(volumes[t]! / volSma10, 12);
    expect(at('volume_osc')).toBeCloseTo((mean(volumes.slice(-5)) - volSma10) / volSma10, 12);
    const hour = new Date(candles[t]!.timestamp).getUTCHours();
    expect(at('hour_sin')).toBeCloseTo(Math.sin((2 * Math.PI * hour) / 24), 12);
    expect(at('hour_cos')).toBeCloseTo(Math.cos((2 * Math.PI * hour) / 24), 12);
  });

  it("takes calendar features from the candle's own UTC timestamp", () => {
    const ts = Date.UTC(2024, 2, 15, 13, 0); // Friday 15 March 2024, 13:00 UTC
    const shifted = randomWalkCandles({ count: 40, seed: 2, start: ts - 39 * 3_600_000 });
    const stream = new FeatureStream('seed');
    let row: Float64Array | undefined;
    for (const c of shifted) row = stream.update(c);
    const at = (name: string) => row![stream.featureNames.indexOf(name)]!;
    expect([at('hour_utc'), at('day_of_week_utc'), at('month_utc')]).toEqual([13, 5, 3]);
  });

  it('calendar arithmetic equals Date#getUTC* for any timestamp, before and after 1970', () => {
    fc.assert(
      fc.property(fc.integer({ min: -8_000_000_000_000, max: 8_000_000_000_000 }), (ts) => {
        const d = new Date(ts);
        expect([utcHour(ts), utcDayOfWeek(ts), utcMonth(ts)]).toEqual([
          d.getUTCHours(),
          d.getUTCDay(),
          d.getUTCMonth(),
        ]);
      }),
      { numRuns: 5000 },
    );
  });

  it('rejects a candle not after the previous one, naming symbol and timestamp, and keeps its state', () => {
    const stream = new FeatureStream();
    const reference = new FeatureStream();
    for (const c of candles.slice(0, 50)) {
      stream.update(c);
      reference.update(c);
    }
    const stale = { ...candles[49]!, close: 1 };
    const err = catchError(() => stream.update(stale));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toContain('TEST/USDT');
    expect(err.message).toContain(String(candles[49]!.timestamp));
    expect((err as DataError).where).toMatchObject({ symbol: 'TEST/USDT', field: 'timestamp' });
    expect(() => stream.update({ ...candles[40]! })).toThrow(DataError);
    // The rejected candles left no trace.
    expect(feed(stream, candles.slice(50))).toEqual(feed(reference, candles.slice(50)));
  });

  it.each([
    ['close', Number.NaN],
    ['close', 0],
    ['high', Number.POSITIVE_INFINITY],
    ['volume', -1],
    ['volume', Number.NaN],
    ['timestamp', Number.NaN],
  ] as const)('rejects %s = %s with a DataError naming the field', (field, value) => {
    const stream = new FeatureStream();
    stream.update(candles[0]!);
    const err = catchError(() => stream.update({ ...candles[1]!, [field]: value }));
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).where.field).toBe(field);
    expect(stream.count).toBe(1);
  });

  it('writes into a caller buffer (Float32Array too) at an offset', () => {
    const a = new FeatureStream('relative');
    const b = new FeatureStream('relative');
    const buf = new Float32Array(3 + a.width);
    for (const c of candles.slice(0, 40)) {
      const own = a.update(c);
      const written = b.update(c, buf, 3);
      expect(written === undefined).toBe(own === undefined);
      if (own !== undefined) {
        expect(written).toBe(buf);
        expect(Array.from(buf.subarray(3))).toEqual(Array.from(Float32Array.from(own)));
      }
    }
    expect(() => b.update(candles[40]!, new Float64Array(b.width), 1)).toThrow(ConfigError);
    expect(b.count).toBe(40); // the refused call did not consume the candle
  });

  it('clone() is independent and continues identically; reset() starts over', () => {
    const stream = new FeatureStream();
    feed(stream, candles.slice(0, 70));
    const copy = stream.clone();
    const rest = candles.slice(70);
    expect(feed(copy, rest)).toEqual(feed(stream, rest));

    const branch = stream.clone();
    branch.reset();
    expect(branch.count).toBe(0);
    expect(stream.count).toBe(120);
    // After reset earlier timestamps are accepted again and warm-up restarts.
    const again = feed(branch, candles.slice(0, 40));
    expect(again.slice(0, 33).every((r) => r === undefined)).toBe(true);
    expect(again[33]).toEqual(feed(new FeatureStream(), candles.slice(0, 34))[33]);
  });
});

describe('StreamingFeatureExtractor', () => {
  it('keeps separate state per symbol: interleaved feeds equal separate streams', () => {
    const eth = randomWalkCandles({ count: 120, seed: 99, symbol: 'ETH/USDT', startPrice: 2000 });
    const ex = new StreamingFeatureExtractor('seed');
    const got: Record<string, Array<number[] | undefined>> = { 'TEST/USDT': [], 'ETH/USDT': [] };
    for (let i = 0; i < 120; i++) {
      for (const c of [candles[i]!, eth[i]!]) {
        const row = ex.update(c);
        got[c.symbol]!.push(row === undefined ? undefined : Array.from(row));
      }
    }
    expect(got['TEST/USDT']).toEqual(feed(new FeatureStream('seed'), candles));
    expect(got['ETH/USDT']).toEqual(feed(new FeatureStream('seed'), eth));
    expect(ex.symbols().sort()).toEqual(['ETH/USDT', 'TEST/USDT']);

    const copy = ex.clone();
    ex.reset('ETH/USDT');
    expect(ex.stream('ETH/USDT')).toBeUndefined();
    expect(copy.stream('ETH/USDT')?.count).toBe(120);
  });
});
