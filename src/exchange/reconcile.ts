/**
 * Reconciliation of a resumed live run with the exchange, before any trading:
 *
 * 1. Orders the journal left open, pending or uncertain are read back by
 *    client order id; trades that happened while the process was down are
 *    applied to the portfolio (and reported as "filled while down").
 * 2. Orders that are gone (never reached the exchange, or cancelled/expired
 *    there without us) are reported as vanished.
 * 3. Open orders on our symbols that the journal does not know, and trades on
 *    our symbols since the journal's time that belong to none of our orders,
 *    are reported.
 * 4. The exchange's balances are compared with what the journal expects
 *    (its snapshot moved by our own trades); differences are reported.
 *
 * Everything found is reported (log lines, the report in the journal and the
 * run summary); nothing is silently overwritten. Orders that never reached the
 * exchange, or were cancelled there, are reported and their state taken over
 * (the balances tell whether anything else happened). When balances differ, or
 * an open order with a quantflow client id is on the exchange but not in the
 * journal, the policy decides: 'halt' (default) refuses to trade — the journal is saved
 * with the facts of step 1 and a ReconciliationHaltError says what to do —
 * unless the operator confirmed (`confirm`), which then adopts the
 * exchange's balances; 'adopt-exchange' adopts them at once. Adopting moves
 * the expected balances to the exchange's, and the bot's cash and positions
 * by the same differences (never below zero).
 */
import { QuantflowError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { isQuantflowClientOrderId } from '../engine/orders.js';
import { Portfolio, type PortfolioState } from '../engine/portfolio.js';
import type { CcxtBroker, RecoveredFill, VanishedOrder } from './ccxt-broker.js';

export type ReconcilePolicy = 'halt' | 'adopt-exchange';

export interface BalanceDifference {
  readonly currency: string;
  readonly expected: number;
  readonly actual: number;
  readonly difference: number;
}

export interface ForeignOrder {
  readonly id: string;
  readonly clientOrderId: string | undefined;
  readonly symbol: string;
  readonly side: string;
  readonly amount: number | undefined;
  readonly price: number | undefined;
}

export interface ReconciliationReport {
  /** Exchange (engine) time of the journal the run resumed from. */
  readonly journalTime: number;
  readonly filledWhileDown: readonly RecoveredFill[];
  readonly vanishedOrders: readonly VanishedOrder[];
  readonly unknownOpenOrders: readonly ForeignOrder[];
  readonly foreignTrades: number;
  readonly balanceDifferences: readonly BalanceDifference[];
  /** True when nothing but fills of our own orders was found. */
  readonly clean: boolean;
  /** Balance differences or unknown quantflow orders: the policy had to decide. */
  readonly needsDecision: boolean;
  readonly action: 'none' | 'halted' | 'adopted';
}

/** Reconciliation found differences and the policy is 'halt': trading refused until the operator confirms. */
export class ReconciliationHaltError extends QuantflowError {
  readonly report: ReconciliationReport;

  constructor(message: string, report: ReconciliationReport) {
    super('RECONCILIATION_HALT', message);
    this.report = report;
  }
}

export interface ReconcileOptions {
  readonly broker: CcxtBroker;
  readonly symbols: readonly string[];
  /** Quote currency and the bases of `symbols`: the balances compared. */
  readonly currencies: readonly string[];
  readonly journalTime: number;
  readonly policy: ReconcilePolicy;
  /** The operator confirmed the differences (CLI --confirm-reconciliation): adopt them. */
  readonly confirm?: boolean;
  /** Mark prices for positions created by adopting balances. */
  readonly markPrice: (symbol: string) => Promise<number | undefined>;
  readonly log: Logger;
}

/** Relative and absolute tolerance for balance comparison (float noise, fee rounding). */
function differs(expected: number, actual: number): boolean {
  const tol = Math.max(1e-8, Math.abs(expected) * 1e-6, Math.abs(actual) * 1e-6);
  return Math.abs(expected - actual) > tol;
}

/**
 * Runs steps 1-4 and applies the policy. Resolves with the report (trading
 * may go on) or throws ReconciliationHaltError (trading must not start).
 * The broker's portfolio may be replaced (adopt): read `broker.portfolio` after.
 */
export async function reconcileWithExchange(options: ReconcileOptions): Promise<ReconciliationReport> {
  const { broker, symbols, log } = options;
  const recovered = await broker.recoverOrders();
  const unknownOpen = await broker.unknownOpenOrders(symbols);
  const foreign = await broker.foreignTrades(symbols, options.journalTime - 60_000);
  const actual = await broker.fetchTotals();
  const expected = broker.expectedBalances;
  const differences: BalanceDifference[] = [];
  for (const currency of options.currencies) {
    const e = expected[currency] ?? 0;
    const a = actual[currency] ?? 0;
    if (differs(e, a)) differences.push({ currency, expected: e, actual: a, difference: a - e });
  }
  const clean =
    recovered.vanished.length === 0 && unknownOpen.length === 0 && foreign.length === 0 && differences.length === 0;
  const needsDecision =
    differences.length > 0 || unknownOpen.some((o) => isQuantflowClientOrderId(o.clientOrderId ?? undefined));
  const base = {
    journalTime: options.journalTime,
    filledWhileDown: recovered.filled,
    vanishedOrders: recovered.vanished,
    unknownOpenOrders: unknownOpen.map((o) => ({
      id: String(o.id),
      clientOrderId: o.clientOrderId ?? undefined,
      symbol: String(o.symbol),
      side: String(o.side),
      amount: o.amount ?? undefined,
      price: o.price ?? undefined,
    })),
    foreignTrades: foreign.length,
    balanceDifferences: differences,
    clean,
    needsDecision,
  };
  for (const f of recovered.filled) {
    log.warn('order filled while the process was down: applied', { ...f });
  }
  if (clean) return { ...base, action: 'none' };
  for (const v of recovered.vanished) log.warn('order vanished while the process was down', { ...v });
  for (const o of base.unknownOpenOrders)
    log.warn('open order on the exchange that the journal does not know', { ...o });
  if (foreign.length > 0)
    log.warn('trades on our symbols that belong to none of our orders', { count: foreign.length });
  for (const d of differences) log.warn('balance differs from the journal', { ...d });

  if (!needsDecision) return { ...base, action: 'none' };
  if (options.policy === 'halt' && options.confirm !== true) {
    const report: ReconciliationReport = { ...base, action: 'halted' };
    throw new ReconciliationHaltError(
      `reconciliation with the exchange found differences (${summarize(report)}); refusing to trade. ` +
        'Check them, then restart with --confirm-reconciliation to adopt the exchange state ' +
        '(or run with --on-mismatch adopt-exchange)',
      report,
    );
  }
  await adoptBalances(broker, differences, symbols, actual, options.markPrice);
  log.warn('adopted the exchange balances', { differences: differences.length });
  return { ...base, action: 'adopted' };
}

/** One line: what reconciliation found. */
export function summarize(r: ReconciliationReport): string {
  const parts: string[] = [];
  if (r.filledWhileDown.length > 0) parts.push(`${r.filledWhileDown.length} order(s) filled while down (applied)`);
  if (r.vanishedOrders.length > 0) parts.push(`${r.vanishedOrders.length} order(s) vanished`);
  if (r.unknownOpenOrders.length > 0) parts.push(`${r.unknownOpenOrders.length} unknown open order(s)`);
  if (r.foreignTrades > 0) parts.push(`${r.foreignTrades} foreign trade(s)`);
  for (const d of r.balanceDifferences) {
    parts.push(`${d.currency} balance ${fmt(d.actual)} on the exchange vs ${fmt(d.expected)} expected`);
  }
  return parts.length > 0 ? parts.join('; ') : 'no differences';
}

function fmt(x: number): string {
  return Number(x.toPrecision(10)).toString();
}

async function adoptBalances(
  broker: CcxtBroker,
  differences: readonly BalanceDifference[],
  symbols: readonly string[],
  actual: Readonly<Record<string, number>>,
  markPrice: (symbol: string) => Promise<number | undefined>,
): Promise<void> {
  const markets = broker.exchange.markets ?? {};
  const state = broker.portfolio.toJSON();
  let cash = state.cash;
  const positions = state.positions.map((p) => ({ ...p }));
  for (const d of differences) {
    const symbol = symbols.find((s) => markets[s]?.base === d.currency);
    if (symbol === undefined) {
      // the quote currency (cash)
      cash = Math.max(0, cash + d.difference);
      continue;
    }
    const i = positions.findIndex((p) => p.symbol === symbol);
    if (i >= 0) {
      const p = positions[i] as (typeof positions)[number];
      const q = Math.max(0, p.quantity + d.difference);
      if (q <= 0) positions.splice(i, 1);
      else positions[i] = { ...p, quantity: q };
    } else if (d.difference > 0) {
      const price = (await markPrice(symbol)) ?? 0;
      if (price > 0) {
        positions.push({
          symbol,
          quantity: d.difference,
          entryPrice: price,
          openedAt: 0,
          markPrice: price,
          entryFees: 0,
        });
      }
    }
  }
  const next: PortfolioState = { ...state, cash, positions };
  broker.replacePortfolio(Portfolio.fromJSON(next));
  const expected = { ...broker.expectedBalances };
  for (const d of differences) expected[d.currency] = actual[d.currency] ?? 0;
  broker.setExpectedBalances(expected);
}
