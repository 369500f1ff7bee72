/**
 * Simulated order execution for backtest and paper trading.
 *
 * Timing: an order is considered only by candles whose OPEN time is at or
 * after the order's `createdAt` (the clock's time at submission, i.e. the
 * close time of the candle being processed). A market order therefore fills
 * at the next candle's open of its symbol, never at the prices of the candle
 * that produced the signal.
 *
 * Prices: market orders fill at open * (1 + slippage) for buys and
 * open * (1 - slippage) for sells; limit orders fill without slippage at
 * min(open, limit) for buys once low <= limit, at max(open, limit) for sells
 * once high >= limit, and stay open until they fill or are cancelled.
 *
 * Sizes resolve at the fill price with the order path's `sizeOrder` (see
 * `OrderSize`), floored to the market's amount step and to whole units when
 * `fractional` is false. What the account cannot cover is rejected: the order
 * gets status 'rejected' and a `rejectReason`, and an `error` event is
 * published; nothing throws.
 */
import { OrderRejectedError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import { floorToStep, roundToStep } from '../core/precision.js';
import type { Clock } from '../core/strategy.js';
import type { Candle, MarketRules, Order, OrderRequest, Side } from '../core/types.js';
import type { EngineBroker } from './order-gate.js';
import { addFill, fillOf, isOpen, newOrder, type SizingRules, sizeOrder, validateOrderRequest } from './orders.js';
import type { Portfolio } from './portfolio.js';

export interface SimulatedBrokerOptions {
  readonly portfolio: Portfolio;
  readonly events: EventBus;
  /** The engine's clock: stamps `createdAt` and decides which candles may fill an order. */
  readonly clock: Clock;
  /** Fee as a fraction of notional per fill (0.001 = 0.1%), paid in quote currency. */
  readonly feeRate: number;
  /** Slippage in basis points against the trader on market orders. */
  readonly slippageBps: number;
  /** Allow sells beyond the long position (short selling, up to 1x equity). */
  readonly allowShort: boolean;
  /** Trade fractional units; when false quantities are floored to whole units. */
  readonly fractional: boolean;
  readonly markets?: Readonly<Record<string, MarketRules>>;
  /** Prefix of generated order ids (default 'sim-'). */
  readonly idPrefix?: string;
}

/** Open orders and the id counter; restore with `SimulatedBroker.fromJSON`. */
export interface SimulatedBrokerState {
  readonly nextId: number;
  readonly openOrders: readonly Order[];
}

export class SimulatedBroker implements EngineBroker {
  private readonly portfolio: Portfolio;
  private readonly events: EventBus;
  private readonly clock: Clock;
  private readonly feeRate: number;
  private readonly buyFactor: number;
  private readonly sellFactor: number;
  private readonly allowShort: boolean;
  private readonly fractional: boolean;
  private readonly markets: Readonly<Record<string, MarketRules>> | undefined;
  /** Sizing rules per symbol (the market's precision and minimums), built once. */
  private readonly sizing = new Map<string, SizingRules>();
  private readonly idPrefix: string;
  private nextId = 1;
  /** Every order accepted or rejected, in submission order. */
  private readonly history: Order[] = [];
  private readonly byId = new Map<string, Order>();
  private readonly byClientId = new Map<string, Order>();
  /** Open orders per symbol, in submission order. */
  private readonly open = new Map<string, Order[]>();
  private openCount = 0;

  constructor(options: SimulatedBrokerOptions) {
    this.portfolio = options.portfolio;
    this.events = options.events;
    this.clock = options.clock;
    this.feeRate = options.feeRate;
    const slip = options.slippageBps / 10_000;
    this.buyFactor = 1 + slip;
    this.sellFactor = 1 - slip;
    this.allowShort = options.allowShort;
    this.fractional = options.fractional;
    this.markets = options.markets;
    this.idPrefix = options.idPrefix ?? 'sim-';
  }

  // ---- Broker (what a strategy sees) ----

  submit(request: OrderRequest): Promise<Order> {
    return Promise.resolve(this.submitOrder(request));
  }

  submitNow(request: OrderRequest): Order {
    return this.submitOrder(request);
  }

  /**
   * Synchronous `submit`: the accepted (status 'open') or rejected order. The
   * same `clientOrderId` twice returns the first order, not a new one.
   */
  submitOrder(request: OrderRequest): Order {
    if (request.clientOrderId !== undefined) {
      const existing = this.byClientId.get(request.clientOrderId);
      if (existing !== undefined) return existing;
    }
    const problem = validateOrderRequest(request);
    if (problem !== undefined) return this.refuse(request, problem);
    const priceStep = this.markets?.[request.symbol]?.priceStep;
    const limitPrice =
      request.type === 'limit' && priceStep !== undefined
        ? roundToStep(request.limitPrice as number, priceStep)
        : request.limitPrice;
    const order = this.record(newOrder(request, this.nextOrderId(), this.clock.now(), 'open', limitPrice));
    let queue = this.open.get(order.symbol);
    if (queue === undefined) {
      queue = [];
      this.open.set(order.symbol, queue);
    }
    queue.push(order);
    this.openCount++;
    this.events.emit('order', order);
    return order;
  }

  /** Record `request` as refused: a rejected order with `reason`, an `order` and an `error` event. */
  refuse(request: OrderRequest, reason: string): Order {
    const order = this.record(newOrder(request, this.nextOrderId(), this.clock.now(), 'rejected'));
    this.reject(order, reason, order.createdAt);
    return order;
  }

  cancel(orderId: string): Promise<boolean> {
    return Promise.resolve(this.cancelOrder(orderId));
  }

  /** Cancel an open order by id or client order id; false when it is not open. */
  cancelOrder(orderId: string): boolean {
    const order = this.byId.get(orderId) ?? this.byClientId.get(orderId);
    if (order === undefined || !isOpen(order)) return false;
    const queue = this.open.get(order.symbol);
    const i = queue === undefined ? -1 : queue.indexOf(order);
    if (queue !== undefined && i >= 0) {
      queue.splice(i, 1);
      this.openCount--;
    }
    order.status = 'cancelled';
    this.events.emit('order', order);
    return true;
  }

  /** Cancel every open order (of one symbol, or all); returns how many. */
  cancelAll(symbol?: string): number {
    let n = 0;
    for (const o of this.openOrders(symbol)) if (this.cancelOrder(o.id)) n++;
    return n;
  }

  openOrders(symbol?: string): readonly Order[] {
    if (symbol !== undefined) return this.open.get(symbol)?.slice() ?? [];
    const out: Order[] = [];
    for (const queue of this.open.values()) out.push(...queue);
    return out;
  }

  /** Every order seen, accepted or rejected, in submission order. */
  orders(): readonly Order[] {
    return this.history;
  }

  order(idOrClientId: string): Order | undefined {
    return this.byId.get(idOrClientId) ?? this.byClientId.get(idOrClientId);
  }

  // ---- Engine hooks ----

  /**
   * A closed candle arrived: fill the symbol's open orders it allows, market
   * orders first (they fill at the open), then limit orders, each in
   * submission order. Called by the engine before the strategy sees the candle.
   */
  onCandle(candle: Candle): void {
    if (this.openCount === 0) return;
    const queue = this.open.get(candle.symbol);
    if (queue === undefined || queue.length === 0) return;
    const time = candle.timestamp;
    // Sizes resolve against equity at this candle's open.
    this.portfolio.mark(candle.symbol, candle.open);
    const snapshot = queue.slice();
    for (let pass = 0; pass < 2; pass++) {
      const wantType = pass === 0 ? 'market' : 'limit';
      for (const order of snapshot) {
        if (order.type !== wantType || order.createdAt > time || !isOpen(order)) continue;
        let price: number;
        if (order.type === 'market') {
          price = order.side === 'buy' ? candle.open * this.buyFactor : candle.open * this.sellFactor;
        } else {
          const limit = order.limitPrice as number;
          if (order.side === 'buy') {
            if (candle.low > limit) continue;
            price = Math.min(candle.open, limit);
          } else {
            if (candle.high < limit) continue;
            price = Math.max(candle.open, limit);
          }
        }
        this.dequeue(queue, order);
        this.execute(order, price, time, false);
      }
    }
  }

  /**
   * Close a position now at `price` with slippage and fees (end of a backtest,
   * an emergency exit). The closing order is recorded like any other, tagged
   * `reason`; exchange minimums are not applied.
   */
  closePosition(
    symbol: string,
    price: number,
    timestamp: number,
    reason: string,
    clientOrderId?: string,
  ): Order | undefined {
    const held = this.portfolio.quantity(symbol);
    if (held === 0) return undefined;
    const side: Side = held > 0 ? 'sell' : 'buy';
    const order = this.record(
      newOrder(
        { symbol, side, type: 'market', size: { kind: 'all' }, reduceOnly: true, tag: reason, clientOrderId },
        this.nextOrderId(),
        timestamp,
      ),
    );
    this.events.emit('order', order);
    this.execute(order, side === 'buy' ? price * this.buyFactor : price * this.sellFactor, timestamp, true);
    return order;
  }

  toJSON(): SimulatedBrokerState {
    return { nextId: this.nextId, openOrders: this.openOrders().map((o) => structuredClone(o)) };
  }

  /** A broker with the saved open orders, wired to a (restored) portfolio, bus and clock. */
  static fromJSON(state: SimulatedBrokerState, options: SimulatedBrokerOptions): SimulatedBroker {
    const broker = new SimulatedBroker(options);
    broker.nextId = state.nextId;
    for (const saved of state.openOrders) {
      const order: Order = structuredClone(saved);
      broker.history.push(order);
      broker.byId.set(order.id, order);
      broker.byClientId.set(order.clientOrderId, order);
      let queue = broker.open.get(order.symbol);
      if (queue === undefined) {
        queue = [];
        broker.open.set(order.symbol, queue);
      }
      queue.push(order);
      broker.openCount++;
    }
    return broker;
  }

  // ---- Internals ----

  private nextOrderId(): string {
    return `${this.idPrefix}${this.nextId++}`;
  }

  private record(order: Order): Order {
    this.history.push(order);
    this.byId.set(order.id, order);
    this.byClientId.set(order.clientOrderId, order);
    return order;
  }

  private dequeue(queue: Order[], order: Order): void {
    const i = queue.indexOf(order);
    if (i >= 0) {
      queue.splice(i, 1);
      this.openCount--;
    }
  }

  /** Size the order at `price` against the account and rules, then fill (true) or reject (false). */
  private execute(order: Order, price: number, time: number, forced: boolean): boolean {
    const quantity = sizeOrder(order, this.portfolio, price, this.sizingOf(order.symbol), forced);
    if (typeof quantity === 'string') return this.reject(order, quantity, time);
    const fill = fillOf(order, quantity, price, quantity * price * this.feeRate, time);
    this.portfolio.applyFill(fill);
    addFill(order, quantity, price);
    order.status = 'filled';
    this.events.emit('fill', fill);
    this.events.emit('order', order);
    return true;
  }

  private sizingOf(symbol: string): SizingRules {
    let rules = this.sizing.get(symbol);
    if (rules === undefined) {
      const market = this.markets?.[symbol];
      const step = market?.amountStep;
      const fractional = this.fractional;
      rules = {
        feeRate: this.feeRate,
        allowShort: this.allowShort,
        roundQuantity: (q) => {
          const stepped = floorToStep(q, step);
          return fractional ? stepped : floorToStep(stepped, 1);
        },
        rounding: `amount step ${step ?? 'none'}, ${fractional ? 'fractional' : 'whole units'}`,
        ...(market?.minAmount !== undefined ? { minAmount: market.minAmount } : {}),
        ...(market?.minCost !== undefined ? { minCost: market.minCost } : {}),
      };
      this.sizing.set(symbol, rules);
    }
    return rules;
  }

  private reject(order: Order, reason: string, time: number): false {
    order.status = 'rejected';
    order.rejectReason = reason;
    this.events.emit('order', order);
    this.events.emit('error', {
      error: new OrderRejectedError(reason, { symbol: order.symbol }),
      context: 'order',
      symbol: order.symbol,
      timestamp: time,
    });
    return false;
  }
}
