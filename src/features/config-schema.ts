/**
 * The schema of a feature configuration: every column's name, the candles
 * that must come before it is defined (its warm-up), and the history the
 * whole set needs before its first row, so that rows computed with a long
 * past (a backtest) and with the live runner's warm-up agree: the EMA-type
 * parts (volatility, ATR, the range EMA, RSI/MACD) have then forgotten their
 * start to CONVERGENCE_TOLERANCE.
 */
import { ConfigError } from '../core/errors.js';
import {
  CONVERGENCE_TOLERANCE,
  convergenceCandles,
  type FeatureConfig,
  parseFeatureConfig,
  symbolKey,
  timeframeRatio,
} from './feature-config.js';
import type { FeatureSchema, FeatureSpec } from './feature-schema.js';
import { INDICATOR_PARAMS as P, RELATIVE_SCHEMA } from './fixed-feature-sets.js';

/** Version of the formulas of configured feature sets; bumped whenever one changes. */
export const CONFIG_SCHEMA_VERSION = 2;

/** The indicator columns of the `relative` set that the `indicators` block adds (no returns, no calendar). */
export function indicatorFeatures(): FeatureSpec[] {
  // A function, not a constant: feature-sets.ts imports this module, so its exports are read at call time.
  return RELATIVE_SCHEMA.features.filter((s) => !s.name.startsWith('log_return_') && !/_(sin|cos)$/.test(s.name));
}

const f = (name: string, warmup: number, description: string): FeatureSpec => ({ name, warmup, description });

/** Columns of the configuration, in order. */
export function configFeatures(config: FeatureConfig): FeatureSpec[] {
  const span = config.volatilitySpan!;
  const out: FeatureSpec[] = [];
  if (config.returns !== undefined) {
    for (let k = 1; k <= config.returns.lags; k++) {
      out.push(f(`ret_${k}`, Math.max(k, span), `log return of the candle ${k - 1} before this one / EWMA volatility`));
    }
  }
  for (const w of config.momentum?.windows ?? []) {
    out.push(f(`mom_${w}`, Math.max(w, span), `ln(close / close ${w} candles ago) / (EWMA volatility x sqrt(${w}))`));
  }
  if (config.volatility !== undefined) {
    out.push(f('vol_ewma', span, `ln(EWMA volatility of one-candle log returns, span ${span})`));
    for (const w of config.volatility.windows) {
      out.push(f(`vol_ratio_${w}`, Math.max(w, span), `ln(sd of the last ${w} log returns / EWMA volatility)`));
    }
  }
  for (const p of config.atr?.periods ?? []) {
    out.push(f(`atr_${p}`, p, `Wilder's average true range over ${p} candles / close`));
  }
  if (config.candle !== undefined) {
    const s = config.candle.rangeSpan;
    out.push(f('range_rel', s - 1, `(high - low) / EMA${s}(high - low)`));
    out.push(f('body', 0, '(close - open) / (high - low); 0 for a candle without range'));
    out.push(f('upper_wick', 0, '(high - max(open, close)) / (high - low)'));
    out.push(f('lower_wick', 0, '(min(open, close) - low) / (high - low)'));
    out.push(f('gap', span, 'ln(open / previous close) / EWMA volatility'));
  }
  if (config.volume !== undefined) {
    const w = config.volume.window;
    out.push(
      f(`volume_z_${w}`, w - 1, `z-score of ln(1 + volume) over the last ${w} candles; 0 when they are all equal`),
    );
  }
  if (config.indicators === true) out.push(...indicatorFeatures());
  if (config.calendar === true) {
    out.push(f('hour_sin', 0, 'sin(2 pi hour / 24), UTC'));
    out.push(f('hour_cos', 0, 'cos(2 pi hour / 24), UTC'));
    out.push(f('day_of_week_sin', 0, 'sin(2 pi weekday / 7), UTC, Sunday = 0'));
    out.push(f('day_of_week_cos', 0, 'cos(2 pi weekday / 7), UTC, Sunday = 0'));
  }
  if (config.higherTimeframes !== undefined) {
    const base = config.timeframe;
    if (base === undefined) {
      throw new ConfigError("higherTimeframes needs the candles' timeframe in the feature configuration", {
        field: 'features.timeframe',
      });
    }
    const { lags } = config.higherTimeframes;
    for (const tf of config.higherTimeframes.timeframes) {
      const m = timeframeRatio(base, tf);
      // A first, partial bar is never used: up to m - 1 candles before the first complete one.
      const bars = (n: number) => Math.max((n + 1) * m - 2, span);
      for (let k = 1; k <= lags; k++) {
        out.push(
          f(
            `htf_${tf}_ret_${k}`,
            bars(k + 1),
            `log return of the ${k}th last closed ${tf} bar / (EWMA volatility x sqrt(${m}))`,
          ),
        );
      }
      out.push(
        f(
          `htf_${tf}_since`,
          bars(1),
          `ln(close / close of the last closed ${tf} bar) / (EWMA volatility x sqrt(${m}))`,
        ),
      );
      out.push(
        f(
          `htf_${tf}_range_pos`,
          bars(1),
          `(close - low) / (high - low) of the last closed ${tf} bar; 0.5 for a bar without range`,
        ),
      );
    }
  }
  if (config.context !== undefined) {
    const { lags } = config.context;
    for (const symbol of config.context.symbols) {
      const key = symbolKey(symbol);
      for (let k = 1; k <= lags; k++) {
        out.push(
          f(
            `ctx_${key}_ret_${k}`,
            Math.max(k, span) + 1,
            `${symbol}: log return of its ${k}th last candle closed by this open / its EWMA volatility`,
          ),
        );
      }
      out.push(f(`ctx_${key}_age`, span + 1, `${symbol}: candles its newest usable candle is behind (0 when on time)`));
    }
  }
  return out;
}

/** Candles before the first row: every column defined and every EMA-type part converged. */
export function configHistory(config: FeatureConfig, features: readonly FeatureSpec[]): number {
  const span = config.volatilitySpan!;
  let need = 0;
  for (const spec of features) need = Math.max(need, spec.warmup);
  need = Math.max(need, convergenceCandles(2 / (span + 1)) + span);
  for (const p of config.atr?.periods ?? []) need = Math.max(need, convergenceCandles(1 / p) + p);
  if (config.candle !== undefined) {
    const s = config.candle.rangeSpan;
    need = Math.max(need, convergenceCandles(2 / (s + 1)) + s);
  }
  if (config.indicators === true) {
    need = Math.max(
      need,
      convergenceCandles(1 / P.rsi) + P.rsi,
      convergenceCandles(2 / (P.emaSlow + 1)) + P.emaSlow + P.macdSignal,
    );
  }
  return need;
}

/** The schema of a configuration (checked first); `name` is a preset's name or 'custom'. */
export function configSchema(config: FeatureConfig, name: 'core' | 'custom'): FeatureSchema {
  const parsed = parseFeatureConfig(config);
  const features = configFeatures(parsed);
  const names = new Set<string>();
  for (const spec of features) {
    if (names.has(spec.name)) {
      throw new ConfigError(`two features are named ${spec.name}`, { field: 'features' });
    }
    names.add(spec.name);
  }
  return { name, version: CONFIG_SCHEMA_VERSION, config: parsed, features, history: configHistory(parsed, features) };
}

export { CONVERGENCE_TOLERANCE };
