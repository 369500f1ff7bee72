/**
 * `quantflow models import`: an ONNX model trained elsewhere becomes a model
 * directory (model.onnx, meta.json, scaler.json, manifest.json), checked by
 * loading it as every later load will. Register it with `models register`.
 *
 *   quantflow models import --onnx FILE --features NAME|SCHEMA.json --scaler scaler.json|none
 *     --trained-from DATE --trained-to DATE --train-rows N
 *     [--target direction|return|volatility] [--horizon N] [--lookback N] [--label-threshold X] [--output NAME]
 *     [--symbol S] [--timeframe TF] [--name NAME] [--device cpu|cuda] [--json] --out DIR
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { createJsonLogger } from '../../core/logger.js';
import { type FeatureSchema, type FeatureSetName, parseFeatureSchema } from '../../features/feature-schema.js';
import { TARGET_KINDS, type TargetKind } from '../../features/targets.js';
import { writeModelDirectory } from '../../models/model-files.js';
import { importOnnxModel } from '../../models/onnx-import.js';
import { type OnnxDevice, onnxDevice } from '../../models/onnx-runtime.js';
import { action, dateOption, integerOption, numberOption } from '../action.js';
import { renamedOption } from '../model-options.js';

interface ImportCliOptions {
  onnx: string;
  features: string;
  scaler: string;
  trainedFrom: number;
  trainedTo: number;
  trainRows: number;
  target: TargetKind;
  horizon: number;
  lookback?: number;
  labelThreshold: number;
  /** The old name of --label-threshold. */
  threshold?: number;
  output?: string;
  symbol?: string;
  timeframe?: string;
  name?: string;
  device?: OnnxDevice;
  json?: boolean;
  out: string;
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the ${what} (${(err as Error).message})`, { file }, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`the ${what} is not valid JSON (${(err as Error).message})`, { file }, { cause: err });
  }
}

/** `--features`: a feature set name, or a schema file as `quantflow features schema` prints it (with its lookback). */
async function readFeatures(value: string): Promise<{ features: FeatureSetName | FeatureSchema; lookback?: number }> {
  if (!existsSync(value)) return { features: value as FeatureSetName };
  const file = path.resolve(value);
  const doc = await readJson(file, 'feature schema');
  const lookback = (doc as { lookback?: unknown } | null)?.lookback;
  if (lookback !== undefined && !(Number.isInteger(lookback) && (lookback as number) >= 1)) {
    throw new ConfigError('lookback must be an integer >= 1', { file, field: 'lookback' });
  }
  return {
    features: parseFeatureSchema(doc, file),
    ...(lookback !== undefined ? { lookback: lookback as number } : {}),
  };
}

export function registerModelsImport(models: Command): void {
  const cmd = models.command('import');
  renamedOption(cmd, 'threshold', 'label-threshold', 'the smallest move labelled', numberOption('threshold'));
  cmd
    .description('make an ONNX model trained elsewhere into a model directory (checked; then: models register)')
    .requiredOption('--onnx <file>', 'the .onnx model: float32 input [N, columns], probabilities (or values) out')
    .requiredOption(
      '--features <set|file>',
      "the feature set it takes: a name, or a schema file from 'quantflow features schema'",
    )
    .requiredOption('--scaler <file|none>', "a QuantFlow scaler.json applied first, or 'none' (the graph scales)")
    .requiredOption(
      '--trained-from <date>',
      'open time of the first candle it was trained on',
      dateOption('trained-from'),
    )
    .requiredOption('--trained-to <date>', 'open time of the last candle it was trained on', dateOption('trained-to'))
    .requiredOption('--train-rows <n>', 'rows it was trained on', integerOption('train-rows', 1))
    .addOption(
      new Option('--target <kind>', 'what it predicts: direction (P(up)), return (log), volatility (log)')
        .choices([...TARGET_KINDS])
        .default('direction'),
    )
    .option('--horizon <n>', 'candles ahead its label looks', integerOption('horizon', 1), 1)
    .option('--lookback <n>', "feature rows per input (default 1, or the schema file's)", integerOption('lookback', 1))
    .option(
      '--label-threshold <x>',
      'direction: moves of at most x were left out of training',
      numberOption('label-threshold'),
      0,
    )
    .option('--output <name>', 'the output to read (default: the only float32 output, or the one named like prob)')
    .option('--symbol <symbol>', 'market it was trained on, e.g. BTC/USDT (shown in listings)')
    .option('--timeframe <tf>', 'candle timeframe it was trained on, e.g. 1h')
    .option('--name <name>', 'model name in meta.json (default: the output directory name)')
    .addOption(
      new Option('--device <device>', 'where the check runs: cpu, or cuda (untested here; see the README)').choices([
        'cpu',
        'cuda',
      ]),
    )
    .option('--json', 'print meta.json instead of a summary')
    .requiredOption('--out <dir>', 'new directory to write the model to')
    .action(action(runImport));
}

async function runImport(opts: ImportCliOptions): Promise<void> {
  const out = path.resolve(opts.out);
  if (existsSync(out)) throw new ConfigError('output directory already exists; choose a new --out', { file: out });
  const file = path.resolve(opts.onnx);
  let onnx: Uint8Array;
  try {
    onnx = await readFile(file);
  } catch (err) {
    throw new ConfigError(`cannot read the ONNX model (${(err as Error).message})`, { file }, { cause: err });
  }
  const { features, lookback: schemaLookback } = await readFeatures(opts.features);
  if (opts.lookback !== undefined && schemaLookback !== undefined && opts.lookback !== schemaLookback) {
    throw new ConfigError(`--lookback ${opts.lookback} differs from the schema file's lookback ${schemaLookback}`, {
      field: 'lookback',
    });
  }
  const scaler = opts.scaler === 'none' ? undefined : await readJson(path.resolve(opts.scaler), 'scaler');
  const imported = await importOnnxModel({
    onnx,
    file,
    features,
    lookback: opts.lookback ?? schemaLookback ?? 1,
    ...(scaler !== undefined ? { scaler } : {}),
    target: opts.target,
    horizon: opts.horizon,
    threshold: opts.threshold ?? opts.labelThreshold,
    ...(opts.output !== undefined ? { output: opts.output } : {}),
    name: opts.name ?? path.basename(out),
    training: {
      ...(opts.symbol !== undefined ? { symbol: opts.symbol } : {}),
      ...(opts.timeframe !== undefined ? { timeframe: opts.timeframe } : {}),
      from: opts.trainedFrom,
      to: opts.trainedTo,
      rows: opts.trainRows,
    },
    load: { device: onnxDevice(opts.device) },
    logger: createJsonLogger('warn'),
  });
  await writeModelDirectory(out, imported.files);
  const { meta } = imported;
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify(meta, null, 2)}\n`);
    return;
  }
  const label = meta.label.kind === 'direction' ? 'P(up)' : `${meta.label.kind} (model space)`;
  process.stdout.write(
    `imported '${meta.name}': ${meta.inputWidth} columns of feature set '${meta.featureSchema.name}' ` +
      `v${meta.featureSchema.version} (lookback ${meta.lookback}), ${label} ${meta.label.horizon} candle(s) ahead, ` +
      `read from output '${imported.output}'; checked on ${imported.backend} (${imported.provider})\n` +
      `saved to ${out}\nnext: quantflow models register ${meta.name} ${opts.out}\n`,
  );
}
