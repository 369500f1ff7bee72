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
import { DataError, ModelError } from '../core/errors.js';
import type { Prediction } from '../core/types.js';
import { evaluatePredictions } from '../models/evaluation.js';
import { MANIFEST_FILE, type ModelFiles, sha256Hex } from '../models/model-files.js';
import type { ValidationMetrics } from '../models/model-meta.js';
import { trainWalkForwardWindow, type WindowPlan } from '../models/walk-forward-windows.js';
import { withLock } from '../registry/lock-file.js';
import { ModelRegistry } from '../registry/model-registry.js';
import { loadDataRef } from './data-source.js';
import { type SweepJob, verifyJob, windowLayout } from './jobs.js';

export const RESULT_FORMAT = 1;

export type { WindowPlan };

/** A test candle's prediction as a job returns it (JSON). */
export type JobPrediction = Pick<Prediction, 'prediction' | 'expectedMove' | 'expectedReturn'>;

export interface JobResult {
  readonly format: typeof RESULT_FORMAT;
  readonly jobId: string;
  readonly symbol: string;
  readonly timeframe: string;
  readonly window: number;
  readonly seed: number;
  /** The window's plan, as `runWalkForward` reports it. */
  readonly plan: WindowPlan;
  readonly model: {
    /** 'wf-3@<manifest hash>' */
    readonly id: string;
    readonly manifestSha256: string;
    readonly epochsRun: number | null;
    readonly bestEpoch: number | null;
  };
  /** Scores of the test rows (out of sample) against their labels, next to the naive baselines. */
  readonly test: ValidationMetrics | null;
  /** The prediction of each candle [plan.series[0].testCandles[0], ...[1]), in order (null: none). */
  readonly predictions: readonly (JobPrediction | null)[];
}

export interface RunJobOptions {
  /** Directories searched for the data file by content hash when its path does not hold it. */
  readonly dataDirs?: readonly string[];
  /** Registry root: the window's model is stored there as `sweep-<job id>`. */
  readonly registry?: string;
  /** Told where the model went (`existing`: a previous completion already stored it). */
  readonly onModel?: (info: { ref: string; existing: boolean }) => void;
}

/** The name a job's model is registered under. */
export function jobModelName(jobId: string): string {
  return `sweep-${jobId}`;
}

export async function runSweepJob(job: SweepJob, options: RunJobOptions = {}): Promise<JobResult> {
  verifyJob(job);
  const { train } = job;
  const candles = await loadDataRef(job.data, options.dataDirs ?? []);
  const layout = windowLayout(job.data, candles, train);
  const { splits } = layout;
  if (splits.length !== job.windows) {
    throw new DataError(`the data gives ${splits.length} windows, the job was planned with ${job.windows}`, {
      file: job.data.file,
    });
  }
  const trained = await trainWalkForwardWindow(layout, job.window, {
    kind: train.kind,
    seed: job.seed,
    validationFraction: train.validationFraction,
    calibrationFraction: train.calibrationFraction,
    calibration: train.calibration,
    linear: { l2: train.l2 },
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
  const { plan, model } = trained;
  if (options.registry !== undefined) await registerModel(options.registry, job.id, model.files, options.onModel);

  // Test rows: dataset rows of this window whose candle lies in the traded range.
  const { ds } = layout.series[0]!;
  const [testStart, testEnd] = plan.series[0]!.testCandles;
  const own = trained.predictions[0]!;
  const scores: number[] = [];
  const labels: number[] = [];
  const moves: number[] = [];
  for (let r = 0; r < ds.rows; r++) {
    const ci = ds.candleIndex[r]!;
    const p = ci >= testStart && ci < testEnd ? own[ci - testStart] : null;
    if (p === null || p === undefined) continue;
    scores.push(p.prediction);
    labels.push(ds.labels[r]!);
    moves.push(ds.lastMoves[r]!);
  }
  const manifest = model.files.get(MANIFEST_FILE);
  return {
    format: RESULT_FORMAT,
    jobId: job.id,
    symbol: job.data.symbol,
    timeframe: job.data.timeframe,
    window: job.window,
    seed: job.seed,
    plan,
    model: {
      id: model.id,
      manifestSha256: manifest === undefined ? '' : sha256Hex(manifest),
      epochsRun: model.epochsRun ?? null,
      bestEpoch: model.bestEpoch ?? null,
    },
    test:
      labels.length > 0
        ? evaluatePredictions(scores, labels, { trainUpRate: plan.trainUpRate ?? 0.5, lastMoves: moves })
        : null,
    predictions: own.map((p) =>
      p === null
        ? null
        : {
            prediction: p.prediction,
            ...(p.expectedMove !== undefined ? { expectedMove: p.expectedMove } : {}),
            ...(p.expectedReturn !== undefined ? { expectedReturn: p.expectedReturn } : {}),
          },
    ),
  };
}

/** Stores the model as `sweep-<job id>` v1 once; a later completion of the same job finds it and leaves it. */
async function registerModel(
  root: string,
  id: string,
  files: ModelFiles,
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
      if (!existing) await registry.register(name, files, { activate: true });
      onModel?.({ ref: `${name}@v1`, existing });
    },
    { what: `sweep model '${name}'` },
  );
}
