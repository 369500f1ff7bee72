import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import type { Candle } from '../../src/core/types.js';
import {
  DEFAULT_SYNTHETIC,
  generateSyntheticCandles,
  plantedBestAccuracy,
  type SyntheticMode,
} from '../../src/data/index.js';

function logReturns(candles: readonly Candle[]): Float64Array {
  const r = new Float64Array(candles.length - 1);
  for (let i = 1; i < candles.length; i++) r[i - 1] = Math.log(candles[i]!.close / candles[i - 1]!.close);
  return r;
}

function autocorrelation(x: ArrayLike<number>, lag: number): number {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i] as number;
  mean /= x.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    const d = (x[i] as number) - mean;
    den += d * d;
    if (i >= lag) num += d * ((x[i - lag] as number) - mean);
  }
  return num / den;
}

/** Share of bars whose direction equals the previous bar's (the planted signal's best predictor). */
function persistence(r: Float64Array): number {
  let hits = 0;
  for (let i = 1; i < r.length; i++) if (r[i]! > 0 === r[i - 1]! > 0) hits++;
  return hits / (r.length - 1);
}

function absolute(r: Float64Array): Float64Array {
  return r.map(Math.abs);
}

describe('synthetic market generator', () => {
  it('is deterministic: same seed, same candles; another seed, other candles', () => {
    for (const mode of ['regime', 'random-walk', 'planted'] as SyntheticMode[]) {
      const a = generateSyntheticCandles({ mode, seed: 7, count: 2000 });
      const b = generateSyntheticCandles({ mode, seed: 7, count: 2000 });
      expect(b).toEqual(a);
      expect(generateSyntheticCandles({ mode, seed: 8, count: 2000 })).not.toEqual(a);
    }
  });

  it('pins the default market (same numbers on any machine)', () => {
    const candles = generateSyntheticCandles(DEFAULT_SYNTHETIC);
    expect(candles).toHaveLength(20_000);
    expect(candles[0]).toMatchObject({
      timestamp: Date.UTC(2020, 0, 1),
      open: 100,
      symbol: 'SYN/USDT',
      timeframe: '1h',
    });
    expect(candles[0]!.close).toBeCloseTo(98.7233806507099, 10);
    expect(candles[19_999]!.timestamp).toBe(Date.UTC(2020, 0, 1) + 19_999 * 3_600_000);
    expect(candles[19_999]!.close).toBeCloseTo(142.29037845527168, 8);
    expect(generateSyntheticCandles()).toEqual(candles);
  });

  it('makes valid candles: open = previous close, high/low bracket open and close, volume > 0', () => {
    for (const mode of ['regime', 'random-walk', 'planted'] as SyntheticMode[]) {
      const candles = generateSyntheticCandles({ mode, count: 20_000, seed: 5 });
      const problems: string[] = [];
      for (let i = 0; i < candles.length && problems.length < 3; i++) {
        const c = candles[i]!;
        const previous = candles[i - 1];
        if (previous !== undefined && (c.open !== previous.close || c.timestamp - previous.timestamp !== 3_600_000)) {
          problems.push(`${mode} ${i}: not contiguous with the previous candle`);
        }
        if (!(c.high >= Math.max(c.open, c.close) && c.low <= Math.min(c.open, c.close) && c.low > 0)) {
          problems.push(`${mode} ${i}: bad OHLC ${JSON.stringify(c)}`);
        }
        if (!(c.volume > 0)) problems.push(`${mode} ${i}: bad volume ${c.volume}`);
      }
      expect(problems).toEqual([]);
    }
  });

  it('random-walk mode: lag-1 autocorrelation of returns ~0, direction unpredictable from the last bar', () => {
    const r = logReturns(generateSyntheticCandles({ mode: 'random-walk', count: 200_000, seed: 11 }));
    // Standard error 1/sqrt(n) ~ 0.0022.
    expect(Math.abs(autocorrelation(r, 1))).toBeLessThan(0.01);
    expect(Math.abs(persistence(r) - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(autocorrelation(absolute(r), 1))).toBeLessThan(0.01);
  });

  it('regime mode: volatility clusters (|returns| autocorrelated), direction barely predictable', () => {
    const r = logReturns(generateSyntheticCandles({ mode: 'regime', count: 200_000, seed: 12 }));
    const abs = absolute(r);
    expect(autocorrelation(abs, 1)).toBeGreaterThan(0.1);
    expect(autocorrelation(abs, 10)).toBeGreaterThan(0.05);
    expect(Math.abs(autocorrelation(r, 1))).toBeLessThan(0.02);
    expect(Math.abs(persistence(r) - 0.5)).toBeLessThan(0.01);
  });

  it('planted mode: measured direction accuracy of sign(previous return) matches Phi(strength)', () => {
    const rows: string[] = [];
    for (const strength of [0.1, 0.25, 0.5, 1]) {
      const r = logReturns(generateSyntheticCandles({ mode: 'planted', strength, count: 120_000, seed: 13 }));
      const measured = persistence(r);
      const best = plantedBestAccuracy(strength);
      rows.push(`strength ${strength}: best ${(best * 100).toFixed(2)}%, measured ${(measured * 100).toFixed(2)}%`);
      // Standard error sqrt(p(1-p)/n) <= 0.0015 (and the seed is fixed, so the figures are too).
      expect(Math.abs(measured - best)).toBeLessThan(0.005);
    }
    console.log(rows.join('\n'));
    expect(plantedBestAccuracy(0)).toBeCloseTo(0.5, 6);
    expect(plantedBestAccuracy(0.25)).toBeCloseTo(0.5987, 4);
    // Negative strength is mean reversion: the same accuracy, betting against the last bar.
    const reverting = logReturns(generateSyntheticCandles({ mode: 'planted', strength: -0.5, count: 100_000 }));
    expect(1 - persistence(reverting)).toBeCloseTo(plantedBestAccuracy(-0.5), 2);
  });

  it('honours symbol, timeframe, start and start price; monthly bars follow the calendar', () => {
    const candles = generateSyntheticCandles({
      count: 3,
      symbol: 'X/Y',
      timeframe: '1M',
      start: Date.UTC(2021, 0, 31),
      startPrice: 5,
    });
    expect(candles.map((c) => c.timestamp)).toEqual([
      Date.UTC(2021, 0, 31),
      Date.UTC(2021, 1, 28),
      Date.UTC(2021, 2, 31),
    ]);
    expect(candles[0]).toMatchObject({ symbol: 'X/Y', timeframe: '1M', open: 5 });
    expect(generateSyntheticCandles({ count: 0 })).toEqual([]);
  });

  it('rejects bad options with a ConfigError naming the option', () => {
    const bad: [object, string][] = [
      [{ count: -1 }, 'count'],
      [{ count: 1.5 }, 'count'],
      [{ volatility: 0 }, 'volatility'],
      [{ startPrice: -1 }, 'startPrice'],
      [{ mode: 'trend' }, 'mode'],
      [{ strength: Number.NaN }, 'strength'],
    ];
    for (const [options, field] of bad) {
      const err = (() => {
        try {
          generateSyntheticCandles(options as never);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).where.field).toBe(field);
    }
    expect(() => generateSyntheticCandles({ timeframe: '7x' })).toThrow(/unknown timeframe/);
  });

  it('generates 1,000,000 candles fast', () => {
    generateSyntheticCandles({ count: 50_000 });
    const t0 = performance.now();
    const candles = generateSyntheticCandles({ count: 1_000_000 });
    const ms = performance.now() - t0;
    console.log(`1,000,000 regime candles in ${ms.toFixed(0)} ms`);
    expect(candles).toHaveLength(1_000_000);
    // Typically 250-450 ms; the bound is loose for busy machines.
    expect(ms).toBeLessThan(5000);
  });
});
