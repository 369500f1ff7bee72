/**
 * The ML strategy, written only against src/core and a `CandlePredictor`, as
 * any user strategy would be. It cannot tell backtest from paper or live, nor a
 * streaming predictor from precomputed (batch) predictions.
 *
 * Decisions, on each prediction p (probability of "up") with confidence
 * |p - 0.5| * 2:
 * - BUY when p > 0.5 and confidence >= `threshold`, SELL when p < 0.5 and
 *   confidence >= `threshold`, HOLD otherwise.
 * - Flat: BUY opens a long of `fraction` of equity; SELL opens a short of the
 *   same size when `allowShort`, else nothing.
 * - Long: SELL closes it (and opens a short when `allowShort`). Short: BUY
 *   closes it and opens a long. The same call again keeps the position.
 * Risk exits, checked on every closed candle (and tick) while a position is
 * open, against the position's entry price: `stopLoss` (the return fell to
 * -stopLoss), `takeProfit` (it reached +takeProfit), `maxHoldCandles` (that
 * many candles closed since the entry signal). No new entry is taken on the
 * candle of a risk exit. Orders are market orders, so they fill at the next
 * candle's open (the engine's rule), never at the price that triggered them.
 *
 * Every decision is published as a `signal` event with the prediction behind
 * it, the position it wants (`target`, `transition`: a BUY while already long
 * is 'hold-long', a SELL while flat and long-only 'stay-flat') and a reason;
 * HOLD included. With a tracker, every closed-candle
 * prediction is recorded (symbol, modelVersion, candle time, horizon, price =
 * close) and every candle is fed to it first, so outcomes resolve only from
 * later candles. Intrabar predictions (ticks) are provisional: they are traded
 * on but not recorded.
 */
import { ConfigError } from '../src/core/errors.js';
import type { CandlePredictor, PredictionSink } from '../src/core/prediction.js';
import { positionChange } from '../src/core/signal.js';
import type { Strategy, StrategyContext } from '../src/core/strategy.js';
import type { Candle, OrderRequest, OrderSize, Prediction, SignalAction, Tick } from '../src/core/types.js';

export type { PredictionSink } from '../src/core/prediction.js';

export interface MlStrategyOptions {
  /** Streaming (RealtimePredictor) or precomputed (PrecomputedPredictor) predictions. */
  readonly predictor: CandlePredictor;
  /** Minimum confidence |p - 0.5| * 2 to act, in [0, 1] (default 0.6). */
  readonly threshold?: number;
  /** Position size as a fraction of equity, in (0, 1] (default 0.1). */
  readonly fraction?: number;
  /** Open shorts on SELL (default false: long-only, for spot). */
  readonly allowShort?: boolean;
  /** Exit when the position's return falls to -stopLoss (a fraction in (0, 1), e.g. 0.02). */
  readonly stopLoss?: number;
  /** Exit when the position's return reaches takeProfit (a fraction > 0, e.g. 0.05). */
  readonly takeProfit?: number;
  /** Exit after this many candles closed since the entry signal (an integer >= 1). */
  readonly maxHoldCandles?: number;
  /** Records every closed-candle prediction and is fed every candle. */
  readonly tracker?: PredictionSink;
  /**
   * Trade only moves worth their cost: an entry needs the prediction's
   * expected return over the horizon to exceed `roundTripCost` (fees and
   * slippage of both fills, as a fraction) by `margin` (default 0.5 = 50%);
   * a position is closed on an opposite call when its expected loss exceeds
   * half the round trip. Predictions without an expected return do not trade.
   */
  readonly costs?: { readonly roundTripCost: number; readonly margin?: number };
  /** Default `ml(<threshold>,<fraction>,<long-only|long-short>)`. */
  readonly name?: string;
}

export const ML_STRATEGY_DEFAULTS = { threshold: 0.6, fraction: 0.1, allowShort: false, costMargin: 0.5 } as const;

/** Per-symbol state: the side ordered, candles since the entry signal. */
interface SymbolState {
  /** -1 short, 0 flat, 1 long: the side the strategy has ordered. */
  side: number;
  /** Candles closed since the entry signal. */
  held: number;
}

type Exit = { readonly reason: string; readonly tag: string };

function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return value !== undefined && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

export class MlStrategy implements Strategy {
  readonly name: string;
  readonly predictor: CandlePredictor;
  readonly threshold: number;
  readonly fraction: number;
  readonly allowShort: boolean;
  /** The predictor's warm-up (0 for precomputed predictions, which need none). */
  readonly warmupCandles: number;
  readonly stopLoss: number | undefined;
  readonly takeProfit: number | undefined;
  readonly maxHoldCandles: number | undefined;
  readonly tracker: PredictionSink | undefined;
  readonly costs: { readonly roundTripCost: number; readonly margin: number } | undefined;
  private readonly states = new Map<string, SymbolState>();

  constructor(options: MlStrategyOptions) {
    const o = options ?? ({} as MlStrategyOptions);
    const predictor = o.predictor;
    if (predictor === undefined || predictor === null || typeof predictor.onCandle !== 'function') {
      throw new ConfigError('the ML strategy needs a predictor (RealtimePredictor or PrecomputedPredictor)', {
        field: 'predictor',
      });
    }
    const threshold = o.threshold ?? ML_STRATEGY_DEFAULTS.threshold;
    if (!(Number.isFinite(threshold) && threshold >= 0 && threshold <= 1)) {
      throw new ConfigError(`confidence threshold must be in [0, 1], got ${threshold}`, { field: 'threshold' });
    }
    const fraction = o.fraction ?? ML_STRATEGY_DEFAULTS.fraction;
    if (!(Number.isFinite(fraction) && fraction > 0 && fraction <= 1)) {
      throw new ConfigError(`position size must be a fraction of equity in (0, 1], got ${fraction}`, {
        field: 'fraction',
      });
    }
    const allowShort = o.allowShort ?? ML_STRATEGY_DEFAULTS.allowShort;
    if (typeof allowShort !== 'boolean') {
      throw new ConfigError(`allowShort must be true or false, got ${String(allowShort)}`, { field: 'allowShort' });
    }
    if (o.stopLoss !== undefined && !(Number.isFinite(o.stopLoss) && o.stopLoss > 0 && o.stopLoss < 1)) {
      throw new ConfigError(`stop-loss must be a fraction in (0, 1) (0.02 = 2%), got ${o.stopLoss}`, {
        field: 'stopLoss',
      });
    }
    if (o.takeProfit !== undefined && !(Number.isFinite(o.takeProfit) && o.takeProfit > 0)) {
      throw new ConfigError(`take-profit must be a fraction > 0 (0.05 = 5%), got ${o.takeProfit}`, {
        field: 'takeProfit',
      });
    }
    if (o.maxHoldCandles !== undefined && !(Number.isInteger(o.maxHoldCandles) && o.maxHoldCandles >= 1)) {
      throw new ConfigError(`maximum holding time must be an integer >= 1 candles, got ${o.maxHoldCandles}`, {
        field: 'maxHoldCandles',
      });
    }
    if (o.tracker !== undefined) {
      if (typeof o.tracker?.record !== 'function' || typeof o.tracker?.onCandle !== 'function') {
        throw new ConfigError('tracker must have record() and onCandle() (a PredictionTracker)', { field: 'tracker' });
      }
      if (!(Number.isInteger(predictor.horizon) && predictor.horizon >= 1)) {
        throw new ConfigError(`the predictor's horizon must be an integer >= 1, got ${predictor.horizon}`, {
          field: 'predictor',
        });
      }
    }
    this.predictor = predictor;
    this.warmupCandles = predictor.warmupCandles ?? 0;
    this.threshold = threshold;
    this.fraction = fraction;
    this.allowShort = allowShort;
    this.stopLoss = o.stopLoss;
    this.takeProfit = o.takeProfit;
    this.maxHoldCandles = o.maxHoldCandles;
    this.tracker = o.tracker;
    this.costs = o.costs === undefined ? undefined : checkCosts(o.costs);
    this.name =
      o.name ??
      `ml(${threshold},${fraction},${allowShort ? 'long-short' : 'long-only'}${this.costs !== undefined ? ',cost-gate' : ''})`;
  }

  /** A fresh run: forget the sides ordered (they are re-read from the portfolio per symbol). */
  onStart(): void {
    this.states.clear();
  }

  onCandle(candle: Candle, ctx: StrategyContext): void | Promise<void> {
    this.tracker?.onCandle(candle);
    const s = this.stateOf(candle.symbol, ctx);
    if (s.side !== 0) s.held++;
    const result = this.predictor.onCandle(candle);
    if (isPromiseLike<Prediction | undefined>(result)) {
      return Promise.resolve(result).then((p) =>
        this.decide(candle.symbol, candle.close, candle.timestamp, p, ctx, s, true),
      );
    }
    this.decide(candle.symbol, candle.close, candle.timestamp, result, ctx, s, true);
  }

  onTick(tick: Tick, ctx: StrategyContext): void | Promise<void> {
    const s = this.stateOf(tick.symbol, ctx);
    const onTick = this.predictor.onTick;
    const result = onTick === undefined ? undefined : onTick.call(this.predictor, tick);
    if (isPromiseLike<Prediction | undefined>(result)) {
      return Promise.resolve(result).then((p) => this.decide(tick.symbol, tick.last, tick.timestamp, p, ctx, s, false));
    }
    this.decide(tick.symbol, tick.last, tick.timestamp, result, ctx, s, false);
  }

  /**
   * Risk exits first, then the prediction's call. `closed` is true for a
   * closed candle (the prediction is recorded), false for a tick.
   */
  private decide(
    symbol: string,
    price: number,
    time: number,
    prediction: Prediction | undefined,
    ctx: StrategyContext,
    s: SymbolState,
    closed: boolean,
  ): void {
    if (closed && prediction !== undefined && this.tracker !== undefined) {
      this.tracker.record({
        symbol,
        modelVersion: prediction.modelVersion,
        timestamp: prediction.timestamp,
        prediction: prediction.prediction,
        horizon: this.predictor.horizon,
        price,
        ...(prediction.forecast !== undefined ? { forecast: prediction.forecast } : {}),
      });
    }
    const exited = s.side !== 0 ? this.riskExit(symbol, price, time, prediction, ctx, s) : false;
    if (prediction === undefined) return;

    const p = prediction.prediction;
    const confidence = prediction.confidence;
    const sure = confidence >= this.threshold;
    const call = sure && p > 0.5 ? 1 : sure && p < 0.5 ? -1 : 0;
    let head = `p(up) ${p.toFixed(4)}, confidence ${confidence.toFixed(4)} ${sure ? '>=' : '<'} ${this.threshold}${closed ? '' : ' (intrabar)'}`;
    const gate = call === 0 ? undefined : this.costGate(call, prediction, s.side);
    if (gate !== undefined) head = `${head}, ${gate.text}`;
    const action: SignalAction = call === 0 || gate?.blocked === true ? 'HOLD' : call > 0 ? 'BUY' : 'SELL';
    let reason: string;
    const wantAfterCall = call > 0 ? 1 : this.allowShort ? -1 : 0;
    // A call worth closing the position for but not worth the entry's cost only closes it.
    const want = action === 'HOLD' ? s.side : gate?.entry === false ? 0 : wantAfterCall;
    if (action === 'HOLD') reason = `${head}: hold ${sideName(s.side)}`;
    else if (want === s.side) {
      reason =
        action === 'SELL' && s.side === 0
          ? `${head}: stay flat (shorts disabled)`
          : `${head}: already ${sideName(s.side)}`;
    } else if (exited && want !== 0) {
      reason = `${head}: no new ${sideName(want)} on the candle of a risk exit`;
    } else {
      reason = `${head}: ${sideName(s.side)} -> ${sideName(want)}`;
    }
    const acts = !(action === 'HOLD' || want === s.side || (exited && want !== 0));
    const size: OrderSize = { kind: 'equity-fraction', fraction: this.fraction };
    const change = positionChange(s.side, acts ? want : s.side, size);
    ctx.events.emit('signal', { symbol, action, confidence, timestamp: time, price, ...change, prediction, reason });
    if (!acts) return;

    const from = s.side;
    const tag = action === 'BUY' ? 'ml buy signal' : 'ml sell signal';
    if (from !== 0) this.submitExit(symbol, from, tag, ctx);
    s.side = want;
    s.held = 0;
    if (want !== 0) {
      this.submit(ctx, {
        symbol,
        side: want > 0 ? 'buy' : 'sell',
        type: 'market',
        size,
        tag,
      });
    }
  }

  /**
   * With `costs`, whether a call of direction `call` is worth trading: an
   * entry needs an expected return of at least the round trip plus the margin
   * in the call's direction; closing a position on an opposite call needs an
   * expected loss of at least half the round trip (what the exit costs).
   * `blocked`: the call changes nothing; `entry`: a new position may open.
   */
  private costGate(
    call: number,
    prediction: Prediction,
    side: number,
  ): { blocked: boolean; entry: boolean; text: string } | undefined {
    const costs = this.costs;
    if (costs === undefined) return undefined;
    const er = prediction.expectedReturn;
    if (er === undefined || !Number.isFinite(er)) {
      return { blocked: true, entry: false, text: 'no expected return to weigh against costs' };
    }
    const edge = call * er;
    const entryNeed = costs.roundTripCost * (1 + costs.margin);
    const exitNeed = costs.roundTripCost / 2;
    const entry = edge >= entryNeed && (call > 0 || this.allowShort);
    const closing = side !== 0 && side !== call;
    const exit = closing && edge >= exitNeed;
    const need = closing ? exitNeed : entryNeed;
    return {
      blocked: !entry && !exit,
      entry,
      text: `expected return ${pct(er)} ${edge >= need ? '>=' : '<'} ${pct(call * need)} needed (round trip ${pct(costs.roundTripCost)}${closing ? ', exit half' : ` + ${(costs.margin * 100).toFixed(0)}% margin`})`,
    };
  }

  /** Stop-loss, take-profit or maximum holding time; returns true when it exited. */
  private riskExit(
    symbol: string,
    price: number,
    time: number,
    prediction: Prediction | undefined,
    ctx: StrategyContext,
    s: SymbolState,
  ): boolean {
    const pos = ctx.portfolio.position(symbol);
    if (pos === undefined || Math.sign(pos.quantity) !== s.side) {
      // Entry not filled yet, or it was rejected / closed elsewhere: then we are flat.
      if (ctx.broker.openOrders(symbol).length === 0) s.side = pos === undefined ? 0 : Math.sign(pos.quantity);
      return false;
    }
    const ret = s.side * (price / pos.entryPrice - 1);
    let exit: Exit | undefined;
    if (this.stopLoss !== undefined && ret <= -this.stopLoss) {
      exit = { tag: 'stop-loss', reason: `stop-loss: return ${pct(ret)} <= -${pct(this.stopLoss)}` };
    } else if (this.takeProfit !== undefined && ret >= this.takeProfit) {
      exit = { tag: 'take-profit', reason: `take-profit: return ${pct(ret)} >= ${pct(this.takeProfit)}` };
    } else if (this.maxHoldCandles !== undefined && s.held >= this.maxHoldCandles) {
      exit = { tag: 'max-hold', reason: `max-hold: ${s.held} candles since entry >= ${this.maxHoldCandles}` };
    }
    if (exit === undefined) return false;
    ctx.events.emit('signal', {
      symbol,
      action: s.side > 0 ? 'SELL' : 'BUY',
      confidence: 1,
      timestamp: time,
      price,
      ...positionChange(s.side, 0),
      ...(prediction !== undefined ? { prediction } : {}),
      reason: `${exit.reason}: ${sideName(s.side)} -> flat`,
    });
    this.submitExit(symbol, s.side, exit.tag, ctx);
    s.side = 0;
    s.held = 0;
    return true;
  }

  private submitExit(symbol: string, from: number, tag: string, ctx: StrategyContext): void {
    this.submit(ctx, {
      symbol,
      side: from > 0 ? 'sell' : 'buy',
      type: 'market',
      size: { kind: 'all' },
      reduceOnly: true,
      tag,
    });
  }

  private submit(ctx: StrategyContext, request: OrderRequest): void {
    // A refused order resolves as 'rejected' (and an error event); it never throws.
    void ctx.broker.submit(request);
  }

  private stateOf(symbol: string, ctx: StrategyContext): SymbolState {
    let s = this.states.get(symbol);
    if (s === undefined) {
      // A restart with a position open continues managing it.
      const q = ctx.portfolio.position(symbol)?.quantity ?? 0;
      s = { side: Math.sign(q), held: 0 };
      this.states.set(symbol, s);
    }
    return s;
  }
}

function sideName(side: number): string {
  return side > 0 ? 'long' : side < 0 ? 'short' : 'flat';
}

function checkCosts(costs: { readonly roundTripCost: number; readonly margin?: number }): {
  roundTripCost: number;
  margin: number;
} {
  const { roundTripCost } = costs;
  const margin = costs.margin ?? ML_STRATEGY_DEFAULTS.costMargin;
  if (!(Number.isFinite(roundTripCost) && roundTripCost >= 0 && roundTripCost < 1)) {
    throw new ConfigError(`round-trip cost must be a fraction in [0, 1) (0.003 = 0.3%), got ${roundTripCost}`, {
      field: 'costs.roundTripCost',
    });
  }
  if (!(Number.isFinite(margin) && margin >= 0)) {
    throw new ConfigError(`cost margin must be >= 0 (0.5 = 50% above the costs), got ${margin}`, {
      field: 'costs.margin',
    });
  }
  return { roundTripCost, margin };
}
