/**
 * Configured feature sets (feature-config.ts): the streaming and the batch
 * extractor agree to 1e-9 on every block, no value looks ahead (the batch
 * value at T is the same with every later candle removed), the declared
 * warm-ups are exact, higher-timeframe bars use closed bars only, and context
 * candles have a defined behaviour when they are late, missing or arrive in
 * either order.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import type { Candle } from '../../src/core/types.js';
import { configSchema } from '../../src/features/config-schema.js';
import {
  CORE_FEATURE_CONFIG,
  extractFeaturesBatch,
  type FeatureConfig,
  FeatureStream,
  parseFeatureConfig,
  resolveFeatureSchema,
  StreamingFeatureExtractor,
  schemaWarmup,
} from '../../src/features/index.js';
import { randomWalkCandles } from '../helpers/random-walk-candles.js';
import { hasSharedData, loadSharedCandles } from '../helpers/shared-data.js';

const HOUR = 3_600_000;
const BTC = 'binance_BTC-USDT_1h.csv';
const ETH = 'binance_ETH-USDT_1h.csv';
const hasReal = hasSharedData(BTC) && hasSharedData(ETH);
const btc = hasReal ? (await loadSharedCandles(BTC)).candles : [];
const eth = hasReal ? (await loadSharedCandles(ETH)).candles : [];

/** Every block, two higher timeframes and one context symbol. */
const FULL: FeatureConfig = {
  ...CORE_FEATURE_CONFIG,
  timeframe: '1h',
  atr: { periods: [14] },
  indicators: true,
  higherTimeframes: { timeframes: ['4h', '1d'], lags: 2 },
  context: { symbols: ['CTX/USDT'], lags: 3 },
};

function renamed(candles: readonly Candle[], symbol: string): Candle[] {
  return candles.map((c) => ({ ...c, symbol }));
}

/** Streaming rows (context candles pushed before the base candle of the same time) vs the batch matrix. */
function compare(candles: readonly Candle[], spec: FeatureConfig | 'core', context: readonly Candle[] = []) {
  const batch = extractFeaturesBatch(candles, spec, { context: new Map([['CTX/USDT', context]]) });
  const stream = new FeatureStream(spec);
  let k = 0;
  let maxDiff = 0;
  let rows = 0;
  candles.forEach((c, i) => {
    while (k < context.length && context[k]!.timestamp <= c.timestamp) stream.updateContext(context[k++]!);
    const row = stream.update(c);
    expect(row !== undefined, `row ${i}: streaming ${row !== undefined}, batch ${batch.valid[i] === 1}`).toBe(
      batch.valid[i] === 1,
    );
    if (row === undefined) return;
    rows++;
    for (let j = 0; j < batch.cols; j++) {
      const d = Math.abs(row[j]! - batch.values[i * batch.cols + j]!);
      if (!(d <= 1e-9))
        throw new Error(`row ${i} ${batch.featureNames[j]}: ${row[j]} vs ${batch.values[i * batch.cols + j]}`);
      maxDiff = Math.max(maxDiff, d);
    }
  });
  return { rows, maxDiff, batch };
}

describe('configured sets: streaming and batch agree to 1e-9', () => {
  const synthetic = randomWalkCandles({ count: 3000, seed: 5, zeroVolume: [800, 860] });
  const context = renamed(randomWalkCandles({ count: 3000, seed: 6 }), 'CTX/USDT');

  it('core on a synthetic random walk with a zero-volume stretch', () => {
    const { rows, maxDiff } = compare(synthetic, 'core');
    expect(rows).toBe(synthetic.length - schemaWarmup(resolveFeatureSchema('core')));
    expect(maxDiff).toBeLessThanOrEqual(1e-9);
  });

  it('every block (ATR, indicators, 4h and 1d bars, a context symbol) on synthetic candles with gaps', () => {
    // Drop a stretch of hours (a gap across 4h and 1d boundaries) and a few single candles of the context.
    const gapped = synthetic.filter((_, i) => i < 1500 || i > 1530);
    const ctx = context.filter((_, i) => i % 97 !== 0);
    const { rows, maxDiff } = compare(gapped, FULL, ctx);
    expect(rows).toBeGreaterThan(2000);
    expect(maxDiff).toBeLessThanOrEqual(1e-9);
  });

  describe.skipIf(!hasReal)('real BTC/USDT 1h with ETH/USDT as context', () => {
    it('core, whole file', () => {
      const { rows, maxDiff } = compare(btc, 'core');
      expect(rows).toBeGreaterThan(44_000);
      expect(maxDiff).toBeLessThanOrEqual(1e-9);
    });
    it('every block, first 12,000 candles (exchange outages included)', () => {
      const { rows, maxDiff } = compare(btc.slice(0, 12_000), FULL, renamed(eth.slice(0, 12_000), 'CTX/USDT'));
      expect(rows).toBeGreaterThan(11_000);
      expect(maxDiff).toBeLessThanOrEqual(1e-9);
    });
  });
});

describe('configured sets: no look-ahead', () => {
  const candles = randomWalkCandles({ count: 2400, seed: 9 });
  const context = renamed(randomWalkCandles({ count: 2400, seed: 10 }), 'CTX/USDT');

  it('the batch value at T is the same with every later candle (and context candle) removed', () => {
    const full = extractFeaturesBatch(candles, FULL, { context: new Map([['CTX/USDT', context]]) });
    for (const t of [700, 911, 1203, 1599, 2047, 2399]) {
      const cut = candles.slice(0, t + 1);
      const ctxCut = context.filter((c) => c.timestamp <= candles[t]!.timestamp);
      const part = extractFeaturesBatch(cut, FULL, { context: new Map([['CTX/USDT', ctxCut]]) });
      expect(part.valid[t]).toBe(full.valid[t]);
      for (let j = 0; j < full.cols; j++) {
        expect(part.values[t * full.cols + j], `${full.featureNames[j]} at ${t}`).toBe(full.values[t * full.cols + j]);
      }
    }
  });

  it('declared warm-ups are exact: each column is undefined before its warm-up and defined from it', () => {
    const schema = resolveFeatureSchema({ ...FULL, context: undefined, higherTimeframes: undefined } as FeatureConfig);
    const m = extractFeaturesBatch(candles, schema);
    schema.features.forEach((spec, j) => {
      let first = -1;
      for (let i = 0; i < m.rows && first < 0; i++) if (Number.isFinite(m.values[i * m.cols + j]!)) first = i;
      expect(first, spec.name).toBe(spec.warmup);
    });
    // And the set's first row waits for the EMA-type parts to converge.
    expect(schemaWarmup(schema)).toBeGreaterThan(300);
  });
});

/** 1h candles from closes, opening at the previous close, starting at `start` (ms). */
function hourly(closes: readonly number[], start: number, symbol = 'BASE/USDT'): Candle[] {
  return closes.map((c, i) => {
    const o = i === 0 ? c : closes[i - 1]!;
    return {
      timestamp: start + i * HOUR,
      open: o,
      high: Math.max(o, c) + 1,
      low: Math.min(o, c) - 1,
      close: c,
      volume: 1,
      symbol,
      timeframe: '1h',
    };
  });
}

describe('higher timeframes use closed bars only', () => {
  // A short volatility span so values are defined within a few candles.
  const config: FeatureConfig = {
    volatilitySpan: 2,
    timeframe: '1h',
    calendar: true,
    higherTimeframes: { timeframes: ['4h'], lags: 1 },
  };
  const defined = (m: ReturnType<typeof extractFeaturesBatch>, row: number, name: string) =>
    Number.isFinite(m.values[row * m.cols + m.featureNames.indexOf(name)]!);

  it('drops a first partial bar and closes a bar with its last candle', () => {
    // Starts at 02:00: the 00:00-04:00 bar is partial and never used.
    const candles = hourly(
      Array.from({ length: 60 }, (_, i) => 100 + i),
      Date.UTC(2024, 0, 1, 2),
    );
    const m = extractFeaturesBatch(candles, config);
    const value = (row: number, name: string) => m.values[row * m.cols + m.featureNames.indexOf(name)]!;
    // Candle 5 (07:00) closes the 04:00-08:00 bar, the first complete one: the move since its close is 0.
    expect(defined(m, 4, 'htf_4h_since')).toBe(false);
    expect(value(5, 'htf_4h_since')).toBe(0);
    // Its range: lows and highs of candles 2..5 (closes 102..105, each +/- 1 around open and close).
    expect(value(6, 'htf_4h_range_pos')).toBeCloseTo((106 - 100) / (106 - 100), 12);
    // A return needs two complete bars: the second closes at candle 9 (11:00).
    expect(defined(m, 8, 'htf_4h_ret_1')).toBe(false);
    expect(defined(m, 9, 'htf_4h_ret_1')).toBe(true);
  });

  it('closes a bar whose last candle is missing when the next bar begins', () => {
    const candles = hourly(
      Array.from({ length: 40 }, (_, i) => 100 + i),
      Date.UTC(2024, 0, 1, 0),
    ).filter((_, i) => i !== 3);
    const m = extractFeaturesBatch(candles, config);
    // Index 2 is 02:00; 03:00 is missing; index 3 is 04:00, the first candle of the next bucket: the bar is closed now.
    expect(defined(m, 2, 'htf_4h_since')).toBe(false);
    expect(defined(m, 3, 'htf_4h_since')).toBe(true);
  });
});

describe('context candles', () => {
  const config: FeatureConfig = {
    volatilitySpan: 4,
    returns: { lags: 2 },
    context: { symbols: ['CTX/USDT'], lags: 1, maxStaleness: 1 },
  };
  const start = Date.UTC(2024, 0, 1);
  const base = hourly(
    Array.from({ length: 120 }, (_, i) => 100 * 1.001 ** i * (1 + 0.01 * Math.sin(i))),
    start,
  );
  const ctx = hourly(
    Array.from({ length: 120 }, (_, i) => 50 * 1.002 ** i * (1 + 0.02 * Math.cos(i))),
    start,
    'CTX/USDT',
  );
  const age = resolveFeatureSchema(config).features.findIndex((f) => f.name === 'ctx_ctx_usdt_age');

  function rows(order: 'context-first' | 'base-first', drop: ReadonlySet<number> = new Set(), late = -1) {
    const stream = new FeatureStream(config);
    const out: (number[] | undefined)[] = [];
    base.forEach((b, i) => {
      const c = ctx[i]!;
      const push = () => {
        if (late >= 0 && i === late + 1) stream.updateContext(ctx[late]!);
        if (!drop.has(i) && i !== late) stream.updateContext(c);
      };
      // The late candle arrives only after the base candle it should have informed.
      const baseFirst = order === 'base-first' || (late >= 0 && i === late + 1);
      if (!baseFirst) push();
      const row = stream.update(b);
      if (baseFirst) push();
      out.push(row === undefined ? undefined : [...row]);
    });
    return out;
  }

  it("use only context candles closed by the base candle's open: arrival order does not matter", () => {
    expect(rows('base-first')).toEqual(rows('context-first'));
    const r = rows('context-first');
    expect(r.at(-1)![age]).toBe(0);
  });

  it('a missing context candle makes the next row one candle stale; beyond maxStaleness there is no row', () => {
    const one = rows('context-first', new Set([80]));
    expect(one[81]![age]).toBe(1);
    expect(one[82]![age]).toBe(0);
    const three = rows('context-first', new Set([80, 81]));
    expect(three[81]![age]).toBe(1);
    expect(three[82]).toBeUndefined(); // 2 candles stale > maxStaleness 1
    expect(three[83]![age]).toBe(0);
  });

  it('a late context candle is used by the rows after it arrives, never by the one it was late for', () => {
    const late = rows('context-first', new Set(), 80);
    const onTime = rows('context-first');
    expect(late[81]![age]).toBe(1);
    expect(late[82]).toEqual(onTime[82]);
  });

  it('the multi-symbol extractor routes context candles to every stream and gives them no row', () => {
    const x = new StreamingFeatureExtractor(config);
    expect(x.update(ctx[0]!)).toBeUndefined();
    expect(x.symbols()).toEqual([]);
    for (let i = 0; i < base.length; i++) {
      x.update(ctx[i]!);
      x.update(base[i]!);
    }
    expect(x.symbols()).toEqual(['BASE/USDT']);
  });
});

describe('feature configuration errors name the key', () => {
  it.each([
    [{}, /enables no block/],
    [{ returns: { lags: 0 } }, /returns\.lags must be an integer/],
    [{ momentum: { windows: [3, 3] } }, /repeats a value/],
    [{ volume: { window: 20, span: 3 } }, /unknown key 'span' in volume/],
    [{ higherTimeframes: { timeframes: ['1M'], lags: 1 }, timeframe: '1h' }, /months and years/],
    [{ colour: true }, /unknown key 'colour'/],
  ])('%j', (config, message) => {
    expect(() => parseFeatureConfig(config)).toThrow(ConfigError);
    expect(() => parseFeatureConfig(config)).toThrow(message);
  });

  it('a higher timeframe needs the base timeframe, and a whole multiple of it', () => {
    expect(() => configSchema({ higherTimeframes: { timeframes: ['4h'], lags: 1 } }, 'custom')).toThrow(/timeframe/);
    expect(() =>
      configSchema({ timeframe: '3h', higherTimeframes: { timeframes: ['4h'], lags: 1 } }, 'custom'),
    ).toThrow(/not a whole multiple/);
  });

  it('a saved schema whose features differ from its configuration is refused', () => {
    const schema = resolveFeatureSchema('core');
    const tampered = { ...schema, features: schema.features.slice(1) };
    expect(() => resolveFeatureSchema(tampered)).toThrow(/missing feature\(s\) ret_1/);
  });
});
