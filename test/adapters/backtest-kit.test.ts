/**
 * The backtest-kit adapter against a double of backtest-kit's documented
 * contract (test/adapters/backtest-kit-double.ts): the real package could not
 * be installed here. Checks: every answer passes backtest-kit's signal
 * validation; a position opens exactly when the streaming predictor's call on
 * the last closed candle is BUY (SELL with shorts), with TP/SL around the
 * current price; candles skipped while a position was open are caught up
 * (predictions still equal the streaming predictor's); symbols run
 * concurrently without mixing; registration through addStrategySchema or the
 * older addStrategy; a clear error when backtest-kit is absent.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BacktestKitCandle,
  createBacktestKitStrategy,
  registerBacktestKitStrategy,
} from '../../src/adapters/backtest-kit.js';
import { ConfigError } from '../../src/core/errors.js';
import type { Candle, Prediction, Signal } from '../../src/core/types.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { writeModelDirectory } from '../../src/models/model-files.js';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import { RealtimePredictor } from '../../src/models/realtime-predictor.js';
import { trainModel } from '../../src/models/train.js';
import { BacktestKitDouble } from './backtest-kit-double.js';

const HOUR = 3_600_000;
const THRESHOLD = 0.05;
const SYMBOLS = ['BTCUSDT', 'ETHUSDT'] as const;

let model: ModelPredictor;
let files: Awaited<ReturnType<typeof trainModel>>['files'];
const series = new Map<string, Candle[]>();
let dir: string;

beforeAll(async () => {
  SYMBOLS.forEach((symbol, k) => {
    series.set(symbol, generateSyntheticCandles({ count: 900, seed: 20 + k, symbol, mode: 'planted', strength: 0.4 }));
  });
  const trained = await trainModel({
    candles: (series.get('BTCUSDT') as Candle[]).slice(0, 400),
    seed: 9,
    name: 'bk-tiny',
    featureSet: 'relative',
    kind: 'tfjs',
    calibration: 'none',
    network: { layers: [8], epochs: 3, earlyStopping: false, learningRate: 0.01 },
  });
  model = trained.predictor;
  files = trained.files;
  dir = await mkdtemp(path.join(tmpdir(), 'qf-backtest-kit-'));
});

afterAll(async () => {
  await model?.dispose();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function double(): BacktestKitDouble {
  const data = new Map<string, BacktestKitCandle[]>();
  for (const [symbol, candles] of series) {
    data.set(
      symbol,
      candles.map(({ timestamp, open, high, low, close, volume }) => ({ timestamp, open, high, low, close, volume })),
    );
  }
  return new BacktestKitDouble(data, '1h');
}

/** Predictions of a fresh streaming predictor fed every candle, by symbol and open time. */
async function streamingPredictions(): Promise<Map<string, Prediction>> {
  const out = new Map<string, Prediction>();
  const p = new RealtimePredictor(model);
  for (const [, candles] of series) {
    for (const c of candles) {
      const pr = await p.onCandle(c);
      if (pr !== undefined) out.set(`${c.symbol} ${c.timestamp}`, pr);
    }
  }
  return out;
}

const start = (i: number) => (series.get('BTCUSDT') as Candle[])[i]?.timestamp as number;

describe('backtest-kit adapter (against a double of the documented contract)', () => {
  it('opens a position exactly on the BUY calls of the last closed candle, with TP/SL around the price', async () => {
    const kit = double();
    const signals: Signal[] = [];
    const strategy = createBacktestKitStrategy({
      strategyName: 'ml-btc',
      predictor: new RealtimePredictor(model),
      getCandles: kit.getCandles,
      timeframe: '1h',
      threshold: THRESHOLD,
      takeProfit: 0.02,
      stopLoss: 0.01,
      maxHoldCandles: 12,
      onSignal: (s) => signals.push(s),
    });
    expect(strategy.interval).toBe('1h');
    kit.addStrategySchema(strategy);
    await kit.backtest('ml-btc', ['BTCUSDT'], start(400), start(899));
    await strategy.close();

    const truth = await streamingPredictions();
    expect(kit.calls.length).toBeGreaterThan(100);
    expect(kit.positions.length).toBeGreaterThan(10);
    // Never a candle not closed at `when`.
    for (const s of kit.served) expect(s.latest).toBeLessThanOrEqual(s.when - HOUR);
    // The first call asked for the warm-up history, later ones only for what closed since.
    expect(kit.served[0]?.limit).toBeGreaterThanOrEqual(300);
    expect(Math.max(...kit.served.slice(1).map((s) => s.limit))).toBeGreaterThan(1);

    expect(signals.length).toBe(kit.calls.length);
    kit.calls.forEach((call, i) => {
      const s = signals[i] as Signal;
      // The decision is the one on the candle that closed at `when` ...
      expect(s.timestamp).toBe(call.when - HOUR);
      // ... and its prediction is the streaming predictor's, catch-up after positions included.
      const p = truth.get(`BTCUSDT ${call.when - HOUR}`) as Prediction;
      expect(s.prediction?.prediction).toBeCloseTo(p.prediction, 6);
      const buy = p.confidence >= THRESHOLD && p.prediction > 0.5;
      if (buy) {
        expect(call.answer).toMatchObject({ position: 'long', minuteEstimatedTime: 12 * 60 });
        expect(call.answer?.priceTakeProfit).toBeCloseTo(call.currentPrice * 1.02, 9);
        expect(call.answer?.priceStopLoss).toBeCloseTo(call.currentPrice * 0.99, 9);
        expect(call.answer?.note).toMatch(/^quantflow ml BUY: bk-tiny@[0-9a-f]{12} p\(up\) 0\.\d{4}, confidence/);
      } else expect(call.answer).toBeNull();
    });
    const reasons = new Set(kit.positions.map((p) => p.closeReason));
    expect(reasons.has('take_profit') || reasons.has('stop_loss')).toBe(true);
  });

  it('opens shorts on SELL with allowShort, and runs symbols concurrently without mixing them', async () => {
    const kit = double();
    const strategy = createBacktestKitStrategy({
      strategyName: 'ml-both',
      predictor: new RealtimePredictor(model),
      getCandles: kit.getCandles,
      timeframe: '1h',
      threshold: THRESHOLD,
      allowShort: true,
      stopLoss: 0.015,
    });
    kit.addStrategySchema(strategy);
    await kit.backtest('ml-both', SYMBOLS, start(400), start(899));
    await strategy.close();

    const truth = await streamingPredictions();
    for (const symbol of SYMBOLS) {
      const opened = kit.positions.filter((p) => p.symbol === symbol);
      expect(opened.some((p) => p.signal.position === 'short')).toBe(true);
      expect(opened.some((p) => p.signal.position === 'long')).toBe(true);
      for (const p of opened) {
        const pr = truth.get(`${symbol} ${p.openedAt - HOUR}`) as Prediction;
        expect(pr.confidence).toBeGreaterThanOrEqual(THRESHOLD);
        expect(p.signal.position).toBe(pr.prediction > 0.5 ? 'long' : 'short');
        if (p.signal.position === 'short') {
          expect(p.signal.priceTakeProfit).toBeLessThan(p.priceOpen);
          expect(p.signal.priceStopLoss).toBeCloseTo(p.priceOpen * 1.015, 9);
        }
      }
    }
  });

  it('registers through addStrategySchema or addStrategy, loading the model from a directory', async () => {
    const modelDir = path.join(dir, 'model');
    await writeModelDirectory(modelDir, files);
    const kit = double();
    const older = { addStrategy: kit.addStrategy, getCandles: kit.getCandles };
    const strategy = await registerBacktestKitStrategy({
      strategyName: 'ml-dir',
      model: { modelDir },
      backtestKit: older,
      timeframe: '1h',
      threshold: THRESHOLD,
    });
    expect(kit.schemas.get('ml-dir')?.interval).toBe('1h');
    await kit.backtest('ml-dir', ['BTCUSDT'], start(400), start(500));
    expect(kit.calls.length).toBeGreaterThan(10);
    await strategy.close();
    await strategy.close();
    await expect(strategy.getSignal('BTCUSDT', new Date(start(501)), 100)).rejects.toThrow(/closed/);
  });

  it('says clearly when backtest-kit is missing, and refuses bad options', async () => {
    await expect(
      registerBacktestKitStrategy({ strategyName: 'x', model: { predictor: model }, timeframe: '1h' }),
    ).rejects.toThrow(/backtest-kit is not installed/);
    const base = {
      strategyName: 's',
      predictor: new RealtimePredictor(model),
      getCandles: async () => [],
      timeframe: '1h',
    } as const;
    expect(() => createBacktestKitStrategy({ ...base, stopLoss: 1.5 })).toThrow(ConfigError);
    expect(() => createBacktestKitStrategy({ ...base, takeProfit: 0 })).toThrow(ConfigError);
    expect(() => createBacktestKitStrategy({ ...base, interval: '4h' as never })).toThrow(/interval/);
    expect(() => createBacktestKitStrategy({ ...base, getCandles: undefined as never })).toThrow(/getCandles/);
    expect(createBacktestKitStrategy({ ...base, timeframe: '4h' }).interval).toBe('1h');
  });
});
