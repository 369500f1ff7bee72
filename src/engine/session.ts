/**
 * The session loop: the one loop that drives a `TradingEngine` in every mode.
 * Backtest replay, paper and live differ only in the source of events (a
 * candle array, the ccxt feed with its warm-up and backfill) and the broker
 * behind the engine's order gate:
 *
 *   source ──► runSession ──► engine.processCandle ──► strategy ──► order gate ──► broker
 *   (replay,     (phase,         (fills, marks,          (signals,    (ids, replayed
 *    ccxt REST     risk rules,     candle event)           orders)      candles, risk
 *    and ws)       catch-up)                                            rules)
 *
 * Per candle: the gate learns the candle's phase, the candle goes through the
 * engine, the orders it led to settle, the risk rules see it (not on warm-up),
 * then the caller's hook (journal, status line). A `synced` event — the source
 * has delivered every closed candle, e.g. after the warm-up or a backfill —
 * lets the gate act on decisions made on replayed candles (`catchUp`).
 *
 * The loop is synchronous per candle unless something is pending (a strategy
 * promise, an order in flight, a hook): a replay of an array costs no
 * microtask per candle.
 */
import type { Candle, Tick } from '../core/types.js';
import type { CandlePhase, ReplayedDecisionPolicy } from './order-gate.js';
import type { TradingEngine } from './trading-engine.js';

export type SessionEvent =
  | { readonly kind: 'candle'; readonly candle: Candle; readonly phase: CandlePhase }
  | { readonly kind: 'tick'; readonly tick: Tick }
  /** Every candle closed so far has been delivered (start-up done, a backfill or stall caught up). */
  | { readonly kind: 'synced' };

export type SessionSource = Iterable<SessionEvent> | AsyncIterable<SessionEvent>;

/** What the caller adds around the loop; every hook is optional and may return a promise. */
export interface SessionHooks {
  /** Before a candle reaches the engine (live: re-read open orders). */
  beforeCandle?(candle: Candle, phase: CandlePhase): void | Promise<void>;
  /** After a candle, its orders and the risk rules settled (journal, status line). */
  afterCandle?(candle: Candle, phase: CandlePhase): void | Promise<void>;
  afterTick?(tick: Tick): void | Promise<void>;
  /** After a `synced` event and the catch-up of replayed decisions. */
  onSynced?(): void | Promise<void>;
}

export interface SessionOptions {
  /** Ends the loop before the next event. */
  readonly signal?: AbortSignal;
  /** Decisions on replayed candles that leave the position unlike the strategy wants: act (default) or halt. */
  readonly replayedDecisions?: ReplayedDecisionPolicy;
  /** Called every `progressEvery` candles with the number processed. */
  readonly progress?: (done: number) => void;
  /** Default 10,000. */
  readonly progressEvery?: number;
}

export interface SessionCounts {
  warmup: number;
  backfill: number;
  live: number;
  ticks: number;
}

function isPromiseLike(value: unknown): value is PromiseLike<void> {
  return value !== undefined && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Feeds `source` through `engine` until the source ends or `options.signal`
 * aborts; starts the engine when idle. The caller decides when to `closeAll`
 * and `stop` (which records the last equity point). Resolves with the candles processed per phase and the ticks.
 */
export async function runSession(
  engine: TradingEngine,
  source: SessionSource,
  hooks: SessionHooks = {},
  options: SessionOptions = {},
): Promise<SessionCounts> {
  const gate = engine.gate;
  const counts: SessionCounts = { warmup: 0, backfill: 0, live: 0, ticks: 0 };
  const { signal, progress } = options;
  const every = Math.max(1, Math.floor(options.progressEvery ?? 10_000));
  let nextReport = progress === undefined ? Number.POSITIVE_INFINITY : every;
  let candles = 0;
  const { beforeCandle, afterCandle, afterTick, onSynced } = hooks;
  const rules = gate.rules.length > 0;
  if (engine.state === 'idle') await engine.start();
  const sync = Symbol.iterator in source;
  const iterator = sync
    ? (source as Iterable<SessionEvent>)[Symbol.iterator]()
    : (source as AsyncIterable<SessionEvent>)[Symbol.asyncIterator]();
  for (;;) {
    if (signal?.aborted === true) break;
    let step = iterator.next();
    if (!sync) step = await step;
    const result = step as IteratorResult<SessionEvent>;
    if (result.done === true) break;
    const event = result.value;
    if (event.kind === 'candle') {
      const { candle, phase } = event;
      gate.phase = phase;
      if (beforeCandle !== undefined) {
        const before = beforeCandle(candle, phase);
        if (isPromiseLike(before)) await before;
      }
      const pending = engine.processCandle(candle);
      if (pending !== undefined) await pending;
      if (gate.busy) await gate.idle();
      if (rules && phase !== 'warmup') {
        gate.afterCandle(candle);
        if (gate.busy) await gate.idle();
      }
      counts[phase]++;
      if (afterCandle !== undefined) {
        const after = afterCandle(candle, phase);
        if (isPromiseLike(after)) await after;
      }
      if (++candles === nextReport) {
        progress?.(candles);
        nextReport += every;
      }
    } else if (event.kind === 'tick') {
      gate.phase = 'live';
      const pending = engine.processTick(event.tick);
      if (pending !== undefined) await pending;
      if (gate.busy) await gate.idle();
      if (rules) {
        gate.afterTick(event.tick);
        if (gate.busy) await gate.idle();
      }
      counts.ticks++;
      if (afterTick !== undefined) await afterTick(event.tick);
    } else {
      gate.phase = 'live';
      await gate.catchUp(options.replayedDecisions ?? 'act');
      if (onSynced !== undefined) await onSynced();
    }
  }
  return counts;
}

/**
 * A candle array as a session source: every candle 'live', then the end.
 * One event and one iterator result object are reused, so a replay of a
 * million candles allocates nothing per candle.
 */
export class CandleArraySource implements Iterable<SessionEvent>, Iterator<SessionEvent> {
  private index = 0;
  private readonly event: { kind: 'candle'; candle: Candle; phase: CandlePhase };
  private readonly result: { done: false; value: SessionEvent };

  constructor(private readonly candles: readonly Candle[]) {
    this.event = { kind: 'candle', candle: candles[0] as Candle, phase: 'live' };
    this.result = { done: false, value: this.event };
  }

  [Symbol.iterator](): Iterator<SessionEvent> {
    return this;
  }

  next(): IteratorResult<SessionEvent> {
    if (this.index >= this.candles.length) return { done: true, value: undefined };
    this.event.candle = this.candles[this.index++] as Candle;
    return this.result;
  }
}
