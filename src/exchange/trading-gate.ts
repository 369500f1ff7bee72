/**
 * What stands between the strategy and the real broker (simulated in paper
 * mode, ccxt in live mode) — the same object in both modes:
 *
 * - History: on warm-up and backfilled candles the strategy runs (its
 *   indicators and predictor state advance) but its orders are not sent; they
 *   come back 'cancelled' with the reason, without an error event.
 * - Client order ids: every order gets a deterministic id from strategy,
 *   symbol, candle close time and a per-candle sequence (client-order-id.ts).
 * - Kill switch: once tripped, orders that would open or add to a position are
 *   rejected (an `error` event and an `order` event); exits pass.
 * - Stopping: after stop() nothing new is sent.
 * - Candles the previous run already processed (<= the journal's last
 *   processed candle) are not shown to the broker again, so a restored paper
 *   order is not filled twice by the same candle.
 */
import { OrderRejectedError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { Clock } from '../core/strategy.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, Order, OrderRequest, PortfolioView, Tick } from '../core/types.js';
import type { EngineBroker } from '../engine/trading-engine.js';
import { clientOrderIdPrefix, makeClientOrderId } from './client-order-id.js';
import type { KillSwitch } from './kill-switch.js';

/** warmup: history before the run (or already processed); backfill: missed candles; live: tradable. */
export type CandlePhase = 'warmup' | 'backfill' | 'live';

export interface TradingGateOptions {
  readonly inner: EngineBroker;
  readonly portfolio: PortfolioView;
  readonly events: EventBus;
  readonly clock: Clock;
  readonly killSwitch: KillSwitch;
  readonly strategyName: string;
  /** Mixed into client order ids: two bots with one strategy on one account need different namespaces. */
  readonly namespace?: string;
  /** Open time of the last candle per symbol the previous run processed. */
  readonly lastProcessed?: Readonly<Record<string, number>>;
  readonly log: Logger;
  /** Waits for the inner broker's queued work (the ccxt broker's order chain). */
  readonly innerIdle?: () => Promise<void>;
}

interface SymbolIds {
  readonly prefix: string;
  closeTime: number;
  seq: number;
}

const isOpenStatus = (s: Order['status']) => s === 'pending' || s === 'open' || s === 'partially_filled';

export class TradingGate implements EngineBroker {
  phase: CandlePhase | 'stopped' = 'warmup';
  /** Orders the strategy decided on history candles (not sent). */
  suppressed = 0;
  /** Entries refused by the kill switch. */
  blockedByKillSwitch = 0;
  private readonly inner: EngineBroker;
  private readonly opts: TradingGateOptions;
  private readonly ids = new Map<string, SymbolIds>();
  private readonly lastProcessed: Record<string, number>;
  private readonly pending = new Set<Promise<unknown>>();
  private suppressedId = 0;

  constructor(options: TradingGateOptions) {
    this.inner = options.inner;
    this.opts = options;
    this.lastProcessed = { ...options.lastProcessed };
  }

  submit(request: OrderRequest): Promise<Order> {
    const clientOrderId = request.clientOrderId ?? this.nextClientOrderId(request.symbol);
    const req: OrderRequest = { ...request, clientOrderId };
    if (this.phase !== 'live') {
      return Promise.resolve(this.notSent(req, this.phase === 'stopped' ? 'stopping' : this.phase));
    }
    const tripped = this.opts.killSwitch.tripped;
    if (tripped !== undefined && this.isEntry(req)) {
      this.blockedByKillSwitch++;
      return Promise.resolve(this.refuse(req, `kill switch: ${tripped.reason}; new entries refused, exits allowed`));
    }
    return this.track(this.inner.submit(req));
  }

  cancel(orderId: string): Promise<boolean> {
    return this.track(this.inner.cancel(orderId));
  }

  openOrders(symbol?: string): readonly Order[] {
    return this.inner.openOrders(symbol);
  }

  onCandle(candle: Candle): void {
    const ids = this.idsOf(candle.symbol);
    ids.closeTime = candle.timestamp + timeframeToMs(candle.timeframe);
    ids.seq = 0;
    const seen = this.lastProcessed[candle.symbol];
    if (seen !== undefined && candle.timestamp <= seen) return;
    this.inner.onCandle?.(candle);
  }

  onTick(tick: Tick): void {
    this.inner.onTick?.(tick);
  }

  closePosition(symbol: string, price: number, timestamp: number, reason: string): unknown {
    if (this.phase === 'stopped' || this.inner.closePosition === undefined) return undefined;
    return this.inner.closePosition(symbol, price, timestamp, reason);
  }

  cancelAll(symbol?: string): unknown {
    return this.inner.cancelAll?.(symbol);
  }

  /** Resolves when every order and cancel handed to the inner broker has settled. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.opts.innerIdle?.();
  }

  /** Refuse everything from now on (graceful stop). */
  stop(): void {
    this.phase = 'stopped';
  }

  /** An order that opens or adds to a position (as opposed to reducing one). */
  isEntry(req: OrderRequest): boolean {
    if (req.reduceOnly === true) return false;
    const held = this.opts.portfolio.position(req.symbol)?.quantity ?? 0;
    if (req.side === 'sell' && held > 0) return false;
    if (req.side === 'buy' && held < 0) return false;
    return true;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const done = () => this.pending.delete(p);
    p.then(done, done);
    return p;
  }

  private idsOf(symbol: string): SymbolIds {
    let ids = this.ids.get(symbol);
    if (ids === undefined) {
      ids = {
        prefix: clientOrderIdPrefix(this.opts.namespace ?? '', this.opts.strategyName, symbol),
        closeTime: this.opts.clock.now(),
        seq: 0,
      };
      this.ids.set(symbol, ids);
    }
    return ids;
  }

  private nextClientOrderId(symbol: string): string {
    const ids = this.idsOf(symbol);
    return makeClientOrderId(ids.prefix, ids.closeTime, ids.seq++);
  }

  private base(req: OrderRequest, status: Order['status'], reason: string): Order {
    return {
      symbol: req.symbol,
      side: req.side,
      type: req.type,
      size: req.size,
      limitPrice: req.limitPrice,
      clientOrderId: req.clientOrderId as string,
      reduceOnly: req.reduceOnly,
      tag: req.tag,
      id: `not-sent-${++this.suppressedId}`,
      status,
      createdAt: this.opts.clock.now(),
      filledQuantity: 0,
      averageFillPrice: 0,
      rejectReason: reason,
    };
  }

  private notSent(req: OrderRequest, phase: string): Order {
    this.suppressed++;
    const reason =
      phase === 'stopping'
        ? 'not sent: trading is stopping'
        : `not sent: ${phase} candle (orders are placed only for the latest closed candle)`;
    this.opts.log.debug('order not sent', { symbol: req.symbol, side: req.side, phase, tag: req.tag });
    return this.base(req, 'cancelled', reason);
  }

  private refuse(req: OrderRequest, reason: string): Order {
    const order = this.base(req, 'rejected', reason);
    this.opts.log.warn('order refused', { symbol: req.symbol, side: req.side, reason });
    this.opts.events.emit('order', order);
    this.opts.events.emit('error', {
      error: new OrderRejectedError(reason, { symbol: req.symbol }),
      context: 'order',
      symbol: req.symbol,
      timestamp: this.opts.clock.now(),
    });
    return order;
  }

  /** Open orders of the inner broker, for the journal and reports. */
  openCount(): number {
    return this.inner.openOrders().filter((o) => isOpenStatus(o.status)).length;
  }
}
