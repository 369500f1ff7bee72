/**
 * The server's in-memory prediction tracker as a bounded window, so that no
 * sequence of requests can grow the process without limit (the JSON-lines
 * tracker, `--tracker FILE`, is the one that keeps everything).
 *
 * Two generations of PredictionTracker: `current` records; when it holds
 * `capacity` predictions a fresh generation starts, seeded with the most
 * recent `capacity / 2` resolved up/down predictions (so statistics and drift
 * carry on instead of restarting), and the old one stays as `previous` only
 * to resolve its pending predictions, whose outcomes are added to `current`
 * as they arrive. The generation before is dropped. At most about
 * 2 x capacity predictions are held. Statistics and drift are those of
 * `current`: the last capacity / 2 to capacity predictions, minus flat outcomes
 * of the carried half.
 */
import { EventEmitter } from 'eventemitter3';
import { ConfigError } from '../core/errors.js';
import type { Candle } from '../core/types.js';
import { PredictionTracker, type PredictionTrackerOptions } from '../tracking/prediction-tracker.js';
import type {
  DriftEvent,
  PredictionInput,
  PredictionKey,
  StatsFilter,
  TrackedPrediction,
  TrackerEvents,
  TrackerStats,
} from '../tracking/types.js';

/** What the server uses of a tracker: a PredictionTracker (file-backed) or a TrackerWindow. */
export interface ServerTracker {
  readonly file: string | null;
  readonly size: number;
  readonly ignoredCandles: number;
  onCandle(candle: Candle): unknown;
  get(key: PredictionKey): TrackedPrediction | undefined;
  record(input: PredictionInput): TrackedPrediction;
  stats(filter?: StatsFilter): TrackerStats;
  statsBy(dimension: 'symbol' | 'modelVersion', options?: { window?: number }): Map<string, TrackerStats>;
  driftStatus(): DriftEvent[];
  on(event: 'drift', listener: (event: DriftEvent) => void): unknown;
  close(): void;
}

export const DEFAULT_TRACKER_WINDOW = 20_000;

export class TrackerWindow extends EventEmitter<TrackerEvents> implements ServerTracker {
  readonly file = null;
  private current: PredictionTracker;
  private previous: PredictionTracker | null = null;
  private ignored = 0;

  constructor(
    readonly capacity: number = DEFAULT_TRACKER_WINDOW,
    private readonly options: PredictionTrackerOptions = {},
  ) {
    super();
    if (!Number.isSafeInteger(capacity) || capacity < 2) {
      throw new ConfigError(`the tracker window must be an integer >= 2, got ${capacity}`, { field: 'trackerWindow' });
    }
    this.current = this.forwarded(new PredictionTracker(options));
  }

  /** Predictions held in memory (both generations). */
  get size(): number {
    return this.current.size + (this.previous?.size ?? 0);
  }

  get ignoredCandles(): number {
    return this.ignored;
  }

  record(input: PredictionInput): TrackedPrediction {
    if (this.current.size >= this.capacity) this.rotate();
    return this.current.record(input);
  }

  /** Counts a candle in both generations; one the previous generation already counted a later candle for is ignored. */
  onCandle(candle: Candle): void {
    const previous = this.previous;
    if (previous !== null) {
      const before = previous.ignoredCandles;
      previous.onCandle(candle);
      if (previous.ignoredCandles !== before) {
        this.ignored++;
        return;
      }
    }
    const before = this.current.ignoredCandles;
    this.current.onCandle(candle);
    if (this.current.ignoredCandles !== before) this.ignored++;
  }

  get(key: PredictionKey): TrackedPrediction | undefined {
    return this.current.get(key) ?? this.previous?.get(key);
  }

  stats(filter: StatsFilter = {}): TrackerStats {
    return this.current.stats(filter);
  }

  statsBy(dimension: 'symbol' | 'modelVersion', options: { window?: number } = {}): Map<string, TrackerStats> {
    return this.current.statsBy(dimension, options);
  }

  driftStatus(): DriftEvent[] {
    return this.current.driftStatus();
  }

  close(): void {
    this.previous?.close();
    this.current.close();
  }

  /** `t`, its drift events now the window's. */
  private forwarded(t: PredictionTracker): PredictionTracker {
    t.on('drift', (e) => this.emit('drift', e));
    t.on('driftRecovered', (e) => this.emit('driftRecovered', e));
    return t;
  }

  private rotate(): void {
    const old = this.current;
    const fresh = new PredictionTracker(this.options); // listeners come after seeding: replayed outcomes are no news
    for (let id = Math.max(1, old.size - Math.floor(this.capacity / 2) + 1); id <= old.size; id++) {
      const p = old.get(id);
      if (p !== undefined && (p.outcome === 0 || p.outcome === 1)) carry(fresh, p, p.outcome);
    }
    this.forwarded(fresh);
    old.removeAllListeners();
    old.on('resolved', (p) => {
      if (p.outcome !== 'flat' && p.outcome !== null && this.current === fresh && fresh.get(p) === undefined) {
        carry(fresh, p, p.outcome);
      }
    });
    this.previous?.close();
    this.previous = old;
    this.current = fresh;
  }
}

function carry(into: PredictionTracker, p: TrackedPrediction, outcome: 0 | 1): void {
  if (p.prediction === null) return;
  into.recordOutcome(
    {
      symbol: p.symbol,
      modelVersion: p.modelVersion,
      timestamp: p.timestamp,
      prediction: p.prediction,
      horizon: p.horizon,
      threshold: p.threshold,
      ...(p.price !== null ? { price: p.price } : {}),
      ...(p.previousPrice !== null ? { previousPrice: p.previousPrice } : {}),
    },
    outcome,
  );
}
