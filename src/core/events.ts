import { EventEmitter } from 'eventemitter3';
import type { Candle, Fill, Order, Signal, Tick } from './types.js';

/** An error reported on the bus, with where it happened. */
export interface ErrorEvent {
  readonly error: Error;
  /** What was being done: 'order', 'strategy.onCandle', 'feed', ... */
  readonly context: string;
  readonly symbol?: string;
  readonly timestamp?: number;
}

/** Events the engine publishes; strategies and observers subscribe. */
export interface EngineEvents {
  candle: [candle: Candle];
  tick: [tick: Tick];
  signal: [signal: Signal];
  order: [order: Order];
  fill: [fill: Fill];
  error: [event: ErrorEvent];
}

/** Typed event bus shared by the engine, the strategy and observers (reports, journals, trackers). */
export class EventBus extends EventEmitter<EngineEvents> {}
