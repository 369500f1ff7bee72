/**
 * `runSweepJob`: the one implementation of a sweep job, called by every
 * executor (sequential, thread pool, queue worker). It trains one walk-forward
 * window's model through `trainWalkForwardWindow`, the per-window step of
 * `runWalkForward` (same dataset, windows, embargo, validation split,
 * `fitOnDataset`, batch predictions), and returns the window's predictions
 * and scores as plain JSON. Nothing in a JobResult depends on the machine's
 * clock or on which worker ran it: the same job gives the same result, byte
 * for byte.
 *
 * With a registry, the window's model is stored there as `sweep-<job id>`
 * (v1) unless that name already exists (a second completion of the same job
 * leaves the first one in place).
 */
import { type TrainedWindow, trainWalkForwardWindow, type WindowPlan } from '../../backtest/walk-forward.js';
import { DataError, ModelError } from '../core/errors.js';
import { evaluatePredictions } from '../models/evaluation.js';
import { MANIFEST_FILE, sha256Hex } from '../models/model-files.js';
import type { ValidationMetrics } from '../models/model-meta.js';
import { type SeriesInputs, seriesInputs } from '../models/precomputed-predictor.js';
import type { FitResult } from '../models/train.js';
import { withLock } from '../registry/lock-file.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { loadDataRef, Memo } from './data-source.js';
import { type SweepJob, verifyJob, windowLayout } from './jobs.js';

export const RESULT_FORMAT = 1;

export type { WindowPlan };

export interface JobResult {
  readonly format: typeof RESULT_FORMAT;
  readonly jobId: string;
  readonly symbol: string;
  readonly timeframe: string;
  readonly window: number;
  readonly seed: number;
  /** The window's plan, as `runWalkForward` reports it. */
  readonly plan: TrainedWindow['plan'];
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
  const layout = windowLayout(job.data, candles, train);
  const { ds, splits } = layout;
  if (splits.length !== job.windows) {
    throw new DataError(`the data gives ${splits.length} windows, the job was planned with ${job.windows}`, {
      file: job.data.file,
    });
  }
  const inputs = inputsMemo.get(Memo.key(job.data, 'inputs', train.featureSet, train.lookback), () =>
    seriesInputs(candles, ds.schema, train.lookback),
  );
  const trained = await trainWalkForwardWindow(candles, layout, job.window, {
    inputs,
    validationFraction: train.validationFraction,
    seed: job.seed,
    network: {
      layers: train.layers,
      epochs: train.epochs,
      batchSize: train.batchSize,
      learningRate: train.learningRate,
      dropout: train.dropout,
      earlyStopping: train.patience > 0 ? { patience: train.patience } : false,
    },
    extraOptions: { sweepJob: job.id },
    dataTime: true,
  });
  const { plan, fitted, probabilities } = trained;
  if (options.registry !== undefined) await registerModel(options.registry, job.id, fitted, options.onModel);

  // Test rows: dataset rows of this window whose candle lies in the traded range.
  const w = splits[job.window - 1]!;
  const testStart = plan.testCandles[0];
  const testScores: number[] = [];
  const testLabels: number[] = [];
  for (let r = w.testStart; r < w.testEnd; r++) {
    const ci = ds.candleIndex[r]!;
    testScores.push(probabilities[ci - testStart]!);
    testLabels.push(ds.labels[r]!);
  }
  const { bestEpoch } = fitted.info;
  const manifest = fitted.files.get(MANIFEST_FILE);
  return {
    format: RESULT_FORMAT,
    jobId: job.id,
    symbol: job.data.symbol,
    timeframe: job.data.timeframe,
    window: job.window,
    seed: job.seed,
    plan,
    model: {
      id: trained.window.modelId,
      manifestSha256: manifest === undefined ? '' : sha256Hex(manifest),
      epochsRun: trained.window.epochsRun ?? null,
      bestEpoch: typeof bestEpoch === 'number' ? bestEpoch : null,
      validation: trained.window.validation ?? null,
    },
    test:
      testLabels.length > 0 ? evaluatePredictions(testScores, testLabels, { trainLabels: trained.train.labels }) : null,
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
