/**
 * RealtimePredictor (streaming) and PrecomputedPredictor (batch) with real
 * TensorFlow.js models: the same predictions candle by candle as in one batch,
 * warm-up, many symbols at once, bounded buffers, intrabar ticks that never
 * disturb the closed-candle state, predictions stamped with candle time.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DataError, ModelError } from '../../src/core/errors.js';
import type { Candle, Prediction, Tick } from '../../src/core/types.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { buildDataset } from '../../src/features/dataset.js';
import { RELATIVE_SCHEMA } from '../../src/features/feature-sets.js';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import { PrecomputedPredictor, seriesInputs } from '../../src/models/precomputed-predictor.js';
import type { Predictor } from '../../src/models/predictor.js';
import { RealtimePredictor } from '../../src/models/realtime-predictor.js';
import { trainTinyModel } from '../helpers/ml-models.js';
import { hasSharedData, loadSharedCandles } from '../helpers/shared-data.js';

const THRESHOLD = 0.2;
const decision = (p: Prediction) =>
  p.confidence >= THRESHOLD ? (p.prediction > 0.5 ? 'BUY' : p.prediction < 0.5 ? 'SELL' : 'HOLD') : 'HOLD';

/** Every candle through a fresh streaming predictor, one at a time. */
async function stream(predictor: Predictor, candles: readonly Candle[]): Promise<Map<number, Prediction>> {
  const live = new RealtimePredictor(predictor);
  const out = new Map<number, Prediction>();
  for (const c of candles) {
    const p = await live.onCandle(c);
    if (p !== undefined) out.set(c.timestamp, p);
  }
  return out;
}

/** Batch and streaming give the same predictions (float tolerance) and the same decisions. */
async function expectParity(model: ModelPredictor, candles: readonly Candle[]): Promise<void> {
  const batchSpy = vi.spyOn(model, 'predictBatch');
  const batch = await PrecomputedPredictor.fromSeries(model, [candles]);
  expect(batchSpy).toHaveBeenCalledTimes(1);
  expect(batch.batchCalls).toBe(1);
  batchSpy.mockRestore();
  const live = await stream(model, candles);
  const warm = new RealtimePredictor(model).warmupCandles;
  expect(live.size).toBe(candles.length - warm + 1);
  expect(batch.size).toBe(live.size);
  expect(live.has(candles[warm - 2]!.timestamp)).toBe(false);
  expect(live.has(candles[warm - 1]!.timestamp)).toBe(true);
  let maxDiff = 0;
  let acted = 0;
  for (const [t, p] of live) {
    const b = batch.get(p.symbol, t);
    expect(b).toBeDefined();
    maxDiff = Math.max(maxDiff, Math.abs(b!.prediction - p.prediction));
    expect(decision(b!)).toBe(decision(p));
    if (decision(p) !== 'HOLD') acted++;
    expect(b!.timestamp).toBe(p.timestamp);
    expect(b!.modelVersion).toBe(p.modelVersion);
  }
  expect(maxDiff).toBeLessThan(1e-5);
  // The comparison means something only if the model does call directions at this threshold.
  expect(acted).toBeGreaterThan(live.size / 20);
}

describe('RealtimePredictor vs PrecomputedPredictor (synthetic)', () => {
  let candles: Candle[];
  let model: ModelPredictor;
  let model3: ModelPredictor;
  beforeAll(async () => {
    candles = generateSyntheticCandles({ mode: 'planted', count: 2500, seed: 5, strength: 0.3 });
    model = await trainTinyModel(candles.slice(0, 1500));
    model3 = await trainTinyModel(candles.slice(0, 1500), { lookback: 3, horizon: 2, featureSet: 'seed' });
  });
  afterAll(async () => {
    await model?.dispose();
    await model3?.dispose();
  });

  it('streaming candle by candle equals one predictBatch call (lookback 1)', async () => {
    await expectParity(model, candles);
  });

  it('streaming equals batch with a lookback of 3 rows and the seed feature set', async () => {
    expect(model3.meta.lookback).toBe(3);
    await expectParity(model3, candles);
  });

  it('stamps predictions with the candle open time, never the wall clock', async () => {
    const live = new RealtimePredictor(model);
    const now = vi.spyOn(Date, 'now');
    let last: Prediction | undefined;
    for (const c of candles.slice(0, 200)) last = (await live.onCandle(c)) ?? last;
    expect(now).not.toHaveBeenCalled();
    now.mockRestore();
    expect(last!.timestamp).toBe(candles[199]!.timestamp);
    expect(last!.confidence).toBe(Math.abs(last!.prediction - 0.5) * 2);
    expect(last!.modelVersion).toBe(model.modelVersion);
  });

  it('warmUp feeds history without predicting; the next candle predicts as if streamed', async () => {
    const live = new RealtimePredictor(model);
    const predict = vi.spyOn(model, 'predict');
    live.warmUp(candles.slice(0, 300));
    expect(predict).not.toHaveBeenCalled();
    predict.mockRestore();
    expect(live.ready('SYN/USDT')).toBe(true);
    expect(live.candleCount('SYN/USDT')).toBe(300);
    const p = await live.onCandle(candles[300]!);
    const batch = await PrecomputedPredictor.fromSeries(model, [candles.slice(0, 301)]);
    expect(p!.prediction).toBeCloseTo(batch.get('SYN/USDT', candles[300]!.timestamp)!.prediction, 5);
  });

  it('keeps a bounded candle buffer per symbol', async () => {
    const live = new RealtimePredictor(model, { bufferSize: 50 });
    live.warmUp(candles.slice(0, 120));
    const recent = live.recentCandles('SYN/USDT');
    expect(recent).toHaveLength(50);
    expect(recent[0]).toBe(candles[70]);
    expect(recent[49]).toBe(candles[119]);
    expect(new RealtimePredictor(model).bufferSize).toBe(100);
    expect(() => new RealtimePredictor(model, { bufferSize: 0 })).toThrow(/bufferSize must be an integer >= 1/);
  });

  it('serves many symbols at once, each as if it were alone', async () => {
    const other = generateSyntheticCandles({ mode: 'regime', count: 400, seed: 9, symbol: 'OTHER/USDT' });
    const mine = candles.slice(0, 400);
    const live = new RealtimePredictor(model);
    const got = new Map<string, Prediction[]>([
      ['SYN/USDT', []],
      ['OTHER/USDT', []],
    ]);
    // Interleaved, OTHER starting later: each symbol keeps its own warm-up and features.
    for (let i = 0; i < 400; i++) {
      const a = await live.onCandle(mine[i]!);
      if (a !== undefined) got.get('SYN/USDT')!.push(a);
      if (i >= 50) {
        const b = await live.onCandle(other[i - 50]!);
        if (b !== undefined) got.get('OTHER/USDT')!.push(b);
      }
    }
    expect(live.symbols().sort()).toEqual(['OTHER/USDT', 'SYN/USDT']);
    const alone = await stream(model, mine);
    const aloneOther = await stream(model, other.slice(0, 350));
    expect(got.get('SYN/USDT')!.map((p) => p.prediction)).toEqual([...alone.values()].map((p) => p.prediction));
    expect(got.get('OTHER/USDT')!.map((p) => p.prediction)).toEqual([...aloneOther.values()].map((p) => p.prediction));
    expect(got.get('OTHER/USDT')!.every((p) => p.symbol === 'OTHER/USDT')).toBe(true);
  });

  it('rejects an out-of-order candle with a DataError and keeps its state', async () => {
    const live = new RealtimePredictor(model);
    live.warmUp(candles.slice(0, 100));
    expect(() => live.onCandle(candles[50]!)).toThrow(DataError);
    const p = await live.onCandle(candles[100]!);
    const alone = await stream(model, candles.slice(0, 101));
    expect(p!.prediction).toBe(alone.get(candles[100]!.timestamp)!.prediction);
  });

  it('refuses a predictor whose input width does not fit its schema and lookback', () => {
    const broken = { ...model, meta: model.meta, inputWidth: 5, predict: model.predict } as unknown as Predictor;
    expect(() => new RealtimePredictor(broken)).toThrow(ModelError);
  });
});

describe('intrabar predictions on ticks', () => {
  let candles: Candle[];
  let model: ModelPredictor;
  beforeAll(async () => {
    candles = generateSyntheticCandles({ mode: 'planted', count: 1200, seed: 3 });
    model = await trainTinyModel(candles.slice(0, 800), { lookback: 2 });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  const ticksFor = (c: Candle, prev: Candle): Tick[] => {
    const at = (k: number) => c.timestamp + k * 60_000;
    return [
      { symbol: c.symbol, timestamp: at(1), bid: c.open, ask: c.open, last: c.open },
      { symbol: c.symbol, timestamp: at(20), bid: c.high, ask: c.high, last: c.high },
      { symbol: c.symbol, timestamp: at(40), bid: c.low, ask: c.low, last: c.low },
      { symbol: c.symbol, timestamp: at(59), bid: prev.close, ask: prev.close, last: c.close },
    ];
  };

  it('predict on ticks from the forming candle without changing closed-candle predictions', async () => {
    const withTicks = new RealtimePredictor(model, { intrabar: true });
    const plain = new RealtimePredictor(model);
    const history = candles.slice(0, 200);
    withTicks.warmUp(history);
    plain.warmUp(history);
    let intrabar = 0;
    for (let i = 200; i < 260; i++) {
      const c = candles[i]!;
      for (const tick of ticksFor(c, candles[i - 1]!)) {
        const p = await withTicks.onTick(tick);
        expect(p).toBeDefined();
        expect(p!.timestamp).toBe(c.timestamp);
        intrabar++;
      }
      const forming = withTicks.formingCandle(c.symbol)!;
      expect([forming.timestamp, forming.open, forming.high, forming.low, forming.close]).toEqual([
        c.timestamp,
        c.open,
        c.high,
        c.low,
        c.close,
      ]);
      const a = await withTicks.onCandle(c);
      const b = await plain.onCandle(c);
      expect(a!.prediction).toBe(b!.prediction);
      expect(withTicks.formingCandle(c.symbol)).toBeUndefined();
    }
    expect(intrabar).toBe(240);
  });

  it('an intrabar prediction on a forming candle equal to the final one matches the close prediction', async () => {
    const live = new RealtimePredictor(model, { intrabar: true });
    live.warmUp(candles.slice(0, 300));
    const prev = candles[299]!;
    // Ticks carry no volume: the forming candle uses the previous volume, so give the final candle that volume.
    const c: Candle = { ...candles[300]!, volume: prev.volume };
    let last: Prediction | undefined;
    for (const tick of ticksFor(c, prev)) last = await live.onTick(tick);
    const closed = await live.onCandle(c);
    expect(last!.prediction).toBe(closed!.prediction);
    expect(last!.timestamp).toBe(closed!.timestamp);
  });

  it('by default ticks only update the forming candle; stale ticks are ignored', async () => {
    const live = new RealtimePredictor(model);
    live.warmUp(candles.slice(0, 300));
    const c = candles[300]!;
    expect(live.onTick({ symbol: c.symbol, timestamp: c.timestamp + 1000, bid: 1, ask: 1, last: 101 })).toBeUndefined();
    expect(live.formingCandle(c.symbol)?.close).toBe(101);
    // A tick of the already closed candle 299.
    expect(live.onTick({ symbol: c.symbol, timestamp: candles[299]!.timestamp + 5, bid: 1, ask: 1, last: 1 })).toBe(
      undefined,
    );
    expect(live.formingCandle(c.symbol)?.low).toBe(101);
    expect(live.onTick({ symbol: 'NEW/USDT', timestamp: 0, bid: 1, ask: 1, last: 1 })).toBeUndefined();
    expect(() => live.onTick({ symbol: c.symbol, timestamp: c.timestamp + 2000, bid: 1, ask: 1, last: -1 })).toThrow(
      DataError,
    );
  });
});

describe.skipIf(!hasSharedData('binance_BTC-USDT_1h.csv'))('RealtimePredictor vs batch on real BTC/USDT 1h', () => {
  it('gives the same predictions and decisions candle by candle as in one batch', async () => {
    const { candles } = await loadSharedCandles('binance_BTC-USDT_1h.csv');
    const slice = candles.slice(20_000, 22_500);
    const model = await trainTinyModel(slice.slice(0, 1500));
    try {
      await expectParity(model, slice);
    } finally {
      await model.dispose();
    }
  });
});

describe('seriesInputs', () => {
  it('gives every candle the same input the training dataset has for it', () => {
    const candles = generateSyntheticCandles({ count: 300, seed: 1 });
    const ds = buildDataset(candles, { featureSet: 'relative', horizon: 1, lookback: 3 });
    const inputs = seriesInputs(candles, RELATIVE_SCHEMA, 3);
    expect(inputs.width).toBe(ds.cols);
    expect(inputs.first).toBe(ds.candleIndex[0]);
    expect(inputs.values.subarray(0, inputs.first * inputs.width).every((v) => v === 0)).toBe(true);
    for (let r = 0; r < ds.rows; r++) {
      const t = ds.candleIndex[r]!;
      expect(inputs.values.subarray(t * ds.cols, (t + 1) * ds.cols)).toEqual(
        ds.features.subarray(r * ds.cols, (r + 1) * ds.cols),
      );
    }
  });
});
