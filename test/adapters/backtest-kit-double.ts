/**
 * A test double of backtest-kit (v19), following its documented contract
 * (README and types.d.ts), not its code:
 * - `addStrategySchema(schema)` (and the older name `addStrategy`) registers
 *   `{ strategyName, interval, getSignal(symbol, when, currentPrice) }`.
 * - `getCandles(symbol, interval, limit)` answers from the ambient execution
 *   time `when`: the `limit` candles of [aligned - limit * step, aligned),
 *   aligned = when rounded down to the interval; the forming candle is never
 *   returned; outside a getSignal call it throws.
 * - A backtest walks the frame in steps of the strategy's `interval`; while no
 *   position is open it calls getSignal and validates the answer (TP/SL on
 *   the right sides of the price, TP >= 0.5% away, SL 0.5%..20% away), opens
 *   at the current price, then closes on the stop-loss or take-profit touched
 *   by a later candle's low/high, or 'time_expired' after minuteEstimatedTime
 *   (default 1440). getSignal is not called while a position is open.
 * The current price here is the close of the last closed candle (backtest-kit
 * uses a VWAP of recent 1m candles).
 */
import type {
  BacktestKitCandle,
  BacktestKitCandleInterval,
  BacktestKitSignalDto,
  BacktestKitStrategySchema,
} from '../../src/adapters/backtest-kit.js';
import { timeframeToMs } from '../../src/core/timeframe.js';

export interface DoublePosition {
  readonly symbol: string;
  readonly openedAt: number;
  readonly priceOpen: number;
  readonly signal: BacktestKitSignalDto;
  closedAt?: number;
  priceClose?: number;
  closeReason?: 'take_profit' | 'stop_loss' | 'time_expired';
}

export interface DoubleCall {
  readonly symbol: string;
  readonly when: number;
  readonly currentPrice: number;
  readonly answer: BacktestKitSignalDto | null;
}

const MIN_TP_PERCENT = 0.5;
const MIN_SL_PERCENT = 0.5;
const MAX_SL_PERCENT = 20;
const DEFAULT_LIFETIME_MINUTES = 1440;

/** The documented signal validation; throws listing every problem. */
export function validateSignal(s: BacktestKitSignalDto, priceOpen: number): void {
  const errors: string[] = [];
  if (s.position !== 'long' && s.position !== 'short') errors.push(`position must be long or short, got ${s.position}`);
  for (const [k, v] of [
    ['priceOpen', priceOpen],
    ['priceTakeProfit', s.priceTakeProfit],
    ['priceStopLoss', s.priceStopLoss],
  ] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      errors.push(`${k} must be a finite number > 0, got ${v}`);
  }
  const dir = s.position === 'long' ? 1 : -1;
  const tp = (dir * (s.priceTakeProfit - priceOpen) * 100) / priceOpen;
  const sl = (dir * (priceOpen - s.priceStopLoss) * 100) / priceOpen;
  if (tp <= 0) errors.push(`${s.position}: take-profit on the wrong side of the price`);
  if (sl <= 0) errors.push(`${s.position}: stop-loss on the wrong side of the price`);
  if (tp < MIN_TP_PERCENT) errors.push(`take-profit too close: ${tp}%`);
  if (sl < MIN_SL_PERCENT) errors.push(`stop-loss too close: ${sl}%`);
  if (sl > MAX_SL_PERCENT) errors.push(`stop-loss too far: ${sl}%`);
  if (s.minuteEstimatedTime !== undefined && !(s.minuteEstimatedTime > 0))
    errors.push('minuteEstimatedTime must be > 0');
  if (errors.length > 0) throw new Error(`invalid signal: ${errors.join('; ')}`);
}

export class BacktestKitDouble {
  readonly schemas = new Map<string, BacktestKitStrategySchema>();
  readonly positions: DoublePosition[] = [];
  readonly calls: DoubleCall[] = [];
  /** Largest open time of a candle handed out, per call: never a candle not closed at `when`. */
  readonly served: Array<{ when: number; latest: number; limit: number }> = [];
  private when: number | undefined;

  /** `data`: per symbol, candles of one timeframe in time order. */
  constructor(
    private readonly data: ReadonlyMap<string, readonly BacktestKitCandle[]>,
    readonly timeframe: BacktestKitCandleInterval,
  ) {}

  readonly addStrategySchema = (schema: BacktestKitStrategySchema): void => {
    if (typeof schema?.strategyName !== 'string' || typeof schema.getSignal !== 'function') {
      throw new Error('strategy schema needs strategyName and getSignal');
    }
    if (this.schemas.has(schema.strategyName)) throw new Error(`strategy ${schema.strategyName} already registered`);
    this.schemas.set(schema.strategyName, schema);
  };

  /** The name before v19. */
  readonly addStrategy = (schema: BacktestKitStrategySchema): void => this.addStrategySchema(schema);

  readonly getCandles = async (
    symbol: string,
    interval: BacktestKitCandleInterval,
    limit: number,
  ): Promise<BacktestKitCandle[]> => {
    const when = this.when;
    if (when === undefined) throw new Error('getCandles called outside an execution context');
    if (interval !== this.timeframe) throw new Error(`this double serves ${this.timeframe} candles, not ${interval}`);
    const step = timeframeToMs(interval);
    const aligned = Math.floor(when / step) * step;
    const since = aligned - limit * step;
    const out = (this.data.get(symbol) ?? []).filter((c) => c.timestamp >= since && c.timestamp < aligned);
    this.served.push({ when, latest: out[out.length - 1]?.timestamp ?? Number.NaN, limit });
    return out.map((c) => ({ ...c }));
  };

  /** Walks [start, end] for every symbol at once (symbols run concurrently, as backtest-kit runs them). */
  async backtest(strategyName: string, symbols: readonly string[], start: number, end: number): Promise<void> {
    const schema = this.schemas.get(strategyName);
    if (schema === undefined) throw new Error(`no strategy ${strategyName}`);
    const stepMs = timeframeToMs(schema.interval);
    const tfMs = timeframeToMs(this.timeframe);
    const open = new Map<string, DoublePosition>();
    for (let when = start; when <= end; when += stepMs) {
      await Promise.all(
        symbols.map(async (symbol) => {
          const candles = this.data.get(symbol) ?? [];
          const last = candles.find((c) => c.timestamp === when - tfMs);
          if (last === undefined) return;
          const position = open.get(symbol);
          if (position !== undefined) {
            this.monitor(position, last, when);
            if (position.closeReason !== undefined) open.delete(symbol);
            return;
          }
          const currentPrice = last.close;
          this.when = when;
          let answer: BacktestKitSignalDto | null;
          try {
            answer = await schema.getSignal(symbol, new Date(when), currentPrice);
          } finally {
            this.when = undefined;
          }
          this.calls.push({ symbol, when, currentPrice, answer });
          if (answer === null) return;
          validateSignal(answer, currentPrice);
          const opened: DoublePosition = { symbol, openedAt: when, priceOpen: currentPrice, signal: answer };
          this.positions.push(opened);
          open.set(symbol, opened);
        }),
      );
    }
  }

  /** Stop-loss first (the conservative reading of a bar that touched both), then take-profit, then expiry. */
  private monitor(p: DoublePosition, candle: BacktestKitCandle, when: number): void {
    const long = p.signal.position === 'long';
    const close = (reason: DoublePosition['closeReason'], price: number) => {
      p.closeReason = reason;
      p.priceClose = price;
      p.closedAt = when;
    };
    if (long ? candle.low <= p.signal.priceStopLoss : candle.high >= p.signal.priceStopLoss) {
      close('stop_loss', p.signal.priceStopLoss);
    } else if (long ? candle.high >= p.signal.priceTakeProfit : candle.low <= p.signal.priceTakeProfit) {
      close('take_profit', p.signal.priceTakeProfit);
    } else if (when - p.openedAt >= (p.signal.minuteEstimatedTime ?? DEFAULT_LIFETIME_MINUTES) * 60_000) {
      close('time_expired', candle.close);
    }
  }
}
