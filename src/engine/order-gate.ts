/**
 * The one path every order takes, in every mode (backtest, paper, live,
 * embedded), between the strategy and the broker that executes it. The
 * engine builds it around its broker; the strategy sees only the gate.
 *
 * 1. Client order id: deterministic from strategy, symbol, decision time and
 *    a sequence (see orders.ts), so a decision repeated after a restart is
 *    looked up instead of placed twice.
 * 2. Replayed candles (warm-up, backfill): the strategy runs, its orders are
 *    held back (they come back 'cancelled', not sent, without events) and its
 *    decisions remembered. When the source has caught up (`catchUp`, at the
 *    newest candle) the position the strategy wants — its latest signal's
 *    `target` — is compared with the position held, and the difference is
 *    acted on with the orders the strategy decided (or the run halts, by
 *    option). Orders of a symbol with such decisions pending are held back on
 *    the newest candle too, so the strategy's decision there, made as if the
 *    replayed ones had been carried out, is part of the same comparison.
 * 3. Risk rules: each rule's `admit` may refuse an order (the kill switch
 *    refuses entries once tripped); the broker records the refusal as a
 *    rejected order with the rule's reason and an `error` event. Rules also
 *    see every traded candle and tick (`afterCandle`, `afterTick`) and may
 *    submit exits through the gate: that is where per-position stops, drawdown
 *    and exposure limits slot in, for every mode at once.
 * 4. The broker executes.
 *
 * After stop() nothing new is sent. Warm-up candles are not shown to the
 * broker (they are history, or candles a previous run already processed), so
 * an order restored from a journal is not filled twice by one candle.
 */
import { QuantflowError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { changesPosition, sideOf } from '../core/signal.js';
import type { Broker, Clock } from '../core/strategy.js';
import type { Candle, Order, OrderRequest, PortfolioView, Signal, Tick } from '../core/types.js';
import { clientOrderIdPrefix, isOpen, makeClientOrderId, newOrder, withClientOrderId } from './orders.js';

/** warmup: history before trading (or candles a previous run processed); backfill: missed candles; live: tradable. */
export type CandlePhase = 'warmup' | 'backfill' | 'live';

/** What to do when decisions made on replayed candles leave the position unlike the strategy wants. */
export type ReplayedDecisionPolicy = 'act' | 'halt';

/** What the engine needs of order execution beyond the strategy-facing `Broker`. */
export interface EngineBroker extends Broker {
  /** `submit` without the promise, for brokers that decide at once (the simulated one): no microtask per order. */
  submitNow?(request: OrderRequest): Order;
  /** A closed candle arrived, before the strategy sees it: fill what it allows. */
  onCandle?(candle: Candle): void;
  onTick?(tick: Tick): void;
  /** Record `request` as refused (status 'rejected', `reason`) with an `order` and an `error` event. */
  refuse(request: OrderRequest, reason: string): Order;
  /** Close a position at once at `price` (plus the broker's costs), tagged `reason`. */
  closePosition?(symbol: string, price: number, timestamp: number, reason: string, clientOrderId?: string): unknown;
  cancelAll?(symbol?: string): unknown;
  /** Resolves when queued work (orders in flight) has settled. */
  idle?(): Promise<void>;
}

/** What a risk rule may read and do. */
export interface RiskContext {
  readonly portfolio: PortfolioView;
  readonly clock: Clock;
  readonly events: EventBus;
  readonly log: Logger;
  /** The gate itself: exits a rule submits take the same path as the strategy's orders. */
  readonly broker: Broker;
}

/** One rule of the risk stage; every part is optional. */
export interface RiskRule {
  readonly name: string;
  /** Why `request` may not be sent now, or undefined to admit it. Asked for every order in every mode. */
  admit?(request: OrderRequest, ctx: RiskContext): string | undefined;
  /** After each traded (not warm-up) candle and the orders it led to: update state, submit exits. */
  afterCandle?(candle: Candle, ctx: RiskContext): void;
  afterTick?(tick: Tick, ctx: RiskContext): void;
}

export interface OrderGateOptions {
  readonly inner: EngineBroker;
  readonly portfolio: PortfolioView;
  readonly events: EventBus;
  readonly clock: Clock;
  readonly log: Logger;
  readonly strategyName: string;
  /** Mixed into client order ids: two bots with one strategy on one account need different namespaces. */
  readonly namespace?: string;
  readonly rules?: readonly RiskRule[];
}

/** Decisions of replayed candles left the position unlike the strategy wants, and the policy is 'halt'. */
export class ReplayedDecisionsError extends QuantflowError {
  constructor(message: string) {
    super('REPLAYED_DECISIONS', message);
  }
}

interface SymbolBook {
  readonly prefix: string;
  idTime: number;
  /** `prefix` + `idTime` in base 36 + '-': ids of one decision time differ only by their sequence. */
  idBase: string;
  seq: number;
  /** The strategy's latest signal: the position it wants now. */
  wanted: Signal | undefined;
  /** The latest position-changing decision made on a replayed candle since the last catch-up, with its time. */
  decision: { readonly signal: Signal; readonly time: number } | undefined;
  /** The orders held back at the latest time any were (those of `decision` when it is that time). */
  held: { readonly time: number; readonly requests: OrderRequest[] } | undefined;
  /** Orders held back since the last catch-up. */
  heldCount: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class OrderGate implements EngineBroker {
  phase: CandlePhase | 'stopped' = 'live';
  /** Orders decided on replayed candles and held back. */
  heldBack = 0;
  /** Orders sent to act on replayed decisions. */
  caughtUp = 0;
  readonly inner: EngineBroker;
  readonly rules: readonly RiskRule[];
  private readonly opts: OrderGateOptions;
  private readonly ctx: RiskContext;
  private readonly books = new Map<string, SymbolBook>();
  private readonly refusals = new Map<string, number>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly innerSeesCandles: boolean;
  private heldId = 0;

  constructor(options: OrderGateOptions) {
    this.inner = options.inner;
    this.opts = options;
    this.rules = options.rules ?? [];
    this.innerSeesCandles = typeof options.inner.onCandle === 'function';
    this.ctx = {
      portfolio: options.portfolio,
      clock: options.clock,
      events: options.events,
      log: options.log,
      broker: this,
    };
    options.events.on('signal', (s) => this.onSignal(s));
  }

  /** Orders in flight (the session awaits them before the next event). */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  /** Orders refused by the rule `name` so far. */
  refusedBy(name: string): number {
    return this.refusals.get(name) ?? 0;
  }

  // ---- Broker ----

  submit(request: OrderRequest): Promise<Order> {
    const book = this.bookOf(request.symbol);
    const req = request.clientOrderId !== undefined ? request : withClientOrderId(request, this.nextId(book));
    if (this.phase === 'stopped') return Promise.resolve(this.notSent(req, 'not sent: trading is stopping'));
    if (this.phase !== 'live' || book.decision !== undefined) return Promise.resolve(this.holdBack(req, book));
    return this.send(req);
  }

  cancel(orderId: string): Promise<boolean> {
    return this.track(this.inner.cancel(orderId));
  }

  openOrders(symbol?: string): readonly Order[] {
    return this.inner.openOrders(symbol);
  }

  // ---- engine hooks ----

  onCandle(candle: Candle): void {
    if (this.innerSeesCandles && this.phase !== 'warmup') (this.inner.onCandle as (c: Candle) => void)(candle);
  }

  onTick(tick: Tick): void {
    this.inner.onTick?.(tick);
  }

  refuse(request: OrderRequest, reason: string): Order {
    return this.inner.refuse(request, reason);
  }

  closePosition(symbol: string, price: number, timestamp: number, reason: string): unknown {
    if (this.phase === 'stopped' || this.inner.closePosition === undefined) return undefined;
    return this.inner.closePosition(symbol, price, timestamp, reason, this.nextId(this.bookOf(symbol)));
  }

  cancelAll(symbol?: string): unknown {
    return this.inner.cancelAll?.(symbol);
  }

  /** Resolves when every order and cancel handed to the broker has settled. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.inner.idle?.();
  }

  /** Refuse everything from now on (graceful stop). */
  stop(): void {
    this.phase = 'stopped';
  }

  /** The risk rules after a traded candle. */
  afterCandle(candle: Candle): void {
    for (const rule of this.rules) rule.afterCandle?.(candle, this.ctx);
  }

  afterTick(tick: Tick): void {
    for (const rule of this.rules) rule.afterTick?.(tick, this.ctx);
  }

  /**
   * The source has delivered every closed candle: for each symbol with
   * decisions held back since the last catch-up, compare the position the
   * strategy wants with the one held and act on the difference (or, with
   * 'halt', throw a ReplayedDecisionsError naming them). Resolves when the
   * orders are handed to the broker.
   */
  async catchUp(policy: ReplayedDecisionPolicy = 'act'): Promise<void> {
    const log = this.opts.log;
    const problems: string[] = [];
    for (const [symbol, book] of this.books) {
      const { decision, held: heldBack, heldCount } = book;
      book.decision = undefined;
      book.held = undefined;
      book.heldCount = 0;
      const signal = book.wanted;
      if (decision === undefined || signal === undefined) {
        if (heldCount > 0) {
          log.info(
            'orders decided on replayed candles were not sent; no signal of the strategy says what it wants now',
            {
              symbol,
              orders: heldCount,
            },
          );
        }
        continue;
      }
      const requests = heldBack !== undefined && heldBack.time === decision.time ? heldBack.requests : [];
      const held = sideOf(this.opts.portfolio.position(symbol)?.quantity ?? 0);
      const target = signal.target;
      if (target === held) {
        log.info('replayed decisions leave the position as the strategy wants it', { symbol, position: side(held) });
        continue;
      }
      if (this.inner.openOrders(symbol).some(isOpen)) {
        log.warn('replayed decisions not acted on: the symbol has open orders, the strategy manages them', {
          symbol,
          wants: side(target),
          holds: side(held),
        });
        continue;
      }
      const what = `${symbol}: the strategy wants ${side(target)}, the account holds ${side(held)} (${decision.signal.transition} decided on the candle of ${iso(decision.signal.timestamp)}${decision.signal.reason !== undefined ? `: ${decision.signal.reason}` : ''})`;
      if (policy === 'halt') {
        problems.push(what);
        continue;
      }
      const orders = this.catchUpOrders(symbol, held, target, requests, decision.signal);
      log.info('acting on decisions made on replayed candles, at the newest candle', {
        symbol,
        wants: side(target),
        holds: side(held),
        decided: iso(decision.signal.timestamp),
        transition: decision.signal.transition,
        orders: orders.length,
      });
      for (const r of orders) {
        this.caughtUp++;
        void this.send(withClientOrderId(r, this.nextId(this.bookOf(symbol))));
      }
    }
    if (problems.length > 0) {
      throw new ReplayedDecisionsError(
        `decisions made on replayed candles (while the bot was down) were not acted on: ${problems.join('; ')}. ` +
          'Trade it by hand, or restart with --replayed-decisions act to place the orders at the newest candle',
      );
    }
    await this.idle();
  }

  // ---- internals ----

  /** The orders that take the position from `held` to `target`: the strategy's own when it decided them. */
  private catchUpOrders(
    symbol: string,
    held: number,
    target: number,
    requests: readonly OrderRequest[],
    signal: Signal,
  ): OrderRequest[] {
    const out: OrderRequest[] = [];
    if (held !== 0) {
      const own = requests.find((r) => r.reduceOnly === true && (r.side === 'sell') === held > 0);
      out.push(
        own !== undefined
          ? own
          : {
              symbol,
              side: held > 0 ? 'sell' : 'buy',
              type: 'market',
              size: { kind: 'all' },
              reduceOnly: true,
              tag: 'catch-up',
            },
      );
    }
    if (target !== 0) {
      const entries = requests.filter((r) => r.reduceOnly !== true && (r.side === 'buy') === target > 0);
      if (entries.length > 0) out.push(...entries);
      else if (signal.size !== undefined) {
        out.push({ symbol, side: target > 0 ? 'buy' : 'sell', type: 'market', size: signal.size, tag: 'catch-up' });
      } else {
        this.opts.log.warn('cannot open the position the strategy wants: no order of its and no size in its signal', {
          symbol,
        });
      }
    }
    return out;
  }

  private send(req: OrderRequest): Promise<Order> {
    for (const rule of this.rules) {
      const reason = rule.admit?.(req, this.ctx);
      if (reason !== undefined) {
        this.refusals.set(rule.name, this.refusedBy(rule.name) + 1);
        this.opts.log.warn('order refused', { symbol: req.symbol, side: req.side, rule: rule.name, reason });
        return Promise.resolve(this.inner.refuse(req, reason));
      }
    }
    const inner = this.inner;
    if (inner.submitNow !== undefined) return Promise.resolve(inner.submitNow(req));
    return this.track(inner.submit(req));
  }

  private holdBack(req: OrderRequest, book: SymbolBook): Order {
    const time = this.opts.clock.now();
    if (book.held === undefined || book.held.time !== time) book.held = { time, requests: [] };
    book.held.requests.push(req);
    book.heldCount++;
    const fields = {
      symbol: req.symbol,
      side: req.side,
      size: req.size,
      tag: req.tag,
      phase: this.phase,
      at: iso(time),
    };
    if (this.phase === 'backfill') this.opts.log.info('order decided on a missed candle: held back', fields);
    else this.opts.log.debug('order decided on a replayed candle: held back', fields);
    return this.notSent(
      req,
      `not sent: decided on a ${this.phase === 'live' ? 'replayed' : this.phase} candle; the newest candle acts on what the strategy then wants`,
    );
  }

  private notSent(req: OrderRequest, reason: string): Order {
    this.heldBack++;
    const order = newOrder(req, `not-sent-${++this.heldId}`, this.opts.clock.now(), 'cancelled');
    order.rejectReason = reason;
    return order;
  }

  private onSignal(signal: Signal): void {
    const book = this.bookOf(signal.symbol);
    book.wanted = signal;
    if (this.phase === 'stopped' || (this.phase === 'live' && book.decision === undefined)) return;
    if (!changesPosition(signal.transition)) return;
    book.decision = { signal, time: this.opts.clock.now() };
    const fields = {
      symbol: signal.symbol,
      candle: iso(signal.timestamp),
      transition: signal.transition,
      reason: signal.reason,
      phase: this.phase,
    };
    if (this.phase === 'warmup') this.opts.log.debug('decision on a history candle (not traded on it)', fields);
    else this.opts.log.info('decision on a missed candle (not traded on it)', fields);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    const pending = this.pending;
    pending.add(p);
    p.then(
      () => pending.delete(p),
      () => pending.delete(p),
    );
    return p;
  }

  private bookOf(symbol: string): SymbolBook {
    let book = this.books.get(symbol);
    if (book === undefined) {
      book = {
        prefix: clientOrderIdPrefix(this.opts.namespace ?? '', this.opts.strategyName, symbol),
        idTime: Number.NaN,
        idBase: '',
        seq: 0,
        wanted: undefined,
        decision: undefined,
        held: undefined,
        heldCount: 0,
      };
      this.books.set(symbol, book);
    }
    return book;
  }

  private nextId(book: SymbolBook): string {
    const now = this.opts.clock.now();
    if (now !== book.idTime) {
      book.idTime = now;
      book.idBase = makeClientOrderId(book.prefix, now, 0).slice(0, -1);
      book.seq = 0;
    }
    const seq = book.seq++;
    return seq === 0 ? `${book.idBase}0` : book.idBase + seq.toString(36);
  }
}

function side(s: number): string {
  return s > 0 ? 'long' : s < 0 ? 'short' : 'flat';
}
