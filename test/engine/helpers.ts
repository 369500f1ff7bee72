/** Small builders for engine tests: hand-made candles and scripted strategies. */
import { EventBus } from '../../src/core/events.js';
import type { Strategy, StrategyContext } from '../../src/core/strategy.js';
import type { Candle, Fill, Order, OrderRequest, Signal } from '../../src/core/types.js';
import { type BacktestConfig, DEFAULT_BACKTEST_CONFIG } from '../../src/engine/result.js';
import { createSimulation, type Simulation } from '../../src/engine/simulation.js';

export const HOUR = 3_600_000;
export const T0 = Date.UTC(2024, 0, 1);

/** Candle `i` of a 1h series: open time T0 + i hours. */
export function bar(
  i: number,
  o: number,
  h: number,
  l: number,
  c: number,
  symbol = 'TEST/USDT',
  timeframe = '1h',
): Candle {
  return { timestamp: T0 + i * HOUR, open: o, high: h, low: l, close: c, volume: 1, symbol, timeframe };
}

/** Bars from [open, high, low, close] rows. */
export function bars(rows: readonly (readonly [number, number, number, number])[], symbol = 'TEST/USDT'): Candle[] {
  return rows.map(([o, h, l, c], i) => bar(i, o, h, l, c, symbol));
}

/** A strategy that submits the given requests on the candle with that index (per symbol). */
export function scripted(
  plan: Readonly<Record<number, readonly OrderRequest[]>>,
  onCandle?: (candle: Candle, ctx: StrategyContext, index: number) => void,
): Strategy & { seen: Candle[]; submitted: Order[] } {
  const counts = new Map<string, number>();
  const seen: Candle[] = [];
  const submitted: Order[] = [];
  return {
    name: 'scripted',
    seen,
    submitted,
    onCandle(candle, ctx) {
      const i = counts.get(candle.symbol) ?? 0;
      counts.set(candle.symbol, i + 1);
      seen.push(candle);
      onCandle?.(candle, ctx, i);
      for (const r of plan[i] ?? []) {
        if (r.symbol !== candle.symbol) continue;
        void ctx.broker.submit(r).then((o) => submitted.push(o));
      }
    },
  };
}

export const buy = (quantity: number, extra: Partial<OrderRequest> = {}): OrderRequest => ({
  symbol: 'TEST/USDT',
  side: 'buy',
  type: 'market',
  size: { kind: 'quantity', quantity },
  ...extra,
});
export const sell = (quantity: number, extra: Partial<OrderRequest> = {}): OrderRequest => ({
  symbol: 'TEST/USDT',
  side: 'sell',
  type: 'market',
  size: { kind: 'quantity', quantity },
  ...extra,
});

export const NO_COSTS: BacktestConfig = { ...DEFAULT_BACKTEST_CONFIG, feeRate: 0, slippageBps: 0, closeAtEnd: false };

/** A simulated account plus everything published on its bus. */
export function sim(
  strategy: Strategy,
  config: Partial<BacktestConfig> = {},
): Simulation & { fills: Fill[]; errors: string[]; signals: Signal[]; orderEvents: string[] } {
  const events = new EventBus();
  const fills: Fill[] = [];
  const errors: string[] = [];
  const signals: Signal[] = [];
  const orderEvents: string[] = [];
  events.on('fill', (f) => fills.push(f));
  events.on('error', (e) => errors.push(`${e.context}: ${e.error.message}`));
  events.on('signal', (s) => signals.push(s));
  events.on('order', (o) => orderEvents.push(`${o.id}:${o.status}`));
  const s = createSimulation({ ...NO_COSTS, ...config }, strategy, { events });
  return { ...s, fills, errors, signals, orderEvents };
}
