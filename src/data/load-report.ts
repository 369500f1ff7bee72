/**
 * What a candle file load found and did: the report type, the repair reasons
 * and a short human rendering for the CLI.
 */
import type { Timeframe } from '../core/types.js';

/**
 * Why a row was dropped (repair mode) or refused (strict mode).
 * Row checks come first, in this order; the last two are ordering repairs.
 */
export const REPAIR_REASONS = [
  'column-count',
  'empty',
  'non-numeric',
  'not-finite',
  'bad-timestamp',
  'non-positive-price',
  'negative-volume',
  'high-below-low',
  'high-below-open-close',
  'low-above-open-close',
  'duplicate-timestamp',
  'out-of-order',
] as const;

export type RepairReason = (typeof REPAIR_REASONS)[number];

/** Counts per reason; every reason is present (0 when nothing happened). */
export type RepairCounts = Record<RepairReason, number>;

export function emptyRepairCounts(): RepairCounts {
  const counts = {} as RepairCounts;
  for (const reason of REPAIR_REASONS) counts[reason] = 0;
  return counts;
}

/** Candles further apart than one bar: `from` and `to` are the candles either side of the hole. */
export interface CandleGap {
  readonly from: number;
  readonly to: number;
  readonly missingBars: number;
}

export interface GapReport {
  /** Bar length the gaps were measured against (a calendar month for 'M' timeframes counts as 30 days here). */
  readonly timeframeMs: number;
  readonly count: number;
  readonly missingBars: number;
  /** The largest gaps by missing bars, largest first (earliest first on ties). */
  readonly largest: readonly CandleGap[];
}

export type TimestampFormat = 'ms' | 's' | 'iso' | 'mixed';

export interface CandleLoadReport {
  readonly file: string;
  readonly format: 'csv' | 'json';
  readonly symbol: string;
  /** Where the symbol came from: the option, the file name, or the file's base name as a fallback. */
  readonly symbolSource: 'option' | 'file-name' | 'base-name';
  readonly timeframe: Timeframe;
  readonly timeframeSource: 'option' | 'file-name' | 'inferred' | 'none';
  /** How timestamps were written; 's' means they were converted from seconds to milliseconds. */
  readonly timestampFormat: TimestampFormat | undefined;
  /** Data rows seen (blank lines and the header excluded). */
  readonly rowsRead: number;
  readonly candlesKept: number;
  readonly firstTimestamp: number | undefined;
  readonly lastTimestamp: number | undefined;
  /** True when loaded with `repair: true`. */
  readonly repairMode: boolean;
  /** Rows dropped (or, for 'out-of-order', moved) per reason. All zero in strict mode. */
  readonly repairs: RepairCounts;
  /** The first few repair messages, each naming file, line and field. */
  readonly repairExamples: readonly string[];
  readonly gaps: GapReport;
  /** Things worth telling the user (seconds converted, timeframe inferred, ...). */
  readonly notes: readonly string[];
}

function iso(ts: number | undefined, dateOnly: boolean): string {
  if (ts === undefined) return '-';
  const text = new Date(ts).toISOString();
  return dateOnly && text.endsWith('T00:00:00.000Z') ? text.slice(0, 10) : `${text.slice(0, 10)} ${text.slice(11, 16)}`;
}

const count = (n: number) => n.toLocaleString('en-US');

/** A few lines for a terminal: what was loaded, what was repaired, where the gaps are. */
export function describeLoadReport(report: CandleLoadReport): string[] {
  const daily = report.gaps.timeframeMs >= 86_400_000;
  const when = (ts: number | undefined) => iso(ts, daily);
  const lines = [
    `${report.file}: ${report.symbol} ${report.timeframe}, ${count(report.rowsRead)} rows read, ` +
      `${count(report.candlesKept)} candles kept, ${when(report.firstTimestamp)} .. ${when(report.lastTimestamp)}`,
  ];
  const repairs = REPAIR_REASONS.filter((r) => report.repairs[r] > 0).map((r) => `${count(report.repairs[r])} ${r}`);
  if (repairs.length > 0) lines.push(`repairs: ${repairs.join(', ')}`);
  const g = report.gaps;
  if (g.count === 0) lines.push('gaps: none');
  else {
    const largest = g.largest.map((x) => `${when(x.from)} -> ${when(x.to)} (${count(x.missingBars)} missing)`);
    lines.push(`gaps: ${count(g.count)} (${count(g.missingBars)} missing bars); largest: ${largest.join('; ')}`);
  }
  for (const note of report.notes) lines.push(`note: ${note}`);
  return lines;
}
