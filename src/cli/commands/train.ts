/**
 * `quantflow train`: trains a model on a candle file or the synthetic market,
 * prints its out-of-sample scores next to the no-skill baselines, and writes
 * the model directory (model files, meta.json, scaler.json, manifest.json).
 *
 *   quantflow train (--data FILE | --synthetic [--synthetic-mode regime|random-walk|planted])
 *     [--features relative|seed] [--horizon N] [--lookback N] [--threshold X] [--scaler zscore|minmax]
 *     [--kind tfjs|python] [--script FILE] [--epochs N] [--batch-size N] [--learning-rate X]
 *     [--layers 64,32,16] [--dropout X] [--patience N] [--seed N] [--validation 0.2] [--name NAME] --out DIR
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { createJsonLogger } from '../../core/logger.js';
import { DEFAULT_SYNTHETIC, type SyntheticMode } from '../../data/index.js';
import type { FeatureSetName } from '../../features/feature-schema.js';
import type { ScalerKind } from '../../features/scaler.js';
import { DEFAULT_MLP_OPTIONS } from '../../models/mlp.js';
import { writeModelDirectory } from '../../models/model-files.js';
import type { ModelKind, ValidationMetrics } from '../../models/model-meta.js';
import { type TrainModelResult, trainModel } from '../../models/train.js';
import { action, integerOption, numberOption } from '../action.js';
import { loadCandleInput } from '../candle-input.js';
import { createProgress } from '../progress.js';

interface TrainCliOptions {
  data?: string;
  synthetic?: boolean;
  syntheticMode: SyntheticMode;
  syntheticCount?: number;
  features: FeatureSetName;
  horizon: number;
  lookback: number;
  threshold: number;
  scaler: ScalerKind;
  kind: ModelKind;
  script?: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  layers: number[];
  dropout: number;
  patience: number;
  seed: number;
  validation: number;
  name?: string;
  out: string;
  verbose?: boolean;
}

function layersOption(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const units = parts.map(Number);
  if (parts.length === 0 || units.some((u, i) => parts[i] === '' || !Number.isInteger(u) || u < 1)) {
    throw new InvalidArgumentError(
      `--layers expects positive integers separated by commas, e.g. 64,32,16; got '${value}'`,
    );
  }
  return units;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train a model on candles and save it with its scaler, metadata and checksums')
    .option('--data <file>', 'candle file (CSV or JSON)')
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
    .addOption(new Option('--features <set>', 'feature set').choices(['relative', 'seed']).default('relative'))
    .option('--horizon <n>', 'candles ahead the label looks', integerOption('horizon', 1), 1)
    .option('--lookback <n>', 'feature rows per sample', integerOption('lookback', 1), 1)
    .option(
      '--threshold <x>',
      'leave out samples whose |return| over the horizon is <= x',
      numberOption('threshold'),
      0,
    )
    .addOption(new Option('--scaler <kind>', 'feature scaling').choices(['zscore', 'minmax']).default('zscore'))
    .addOption(new Option('--kind <kind>', 'model backend').choices(['tfjs', 'python']).default('tfjs'))
    .option('--script <file>', 'python model script (with --kind python; default the bundled logistic regression)')
    .option('--epochs <n>', 'maximum training epochs', integerOption('epochs', 1), DEFAULT_MLP_OPTIONS.epochs)
    .option('--batch-size <n>', 'rows per gradient step', integerOption('batch-size', 1), DEFAULT_MLP_OPTIONS.batchSize)
    .option(
      '--learning-rate <x>',
      'Adam learning rate',
      numberOption('learning-rate'),
      DEFAULT_MLP_OPTIONS.learningRate,
    )
    .option('--layers <units>', 'hidden layer sizes, e.g. 64,32,16', layersOption, [...DEFAULT_MLP_OPTIONS.layers])
    .option('--dropout <x>', 'dropout rate while training, in [0, 1)', numberOption('dropout'), 0)
    .option(
      '--patience <n>',
      'early-stopping patience in epochs (0 = no early stopping)',
      integerOption('patience', 0),
      5,
    )
    .option('--seed <n>', 'seed of initial weights, shuffling and dropout', integerOption('seed', 0), 42)
    .option(
      '--validation <fraction>',
      'last fraction of samples held out for validation',
      numberOption('validation'),
      0.2,
    )
    .option('--name <name>', 'model name stored in meta.json (default: the output directory name)')
    .option('--verbose', 'log progress as JSON lines on stderr')
    .requiredOption('--out <dir>', 'new directory to write the model to')
    .action(action(runTrain));
}

async function runTrain(opts: TrainCliOptions): Promise<void> {
  const out = path.resolve(opts.out);
  if (existsSync(out)) throw new ConfigError('output directory already exists; choose a new --out', { file: out });
  if (!(opts.validation > 0 && opts.validation < 1)) {
    throw new ConfigError(`--validation must be between 0 and 1, got ${opts.validation}`, { field: 'validation' });
  }
  if (opts.kind !== 'python' && opts.script !== undefined) {
    throw new ConfigError('--script only applies with --kind python', { field: 'script' });
  }
  const { series, source } = await loadCandleInput(opts, {
    neither: { missing: 'training data' },
    synthetic: {
      mode: opts.syntheticMode,
      ...(opts.syntheticCount !== undefined ? { count: opts.syntheticCount } : {}),
    },
    printLoadReports: false,
  });
  const candles = series[0]!;
  const started = performance.now();
  const progress = opts.kind === 'tfjs' ? createProgress('training', opts.epochs) : undefined;
  let result: TrainModelResult;
  try {
    result = await trainModel({
      candles,
      featureSet: opts.features,
      horizon: opts.horizon,
      lookback: opts.lookback,
      labelThreshold: opts.threshold,
      scaler: opts.scaler,
      validationFraction: opts.validation,
      kind: opts.kind,
      network: {
        layers: opts.layers,
        dropout: opts.dropout,
        learningRate: opts.learningRate,
        epochs: opts.epochs,
        batchSize: opts.batchSize,
        earlyStopping: opts.patience === 0 ? false : { patience: opts.patience },
      },
      ...(opts.script !== undefined ? { python: { script: path.resolve(opts.script) } } : {}),
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

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const int = (x: number) => Math.round(x).toLocaleString('en-US');

function noSkill(upRate: number): { brier: number; logLoss: number } {
  const p = Math.min(Math.max(upRate, 1e-15), 1 - 1e-15);
  return { brier: upRate * (1 - upRate), logLoss: -(upRate * Math.log(p) + (1 - upRate) * Math.log(1 - p)) };
}

export function renderTraining(result: TrainModelResult, source: string, seconds: number, out: string): string {
  const { meta, dataset } = result;
  const lines: string[] = [];
  const how =
    meta.kind === 'tfjs'
      ? `TensorFlow.js on the ${result.backend} backend (${result.backendReason})`
      : `Python (${result.backendReason})`;
  lines.push(`trained '${meta.name}' on ${source}: ${meta.training.symbol} ${meta.training.timeframe}`);
  lines.push(`  backend: ${how}`);
  lines.push(
    `  data: ${int(dataset.rows)} samples of ${dataset.cols} features; ${int(dataset.trainRows)} train, ` +
      `${dataset.embargo} embargo, ${int(dataset.validationRows)} validation (chronological)`,
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
  const v = result.validation;
  if (v !== undefined) lines.push(...renderMetrics(v));
  lines.push(`saved to ${out}`);
  return lines.join('\n');
}

function renderMetrics(v: ValidationMetrics): string[] {
  const base = noSkill(v.alwaysUpBaseline);
  return [
    `validation (${int(v.rows)} rows, out of sample; a coin's accuracy varies by +/-${((1.96 * 50) / Math.sqrt(v.rows)).toFixed(1)} points at 95%):`,
    `  accuracy  ${pct(v.accuracy).padStart(7)}   baselines: majority class ${pct(v.majorityBaseline)}, always up ${pct(v.alwaysUpBaseline)}`,
    `  ROC AUC   ${(v.rocAuc === null ? 'n/a' : v.rocAuc.toFixed(4)).padStart(7)}   no skill 0.5000`,
    `  Brier     ${v.brier.toFixed(4).padStart(7)}   no skill ${base.brier.toFixed(4)} (always the base rate)`,
    `  log loss  ${v.logLoss.toFixed(4).padStart(7)}   no skill ${base.logLoss.toFixed(4)} (always the base rate)`,
  ];
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
