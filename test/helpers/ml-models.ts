/**
 * Small real TensorFlow.js models for the ML strategy tests: trained in well
 * under a second (tiny network, few epochs), seeded, so every run is the same.
 */
import type { Candle, Prediction, Tick } from '../../src/core/types.js';
import type { FeatureSetName } from '../../src/features/feature-schema.js';
import type { ModelPredictor } from '../../src/models/model-predictor.js';
import type { CandlePredictor } from '../../src/models/realtime-predictor.js';
import { trainModel } from '../../src/models/train.js';

export interface TinyModelOptions {
  readonly horizon?: number;
  readonly lookback?: number;
  readonly seed?: number;
  readonly featureSet?: FeatureSetName;
  readonly name?: string;
  /** Training epochs (default 4). */
  readonly epochs?: number;
}

/** A tiny MLP trained on `candles` (the caller disposes it). */
export async function trainTinyModel(
  candles: readonly Candle[],
  options: TinyModelOptions = {},
): Promise<ModelPredictor> {
  const result = await trainModel({
    candles,
    horizon: options.horizon ?? 1,
    lookback: options.lookback ?? 1,
    featureSet: options.featureSet ?? 'relative',
    seed: options.seed ?? 7,
    name: options.name ?? 'tiny',
    validationFraction: 0.2,
    kind: 'tfjs',
    // Raw probabilities: these models test decisions and parity, not calibration.
    calibration: 'none',
    network: { layers: [16, 8], epochs: options.epochs ?? 4, earlyStopping: false, learningRate: 0.01 },
  });
  return result.predictor;
}

/**
 * A CandlePredictor that answers from a script: probability per (symbol,
 * candle index of that symbol), 0.5 when absent. With `moves`, the predicted
 * move of a candle's prediction (and so its expected return (2p - 1) * move).
 * For strategy logic tests.
 */
export function scriptedPredictor(
  script: Readonly<Record<string, Readonly<Record<number, number>>>>,
  horizon = 1,
  moves: Readonly<Record<string, Readonly<Record<number, number>>>> = {},
): CandlePredictor & { ticks: Tick[] } {
  const counts = new Map<string, number>();
  const ticks: Tick[] = [];
  return {
    horizon,
    ticks,
    onCandle(candle: Candle): Prediction {
      const i = counts.get(candle.symbol) ?? 0;
      counts.set(candle.symbol, i + 1);
      const p = script[candle.symbol]?.[i] ?? 0.5;
      const move = moves[candle.symbol]?.[i];
      return {
        symbol: candle.symbol,
        prediction: p,
        confidence: Math.abs(p - 0.5) * 2,
        modelVersion: 'scripted',
        timestamp: candle.timestamp,
        ...(move !== undefined ? { expectedMove: move, expectedReturn: (2 * p - 1) * move } : {}),
      };
    },
    onTick(tick: Tick) {
      ticks.push(tick);
      return undefined;
    },
  };
}
