/**
 * The kill switch: once equity (marked to market) has fallen by `maxDailyLoss`
 * since the start of the UTC day, or by `maxDrawdown` from its highest point,
 * new entries are refused for the rest of that UTC day; exits stay allowed.
 * It is a risk rule of the order gate (`killSwitchRule`), so it guards every
 * mode the same way, backtest included.
 *
 * Its state (day, start-of-day equity, peak, trip) is journaled, so a restart
 * within the day keeps it tripped. At the next UTC day the trip is lifted and
 * the limits are checked afresh (a drawdown still beyond the limit trips it
 * again at once). `reset()` is the operator's override.
 *
 * Time is the engine's clock (the candle's time), never the wall clock here.
 */
import { ConfigError, QuantflowError } from '../core/errors.js';
import type { OrderRequest } from '../core/types.js';
import type { RiskContext, RiskRule } from './order-gate.js';

export interface KillSwitchLimits {
  /** Fraction of start-of-day equity (0.05 = 5 %). */
  readonly maxDailyLoss?: number;
  /** Fraction of peak equity (0.2 = 20 %). */
  readonly maxDrawdown?: number;
}

export interface KillSwitchTrip {
  readonly reason: string;
  /** Engine time of the trip (ms). */
  readonly at: number;
  /** UTC day of the trip, 'YYYY-MM-DD'. */
  readonly day: string;
  readonly equity: number;
}

export interface KillSwitchState {
  readonly day: string | undefined;
  readonly dayStartEquity: number | undefined;
  readonly peakEquity: number | undefined;
  readonly tripped: KillSwitchTrip | undefined;
}

const DAY_MS = 86_400_000;
const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

function checkLimit(name: string, v: number | undefined): void {
  if (v === undefined) return;
  if (!(Number.isFinite(v) && v > 0 && v < 1)) {
    throw new ConfigError(`${name} must be a fraction in (0, 1) such as 0.05 for 5 %, got ${v}`, { field: name });
  }
}

export class KillSwitch {
  readonly limits: KillSwitchLimits;
  private day: string | undefined;
  /** `day` as whole days since the epoch, so the per-candle check formats no date. */
  private dayNumber: number;
  private dayStartEquity: number | undefined;
  private peakEquity: number | undefined;
  private trip: KillSwitchTrip | undefined;

  constructor(limits: KillSwitchLimits = {}, state?: KillSwitchState) {
    checkLimit('maxDailyLoss', limits.maxDailyLoss);
    checkLimit('maxDrawdown', limits.maxDrawdown);
    this.limits = limits;
    this.day = state?.day;
    this.dayNumber = state?.day === undefined ? Number.NaN : Math.floor(Date.parse(state.day) / DAY_MS);
    this.dayStartEquity = state?.dayStartEquity;
    this.peakEquity = state?.peakEquity;
    this.trip = state?.tripped;
  }

  get tripped(): KillSwitchTrip | undefined {
    return this.trip;
  }

  /** Whether any limit is set (without one it can never trip). */
  get armed(): boolean {
    return this.limits.maxDailyLoss !== undefined || this.limits.maxDrawdown !== undefined;
  }

  /**
   * Account for the equity at `time`; returns true when the persisted state
   * changed (a new day, a new peak, a trip or its lifting).
   */
  update(equity: number, time: number): boolean {
    if (!Number.isFinite(equity) || !Number.isFinite(time)) return false;
    let changed = false;
    const dayNumber = Math.floor(time / DAY_MS);
    if (dayNumber !== this.dayNumber) {
      const day = utcDay(time);
      this.dayNumber = dayNumber;
      this.day = day;
      this.dayStartEquity = equity;
      changed = true;
      if (this.trip !== undefined && this.trip.day < day) this.trip = undefined;
    }
    if (this.peakEquity === undefined || equity > this.peakEquity) {
      this.peakEquity = equity;
      changed = true;
    }
    if (this.trip !== undefined) return changed;
    const { maxDailyLoss, maxDrawdown } = this.limits;
    const start = this.dayStartEquity as number;
    const peak = this.peakEquity;
    let reason: string | undefined;
    if (maxDailyLoss !== undefined && start > 0 && (start - equity) / start >= maxDailyLoss) {
      reason = `daily loss ${pct((start - equity) / start)} reached the limit ${pct(maxDailyLoss)} (equity ${round(equity)} vs ${round(start)} at the start of ${this.day} UTC)`;
    } else if (maxDrawdown !== undefined && peak > 0 && (peak - equity) / peak >= maxDrawdown) {
      reason = `drawdown ${pct((peak - equity) / peak)} reached the limit ${pct(maxDrawdown)} (equity ${round(equity)} vs peak ${round(peak)})`;
    }
    if (reason !== undefined) {
      this.trip = { reason, at: time, day: this.day as string, equity };
      changed = true;
    }
    return changed;
  }

  /** Operator override: lift a trip and restart the peak and the day at `equity`. */
  reset(equity: number, time: number): void {
    this.trip = undefined;
    this.day = utcDay(time);
    this.dayNumber = Math.floor(time / DAY_MS);
    this.dayStartEquity = equity;
    this.peakEquity = equity;
  }

  toJSON(): KillSwitchState {
    return { day: this.day, dayStartEquity: this.dayStartEquity, peakEquity: this.peakEquity, tripped: this.trip };
  }
}

/** An order that opens or adds to a position (as opposed to reducing one). */
export function isEntry(request: OrderRequest, held: number): boolean {
  if (request.reduceOnly === true) return false;
  if (request.side === 'sell' && held > 0) return false;
  if (request.side === 'buy' && held < 0) return false;
  return true;
}

/**
 * The kill switch as a risk rule: after every traded candle and tick it
 * accounts for the equity (a trip is logged and published as an `error`
 * event, context 'kill-switch'); once tripped it refuses entries.
 */
export function killSwitchRule(killSwitch: KillSwitch): RiskRule {
  const watch = (ctx: RiskContext) => {
    if (!killSwitch.armed) return;
    const before = killSwitch.tripped;
    killSwitch.update(ctx.portfolio.equity, ctx.clock.now());
    const trip = killSwitch.tripped;
    if (before !== undefined || trip === undefined) return;
    ctx.log.error('kill switch tripped: no new entries until the next UTC day', { ...trip });
    ctx.events.emit('error', { error: new KillSwitchError(trip.reason), context: 'kill-switch', timestamp: trip.at });
  };
  return {
    name: 'kill-switch',
    admit(request, ctx) {
      const trip = killSwitch.tripped;
      if (trip === undefined) return undefined;
      const held = ctx.portfolio.position(request.symbol)?.quantity ?? 0;
      return isEntry(request, held) ? `kill switch: ${trip.reason}; new entries refused, exits allowed` : undefined;
    },
    afterCandle: (_candle, ctx) => watch(ctx),
    afterTick: (_tick, ctx) => watch(ctx),
  };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)} %`;
}

function round(x: number): string {
  return x.toFixed(2);
}

/** Published as an `error` event (context 'kill-switch') when the switch trips. */
export class KillSwitchError extends QuantflowError {
  constructor(message: string) {
    super('KILL_SWITCH', message);
  }
}
