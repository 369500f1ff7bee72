/**
 * Account state shared by every mode: cash, signed positions, realised P&L and
 * round-trip trades. Fills are the only thing that changes cash and quantities;
 * marks only change the price positions are valued at.
 *
 * Cash and P&L are kept unrounded (see core/types.ts). Fees are paid in quote
 * currency. A buy costs `quantity * price + fee`; a sell brings in
 * `quantity * price - fee` (shorts included: equity = cash + quantity * mark
 * with a negative quantity).
 */
import { ConfigError, DataError } from '../core/errors.js';
import type { Fill, PortfolioView, Position, Trade } from '../core/types.js';

/** Quantities closer than this (relative) to a position's size count as the whole position. */
const DUST = 1e-9;

/** A position as the portfolio keeps it: the public fields plus the entry fees not yet attributed to a trade. */
interface PositionState {
  readonly symbol: string;
  quantity: number;
  entryPrice: number;
  openedAt: number;
  markPrice: number;
  /** Entry fees of the open quantity, charged to trades pro rata as it is closed. */
  entryFees: number;
}

/** Serialisable portfolio state; `Portfolio.fromJSON(p.toJSON())` restores it exactly (JSON keeps doubles exact). */
export interface PortfolioState {
  readonly initialCash: number;
  readonly cash: number;
  readonly totalFees: number;
  readonly realizedPnl: number;
  readonly positions: readonly {
    readonly symbol: string;
    readonly quantity: number;
    readonly entryPrice: number;
    readonly openedAt: number;
    readonly markPrice: number;
    readonly entryFees: number;
  }[];
  readonly trades: readonly Trade[];
}

export class Portfolio implements PortfolioView {
  readonly initialCash: number;
  private _cash: number;
  private _totalFees = 0;
  private _realizedPnl = 0;
  private readonly bySymbol = new Map<string, PositionState>();
  /** The same positions as `bySymbol`, for iteration without an iterator object. */
  private readonly list: PositionState[] = [];
  private readonly _trades: Trade[] = [];

  constructor(initialCash: number) {
    if (!Number.isFinite(initialCash) || initialCash <= 0) {
      throw new ConfigError(`initial cash must be a positive number, got ${initialCash}`, { field: 'initialCash' });
    }
    this.initialCash = initialCash;
    this._cash = initialCash;
  }

  get cash(): number {
    return this._cash;
  }

  /** Cash plus every position valued at its mark price. */
  get equity(): number {
    let value = this._cash;
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const p = list[i] as PositionState;
      value += p.quantity * p.markPrice;
    }
    return value;
  }

  /** Sum of |quantity * mark| over positions (long and short exposure alike). */
  get grossExposure(): number {
    let value = 0;
    const list = this.list;
    for (let i = 0; i < list.length; i++) {
      const p = list[i] as PositionState;
      value += Math.abs(p.quantity * p.markPrice);
    }
    return value;
  }

  /** Fees paid so far, quote currency. */
  get totalFees(): number {
    return this._totalFees;
  }

  /** Sum of closed trades' net P&L (entry and exit fees included). */
  get realizedPnl(): number {
    return this._realizedPnl;
  }

  /** Closed round trips (and partial closes), in the order they were closed. */
  get trades(): readonly Trade[] {
    return this._trades;
  }

  /**
   * The open position, or undefined when flat. This is a live view that the
   * portfolio updates in place (no allocation per call): copy it to keep a snapshot.
   */
  position(symbol: string): Position | undefined {
    return this.bySymbol.get(symbol);
  }

  /** Open positions (live views, see `position`). */
  positions(): readonly Position[] {
    return this.list;
  }

  /** Signed quantity held, 0 when flat. */
  quantity(symbol: string): number {
    return this.bySymbol.get(symbol)?.quantity ?? 0;
  }

  /** Value the symbol's position at `price` (the last trade or candle close). Cheap when flat. */
  mark(symbol: string, price: number): void {
    const p = this.bySymbol.get(symbol);
    if (p !== undefined) p.markPrice = price;
  }

  /**
   * Apply one fill: move cash (price and fee), update the position, and record
   * a trade for any quantity it closes. A fill larger than the open position on
   * the other side closes it and opens the rest in the new direction.
   */
  applyFill(fill: Fill): void {
    const { symbol, quantity, price, fee } = fill;
    if (!(quantity > 0) || !(price > 0) || !(fee >= 0) || !Number.isFinite(quantity * price + fee)) {
      throw new DataError(`invalid fill: quantity ${quantity}, price ${price}, fee ${fee}`, { symbol });
    }
    const signed = fill.side === 'buy' ? quantity : -quantity;
    this._cash -= signed * price + fee;
    this._totalFees += fee;

    const pos = this.bySymbol.get(symbol);
    if (pos === undefined) {
      this.open(symbol, signed, price, fill.timestamp, fee);
      return;
    }
    pos.markPrice = price;
    if (pos.quantity > 0 === signed > 0) {
      // Adding to the position: weighted average entry, fees carried with it.
      const held = Math.abs(pos.quantity);
      pos.entryPrice = (held * pos.entryPrice + quantity * price) / (held + quantity);
      pos.quantity += signed;
      pos.entryFees += fee;
      return;
    }

    // Reducing, closing or flipping.
    const held = Math.abs(pos.quantity);
    const closesAll = quantity >= held * (1 - DUST);
    const closed = closesAll ? Math.min(quantity, held) : quantity;
    const exitFee = (fee * closed) / quantity;
    const entryFee = closesAll ? pos.entryFees : (pos.entryFees * closed) / held;
    const direction = pos.quantity > 0 ? 1 : -1;
    const fees = entryFee + exitFee;
    const pnl = direction * (price - pos.entryPrice) * closed - fees;
    this._realizedPnl += pnl;
    const trade: Trade = {
      symbol,
      direction: direction > 0 ? 'long' : 'short',
      entryTime: pos.openedAt,
      entryPrice: pos.entryPrice,
      exitTime: fill.timestamp,
      exitPrice: price,
      quantity: closed,
      fees,
      pnl,
      returnPct: pnl / (pos.entryPrice * closed),
      ...(fill.tag !== undefined ? { exitReason: fill.tag } : {}),
    };
    this._trades.push(trade);

    if (!closesAll) {
      pos.quantity -= direction * closed;
      pos.entryFees -= entryFee;
      return;
    }
    this.remove(pos);
    const rest = quantity - closed;
    if (rest > held * DUST) this.open(symbol, -direction * rest, price, fill.timestamp, fee - exitFee);
  }

  toJSON(): PortfolioState {
    return {
      initialCash: this.initialCash,
      cash: this._cash,
      totalFees: this._totalFees,
      realizedPnl: this._realizedPnl,
      positions: this.list.map((p) => ({
        symbol: p.symbol,
        quantity: p.quantity,
        entryPrice: p.entryPrice,
        openedAt: p.openedAt,
        markPrice: p.markPrice,
        entryFees: p.entryFees,
      })),
      trades: this._trades.map((t) => ({ ...t })),
    };
  }

  static fromJSON(state: PortfolioState): Portfolio {
    const p = new Portfolio(state.initialCash);
    p._cash = state.cash;
    p._totalFees = state.totalFees;
    p._realizedPnl = state.realizedPnl;
    for (const s of state.positions) {
      if (p.bySymbol.has(s.symbol)) throw new DataError('duplicate position in portfolio state', { symbol: s.symbol });
      const pos: PositionState = { ...s };
      p.bySymbol.set(s.symbol, pos);
      p.list.push(pos);
    }
    for (const t of state.trades) p._trades.push({ ...t });
    return p;
  }

  private open(symbol: string, signedQuantity: number, price: number, time: number, fee: number): void {
    const pos: PositionState = {
      symbol,
      quantity: signedQuantity,
      entryPrice: price,
      openedAt: time,
      markPrice: price,
      entryFees: fee,
    };
    this.bySymbol.set(symbol, pos);
    this.list.push(pos);
  }

  private remove(pos: PositionState): void {
    this.bySymbol.delete(pos.symbol);
    const i = this.list.indexOf(pos);
    if (i >= 0) this.list.splice(i, 1);
  }
}
