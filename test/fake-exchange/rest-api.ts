/**
 * Binance spot REST endpoints, as the real ccxt `binance` class calls them,
 * answered from ExchangeState in Binance's exact JSON shapes (numbers as
 * 8-decimal strings, times as integers).
 */

import {
  BINANCE_INTERVALS,
  BinanceApiError,
  type ExchangeState,
  type KlineView,
  type Market,
  mandatory,
} from './market-state.js';
import type { FakeOrder, FakeTrade } from './types.js';

export interface ApiRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface ApiContext {
  readonly state: ExchangeState;
  readonly maxKlineLimit: number;
  /** Fill fraction for the next order (partial-fill fault); 1 normally. */
  readonly fillFraction: number;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

type Handler = (req: ApiRequest, ctx: ApiContext) => unknown;

const n8 = (n: number): string => n.toFixed(8);

function intParam(params: Readonly<Record<string, string>>, name: string): number | undefined {
  const raw = params[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n))
    throw new BinanceApiError(
      400,
      -1100,
      `Illegal characters found in parameter '${name}'; legal range is '^[0-9]{1,20}$'.`,
    );
  return n;
}

function limitParam(params: Readonly<Record<string, string>>, fallback: number, max: number): number {
  const limit = intParam(params, 'limit') ?? fallback;
  if (limit < 1 || limit > max) throw new BinanceApiError(400, -1130, "Data sent for parameter 'limit' is not valid.");
  return limit;
}

function requireSigned(req: ApiRequest): void {
  const key = req.headers['x-mbx-apikey'];
  if (typeof key !== 'string' || key === '') throw new BinanceApiError(401, -2014, 'API-key format invalid.');
  if (req.params.timestamp === undefined) throw mandatory('timestamp');
  if (req.params.signature === undefined || req.params.signature === '') throw mandatory('signature');
}

function symbolJson(m: Market): unknown {
  return {
    symbol: m.id,
    status: m.status,
    baseAsset: m.base,
    baseAssetPrecision: 8,
    quoteAsset: m.quote,
    quotePrecision: 8,
    quoteAssetPrecision: 8,
    baseCommissionPrecision: 8,
    quoteCommissionPrecision: 8,
    orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET'],
    icebergAllowed: false,
    ocoAllowed: false,
    otoAllowed: false,
    quoteOrderQtyMarketAllowed: true,
    allowTrailingStop: false,
    cancelReplaceAllowed: false,
    isSpotTradingAllowed: true,
    isMarginTradingAllowed: false,
    filters: [
      { filterType: 'PRICE_FILTER', minPrice: n8(m.minPrice), maxPrice: n8(m.maxPrice), tickSize: n8(m.tickSize) },
      { filterType: 'LOT_SIZE', minQty: n8(m.minQty), maxQty: n8(m.maxQty), stepSize: n8(m.stepSize) },
      {
        filterType: 'NOTIONAL',
        minNotional: n8(m.minNotional),
        applyMinToMarket: true,
        maxNotional: '9000000.00000000',
        applyMaxToMarket: false,
        avgPriceMins: 5,
      },
    ],
    permissions: [],
    permissionSets: [['SPOT']],
    defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
    allowedSelfTradePreventionModes: ['NONE', 'EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH'],
  };
}

export function klineRow(k: KlineView): unknown[] {
  const c = k.candle;
  return [
    c.timestamp,
    n8(c.open),
    n8(c.high),
    n8(c.low),
    n8(c.close),
    n8(c.volume),
    k.closeTime,
    n8(c.volume * c.close),
    Math.round(c.volume * 10),
    n8(c.volume / 2),
    n8((c.volume * c.close) / 2),
    '0',
  ];
}

function orderJson(o: FakeOrder): Record<string, unknown> {
  return {
    symbol: o.marketId,
    orderId: o.orderId,
    orderListId: -1,
    clientOrderId: o.clientOrderId,
    price: n8(o.price),
    origQty: n8(o.origQty),
    executedQty: n8(o.executedQty),
    cummulativeQuoteQty: n8(o.cummulativeQuoteQty),
    status: o.status,
    timeInForce: o.timeInForce ?? 'GTC',
    type: o.type,
    side: o.side,
    stopPrice: '0.00000000',
    icebergQty: '0.00000000',
    time: o.time,
    updateTime: o.updateTime,
    isWorking: true,
    workingTime: o.time,
    origQuoteOrderQty: n8(o.origQuoteOrderQty),
    selfTradePreventionMode: 'EXPIRE_MAKER',
  };
}

function newOrderJson(o: FakeOrder, fills: readonly FakeTrade[], respType: string): Record<string, unknown> {
  const ack = {
    symbol: o.marketId,
    orderId: o.orderId,
    orderListId: -1,
    clientOrderId: o.clientOrderId,
    transactTime: o.time,
  };
  if (respType === 'ACK') return ack;
  const result = {
    ...ack,
    price: n8(o.price),
    origQty: n8(o.origQty),
    executedQty: n8(o.executedQty),
    origQuoteOrderQty: n8(o.origQuoteOrderQty),
    cummulativeQuoteQty: n8(o.cummulativeQuoteQty),
    status: o.status,
    timeInForce: o.timeInForce ?? 'GTC',
    type: o.type,
    side: o.side,
    workingTime: o.time,
    selfTradePreventionMode: 'EXPIRE_MAKER',
  };
  if (respType === 'RESULT') return result;
  return {
    ...result,
    fills: fills.map((t) => ({
      price: n8(t.price),
      qty: n8(t.qty),
      commission: n8(t.commission),
      commissionAsset: t.commissionAsset,
      tradeId: t.id,
    })),
  };
}

/** A cancel answer. Like Binance: clientOrderId is the CANCEL request's id; the order's own is origClientOrderId. */
function cancelJson(o: FakeOrder, cancelId: string, now: number): Record<string, unknown> {
  const {
    time: _t,
    updateTime: _u,
    isWorking: _w,
    workingTime: _wt,
    stopPrice: _s,
    icebergQty: _i,
    ...rest
  } = orderJson(o);
  return { ...rest, origClientOrderId: o.clientOrderId, clientOrderId: cancelId, transactTime: now };
}

function tradeJson(t: FakeTrade): unknown {
  return {
    symbol: t.marketId,
    id: t.id,
    orderId: t.orderId,
    orderListId: -1,
    price: n8(t.price),
    qty: n8(t.qty),
    quoteQty: n8(t.quoteQty),
    commission: n8(t.commission),
    commissionAsset: t.commissionAsset,
    time: t.time,
    isBuyer: t.side === 'BUY',
    isMaker: t.isMaker,
    isBestMatch: true,
  };
}

function ticker24hJson(state: ExchangeState, m: Market): unknown {
  const s = state.stats24h(m);
  const { bid, ask } = state.bidAsk(m);
  const now = state.now();
  const change = s.last - s.open;
  return {
    symbol: m.id,
    priceChange: n8(change),
    priceChangePercent: (s.open > 0 ? (change / s.open) * 100 : 0).toFixed(3),
    weightedAvgPrice: n8(s.volume > 0 ? s.quoteVolume / s.volume : s.last),
    prevClosePrice: n8(s.open),
    lastPrice: n8(s.last),
    lastQty: '0.00100000',
    bidPrice: n8(bid),
    bidQty: '1.00000000',
    askPrice: n8(ask),
    askQty: '1.00000000',
    openPrice: n8(s.open),
    highPrice: n8(s.high),
    lowPrice: n8(s.low),
    volume: n8(s.volume),
    quoteVolume: n8(s.quoteVolume),
    openTime: now - 86_400_000,
    closeTime: now,
    firstId: 1,
    lastId: 1 + Math.round(s.volume),
    count: 1 + Math.round(s.volume),
  };
}

function bookTickerJson(state: ExchangeState, m: Market): unknown {
  const { bid, ask } = state.bidAsk(m);
  return { symbol: m.id, bidPrice: n8(bid), bidQty: '1.00000000', askPrice: n8(ask), askQty: '1.00000000' };
}

/** Apply `fn` to the `symbol` parameter's market, or to every market (an array) when it is absent. */
function perSymbol(req: ApiRequest, ctx: ApiContext, fn: (m: Market) => unknown): unknown {
  if (req.params.symbol !== undefined) return fn(ctx.state.market(req.params.symbol));
  if (req.params.symbols !== undefined) {
    const ids = JSON.parse(req.params.symbols) as string[];
    return ids.map((id) => fn(ctx.state.market(id)));
  }
  return [...ctx.state.markets.values()].map(fn);
}

function emptyExchangeInfo(ctx: ApiContext): unknown {
  return { timezone: 'UTC', serverTime: ctx.state.now(), rateLimits: [], exchangeFilters: [], assets: [], symbols: [] };
}

const routes: Record<string, Handler> = {
  'GET /api/v3/ping': () => ({}),
  'GET /api/v3/time': (_req, ctx) => ({ serverTime: ctx.state.now() }),
  'GET /api/v3/exchangeInfo': (req, ctx) => {
    const markets =
      req.params.symbol !== undefined ? [ctx.state.market(req.params.symbol)] : [...ctx.state.markets.values()];
    return {
      timezone: 'UTC',
      serverTime: ctx.state.now(),
      rateLimits: [
        { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
        { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
        { rateLimitType: 'ORDERS', interval: 'DAY', intervalNum: 1, limit: 200000 },
        { rateLimitType: 'RAW_REQUESTS', interval: 'MINUTE', intervalNum: 5, limit: 61000 },
      ],
      exchangeFilters: [],
      symbols: markets.map(symbolJson),
    };
  },
  // ccxt's binance loads spot, linear and inverse markets by default: the fake lists no futures
  'GET /fapi/v1/exchangeInfo': (_req, ctx) => emptyExchangeInfo(ctx),
  'GET /dapi/v1/exchangeInfo': (_req, ctx) => emptyExchangeInfo(ctx),
  'GET /api/v3/klines': (req, ctx) => {
    const m = ctx.state.market(req.params.symbol);
    const interval = req.params.interval;
    if (interval === undefined) throw mandatory('interval');
    if (!(BINANCE_INTERVALS as readonly string[]).includes(interval)) {
      throw new BinanceApiError(400, -1120, 'Invalid interval.');
    }
    const limit = limitParam(req.params, 500, ctx.maxKlineLimit);
    const start = intParam(req.params, 'startTime');
    const end = intParam(req.params, 'endTime');
    return ctx.state.klines(m.id, interval, start, end, limit).map(klineRow);
  },
  'GET /api/v3/ticker/24hr': (req, ctx) => perSymbol(req, ctx, (m) => ticker24hJson(ctx.state, m)),
  'GET /api/v3/ticker': (req, ctx) => perSymbol(req, ctx, (m) => ticker24hJson(ctx.state, m)),
  'GET /api/v3/ticker/bookTicker': (req, ctx) => perSymbol(req, ctx, (m) => bookTickerJson(ctx.state, m)),
  'GET /api/v3/ticker/price': (req, ctx) =>
    perSymbol(req, ctx, (m) => ({ symbol: m.id, price: n8(ctx.state.price(m.id) ?? 0) })),
  'GET /api/v3/avgPrice': (req, ctx) => {
    const m = ctx.state.market(req.params.symbol);
    return { mins: 5, price: n8(ctx.state.price(m.id) ?? 0), closeTime: ctx.state.now() };
  },
  'GET /api/v3/depth': (req, ctx) => {
    const m = ctx.state.market(req.params.symbol);
    const { bid, ask } = ctx.state.bidAsk(m);
    const levels = Math.min(limitParam(req.params, 100, 5000), 20);
    const bids: string[][] = [];
    const asks: string[][] = [];
    for (let i = 0; i < levels; i++) {
      bids.push([n8(bid - i * m.tickSize), '1.00000000']);
      asks.push([n8(ask + i * m.tickSize), '1.00000000']);
    }
    return { lastUpdateId: ctx.state.now(), bids, asks };
  },
  'GET /api/v3/account': (req, ctx) => {
    requireSigned(req);
    const omitZero = req.params.omitZeroBalances === 'true';
    const balances = [...ctx.state.balances.entries()]
      .filter(([, b]) => !omitZero || b.free !== 0 || b.locked !== 0)
      .map(([asset, b]) => ({ asset, free: n8(b.free), locked: n8(b.locked) }));
    const fee = Math.round(ctx.state.feeRate * 10_000);
    return {
      makerCommission: fee,
      takerCommission: fee,
      buyerCommission: 0,
      sellerCommission: 0,
      commissionRates: { maker: n8(ctx.state.feeRate), taker: n8(ctx.state.feeRate), buyer: n8(0), seller: n8(0) },
      canTrade: true,
      canWithdraw: true,
      canDeposit: true,
      brokered: false,
      requireSelfTradePrevention: false,
      preventSor: false,
      updateTime: ctx.state.now(),
      accountType: 'SPOT',
      balances,
      permissions: ['SPOT'],
      uid: 1,
    };
  },
  'POST /api/v3/order': (req, ctx) => {
    requireSigned(req);
    const { order, fills } = ctx.state.placeOrder(req.params, ctx.fillFraction);
    return newOrderJson(order, fills, req.params.newOrderRespType ?? 'FULL');
  },
  'POST /api/v3/order/test': (req) => {
    requireSigned(req);
    return {};
  },
  'GET /api/v3/order': (req, ctx) => {
    requireSigned(req);
    const m = ctx.state.market(req.params.symbol);
    const { orderId, origClientOrderId } = req.params;
    if (orderId === undefined && origClientOrderId === undefined) {
      throw new BinanceApiError(
        400,
        -1102,
        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
      );
    }
    const order = ctx.state.findOrder(m.id, orderId, origClientOrderId);
    if (order === undefined) throw new BinanceApiError(400, -2013, 'Order does not exist.');
    return orderJson(order);
  },
  'DELETE /api/v3/order': (req, ctx) => {
    requireSigned(req);
    const m = ctx.state.market(req.params.symbol);
    const order = ctx.state.cancelOrder(m.id, req.params.orderId, req.params.origClientOrderId);
    return cancelJson(order, req.params.newClientOrderId ?? `cancel${order.orderId}`, ctx.state.now());
  },
  'DELETE /api/v3/openOrders': (req, ctx) => {
    requireSigned(req);
    const m = ctx.state.market(req.params.symbol);
    const open = ctx.state.openOrders(m.id);
    for (const o of open) ctx.state.cancelOrder(m.id, String(o.orderId), undefined);
    return open.map((o) => ({ ...cancelJson(o, `cancel${o.orderId}`, ctx.state.now()) }));
  },
  'GET /api/v3/openOrders': (req, ctx) => {
    requireSigned(req);
    const id = req.params.symbol !== undefined ? ctx.state.market(req.params.symbol).id : undefined;
    return ctx.state.openOrders(id).map(orderJson);
  },
  'GET /api/v3/allOrders': (req, ctx) => {
    requireSigned(req);
    const m = ctx.state.market(req.params.symbol);
    const fromId = intParam(req.params, 'orderId');
    const start = intParam(req.params, 'startTime');
    const end = intParam(req.params, 'endTime');
    const limit = limitParam(req.params, 500, 1000);
    return ctx.state.orders
      .filter(
        (o) =>
          o.marketId === m.id &&
          (fromId === undefined || o.orderId >= fromId) &&
          (start === undefined || o.time >= start) &&
          (end === undefined || o.time <= end),
      )
      .slice(0, limit)
      .map(orderJson);
  },
  'GET /api/v3/myTrades': (req, ctx) => {
    requireSigned(req);
    const m = ctx.state.market(req.params.symbol);
    const orderId = intParam(req.params, 'orderId');
    const fromId = intParam(req.params, 'fromId');
    const start = intParam(req.params, 'startTime');
    const end = intParam(req.params, 'endTime');
    const limit = limitParam(req.params, 500, 1000);
    return ctx.state.trades
      .filter(
        (t) =>
          t.marketId === m.id &&
          (orderId === undefined || t.orderId === orderId) &&
          (fromId === undefined || t.id >= fromId) &&
          (start === undefined || t.time >= start) &&
          (end === undefined || t.time <= end),
      )
      .slice(0, limit)
      .map(tradeJson);
  },
};

/** Answer one request; Binance errors become their JSON error body. */
export function handleApiRequest(req: ApiRequest, ctx: ApiContext): ApiResponse {
  const handler = routes[`${req.method} ${req.path}`];
  if (handler === undefined) return { status: 404, body: undefined };
  try {
    return { status: 200, body: handler(req, ctx) };
  } catch (err) {
    if (err instanceof BinanceApiError) return { status: err.status, body: { code: err.code, msg: err.message } };
    throw err;
  }
}
