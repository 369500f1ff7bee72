/**
 * `quantflow train`: trains a model on one or several candle files (several:
 * one model for all, pooled training) or the synthetic market, prints its
 * scores on held-out test rows next to the naive baselines, and writes the
 * model directory (model files, meta.json, scaler.json, calibration.json,
 * manifest.json).
 *
 *   quantflow train (--data FILE... | --synthetic [--synthetic-mode regime|random-walk|planted])
 *     [--kind logistic|tfjs|gbdt|python] [--target direction|return|volatility] [--features core|relative|seed|FILE]
 *     [--context FILE...] [--horizon N] [--lookback N] [--label-threshold X] [--calibration platt|isotonic|none]
 *     [--test 0.2] [--calibration-rows 0.15] [--early-stopping-rows 0.15] [kind options] --out DIR
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { createJsonLogger } from '../../core/logger.js';
import { DEFAULT_SYNTHETIC, type SyntheticMode } from '../../data/index.js';
import type { ScalerKind } from '../../features/scaler.js';
import { bestBaseline } from '../../models/evaluation.js';
import { writeModelDirectory } from '../../models/model-files.js';
import type { RegressionMetrics, ValidationMetrics } from '../../models/model-meta.js';
import { TRAIN_DEFAULTS, type TrainModelResult, trainModel } from '../../models/train.js';
import { action, integerOption, numberOption } from '../action.js';
import { loadCandleInput } from '../candle-input.js';
import { addModelOptions, type ModelFlags, readContext, readModelFlags, renamedOption } from '../model-options.js';
import { createProgress } from '../progress.js';

interface TrainCliOptions extends ModelFlags {
  data?: string[];
  synthetic?: boolean;
  syntheticMode: SyntheticMode;
  syntheticCount?: number;
  horizon: number;
  lookback: number;
  labelThreshold?: number;
  threshold?: number;
  scaler: ScalerKind;
  seed: number;
  test?: number;
  validation?: number;
  calibrationRows?: number;
  earlyStoppingRows?: number;
  name?: string;
  out: string;
  verbose?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a model on candles and save it with its scaler, calibration, metadata and checksums')
    .option('--data <files...>', 'candle files (CSV or JSON); several: one model for all of them (pooled training)')
    .option('--synthetic', 'train on the built-in synthetic market instead of a file')
    .addOption(
      new Option(
        '--synthetic-mode <mode>',
        'synthetic market: regime, random-walk (no signal) or planted (known signal)',
      )
        .choices(['regime', 'random-walk', 'planted'])
        .default('regime'),
    )
    .option(
      '--synthetic-count <n>',
      `synthetic candles (default ${DEFAULT_SYNTHETIC.count})`,
      integerOption('synthetic-count', 100),
    )
    .option('--horizon <n>', 'candles ahead the label looks', integerOption('horizon', 1), 1)
    .option('--lookback <n>', 'feature rows per sample', integerOption('lookback', 1), 1)
    .option(
      '--label-threshold <x>',
      'direction: leave out training samples whose |return| over the horizon is <= x (e.g. the round-trip fee)',
      numberOption('label-threshold'),
    )
    .addOption(new Option('--scaler <kind>', 'feature scaling').choices(['zscore', 'minmax']).default('zscore'))
    .option('--seed <n>', 'seed of everything random in training', integerOption('seed', 0), 42)
    .option(
      '--test <fraction>',
      `last fraction of samples held out and scored: nothing else sees them (default ${TRAIN_DEFAULTS.testFraction})`,
      numberOption('test'),
    )
    .option(
      '--calibration-rows <fraction>',
      `fraction of samples, before the test rows, the calibration is fitted on (default ${TRAIN_DEFAULTS.calibrationFraction}; 0 for an uncalibrated direction model)`,
      numberOption('calibration-rows'),
    )
    .option(
      '--early-stopping-rows <fraction>',
      `tfjs and gbdt: fraction of samples, before the calibration rows, for early stopping (default ${TRAIN_DEFAULTS.validationFraction})`,
      numberOption('early-stopping-rows'),
    )
    .option('--name <name>', 'model name stored in meta.json (default: the output directory name)')
    .option('--verbose', 'log progress as JSON lines on stderr')
    .requiredOption('--out <dir>', 'new directory to write the model to');
  addModelOptions(cmd);
  renamedOption(
    cmd,
    'threshold',
    'label-threshold',
    'a minimum |return| of the training labels',
    numberOption('threshold'),
  );
  renamedOption(cmd, 'validation', 'test', 'the held-out test fraction', numberOption('validation'));
  cmd.action(action(runTrain));
}

function fraction(value: number | undefined, flag: string): number | undefined {
  if (value !== undefined && !(value > 0 && value < 1)) {
    throw new ConfigError(`${flag} must be between 0 and 1, got ${value}`, { field: flag.slice(2) });
  }
  return value;
}

async function runTrain(opts: TrainCliOptions): Promise<void> {
  const out = path.resolve(opts.out);
  if (existsSync(out)) throw new ConfigError('output directory already exists; choose a new --out', { file: out });
  const testFraction = fraction(opts.test ?? opts.validation, '--test');
  const calibrationFraction = fraction(opts.calibrationRows, '--calibration-rows');
  const validationFraction = fraction(opts.earlyStoppingRows, '--early-stopping-rows');
  const { series, source } = await loadCandleInput(opts, {
    neither: { missing: 'training data' },
    synthetic: {
      mode: opts.syntheticMode,
      ...(opts.syntheticCount !== undefined ? { count: opts.syntheticCount } : {}),
    },
    printLoadReports: false,
  });
  const model = readModelFlags(opts, series[0]![0]?.timeframe);
  const context = await readContext(opts.context);
  const started = performance.now();
  const epochs = model.kindOptions.network?.epochs;
  const progress = model.kind === 'tfjs' ? createProgress('training', epochs ?? 30) : undefined;
  let result: TrainModelResult;
  try {
    result = await trainModel({
      series,
      ...(model.featureSet !== undefined ? { featureSet: model.featureSet } : {}),
      ...(context !== undefined ? { context } : {}),
      target: model.target,
      horizon: opts.horizon,
      lookback: opts.lookback,
      labelThreshold: opts.labelThreshold ?? opts.threshold ?? 0,
      scaler: opts.scaler,
      ...(testFraction !== undefined ? { testFraction } : {}),
      ...(calibrationFraction !== undefined ? { calibrationFraction } : {}),
      ...(validationFraction !== undefined ? { validationFraction } : {}),
      ...(model.calibration !== undefined ? { calibration: model.calibration } : {}),
      kind: model.kind,
      ...model.kindOptions,
      seed: opts.seed,
      name: opts.name ?? path.basename(out),
      logger: createJsonLogger(opts.verbose ? 'debug' : 'warn'),
      onEpoch: (log) => progress?.update(log.epoch),
    });
  } finally {
    progress?.stop();
  }
  try {
    await writeModelDirectory(out, result.files);
  } finally {
    await result.predictor.dispose();
  }
  print(renderTraining(result, source, (performance.now() - started) / 1000, out));
}

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(x * 100).toFixed(2)}%`);
const int = (x: number) => Math.round(x).toLocaleString('en-US');

export function renderTraining(result: TrainModelResult, source: string, seconds: number, out: string): string {
  const { meta, dataset } = result;
  const lines: string[] = [];
  lines.push(
    `trained '${meta.name}' (${meta.kind}, ${meta.label.kind}) on ${source}: ${meta.training.symbol} ${meta.training.timeframe}`,
  );
  lines.push(`  backend: ${result.backend} (${result.backendReason})`);
  lines.push(
    `  data: ${int(dataset.rows)} samples of ${dataset.cols} features (${meta.featureSchema.name}); ` +
      `${int(dataset.trainRows)} fit, ${int(dataset.validationRows)} early stopping, ${int(dataset.calibrationRows)} calibration ` +
      `(${meta.calibration?.method ?? 'none'}), ${int(dataset.testRows)} test; ${dataset.embargo}-candle embargoes (chronological)`,
  );
  if (meta.kind === 'tfjs') {
    const info = result.info as { epochsRun?: number; bestEpoch?: number; stoppedEarly?: boolean };
    const speed = result.samplesPerSecond !== undefined ? `, ${int(result.samplesPerSecond)} samples/s` : '';
    const stop = info.stoppedEarly ? ' (early stop)' : '';
    lines.push(
      `  training: ${info.epochsRun} epochs${stop}, best epoch ${info.bestEpoch}${speed}, ${seconds.toFixed(1)} s`,
    );
  } else {
    lines.push(`  training: ${seconds.toFixed(1)} s`);
  }
  if (result.validation !== undefined) lines.push(...renderMetrics(result.validation));
  if (result.regression !== undefined) lines.push(...renderRegression(meta.label.kind, result.regression));
  lines.push(`saved to ${out}`);
  return lines.join('\n');
}

function renderMetrics(v: ValidationMetrics): string[] {
  const best = bestBaseline(v);
  const lines = [
    `test (${int(v.rows)} rows no fit, early stopping or calibration saw; a coin's accuracy varies by +/-${((1.96 * 50) / Math.sqrt(v.rows)).toFixed(1)} points at 95%):`,
    `  accuracy  ${pct(v.accuracy).padStart(7)}   baselines on the same rows: majority class ${pct(v.majorityBaseline)}, ` +
      `always up ${pct(v.alwaysUpBaseline)}, last-candle reversal ${pct(v.reversalBaseline)}, momentum ${pct(v.momentumBaseline)}`,
    `  edge      ${pct(v.accuracy - best.accuracy).padStart(7)}   over the best baseline (${best.name})`,
    `  ROC AUC   ${(v.rocAuc === null ? 'n/a' : v.rocAuc.toFixed(4)).padStart(7)}   no skill 0.5000`,
    `  Brier     ${v.brier.toFixed(4).padStart(7)}   base rate ${(v.baseRateBrier ?? Number.NaN).toFixed(4)} (always predicting it)`,
    `  log loss  ${v.logLoss.toFixed(4).padStart(7)}`,
  ];
  if (!(v.accuracy > best.accuracy)) lines.push(`  WARNING: the model does not beat the naive baseline "${best.name}"`);
  if (!(v.brier < (v.baseRateBrier ?? 0))) lines.push('  WARNING: its probabilities are no better than the base rate');
  return lines;
}

function renderRegression(target: string, r: RegressionMetrics): string[] {
  const naive = target === 'volatility' ? 'EWMA volatility' : 'zero';
  const lines = [
    `test (${int(r.rows)} rows no fit, early stopping or calibration saw), next to the naive forecast (${naive}):`,
    `  MAE          ${r.mae.toExponential(4)}   naive ${r.naiveMae.toExponential(4)}`,
    `  R² vs naive  ${r.r2VsNaive.toFixed(4)}   (> 0: closer than the naive forecast)`,
    `  correlation  ${r.correlation === null ? 'n/a' : r.correlation.toFixed(4)}`,
  ];
  if (r.qlike !== undefined)
    lines.push(`  QLIKE        ${r.qlike.toFixed(4)}   naive ${r.naiveQlike!.toFixed(4)} (lower is better)`);
  if (r.intervalHitRate !== undefined) lines.push(`  80% interval holds ${pct(r.intervalHitRate)} of outcomes`);
  if (!(r.mae < r.naiveMae)) lines.push('  WARNING: the forecasts are no closer than the naive forecast');
  return lines;
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
