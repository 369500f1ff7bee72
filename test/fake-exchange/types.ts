/**
 * Public types of the fake Binance spot exchange used by integration tests.
 * Everything a test passes in or reads back is declared here.
 */

/** A market the fake lists in /api/v3/exchangeInfo. Filters follow Binance's names. */
export interface FakeMarketSpec {
  /** Unified symbol, 'BTC/USDT'. Base and quote are taken from it. */
  readonly symbol: string;
  /** Price step (PRICE_FILTER.tickSize). Default 0.01. */
  readonly tickSize?: number;
  readonly minPrice?: number;
  readonly maxPrice?: number;
  /** Quantity step (LOT_SIZE.stepSize). Default 0.00001. */
  readonly stepSize?: number;
  readonly minQty?: number;
  readonly maxQty?: number;
  /** NOTIONAL.minNotional: price * quantity must reach it. Default 5. */
  readonly minNotional?: number;
  /** 'TRADING' (default) or e.g. 'BREAK': orders are then refused with "Market is closed.". */
  readonly status?: string;
}

/** One bar as the test gives it; `timestamp` is the open time in ms (a core Candle fits). */
export interface FakeCandle {
  readonly timestamp: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
}

export interface FakeExchangeOptions {
  /** Markets to list. Default BTC/USDT and ETH/USDT with Binance-like filters. */
  readonly markets?: readonly FakeMarketSpec[];
  /** The exchange clock at start (ms). Default 2024-01-01T00:00:00Z. Only the test moves it. */
  readonly now?: number;
  /** Free balances at start, by asset. Default none. */
  readonly balances?: Readonly<Record<string, number>>;
  /** Taker and maker fee rate, charged in the asset received. Default 0.001 (0.1 %). */
  readonly feeRate?: number;
  /** Absolute bid/ask spread around the price; bid = price - spread / 2. Default 0. */
  readonly spread?: number;
  /**
   * When a newClientOrderId is refused as a duplicate ("Duplicate order sent.", -2010):
   * - 'open' (default, like Binance spot): only while an order with that id is still open;
   * - 'any': whenever any earlier order used it.
   */
  readonly duplicateClientOrderIds?: 'open' | 'any';
  /** Push the current kline / ticker right after a websocket subscription is acknowledged. Default true. */
  readonly pushOnSubscribe?: boolean;
  /** Largest `limit` GET /api/v3/klines accepts (Binance spot: 1000). */
  readonly maxKlineLimit?: number;
}

/** One request as the fake saw it. */
export interface RequestLogEntry {
  readonly seq: number;
  /** 'GET', 'POST', 'DELETE', ... or 'WS' for a websocket message. */
  readonly method: string;
  readonly path: string;
  /** Query string and form body parameters, merged (signature included). */
  readonly query: Readonly<Record<string, string>>;
  /** Wall-clock time the request arrived (ms). */
  readonly time: number;
  /** The fake exchange clock when it arrived. */
  readonly exchangeTime: number;
  /** The fault applied to it, if any. */
  readonly fault?: FaultKind;
  /** HTTP status sent (undefined when no response was sent: hang, drop, lost response). */
  status?: number;
}

/** What goes wrong. See `Fault` for which requests it hits. */
export type FaultSpec =
  /**
   * Answer normally, but only after `ms`: a request is executed that late (a POST order fills
   * then), unless its timestamp + recvWindow has passed by then (refused with -1021, like Binance).
   */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Never answer (the client times out; close() ends it). */
  | { readonly kind: 'hang' }
  /** Destroy the socket without an answer. */
  | { readonly kind: 'drop-connection' }
  /** HTTP 429 (or 418) with Retry-After and Binance's -1003 body. */
  | { readonly kind: 'rate-limit'; readonly retryAfterSeconds?: number; readonly status?: 429 | 418 }
  /** An HTTP 5xx with a non-JSON body (a gateway error page). Default 503. */
  | { readonly kind: 'server-error'; readonly status?: number; readonly body?: string }
  /** HTTP 200 with the real answer cut in half, so it is not valid JSON. */
  | { readonly kind: 'malformed-json' }
  /** Any Binance error answer: HTTP status, code and msg. */
  | { readonly kind: 'binance-error'; readonly status?: number; readonly code: number; readonly msg: string }
  /** An order refused the way Binance refuses it (POST /api/v3/order). */
  | { readonly kind: 'reject-order'; readonly reason: OrderRejectReason }
  /** The next order fills only this fraction of its quantity (a market order then EXPIRES, a limit order rests). */
  | { readonly kind: 'partial-fill'; readonly fraction: number }
  /**
   * The request IS executed (an order is created, filled, cancelled...) but the answer never
   * arrives: the connection hangs ('hang', default; the client times out) or is dropped ('drop').
   */
  | { readonly kind: 'lost-response'; readonly mode?: 'hang' | 'drop' };

export type FaultKind = FaultSpec['kind'];

export type OrderRejectReason =
  | 'insufficient-balance'
  | 'lot-size'
  | 'price-filter'
  | 'min-notional'
  | 'duplicate-order'
  | 'market-closed';

/** A fault and the requests it applies to. */
export type Fault = FaultSpec & {
  /** Path it applies to: '/api/v3/klines' or just 'klines'. Default: every path. */
  readonly endpoint?: string;
  /** HTTP method it applies to. Default: any. */
  readonly method?: string;
  /** How many matching requests it hits. Default 1; Infinity for all. */
  readonly count?: number;
  /**
   * Let this many matching requests pass before it starts (counted from injection, including
   * requests another fault took): `skip: 3` first hits the 4th matching request. Default 0.
   */
  readonly skip?: number;
};

/** Returned by inject(): how often the fault has fired, and a way to withdraw it. */
export interface FaultHandle {
  fired(): number;
  remove(): void;
}

export type FakeOrderStatus = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELED' | 'EXPIRED' | 'REJECTED';

/** An order as the fake keeps it (numbers, not Binance's strings). */
export interface FakeOrder {
  readonly orderId: number;
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly marketId: string;
  readonly side: 'BUY' | 'SELL';
  readonly type: 'MARKET' | 'LIMIT' | 'LIMIT_MAKER';
  readonly timeInForce: string | undefined;
  /** Limit price; 0 for market orders. */
  readonly price: number;
  readonly origQty: number;
  /** Set for market buys sized in quote (quoteOrderQty). */
  readonly origQuoteOrderQty: number;
  executedQty: number;
  cummulativeQuoteQty: number;
  status: FakeOrderStatus;
  readonly time: number;
  updateTime: number;
}

export interface FakeTrade {
  readonly id: number;
  readonly orderId: number;
  readonly symbol: string;
  readonly marketId: string;
  readonly side: 'BUY' | 'SELL';
  readonly price: number;
  readonly qty: number;
  readonly quoteQty: number;
  readonly commission: number;
  readonly commissionAsset: string;
  readonly time: number;
  readonly isMaker: boolean;
}

export interface FakeBalance {
  free: number;
  locked: number;
}
