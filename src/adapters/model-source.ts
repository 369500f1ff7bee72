/**
 * Where an adapter gets its model: a predictor the caller built, a model
 * directory, or a registry entry. Whatever the source, the result is a
 * `CandlePredictor` (a streaming `RealtimePredictor` unless the caller handed
 * one in), so every adapter sees predictions made from closed candles up to
 * the current one only.
 *
 *   const model = await openModel({ registry: '.quantflow/registry', model: 'btc-1h@active' });
 *   try { ...model.predictor... } finally { await model.close(); }
 *
 * `close()` disposes only what `openModel` loaded; a predictor passed in stays
 * the caller's to dispose.
 */
import { ConfigError } from '../core/errors.js';
import { type LoadModelOptions, loadModelDirectory } from '../models/load-model.js';
import type { Predictor } from '../models/predictor.js';
import {
  type CandlePredictor,
  RealtimePredictor,
  type RealtimePredictorOptions,
} from '../models/realtime-predictor.js';
import { type LoadPredictorOptions, loadPredictor } from '../registry/load-predictor.js';
import { ModelRegistry } from '../registry/model-registry.js';

/** A model to trade with: one of `predictor`, `modelDir` or `registry` + `model`. */
export type ModelSource =
  | {
      /** A loaded model (wrapped in a RealtimePredictor) or a ready CandlePredictor. The caller disposes it. */
      readonly predictor: Predictor | CandlePredictor;
    }
  | {
      /** A model directory (meta.json, scaler.json, model files, manifest.json), e.g. written by `quantflow train`. */
      readonly modelDir: string;
      readonly load?: Omit<LoadModelOptions, 'where'>;
    }
  | {
      /** A registry directory or an open registry. */
      readonly registry: string | ModelRegistry;
      /** 'name', 'name@active', 'name@latest' or 'name@vN'. */
      readonly model: string;
      readonly load?: LoadPredictorOptions;
    };

export interface OpenedModel {
  /** Predictions from closed candles, for MlStrategy or an adapter. */
  readonly predictor: CandlePredictor;
  /** The loaded model, when the source gave one (undefined for a CandlePredictor passed in). */
  readonly model: Predictor | undefined;
  /** The exact weights answering ('btc-1h@v3', 'name@<sha256 prefix>'), or 'custom' for a CandlePredictor passed in. */
  readonly modelVersion: string;
  /** Disposes the model if `openModel` loaded it; idempotent. */
  close(): Promise<void>;
}

function isPredictor(value: unknown): value is Predictor {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Predictor).predict === 'function' &&
    typeof (value as Predictor).predictBatch === 'function'
  );
}

function isCandlePredictor(value: unknown): value is CandlePredictor {
  return typeof value === 'object' && value !== null && typeof (value as CandlePredictor).onCandle === 'function';
}

/** Loads (or wraps) the model of `source` as a streaming CandlePredictor. */
export async function openModel(source: ModelSource, options: RealtimePredictorOptions = {}): Promise<OpenedModel> {
  if (source === undefined || source === null || typeof source !== 'object') {
    throw new ConfigError('a model source is needed: { predictor }, { modelDir } or { registry, model }', {
      field: 'model',
    });
  }
  if ('predictor' in source) {
    const given = source.predictor;
    if (isCandlePredictor(given)) {
      const version = (given as { modelVersion?: unknown }).modelVersion;
      return opened(given, undefined, typeof version === 'string' ? version : 'custom', false);
    }
    if (isPredictor(given)) return opened(new RealtimePredictor(given, options), given, given.modelVersion, false);
    throw new ConfigError('predictor must be a Predictor (predict, predictBatch) or a CandlePredictor (onCandle)', {
      field: 'predictor',
    });
  }
  let model: Predictor;
  if ('modelDir' in source) {
    if (typeof source.modelDir !== 'string' || source.modelDir === '') {
      throw new ConfigError('modelDir must be a directory path', { field: 'modelDir' });
    }
    model = await loadModelDirectory(source.modelDir, source.load);
  } else if ('registry' in source) {
    if (typeof source.model !== 'string' || source.model === '') {
      throw new ConfigError("a registry source needs model: 'name' or 'name@vN'", { field: 'model' });
    }
    const registry =
      typeof source.registry === 'string'
        ? await ModelRegistry.open(source.registry, { create: false })
        : source.registry;
    model = await loadPredictor(registry, source.model, source.load);
  } else {
    throw new ConfigError('a model source is needed: { predictor }, { modelDir } or { registry, model }', {
      field: 'model',
    });
  }
  try {
    return opened(new RealtimePredictor(model, options), model, model.modelVersion, true);
  } catch (err) {
    await model.dispose();
    throw err;
  }
}

function opened(
  predictor: CandlePredictor,
  model: Predictor | undefined,
  modelVersion: string,
  owned: boolean,
): OpenedModel {
  let closed = false;
  return {
    predictor,
    model,
    modelVersion,
    async close() {
      if (closed) return;
      closed = true;
      if (owned && model !== undefined) await model.dispose();
    },
  };
}
