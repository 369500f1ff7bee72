/**
 * The trading journal: everything needed to resume after a crash, in one JSON
 * file rewritten after every change — atomically (temporary file, fsync,
 * rename, fsync of the directory; see registry/atomic-fs.ts), so a kill at any
 * moment leaves the previous complete journal or the new one.
 *
 * It holds: the run's identity (mode, exchange, symbols, timeframe, strategy),
 * the last processed candle per symbol, the portfolio (cash, positions,
 * trades), the broker's state (paper: the simulated broker's open orders;
 * live: tracked orders with their client ids, applied trade ids and the
 * expected exchange balances), and the kill switch.
 *
 * Writes are serialised: a save while one is in flight waits for it, and
 * only the newest state is written when several were queued.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, DataError } from '../core/errors.js';
import type { PortfolioState } from '../engine/portfolio.js';
import type { SimulatedBrokerState } from '../engine/simulated-broker.js';
import { replaceFileAtomically } from '../registry/atomic-fs.js';
import type { CcxtBrokerState } from './ccxt-broker.js';
import type { KillSwitchState } from './kill-switch.js';
import type { ReconciliationReport } from './reconcile.js';

export const JOURNAL_VERSION = 1;

export type TradingMode = 'paper' | 'live';

export interface JournalState {
  readonly version: number;
  readonly mode: TradingMode;
  readonly exchange: string;
  readonly symbols: readonly string[];
  readonly timeframe: string;
  readonly strategy: string;
  /** 'running' while trading; 'stopped' after a graceful stop; 'halted' when reconciliation refused to trade. */
  readonly status: 'running' | 'stopped' | 'halted';
  /** Wall-clock time of the write (ms). */
  readonly savedAt: number;
  /** Engine time (exchange time) of the write (ms). */
  readonly engineTime: number;
  /** Open time of the last processed candle, per symbol. */
  readonly lastCandle: Readonly<Record<string, number>>;
  readonly portfolio: PortfolioState;
  readonly broker:
    | { readonly kind: 'simulated'; readonly state: SimulatedBrokerState }
    | { readonly kind: 'ccxt'; readonly state: CcxtBrokerState };
  readonly killSwitch: KillSwitchState;
  /** The last reconciliation (live), for the operator. */
  readonly lastReconciliation?: ReconciliationReport;
}

export class TradingJournal {
  readonly file: string;
  private writing: Promise<void> = Promise.resolve();
  private queued: JournalState | undefined;
  private writes = 0;

  constructor(file: string) {
    this.file = path.resolve(file);
  }

  /** Journal writes so far in this process. */
  get writeCount(): number {
    return this.writes;
  }

  /** The saved journal, or undefined when the file does not exist. */
  async load(): Promise<JournalState | undefined> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new DataError(`cannot read the journal: ${(err as Error).message}`, { file: this.file }, { cause: err });
    }
    let state: JournalState;
    try {
      state = JSON.parse(text) as JournalState;
    } catch (err) {
      throw new DataError(
        'the journal is not valid JSON (it is only ever replaced atomically: was it edited?)',
        {
          file: this.file,
        },
        { cause: err },
      );
    }
    if (state.version !== JOURNAL_VERSION || typeof state.portfolio !== 'object' || state.broker === undefined) {
      throw new DataError(`unsupported journal (version ${String(state.version)}, expected ${JOURNAL_VERSION})`, {
        file: this.file,
      });
    }
    return state;
  }

  /** Persist `state` durably; resolves once it (or a newer state) is on disk. */
  save(state: JournalState): Promise<void> {
    this.queued = state;
    const run = this.writing.then(async () => {
      const next = this.queued;
      if (next === undefined) return;
      this.queued = undefined;
      await mkdir(path.dirname(this.file), { recursive: true });
      await replaceFileAtomically(this.file, Buffer.from(`${JSON.stringify(next, null, 1)}\n`));
      this.writes++;
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  /** Waits for writes in flight. */
  flush(): Promise<void> {
    return this.writing;
  }
}

/** Refuse a journal written by a different run (another mode, exchange, symbol set or timeframe). */
export function checkJournalMatches(
  state: JournalState,
  run: { mode: TradingMode; exchange: string; symbols: readonly string[]; timeframe: string },
  file: string,
): void {
  const problems: string[] = [];
  if (state.mode !== run.mode) problems.push(`mode ${state.mode} (now ${run.mode})`);
  if (state.exchange !== run.exchange) problems.push(`exchange ${state.exchange} (now ${run.exchange})`);
  if (state.timeframe !== run.timeframe) problems.push(`timeframe ${state.timeframe} (now ${run.timeframe})`);
  if ([...state.symbols].sort().join(',') !== [...run.symbols].sort().join(',')) {
    problems.push(`symbols ${state.symbols.join(',')} (now ${run.symbols.join(',')})`);
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `the journal belongs to another run: ${problems.join('; ')}. Use another --journal file for this run`,
      { file },
    );
  }
}
