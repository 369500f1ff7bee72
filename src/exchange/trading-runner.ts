/**
 * One runner for paper and live trading. Both use the same pieces as a
 * backtest — TradingEngine, Portfolio, the strategy — and differ only in the
 * broker: paper fills orders with the SAME SimulatedBroker the backtest uses
 * (fees and slippage on, a virtual balance), live sends them through
 * CcxtBroker. The market data source (CcxtMarketSource) is the same ccxt feed
 * in both modes.
 *
 *   exchange ──► CcxtMarketSource ──► TradingEngine ──► strategy ──► TradingGate ──► SimulatedBroker (paper)
 *                (warm-up, backfill,   (clock, events)                (history, kill     CcxtBroker (live)
 *                 live candles, ticks)                                 switch, ids)
 *
 * Start-up: load the journal (if any) and check it belongs to this run; load
 * markets once; live: reconcile with the exchange (reconcile.ts) or, on a
 * first start, snapshot the balances; then warm the strategy up on history
 * (no orders), and trade each newly closed candle. After every processed
 * candle (and every order change, live) the journal is rewritten atomically.
 *
 * Backfill choice: candles missed while the process was down (or while the
 * feed was interrupted) all go through the strategy, so its indicators and
 * predictor state are exactly what they would have been, but orders are only
 * placed for the newest closed candle: an order decided on a stale candle
 * would be filled at today's price for yesterday's reason. In paper mode the
 * missed candles still fill the simulated orders that were open (as the
 * exchange would have filled real ones).
 *
 * Stopping (`stop()`, or the abort signal): no new orders, queued broker work
 * settles, open orders are cancelled when `cancelOnExit`, the journal is
 * saved with status 'stopped', the strategy's onStop runs.
 */
import type { Exchange } from 'ccxt';
import { ConfigError, describeError, QuantflowError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { Strategy } from '../core/strategy.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Position, Signal, SignalAction, Timeframe } from '../core/types.js';
import { EventClock } from '../engine/clock.js';
import { Portfolio } from '../engine/portfolio.js';
import { SimulatedBroker, type SimulatedBrokerOptions } from '../engine/simulated-broker.js';
import { type StrategyErrorPolicy, TradingEngine } from '../engine/trading-engine.js';
import { withLock } from '../registry/lock-file.js';
import { CcxtBroker } from './ccxt-broker.js';
import { checkTradingMarkets, marketRules, takerFee } from './ccxt-exchange.js';
import { Redactor } from './credentials.js';
import {
  checkJournalMatches,
  JOURNAL_VERSION,
  type JournalState,
  TradingJournal,
  type TradingMode,
} from './journal.js';
import { KillSwitch, KillSwitchError, type KillSwitchLimits, type KillSwitchTrip } from './kill-switch.js';
import { CcxtMarketSource, type MarketSourceOptions, type MarketSourceStats } from './market-source.js';
import { type ReconcilePolicy, type ReconciliationReport, reconcileWithExchange } from './reconcile.js';
import { DEFAULT_RETRY, type RetryContext, type RetryPolicy, withRetry } from './retry.js';
import { type CandlePhase, TradingGate } from './trading-gate.js';

/** How the market source is driven; the fields mean what they mean on MarketSourceOptions. */
export type FeedOptions = Pick<
  MarketSourceOptions,
  | 'pollIntervalMs'
  | 'safetyPollMs'
  | 'websocket'
  | 'ticks'
  | 'tickPollMs'
  | 'tickerParams'
  | 'maxBackfillCandles'
  | 'pageLimit'
>;

export interface RunTradingOptions {
  readonly mode: TradingMode;
  /** A constructed ccxt exchange (see createCcxtExchange); markets are loaded here, once. */
  readonly exchange: Exchange;
  readonly symbols: readonly string[];
  readonly timeframe: Timeframe;
  readonly strategy: Strategy;
  /** Journal file; without one nothing survives a restart. */
  readonly journalFile?: string;
  /** Paper: the virtual starting balance (default 10,000). Live: the most quote currency the bot may use (default: the exchange balance). */
  readonly cash?: number;
  /** Paper fee per fill (default: the market's taker fee from ccxt, else 0.001). */
  readonly feeRate?: number;
  /** Paper slippage on market orders in basis points (default 5). */
  readonly slippageBps?: number;
  /** Warm-up candles per symbol (default: the strategy's or its predictor's `warmupCandles`, at least 300). */
  readonly warmupCandles?: number;
  readonly killSwitch?: KillSwitchLimits;
  /** Lift a tripped kill switch at start (operator override). */
  readonly resetKillSwitch?: boolean;
  /** Live restart: what to do when the exchange disagrees with the journal (default 'halt'). */
  readonly onMismatch?: ReconcilePolicy;
  /** Live restart: the operator confirmed the reported differences; adopt the exchange's state. */
  readonly confirmReconciliation?: boolean;
  /** Cancel open orders when stopping (default false: they stay on the exchange and are tracked). */
  readonly cancelOnExit?: boolean;
  readonly feed?: FeedOptions;
  readonly retry?: Partial<RetryPolicy>;
  /** Mixed into client order ids (two bots running one strategy on one account need different ones). */
  readonly orderIdNamespace?: string;
  /** Live: part of the budget kept back when sizing buys (default 0.005). */
  readonly sizingBuffer?: number;
  /** Masks secrets in logs and error events (default: the exchange's own credentials). */
  readonly redactor?: Redactor;
  readonly log?: Logger;
  /** Subscribe before the run to see candles, signals, orders, fills and errors. */
  readonly events?: EventBus;
  /** A status per processed candle after the warm-up. */
  readonly onStatus?: (status: CandleStatus) => void;
  readonly onReconciliation?: (report: ReconciliationReport) => void;
  /** Called once the warm-up (and, resuming, the replay of missed candles) has been processed. */
  readonly onReady?: (info: { warmupCandles: number; backfillCandles: number }) => void;
  /** Default 'stop': a throwing strategy stops the run (state saved). */
  readonly onStrategyError?: StrategyErrorPolicy;
  /** Aborting it stops the run gracefully. */
  readonly signal?: AbortSignal;
  /** For tests: how to wait between retries. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly onRetry?: RetryContext['onRetry'];
}

export interface CandleStatus {
  readonly mode: TradingMode;
  readonly phase: CandlePhase;
  /** Candle open time. */
  readonly time: number;
  readonly symbol: string;
  readonly close: number;
  /** The strategy's signal on this candle, if it gave one. */
  readonly signal: SignalAction | undefined;
  readonly prediction: number | undefined;
  /** Signed position after the candle. */
  readonly position: number;
  readonly equity: number;
  readonly cash: number;
  readonly openOrders: number;
  readonly killSwitch: boolean;
}

export interface TradingSummary {
  readonly mode: TradingMode;
  readonly exchange: string;
  readonly symbols: readonly string[];
  readonly timeframe: Timeframe;
  readonly strategy: string;
  readonly journalFile: string | undefined;
  readonly candles: { readonly warmup: number; readonly backfill: number; readonly live: number };
  readonly ticks: number;
  /** Signals given on backfilled and live candles (and ticks); warm-up ones are not counted. */
  readonly signals: number;
  readonly orders: {
    readonly submitted: number;
    readonly filled: number;
    readonly rejected: number;
    /** Decided on history candles, not sent. */
    readonly notSent: number;
    readonly blockedByKillSwitch: number;
    readonly open: number;
  };
  readonly fills: number;
  readonly errors: number;
  readonly cash: number;
  readonly equity: number;
  readonly positions: readonly Position[];
  readonly killSwitch: KillSwitchTrip | undefined;
  readonly reconciliation: ReconciliationReport | undefined;
  readonly feed: MarketSourceStats | undefined;
  readonly stoppedBy: 'stop' | 'feed-ended' | 'error';
}

export interface TradingSession {
  /** Settles when the run ends: the summary, or the error that ended it (state saved first). */
  readonly done: Promise<TradingSummary>;
  /** Resolves when the warm-up has been processed (rejects if the run fails before). */
  readonly ready: Promise<void>;
  readonly events: EventBus;
  /** Graceful stop; resolves with the summary. */
  stop(): Promise<TradingSummary>;
}

/** Start a paper or live run; see `TradingSession`. */
export function startTrading(options: RunTradingOptions): TradingSession {
  const events = options.events ?? new EventBus();
  const stopper = new AbortController();
  if (options.signal !== undefined) {
    if (options.signal.aborted) stopper.abort();
    else options.signal.addEventListener('abort', () => stopper.abort(), { once: true });
  }
  let readyResolve!: () => void;
  let readyReject!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  ready.catch(() => undefined);
  const run = new TradingRun(options, events, stopper.signal, readyResolve);
  const body = () => run.execute();
  const done = (
    options.journalFile !== undefined
      ? withLock(`${options.journalFile}.lock`, body, {
          timeoutMs: 1_000,
          staleMs: Number.MAX_SAFE_INTEGER,
          what: `journal ${options.journalFile} (another quantflow process trades with it)`,
        })
      : body()
  ).then(
    (summary) => {
      readyResolve();
      return summary;
    },
    (err: unknown) => {
      readyReject(err);
      throw err;
    },
  );
  done.catch(() => undefined);
  return {
    done,
    ready,
    events,
    stop: async () => {
      stopper.abort();
      run.requestStop();
      return done;
    },
  };
}

/** Run until stopped (options.signal) or failed; resolves with the summary. */
export function runTrading(options: RunTradingOptions): Promise<TradingSummary> {
  return startTrading(options).done;
}

/** One compact line per candle: time, symbol, close, signal/prediction, position, equity. */
export function formatStatus(s: CandleStatus): string {
  const time = new Date(s.time).toISOString().replace(':00.000Z', 'Z');
  const pred = s.prediction !== undefined ? ` p=${s.prediction.toFixed(3)}` : '';
  const signal = s.signal ?? '-';
  const phase = s.phase === 'live' ? '' : ` [${s.phase}]`;
  const kill = s.killSwitch ? ' KILL-SWITCH' : '';
  const orders = s.openOrders > 0 ? ` open=${s.openOrders}` : '';
  return (
    `${time} ${s.symbol} close=${num(s.close)} signal=${signal}${pred} pos=${num(s.position)} ` +
    `equity=${s.equity.toFixed(2)}${orders}${kill}${phase}`
  );
}

function num(x: number): string {
  return Number(x.toPrecision(8)).toString();
}

class TradingRun {
  private readonly o: RunTradingOptions;
  private readonly events: EventBus;
  private readonly signal: AbortSignal;
  private readonly onReady: () => void;
  private readonly log: Logger;
  private readonly redactor: Redactor;
  private readonly retry: RetryPolicy;
  private source: CcxtMarketSource | undefined;
  private stopRequested = false;
  private counters = { warmup: 0, backfill: 0, live: 0, ticks: 0, signals: 0, fills: 0, errors: 0 };

  constructor(options: RunTradingOptions, events: EventBus, signal: AbortSignal, onReady: () => void) {
    this.o = options;
    this.events = events;
    this.signal = signal;
    this.onReady = onReady;
    const exchange = options.exchange as Exchange & { apiKey?: string; secret?: string; password?: string };
    this.redactor = options.redactor ?? new Redactor([exchange.apiKey, exchange.secret, exchange.password]);
    this.log = this.redactor.logger(options.log ?? silentLogger);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
  }

  requestStop(): void {
    this.stopRequested = true;
    void this.source?.close();
  }

  async execute(): Promise<TradingSummary> {
    const o = this.o;
    const { exchange, symbols, timeframe, strategy, mode } = o;
    timeframeToMs(timeframe);
    if (mode !== 'paper' && mode !== 'live') throw new ConfigError(`unknown mode '${String(mode)}'`, { field: 'mode' });
    const ex = exchange as Exchange & { apiKey?: string };
    if (mode === 'live' && !(typeof ex.apiKey === 'string' && ex.apiKey !== '')) {
      throw new ConfigError(
        'live trading needs API credentials: set QUANTFLOW_API_KEY and QUANTFLOW_API_SECRET ' +
          `(or QUANTFLOW_${exchange.id.toUpperCase()}_API_KEY / _API_SECRET) in the environment`,
        { field: 'credentials' },
      );
    }
    const journal = o.journalFile !== undefined ? new TradingJournal(o.journalFile) : undefined;
    const saved = await journal?.load();
    if (saved !== undefined && journal !== undefined) {
      checkJournalMatches(saved, { mode, exchange: exchange.id, symbols, timeframe }, journal.file);
      if (saved.strategy !== strategy.name) {
        // allowed (the positions are the account's), but its client order ids and decisions will differ
        this.log.warn('the journal was written by another strategy', { was: saved.strategy, now: strategy.name });
      }
      this.log.info('resuming from the journal', {
        file: journal.file,
        savedAt: new Date(saved.savedAt).toISOString(),
        status: saved.status,
        lastCandle: saved.lastCandle,
      });
    }
    const retryCtx: RetryContext = {
      exchange,
      policy: this.retry,
      log: this.log,
      signal: this.signal,
      ...(o.sleep !== undefined ? { sleep: o.sleep } : {}),
      ...(o.onRetry !== undefined ? { onRetry: o.onRetry } : {}),
    };
    await withRetry('loadMarkets', () => exchange.loadMarkets(), retryCtx);
    const quote = checkTradingMarkets(exchange, symbols, timeframe);

    const events = this.events;
    let phase: CandlePhase = 'warmup';
    events.on('signal', () => {
      if (phase !== 'warmup') this.counters.signals++;
    });
    events.on('fill', () => this.counters.fills++);
    events.on('error', (e) => {
      this.counters.errors++;
      this.log.warn('error event', {
        context: e.context,
        symbol: e.symbol,
        error: this.redactor.text(e.error.message),
      });
    });
    const clock = new EventClock(saved?.engineTime ?? 0);
    const killSwitch = new KillSwitch(o.killSwitch ?? {}, saved?.killSwitch);
    const lastCandle: Record<string, number> = { ...saved?.lastCandle };
    let status: JournalState['status'] = 'running';
    let reconciliation: ReconciliationReport | undefined = saved?.lastReconciliation;

    // ---- the broker: the only thing paper and live do differently ----
    let portfolio: Portfolio;
    let sim: SimulatedBroker | undefined;
    let live: CcxtBroker | undefined;
    let ready = false;
    const snapshot = (): JournalState => ({
      version: JOURNAL_VERSION,
      mode,
      exchange: exchange.id,
      symbols: [...symbols],
      timeframe,
      strategy: strategy.name,
      status,
      savedAt: Date.now(),
      engineTime: clock.now(),
      lastCandle: { ...lastCandle },
      portfolio: (live?.portfolio ?? portfolio).toJSON(),
      broker:
        live !== undefined
          ? { kind: 'ccxt', state: live.toJSON() }
          : { kind: 'simulated', state: (sim as SimulatedBroker).toJSON() },
      killSwitch: killSwitch.toJSON(),
      ...(reconciliation !== undefined ? { lastReconciliation: reconciliation } : {}),
    });
    const save = async (): Promise<void> => {
      if (journal === undefined || !ready) return;
      await journal.save(snapshot());
    };

    if (mode === 'paper') {
      portfolio = saved !== undefined ? Portfolio.fromJSON(saved.portfolio) : new Portfolio(o.cash ?? 10_000);
      const markets = Object.fromEntries(symbols.map((s) => [s, marketRules(exchange, s)]));
      const simOptions: SimulatedBrokerOptions = {
        portfolio,
        events,
        clock,
        feeRate: o.feeRate ?? takerFee(exchange, symbols[0] as string),
        slippageBps: o.slippageBps ?? 5,
        allowShort: false,
        fractional: true,
        markets,
        idPrefix: 'paper-',
      };
      sim =
        saved?.broker.kind === 'simulated'
          ? SimulatedBroker.fromJSON(saved.broker.state, simOptions)
          : new SimulatedBroker(simOptions);
    } else {
      const start = saved !== undefined ? Portfolio.fromJSON(saved.portfolio) : new Portfolio(1); // replaced below on a first start
      live = new CcxtBroker({
        exchange,
        portfolio: start,
        events,
        clock,
        log: this.log,
        redactor: this.redactor,
        retry: this.retry,
        persist: save,
        ...(o.sizingBuffer !== undefined ? { sizingBuffer: o.sizingBuffer } : {}),
        // no stop signal: orders in flight must settle (and cancel-on-exit must work) after a stop
        ...(o.sleep !== undefined ? { sleep: o.sleep } : {}),
        ...(o.onRetry !== undefined ? { onRetry: o.onRetry } : {}),
        ...(saved?.broker.kind === 'ccxt' ? { state: saved.broker.state } : {}),
      });
      const currencies = [quote, ...symbols.map((s) => exchange.markets?.[s]?.base as string)];
      if (saved === undefined) {
        const { total: totals, free } = await live.fetchBalances();
        const available = free[quote] ?? 0;
        const cash = Math.min(o.cash ?? available, available);
        if (!(cash > 0)) {
          throw new ConfigError(`no free ${quote} balance on ${exchange.id} to trade with`, { field: 'cash' });
        }
        if (o.cash !== undefined && o.cash > available) {
          this.log.warn('--cash is more than the exchange balance: using the balance', { cash: o.cash, available });
        }
        live.replacePortfolio(new Portfolio(cash));
        live.setExpectedBalances(Object.fromEntries(currencies.map((c) => [c, totals[c] ?? 0])));
        const foreign = await live.unknownOpenOrders(symbols);
        if (foreign.length > 0) {
          this.log.warn('open orders on these symbols that this bot did not place (left alone)', {
            count: foreign.length,
          });
        }
      } else {
        try {
          reconciliation = await reconcileWithExchange({
            broker: live,
            symbols,
            currencies,
            journalTime: saved.engineTime,
            policy: o.onMismatch ?? 'halt',
            confirm: o.confirmReconciliation === true,
            markPrice: async (s) => {
              const t = await withRetry(`fetchTicker ${s}`, () => exchange.fetchTicker(s), retryCtx).catch(
                () => undefined,
              );
              return t?.last ?? undefined;
            },
            log: this.log,
          });
          o.onReconciliation?.(reconciliation);
        } catch (err) {
          const report = (err as { report?: ReconciliationReport }).report;
          if (report !== undefined) {
            reconciliation = report;
            o.onReconciliation?.(report);
            status = 'halted';
            ready = true; // save the facts found (fills applied) with the halted status
            portfolio = live.portfolio;
            await save();
          }
          throw err;
        }
      }
      portfolio = live.portfolio;
    }
    if (o.resetKillSwitch === true) {
      killSwitch.reset(portfolio.equity, clock.now());
      this.log.warn('kill switch reset by the operator');
    }

    const gate = new TradingGate({
      inner: (live ?? sim) as CcxtBroker | SimulatedBroker,
      portfolio,
      events,
      clock,
      killSwitch,
      strategyName: strategy.name,
      ...(o.orderIdNamespace !== undefined ? { namespace: o.orderIdNamespace } : {}),
      lastProcessed: lastCandle,
      log: this.log,
      ...(live !== undefined ? { innerIdle: () => live.idle() } : {}),
    });
    const engine = new TradingEngine({
      strategy,
      broker: gate,
      portfolio,
      events,
      clock,
      log: this.log,
      recordEquity: false,
      onStrategyError: o.onStrategyError ?? 'stop',
    });
    const lastSignal = new Map<string, Signal>();
    events.on('signal', (s) => lastSignal.set(s.symbol, s));
    const wasTripped = () => killSwitch.tripped !== undefined;

    const feed = o.feed ?? {};
    const source = new CcxtMarketSource({
      exchange,
      symbols,
      timeframe,
      warmupCandles: o.warmupCandles ?? defaultWarmup(strategy),
      ...(saved !== undefined ? { lastProcessed: saved.lastCandle } : {}),
      ...(feed.pollIntervalMs !== undefined ? { pollIntervalMs: feed.pollIntervalMs } : {}),
      ...(feed.safetyPollMs !== undefined ? { safetyPollMs: feed.safetyPollMs } : {}),
      ...(feed.websocket !== undefined ? { websocket: feed.websocket } : {}),
      ...(feed.ticks !== undefined ? { ticks: feed.ticks } : {}),
      ...(feed.tickPollMs !== undefined ? { tickPollMs: feed.tickPollMs } : {}),
      ...(feed.tickerParams !== undefined ? { tickerParams: feed.tickerParams } : {}),
      ...(feed.maxBackfillCandles !== undefined ? { maxBackfillCandles: feed.maxBackfillCandles } : {}),
      ...(feed.pageLimit !== undefined ? { pageLimit: feed.pageLimit } : {}),
      retry: this.retry,
      log: this.log,
      redactor: this.redactor,
      events,
      ...(o.sleep !== undefined ? { sleep: o.sleep } : {}),
      ...(o.onRetry !== undefined ? { onRetry: o.onRetry } : {}),
    });
    this.source = source;

    ready = true;
    await save();
    await engine.start();
    let stoppedBy: TradingSummary['stoppedBy'] = 'stop';
    let failure: unknown;
    try {
      if (this.signal.aborted || this.stopRequested) throw new StopNow();
      const startup = await source.start();
      if (this.signal.aborted || this.stopRequested) throw new StopNow();
      let startupLeft = startup;
      const markReady = () => {
        // backfill here counts every missed candle replayed, the newest (traded) one included
        const info = {
          warmupCandles: this.counters.warmup,
          backfillCandles: this.counters.backfill + this.counters.live,
        };
        this.log.info('warm-up done: trading', info);
        o.onReady?.(info);
        this.onReady();
      };
      if (startupLeft === 0) markReady();
      const onAbort = () => void source.close();
      this.signal.addEventListener('abort', onAbort, { once: true });
      for await (const ev of source) {
        if (this.signal.aborted || this.stopRequested) break;
        if (ev.kind === 'tick') {
          phase = startupLeft > 0 ? 'warmup' : 'live';
          gate.phase = phase;
          const p = engine.processTick(ev.tick);
          if (p !== undefined) await p;
          await gate.idle();
          this.counters.ticks++;
          const before = wasTripped();
          killSwitch.update(portfolio.equity, clock.now());
          // a trip (or its lifting) is saved at once; new peaks wait for the next candle's save
          if (before !== wasTripped()) {
            this.announceTrip(before, killSwitch, events);
            await save();
          }
          continue;
        }
        const { candle } = ev;
        phase = ev.phase;
        gate.phase = phase;
        if (phase === 'live' && live !== undefined) await live.syncOpenOrders();
        const p = engine.processCandle(candle);
        if (p !== undefined) await p;
        await gate.idle();
        this.counters[phase]++;
        const prev = lastCandle[candle.symbol];
        if (prev === undefined || candle.timestamp > prev) lastCandle[candle.symbol] = candle.timestamp;
        if (phase !== 'warmup') {
          const before = wasTripped();
          killSwitch.update(portfolio.equity, clock.now());
          this.announceTrip(before, killSwitch, events);
        }
        if (phase !== 'warmup' || startupLeft <= 1) await save();
        if (phase !== 'warmup') {
          const s = lastSignal.get(candle.symbol);
          const onThis = s !== undefined && s.timestamp === candle.timestamp ? s : undefined;
          o.onStatus?.({
            mode,
            phase,
            time: candle.timestamp,
            symbol: candle.symbol,
            close: candle.close,
            signal: onThis?.action,
            prediction: onThis?.prediction?.prediction,
            position: portfolio.position(candle.symbol)?.quantity ?? 0,
            equity: portfolio.equity,
            cash: portfolio.cash,
            openOrders: gate.openCount(),
            killSwitch: killSwitch.tripped !== undefined,
          });
        }
        if (startupLeft > 0) {
          startupLeft--;
          if (startupLeft === 0) markReady();
        }
      }
      this.signal.removeEventListener('abort', onAbort);
      if (source.failure !== undefined) {
        stoppedBy = 'feed-ended';
        failure = source.failure;
      }
    } catch (err) {
      if (!(err instanceof StopNow)) {
        stoppedBy = 'error';
        failure = err;
      }
    }

    // ---- graceful stop ----
    gate.stop();
    await source.close();
    await gate.idle().catch(() => undefined);
    if (o.cancelOnExit === true) {
      const open = gate.openOrders().length;
      if (open > 0) {
        this.log.info('cancelling open orders on exit', { count: open });
        if (live !== undefined) await live.cancelAll().catch(() => 0);
        else sim?.cancelAll();
      }
    }
    status = 'stopped';
    await save();
    await engine.stop().catch((err: unknown) => {
      failure ??= err;
    });
    await journal?.flush();
    const summary = this.summary(portfolio, gate, killSwitch, reconciliation, stoppedBy, live, sim);
    if (failure !== undefined) {
      const error = this.redactor.error(failure);
      this.log.error('trading stopped by an error (state saved)', { error: describeError(error) });
      if (failure instanceof QuantflowError) throw failure;
      throw error;
    }
    return summary;
  }

  private announceTrip(before: boolean, killSwitch: KillSwitch, events: EventBus): void {
    const trip = killSwitch.tripped;
    if (before || trip === undefined) return;
    this.log.error('kill switch tripped: no new entries until the next UTC day', { ...trip });
    events.emit('error', { error: new KillSwitchError(trip.reason), context: 'kill-switch', timestamp: trip.at });
  }

  private summary(
    portfolio: Portfolio,
    gate: TradingGate,
    killSwitch: KillSwitch,
    reconciliation: ReconciliationReport | undefined,
    stoppedBy: TradingSummary['stoppedBy'],
    live: CcxtBroker | undefined,
    sim: SimulatedBroker | undefined,
  ): TradingSummary {
    const o = this.o;
    const orders = live !== undefined ? live.allOrders() : (sim?.orders() ?? []);
    return {
      mode: o.mode,
      exchange: o.exchange.id,
      symbols: o.symbols,
      timeframe: o.timeframe,
      strategy: o.strategy.name,
      journalFile: o.journalFile,
      candles: { warmup: this.counters.warmup, backfill: this.counters.backfill, live: this.counters.live },
      ticks: this.counters.ticks,
      signals: this.counters.signals,
      orders: {
        submitted: orders.length,
        filled: orders.filter((x) => x.filledQuantity > 0).length,
        rejected: orders.filter((x) => x.status === 'rejected').length,
        notSent: gate.suppressed,
        blockedByKillSwitch: gate.blockedByKillSwitch,
        open: gate.openCount(),
      },
      fills: this.counters.fills,
      errors: this.counters.errors,
      cash: portfolio.cash,
      equity: portfolio.equity,
      positions: portfolio.positions().map((p) => ({ ...p })),
      killSwitch: killSwitch.tripped,
      reconciliation,
      feed: this.source?.stats,
      stoppedBy,
    };
  }
}

class StopNow extends Error {}

/**
 * Warm-up candles per symbol: the strategy's declared need
 * (`strategy.warmupCandles`), at least 300.
 */
export function defaultWarmup(strategy: Strategy): number {
  const need = strategy.warmupCandles;
  return typeof need === 'number' && Number.isInteger(need) && need >= 0 ? Math.max(need, 300) : 300;
}
