/**
 * The ML strategy as a backtest-kit strategy (https://github.com/tripolskypetr/backtest-kit),
 * written against its documented interface (v19 types.d.ts): a strategy is a
 * schema registered with `addStrategySchema` (older releases: `addStrategy`)
 * whose `getSignal(symbol, when, currentPrice)` returns a position with its
 * take-profit and stop-loss prices, or null for no trade. Candles come from
 * backtest-kit's `getCandles(symbol, interval, limit)`, which returns closed
 * candles before the current time only (the engine's look-ahead guard), in
 * backtest, paper and live alike.
 *
 * On each `getSignal` call the adapter fetches the candles closed since the
 * symbol's last call (a warm-up history on the first), feeds them in order to
 * the same MlStrategy + streaming predictor as everywhere else (through
 * `EmbeddedStrategy`, signals only), and maps the signal of the LAST closed
 * candle: BUY -> long, SELL -> short when `allowShort` (else no trade), HOLD
 * -> null. A candle is decided once: a call with no new closed candle returns
 * null. Take-profit and stop-loss are fractions of `currentPrice`;
 * `maxHoldCandles` becomes `minuteEstimatedTime` (backtest-kit closes the
 * position with 'time_expired'). backtest-kit does not call getSignal while a
 * position is open, so exits are its own (TP, SL, time), not our SELL signals.
 *
 * NOTE: backtest-kit is an optional peer dependency and was NOT available to
 * run against here (its current release depends on packages missing from the
 * registry); this adapter is tested against a double that follows the
 * documented contract, not the real package.
 */

import { ML_STRATEGY_DEFAULTS, MlStrategy } from '../../strategies/ml-strategy.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { CandlePredictor, PredictionSink } from '../core/prediction.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, Signal } from '../core/types.js';
import { EmbeddedStrategy } from './embedded-strategy.js';
import { type ModelSource, openModel } from './model-source.js';

/** backtest-kit's CandleInterval. */
export type BacktestKitCandleInterval = '1m' | '3m' | '5m' | '15m' | '30m' | '1h' | '2h' | '4h' | '6h' | '8h' | '1d';
/** backtest-kit's SignalInterval: the least time between two getSignal calls. */
export type BacktestKitSignalInterval = '1m' | '3m' | '5m' | '15m' | '30m' | '1h';

/** backtest-kit's ICandleData: `timestamp` is the open time in ms. */
export interface BacktestKitCandle {
  readonly timestamp: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
}

/** The fields of backtest-kit's ISignalDto the adapter fills. */
export interface BacktestKitSignalDto {
  readonly position: 'long' | 'short';
  readonly priceTakeProfit: number;
  readonly priceStopLoss: number;
  /** Minutes before backtest-kit closes the position with 'time_expired' (its default when absent). */
  readonly minuteEstimatedTime?: number;
  /** Entry cost in USD (backtest-kit's default when absent). */
  readonly cost?: number;
  readonly note?: string;
}

/** The fields of backtest-kit's IStrategySchema the adapter fills. */
export interface BacktestKitStrategySchema {
  readonly strategyName: string;
  readonly note?: string;
  readonly interval: BacktestKitSignalInterval;
  getSignal(symbol: string, when: Date, currentPrice: number): Promise<BacktestKitSignalDto | null>;
}

/** backtest-kit's `getCandles(symbol, interval, limit)`: the `limit` candles closed before the current time. */
export type BacktestKitGetCandles = (
  symbol: string,
  interval: BacktestKitCandleInterval,
  limit: number,
) => Promise<readonly BacktestKitCandle[]>;

/** What the adapter uses of the backtest-kit module (the module itself fits). */
export interface BacktestKitModule {
  readonly addStrategySchema?: (schema: BacktestKitStrategySchema) => void;
  /** Name of the registration function before v19. */
  readonly addStrategy?: (schema: BacktestKitStrategySchema) => void;
  readonly getCandles: BacktestKitGetCandles;
}

export interface BacktestKitStrategyOptions {
  readonly strategyName: string;
  readonly note?: string;
  /** A fresh streaming predictor (RealtimePredictor); one instance serves every symbol. */
  readonly predictor: CandlePredictor;
  /** backtest-kit's getCandles. */
  readonly getCandles: BacktestKitGetCandles;
  /** Timeframe of the model's candles. */
  readonly timeframe: BacktestKitCandleInterval;
  /** getSignal throttle (default: the timeframe when it is a SignalInterval, else '1h'). */
  readonly interval?: BacktestKitSignalInterval;
  /** Minimum confidence to trade (default 0.6). */
  readonly threshold?: number;
  /** SELL opens a short (default false: SELL gives no trade). */
  readonly allowShort?: boolean;
  /** Take-profit as a fraction of the price (default 0.02; backtest-kit requires >= 0.5% by default). */
  readonly takeProfit?: number;
  /** Stop-loss as a fraction of the price (default 0.01; backtest-kit requires 0.5% to 20% by default). */
  readonly stopLoss?: number;
  /** Close after this many candles of the timeframe (minuteEstimatedTime); default backtest-kit's. */
  readonly maxHoldCandles?: number;
  /** Entry cost in USD (default backtest-kit's). */
  readonly cost?: number;
  /** Candles fetched on a symbol's first call (default: the predictor's warm-up, at least 300). */
  readonly warmupCandles?: number;
  /** Most candles fetched on a later call, to catch up after a long position (default 1000). */
  readonly maxCatchUpCandles?: number;
  readonly tracker?: PredictionSink;
  /**
   * The signal of each closed candle the adapter decided on, HOLD included. Its
   * `reason` speaks of the adapter's shadow account, not of backtest-kit's positions.
   */
  readonly onSignal?: (signal: Signal) => void;
  readonly log?: Logger;
}

/** A strategy schema for backtest-kit plus what it holds. */
export interface BacktestKitStrategy extends BacktestKitStrategySchema {
  /** Stops the per-symbol strategies (and disposes a model loaded by `registerBacktestKitStrategy`). */
  close(): Promise<void>;
}

const SIGNAL_INTERVALS: readonly string[] = ['1m', '3m', '5m', '15m', '30m', '1h'];
const DEFAULT_WARMUP = 300;
const DEFAULTS = { takeProfit: 0.02, stopLoss: 0.01, maxCatchUpCandles: 1000 } as const;

interface SymbolFeed {
  readonly embedded: EmbeddedStrategy;
  /** Open time of the last candle fed. */
  last: number | undefined;
  /** Calls of one symbol run one after the other. */
  queue: Promise<unknown>;
}

/** The ML strategy as a backtest-kit strategy schema (pass it to addStrategySchema). */
export function createBacktestKitStrategy(
  options: BacktestKitStrategyOptions,
  onClose?: () => Promise<void>,
): BacktestKitStrategy {
  const o = options ?? ({} as BacktestKitStrategyOptions);
  if (typeof o.strategyName !== 'string' || o.strategyName === '') {
    throw new ConfigError('strategyName is required', { field: 'strategyName' });
  }
  if (typeof o.getCandles !== 'function') {
    throw new ConfigError("getCandles is required: pass backtest-kit's getCandles", { field: 'getCandles' });
  }
  const tfMs = timeframeToMs(o.timeframe);
  const interval = o.interval ?? (SIGNAL_INTERVALS.includes(o.timeframe) ? o.timeframe : '1h');
  if (!SIGNAL_INTERVALS.includes(interval)) {
    throw new ConfigError(`interval must be one of ${SIGNAL_INTERVALS.join(', ')}, got '${interval}'`, {
      field: 'interval',
    });
  }
  const takeProfit = o.takeProfit ?? DEFAULTS.takeProfit;
  const stopLoss = o.stopLoss ?? DEFAULTS.stopLoss;
  if (!(Number.isFinite(takeProfit) && takeProfit > 0)) {
    throw new ConfigError(`take-profit must be a fraction > 0, got ${takeProfit}`, { field: 'takeProfit' });
  }
  if (!(Number.isFinite(stopLoss) && stopLoss > 0 && stopLoss < 1)) {
    throw new ConfigError(`stop-loss must be a fraction in (0, 1), got ${stopLoss}`, { field: 'stopLoss' });
  }
  if (o.maxHoldCandles !== undefined && !(Number.isInteger(o.maxHoldCandles) && o.maxHoldCandles >= 1)) {
    throw new ConfigError(`maxHoldCandles must be an integer >= 1, got ${o.maxHoldCandles}`, {
      field: 'maxHoldCandles',
    });
  }
  const needed = (o.predictor as { warmupCandles?: unknown })?.warmupCandles;
  const warmup =
    o.warmupCandles ?? Math.max(DEFAULT_WARMUP, typeof needed === 'number' && Number.isFinite(needed) ? needed + 1 : 0);
  const maxCatchUp = o.maxCatchUpCandles ?? DEFAULTS.maxCatchUpCandles;
  for (const [field, v] of [
    ['warmupCandles', warmup],
    ['maxCatchUpCandles', maxCatchUp],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 1))
      throw new ConfigError(`${field} must be an integer >= 1, got ${v}`, { field });
  }
  const allowShort = o.allowShort ?? ML_STRATEGY_DEFAULTS.allowShort;
  const threshold = o.threshold ?? ML_STRATEGY_DEFAULTS.threshold;
  // Validates predictor, threshold and tracker once, up front.
  const strategyOptions = {
    predictor: o.predictor,
    threshold,
    allowShort,
    fraction: 1,
    name: o.strategyName,
    ...(o.tracker !== undefined ? { tracker: o.tracker } : {}),
  };
  new MlStrategy(strategyOptions);

  const feeds = new Map<string, SymbolFeed>();
  let closed = false;

  /** One engine per symbol: backtest-kit runs symbols concurrently, each engine needs its own time order. */
  const feedOf = (symbol: string): SymbolFeed => {
    let feed = feeds.get(symbol);
    if (feed === undefined) {
      const embedded = new EmbeddedStrategy({
        strategy: new MlStrategy(strategyOptions),
        ...(o.log !== undefined ? { log: o.log } : {}),
      });
      feed = { embedded, last: undefined, queue: embedded.start() };
      feeds.set(symbol, feed);
    }
    return feed;
  };

  const decide = async (symbol: string, when: Date, currentPrice: number): Promise<BacktestKitSignalDto | null> => {
    const feed = feedOf(symbol);
    const now = when.getTime();
    const limit =
      feed.last === undefined ? warmup : Math.min(maxCatchUp, Math.max(1, Math.ceil((now - feed.last) / tfMs)));
    const fetched = [...(await o.getCandles(symbol, o.timeframe, limit))].sort((a, b) => a.timestamp - b.timestamp);
    if (
      feed.last !== undefined &&
      fetched.length > 0 &&
      (fetched[0] as BacktestKitCandle).timestamp > feed.last + tfMs
    ) {
      o.log?.warn('backtest-kit adapter: candles missing since the last call; features continue across the gap', {
        symbol,
        last: feed.last,
        next: (fetched[0] as BacktestKitCandle).timestamp,
      });
    }
    let latest: Signal | undefined;
    let fed = 0;
    for (const k of fetched) {
      if (feed.last !== undefined && k.timestamp <= feed.last) continue;
      // backtest-kit never returns the forming candle; guard anyway: only candles closed by `when`.
      if (k.timestamp + tfMs > now) continue;
      const candle: Candle = {
        timestamp: k.timestamp,
        open: k.open,
        high: k.high,
        low: k.low,
        close: k.close,
        volume: k.volume,
        symbol,
        timeframe: o.timeframe,
      };
      const signals = await feed.embedded.candle(candle);
      feed.last = k.timestamp;
      fed++;
      latest = signals[signals.length - 1];
    }
    if (fed === 0 || latest === undefined) return null;
    o.onSignal?.(latest);
    const price = currentPrice;
    if (!(Number.isFinite(price) && price > 0)) {
      throw new ConfigError(`currentPrice must be > 0, got ${price}`, { symbol, field: 'currentPrice' });
    }
    const extra = {
      ...(o.maxHoldCandles !== undefined ? { minuteEstimatedTime: (o.maxHoldCandles * tfMs) / 60_000 } : {}),
      ...(o.cost !== undefined ? { cost: o.cost } : {}),
    };
    const prediction = latest.prediction;
    // Not the strategy's reason: it speaks of the shadow account, while backtest-kit holds the positions.
    const note =
      prediction === undefined
        ? `quantflow ml ${latest.action}`
        : `quantflow ml ${latest.action}: ${prediction.modelVersion} p(up) ${prediction.prediction.toFixed(4)}, confidence ${prediction.confidence.toFixed(4)}`;
    if (latest.action === 'BUY') {
      return {
        position: 'long',
        priceTakeProfit: price * (1 + takeProfit),
        priceStopLoss: price * (1 - stopLoss),
        ...extra,
        note,
      };
    }
    if (latest.action === 'SELL' && allowShort) {
      return {
        position: 'short',
        priceTakeProfit: price * (1 - takeProfit),
        priceStopLoss: price * (1 + stopLoss),
        ...extra,
        note,
      };
    }
    return null;
  };

  return {
    strategyName: o.strategyName,
    ...(o.note !== undefined ? { note: o.note } : {}),
    interval: interval as BacktestKitSignalInterval,
    async getSignal(symbol: string, when: Date, currentPrice: number): Promise<BacktestKitSignalDto | null> {
      if (closed) throw new ConfigError('this backtest-kit strategy was closed', { symbol });
      const feed = feedOf(symbol);
      const next = feed.queue.then(() => decide(symbol, when, currentPrice));
      feed.queue = next.catch(() => undefined);
      return next;
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        for (const feed of feeds.values()) await feed.embedded.stop();
      } finally {
        await onClose?.();
      }
    },
  };
}

export interface RegisterBacktestKitOptions extends Omit<BacktestKitStrategyOptions, 'predictor' | 'getCandles'> {
  /** The model: { predictor } (a fresh one), { modelDir } or { registry, model }. */
  readonly model: ModelSource;
  /** The backtest-kit module (default: `import('backtest-kit')`). */
  readonly backtestKit?: BacktestKitModule;
}

/**
 * Opens the model, builds the strategy and registers it with backtest-kit
 * (`addStrategySchema`, or `addStrategy` on older releases). Then run it with
 * backtest-kit's own `Backtest` / `Live` and your exchange and frame schemas.
 */
export async function registerBacktestKitStrategy(options: RegisterBacktestKitOptions): Promise<BacktestKitStrategy> {
  const { model: source, backtestKit, ...rest } = options;
  const kit = backtestKit ?? (await importBacktestKit());
  const add = kit.addStrategySchema ?? kit.addStrategy;
  if (typeof add !== 'function' || typeof kit.getCandles !== 'function') {
    throw new ConfigError('backtest-kit module has neither addStrategySchema nor addStrategy, or no getCandles', {
      field: 'backtestKit',
    });
  }
  const model = await openModel(source);
  try {
    const strategy = createBacktestKitStrategy(
      { ...rest, predictor: model.predictor, getCandles: kit.getCandles },
      () => model.close(),
    );
    add({
      strategyName: strategy.strategyName,
      interval: strategy.interval,
      getSignal: strategy.getSignal,
      ...(strategy.note !== undefined ? { note: strategy.note } : {}),
    });
    return strategy;
  } catch (err) {
    await model.close();
    throw err;
  }
}

async function importBacktestKit(): Promise<BacktestKitModule> {
  const name = 'backtest-kit';
  try {
    return (await import(name)) as BacktestKitModule;
  } catch (err) {
    throw new ConfigError(
      `backtest-kit is not installed (npm install backtest-kit): ${err instanceof Error ? err.message : String(err)}`,
      { field: 'backtestKit' },
      { cause: err },
    );
  }
}
