/**
 * The model options `train` and `backtest --strategy ml` share: the kind, the
 * target, the feature set (a name or a JSON configuration), context symbols,
 * calibration and each kind's own settings. One reading of the flags, so both
 * commands build models the same way.
 */
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import { loadCandles } from '../data/index.js';
import type { FeatureSetSpec } from '../features/feature-sets.js';
import type { ContextSeries } from '../features/streaming-extractor.js';
import { TARGET_KINDS, type TargetKind } from '../features/targets.js';
import type { CalibrationMethod } from '../models/calibration.js';
import { DEFAULT_LINEAR_OPTIONS } from '../models/linear-model.js';
import { DEFAULT_MLP_OPTIONS } from '../models/mlp.js';
import { type KindOptions, trainableKinds } from '../models/model-kinds.js';
import type { ModelKind } from '../models/model-meta.js';
import { DEFAULT_MODEL_KIND } from '../models/train.js';
import { integerOption, numberOption } from './action.js';
import { FEATURES_HELP, readFeatureSet } from './feature-option.js';

/** The flags as commander parses them (absent when not given). */
export interface ModelFlags {
  kind?: ModelKind;
  target?: TargetKind;
  features?: string;
  context?: string[];
  calibration?: CalibrationMethod | 'none';
  l2?: number;
  layers?: number[];
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  dropout?: number;
  patience?: number;
  trees?: number;
  depth?: number;
  gbdtLibrary?: 'xgboost' | 'sklearn';
  script?: string;
  python?: string;
}

/** The flag names (as `opts` keys) this module owns, for "applies only to ..." checks. */
export const MODEL_FLAG_KEYS = [
  'kind',
  'target',
  'features',
  'context',
  'calibration',
  'l2',
  'layers',
  'epochs',
  'batchSize',
  'learningRate',
  'dropout',
  'patience',
  'trees',
  'depth',
  'gbdtLibrary',
  'script',
  'python',
] as const;

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

/** Adds the shared model options to a command; `prefix` marks them in help texts (e.g. 'ml: '). */
export function addModelOptions(cmd: Command, prefix = ''): Command {
  const kinds = trainableKinds();
  return cmd
    .addOption(
      new Option(
        '--kind <kind>',
        `${prefix}model kind (default ${DEFAULT_MODEL_KIND}): ${kinds.map((k) => `${k.kind} (${k.description})`).join('; ')}`,
      ).choices(kinds.map((k) => k.kind)),
    )
    .addOption(
      new Option(
        '--target <target>',
        `${prefix}what the model predicts over the horizon: direction (P(up)), return (log return) or volatility (realised); default direction`,
      ).choices([...TARGET_KINDS]),
    )
    .option('--features <set>', `${prefix}${FEATURES_HELP} (default core)`)
    .option(
      '--context <files...>',
      `${prefix}candle files of the feature configuration's context symbols (their candles inform features, they are not traded)`,
    )
    .addOption(
      new Option(
        '--calibration <method>',
        `${prefix}calibration of direction probabilities on held-out rows after the fitting rows (default: none for logistic, whose fit is calibrated by its log loss; platt for the others)`,
      ).choices(['platt', 'isotonic', 'none']),
    )
    .option(
      '--l2 <x>',
      `${prefix}logistic: L2 penalty on the mean loss (default ${DEFAULT_LINEAR_OPTIONS.l2})`,
      numberOption('l2'),
    )
    .option(
      '--layers <units>',
      `${prefix}tfjs: hidden layer sizes, e.g. 64,32,16 (default ${DEFAULT_MLP_OPTIONS.layers.join(',')})`,
      layersOption,
    )
    .option('--epochs <n>', `${prefix}tfjs: maximum training epochs`, integerOption('epochs', 1))
    .option('--batch-size <n>', `${prefix}tfjs: rows per gradient step`, integerOption('batch-size', 1))
    .option('--learning-rate <x>', `${prefix}tfjs: Adam learning rate`, numberOption('learning-rate'))
    .option('--dropout <x>', `${prefix}tfjs: dropout rate while training, in [0, 1)`, numberOption('dropout'))
    .option(
      '--patience <n>',
      `${prefix}tfjs: early-stopping patience in epochs (0 = no early stopping)`,
      integerOption('patience', 0),
    )
    .option('--trees <n>', `${prefix}gbdt: boosting rounds at most (default 300)`, integerOption('trees', 1))
    .option('--depth <n>', `${prefix}gbdt: tree depth at most (default 3)`, integerOption('depth', 1))
    .addOption(
      new Option('--gbdt-library <name>', `${prefix}gbdt: xgboost (default) or sklearn`).choices([
        'xgboost',
        'sklearn',
      ]),
    )
    .option('--script <file>', `${prefix}python: model script (default the bundled logistic regression)`)
    .option(
      '--python <executable>',
      `${prefix}python and gbdt: the Python interpreter (default: found, see QUANTFLOW_PYTHON)`,
    );
}

export interface ModelChoice {
  readonly kind: ModelKind;
  readonly target: TargetKind;
  readonly featureSet: FeatureSetSpec | undefined;
  readonly calibration: CalibrationMethod | 'none' | undefined;
  readonly kindOptions: KindOptions;
}

/** Reads the shared flags; ConfigError for a flag that does not apply to the chosen kind. */
export function readModelFlags(o: ModelFlags, timeframe: string | undefined): ModelChoice {
  const kind = o.kind ?? DEFAULT_MODEL_KIND;
  const only: [keyof ModelFlags, ModelKind[]][] = [
    ['l2', ['logistic']],
    ['layers', ['tfjs']],
    ['epochs', ['tfjs']],
    ['batchSize', ['tfjs']],
    ['learningRate', ['tfjs']],
    ['dropout', ['tfjs']],
    ['patience', ['tfjs']],
    ['trees', ['gbdt']],
    ['depth', ['gbdt']],
    ['gbdtLibrary', ['gbdt']],
    ['script', ['python']],
    ['python', ['python', 'gbdt']],
  ];
  for (const [key, kinds] of only) {
    if (o[key] !== undefined && !kinds.includes(kind)) {
      const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      throw new ConfigError(`${flag} applies to --kind ${kinds.join(' or ')}, not ${kind}`, { field: key });
    }
  }
  const network = {
    ...(o.layers !== undefined ? { layers: o.layers } : {}),
    ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.learningRate !== undefined ? { learningRate: o.learningRate } : {}),
    ...(o.dropout !== undefined ? { dropout: o.dropout } : {}),
    ...(o.patience !== undefined
      ? { earlyStopping: o.patience === 0 ? (false as const) : { patience: o.patience } }
      : {}),
  };
  const kindOptions: KindOptions = {
    ...(Object.keys(network).length > 0 ? { network } : {}),
    ...(o.l2 !== undefined ? { linear: { l2: o.l2 } } : {}),
    ...(o.trees !== undefined || o.depth !== undefined || o.gbdtLibrary !== undefined
      ? {
          gbdt: {
            ...(o.trees !== undefined ? { trees: o.trees } : {}),
            ...(o.depth !== undefined ? { depth: o.depth } : {}),
            ...(o.gbdtLibrary !== undefined ? { library: o.gbdtLibrary } : {}),
          },
        }
      : {}),
    ...(o.script !== undefined || o.python !== undefined
      ? {
          python: {
            ...(o.script !== undefined ? { script: path.resolve(o.script) } : {}),
            ...(o.python !== undefined ? { python: o.python } : {}),
          },
        }
      : {}),
  };
  return {
    kind,
    target: o.target ?? 'direction',
    featureSet: readFeatureSet(o.features, timeframe),
    calibration: o.calibration,
    kindOptions,
  };
}

/** The candles of `--context` files, keyed by the symbol each file holds (from its name or data). */
export async function readContext(files: readonly string[] | undefined): Promise<ContextSeries | undefined> {
  if (files === undefined || files.length === 0) return undefined;
  const out = new Map<string, readonly Candle[]>();
  for (const file of files) {
    const { candles } = await loadCandles(path.resolve(file));
    const symbol = candles[0]?.symbol;
    if (symbol === undefined) throw new ConfigError('context file holds no candles', { file, field: 'context' });
    if (out.has(symbol)) throw new ConfigError(`context symbol ${symbol} is given twice`, { file, field: 'context' });
    out.set(symbol, candles);
  }
  return out;
}

/** Hidden old flag names: still accepted, with a notice on stderr saying the new name. */
export function renamedOption(
  cmd: Command,
  old: string,
  now: string,
  what: string,
  parse: (v: string) => number,
): void {
  cmd.addOption(
    new Option(`--${old} <x>`, `renamed to --${now}`).hideHelp().argParser((value: string) => {
      process.stderr.write(`notice: --${old} is now --${now} (${what}); the old name still works for now\n`);
      return parse(value);
    }),
  );
}
