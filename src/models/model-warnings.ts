/**
 * What to tell a user who runs a model on candles it may have seen or was
 * not made for: another timeframe than it was trained on, or a period that
 * overlaps its training period (the same symbol: in-sample predictions;
 * another symbol: not independent of what it learned). Every entry point
 * (backtest, adapters, the API, paper and live) says the same.
 */
import type { Candle } from '../core/types.js';
import type { Predictor } from './predictor.js';

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** What to tell a user about running a model on data it may have seen or was not made for. */
export function modelDataWarnings(
  predictor: Pick<Predictor, 'meta'>,
  series: readonly (readonly Candle[])[],
): string[] {
  const meta = predictor.meta;
  const out: string[] = [];
  const trainedOn = meta.training.symbol.split(',');
  for (const s of series) {
    const first = s[0]!;
    const last = s[s.length - 1]!;
    if (meta.training.timeframe !== 'unknown' && first.timeframe !== meta.training.timeframe) {
      out.push(
        `the model was trained on ${meta.training.timeframe} candles, these are ${first.timeframe}: its features and horizon mean something else here`,
      );
    }
    if (meta.training.to >= first.timestamp && meta.training.from <= last.timestamp) {
      out.push(
        `${first.symbol} ${iso(Math.max(first.timestamp, meta.training.from))} → ${iso(Math.min(last.timestamp, meta.training.to))} ` +
          `overlaps the model's training period (${iso(meta.training.from)} → ${iso(meta.training.to)}, ` +
          (trainedOn.includes(first.symbol)
            ? 'the same symbol: those predictions are in-sample and flatter the scores)'
            : `${meta.training.symbol}: a different symbol in the same period, so not independent of what it learned)`),
      );
    }
  }
  return [...new Set(out)];
}
