/**
 * The order path's parts, one implementation each, shared by every broker
 * (simulated for backtest and paper, ccxt live, the embedded host bridge) and
 * by the order gate in front of them:
 *
 * - `validateOrderRequest`: whether a request can be accepted at all;
 * - `sizeOrder`: a request's size as a quantity at a price, with a venue's
 *   settings (fees, budget buffer, shorts, precision, minimums), and the
 *   account checks (position, cash, no leverage) that may refuse it;
 * - `newOrder`, `fillOf`, `addFill`: order and fill records;
 * - `isOpen`: whether an order can still fill;
 * - client order ids: deterministic per strategy, symbol, candle and sequence,
 *   so the same decision gets the same id after a restart and is looked up
 *   instead of placed twice.
 */
import { createHash } from 'node:crypto';
import type { Fill, Order, OrderRequest, OrderSize, OrderStatus, PortfolioView } from '../core/types.js';

/** Relative tolerance for budget arithmetic (all-in buys, 1x short limits). */
const TOLERANCE = 1e-9;

/** Statuses in which an order may still fill. */
export function isOpenStatus(status: OrderStatus): boolean {
  return status === 'open' || status === 'pending' || status === 'partially_filled';
}

export function isOpen(order: { readonly status: OrderStatus }): boolean {
  return isOpenStatus(order.status);
}

/** Why a request cannot be accepted at all (its shape), or undefined when it can. */
export function validateOrderRequest(r: OrderRequest): string | undefined {
  if (r === null || typeof r !== 'object') return 'order request is not an object';
  if (typeof r.symbol !== 'string' || r.symbol === '') return 'order has no symbol';
  if (r.side !== 'buy' && r.side !== 'sell') return `unknown order side '${String(r.side)}' (expected buy or sell)`;
  if (r.type !== 'market' && r.type !== 'limit') {
    return `unknown order type '${String(r.type)}' (expected market or limit)`;
  }
  const size = r.size as OrderSize | undefined;
  if (size === undefined || size === null || typeof size !== 'object') return 'order has no size';
  if (size.kind === 'quantity') {
    if (!(Number.isFinite(size.quantity) && size.quantity > 0)) {
      return `order quantity must be a positive number, got ${size.quantity}`;
    }
  } else if (size.kind === 'equity-fraction') {
    if (!(Number.isFinite(size.fraction) && size.fraction > 0 && size.fraction <= 1)) {
      return `equity fraction must be in (0, 1], got ${size.fraction}`;
    }
  } else if (size.kind !== 'all') {
    return `unknown order size kind '${String((size as { kind?: unknown }).kind)}' (expected quantity, equity-fraction or all)`;
  }
  if (r.type === 'limit' && !(Number.isFinite(r.limitPrice) && (r.limitPrice as number) > 0)) {
    return `limit order needs a positive limitPrice, got ${r.limitPrice}`;
  }
  return undefined;
}

/** How a venue turns sizes into quantities: its costs, what it allows, its precision and minimums. */
export interface SizingRules {
  /** Fee per fill as a fraction of notional: budget-sized buys leave room for it. */
  readonly feeRate: number;
  /** Sells beyond the long position open a short (up to 1x equity); else they are refused. */
  readonly allowShort: boolean;
  /** Part of a cash or equity budget kept back, for the price moving before a live fill. Default 0. */
  readonly budgetBuffer?: number;
  /** Rounds a quantity down to what the venue trades (amount step, whole units). Default: none. */
  readonly roundQuantity?: (quantity: number) => number;
  /** The rounding in words, for the refusal of a quantity that rounds to 0 (e.g. 'amount step 0.01'). */
  readonly rounding?: string;
  /** Round the exact close of a whole position too (a live venue only takes rounded amounts). Default false. */
  readonly roundCloses?: boolean;
  readonly minAmount?: number;
  readonly minCost?: number;
}

/**
 * The quantity `request` trades at `price` against `portfolio` under the
 * venue's `rules`, or the reason it is refused. See `OrderSize` for what the
 * sizes mean. `forced` (closing at the end of a backtest, an emergency exit)
 * skips the venue's minimums and the cash check.
 */
export function sizeOrder(
  request: OrderRequest,
  portfolio: PortfolioView,
  price: number,
  rules: SizingRules,
  forced = false,
): number | string {
  const symbol = request.symbol;
  const position = portfolio.position(symbol);
  const held = position?.quantity ?? 0;
  const fr = rules.feeRate;
  const keep = 1 - (rules.budgetBuffer ?? 0);
  const buy = request.side === 'buy';
  const round = rules.roundQuantity;

  // 1. Size -> quantity.
  let quantity: number;
  /** Sized from cash or equity: a rounding overshoot of the budget is trimmed, not refused. */
  let fromBudget = false;
  /** Closing the whole position exactly: no rounding (unless the venue needs it), so no dust is left. */
  let exactClose = false;
  const size = request.size;
  if (size.kind === 'quantity') {
    quantity = size.quantity;
  } else if (size.kind === 'equity-fraction') {
    quantity = (size.fraction * portfolio.equity * keep) / (price * (1 + fr));
    fromBudget = true;
  } else if (buy) {
    if (held < 0) {
      quantity = -held;
      exactClose = true;
    } else {
      quantity = (portfolio.cash * keep) / (price * (1 + fr));
      fromBudget = true;
    }
  } else if (held > 0) {
    quantity = held;
    exactClose = true;
  } else if (rules.allowShort) {
    quantity = (portfolio.equity * keep) / (price * (1 + fr));
    fromBudget = true;
  } else {
    return `no long ${symbol} position to sell (size 'all') and shorts are disabled`;
  }
  if (round !== undefined && (!exactClose || rules.roundCloses === true)) quantity = round(quantity);

  if (request.reduceOnly === true) {
    if (held === 0 || held > 0 === buy) {
      return `reduce-only ${request.side} would open or increase a ${symbol} position`;
    }
    if (quantity > Math.abs(held)) quantity = Math.abs(held);
  }
  if (!(quantity > 0)) {
    return `order quantity rounds to 0 at price ${price}${rules.rounding !== undefined ? ` (${rules.rounding})` : ''}`;
  }

  // 2. Shorts.
  const after = held + (buy ? quantity : -quantity);
  if (!rules.allowShort && after < -Math.abs(held) * TOLERANCE && after < 0) {
    return held > 0
      ? `sell of ${quantity} exceeds the long ${symbol} position of ${held} and shorts are disabled`
      : `no long ${symbol} position to sell and shorts are disabled`;
  }

  // 3. The venue's minimums.
  if (!forced) {
    if (rules.minAmount !== undefined && quantity < rules.minAmount) {
      return `quantity ${quantity} is below the market minimum amount ${rules.minAmount}`;
    }
    if (rules.minCost !== undefined && quantity * price < rules.minCost) {
      return `order value ${round8(quantity * price)} is below the market minimum cost ${rules.minCost}`;
    }
  }

  // 4. Cash for buys.
  if (buy && !forced) {
    const cash = portfolio.cash;
    let cost = quantity * price * (1 + fr);
    if (cost > cash && fromBudget && cash > 0 && cost <= cash * (1 + TOLERANCE)) {
      const trimmed = quantity * (cash / cost) * (1 - 1e-12);
      quantity = round !== undefined ? round(trimmed) : trimmed;
      cost = quantity * price * (1 + fr);
    }
    if (cost > cash) {
      return `insufficient cash for ${symbol} buy: need ${cost} (incl. fee ${quantity * price * fr}), have ${cash}`;
    }
  }

  // 5. No leverage on shorts: the short's value may not exceed equity after the fill.
  if (!forced && after < 0 && after < Math.min(held, 0)) {
    const others =
      portfolio.equity - portfolio.cash - (position === undefined ? 0 : position.quantity * position.markPrice);
    const equityAfter = portfolio.cash + held * price - quantity * price * fr + others;
    if (-after * price > equityAfter * (1 + TOLERANCE)) {
      return `insufficient margin for ${symbol} short: ${-after * price} exceeds equity ${equityAfter} (no leverage)`;
    }
  }
  return quantity;
}

/** `r` with client order id `id`, in one fixed shape (an object spread costs more than the rest of the path). */
export function withClientOrderId(r: OrderRequest, id: string): OrderRequest {
  return {
    symbol: r.symbol,
    side: r.side,
    type: r.type,
    size: r.size,
    limitPrice: r.limitPrice,
    clientOrderId: id,
    reduceOnly: r.reduceOnly,
    tag: r.tag,
  };
}

/**
 * A new order record with one fixed shape (every optional field present,
 * possibly undefined): object spreads of the request would give each order a
 * slow dictionary shape. JSON output omits the undefined fields.
 */
export function newOrder(
  r: OrderRequest,
  id: string,
  createdAt: number,
  status: OrderStatus = 'open',
  limitPrice: number | undefined = r.limitPrice,
): Order {
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
    status,
    createdAt,
    filledQuantity: 0,
    averageFillPrice: 0,
    rejectReason: undefined,
  };
}

/** The fill record of `quantity` of `order` at `price` (fee in quote currency). */
export function fillOf(order: Order, quantity: number, price: number, fee: number, timestamp: number): Fill {
  const { id: orderId, clientOrderId, symbol, side, tag } = order;
  return tag === undefined
    ? { orderId, clientOrderId, symbol, side, quantity, price, fee, timestamp }
    : { orderId, clientOrderId, symbol, side, quantity, price, fee, timestamp, tag };
}

/** Adds `quantity` at `price` to the order's filled quantity and average fill price. */
export function addFill(order: Order, quantity: number, price: number): void {
  const before = order.filledQuantity;
  const total = before + quantity;
  order.averageFillPrice = before === 0 ? price : (order.averageFillPrice * before + price * quantity) / total;
  order.filledQuantity = total;
}

// ---- client order ids ----

/**
 * Shape: `qf` + 8 hex of sha256(namespace | strategy | symbol) + the decision
 * time (the candle's close, or a tick's time) in base 36 + `-` + a sequence
 * in base 36: letters, digits and one dash, at most 24 characters — inside
 * Binance's 36 and the 32-character limits of OKX, Bybit and others.
 */
export function clientOrderIdPrefix(namespace: string, strategy: string, symbol: string): string {
  const hash = createHash('sha256').update(`${namespace}\u0000${strategy}\u0000${symbol}`).digest('hex');
  return `qf${hash.slice(0, 8)}`;
}

/** `seq` counts the orders decided at one time for one symbol, from 0. */
export function makeClientOrderId(prefix: string, decisionTime: number, seq: number): string {
  return `${prefix}${Math.max(0, Math.floor(decisionTime)).toString(36)}-${seq.toString(36)}`;
}

/** Whether a client order id was made by quantflow (any strategy). */
export function isQuantflowClientOrderId(id: string | undefined): boolean {
  return typeof id === 'string' && /^qf[0-9a-f]{8}[0-9a-z]+-[0-9a-z]+$/.test(id);
}

function round8(x: number): number {
  return Number(x.toFixed(8));
}
