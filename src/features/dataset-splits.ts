/**
 * Time-ordered splits. A label at row t looks `horizon` candles ahead, so the
 * last `embargo` (default: horizon) rows before a test period are left out of
 * training: no training label may overlap the test period. Dataset rows are a
 * subset of candles in order, so `horizon` rows always span >= horizon candles.
 */
import { ConfigError } from '../core/errors.js';
import { type Dataset, sliceDataset } from './dataset.js';

export interface ChronologicalSplit {
  readonly train: Dataset;
  readonly validation: Dataset;
  /** Rows [trainEnd, validationStart) are the embargo, in neither set. */
  readonly trainEnd: number;
  readonly validationStart: number;
}

/** The last `validationFraction` of rows validate; training ends `embargo` rows before them. */
export function splitChronological(ds: Dataset, validationFraction: number, embargo = ds.horizon): ChronologicalSplit {
  if (!(validationFraction > 0 && validationFraction < 1)) {
    throw new ConfigError(`validationFraction must be in (0, 1), got ${validationFraction}`, {
      field: 'validationFraction',
    });
  }
  if (!Number.isInteger(embargo) || embargo < 0) {
    throw new ConfigError(`embargo must be an integer >= 0, got ${embargo}`, { field: 'embargo' });
  }
  const validationRows = Math.max(1, Math.floor(ds.rows * validationFraction));
  const validationStart = ds.rows - validationRows;
  const trainEnd = validationStart - embargo;
  if (trainEnd < 1) {
    throw new ConfigError(
      `${ds.rows} rows are too few for a ${validationRows}-row validation set after a ${embargo}-row embargo`,
      { field: 'validationFraction' },
    );
  }
  return {
    train: sliceDataset(ds, 0, trainEnd),
    validation: sliceDataset(ds, validationStart, ds.rows),
    trainEnd,
    validationStart,
  };
}

/** The slices of rows a model is built from, in time order, each after the previous one and an embargo. */
export interface FittingSplit {
  /** Rows the model is fitted on. */
  readonly fit: Dataset;
  /** Rows for early stopping (kinds that use them). */
  readonly validation?: Dataset;
  /** Rows the calibration is fitted on (neither fitted nor stopped on). */
  readonly calibration?: Dataset;
  /** Held-out rows scored after everything else: nothing above saw them. */
  readonly test?: Dataset;
}

export interface TailFractions {
  readonly validation?: number;
  readonly calibration?: number;
  readonly test?: number;
}

/**
 * Where the slice before row `start` must end: `embargo` distinct row times
 * before it (one row per time for one symbol; several rows per time when
 * symbols are pooled), so no earlier label reaches the slice.
 */
function embargoStart(ds: Dataset, start: number, embargo: number): number {
  let i = start;
  for (let times = 0; times < embargo && i > 0; times++) {
    const t = ds.timestamps[i - 1]!;
    while (i > 0 && ds.timestamps[i - 1]! === t) i--;
  }
  return i;
}

/**
 * Cuts `validation`, `calibration` and `test` (fractions of all rows, in that
 * time order) off the end of `ds`, each preceded by an embargo of `embargo`
 * rows (row times, when symbols are pooled) so no label of an earlier slice
 * reaches into a later one; the rest, from the start, is fitted on. A zero or
 * absent fraction gives no slice.
 */
export function splitTail(ds: Dataset, fractions: TailFractions, embargo = ds.horizon): FittingSplit {
  if (!Number.isInteger(embargo) || embargo < 0) {
    throw new ConfigError(`embargo must be an integer >= 0, got ${embargo}`, { field: 'embargo' });
  }
  const names = ['validation', 'calibration', 'test'] as const;
  let total = 0;
  for (const name of names) {
    const f = fractions[name] ?? 0;
    if (!(f >= 0 && f < 1)) throw new ConfigError(`${name} fraction must be in [0, 1), got ${f}`, { field: name });
    total += f;
  }
  if (total >= 1) {
    throw new ConfigError(
      `validation, calibration and test fractions add up to ${total}; they must leave rows to fit`,
      {
        field: 'test',
      },
    );
  }
  const slices: Partial<Record<(typeof names)[number], Dataset>> = {};
  let end = ds.rows;
  for (const name of [...names].reverse()) {
    const f = fractions[name] ?? 0;
    if (f === 0) continue;
    let start = end - Math.max(1, Math.floor(ds.rows * f));
    // Rows of several symbols share times: a slice starts where the time changes, never inside a time.
    while (start > 0 && start < end && ds.timestamps[start]! === ds.timestamps[start - 1]!) start++;
    const rows = end - start;
    const before = embargoStart(ds, start, embargo);
    if (before < 1) {
      throw new ConfigError(
        `${ds.rows} rows are too few for the ${name} slice of ${rows} rows after ${embargo}-row embargoes`,
        { field: name },
      );
    }
    slices[name] = sliceDataset(ds, start, end);
    end = before;
  }
  return { fit: sliceDataset(ds, 0, end), ...slices };
}

export interface WalkForwardOptions {
  rows: number;
  /** Rows per training window (the first one, when expanding). */
  trainWindow: number;
  testWindow: number;
  /** Rows skipped between a training window and its test window; use the label horizon. */
  embargo: number;
  /** Rows the windows advance each fold (default testWindow; must be >= testWindow so tests never overlap). */
  step?: number;
  /** Training always starts at row 0 and grows (default false: a sliding window). */
  expanding?: boolean;
  /** Keep a last, shorter test window over the rows left at the end (default true: every row is tested). */
  partial?: boolean;
}

/** Half-open row ranges: train [trainStart, trainEnd), test [testStart, testEnd). */
export interface WalkForwardWindow {
  readonly trainStart: number;
  readonly trainEnd: number;
  readonly testStart: number;
  readonly testEnd: number;
}

export function walkForwardSplits(opts: WalkForwardOptions): WalkForwardWindow[] {
  const { rows, trainWindow, testWindow, embargo } = opts;
  const step = opts.step ?? testWindow;
  const int = (v: number, field: string, min: number) => {
    if (!Number.isInteger(v) || v < min)
      throw new ConfigError(`${field} must be an integer >= ${min}, got ${v}`, { field });
  };
  int(rows, 'rows', 0);
  int(trainWindow, 'trainWindow', 1);
  int(testWindow, 'testWindow', 1);
  int(embargo, 'embargo', 0);
  int(step, 'step', 1);
  if (step < testWindow) {
    throw new ConfigError(`step (${step}) must be >= testWindow (${testWindow}) so test windows do not overlap`, {
      field: 'step',
    });
  }
  const windows: WalkForwardWindow[] = [];
  for (let k = 0; ; k++) {
    const trainEnd = trainWindow + k * step;
    const trainStart = opts.expanding === true ? 0 : trainEnd - trainWindow;
    const testStart = trainEnd + embargo;
    const testEnd = testStart + testWindow;
    if (testEnd > rows) {
      if (opts.partial !== false && testStart < rows) windows.push({ trainStart, trainEnd, testStart, testEnd: rows });
      break;
    }
    windows.push({ trainStart, trainEnd, testStart, testEnd });
  }
  return windows;
}
