import type { BacktestResult } from '../src/engine/result.js';

/**
 * The full result as JSON: every trade with entry/exit time and price, size,
 * fees and P&L, so results can be explained trade by trade. HOLD signals are
 * counted, not listed (one per candle would dwarf the rest); BUY and SELL
 * signals are all there with the prediction behind them. Infinity (e.g. a
 * profit factor with no losing trade) is written as the string "Infinity"
 * because JSON has no such number.
 */
export function renderJsonReport(result: BacktestResult): string {
  const signals = result.signals.filter((s) => s.action !== 'HOLD');
  return JSON.stringify(
    { ...result, signals, holdSignals: result.signals.length - signals.length },
    (_key, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? String(value) : value),
    2,
  );
}
