/**
 * Wiring of the simulated account: one clock, one event bus, a portfolio, the
 * simulated broker and the engine, built from a BacktestConfig. Backtests use
 * `runSimulation` on candle arrays; paper trading uses `createSimulation` and
 * drives `engine` from a live feed (see replay.ts `drive`).
 */
import { ConfigError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Strategy } from '../core/strategy.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, MarketRules } from '../core/types.js';
import { EventClock } from './clock.js';
import { computeMetrics } from './metrics.js';
import { Portfolio } from './portfolio.js';
import { type ReplaySummary, replay } from './replay.js';
import type { BacktestConfig, PerformanceMetrics } from './result.js';
import { SimulatedBroker } from './simulated-broker.js';
import { type StrategyErrorPolicy, TradingEngine } from './trading-engine.js';

export interface SimulationOptions {
  /** Subscribe to it before the run to collect signals, orders, fills, errors. */
  readonly events?: EventBus;
  readonly log?: Logger;
  readonly onStrategyError?: StrategyErrorPolicy;
  readonly recordEquity?: boolean;
  readonly expectedTimestamps?: number;
}

export interface Simulation {
  readonly engine: TradingEngine;
  readonly broker: SimulatedBroker;
  readonly portfolio: Portfolio;
  readonly events: EventBus;
  readonly clock: EventClock;
}

/** Throws a ConfigError naming the first invalid field. */
export function validateBacktestConfig(config: BacktestConfig): void {
  const bad = (field: string, message: string) => {
    throw new ConfigError(message, { field });
  };
  if (!(Number.isFinite(config.initialCash) && config.initialCash > 0)) {
    bad('initialCash', `initial cash must be a positive number, got ${config.initialCash}`);
  }
  if (!(Number.isFinite(config.feeRate) && config.feeRate >= 0 && config.feeRate < 1)) {
    bad('feeRate', `fee rate must be in [0, 1) (0.001 = 0.1%), got ${config.feeRate}`);
  }
  if (!(Number.isFinite(config.slippageBps) && config.slippageBps >= 0 && config.slippageBps < 10_000)) {
    bad('slippageBps', `slippage must be in [0, 10000) basis points, got ${config.slippageBps}`);
  }
  for (const [symbol, rules] of Object.entries(config.markets ?? {})) {
    for (const key of ['amountStep', 'priceStep', 'minAmount', 'minCost'] as const satisfies (keyof MarketRules)[]) {
      const v = rules[key];
      if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
        throw new ConfigError(`${key} must be a non-negative number, got ${v}`, { symbol, field: key });
      }
    }
  }
}

export function createSimulation(
  config: BacktestConfig,
  strategy: Strategy,
  options: SimulationOptions = {},
): Simulation {
  validateBacktestConfig(config);
  const events = options.events ?? new EventBus();
  const clock = new EventClock();
  const portfolio = new Portfolio(config.initialCash);
  const broker = new SimulatedBroker({
    portfolio,
    events,
    clock,
    feeRate: config.feeRate,
    slippageBps: config.slippageBps,
    allowShort: config.allowShort,
    fractional: config.fractional,
    ...(config.markets !== undefined ? { markets: config.markets } : {}),
  });
  const engine = new TradingEngine({
    strategy,
    broker,
    portfolio,
    events,
    clock,
    ...(options.log !== undefined ? { log: options.log } : {}),
    ...(options.onStrategyError !== undefined ? { onStrategyError: options.onStrategyError } : {}),
    ...(options.recordEquity !== undefined ? { recordEquity: options.recordEquity } : {}),
    ...(options.expectedTimestamps !== undefined ? { expectedTimestamps: options.expectedTimestamps } : {}),
  });
  return { engine, broker, portfolio, events, clock };
}

export interface SimulationRun extends Simulation {
  readonly summary: ReplaySummary;
  readonly metrics: PerformanceMetrics;
}

export interface RunSimulationOptions extends SimulationOptions {
  readonly progress?: (done: number, total: number) => void;
  readonly progressEvery?: number;
}

/** Replay `series` through a fresh simulated account and compute its metrics. */
export async function runSimulation(
  series: readonly (readonly Candle[])[],
  strategy: Strategy,
  config: BacktestConfig,
  options: RunSimulationOptions = {},
): Promise<SimulationRun> {
  const first = series.find((s) => s.length > 0)?.[0];
  if (first === undefined) throw new ConfigError('no candles to simulate', { field: 'candles' });
  const longest = Math.max(...series.map((s) => s.length));
  const sim = createSimulation(config, strategy, { expectedTimestamps: longest + 1, ...options });
  const summary = await replay(sim.engine, series, {
    closeAtEnd: config.closeAtEnd,
    closeReason: 'end of backtest',
    ...(options.progress !== undefined ? { progress: options.progress } : {}),
    ...(options.progressEvery !== undefined ? { progressEvery: options.progressEvery } : {}),
  });
  const curve = sim.engine.equityCurve;
  const metrics = computeMetrics({
    timestamps: curve.timestamps,
    equity: curve.equity,
    grossExposure: curve.grossExposure,
    initialCash: config.initialCash,
    trades: sim.portfolio.trades,
    totalFees: sim.portfolio.totalFees,
    timeframeMs: timeframeToMs(first.timeframe),
  });
  return { ...sim, summary, metrics };
}
