/**
 * `runSweepJob`: the one implementation of a sweep job, called by every
 * executor (sequential, thread pool, queue worker). It trains one walk-forward
 * window's model exactly as `runWalkForward` does (same dataset, windows,
 * embargo, validation split, `fitOnDataset`, batch predictions through
 * PrecomputedPredictor) and returns the window's predictions and scores as
 * plain JSON. Nothing in a JobResult depends on the machine's clock or on
 * which worker ran it: the same job gives the same result, byte for byte.
 *
 * With a registry, the window's model is stored there as `sweep-<job id>`
 * (v1) unless that name already exists (a second completion of the same job
 * leaves the first one in place).
 */
import { ConfigError, DataError, ModelError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import { sliceDataset } from '../features/dataset.js';
import { splitChronological } from '../features/dataset-splits.js';
import { evaluatePredictions } from '../models/evaluation.js';
import { MANIFEST_FILE, sha256Hex } from '../models/model-files.js';
import type { ValidationMetrics } from '../models/model-meta.js';
import { PrecomputedPredictor, type SeriesInputs, seriesInputs } from '../models/precomputed-predictor.js';
import { type FitResult, fitOnDataset, hashCandles } from '../models/train.js';
import { withLock } from '../registry/lock-file.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { loadDataRef, Memo } from './data-source.js';
import { type SweepJob, verifyJob, windowLayout } from './jobs.js';

export const RESULT_FORMAT = 1;

export interface WindowPlan {
  /** Dataset rows [start, end) of the training window (validation rows included). */
  readonly trainRows: readonly [number, number];
  readonly fitRows: number;
  readonly validationRows: number;
  /** Candle indices [first, last] of the training rows (indices of the selected candles). */
  readonly trainCandles: readonly [number, number];
  /** The last candle any training label looks at. */
  readonly lastLabelCandle: number;
  /** Candle indices [start, end) predicted and traded. */
  readonly testCandles: readonly [number, number];
  readonly testFrom: number;
  readonly testTo: number;
  /** Share of "up" labels in the training window. */
  readonly trainUpRate: number;
}

export interface JobResult {
  readonly format: typeof RESULT_FORMAT;
  readonly jobId: string;
  readonly symbol: string;
  readonly timeframe: string;
  readonly window: number;
  readonly seed: number;
  readonly plan: WindowPlan;
  readonly model: {
    /** 'wf-3@<manifest hash>' */
    readonly id: string;
    readonly manifestSha256: string;
    readonly epochsRun: number | null;
    readonly bestEpoch: number | null;
    /** Scores on the validation rows held out of the training window (early stopping). */
    readonly validation: ValidationMetrics | null;
  };
  /** Scores of the test rows (out of sample) against their labels, majority baseline from the training window. */
  readonly test: ValidationMetrics | null;
  /** P(up) for candles [plan.testCandles[0], plan.testCandles[1]), in order. */
  readonly probabilities: readonly number[];
}

export interface RunJobOptions {
  /** Directories searched for the data file by content hash when its path does not hold it. */
  readonly dataDirs?: readonly string[];
  /** Registry root: the window's model is stored there as `sweep-<job id>`. */
  readonly registry?: string;
  /** Told where the model went (`existing`: a previous completion already stored it). */
  readonly onModel?: (info: { ref: string; existing: boolean }) => void;
}

const inputsMemo = new Memo<SeriesInputs>(4);

/** The name a job's model is registered under. */
export function jobModelName(jobId: string): string {
  return `sweep-${jobId}`;
}

export async function runSweepJob(job: SweepJob, options: RunJobOptions = {}): Promise<JobResult> {
  verifyJob(job);
  const { train } = job;
  const candles = await loadDataRef(job.data, options.dataDirs ?? []);
  const { ds, splits } = windowLayout(job.data, candles, train);
  if (splits.length !== job.windows) {
    throw new DataError(`the data gives ${splits.length} windows, the job was planned with ${job.windows}`, {
      file: job.data.file,
    });
  }
  const k = job.window - 1;
  const w = splits[k];
  if (w === undefined) throw new ConfigError(`window ${job.window} of ${splits.length}`, { field: 'window' });
  const next = splits[k + 1];
  const horizon = train.horizon;
  const testStart = ds.candleIndex[w.testStart]!;
  const testEnd = next !== undefined ? ds.candleIndex[next.testStart]! : ds.candleIndex[w.testEnd - 1]! + 1;
  const trainSet = sliceDataset(ds, w.trainStart, w.trainEnd);
  const firstTrainCandle = ds.candleIndex[w.trainStart]!;
  const lastTrainCandle = ds.candleIndex[w.trainEnd - 1]!;
  const lastLabelCandle = lastTrainCandle + horizon;
  if (lastLabelCandle >= testStart) {
    throw new DataError(`window ${job.window}: a training label reaches candle ${lastLabelCandle} of the test period`);
  }
  let fit = trainSet;
  let validation: typeof trainSet | undefined;
  if (train.validationFraction > 0) {
    const split = splitChronological(trainSet, train.validationFraction, horizon);
    fit = split.train;
    validation = split.validation;
  }
  const name = `wf-${job.window}`;
  const fitted: FitResult = await fitOnDataset(fit, validation, {
    seed: job.seed,
    name,
    network: {
      layers: train.layers,
      epochs: train.epochs,
      batchSize: train.batchSize,
      learningRate: train.learningRate,
      dropout: train.dropout,
      earlyStopping: train.patience > 0 ? { patience: train.patience } : false,
    },
    source: {
      symbol: job.data.symbol,
      timeframe: job.data.timeframe,
      from: candles[firstTrainCandle]!.timestamp,
      to: candles[lastLabelCandle]!.timestamp,
      dataHash: hashCandles(candles.slice(firstTrainCandle, lastLabelCandle + 1)),
    },
    extraOptions: {
      walkForward: {
        window: job.window,
        trainWindow: train.trainWindow,
        testWindow: train.testWindow,
        embargo: horizon,
        validationFraction: train.validationFraction,
      },
      sweepJob: job.id,
    },
    // The time of the last candle the model learned from: identical jobs give byte-identical model files.
    createdAt: new Date(candles[lastLabelCandle]!.timestamp),
  });
  let probabilities: number[];
  try {
    const inputs = inputsMemo.get(Memo.key(job.data, 'inputs', train.featureSet, train.lookback), () =>
      seriesInputs(candles, ds.schema, train.lookback),
    );
    const source = new PrecomputedPredictor({ horizon });
    await source.addSeries(fitted.predictor, candles, { from: testStart, to: testEnd, inputs, modelVersion: name });
    probabilities = [];
    for (let i = testStart; i < testEnd; i++) {
      const c = candles[i] as Candle;
      const p = source.get(c.symbol, c.timestamp);
      if (p === undefined) throw new DataError(`no prediction for test candle ${i}`, { index: i });
      probabilities.push(p.prediction);
    }
  } finally {
    await fitted.predictor.dispose();
  }
  if (options.registry !== undefined) await registerModel(options.registry, job.id, fitted, options.onModel);

  let up = 0;
  for (let i = 0; i < trainSet.rows; i++) up += trainSet.labels[i]!;
  // Test rows: dataset rows of this window whose candle lies in the traded range.
  const testScores: number[] = [];
  const testLabels: number[] = [];
  for (let r = w.testStart; r < w.testEnd; r++) {
    const ci = ds.candleIndex[r]!;
    testScores.push(probabilities[ci - testStart]!);
    testLabels.push(ds.labels[r]!);
  }
  const info = fitted.info as { epochsRun?: unknown; bestEpoch?: unknown };
  const manifest = fitted.files.get(MANIFEST_FILE);
  return {
    format: RESULT_FORMAT,
    jobId: job.id,
    symbol: job.data.symbol,
    timeframe: job.data.timeframe,
    window: job.window,
    seed: job.seed,
    plan: {
      trainRows: [w.trainStart, w.trainEnd],
      fitRows: fit.rows,
      validationRows: validation?.rows ?? 0,
      trainCandles: [firstTrainCandle, lastTrainCandle],
      lastLabelCandle,
      testCandles: [testStart, testEnd],
      testFrom: candles[testStart]!.timestamp,
      testTo: candles[testEnd - 1]!.timestamp,
      trainUpRate: up / trainSet.rows,
    },
    model: {
      id: fitted.predictor.modelVersion,
      manifestSha256: manifest === undefined ? '' : sha256Hex(manifest),
      epochsRun: typeof info.epochsRun === 'number' ? info.epochsRun : null,
      bestEpoch: typeof info.bestEpoch === 'number' ? info.bestEpoch : null,
      validation: fitted.validation ?? null,
    },
    test: testLabels.length > 0 ? evaluatePredictions(testScores, testLabels, { trainLabels: trainSet.labels }) : null,
    probabilities,
  };
}

/** Stores the model as `sweep-<job id>` v1 once; a later completion of the same job finds it and leaves it. */
async function registerModel(
  root: string,
  id: string,
  fitted: FitResult,
  onModel: RunJobOptions['onModel'],
): Promise<void> {
  const registry = await ModelRegistry.open(root);
  const name = jobModelName(id);
  const lock = `${registry.layout.lockFile(name)}.sweep`;
  await withLock(
    lock,
    async () => {
      let existing = true;
      try {
        await registry.get(name);
      } catch (err) {
        if (!(err instanceof ModelError)) throw err;
        existing = false;
      }
      if (!existing) await registry.register(name, fitted.files, { activate: true });
      onModel?.({ ref: `${name}@v1`, existing });
    },
    { what: `sweep model '${name}'` },
  );
}
