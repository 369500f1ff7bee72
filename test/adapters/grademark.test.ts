/**
 * The ML strategy inside grademark's own `backtest(strategy, DataFrame)`:
 * predictions attached to the bars are the streaming predictor's, made in bar
 * order (no look-ahead: a bar's prediction does not change when later bars are
 * cut off or altered); every grademark trade enters at the open of the bar
 * after a BUY signal and leaves at the open of the bar after the signals left
 * the position; every BUY grademark could act on was acted on. Real BTC 1h
 * candles from ../shared/data when present, else the synthetic market. Runs
 * entirely offline: grademark and data-forge are installed devDependencies.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataFrame } from 'data-forge';
import { backtest } from 'grademark';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createGrademarkStrategy,
  type GrademarkBar,
  predictBars,
  runGrademarkBacktest,
} from '../../src/adapters/grademark.js';
import type { Candle } from '../../src/core/types.js';
import { generateSyntheticCandles, writeCandlesCsv } from '../../src/data/index.js';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import { RealtimePredictor } from '../../src/models/realtime-predictor.js';
import { trainModel } from '../../src/models/train.js';
import { hasSharedData, loadSharedCandles } from '../helpers/shared-data.js';

const SHARED = 'binance_BTC-USDT_1h.csv';
const TRAIN = 1500;
const TEST = 1200;
/** Low enough that a tiny model gives plenty of BUY and SELL signals. */
const THRESHOLD = 0.05;

let all: Candle[];
let train: Candle[];
let test: Candle[];
let model: ModelPredictor;
let dir: string;
let source: string;

beforeAll(async () => {
  if (hasSharedData(SHARED)) {
    const loaded = (await loadSharedCandles(SHARED)).candles;
    all = loaded.slice(-(TRAIN + TEST));
    source = `../shared/data/${SHARED}`;
  } else {
    all = generateSyntheticCandles({ count: TRAIN + TEST, seed: 5 });
    source = 'synthetic';
  }
  train = all.slice(0, TRAIN);
  test = all.slice(TRAIN);
  const trained = await trainModel({
    candles: train,
    seed: 3,
    name: 'grademark-tiny',
    lookback: 2,
    featureSet: 'relative',
    kind: 'tfjs',
    calibration: 'none',
    network: { layers: [16, 8], epochs: 4, earlyStopping: false, learningRate: 0.01 },
  });
  model = trained.predictor;
  dir = await mkdtemp(path.join(tmpdir(), 'qf-grademark-'));
});

afterAll(async () => {
  await model?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const indexByTime = (bars: readonly GrademarkBar[]) => new Map(bars.map((b, i) => [b.time.getTime(), i]));

describe('predictBars: predictions made in bar order', () => {
  it('equal the streaming predictor fed one candle at a time', async () => {
    const bars = await predictBars(test, { predictor: new RealtimePredictor(model), threshold: THRESHOLD });
    const streaming = new RealtimePredictor(model);
    let predicted = 0;
    for (let i = 0; i < test.length; i++) {
      const p = await streaming.onCandle(test[i] as Candle);
      const b = bars[i] as GrademarkBar;
      expect(b.timestamp).toBe((test[i] as Candle).timestamp);
      expect(b.prediction?.prediction).toBe(p?.prediction);
      if (p !== undefined) {
        predicted++;
        expect(b.prediction?.timestamp).toBe(b.timestamp);
        const sure = p.confidence >= THRESHOLD;
        expect(b.signal).toBe(sure && p.prediction > 0.5 ? 'BUY' : sure && p.prediction < 0.5 ? 'SELL' : 'HOLD');
      } else expect(b.signal).toBe('HOLD');
    }
    expect(predicted).toBeGreaterThan(test.length - 100);
  });

  it('do not change when later bars are cut off or altered (no look-ahead)', async () => {
    const full = await predictBars(test, { predictor: new RealtimePredictor(model), threshold: THRESHOLD });
    for (const k of [150, 600]) {
      const prefix = await predictBars(test.slice(0, k), {
        predictor: new RealtimePredictor(model),
        threshold: THRESHOLD,
      });
      expect(prefix).toEqual(full.slice(0, k));
      // The future rewritten: a crash after bar k changes nothing up to bar k.
      const altered = test.map((c, i) =>
        i < k ? c : { ...c, open: c.open * 0.5, high: c.high * 0.5, low: c.low * 0.5, close: c.close * 0.5 },
      );
      const again = await predictBars(altered, { predictor: new RealtimePredictor(model), threshold: THRESHOLD });
      expect(again.slice(0, k)).toEqual(full.slice(0, k));
      expect(again.slice(k + 30).map((b) => b.prediction?.prediction)).not.toEqual(
        full.slice(k + 30).map((b) => b.prediction?.prediction),
      );
    }
  });
});

describe(`grademark backtest of the ML strategy (${hasSharedData(SHARED) ? 'BTC 1h' : 'synthetic'} candles)`, () => {
  it('enters only at the open after a BUY and exits at the open after the signals turned', async () => {
    const csv = path.join(dir, 'binance_BTC-USDT_1h.csv');
    await writeCandlesCsv(csv, test);
    const run = await runGrademarkBacktest({ model: { predictor: model }, dataFile: csv, threshold: THRESHOLD });
    const { bars, trades } = run;
    expect(bars.length).toBe(test.length);
    expect(run.signals.buy).toBeGreaterThan(20);
    expect(run.signals.sell).toBeGreaterThan(20);
    expect(trades.length).toBeGreaterThan(5);
    const at = indexByTime(bars);
    const spans: Array<[number, number]> = [];
    for (const t of trades) {
      expect(t.direction).toBe('long');
      const e = at.get(t.entryTime.getTime()) as number;
      const x = at.get(t.exitTime.getTime()) as number;
      expect(e).toBeGreaterThanOrEqual(1);
      // Entry: the bar before had a BUY; filled at this bar's open.
      expect(bars[e - 1]?.signal).toBe('BUY');
      expect(t.entryPrice).toBe(bars[e]?.open);
      if (t.exitReason === 'exit-rule') {
        // Exit: the signals left the long on the bar before (a SELL since the entry signal) ...
        expect(bars[x - 1]?.side).toBe(0);
        expect(bars.slice(e, x).some((b) => b.signal === 'SELL')).toBe(true);
        // ... at the first bar grademark evaluated its exit rule (it skips the entry bar).
        for (let j = e + 1; j < x - 1; j++) expect(bars[j]?.side).toBe(1);
        expect(t.exitPrice).toBe(bars[x]?.open);
      } else {
        expect(t.exitReason).toBe('finalize');
        expect(x).toBe(bars.length - 1);
        expect(t.exitPrice).toBe(bars[x]?.close);
      }
      spans.push([e, x]);
    }
    // Every BUY on a bar where grademark evaluated its entry rule led to an entry at the next open.
    const entries = new Set(spans.map(([e]) => e));
    let taken = 0;
    for (let i = 0; i < bars.length - 1; i++) {
      if (bars[i]?.signal !== 'BUY') continue;
      const busy = spans.some(([e, x]) => i >= e && i <= x);
      if (!busy) {
        expect(entries.has(i + 1)).toBe(true);
        taken++;
      }
    }
    expect(taken).toBe(trades.length);
  });

  it("uses grademark's intrabar stop loss and profit target, and shorts with allowShort", async () => {
    const bars = await predictBars(test, {
      predictor: new RealtimePredictor(model),
      threshold: THRESHOLD,
      allowShort: true,
    });
    const strategy = createGrademarkStrategy({
      allowShort: true,
      stopLoss: 0.01,
      takeProfit: 0.015,
      maxHoldCandles: 24,
    });
    const trades = backtest(strategy, new DataFrame<number, GrademarkBar>(bars));
    const at = indexByTime(bars);
    const reasons = new Set(trades.map((t) => t.exitReason));
    expect(reasons.has('stop-loss')).toBe(true);
    expect(trades.some((t) => t.direction === 'short')).toBe(true);
    for (const t of trades) {
      const e = at.get(t.entryTime.getTime()) as number;
      expect(bars[e - 1]?.signal).toBe(t.direction === 'long' ? 'BUY' : 'SELL');
      const sign = t.direction === 'long' ? 1 : -1;
      if (t.exitReason === 'stop-loss') expect(t.exitPrice).toBeCloseTo(t.entryPrice * (1 - sign * 0.01), 9);
      if (t.exitReason === 'profit-target') expect(t.exitPrice).toBeCloseTo(t.entryPrice * (1 + sign * 0.015), 9);
      expect(t.holdingPeriod).toBeLessThanOrEqual(24);
    }
  });

  it(`runs on ${source === 'synthetic' ? 'the synthetic market' : 'the shared data'} from a model directory`, async () => {
    const { writeModelDirectory } = await import('../../src/models/model-files.js');
    const trained = await trainModel({
      candles: train,
      seed: 3,
      name: 'grademark-tiny',
      lookback: 2,
      featureSet: 'relative',
      kind: 'tfjs',
      calibration: 'none',
      network: { layers: [16, 8], epochs: 4, earlyStopping: false, learningRate: 0.01 },
    });
    const modelDir = path.join(dir, 'model');
    await writeModelDirectory(modelDir, trained.files);
    await trained.predictor.dispose();
    const run = await runGrademarkBacktest({ model: { modelDir }, candles: test.slice(0, 300), threshold: THRESHOLD });
    expect(run.modelVersion).toMatch(/^grademark-tiny@/);
    expect(run.bars.filter((b) => b.prediction !== undefined).length).toBeGreaterThan(250);
  });
});
