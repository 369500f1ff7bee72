/**
 * Rolling accuracy per model version (or per model version and symbol) with
 * hysteresis: reports `drift` once when the accuracy over the last `window`
 * resolved predictions falls below `minAccuracy`, and only again after it has
 * come back to `recoverAccuracy` (reported as `recovered`) and fallen again.
 * Nothing is reported before `window` outcomes exist for a key: a handful of
 * early misses is noise, not drift.
 */
import { ConfigError } from '../core/errors.js';
import type { DriftEvent, DriftOptions } from './types.js';

export interface DriftTransition {
  readonly kind: 'drift' | 'recovered';
  readonly event: DriftEvent;
}

interface KeyState {
  readonly symbol: string | undefined;
  readonly modelVersion: string;
  /** 1 = correct call, 0 = wrong; a ring of the last `window` outcomes. */
  readonly ring: Uint8Array;
  next: number;
  filled: number;
  correct: number;
  drifting: boolean;
}

export class DriftMonitor {
  readonly window: number;
  readonly minAccuracy: number;
  readonly recoverAccuracy: number;
  readonly perSymbol: boolean;
  private readonly states = new Map<string, KeyState>();

  constructor(options: DriftOptions) {
    const { window, minAccuracy } = options;
    if (!Number.isSafeInteger(window) || window <= 0) {
      throw new ConfigError(`expected a positive integer, got ${window}`, { field: 'drift.window' });
    }
    if (!(minAccuracy >= 0 && minAccuracy <= 1)) {
      throw new ConfigError(`expected a number in [0, 1], got ${minAccuracy}`, { field: 'drift.minAccuracy' });
    }
    const recover = options.recoverAccuracy ?? minAccuracy;
    if (!(recover >= minAccuracy && recover <= 1)) {
      throw new ConfigError(`expected a number in [minAccuracy, 1], got ${recover}`, {
        field: 'drift.recoverAccuracy',
      });
    }
    this.window = window;
    this.minAccuracy = minAccuracy;
    this.recoverAccuracy = recover;
    this.perSymbol = options.perSymbol ?? false;
  }

  /** Adds one scored outcome; returns the crossing it caused, if any. */
  push(modelVersion: string, symbol: string, correct: boolean): DriftTransition | null {
    const s = this.state(modelVersion, symbol);
    const bit = correct ? 1 : 0;
    if (s.filled === this.window) s.correct -= s.ring[s.next]!;
    else s.filled++;
    s.ring[s.next] = bit;
    s.correct += bit;
    s.next = (s.next + 1) % this.window;
    if (s.filled < this.window) return null;

    const accuracy = s.correct / this.window;
    if (!s.drifting && accuracy < this.minAccuracy) {
      s.drifting = true;
      return { kind: 'drift', event: this.event(s, accuracy) };
    }
    if (s.drifting && accuracy >= this.recoverAccuracy) {
      s.drifting = false;
      return { kind: 'recovered', event: this.event(s, accuracy) };
    }
    return null;
  }

  /** Keys currently in drift, with their rolling accuracy. */
  drifting(): DriftEvent[] {
    const out: DriftEvent[] = [];
    for (const s of this.states.values()) if (s.drifting) out.push(this.event(s, s.correct / this.window));
    return out;
  }

  private state(modelVersion: string, symbol: string): KeyState {
    const key = this.perSymbol ? JSON.stringify([modelVersion, symbol]) : modelVersion;
    let s = this.states.get(key);
    if (s === undefined) {
      s = {
        symbol: this.perSymbol ? symbol : undefined,
        modelVersion,
        ring: new Uint8Array(this.window),
        next: 0,
        filled: 0,
        correct: 0,
        drifting: false,
      };
      this.states.set(key, s);
    }
    return s;
  }

  private event(s: KeyState, accuracy: number): DriftEvent {
    return s.symbol === undefined
      ? { modelVersion: s.modelVersion, accuracy, window: this.window }
      : { symbol: s.symbol, modelVersion: s.modelVersion, accuracy, window: this.window };
  }
}
