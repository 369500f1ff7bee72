/**
 * Paper and live trading: the backtest's session loop (engine/session.ts)
 * driven by the ccxt feed. The engine, its order gate (client ids, replayed
 * candles, the kill switch and other risk rules) and the strategy are the
 * backtest's; paper fills with the backtest's SimulatedBroker (built by the
 * same createSimulation, fees and slippage on, a virtual balance), live sends
 * through CcxtBroker. What is live-specific stays here: the journal, the
 * reconciliation with the exchange, the ccxt feed, the status lines.
 *
 *   exchange ──► CcxtMarketSource ──► runSession ──► TradingEngine ──► strategy ──► OrderGate ──► SimulatedBroker (paper)
 *                (warm-up, backfill,   (phases, risk   (fills, marks)                 (ids, held-back     CcxtBroker (live)
 *                 live candles, ticks)  rules, catch-up)                               decisions, rules)
 *
 * Start-up: load the journal (checked field by field) and check it belongs to
 * this run and to the exchange's clock; refuse a warm-up below what the
 * strategy declares it needs; load markets once; live: reconcile with the
 * exchange (reconcile.ts) or, on a first start, snapshot the balances; then
 * warm the strategy up on history and replay the candles missed while down,
 * with their orders held back; at the newest candle the gate acts on the
 * difference between the position the strategy then wants and the one held
 * (or halts, `replayedDecisions: 'halt'`), and every decision that fell in
 * the downtime is logged at info level. After every processed candle (and
 * every order change, live) the journal is rewritten atomically.
 *
 * Stopping (`stop()`, or the abort signal): no new orders, queued broker work
 * settles, open orders are cancelled when `cancelOnExit`, the feed and its
 * websockets are closed, the journal is saved with status 'stopped', the
 * strategy's onStop runs.
 */
import type { Exchange } from 'ccxt';
import { ConfigError, describeError, QuantflowError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { Strategy } from '../core/strategy.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Position, Signal, SignalAction, Timeframe } from '../core/types.js';
import { EventClock } from '../engine/clock.js';
import { KillSwitch, type KillSwitchLimits, type KillSwitchTrip, killSwitchRule } from '../engine/kill-switch.js';
import { type CandlePhase, type ReplayedDecisionPolicy, ReplayedDecisionsError } from '../engine/order-gate.js';
import { Portfolio } from '../engine/portfolio.js';
import { runSession } from '../engine/session.js';
import { createSimulation, type Simulation } from '../engine/simulation.js';
import { type StrategyErrorPolicy, TradingEngine } from '../engine/trading-engine.js';
import { withLock } from '../registry/lock-file.js';
import { CcxtBroker } from './ccxt-broker.js';
import { checkTradingMarkets, exchangeClock, marketRules, takerFee } from './ccxt-exchange.js';
import { Redactor } from './credentials.js';
import {
  checkJournalMatches,
  checkJournalTime,
  JOURNAL_VERSION,
  type JournalState,
  TradingJournal,
  type TradingMode,
} from './journal.js';
import { CcxtMarketSource, type MarketSourceOptions, type MarketSourceStats } from './market-source.js';
import { type ReconcilePolicy, type ReconciliationReport, reconcileWithExchange } from './reconcile.js';
import { DEFAULT_RETRY, type RetryContext, type RetryPolicy, withRetry } from './retry.js';

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
  | 'maxJumpRanges'
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
  /**
   * Warm-up candles per symbol (default: the strategy's `warmupCandles`, at
   * least 300). Below the strategy's own `warmupCandles` it is refused.
   */
  readonly warmupCandles?: number;
  readonly killSwitch?: KillSwitchLimits;
  /** Lift a tripped kill switch at start (operator override). */
  readonly resetKillSwitch?: boolean;
  /** Live restart: what to do when the exchange disagrees with the journal (default 'halt'). */
  readonly onMismatch?: ReconcilePolicy;
  /** Live restart: the operator confirmed the reported differences; adopt the exchange's state. */
  readonly confirmReconciliation?: boolean;
  /**
   * Decisions made on candles replayed after a downtime that leave the
   * position unlike the strategy wants: 'act' on the difference at the newest
   * candle (default) or 'halt' with a message naming them.
   */
  readonly replayedDecisions?: ReplayedDecisionPolicy;
  /** Cancel open orders when stopping (default false: they stay on the exchange and are tracked). */
  readonly cancelOnExit?: boolean;
  readonly feed?: FeedOptions;
  readonly retry?: Partial<RetryPolicy>;
  /** Mixed into client order ids (two bots running one strategy on one account need different ones). */
  readonly orderIdNamespace?: string;
  /** Live: part of the budget kept back when sizing buys (default 0.005). */
  readonly sizingBuffer?: number;
  /** Live: how long after a send the exchange may still execute an order (default: its recvWindow + 1 s). */
  readonly acceptanceWindowMs?: number;
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
    /** Decided on history or missed candles, held back. */
    readonly notSent: number;
    /** Sent at the newest candle to act on decisions made on replayed candles. */
    readonly caughtUp: number;
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

/**
 * Warm-up candles per symbol: the strategy's declared need
 * (`strategy.warmupCandles`), at least 300.
 */
export function defaultWarmup(strategy: Strategy): number {
  const need = strategy.warmupCandles;
  return typeof need === 'number' && Number.isInteger(need) && need >= 0 ? Math.max(need, 300) : 300;
}

/** Refuses a warm-up below the strategy's declared need, naming both numbers. */
export function checkWarmup(strategy: Strategy, warmup: number): void {
  const need = strategy.warmupCandles ?? 0;
  if (warmup < need) {
    throw new ConfigError(
      `--warmup ${warmup} is below the ${need} candles ${strategy.name} needs before its decisions mean anything ` +
        `(with fewer, it decides from incomplete indicators and, after a restart, repeats or misses decisions): ` +
        `give --warmup ${need} or more`,
      { field: 'warmup' },
    );
  }
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
    const warmup = o.warmupCandles ?? defaultWarmup(strategy);
    checkWarmup(strategy, warmup);
    const journal = o.journalFile !== undefined ? new TradingJournal(o.journalFile) : undefined;
    const saved = await journal?.load();
    if (saved !== undefined && journal !== undefined) {
      checkJournalMatches(saved, { mode, exchange: exchange.id, symbols, timeframe }, journal.file);
      if (saved.strategy !== strategy.name) {
        // allowed (the positions are the account's), but its client order ids and decisions will differ
        this.log.warn('the journal was written by another strategy', { was: saved.strategy, now: strategy.name });
      }
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
    if (saved !== undefined && journal !== undefined) {
      checkJournalTime(saved, await exchangeClock(exchange, (what, fn) => withRetry(what, fn, retryCtx)), journal.file);
      this.log.info('resuming from the journal', {
        file: journal.file,
        savedAt: new Date(saved.savedAt).toISOString(),
        status: saved.status,
        lastCandle: saved.lastCandle,
      });
    }

    const events = this.events;
    events.on('fill', () => this.counters.fills++);
    events.on('error', (e) => {
      this.counters.errors++;
      this.log.warn('error event', {
        context: e.context,
        symbol: e.symbol,
        error: this.redactor.text(e.error.message),
      });
    });
    const killSwitch = new KillSwitch(o.killSwitch ?? {}, saved?.killSwitch);
    const rules = [killSwitchRule(killSwitch)];
    const lastCandle: Record<string, number> = { ...saved?.lastCandle };
    let status: JournalState['status'] = 'running';
    let reconciliation: ReconciliationReport | undefined = saved?.lastReconciliation;

    // ---- the broker: the only thing paper and live do differently ----
    let sim: Simulation | undefined;
    let live: CcxtBroker | undefined;
    let engine: TradingEngine | undefined;
    let ready = false;
    const portfolio = (): Portfolio => (live !== undefined ? live.portfolio : (sim as Simulation).portfolio);
    const snapshot = (clock: EventClock): JournalState => ({
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
      portfolio: portfolio().toJSON(),
      broker:
        live !== undefined
          ? { kind: 'ccxt', state: live.toJSON() }
          : { kind: 'simulated', state: (sim as Simulation).broker.toJSON() },
      killSwitch: killSwitch.toJSON(),
      ...(reconciliation !== undefined ? { lastReconciliation: reconciliation } : {}),
    });
    let clock: EventClock;
    const save = async (): Promise<void> => {
      if (journal === undefined || !ready) return;
      await journal.save(snapshot(clock));
    };
    const engineOptions = {
      log: this.log,
      recordEquity: false,
      onStrategyError: o.onStrategyError ?? 'stop',
      rules,
      ...(o.orderIdNamespace !== undefined ? { orderIdNamespace: o.orderIdNamespace } : {}),
    } as const;

    if (mode === 'paper') {
      if (saved !== undefined && saved.broker.kind !== 'simulated')
        throw new ConfigError('unreachable: checked journal');
      sim = createSimulation(
        {
          initialCash: o.cash ?? 10_000,
          feeRate: o.feeRate ?? takerFee(exchange, symbols[0] as string),
          slippageBps: o.slippageBps ?? 5,
          allowShort: false,
          fractional: true,
          closeAtEnd: false,
          markets: Object.fromEntries(symbols.map((s) => [s, marketRules(exchange, s)])),
        },
        strategy,
        {
          ...engineOptions,
          events,
          idPrefix: 'paper-',
          ...(saved?.broker.kind === 'simulated'
            ? { resume: { portfolio: saved.portfolio, broker: saved.broker.state, time: saved.engineTime } }
            : {}),
        },
      );
      engine = sim.engine;
      clock = sim.clock;
    } else {
      clock = new EventClock(saved?.engineTime ?? 0);
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
        ...(o.acceptanceWindowMs !== undefined ? { acceptanceWindowMs: o.acceptanceWindowMs } : {}),
        // no stop signal: orders in flight must settle (and cancel-on-exit must work) after a stop
        ...(o.sleep !== undefined ? { sleep: o.sleep } : {}),
        ...(o.onRetry !== undefined ? { onRetry: o.onRetry } : {}),
        ...(saved?.broker.kind === 'ccxt' ? { state: saved.broker.state } : {}),
      });
      await this.openLiveAccount(live, saved, quote, (report, halted) => {
        reconciliation = report;
        o.onReconciliation?.(report);
        if (halted) status = 'halted';
      }).catch(async (err: unknown) => {
        if (status === 'halted') {
          ready = true; // save the facts found (fills applied) with the halted status
          await save();
        }
        throw err;
      });
      engine = new TradingEngine({
        ...engineOptions,
        strategy,
        broker: live,
        portfolio: live.portfolio,
        events,
        clock,
      });
    }
    if (o.resetKillSwitch === true) {
      killSwitch.reset(portfolio().equity, clock.now());
      this.log.warn('kill switch reset by the operator');
    }
    const gate = engine.gate;
    events.on('signal', () => {
      if (gate.phase !== 'warmup') this.counters.signals++;
    });
    const lastSignal = new Map<string, Signal>();
    events.on('signal', (s) => lastSignal.set(s.symbol, s));

    const feed = o.feed ?? {};
    const source = new CcxtMarketSource({
      ...feed,
      exchange,
      symbols,
      timeframe,
      warmupCandles: warmup,
      ...(saved !== undefined ? { lastProcessed: saved.lastCandle } : {}),
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
    let stoppedBy: TradingSummary['stoppedBy'] = 'stop';
    let failure: unknown;
    let synced = false;
    /** Candles per symbol before the first `synced`: the history the strategy started from. */
    const history = new Map<string, number>();
    let tripped = killSwitch.tripped !== undefined;
    try {
      if (this.signal.aborted || this.stopRequested) throw new StopNow();
      await source.start();
      if (this.signal.aborted || this.stopRequested) throw new StopNow();
      const onAbort = () => void source.close();
      this.signal.addEventListener('abort', onAbort, { once: true });
      await runSession(
        engine,
        source,
        {
          beforeCandle:
            live !== undefined ? (_c, phase) => (phase === 'live' ? live.syncOpenOrders() : undefined) : undefined,
          afterCandle: (candle, phase) => {
            this.counters[phase]++;
            if (!synced) history.set(candle.symbol, (history.get(candle.symbol) ?? 0) + 1);
            const prev = lastCandle[candle.symbol];
            if (prev === undefined || candle.timestamp > prev) lastCandle[candle.symbol] = candle.timestamp;
            if (phase === 'warmup') return undefined;
            tripped = killSwitch.tripped !== undefined;
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
              position: portfolio().position(candle.symbol)?.quantity ?? 0,
              equity: portfolio().equity,
              cash: portfolio().cash,
              openOrders: gate.openOrders().length,
              killSwitch: tripped,
            });
            return save();
          },
          afterTick: () => {
            this.counters.ticks++;
            // a trip (or its lifting) is saved at once; new peaks wait for the next candle's save
            if (tripped === (killSwitch.tripped !== undefined)) return undefined;
            tripped = !tripped;
            return save();
          },
          onSynced: async () => {
            await save();
            if (synced) return;
            synced = true;
            const need = strategy.warmupCandles ?? 0;
            for (const symbol of symbols) {
              const had = history.get(symbol) ?? 0;
              if (had < need) {
                this.log.warn(
                  'the exchange has less history than the strategy needs: its first decisions may be unsound',
                  {
                    symbol,
                    candles: had,
                    needs: need,
                  },
                );
              }
            }
            // backfill here counts every missed candle replayed, the newest (traded) one included
            const info = {
              warmupCandles: this.counters.warmup,
              backfillCandles: this.counters.backfill + this.counters.live,
            };
            this.log.info('warm-up done: trading', info);
            o.onReady?.(info);
            this.onReady();
          },
        },
        { signal: this.signal, replayedDecisions: o.replayedDecisions ?? 'act' },
      );
      this.signal.removeEventListener('abort', onAbort);
      if (source.failure !== undefined) {
        stoppedBy = 'feed-ended';
        failure = source.failure;
      }
    } catch (err) {
      if (!(err instanceof StopNow)) {
        stoppedBy = 'error';
        failure = err;
        if (err instanceof ReplayedDecisionsError) {
          // nothing was acted on: the missed candles stay missed, so the next start replays them again
          status = 'halted';
          for (const symbol of symbols) {
            const before = saved?.lastCandle[symbol];
            if (before === undefined) delete lastCandle[symbol];
            else lastCandle[symbol] = before;
          }
        }
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
        else sim?.broker.cancelAll();
      }
    }
    if (status === 'running') status = 'stopped';
    await save();
    await engine.stop().catch((err: unknown) => {
      failure ??= err;
    });
    await journal?.flush();
    const summary = this.summary(portfolio(), engine, killSwitch, reconciliation, stoppedBy, live, sim);
    if (failure !== undefined) {
      const error = this.redactor.error(failure);
      this.log.error('trading stopped by an error (state saved)', { error: describeError(error) });
      if (failure instanceof QuantflowError) throw failure;
      throw error;
    }
    return summary;
  }

  /**
   * Live: on a first start, take the bot's cash from the exchange's free
   * balance and snapshot the balances; on a restart, reconcile with the
   * exchange (`report` gets the report; `halted` when the policy refuses to trade).
   */
  private async openLiveAccount(
    live: CcxtBroker,
    saved: JournalState | undefined,
    quote: string,
    report: (r: ReconciliationReport, halted: boolean) => void,
  ): Promise<void> {
    const { exchange, symbols } = this.o;
    const currencies = [quote, ...symbols.map((s) => exchange.markets?.[s]?.base as string)];
    if (saved === undefined) {
      const { total: totals, free } = await live.fetchBalances();
      const available = free[quote] ?? 0;
      const cash = Math.min(this.o.cash ?? available, available);
      if (!(cash > 0)) {
        throw new ConfigError(`no free ${quote} balance on ${exchange.id} to trade with`, { field: 'cash' });
      }
      if (this.o.cash !== undefined && this.o.cash > available) {
        this.log.warn('--cash is more than the exchange balance: using the balance', { cash: this.o.cash, available });
      }
      live.replacePortfolio(new Portfolio(cash));
      live.setExpectedBalances(Object.fromEntries(currencies.map((c) => [c, totals[c] ?? 0])));
      const foreign = await live.unknownOpenOrders(symbols);
      if (foreign.length > 0) {
        this.log.warn('open orders on these symbols that this bot did not place (left alone)', {
          count: foreign.length,
        });
      }
      return;
    }
    const retryCtx: RetryContext = { exchange, policy: this.retry, log: this.log, signal: this.signal };
    try {
      report(
        await reconcileWithExchange({
          broker: live,
          symbols,
          currencies,
          journalTime: saved.engineTime,
          policy: this.o.onMismatch ?? 'halt',
          confirm: this.o.confirmReconciliation === true,
          markPrice: async (s) => {
            const t = await withRetry(`fetchTicker ${s}`, () => exchange.fetchTicker(s), retryCtx).catch(
              () => undefined,
            );
            return t?.last ?? undefined;
          },
          log: this.log,
        }),
        false,
      );
    } catch (err) {
      const found = (err as { report?: ReconciliationReport }).report;
      if (found !== undefined) report(found, true);
      throw err;
    }
  }

  private summary(
    portfolio: Portfolio,
    engine: TradingEngine,
    killSwitch: KillSwitch,
    reconciliation: ReconciliationReport | undefined,
    stoppedBy: TradingSummary['stoppedBy'],
    live: CcxtBroker | undefined,
    sim: Simulation | undefined,
  ): TradingSummary {
    const o = this.o;
    const gate = engine.gate;
    const orders = live !== undefined ? live.allOrders() : (sim?.broker.orders() ?? []);
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
        notSent: gate.heldBack,
        caughtUp: gate.caughtUp,
        blockedByKillSwitch: gate.refusedBy('kill-switch'),
        open: gate.openOrders().length,
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
