import type { EventBus } from './events.js';
import type { Logger } from './logger.js';
import type { Candle, Order, OrderRequest, PortfolioView, Tick } from './types.js';

/**
 * Order entry as a strategy sees it. Implemented by the simulated broker
 * (backtest, paper) and the ccxt broker (live): the strategy cannot tell which.
 *
 * `submit` resolves with the order as accepted; a refused order resolves with
 * status 'rejected' and a `rejectReason` (and an `error` event), it does not throw.
 */
export interface Broker {
  submit(request: OrderRequest): Promise<Order>;
  cancel(orderId: string): Promise<boolean>;
  openOrders(symbol?: string): readonly Order[];
}

/** Time as the strategy must see it: the current candle's time in a backtest, the wall clock only live. */
export interface Clock {
  now(): number;
}

/** Everything a strategy may touch. */
export interface StrategyContext {
  readonly broker: Broker;
  readonly portfolio: PortfolioView;
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: EventBus;
}

/**
 * The plugin boundary. A strategy written against this interface runs
 * unchanged in backtest, paper and live mode.
 *
 * `onCandle` is called once per CLOSED candle, in timestamp order per symbol.
 * Orders it submits fill no earlier than the next candle's open.
 * Hooks may return a promise; the engine awaits it before the next event.
 *
 * Each decision is published as a `signal` event carrying the position the
 * strategy wants (`target`, `transition`, `size`). Paper and live runners hold
 * back orders decided on replayed candles (warm-up, backfill) and, at the
 * newest candle, act on the difference between that target and the position
 * held; a strategy publishing no signals cannot be caught up that way.
 */
export interface Strategy {
  readonly name: string;
  /**
   * Closed candles per symbol the strategy needs before its decisions mean
   * anything (indicator or feature warm-up): its first decision may come on
   * the last of them. Live runners feed at least this many before trading and
   * refuse a smaller warm-up; absent means 0.
   */
  readonly warmupCandles?: number;
  /** The strategy opens short positions (the broker must allow them); absent means false. */
  readonly allowShort?: boolean;
  onStart?(ctx: StrategyContext): void | Promise<void>;
  onCandle(candle: Candle, ctx: StrategyContext): void | Promise<void>;
  onTick?(tick: Tick, ctx: StrategyContext): void | Promise<void>;
  onStop?(ctx: StrategyContext): void | Promise<void>;
}
