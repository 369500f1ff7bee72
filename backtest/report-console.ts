import type { BacktestResult } from '../src/engine/result.js';
import { isoTime, num, pct } from './format.js';

/** A plain-text summary: the strategy's figures next to every benchmark's. */
export function renderConsoleSummary(result: BacktestResult): string {
  const m = result.metrics;
  const lines: string[] = [];
  lines.push(`Backtest: ${result.strategy} on ${result.symbols.join(', ')} (${result.timeframe})`);
  lines.push(
    `Period:   ${isoTime(result.start)} -> ${isoTime(result.end)}, ${result.candles.toLocaleString('en-US')} candles`,
  );
  lines.push(
    `Costs:    fee ${pct(result.config.feeRate, 3)} per fill, slippage ${result.config.slippageBps} bps, start cash ${num(result.config.initialCash)}`,
  );
  lines.push('');
  const header = ['', 'return', 'annual', 'max DD', 'Sharpe'];
  const rows: string[][] = [
    [result.strategy, pct(m.totalReturn), pct(m.annualizedReturn), pct(m.maxDrawdown), num(m.sharpe)],
    ...result.benchmarks.map((b) => [
      b.name,
      pct(b.totalReturn),
      pct(b.annualizedReturn),
      pct(b.maxDrawdown),
      num(b.sharpe),
    ]),
  ];
  lines.push(...table([header, ...rows]));
  lines.push('');
  lines.push(
    `Trades ${m.trades}, win rate ${pct(m.winRate, 1)}, profit factor ${num(m.profitFactor)}, ` +
      `Sortino ${num(m.sortino)}, Calmar ${num(m.calmar)}, exposure ${pct(m.exposure, 1)}, fees ${num(m.totalFees)}, ` +
      `final equity ${num(m.finalEquity)}`,
  );
  for (const section of result.sections ?? []) {
    lines.push('', `${section.title}:`);
    for (const w of section.warnings ?? []) lines.push(`  WARNING: ${w}`);
    // Numbers right-aligned in a column; text values (descriptions) simply follow their label.
    const width = Math.max(0, ...section.rows.map(([label]) => label.length));
    const numbers = section.rows.map(([, value]) => (typeof value === 'number' ? num(value, 4) : ''));
    const numberWidth = Math.max(0, ...numbers.map((n) => n.length));
    section.rows.forEach(([label, value], i) => {
      const shown = typeof value === 'number' ? (numbers[i] as string).padStart(numberWidth) : value;
      lines.push(`${label.padEnd(width)}  ${shown}`);
    });
    if (section.table !== undefined) {
      const cell = (v: string | number) =>
        typeof v !== 'number' ? v : Number.isInteger(v) ? v.toLocaleString('en-US') : num(v, 4);
      lines.push(...table([[...section.table.columns], ...section.table.rows.map((r) => r.map(cell))]));
    }
  }
  return lines.join('\n');
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  '),
  );
}
