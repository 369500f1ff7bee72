import { describe, expect, it } from 'vitest';
import { ConfigError, ModelError } from '../../src/core/errors.js';
import {
  assertSameSchema,
  FEATURE_SCHEMAS,
  FEATURE_WRITERS,
  type FeatureSchema,
  parseFeatureSchema,
  RELATIVE_SCHEMA,
  resolveFeatureSchema,
  SEED_SCHEMA,
  schemaWarmup,
} from '../../src/features/index.js';
import { emptySnapshot } from '../../src/features/indicator-snapshot.js';

function withFeatures(schema: FeatureSchema, names: string[]): FeatureSchema {
  const byName = new Map(schema.features.map((f) => [f.name, f]));
  return {
    ...schema,
    features: names.map((n) => byName.get(n) ?? { name: n, warmup: 0, description: '' }),
  };
}

function mismatch(expected: FeatureSchema, actual: FeatureSchema): string {
  try {
    assertSameSchema(expected, actual);
  } catch (err) {
    expect(err).toBeInstanceOf(ModelError);
    return (err as Error).message;
  }
  throw new Error('expected a schema mismatch');
}

describe('feature schema', () => {
  const names = SEED_SCHEMA.features.map((f) => f.name);

  it('the seed set has the 19 features of the design, the relative set 21, names unique', () => {
    expect(names).toEqual([
      'close',
      'return_1',
      'sma_10',
      'sma_20',
      'ema_12',
      'ema_26',
      'rsi_14',
      'macd_line',
      'macd_signal',
      'macd_hist',
      'bb_upper',
      'bb_middle',
      'bb_lower',
      'volume',
      'volume_sma_10',
      'volume_osc',
      'hour_utc',
      'day_of_week_utc',
      'month_utc',
    ]);
    expect(RELATIVE_SCHEMA.features).toHaveLength(21);
    for (const s of [SEED_SCHEMA, RELATIVE_SCHEMA]) {
      expect(new Set(s.features.map((f) => f.name)).size).toBe(s.features.length);
      expect(schemaWarmup(s)).toBe(33); // MACD signal: 26 + 9 - 2 candles before it
    }
  });

  it('each writer fills exactly its schema width', () => {
    for (const schema of Object.values(FEATURE_SCHEMAS)) {
      const width = schema.features.length;
      const out = new Float64Array(width + 4).fill(-999);
      const snapshot = emptySnapshot();
      FEATURE_WRITERS[schema.name as 'seed' | 'relative'](snapshot, out, 2);
      expect(out[0]).toBe(-999);
      expect(out[1]).toBe(-999);
      expect(out[width + 2]).toBe(-999);
      expect(out[width + 3]).toBe(-999);
      for (let j = 2; j < width + 2; j++) expect(out[j]).not.toBe(-999);
    }
  });

  it('survives a JSON round trip unchanged', () => {
    for (const schema of [SEED_SCHEMA, RELATIVE_SCHEMA]) {
      const copy = parseFeatureSchema(JSON.parse(JSON.stringify(schema)));
      expect(copy).toEqual(schema);
      expect(() => assertSameSchema(schema, copy)).not.toThrow();
      expect(resolveFeatureSchema(copy)).toBe(schema);
    }
  });

  it('names missing, extra and reordered features', () => {
    const missing = mismatch(
      SEED_SCHEMA,
      withFeatures(
        SEED_SCHEMA,
        names.filter((n) => n !== 'rsi_14'),
      ),
    );
    expect(missing).toContain('missing feature(s) rsi_14');

    const extra = mismatch(SEED_SCHEMA, withFeatures(SEED_SCHEMA, [...names, 'funding_rate']));
    expect(extra).toContain('extra feature(s) funding_rate');

    const swapped = [...names];
    [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
    const reordered = mismatch(SEED_SCHEMA, withFeatures(SEED_SCHEMA, swapped));
    expect(reordered).toContain('reordered feature(s) sma_10 (expected position 2, found 3)');
    expect(reordered).toContain('sma_20');
  });

  it('names a different set or version, and a changed warm-up', () => {
    expect(mismatch(SEED_SCHEMA, RELATIVE_SCHEMA)).toContain("feature set 'relative' instead of 'seed'");
    expect(mismatch(SEED_SCHEMA, { ...SEED_SCHEMA, version: 2 })).toContain('version 2 instead of 1');
    const changed = {
      ...SEED_SCHEMA,
      features: SEED_SCHEMA.features.map((f) => (f.name === 'sma_10' ? { ...f, warmup: 4 } : f)),
    };
    expect(mismatch(SEED_SCHEMA, changed)).toContain('feature sma_10 has warm-up 4 instead of 9');
  });

  it('a saved schema that differs from the built-in one is refused on load', () => {
    expect(() => resolveFeatureSchema({ ...RELATIVE_SCHEMA, version: 0 })).toThrow(ModelError);
  });

  it('rejects unknown set names and malformed schema JSON', () => {
    expect(() => resolveFeatureSchema('fancy' as 'seed')).toThrow(ConfigError);
    expect(() => parseFeatureSchema({ name: 'seed', version: 1 }, 'model.json')).toThrow(/model\.json.*features/);
    expect(() => parseFeatureSchema({ name: 'seed', version: 1, features: [{ name: 'x', warmup: -1 }] })).toThrow(
      ModelError,
    );
    expect(() => parseFeatureSchema(null)).toThrow(ModelError);
  });
});
