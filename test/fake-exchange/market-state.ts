/**
 * The fake exchange's book-keeping: markets, candle series, the test-controlled
 * clock, prices, balances, orders, trades and the (very small) matching engine.
 * No I/O here: the REST and websocket layers call into it and format the answers.
 */
import { floorToStep, roundToStep, timeframeToMs } from '../../src/core/index.js';
import type {
  FakeBalance,
  FakeCandle,
  FakeExchangeOptions,
  FakeMarketSpec,
  FakeOrder,
  FakeOrderStatus,
  FakeTrade,
} from './types.js';

/** A refusal in Binance's terms: HTTP status, error code and message. */
export class BinanceApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    msg: string,
  ) {
    super(msg);
    this.name = 'BinanceApiError';
  }
}

export const INSUFFICIENT_BALANCE = 'Account has insufficient balance for requested action.';
export const DUPLICATE_ORDER = 'Duplicate order sent.';

export function mandatory(name: string): BinanceApiError {
  return new BinanceApiError(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
}

export interface Market {
  readonly symbol: string;
  readonly id: string;
  readonly base: string;
  readonly quote: string;
  readonly tickSize: number;
  readonly minPrice: number;
  readonly maxPrice: number;
  readonly stepSize: number;
  readonly minQty: number;
  readonly maxQty: number;
  readonly minNotional: number;
  readonly status: string;
}

/** Intervals Binance spot serves (klines and kline streams). */
export const BINANCE_INTERVALS = [
  '1s',
  '1m',
  '3m',
  '5m',
  '15m',
  '30m',
  '1h',
  '2h',
  '4h',
  '6h',
  '8h',
  '12h',
  '1d',
  '3d',
  '1w',
  '1M',
] as const;

interface Series {
  readonly market: Market;
  readonly interval: string;
  readonly tfMs: number;
  readonly candles: readonly FakeCandle[];
}

/** A kline as served: the candle (partial when forming) and whether it is closed. */
export interface KlineView {
  readonly candle: FakeCandle;
  readonly closeTime: number;
  readonly closed: boolean;
}

/** Called when something a websocket subscriber may want changed. */
export interface StateListener {
  klines(marketId: string, interval: string, updates: readonly KlineView[]): void;
  ticker(marketId: string): void;
}

export interface PlaceOrderResult {
  readonly order: FakeOrder;
  readonly fills: readonly FakeTrade[];
}

const DEFAULT_MARKETS: readonly FakeMarketSpec[] = [{ symbol: 'BTC/USDT' }, { symbol: 'ETH/USDT' }];
const EPS = 1e-12;

function decimals(step: number): number {
  const text = step.toString();
  const exp = text.indexOf('e-');
  if (exp >= 0) return Number(text.slice(exp + 2));
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** Round away binary noise to the step's number of decimals (+4 to keep fee fractions). */
function clean(value: number, step: number): number {
  return Number(value.toFixed(Math.min(16, decimals(step) + 4)));
}

function isMultiple(value: number, step: number): boolean {
  if (step <= 0) return true;
  const r = value / step;
  return Math.abs(r - Math.round(r)) < 1e-8;
}

function lowerBound(candles: readonly FakeCandle[], ts: number): number {
  let lo = 0;
  let hi = candles.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((candles[mid] as FakeCandle).timestamp < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The candle as it looks at `now` when `now` falls inside it: the price has moved linearly
 * from open toward close (on the price grid), the volume in proportion to the time passed.
 */
function partialCandle(s: Series, c: FakeCandle, now: number): FakeCandle {
  const f = Math.min(1, Math.max(0, (now - c.timestamp) / s.tfMs));
  const close = roundToStep(c.open + (c.close - c.open) * f, s.market.tickSize);
  return {
    timestamp: c.timestamp,
    open: c.open,
    high: Math.max(c.open, close),
    low: Math.min(c.open, close),
    close,
    volume: Number((c.volume * f).toFixed(8)),
  };
}

export class ExchangeState {
  readonly markets = new Map<string, Market>();
  private readonly bySymbol = new Map<string, Market>();
  private readonly series = new Map<string, Map<string, Series>>();
  private readonly prices = new Map<string, number>();
  readonly balances = new Map<string, FakeBalance>();
  readonly orders: FakeOrder[] = [];
  readonly trades: FakeTrade[] = [];
  private nextOrderId = 1001;
  private nextTradeId = 5001;
  private clock: number;
  readonly feeRate: number;
  readonly spread: number;
  private readonly duplicates: 'open' | 'any';
  listener: StateListener | undefined;

  constructor(options: FakeExchangeOptions = {}) {
    this.clock = options.now ?? Date.UTC(2024, 0, 1);
    this.feeRate = options.feeRate ?? 0.001;
    this.spread = options.spread ?? 0;
    this.duplicates = options.duplicateClientOrderIds ?? 'open';
    for (const spec of options.markets ?? DEFAULT_MARKETS) this.addMarket(spec);
    for (const [asset, free] of Object.entries(options.balances ?? {})) this.setBalance(asset, free);
  }

  addMarket(spec: FakeMarketSpec): Market {
    const [base, quote] = spec.symbol.split('/');
    if (!base || !quote)
      throw new Error(`fake exchange: market symbol must look like 'BTC/USDT', got '${spec.symbol}'`);
    const stepSize = spec.stepSize ?? 0.00001;
    const market: Market = {
      symbol: spec.symbol,
      id: `${base}${quote}`,
      base,
      quote,
      tickSize: spec.tickSize ?? 0.01,
      minPrice: spec.minPrice ?? spec.tickSize ?? 0.01,
      maxPrice: spec.maxPrice ?? 1_000_000,
      stepSize,
      minQty: spec.minQty ?? stepSize,
      maxQty: spec.maxQty ?? 9000,
      minNotional: spec.minNotional ?? 5,
      status: spec.status ?? 'TRADING',
    };
    this.markets.set(market.id, market);
    this.bySymbol.set(market.symbol, market);
    return market;
  }

  /** A market by exchange id ('BTCUSDT') or unified symbol ('BTC/USDT'); Binance's -1121 otherwise. */
  market(idOrSymbol: string | undefined): Market {
    if (idOrSymbol === undefined || idOrSymbol === '') throw mandatory('symbol');
    const m = this.markets.get(idOrSymbol) ?? this.bySymbol.get(idOrSymbol);
    if (m === undefined) throw new BinanceApiError(400, -1121, 'Invalid symbol.');
    return m;
  }

  now(): number {
    return this.clock;
  }

  // ---------------------------------------------------------------- candles, clock, prices

  setCandles(symbol: string, candles: readonly FakeCandle[], interval = '1m'): void {
    const market = this.market(symbol);
    if (!(BINANCE_INTERVALS as readonly string[]).includes(interval)) {
      throw new Error(`fake exchange: '${interval}' is not a Binance interval`);
    }
    const sorted = [...candles].sort((a, b) => a.timestamp - b.timestamp);
    let bySeries = this.series.get(market.id);
    if (bySeries === undefined) {
      bySeries = new Map();
      this.series.set(market.id, bySeries);
    }
    bySeries.set(interval, { market, interval, tfMs: timeframeToMs(interval), candles: sorted });
    this.refreshPrice(market.id);
  }

  /** Klines as GET /api/v3/klines selects them: open time in [start, end], at most `limit`, up to now. */
  klines(
    marketId: string,
    interval: string,
    startTime: number | undefined,
    endTime: number | undefined,
    limit: number,
  ): KlineView[] {
    const s = this.series.get(marketId)?.get(interval);
    if (s === undefined) return [];
    const visibleEnd = lowerBound(s.candles, this.clock + 1); // candles opened at or before now
    const last = endTime === undefined ? visibleEnd : Math.min(visibleEnd, lowerBound(s.candles, endTime + 1));
    let first: number;
    let stop: number;
    if (startTime !== undefined) {
      first = lowerBound(s.candles, startTime);
      stop = Math.min(last, first + limit);
    } else {
      stop = last;
      first = Math.max(0, last - limit);
    }
    const out: KlineView[] = [];
    for (let i = first; i < stop; i++) out.push(this.view(s, s.candles[i] as FakeCandle));
    return out;
  }

  private view(s: Series, c: FakeCandle): KlineView {
    const closeTime = c.timestamp + s.tfMs - 1;
    if (closeTime < this.clock) return { candle: c, closeTime, closed: true };
    return { candle: partialCandle(s, c, this.clock), closeTime, closed: false };
  }

  /** The kline at now (forming, or the last closed one when no candle covers now). */
  currentKline(marketId: string, interval: string): KlineView | undefined {
    const s = this.series.get(marketId)?.get(interval);
    if (s === undefined) return undefined;
    const i = lowerBound(s.candles, this.clock + 1) - 1;
    return i >= 0 ? this.view(s, s.candles[i] as FakeCandle) : undefined;
  }

  /** The finest series of a market: it drives the price. */
  private primarySeries(marketId: string): Series | undefined {
    let best: Series | undefined;
    for (const s of this.series.get(marketId)?.values() ?? []) if (best === undefined || s.tfMs < best.tfMs) best = s;
    return best;
  }

  private refreshPrice(marketId: string): void {
    const s = this.primarySeries(marketId);
    if (s === undefined) return;
    const i = lowerBound(s.candles, this.clock + 1) - 1;
    if (i < 0) return;
    this.prices.set(marketId, this.view(s, s.candles[i] as FakeCandle).candle.close);
  }

  price(symbolOrId: string): number | undefined {
    return this.prices.get(this.market(symbolOrId).id);
  }

  setPrice(symbol: string, price: number): void {
    const market = this.market(symbol);
    this.prices.set(market.id, price);
    this.matchResting(market, price, price);
    this.listener?.ticker(market.id);
  }

  bidAsk(market: Market): { bid: number; ask: number } {
    const p = this.prices.get(market.id) ?? 0;
    const half = this.spread / 2;
    return { bid: roundToStep(p - half, market.tickSize), ask: roundToStep(p + half, market.tickSize) };
  }

  /** 24 h rolling statistics from the finest series (or just the price when there are no candles). */
  stats24h(market: Market): {
    open: number;
    high: number;
    low: number;
    last: number;
    volume: number;
    quoteVolume: number;
  } {
    const last = this.prices.get(market.id) ?? 0;
    const s = this.primarySeries(market.id);
    let open = last;
    let high = last;
    let low = last;
    let volume = 0;
    let quoteVolume = 0;
    if (s !== undefined) {
      const from = lowerBound(s.candles, this.clock - 86_400_000 + 1);
      const to = lowerBound(s.candles, this.clock + 1);
      for (let i = from; i < to; i++) {
        const c = this.view(s, s.candles[i] as FakeCandle).candle;
        if (i === from) {
          open = c.open;
          high = c.high;
          low = c.low;
        }
        high = Math.max(high, c.high);
        low = Math.min(low, c.low);
        volume += c.volume;
        quoteVolume += c.volume * c.close;
      }
    }
    return { open, high, low, last, volume, quoteVolume };
  }

  /** Move the clock to `ms`: closes candles, moves prices, fills resting limit orders, notifies streams. */
  setNow(ms: number): void {
    const from = this.clock;
    this.clock = ms;
    for (const market of this.markets.values()) {
      const range = ms > from ? this.priceRange(market.id, from, ms) : undefined;
      this.refreshPrice(market.id);
      const price = this.prices.get(market.id);
      if (range !== undefined) this.matchResting(market, range.low, range.high);
      else if (price !== undefined) this.matchResting(market, price, price);
      for (const s of this.series.get(market.id)?.values() ?? []) {
        const updates: KlineView[] = [];
        if (ms > from) {
          // every candle that closed in (from, ms], then the one forming at ms
          const firstClosed = lowerBound(s.candles, from - s.tfMs + 1);
          for (let i = firstClosed; i < s.candles.length; i++) {
            const c = s.candles[i] as FakeCandle;
            if (c.timestamp + s.tfMs > ms) break;
            if (c.timestamp + s.tfMs - 1 >= from)
              updates.push({ candle: c, closeTime: c.timestamp + s.tfMs - 1, closed: true });
          }
        }
        const current = this.currentKline(market.id, s.interval);
        if (current !== undefined && !current.closed) updates.push(current);
        if (updates.length > 0) this.listener?.klines(market.id, s.interval, updates);
      }
      if (price !== undefined) this.listener?.ticker(market.id);
    }
  }

  /** Lowest and highest price traded in (from, to] according to the finest series. */
  private priceRange(marketId: string, from: number, to: number): { low: number; high: number } | undefined {
    const s = this.primarySeries(marketId);
    if (s === undefined) return undefined;
    let low = Number.POSITIVE_INFINITY;
    let high = Number.NEGATIVE_INFINITY;
    for (let i = lowerBound(s.candles, from - s.tfMs + 1); i < s.candles.length; i++) {
      const c = s.candles[i] as FakeCandle;
      if (c.timestamp > to) break;
      const seen = c.timestamp + s.tfMs - 1 < to ? c : partialCandle(s, c, to);
      low = Math.min(low, seen.low);
      high = Math.max(high, seen.high);
    }
    return Number.isFinite(low) ? { low, high } : undefined;
  }

  // ---------------------------------------------------------------- balances

  balance(asset: string): FakeBalance {
    let b = this.balances.get(asset);
    if (b === undefined) {
      b = { free: 0, locked: 0 };
      this.balances.set(asset, b);
    }
    return b;
  }

  setBalance(asset: string, free: number, locked?: number): void {
    const b = this.balance(asset);
    b.free = free;
    if (locked !== undefined) b.locked = locked;
  }

  // ---------------------------------------------------------------- orders

  findOrder(marketId: string, orderId: string | undefined, clientOrderId: string | undefined): FakeOrder | undefined {
    if (orderId !== undefined) {
      const id = Number(orderId);
      return this.orders.find((o) => o.marketId === marketId && o.orderId === id);
    }
    if (clientOrderId !== undefined) {
      // the latest order with that client id
      for (let i = this.orders.length - 1; i >= 0; i--) {
        const o = this.orders[i] as FakeOrder;
        if (o.marketId === marketId && o.clientOrderId === clientOrderId) return o;
      }
    }
    return undefined;
  }

  /** Look an order up by numeric id or client order id, across markets (for tests). */
  orderByRef(ref: number | string): FakeOrder | undefined {
    return this.orders.find((o) => o.orderId === ref || o.clientOrderId === ref || String(o.orderId) === ref);
  }

  openOrders(marketId?: string): FakeOrder[] {
    return this.orders.filter((o) => isOpen(o) && (marketId === undefined || o.marketId === marketId));
  }

  /**
   * POST /api/v3/order. `params` are Binance's request parameters (strings).
   * `fillFraction` < 1 makes the immediate fill partial (fault injection).
   */
  placeOrder(params: Readonly<Record<string, string>>, fillFraction = 1): PlaceOrderResult {
    const market = this.market(params.symbol);
    const side = params.side;
    if (side === undefined) throw mandatory('side');
    if (side !== 'BUY' && side !== 'SELL') throw new BinanceApiError(400, -1117, 'Invalid side.');
    const type = params.type;
    if (type === undefined) throw mandatory('type');
    if (type !== 'MARKET' && type !== 'LIMIT' && type !== 'LIMIT_MAKER') {
      throw new BinanceApiError(400, -1116, 'Invalid orderType.');
    }
    if (market.status !== 'TRADING') throw new BinanceApiError(400, -1013, 'Market is closed.');
    const current = this.prices.get(market.id);
    const isLimit = type !== 'MARKET';
    let price = 0;
    let qty: number;
    let quoteOrderQty = 0;
    let timeInForce: string | undefined;
    if (isLimit) {
      if (type === 'LIMIT') {
        timeInForce = params.timeInForce;
        if (timeInForce === undefined) throw mandatory('timeInForce');
        if (!['GTC', 'IOC', 'FOK'].includes(timeInForce)) throw new BinanceApiError(400, -1115, 'Invalid timeInForce.');
      } else timeInForce = 'GTC';
      if (params.price === undefined) throw mandatory('price');
      if (params.quantity === undefined) throw mandatory('quantity');
      price = Number(params.price);
      qty = Number(params.quantity);
      if (!(price > 0) || price < market.minPrice || price > market.maxPrice || !isMultiple(price, market.tickSize)) {
        throw new BinanceApiError(400, -1013, 'Filter failure: PRICE_FILTER');
      }
    } else {
      if (current === undefined) {
        throw new BinanceApiError(
          400,
          -2010,
          `Fake exchange has no price for ${market.symbol}: call setPrice or setCandles.`,
        );
      }
      if (params.quantity !== undefined) qty = Number(params.quantity);
      else if (params.quoteOrderQty !== undefined) {
        quoteOrderQty = Number(params.quoteOrderQty);
        qty = floorToStep(quoteOrderQty / current, market.stepSize);
      } else {
        throw new BinanceApiError(
          400,
          -1102,
          "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
        );
      }
    }
    if (!(qty > 0) || qty < market.minQty || qty > market.maxQty || !isMultiple(qty, market.stepSize)) {
      throw new BinanceApiError(400, -1013, 'Filter failure: LOT_SIZE');
    }
    const notionalPrice = isLimit ? price : (current as number);
    if (qty * notionalPrice < market.minNotional) throw new BinanceApiError(400, -1013, 'Filter failure: NOTIONAL');

    const clientOrderId = params.newClientOrderId ?? `fake${this.nextOrderId}`;
    const duplicate = this.orders.some(
      (o) => o.marketId === market.id && o.clientOrderId === clientOrderId && (this.duplicates === 'any' || isOpen(o)),
    );
    if (duplicate) throw new BinanceApiError(400, -2010, DUPLICATE_ORDER);

    const { bid, ask } = this.bidAsk(market);
    const marketable = current !== undefined && (type === 'MARKET' || (side === 'BUY' ? price >= ask : price <= bid));
    if (type === 'LIMIT_MAKER' && marketable) {
      throw new BinanceApiError(400, -2010, 'Order would immediately match and take.');
    }
    // funds: a limit order locks what it may spend; a market order must be payable now
    if (side === 'BUY') {
      const need = qty * (isLimit ? price : (current as number));
      if (this.balance(market.quote).free + EPS < need) throw new BinanceApiError(400, -2010, INSUFFICIENT_BALANCE);
    } else if (this.balance(market.base).free + EPS < qty) {
      throw new BinanceApiError(400, -2010, INSUFFICIENT_BALANCE);
    }

    const order: FakeOrder = {
      orderId: this.nextOrderId++,
      clientOrderId,
      symbol: market.symbol,
      marketId: market.id,
      side,
      type,
      timeInForce,
      price,
      origQty: qty,
      origQuoteOrderQty: quoteOrderQty,
      executedQty: 0,
      cummulativeQuoteQty: 0,
      status: 'NEW',
      time: this.clock,
      updateTime: this.clock,
    };
    this.orders.push(order);
    if (isLimit) this.lock(market, order, qty);

    const fills: FakeTrade[] = [];
    if (marketable) {
      const fillPrice = side === 'BUY' ? Math.min(ask, isLimit ? price : ask) : Math.max(bid, isLimit ? price : bid);
      const fraction = Math.min(1, Math.max(0, fillFraction));
      const fillQty = floorToStep(qty * fraction, market.stepSize);
      if (!(timeInForce === 'FOK' && fillQty < qty) && fillQty > 0) {
        fills.push(this.fill(market, order, fillQty, fillPrice, false));
      }
    }
    if (isOpen(order) && (type === 'MARKET' || timeInForce === 'IOC' || timeInForce === 'FOK')) {
      this.finish(market, order, 'EXPIRED');
    }
    return { order, fills };
  }

  private lock(market: Market, order: FakeOrder, qty: number): void {
    if (order.side === 'BUY') {
      const b = this.balance(market.quote);
      const amount = qty * order.price;
      b.free = clean(b.free - amount, market.tickSize);
      b.locked = clean(b.locked + amount, market.tickSize);
    } else {
      const b = this.balance(market.base);
      b.free = clean(b.free - qty, market.stepSize);
      b.locked = clean(b.locked + qty, market.stepSize);
    }
  }

  private unlock(market: Market, order: FakeOrder, qty: number): void {
    if (order.side === 'BUY') {
      const b = this.balance(market.quote);
      const amount = qty * order.price;
      b.free = clean(b.free + amount, market.tickSize);
      b.locked = clean(Math.max(0, b.locked - amount), market.tickSize);
    } else {
      const b = this.balance(market.base);
      b.free = clean(b.free + qty, market.stepSize);
      b.locked = clean(Math.max(0, b.locked - qty), market.stepSize);
    }
  }

  /** Execute `qty` of `order` at `price`: balances, fee in the asset received, trade record, status. */
  private fill(market: Market, order: FakeOrder, qty: number, price: number, isMaker: boolean): FakeTrade {
    const isLimit = order.type !== 'MARKET';
    if (isLimit) this.unlock(market, order, qty); // the lock becomes spendable, then is spent below
    const quoteQty = qty * price;
    const base = this.balance(market.base);
    const quote = this.balance(market.quote);
    let commission: number;
    let commissionAsset: string;
    if (order.side === 'BUY') {
      commission = clean(qty * this.feeRate, market.stepSize);
      commissionAsset = market.base;
      quote.free = clean(quote.free - quoteQty, market.tickSize);
      base.free = clean(base.free + qty - commission, market.stepSize);
    } else {
      commission = clean(quoteQty * this.feeRate, market.tickSize);
      commissionAsset = market.quote;
      base.free = clean(base.free - qty, market.stepSize);
      quote.free = clean(quote.free + quoteQty - commission, market.tickSize);
    }
    order.executedQty = clean(order.executedQty + qty, market.stepSize);
    order.cummulativeQuoteQty = clean(order.cummulativeQuoteQty + quoteQty, market.tickSize);
    order.status = order.executedQty + EPS >= order.origQty ? 'FILLED' : 'PARTIALLY_FILLED';
    order.updateTime = this.clock;
    const trade: FakeTrade = {
      id: this.nextTradeId++,
      orderId: order.orderId,
      symbol: market.symbol,
      marketId: market.id,
      side: order.side,
      price,
      qty,
      quoteQty: clean(quoteQty, market.tickSize),
      commission,
      commissionAsset,
      time: this.clock,
      isMaker,
    };
    this.trades.push(trade);
    return trade;
  }

  private finish(market: Market, order: FakeOrder, status: FakeOrderStatus): void {
    const remaining = clean(order.origQty - order.executedQty, market.stepSize);
    if (order.type !== 'MARKET' && remaining > 0) this.unlock(market, order, remaining);
    order.status = status;
    order.updateTime = this.clock;
  }

  /** DELETE /api/v3/order: Binance's -2011 when the order is unknown or no longer open. */
  cancelOrder(marketId: string, orderId: string | undefined, clientOrderId: string | undefined): FakeOrder {
    if (orderId === undefined && clientOrderId === undefined) {
      throw new BinanceApiError(
        400,
        -1102,
        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
      );
    }
    const order = this.findOrder(marketId, orderId, clientOrderId);
    if (order === undefined || !isOpen(order)) throw new BinanceApiError(400, -2011, 'Unknown order sent.');
    this.finish(this.market(marketId), order, 'CANCELED');
    return order;
  }

  /** Fill a resting order by hand (default: all that remains, at its limit price). */
  fillOrder(ref: number | string, qty?: number, price?: number): FakeTrade {
    const order = this.orderByRef(ref);
    if (order === undefined || !isOpen(order)) throw new Error(`fake exchange: no open order '${ref}'`);
    const market = this.market(order.marketId);
    const remaining = clean(order.origQty - order.executedQty, market.stepSize);
    const amount = Math.min(remaining, qty ?? remaining);
    const trade = this.fill(market, order, amount, price ?? order.price, true);
    this.listener?.ticker(market.id);
    return trade;
  }

  /** Fill resting limit orders the price range [low, high] went through, at their limit price. */
  private matchResting(market: Market, low: number, high: number): void {
    for (const order of this.openOrders(market.id)) {
      const crosses = order.side === 'BUY' ? low <= order.price : high >= order.price;
      if (!crosses) continue;
      const remaining = clean(order.origQty - order.executedQty, market.stepSize);
      if (remaining > 0) this.fill(market, order, remaining, order.price, true);
    }
  }
}

export function isOpen(order: FakeOrder): boolean {
  return order.status === 'NEW' || order.status === 'PARTIALLY_FILLED';
}
