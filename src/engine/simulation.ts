/**
 * Wiring of the simulated account: one clock, one event bus, a portfolio, the
 * simulated broker and the engine (with its order gate and risk rules), built
 * from a BacktestConfig. Backtests use `runSimulation` on candle arrays; paper
 * trading uses `createSimulation` (resuming a journal's account) and drives
 * `engine` with the same session loop from the live feed; the embedded
 * adapter's shadow account is one too.
 */
import { ConfigError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Strategy } from '../core/strategy.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, MarketRules } from '../core/types.js';
import { EventClock } from './clock.js';
import { KillSwitch, killSwitchRule } from './kill-switch.js';
import { computeMetrics } from './metrics.js';
import type { RiskRule } from './order-gate.js';
import { Portfolio, type PortfolioState } from './portfolio.js';
import { type ReplaySummary, replay } from './replay.js';
import type { BacktestConfig, PerformanceMetrics } from './result.js';
import { SimulatedBroker, type SimulatedBrokerOptions, type SimulatedBrokerState } from './simulated-broker.js';
import { type StrategyErrorPolicy, TradingEngine } from './trading-engine.js';

export interface SimulationOptions {
  /** Subscribe to it before the run to collect signals, orders, fills, errors. */
  readonly events?: EventBus;
  readonly log?: Logger;
  readonly onStrategyError?: StrategyErrorPolicy;
  readonly recordEquity?: boolean;
  readonly expectedTimestamps?: number;
  /** Risk rules of the order gate, before the config's kill switch (if any). */
  readonly rules?: readonly RiskRule[];
  /** Mixed into client order ids. */
  readonly orderIdNamespace?: string;
  /** Prefix of the simulated broker's order ids (default 'sim-'). */
  readonly idPrefix?: string;
  /** Continue an earlier run (paper restart): its account, its open orders and its clock. */
  readonly resume?: {
    readonly portfolio: PortfolioState;
    readonly broker: SimulatedBrokerState;
    readonly time: number;
  };
}

export interface Simulation {
  readonly engine: TradingEngine;
  readonly broker: SimulatedBroker;
  readonly portfolio: Portfolio;
  readonly events: EventBus;
  readonly clock: EventClock;
  /** The config's kill switch, when it has limits. */
  readonly killSwitch: KillSwitch | undefined;
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
  const resume = options.resume;
  const clock = new EventClock(resume?.time ?? 0);
  const portfolio = resume !== undefined ? Portfolio.fromJSON(resume.portfolio) : new Portfolio(config.initialCash);
  const brokerOptions: SimulatedBrokerOptions = {
    portfolio,
    events,
    clock,
    feeRate: config.feeRate,
    slippageBps: config.slippageBps,
    allowShort: config.allowShort,
    fractional: config.fractional,
    ...(config.markets !== undefined ? { markets: config.markets } : {}),
    ...(options.idPrefix !== undefined ? { idPrefix: options.idPrefix } : {}),
  };
  const broker =
    resume !== undefined ? SimulatedBroker.fromJSON(resume.broker, brokerOptions) : new SimulatedBroker(brokerOptions);
  const killSwitch = config.killSwitch !== undefined ? new KillSwitch(config.killSwitch) : undefined;
  const rules = [...(options.rules ?? []), ...(killSwitch !== undefined ? [killSwitchRule(killSwitch)] : [])];
  const engine = new TradingEngine({
    strategy,
    broker,
    portfolio,
    events,
    clock,
    rules,
    ...(options.orderIdNamespace !== undefined ? { orderIdNamespace: options.orderIdNamespace } : {}),
    ...(options.log !== undefined ? { log: options.log } : {}),
    ...(options.onStrategyError !== undefined ? { onStrategyError: options.onStrategyError } : {}),
    ...(options.recordEquity !== undefined ? { recordEquity: options.recordEquity } : {}),
    ...(options.expectedTimestamps !== undefined ? { expectedTimestamps: options.expectedTimestamps } : {}),
  });
  return { engine, broker, portfolio, events, clock, killSwitch };
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
