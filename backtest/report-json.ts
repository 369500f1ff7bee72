import type { BacktestResult } from '../src/engine/result.js';

/**
 * The full result as JSON: every trade with entry/exit time and price, size,
 * fees and P&L, so results can be explained trade by trade. Infinity (e.g. a
 * profit factor with no losing trade) is written as the string "Infinity"
 * because JSON has no such number.
 */
export function renderJsonReport(result: BacktestResult): string {
  return JSON.stringify(
    result,
    (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? String(value) : value),
    2,
  );
}
