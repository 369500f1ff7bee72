/**
 * Every indicator the feature sets need, for one symbol, updated in O(1) per
 * candle and read out into a reused IndicatorSnapshot.
 */
import { INDICATOR_PARAMS as P } from './fixed-feature-sets.js';
import { LagBuffer, RollingWindow, SeededEma, WilderRsi } from './incremental-indicators.js';
import { emptySnapshot, type IndicatorSnapshot } from './indicator-snapshot.js';
import { utcDayOfWeek, utcHour, utcMonth } from './utc-calendar.js';

const MAX_LAG = Math.max(...P.returnLags);

export class IndicatorState {
  readonly snapshot: IndicatorSnapshot = emptySnapshot();
  private closes = new LagBuffer(MAX_LAG + 1);
  private sma10 = new RollingWindow(P.smaFast);
  private bollinger = new RollingWindow(P.bollingerPeriod, true);
  private ema12 = new SeededEma(P.emaFast);
  private ema26 = new SeededEma(P.emaSlow);
  private signal = new SeededEma(P.macdSignal);
  private rsi = new WilderRsi(P.rsi);
  private volumeFast = new RollingWindow(P.volumeSmaFast);
  private volumeSlow = new RollingWindow(P.volumeSmaSlow);

  /** Candles seen since creation or reset. */
  count = 0;
  lastTimestamp = Number.NEGATIVE_INFINITY;

  /** Input is assumed checked (see checkCandle). */
  update(timestamp: number, close: number, volume: number): IndicatorSnapshot {
    this.count++;
    this.lastTimestamp = timestamp;
    this.closes.push(close);
    this.sma10.push(close);
    this.bollinger.push(close);
    this.ema12.push(close);
    this.ema26.push(close);
    this.rsi.push(close);
    this.volumeFast.push(volume);
    this.volumeSlow.push(volume);

    const s = this.snapshot;
    s.timestamp = timestamp;
    s.close = close;
    s.volume = volume;
    s.close1Ago = this.closes.ago(1);
    s.close5Ago = this.closes.ago(5);
    s.close10Ago = this.closes.ago(10);
    s.sma10 = this.sma10.mean();
    s.sma20 = this.bollinger.mean();
    s.std20 = this.bollinger.std();
    s.ema12 = this.ema12.value();
    s.ema26 = this.ema26.value();
    s.rsi14 = this.rsi.value();
    if (Number.isNaN(s.ema26)) {
      s.macd = Number.NaN;
    } else {
      s.macd = s.ema12 - s.ema26;
      this.signal.push(s.macd);
    }
    s.macdSignal = this.signal.value();
    s.volumeSma5 = this.volumeFast.mean();
    s.volumeSma10 = this.volumeSlow.mean();
    s.hourUtc = utcHour(timestamp);
    s.dayOfWeekUtc = utcDayOfWeek(timestamp);
    s.monthUtc = utcMonth(timestamp);
    return s;
  }

  reset(): void {
    Object.assign(this.snapshot, emptySnapshot());
    this.closes.reset();
    this.sma10.reset();
    this.bollinger.reset();
    this.ema12.reset();
    this.ema26.reset();
    this.signal.reset();
    this.rsi.reset();
    this.volumeFast.reset();
    this.volumeSlow.reset();
    this.count = 0;
    this.lastTimestamp = Number.NEGATIVE_INFINITY;
  }

  clone(): IndicatorState {
    const c = new IndicatorState();
    Object.assign(c.snapshot, this.snapshot);
    c.closes = this.closes.clone();
    c.sma10 = this.sma10.clone();
    c.bollinger = this.bollinger.clone();
    c.ema12 = this.ema12.clone();
    c.ema26 = this.ema26.clone();
    c.signal = this.signal.clone();
    c.rsi = this.rsi.clone();
    c.volumeFast = this.volumeFast.clone();
    c.volumeSlow = this.volumeSlow.clone();
    c.count = this.count;
    c.lastTimestamp = this.lastTimestamp;
    return c;
  }
}
