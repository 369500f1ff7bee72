/**
 * The seam between QuantFlow and the code that evaluates a model. A model
 * kind says which targets it can fit, fits one on scaled rows (or cannot: an
 * imported kind), and loads its files back into a `ScaledModel`. Everything
 * around it is shared by every kind: features, scaling, calibration, the
 * predictor, the registry, the tracker and every mode.
 *
 * Adding a kind is one entry in MODEL_KIND_TABLE (and its name in
 * model-meta.ts's ModelKind); nothing else branches on the kind.
 */
import path from 'node:path';
import { ConfigError, ModelError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { TargetKind } from '../features/targets.js';
import { fitGbdt, type GbdtOptions } from './gbdt-model.js';
import { fitLinear, LINEAR_MODEL_FILE, type LinearOptions, loadLinearModel } from './linear-model.js';
import type { MlpOptions } from './mlp.js';
import { type EpochLog, trainMlp } from './mlp-training.js';
import type { ModelFiles } from './model-files.js';
import type {
  FitInput,
  FittedBackend,
  KindLoadOptions,
  KindOptions,
  ModelKindDefinition,
  NetworkOptions,
  PythonLoadOptions,
  PythonTrainOptions,
  ScaledRows,
} from './model-kind.js';
import { META_FILE, MODEL_KINDS, type ModelKind, type ModelMeta } from './model-meta.js';
import { loadOnnxModel, type OnnxLoadOptions } from './onnx-model.js';
import {
  BUNDLED_PYTHON_DIR,
  EXAMPLE_PYTHON_SCRIPT,
  fitPythonModel,
  loadPythonModel,
  pythonScriptInfo,
} from './python-model.js';
import type { ScaledModel } from './scaled-model.js';
import { loadTf } from './tf-backend.js';
import { loadTfjsModel, type TfjsModelOptions, TfjsScaledModel } from './tfjs-model.js';

export type {
  FitInput,
  FittedBackend,
  KindLoadOptions,
  KindOptions,
  ModelKindDefinition,
  NetworkOptions,
  PythonLoadOptions,
  PythonTrainOptions,
  ScaledRows,
} from './model-kind.js';

import { layersModelToFiles } from './tfjs-model-io.js';

const LOGISTIC: ModelKindDefinition = {
  kind: 'logistic',
  description: 'L2-regularised logistic regression (ridge regression for return and volatility targets), TypeScript',
  targets: ['direction', 'return', 'volatility'],
  usesValidation: false,
  // Logistic regression minimises log loss: its probabilities are calibrated on its own rows.
  defaultCalibration: 'none',
  async fit(input, options) {
    const started = performance.now();
    const { json, model } = fitLinear(input.target, input.train.x, input.train.y, input.train.rows, input.cols, {
      ...options.linear,
    });
    const seconds = (performance.now() - started) / 1000;
    return {
      model,
      files: new Map([[LINEAR_MODEL_FILE, new TextEncoder().encode(`${JSON.stringify(json)}\n`)]]),
      options: { linear: { l2: json.l2 } },
      versions: {},
      backend: 'typescript',
      backendReason: json.link === 'logit' ? 'logistic regression (Newton)' : 'ridge regression (normal equations)',
      info: { iterations: json.iterations, seconds },
      samplesPerSecond: input.train.rows / Math.max(seconds, 1e-9),
    };
  },
  async load(files, _meta, options) {
    return loadLinearModel(files, options.where);
  },
};

const TFJS: ModelKindDefinition = {
  kind: 'tfjs',
  description: 'TensorFlow.js multilayer perceptron (dense ReLU layers, Adam, early stopping)',
  targets: ['direction', 'return', 'volatility'],
  usesValidation: true,
  defaultCalibration: 'platt',
  async fit(input, options) {
    const rt = await loadTf({ logger: input.logger });
    const output = input.target === 'direction' ? 'probability' : 'value';
    input.logger.info('training tensorflow.js model', {
      backend: rt.backend,
      trainRows: input.train.rows,
      validationRows: input.validation?.rows ?? 0,
      cols: input.cols,
    });
    const result = await trainMlp(
      rt,
      { ...input.train, cols: input.cols },
      input.validation !== undefined ? { ...input.validation, cols: input.cols } : undefined,
      { ...options.network, seed: input.seed, output },
      {
        onEpoch: async (log) => {
          input.logger.debug('epoch', { ...log });
          await input.onEpoch?.(log);
        },
      },
    );
    const model = new TfjsScaledModel(rt, result.model, { logger: input.logger });
    let files: Map<string, Uint8Array>;
    try {
      files = await layersModelToFiles(rt.tf, result.model);
    } catch (err) {
      await model.dispose();
      throw err;
    }
    const { seed: _seed, ...network } = result.options;
    return {
      model,
      files,
      options: { network, bestEpoch: result.bestEpoch, epochsRun: result.epochsRun },
      versions: rt.versions,
      backend: rt.backend,
      backendReason: rt.reason,
      info: {
        epochsRun: result.epochsRun,
        bestEpoch: result.bestEpoch,
        stoppedEarly: result.stoppedEarly,
        fastPath: model.fastPath !== undefined,
      },
      history: result.history,
      samplesPerSecond: result.samplesPerSecond,
    };
  },
  load(files, _meta, options) {
    return loadTfjsModel(files, {
      where: options.where,
      ...options.tfjs,
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
  },
};

const PYTHON: ModelKindDefinition = {
  kind: 'python',
  description: 'a Python script (fit/load/predict) served by a persistent worker process',
  targets: ['direction'],
  usesValidation: false,
  defaultCalibration: 'platt',
  async fit(input, options) {
    const py = options.python ?? {};
    const script = py.script ?? path.join(BUNDLED_PYTHON_DIR, EXAMPLE_PYTHON_SCRIPT);
    if (!path.isAbsolute(script)) {
      throw new ConfigError(`python script must be an absolute path, got '${script}'`, { field: 'python.script' });
    }
    const scriptInfo = await pythonScriptInfo(script);
    const params = { ...py.params, seed: input.seed };
    input.logger.info('training python model', { script, trainRows: input.train.rows, cols: input.cols });
    const fitted = await fitPythonModel({
      script,
      trainX: input.train.x,
      trainY: new Float32Array(input.train.y),
      cols: input.cols,
      params,
      ...(py.timeoutMs !== undefined ? { timeoutMs: py.timeoutMs } : {}),
      ...(py.python !== undefined ? { python: py.python } : {}),
    });
    const model = await loadPythonModel(
      fitted.files,
      { kind: 'python', name: scriptInfo.script, inputWidth: input.cols, python: scriptInfo },
      {
        scriptDirs: [path.dirname(script)],
        ...(py.python !== undefined ? { python: py.python } : {}),
        logger: input.logger,
      },
    );
    return {
      model,
      files: fitted.files,
      options: { python: { script: scriptInfo.script, params } },
      versions: (typeof fitted.info.python === 'string' ? { python: fitted.info.python } : {}) as Record<
        string,
        string
      >,
      backend: 'python',
      backendReason: `python script ${scriptInfo.script}`,
      info: fitted.info,
      python: scriptInfo,
    };
  },
  load(files, meta, options) {
    return loadPythonModel(files, meta, {
      scriptDirs: options.python?.scriptDirs ?? [BUNDLED_PYTHON_DIR],
      ...(options.python?.python !== undefined ? { python: options.python.python } : {}),
      ...(options.python?.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.python.requestTimeoutMs } : {}),
      ...(options.logger !== undefined ? { logger: options.logger } : {}),
    });
  },
};

const ONNX: ModelKindDefinition = {
  kind: 'onnx',
  description: 'an ONNX model trained elsewhere (scikit-learn, XGBoost, LightGBM, PyTorch), run by ONNX Runtime',
  targets: ['direction', 'return', 'volatility'],
  usesValidation: false,
  defaultCalibration: 'platt',
  load: loadOnnxModel,
};

const GBDT: ModelKindDefinition = {
  kind: 'gbdt',
  description: 'gradient-boosted trees (XGBoost or scikit-learn, in Python) exported to ONNX and run by ONNX Runtime',
  targets: ['direction', 'return', 'volatility'],
  usesValidation: true,
  defaultCalibration: 'platt',
  fit: fitGbdt,
  load: loadOnnxModel,
};

const MODEL_KIND_TABLE: Readonly<Record<ModelKind, ModelKindDefinition>> = {
  logistic: LOGISTIC,
  tfjs: TFJS,
  python: PYTHON,
  onnx: ONNX,
  gbdt: GBDT,
};

/** The definition of a kind; ConfigError naming the known ones otherwise. */
export function modelKind(kind: string): ModelKindDefinition {
  const def = (MODEL_KIND_TABLE as Record<string, ModelKindDefinition | undefined>)[kind];
  if (def === undefined) {
    throw new ConfigError(`unknown model kind '${kind}' (expected ${MODEL_KINDS.join(', ')})`, { field: 'kind' });
  }
  return def;
}

/** The kinds that can be trained here, for help texts. */
export function trainableKinds(): ModelKindDefinition[] {
  return MODEL_KINDS.map((k) => MODEL_KIND_TABLE[k]).filter((d) => d.fit !== undefined);
}

/** Checks that `kind` can fit `target`; ConfigError otherwise. */
export function assertFits(def: ModelKindDefinition, target: TargetKind): void {
  if (def.fit === undefined) {
    throw new ConfigError(`models of kind '${def.kind}' are trained elsewhere and imported, not trained here`, {
      field: 'kind',
    });
  }
  if (!def.targets.includes(target)) {
    throw new ConfigError(
      `a ${def.kind} model cannot be trained on the ${target} target (it fits ${def.targets.join(', ')})`,
      {
        field: 'target',
      },
    );
  }
}

/** Loads the kind-specific part of verified model files. */
export function loadScaledModel(files: ModelFiles, meta: ModelMeta, options: KindLoadOptions): Promise<ScaledModel> {
  const def = (MODEL_KIND_TABLE as Record<string, ModelKindDefinition | undefined>)[meta.kind];
  if (def === undefined) {
    throw new ModelError(`unknown model kind '${String(meta.kind)}'`, {
      file: path.join(options.where, META_FILE),
      field: 'kind',
    });
  }
  return def.load(files, meta, options);
}
