/**
 * Live order execution through ccxt, behind the same `Broker` interface the
 * simulated broker implements (plus the engine's broker hooks). Orders reach
 * it through the engine's order gate (client ids, risk rules); it executes.
 *
 * - Orders are queued and run one at a time (a strategy may fire several
 *   without awaiting; the second is sized after the first has settled).
 * - Sizes resolve at the last known price (candle close or tick) with the
 *   order path's `sizeOrder` (engine/orders.ts) and this venue's settings:
 *   the market's taker fee, a budget buffer, no shorts (spot), ccxt's
 *   `amountToPrecision` and the market's minimum amount and cost. Too small or
 *   not payable is rejected here (logged, an `error` event and a rejected
 *   `order` event) and never sent.
 * - Before an order is sent it is journaled as 'pending' (write-ahead), so a
 *   crash at any point leaves a record to look up.
 * - Never two orders for one intent. A send whose outcome is unknown (timeout,
 *   dropped connection, 5xx, garbled answer) is not repeated until the order
 *   has been looked up by client order id past the exchange's acceptance
 *   window since the send (`acceptanceWindowMs`: Binance refuses a request
 *   older than its `recvWindow`, so an order not there by then never will be)
 *   and no trade on the symbol since is left unexplained; a client id alone
 *   does not protect (Binance treats it as unique only among OPEN orders).
 *   When that cannot be established the order is marked uncertain: never
 *   re-sent, resolved by the next sync. A refusal (InsufficientFunds,
 *   InvalidOrder, BadRequest, AuthenticationError, ...) is not retried: the
 *   order becomes 'rejected' with the exchange's reason and an `error` event.
 *   A rate-limit answer (429/418) or a stale-timestamp refusal means the
 *   request was not processed: it is looked up once and re-sent after the wait.
 * - Fills are never assumed: an order's trades are read back from the
 *   exchange (fetchOrderTrades, else fetchMyTrades) and each trade is applied
 *   once (by trade id) to the portfolio and published as a `fill` event.
 *   Partial fills are applied as they come; open orders are re-synced before
 *   every live candle (`syncOpenOrders`).
 * - Live orders are identified by their client order id (`Order.id` ===
 *   `clientOrderId`); the exchange's id is `exchangeOrderId`.
 *
 * Fees: a fee in the base currency (Binance charges buys in base) is booked as
 * a smaller quantity received plus the fee's quote value, so the portfolio's
 * position equals the coins actually held and its cash the quote actually
 * spent. The expected exchange balances are kept alongside, from the same
 * trades, for reconciliation after a restart.
 */
import ccxt, { type Order as CcxtOrder, type Trade as CcxtTrade, type Exchange, type Market } from 'ccxt';
import { ExchangeError, OrderRejectedError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Clock } from '../core/strategy.js';
import type { Candle, Order, OrderRequest, OrderStatus, Tick } from '../core/types.js';
import type { EngineBroker } from '../engine/order-gate.js';
import {
  addFill,
  fillOf,
  isOpenStatus as isOpen,
  newOrder,
  type SizingRules,
  sizeOrder,
  validateOrderRequest,
} from '../engine/orders.js';
import type { Portfolio } from '../engine/portfolio.js';
import type { Redactor } from './credentials.js';
import {
  abortableSleep,
  classifyError,
  DEFAULT_RETRY,
  lastAnswerUnparsable,
  type RetryContext,
  type RetryPolicy,
  retryDelay,
  UnparsableAnswerError,
  withRetry,
} from './retry.js';

/** An order as the ccxt broker tracks (and journals) it. */
export interface LiveOrder extends Order {
  /** The exchange's order id, once known. */
  exchangeOrderId?: string;
  /** Amount sent (rounded to the market's precision), base currency. */
  amount: number;
  /** What the exchange last said was filled (may run ahead of the trades applied). */
  remoteFilled: number;
  /** Ids of the trades already applied to the portfolio. */
  appliedTradeIds: string[];
  /** Sent, but no answer yet (or the answer was lost): only ever looked up, never re-sent. */
  unknownOutcome?: boolean;
  /** The exchange said the order is done but not all of its trades were seen yet. */
  needsSync?: boolean;
  /** Exchange status as ccxt reports it ('open', 'closed', 'canceled', 'expired', 'rejected'). */
  remoteStatus?: string;
  /** Wall-clock time (ms) of the last send: the exchange may still accept it until the acceptance window has passed. */
  sentAt?: number;
}

export interface CcxtBrokerState {
  /** Orders not yet done, then the most recent done ones (for de-duplication after a restart). */
  readonly orders: readonly LiveOrder[];
  /** Expected exchange totals (free + used) per currency, as our own trades moved them. */
  readonly balances: Readonly<Record<string, number>>;
}

export interface CcxtBrokerOptions {
  readonly exchange: Exchange;
  readonly portfolio: Portfolio;
  readonly events: EventBus;
  readonly clock: Clock;
  readonly log: Logger;
  readonly redactor: Redactor;
  readonly retry?: RetryPolicy;
  /** Persists the journal; awaited before an order is sent and after each change. */
  readonly persist?: () => Promise<void>;
  /**
   * Part of the budget left unspent when sizing buys from cash or equity, for
   * fees and the price moving between the candle close and the fill (default 0.005 = 0.5 %).
   */
  readonly sizingBuffer?: number;
  /** Extra params for createOrder (exchange-specific). */
  readonly orderParams?: Record<string, unknown>;
  /** Done orders kept in the journal for de-duplication (default 200). */
  readonly keepDoneOrders?: number;
  /**
   * How long after a send the exchange may still execute it (ms): an order
   * whose answer was lost is looked up until then before it may be sent
   * again. Default: the exchange's `recvWindow` option (ccxt binance: 10 s),
   * else 10 s, plus 1 s for the clocks' difference.
   */
  readonly acceptanceWindowMs?: number;
  readonly signal?: AbortSignal;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly onRetry?: RetryContext['onRetry'];
  readonly state?: CcxtBrokerState;
}

const EPS = 1e-12;
/** Binance refuses a request whose timestamp is more than 1 s ahead of its clock: the margin for clock skew. */
const CLOCK_SKEW_MS = 1_000;

/** The request was refused before the exchange processed it (rate limiter, stale timestamp): it cannot have executed. */
function notProcessed(err: unknown): boolean {
  return (
    err instanceof ccxt.DDoSProtection || err instanceof ccxt.RateLimitExceeded || err instanceof ccxt.InvalidNonce
  );
}

/** The exchange's acceptance window for a signed request: its `recvWindow` option, else 10 s. */
export function defaultAcceptanceWindowMs(exchange: Exchange): number {
  const w = (exchange.options as Record<string, unknown> | undefined)?.recvWindow;
  return (typeof w === 'number' && Number.isFinite(w) && w > 0 ? w : 10_000) + CLOCK_SKEW_MS;
}

export class CcxtBroker implements EngineBroker {
  readonly exchange: Exchange;
  private portfolioRef: Portfolio;
  private readonly events: EventBus;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly redactor: Redactor;
  private readonly retryCtx: RetryContext;
  private readonly persistFn: (() => Promise<void>) | undefined;
  private readonly buffer: number;
  private readonly orderParams: Record<string, unknown>;
  private readonly keepDone: number;
  private readonly acceptanceWindowMs: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly orders: LiveOrder[] = [];
  private readonly byClientId = new Map<string, LiveOrder>();
  private readonly lastPrice = new Map<string, number>();
  private balances: Record<string, number> = {};
  private chain: Promise<unknown> = Promise.resolve();
  private direct = 0;
  /** Counters for the run summary. */
  readonly stats = { sent: 0, rejected: 0, lookups: 0, resent: 0, fills: 0 };

  constructor(options: CcxtBrokerOptions) {
    this.exchange = options.exchange;
    this.portfolioRef = options.portfolio;
    this.events = options.events;
    this.clock = options.clock;
    this.log = options.log;
    this.redactor = options.redactor;
    this.persistFn = options.persist;
    this.buffer = options.sizingBuffer ?? 0.005;
    this.orderParams = options.orderParams ?? {};
    this.keepDone = options.keepDoneOrders ?? 200;
    this.acceptanceWindowMs = options.acceptanceWindowMs ?? defaultAcceptanceWindowMs(options.exchange);
    this.sleep = options.sleep ?? abortableSleep;
    this.retryCtx = {
      exchange: options.exchange,
      policy: options.retry ?? DEFAULT_RETRY,
      log: options.log,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.sleep !== undefined ? { sleep: options.sleep } : {}),
      ...(options.onRetry !== undefined ? { onRetry: options.onRetry } : {}),
    };
    if (options.state !== undefined) {
      for (const saved of options.state.orders) {
        const order = structuredClone(saved) as LiveOrder;
        this.orders.push(order);
        this.byClientId.set(order.clientOrderId, order);
      }
      this.balances = { ...options.state.balances };
    }
  }

  get portfolio(): Portfolio {
    return this.portfolioRef;
  }

  /** Swap the portfolio (reconciliation adopting the exchange's balances builds a new one). */
  replacePortfolio(portfolio: Portfolio): void {
    this.portfolioRef = portfolio;
  }

  // ---- Broker ----

  submit(request: OrderRequest): Promise<Order> {
    return this.enqueue(() => this.place(request));
  }

  cancel(orderId: string): Promise<boolean> {
    return this.enqueue(() => this.cancelNow(orderId));
  }

  openOrders(symbol?: string): readonly Order[] {
    return this.orders.filter((o) => isOpen(o.status) && (symbol === undefined || o.symbol === symbol));
  }

  /** Every tracked order (open first-class, done ones as kept). */
  allOrders(): readonly LiveOrder[] {
    return this.orders;
  }

  order(clientOrderId: string): LiveOrder | undefined {
    return this.byClientId.get(clientOrderId);
  }

  // ---- Engine hooks ----

  onCandle(candle: Candle): void {
    this.lastPrice.set(candle.symbol, candle.close);
  }

  onTick(tick: Tick): void {
    if (tick.last > 0) this.lastPrice.set(tick.symbol, tick.last);
  }

  /** Close a position with a market order (queued like any order). */
  closePosition(
    symbol: string,
    _price: number,
    _timestamp: number,
    reason: string,
    clientOrderId?: string,
  ): Promise<Order> | undefined {
    const held = this.portfolioRef.quantity(symbol);
    if (held === 0) return undefined;
    return this.submit({
      symbol,
      side: held > 0 ? 'sell' : 'buy',
      type: 'market',
      size: { kind: 'all' },
      reduceOnly: true,
      tag: reason,
      ...(clientOrderId !== undefined ? { clientOrderId } : {}),
    });
  }

  /** Record `request` as refused before anything was sent (the order gate's risk rules, a bad shape). */
  refuse(request: OrderRequest, reason: string): Order {
    return this.rejectLocally(request, request.clientOrderId ?? this.fallbackId(), reason);
  }

  /** Cancel every open order (of one symbol or all); resolves with how many were cancelled. */
  cancelAll(symbol?: string): Promise<number> {
    return this.enqueue(async () => {
      let n = 0;
      for (const o of this.openOrders(symbol)) if (await this.cancelNow(o.clientOrderId)) n++;
      return n;
    });
  }

  /** Resolves when every queued order, cancel and sync has settled. */
  async idle(): Promise<void> {
    let seen: Promise<unknown>;
    do {
      seen = this.chain;
      await seen.catch(() => undefined);
    } while (seen !== this.chain);
  }

  /** Re-read every open (or uncertain) order from the exchange and apply new fills. */
  syncOpenOrders(): Promise<void> {
    return this.enqueue(async () => {
      for (const o of this.orders) {
        if (isOpen(o.status) || o.needsSync === true || o.unknownOutcome === true) await this.syncSafely(o);
      }
    });
  }

  // ---- Expected balances (reconciliation) ----

  get expectedBalances(): Readonly<Record<string, number>> {
    return this.balances;
  }

  setExpectedBalances(balances: Readonly<Record<string, number>>): void {
    this.balances = { ...balances };
  }

  toJSON(): CcxtBrokerState {
    const open = this.orders.filter((o) => isOpen(o.status) || o.needsSync === true || o.unknownOutcome === true);
    const done = this.orders.filter((o) => !open.includes(o)).slice(-this.keepDone);
    return { orders: [...open, ...done].map((o) => structuredClone(o)), balances: { ...this.balances } };
  }

  // ---- Reconciliation support ----

  /**
   * After a restart: re-read every order the journal left open, pending or
   * uncertain; apply trades that happened while the process was down. Returns
   * what changed, per order.
   */
  recoverOrders(): Promise<RecoveredOrders> {
    return this.enqueue(async () => {
      // an order sent just before the crash may still be accepted until its window has passed
      const pendingWindow = Math.max(
        0,
        ...this.orders.map((o) => (o.unknownOutcome === true ? this.windowLeft(o) : 0)),
      );
      if (pendingWindow > 0) {
        this.log.info('waiting for the acceptance window of an order sent just before the restart', {
          ms: pendingWindow,
        });
        await this.sleep(pendingWindow);
      }
      const filled: RecoveredFill[] = [];
      const vanished: VanishedOrder[] = [];
      for (const o of this.orders) {
        if (!(isOpen(o.status) || o.needsSync === true || o.unknownOutcome === true)) continue;
        const before = o.filledQuantity;
        const wasStatus = o.status;
        const found = await this.syncOrder(o, true);
        if (o.filledQuantity > before + EPS) {
          filled.push({
            clientOrderId: o.clientOrderId,
            symbol: o.symbol,
            side: o.side,
            quantity: o.filledQuantity - before,
            averagePrice: o.averageFillPrice,
            status: o.status,
          });
        }
        if (!found) {
          vanished.push({
            clientOrderId: o.clientOrderId,
            symbol: o.symbol,
            side: o.side,
            was: wasStatus,
            now: 'not found',
          });
        } else if (wasStatus !== 'pending' && isOpen(wasStatus) && o.status === 'cancelled') {
          vanished.push({
            clientOrderId: o.clientOrderId,
            symbol: o.symbol,
            side: o.side,
            was: wasStatus,
            now: o.remoteStatus ?? 'cancelled',
          });
        }
      }
      return { filled, vanished };
    });
  }

  /** Exchange open orders on `symbols` that this broker does not track. */
  async unknownOpenOrders(symbols: readonly string[]): Promise<CcxtOrder[]> {
    if (this.exchange.has.fetchOpenOrders !== true) return [];
    const out: CcxtOrder[] = [];
    for (const symbol of symbols) {
      const open = await this.retry(`fetchOpenOrders ${symbol}`, () => this.exchange.fetchOpenOrders(symbol));
      for (const o of open) {
        const tracked =
          (o.clientOrderId !== undefined && this.byClientId.has(o.clientOrderId)) ||
          this.orders.some((t) => t.exchangeOrderId !== undefined && t.exchangeOrderId === o.id);
        if (!tracked) out.push(o);
      }
    }
    return out;
  }

  /** Trades on `symbols` since `since` that belong to no tracked order (manual trades, another bot). */
  async foreignTrades(symbols: readonly string[], since: number): Promise<CcxtTrade[]> {
    if (this.exchange.has.fetchMyTrades !== true) return [];
    const ours = new Set(this.orders.map((o) => o.exchangeOrderId).filter((id) => id !== undefined));
    const out: CcxtTrade[] = [];
    for (const symbol of symbols) {
      const trades = await this.retry(`fetchMyTrades ${symbol}`, () =>
        this.exchange.fetchMyTrades(symbol, Math.max(0, Math.floor(since))),
      );
      for (const t of trades) if (t.order === undefined || !ours.has(t.order)) out.push(t);
    }
    return out;
  }

  /** fetchBalance totals (free + used) per currency, with the malformed-answer guard. */
  async fetchTotals(): Promise<Record<string, number>> {
    return (await this.fetchBalances()).total;
  }

  /** fetchBalance as totals (free + used) and free amounts per currency. */
  async fetchBalances(): Promise<{ total: Record<string, number>; free: Record<string, number> }> {
    const balance = await this.retry('fetchBalance', async () => {
      const b = await this.exchange.fetchBalance();
      if (lastAnswerUnparsable(this.exchange)) throw new UnparsableAnswerError('fetchBalance');
      return b;
    });
    const pick = (v: unknown): Record<string, number> => {
      const out: Record<string, number> = {};
      if (v === null || typeof v !== 'object') return out;
      for (const [currency, value] of Object.entries(v as Record<string, unknown>)) {
        if (typeof value === 'number' && Number.isFinite(value)) out[currency] = value;
      }
      return out;
    };
    const raw = balance as unknown as { total?: unknown; free?: unknown };
    return { total: pick(raw.total), free: pick(raw.free) };
  }

  // ---- Internals ----

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(what, fn, this.retryCtx);
  }

  private async persist(): Promise<void> {
    await this.persistFn?.();
  }

  private remember(order: LiveOrder): void {
    this.orders.push(order);
    this.byClientId.set(order.clientOrderId, order);
    // keep memory bounded on long runs: forget the oldest done orders beyond what the journal keeps
    if (this.orders.length > this.keepDone * 2) {
      const excess = this.orders.length - this.keepDone * 2;
      let removed = 0;
      for (let i = 0; i < this.orders.length && removed < excess; ) {
        const o = this.orders[i] as LiveOrder;
        if (!isOpen(o.status) && o.needsSync !== true && o.unknownOutcome !== true) {
          this.orders.splice(i, 1);
          this.byClientId.delete(o.clientOrderId);
          removed++;
        } else i++;
      }
    }
  }

  private market(symbol: string): Market | undefined {
    return this.exchange.markets?.[symbol];
  }

  private async referencePrice(symbol: string): Promise<number | undefined> {
    const known = this.lastPrice.get(symbol);
    if (known !== undefined) return known;
    const ticker = await this.retry(`fetchTicker ${symbol}`, () => this.exchange.fetchTicker(symbol)).catch(
      () => undefined,
    );
    const price = ticker?.last ?? ticker?.close ?? undefined;
    if (typeof price === 'number' && price > 0) {
      this.lastPrice.set(symbol, price);
      return price;
    }
    return undefined;
  }

  /** This venue's sizing: the market's taker fee, the budget buffer, spot (no shorts), ccxt's precision, minimums. */
  private sizingRules(symbol: string, market: NonNullable<Market>): SizingRules {
    const minAmount = market.limits?.amount?.min ?? undefined;
    const minCost = market.limits?.cost?.min ?? undefined;
    return {
      feeRate: market.taker ?? 0.001,
      allowShort: false,
      budgetBuffer: this.buffer,
      roundQuantity: (q) => {
        try {
          return Number(this.exchange.amountToPrecision(symbol, q));
        } catch {
          return 0; // below the precision: ccxt refuses to format it
        }
      },
      rounding: "the market's precision",
      roundCloses: true,
      ...(typeof minAmount === 'number' ? { minAmount } : {}),
      ...(typeof minCost === 'number' ? { minCost } : {}),
    };
  }

  private liveOrder(
    req: OrderRequest,
    clientOrderId: string,
    amount: number,
    limitPrice: number | undefined,
  ): LiveOrder {
    return {
      ...newOrder({ ...req, clientOrderId }, clientOrderId, this.clock.now(), 'pending', limitPrice),
      amount,
      remoteFilled: 0,
      appliedTradeIds: [],
    };
  }

  /** A client order id for an order submitted without one (the order gate always gives one). */
  private fallbackId(): string {
    return `qfdirect${Date.now().toString(36)}${(++this.direct).toString(36)}`;
  }

  /** Milliseconds until the exchange can no longer accept the order's last send (0 when passed or unknown). */
  private windowLeft(order: LiveOrder): number {
    return order.sentAt === undefined ? 0 : Math.max(0, order.sentAt + this.acceptanceWindowMs - Date.now());
  }

  private async place(req: OrderRequest): Promise<Order> {
    const clientOrderId = req.clientOrderId ?? this.fallbackId();
    const known = this.byClientId.get(clientOrderId);
    if (known !== undefined) {
      // The same decision again (a candle re-processed after a restart): never a second order.
      this.log.info('order already known by client order id: not placed again', {
        clientOrderId,
        status: known.status,
      });
      if (isOpen(known.status) || known.unknownOutcome === true) await this.syncSafely(known);
      return known;
    }
    let order: LiveOrder | undefined;
    try {
      const shapeProblem = validateOrderRequest(req);
      if (shapeProblem !== undefined) return this.rejectLocally(req, clientOrderId, shapeProblem);
      const market = this.market(req.symbol);
      if (market === undefined) return this.rejectLocally(req, clientOrderId, `unknown market ${req.symbol}`);
      const limitPrice =
        req.type === 'limit' ? Number(this.exchange.priceToPrecision(req.symbol, req.limitPrice)) : undefined;
      const price = limitPrice ?? (await this.referencePrice(req.symbol));
      if (price === undefined) return this.rejectLocally(req, clientOrderId, `no price known for ${req.symbol}`);
      const amount = sizeOrder(req, this.portfolioRef, price, this.sizingRules(req.symbol, market));
      if (typeof amount === 'string') return this.rejectLocally(req, clientOrderId, `${amount}: not sent`);

      order = this.liveOrder(req, clientOrderId, amount, limitPrice);
      order.unknownOutcome = true; // until the exchange answers
      order.sentAt = Date.now();
      this.remember(order);
      await this.persist(); // write-ahead: a crash from here on leaves the id to look up
      this.events.emit('order', order);
      const answer = await this.sendIdempotently(order, amount, limitPrice);
      if (answer === 'rejected' || answer === 'unknown') return order;
      order.unknownOutcome = false;
      this.applyRemote(order, answer);
      if (order.remoteFilled > order.filledQuantity + EPS || order.remoteStatus === 'closed') {
        await this.syncTrades(order);
      }
      this.events.emit('order', order);
      await this.persist();
      return order;
    } catch (err) {
      // Never reject the strategy's promise (it may not await it): report and return the order.
      const error = this.redactor.error(err);
      this.events.emit('error', {
        error: new ExchangeError(`order ${clientOrderId} failed: ${error.message}`, { symbol: req.symbol }),
        context: 'order',
        symbol: req.symbol,
        timestamp: this.clock.now(),
      });
      this.log.error('order failed', { clientOrderId, symbol: req.symbol, error: error.message });
      if (order === undefined) return this.rejectLocally(req, clientOrderId, error.message);
      await this.persist().catch(() => undefined);
      return order;
    }
  }

  /**
   * createOrder, never placing the order twice: after a failure whose outcome
   * is unknown the order is settled first (`settleUnknown`); it is sent again
   * only when the exchange cannot have accepted it.
   */
  private async sendIdempotently(
    order: LiveOrder,
    amount: number,
    price: number | undefined,
  ): Promise<CcxtOrder | 'rejected' | 'unknown'> {
    const { symbol, type, side, clientOrderId } = order;
    const policy = this.retryCtx.policy;
    for (let attempt = 0; ; attempt++) {
      try {
        this.stats.sent++;
        order.sentAt = Date.now();
        const res = await this.exchange.createOrder(symbol, type, side, amount, price, {
          ...this.orderParams,
          clientOrderId,
        });
        if (lastAnswerUnparsable(this.exchange) || res === undefined || res === null || !res.id) {
          throw new UnparsableAnswerError(`createOrder ${clientOrderId}`);
        }
        return res;
      } catch (err) {
        if (isDuplicateOrder(err)) {
          // The exchange already has this client order id (open): that is our order.
          const found = await this.lookupSafely(order);
          if (found !== undefined && found !== 'failed') return found;
        }
        if (classifyError(err, this.exchange) === 'permanent') {
          this.reject(order, this.reasonOf(err));
          await this.persist();
          return 'rejected';
        }
        const settled = await this.settleUnknown(order, err, attempt);
        if (settled !== 'absent') {
          if (settled === 'unknown') await this.persist();
          return settled;
        }
        if (attempt >= policy.maxRetries) {
          this.reject(order, `the exchange did not take it in ${attempt + 1} sends: ${this.reasonOf(err)}`);
          await this.persist();
          return 'rejected';
        }
        this.stats.resent++;
        this.log.warn('order not on the exchange and it can no longer accept the earlier send: sending it again', {
          clientOrderId,
          symbol,
          attempt: attempt + 1,
        });
      }
    }
  }

  /**
   * After a send that got no usable answer: the exchange's order if it has
   * it; 'absent' when it cannot have accepted it (refused unprocessed, or not
   * there once the acceptance window since the send has passed, with no trade
   * on the symbol left unexplained); 'unknown' (reported, the order left
   * uncertain for the next sync) when that cannot be established.
   */
  private async settleUnknown(
    order: LiveOrder,
    err: unknown,
    attempt: number,
  ): Promise<CcxtOrder | 'absent' | 'unknown'> {
    const { clientOrderId, symbol } = order;
    const signal = this.retryCtx.signal;
    const refused = notProcessed(err);
    const deadline = refused ? Number.NEGATIVE_INFINITY : (order.sentAt ?? Date.now()) + this.acceptanceWindowMs;
    let delayMs = retryDelay(err, attempt, this.retryCtx);
    this.retryCtx.onRetry?.({ what: `createOrder ${clientOrderId}`, attempt: attempt + 1, delayMs, error: err });
    this.log.warn(
      refused
        ? 'order refused unprocessed: looking it up, then sending it again'
        : 'order send failed, outcome unknown: looking it up by client order id before anything is sent again',
      {
        clientOrderId,
        symbol,
        error: this.reasonOf(err).slice(0, 240),
        attempt: attempt + 1,
        delayMs,
        ...(refused ? {} : { lookupUntil: new Date(deadline).toISOString() }),
      },
    );
    for (let lookup = 1; ; lookup++) {
      await this.sleep(delayMs, signal);
      if (signal?.aborted) {
        this.uncertain(order, err, 'stopping');
        return 'unknown';
      }
      const askedAt = Date.now();
      const found = await this.lookupSafely(order); // retried inside: a failure here is final
      if (found === 'failed') {
        this.uncertain(order, err, 'the lookup failed too');
        return 'unknown';
      }
      if (found !== undefined) {
        this.log.info('order found on the exchange after a failed send: not re-sent', {
          clientOrderId,
          exchangeOrderId: found.id,
          status: found.status,
          lookups: lookup,
        });
        return found;
      }
      if (askedAt >= deadline) break;
      // the next lookup: backoff, but not later than just past the deadline
      delayMs = retryDelay(err, Math.min(attempt + lookup, 8), this.retryCtx);
      if (askedAt < deadline) delayMs = Math.min(delayMs, Math.max(1, deadline - Date.now()));
    }
    if (!refused) {
      const unexplained = await this.unexplainedTrades(order);
      if (unexplained !== 0) {
        this.uncertain(
          order,
          err,
          unexplained === 'failed'
            ? 'its trades could not be checked'
            : `${unexplained} trade(s) on ${symbol} since the send belong to no known order`,
        );
        return 'unknown';
      }
    }
    return 'absent';
  }

  /** Trades on the order's symbol since it was decided that belong to no tracked order; 'failed' when unknown. */
  private async unexplainedTrades(order: LiveOrder): Promise<number | 'failed'> {
    if (this.exchange.has.fetchMyTrades !== true) return 0;
    try {
      const since = Math.max(0, Math.floor(order.createdAt - 60_000));
      const trades = await this.retry(`fetchMyTrades ${order.symbol}`, () =>
        this.checked('fetchMyTrades', this.exchange.fetchMyTrades(order.symbol, since)),
      );
      const ours = new Set(this.orders.map((o) => o.exchangeOrderId).filter((id) => id !== undefined));
      return trades.filter((t) => t.order === undefined || !ours.has(t.order)).length;
    } catch (err) {
      this.log.warn('trade check after a lost order answer failed', { error: this.reasonOf(err).slice(0, 240) });
      return 'failed';
    }
  }

  /** The exchange's order with this client id, undefined when it has none, 'failed' when we cannot tell. */
  private async lookupSafely(order: LiveOrder): Promise<CcxtOrder | undefined | 'failed'> {
    try {
      return await this.lookup(order);
    } catch (err) {
      this.log.warn('order lookup failed', {
        clientOrderId: order.clientOrderId,
        error: this.redactor.text(err instanceof Error ? err.message : String(err)).slice(0, 240),
      });
      return 'failed';
    }
  }

  private async lookup(order: LiveOrder): Promise<CcxtOrder | undefined> {
    this.stats.lookups++;
    const ex = this.exchange;
    const { symbol, clientOrderId } = order;
    if (order.exchangeOrderId !== undefined) {
      try {
        return await this.retry(`fetchOrder ${order.exchangeOrderId}`, () =>
          this.checked('fetchOrder', ex.fetchOrder(order.exchangeOrderId as string, symbol)),
        );
      } catch (err) {
        if (err instanceof ccxt.OrderNotFound) return undefined;
        throw err;
      }
    }
    if (ex.has.fetchOrder === true) {
      try {
        return await this.retry(`fetchOrder by client id ${clientOrderId}`, () =>
          this.checked('fetchOrder', ex.fetchOrder('', symbol, { clientOrderId })),
        );
      } catch (err) {
        if (err instanceof ccxt.OrderNotFound) return undefined;
        if (
          !(err instanceof ccxt.NotSupported || err instanceof ccxt.ArgumentsRequired || err instanceof ccxt.BadRequest)
        ) {
          throw err;
        }
      }
    }
    // Exchanges that cannot fetch by client id: scan open, then recent closed orders.
    const since = Math.max(0, order.createdAt - 3_600_000);
    if (ex.has.fetchOpenOrders === true) {
      const open = await this.retry(`fetchOpenOrders ${symbol}`, () => ex.fetchOpenOrders(symbol));
      const hit = open.find((o) => o.clientOrderId === clientOrderId);
      if (hit !== undefined) return hit;
    }
    if (ex.has.fetchClosedOrders === true || ex.has.fetchClosedOrders === 'emulated') {
      const closed = await this.retry(`fetchClosedOrders ${symbol}`, () => ex.fetchClosedOrders(symbol, since));
      const hit = closed.find((o) => o.clientOrderId === clientOrderId);
      if (hit !== undefined) return hit;
    } else if (ex.has.fetchOrders === true) {
      const all = await this.retry(`fetchOrders ${symbol}`, () => ex.fetchOrders(symbol, since));
      const hit = all.find((o) => o.clientOrderId === clientOrderId);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }

  /** Rejects a garbled answer that ccxt parsed into nothing. */
  private async checked<T>(what: string, p: Promise<T>): Promise<T> {
    const v = await p;
    if (lastAnswerUnparsable(this.exchange)) throw new UnparsableAnswerError(what);
    return v;
  }

  /** Bring one order up to date; false when the exchange does not know it. Never throws. */
  private async syncSafely(order: LiveOrder): Promise<boolean> {
    try {
      return await this.syncOrder(order, false);
    } catch (err) {
      const error = this.redactor.error(err);
      this.log.warn('order sync failed; will retry before the next candle', {
        clientOrderId: order.clientOrderId,
        error: error.message.slice(0, 240),
      });
      this.events.emit('error', {
        error: new ExchangeError(`could not sync order ${order.clientOrderId}: ${error.message}`, {
          symbol: order.symbol,
        }),
        context: 'order.sync',
        symbol: order.symbol,
        timestamp: this.clock.now(),
      });
      return true;
    }
  }

  private async syncOrder(order: LiveOrder, recovering: boolean): Promise<boolean> {
    const remote = await this.lookup(order);
    if (remote === undefined) {
      if ((order.unknownOutcome === true || order.status === 'pending') && this.windowLeft(order) > 0) {
        return true; // the exchange may still accept the send: ask again at the next sync
      }
      if (order.unknownOutcome === true || order.status === 'pending') {
        // Sent (or about to be) but the exchange never got it: it is not re-sent; the decision is stale.
        order.unknownOutcome = false;
        order.status = 'cancelled';
        order.rejectReason = recovering
          ? 'not found on the exchange after a restart (it never reached it)'
          : 'not found on the exchange (the send never reached it)';
        this.events.emit('order', order);
        await this.persist();
        return false;
      }
      if (isOpen(order.status)) {
        order.status = 'cancelled';
        order.rejectReason = 'the exchange no longer knows this order';
        this.events.emit('order', order);
        await this.persist();
      }
      return false;
    }
    const before = `${order.status}/${order.filledQuantity}/${order.remoteStatus}`;
    order.unknownOutcome = false;
    this.applyRemote(order, remote);
    if (order.remoteFilled > order.filledQuantity + EPS || order.needsSync === true) await this.syncTrades(order);
    if (`${order.status}/${order.filledQuantity}/${order.remoteStatus}` !== before) {
      this.events.emit('order', order);
      await this.persist();
    }
    return true;
  }

  /** Take the exchange's view of status and filled amount (trades are applied separately). */
  private applyRemote(order: LiveOrder, remote: CcxtOrder): void {
    if (remote.id) order.exchangeOrderId = String(remote.id);
    const filled = typeof remote.filled === 'number' && Number.isFinite(remote.filled) ? remote.filled : 0;
    order.remoteFilled = Math.max(order.remoteFilled, filled);
    order.remoteStatus = remote.status ?? order.remoteStatus;
    this.updateStatus(order);
  }

  private updateStatus(order: LiveOrder): void {
    const remote = order.remoteStatus;
    const caughtUp = order.filledQuantity + EPS >= order.remoteFilled * (1 - 1e-9);
    order.needsSync = !caughtUp;
    const working: OrderStatus = order.filledQuantity > 0 ? 'partially_filled' : 'open';
    if (!caughtUp || remote === 'open' || remote === undefined) {
      order.status = working;
    } else if (remote === 'closed') {
      order.status = 'filled';
    } else if (remote === 'canceled' || remote === 'cancelled' || remote === 'expired' || remote === 'rejected') {
      order.status = remote === 'rejected' && order.filledQuantity === 0 ? 'rejected' : 'cancelled';
      order.rejectReason =
        order.filledQuantity > 0
          ? `${remote} after filling ${order.filledQuantity} of ${order.amount}`
          : (order.rejectReason ?? `${remote} by the exchange`);
    }
  }

  /** Read the order's trades back from the exchange and apply the new ones. */
  private async syncTrades(order: LiveOrder): Promise<void> {
    const id = order.exchangeOrderId;
    if (id === undefined) return;
    const ex = this.exchange;
    let trades: CcxtTrade[];
    if (ex.has.fetchOrderTrades === true) {
      trades = await this.retry(`fetchOrderTrades ${id}`, () =>
        this.checked('fetchOrderTrades', ex.fetchOrderTrades(id, order.symbol)),
      );
    } else {
      const since = Math.max(0, order.createdAt - 3_600_000);
      const all = await this.retry(`fetchMyTrades ${order.symbol}`, () =>
        this.checked('fetchMyTrades', ex.fetchMyTrades(order.symbol, since)),
      );
      trades = all.filter((t) => t.order === id);
    }
    trades.sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0));
    for (const t of trades) this.applyTrade(order, t);
    this.updateStatus(order);
    if (order.side === 'sell' && !isOpen(order.status)) this.writeOffDust(order);
    if (order.needsSync === true) {
      this.log.warn('the exchange reports more filled than its trades show yet; will re-read them', {
        clientOrderId: order.clientOrderId,
        filled: order.remoteFilled,
        applied: order.filledQuantity,
      });
    }
  }

  private applyTrade(order: LiveOrder, t: CcxtTrade): void {
    const tradeId = t.id === undefined || t.id === null ? `${t.timestamp}:${t.amount}:${t.price}` : String(t.id);
    if (order.appliedTradeIds.includes(tradeId)) return;
    const amount = t.amount ?? 0;
    const price = t.price ?? 0;
    if (!(amount > 0 && price > 0)) return;
    const market = this.market(order.symbol);
    const base = market?.base;
    const quote = market?.quote;
    const fee = t.fee ?? (t as unknown as { fees?: CcxtTrade['fee'][] }).fees?.[0];
    const feeCost = typeof fee?.cost === 'number' && Number.isFinite(fee.cost) ? fee.cost : 0;
    const feeCurrency = fee?.currency ?? quote;
    const buy = order.side === 'buy';
    let quantity = amount;
    let feeQuote = 0;
    if (feeCost > 0 && feeCurrency === base) {
      // paid in the coin: a buy receives less, a sell gives up more
      quantity = buy ? amount - feeCost : amount + feeCost;
      feeQuote = feeCost * price;
    } else if (feeCost > 0 && feeCurrency === quote) {
      feeQuote = feeCost;
    } else if (feeCost > 0) {
      this.log.warn('fee paid in a third currency is not in the portfolio (see the balance check)', {
        clientOrderId: order.clientOrderId,
        fee: feeCost,
        currency: feeCurrency,
      });
    }
    const fill = fillOf(order, quantity, price, feeQuote, t.timestamp ?? this.clock.now());
    order.appliedTradeIds.push(tradeId);
    addFill(order, amount, price);
    if (quantity > 0) this.portfolioRef.applyFill(fill);
    this.stats.fills++;
    // expected exchange balances
    if (base !== undefined && quote !== undefined) {
      const cost = typeof t.cost === 'number' && Number.isFinite(t.cost) ? t.cost : amount * price;
      const add = (c: string, v: number) => {
        this.balances[c] = (this.balances[c] ?? 0) + v;
      };
      add(base, buy ? amount : -amount);
      add(quote, buy ? -cost : cost);
      if (feeCost > 0 && feeCurrency !== undefined) add(feeCurrency, -feeCost);
    }
    this.events.emit('fill', fill);
  }

  /**
   * A fee paid in the coin leaves a remainder below the market's amount step
   * after selling the whole position: it cannot be traded, so it is written
   * off the bot's position at the last fill price (it stays in the exchange
   * balance, which the expected balances still count). Without this a strategy
   * would see a "long" position it can never close.
   */
  private writeOffDust(order: LiveOrder): void {
    const held = this.portfolioRef.quantity(order.symbol);
    if (!(held > 0)) return;
    let tradable: number;
    try {
      tradable = Number(this.exchange.amountToPrecision(order.symbol, held));
    } catch {
      tradable = 0;
    }
    if (tradable > 0) return;
    const price = order.averageFillPrice > 0 ? order.averageFillPrice : (this.lastPrice.get(order.symbol) ?? 0);
    if (!(price > 0)) return;
    this.portfolioRef.applyFill({ ...fillOf(order, held, price, 0, this.clock.now()), tag: 'dust write-off' });
    this.log.info('untradable remainder written off the position (it stays on the exchange)', {
      symbol: order.symbol,
      quantity: held,
    });
  }

  private async cancelNow(orderId: string): Promise<boolean> {
    const order = this.byClientId.get(orderId) ?? this.orders.find((o) => o.exchangeOrderId === orderId);
    if (order === undefined || !isOpen(order.status)) return false;
    if (order.exchangeOrderId === undefined) {
      await this.syncSafely(order);
      if (order.exchangeOrderId === undefined || !isOpen(order.status)) return false;
    }
    try {
      const res = await this.retry(`cancelOrder ${order.exchangeOrderId}`, () =>
        this.exchange.cancelOrder(order.exchangeOrderId as string, order.symbol),
      );
      if (res?.status !== undefined) order.remoteStatus = res.status;
    } catch (err) {
      if (!(err instanceof ccxt.OrderNotFound)) {
        const error = this.redactor.error(err);
        this.events.emit('error', {
          error: new ExchangeError(`cancel of ${order.clientOrderId} failed: ${error.message}`, {
            symbol: order.symbol,
          }),
          context: 'order.cancel',
          symbol: order.symbol,
          timestamp: this.clock.now(),
        });
        return false;
      }
      // gone already: it filled or was cancelled; the sync below tells which
    }
    await this.syncSafely(order);
    return (order.status as OrderStatus) === 'cancelled';
  }

  private reasonOf(err: unknown): string {
    const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return this.redactor.text(text).slice(0, 400);
  }

  private reject(order: LiveOrder, reason: string): void {
    this.stats.rejected++;
    order.unknownOutcome = false;
    order.status = 'rejected';
    order.rejectReason = reason;
    this.log.warn('order rejected', { clientOrderId: order.clientOrderId, symbol: order.symbol, reason });
    this.events.emit('order', order);
    this.events.emit('error', {
      error: new OrderRejectedError(reason, { symbol: order.symbol }),
      context: 'order',
      symbol: order.symbol,
      timestamp: this.clock.now(),
    });
  }

  private uncertain(order: LiveOrder, err: unknown, why: string): void {
    order.unknownOutcome = true;
    const reason = `${why}; the order's fate is unknown and it will NOT be re-sent, only looked up: ${this.reasonOf(err)}`;
    this.log.error('order outcome unknown', { clientOrderId: order.clientOrderId, reason });
    this.events.emit('error', {
      error: new ExchangeError(`order ${order.clientOrderId}: ${reason}`, { symbol: order.symbol }),
      context: 'order',
      symbol: order.symbol,
      timestamp: this.clock.now(),
    });
  }

  /** A request refused before anything was sent (shape, size, minimums, risk rules). */
  private rejectLocally(req: OrderRequest, clientOrderId: string, reason: string): LiveOrder {
    const order = this.liveOrder(req, clientOrderId, 0, req.limitPrice);
    this.remember(order);
    this.reject(order, reason);
    void this.persist().catch(() => undefined);
    return order;
  }
}

export interface RecoveredFill {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  readonly quantity: number;
  readonly averagePrice: number;
  readonly status: OrderStatus;
}

export interface VanishedOrder {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: 'buy' | 'sell';
  /** Status in the journal. */
  readonly was: OrderStatus;
  /** What the exchange says now ('not found', 'canceled', 'expired', ...). */
  readonly now: string;
}

export interface RecoveredOrders {
  readonly filled: readonly RecoveredFill[];
  readonly vanished: readonly VanishedOrder[];
}

function isDuplicateOrder(err: unknown): boolean {
  if (err instanceof ccxt.DuplicateOrderId) return true;
  return err instanceof ccxt.InvalidOrder && /duplicate/i.test(err.message);
}
