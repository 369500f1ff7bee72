/**
 * The event core shared by backtest, paper and live trading. The session loop
 * (session.ts) pushes closed candles and ticks in time order; the engine lets
 * the broker fill what the candle allows, marks the portfolio, publishes the
 * event and calls the strategy. The strategy's orders go through the engine's
 * order gate (order-gate.ts: client ids, replayed candles, risk rules) to the
 * broker, which only executes.
 *
 * Driving it by hand (runSession does this, and more):
 *   await engine.start();
 *   for each closed candle:  const p = engine.processCandle(candle); if (p) await p;
 *   for each tick:           const p = engine.processTick(tick); if (p) await p;
 *   engine.closeAll('end');  // optional
 *   await engine.stop();
 *
 * `processCandle` returns undefined when the strategy's hook returned
 * synchronously (no promise, no microtask on the hot path) and a promise only
 * when the hook returned one; the caller must await it before the next event.
 */
import { DataError, describeError, QuantflowError } from '../core/errors.js';
import { EventBus } from '../core/events.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { Strategy, StrategyContext } from '../core/strategy.js';
import { timeframeToMs } from '../core/timeframe.js';
import type { Candle, PortfolioView, Tick } from '../core/types.js';
import { EventClock } from './clock.js';
import { EquityCurve } from './equity-curve.js';
import { type EngineBroker, OrderGate, type RiskRule } from './order-gate.js';

/** What the engine needs of the account beyond the strategy-facing `PortfolioView`. */
export interface EnginePortfolio extends PortfolioView {
  mark(symbol: string, price: number): void;
  /** Sum of |position value|, for the exposure column of the equity curve. */
  readonly grossExposure: number;
}

/** What to do when the strategy throws: stop the run with a `StrategyError` (default), or report and go on. */
export type StrategyErrorPolicy = 'stop' | 'continue';

export interface TradingEngineOptions {
  readonly strategy: Strategy;
  /** Executes orders; the strategy reaches it only through the engine's order gate. */
  readonly broker: EngineBroker;
  readonly portfolio: EnginePortfolio;
  /** Risk rules of the order gate (e.g. `killSwitchRule`), in every mode. */
  readonly rules?: readonly RiskRule[];
  /** Mixed into client order ids (two bots with one strategy on one account need different ones). */
  readonly orderIdNamespace?: string;
  /** Shared with the broker so order and fill events reach the same observers. */
  readonly events?: EventBus;
  /** Shared with the broker; the engine sets it to each event's time. */
  readonly clock?: EventClock;
  readonly log?: Logger;
  readonly onStrategyError?: StrategyErrorPolicy;
  /** Record the equity curve (default true). */
  readonly recordEquity?: boolean;
  /** Expected number of distinct timestamps, to size the equity curve once. */
  readonly expectedTimestamps?: number;
}

/** The strategy threw or rejected; the message says which hook, which symbol and which candle time. */
export class StrategyError extends QuantflowError {
  constructor(message: string, where: { symbol?: string } = {}, options?: ErrorOptions) {
    super('STRATEGY_ERROR', message, where, options);
  }
}

export type EngineState = 'idle' | 'running' | 'failed' | 'stopped';

const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms));

function isPromiseLike(value: unknown): value is PromiseLike<void> {
  return value !== undefined && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

export class TradingEngine {
  readonly strategy: Strategy;
  /** The executing broker (the strategy sees `gate`). */
  readonly broker: EngineBroker;
  /** The order path in front of the broker: what the strategy's `ctx.broker` is. */
  readonly gate: OrderGate;
  readonly portfolio: EnginePortfolio;
  readonly events: EventBus;
  readonly clock: EventClock;
  readonly log: Logger;
  readonly context: StrategyContext;
  readonly equityCurve: EquityCurve;
  private readonly policy: StrategyErrorPolicy;
  private readonly recordEquity: boolean;
  private readonly brokerSeesCandles: boolean;
  private _state: EngineState = 'idle';
  private _candles = 0;
  private _ticks = 0;
  private currentTime = Number.NEGATIVE_INFINITY;
  private pointPending = false;
  /** A strategy promise is outstanding: the next event must wait for it. */
  private busy = false;
  private tfName = '';
  private tfMs = 0;
  private _lastCandle: Candle | undefined;
  private _firstTime = Number.NaN;

  constructor(options: TradingEngineOptions) {
    this.strategy = options.strategy;
    this.broker = options.broker;
    this.portfolio = options.portfolio;
    this.events = options.events ?? new EventBus();
    this.clock = options.clock ?? new EventClock();
    this.log = options.log ?? silentLogger;
    this.policy = options.onStrategyError ?? 'stop';
    this.recordEquity = options.recordEquity ?? true;
    this.brokerSeesCandles = typeof options.broker.onCandle === 'function';
    this.equityCurve = new EquityCurve(options.expectedTimestamps ?? 1024);
    this.gate = new OrderGate({
      inner: options.broker,
      portfolio: options.portfolio,
      events: this.events,
      clock: this.clock,
      log: this.log,
      strategyName: options.strategy.name,
      ...(options.orderIdNamespace !== undefined ? { namespace: options.orderIdNamespace } : {}),
      ...(options.rules !== undefined ? { rules: options.rules } : {}),
    });
    this.context = Object.freeze({
      broker: this.gate,
      portfolio: this.portfolio,
      clock: this.clock,
      log: this.log,
      events: this.events,
    });
  }

  get state(): EngineState {
    return this._state;
  }
  /** Candles processed so far. */
  get candles(): number {
    return this._candles;
  }
  get ticks(): number {
    return this._ticks;
  }
  /** The last candle processed (any symbol). */
  get lastCandle(): Candle | undefined {
    return this._lastCandle;
  }
  /** Open time of the first candle processed (NaN before any). */
  get firstTimestamp(): number {
    return this._firstTime;
  }

  /** Call the strategy's onStart; must be awaited before the first event. */
  async start(): Promise<void> {
    if (this._state !== 'idle') throw new StrategyError(`engine cannot start: it is ${this._state}`);
    this._state = 'running';
    if (this.strategy.onStart === undefined) return;
    try {
      await this.strategy.onStart(this.context);
    } catch (err) {
      this._state = 'failed';
      this.events.emit('error', { error: toError(err), context: 'strategy.onStart' });
      throw new StrategyError(
        `strategy '${this.strategy.name}' failed in onStart: ${describeError(err)}`,
        {},
        {
          cause: err,
        },
      );
    }
  }

  /**
   * One closed candle: fills against it, mark to its close, `candle` event,
   * `strategy.onCandle`. Candles must come in timestamp order (several symbols
   * may share a timestamp). Returns a promise only when the strategy did.
   */
  processCandle(candle: Candle): undefined | Promise<void> {
    if (this._state !== 'running' || this.busy) this.refuse('candle');
    const time = candle.timestamp;
    if (time !== this.currentTime) {
      if (time < this.currentTime) {
        throw new DataError(
          `candle at ${iso(time)} arrived after ${iso(this.currentTime)}: events must be in time order`,
          {
            symbol: candle.symbol,
          },
        );
      }
      if (this.pointPending) this.recordPoint();
      if (this._candles === 0) this._firstTime = time;
      this.currentTime = time;
    }
    if (candle.timeframe !== this.tfName) {
      this.tfMs = timeframeToMs(candle.timeframe);
      this.tfName = candle.timeframe;
    }
    this.clock.time = time + this.tfMs;
    this._lastCandle = candle;
    this._candles++;
    if (this.brokerSeesCandles) this.gate.onCandle(candle);
    this.portfolio.mark(candle.symbol, candle.close);
    this.events.emit('candle', candle);
    this.pointPending = this.recordEquity;

    let result: void | Promise<void>;
    try {
      result = this.strategy.onCandle(candle, this.context);
    } catch (err) {
      this.strategyFailed(err, 'onCandle', candle.symbol, time);
      return undefined;
    }
    if (!isPromiseLike(result)) return undefined;
    return this.settle(result, 'onCandle', candle.symbol, time);
  }

  /**
   * A quote between candle closes (paper and live): marks the position at
   * `last`, `tick` event, `strategy.onTick`. Orders it leads to fill on the
   * next candle of their symbol that opens at or after the tick.
   */
  processTick(tick: Tick): undefined | Promise<void> {
    if (this._state !== 'running' || this.busy) this.refuse('tick');
    if (this.pointPending) this.recordPoint();
    this.clock.time = tick.timestamp;
    this._ticks++;
    this.portfolio.mark(tick.symbol, tick.last);
    this.gate.onTick(tick);
    this.events.emit('tick', tick);
    const onTick = this.strategy.onTick;
    if (onTick === undefined) return undefined;
    let result: void | Promise<void>;
    try {
      result = onTick.call(this.strategy, tick, this.context);
    } catch (err) {
      this.strategyFailed(err, 'onTick', tick.symbol, tick.timestamp);
      return undefined;
    }
    if (!isPromiseLike(result)) return undefined;
    return this.settle(result, 'onTick', tick.symbol, tick.timestamp);
  }

  /** Record the equity point of the current timestamp now instead of when the next timestamp arrives. */
  flushEquity(): void {
    if (this.pointPending) this.recordPoint();
  }

  /**
   * Cancel open orders and close every position at its last mark with the
   * broker's fees and slippage, stamped with the current clock time.
   */
  closeAll(reason = 'end of data'): void {
    if (this.broker.closePosition === undefined) {
      throw new StrategyError('this broker cannot close positions (no closePosition hook)');
    }
    const gate = this.gate;
    gate.cancelAll();
    const open = this.portfolio.positions().slice();
    for (const p of open) gate.closePosition(p.symbol, p.markPrice, this.clock.now(), reason);
    if (open.length > 0 && this.recordEquity && this._candles > 0) this.pointPending = true;
  }

  /** Record the last equity point and call the strategy's onStop. Safe to call after a failure. */
  async stop(): Promise<void> {
    if (this._state === 'stopped' || this._state === 'idle') {
      this._state = 'stopped';
      return;
    }
    this.flushEquity();
    const failed = this._state === 'failed';
    this._state = 'stopped';
    if (this.strategy.onStop === undefined || failed) return;
    try {
      await this.strategy.onStop(this.context);
    } catch (err) {
      this.events.emit('error', { error: toError(err), context: 'strategy.onStop' });
      throw new StrategyError(
        `strategy '${this.strategy.name}' failed in onStop: ${describeError(err)}`,
        {},
        {
          cause: err,
        },
      );
    }
  }

  private recordPoint(): void {
    const p = this.portfolio;
    this.equityCurve.push(this.currentTime, p.equity, p.cash, p.grossExposure);
    this.pointPending = false;
  }

  private settle(result: PromiseLike<void>, hook: string, symbol: string, time: number): Promise<void> {
    this.busy = true;
    return Promise.resolve(result).then(
      () => {
        this.busy = false;
      },
      (err: unknown) => {
        this.busy = false;
        this.strategyFailed(err, hook, symbol, time);
      },
    );
  }

  private strategyFailed(err: unknown, hook: string, symbol: string, time: number): void {
    this.events.emit('error', { error: toError(err), context: `strategy.${hook}`, symbol, timestamp: time });
    const message = `strategy '${this.strategy.name}' failed in ${hook} at ${iso(time)}: ${describeError(err)}`;
    if (this.policy === 'continue') {
      this.log.warn(message, { symbol, timestamp: time });
      return;
    }
    this._state = 'failed';
    throw new StrategyError(message, { symbol }, { cause: err });
  }

  private refuse(what: string): never {
    if (this.busy) {
      throw new StrategyError(
        `${what} received while the strategy's previous hook is still running: await processCandle/processTick`,
      );
    }
    throw new StrategyError(
      `${what} received while the engine is ${this._state}${this._state === 'idle' ? ': call start() first' : ''}`,
    );
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
