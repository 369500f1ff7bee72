/**
 * The walk-forward ML backtest: windows that never let a training label reach
 * into a test period, one model per window, one continuous trading run, and a
 * report with the tracker's ML scores next to the no-skill and trading
 * baselines. Then the CLI: `--strategy ml` walk-forward and `--model` from a
 * registry, as a user runs them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MlBacktestResult, runModelBacktest, runWalkForward } from '../../backtest/ml-backtest.js';
import { renderHtmlReport } from '../../backtest/report-html.js';
import type { Candle } from '../../src/core/types.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { buildDataset } from '../../src/features/dataset.js';
import { trainModel } from '../../src/models/train.js';
import { ModelRegistry } from '../../src/registry/index.js';
import { PredictionTracker } from '../../src/tracking/prediction-tracker.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(path.join(tmpdir(), 'qf-walk-forward-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const HORIZON = 3;
const TINY = { layers: [8], epochs: 3, learningRate: 0.01 };

describe('runWalkForward', () => {
  let candles: Candle[];
  let run: MlBacktestResult;
  beforeAll(async () => {
    candles = generateSyntheticCandles({ mode: 'planted', count: 3200, seed: 12, strength: 1 });
    run = await runWalkForward({
      candles,
      trainWindow: 800,
      testWindow: 500,
      horizon: HORIZON,
      featureSet: 'relative',
      kind: 'tfjs',
      network: TINY,
      seed: 3,
      strategy: { threshold: 0.05, fraction: 0.2, allowShort: true },
    });
  });

  it('never lets a training label reach into a test window (embargo of horizon candles)', () => {
    const { windows } = run;
    // 3200 candles give 3,164 rows: 4 full windows and a last, shorter one that is tested too.
    expect(windows.length).toBe(5);
    const ds = buildDataset(candles, { horizon: HORIZON, featureSet: 'relative' });
    for (const w of windows) {
      const sw = w.series[0]!;
      // Every training row's label looks at candle t + horizon, which must come before every later test window.
      for (let r = w.trainRows[0]; r < w.trainRows[1]; r++) {
        const labelCandle = ds.candleIndex[r]! + HORIZON;
        for (const later of windows.filter((v) => v.index >= w.index)) {
          expect(labelCandle).toBeLessThan(later.series[0]!.testCandles[0]);
        }
      }
      expect(sw.lastLabelCandle).toBe(ds.candleIndex[w.trainRows[1] - 1]! + HORIZON);
      expect(sw.lastLabelCandle).toBeLessThan(sw.testCandles[0]);
      // The embargo: horizon rows between the training and the test rows.
      expect(ds.candleIndex.indexOf(sw.testCandles[0]) - w.trainRows[1]).toBe(HORIZON);
      // Fitting, early-stopping and calibration slices, each after another embargo.
      expect(w.validationRows).toBeGreaterThan(0);
      expect(w.calibrationRows).toBeGreaterThan(0);
      expect(w.fitRows + w.validationRows + w.calibrationRows + 2 * HORIZON).toBe(w.trainRows[1] - w.trainRows[0]);
    }
    // Test windows follow each other without gap or overlap, each traded once, up to the last candle.
    for (let k = 1; k < windows.length; k++) {
      expect(windows[k]!.series[0]!.testCandles[0]).toBe(windows[k - 1]!.series[0]!.testCandles[1]);
    }
    expect(windows.at(-1)!.series[0]!.testCandles[1]).toBe(candles.length - HORIZON);
  });

  it('trains a different model per window and labels its predictions with it', () => {
    const { windows, predictions } = run;
    expect(windows.map((w) => w.modelVersion)).toEqual(['wf-1', 'wf-2', 'wf-3', 'wf-4', 'wf-5']);
    expect(new Set(windows.map((w) => w.modelId)).size).toBe(5);
    expect(windows.every((w, i) => w.modelId.startsWith(`wf-${i + 1}@`))).toBe(true);
    for (const w of windows) {
      const [from, to] = w.series[0]!.testCandles;
      for (let i = from; i < to; i++) {
        expect(predictions.get(candles[i]!.symbol, candles[i]!.timestamp)?.modelVersion).toBe(w.modelVersion);
      }
      expect(w.stats.count).toBe(to - from);
    }
    expect(predictions.size).toBe(windows.at(-1)!.series[0]!.testCandles[1] - windows[0]!.series[0]!.testCandles[0]);
  });

  it('trades all test windows in one continuous run', () => {
    const { result, windows, traded } = run;
    const first = windows[0]!.series[0]!.testCandles[0];
    const end = windows.at(-1)!.series[0]!.testCandles[1];
    expect(traded).toEqual([[first, end]]);
    expect(result.candles).toBe(end - first);
    expect(result.start).toBe(candles[first]!.timestamp);
    expect(result.equityCurve).toHaveLength(end - first);
    expect(result.trades.length).toBeGreaterThan(0);
    // One account throughout: the equity curve never jumps back to the starting cash at a window boundary.
    const boundary = result.equityCurve.findIndex(
      (p) => p.timestamp === candles[windows[1]!.series[0]!.testCandles[0]]!.timestamp,
    );
    expect(result.equityCurve[boundary]!.equity).not.toBe(result.config.initialCash);
    // Every prediction's outcome resolved (the last ones from the candles after the run).
    expect(run.stats.pending).toBe(0);
    expect(run.stats.count).toBe(end - first);
  });

  it('reports ML accuracy next to the naive baselines on the same predictions, and the trading baselines', () => {
    const { result, stats } = run;
    const ml = result.sections!.find((s) => s.title.startsWith('ML predictions'))!;
    const rows = new Map(ml.rows);
    expect(rows.get('accuracy')).toBe(stats.accuracy);
    for (const label of [
      'ROC AUC',
      'precision (up)',
      'recall (up)',
      'Brier score',
      'Brier score of the base rate (a constant)',
      'log loss',
      'baseline: majority class of each training window',
      'baseline: always up',
      'baseline: the next candle reverses the last',
      'baseline: the next candle continues the last',
    ]) {
      expect(typeof rows.get(label), label).toBe('number');
    }
    expect(rows.get('baseline: always up')).toBe(stats.baseRate);
    expect(rows.get('baseline: the next candle reverses the last')).toBe(stats.reversalAccuracy);
    // Reversal and momentum call opposite directions, so (flat last candles aside) they add up to 1.
    expect(stats.reversalAccuracy! + stats.momentumAccuracy!).toBeCloseTo(1, 2);
    expect(stats.baseRateBrier).toBeCloseTo(stats.baseRate! * (1 - stats.baseRate!), 12);
    // The planted momentum is learnable: aligned features, labels and predictions beat every no-skill baseline clearly.
    expect(stats.accuracy!).toBeGreaterThan(Math.max(stats.noSkillAccuracy!, 0.5) + 0.05);
    const names = result.benchmarks.map((b) => b.name);
    expect(names).toEqual(['buy-and-hold', 'sma-crossover(10,30,long-short) at 0.2', 'always-long(0.2)']);
    const titles = result.sections!.map((s) => s.title);
    expect(titles).toEqual([
      'ML predictions, scored out of sample',
      'What the costs demand',
      'Walk-forward windows',
      'Predicted probability of up (histogram)',
      'Reliability (deciles of predicted probability, before and after calibration)',
    ]);
    const windowsSection = result.sections![2]!;
    expect(windowsSection.table!.rows).toHaveLength(5);
    expect(windowsSection.table!.columns.slice(0, 3)).toEqual(['window', 'test from', 'test to']);
    const costs = new Map(result.sections![1]!.rows);
    expect(costs.get('round trip (fees and slippage of entry and exit)')).toBeCloseTo(2 * (0.001 + 0.0005), 12);
    expect(costs.get('break-even accuracy at that move') as number).toBeGreaterThan(0.5);
    const html = renderHtmlReport(result);
    for (const id of ['equity', 'drawdown', 'section-2', 'section-3', 'section-4'])
      expect(html).toContain(`id="${id}"`);
    expect(html).toContain('before calibration: observed up rate');
    expect(html).toContain('always-long(0.2)');
  });

  it('trains windows on worker threads exactly as on the main thread; a rerun loads them from the cache', async () => {
    const options = { candles, trainWindow: 800, testWindow: 500, horizon: HORIZON, featureSet: 'relative' } as const;
    const serial = await runWalkForward({ ...options, workers: 1 });
    const cache = path.join(tmp, 'pool-cache');
    const pooled = await runWalkForward({ ...options, workers: 2, cache });
    const ids = (r: MlBacktestResult) => r.windows.map((w) => w.modelId);
    expect(ids(pooled)).toEqual(ids(serial));
    expect(pooled.result.metrics).toEqual(serial.result.metrics);
    expect(pooled.timings.cachedWindows).toBe(0);
    // The rerun finds every window in the cache (no thread needed) and gives the same run.
    const again = await runWalkForward({ ...options, workers: 2, cache });
    expect(again.timings.cachedWindows).toBe(again.windows.length);
    expect(ids(again)).toEqual(ids(serial));
    expect(again.result.metrics).toEqual(serial.result.metrics);
  });

  it('rejects windows the data cannot hold', async () => {
    await expect(runWalkForward({ candles: candles.slice(0, 500), trainWindow: 800 })).rejects.toThrow(
      /too few for a 800-step training window/,
    );
  });
});

describe('ML backtest of a registered model, API and CLI', () => {
  let registryDir: string;
  let candles: Candle[];
  beforeAll(async () => {
    candles = generateSyntheticCandles({ mode: 'planted', count: 1500, seed: 8 });
    const trained = await trainModel({ candles, kind: 'tfjs', network: TINY, name: 'tiny', seed: 1 });
    await trained.predictor.dispose();
    registryDir = path.join(tmp, 'registry');
    const registry = await ModelRegistry.open(registryDir);
    await registry.register('tiny', trained.files);
  });

  function cli(...args: string[]) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'backtest', ...args], {
      cwd: repo,
      encoding: 'utf8',
      env: { ...process.env, CI: '1', QUANTFLOW_REGISTRY: '' },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  it('runModelBacktest trades one model over several symbols and warns about in-sample data', async () => {
    const registry = await ModelRegistry.open(registryDir, { create: false });
    const { loadPredictor } = await import('../../src/registry/index.js');
    const predictor = await loadPredictor(registry, 'tiny@v1');
    try {
      const other = generateSyntheticCandles({ mode: 'regime', count: 1500, seed: 2, symbol: 'OTHER/USDT' });
      const run = await runModelBacktest({ candles: [candles, other], predictor, strategy: { threshold: 0.05 } });
      expect(run.windows).toHaveLength(1);
      expect(run.windows[0]!.modelVersion).toBe('tiny@v1');
      expect(run.result.symbols).toEqual(['SYN/USDT', 'OTHER/USDT']);
      expect(run.tracker.statsBy('symbol').size).toBe(2);
      const warnings = run.result.sections![0]!.warnings!;
      expect(warnings.join('\n')).toMatch(
        /SYN\/USDT .* overlaps the model's training period .*the same symbol: those predictions are in-sample/,
      );
      expect(warnings.join('\n')).toMatch(/OTHER\/USDT .* a different symbol in the same period/);
      expect(run.result.sections!.map((s) => s.title)).not.toContain('Walk-forward windows');
    } finally {
      await predictor.dispose();
    }
  });

  it('quantflow backtest --strategy ml --model NAME@version --registry DIR', () => {
    const out = path.join(tmp, 'model-cli');
    const r = cli(
      '--strategy',
      'ml',
      '--model',
      'tiny@v1',
      '--registry',
      registryDir,
      '--min-confidence',
      '0.1',
      '--fraction',
      '0.3',
      '--json',
      '--out',
      out,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.strategy).toBe('ml(0.1,0.3,long-only,cost-gate)');
    expect(summary.benchmarks.map((b: { name: string }) => b.name)).toEqual([
      'buy-and-hold',
      'sma-crossover(10,30,long-only) at 0.3',
      'always-long(0.3)',
    ]);
    const ml = Object.fromEntries(summary.sections[0].rows);
    expect(ml.setup).toMatch(/^model tiny@v1 /);
    expect(ml.accuracy).toBeGreaterThan(0);
    expect(summary.notes.at(-1)).toMatch(
      /^ML accuracy \d+\.\d\d% on [\d,]+ outcomes vs \d+\.\d\d% for the best naive baseline/,
    );
    expect(existsSync(path.join(out, 'report.html'))).toBe(true);
  });

  it('quantflow backtest --strategy ml (walk-forward) with a tracker file', () => {
    const out = path.join(tmp, 'wf-cli');
    const trackerFile = path.join(tmp, 'wf-cli.jsonl');
    const r = cli(
      '--strategy',
      'ml',
      '--synthetic',
      '--train-window',
      '6000',
      '--test-window',
      '4000',
      '--horizon',
      '2',
      '--stop-loss',
      '0.05',
      '--max-hold',
      '48',
      '--tracker',
      trackerFile,
      '--cache',
      path.join(tmp, 'cache'),
      '--out',
      out,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Backtest: ml\(0,0\.1,long-only,cost-gate\) on SYN\/USDT \(1h\)/);
    expect(r.stdout).toMatch(
      /walk-forward: 4 windows \(logistic, direction\), train 6000 \/ test 4000 steps of 1h, horizon 2, embargo 2/,
    );
    expect(r.stdout).toMatch(/walk-forward: 4 models trained in/);
    const result = JSON.parse(readFileSync(path.join(out, 'result.json'), 'utf8'));
    // Rows start after the core set's 401-candle history; the last, shorter window is traded too.
    expect(result.candles).toBe(20_000 - 401 - 6000 - 2 - 2);
    const reopened = PredictionTracker.open(trackerFile);
    expect(reopened.stats().count).toBe(result.candles);
    expect([...reopened.statsBy('modelVersion').keys()]).toEqual(['wf-1', 'wf-2', 'wf-3', 'wf-4']);
    reopened.close();
    // The same run again reads every window's model from the cache and gives the same result.
    const out2 = path.join(tmp, 'wf-cli-2');
    const cachedRun = cli(
      '--strategy',
      'ml',
      '--synthetic',
      '--train-window',
      '6000',
      '--test-window',
      '4000',
      '--horizon',
      '2',
      '--stop-loss',
      '0.05',
      '--max-hold',
      '48',
      '--cache',
      path.join(tmp, 'cache'),
      '--out',
      out2,
    );
    expect(cachedRun.code).toBe(0);
    expect(cachedRun.stdout).toMatch(/walk-forward: 4 models trained in [\d.]+ s \(4 read from the cache /);
    const second = JSON.parse(readFileSync(path.join(out2, 'result.json'), 'utf8'));
    expect(second.metrics).toEqual(result.metrics);
    // The journal holds one run: a second run must use a new file.
    const again = cli('--strategy', 'ml', '--tracker', trackerFile, '--out', out);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/tracker file already holds predictions/);
  });

  it('refuses ML flags with another strategy and walk-forward flags with --model', () => {
    const sma = cli('--strategy', 'sma', '--min-confidence', '0.5', '--out', path.join(tmp, 'x'));
    expect(sma.code).toBe(1);
    expect(sma.stderr.trim()).toBe("error: field 'minConfidence': --min-confidence applies to --strategy ml only");
    // The old name still works, with a notice.
    const old = cli('--strategy', 'sma', '--threshold', '0.5', '--out', path.join(tmp, 'x'));
    expect(old.stderr).toMatch(/^notice: --threshold is now --min-confidence/);
    const epochs = cli('--strategy', 'ml', '--synthetic', '--epochs', '3', '--out', path.join(tmp, 'x'));
    expect(epochs.stderr.trim()).toBe("error: field 'epochs': --epochs applies to --kind tfjs, not logistic");
    const model = cli('--strategy', 'ml', '--model', 'tiny', '--registry', registryDir, '--train-window', '100');
    expect(model.code).toBe(1);
    expect(model.stderr.trim()).toBe(
      "error: field 'trainWindow': --train-window applies to walk-forward training, not to a registered --model",
    );
  });
});
