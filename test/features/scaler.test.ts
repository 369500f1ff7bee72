import { describe, expect, it } from 'vitest';
import { DataError, ModelError } from '../../src/core/errors.js';
import { FeatureScaler } from '../../src/features/index.js';

// 4 rows x 3 features; the last column is constant.
const train = Float64Array.from([0, 10, 5, 2, 20, 5, 4, 30, 5, 6, 40, 5]);
const names = ['a', 'b', 'flat'];

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('FeatureScaler min-max', () => {
  const scaler = new FeatureScaler({ kind: 'minmax', featureNames: names }).fit(train, 3);

  it('maps the training range to [0, 1] and a constant column to 0', () => {
    const out = scaler.transform(train, new Float64Array(12));
    expect(Array.from(out)).toEqual([0, 0, 0, 1 / 3, 1 / 3, 0, 2 / 3, 2 / 3, 0, 1, 1, 0]);
    expect(train[1]).toBe(10); // input untouched when an output buffer is given
  });

  it('clips values outside the training range by default, and not when asked', () => {
    const row = [-6, 70, 9];
    expect(Array.from(scaler.transform(row, new Float64Array(3)))).toEqual([0, 1, 0]);
    const open = new FeatureScaler({ kind: 'minmax', clip: false }).fit(train, 3);
    expect(Array.from(open.transform(row, new Float64Array(3)))).toEqual([-1, 2, 0]);
  });

  it('transforms in place, also Float32 rows', () => {
    const rows = Float32Array.from([3, 25, 5]);
    const same = scaler.transform(rows);
    expect(same).toBe(rows);
    expect(rows[0]).toBeCloseTo(0.5, 6);
    expect(rows[1]).toBeCloseTo(0.5, 6);
  });
});

describe('FeatureScaler z-score', () => {
  it('gives mean 0 and sd 1 on the training rows, 0 for a constant column', () => {
    const z = new FeatureScaler({ kind: 'zscore' }).fit(train, 3);
    const out = z.transform(train, new Float64Array(12));
    for (const j of [0, 1]) {
      const col = [0, 1, 2, 3].map((i) => out[i * 3 + j]!);
      const mean = col.reduce((a, b) => a + b) / 4;
      expect(mean).toBeCloseTo(0, 12);
      expect(Math.sqrt(col.reduce((a, b) => a + (b - mean) ** 2, 0) / 4)).toBeCloseTo(1, 12);
    }
    expect([out[2], out[5], out[8], out[11]]).toEqual([0, 0, 0, 0]);
  });

  it('treats float residue of a constant column as zero variance', () => {
    const rows = new Float64Array(30).fill(0.1);
    const z = new FeatureScaler({ kind: 'zscore' }).fit(rows, 1);
    expect(Array.from(z.transform([0.1, 0.1000001], new Float64Array(2)))).toEqual([0, 0]);
  });

  it('clips at ±5 sd by default, at ±clipSigma when given, not at all with clip: false', () => {
    const byDefault = new FeatureScaler({ kind: 'zscore' }).fit(train, 3);
    expect(byDefault.transform([1000, 25, 5], new Float64Array(3))[0]).toBe(5);
    const free = new FeatureScaler({ kind: 'zscore', clip: false }).fit(train, 3);
    expect(free.transform([1000, 25, 5], new Float64Array(3))[0]).toBeGreaterThan(100);
    const clipped = new FeatureScaler({ kind: 'zscore', clipSigma: 3 }).fit(train, 3);
    expect(Array.from(clipped.transform([1000, -1000, 5], new Float64Array(3)))).toEqual([3, -3, 0]);
    // A scaler saved before clipping was the default keeps its own setting.
    expect(FeatureScaler.fromJSON({ ...byDefault.toJSON(), clip: false }).clip).toBe(false);
  });
});

describe('FeatureScaler errors and persistence', () => {
  const scaler = new FeatureScaler({ kind: 'minmax', featureNames: names }).fit(train, 3);

  it('NaN or Infinity names the feature and the row, in fit and in transform', () => {
    const bad = Float64Array.from(train);
    bad[7] = Number.NaN; // row 2, feature 'b'
    const fitErr = catchError(() => new FeatureScaler({ featureNames: names }).fit(bad, 3));
    expect(fitErr).toBeInstanceOf(DataError);
    expect(fitErr.message).toMatch(/'b'.*row 2/);

    const rows = [1, 2, 3, 4, Number.POSITIVE_INFINITY, 6];
    const err = catchError(() => scaler.transform(rows, new Float64Array(6), 100));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toMatch(/'b' is Infinity in row 101/);
  });

  it('a failed fit leaves the scaler unusable rather than half-fitted', () => {
    const s = new FeatureScaler();
    expect(() => s.fit([1, Number.NaN], 1)).toThrow(DataError);
    expect(() => s.transform([1])).toThrow(ModelError);
  });

  it('refuses a wrong feature count', () => {
    expect(() => scaler.transform([1, 2, 3, 4])).toThrow(/expected rows of 3 features/);
    expect(() => scaler.assertCompatible(4)).toThrow(/fitted on 3 features, got 4/);
    expect(() => scaler.assertCompatible(3, ['a', 'c', 'flat'])).toThrow(/feature 1 is 'c'.*'b'/);
    expect(() => new FeatureScaler({ featureNames: names }).fit(train.subarray(0, 8), 2)).toThrow(DataError);
    expect(() => new FeatureScaler().fit([], 3)).toThrow(/zero rows/);
  });

  it('round-trips through JSON and scales identically', () => {
    for (const original of [scaler, new FeatureScaler({ kind: 'zscore', clip: true, clipSigma: 2 }).fit(train, 3)]) {
      const restored = FeatureScaler.fromJSON(JSON.parse(JSON.stringify(original)));
      expect(restored.kind).toBe(original.kind);
      expect(restored.clip).toBe(original.clip);
      const probe = [-3, 17, 5, 9, 55, 4];
      expect(Array.from(restored.transform(probe, new Float64Array(6)))).toEqual(
        Array.from(original.transform(probe, new Float64Array(6))),
      );
    }
  });

  it('refuses malformed saved scalers with a ModelError', () => {
    const json = scaler.toJSON();
    expect(() => FeatureScaler.fromJSON({ ...json, spread: [1, 2] }, 'scaler.json')).toThrow(/scaler\.json/);
    expect(() => FeatureScaler.fromJSON({ ...json, center: [0, Number.NaN, 1] })).toThrow(ModelError);
    expect(() => FeatureScaler.fromJSON({ ...json, format: 'other' })).toThrow(ModelError);
    expect(() => FeatureScaler.fromJSON(null)).toThrow(ModelError);
  });
});
