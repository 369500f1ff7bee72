/**
 * Leak analysis (check-leaks): features and predictions recomputed with every
 * later candle removed and with less earlier history.
 * - the planted leak of the ML-pipeline issue (a column holding candle t+1's
 *   close) is flagged, and only it; a whole-series normalisation hidden in one
 *   extractor is flagged in that extractor only;
 * - the real feature sets show no look-ahead (synthetic and real BTC data);
 * - EMA/RSI-based features are reported as warm-up dependent with the history
 *   they need, SMA-based and lagged ones are not; a cumulative feature fails;
 * - a trained model's predictions are unchanged by truncation; a model whose
 *   output depends on the rest of its batch is caught;
 * - the CLI end to end in a child process (exit 0 with a model, exit 1 with a one-line summary).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summaryLine } from '../../src/cli/commands/check-leaks.js';
import type { Candle } from '../../src/core/types.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { featureNames, RELATIVE_SCHEMA, resolveFeatureSchema, schemaWarmup } from '../../src/features/index.js';
import {
  analyzeLeaks,
  batchFeatureRows,
  type LeakReport,
  type SeriesExtract,
  streamingFeatureRows,
} from '../../src/features/leak-analysis.js';
import { writeModelDirectory } from '../../src/models/model-files.js';
import { analyzeModelLeaks } from '../../src/models/prediction-leak-analysis.js';
import type { Predictor } from '../../src/models/predictor.js';
import { trainModel } from '../../src/models/train.js';
import { hasSharedData, loadSharedCandles } from '../helpers/shared-data.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BTC_1H = 'binance_BTC-USDT_1h.csv';
const NF = RELATIVE_SCHEMA.features.length;
/** Small and quick: 60 samples, up to 400 candles of history. */
const QUICK = { samples: 60, maxHistory: 400, fullHistorySamples: 4 } as const;

const candles = generateSyntheticCandles({ mode: 'random-walk', count: 3000, seed: 7 });

/** Relative features plus one extra column computed by `extra(i, candles)`. */
function withColumn(rows: (c: readonly Candle[]) => Float64Array, extra: (i: number, c: readonly Candle[]) => number) {
  return (c: readonly Candle[]): Float64Array => {
    const base = rows(c);
    const out = new Float64Array(c.length * (NF + 1));
    for (let i = 0; i < c.length; i++) {
      out.set(base.subarray(i * NF, (i + 1) * NF), i * (NF + 1));
      out[i * (NF + 1) + NF] = extra(i, c);
    }
    return out;
  };
}

/** The leak of the ML-pipeline issue: tomorrow's close (candle t+1) as a feature of candle t. */
const nextClose = (i: number, c: readonly Candle[]) =>
  i + 1 < c.length ? c[i + 1]!.close / c[i]!.close - 1 : Number.NaN;
const relativeStreaming = (c: readonly Candle[]) => streamingFeatureRows(c, 'relative');
const relativeBatch = (c: readonly Candle[]) => batchFeatureRows(c, 'relative');

function byName(report: LeakReport, name: string) {
  const f = report.features.find((x) => x.name === name);
  if (f === undefined) throw new Error(`no feature ${name}`);
  return f;
}

describe('look-ahead', () => {
  it("flags exactly the planted feature that reads candle t+1's close", async () => {
    const leaky: SeriesExtract = withColumn(relativeStreaming, nextClose);
    const report = await analyzeLeaks({
      candles,
      extract: [{ name: 'leaky', extract: leaky }],
      featureNames: [...featureNames(RELATIVE_SCHEMA), 'LEAK_next_close'],
      ...QUICK,
    });
    expect(report.lookAhead).toEqual(['LEAK_next_close']);
    expect(report.ok).toBe(false);
    const f = byName(report, 'LEAK_next_close');
    expect(f.status).toBe('look-ahead');
    // Without candle t+1 the value is undefined; with it, defined: changed at every sampled candle.
    expect(f.lookAheadExample?.truncated).toBeNull();
    expect(f.lookAheadExample?.extended).not.toBeNull();
    expect(f.lookAheadChanges).toBeGreaterThanOrEqual(report.samples - 1);
    expect(report.features.filter((x) => x.name !== 'LEAK_next_close').every((x) => !x.lookAhead)).toBe(true);
    const verdict = summaryLine(report);
    expect(verdict.ok).toBe(false);
    expect(verdict.line).toMatch(/^LOOK-AHEAD: LEAK_next_close \(leaky\) changes when later candles are removed/);
  });

  it('finds a whole-series normalisation hidden in one of two extractors, and names that extractor', async () => {
    // The classic: dividing by a statistic of the whole series (here its highest close).
    const highest = new WeakMap<readonly Candle[], number>();
    const globalMax = (i: number, c: readonly Candle[]) => {
      if (!highest.has(c)) highest.set(c, Math.max(...c.map((x) => x.close)));
      return c[i]!.close / highest.get(c)!;
    };
    const report = await analyzeLeaks({
      candles,
      extract: [
        { name: 'streaming', extract: withColumn(relativeStreaming, (i, c) => Math.log(c[i]!.close)) },
        { name: 'batch', extract: withColumn(relativeBatch, globalMax) },
      ],
      featureNames: [...featureNames(RELATIVE_SCHEMA), 'close_vs_max'],
      ...QUICK,
    });
    expect(report.lookAhead).toEqual(['close_vs_max']);
    expect(byName(report, 'close_vs_max').lookAheadIn).toEqual(['batch']);
  });
});

describe('the real feature sets', () => {
  const reports: Partial<Record<'seed' | 'relative', LeakReport>> = {};

  it('core, and a configuration with every block but context (4h and 1d bars): no look-ahead', async () => {
    const full = {
      timeframe: '1h',
      returns: { lags: 4 },
      momentum: { windows: [3, 12] },
      volatility: { windows: [6] },
      atr: { periods: [14] },
      candle: { rangeSpan: 24 },
      volume: { window: 24 },
      indicators: true,
      calendar: true,
      higherTimeframes: { timeframes: ['4h', '1d'], lags: 2 },
    };
    for (const set of ['core', full] as const) {
      const report = await analyzeLeaks({
        candles,
        featureSet: set,
        samples: 40,
        maxHistory: 900,
        fullHistorySamples: 3,
      });
      expect(report.lookAhead).toEqual([]);
      expect(report.features.every((f) => f.lookAheadMaxDiff === 0)).toBe(true);
      expect(report.ok).toBe(true);
    }
  });

  it.each(['seed', 'relative'] as const)('%s: no look-ahead in either extractor (synthetic series)', async (set) => {
    const report = await analyzeLeaks({ candles, featureSet: set, ...QUICK });
    reports[set] = report;
    expect(report.extractors).toEqual(['streaming', 'batch']);
    expect(report.lookAhead).toEqual([]);
    expect(report.historyDependent).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.features.every((f) => f.lookAheadMaxDiff === 0)).toBe(true);
    expect(report.warmup).toBe(schemaWarmup(resolveFeatureSchema(set)));
  });

  it('reports warm-up dependence for EMA/RSI-based features with little history, not for SMA or lags', () => {
    const seed = reports.seed!;
    const w = seed.warmup;
    expect(seed.histories).toEqual([w, 2 * w, 5 * w, 400]);
    for (const name of ['ema_12', 'ema_26', 'rsi_14', 'macd_line', 'macd_signal', 'macd_hist']) {
      const f = byName(seed, name);
      expect(f.status, name).toBe('warm-up');
      expect(f.differences[0]!.max, `${name} with ${w} candles`).toBeGreaterThan(1e-6);
      expect(f.historyNeeded, name).toBeGreaterThan(2 * w);
      expect(f.historyNeeded, name).toBeLessThanOrEqual(400);
      expect(f.differences.at(-1)!.max, `${name} with 400 candles`).toBeLessThanOrEqual(1e-9);
    }
    // EMA26 forgets slower than EMA12.
    expect(byName(seed, 'ema_26').historyNeeded!).toBeGreaterThan(byName(seed, 'ema_12').historyNeeded!);
    for (const name of ['close', 'return_1', 'sma_10', 'sma_20', 'bb_upper', 'volume_sma_10', 'hour_utc']) {
      expect(byName(seed, name).status, name).toBe('ok');
      expect(byName(seed, name).historyNeeded, name).toBe(w);
    }
    const relative = reports.relative!;
    expect(relative.warmupDependent).toEqual([
      'close_vs_ema_12',
      'ema_12_vs_ema_26',
      'rsi_14_unit',
      'macd_line_rel',
      'macd_signal_rel',
      'macd_hist_rel',
    ]);
    expect(relative.recommendedHistory).toBe(Math.max(...relative.features.map((f) => f.historyNeeded!)));
    expect(summaryLine(relative).line).toMatch(/^OK: no look-ahead in 21 features .*give at least \d+ candles/);
  });

  it('fails a feature that depends on the whole history (a cumulative return since the first candle)', async () => {
    const cumulative = withColumn(relativeStreaming, (i, c) => Math.log(c[i]!.close / c[0]!.close));
    const report = await analyzeLeaks({
      candles,
      extract: cumulative,
      featureNames: [...featureNames(RELATIVE_SCHEMA), 'return_since_start'],
      ...QUICK,
    });
    expect(report.lookAhead).toEqual([]);
    expect(report.historyDependent).toEqual(['return_since_start']);
    expect(byName(report, 'return_since_start').historyNeeded).toBeNull();
    expect(report.ok).toBe(false);
    expect(summaryLine(report).line).toMatch(/^HISTORY-DEPENDENT: return_since_start/);
  });

  it.skipIf(!hasSharedData(BTC_1H))(
    'seed and relative: no look-ahead on real BTC/USDT 1h data (45k candles, 200 samples)',
    async () => {
      const { candles: btc } = await loadSharedCandles(BTC_1H);
      for (const set of ['seed', 'relative'] as const) {
        const report = await analyzeLeaks({ candles: btc, featureSet: set });
        console.log(
          `BTC 1h ${set}: ${report.samples} samples in ${report.seconds.toFixed(1)} s, ` +
            `history needed for 1e-9: ${report.recommendedHistory}`,
        );
        expect(report.samples).toBe(200);
        expect(report.lookAhead).toEqual([]);
        expect(report.ok).toBe(true);
      }
    },
  );
});

describe('predictions', () => {
  let predictor: Predictor;
  let modelDir: string;
  const tmp = mkdtempSync(path.join(tmpdir(), 'qf-leaks-'));

  beforeAll(async () => {
    const trained = await trainModel({
      candles: generateSyntheticCandles({ mode: 'random-walk', count: 2000, seed: 3 }),
      featureSet: 'relative',
      lookback: 2,
      kind: 'tfjs',
      network: { epochs: 2, layers: [8], earlyStopping: false },
      seed: 1,
      name: 'leak-test',
    });
    predictor = trained.predictor;
    modelDir = path.join(tmp, 'model');
    await writeModelDirectory(modelDir, trained.files);
  });

  afterAll(async () => {
    await predictor?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("leaves a trained model's predictions unchanged by truncation (its own schema and lookback)", async () => {
    const report = await analyzeModelLeaks({ candles, predictor, ...QUICK });
    expect(report.model.lookback).toBe(2);
    expect(report.features?.lookAhead).toEqual([]);
    const p = report.predictions;
    expect(p.extractors).toEqual(['streaming', 'batch']);
    expect(p.warmup).toBe(schemaWarmup(RELATIVE_SCHEMA) + 1);
    expect(p.lookAhead).toEqual([]);
    expect(p.features[0]!.lookAheadMaxDiff).toBe(0);
    // Inputs inherit the EMA warm-up: predictions need more than the bare warm-up to settle.
    expect(p.features[0]!.differences[0]!.max).toBeGreaterThan(0);
    expect(report.ok).toBe(true);
  });

  it('catches a model whose output depends on the rest of its batch (statistics over the batch)', async () => {
    const width = predictor.inputWidth;
    const batchNormalised: Predictor = {
      modelVersion: 'batch-normalised',
      inputWidth: width,
      meta: predictor.meta,
      predict: () => Promise.reject(new Error('not used')),
      async predictBatch(rows) {
        const n = rows.length / width;
        let mean = 0;
        for (let i = 0; i < n; i++) mean += rows[i * width]! / n;
        return Float32Array.from({ length: n }, (_, i) => 1 / (1 + Math.exp(-100 * (rows[i * width]! - mean))));
      },
      dispose: () => Promise.resolve(),
    };
    const report = await analyzeModelLeaks({ candles, predictor: batchNormalised, features: false, ...QUICK });
    expect(report.predictions.lookAhead).toEqual(['prediction']);
    expect(report.ok).toBe(false);
  });

  const cli = (args: string[]) =>
    promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check-leaks', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, CI: '1' },
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('CLI: passes with a model directory (--json), exit 0', async () => {
    const r = await cli(['--synthetic', '--samples', '20', '--max-history', '200', '--model-dir', modelDir, '--json']);
    expect(r.stderr).not.toMatch(/^error:/m);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; features: LeakReport; predictions: LeakReport };
    expect(out.ok).toBe(true);
    expect(out.features.samples).toBe(20);
    expect(out.features.lookAhead).toEqual([]);
    expect(out.predictions.lookAhead).toEqual([]);
  });

  it('CLI: fails with exit 1 and a one-line summary when features are still warming up at --warmup-history', async () => {
    const r = await cli([
      '--synthetic',
      '--features',
      'seed',
      '--samples',
      '20',
      '--max-history',
      '200',
      '--warmup-history',
      '40',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FEATURE\s+LOOK-AHEAD\s+MAX CHANGE TRUNCATED/m);
    expect(r.stdout).toMatch(/^ema_26\s+no\s+0\s/m);
    const lines = r.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^error: HISTORY-DEPENDENT: .*ema_26 .* with 40 candles of history$/);
  });
});
