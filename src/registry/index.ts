export { type LoadPredictorOptions, loadPredictor } from './load-predictor.js';
export type { MetaSummary } from './model-metadata.js';
export * from './model-registry.js';
export { DEFAULT_KEY_ENV, parseRegistryKey } from './registry-crypto.js';
export { assertModelName, type ModelRef, parseModelRef, REGISTRY_FILE, RegistryLayout } from './registry-layout.js';
