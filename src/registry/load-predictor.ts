/**
 * Registry entry -> running Predictor: the registry verifies (and decrypts)
 * the files, the models layer turns them into a predictor named after the
 * exact version ('name@v3'), so caches and tracker statistics key on it.
 */
import { type LoadModelOptions, loadModel } from '../models/load-model.js';
import type { Predictor } from '../models/predictor.js';
import type { ModelRegistry } from './model-registry.js';

export type LoadPredictorOptions = Omit<LoadModelOptions, 'modelVersion' | 'where'>;

/** Loads `ref` ('name', 'name@active', 'name@latest', 'name@vN') from `registry` as a Predictor. */
export async function loadPredictor(
  registry: ModelRegistry,
  ref: string,
  options: LoadPredictorOptions = {},
): Promise<Predictor> {
  const loaded = await registry.loadFiles(ref);
  return loadModel(loaded.files, {
    ...options,
    modelVersion: loaded.ref,
    where: registry.layout.versionDir(loaded.name, loaded.version),
  });
}
