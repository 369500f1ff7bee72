/**
 * The ML sections of a backtest report: the model's out-of-sample scores next
 * to the naive baselines scored on exactly the same predictions (majority
 * class of the training windows, always up, last-candle reversal, last-candle
 * momentum, the base-rate Brier), flagged when the model does not beat them;
 * what the costs demand (the break-even accuracy) next to the accuracy of the
 * trades taken; the walk-forward windows as a table; the distribution of the
 * predicted probabilities; the reliability diagram before and after
 * calibration; and, for return and volatility models, their scores next to
 * the naive forecast.
 */
import type { Prediction, Trade } from '../src/core/types.js';
import type { ReportSection } from '../src/engine/result.js';
import { rocAuc } from '../src/models/evaluation.js';
import type { ForecastSummary } from '../src/models/outcome-stats.js';
import type { TrackerStats } from '../src/tracking/types.js';
import { isoTime } from './format.js';

/** One resolved prediction: calibrated p, the raw p before calibration (when known), the outcome. */
export interface ResolvedPrediction {
  readonly p: number;
  readonly raw: number | null;
  readonly y: 0 | 1;
  /** |log return| over the horizon. */
  readonly move: number;
}

/** A window as the report shows it. */
export interface ReportWindow {
  readonly label: string;
  readonly testFrom: number;
  readonly testTo: number;
  readonly stats: TrackerStats;
  readonly majorityBaseline: number | null;
  readonly fitRows: number;
  readonly calibrationRows: number;
  readonly cached?: boolean;
}

export interface MlReportInput {
  readonly title: string;
  /** E.g. the data overlapping the model's training period. */
  readonly warnings: readonly string[];
  readonly stats: TrackerStats;
  /** Accuracy of calling each training window's majority class (null without training windows). */
  readonly majorityBaseline: number | null;
  readonly resolved: readonly ResolvedPrediction[];
  readonly predictions: readonly Prediction[];
  readonly windows: readonly ReportWindow[];
  readonly walkForward: boolean;
  readonly threshold: number;
  /** Fees and slippage of an entry and its exit, as a fraction. */
  readonly roundTripCost: number;
  /** Trades and whether each one's direction was right (the price moved its way before costs). */
  readonly trades: readonly Trade[];
  readonly calibration: string;
  /** Volatility models: only their forecasts are scored (they make no direction calls and trade nothing). */
  readonly forecastsOnly?: boolean;
}

/** Fewer trades than this and a trading figure means little. */
export const FEW_TRADES = 30;

const fixed = (x: number | null | undefined, digits = 4) => (x === null || x === undefined ? 'n/a' : x.toFixed(digits));
const count = (n: number) => n.toLocaleString('en-US');
const orNaN = (x: number | null | undefined) => (x === null || x === undefined ? Number.NaN : x);

/** The best of the naive baselines of a selection and its name. */
export function bestNaive(stats: TrackerStats, majority: number | null): { name: string; accuracy: number } {
  const candidates: [string, number | null][] = [
    ['majority class of the training window', majority ?? stats.noSkillAccuracy],
    ['always up', stats.baseRate],
    ['last-candle reversal', stats.reversalAccuracy],
    ['last-candle momentum', stats.momentumAccuracy],
  ];
  let best = { name: 'none', accuracy: Number.NaN };
  for (const [name, acc] of candidates) {
    if (acc !== null && !(acc <= best.accuracy)) best = { name, accuracy: acc };
  }
  return best;
}

/** What is wrong with the scores, if anything: the model does not beat the naive baselines. */
export function naiveVerdict(stats: TrackerStats, majority: number | null, auc: number | null): string[] {
  const out: string[] = [];
  if (stats.resolved === 0) return ['no prediction has resolved: nothing is scored'];
  const best = bestNaive(stats, majority);
  if (!(orNaN(stats.accuracy) > best.accuracy)) {
    out.push(
      `the model does not beat the naive baselines: accuracy ${fixed(stats.accuracy)} vs ${fixed(best.accuracy)} for "${best.name}"`,
    );
  }
  if (!(orNaN(stats.brierScore) < orNaN(stats.baseRateBrier))) {
    out.push(
      `its probabilities are no better than a constant: Brier ${fixed(stats.brierScore)} vs ${fixed(stats.baseRateBrier)} for always predicting the base rate`,
    );
  }
  if (auc !== null && auc <= 0.5) out.push(`it does not rank ups above downs: ROC AUC ${fixed(auc)}`);
  return out;
}

/** The accuracy a direction call needs to pay for a round trip when wins and losses are `move` each. */
export function breakEvenAccuracy(roundTripCost: number, move: number): number {
  return move > 0 ? Math.min(1, (1 + roundTripCost / move) / 2) : 1;
}

/** ROC AUC of the resolved predictions (null without any). */
export function resolvedAuc(resolved: readonly ResolvedPrediction[]): number | null {
  return resolved.length > 0
    ? rocAuc(
        resolved.map((r) => r.p),
        resolved.map((r) => r.y),
      )
    : null;
}

export function mlSections(input: MlReportInput): ReportSection[] {
  const { stats, resolved, threshold } = input;
  const auc = resolvedAuc(resolved);
  const best = bestNaive(stats, input.majorityBaseline);
  const confident = resolved.filter((r) => Math.abs(r.p - 0.5) * 2 >= threshold);
  const confidentHits = confident.filter((r) => (r.p > 0.5 ? 1 : 0) === r.y).length;
  const meanMove = resolved.length > 0 ? resolved.reduce((a, r) => a + r.move, 0) / resolved.length : 0;
  const trades = input.trades;
  const right = trades.filter((t) =>
    t.direction === 'long' ? t.exitPrice > t.entryPrice : t.exitPrice < t.entryPrice,
  );
  const tradeMove =
    trades.length > 0
      ? trades.reduce((a, t) => a + Math.abs(Math.log(t.exitPrice / t.entryPrice)), 0) / trades.length
      : 0;

  if (input.forecastsOnly === true) return forecastOnlySections(input);
  const warnings = [...input.warnings, ...naiveVerdict(stats, input.majorityBaseline, auc)];
  if (trades.length < FEW_TRADES) {
    warnings.push(
      `${trades.length} trades: too few for the return, win rate, profit factor and Sharpe above to mean anything`,
    );
  }
  const rows: [string, string | number][] = [['setup', input.title]];
  rows.push(
    ['predictions', count(stats.count)],
    ['resolved (up/down)', count(stats.resolved)],
    ['flat outcomes (not scored)', count(stats.flat)],
    ['pending (no later candle)', count(stats.pending)],
    ['accuracy', orNaN(stats.accuracy)],
    ['ROC AUC', orNaN(auc)],
    ['Brier score', orNaN(stats.brierScore)],
    ['Brier score of the base rate (a constant)', orNaN(stats.baseRateBrier)],
    ['log loss', orNaN(stats.logLoss)],
    ['precision (up)', orNaN(stats.precision)],
    ['recall (up)', orNaN(stats.recall)],
  );
  if (input.walkForward) rows.push(['baseline: majority class of each training window', orNaN(input.majorityBaseline)]);
  rows.push(
    ['baseline: always up', orNaN(stats.baseRate)],
    ['baseline: the next candle reverses the last', orNaN(stats.reversalAccuracy)],
    ['baseline: the next candle continues the last', orNaN(stats.momentumAccuracy)],
    [`edge: accuracy minus the best baseline (${best.name})`, orNaN(stats.accuracy) - best.accuracy],
    ['calibration', input.calibration],
    [`calls with confidence >= ${threshold}`, count(confident.length)],
    ['accuracy of those calls', confident.length > 0 ? confidentHits / confident.length : Number.NaN],
  );
  const sections: ReportSection[] = [{ title: 'ML predictions, scored out of sample', warnings, rows }];

  sections.push({
    title: 'What the costs demand',
    rows: [
      ['round trip (fees and slippage of entry and exit)', input.roundTripCost],
      ['mean |move| over the horizon, all predictions', meanMove],
      ['break-even accuracy at that move', breakEvenAccuracy(input.roundTripCost, meanMove)],
      ['accuracy of all predictions', orNaN(stats.accuracy)],
      ['trades taken', count(trades.length)],
      ['mean |move| from entry to exit, trades taken', tradeMove],
      [
        'break-even accuracy of the trades taken',
        trades.length > 0 ? breakEvenAccuracy(input.roundTripCost, tradeMove) : Number.NaN,
      ],
      [
        'share of trades whose direction was right (before costs)',
        trades.length > 0 ? right.length / trades.length : Number.NaN,
      ],
    ],
  });

  if (stats.forecasts.return !== undefined) sections.push(forecastSection('return', stats.forecasts.return));

  if (input.walkForward && input.windows.length > 0) {
    sections.push(
      windowSection(input.windows, (w) => w.stats.resolved, 'accuracy', [
        ['accuracy', (w) => w.stats.accuracy, true],
        ['majority', (w) => w.majorityBaseline, true],
        ['always up', (w) => w.stats.baseRate, false],
        ['reversal', (w) => w.stats.reversalAccuracy, true],
        ['Brier', (w) => w.stats.brierScore, false],
        ['base Brier', (w) => w.stats.baseRateBrier, false],
      ]),
    );
  }

  const hist = histogram(input.predictions.map((p) => p.prediction));
  if (hist !== undefined) {
    sections.push({
      title: 'Predicted probability of up (histogram)',
      rows: [
        ['predictions', count(input.predictions.length)],
        ['min', hist.min],
        ['mean', hist.mean],
        ['max', hist.max],
        [
          `share with confidence >= ${threshold} (p <= ${fixed((1 - threshold) / 2, 3)} or p >= ${fixed((1 + threshold) / 2, 3)})`,
          hist.confidentShare(threshold),
        ],
      ],
      chart: {
        kind: 'bar',
        x: hist.centers,
        series: { predictions: hist.counts },
        xLabel: 'P(up)',
        yLabel: 'predictions',
      },
    });
  }

  const after = reliability(
    resolved.map((r) => [r.p, r.y]),
    10,
  );
  const raws = resolved.filter((r) => r.raw !== null);
  const before =
    raws.length === resolved.length
      ? reliability(
          raws.map((r) => [r.raw!, r.y]),
          10,
        )
      : [];
  if (after.length > 0) {
    const series: Record<string, number[]> = {
      'calibrated: observed up rate': after.map((b) => b.observedRate),
      'perfect calibration': after.map((b) => b.meanPredicted),
    };
    const rowsOut: [string, string][] = after.map((b, i) => [
      `decile ${i + 1}: mean predicted ${b.meanPredicted.toFixed(4)} (n ${b.count})`,
      `observed ${b.observedRate.toFixed(4)}` +
        (before[i] !== undefined
          ? ` · before calibration: mean ${before[i]!.meanPredicted.toFixed(4)}, observed ${before[i]!.observedRate.toFixed(4)}`
          : ''),
    ]);
    sections.push({
      title: `Reliability (deciles of predicted probability, ${before.length > 0 ? 'before and after calibration' : input.calibration})`,
      rows: rowsOut,
      chart: {
        kind: 'line',
        // Observed rate against the calibrated deciles' mean prediction; the raw deciles are in the rows.
        x: after.map((b) => b.meanPredicted),
        xLabel: 'mean predicted P(up)',
        yLabel: 'observed up rate',
        series:
          before.length === after.length
            ? { ...series, 'before calibration: observed up rate': before.map((b) => b.observedRate) }
            : series,
      },
    });
  }
  return sections;
}

/** The scores of one target's forecasts next to the naive forecast's, warning where they lose. */
function forecastSection(
  target: 'return' | 'volatility',
  f: ForecastSummary,
  lead: readonly [string, string][] = [],
  warnings: readonly string[] = [],
): ReportSection {
  const fw = [...warnings];
  if (target === 'volatility') {
    if (!(orNaN(f.qlike) < orNaN(f.naiveQlike)))
      fw.push('the volatility forecasts lose to the naive forecast in QLIKE');
  } else if (!(orNaN(f.r2VsNaive) > 0)) {
    fw.push('the return forecasts are no closer than the naive forecast of zero (R² <= 0)');
  }
  const naive = target === 'return' ? 'zero' : 'EWMA volatility';
  return {
    title: `${target === 'return' ? 'Return' : 'Volatility'} forecasts, scored out of sample`,
    warnings: fw,
    rows: [
      ...lead,
      ['forecasts resolved', count(f.resolved)],
      ...(target === 'volatility'
        ? ([
            ['QLIKE (the loss of variance forecasts; lower is better)', orNaN(f.qlike)],
            ['QLIKE of the naive forecast', orNaN(f.naiveQlike)],
          ] as [string, number][])
        : []),
      ['MAE', orNaN(f.mae)],
      [`MAE of the naive forecast (${naive})`, orNaN(f.naiveMae)],
      ['MAE / MAE of the naive forecast', orNaN(f.mae) / orNaN(f.naiveMae)],
      ['R² against the naive forecast (1 - SSE / SSE naive)', orNaN(f.r2VsNaive)],
      ['correlation of forecast and outcome', orNaN(f.correlation)],
      ...(target === 'volatility'
        ? ([['correlation of the naive forecast and outcome', orNaN(f.naiveCorrelation)]] as [string, number][])
        : []),
    ],
  };
}

/**
 * The walk-forward windows' table (what each trained on and was tested on,
 * then `scores`) and a chart of the scores marked for it, window by window.
 */
function windowSection(
  ws: readonly ReportWindow[],
  scored: (w: ReportWindow) => number,
  yLabel: string,
  scores: readonly (readonly [string, (w: ReportWindow) => number | null | undefined, boolean])[],
): ReportSection {
  const series: Record<string, number[]> = {};
  for (const [name, value, charted] of scores) if (charted) series[name] = ws.map((w) => orNaN(value(w)));
  return {
    title: 'Walk-forward windows',
    rows: [],
    table: {
      columns: [
        'window',
        'test from',
        'test to',
        'fit rows',
        'calib. rows',
        'n',
        ...scores.map(([name]) => name),
        'cached',
      ],
      rows: ws.map((w) => [
        w.label,
        isoTime(w.testFrom),
        isoTime(w.testTo),
        w.fitRows,
        w.calibrationRows,
        scored(w),
        ...scores.map(([, value]) => orNaN(value(w))),
        w.cached === true ? 'yes' : 'no',
      ]),
    },
    chart: { kind: 'line', x: ws.map((_, i) => i + 1), xLabel: 'window', yLabel, integerX: true, series },
  };
}

/** A volatility model's report: its forecasts, overall and per walk-forward window. */
function forecastOnlySections(input: MlReportInput): ReportSection[] {
  const f = input.stats.forecasts.volatility;
  if (f === undefined) {
    return [
      {
        title: 'Volatility forecasts, scored out of sample',
        warnings: [...input.warnings, 'no forecast has resolved: nothing is scored'],
        rows: [['setup', input.title]],
      },
    ];
  }
  const sections = [forecastSection('volatility', f, [['setup', input.title]], input.warnings)];
  const ws = input.windows.filter((w) => w.stats.forecasts.volatility !== undefined);
  if (input.walkForward && ws.length > 0) {
    const of = (w: ReportWindow) => w.stats.forecasts.volatility!;
    sections.push(
      windowSection(ws, (w) => of(w).resolved, 'QLIKE', [
        ['QLIKE', (w) => of(w).qlike, true],
        ['naive QLIKE', (w) => of(w).naiveQlike, true],
        ['MAE', (w) => of(w).mae, false],
        ['naive MAE', (w) => of(w).naiveMae, false],
      ]),
    );
  }
  return sections;
}

interface Histogram {
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly centers: number[];
  readonly counts: number[];
  confidentShare(threshold: number): number;
}

/** 20 equal bins between the smallest and largest prediction, edges rounded out to 0.01. */
function histogram(values: readonly number[], bins = 20): Histogram | undefined {
  if (values.length === 0) return undefined;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const lo = Math.max(0, Math.floor(min * 100) / 100);
  const hi = Math.min(1, Math.max(lo + 0.01, Math.ceil(max * 100) / 100));
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))]! += 1;
  return {
    min,
    max,
    mean: sum / values.length,
    centers: counts.map((_, i) => Number((lo + (i + 0.5) * width).toFixed(6))),
    counts,
    confidentShare: (t) => values.filter((v) => Math.abs(v - 0.5) * 2 >= t).length / values.length,
  };
}

interface ReliabilityBin {
  readonly count: number;
  readonly meanPredicted: number;
  readonly observedRate: number;
}

/** Equal-count bins of (p, outcome) sorted by p: mean predicted vs share of ups. */
export function reliability(pairs: readonly (readonly [number, 0 | 1])[], bins: number): ReliabilityBin[] {
  if (pairs.length === 0) return [];
  const sorted = [...pairs].sort((a, b) => a[0] - b[0]);
  const k = Math.min(bins, sorted.length);
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < k; b++) {
    const from = Math.floor((b * sorted.length) / k);
    const to = Math.floor(((b + 1) * sorted.length) / k);
    let p = 0;
    let y = 0;
    for (let i = from; i < to; i++) {
      p += sorted[i]![0];
      y += sorted[i]![1];
    }
    const n = to - from;
    if (n > 0) out.push({ count: n, meanPredicted: p / n, observedRate: y / n });
  }
  return out;
}
