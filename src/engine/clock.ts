import type { Clock } from '../core/strategy.js';

/**
 * The engine's clock: the time of the event being processed (a candle's CLOSE
 * time, a tick's time), never the wall clock. The engine moves it; the broker
 * and the strategy read it.
 */
export class EventClock implements Clock {
  time: number;

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }
}
