/**
 * The grid file of `quantflow sweep`: which parameters every run shares, which
 * ones are crossed (cartesian product), the base seed and the metric the
 * configurations are ranked by. Parsing checks every field and names the bad
 * one (`grid.layers[1]`, `fixed.epochs`, ...) in a ConfigError.
 *
 *   {
 *     "seed": 42,                                  base seed (default 42)
 *     "seeds": "derived",                          "derived" (default): one seed per (symbol, parameters, window);
 *                                                  "fixed": every window trains with `seed` (as `quantflow backtest`)
 *     "rankBy": "sharpe",                          sharpe | totalReturn | annualizedReturn | accuracyEdge
 *     "data": { "from": "2021-01-01", "to": "2022-01-01", "lastCandles": 12000 },
 *     "fixed": { "trainWindow": 3000, "testWindow": 1000, "epochs": 10 },
 *     "grid": { "horizon": [1, 4], "layers": [[16], [32, 16]], "threshold": [0.2, 0.4] }
 *   }
 */
import { ConfigError } from '../core/errors.js';
import { parseIsoUtc } from '../data/index.js';
import { modelKind } from '../models/model-kinds.js';
import { MODEL_KINDS, type ModelKind } from '../models/model-meta.js';

/** What a model is trained with: these decide the per-window jobs (and their ids). */
export interface TrainParams {
  /** Model kind of every window (see src/models/model-kinds.ts). */
  readonly kind: ModelKind;
  readonly featureSet: 'core' | 'relative' | 'seed';
  readonly horizon: number;
  readonly lookback: number;
  readonly trainWindow: number;
  readonly testWindow: number;
  readonly expanding: boolean;
  readonly validationFraction: number;
  /** Fraction of each training window the calibration is fitted on (0 with calibration 'none'). */
  readonly calibrationFraction: number;
  readonly calibration: 'platt' | 'isotonic' | 'none';
  /** L2 penalty of the logistic kind. */
  readonly l2: number;
  readonly layers: readonly number[];
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly dropout: number;
  /** Early-stopping patience in epochs; 0 = off. */
  readonly patience: number;
}

/** How the predictions are traded: these only matter in the reduce step (no retraining). */
export interface TradeParams {
  readonly threshold: number;
  readonly fraction: number;
  readonly allowShort: boolean;
  readonly stopLoss: number | null;
  readonly takeProfit: number | null;
  readonly maxHold: number | null;
  readonly fee: number;
  readonly slippageBps: number;
}

export type SweepParams = TrainParams & TradeParams;

/** Which candles of each data file are used (applied before anything else). */
export interface DataSelection {
  /** First candle open time kept (ms UTC). */
  readonly from: number | null;
  /** Last candle open time kept (ms UTC, inclusive). */
  readonly to: number | null;
  /** Keep only the last N candles (after from/to). */
  readonly lastCandles: number | null;
}

export type RankMetric = 'sharpe' | 'totalReturn' | 'annualizedReturn' | 'accuracyEdge';
export const RANK_METRICS: readonly RankMetric[] = ['sharpe', 'totalReturn', 'annualizedReturn', 'accuracyEdge'];

export interface SweepGrid {
  readonly seed: number;
  readonly seeds: 'derived' | 'fixed';
  readonly rankBy: RankMetric;
  readonly data: DataSelection;
  /** Every parameter set of the cartesian product, in a stable order (first grid key varies slowest). */
  readonly paramSets: readonly SweepParams[];
  /** Names of the parameters that vary (grid keys with more than one value), in file order. */
  readonly varying: readonly (keyof SweepParams)[];
}

/**
 * The walk-forward backtest's defaults (backtest/ml-backtest.ts WALK_FORWARD_DEFAULTS; a test checks they agree).
 * Calibration and its fraction, when the file leaves them open, follow the kind (modelKind(kind).defaultCalibration).
 */
export const DEFAULT_PARAMS: SweepParams = {
  kind: 'logistic',
  featureSet: 'core',
  horizon: 1,
  lookback: 1,
  trainWindow: 4000,
  testWindow: 1000,
  expanding: false,
  validationFraction: 0.2,
  calibrationFraction: 0.2,
  calibration: 'platt',
  l2: 0.3,
  layers: [32, 16],
  epochs: 20,
  batchSize: 256,
  learningRate: 0.001,
  dropout: 0,
  patience: 3,
  threshold: 0.6,
  fraction: 0.1,
  allowShort: false,
  stopLoss: null,
  takeProfit: null,
  maxHold: null,
  fee: 0.001,
  slippageBps: 5,
};

export const TRAIN_KEYS: readonly (keyof TrainParams)[] = [
  'kind',
  'featureSet',
  'horizon',
  'lookback',
  'trainWindow',
  'testWindow',
  'expanding',
  'validationFraction',
  'calibrationFraction',
  'calibration',
  'l2',
  'layers',
  'epochs',
  'batchSize',
  'learningRate',
  'dropout',
  'patience',
];
export const TRADE_KEYS: readonly (keyof TradeParams)[] = [
  'threshold',
  'fraction',
  'allowShort',
  'stopLoss',
  'takeProfit',
  'maxHold',
  'fee',
  'slippageBps',
];

type Check = (value: unknown, field: string) => unknown;

const fail = (field: string, message: string): never => {
  throw new ConfigError(message, { field });
};

const describe = (v: unknown) => (typeof v === 'string' ? `'${v}'` : JSON.stringify(v));

function integer(min: number, max = Number.MAX_SAFE_INTEGER): Check {
  return (v, field) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
      ? v
      : fail(field, `must be an integer in [${min}, ${max}], got ${describe(v)}`);
}

function number(test: (x: number) => boolean, range: string): Check {
  return (v, field) =>
    typeof v === 'number' && Number.isFinite(v) && test(v)
      ? v
      : fail(field, `must be a number ${range}, got ${describe(v)}`);
}

function optional(check: Check): Check {
  return (v, field) => (v === null ? null : check(v, field));
}

const boolean: Check = (v, field) =>
  typeof v === 'boolean' ? v : fail(field, `must be true or false, got ${describe(v)}`);

const layerList: Check = (v, field) => {
  if (!Array.isArray(v) || v.length === 0) {
    return fail(field, `must be a list of hidden layer sizes such as [32, 16], got ${describe(v)}`);
  }
  return v.map((u, i) => integer(1, 4096)(u, `${field}[${i}]`));
};

const CHECKS: Record<keyof SweepParams, Check> = {
  kind: (v, field) =>
    MODEL_KINDS.includes(v as ModelKind)
      ? v
      : fail(field, `must be one of ${MODEL_KINDS.join(', ')}, got ${describe(v)}`),
  featureSet: (v, field) =>
    v === 'core' || v === 'relative' || v === 'seed'
      ? v
      : fail(field, `must be 'core', 'relative' or 'seed', got ${describe(v)}`),
  calibrationFraction: number((x) => x >= 0 && x < 1, 'in [0, 1)'),
  calibration: (v, field) =>
    v === 'platt' || v === 'isotonic' || v === 'none'
      ? v
      : fail(field, `must be 'platt', 'isotonic' or 'none', got ${describe(v)}`),
  l2: number((x) => x >= 0, '>= 0'),
  horizon: integer(1, 10_000),
  lookback: integer(1, 1000),
  trainWindow: integer(10),
  testWindow: integer(1),
  expanding: boolean,
  validationFraction: number((x) => x >= 0 && x < 1, 'in [0, 1)'),
  layers: layerList,
  epochs: integer(1, 100_000),
  batchSize: integer(1, 1_000_000),
  learningRate: number((x) => x > 0 && x <= 1, 'in (0, 1]'),
  dropout: number((x) => x >= 0 && x < 1, 'in [0, 1)'),
  patience: integer(0, 100_000),
  threshold: number((x) => x >= 0 && x <= 1, 'in [0, 1]'),
  fraction: number((x) => x > 0 && x <= 1, 'in (0, 1]'),
  allowShort: boolean,
  stopLoss: optional(number((x) => x > 0 && x < 1, 'in (0, 1) or null')),
  takeProfit: optional(number((x) => x > 0, '> 0 or null')),
  maxHold: optional(integer(1)),
  fee: number((x) => x >= 0 && x < 1, 'in [0, 1)'),
  slippageBps: number((x) => x >= 0 && x < 10_000, 'in [0, 10000)'),
};

const PARAM_NAMES = Object.keys(CHECKS) as (keyof SweepParams)[];
const TOP_KEYS = ['seed', 'seeds', 'rankBy', 'data', 'fixed', 'grid'];
const DATA_KEYS = ['from', 'to', 'lastCandles'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unknownKeys(obj: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      fail(
        where === '' ? key : `${where}.${key}`,
        `unknown ${where === '' ? 'field' : where === 'data' ? 'data option' : 'parameter'}; expected one of ${known.join(', ')}`,
      );
    }
  }
}

function time(v: unknown, field: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string') {
    const ms = parseIsoUtc(v);
    if (!Number.isNaN(ms)) return ms;
  }
  return fail(field, `must be an ISO date such as "2021-01-01" or a time in ms, got ${describe(v)}`);
}

/** Validates a parsed grid file and expands its cartesian product. */
export function parseGrid(value: unknown): SweepGrid {
  if (!isRecord(value)) fail('grid file', 'must hold a JSON object with "fixed" and/or "grid"');
  const obj = value as Record<string, unknown>;
  unknownKeys(obj, TOP_KEYS, '');
  const seed = obj.seed === undefined ? 42 : (integer(0, 0x7fffffff)(obj.seed, 'seed') as number);
  const seeds = obj.seeds ?? 'derived';
  if (seeds !== 'derived' && seeds !== 'fixed') fail('seeds', `must be 'derived' or 'fixed', got ${describe(seeds)}`);
  const rankBy = obj.rankBy ?? 'sharpe';
  if (!RANK_METRICS.includes(rankBy as RankMetric)) {
    fail('rankBy', `must be one of ${RANK_METRICS.join(', ')}, got ${describe(rankBy)}`);
  }

  let data: DataSelection = { from: null, to: null, lastCandles: null };
  if (obj.data !== undefined) {
    if (!isRecord(obj.data)) fail('data', 'must be an object such as {"from": "2021-01-01", "lastCandles": 10000}');
    const d = obj.data as Record<string, unknown>;
    unknownKeys(d, DATA_KEYS, 'data');
    data = {
      from: time(d.from, 'data.from'),
      to: time(d.to, 'data.to'),
      lastCandles:
        d.lastCandles === undefined || d.lastCandles === null
          ? null
          : (integer(10)(d.lastCandles, 'data.lastCandles') as number),
    };
    if (data.from !== null && data.to !== null && data.to < data.from) fail('data.to', 'must not be before data.from');
  }

  const fixed: Partial<Record<keyof SweepParams, unknown>> = {};
  if (obj.fixed !== undefined) {
    if (!isRecord(obj.fixed)) fail('fixed', 'must be an object of parameter values, e.g. {"epochs": 10}');
    const f = obj.fixed as Record<string, unknown>;
    unknownKeys(f, PARAM_NAMES, 'fixed');
    for (const [k, v] of Object.entries(f)) {
      const key = k as keyof SweepParams;
      fixed[key] = CHECKS[key](v, `fixed.${k}`);
    }
  }

  const axes: [keyof SweepParams, unknown[]][] = [];
  if (obj.grid !== undefined) {
    if (!isRecord(obj.grid)) fail('grid', 'must be an object of value lists, e.g. {"horizon": [1, 4]}');
    const g = obj.grid as Record<string, unknown>;
    unknownKeys(g, PARAM_NAMES, 'grid');
    for (const [k, list] of Object.entries(g)) {
      const key = k as keyof SweepParams;
      if (key in fixed) fail(`grid.${k}`, 'is also given in "fixed"; give each parameter in one place');
      if (!Array.isArray(list) || list.length === 0) {
        fail(
          `grid.${k}`,
          `must be a non-empty list of values${key === 'layers' ? ' (each a list of layer sizes, e.g. [[16], [32, 16]])' : ''}, got ${describe(list)}`,
        );
      }
      const values = (list as unknown[]).map((v, i) => CHECKS[key](v, `grid.${k}[${i}]`));
      const seen = new Set<string>();
      values.forEach((v, i) => {
        const text = JSON.stringify(v);
        if (seen.has(text)) fail(`grid.${k}[${i}]`, `repeats the value ${text}`);
        seen.add(text);
      });
      axes.push([key, values]);
    }
  }

  const base = { ...DEFAULT_PARAMS, ...fixed } as SweepParams;
  let paramSets: SweepParams[] = [base];
  for (const [key, values] of axes) {
    const next: SweepParams[] = [];
    for (const p of paramSets) for (const v of values) next.push({ ...p, [key]: v });
    paramSets = next;
  }
  // Calibration left open follows the kind, as in the walk-forward backtest.
  const given = (key: keyof SweepParams) => key in fixed || axes.some(([k]) => k === key);
  paramSets = paramSets.map((p) => {
    const calibration = given('calibration') ? p.calibration : modelKind(p.kind).defaultCalibration;
    const calibrationFraction = given('calibrationFraction')
      ? p.calibrationFraction
      : calibration === 'none'
        ? 0
        : DEFAULT_PARAMS.calibrationFraction;
    return { ...p, calibration, calibrationFraction };
  });
  return {
    seed,
    seeds: seeds as 'derived' | 'fixed',
    rankBy: rankBy as RankMetric,
    data,
    paramSets,
    varying: axes.filter(([, values]) => values.length > 1).map(([key]) => key),
  };
}

/** The training part of a parameter set, in a fixed key order. */
export function trainParams(p: SweepParams): TrainParams {
  const out: Record<string, unknown> = {};
  for (const k of TRAIN_KEYS) out[k] = p[k];
  return out as unknown as TrainParams;
}

/** The trading part of a parameter set, in a fixed key order. */
export function tradeParams(p: SweepParams): TradeParams {
  const out: Record<string, unknown> = {};
  for (const k of TRADE_KEYS) out[k] = p[k];
  return out as unknown as TradeParams;
}

/** 'horizon=4 layers=32-16 threshold=0.2' for the keys given (all varying keys by default). */
export function describeParams(p: SweepParams, keys: readonly (keyof SweepParams)[]): string {
  if (keys.length === 0) return '(single configuration)';
  return keys
    .map((k) => {
      const v = p[k];
      return `${k}=${Array.isArray(v) ? v.join('-') : String(v)}`;
    })
    .join(' ');
}
