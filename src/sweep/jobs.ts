/**
 * The job model of a sweep. `planSweep` expands data files x parameter sets x
 * walk-forward windows into:
 *
 * - jobs: one per (data file, training parameters, window). A job is plain
 *   JSON whose id is the sha256 of its content (path excluded: the data is
 *   named by its hash), so the same work always has the same id whoever plans
 *   it, and a result stored under that id is the result of that work.
 *   Parameter sets that differ only in how predictions are traded (threshold,
 *   fees, ...) share their training jobs: the same model is not trained twice.
 * - runs: one per (data file, parameter set); the reduce step assembles a run
 *   from its windows' jobs (see reduce.ts).
 *
 * Seeds: with `seeds: 'derived'` each window's seed is derived from (base
 * seed, symbol, timeframe, training parameters, window), so results never
 * depend on which worker runs a job or in what order; with 'fixed' every
 * window uses the base seed, exactly as `quantflow backtest --strategy ml`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, DataError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import { loadCandles } from '../data/index.js';
import { type WalkForwardLayout, walkForwardLayout } from '../models/walk-forward-windows.js';
import { type DataRef, fileSha256, Memo, rememberData, selectCandles } from './data-source.js';
import { type SweepGrid, type SweepParams, type TrainParams, trainParams } from './grid.js';

export const JOB_FORMAT = 1;

export interface SweepJob {
  readonly format: typeof JOB_FORMAT;
  /** sha256 (hex, 32 characters) of the canonical JSON of everything below except `data.file`. */
  readonly id: string;
  readonly data: DataRef;
  readonly train: TrainParams;
  /** 1-based walk-forward window. */
  readonly window: number;
  /** Windows of this (data, training parameters). */
  readonly windows: number;
  readonly seed: number;
}

/** One walk-forward run to assemble: a data file and a full parameter set. */
export interface SweepRunPlan {
  /** Hash of the data and the parameter set. */
  readonly id: string;
  /** Hash of the parameter set alone (the same configuration across symbols). */
  readonly paramsId: string;
  readonly data: DataRef;
  readonly params: SweepParams;
  /** The window jobs, in window order. */
  readonly jobIds: readonly string[];
}

export interface SweepPlan {
  readonly grid: SweepGrid;
  readonly data: readonly DataRef[];
  /** Unique jobs, in a stable order (file, parameter set, window). */
  readonly jobs: readonly SweepJob[];
  readonly runs: readonly SweepRunPlan[];
}

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new ConfigError(`cannot hash the non-finite number ${value}`);
    }
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function contentId(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 32);
}

/** The content of a job that its id covers (the path of the data file is only a hint). */
function identity(job: Omit<SweepJob, 'id'>): unknown {
  const { file: _file, ...data } = job.data;
  return { ...job, data };
}

export function jobId(job: Omit<SweepJob, 'id'>): string {
  return contentId(identity(job));
}

/** Checks a job's id against its content (a job from a queue or file might be stale or hand-edited). */
export function verifyJob(job: SweepJob): void {
  if (job.format !== JOB_FORMAT) throw new ConfigError(`unknown job format ${String(job.format)}`, { field: 'format' });
  const { id, ...rest } = job;
  if (jobId(rest) !== id) throw new ConfigError(`job ${id} does not match its content`, { field: 'id' });
}

/** Seed of one window: a 31-bit integer from sha256 of (base seed, symbol, timeframe, training parameters, window). */
export function deriveJobSeed(
  base: number,
  data: Pick<DataRef, 'symbol' | 'timeframe'>,
  train: TrainParams,
  window: number,
): number {
  const h = createHash('sha256')
    .update(canonicalJson({ seed: base, symbol: data.symbol, timeframe: data.timeframe, train, window }))
    .digest();
  return h.readUInt32BE(0) & 0x7fffffff;
}

/** The dataset and walk-forward windows of (candles, training parameters). */
export type WindowLayout = WalkForwardLayout;

const layouts = new Memo<WindowLayout>(8);

/** Dataset and windows of `runWalkForward` (`walkForwardLayout`); memoised per process. */
export function windowLayout(ref: DataRef, candles: readonly Candle[], train: TrainParams): WindowLayout {
  const key = Memo.key(
    ref,
    'layout',
    train.featureSet,
    train.horizon,
    train.lookback,
    train.trainWindow,
    train.testWindow,
    train.expanding,
  );
  return layouts.get(key, () =>
    walkForwardLayout([candles], {
      featureSet: train.featureSet,
      target: 'direction',
      horizon: train.horizon,
      lookback: train.lookback,
      trainWindow: train.trainWindow,
      testWindow: train.testWindow,
      expanding: train.expanding,
    }),
  );
}

/** Describes a data file for jobs: hashes it and reads symbol and timeframe from its candles. */
export async function describeData(file: string, grid: SweepGrid): Promise<{ ref: DataRef; candles: Candle[] }> {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new DataError('data file not found', { file: abs });
  const sha256 = await fileSha256(abs);
  // Symbol and timeframe as the loader reads them from this file (name or data); jobs then pin them.
  const { candles: all } = await loadCandles(abs);
  const first = all[0];
  if (first === undefined) throw new DataError('data file has no candles', { file: abs });
  const ref: DataRef = { file: abs, sha256, symbol: first.symbol, timeframe: first.timeframe, select: grid.data };
  const candles = selectCandles(all, grid.data);
  if (candles.length === 0)
    throw new DataError('no candles left after the data selection of the grid file', { file: abs });
  rememberData(ref, candles);
  return { ref, candles };
}

/** Expands data files x the grid's parameter sets x windows into jobs and runs. */
export async function planSweep(files: readonly string[], grid: SweepGrid): Promise<SweepPlan> {
  if (files.length === 0) throw new ConfigError('no data files: give --data FILE...', { field: 'data' });
  const data: DataRef[] = [];
  const jobs = new Map<string, SweepJob>();
  const runs: SweepRunPlan[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    const { ref, candles } = await describeData(file, grid);
    const key = `${ref.symbol}|${ref.timeframe}`;
    if (seen.has(key)) {
      throw new ConfigError(`${ref.symbol} ${ref.timeframe} is given twice (two files of one market)`, {
        file: ref.file,
      });
    }
    seen.add(key);
    data.push(ref);
    const byTrain = new Map<string, string[]>();
    for (const params of grid.paramSets) {
      const train = trainParams(params);
      const trainKey = canonicalJson(train);
      let ids = byTrain.get(trainKey);
      if (ids === undefined) {
        const { series, splits } = windowLayout(ref, candles, train);
        if (splits.length === 0) {
          throw new ConfigError(
            `${candles.length} candles give ${series[0]!.ds.rows} samples: too few for a ${train.trainWindow}-row training window, ` +
              `a ${train.horizon}-row embargo and a ${train.testWindow}-row test window`,
            { file: ref.file, field: 'trainWindow' },
          );
        }
        ids = [];
        for (let w = 1; w <= splits.length; w++) {
          const seed = grid.seeds === 'fixed' ? grid.seed : deriveJobSeed(grid.seed, ref, train, w);
          const content = { format: JOB_FORMAT, data: ref, train, window: w, windows: splits.length, seed } as const;
          const job: SweepJob = { ...content, id: jobId(content) };
          if (!jobs.has(job.id)) jobs.set(job.id, job);
          ids.push(job.id);
        }
        byTrain.set(trainKey, ids);
      }
      const { file: _file, ...dataIdentity } = ref;
      runs.push({
        id: contentId({ data: dataIdentity, params, seed: grid.seed, seeds: grid.seeds }),
        paramsId: contentId({ params, seed: grid.seed, seeds: grid.seeds }),
        data: ref,
        params,
        jobIds: ids,
      });
    }
  }
  return { grid, data, jobs: [...jobs.values()], runs };
}
