/**
 * Feature scaling fitted on training rows only and saved with the model, so
 * live rows are scaled exactly as the training rows were.
 *
 * - `minmax`: (x - min) / (max - min) into [0, 1]; values outside the training
 *   range are clipped to [0, 1] by default.
 * - `zscore`: (x - mean) / sd (population sd), clipped to ±clipSigma (default
 *   5) by default, so one absurd live value cannot swing the model beyond
 *   anything it was trained on.
 * A column that was constant in training (zero range / zero variance) maps to 0.
 */
import { ConfigError, DataError, ModelError } from '../core/errors.js';

export type ScalerKind = 'minmax' | 'zscore';

export interface ScalerOptions {
  kind?: ScalerKind;
  /** Clip outputs: to [0, 1] for minmax, to ±clipSigma for zscore (default on for both). */
  clip?: boolean;
  /** Bound for zscore clipping, in standard deviations (default 5). */
  clipSigma?: number;
  /** Column names, used in error messages and checked on load. */
  featureNames?: readonly string[];
}

export interface ScalerJSON {
  readonly format: 'quantflow-scaler';
  readonly version: 1;
  readonly kind: ScalerKind;
  readonly clip: boolean;
  readonly clipSigma: number;
  readonly featureNames: readonly string[];
  /** minmax: per-column min; zscore: per-column mean. */
  readonly center: readonly number[];
  /** minmax: per-column max - min; zscore: per-column sd. */
  readonly spread: readonly number[];
}

type Rows = Float64Array | Float32Array | readonly number[];
type Out = Float64Array | Float32Array | number[];

/** Spreads at or below this fraction of the column's magnitude count as zero (float residue of a constant column). */
const ZERO_SPREAD = 1e-12;

export class FeatureScaler {
  readonly kind: ScalerKind;
  readonly clip: boolean;
  readonly clipSigma: number;
  private names: readonly string[] | undefined;
  private center: Float64Array = new Float64Array(0);
  private spread: Float64Array = new Float64Array(0);
  /** 1 / spread, or 0 for a constant column. */
  private factor: Float64Array = new Float64Array(0);
  private fitted = false;

  constructor(options: ScalerOptions = {}) {
    this.kind = options.kind ?? 'minmax';
    if (this.kind !== 'minmax' && this.kind !== 'zscore') {
      throw new ConfigError(`unknown scaler '${String(this.kind)}' (expected 'minmax' or 'zscore')`, { field: 'kind' });
    }
    this.clip = options.clip ?? true;
    this.clipSigma = options.clipSigma ?? 5;
    if (!(this.clipSigma > 0)) throw new ConfigError('clipSigma must be > 0', { field: 'clipSigma' });
    this.names = options.featureNames;
  }

  get nFeatures(): number {
    return this.center.length;
  }

  get featureNames(): readonly string[] {
    return this.names ?? Array.from({ length: this.nFeatures }, (_, j) => `feature ${j}`);
  }

  /** Learns per-column statistics from `rows` (row-major, `nFeatures` per row). Returns this. */
  fit(rows: Rows, nFeatures: number): this {
    if (!Number.isInteger(nFeatures) || nFeatures <= 0) {
      throw new ConfigError(`nFeatures must be a positive integer, got ${nFeatures}`, { field: 'nFeatures' });
    }
    if (this.names !== undefined && this.names.length !== nFeatures) {
      throw new DataError(`scaler has ${this.names.length} feature names but rows have ${nFeatures} features`, {
        field: 'nFeatures',
      });
    }
    this.checkShape(rows, nFeatures);
    const n = rows.length / nFeatures;
    if (n === 0) throw new DataError('cannot fit a scaler on zero rows', { field: 'rows' });
    // Statistics are installed only when every value passed, so a failed fit leaves the scaler unfitted.
    const center = new Float64Array(nFeatures);
    const spread = new Float64Array(nFeatures);
    for (let j = 0; j < nFeatures; j++) {
      let a = 0;
      let b = 0;
      if (this.kind === 'minmax') {
        a = Number.POSITIVE_INFINITY;
        b = Number.NEGATIVE_INFINITY;
        for (let i = 0; i < n; i++) {
          const x = this.finite(rows[i * nFeatures + j]!, i, j);
          if (x < a) a = x;
          if (x > b) b = x;
        }
        center[j] = a;
        spread[j] = b - a;
      } else {
        for (let i = 0; i < n; i++) a += this.finite(rows[i * nFeatures + j]!, i, j);
        const mean = a / n;
        for (let i = 0; i < n; i++) b += (rows[i * nFeatures + j]! - mean) ** 2;
        center[j] = mean;
        spread[j] = Math.sqrt(b / n);
      }
    }
    this.install(center, spread);
    return this;
  }

  /**
   * Scales `data` (one or more rows) into `out` (default: in place) without
   * allocating. `firstRow` numbers the rows in error messages.
   */
  transform<T extends Out>(data: Rows, out?: T, firstRow = 0): T {
    this.requireFitted();
    const nf = this.nFeatures;
    this.checkShape(data, nf);
    const target = (out ?? data) as T;
    if (target.length < data.length) {
      throw new ConfigError(`output of length ${target.length} is shorter than input of length ${data.length}`, {
        field: 'out',
      });
    }
    const { center, factor } = this;
    const minmax = this.kind === 'minmax';
    const lo = minmax ? 0 : -this.clipSigma;
    const hi = minmax ? 1 : this.clipSigma;
    const clip = this.clip;
    for (let k = 0; k < data.length; k++) {
      const j = k % nf;
      const x = data[k]!;
      if (!Number.isFinite(x)) this.finite(x, firstRow + (k - j) / nf, j);
      const f = factor[j]!;
      let y = f === 0 ? 0 : (x - center[j]!) * f;
      if (clip) y = Math.min(Math.max(y, lo), hi);
      target[k] = y;
    }
    return target;
  }

  /** Throws DataError unless rows have exactly this scaler's feature count (and names, when given). */
  assertCompatible(nFeatures: number, featureNames?: readonly string[]): void {
    this.requireFitted();
    if (nFeatures !== this.nFeatures) {
      throw new DataError(`scaler was fitted on ${this.nFeatures} features, got ${nFeatures}`, { field: 'nFeatures' });
    }
    if (featureNames !== undefined && this.names !== undefined) {
      const j = featureNames.findIndex((name, i) => name !== this.names![i]);
      if (j >= 0) {
        throw new DataError(`feature ${j} is '${featureNames[j]}' but the scaler was fitted on '${this.names[j]}'`, {
          field: 'featureNames',
          index: j,
        });
      }
    }
  }

  toJSON(): ScalerJSON {
    this.requireFitted();
    return {
      format: 'quantflow-scaler',
      version: 1,
      kind: this.kind,
      clip: this.clip,
      clipSigma: this.clipSigma,
      featureNames: [...this.featureNames],
      center: Array.from(this.center),
      spread: Array.from(this.spread),
    };
  }

  /** Restores a scaler saved with toJSON(); ModelError if the data is malformed. */
  static fromJSON(json: unknown, file?: string): FeatureScaler {
    const where = file === undefined ? { field: 'scaler' } : { file, field: 'scaler' };
    const j = json as Partial<ScalerJSON> | null;
    if (j === null || typeof j !== 'object' || j.format !== 'quantflow-scaler' || j.version !== 1) {
      throw new ModelError('not a quantflow scaler (format/version)', where);
    }
    if (j.kind !== 'minmax' && j.kind !== 'zscore') throw new ModelError(`unknown scaler kind '${j.kind}'`, where);
    const { center, spread, featureNames } = j;
    const n = Array.isArray(center) ? center.length : -1;
    if (
      !Array.isArray(center) ||
      n <= 0 ||
      !Array.isArray(spread) ||
      spread.length !== n ||
      !Array.isArray(featureNames) ||
      featureNames.length !== n ||
      !center.every(Number.isFinite) ||
      !spread.every((v) => Number.isFinite(v) && v >= 0)
    ) {
      throw new ModelError(
        'scaler center/spread/featureNames must be finite arrays of the same non-zero length',
        where,
      );
    }
    if (!featureNames.every((name) => typeof name === 'string')) {
      throw new ModelError('scaler featureNames must be strings', where);
    }
    const s = new FeatureScaler({ kind: j.kind, clip: j.clip === true, clipSigma: j.clipSigma ?? 5, featureNames });
    s.install(Float64Array.from(center), Float64Array.from(spread));
    return s;
  }

  private install(center: Float64Array, spread: Float64Array): void {
    this.center = center;
    this.spread = spread;
    this.factor = center.map((c, j) => (spread[j]! > ZERO_SPREAD * Math.max(1, Math.abs(c)) ? 1 / spread[j]! : 0));
    this.fitted = true;
  }

  private finite(x: number, row: number, col: number): number {
    if (!Number.isFinite(x)) {
      const name = this.names?.[col] ?? `feature ${col}`;
      throw new DataError(`feature '${name}' is ${x} in row ${row}`, { field: name, index: row });
    }
    return x;
  }

  private checkShape(data: Rows, nFeatures: number): void {
    if (data.length % nFeatures !== 0) {
      throw new DataError(
        `expected rows of ${nFeatures} features, got ${data.length} values (not a multiple of ${nFeatures})`,
        { field: 'nFeatures' },
      );
    }
  }

  private requireFitted(): void {
    if (!this.fitted) throw new ModelError('scaler is used before fit() or fromJSON()', { field: 'scaler' });
  }
}
