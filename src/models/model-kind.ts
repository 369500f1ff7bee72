/**
 * What a model kind is: the options it takes, the rows it fits on, what a fit
 * gives back and how its files load (model-kinds.ts holds the kinds).
 */
import type { Logger } from '../core/logger.js';
import type { TargetKind } from '../features/targets.js';
import type { CalibrationMethod } from './calibration.js';
import type { LinearOptions } from './linear-model.js';
import type { MlpOptions } from './mlp.js';
import type { EpochLog } from './mlp-training.js';
import type { ModelFiles } from './model-files.js';
import type { ModelKind, ModelMeta } from './model-meta.js';
import type { OnnxLoadOptions } from './onnx-model.js';
import type { ScaledModel } from './scaled-model.js';
import type { TfjsModelOptions } from './tfjs-model.js';

/** The network's options without the seed (given once, at the top level). */
export type NetworkOptions = Omit<MlpOptions, 'seed' | 'output'>;

export interface PythonTrainOptions {
  /** Absolute path of the model script (default: the bundled logistic regression example). */
  readonly script?: string;
  /** Passed to the script's `fit` (the seed is added). */
  readonly params?: Record<string, unknown>;
  readonly timeoutMs?: number;
  /** Python executable (default python3). */
  readonly python?: string;
}

export type GbdtLibrary = 'xgboost' | 'sklearn';

export interface GbdtOptions {
  /** 'xgboost' (default) or 'sklearn' (HistGradientBoosting). */
  readonly library?: GbdtLibrary;
  /** Boosting rounds at most (default 300). */
  readonly trees?: number;
  /** Tree depth at most (default 3). */
  readonly depth?: number;
  /** Default 0.05. */
  readonly learningRate?: number;
  /** XGBoost min_child_weight, scikit-learn min_samples_leaf (default 20). */
  readonly minChildWeight?: number;
  /** XGBoost only: rows and columns sampled per tree (default 0.8 each). */
  readonly subsample?: number;
  readonly colsample?: number;
  /** L2 regularisation of leaf values (default 1). */
  readonly l2?: number;
  /** Rounds without improvement on the early-stopping rows before stopping (default 30; 0 = off). */
  readonly earlyStopping?: number;
  /** XGBoost threads (default 2). */
  readonly threads?: number;
  /** Timeout of the fit request (default 10 minutes). */
  readonly timeoutMs?: number;
  /** How the trained model is served in Node (backend, device) while training (scores, calibration). */
  readonly serve?: OnnxLoadOptions;
}

/** Options of every kind; each kind reads its own. */
export interface KindOptions {
  readonly network?: NetworkOptions;
  readonly linear?: LinearOptions;
  readonly python?: PythonTrainOptions;
  readonly gbdt?: GbdtOptions;
}

/** Scaled rows and their labels in model space (see features/targets.ts). */
export interface ScaledRows {
  readonly x: Float32Array;
  readonly y: Float32Array;
  readonly rows: number;
}

export interface FitInput {
  readonly target: TargetKind;
  readonly cols: number;
  readonly train: ScaledRows;
  /** Rows after `train` for early stopping, for kinds that use them. */
  readonly validation?: ScaledRows;
  readonly seed: number;
  /** Names of the `cols` columns, in order (recorded by kinds whose files can carry them). */
  readonly columns?: readonly string[];
  readonly logger: Logger;
  readonly onEpoch?: (log: EpochLog) => void | Promise<void>;
}

export interface FittedBackend {
  /** Ready to answer scaled rows: a probability (direction) or the target in model space. */
  readonly model: ScaledModel;
  /** The kind's own files in the model directory. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** Recorded in meta.json's `training.options`. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Library versions that produced it, for meta.json's `versions`. */
  readonly versions: Readonly<Record<string, string>>;
  /** E.g. 'wasm', 'python', 'typescript'. */
  readonly backend: string;
  readonly backendReason: string;
  readonly info: Readonly<Record<string, unknown>>;
  readonly history?: readonly EpochLog[];
  readonly samplesPerSecond?: number;
  /** Python models: the script, by file name, and its sha256. */
  readonly python?: ModelMeta['python'];
  /** Models run by ONNX Runtime: the output read. */
  readonly onnx?: ModelMeta['onnx'];
}

export interface PythonLoadOptions {
  /** Directories a model's script may be run from (default: the bundled examples only). */
  readonly scriptDirs?: readonly string[];
  /** Python executable (default python3). */
  readonly python?: string;
  readonly requestTimeoutMs?: number;
}

export interface KindLoadOptions {
  /** Where the files came from (directory or registry entry), for error messages. */
  readonly where: string;
  readonly python?: PythonLoadOptions;
  readonly logger?: Logger;
  readonly tfjs?: Pick<TfjsModelOptions, 'fastPathMaxRows' | 'predictBatchSize'>;
  /** ONNX Runtime backend, device and threads of the kinds it runs (onnx, gbdt). */
  readonly onnx?: OnnxLoadOptions;
}

export interface ModelKindDefinition {
  readonly kind: ModelKind;
  /** One line for help texts. */
  readonly description: string;
  /** Targets it can be fitted on (and loaded for). */
  readonly targets: readonly TargetKind[];
  /** Its fit uses early-stopping rows (held out before the calibration rows). */
  readonly usesValidation: boolean;
  /**
   * The calibration of its direction probabilities when none is asked for:
   * 'none' for a fit that is calibrated by its own loss (then no rows are
   * held out for it and the model fits on them instead).
   */
  readonly defaultCalibration: CalibrationMethod | 'none';
  /** Absent for kinds that are only imported (trained elsewhere). */
  fit?(input: FitInput, options: KindOptions): Promise<FittedBackend>;
  load(files: ModelFiles, meta: ModelMeta, options: KindLoadOptions): Promise<ScaledModel>;
}
