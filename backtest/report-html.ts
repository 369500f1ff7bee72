import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BacktestResult, EquityPoint, ReportSection } from '../src/engine/result.js';
import { isoTime, num, pct } from './format.js';

const require = createRequire(import.meta.url);

/** The chart library is inlined so the report opens offline, from a file, years later. */
function chartLibrary(): { js: string; css: string } {
  return {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
}

/** At most `max` points, keeping the first, last and each bucket's lowest equity (so drawdowns stay visible). */
export function downsample(points: readonly EquityPoint[], max: number): EquityPoint[] {
  if (points.length <= max) return [...points];
  const bucket = points.length / max;
  const out: EquityPoint[] = [];
  for (let b = 0; b < max; b++) {
    const from = Math.floor(b * bucket);
    const to = Math.min(points.length, Math.floor((b + 1) * bucket));
    let pick = points[from] as EquityPoint;
    for (let i = from + 1; i < to; i++) {
      const p = points[i] as EquityPoint;
      if (p.drawdown < pick.drawdown) pick = p;
    }
    out.push(pick);
  }
  out[out.length - 1] = points[points.length - 1] as EquityPoint;
  return out;
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

/** JSON safe to embed inside a <script> element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

function metricsTable(result: BacktestResult): string {
  const m = result.metrics;
  const head = '<tr><th></th><th>return</th><th>annual</th><th>max DD</th><th>Sharpe</th></tr>';
  const row = (name: string, r: number, a: number, dd: number, s: number) =>
    `<tr><td>${escapeHtml(name)}</td><td>${pct(r)}</td><td>${pct(a)}</td><td>${pct(dd)}</td><td>${num(s)}</td></tr>`;
  return `<table>${head}${row(result.strategy, m.totalReturn, m.annualizedReturn, m.maxDrawdown, m.sharpe)}${result.benchmarks
    .map((b) => row(b.name, b.totalReturn, b.annualizedReturn, b.maxDrawdown, b.sharpe))
    .join('')}</table>
  <p>Trades ${m.trades} · win rate ${pct(m.winRate, 1)} · profit factor ${num(m.profitFactor)} · Sortino ${num(m.sortino)} ·
  Calmar ${num(m.calmar)} · exposure ${pct(m.exposure, 1)} · fees ${num(m.totalFees)} · final equity ${num(m.finalEquity)}</p>`;
}

function sectionHtml(section: ReportSection, index: number): string {
  const cell = (v: string | number) =>
    typeof v !== 'number' ? escapeHtml(v) : Number.isInteger(v) ? v.toLocaleString('en-US') : num(v, 4);
  const warnings = (section.warnings ?? []).map((w) => `<p class="warning">⚠ ${escapeHtml(w)}</p>`).join('');
  const rows = section.rows
    .map(([label, value]) => `<tr><td>${escapeHtml(label)}</td><td>${cell(value)}</td></tr>`)
    .join('');
  const table =
    section.table === undefined
      ? ''
      : `<table class="grid"><tr>${section.table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>${section.table.rows
          .map((r) => `<tr>${r.map((v) => `<td>${cell(v)}</td>`).join('')}</tr>`)
          .join('')}</table>`;
  const chart = section.chart ? `<div class="chart" id="section-${index}"></div>` : '';
  return `<h2>${escapeHtml(section.title)}</h2>${warnings}${rows === '' ? '' : `<table>${rows}</table>`}${table}${chart}`;
}

function tradesTable(result: BacktestResult, limit: number): string {
  const trades = result.trades.slice(0, limit);
  const rows = trades
    .map(
      (t) =>
        `<tr><td>${escapeHtml(t.symbol)}</td><td>${t.direction}</td><td>${isoTime(t.entryTime)}</td><td>${num(t.entryPrice, 4)}</td>` +
        `<td>${isoTime(t.exitTime)}</td><td>${num(t.exitPrice, 4)}</td><td>${num(t.quantity, 6)}</td><td>${num(t.fees, 4)}</td>` +
        `<td>${num(t.pnl, 2)}</td><td>${pct(t.returnPct)}</td><td>${escapeHtml(t.exitReason ?? '')}</td></tr>`,
    )
    .join('');
  const more =
    result.trades.length > limit ? `<p>${result.trades.length - limit} more trades in the JSON result.</p>` : '';
  return `<table class="trades"><tr><th>symbol</th><th>side</th><th>entry</th><th>price</th><th>exit</th><th>price</th><th>qty</th><th>fees</th><th>P&amp;L</th><th>return</th><th>exit reason</th></tr>${rows}</table>${more}`;
}

/** A self-contained HTML report: summary, equity and drawdown charts, extra sections, trades. */
export function renderHtmlReport(
  result: BacktestResult,
  options: { maxPoints?: number; maxTrades?: number } = {},
): string {
  const { js, css } = chartLibrary();
  const curve = downsample(result.equityCurve, options.maxPoints ?? 4000);
  const data = {
    time: curve.map((p) => p.timestamp / 1000),
    equity: curve.map((p) => p.equity),
    drawdown: curve.map((p) => p.drawdown * 100),
    sections: (result.sections ?? []).map((s) => s.chart ?? null),
  };
  const title = `${result.strategy} · ${result.symbols.join(', ')} · ${result.timeframe}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>${css}
body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}
td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}
.trades,.grid{font-size:12px}.chart{margin:12px 0}
.warning{background:#fff3e0;border-left:4px solid #ef6c00;padding:6px 10px;margin:6px 0;font-weight:600}</style>
<script>${js}</script></head><body>
<h1>${escapeHtml(title)}</h1>
<p>${isoTime(result.start)} → ${isoTime(result.end)} · ${result.candles.toLocaleString('en-US')} candles ·
fee ${pct(result.config.feeRate, 3)} per fill · slippage ${result.config.slippageBps} bps · start cash ${num(result.config.initialCash)}</p>
${metricsTable(result)}
<h2>Equity</h2><div class="chart" id="equity"></div>
<h2>Drawdown</h2><div class="chart" id="drawdown"></div>
${(result.sections ?? []).map(sectionHtml).join('\n')}
<h2>Trades</h2>${tradesTable(result, options.maxTrades ?? 500)}
<script>
const data = ${scriptJson(data)};
const width = Math.min(1100, document.body.clientWidth - 20);
// Wide enough for labels such as 1,250,000 (uPlot's default clips them).
const axes = [{}, {size: 80}];
new uPlot({width, height: 300, axes, series: [{}, {label: 'equity', stroke: '#1565c0', width: 1.5}]}, [data.time, data.equity], document.getElementById('equity'));
new uPlot({width, height: 180, axes, series: [{}, {label: 'drawdown %', stroke: '#c62828', fill: 'rgba(198,40,40,0.15)'}]}, [data.time, data.drawdown], document.getElementById('drawdown'));
const colors = ['#1565c0', '#ef6c00', '#2e7d32', '#6a1b9a'];
data.sections.forEach((chart, i) => {
  if (!chart) return;
  const names = Object.keys(chart.series);
  const bars = chart.kind === 'bar' ? uPlot.paths.bars({size: [0.8]}) : undefined;
  const xAxis = {label: chart.xLabel, ...(chart.integerX ? {incrs: [1, 2, 5, 10, 20, 50, 100]} : {})};
  new uPlot({width, height: 240, axes: [xAxis, {size: 80, label: chart.yLabel}], scales: {x: {time: false}},
    series: [{}, ...names.map((n, k) => ({label: n, stroke: colors[k % 4], fill: chart.kind === 'bar' ? colors[k % 4] + '66' : undefined, paths: k === 0 ? bars : undefined, points: {show: chart.kind !== 'bar'}}))]},
    [chart.x, ...names.map((n) => chart.series[n])], document.getElementById('section-' + i));
});
</script></body></html>
`;
}
