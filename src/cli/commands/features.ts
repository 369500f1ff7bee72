/**
 * `quantflow features ...`: QuantFlow's features for tools outside it, so a
 * model trained elsewhere takes exactly the inputs QuantFlow will feed it.
 *
 *   features schema [--features NAME] [--lookback N]
 *     the schema as JSON: columns in order, warm-ups, descriptions
 *   features export (--data FILE | --synthetic) [--features NAME] [--lookback N] [--horizon N]
 *     [--target direction|return|volatility] [--label-threshold X] --out FILE.csv
 *     the feature rows and labels as CSV (timestamp, the columns in schema order, label)
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { ConfigError } from '../../core/errors.js';
import { buildDataset, type Dataset, lookbackColumnNames } from '../../features/dataset.js';
import { type FeatureSchema, featureNames, schemaWarmup } from '../../features/feature-schema.js';
import { DEFAULT_FEATURE_SET, resolveFeatureSchema } from '../../features/feature-sets.js';
import { TARGET_KINDS, type TargetKind } from '../../features/targets.js';
import { action, integerOption, numberOption } from '../action.js';
import { loadCandleInput } from '../candle-input.js';
import { FEATURES_HELP, readFeatureSet } from '../feature-option.js';
import { renamedOption } from '../model-options.js';

/** What `features schema` prints: the schema plus the model's columns for a lookback. */
export function schemaDocument(schema: FeatureSchema, lookback: number): Record<string, unknown> {
  const columns = lookbackColumnNames(featureNames(schema), lookback);
  return {
    name: schema.name,
    version: schema.version,
    lookback,
    warmup: schemaWarmup(schema),
    inputWidth: columns.length,
    columns,
    features: schema.features,
    ...(schema.config !== undefined ? { config: schema.config } : {}),
    ...(schema.history !== undefined ? { history: schema.history } : {}),
  };
}

/** CSV of a dataset: timestamp (ms UTC, candle open), the columns, the label; values exactly as QuantFlow feeds them. */
export function datasetCsv(ds: Dataset): string {
  const lines = [['timestamp', ...ds.featureNames, 'label'].join(',')];
  const row = new Array<string>(ds.cols + 2);
  for (let i = 0; i < ds.rows; i++) {
    row[0] = String(ds.timestamps[i]);
    for (let j = 0; j < ds.cols; j++) row[j + 1] = String(ds.features[i * ds.cols + j]);
    row[ds.cols + 1] = String(ds.labels[i]);
    lines.push(row.join(','));
  }
  return `${lines.join('\n')}\n`;
}

interface SchemaOptions {
  features: string;
  lookback: number;
}

interface ExportOptions extends SchemaOptions {
  data?: string;
  synthetic?: boolean;
  repair?: boolean;
  horizon: number;
  target: TargetKind;
  labelThreshold: number;
  /** The old name of --label-threshold. */
  threshold?: number;
  out: string;
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

export function register(program: Command): void {
  const features = program
    .command('features')
    .description("QuantFlow's features for models trained elsewhere: the schema (column order) and the rows as CSV");
  const common = (cmd: Command) =>
    cmd
      .option('--features <set>', `${FEATURES_HELP} (default ${DEFAULT_FEATURE_SET})`, DEFAULT_FEATURE_SET)
      .option('--lookback <n>', 'feature rows per model input, oldest first', integerOption('lookback', 1), 1);

  common(features.command('schema').description('print the feature schema as JSON: columns in order, warm-ups')).action(
    action((opts: SchemaOptions) => {
      const schema = resolveFeatureSchema(readFeatureSet(opts.features));
      process.stdout.write(`${JSON.stringify(schemaDocument(schema, opts.lookback), null, 2)}\n`);
    }),
  );

  const exporter = common(
    features
      .command('export')
      .description('write the feature rows and labels of candles as CSV (timestamp, columns in schema order, label)')
      .option('--data <file>', 'candle file (CSV or JSON)')
      .option('--synthetic', 'use the built-in synthetic market')
      .option('--repair', 'drop bad rows and duplicates and sort out-of-order rows instead of failing')
      .option('--horizon <n>', 'candles ahead the label looks', integerOption('horizon', 1), 1)
      .addOption(
        new Option('--target <kind>', 'label: direction (1 up, 0 down), return (log), volatility (log)')
          .choices([...TARGET_KINDS])
          .default('direction'),
      )
      .option(
        '--label-threshold <x>',
        'direction: leave out rows whose |return| is <= x',
        numberOption('label-threshold'),
        0,
      )
      .requiredOption('--out <file>', 'CSV file to write (must not exist)'),
  );
  renamedOption(exporter, 'threshold', 'label-threshold', 'the smallest move labelled', numberOption('threshold'));
  exporter.action(
    action(async (opts: ExportOptions) => {
      const out = path.resolve(opts.out);
      if (existsSync(out)) throw new ConfigError('output file already exists; choose a new --out', { file: out });
      const { series, source } = await loadCandleInput(opts, { neither: { missing: 'candles' } });
      const schema = resolveFeatureSchema(readFeatureSet(opts.features, series[0]![0]!.timeframe));
      const ds = buildDataset(series[0]!, {
        featureSet: schema,
        horizon: opts.horizon,
        lookback: opts.lookback,
        target: opts.target,
        labelThreshold: opts.threshold ?? opts.labelThreshold,
      });
      if (ds.rows === 0) throw new ConfigError(`${source} gives no feature rows after the warm-up`, { field: 'data' });
      await writeFile(out, datasetCsv(ds));
      process.stdout.write(
        `wrote ${ds.rows.toLocaleString('en-US')} rows x ${ds.cols} columns of '${schema.name}' features ` +
          `(${opts.target} label, horizon ${opts.horizon}) from ${source} to ${out}\n` +
          `rows from ${iso(ds.timestamps[0]!)} to ${iso(ds.timestamps[ds.rows - 1]!)}\n`,
      );
    }),
  );
}
