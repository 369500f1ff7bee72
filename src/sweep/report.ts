/**
 * A sweep's results for people and programs: the ranked table on the console,
 * `results.json` (everything), `results.csv` (one row per symbol x
 * configuration) and `report.html` (self-contained: the chart library is
 * inlined so it opens offline) with the ranking and how much each
 * configuration's out-of-sample metric varies across windows and symbols.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { isoTime, num, pct } from '../../backtest/format.js';
import type { RankMetric, SweepParams } from './grid.js';
import { TRADE_KEYS, TRAIN_KEYS } from './grid.js';
import type { Dispersion, RunResult } from './reduce.js';
import { windowMetric } from './summary.js';
import type { SweepResult } from './sweep.js';

const METRIC_LABEL: Record<RankMetric, string> = {
  sharpe: 'Sharpe',
  totalReturn: 'return after fees',
  annualizedReturn: 'annualised return',
  accuracyEdge: 'accuracy minus the best naive baseline',
};

const isRatio = (m: RankMetric | 'totalReturn' | 'sharpe' | 'accuracyEdge') => m !== 'sharpe';

function fmt(x: number | null | undefined, metric: RankMetric | 'totalReturn' | 'sharpe' | 'accuracyEdge'): string {
  if (x === null || x === undefined) return 'n/a';
  return isRatio(metric) ? pct(x, metric === 'accuracyEdge' ? 2 : 1) : num(x, 2);
}

const spread = (d: Dispersion, metric: RankMetric | 'totalReturn' | 'sharpe' | 'accuracyEdge') =>
  d.n === 0 ? 'n/a' : `${fmt(d.min, metric)} / ${fmt(d.median, metric)} / ${fmt(d.max, metric)}`;

/** The ranked configurations as a text table (best first, at most `limit`). */
export function renderSweepConsole(result: SweepResult, limit = 15): string {
  const { plan, configs } = result;
  const rankBy = plan.grid.rankBy;
  const wm = windowMetric(rankBy);
  const symbols = plan.data.map((d) => `${d.symbol} ${d.timeframe}`).join(', ');
  const windows = result.runs.reduce((n, r) => n + r.windows.length, 0);
  const lines: string[] = [];
  lines.push(
    `sweep: ${configs.length} configurations x ${plan.data.length} data files (${symbols}) = ${result.runs.length} walk-forward runs, ` +
      `${windows} test windows, ${plan.jobs.length} training jobs on ${result.executor}`,
  );
  lines.push(
    `time: plan ${result.timings.planSeconds.toFixed(1)} s, jobs ${result.timings.jobSeconds.toFixed(1)} s, reduce ${result.timings.reduceSeconds.toFixed(1)} s`,
  );
  lines.push(
    `ranked by ${METRIC_LABEL[rankBy]} (out of sample, mean over symbols); spread = min / median / max; windows+ = share of windows with ${wm} > 0`,
  );
  const head = [
    'rank',
    'configuration',
    METRIC_LABEL[rankBy],
    'across symbols',
    `per-window ${wm}`,
    'windows+',
    'return',
    'buy&hold',
    'accuracy',
    'vs no-skill',
  ];
  const rows = configs
    .slice(0, limit)
    .map((c) => [
      String(c.rank),
      c.label,
      fmt(c.score, rankBy),
      plan.data.length > 1 ? spread(c.acrossSymbols, rankBy) : '-',
      spread(c.acrossWindows, wm),
      c.acrossWindows.positive === null ? 'n/a' : pct(c.acrossWindows.positive, 0),
      pct(c.meanReturn, 1),
      c.meanBuyAndHold === null ? 'n/a' : pct(c.meanBuyAndHold, 1),
      c.meanAccuracy === null ? 'n/a' : pct(c.meanAccuracy, 2),
      c.meanAccuracyEdge === null
        ? 'n/a'
        : `${c.meanAccuracyEdge >= 0 ? '+' : ''}${(c.meanAccuracyEdge * 100).toFixed(2)} pt`,
    ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  lines.push(line(head));
  for (const r of rows) lines.push(line(r));
  if (configs.length > limit) lines.push(`... ${configs.length - limit} more in results.csv`);
  return lines.join('\n');
}

// ---- CSV ----

const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'Infinity' : v < 0 ? '-Infinity' : '';
  const s = Array.isArray(v) ? v.join('-') : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** One row per (configuration, symbol), in rank order. */
export function renderSweepCsv(result: SweepResult): string {
  const paramKeys: (keyof SweepParams)[] = [...TRAIN_KEYS, ...TRADE_KEYS];
  const runs = new Map(result.runs.map((r) => [r.runId, r]));
  const head = [
    'rank',
    'score',
    'symbol',
    'timeframe',
    ...paramKeys,
    'total_return',
    'annualized_return',
    'sharpe',
    'sortino',
    'max_drawdown',
    'trades',
    'win_rate',
    'fees',
    'buy_and_hold',
    'accuracy',
    'majority_baseline',
    'no_skill_accuracy',
    'always_up',
    'reversal_baseline',
    'momentum_baseline',
    'accuracy_edge',
    'brier',
    'base_rate_brier',
    'log_loss',
    'windows',
    'window_return_min',
    'window_return_median',
    'window_return_max',
    'window_sharpe_min',
    'window_sharpe_median',
    'window_sharpe_max',
    'windows_positive',
    'from',
    'to',
    'run_id',
    'params_id',
  ];
  const lines = [head.join(',')];
  for (const c of result.configs) {
    for (const s of c.symbols) {
      const r = runs.get(s.runId)!;
      const m = r.metrics;
      lines.push(
        [
          c.rank,
          c.score,
          r.symbol,
          r.timeframe,
          ...paramKeys.map((k) => r.params[k]),
          m.totalReturn,
          m.annualizedReturn,
          m.sharpe,
          m.sortino,
          m.maxDrawdown,
          m.trades,
          m.winRate,
          m.totalFees,
          r.buyAndHold?.totalReturn ?? null,
          r.ml.accuracy,
          r.ml.majorityBaseline,
          r.ml.noSkillAccuracy,
          r.ml.alwaysUp,
          r.ml.reversal,
          r.ml.momentum,
          r.ml.accuracyEdge,
          r.ml.brier,
          r.ml.baseRateBrier,
          r.ml.logLoss,
          r.windows.length,
          r.dispersion.totalReturn.min,
          r.dispersion.totalReturn.median,
          r.dispersion.totalReturn.max,
          r.dispersion.sharpe.min,
          r.dispersion.sharpe.median,
          r.dispersion.sharpe.max,
          r.dispersion.totalReturn.positive,
          isoTime(r.period.from),
          isoTime(r.period.to),
          r.runId,
          r.paramsId,
        ]
          .map(csvCell)
          .join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

// ---- JSON ----

/** Everything, with non-finite numbers (a profit factor without losses) written as strings. */
export function renderSweepJson(result: SweepResult): string {
  const { plan, ...rest } = result;
  const doc = {
    format: 1,
    grid: plan.grid,
    data: plan.data,
    ...rest,
  };
  return `${JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n`;
}

// ---- HTML ----

const require = createRequire(import.meta.url);

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

const scriptJson = (value: unknown) =>
  JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)).replace(
    /</g,
    '\\u003c',
  );

function windowTable(runs: readonly RunResult[], wm: 'sharpe' | 'totalReturn' | 'accuracyEdge'): string {
  const rows = runs
    .flatMap((r) =>
      r.windows.map(
        (w) =>
          `<tr><td>${escapeHtml(r.symbol)}</td><td>${w.window}</td><td>${isoTime(w.testFrom)} → ${isoTime(w.testTo)}</td>` +
          `<td>${pct(w.totalReturn)}</td><td>${num(w.sharpe)}</td><td>${pct(w.maxDrawdown)}</td><td>${w.trades}</td>` +
          `<td>${pct(w.buyAndHold)}</td><td>${w.accuracy === null ? 'n/a' : pct(w.accuracy)}</td>` +
          `<td>${w.majorityBaseline === null ? 'n/a' : pct(w.majorityBaseline)}</td>` +
          `<td>${w.reversal === null ? 'n/a' : pct(w.reversal)}</td><td>${w.momentum === null ? 'n/a' : pct(w.momentum)}</td>` +
          `<td>${fmt(w.accuracyEdge, 'accuracyEdge')}</td></tr>`,
      ),
    )
    .join('');
  return (
    `<table><tr><th>symbol</th><th>window</th><th>test period</th><th>return</th><th>Sharpe</th><th>max DD</th><th>trades</th>` +
    `<th>buy&amp;hold</th><th>accuracy</th><th>majority</th><th>reversal</th><th>momentum</th><th>edge</th></tr>${rows}</table>` +
    `<p class="note">Each window's model saw only data before its test period; its ${wm} here is out of sample.</p>`
  );
}

/** Self-contained HTML report of the sweep. */
export function renderSweepHtml(result: SweepResult, options: { maxConfigs?: number } = {}): string {
  const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  const { plan, configs } = result;
  const rankBy = plan.grid.rankBy;
  const wm = windowMetric(rankBy);
  const shown = configs.slice(0, options.maxConfigs ?? 50);
  const runsById = new Map(result.runs.map((r) => [r.runId, r]));
  const symbols = plan.data.map((d) => `${d.symbol} ${d.timeframe}`).join(', ');
  const title = `Sweep: ${configs.length} configurations on ${symbols}`;
  const scale = (x: number | null) => (x === null ? null : isRatio(wm) ? x * 100 : x);
  const dispersionChart = {
    x: shown.map((c) => c.rank),
    min: shown.map((c) => scale(c.acrossWindows.min)),
    q1: shown.map((c) => scale(c.acrossWindows.q1)),
    median: shown.map((c) => scale(c.acrossWindows.median)),
    q3: shown.map((c) => scale(c.acrossWindows.q3)),
    max: shown.map((c) => scale(c.acrossWindows.max)),
  };
  const top = shown.slice(0, 3);
  const topRuns = top.flatMap((c) => c.symbols.map((s) => ({ c, run: runsById.get(s.runId)! })));
  const maxWindows = Math.max(0, ...topRuns.map((t) => t.run.windows.length));
  const timeline = {
    x: Array.from({ length: maxWindows }, (_, i) => i + 1),
    series: topRuns.map((t) => ({
      label: `#${t.c.rank} ${t.run.symbol}`,
      values: Array.from({ length: maxWindows }, (_, i) => {
        const w = t.run.windows[i];
        return w === undefined ? null : scale(w[wm]);
      }),
    })),
  };
  const unit = isRatio(wm) ? ' (%)' : '';
  const ranking = shown
    .map(
      (c) =>
        `<tr><td>${c.rank}</td><td class="cfg">${escapeHtml(c.label)}</td><td><b>${fmt(c.score, rankBy)}</b></td>` +
        `<td>${plan.data.length > 1 ? spread(c.acrossSymbols, rankBy) : '-'}</td><td>${spread(c.acrossWindows, wm)}</td>` +
        `<td>${c.acrossWindows.std === null ? 'n/a' : fmt(c.acrossWindows.std, wm)}</td>` +
        `<td>${c.acrossWindows.positive === null ? 'n/a' : pct(c.acrossWindows.positive, 0)}</td>` +
        `<td>${pct(c.meanReturn, 1)}</td><td>${c.meanBuyAndHold === null ? 'n/a' : pct(c.meanBuyAndHold, 1)}</td>` +
        `<td>${c.meanAccuracy === null ? 'n/a' : pct(c.meanAccuracy)}</td><td>${fmt(c.meanAccuracyEdge, 'accuracyEdge')}</td></tr>`,
    )
    .join('');
  // The ranking metric gets its own column unless it is one of the columns anyway.
  const ownColumn = rankBy !== 'sharpe' && rankBy !== 'totalReturn';
  const perSymbol = shown
    .flatMap((c) =>
      c.symbols.map(
        (s) =>
          `<tr><td>${c.rank}</td><td>${escapeHtml(s.symbol)}</td>${ownColumn ? `<td>${fmt(s.value, rankBy)}</td>` : ''}<td>${pct(s.totalReturn)}</td>` +
          `<td>${num(s.sharpe)}</td><td>${pct(s.maxDrawdown)}</td><td>${s.trades}</td>` +
          `<td>${s.buyAndHold === null ? 'n/a' : pct(s.buyAndHold)}</td><td>${s.accuracy === null ? 'n/a' : pct(s.accuracy)}</td>` +
          `<td>${fmt(s.accuracyEdge, 'accuracyEdge')}</td></tr>`,
      ),
    )
    .join('');
  const best = configs[0];
  const bestRuns = best === undefined ? [] : best.symbols.map((s) => runsById.get(s.runId)!);
  const fixedKeys = ([...TRAIN_KEYS, ...TRADE_KEYS] as (keyof SweepParams)[]).filter(
    (k) => !plan.grid.varying.includes(k),
  );
  const fixedText =
    best === undefined
      ? ''
      : fixedKeys
          .map((k) => {
            const v = best.params[k];
            return `${k}=${Array.isArray(v) ? v.join('-') : String(v)}`;
          })
          .join(' · ');
  const windows = result.runs.reduce((n, r) => n + r.windows.length, 0);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>${css}
body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}
td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}
td.cfg{text-align:left;font-family:ui-monospace,monospace;font-size:12px}.note{color:#555;max-width:60em}.chart{margin:12px 0}</style>
<script>${js}</script></head><body>
<h1>${escapeHtml(title)}</h1>
<p>${result.runs.length} walk-forward runs, ${windows} out-of-sample test windows, ${plan.jobs.length} models trained
(${escapeHtml(result.executor)}; jobs ${result.timings.jobSeconds.toFixed(1)} s). Base seed ${plan.grid.seed}, seeds ${plan.grid.seeds}.
Shared settings: ${escapeHtml(fixedText)}.</p>
<p class="note">Ranked by ${escapeHtml(METRIC_LABEL[rankBy])} over each run's whole out-of-sample period (fees and slippage included),
averaged over symbols. A configuration whose per-window ${wm} swings widely, or that wins on one symbol only, is more likely
fitted to noise than one with a slightly lower score and a narrow spread: read the spread columns and the charts, not only the first number.
Accuracy is compared with the best no-skill baseline (always the majority outcome).</p>
<h2>Ranking</h2>
<table><tr><th>rank</th><th>configuration</th><th>${escapeHtml(METRIC_LABEL[rankBy])}</th><th>across symbols<br>min / median / max</th>
<th>per-window ${wm}<br>min / median / max</th><th>per-window<br>std</th><th>windows<br>&gt; 0</th><th>return</th><th>buy&amp;hold</th><th>accuracy</th><th>vs no-skill</th></tr>${ranking}</table>
<h2>Spread of per-window ${wm} by rank</h2><div class="chart" id="dispersion"></div>
<h2>Per-window ${wm} of the top configurations</h2><div class="chart" id="timeline"></div>
<h2>Per symbol</h2>
<table><tr><th>rank</th><th>symbol</th>${ownColumn ? `<th>${escapeHtml(METRIC_LABEL[rankBy])}</th>` : ''}<th>return</th><th>Sharpe</th><th>max DD</th><th>trades</th><th>buy&amp;hold</th><th>accuracy</th><th>vs no-skill</th></tr>${perSymbol}</table>
${best === undefined ? '' : `<h2>Windows of the best configuration (#1: ${escapeHtml(best.label)})</h2>${windowTable(bestRuns, wm)}`}
<script>
const d = ${scriptJson(dispersionChart)};
const t = ${scriptJson(timeline)};
const width = Math.min(1100, document.body.clientWidth - 20);
const colors = ['#1565c0', '#ef6c00', '#2e7d32', '#6a1b9a', '#c62828', '#00838f', '#5d4037', '#9e9d24'];
const whole = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
new uPlot({width, height: 300, scales: {x: {time: false}}, axes: [{label: 'rank', incrs: whole}, {label: ${scriptJson(`${wm}${unit}`)}}],
  series: [{label: 'rank'},
    {label: 'min', stroke: '#c62828', dash: [4, 4]}, {label: 'q1', stroke: '#ef6c00'},
    {label: 'median', stroke: '#1565c0', width: 2}, {label: 'q3', stroke: '#ef6c00'}, {label: 'max', stroke: '#2e7d32', dash: [4, 4]}]},
  [d.x, d.min, d.q1, d.median, d.q3, d.max], document.getElementById('dispersion'));
new uPlot({width, height: 300, scales: {x: {time: false}}, axes: [{label: 'window', incrs: whole}, {label: ${scriptJson(`${wm}${unit}`)}}],
  series: [{label: 'window'}, ...t.series.map((s, i) => ({label: s.label, stroke: colors[i % colors.length]}))]},
  [t.x, ...t.series.map((s) => s.values)], document.getElementById('timeline'));
</script></body></html>
`;
}

export interface WrittenSweepReports {
  readonly json: string;
  readonly csv: string;
  readonly html: string;
}

export function writeSweepReports(result: SweepResult, outDir: string): WrittenSweepReports {
  mkdirSync(outDir, { recursive: true });
  const json = path.join(outDir, 'results.json');
  const csv = path.join(outDir, 'results.csv');
  const html = path.join(outDir, 'report.html');
  writeFileSync(json, renderSweepJson(result));
  writeFileSync(csv, renderSweepCsv(result));
  writeFileSync(html, renderSweepHtml(result));
  return { json, csv, html };
}
