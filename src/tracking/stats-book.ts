/**
 * Statistics kept per selection (all, per symbol, per model version, per
 * symbol and model version), updated as predictions are recorded and resolved
 * so a query never scans the whole history; only a rolling window reads the
 * last N resolved predictions of its selection.
 */
import { ForecastStats, OutcomeStats } from '../models/outcome-stats.js';
import type { ForecastSummary, TrackedPrediction, TrackerStats } from './types.js';

/** The last candle's log return of a prediction (NaN when its previous close is unknown). */
function lastMove(p: TrackedPrediction): number {
  return p.price !== null && p.previousPrice !== null ? Math.log(p.price / p.previousPrice) : Number.NaN;
}

class SelectionStats {
  recorded = 0;
  flat = 0;
  readonly totals = new OutcomeStats();
  /** Predictions with a 0/1 outcome, in resolution order, for windowed stats. */
  readonly scored: TrackedPrediction[] = [];
  readonly forecasts: Partial<Record<'return' | 'volatility', ForecastStats>> = {};

  forecastSummaries(): Partial<Record<'return' | 'volatility', ForecastSummary>> {
    const out: Partial<Record<'return' | 'volatility', ForecastSummary>> = {};
    for (const target of ['return', 'volatility'] as const) {
      const f = this.forecasts[target];
      if (f !== undefined) out[target] = f.summary();
    }
    return out;
  }

  report(window: number | undefined): TrackerStats {
    let scores = this.totals;
    if (window !== undefined && window < this.scored.length) {
      scores = new OutcomeStats();
      for (let i = this.scored.length - window; i < this.scored.length; i++) {
        const p = this.scored[i]!;
        scores.add(p.prediction!, p.threshold, p.outcome as 0 | 1, lastMove(p));
      }
    }
    return {
      count: this.recorded,
      flat: this.flat,
      pending: this.recorded - this.totals.scored - this.flat,
      window: window ?? null,
      ...scores.summary(),
      forecasts: this.forecastSummaries(),
    };
  }
}

export class StatsBook {
  private readonly all = new SelectionStats();
  private readonly bySymbol = new Map<string, SelectionStats>();
  private readonly byModel = new Map<string, SelectionStats>();
  /** symbol -> model version -> stats. */
  private readonly byPair = new Map<string, Map<string, SelectionStats>>();

  recorded(p: TrackedPrediction): void {
    if (p.prediction === null) return;
    for (const s of this.selections(p)) s.recorded++;
  }

  /** `p` carries its outcome already. */
  resolved(p: TrackedPrediction): void {
    const outcome = p.outcome;
    if (outcome === null) return;
    const move = lastMove(p);
    for (const s of this.selections(p)) {
      if (p.forecast !== null && p.actual !== null) {
        const t = p.forecast.target;
        let f = s.forecasts[t];
        if (f === undefined) {
          f = new ForecastStats(t);
          s.forecasts[t] = f;
        }
        f.add(p.forecast.value, p.forecast.naive, p.actual);
      }
      if (p.prediction === null) continue;
      if (outcome === 'flat') s.flat++;
      else {
        s.totals.add(p.prediction, p.threshold, outcome, move);
        s.scored.push(p);
      }
    }
  }

  stats(symbol: string | undefined, modelVersion: string | undefined, window: number | undefined): TrackerStats {
    let sel: SelectionStats | undefined;
    if (symbol !== undefined && modelVersion !== undefined) sel = this.byPair.get(symbol)?.get(modelVersion);
    else if (symbol !== undefined) sel = this.bySymbol.get(symbol);
    else if (modelVersion !== undefined) sel = this.byModel.get(modelVersion);
    else sel = this.all;
    return (sel ?? new SelectionStats()).report(window);
  }

  statsBy(dimension: 'symbol' | 'modelVersion', window: number | undefined): Map<string, TrackerStats> {
    const source = dimension === 'symbol' ? this.bySymbol : this.byModel;
    const out = new Map<string, TrackerStats>();
    for (const [key, sel] of source) out.set(key, sel.report(window));
    return out;
  }

  private selections(p: TrackedPrediction): SelectionStats[] {
    let models = this.byPair.get(p.symbol);
    if (models === undefined) {
      models = new Map();
      this.byPair.set(p.symbol, models);
    }
    return [
      this.all,
      getOrCreate(this.bySymbol, p.symbol),
      getOrCreate(this.byModel, p.modelVersion),
      getOrCreate(models, p.modelVersion),
    ];
  }
}

function getOrCreate(map: Map<string, SelectionStats>, key: string): SelectionStats {
  let s = map.get(key);
  if (s === undefined) {
    s = new SelectionStats();
    map.set(key, s);
  }
  return s;
}
