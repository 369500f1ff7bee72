/**
 * Speed of an ML backtest (no walk-forward): a trained model of the default
 * kind (logistic) over 100,000 synthetic candles. Timed without training: the batch path (features
 * of every candle from the streaming extractor, ONE predictBatch call) plus the
 * engine run of the ML strategy (simulated broker, fees, slippage, equity
 * curve), best of 3 passes. Baseline measured in the same run: the SMA
 * crossover through the same engine over the same candles. Also shown: the
 * same backtest with a prediction tracker, and the streaming predictor's rate
 * (one awaited predict per candle, as in live trading).
 * Run: npx tsx test/bench/ml-backtest.bench.ts
 */
import { pathToFileURL } from 'node:url';
import type { Candle } from '../../src/core/types.js';
import { generateSyntheticCandles } from '../../src/data/index.js';
import { replay } from '../../src/engine/replay.js';
import { DEFAULT_BACKTEST_CONFIG } from '../../src/engine/result.js';
import { createSimulation } from '../../src/engine/simulation.js';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import { PrecomputedPredictor } from '../../src/models/precomputed-predictor.js';
import { RealtimePredictor } from '../../src/models/realtime-predictor.js';
import { trainModel } from '../../src/models/train.js';
import { PredictionTracker } from '../../src/tracking/prediction-tracker.js';
import { MlStrategy } from '../../strategies/ml-strategy.js';
import { SmaCrossover } from '../../strategies/sma-crossover.js';

const CANDLES = 100_000;
const TRAIN = 5_000;
const STREAM = 5_000;
const GOAL_SECONDS = 2;
const PASSES = 3;
const CONFIG = { ...DEFAULT_BACKTEST_CONFIG, closeAtEnd: true };

interface MlRun {
  seconds: number;
  predictSeconds: number;
  engineSeconds: number;
  trades: number;
  predictions: number;
}

async function mlBacktest(model: ModelPredictor, candles: readonly Candle[], tracked: boolean): Promise<MlRun> {
  let best: MlRun | undefined;
  for (let pass = 0; pass < PASSES; pass++) {
    const t0 = performance.now();
    const predictions = await PrecomputedPredictor.fromSeries(model, [candles]);
    const t1 = performance.now();
    const strategy = new MlStrategy({
      predictor: predictions,
      threshold: 0.02,
      fraction: 0.1,
      stopLoss: 0.03,
      maxHoldCandles: 48,
      ...(tracked ? { tracker: new PredictionTracker() } : {}),
    });
    const sim = createSimulation(CONFIG, strategy, { expectedTimestamps: candles.length });
    await replay(sim.engine, candles, { closeAtEnd: true });
    const t2 = performance.now();
    const run = {
      seconds: (t2 - t0) / 1000,
      predictSeconds: (t1 - t0) / 1000,
      engineSeconds: (t2 - t1) / 1000,
      trades: sim.portfolio.trades.length,
      predictions: predictions.size,
    };
    if (!Number.isFinite(sim.portfolio.equity)) throw new Error('non-finite final equity');
    if (best === undefined || run.seconds < best.seconds) best = run;
  }
  return best as MlRun;
}

async function smaBaseline(candles: readonly Candle[]): Promise<{ seconds: number; trades: number }> {
  let best = { seconds: Number.POSITIVE_INFINITY, trades: 0 };
  for (let pass = 0; pass < PASSES; pass++) {
    const sim = createSimulation(CONFIG, new SmaCrossover({ fraction: 0.1 }), { expectedTimestamps: candles.length });
    const t0 = performance.now();
    await replay(sim.engine, candles, { closeAtEnd: true });
    const seconds = (performance.now() - t0) / 1000;
    if (seconds < best.seconds) best = { seconds, trades: sim.portfolio.trades.length };
  }
  return best;
}

async function streamingRate(model: ModelPredictor, candles: readonly Candle[]): Promise<number> {
  const live = new RealtimePredictor(model);
  live.warmUp(candles.slice(0, 100));
  const t0 = performance.now();
  for (let i = 100; i < candles.length; i++) await live.onCandle(candles[i] as Candle);
  return (candles.length - 100) / ((performance.now() - t0) / 1000);
}

const rate = (n: number, s: number) => `${Math.round(n / s).toLocaleString('en-US')} candles/s`;

export async function run(): Promise<void> {
  const candles = generateSyntheticCandles({ count: CANDLES, seed: 42, symbol: 'SYN/USDT', timeframe: '1h' });
  const t0 = performance.now();
  const trained = await trainModel({
    candles: candles.slice(0, TRAIN),
    seed: 1,
    name: 'bench',
  });
  const trainSeconds = (performance.now() - t0) / 1000;
  const model = trained.predictor;
  try {
    const ml = await mlBacktest(model, candles, false);
    const withTracker = await mlBacktest(model, candles, true);
    const sma = await smaBaseline(candles);
    const streaming = await streamingRate(model, candles.slice(0, STREAM));
    console.log('ml-backtest bench');
    console.log(
      `  candles: ${CANDLES.toLocaleString('en-US')} synthetic 1h; model: ${model.meta.kind} ` +
        `trained on ${TRAIN.toLocaleString('en-US')} candles in ${trainSeconds.toFixed(1)} s (not timed)`,
    );
    console.log(
      `  ML backtest (batch predictions + engine): ${ml.seconds.toFixed(3)} s = ${rate(CANDLES, ml.seconds)} ` +
        `[features + 1 predictBatch of ${ml.predictions.toLocaleString('en-US')} rows ${ml.predictSeconds.toFixed(3)} s, ` +
        `engine ${ml.engineSeconds.toFixed(3)} s = ${rate(CANDLES, ml.engineSeconds)}; ${ml.trades.toLocaleString('en-US')} trades]`,
    );
    console.log(
      `  same with a prediction tracker (every prediction recorded and resolved): ${withTracker.seconds.toFixed(3)} s = ${rate(CANDLES, withTracker.seconds)} (ratio to without: ${(withTracker.seconds / ml.seconds).toFixed(2)})`,
    );
    console.log(
      `  baseline: SMA crossover through the same engine: ${sma.seconds.toFixed(3)} s = ${rate(CANDLES, sma.seconds)} (${sma.trades.toLocaleString('en-US')} trades)`,
    );
    console.log(
      `  ratio ML backtest / SMA baseline (time): ${(ml.seconds / sma.seconds).toFixed(2)}; engine part only: ${(ml.engineSeconds / sma.seconds).toFixed(2)}`,
    );
    console.log(
      `  streaming predictor, one awaited predict per candle (live path): ${Math.round(streaming).toLocaleString('en-US')} candles/s`,
    );
    console.log(
      `  goal < ${GOAL_SECONDS} s for ${CANDLES.toLocaleString('en-US')} candles: ${ml.seconds < GOAL_SECONDS ? 'met' : 'NOT met'}`,
    );
  } finally {
    await model.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
