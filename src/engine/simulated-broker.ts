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
 * Sizes resolve at the fill price (see `OrderSize`), are floored to the
 * market's amount step and to whole units when `fractional` is false. What the
 * account cannot cover is rejected: the order gets status 'rejected' and a
 * `rejectReason`, and an `error` event is published; nothing throws.
 */
import { OrderRejectedError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import { floorToStep, roundToStep } from '../core/precision.js';
import type { Broker, Clock } from '../core/strategy.js';
import type { Candle, Fill, MarketRules, Order, OrderRequest, OrderSize, Side } from '../core/types.js';
import type { Portfolio } from './portfolio.js';

/** Relative tolerance for budget arithmetic (all-in buys, 1x short limits). */
const TOLERANCE = 1e-9;

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

const isOpen = (o: Order) => o.status === 'open' || o.status === 'pending' || o.status === 'partially_filled';

export class SimulatedBroker implements Broker {
  private readonly portfolio: Portfolio;
  private readonly events: EventBus;
  private readonly clock: Clock;
  private readonly feeRate: number;
  private readonly buyFactor: number;
  private readonly sellFactor: number;
  private readonly allowShort: boolean;
  private readonly fractional: boolean;
  private readonly markets: Readonly<Record<string, MarketRules>> | undefined;
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

  /**
   * Synchronous `submit`: the accepted (status 'open') or rejected order. The
   * same `clientOrderId` twice returns the first order, not a new one.
   */
  submitOrder(request: OrderRequest): Order {
    if (request.clientOrderId !== undefined) {
      const existing = this.byClientId.get(request.clientOrderId);
      if (existing !== undefined) return existing;
    }
    const id = `${this.idPrefix}${this.nextId++}`;
    const problem = validateRequest(request);
    const rules = this.markets?.[request.symbol];
    let limitPrice = request.limitPrice;
    if (request.type === 'limit' && problem === undefined && rules?.priceStep !== undefined) {
      limitPrice = roundToStep(limitPrice as number, rules.priceStep);
    }
    const order = newOrder(request, id, limitPrice, this.clock.now());
    this.history.push(order);
    this.byId.set(id, order);
    this.byClientId.set(order.clientOrderId, order);
    if (problem !== undefined) {
      this.reject(order, problem, order.createdAt);
      return order;
    }
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
  closePosition(symbol: string, price: number, timestamp: number, reason: string): Order | undefined {
    const held = this.portfolio.quantity(symbol);
    if (held === 0) return undefined;
    const side: Side = held > 0 ? 'sell' : 'buy';
    const id = `${this.idPrefix}${this.nextId++}`;
    const order = newOrder(
      { symbol, side, type: 'market', size: { kind: 'all' }, reduceOnly: true, tag: reason },
      id,
      undefined,
      timestamp,
    );
    this.history.push(order);
    this.byId.set(id, order);
    this.byClientId.set(id, order);
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

  private dequeue(queue: Order[], order: Order): void {
    const i = queue.indexOf(order);
    if (i >= 0) {
      queue.splice(i, 1);
      this.openCount--;
    }
  }

  /** Resolve the size at `price`, check it against the account and rules, then fill (true) or reject (false). */
  private execute(order: Order, price: number, time: number, forced: boolean): boolean {
    const portfolio = this.portfolio;
    const symbol = order.symbol;
    const held = portfolio.quantity(symbol);
    const fr = this.feeRate;
    const buy = order.side === 'buy';
    const rules = this.markets?.[symbol];

    // 1. Size -> quantity.
    let quantity: number;
    /** Sized from cash or equity: a rounding overshoot of the budget is trimmed, not rejected. */
    let fromBudget = false;
    /** Closing the whole position exactly: no rounding, so no dust is left. */
    let exactClose = false;
    const size: OrderSize = order.size;
    if (size.kind === 'quantity') {
      quantity = size.quantity;
    } else if (size.kind === 'equity-fraction') {
      quantity = (size.fraction * portfolio.equity) / (price * (1 + fr));
      fromBudget = true;
    } else if (buy) {
      if (held < 0) {
        quantity = -held;
        exactClose = true;
      } else {
        quantity = portfolio.cash / (price * (1 + fr));
        fromBudget = true;
      }
    } else if (held > 0) {
      quantity = held;
      exactClose = true;
    } else if (this.allowShort) {
      quantity = portfolio.equity / (price * (1 + fr));
      fromBudget = true;
    } else {
      return this.reject(order, `no long ${symbol} position to sell (size 'all') and shorts are disabled`, time);
    }
    if (!exactClose) quantity = this.roundQuantity(quantity, rules);

    if (order.reduceOnly === true) {
      if (held === 0 || held > 0 === buy) {
        return this.reject(order, `reduce-only ${order.side} would open or increase a ${symbol} position`, time);
      }
      if (quantity > Math.abs(held)) quantity = Math.abs(held);
    }
    if (!(quantity > 0)) {
      return this.reject(
        order,
        `order quantity rounds to zero at price ${price} (amount step ${rules?.amountStep ?? 'none'}, ${this.fractional ? 'fractional' : 'whole units'})`,
        time,
      );
    }

    // 2. Shorts.
    const after = held + (buy ? quantity : -quantity);
    if (!this.allowShort && after < -Math.abs(held) * TOLERANCE && after < 0) {
      return this.reject(
        order,
        held > 0
          ? `sell of ${quantity} exceeds the long ${symbol} position of ${held} and shorts are disabled`
          : `no long ${symbol} position to sell and shorts are disabled`,
        time,
      );
    }

    // 3. Exchange minimums.
    if (!forced && rules !== undefined) {
      if (rules.minAmount !== undefined && quantity < rules.minAmount) {
        return this.reject(order, `quantity ${quantity} is below the minimum amount ${rules.minAmount}`, time);
      }
      if (rules.minCost !== undefined && quantity * price < rules.minCost) {
        return this.reject(order, `order value ${quantity * price} is below the minimum cost ${rules.minCost}`, time);
      }
    }

    // 4. Cash for buys.
    if (buy && !forced) {
      const cash = portfolio.cash;
      let cost = quantity * price * (1 + fr);
      if (cost > cash && fromBudget && cash > 0 && cost <= cash * (1 + TOLERANCE)) {
        quantity = this.roundQuantity(quantity * (cash / cost) * (1 - 1e-12), rules);
        cost = quantity * price * (1 + fr);
      }
      if (cost > cash) {
        return this.reject(
          order,
          `insufficient cash for ${symbol} buy: need ${cost} (incl. fee ${quantity * price * fr}), have ${cash}`,
          time,
        );
      }
    }

    // 5. No leverage on shorts: the short's value may not exceed equity after the fill.
    if (!forced && after < 0 && after < Math.min(held, 0)) {
      const pos = portfolio.position(symbol);
      const others = portfolio.equity - portfolio.cash - (pos === undefined ? 0 : pos.quantity * pos.markPrice);
      const equityAfter = portfolio.cash + held * price - quantity * price * fr + others;
      if (-after * price > equityAfter * (1 + TOLERANCE)) {
        return this.reject(
          order,
          `insufficient margin for ${symbol} short: ${-after * price} exceeds equity ${equityAfter} (no leverage)`,
          time,
        );
      }
    }

    // 6. Fill.
    const fill: Fill = {
      orderId: order.id,
      clientOrderId: order.clientOrderId,
      symbol,
      side: order.side,
      quantity,
      price,
      fee: quantity * price * fr,
      timestamp: time,
      ...(order.tag !== undefined ? { tag: order.tag } : {}),
    };
    portfolio.applyFill(fill);
    order.filledQuantity = quantity;
    order.averageFillPrice = price;
    order.status = 'filled';
    this.events.emit('fill', fill);
    this.events.emit('order', order);
    return true;
  }

  private roundQuantity(quantity: number, rules: MarketRules | undefined): number {
    let q = floorToStep(quantity, rules?.amountStep);
    if (!this.fractional) q = floorToStep(q, 1);
    return q;
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

/**
 * An order with one fixed shape (every optional field present, possibly
 * undefined): object spreads of the request would give each order a slow
 * dictionary shape. JSON output omits the undefined fields.
 */
function newOrder(r: OrderRequest, id: string, limitPrice: number | undefined, createdAt: number): Order {
  return {
    symbol: r.symbol,
    side: r.side,
    type: r.type,
    size: r.size,
    limitPrice,
    clientOrderId: r.clientOrderId ?? id,
    reduceOnly: r.reduceOnly,
    tag: r.tag,
    id,
    status: 'open',
    createdAt,
    filledQuantity: 0,
    averageFillPrice: 0,
    rejectReason: undefined,
  };
}

/** Why a request cannot be accepted at all, or undefined when its shape is valid. */
function validateRequest(r: OrderRequest): string | undefined {
  if (typeof r.symbol !== 'string' || r.symbol === '') return 'order has no symbol';
  if (r.side !== 'buy' && r.side !== 'sell') return `unknown order side '${String(r.side)}' (expected buy or sell)`;
  if (r.type !== 'market' && r.type !== 'limit') {
    return `unknown order type '${String(r.type)}' (expected market or limit)`;
  }
  const size = r.size as OrderSize | undefined;
  if (size === undefined || typeof size !== 'object') return 'order has no size';
  if (size.kind === 'quantity') {
    if (!(Number.isFinite(size.quantity) && size.quantity > 0)) {
      return `order quantity must be a positive number, got ${size.quantity}`;
    }
  } else if (size.kind === 'equity-fraction') {
    if (!(Number.isFinite(size.fraction) && size.fraction > 0 && size.fraction <= 1)) {
      return `equity fraction must be in (0, 1], got ${size.fraction}`;
    }
  } else if (size.kind !== 'all') {
    return `unknown order size kind '${String((size as { kind?: unknown }).kind)}'`;
  }
  if (r.type === 'limit' && !(Number.isFinite(r.limitPrice) && (r.limitPrice as number) > 0)) {
    return `limit order needs a positive limitPrice, got ${r.limitPrice}`;
  }
  return undefined;
}
