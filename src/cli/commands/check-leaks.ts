/**
 * `quantflow check-leaks`: does any feature (or a model's prediction) at candle
 * t change when the candles after t are removed (look-ahead: exit code 1), and
 * how much earlier history does it need to settle (warm-up: a warning with the
 * recommended minimum history)? See src/features/leak-analysis.ts.
 *
 *   quantflow check-leaks [--data FILE | --synthetic] [--features core|relative|seed|FILE] [--samples 200] [--seed N]
 *     [--tolerance 1e-9] [--fail-tolerance 1e-6] [--max-history 1000] [--histories 33,66,165]
 *     [--warmup-history N] [--full-history-samples 10]
 *     [--model NAME[@version] [--registry DIR] | --model-dir DIR] [--prediction-tolerance 1e-6] [--json]
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, QuantflowError } from '../../core/errors.js';
import { createJsonLogger } from '../../core/logger.js';
import { DEFAULT_FEATURE_SET, resolveFeatureSchema } from '../../features/feature-sets.js';
import {
  analyzeLeaks,
  type FeatureLeakSummary,
  LEAK_ANALYSIS_DEFAULTS,
  type LeakAnalysisOptions,
  type LeakReport,
} from '../../features/leak-analysis.js';
import { loadModelDirectory } from '../../models/load-model.js';
import {
  analyzeModelLeaks,
  type ModelLeakReport,
  PREDICTION_LEAK_DEFAULTS,
} from '../../models/prediction-leak-analysis.js';
import type { Predictor } from '../../models/predictor.js';
import { loadPredictor, ModelRegistry } from '../../registry/index.js';
import { action, integerOption, numberOption } from '../action.js';
import { loadCandleInput } from '../candle-input.js';
import { FEATURES_HELP, readFeatureSet } from '../feature-option.js';
import { createProgress, type Progress } from '../progress.js';
import { registryOptionHelp, registryRoot } from '../registry-option.js';
import { textTable } from '../text-table.js';

interface CheckLeaksOptions {
  data?: string;
  synthetic?: boolean;
  repair?: boolean;
  features?: string;
  samples: number;
  seed: number;
  tolerance: number;
  failTolerance: number;
  maxHistory: number;
  histories?: number[];
  warmupHistory?: number;
  fullHistorySamples: number;
  model?: string;
  registry?: string;
  modelDir?: string;
  predictionTolerance: number;
  json?: boolean;
}

function nonNegative(name: string): (value: string) => number {
  const parse = numberOption(name);
  return (value: string) => {
    const n = parse(value);
    if (n < 0) throw new InvalidArgumentError(`--${name} expects a number >= 0, got '${value}'`);
    return n;
  };
}

function integerList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const out = parts.map(Number);
  if (out.some((n, i) => parts[i] === '' || !Number.isInteger(n) || n < 0)) {
    throw new InvalidArgumentError(`--histories expects integers >= 0 separated by commas, got '${value}'`);
  }
  return out;
}

export function register(program: Command): void {
  const d = LEAK_ANALYSIS_DEFAULTS;
  program
    .command('check-leaks')
    .description(
      'recompute features (and a model’s predictions) at sampled candles with every later candle removed and with ' +
        'less earlier history: look-ahead fails (exit 1), warm-up dependence is reported with the history it needs',
    )
    .option('--data <file>', 'candle file (CSV or JSON)')
    .option('--synthetic', 'use the built-in synthetic market (20,000 1h candles, seed 42)')
    .option('--repair', 'drop bad rows and duplicates and sort out-of-order rows instead of failing')
    .addOption(new Option('--features <set>', `${FEATURES_HELP} (default ${DEFAULT_FEATURE_SET}, or the model’s)`))
    .option('--samples <n>', 'candles t to check, spread over the series', integerOption('samples', 1), d.samples)
    .option('--seed <n>', 'seed of the sample positions', integerOption('seed', 0), d.seed)
    .option(
      '--tolerance <x>',
      'warm-up: values agree when |a - b| <= x * max(1, |b|)',
      nonNegative('tolerance'),
      d.tolerance,
    )
    .addOption(
      new Option(
        '--fail-tolerance <x>',
        'fail when a feature still differs by more than x from its full-history value at --warmup-history',
      )
        .argParser(nonNegative('fail-tolerance'))
        .default(d.failTolerance, tol(d.failTolerance)),
    )
    .option(
      '--max-history <n>',
      'longest history (candles before t) tried; also the later candles kept when comparing',
      integerOption('max-history', 1),
      d.maxHistory,
    )
    .option('--histories <list>', 'histories to show differences at (default 1x, 2x, 5x the warm-up)', integerList)
    .option(
      '--warmup-history <n>',
      'the history features get in use (e.g. a live warm-up) for --fail-tolerance (default --max-history)',
      integerOption('warmup-history', 0),
    )
    .option(
      '--full-history-samples <n>',
      'samples also recomputed from the first candle against the full series',
      integerOption('full-history-samples', 0),
      d.fullHistorySamples,
    )
    .option('--model <ref>', 'also check the predictions of a registered model NAME[@version]')
    .option('--registry <dir>', registryOptionHelp('model registry of --model'))
    .option('--model-dir <dir>', 'also check the predictions of the model in this directory')
    .addOption(
      new Option('--prediction-tolerance <x>', 'warm-up agreement of predictions (absolute)')
        .argParser(nonNegative('prediction-tolerance'))
        .default(PREDICTION_LEAK_DEFAULTS.tolerance, tol(PREDICTION_LEAK_DEFAULTS.tolerance)),
    )
    .option('--json', 'print the full report as JSON')
    .action(action(runCheckLeaks));
}

async function openPredictor(o: CheckLeaksOptions): Promise<Predictor | undefined> {
  if (o.model !== undefined && o.modelDir !== undefined) {
    throw new ConfigError('give either --model or --model-dir, not both', { field: 'model' });
  }
  if (o.registry !== undefined && o.model === undefined) {
    throw new ConfigError('--registry needs --model NAME[@version]', { field: 'registry' });
  }
  const logger = createJsonLogger('warn');
  if (o.modelDir !== undefined) return loadModelDirectory(o.modelDir, { logger });
  if (o.model === undefined) return undefined;
  const registry = await ModelRegistry.open(registryRoot(o.registry), { create: false });
  return loadPredictor(registry, o.model, { logger });
}

async function runCheckLeaks(o: CheckLeaksOptions): Promise<void> {
  const { series } = await loadCandleInput(o, { neither: { missing: 'data' } });
  const candles = series[0]!;
  const predictor = await openPredictor(o);
  let progress: Progress | undefined;
  try {
    const common: Omit<LeakAnalysisOptions, 'candles'> = {
      samples: o.samples,
      seed: o.seed,
      tolerance: o.tolerance,
      failTolerance: o.failTolerance,
      maxHistory: o.maxHistory,
      fullHistorySamples: o.fullHistorySamples,
      ...(o.histories !== undefined ? { histories: o.histories } : {}),
      ...(o.warmupHistory !== undefined ? { warmupHistory: o.warmupHistory } : {}),
      onProgress: (done, total) => {
        progress ??= createProgress('check-leaks samples', total);
        progress.update(done);
      },
    };
    let features: LeakReport;
    let model: ModelLeakReport | undefined;
    if (predictor !== undefined) {
      const set = predictor.meta.featureSchema.name;
      if (
        o.features !== undefined &&
        resolveFeatureSchema(readFeatureSet(o.features, candles[0]?.timeframe)).name !== set
      ) {
        throw new ConfigError(`--features ${o.features} differs from the model's feature set '${set}'`, {
          field: 'features',
        });
      }
      model = await analyzeModelLeaks({
        ...common,
        candles,
        predictor,
        predictionTolerance: o.predictionTolerance,
      });
      features = model.features!;
    } else {
      features = await analyzeLeaks({
        ...common,
        candles,
        featureSet: readFeatureSet(o.features, candles[0]?.timeframe) ?? DEFAULT_FEATURE_SET,
      });
    }
    progress?.stop();
    progress = undefined;

    const verdict = summaryLine(features, model);
    if (o.json === true) {
      const out = model ?? { features, ok: features.ok };
      process.stdout.write(
        `${JSON.stringify(out, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n`,
      );
    } else {
      const setName =
        model?.model.featureSet ?? resolveFeatureSchema(readFeatureSet(o.features, candles[0]?.timeframe)).name;
      process.stdout.write(`${renderReport(features, setName, model)}\n`);
      if (verdict.ok) process.stdout.write(`${verdict.line}\n`);
    }
    if (!verdict.ok) throw new QuantflowError('LEAK_FOUND', verdict.line);
  } finally {
    progress?.stop();
    await predictor?.dispose();
  }
}

// ---- rendering -------------------------------------------------------------------------------------------

const int = (x: number) => x.toLocaleString('en-US');

function iso(ts: number): string {
  return new Date(ts).toISOString().slice(0, 16).replace('T', ' ');
}

/** A difference: 0, 'inf' (defined on one side only) or 2 significant digits. */
function diff(x: number): string {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return 'inf';
  return x.toExponential(1);
}

/** A tolerance as given: 1e-9, 0.001. */
function tol(x: number): string {
  return x !== 0 && x < 1e-3 ? x.toExponential() : String(x);
}

function value(x: number | null): string {
  return x === null ? 'NaN' : String(Number(x.toPrecision(6)));
}

function featureTable(r: LeakReport): string {
  const header = [
    'FEATURE',
    'LOOK-AHEAD',
    'MAX CHANGE TRUNCATED',
    ...r.histories.map((h) => `DIFF @${h}`),
    `HISTORY NEEDED (${tol(r.tolerance)})`,
    'STATUS',
  ];
  const rows = r.features.map((f: FeatureLeakSummary) => [
    f.name,
    f.lookAhead ? `YES (${f.lookAheadIn.join(', ')})` : 'no',
    diff(f.lookAheadMaxDiff),
    ...f.differences.map((d) => (f.lookAhead ? '-' : diff(d.max))),
    f.lookAhead ? '-' : f.historyNeeded === null ? `> ${int(r.maxHistory)}` : int(f.historyNeeded),
    f.status === 'ok' ? 'ok' : f.status.toUpperCase(),
  ]);
  return textTable(header, rows);
}

function methodLines(r: LeakReport): string[] {
  return [
    `${r.samples} candles t (seed ${r.seed}) through ${r.extractors.join(' and ')}: each recomputed from ` +
      `${int(r.maxHistory)} candles before t with every later candle removed, against the same start with ` +
      `${int(r.lookAheadSpan)} later candles; ${r.fullHistorySamples} also from the first candle against the full series`,
    `DIFF @h: largest |a - b| / max(1, |b|) with h candles of history vs the full history; ` +
      `fail above ${tol(r.failTolerance)} with ${int(r.warmupHistory)} candles`,
  ];
}

function examples(r: LeakReport, what: string): string[] {
  return r.features
    .filter((f) => f.lookAheadExample !== undefined)
    .map((f) => {
      const e = f.lookAheadExample!;
      const later = e.extendedTo === 'all' ? 'the full series' : `candles up to ${int(e.extendedTo)}`;
      return (
        `  ${what} ${f.name} (${e.extractor}) at ${iso(e.timestamp)} (candle ${int(e.candleIndex)}): ` +
        `${value(e.truncated)} from candles up to ${int(e.truncatedAt)}, ${value(e.extended)} from ${later}`
      );
    });
}

export function renderReport(features: LeakReport, setName: string, model?: ModelLeakReport): string {
  const r = features;
  const lines: string[] = [
    `check-leaks: ${r.symbol} ${r.timeframe}, ${int(r.candles)} candles ${iso(r.from)} .. ${iso(r.to)}; ` +
      `feature set '${setName}' (warm-up ${r.warmup} candles) in ${r.seconds.toFixed(1)} s`,
    ...methodLines(r),
    '',
    featureTable(r),
  ];
  if (model !== undefined) {
    const p = model.predictions;
    lines.push(
      '',
      `predictions of ${model.model.modelVersion} (lookback ${model.model.lookback}, horizon ${model.model.horizon}; ` +
        `first input after ${p.warmup} candles) from ${p.extractors.join(' and ')} features, in ${p.seconds.toFixed(1)} s:`,
      featureTable(p),
    );
  }
  const ex = [...examples(r, 'feature'), ...(model !== undefined ? examples(model.predictions, 'prediction') : [])];
  if (ex.length > 0) lines.push('', 'look-ahead (value without later candles, then with them):', ...ex);
  return lines.join('\n');
}

/** The one-line verdict, and whether it passes. */
export function summaryLine(features: LeakReport, model?: ModelLeakReport): { ok: boolean; line: string } {
  const reports = model === undefined ? [features] : [features, model.predictions];
  const look = reports.flatMap((r) =>
    r.features.filter((f) => f.lookAhead).map((f) => `${f.name} (${f.lookAheadIn.join(', ')})`),
  );
  if (look.length > 0) {
    const e = reports.flatMap((r) => r.features).find((f) => f.lookAheadExample !== undefined)?.lookAheadExample;
    const first =
      e === undefined
        ? ''
        : `; e.g. ${value(e.truncated)} instead of ${value(e.extended)} at ${iso(e.timestamp)} (${e.extractor})`;
    return {
      ok: false,
      line:
        `LOOK-AHEAD: ${look.join(', ')} change${look.length === 1 ? 's' : ''} when later candles are removed` +
        `${first} (${features.samples} candles checked)`,
    };
  }
  const dependent = reports.flatMap((r) =>
    r.features
      .filter((f) => f.status === 'history-dependent')
      .map((f) => `${f.name} (${diff(f.diffAtWarmupHistory)} > ${tol(r.failTolerance)})`),
  );
  if (dependent.length > 0) {
    return {
      ok: false,
      line:
        `HISTORY-DEPENDENT: ${dependent.join(', ')} still differ from the full-history value ` +
        `with ${int(features.warmupHistory)} candles of history`,
    };
  }
  const need = (r: LeakReport) =>
    r.recommendedHistory === null ? `more than ${int(r.maxHistory)}` : int(r.recommendedHistory);
  let line =
    `OK: no look-ahead in ${features.featureNames.length} features (${features.extractors.join(', ')}) ` +
    `at ${features.samples} candles`;
  if (features.warmupDependent.length > 0) {
    line +=
      `; ${features.warmupDependent.length} need more than the ${features.warmup}-candle warm-up: ` +
      `give at least ${need(features)} candles of history (tolerance ${tol(features.tolerance)})`;
  }
  const p = model?.predictions;
  if (p !== undefined) {
    line += `; predictions unchanged by truncation, within ${tol(p.tolerance)} after ${need(p)} candles`;
  }
  return { ok: true, line };
}
