/**
 * Drive a QuantFlow strategy (the ML strategy or any `Strategy`) from ANY bot
 * loop: the host feeds closed candles (and ticks if it has them) and gets the
 * strategy's signals back. Underneath it is the same `TradingEngine` and the
 * same `onCandle` / `onTick` hooks as `quantflow backtest`, `paper` and `live`;
 * this class only builds the `StrategyContext` around the host's callbacks.
 *
 * Two modes:
 * - 'signals' (default, no broker): nothing leaves the process. The strategy's
 *   orders go to a shadow simulated account (`SimulatedBroker`: fills at the
 *   next candle's open, fees and slippage as in a backtest) so that its
 *   position logic (already long? stop-loss?) stays coherent. The host acts on
 *   the signals; shadow orders and fills are published as events too.
 * - 'orders' (a `broker` given): every order the strategy submits is handed to
 *   `broker.submit` with a quantity sized from the account the strategy sees;
 *   the host executes it its own way and reports back with `fill()`,
 *   `reject()` or `cancelled()`. The account is the host's `portfolio` when
 *   given, else a ledger here updated by the reported fills.
 *
 *   const bot = new EmbeddedStrategy({ strategy: new MlStrategy({ predictor }) });
 *   await bot.start();
 *   for (const signal of await bot.candle(closedCandle)) {
 *     if (signal.transition === 'open-long') buy(signal);        // not on a BUY while already long
 *     if (signal.transition === 'close-long') sell(signal);      // not on a SELL while flat
 *   }
 *   await bot.stop();
 *
 * Candles must be CLOSED, one call per candle, in time order (`timestamp` is
 * the open time in ms). Calls are queued: a host may call `candle()` from a
 * websocket callback without awaiting the previous call.
 */

import { MlStrategy, type MlStrategyOptions } from '../../strategies/ml-strategy.js';
import { ConfigError, OrderRejectedError } from '../core/errors.js';
import { type ErrorEvent, EventBus } from '../core/events.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { Strategy } from '../core/strategy.js';
import type { Candle, Fill, Order, OrderRequest, PortfolioView, Signal, Tick } from '../core/types.js';
import { EventClock } from '../engine/clock.js';
import type { EngineBroker } from '../engine/order-gate.js';
import { addFill, fillOf, isOpen, newOrder, sizeOrder, validateOrderRequest } from '../engine/orders.js';
import { Portfolio } from '../engine/portfolio.js';
import { createSimulation, type Simulation } from '../engine/simulation.js';
import {
  type EnginePortfolio,
  type EngineState,
  type StrategyErrorPolicy,
  TradingEngine,
} from '../engine/trading-engine.js';

export { candleFromOhlcv } from '../data/ohlcv.js';

import { type ModelSource, openModel } from './model-source.js';

/** An order for the host to execute. */
export interface HostOrder {
  /** The strategy's order (status 'open'); report fills with its `id` (or `clientOrderId`). */
  readonly order: Order;
  /** Units to trade, sized at `referencePrice` from the account the strategy sees (reduce-only orders capped). */
  readonly quantity: number;
  /** Last price seen for the symbol: the last candle's close or tick's last. */
  readonly referencePrice: number;
}

/** What a host implements to receive orders (mode 'orders'). */
export interface HostBroker {
  /**
   * Execute the order your way (exchange API, another bot framework...). Then
   * report with `fill()` / `reject()` / `cancelled()`. Throwing (or rejecting)
   * marks the order rejected.
   */
  submit(order: HostOrder): void | Promise<void>;
  /** Cancel an open order; resolve true when it is cancelled. Without it, cancels are refused. */
  cancel?(order: Order): boolean | Promise<boolean>;
}

/** A fill the host reports (mode 'orders'). */
export interface HostFill {
  /** The order's `id` or `clientOrderId`. */
  readonly orderId: string;
  /** Units filled by this fill (> 0). */
  readonly quantity: number;
  readonly price: number;
  /** Fee paid in quote currency (default 0). */
  readonly fee?: number;
  /** Fill time in ms (default: the time of the last candle or tick processed). */
  readonly timestamp?: number;
  /** True when the order is complete; default: once the filled quantity reaches the order's quantity. */
  readonly final?: boolean;
}

export interface EmbeddedStrategyOptions {
  readonly strategy: Strategy;
  /** Orders go to the host (mode 'orders'). Absent: signals only, with a shadow simulated account. */
  readonly broker?: HostBroker;
  /** The host's account as the strategy should see it (mode 'orders'); default a ledger of the reported fills. */
  readonly portfolio?: PortfolioView;
  /** Starting cash of the shadow account or the ledger (default 10,000). */
  readonly initialCash?: number;
  /** Shadow account: fee per fill as a fraction of notional (default 0.001). */
  readonly feeRate?: number;
  /** Shadow account: slippage on market orders in basis points (default 5). */
  readonly slippageBps?: number;
  /** Short positions allowed (default: the strategy's own `allowShort`, else false). */
  readonly allowShort?: boolean;
  readonly log?: Logger;
  /** 'stop' (default): a strategy error rejects the call and stops the strategy; 'continue': report and go on. */
  readonly onStrategyError?: StrategyErrorPolicy;
  /** Every signal (HOLD included), as it is published. */
  readonly onSignal?: (signal: Signal) => void;
  /** Every order change (submitted, filled, rejected, cancelled). In mode 'signals' these are the shadow orders. */
  readonly onOrder?: (order: Order) => void;
  readonly onFill?: (fill: Fill) => void;
  readonly onError?: (event: ErrorEvent) => void;
  /** Called once by `stop()` after the strategy's onStop (e.g. to dispose a model). */
  readonly onClose?: () => void | Promise<void>;
}

export const EMBEDDED_DEFAULTS = { initialCash: 10_000, feeRate: 0.001, slippageBps: 5 } as const;

export type EmbeddedMode = 'signals' | 'orders';

export class EmbeddedStrategy {
  readonly strategy: Strategy;
  readonly mode: EmbeddedMode;
  /** Subscribe to 'signal', 'order', 'fill', 'error', 'candle', 'tick'. */
  readonly events: EventBus;
  readonly engine: TradingEngine;
  private readonly bridge: HostBrokerBridge | undefined;
  private readonly simulation: Simulation | undefined;
  private readonly onClose: (() => void | Promise<void>) | undefined;
  private collected: Signal[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(options: EmbeddedStrategyOptions) {
    const o = options ?? ({} as EmbeddedStrategyOptions);
    const strategy = o.strategy;
    if (strategy === undefined || strategy === null || typeof strategy.onCandle !== 'function') {
      throw new ConfigError('an EmbeddedStrategy needs a strategy with onCandle (e.g. new MlStrategy(...))', {
        field: 'strategy',
      });
    }
    if (o.broker !== undefined && typeof o.broker?.submit !== 'function') {
      throw new ConfigError('broker must have submit(order)', { field: 'broker' });
    }
    if (o.broker === undefined && o.portfolio !== undefined) {
      throw new ConfigError('portfolio applies with a broker (mode orders); signals mode keeps a shadow account', {
        field: 'portfolio',
      });
    }
    const initialCash = o.initialCash ?? EMBEDDED_DEFAULTS.initialCash;
    const allowShort = o.allowShort ?? strategy.allowShort === true;
    this.strategy = strategy;
    this.onClose = o.onClose;
    this.events = new EventBus();
    const log = o.log ?? silentLogger;
    const policy = o.onStrategyError ?? 'stop';
    if (o.broker === undefined) {
      this.mode = 'signals';
      this.simulation = createSimulation(
        {
          initialCash,
          feeRate: o.feeRate ?? EMBEDDED_DEFAULTS.feeRate,
          slippageBps: o.slippageBps ?? EMBEDDED_DEFAULTS.slippageBps,
          allowShort,
          fractional: true,
          closeAtEnd: false,
        },
        strategy,
        { events: this.events, log, onStrategyError: policy, recordEquity: false },
      );
      this.engine = this.simulation.engine;
    } else {
      if (o.feeRate !== undefined || o.slippageBps !== undefined) {
        throw new ConfigError(
          'feeRate and slippageBps apply to the shadow account (no broker); your broker has its own',
          {
            field: o.feeRate !== undefined ? 'feeRate' : 'slippageBps',
          },
        );
      }
      this.mode = 'orders';
      const clock = new EventClock();
      const portfolio = o.portfolio === undefined ? new Portfolio(initialCash) : hostPortfolio(o.portfolio);
      this.bridge = new HostBrokerBridge(o.broker, portfolio, this.events, clock, allowShort);
      this.engine = new TradingEngine({
        strategy,
        broker: this.bridge,
        portfolio,
        events: this.events,
        clock,
        log,
        onStrategyError: policy,
        recordEquity: false,
      });
    }
    this.events.on('signal', (s) => this.collected.push(s));
    if (o.onSignal !== undefined) this.events.on('signal', o.onSignal);
    if (o.onOrder !== undefined) this.events.on('order', o.onOrder);
    if (o.onFill !== undefined) this.events.on('fill', o.onFill);
    if (o.onError !== undefined) this.events.on('error', o.onError);
  }

  /** The account the strategy sees: the shadow account, the ledger, or the host's portfolio. */
  get portfolio(): PortfolioView {
    return this.engine.portfolio;
  }

  get state(): EngineState {
    return this.engine.state;
  }

  /** Calls the strategy's onStart; await it before the first candle. */
  start(): Promise<void> {
    return this.enqueue(() => this.engine.start());
  }

  /** A CLOSED candle: resolves with the signals the strategy published for it (HOLD included). */
  candle(candle: Candle): Promise<Signal[]> {
    return this.enqueue(() => this.collect(() => this.engine.processCandle(candle)));
  }

  /** A quote between candle closes: resolves with the (intrabar) signals it led to. */
  tick(tick: Tick): Promise<Signal[]> {
    return this.enqueue(() => this.collect(() => this.engine.processTick(tick)));
  }

  /** Mode 'orders': the host filled (part of) an order. Returns the fill as recorded. */
  fill(report: HostFill): Fill {
    return this.requireBridge('fill').applyFill(report);
  }

  /** Mode 'orders': the host could not place the order. */
  reject(orderId: string, reason: string): Order {
    return this.requireBridge('reject').rejectOrder(orderId, reason);
  }

  /** Mode 'orders': the order was cancelled on the host's side. */
  cancelled(orderId: string): Order {
    return this.requireBridge('cancelled').cancelledOrder(orderId);
  }

  /** Every order the strategy submitted (shadow orders in mode 'signals'), in submission order. */
  orders(): readonly Order[] {
    return this.bridge !== undefined ? this.bridge.orders() : (this.simulation as Simulation).broker.orders();
  }

  openOrders(symbol?: string): readonly Order[] {
    return this.engine.broker.openOrders(symbol);
  }

  /** Calls the strategy's onStop, then `onClose`. Idempotent. */
  stop(): Promise<void> {
    return this.enqueue(async () => {
      if (this.closed) return;
      this.closed = true;
      try {
        await this.engine.stop();
      } finally {
        await this.onClose?.();
      }
    });
  }

  private async collect(step: () => undefined | Promise<void>): Promise<Signal[]> {
    this.collected = [];
    const pending = step();
    if (pending !== undefined) await pending;
    const out = this.collected;
    this.collected = [];
    return out;
  }

  /** Runs `job` after every earlier call settled, so events reach the engine one at a time, in call order. */
  private enqueue<T>(job: () => T | Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private requireBridge(what: string): HostBrokerBridge {
    if (this.bridge === undefined) {
      throw new ConfigError(`${what}() applies with a broker (mode orders); in signals mode the shadow account fills`, {
        field: 'broker',
      });
    }
    return this.bridge;
  }
}

/** MlStrategy options, a model source and the embedding options, for `createEmbeddedMlStrategy`. */
export interface EmbeddedMlStrategyOptions
  extends Omit<MlStrategyOptions, 'predictor'>,
    Omit<EmbeddedStrategyOptions, 'strategy' | 'allowShort' | 'onClose'> {
  /** The model: { predictor }, { modelDir } or { registry, model }. */
  readonly model: ModelSource;
  /** Also predict on ticks (provisional, intrabar) when the model is loaded here (default false). */
  readonly intrabar?: boolean;
}

/**
 * The ML strategy embedded in one call: opens the model, builds MlStrategy and
 * the EmbeddedStrategy around it. `stop()` also disposes a model loaded here.
 */
export async function createEmbeddedMlStrategy(options: EmbeddedMlStrategyOptions): Promise<EmbeddedStrategy> {
  const { model: source, intrabar, ...rest } = options;
  const model = await openModel(source, intrabar !== undefined ? { intrabar } : {});
  try {
    const strategy = new MlStrategy({
      predictor: model.predictor,
      ...pick(rest, [
        'threshold',
        'fraction',
        'allowShort',
        'stopLoss',
        'takeProfit',
        'maxHoldCandles',
        'tracker',
        'name',
      ]),
    });
    return new EmbeddedStrategy({
      ...pick(rest, [
        'broker',
        'portfolio',
        'initialCash',
        'feeRate',
        'slippageBps',
        'log',
        'onStrategyError',
        'onSignal',
        'onOrder',
        'onFill',
        'onError',
      ]),
      strategy,
      onClose: () => model.close(),
    });
  } catch (err) {
    await model.close();
    throw err;
  }
}

function pick<T extends object, K extends keyof T>(source: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (source[k] !== undefined) out[k] = source[k];
  return out;
}

/** The host's PortfolioView as the engine needs it: marks are the host's business. */
function hostPortfolio(view: PortfolioView): EnginePortfolio {
  if (typeof view?.position !== 'function' || typeof view?.positions !== 'function') {
    throw new ConfigError('portfolio must have cash, equity, position(symbol) and positions()', { field: 'portfolio' });
  }
  return {
    get cash() {
      return view.cash;
    },
    get equity() {
      return view.equity;
    },
    position: (symbol: string) => view.position(symbol),
    positions: () => view.positions(),
    mark() {},
    get grossExposure() {
      let sum = 0;
      for (const p of view.positions()) sum += Math.abs(p.quantity * p.markPrice);
      return sum;
    },
  };
}

/** Relative tolerance for "the order is completely filled". */
const FILLED_TOLERANCE = 1e-9;

/** The strategy-facing Broker in mode 'orders': orders out to the host, fills back in from it. */
class HostBrokerBridge implements EngineBroker {
  private readonly history: Order[] = [];
  private readonly byId = new Map<string, Order>();
  private readonly quantities = new Map<Order, number>();
  private readonly lastPrice = new Map<string, number>();
  private nextId = 1;

  constructor(
    private readonly host: HostBroker,
    private readonly portfolio: EnginePortfolio,
    private readonly events: EventBus,
    private readonly clock: EventClock,
    private readonly allowShort: boolean,
  ) {}

  onCandle(candle: Candle): void {
    this.lastPrice.set(candle.symbol, candle.close);
  }

  onTick(tick: Tick): void {
    this.lastPrice.set(tick.symbol, tick.last);
  }

  submit(request: OrderRequest): Promise<Order> {
    const problem = validateOrderRequest(request);
    if (problem !== undefined) return Promise.resolve(this.refuse(request, problem));
    const order = this.record(request, 'open');
    const price = this.lastPrice.get(request.symbol);
    if (price === undefined) {
      this.rejectOrder(order.id, `no price seen yet for ${request.symbol}`);
      return Promise.resolve(order);
    }
    // the host rounds and pays its own fees: size from the account alone
    const quantity = sizeOrder(request, this.portfolio, price, { feeRate: 0, allowShort: this.allowShort });
    if (typeof quantity === 'string') {
      this.rejectOrder(order.id, quantity);
      return Promise.resolve(order);
    }
    this.quantities.set(order, quantity);
    this.events.emit('order', order);
    try {
      const pending = this.host.submit({ order, quantity, referencePrice: price });
      if (pending !== undefined && typeof (pending as Promise<void>).then === 'function') {
        (pending as Promise<void>).then(undefined, (err: unknown) => this.hostFailed(order, err));
      }
    } catch (err) {
      this.hostFailed(order, err);
    }
    return Promise.resolve(order);
  }

  /** Record `request` as refused (the order gate's risk rules, a bad shape). */
  refuse(request: OrderRequest, reason: string): Order {
    return this.rejectOrder(this.record(request, 'open').id, reason);
  }

  async cancel(orderId: string): Promise<boolean> {
    const order = this.byId.get(orderId);
    if (order === undefined || !isOpen(order) || this.host.cancel === undefined) return false;
    const done = await this.host.cancel(order);
    if (done === true && isOpen(order)) this.cancelledOrder(order.id);
    return done === true;
  }

  openOrders(symbol?: string): readonly Order[] {
    return this.history.filter((o) => isOpen(o) && (symbol === undefined || o.symbol === symbol));
  }

  orders(): readonly Order[] {
    return this.history;
  }

  applyFill(report: HostFill): Fill {
    const order = this.byId.get(report?.orderId);
    if (order === undefined) throw new ConfigError(`no order '${report?.orderId}' to fill`, { field: 'orderId' });
    if (!isOpen(order)) {
      throw new ConfigError(`order ${order.id} is ${order.status}, it cannot fill`, {
        field: 'orderId',
        symbol: order.symbol,
      });
    }
    const { quantity, price } = report;
    const fee = report.fee ?? 0;
    if (!(Number.isFinite(quantity) && quantity > 0)) {
      throw new ConfigError(`fill quantity must be > 0, got ${quantity}`, { field: 'quantity', symbol: order.symbol });
    }
    if (!(Number.isFinite(price) && price > 0)) {
      throw new ConfigError(`fill price must be > 0, got ${price}`, { field: 'price', symbol: order.symbol });
    }
    if (!(Number.isFinite(fee) && fee >= 0)) {
      throw new ConfigError(`fill fee must be >= 0, got ${fee}`, { field: 'fee', symbol: order.symbol });
    }
    const fill = fillOf(order, quantity, price, fee, report.timestamp ?? this.clock.now());
    addFill(order, quantity, price);
    const wanted = this.quantities.get(order) ?? 0;
    const complete = report.final ?? order.filledQuantity >= wanted * (1 - FILLED_TOLERANCE);
    order.status = complete ? 'filled' : 'partially_filled';
    if (this.portfolio instanceof Portfolio) this.portfolio.applyFill(fill);
    this.events.emit('fill', fill);
    this.events.emit('order', order);
    return fill;
  }

  rejectOrder(orderId: string, reason: string): Order {
    const order = this.openOrder(orderId, 'reject');
    order.status = 'rejected';
    order.rejectReason = reason;
    this.events.emit('error', {
      error: new OrderRejectedError(reason, { symbol: order.symbol }),
      context: 'order',
      symbol: order.symbol,
      timestamp: this.clock.now(),
    });
    this.events.emit('order', order);
    return order;
  }

  cancelledOrder(orderId: string): Order {
    const order = this.openOrder(orderId, 'cancel');
    order.status = 'cancelled';
    this.events.emit('order', order);
    return order;
  }

  private openOrder(orderId: string, what: string): Order {
    const order = this.byId.get(orderId);
    if (order === undefined) throw new ConfigError(`no order '${orderId}' to ${what}`, { field: 'orderId' });
    if (!isOpen(order)) {
      throw new ConfigError(`order ${order.id} is already ${order.status}`, { field: 'orderId', symbol: order.symbol });
    }
    return order;
  }

  private hostFailed(order: Order, err: unknown): void {
    if (!isOpen(order)) return;
    this.rejectOrder(order.id, `host broker failed: ${err instanceof Error ? err.message : String(err)}`);
  }

  private record(request: OrderRequest, status: Order['status']): Order {
    const order = newOrder(request, `emb-${this.nextId++}`, this.clock.now(), status);
    this.history.push(order);
    this.byId.set(order.id, order);
    this.byId.set(order.clientOrderId, order);
    return order;
  }
}
