export { type LoadPredictorOptions, loadPredictor } from './load-predictor.js';
export type { MetaSummary } from './model-metadata.js';
export * from './model-registry.js';
export { checkPythonScript } from './python-allow-list.js';
export { DEFAULT_KEY_ENV, parseRegistryKey } from './registry-crypto.js';
export { assertModelName, type ModelRef, parseModelRef, REGISTRY_FILE, RegistryLayout } from './registry-layout.js';
export { generateSigningKeys, SIGNING_KEY_ENV, VERIFY_KEY_ENV } from './registry-signing.js';
