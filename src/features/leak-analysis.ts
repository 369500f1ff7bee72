/**
 * Leak analysis of a feature pipeline: is the value of each feature at candle
 * t really computed from candles up to t only (no LOOK-AHEAD), and how much
 * does it depend on how much EARLIER history the computation started with
 * (WARM-UP DEPENDENCE)?
 *
 * The pipeline is a black box `extract(candles) -> rows aligned to candles`
 * (by default the library's streaming AND batch extractors, since a bug could
 * hide in either). It is run once on the full series (the reference), then,
 * at `samples` candles t spread over the series (stratified, seeded), on
 * windows of it:
 *
 * - A = candles [t - H, t]: every later candle removed, H candles of history.
 * - B = candles [t - H, t + span]: the same start with later candles kept.
 *   Every row of A must equal the same row of B bit for bit (same history,
 *   only later candles differ): any change is look-ahead.
 * - At a few samples, candles [0, t] (all history, every later candle
 *   removed) against the full series: same history, so again any change is
 *   look-ahead, however far ahead the pipeline looks.
 * - Row t - H + h of A was computed with exactly h candles of history; its
 *   distance to the full-history value at that candle gives, over all
 *   samples, the warm-up curve D(h) for h = warm-up .. H from ONE extraction
 *   per sample. Differences at the checkpoint `histories` are reported, and
 *   the history from which D stays within `tolerance` (the minimum history to
 *   recommend). A feature still further than `failTolerance` from its
 *   full-history value at `warmupHistory` candles is an error
 *   ('history-dependent'); one that converges is a warning ('warm-up').
 *
 * Values are compared with |a - b| <= tolerance * max(1, |b|): relative for
 * values above 1 in magnitude (prices), absolute below (returns, ratios).
 * Cost: O(samples * (2H + span)) candles per extractor plus a few full
 * prefixes, never O(samples * n) - seconds on 45k candles.
 */
import { ConfigError, DataError } from '../core/errors.js';
import { Mulberry32 } from '../core/random.js';
import type { Candle } from '../core/types.js';
import { extractFeaturesBatch } from './batch-extractor.js';
import { featureNames, schemaWarmup } from './feature-schema.js';
import type { FeatureSetSpec } from './feature-sets.js';
import { resolveFeatureSchema } from './feature-sets.js';
import { FeatureStream } from './streaming-extractor.js';

/** Feature rows of a candle series: row-major, one row per candle, NaN where a value is not defined (warm-up). */
export type SeriesExtract = (candles: readonly Candle[]) => ArrayLike<number> | Promise<ArrayLike<number>>;

export interface NamedExtract {
  readonly name: string;
  readonly extract: SeriesExtract;
}

export interface LeakAnalysisOptions {
  readonly candles: readonly Candle[];
  /** The pipeline(s) to check (default: the streaming and the batch extractor of `featureSet`). */
  readonly extract?: SeriesExtract | readonly NamedExtract[];
  /** Built-in feature set of the default extractors, and names/warm-up of the columns (default 'relative'). */
  readonly featureSet?: FeatureSetSpec;
  /** Column names; required with a custom `extract` whose columns differ from `featureSet`'s. */
  readonly featureNames?: readonly string[];
  /**
   * Candles of history a complete row needs (default: the feature set's warm-up,
   * or with custom `featureNames` the first row of the full series with every column defined).
   */
  readonly warmup?: number;
  /** Candles t checked (default 200). */
  readonly samples?: number;
  /** Seed of the sample positions (default 1). */
  readonly seed?: number;
  /** History lengths (candles before t) the report shows differences at (default 1x, 2x, 5x the warm-up and maxHistory). */
  readonly histories?: readonly number[];
  /** Longest history of the windows (default 1000, at least the largest of `histories`; at most half the series). */
  readonly maxHistory?: number;
  /** Later candles kept in the window compared with the truncated one (default: maxHistory). */
  readonly lookAheadSpan?: number;
  /** Samples also recomputed from the very first candle with every later candle removed (default 10). */
  readonly fullHistorySamples?: number;
  /** Warm-up agreement: |a - b| <= tolerance * max(1, |b|) (default 1e-9). */
  readonly tolerance?: number;
  /** A feature further than this from its full-history value at `warmupHistory` is an error (default 1e-6). */
  readonly failTolerance?: number;
  /** History the features will really be computed with (e.g. a live warm-up); default maxHistory. */
  readonly warmupHistory?: number;
  /** A value changing by more than this when later candles are removed is look-ahead (default 0: any change). */
  readonly lookAheadTolerance?: number;
  /** Called after each sample of each extractor. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Largest differences, over all samples, between values computed with `history` candles before t and with all. */
export interface HistoryDifference {
  readonly history: number;
  /** Largest |a - b| / max(1, |b|): the measure `tolerance` applies to. */
  readonly max: number;
  readonly maxAbs: number;
  /** Largest |a - b| / |b| (large when the full-history value is near 0). */
  readonly maxRel: number;
}

/** One value that changed when later candles were removed. */
export interface LookAheadExample {
  readonly candleIndex: number;
  readonly timestamp: number;
  /** Index of the last candle the truncated computation was given (>= candleIndex). */
  readonly truncatedAt: number;
  /** The value computed from the truncated series (null: undefined/NaN). */
  readonly truncated: number | null;
  /** The value with later candles present (null: undefined/NaN). */
  readonly extended: number | null;
  /** Index of the last candle of the extended computation ('all': the full series). */
  readonly extendedTo: number | 'all';
}

/**
 * - ok: no look-ahead, value independent of history beyond the warm-up (within tolerance);
 * - warm-up: converges, but needs more history than the warm-up (warning);
 * - history-dependent: still differs by more than failTolerance at warmupHistory (error);
 * - look-ahead: changes when later candles are removed (error).
 */
export type FeatureLeakStatus = 'ok' | 'warm-up' | 'history-dependent' | 'look-ahead';

export interface FeatureLeakResult {
  readonly name: string;
  readonly status: FeatureLeakStatus;
  readonly lookAhead: boolean;
  /** Largest |change| when later candles were removed (Infinity: defined on one side only). */
  readonly lookAheadMaxDiff: number;
  /** Values (sample x row) that changed. */
  readonly lookAheadChanges: number;
  readonly lookAheadExample?: LookAheadExample;
  /** At each checkpoint history. */
  readonly differences: readonly HistoryDifference[];
  /** Candles of history from which the value stays within tolerance of the full-history one; null = not within maxHistory. */
  readonly historyNeeded: number | null;
  /** Largest difference (tolerance units: |a - b| / max(1, |b|)) with warmupHistory or more candles of history. */
  readonly diffAtWarmupHistory: number;
}

export interface ExtractorLeakReport {
  readonly extractor: string;
  readonly features: readonly FeatureLeakResult[];
}

/** One feature over every extractor: the worst of each. */
export interface FeatureLeakSummary {
  readonly name: string;
  readonly status: FeatureLeakStatus;
  readonly lookAhead: boolean;
  /** Extractors in which it looks ahead. */
  readonly lookAheadIn: readonly string[];
  readonly lookAheadMaxDiff: number;
  /** Values (sample x row x extractor) that changed. */
  readonly lookAheadChanges: number;
  readonly lookAheadExample?: LookAheadExample & { readonly extractor: string };
  readonly differences: readonly HistoryDifference[];
  readonly historyNeeded: number | null;
  readonly diffAtWarmupHistory: number;
}

export interface LeakReport {
  readonly symbol: string;
  readonly timeframe: string;
  readonly candles: number;
  readonly from: number;
  readonly to: number;
  readonly extractors: readonly string[];
  readonly featureNames: readonly string[];
  readonly warmup: number;
  readonly samples: number;
  readonly seed: number;
  readonly maxHistory: number;
  readonly histories: readonly number[];
  readonly lookAheadSpan: number;
  readonly fullHistorySamples: number;
  readonly tolerance: number;
  readonly failTolerance: number;
  readonly warmupHistory: number;
  readonly lookAheadTolerance: number;
  readonly features: readonly FeatureLeakSummary[];
  readonly byExtractor: readonly ExtractorLeakReport[];
  /** Features that change when later candles are removed. */
  readonly lookAhead: readonly string[];
  /** Features still too far from their full-history value at warmupHistory. */
  readonly historyDependent: readonly string[];
  /** Features that need more than the warm-up to converge (warnings). */
  readonly warmupDependent: readonly string[];
  /** Largest historyNeeded (null when some feature did not converge within maxHistory). */
  readonly recommendedHistory: number | null;
  /** No look-ahead and nothing history-dependent. */
  readonly ok: boolean;
  readonly seconds: number;
}

export const LEAK_ANALYSIS_DEFAULTS = Object.freeze({
  samples: 200,
  seed: 1,
  maxHistory: 1000,
  fullHistorySamples: 10,
  tolerance: 1e-9,
  failTolerance: 1e-6,
  lookAheadTolerance: 0,
});

/** Streaming extraction of a whole series (FeatureStream): NaN rows during warm-up. */
export function streamingFeatureRows(candles: readonly Candle[], featureSet?: FeatureSetSpec): Float64Array {
  const stream = new FeatureStream(featureSet);
  const out = new Float64Array(candles.length * stream.width).fill(Number.NaN);
  for (let i = 0; i < candles.length; i++) stream.update(candles[i]!, out, i * stream.width);
  return out;
}

/** Batch extraction of a whole series (extractFeaturesBatch). */
export function batchFeatureRows(candles: readonly Candle[], featureSet?: FeatureSetSpec): Float64Array {
  return extractFeaturesBatch(candles, featureSet).values;
}

/** The library's two extractors of a feature set, which leak analysis checks by default. */
export function defaultFeatureExtractors(featureSet?: FeatureSetSpec): NamedExtract[] {
  const schema = resolveFeatureSchema(featureSet);
  return [
    { name: 'streaming', extract: (c) => streamingFeatureRows(c, schema) },
    { name: 'batch', extract: (c) => batchFeatureRows(c, schema) },
  ];
}

/**
 * Sample positions: `count` candles in [lo, hi], one drawn uniformly from each
 * of `count` equal strata (spread over the range, seeded, distinct), ascending.
 */
export function stratifiedSample(lo: number, hi: number, count: number, seed: number): number[] {
  const m = hi - lo + 1;
  const k = Math.min(count, m);
  const rng = new Mulberry32(seed);
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const start = Math.floor((i * m) / k);
    const end = Math.floor(((i + 1) * m) / k);
    out.push(lo + start + Math.floor(rng.next() * (end - start)));
  }
  return out;
}

function intOption(value: number, field: string, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${field} must be an integer >= ${min}, got ${value}`, { field });
  }
  return value;
}

function toleranceOption(value: number, field: string): number {
  if (!(value >= 0) || Number.isNaN(value)) throw new ConfigError(`${field} must be >= 0, got ${value}`, { field });
  return value;
}

/** Per-extractor accumulators. */
class Accumulator {
  readonly lookMax: Float64Array;
  readonly lookCount: Float64Array;
  readonly examples: (LookAheadExample | undefined)[];
  /** [col * (H + 1) + h]: largest |a - b|, |a - b| / |b| and |a - b| / max(1, |b|) over samples with history h. */
  readonly abs: Float64Array;
  readonly rel: Float64Array;
  readonly tol: Float64Array;

  constructor(
    readonly cols: number,
    readonly maxHistory: number,
  ) {
    this.lookMax = new Float64Array(cols);
    this.lookCount = new Float64Array(cols);
    this.examples = new Array(cols).fill(undefined);
    const size = cols * (maxHistory + 1);
    this.abs = new Float64Array(size);
    this.rel = new Float64Array(size);
    this.tol = new Float64Array(size);
  }
}

const valueOrNull = (x: number): number | null => (Number.isNaN(x) ? null : x);

/** |a - b|, with NaN equal to NaN and Infinity when only one side is defined. */
function difference(a: number, b: number): number {
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  if (an || bn) return an && bn ? 0 : Number.POSITIVE_INFINITY;
  if (a === b) return 0;
  const d = Math.abs(a - b);
  return Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
}

async function runExtract(
  extract: SeriesExtract,
  name: string,
  candles: readonly Candle[],
  cols: number,
): Promise<ArrayLike<number>> {
  const rows = await extract(candles);
  if (rows.length !== candles.length * cols) {
    throw new DataError(
      `extractor '${name}' returned ${rows.length} values for ${candles.length} candles of ${cols} features ` +
        `(expected ${candles.length * cols}: one row per candle)`,
      { field: 'extract' },
    );
  }
  return rows;
}

/** Runs the analysis; see the file comment for the method. */
export async function analyzeLeaks(options: LeakAnalysisOptions): Promise<LeakReport> {
  const started = performance.now();
  const { candles } = options;
  const n = candles.length;
  const extractors: readonly NamedExtract[] =
    options.extract === undefined
      ? defaultFeatureExtractors(options.featureSet)
      : typeof options.extract === 'function'
        ? [{ name: 'custom', extract: options.extract }]
        : options.extract;
  if (extractors.length === 0) throw new ConfigError('no extractor to check', { field: 'extract' });
  const schema = options.featureNames === undefined ? resolveFeatureSchema(options.featureSet) : undefined;
  const names = options.featureNames ?? featureNames(schema!);
  const cols = names.length;
  if (cols === 0) throw new ConfigError('featureNames is empty', { field: 'featureNames' });

  const samples = intOption(options.samples ?? LEAK_ANALYSIS_DEFAULTS.samples, 'samples', 1);
  const seed = intOption(options.seed ?? LEAK_ANALYSIS_DEFAULTS.seed, 'seed', 0);
  const tolerance = toleranceOption(options.tolerance ?? LEAK_ANALYSIS_DEFAULTS.tolerance, 'tolerance');
  const failTolerance = toleranceOption(options.failTolerance ?? LEAK_ANALYSIS_DEFAULTS.failTolerance, 'failTolerance');
  const lookAheadTolerance = toleranceOption(
    options.lookAheadTolerance ?? LEAK_ANALYSIS_DEFAULTS.lookAheadTolerance,
    'lookAheadTolerance',
  );
  const fullHistorySamples = intOption(
    options.fullHistorySamples ?? LEAK_ANALYSIS_DEFAULTS.fullHistorySamples,
    'fullHistorySamples',
    0,
  );
  for (const h of options.histories ?? []) intOption(h, 'histories', 0);
  if (options.warmupHistory !== undefined) intOption(options.warmupHistory, 'warmupHistory', 0);

  // The reference: every extractor over the whole series.
  const full: ArrayLike<number>[] = [];
  for (const e of extractors) full.push(await runExtract(e.extract, e.name, candles, cols));

  const warmup =
    options.warmup !== undefined
      ? intOption(options.warmup, 'warmup', 0)
      : schema !== undefined
        ? schemaWarmup(schema)
        : Math.max(...full.map((rows) => firstCompleteRow(rows, n, cols)));
  if (warmup >= n) {
    throw new DataError(`${n} candles are too few: no row has every feature defined (warm-up ${warmup})`, {
      field: 'candles',
    });
  }

  // Windows need room for their history and for later candles: at most half the series of history.
  const requestedMax = Math.max(options.maxHistory ?? LEAK_ANALYSIS_DEFAULTS.maxHistory, ...(options.histories ?? []));
  intOption(requestedMax, 'maxHistory', 0);
  const H = Math.min(requestedMax, Math.floor((n - 1) / 2));
  if (H < warmup) {
    throw new DataError(
      `${n} candles are too few to check a ${warmup}-candle warm-up (need at least ${2 * warmup + 1})`,
      { field: 'candles' },
    );
  }
  const span = intOption(options.lookAheadSpan ?? H, 'lookAheadSpan', 1);
  const histories = [
    ...new Set(
      (options.histories ?? [warmup, 2 * warmup, 5 * warmup, H]).filter((h) => h >= warmup && h <= H).concat(H),
    ),
  ].sort((a, b) => a - b);
  const warmupHistory = Math.min(H, Math.max(warmup, options.warmupHistory ?? H));

  const positions = stratifiedSample(H, n - 1, samples, seed);
  // Full-history recomputation at a few samples with later candles, spread by rank.
  const withLater = positions.filter((t) => t < n - 1);
  const fullCount = Math.min(fullHistorySamples, withLater.length);
  const fullPositions: number[] = [];
  for (let i = 0; i < fullCount; i++) {
    fullPositions.push(withLater[Math.floor(((i + 0.5) * withLater.length) / fullCount)]!);
  }

  const total = extractors.length * (positions.length + fullPositions.length);
  let done = 0;
  const byExtractor: ExtractorLeakReport[] = [];
  for (let x = 0; x < extractors.length; x++) {
    const { name, extract } = extractors[x]!;
    const ref = full[x]!;
    const acc = new Accumulator(cols, H);

    /** Rows of candles [from, to] of `a` (starting at candle aStart) against `b` (starting at bStart). */
    const compareRows = (
      a: ArrayLike<number>,
      aStart: number,
      b: ArrayLike<number>,
      bStart: number,
      from: number,
      to: number,
      extendedTo: number | 'all',
    ) => {
      for (let i = from; i <= to; i++) {
        const ra = (i - aStart) * cols;
        const rb = (i - bStart) * cols;
        for (let j = 0; j < cols; j++) {
          const va = a[ra + j]!;
          const vb = b[rb + j]!;
          const d = difference(va, vb);
          if (d <= lookAheadTolerance) continue;
          acc.lookCount[j]!++;
          if (d > acc.lookMax[j]!) acc.lookMax[j] = d;
          acc.examples[j] ??= {
            candleIndex: i,
            timestamp: candles[i]!.timestamp,
            truncatedAt: to,
            truncated: valueOrNull(va),
            extended: valueOrNull(vb),
            extendedTo,
          };
        }
      }
    };

    for (const t of positions) {
      const s = t - H;
      const truncated = await runExtract(extract, name, candles.slice(s, t + 1), cols);
      // Same start, later candles kept: every row must be identical.
      const end = Math.min(n - 1, t + span);
      if (end > t) {
        const extended = await runExtract(extract, name, candles.slice(s, end + 1), cols);
        compareRows(truncated, s, extended, s, s, t, end);
      }
      // Warm-up curve: row h of the window had h candles of history.
      for (let h = warmup; h <= H; h++) {
        const i = s + h;
        for (let j = 0; j < cols; j++) {
          const a = truncated[h * cols + j]!;
          const b = ref[i * cols + j]!;
          const d = difference(a, b);
          if (d === 0) continue;
          const k = j * (H + 1) + h;
          const mag = Math.abs(b);
          const rel = mag === 0 || !Number.isFinite(mag) ? Number.POSITIVE_INFINITY : d / mag;
          const tol = d / Math.max(1, Number.isFinite(mag) ? mag : 1);
          if (d > acc.abs[k]!) acc.abs[k] = d;
          if (rel > acc.rel[k]!) acc.rel[k] = rel;
          if (tol > acc.tol[k]!) acc.tol[k] = tol;
        }
      }
      options.onProgress?.(++done, total);
    }

    // All history, every later candle removed, against the full series.
    for (const t of fullPositions) {
      const prefix = await runExtract(extract, name, candles.slice(0, t + 1), cols);
      compareRows(prefix, 0, ref, 0, 0, t, 'all');
      options.onProgress?.(++done, total);
    }

    byExtractor.push({
      extractor: name,
      features: names.map((featureName, j) =>
        featureResult(featureName, j, acc, { warmup, H, histories, tolerance, failTolerance, warmupHistory }),
      ),
    });
  }

  const features = names.map((featureName, j) => summarize(featureName, j, byExtractor, histories));
  const lookAhead = features.filter((f) => f.lookAhead).map((f) => f.name);
  const historyDependent = features.filter((f) => f.status === 'history-dependent').map((f) => f.name);
  const warmupDependent = features.filter((f) => f.status === 'warm-up').map((f) => f.name);
  const needed = features.filter((f) => !f.lookAhead).map((f) => f.historyNeeded);
  const recommendedHistory = needed.includes(null) ? null : Math.max(warmup, ...(needed as number[]));
  const first = candles[0]!;
  return {
    symbol: first.symbol,
    timeframe: first.timeframe,
    candles: n,
    from: first.timestamp,
    to: candles[n - 1]!.timestamp,
    extractors: extractors.map((e) => e.name),
    featureNames: [...names],
    warmup,
    samples: positions.length,
    seed,
    maxHistory: H,
    histories,
    lookAheadSpan: span,
    fullHistorySamples: fullPositions.length,
    tolerance,
    failTolerance,
    warmupHistory,
    lookAheadTolerance,
    features,
    byExtractor,
    lookAhead,
    historyDependent,
    warmupDependent,
    recommendedHistory,
    ok: lookAhead.length === 0 && historyDependent.length === 0,
    seconds: (performance.now() - started) / 1000,
  };
}

function firstCompleteRow(rows: ArrayLike<number>, n: number, cols: number): number {
  for (let i = 0; i < n; i++) {
    let complete = true;
    for (let j = 0; j < cols && complete; j++) complete = !Number.isNaN(rows[i * cols + j]!);
    if (complete) return i;
  }
  return n;
}

interface CurveSettings {
  readonly warmup: number;
  readonly H: number;
  readonly histories: readonly number[];
  readonly tolerance: number;
  readonly failTolerance: number;
  readonly warmupHistory: number;
}

function featureResult(name: string, j: number, acc: Accumulator, c: CurveSettings): FeatureLeakResult {
  const base = j * (c.H + 1);
  // Tail maximum: the largest difference with h or more candles of history.
  let tail = 0;
  let historyNeeded: number | null = c.warmup;
  let diffAtWarmupHistory = 0;
  for (let h = c.H; h >= c.warmup; h--) {
    const d = acc.tol[base + h]!;
    if (d > tail) tail = d;
    if (tail > c.tolerance && historyNeeded === c.warmup) historyNeeded = h === c.H ? null : h + 1;
    if (h === c.warmupHistory) diffAtWarmupHistory = tail;
  }
  const lookAhead = acc.lookCount[j]! > 0;
  const status: FeatureLeakStatus = lookAhead
    ? 'look-ahead'
    : diffAtWarmupHistory > c.failTolerance
      ? 'history-dependent'
      : historyNeeded !== c.warmup
        ? 'warm-up'
        : 'ok';
  const example = acc.examples[j];
  return {
    name,
    status,
    lookAhead,
    lookAheadMaxDiff: acc.lookMax[j]!,
    lookAheadChanges: acc.lookCount[j]!,
    ...(example !== undefined ? { lookAheadExample: example } : {}),
    differences: c.histories.map((h) => ({
      history: h,
      max: acc.tol[base + h]!,
      maxAbs: acc.abs[base + h]!,
      maxRel: acc.rel[base + h]!,
    })),
    historyNeeded,
    diffAtWarmupHistory,
  };
}

const SEVERITY: Record<FeatureLeakStatus, number> = { ok: 0, 'warm-up': 1, 'history-dependent': 2, 'look-ahead': 3 };

function summarize(
  name: string,
  j: number,
  byExtractor: readonly ExtractorLeakReport[],
  histories: readonly number[],
): FeatureLeakSummary {
  const results = byExtractor.map((r) => ({ extractor: r.extractor, result: r.features[j]! }));
  let status: FeatureLeakStatus = 'ok';
  let historyNeeded: number | null = 0;
  let lookAheadExample: (LookAheadExample & { extractor: string }) | undefined;
  for (const { extractor, result } of results) {
    if (SEVERITY[result.status] > SEVERITY[status]) status = result.status;
    if (historyNeeded !== null)
      historyNeeded = result.historyNeeded === null ? null : Math.max(historyNeeded, result.historyNeeded);
    if (lookAheadExample === undefined && result.lookAheadExample !== undefined) {
      lookAheadExample = { ...result.lookAheadExample, extractor };
    }
  }
  const lookAheadIn = results.filter((r) => r.result.lookAhead).map((r) => r.extractor);
  return {
    name,
    status,
    lookAhead: lookAheadIn.length > 0,
    lookAheadIn,
    lookAheadMaxDiff: Math.max(...results.map((r) => r.result.lookAheadMaxDiff)),
    lookAheadChanges: results.reduce((sum, r) => sum + r.result.lookAheadChanges, 0),
    ...(lookAheadExample !== undefined ? { lookAheadExample } : {}),
    differences: histories.map((history, k) => ({
      history,
      max: Math.max(...results.map((r) => r.result.differences[k]!.max)),
      maxAbs: Math.max(...results.map((r) => r.result.differences[k]!.maxAbs)),
      maxRel: Math.max(...results.map((r) => r.result.differences[k]!.maxRel)),
    })),
    historyNeeded,
    diffAtWarmupHistory: Math.max(...results.map((r) => r.result.diffAtWarmupHistory)),
  };
}
